"""The sanity environments: bounds, seeding, thread parity, and known answers through infos."""
import numpy as np
import pytest

import pufferlib

SANITY_ENVS = ["bandit", "memory", "password", "stochastic", "multiagent", "continuous"]
# The environments whose trajectories depend on the seed, with parameters that make them do so.
SEEDED = {"bandit": {"noise": 0.5}, "memory": {}, "continuous": {}}


def random_actions(env, rng):
    """Valid random actions for every row, drawn from rng (so they do not depend on the env)."""
    space = env.single_action_space
    if hasattr(space, "n"):
        return rng.integers(0, space.n, env.num_agents, dtype=np.int32)
    return rng.uniform(space.low, space.high, (env.num_agents,) + space.shape).astype(np.float32)


def rollout(name, seed=0, num_threads=1, steps=200, num_envs=16, **params):
    """Random-action trajectory: stacked observations, rewards, flags, and the infos of each step."""
    rng = np.random.default_rng(123)
    with pufferlib.make(name, num_envs=num_envs, num_threads=num_threads, seed=seed, **params) as env:
        obs, _ = env.reset()
        trace = {"obs": [obs.copy()], "rew": [], "term": [], "trunc": [], "final": [], "infos": []}
        for _ in range(steps):
            obs, rew, term, trunc, infos = env.step(random_actions(env, rng))
            for key, value in (("obs", obs), ("rew", rew), ("term", term), ("trunc", trunc),
                               ("final", env.final_observations)):
                trace[key].append(value.copy())
            trace["infos"].append(infos)
    return {k: v if k == "infos" else np.stack(v) for k, v in trace.items()}


def assert_inside(space, obs):
    assert obs.dtype == space.dtype
    assert np.all(obs >= space.low) and np.all(obs <= space.high), (obs.min(), obs.max())


def play(env, actions, steps):
    """Steps `steps` times with the same actions; returns the infos of the last step."""
    infos = {}
    for _ in range(steps):
        _, _, _, _, infos = env.step(np.asarray(actions, env.actions.dtype))
    return infos


# ---- Every environment ----

@pytest.mark.parametrize("name", SANITY_ENVS)
def test_observations_stay_inside_space(name):
    rng = np.random.default_rng(0)
    with pufferlib.make(name, num_envs=32, num_threads=2, seed=3) as env:
        obs, _ = env.reset()
        assert_inside(env.single_observation_space, obs)
        for _ in range(300):
            obs = env.step(random_actions(env, rng))[0]
            assert_inside(env.single_observation_space, obs)
            assert_inside(env.single_observation_space, env.final_observations)


