"""Seeded runs with small budgets show learning on the sanity environments (pytest -m learning).

Each trains with the environment's shipped defaults, then evaluates the final policy by sampling.
"""
import pytest

from tests.train.helpers import quiet_train, trained_return

pytestmark = pytest.mark.learning


def test_bandit_picks_the_best_arm(tmp_path):
    assert trained_return("bandit", tmp_path)["mean_return"] > 0.9  # 1 for the best arm, else 0


def test_password_is_found(tmp_path):
    assert trained_return("password", tmp_path)["mean_return"] > 0.9  # 1 when every symbol is right


def test_stochastic_learns_the_action_probability(tmp_path):
    # 1 - 2|f - 0.75|: a deterministic policy scores at most 0.5, the right probability ~0.9
    assert trained_return("stochastic", tmp_path)["mean_return"] > 0.75


def test_multiagent_agents_coordinate(tmp_path):
    assert trained_return("multiagent", tmp_path)["mean_return"] > 0.9  # 1 when the actions differ


def test_continuous_reaches_its_target(tmp_path):
    result = trained_return("continuous", tmp_path)
    assert result["mean_length"] < 60  # truncated at 100 steps unless the target is reached
    assert result["mean_return"] > 1.5  # progress (the start distance) + 1 on reaching


def test_memory_needs_the_lstm(tmp_path):
    assert trained_return("memory", tmp_path)["mean_return"] > 0.9  # 1 for the right answer
    assert trained_return("memory", tmp_path, policy={"lstm": False})["mean_return"] < 0.65


def test_cartpole_solves_with_the_shipped_defaults(tmp_path):
    summary, metrics = quiet_train("cartpole", tmp_path)
    solved = [m for m in metrics if m["episodes"] >= 100 and m["episode_return"] >= 475]
    assert solved, [(m["global_step"], m["episodes"], m["episode_return"]) for m in metrics]
    from pufferlib.train.evaluate import evaluate
    assert evaluate("cartpole", summary["checkpoint"], episodes=100)["mean_return"] >= 475


def test_python_cartpole_learns_with_multiprocessing(tmp_path):
    result = trained_return("gymnasium:CartPole-v1", tmp_path, episodes=32, vec={"backend": "multiprocessing"},
                            train={"total_timesteps": 60_000, "learning_rate": 2.5e-3, "update_epochs": 8,
                                   "ent_coef": 0.0},
                            policy={"hidden_size": 32, "activation": "relu"})
    assert result["mean_return"] > 150  # random play scores ~22


def test_nested_observations_and_mixed_actions_learn(tmp_path):
    # random play: 0.25 for the choice, minus ~0.75 for the push; a trained policy gets ~1
    result = trained_return("tests.train.nested_env:make", tmp_path, episodes=64, env={"num_envs": 16},
                            train={"total_timesteps": 30_000, "learning_rate": 3e-3, "ent_coef": 0.0})
    assert result["mean_return"] > 0.6


def test_squared_reaches_its_target_with_the_shipped_cnn(tmp_path):
    # +1 on the target, -1 off the grid or out of time: random play scores about -0.9
    result = trained_return("squared", tmp_path, train={"total_timesteps": 600_000})
    assert result["mean_return"] > 0.9
    assert result["mean_length"] < 8  # the target is at most 5 + 5 steps from the centre, usually fewer
