import json

import numpy as np
import pytest
import torch

from pufferlib.train import Config, Trainer, load_config
from pufferlib.train.config import ConfigError
from pufferlib.train.selfplay import SeatedEnv

DUEL = "tests.train.selfplay.games:duel"
QUIET = dict(dashboard=False)


def duel_config(**sections):
    config = load_config(DUEL)
    config.update({"selfplay": {"enabled": True, "snapshot_interval": 1, "pool_size": 3},
                   "env": {"num_envs": 8}, "vec": {"backend": "serial"},
                   "train": {"total_timesteps": 8 * 2 * 8 * 3, "horizon": 8, "minibatch_size": 32},
                   "log": {"interval": 1e9}})
    config.update(sections)
    return config


def trainer(tmp_path, config, env=DUEL, **kwargs):
    return Trainer(env, config, data_dir=tmp_path, stream=open("/dev/null", "w"), **QUIET, **kwargs)


def test_opponent_rows_never_reach_the_learners_loss(tmp_path):
    """Every observation the loss differentiates is one of the learner's seats at that step."""
    config = duel_config(train={"kernel": "off", "update_epochs": 1})
    with trainer(tmp_path, config) as t:
        env = t.groups[0].env
        assert isinstance(env, SeatedEnv) and t.rows == 8 and env.agent_rows == 16
        learner_seats = []                 # (env id, seat) of the learner's rows at each step
        all_actions = env._all_actions     # what every step calls with the learner's actions

        def logged(actions):
            learner_seats.append(set(map(tuple, env.observations[:, :2].astype(int).tolist())))
            return all_actions(actions)
        env._all_actions = logged
        t.rollout()
        t.storage.compute_advantages(t.config.train)
        seen = []                          # the observations of the minibatches, with their gradient

        def hook(module, args):
            obs = args[0].detach().clone().requires_grad_(True)
            seen.append(obs)
            return (obs,)
        handle = t.policy.register_forward_pre_hook(hook)
        t.update()
        handle.remove()
        assert seen
        stored = t.storage.obs.numpy()
        for step in range(t.config.train.horizon):
            rows = set(map(tuple, stored[:, step, :2].astype(int).tolist()))
            assert rows == learner_seats[step]
        for obs in seen:
            assert obs.grad is not None
            carries_gradient = obs.grad.abs().sum(1) > 0
            assert carries_gradient.any()
            pairs = set(map(tuple, obs[carries_gradient, :2].detach().int().tolist()))
            allowed = set().union(*learner_seats)
            assert pairs <= allowed   # no opponent's (env, seat) of any step
        for member in t.league.members:
            assert all(p.grad is None for p in member.policy.parameters())


def test_global_step_counts_every_row_the_env_steps(tmp_path):
    with trainer(tmp_path, duel_config()) as t:
        t.rollout()
        assert t.global_step == 16 * 8   # both seats of 8 envs, 8 steps


def test_metrics_carry_the_elo_and_results_per_opponent_class(tmp_path):
    config = duel_config(selfplay={"opponents": "random"}, log={"interval": 1e-6})
    config.train.total_timesteps = 16 * 8 * 6
    with trainer(tmp_path, config) as t:
        summary = t.train()
        run_dir = t.run_dir
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if "selfplay/elo" in r][-1]
    assert last["selfplay/pool_size"] == 4       # random and 3 snapshots
    assert any("selfplay/past/wins" in r for r in records)
    assert any("selfplay/random/wins" in r for r in records)
    for r in records:
        if "selfplay/wins" in r:
            assert r["selfplay/wins"] + r["selfplay/draws"] + r["selfplay/losses"] == pytest.approx(1.0)
    assert summary["metrics"]["selfplay/elo"] != 1000.0
    assert (run_dir / "curves.png").exists()


def test_resume_continues_the_same_league(tmp_path):
    config = duel_config(selfplay={"opponents": "random"})
    with trainer(tmp_path, config) as t:
        path = t.train()["checkpoint"]
        league = t.league.state_dict()
        seats = t.groups[0].env.state_dict()
    data = torch.load(path, weights_only=True)
    assert [m["name"] for m in data["league"]["pool"]["members"]] == [m["name"] for m in league["members"]]
    config = duel_config(selfplay={"opponents": "random"})
    with trainer(tmp_path, config, resume=path) as t:
        restored = t.league.state_dict()
        assert restored["rating"] == league["rating"]
        assert [(m["name"], m["rating"], m["wins"], m["losses"]) for m in restored["members"]] == \
            [(m["name"], m["rating"], m["wins"], m["losses"]) for m in league["members"]]
        for saved, now in zip(league["members"], restored["members"]):
            if saved["kind"] == "snapshot":
                for k, v in saved["policy"].items():
                    assert torch.equal(v, now["policy"][k])
        del seats   # Python envs cannot be snapshotted: their games start again against the pool
        t.config.train.total_timesteps += 16 * 8 * 2
        t.train()
        names = [m.name for m in t.league.members]
        assert names[0] == "random" and names[-1] == f"snapshot@{t.iteration}"


