import math

import numpy as np
import pytest

from pufferlib.train.selfplay import elo


def test_expected_score_is_the_logistic_of_the_rating_difference():
    assert elo.expected_score(1000, 1000) == 0.5
    assert elo.expected_score(1400, 1000) == pytest.approx(10 / 11)   # 400 points is 10 to 1
    assert elo.expected_score(1000, 1400) == pytest.approx(1 / 11)


def test_update_matches_a_hand_computation():
    # 1613 vs 1573 (expected 1 / (1 + 10 ** (-40 / 400)) = 0.5573), the first loses, K = 32:
    # 1613 + 32 * (0 - 0.5573) = 1595.17; 1573 gains what it loses
    rating, other = elo.update(1613, 1573, 0.0, k=32)
    expected = 1 / (1 + 10 ** (-40 / 400))
    assert expected == pytest.approx(0.557312, abs=1e-6)
    assert rating == pytest.approx(1613 - 32 * expected)
    assert rating == pytest.approx(1595.166, abs=1e-3)
    assert other == pytest.approx(1573 + 32 * expected)
    assert rating + other == pytest.approx(1613 + 1573)


def test_a_draw_between_equals_changes_nothing_and_an_upset_moves_more():
    assert elo.update(1200, 1200, 0.5, k=16) == (1200, 1200)
    favourite_wins = elo.update(1400, 1000, 1.0, k=16)[0] - 1400
    underdog_wins = elo.update(1000, 1400, 1.0, k=16)[0] - 1000
    assert 0 < favourite_wins < underdog_wins
    assert favourite_wins + underdog_wins == pytest.approx(16)


def test_fit_ratings_recovers_known_strengths():
    # expected scores from ratings 1200 / 1000 / 800, as many games as make the prior negligible
    truth = np.array([1200.0, 1000.0, 800.0])
    games = np.full((3, 3), 1e6) - np.diag([1e6] * 3)
    scores = games / (1 + 10 ** ((truth[None, :] - truth[:, None]) / 400))
    fitted = elo.fit_ratings(scores, games, anchor=1000.0)
    assert fitted == pytest.approx(truth, abs=0.5)


def test_fit_ratings_is_finite_for_a_clean_sweep_and_ranks_it_first():
    fitted = elo.fit_ratings([[0, 10], [0, 0]], [[0, 10], [10, 0]])
    assert np.isfinite(fitted).all()
    assert fitted[0] > fitted[1]
    assert fitted.mean() == pytest.approx(1000.0)
    assert not math.isnan(fitted[0])
