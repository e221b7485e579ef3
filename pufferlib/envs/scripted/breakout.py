"""Breakout's scripted baseline: keep the paddle under the ball.

Reads the vector observation (pixels=0): column 6 is (ball x - paddle x) / field width. The paddle
moves towards the ball's x whenever it is more than a small dead zone away, else stays; it does not
predict where the ball will land, so fast balls off the side walls still get past it.
"""
import numpy as np

__all__ = ["act"]

STAY, LEFT, RIGHT = 0, 1, 2
DEAD_ZONE = 0.03  # of the field width: about half a unit on 18 columns (a step moves the paddle 2)


def act(observations, action_masks, rng):
    """Left, right or stay for each row, towards the ball's x.

    Args:
        observations: float32 [rows, 8 + bricks], breakout's vector observation.
        action_masks: unused (breakout has no mask).
        rng: unused (the policy is deterministic).

    Returns:
        int32 [rows] actions.
    """
    offset = np.asarray(observations)[:, 6]
    return np.where(offset < -DEAD_ZONE, LEFT, np.where(offset > DEAD_ZONE, RIGHT, STAY)).astype(np.int32)
