import numpy as np
import pytest
import torch

from pufferlib.emulation import EnvSpec
from pufferlib.envs import make
from pufferlib.errors import CheckpointError
from pufferlib.train import Config
from pufferlib.train.policies import make_policy
from pufferlib.train.selfplay import League, parse_opponents
from pufferlib.train.selfplay.elo import update


@pytest.fixture(scope="module")
def spec():
    with make("connect4", num_envs=1, self_play=1) as env:
        return env.env_spec


def league_of(spec, seed=0, **selfplay):
    config = Config()
    config.update({"selfplay": {"enabled": True, **selfplay}})
    return League(config, "connect4", spec, torch.device("cpu"), seed=seed), make_policy(config.policy, spec)


def test_snapshots_join_at_the_learners_rating_and_the_oldest_leaves_a_full_pool(spec):
    league, policy = league_of(spec, pool_size=3)
    for it in range(5):
        league.rating = 1000.0 + it
        league.add_snapshot(policy, it)
    assert [m.name for m in league.members] == ["snapshot@2", "snapshot@3", "snapshot@4"]
    assert [m.rating for m in league.members] == [1002.0, 1003.0, 1004.0]


def test_weakest_drop_removes_the_lowest_rated_snapshot_and_keeps_fixed_opponents(spec):
    league, policy = league_of(spec, pool_size=2, drop="weakest", opponents="random")
    league.add_snapshot(policy, 1)
    league.add_snapshot(policy, 2)
    league.member("snapshot@2").rating = 500.0
    league.add_snapshot(policy, 3)
    assert [m.name for m in league.members] == ["random", "snapshot@1", "snapshot@3"]


def test_snapshots_are_frozen_copies(spec):
    league, policy = league_of(spec)
    league.add_snapshot(policy, 0)
    snapshot = league.members[0].policy
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(1.0)
    assert all(not p.requires_grad for p in snapshot.parameters())
    assert not torch.equal(next(snapshot.parameters()), next(policy.parameters()))


def test_record_updates_both_ratings_like_elo_and_counts_the_result(spec):
    league, policy = league_of(spec, elo_k=24)
    league.add_snapshot(policy, 0)
    member = league.members[0]
    member.rating, league.rating = 1100.0, 1000.0
    league.record(member, 1.0)
    assert (league.rating, member.rating) == pytest.approx(update(1000.0, 1100.0, 1.0, 24))
    league.record(member, 0.5)
    league.record(member, 0.0)
    assert (member.wins, member.draws, member.losses) == (1, 1, 1)


def test_latest_sampling_draws_only_the_newest_snapshot(spec):
    league, policy = league_of(spec, sampling="latest", opponents="random")
    league.add_snapshot(policy, 0)
    league.add_snapshot(policy, 1)
    assert {m.name for m in league.draw(50)} == {"snapshot@1"}


def test_uniform_sampling_draws_every_member(spec):
    league, policy = league_of(spec, sampling="uniform", opponents="random")
    league.add_snapshot(policy, 0)
    drawn = [m.name for m in league.draw(3000)]
    assert drawn.count("random") == pytest.approx(1500, abs=150)


def test_pfsp_draws_the_opponents_the_learner_loses_to_most(spec):
    league, policy = league_of(spec, sampling="pfsp", pfsp_power=2.0, opponents="random")
    league.add_snapshot(policy, 0)
    beaten, beating = league.members
    for _ in range(50):
        league.record(beaten, 1.0)
        league.record(beating, 0.0)
    weights = dict(zip([m.name for m in league.members], league.weights()))
    assert weights[beating.name] > 0.95
    drawn = [m.name for m in league.draw(1000)]
    assert drawn.count(beating.name) > 900


def test_state_dict_round_trips_ratings_records_weights_and_the_rng(spec):
    league, policy = league_of(spec, opponents="random", seed=3)
    league.add_snapshot(policy, 0)
    with torch.no_grad():
        next(policy.parameters()).add_(0.5)
    league.add_snapshot(policy, 7)
    for member, score in zip(league.members * 3, (1.0, 0.0, 0.5) * 3):
        league.record(member, score)
    state = league.state_dict()
    again, fresh_policy = league_of(spec, opponents="random", seed=99)
    again.load_state_dict(state, fresh_policy)
    assert [(m.name, m.rating, m.wins, m.draws, m.losses) for m in again.members] == \
        [(m.name, m.rating, m.wins, m.draws, m.losses) for m in league.members]
    assert again.rating == league.rating
    for a, b in zip(league.snapshots, again.snapshots):
        for x, y in zip(a.policy.state_dict().values(), b.policy.state_dict().values()):
            assert torch.equal(x, y)
    assert [m.name for m in again.draw(20)] == [m.name for m in league.draw(20)]


