"""Elo ratings: the update after one game, and ratings fitted to a round robin's results.

A rating difference d means an expected score of 1 / (1 + 10 ** (-d / 400)) for the higher-rated
side (a win scores 1, a draw 0.5, a loss 0): 400 points is 10 to 1.

>>> expected_score(1200, 1000)
0.7597469266479578
>>> update(1000, 1000, 1.0, k=32)
(1016.0, 984.0)
"""
import math

import numpy as np

__all__ = ["expected_score", "fit_ratings", "update"]


def expected_score(rating, other):
    """The expected score (win 1, draw 0.5, loss 0) of a player rated `rating` against `other`."""
    return 1.0 / (1.0 + 10.0 ** ((other - rating) / 400.0))


def update(rating, other, score, k):
    """Both players' ratings after one game.

    Args:
        rating: the first player's rating before the game.
        other: the second player's.
        score: the first player's result: 1 a win, 0.5 a draw, 0 a loss.
        k: the K factor, the most a game moves a rating.

    Returns:
        (rating, other) after the game; the points one gains the other loses.
    """
    delta = k * (score - expected_score(rating, other))
    return rating + delta, other - delta


def fit_ratings(scores, games, anchor=1000.0, prior_games=1.0):
    """The ratings that best explain a round robin's results (Bradley-Terry by maximum likelihood).

    Unlike a sequence of `update`s the result does not depend on the order the games were played.
    Every pair gets `prior_games` virtual draws, so a player who won or lost everything still has a
    finite rating.

    Args:
        scores: [n, n] array, scores[i, j] = player i's points against j (wins + draws / 2).
        games: [n, n] array, games[i, j] = games between i and j (symmetric).
        anchor: the mean of the returned ratings.
        prior_games: virtual draws added to every pair that played.

    Returns:
        [n] float array of ratings.

    >>> fit_ratings([[0, 3], [1, 0]], [[0, 4], [4, 0]]).round(1).tolist()
    [1073.6, 926.4]
    """
    scores, games = np.asarray(scores, float), np.asarray(games, float)
    played = games > 0
    games = games + prior_games * played
    wins = (scores + 0.5 * prior_games * played).sum(1)
    strength = np.ones(len(games))
    for _ in range(10_000):   # Hunter's MM iteration; converges in tens of passes for small leagues
        pair = games / (strength[:, None] + strength[None, :])
        new = np.where(wins > 0, wins / np.maximum(pair.sum(1), 1e-300), strength)
        new /= math.exp(np.log(new).mean())
        if np.allclose(new, strength, rtol=1e-10, atol=0):
            strength = new
            break
        strength = new
    ratings = 400.0 * np.log10(strength)
    return ratings - ratings.mean() + anchor
