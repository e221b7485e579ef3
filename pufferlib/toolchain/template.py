"""The template `puffer new NAME` writes: `new_env`, and the texts of NAME.c and test_NAME.py.

The texts are string.Template strings: $name is NAME, $Name its CamelCase.
"""
import keyword
import os
import re
import string

__all__ = ["C_SOURCE", "PY_TEST", "new_env"]

_C_KEYWORDS = set("""auto break case char const continue default do double else enum extern float for goto
if inline int long register restrict return short signed sizeof static struct switch typedef union
unsigned void volatile while bool true false main""".split())


def new_env(name, directory=".", force=False):
    """Writes the template environment NAME.c and its tests test_NAME.py into `directory`.

    The template is a small real task (catch falling balls with a paddle) that compiles, loads,
    trains and runs on its own as it is, commented to be made into your own environment.

    Args:
        name: the environment's name, a C identifier (it prefixes the C functions).
        directory: created if missing.
        force: overwrite existing files.

    Returns:
        [path of NAME.c, path of test_NAME.py].

    Raises:
        ValueError: name is not a C identifier, or is a C or Python keyword.
        FileExistsError: a file would be overwritten without force.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) \
            or name in _C_KEYWORDS or keyword.iskeyword(name):
        raise ValueError(f"the environment name must be a C identifier that is not a keyword "
                         f"(letters, digits, _), e.g. my_env; got {name!r}")
    camel = "".join(part[:1].upper() + part[1:] for part in name.split("_")) or "Env"
    files = {f"{name}.c": C_SOURCE, f"test_{name}.py": PY_TEST}
    paths = [os.path.join(directory, f) for f in files]
    existing = [p for p in paths if os.path.exists(p)]
    if existing and not force:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); choose another name or "
                              "directory, or pass --force to overwrite")
    os.makedirs(directory, exist_ok=True)
    for path, text in zip(paths, files.values()):
        with open(path, "w") as f:
            f.write(string.Template(text).substitute(name=name, Name=camel))
    return paths


C_SOURCE = r"""/* ${name}: catch falling balls with a paddle (written by `puffer new`: make it your own).
 *
 * Observation: Box(float32, (3,)) in [0, 1]: the paddle's column, the ball's column and the ball's
 *   row, each divided by its largest value.
 * Action: Discrete(3): 0 left, 1 stay, 2 right.
 * Reward: +1 when the ball reaches the bottom row in the paddle's column, -1 when it reaches the
 *   bottom row elsewhere, else 0. A new ball then drops from a random column of the top row.
 * Episode end: terminated after `lives` missed balls; truncated after `max_steps` steps.
 * Statistics: caught (balls caught per episode).
 * Tests: credit assignment over a short delay (the reward comes several steps after the moves
 *   that earned it).
 *
 * Build, check and load it (the library is cached in .puffer_build/ beside this file):
 *   puffer build ${name}.c --check      compile, then check determinism, bounds, flags, rewards
 *   pytest test_${name}.py               the tests written beside this file
 *   python -c 'import pufferlib; print(pufferlib.make("./${name}.c", num_envs=64))'
 *   puffer train ./${name}.c            train a policy on it
 * Or compile it on its own, without Python, to play it, time it or run it under the sanitizers:
 *   INC="$$(python -c 'import pufferlib; print(pufferlib.get_include())')"
 *   cc -O2 -DPUFFER_STANDALONE -I"$$INC" ${name}.c -lm -o ${name}
 *   ./${name} [STEPS]                    random play: checks observations, prints steps/s
 *   ./${name} play                       play it yourself: a, s, d (+ Enter) move; q quits
 *   cc -O0 -g -fsanitize=address,undefined -DPUFFER_STANDALONE -I"$$INC" ${name}.c -lm -o ${name}
 *
 * The ABI (what each function must and must not do) is the opening comment of puffer_env.h, in
 * pufferlib.get_include().
 */
#include "puffer_env.h"

/* The state of one copy of the environment. The engine allocates num_envs copies in one array
 * and zeroes each before init(). Keep everything a copy needs in here: no globals or statics,
 * since copies step on several threads at once. */
typedef struct {
    int32_t width, height;      /* parameters, copied in init() */
    int32_t lives, max_steps;
    int32_t paddle;             /* the paddle's column, on the bottom row */
    int32_t ball_col, ball_row;
    int32_t missed, caught;     /* balls missed and caught in this episode */
    int32_t tick;               /* steps taken in this episode */
    PufferRng rng;              /* this copy's random numbers, seeded from (seed, env index) */
} ${Name};

/* Parameters: name, default, min, max, integer (1) or real (0), doc. They reach describe() and
 * init() as doubles, in this order, already checked against [min, max]. Set them with
 * pufferlib.make("${name}.c", width=7) or `puffer bench ./${name}.c --env.width 7`. */
