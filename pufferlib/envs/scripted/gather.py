"""Scripted gather player: walk to the nearest visible item, carry the load home, else wander.

Per agent row (see csrc/envs/gather.c for the observation layout):
  - full, or carrying something with no item in sight: step towards the depot along the axis on
    which it is further away (from the quantised depot offsets);
  - else, with an item in the window: step towards the nearest one (Manhattan distance), along the
    axis on which it is further away;
  - else a random move.
A move into a wall or another agent is replaced by a random move, so that agents do not stay stuck
behind each other.
"""
import numpy as np

__all__ = ["act"]

EMPTY, WALL, PATCH, ITEM, DEPOT, AGENT = range(6)
STAY, UP, DOWN, LEFT, RIGHT = range(5)
FULL = 7


def _towards(drow, dcol, rng):
    """The move that reduces the larger of |drow|, |dcol| (random axis on ties), STAY at zero."""
    vertical = np.where(drow > 0, DOWN, UP)
    horizontal = np.where(dcol > 0, RIGHT, LEFT)
    a, b = np.abs(drow), np.abs(dcol)
    pick_vertical = (a > b) | ((a == b) & (rng.random(drow.shape) < 0.5))
    move = np.where(pick_vertical, vertical, horizontal)
    return np.where((a == 0) & (b == 0), STAY, move)


def act(observations, action_masks, rng):
    """Actions (int32, one per row) for gather observation rows [rows, W * W + 3]."""
    del action_masks  # gather has none
    obs = np.asarray(observations)
    rows = obs.shape[0]
    side = int(round(np.sqrt(obs.shape[1] - 3)))
    vision = side // 2
    window = obs[:, :side * side].reshape(rows, side, side)
    load = obs[:, side * side].astype(np.int64)
    depot_row = obs[:, side * side + 1].astype(np.int64) - 3
    depot_col = obs[:, side * side + 2].astype(np.int64) - 3

    # nearest visible item
    offsets = np.arange(side) - vision
    dr, dc = np.meshgrid(offsets, offsets, indexing="ij")
    distance = (np.abs(dr) + np.abs(dc)).reshape(-1)
    items = window.reshape(rows, -1) == ITEM
    nearest = np.where(items, distance, 1 << 20).argmin(axis=1)
    seen = items.any(axis=1)
    to_item = _towards(dr.reshape(-1)[nearest], dc.reshape(-1)[nearest], rng)

    home = (load >= FULL) | ((load > 0) & ~seen)
    to_depot = _towards(depot_row, depot_col, rng)
    wander = rng.integers(UP, RIGHT + 1, rows)
    moves = np.where(home, to_depot, np.where(seen, to_item, wander))

    # a blocked move (wall or agent ahead) becomes a random one
    ahead = {UP: window[:, vision - 1, vision], DOWN: window[:, vision + 1, vision],
             LEFT: window[:, vision, vision - 1], RIGHT: window[:, vision, vision + 1]}
    blocked = np.zeros(rows, bool)
    for move, cell in ahead.items():
        blocked |= (moves == move) & ((cell == WALL) | (cell == AGENT))
    moves = np.where(blocked, rng.integers(UP, RIGHT + 1, rows), moves)
    return moves.astype(np.int32)
