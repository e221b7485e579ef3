"""Seeded runs with small budgets show learning on the sanity environments (pytest -m learning)."""
import pytest

from tests.train.helpers import last, quiet_train

pytestmark = pytest.mark.learning


def test_bandit_picks_the_best_arm(tmp_path):
    _, metrics = quiet_train("bandit", tmp_path)
    assert last(metrics, "env/best_arm") > 0.9


def test_password_is_found(tmp_path):
    _, metrics = quiet_train("password", tmp_path)
    assert last(metrics, "env/solved") > 0.9


def test_stochastic_learns_the_action_probability(tmp_path):
    _, metrics = quiet_train("stochastic", tmp_path)
    assert abs(last(metrics, "env/frequency") - 0.75) < 0.1
    assert last(metrics, "episode_return") > 0.7  # a deterministic policy scores at most 0.5


def test_multiagent_agents_coordinate(tmp_path):
    _, metrics = quiet_train("multiagent", tmp_path)
    assert last(metrics, "env/coordinated") > 0.9


def test_continuous_reaches_its_target(tmp_path):
    _, metrics = quiet_train("continuous", tmp_path)
    assert last(metrics, "env/reached") > 0.9


def test_memory_needs_the_lstm(tmp_path):
    _, lstm = quiet_train("memory", tmp_path)
    assert last(lstm, "env/correct") > 0.9
    _, mlp = quiet_train("memory", tmp_path, policy={"lstm": False})
    assert last(mlp, "env/correct") < 0.65


def test_cartpole_solves_with_the_shipped_defaults(tmp_path):
    summary, metrics = quiet_train("cartpole", tmp_path)
    solved = [m for m in metrics if m["episodes"] >= 100 and m["episode_return"] >= 475]
    assert solved, [(m["global_step"], m["episodes"], m["episode_return"]) for m in metrics]


def test_python_cartpole_learns_with_multiprocessing(tmp_path):
    _, metrics = quiet_train("gymnasium:CartPole-v1", tmp_path, vec={"backend": "multiprocessing"},
                             train={"total_timesteps": 60_000, "learning_rate": 2.5e-3, "update_epochs": 8,
                                    "ent_coef": 0.0},
                             policy={"hidden_size": 32, "activation": "relu"})
    assert last(metrics, "episode_return") > 150  # random play scores ~22
