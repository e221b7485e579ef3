import numpy as np
import pytest


def _random_actions(env, rng):
    """A batch of valid random actions for a native vector env, in its buffer dtype."""
    space = env.single_action_space
    if hasattr(space, "n"):
        return rng.integers(0, space.n, env.num_agents, dtype=np.int32)
    if hasattr(space, "nvec"):
        return rng.integers(0, space.nvec, (env.num_agents, len(space.nvec)), dtype=np.int32)
    return rng.uniform(space.low, space.high, (env.num_agents,) + space.shape).astype(np.float32)


def _rollout(env, steps, seed=0, action_seed=1):
    """Resets with `seed`, steps random actions; returns (every buffer of every step, infos)."""
    rng = np.random.default_rng(action_seed)
    obs, _ = env.reset(seed=seed)
    out = [obs.copy()]
    infos = []
    for _ in range(steps):
        obs, rew, term, trunc, info = env.step(_random_actions(env, rng))
        out += [obs.copy(), rew.copy(), term.copy(), trunc.copy(), env.final_observations.copy()]
        infos.append(info)
    return out, infos


@pytest.fixture
def random_actions():
    return _random_actions


@pytest.fixture
def rollout():
    return _rollout
