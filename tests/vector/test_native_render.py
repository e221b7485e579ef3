"""NativeVecEnv.render: modes, and the errors of every misuse."""
import numpy as np
import pytest

import pufferlib
from pufferlib.errors import APIUsageError, PufferError, RenderNotSupportedError


def test_rgb_array_is_the_default_mode():
    with pufferlib.make("cartpole", num_envs=2) as env:
        env.reset(seed=0)
        np.testing.assert_array_equal(env.render(1), env.render(1, mode="rgb_array"))


def test_render_returns_a_new_array_each_call():
    with pufferlib.make("squared") as env:
        env.reset(seed=0)
        first = env.render()
        first[...] = 0
        assert env.render().any()


def test_ansi_mode_is_the_frame_as_terminal_text():
    with pufferlib.make("cartpole", num_envs=2) as env:
        env.reset(seed=0)
        text = env.render(1, mode="ansi")
        frame = env.render(1)
    lines = text.split("\n")
    height, width = frame.shape[:2]
    assert len(lines) == round(height * 80 / width / 2)
    assert all(line.count("\u2580") == 80 and line.endswith("\x1b[0m") for line in lines)
    assert text == pufferlib.render.ansi(frame)


def test_unknown_mode_raises():
    with pufferlib.make("cartpole") as env:
        env.reset(seed=0)
        with pytest.raises(ValueError, match="render mode must be one of 'rgb_array', 'ansi', got 'human'"):
            env.render(mode="human")


@pytest.mark.parametrize("index", [2, -1, 10**12])
def test_index_out_of_range_raises(index):
    with pufferlib.make("bandit", num_envs=2) as env:
        env.reset(seed=0)
        with pytest.raises(IndexError, match=r"env_index must be in \[0, 2\) \(copies of bandit\)"):
            env.render(index)


@pytest.mark.parametrize("index", [1.0, "0", True, None])
def test_index_must_be_an_integer(index):
    with pufferlib.make("bandit", num_envs=2) as env:
        env.reset(seed=0)
        with pytest.raises(TypeError, match="env_index must be an integer"):
            env.render(index)


def test_numpy_integer_index_is_accepted():
    with pufferlib.make("bandit", num_envs=2) as env:
        env.reset(seed=0)
        assert env.render(np.int64(1)).shape[2] == 3


def test_render_before_reset_raises():
    with pufferlib.make("cartpole") as env:
        with pytest.raises(APIUsageError, match=r"call reset\(\) before render\(\)"):
            env.render()


def test_render_after_close_raises():
    env = pufferlib.make("cartpole")
    env.reset(seed=0)
    env.close()
    with pytest.raises(APIUsageError, match="vector env is closed"):
        env.render()


def test_render_during_pending_send_raises():
    with pufferlib.make("cartpole", num_envs=4) as env:
        env.reset(seed=0)
        env.send(np.zeros(4, np.int32))
        with pytest.raises(APIUsageError, match=r"a send\(\) is pending"):
            env.render()
        env.recv()
        assert env.render().shape == (300, 400, 3)


@pytest.mark.parametrize("mode", ["rgb_array", "ansi"])
def test_env_without_render_raises(mode):
    with pufferlib.make("noop") as env:
        env.reset(seed=0)
        assert env.spec["render_size"] == (0, 0)
        with pytest.raises(RenderNotSupportedError, match="the noop environment cannot render"):
            env.render(mode=mode)


def test_render_not_supported_is_a_puffer_error_and_not_implemented():
    assert issubclass(RenderNotSupportedError, PufferError)
    assert issubclass(RenderNotSupportedError, NotImplementedError)
