"""NativeVecEnv.render: modes and environments that cannot draw (its misuse: test_protocol.py)."""
import numpy as np
import pytest

import pufferlib
from pufferlib.errors import PufferError, RenderNotSupportedError


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
