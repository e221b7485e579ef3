"""render_mode in the Gymnasium adapter."""
import numpy as np
import pytest

import pufferlib
import pufferlib.vector


def test_rgb_array_gives_a_frame_per_row():
    envs = pufferlib.vector.as_gymnasium(pufferlib.make("multiagent", num_envs=2), render_mode="rgb_array")
    envs.reset(seed=0)
    envs.step(np.array([0, 1, 1, 1]))
    frames = envs.render()
    assert envs.metadata["render_modes"] == ["rgb_array", "ansi"]
    assert len(frames) == 4 and frames[0] is frames[1] and frames[2] is frames[3]
    np.testing.assert_array_equal(frames[2], envs.vecenv.render(1))
    assert not np.array_equal(frames[0], frames[2])
    envs.close()


def test_ansi_mode_gives_text():
    envs = pufferlib.vector.as_gymnasium(pufferlib.make("cartpole", num_envs=2), render_mode="ansi")
    envs.reset(seed=0)
    frames = envs.render()
    assert len(frames) == 2 and all(isinstance(f, str) and "\u2580" in f for f in frames)
    envs.close()


def test_no_render_mode_renders_nothing():
    envs = pufferlib.vector.as_gymnasium(pufferlib.make("cartpole"))
    envs.reset(seed=0)
    assert envs.render_mode is None and envs.render() is None
    envs.close()


def test_unsupported_render_mode_raises():
    with pufferlib.make("cartpole") as env:
        with pytest.raises(ValueError, match=r"render_mode must be None or one of \('rgb_array', 'ansi'\)"):
            pufferlib.vector.as_gymnasium(env, render_mode="human")


def test_python_backends_render_through_the_adapter():
    import functools

    import gymnasium

    pytest.importorskip("pygame")  # Gymnasium's CartPole draws with it
    creator = functools.partial(gymnasium.make, "CartPole-v1", render_mode="rgb_array")
    vecenv = pufferlib.vector.make(creator, 2, backend="multiprocessing", num_workers=2)
    envs = pufferlib.vector.as_gymnasium(vecenv, render_mode="rgb_array")
    envs.reset(seed=0)
    frames = envs.render()
    assert len(frames) == 2 and frames[1].shape == (400, 600, 3)
    envs.close()
    assert vecenv.closed
