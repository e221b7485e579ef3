import numpy as np
import pytest

from pufferlib import vector
from pufferlib.envs import make
from pufferlib.train.selfplay import SeatedEnv, parse_teams
from tests.train.selfplay.games import duel, teams


class Player:
    """A pool member that plays a fixed action and records the `starts` it is given."""

    batchable = False

    def __init__(self, name, action, recurrent=False):
        self.name = self.label = name
        self.action, self.recurrent, self.rating = action, recurrent, 1000.0
        self.starts = []

    def initial_state(self, rows):
        return (np.zeros((rows, 1), np.float32), np.zeros((rows, 1), np.float32))

    def act(self, observations, action_masks, state=None, starts=None):
        self.starts.append(np.asarray(starts).copy())
        return np.full(len(observations), self.action, np.int32), state


class Fixed:
    """A league of one member that tallies the learner's scores."""

    def __init__(self, member):
        self.member, self.scores = member, []

    def draw(self, count):
        return [self.member] * count

    def record(self, member, score, env=None):
        self.scores.append((member.name, score, env))


def seated(creator, league, num_envs=4, team_text="auto", seed=0):
    vecenv = vector.make(creator, num_envs, backend="serial", seed=seed)
    return SeatedEnv(vecenv, league, parse_teams(team_text, vecenv.num_agents // num_envs), seed=seed)


def test_parse_teams():
    assert parse_teams("auto", 3) == [[0], [1], [2]]
    assert parse_teams("0,2/1,3", 4) == [[0, 2], [1, 3]]


@pytest.mark.parametrize("text, seats, match", [
    ("auto", 1, "at least 2 agents per env"),
    ("0,1", 2, "at least 2 teams"),
    ("0/1/1", 3, "exactly one team"),
    ("0/2", 2, "exactly one team"),
    ("0,1/2", 3, "equal sizes"),
    ("a/b", 2, "seat numbers"),
])
def test_parse_teams_refuses_bad_teams(text, seats, match):
    with pytest.raises(ValueError, match=match):
        parse_teams(text, seats)


def test_the_learner_sees_only_its_own_seats_rows():
    env = seated(duel, Fixed(Player("zeros", 0)), num_envs=6)
    obs, _ = env.reset(seed=1)
    assert env.num_agents == 6 and env.agent_rows == 12 and obs.shape == (6, 3)
    for _ in range(9):
        seats = obs[:, 1].astype(int)
        assert (seats == env.learner_team).all()          # one seat per env, the drawn one
        ids = obs[:, 0]
        assert len(set(ids.tolist())) == 6                 # every env once
        obs, *_ = env.step(np.ones(6, np.int32))
    assert set(env.learner_team.tolist()) == {0, 1}


def test_results_count_the_learners_wins_and_the_opponents_actions_are_applied():
    league = Fixed(Player("zeros", 0))
    env = seated(duel, league, num_envs=4)
    env.reset(seed=0)
    stats = []
    for _ in range(8):   # two 4-step games in every env
        *_, infos = env.step(np.ones(4, np.int32))
        if infos:
            stats.append(infos.means())
    assert [score for _, score, _ in league.scores] == [1.0] * 8
    assert sorted(env for _, _, env in league.scores) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert stats[-1]["selfplay/wins"] == 1.0 and stats[-1]["selfplay/zeros/wins"] == 1.0
    assert stats[-1]["episode_return"] == 4.0 and stats[-1]["episode_length"] == 4


def test_equal_team_returns_are_a_draw_and_lower_ones_a_loss():
    league = Fixed(Player("ones", 1))
    env = seated(duel, league, num_envs=2)
    env.reset(seed=0)
    for _ in range(4):
        env.step(np.ones(2, np.int32))
    for _ in range(4):
        env.step(np.zeros(2, np.int32))
    assert [score for _, score, _ in league.scores] == [0.5, 0.5, 0.0, 0.0]


def test_teams_of_two_play_together_and_are_scored_by_their_summed_return():
    league = Fixed(Player("zeros", 0))
    env = seated(teams, league, num_envs=3, team_text="0,2/1,3")
    obs, _ = env.reset(seed=2)
    assert env.num_agents == 6 and obs.shape == (6, 3)
    for _ in range(4):
        seats = obs[:, 1].astype(int).reshape(3, 2)
        expected = np.array([[0, 2], [1, 3]])[env.learner_team]
        assert (seats == expected).all()
        obs, *_ = env.step(np.ones(6, np.int32))
    assert [score for _, score, _ in league.scores] == [1.0] * 3


def test_a_recurrent_opponents_state_restarts_with_every_game():
    member = Player("lstm", 0, recurrent=True)
    env = seated(duel, Fixed(member), num_envs=2)
    env.reset(seed=0)
    for _ in range(8):
        env.step(np.ones(2, np.int32))
    starts = [s.tolist() for s in member.starts]
    assert starts[0] == [True, True] and starts[4] == [True, True]   # the first step of each game
    assert all(s == [False, False] for k, s in enumerate(starts) if k % 4)


def test_seated_native_game_gathers_the_learners_masks_and_rewards():
    league = Fixed(Player("first_column", 0))
    vecenv = make("connect4", num_envs=8, self_play=1, seed=0)
    env = SeatedEnv(vecenv, league, parse_teams("auto", 2), seed=0)
    env.reset(seed=0)
    for _ in range(60):
        rows = env.learner_rows
        assert (env.masks == vecenv.masks[rows]).all()
        assert (env.action_masks == vecenv.action_masks[rows]).all()
        actions = np.array([np.flatnonzero(m)[-1] for m in env.action_masks], np.int32)
        _, rewards, terminals, _, _ = env.step(actions)
        assert (rewards == vecenv.rewards[rows]).all() and (terminals == vecenv.terminals[rows]).all()
    assert league.scores   # games ended and were scored
    env.close()
