import io
import signal

import numpy as np
import pytest
import torch

import pufferlib
import pufferlib.train as T
from pufferlib.errors import CheckpointError, UnknownEnvironmentError
from pufferlib.train import Trainer
from pufferlib.train.checkpoint import find_latest, list_checkpoints, load_checkpoint
from pufferlib.train.config import ConfigError
from pufferlib.train.evaluate import evaluate
from pufferlib.train.logger import read_metrics


def config(name="cartpole", total=2048, **sections):
    c = T.load_config(name)
    c.train.total_timesteps = total
    c.update(sections)
    return c


def trainer(name, tmp_path, total=2048, resume=None, **sections):
    return Trainer(name, config(name, total, **sections), data_dir=tmp_path, resume=resume, dashboard=False,
                   stream=io.StringIO())


def weights(policy):
    return [p.detach().clone() for p in policy.parameters()]


def test_pufferlib_train_is_callable_and_writes_a_run(tmp_path):
    summary = pufferlib.train("bandit", {"train": {"total_timesteps": 2048}}, data_dir=tmp_path,
                              dashboard=False, stream=io.StringIO())
    assert summary["global_step"] >= 2048 and not summary["interrupted"]
    metrics = read_metrics(summary["run_dir"])
    required = {"time_s", "global_step", "episode_return", "episode_length", "episodes", "sps",
                "losses/policy_loss", "losses/value_loss", "losses/entropy", "losses/approx_kl",
                "losses/clipfrac", "losses/explained_variance", "timing/env", "timing/inference",
                "timing/learn"}
    assert required <= set(metrics[-1])
    assert metrics[-1]["global_step"] == summary["global_step"]
    assert sum(m["episodes"] for m in metrics) > 0
    assert list_checkpoints(summary["run_dir"])


def test_rollout_bootstraps_truncation_not_termination(tmp_path):
    # continuous with max_steps=3: every episode is truncated after 3 steps unless it reaches the target
    with trainer("continuous", tmp_path, env={"max_steps": 3}, train={"horizon": 8}) as t:
        seen = []
        value = t.learner.value
        t.learner.value = lambda obs, state=None: seen.append(np.array(obs)) or value(obs, state)
        t.rollout()
        b = t.storage
        b.compute_advantages(t.config.train)
        trunc, term = b.truncations, b.terminals
        assert bool(trunc.any())
        assert torch.equal(b.next_values[term], torch.zeros(int(term.sum())))
        only_trunc = trunc & ~term
        assert torch.equal(b.next_values[only_trunc], b.final_values[only_trunc])
        assert bool((b.final_values[only_trunc] != 0).all())
        running = ~(trunc | term)
        running[:, -1] = False
        shifted = torch.cat([b.values[:, 1:], b.bootstrap.unsqueeze(1)], 1)
        assert torch.equal(b.next_values[running], shifted[running])
        # the values bootstrapped from are those of the final observations, not of the new episodes
        assert all(len(x) for x in seen)


def test_starts_mark_the_first_step_of_each_episode(tmp_path):
    with trainer("bandit", tmp_path, train={"horizon": 4, "minibatch_size": 64}) as t:  # one-step episodes
        t.rollout()
        assert bool(t.storage.starts.all())


@pytest.mark.parametrize("env, sections", [
    ("cartpole", {"train": {"kernel": "off"}}),
    ("cartpole", {"train": {"kernel": "auto"}}),
    ("memory", {"train": {"horizon": 32, "bptt_horizon": 16, "minibatch_size": 256}}),
])
def test_interrupted_and_resumed_run_ends_with_the_same_weights(tmp_path, env, sections):
    sections = {**sections, "train": {**sections.get("train", {}), "deterministic": True}}
    c = config(env, **sections)
    rollout = c.env.num_envs * c.train.horizon
    with trainer(env, tmp_path / "a", 3 * rollout, **sections) as full:
        full.train()
        expected = weights(full.policy)
    with trainer(env, tmp_path / "b", 3 * rollout, **sections) as first:
        update = first.update

        def update_then_ctrl_c():  # what the SIGINT handler does, after the first iteration
            losses = update()
            first.stop.request(signal.SIGINT)
            return losses

        first.update = update_then_ctrl_c
        summary = first.train()
        assert summary["interrupted"] and summary["global_step"] == rollout
        path = summary["checkpoint"]
    with trainer(env, tmp_path / "b", 3 * rollout, resume=path, **sections) as resumed:
        assert resumed.global_step == rollout
        resumed.train()
        assert resumed.global_step == 3 * rollout
        assert all(torch.equal(x, y) for x, y in zip(expected, weights(resumed.policy)))


