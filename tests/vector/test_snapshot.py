"""Engine.snapshot / restore: what checkpoints use to continue C environments exactly."""
from pathlib import Path

import numpy as np
import pytest

import pufferlib
from pufferlib.errors import APIUsageError, BuildError


def actions(env, steps, seed=0):
    """Random valid actions (these envs all accept 0 and 1) for `steps` steps."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 2, env.actions.shape).astype(env.actions.dtype) for _ in range(steps)]


@pytest.mark.parametrize("name", ["cartpole", "squared", "multiagent", "memory"])
def test_restored_engine_continues_the_same_trajectory(name):
    with pufferlib.make(name, num_envs=40, num_threads=2, seed=3) as env:
        env.reset()
        batches = actions(env, 300)
        for a in batches[:100]:
            env.step(a)
        snap = env.snapshot()
        expected = [[np.copy(x) for x in env.step(a)[:4]] for a in batches[100:]]
    with pufferlib.make(name, num_envs=40, num_threads=1, seed=99) as other:
        other.restore(snap)
        for a, want in zip(batches[100:], expected):
            got = other.step(a)[:4]
            assert all(np.array_equal(g, w) for g, w in zip(got, want))


def test_restore_refuses_another_env_size_or_parameters():
    with pufferlib.make("squared", num_envs=16, size=7) as env:
        env.reset()
        snap = env.snapshot()
    for other in (pufferlib.make("squared", num_envs=32, size=7), pufferlib.make("squared", num_envs=16, size=9),
                  pufferlib.make("cartpole", num_envs=16)):
        with other, pytest.raises(ValueError, match=r"the snapshot is of \(env, num_envs, params\) = \('squared', 16"):
            other.restore(snap)


def test_snapshot_needs_a_reset_and_an_open_env():
    env = pufferlib.make("cartpole", num_envs=4)
    with pytest.raises(APIUsageError, match="call reset"):
        env.snapshot()
    env.reset()
    snap = env.snapshot()
    env.close()
    with pytest.raises(APIUsageError, match="closed"):
        env.snapshot()
    with pytest.raises(APIUsageError, match="closed"):
        env.restore(snap)


def test_an_env_that_owns_memory_cannot_be_snapshotted(tmp_path):
    from pufferlib.toolchain import compiler, new_env
    try:
        compiler()
    except BuildError:
        pytest.skip("no C compiler")
    source, _ = map(Path, new_env("owner", tmp_path))
    text = source.read_text()
    # give the template a close function: its state now (notionally) owns memory
    text = text.replace("PUFFER_DEFINE_ENV(Owner, owner,", "static void owner_close(Owner* env) { (void)env; }\n"
                        "PUFFER_DEFINE_ENV_EXT(Owner, owner,")
    text = text.replace("    owner_params, owner_stats)\nPUFFER_EXPORT(owner)",
                        "    owner_params, 4, owner_stats, 1, owner_close, NULL)\nPUFFER_EXPORT(owner)")
    source.write_text(text)
    with pufferlib.make(str(source), num_envs=4) as env:
        env.reset()
        with pytest.raises(NotImplementedError, match="owner allocates memory in init"):
            env.snapshot()