@pytest.mark.parametrize("name", SANITY_ENVS)
def test_same_seed_same_trajectory(name):
    a, b = rollout(name, seed=7), rollout(name, seed=7)
    for key in ("obs", "rew", "term", "trunc", "final"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert a["infos"] == b["infos"]


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_different_seed_differs(name):
    a, b = rollout(name, seed=1, **SEEDED[name]), rollout(name, seed=2, **SEEDED[name])
    assert not (np.array_equal(a["obs"], b["obs"]) and np.array_equal(a["rew"], b["rew"]))


@pytest.mark.parametrize("name", SANITY_ENVS)
def test_one_thread_equals_two_threads(name):
    params = SEEDED.get(name, {})
    a = rollout(name, seed=5, num_threads=1, **params)
    b = rollout(name, seed=5, num_threads=2, **params)
    for key in ("obs", "rew", "term", "trunc", "final"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert a["infos"] == b["infos"]


BAD_DISCRETE = [-1, 99, 2**31 - 1, -(2**31)]
BAD_CONTINUOUS = [np.nan, np.inf, -np.inf, 1e30, -1e30]


@pytest.mark.parametrize("name", SANITY_ENVS)
def test_unchecked_invalid_actions_are_safe(name):
    rng = np.random.default_rng(0)
    with pufferlib.make(name, num_envs=16, num_threads=2, seed=0, check_actions=False) as env:
        env.reset()
        bad = np.array(BAD_DISCRETE if env.actions.dtype == np.int32 else BAD_CONTINUOUS,
                       env.actions.dtype)
        for _ in range(200):
            actions = rng.choice(bad, env.actions.shape).astype(env.actions.dtype)
            obs, rew, term, trunc, _ = env.step(actions)
            assert_inside(env.single_observation_space, obs)
            assert np.all(np.isfinite(rew))


@pytest.mark.parametrize("name, stat, steps", [
    ("bandit", "best_arm", 1), ("memory", "correct", 5), ("password", "solved", 5),
    ("stochastic", "frequency", 16), ("multiagent", "coordinated", 1),
])
def test_unchecked_invalid_actions_never_score(name, stat, steps):
    with pufferlib.make(name, num_envs=8, seed=0, check_actions=False) as env:
        env.reset()
        infos = play(env, np.resize(np.array(BAD_DISCRETE, np.int32), env.num_agents), steps)
    assert infos["episodes"] == env.num_agents and infos[stat] == 0


@pytest.mark.parametrize("name", SANITY_ENVS)
def test_checked_invalid_actions_raise(name):
    with pufferlib.make(name, num_envs=4, seed=0) as env:
        env.reset()
        actions = np.zeros(env.actions.shape, env.actions.dtype)
        actions.flat[0] = np.nan if actions.dtype == np.float32 else 99
        with pytest.raises(ValueError, match="action"):
            env.step(actions)


@pytest.mark.parametrize("name, params, param", [
    ("bandit", {"arms": 1}, "arms"),
    ("bandit", {"arms": 65}, "arms"),
    ("bandit", {"noise": -0.1}, "noise"),
    ("memory", {"delay": 0}, "delay"),
    ("memory", {"delay": 2.5}, "delay"),
    ("password", {"length": 31}, "length"),
    ("password", {"choices": 1}, "choices"),
    ("stochastic", {"p": 1.5}, "p"),
    ("stochastic", {"horizon": 0}, "horizon"),
    ("continuous", {"max_steps": 0}, "max_steps"),
    ("continuous", {"radius": 0.005}, "radius"),
    ("continuous", {"radius": 1.5}, "radius"),
])
def test_out_of_range_parameter_raises(name, params, param):
    with pytest.raises(ValueError, match=rf"\b{param}\b"):
        pufferlib.make(name, **params)


# ---- bandit ----

def best_arm(arms, seed):
    """Pulls each arm once in its own env; exactly one of them must pay."""
    with pufferlib.make("bandit", num_envs=arms, seed=seed, arms=arms) as env:
        env.reset()
        _, rew, term, _, infos = env.step(np.arange(arms, dtype=np.int32))
        assert set(rew.tolist()) == {0.0, 1.0} and rew.sum() == 1
        assert term.all()
        assert infos["best_arm"] == pytest.approx(1 / arms)
        return int(np.argmax(rew))


@pytest.mark.parametrize("arms", [2, 5, 64])
def test_bandit_best_arm_pays_one(arms):
    best = best_arm(arms, seed=11)
    with pufferlib.make("bandit", num_envs=8, seed=11, arms=arms) as env:
        env.reset()
        infos = play(env, np.full(8, best), 3)
        assert infos["episode_return"] == 1 and infos["best_arm"] == 1
        assert infos["episode_length"] == 1 and infos["episodes"] == 8
        infos = play(env, np.full(8, (best + 1) % arms), 1)
        assert infos["episode_return"] == 0 and infos["best_arm"] == 0


def test_bandit_best_arm_depends_on_seed():
    assert len({best_arm(8, seed) for seed in range(10)}) > 1


@pytest.mark.parametrize("noise", [0.0, 1.0])
def test_bandit_random_arms_pay_one_over_arms(noise):
    rng = np.random.default_rng(0)
    total, episodes = 0.0, 0
    with pufferlib.make("bandit", num_envs=4096, seed=0, arms=4, noise=noise) as env:
        env.reset()
        for _ in range(10):
            infos = env.step(rng.integers(0, 4, 4096, dtype=np.int32))[-1]
            total += infos["episode_return"] * infos["episodes"]
            episodes += infos["episodes"]
    assert total / episodes == pytest.approx(0.25, abs=0.03)


# ---- memory ----

@pytest.mark.parametrize("delay", [1, 4, 17])
@pytest.mark.parametrize("answer_cue", [True, False])
def test_memory_answering_the_cue(delay, answer_cue):
    rng = np.random.default_rng(0)
    with pufferlib.make("memory", num_envs=64, seed=2, delay=delay) as env:
        obs, _ = env.reset()
        cue = (obs[:, 0] > 0).astype(np.int32)
        assert np.all(np.abs(obs[:, 0]) == 1) and 0 < cue.sum() < 64
        for k in range(1, delay + 1):   # blank steps: any action, no reward
            obs, rew, term, trunc, infos = env.step(rng.integers(0, 2, 64, dtype=np.int32))
            assert not rew.any() and not term.any() and not trunc.any() and infos == {}
            assert np.all(obs[:, 0] == 0) and np.all(obs[:, 1] == (k == delay))
        _, rew, term, _, infos = env.step(cue if answer_cue else 1 - cue)
        assert term.all()
        assert np.all(rew == float(answer_cue))
        assert infos["correct"] == float(answer_cue) and infos["episode_return"] == float(answer_cue)
        assert infos["episode_length"] == delay + 1 and infos["episodes"] == 64


# ---- password ----

def play_binary_passwords(seed, length=4):
    """Env i plays the bits of i; returns the rewards of the last step and its infos."""
    n = 2**length
    with pufferlib.make("password", num_envs=n, seed=seed, length=length, choices=2) as env:
        obs, _ = env.reset()
        for t in range(length):
            np.testing.assert_array_equal(obs, np.eye(length + 1, dtype=np.float32)[np.zeros(n, int) + t])
            obs, rew, term, _, infos = env.step(((np.arange(n) >> t) & 1).astype(np.int32))
            assert term.all() == (t == length - 1)
        return rew, infos


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_password_exactly_one_solver(seed):
    rew, infos = play_binary_passwords(seed)
    assert rew.sum() == 1
    assert infos["episode_return"] == pytest.approx(1 / 16) and infos["solved"] == pytest.approx(1 / 16)
    assert infos["episode_length"] == 4 and infos["episodes"] == 16


def test_password_depends_on_seed():
    solvers = {int(np.argmax(play_binary_passwords(seed)[0])) for seed in range(10)}
    assert len(solvers) > 1


# ---- stochastic ----

@pytest.mark.parametrize("p", [0.75, 0.3])
@pytest.mark.parametrize("action", [0, 1])
def test_stochastic_constant_action(p, action):
    horizon = 16
    with pufferlib.make("stochastic", num_envs=8, seed=0, p=p, horizon=horizon) as env:
        env.reset()
        assert play(env, np.full(8, action), horizon - 1) == {}
        infos = play(env, np.full(8, action), 1)
    frequency = 1.0 - action
    assert infos["frequency"] == frequency
    assert infos["episode_return"] == pytest.approx(1 - 2 * abs(frequency - p))
    assert infos["episode_length"] == horizon


def test_stochastic_alternating_actions_hit_one_half():
    with pufferlib.make("stochastic", num_envs=4, seed=0, p=0.5, horizon=10) as env:
        env.reset()
        for t in range(10):
            infos = play(env, np.full(4, t % 2), 1)
    assert infos["frequency"] == 0.5 and infos["episode_return"] == 1


# ---- multiagent ----

def test_multiagent_rows_and_observations():
    with pufferlib.make("multiagent", num_envs=5, seed=0) as env:
        assert env.num_agents == 10
        obs, _ = env.reset()
        np.testing.assert_array_equal(obs, np.tile(np.eye(2, dtype=np.float32), (5, 1)))


@pytest.mark.parametrize("pair, paid", [((0, 1), 1), ((1, 0), 1), ((0, 0), 0), ((1, 1), 0)])
def test_multiagent_paid_for_different_actions(pair, paid):
    with pufferlib.make("multiagent", num_envs=6, seed=0) as env:
        env.reset()
        _, rew, term, trunc, infos = env.step(np.tile(np.array(pair, np.int32), 6))
    assert np.all(rew == paid) and term.all() and not trunc.any()
    assert infos["coordinated"] == paid and infos["episode_return"] == paid
    assert infos["episodes"] == 12


def test_multiagent_coordination_is_per_env():
    with pufferlib.make("multiagent", num_envs=2, seed=0) as env:
        env.reset()
        _, rew, _, _, infos = env.step(np.array([0, 1, 1, 1], np.int32))
    np.testing.assert_array_equal(rew, [1, 1, 0, 0])
    assert infos["coordinated"] == 0.5


# ---- continuous ----

def test_continuous_controller_reaches_target():
    reached, episodes = 0.0, 0
    with pufferlib.make("continuous", num_envs=64, seed=0) as env:
        obs, _ = env.reset()
        for _ in range(300):
            actions = np.clip(5.0 * obs[:, 4:6] - 3.0 * obs[:, 2:4], -1, 1).astype(np.float32)
            obs, _, _, _, infos = env.step(actions)
            if infos:
                reached += infos["reached"] * infos["episodes"]
                episodes += infos["episodes"]
    assert episodes > 64 and reached / episodes > 0.9


def test_continuous_zero_actions_truncate():
    max_steps = 30
    with pufferlib.make("continuous", num_envs=16, seed=0, max_steps=max_steps) as env:
        env.reset()
        for _ in range(max_steps - 1):
            _, rew, term, trunc, infos = env.step(np.zeros((16, 2), np.float32))
            assert not term.any() and not trunc.any() and np.all(rew == 0)
        _, _, term, trunc, infos = env.step(np.zeros((16, 2), np.float32))
    assert trunc.all() and not term.any()
    assert infos["reached"] == 0 and infos["episode_length"] == max_steps


def test_continuous_reward_is_progress():
    with pufferlib.make("continuous", num_envs=8, seed=0) as env:
        obs, _ = env.reset()
        before = np.linalg.norm(obs[:, 4:6], axis=1)
        obs, rew, term, _, _ = env.step(np.ones((8, 2), np.float32))
        after = np.linalg.norm(obs[:, 4:6], axis=1)
    assert not term.any()
    np.testing.assert_allclose(rew, before - after, atol=1e-6)


def test_continuous_large_radius_starts_apart():
    with pufferlib.make("continuous", num_envs=64, seed=0, radius=1.0) as env:
        obs, _ = env.reset()
    assert np.all(np.linalg.norm(obs[:, 4:6], axis=1) > 2.0)
