"""Tetris baseline: the lowest landing placement.

Plays the default `placement=1` game (one action places a piece; the action mask marks the legal
placements). For each legal placement it drops the current piece straight down onto the column
tops read from the observation, and takes the one whose cells end lowest on average (ties: the
lowest action index). It ignores holes, the next pieces, hold and the placement features. The well's
size is read back from the observation and mask sizes (width = mask size // 4, hold = mask size % 4;
where two wells fit the sizes, as 10 x 20 and 10 x 4 with features=1 do, the taller one).
"""
import numpy as np

__all__ = ["SHAPES", "act", "layout"]

# Spawn orientation of I J L O S T Z in their SRS boxes: (box side, [(row, col) cells]).
_SPAWN = [
    (4, [(1, 0), (1, 1), (1, 2), (1, 3)]),
    (3, [(0, 0), (1, 0), (1, 1), (1, 2)]),
    (3, [(0, 2), (1, 0), (1, 1), (1, 2)]),
    (2, [(0, 0), (0, 1), (1, 0), (1, 1)]),
    (3, [(0, 1), (0, 2), (1, 0), (1, 1)]),
    (3, [(0, 1), (1, 0), (1, 1), (1, 2)]),
    (3, [(0, 0), (0, 1), (1, 1), (1, 2)]),
]


def _orientations(side, cells):
    """The four clockwise orientations, each as cells relative to its top-left occupied corner."""
    out = []
    for _ in range(4):
        top = min(r for r, _ in cells)
        left = min(c for _, c in cells)
        out.append(tuple(sorted((r - top, c - left) for r, c in cells)))
        cells = [(c, side - 1 - r) for r, c in cells]
    return out


# SHAPES[piece][rotation]: the cells (row, col) of the piece, normalised to its top-left corner.
SHAPES = [_orientations(side, cells) for side, cells in _SPAWN]


def layout(obs_size, mask_size):
    """(height, width, preview, hold, features) of a placement game from its observation and mask sizes.

    Where several layouts fit, the one with the tallest well.

    Raises:
        ValueError: no layout fits the sizes.
    """
    width, hold = divmod(mask_size, 4)
    fits = [(height, preview, features) for height in range(4, 33) for preview in range(6)
            for features in (0, 1)
            if height * width + 7 * (1 + preview) + 8 * hold + features * 16 * width == obs_size]
    if not fits:
        raise ValueError(f"no tetris layout has an observation of {obs_size} and a mask of {mask_size}; "
                         "play tetris with placement=1")
    height, preview, features = max(fits)
    return height, width, preview, hold, features


def _profiles():
    """Per piece and rotation: width, the lowest cell row of each column, and the cells' mean row."""
    out = []
    for piece in SHAPES:
        rows = []
        for cells in piece:
            w = max(c for _, c in cells) + 1
            bottom = [max(r for r, c in cells if c == j) for j in range(w)]
            rows.append((w, bottom, np.mean([r for r, _ in cells])))
        out.append(rows)
    return out


_PROFILES = _profiles()


def act(observations, action_masks, rng):
    """Lowest landing placement for every row.

    Args:
        observations: uint8 [rows, obs_size] of tetris with placement=1.
        action_masks: bool [rows, 4 * width + hold], the legal placements.
        rng: unused (the policy is deterministic).

    Returns:
        int32 [rows] actions.

    Raises:
        ValueError: no action masks (the primitive placement=0 game), or an unknown layout.
    """
    del rng
    if action_masks is None:
        raise ValueError("the scripted tetris player plays placement=1 (with action masks); make the env "
                         "with placement=1")
    obs = np.asarray(observations)
    rows = obs.shape[0]
    height, width, *_ = layout(obs.shape[1], action_masks.shape[1])
    board = obs[:, :height * width].reshape(rows, height, width) != 0
    # first filled row of each column (height when empty)
    tops = np.where(board.any(axis=1), board.argmax(axis=1), height)
    piece = obs[:, height * width:height * width + 7].argmax(axis=1)
    best = np.full(rows, -np.inf)
    actions = np.zeros(rows, np.int32)
    for a in range(4 * width):
        rot, col = divmod(a, width)
        legal = action_masks[:, a].astype(bool)
        score = np.full(rows, -np.inf)
        for p in range(7):
            w, bottom, mean_row = _PROFILES[p][rot]
            sel = legal & (piece == p)
            if col + w > width or not sel.any():
                continue
            landing = np.min(tops[:, col:col + w] - 1 - np.asarray(bottom), axis=1)
            score = np.where(sel, landing + mean_row, score)
        better = score > best
        best = np.where(better, score, best)
        actions = np.where(better, a, actions).astype(np.int32)
    return actions