static const PufferParam ${name}_params[] = {
    {"width", 5, 2, 64, 1, "columns of the field"},
    {"height", 8, 2, 64, 1, "rows of the field: a ball falls for height - 1 steps"},
    {"lives", 3, 1, 1000, 1, "missed balls that end the episode"},
    {"max_steps", 500, 1, 1000000, 1, "steps after which the episode is truncated"},
};

/* Statistics: step() adds to r.log->stats[k] once when an episode ends; infos holds the means
 * over the episodes that ended since the last step. */
static const char* const ${name}_stats[] = {"caught"};

/* The spaces for these parameters. `return PUFFER_ERROR(err, errlen, "...");` rejects, with that
 * message, a combination of parameters that the ranges above cannot rule out. */
static int ${name}_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    (void)p; (void)err; (void)errlen;
    s->num_agents = 1;
    puffer_obs_box(s, PUFFER_FLOAT32, 3, 0.0f, 1.0f);
    puffer_act_discrete(s, 3);
    return 0;
}

/* Called on every reset(seed=...) too. `shared` is the same stream in every copy: draw constants
 * of the task from it (a hidden goal, a map) when all copies should share them. */
static void ${name}_init(${Name}* env, const double* p, PufferRng rng, PufferRng shared) {
    (void)shared;
    env->width = (int32_t)p[0];
    env->height = (int32_t)p[1];
    env->lives = (int32_t)p[2];
    env->max_steps = (int32_t)p[3];
    env->rng = rng;
}

/* Observations are written from the state; an env never reads its observation buffer. */
static void ${name}_observe(const ${Name}* env, float* obs) {
    obs[0] = (float)env->paddle / (float)(env->width - 1);
    obs[1] = (float)env->ball_col / (float)(env->width - 1);
    obs[2] = (float)env->ball_row / (float)(env->height - 1);
}

static void ${name}_drop_ball(${Name}* env) {
    env->ball_col = puffer_rand_int(&env->rng, env->width);   /* never rand(): see puffer_env.h */
    env->ball_row = 0;
}

static void ${name}_reset(${Name}* env, PufferRows r) {
    env->paddle = env->width / 2;
    env->missed = 0;
    env->caught = 0;
    env->tick = 0;
    ${name}_drop_ball(env);
    ${name}_observe(env, (float*)r.obs);
}

/* One step. The engine resets the env right after a step that set a flag (same-step autoreset)
 * and keeps the observation written here as the episode's final observation. */
static void ${name}_step(${Name}* env, PufferRows r) {
    int32_t action = ((const int32_t*)r.act)[0];  /* any value must be safe: others mean stay */
    if (action == 0 && env->paddle > 0) env->paddle -= 1;
    if (action == 2 && env->paddle < env->width - 1) env->paddle += 1;
    env->ball_row += 1;
    env->tick += 1;

    float reward = 0.0f;
    if (env->ball_row == env->height - 1) {       /* the ball reached the paddle's row */
        if (env->ball_col == env->paddle) {
            reward = 1.0f;
            env->caught += 1;
        } else {
            reward = -1.0f;
            env->missed += 1;
        }
        ${name}_drop_ball(env);
    }
    int terminal = env->missed >= env->lives;
    int truncated = !terminal && env->tick >= env->max_steps;
    r.rew[0] = reward;
    r.term[0] = (uint8_t)terminal;                /* write both flags every step, 0 or 1 */
    r.trunc[0] = (uint8_t)truncated;
    if (terminal || truncated) r.log->stats[0] += (double)env->caught;
    ${name}_observe(env, (float*)r.obs);
}

/* The table the engine loads (the doc is what `puffer envs ./${name}.c` prints), and the symbol
 * that lets `puffer build` / pufferlib.make find it in the shared library. */
PUFFER_DEFINE_ENV(${Name}, ${name},
    "Catch falling balls with a paddle.\n"
    "observation: Box(float32, (3,)) in [0, 1]: paddle column, ball column, ball row\n"
    "action: Discrete(3) left, stay, right\n"
    "reward: +1 for a caught ball, -1 for a missed one, else 0\n"
    "episode end: terminated after `lives` misses, truncated after `max_steps` steps\n"
    "statistics: caught (balls caught per episode)\n"
    "tests: credit assignment over a short delay",
    ${name}_params, ${name}_stats)
PUFFER_EXPORT(${name})

/* ---- Standalone: cc -DPUFFER_STANDALONE (see the top of this file) ---- */
#ifdef PUFFER_STANDALONE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void ${name}_draw(const ${Name}* env) {
    for (int row = 0; row < env->height; row++) {
        for (int col = 0; col < env->width; col++) {
            int ball = row == env->ball_row && col == env->ball_col;
            int paddle = row == env->height - 1 && col == env->paddle;
            putchar(ball ? 'o' : paddle ? '=' : '.');
        }
        putchar('\n');
    }
}

