"""Squared: rewards, episode ends and the observation grid."""
import numpy as np
import pytest

import pufferlib

STAY, DOWN, UP, LEFT, RIGHT = range(5)


def positions(obs, value):
    return [tuple(np.argwhere(o == value)[0]) if (o == value).any() else None for o in obs]


def test_reset_puts_the_agent_in_the_centre_and_one_target_elsewhere():
    with pufferlib.make("squared", num_envs=200, size=7) as env:
        obs, _ = env.reset(seed=0)
        assert (obs == 1).sum(axis=(1, 2)).tolist() == [1] * 200
        assert (obs == 2).sum(axis=(1, 2)).tolist() == [1] * 200
        assert obs[:, 3, 3].tolist() == [1] * 200
        targets = {positions([o], 2)[0] for o in obs}
        assert len(targets) > 30  # spread over the 48 other cells


def test_moves_follow_the_action_table():
    with pufferlib.make("squared", num_envs=1, size=11) as env:
        env.reset(seed=3)
        target = positions(env.observations, 2)[0]
        expected = [(6, 5), (5, 5), (5, 4), (5, 5), (5, 5)]
        for action, position in zip([DOWN, UP, LEFT, RIGHT, STAY], expected):
            obs, rew, term, trunc, _ = env.step(np.array([action], np.int32))
            if position == target:
                pytest.skip("the target lies on the test path for this seed")
            assert positions(obs, 1)[0] == position
            assert rew[0] == 0 and not term[0] and not trunc[0]


def test_leaving_the_grid_terminates_with_minus_one():
    with pufferlib.make("squared", num_envs=1, size=3) as env:
        env.reset(seed=0)
        rewards = []
        for _ in range(2):
            _, rew, term, trunc, infos = env.step(np.array([UP], np.int32))
            rewards.append((float(rew[0]), bool(term[0]), bool(trunc[0])))
            if term[0]:
                break
        # from the centre of a 3x3 grid, two steps up leave it (unless the target was hit first)
        assert rewards[-1] in [(-1.0, True, False), (1.0, True, False)]


def test_running_out_of_time_truncates_with_minus_one():
    with pufferlib.make("squared", num_envs=4, size=5) as env:
        env.reset(seed=0)
        for _ in range(15):
            _, rew, term, trunc, infos = env.step(np.full(4, STAY, np.int32))
        assert trunc.all() and not term.any() and (rew == -1).all()
        assert infos["episode_length"] == 15 and infos["reached"] == 0


def test_reaching_the_target_gives_plus_one_and_counts():
    with pufferlib.make("squared", num_envs=64, size=5) as env:
        obs, _ = env.reset(seed=4)
        finished = np.zeros(64, bool)
        for _ in range(4):  # every target is at most 4 moves from the centre of a 5x5 grid
            agent = np.array(positions(obs, 1))
            target = np.array(positions(obs, 2))
            d = target - agent
            actions = np.where(d[:, 0] > 0, DOWN, np.where(d[:, 0] < 0, UP,
                               np.where(d[:, 1] < 0, LEFT, RIGHT))).astype(np.int32)
            obs, rew, term, trunc, infos = env.step(actions)
            assert set(np.unique(rew[term])) <= {1.0}
            if infos:
                assert infos["reached"] == 1.0 and infos["episode_return"] == 1.0
            finished |= term
        assert finished.all()