def test_parse_opponents_reads_keywords_and_paths(tmp_path):
    path = tmp_path / "a.pt"
    path.write_bytes(b"")
    assert parse_opponents(f"random,scripted, scripted:3 ,{path}", "connect4") == \
        [("random", None), ("scripted", None), ("scripted", "3"), ("checkpoint", str(path))]
    assert parse_opponents("", "connect4") == []


@pytest.mark.parametrize("text, match", [("nonsense", "neither 'random'"), ("random,random", "twice")])
def test_parse_opponents_refuses_bad_entries(text, match):
    with pytest.raises(ValueError, match=match):
        parse_opponents(text, "connect4")


def test_scripted_opponent_needs_a_game_with_a_scripted_player(spec):
    config = Config()
    config.update({"selfplay": {"enabled": True, "opponents": "scripted"}})
    with pytest.raises(ValueError, match="no scripted baseline"):
        League(config, "squared", spec, torch.device("cpu"))
    config.update({"selfplay": {"opponents": "scripted:2"}})
    with pytest.raises(ValueError, match="snake's scripted player takes no parameter"):
        League(config, "snake", spec, torch.device("cpu"))
    with pytest.raises(ValueError, match=r"must be a number in \[0, 1\], got '2'"):
        League(config, "connect4", spec, torch.device("cpu"))


def test_a_checkpoint_opponent_of_other_spaces_is_refused(spec, tmp_path):
    from pufferlib.train import Trainer

    config = Config()
    config.update({"train": {"total_timesteps": 256, "horizon": 8, "minibatch_size": 64}, "env": {"num_envs": 8}})
    with Trainer("cartpole", config, data_dir=tmp_path, dashboard=False, stream=open("/dev/null", "w")) as t:
        path = t.train()["checkpoint"]
    config = Config()
    config.update({"selfplay": {"enabled": True, "opponents": path}})
    with pytest.raises(CheckpointError, match="other spaces"):
        League(config, "connect4", spec, torch.device("cpu"))


def test_random_opponent_plays_legal_moves_only(spec):
    league, _ = league_of(spec, opponents="random")
    member = league.members[0]
    masks = np.zeros((200, 7), bool)
    masks[:, 4] = True
    actions, state = member.act(np.zeros((200, 6, 7), np.uint8), masks)
    assert state is None and set(np.asarray(actions).ravel().tolist()) == {4}


def test_env_spec_is_the_one_of_the_two_seat_game(spec):
    assert isinstance(spec, EnvSpec) and spec.agents_per_env == 2


def test_games_draw_among_the_active_members_which_change_with_every_update(spec):
    league, policy = league_of(spec, pool_size=20, active=3, sampling="uniform")
    for it in range(20):
        league.add_snapshot(policy, it)
    seen = set()
    for _ in range(10):   # updates
        league.refresh()
        drawn = {m.name for m in league.draw(300)}
        assert len(drawn) == 3 and drawn == {m.name for m in league.active}
        seen |= drawn
    assert len(seen) > 10


def test_pfsp_keeps_drawing_when_the_learner_beats_every_active_member(spec):
    league, policy = league_of(spec, active=1, opponents="random")
    league.add_snapshot(policy, 0)
    for member in league.members:
        for _ in range(200):
            league.record(member, 1.0)
    assert len(league.draw(10)) == 10


@pytest.mark.parametrize("game, param", [("connect4", "0.5"), ("pong", "0.3")])
def test_scripted_opponents_take_the_games_parameter(game, param):
    from pufferlib.train.selfplay import Opponent

    member = Opponent.scripted(game, param, 1000.0)
    assert member.name == f"scripted:{param}" and member.label == f"scripted:{param}"
    rows = 2000
    if game == "connect4":
        obs, masks = np.zeros((rows, 6, 7), np.uint8), np.ones((rows, 7), bool)
        moves, _ = member.act(obs, masks)
        assert 0.4 < (moves != 3).mean() * 7 / 6 < 0.6     # half the moves random (1/7 of those centre)
    else:
        obs = np.zeros((rows, 6), np.float32)
        obs[:, 1] = 1.0                                     # the ball below the paddle: the tracker goes down
        moves, _ = member.act(obs, None)
        assert 0.25 < (moves == 2).mean() < 0.35
