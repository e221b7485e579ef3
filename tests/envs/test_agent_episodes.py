"""Agent episodes (spec->agent_episodes): one agent's terminal flag ends only its own episode; a truncation
ends the world's. Checked on a small C world whose agents die on a fixed schedule."""
import numpy as np
import pytest

import pufferlib
from tests.toolchain.toolchain_helpers import needs_compiler

pytestmark = needs_compiler

# Agent a dies every a + 2 steps of its life (terminal) and is respawned by the env; the world is
# truncated after 10 steps. Observation: [world tick, the agent's age]; reward 1 a step. Statistic "age"
# is the age at the end of each agent episode.
WORLD_C = r"""
#include "puffer_env.h"
typedef struct { int32_t tick, resets, age[3]; } World;
static const PufferParam world_params[] = {{"horizon", 10, 1, 100, 1, "steps per world episode"}};
static const char* const world_stats[] = {"age", "resets"};
static int world_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    (void)p; (void)err; (void)errlen;
    s->num_agents = 3;
    s->agent_episodes = 1;
    puffer_obs_box(s, PUFFER_FLOAT32, 2, 0.0f, 1000.0f);
    puffer_act_discrete(s, 2);
    return 0;
}
static void world_init(World* e, const double* p, PufferRng rng, PufferRng shared) {
    (void)p; (void)rng; (void)shared;
}
static void world_observe(World* e, PufferRows r) {
    for (int a = 0; a < 3; a++) {
        ((float*)r.obs)[2 * a] = (float)e->tick;
        ((float*)r.obs)[2 * a + 1] = (float)e->age[a];
    }
}
static void world_reset(World* e, PufferRows r) {
    e->tick = 0;
    e->resets += 1;
    for (int a = 0; a < 3; a++) e->age[a] = 0;
    world_observe(e, r);
}
static void world_step(World* e, PufferRows r) {
    e->tick += 1;
    int over = e->tick >= 10;
    for (int a = 0; a < 3; a++) {
        e->age[a] += 1;
        int dies = e->age[a] >= a + 2;
        r.rew[a] = 1.0f;
        r.term[a] = (uint8_t)dies;
        r.trunc[a] = (uint8_t)(over && !dies);
        if (dies || over) {
            r.log->stats[0] += e->age[a];
            r.log->stats[1] += e->resets;
        }
        if (dies) e->age[a] = 0;    /* respawned at once */
    }
    world_observe(e, r);
}
PUFFER_DEFINE_ENV(World, world, "agents that die on a schedule", world_params, world_stats)
PUFFER_EXPORT(world)
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("world") / "world.c"
    path.write_text(WORLD_C)
    return str(path)


def test_a_terminal_agent_ends_only_its_own_episode(world):
    with pufferlib.make(world, num_envs=2) as env:
        obs, _ = env.reset(seed=0)
        actions = np.zeros(6, np.int32)
        obs, _, term, trunc, infos = env.step(actions)
        assert not term.any() and not trunc.any() and infos == {}
        obs, _, term, trunc, infos = env.step(actions)   # tick 2: agent 0 (age 2) dies, alone
        np.testing.assert_array_equal(term, [1, 0, 0, 1, 0, 0])
        assert not trunc.any()
        np.testing.assert_array_equal(obs[:3], [[2, 0], [2, 2], [2, 2]])   # the world went on
        assert infos["episodes"] == 2 and infos["episode_length"] == 2 and infos["episode_return"] == 2
        assert infos["age"] == 2 and infos["resets"] == 1   # averaged over the agent episodes


def test_a_truncation_ends_the_world_and_every_agent_episode_counts_once(world):
    with pufferlib.make(world, num_envs=1) as env:
        env.reset(seed=0)
        lengths = []
        for t in range(1, 11):
            _, _, term, trunc, infos = env.step(np.zeros(3, np.int32))
            if infos:
                lengths.append((t, infos.counts["episode_length"], infos["episode_length"]))
        # tick 10: agent 0 dies (its 5th life ends at age 2); agents 1 and 2 (ages 1 and 2) are truncated
        np.testing.assert_array_equal(term | trunc, [1, 1, 1])
        assert term[0] and not trunc[0]
        t, count, _ = lengths[-1]
        assert t == 10 and count == 3            # the terminal agent is not counted twice
        obs, _, _, _, infos = env.step(np.zeros(3, np.int32))
        assert obs[0, 0] == 1                     # the world was reset: a new episode's first tick


def test_agent_episodes_are_the_same_at_any_thread_count(world):
    def run(threads):
        with pufferlib.make(world, num_envs=64, num_threads=threads) as env:
            env.reset(seed=1)
            out = []
            for _ in range(25):
                obs, rew, term, trunc, infos = env.step(np.zeros(192, np.int32))
                out.append((obs.copy(), term.copy(), trunc.copy(), dict(infos.means()) if infos else {}))
            return out
    for (o1, t1, r1, i1), (o2, t2, r2, i2) in zip(run(1), run(2)):
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(t1, t2)
        np.testing.assert_array_equal(r1, r2)
        assert i1 == pytest.approx(i2)