int main(int argc, char** argv) {
    /* One copy with the default parameters, driven through the functions above. */
    double params[PUFFER_MAX_PARAMS];
    int num_params = (int)(sizeof(${name}_params) / sizeof(PufferParam));
    for (int k = 0; k < num_params; k++) params[k] = ${name}_params[k].default_value;
    ${Name} env;
    memset(&env, 0, sizeof(env));
    float obs[3];
    int32_t action = 1;
    float reward = 0.0f;
    uint8_t terminal = 0, truncated = 0, mask = 1;
    PufferLog log;
    memset(&log, 0, sizeof(log));
    PufferRows r = {obs, &action, &reward, &terminal, &truncated, &mask, &log, 1};
    ${name}_init(&env, params, puffer_rng(0, 0), puffer_shared_rng(0));
    ${name}_reset(&env, r);

    int play = argc > 1 && strcmp(argv[1], "play") == 0;
    long steps = (argc > 1 && !play) ? atol(argv[1]) : 1000000;
    PufferRng policy = puffer_rng(1, 0);
    double episode_return = 0.0, total_return = 0.0;
    long episodes = 0;
    clock_t start = clock();
    for (long t = 0; t < steps; t++) {
        if (play) {
            char line[64];
            ${name}_draw(&env);
            printf("a left, s stay, d right, q quit > ");
            if (!fgets(line, sizeof(line), stdin) || line[0] == 'q') break;
            action = line[0] == 'a' ? 0 : line[0] == 'd' ? 2 : 1;
        } else {
            action = puffer_rand_int(&policy, 3);
        }
        ${name}_step(&env, r);
        for (int k = 0; k < 3; k++) {
            if (!(obs[k] >= 0.0f && obs[k] <= 1.0f)) {
                fprintf(stderr, "step %ld: observation %d = %g is outside [0, 1]\n", t, k, obs[k]);
                return 1;
            }
        }
        episode_return += reward;
        if (play && reward != 0.0f) printf("reward %+.0f\n", reward);
        if (terminal || truncated) {
            if (play) printf("episode over: return %.0f, caught %d\n", episode_return, env.caught);
            total_return += episode_return;
            episode_return = 0.0;
            episodes += 1;
            ${name}_reset(&env, r);
        }
    }
    if (!play) {
        double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
        printf("${name}: %ld steps, %.1fM steps/s, %ld episodes, mean return %.3f, mean caught %.2f\n",
               steps, seconds > 0 ? (double)steps / seconds / 1e6 : 0.0, episodes,
               episodes ? total_return / (double)episodes : 0.0,
               episodes ? log.stats[0] / (double)episodes : 0.0);
    }
    return 0;
}
#endif
"""

PY_TEST = r'''"""Tests of the ${name} environment (written by `puffer new`): run `pytest test_${name}.py`.

pufferlib.make builds ${name}.c on first use (and again whenever it changes), so these run
against the current source.
"""
import os

import numpy as np

import pufferlib

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "${name}.c")


def rollout(seed=0, steps=300, num_envs=16, num_threads=1, policy=None):
    """Steps random actions (or policy(obs)); returns every buffer of every step, and the infos."""
    rng = np.random.default_rng(0)
    frames, infos = [], []
    with pufferlib.make(SOURCE, num_envs=num_envs, num_threads=num_threads, seed=seed) as env:
        obs, _ = env.reset()
        frames.append(obs.copy())
        for _ in range(steps):
            if policy is None:
                actions = rng.integers(0, env.single_action_space.n, env.num_agents, dtype=np.int32)
            else:
                actions = policy(obs)
            obs, rewards, terminals, truncations, info = env.step(actions)
            frames += [obs.copy(), rewards.copy(), terminals.copy(), truncations.copy()]
            infos.append(info)
    return frames, infos


def test_same_seed_same_trajectory():
    a, _ = rollout(seed=1)
    b, _ = rollout(seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_different_seeds_differ():
    a, _ = rollout(seed=1)
    b, _ = rollout(seed=2)
    assert not all(np.array_equal(x, y) for x, y in zip(a, b))


def test_threads_do_not_change_results():
    a, _ = rollout(num_envs=64, num_threads=1)
    b, _ = rollout(num_envs=64, num_threads=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_observations_stay_in_bounds():
    with pufferlib.make(SOURCE, num_envs=4) as env:
        low, high = env.single_observation_space.low, env.single_observation_space.high
    frames, _ = rollout()
    for obs in [frames[0]] + frames[1::4]:
        assert ((obs >= low) & (obs <= high)).all()


def test_episodes_end_and_report_statistics():
    _, infos = rollout(steps=300)
    finished = [info for info in infos if info]
    assert finished, "no episode ended"
    assert all(info["episode_length"] > 0 and "caught" in info for info in finished)


def test_following_the_ball_catches_every_ball():
    # Move towards the ball's column: every ball is caught, episodes run to max_steps.
    def follow(obs):
        return (1 + np.sign(obs[:, 1] - obs[:, 0])).astype(np.int32)

    frames, infos = rollout(steps=600, policy=follow)
    rewards = np.concatenate(frames[2::4])
    assert (rewards >= 0).all() and rewards.sum() > 0
    finished = [info for info in infos if info]
    assert finished and all(info["episode_return"] > 0 for info in finished)
'''