def test_checkpoints_refuse_another_environment_or_policy(tmp_path):
    with trainer("bandit", tmp_path) as t:
        path = t.train()["checkpoint"]
    with pytest.raises(CheckpointError, match=r"was trained on 'bandit', not 'password'"):
        trainer("password", tmp_path, resume=path)
    with pytest.raises(CheckpointError, match=r"different policy or spaces \(hidden_size: checkpoint 32, here 16"):
        trainer("bandit", tmp_path, resume=path, policy={"hidden_size": 16})
    with pytest.raises(CheckpointError, match=r"different policy or spaces \(policy: checkpoint 'Policy'"):
        trainer("bandit", tmp_path, resume=path, policy={"lstm": True})


def test_missing_and_garbage_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="is not a readable checkpoint"):
        load_checkpoint(garbage)
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="is not a pufferlib checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"no checkpoint of 'cartpole' under"):
        find_latest(tmp_path, "cartpole")
    (tmp_path / "empty-run").mkdir()
    with pytest.raises(CheckpointError, match="holds no checkpoints"):
        load_checkpoint(tmp_path / "empty-run")


def test_evaluate_latest_checkpoint(tmp_path):
    with trainer("bandit", tmp_path, 8192) as t:
        t.train()
    result = evaluate("bandit", "latest", data_dir=tmp_path, episodes=50, deterministic=True)
    assert result["episodes"] == 50 and len(result["returns"]) == 50
    assert result["mean_return"] == 1.0 and result["std_return"] == 0.0
    with pytest.raises(CheckpointError, match="was trained on 'bandit', not 'password'"):
        evaluate("password", result["checkpoint"], episodes=2)


def test_bad_environment_and_config_values(tmp_path):
    with pytest.raises(UnknownEnvironmentError, match="unknown environment 'nope'"):
        Trainer("nope", data_dir=tmp_path)
    with pytest.raises(UnknownEnvironmentError, match="gymnasium has no environment 'Nope-v0'"):
        Trainer("gymnasium:Nope-v0", data_dir=tmp_path)
    with pytest.raises(UnknownEnvironmentError, match="cannot import module 'no_such_module'"):
        Trainer("no_such_module:make", data_dir=tmp_path)
    with pytest.raises(TypeError, match="cartpole has no parameter 'gravity_boost'"):
        Trainer("cartpole", config("cartpole", env={"gravity_boost": 3}), data_dir=tmp_path)
    c = config("memory", train={"minibatch_size": 100})
    with pytest.raises(ConfigError, match=r"minibatch_size \(100\) must be a multiple of train.bptt_horizon"):
        Trainer("memory", c, data_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"train.minibatch_size \(4096\) is larger than a rollout \(32 rows x 32"):
        Trainer("bandit", config("bandit", train={"minibatch_size": 4096}), data_dir=tmp_path)
    with pytest.raises(TypeError, match="config must be a pufferlib.train.Config, a dict or None"):
        pufferlib.train("bandit", 3)


def test_v_trace_and_replay_options_train(tmp_path):
    summary = pufferlib.train("bandit", {"train": {"total_timesteps": 4096, "vtrace": True, "rho_clip": 0.5,
                                                   "replay_alpha": 0.6, "anneal_lr": "cosine", "target_kl": 0.02}},
                              data_dir=tmp_path, dashboard=False, stream=io.StringIO())
    assert np.isfinite(summary["metrics"]["losses/policy_loss"])


@pytest.mark.parametrize("env", ["bandit", "gymnasium:CartPole-v1"])
def test_overlap_steps_two_halves(tmp_path, env):
    sections = {"train": {"overlap": "on", "total_timesteps": 4096}, "env": {"num_envs": 8}}
    with Trainer(env, config(env, 4096, **sections), data_dir=tmp_path, dashboard=False,
                 stream=io.StringIO()) as t:
        assert [(g.start, g.stop) for g in t.groups] == [(0, 4), (4, 8)]
        summary = t.train()
    assert summary["global_step"] >= 4096
    assert read_metrics(summary["run_dir"])[-1]["episodes"] > 0
