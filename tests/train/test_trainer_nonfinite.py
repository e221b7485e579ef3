"""The trainer stops on the first NaN or infinity, says where it came from, and saves nothing broken."""
import io
import subprocess
import sys

import pytest
import torch

import pufferlib.train as T
from pufferlib.errors import NonFiniteError
from pufferlib.train.checkpoint import load_checkpoint
from pufferlib.train.config import ConfigError

NAN_ENV = "tests.train.nan_env:make"
KERNELS = ["auto", "off"]   # the C kernel learner and the torch one


def train(spec, tmp_path, **sections):
    """Trains `spec` quietly: 16-step rollouts, 32-step minibatches, with {section: {key: value}} on top."""
    config = T.load_config(spec)
    config.update({"train": {"total_timesteps": 4096, "horizon": 16, "minibatch_size": 32}})
    config.update(sections)
    return T.train(spec, config, data_dir=tmp_path, dashboard=False, stream=io.StringIO())


def checkpoints(tmp_path):
    return sorted(tmp_path.glob("*/checkpoints/*.pt"))


def all_finite(path):
    return all(torch.isfinite(t).all() for t in load_checkpoint(path)["policy"].values())


@pytest.mark.parametrize("kernel", KERNELS)
def test_cli_blow_up_stops_with_one_line_and_no_checkpoint(tmp_path, kernel):
    command = [sys.executable, "-m", "pufferlib.cli", "train", "cartpole", "--train.learning_rate", "1e30",
               "--train.kernel", kernel, "--data-dir", str(tmp_path), "--log.dashboard", "off"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("puffer: error: iteration 1, epoch 1, minibatch ")
    assert "is not finite" in lines[0] and "lower train.learning_rate (now 1e+30)" in lines[0].lower()
    assert checkpoints(tmp_path) == []


@pytest.mark.parametrize("kernel", KERNELS)
def test_nan_reward_names_row_and_step(tmp_path, kernel):
    # every environment returns its NaN at its 21st step: step 4 of the second 16-step rollout
    with pytest.raises(NonFiniteError, match=r"the reward of row 0 \(environment 0\) at step 4 of rollout 2 "
                                             r"is nan; the environment returned it"):
        train(NAN_ENV, tmp_path, env={"num_envs": 4, "bad": "reward", "at": 21},
              vec={"check_observations": "never"}, train={"kernel": kernel})


@pytest.mark.parametrize("kernel", KERNELS)
def test_nan_observation_after_the_first_step_names_row_step_and_element(tmp_path, kernel):
    with pytest.raises(NonFiniteError, match=r"the observation of row 0 \(environment 0\) at step 5 of "
                                             r"rollout 1 is nan \(element 1\); the environment returned it"):
        train(NAN_ENV, tmp_path, env={"num_envs": 4, "bad": "observation", "at": 5},
              train={"kernel": kernel})


def test_checkpoints_before_a_nan_stay_and_none_is_written_after(tmp_path):
    with pytest.raises(NonFiniteError, match="reward"):
        train(NAN_ENV, tmp_path, env={"num_envs": 4, "bad": "reward", "at": 53},
              vec={"check_observations": "never"}, log={"checkpoint_interval": 1e-6})
    saved = checkpoints(tmp_path)
    assert [load_checkpoint(p)["global_step"] for p in saved] == [64, 128, 192]
    assert all(all_finite(p) for p in saved)


def test_always_checking_stops_at_the_step_that_made_the_nan(tmp_path):
    with pytest.raises(ValueError, match=r"observation_space holds nan at index \(1,\), not a number"):
        train(NAN_ENV, tmp_path, env={"num_envs": 4, "bad": "observation", "at": 5},
              vec={"check_observations": "always"})


def test_nan_reward_is_caught_by_the_emulation_by_default(tmp_path):
    with pytest.raises(ValueError, match=r"the reward must be a finite number, got nan at step 5 of the "
                                         r"episode"):
        train(NAN_ENV, tmp_path, env={"num_envs": 4, "bad": "reward", "at": 5})


def test_replay_alpha_past_one_is_refused_and_the_largest_trains(tmp_path):
    # --train.replay_alpha 1000 was a traceback (the priorities overflowed); alpha is now in [0, 1],
    # and the priorities are computed in log space, so the largest alpha trains finite weights
    with pytest.raises(ConfigError, match=r"train\.replay_alpha must be in \[0, 1\], got 1000\.0"):
        train("cartpole", tmp_path, train={"replay_alpha": 1000.0, "total_timesteps": 2048})
    summary = train("cartpole", tmp_path, train={"replay_alpha": 1.0, "replay_beta": 1.0,
                                                  "total_timesteps": 2048})
    assert summary["global_step"] >= 2048 and all_finite(summary["checkpoint"])
