"""Scripted pong: move the paddle towards the ball's height (no prediction of where it will cross).

Reads the vector observation (ball y at column 1, own paddle y at column 4), or with ``pixels=1``
the current frame (channel 0): the ball's rows are the lit pixels between the paddle columns, the
own paddle the lit pixels of column 40.
"""
import numpy as np

__all__ = ["act", "opponent"]

STAY, UP, DOWN = 0, 1, 2
DEAD_ZONE = 0.04  # observation units (2 * court units): half a paddle move, against jitter


def _heights(observations):
    """(ball y, own paddle y) per row, in the vector observation's units ([-1, 1], y downwards)."""
    if observations.ndim == 2:
        return observations[:, 1], observations[:, 4]
    frame = observations[..., 0].astype(np.float32)       # [rows, 42, 42]
    side = frame.shape[1]
    rows = np.arange(side, dtype=np.float32) + 0.5
    ball = frame[:, :, 2:side - 2].sum(axis=2)             # lit pixels per row between the paddles
    paddle = frame[:, :, side - 2]
    ball_y = (ball @ rows) / np.maximum(ball.sum(axis=1), 1.0)
    paddle_y = (paddle @ rows) / np.maximum(paddle.sum(axis=1), 1.0)
    return 2.0 * ball_y / side - 1.0, 2.0 * paddle_y / side - 1.0


def act(observations, action_masks, rng):
    """Up when the ball is above the paddle's centre, down when below, else stay."""
    del action_masks, rng  # pong has no masks; the policy is deterministic
    ball_y, paddle_y = _heights(np.asarray(observations))
    gap = ball_y - paddle_y
    return np.where(gap < -DEAD_ZONE, UP, np.where(gap > DEAD_ZONE, DOWN, STAY)).astype(np.int32)


def opponent(param):
    """A slower tracker, for `scripted:SKILL` opponents.

    It follows the ball on a fraction SKILL (in [0, 1]) of the steps and stays on the others (1 is
    `act`).

    Raises:
        ValueError: SKILL is not a number in [0, 1].

    >>> rng = np.random.default_rng(0)
    >>> obs = np.zeros((1000, 6), np.float32); obs[:, 1] = -1.0   # the ball above the paddle
    >>> moves = opponent("0.25")(obs, None, rng)
    >>> bool(abs((moves == UP).mean() - 0.25) < 0.05)
    True
    """
    from pufferlib.envs.scripted import fraction

    skill = fraction(param, "pong's scripted:SKILL (the fraction of steps it follows the ball)")

    def slower(observations, action_masks, rng):
        moves = act(observations, action_masks, rng)
        return np.where(rng.random(len(moves)) < skill, moves, STAY).astype(np.int32)
    return slower
