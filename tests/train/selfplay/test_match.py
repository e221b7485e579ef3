import pytest

from pufferlib.errors import CheckpointError
from pufferlib.train import Trainer, load_config
from pufferlib.train.selfplay.match import play, round_robin

DUEL = "tests.train.selfplay.games:duel"


def test_play_counts_games_per_seat_from_the_first_players_view():
    result = play("connect4", "scripted", "random", games=40, seed=1)
    assert len(result["seats"]) == 2
    for seat in result["seats"]:
        assert seat["wins"] + seat["draws"] + seat["losses"] == 40
        assert seat["wins"] >= 36          # the heuristic player beats random play
    assert result["total"]["wins"] == sum(s["wins"] for s in result["seats"])


def test_play_is_reproducible_with_a_seed():
    assert play("connect4", "random", "random", games=30, seed=5) == \
        play("connect4", "random", "random", games=30, seed=5)


def test_round_robin_ranks_the_stronger_player_first():
    table = round_robin("connect4", ["random", "scripted"], games=20)
    assert [row["player"] for row in table] == ["scripted", "random"]
    assert table[0]["rating"] > 1000 > table[1]["rating"]
    assert table[0]["games"] == table[1]["games"] == 40
    assert table[0]["wins"] == table[1]["losses"]


def test_a_checkpoint_plays_both_seats(tmp_path):
    config = load_config("connect4")
    config.update({"selfplay": {"enabled": True}, "env": {"num_envs": 8},
                   "train": {"total_timesteps": 512, "horizon": 16, "minibatch_size": 64}})
    with Trainer("connect4", config, data_dir=tmp_path, dashboard=False, stream=open("/dev/null", "w")) as t:
        path = t.train()["checkpoint"]
    result = play("connect4", path, "random", games=10, deterministic=True)
    assert [sum(s.values()) for s in result["seats"]] == [10, 10]


@pytest.mark.parametrize("players, error, match", [
    (["random"], ValueError, "at least 2 players"),
    (["random", "random"], ValueError, "each player once"),
    (["random", "no/such/file.pt"], ValueError, "neither 'random'"),
])
def test_round_robin_refuses_bad_players(players, error, match):
    with pytest.raises(error, match=match):
        round_robin("connect4", players, games=2)


def test_play_needs_a_multi_agent_environment():
    with pytest.raises(ValueError, match="at least 2 agents per env"):
        play("cartpole", "random", "random", games=2)


def test_play_refuses_a_checkpoint_of_another_environment(tmp_path):
    config = load_config("cartpole")
    config.update({"env": {"num_envs": 4}, "train": {"total_timesteps": 128, "horizon": 8, "minibatch_size": 32}})
    with Trainer("cartpole", config, data_dir=tmp_path, dashboard=False, stream=open("/dev/null", "w")) as t:
        path = t.train()["checkpoint"]
    with pytest.raises(CheckpointError, match="other spaces"):
        play("connect4", "random", path, games=2)


def test_play_runs_pettingzoo_games():
    result = play(DUEL, "random", "random", games=8)
    assert sum(result["total"].values()) == 16
