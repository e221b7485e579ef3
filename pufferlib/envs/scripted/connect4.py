"""Connect Four baseline: win, else block, else the legal column nearest the centre.

It plays a column that wins at once if there is one, else one that stops the opponent from winning
at once, else the legal column nearest the centre (ties to the left).

Reads the (6, 7) board of csrc/envs/connect4.c (row 0 on top; 1 own pieces, 2 the opponent's).
"""
import numpy as np

__all__ = ["act", "legal_columns", "opponent", "winning_columns"]

CENTRE_FIRST = np.array([3, 2, 4, 1, 5, 0, 6])


def legal_columns(boards):
    """[rows, 7] bool: the columns with room (their top cell empty)."""
    return boards[:, 0, :] == 0


def _four(pieces):
    """[rows] bool: four in a row anywhere in the [rows, 6, 7] bool boards."""
    h = pieces[:, :, :-3] & pieces[:, :, 1:-2] & pieces[:, :, 2:-1] & pieces[:, :, 3:]
    v = pieces[:, :-3] & pieces[:, 1:-2] & pieces[:, 2:-1] & pieces[:, 3:]
    d = pieces[:, :-3, :-3] & pieces[:, 1:-2, 1:-2] & pieces[:, 2:-1, 2:-1] & pieces[:, 3:, 3:]
    a = pieces[:, 3:, :-3] & pieces[:, 2:-1, 1:-2] & pieces[:, 1:-2, 2:-1] & pieces[:, :-3, 3:]
    return h.any((1, 2)) | v.any((1, 2)) | d.any((1, 2)) | a.any((1, 2))


def winning_columns(boards, player):
    """[rows, 7] bool: the columns where dropping a `player` piece makes four in a row."""
    rows = boards.shape[0]
    filled = boards != 0
    # the landing row of each column: the lowest empty cell (-1 when the column is full)
    landing = 5 - filled[:, ::-1, :].argmin(axis=1)
    landing = np.where(filled.all(axis=1), -1, landing)
    result = np.zeros((rows, 7), bool)
    index = np.arange(rows)
    for col in range(7):
        pieces = boards == player
        row = landing[:, col]
        ok = row >= 0
        pieces[index[ok], row[ok], col] = True
        result[:, col] = ok & _four(pieces)
    return result


def act(observations, action_masks, rng):
    """Columns for a batch of (6, 7) boards (the mask, when given, is the same as the board's)."""
    del rng
    boards = np.asarray(observations).reshape(-1, 6, 7)
    legal = legal_columns(boards) if action_masks is None else np.asarray(action_masks, bool)
    win = winning_columns(boards, 1) & legal
    block = winning_columns(boards, 2) & legal
    choice = np.where(win.any(1, keepdims=True), win, np.where(block.any(1, keepdims=True), block, legal))
    # the first allowed column in centre-first order
    ordered = choice[:, CENTRE_FIRST]
    return CENTRE_FIRST[ordered.argmax(axis=1)].astype(np.int32)


def opponent(param):
    """The scripted player with noise, for `scripted:P` opponents.

    It plays a random legal column with probability P (in [0, 1]), else `act`'s column.

    Raises:
        ValueError: P is not a number in [0, 1].

    >>> rng = np.random.default_rng(0)
    >>> boards = np.zeros((4, 6, 7), np.uint8)
    >>> opponent("0")(boards, None, rng).tolist()      # no noise: the centre column
    [3, 3, 3, 3]
    """
    from pufferlib.envs.scripted import fraction

    noise = fraction(param, "connect4's scripted:P (the chance of a random legal column)")

    def noisy(observations, action_masks, rng):
        boards = np.asarray(observations).reshape(-1, 6, 7)
        legal = legal_columns(boards) if action_masks is None else np.asarray(action_masks, bool)
        chosen = act(observations, action_masks, rng)
        random = (rng.random(legal.shape) * legal).argmax(1).astype(np.int32)
        return np.where(rng.random(len(chosen)) < noise, random, chosen)
    return noisy