def test_resume_of_a_native_game_continues_its_seats(tmp_path):
    config = load_config("connect4")
    config.update({"selfplay": {"enabled": True, "snapshot_interval": 1},
                   "env": {"num_envs": 8}, "train": {"total_timesteps": 2 * 8 * 16 * 2, "horizon": 16,
                                                     "minibatch_size": 64}, "log": {"interval": 1e9}})
    with trainer(tmp_path, config, env="connect4") as t:
        path = t.train()["checkpoint"]
        seats = t.groups[0].env.state_dict()
        obs = t.groups[0].env.observations.copy()
    with trainer(tmp_path, config, env="connect4", resume=path) as t:
        env = t.groups[0].env
        assert (env.learner_team == seats["learner_team"]).all()
        assert [[m.name for m in row] for row in env.opponents] == seats["opponents"]
        assert (env.observations == obs).all()


def test_lstm_policies_keep_a_state_per_learner_row_and_per_opponent_row(tmp_path):
    config = duel_config(policy={"lstm": True}, train={"bptt_horizon": 4})
    with trainer(tmp_path, config) as t:
        t.train()
        assert t.storage.state[0].shape[0] == t.rows == 8
        env = t.groups[0].env
        recurrent = [m for m in t.league.members if m.recurrent]
        assert recurrent
        for h, c in env._states.values():
            assert h.shape[0] == c.shape[0] == env.agent_rows


def test_selfplay_in_a_one_agent_env_is_a_config_error(tmp_path):
    config = load_config("cartpole")
    config.update({"selfplay": {"enabled": True}})
    with pytest.raises(ConfigError, match="at least 2 agents per env"):
        trainer(tmp_path, config, env="cartpole")


def test_bad_teams_are_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="selfplay.teams"):
        trainer(tmp_path, duel_config(selfplay={"teams": "0,1/2"}))


def test_a_built_in_game_switches_to_its_multi_seat_mode_but_the_saved_config_does_not(tmp_path):
    config = load_config("pong")
    config.update({"selfplay": {"enabled": True}, "env": {"num_envs": 4},
                   "train": {"total_timesteps": 512, "horizon": 16, "minibatch_size": 32}})
    with trainer(tmp_path, config, env="pong") as t:
        assert t.groups[0].env.agent_rows == 8 and t.rows == 4
        assert "self_play" not in t.config.env.params


def test_the_selfplay_section_is_a_run_setting():
    config = Config()
    config.update({"selfplay": {"sampling": "uniform", "pool_size": 4}})
    with pytest.raises(ConfigError, match="selfplay.sampling must be one of"):
        config.update({"selfplay": {"sampling": "best"}})
    assert np.isfinite(config.selfplay.elo_k)


def test_two_overlapping_groups_share_one_league(tmp_path):
    config = load_config("connect4")
    config.update({"selfplay": {"enabled": True, "snapshot_interval": 1}, "env": {"num_envs": 8},
                   "train": {"overlap": "on", "total_timesteps": 2 * 8 * 16 * 3, "horizon": 16,
                             "minibatch_size": 64}, "log": {"interval": 1e9}})
    with trainer(tmp_path, config, env="connect4") as t:
        assert len(t.groups) == 2 and t.groups[0].env.league is t.groups[1].env.league is t.league
        t.train()
        assert t.global_step == 2 * 8 * 16 * 3
        assert sum(m.games for m in t.league.members) > 0


def test_a_2v2_pettingzoo_game_trains_one_team_against_the_league(tmp_path):
    config = duel_config(selfplay={"teams": "0,2/1,3", "opponents": "random"})
    with trainer(tmp_path, config, env="tests.train.selfplay.games:teams") as t:
        env = t.groups[0].env
        assert (t.rows, env.agent_rows, env.team_size) == (16, 32, 2)
        t.train()
        seats = t.storage.obs[:, :, 1].numpy().astype(int)          # [learner rows, steps]: seats
        pairs = {tuple(sorted(p)) for p in seats.reshape(8, 2, -1).transpose(0, 2, 1).reshape(-1, 2).tolist()}
        assert pairs <= {(0, 2), (1, 3)}                            # team mates, never opponents
        assert sum(m.games for m in t.league.members) > 0
