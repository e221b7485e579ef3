"""Scripted snake: head for the nearest visible food, never into a wall or a body if it can help it.

Reads the egocentric window (csrc/envs/snake.c): the head is the centre cell; a move is safe when the
cell it enters is empty or food. Among the safe moves it takes the one that ends closest (Manhattan
distance) to a visible food cell, breaking ties at random; with no food in sight it wanders among the
safe moves, and with none safe it moves at random.
"""
import numpy as np

__all__ = ["act"]

# Actions 0 up, 1 down, 2 left, 3 right as (row, column) steps.
_MOVES = np.array([(-1, 0), (1, 0), (0, -1), (0, 1)])
_EMPTY, _FOOD = 0, 1


def act(observations, action_masks, rng):
    """Greedy food-seeking moves for a batch of snake windows.

    Args:
        observations: uint8 [rows, 2 vision + 1, 2 vision + 1] windows.
        action_masks: unused (snake has no action mask).
        rng: numpy Generator for tie-breaking.

    Returns:
        int32 [rows] actions.
    """
    del action_masks
    obs = np.asarray(observations)
    rows, win = obs.shape[0], obs.shape[-1]
    obs = obs.reshape(rows, win, win)
    v = win // 2
    ahead = obs[:, v + _MOVES[:, 0], v + _MOVES[:, 1]]              # [rows, 4] the cells entered
    safe = (ahead == _EMPTY) | (ahead == _FOOD)
    grid_r, grid_c = np.mgrid[0:win, 0:win]
    food = (obs == _FOOD).reshape(rows, -1)
    # distance from each move's destination to each cell, [4, win * win]
    dist = (np.abs(grid_r.ravel()[None] - (v + _MOVES[:, :1]))
            + np.abs(grid_c.ravel()[None] - (v + _MOVES[:, 1:])))
    big = 4 * win
    nearest = np.where(food[:, None, :], dist[None], big).min(axis=2)  # [rows, 4]
    score = nearest + rng.random((rows, 4))                          # ties broken at random
    score = np.where(safe, score, score + 10 * big)                  # unsafe only when nothing else is
    return score.argmin(axis=1).astype(np.int32)
