"""2048 baseline: the corner strategy.

It plays the first move that changes the board in the order down, left, right, up, which keeps the
large tiles in the bottom-left corner.

Reads the (4, 4) log2 grid of csrc/envs/g2048.c (row 0 on top; moves 0 up, 1 down, 2 left, 3 right).
"""
import numpy as np

__all__ = ["act", "legal_moves"]

PRIORITY = np.array([1, 2, 3, 0])  # down, left, right, up


def _can_move_left(grid):
    """[rows] bool: sliding the [rows, 4, 4] grids left changes them."""
    # a tile with an empty cell anywhere to its left moves; two equal neighbours merge
    seen_empty = np.logical_or.accumulate(grid == 0, axis=2)
    gap = seen_empty[:, :, :-1] & (grid[:, :, 1:] != 0)
    pair = (grid[:, :, :-1] == grid[:, :, 1:]) & (grid[:, :, 1:] != 0)
    return (gap | pair).any(axis=(1, 2))


def legal_moves(observations):
    """[rows, 4] bool: which of up, down, left, right change each grid."""
    grid = np.asarray(observations).reshape(-1, 4, 4)
    views = [grid.transpose(0, 2, 1), grid.transpose(0, 2, 1)[:, :, ::-1], grid, grid[:, :, ::-1]]
    return np.stack([_can_move_left(v) for v in views], axis=1)


def act(observations, action_masks, rng):
    """Moves for a batch of (4, 4) grids: the first legal one of down, left, right, up."""
    del rng
    legal = legal_moves(observations) if action_masks is None else np.asarray(action_masks, bool)
    ordered = legal[:, PRIORITY]
    return PRIORITY[ordered.argmax(axis=1)].astype(np.int32)
