"""One trial: its running score, what it reports to the pruner, when it stops, and what it is worth."""
import io
import math
import re

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from pufferlib.sweep import study as studies
from pufferlib.sweep.space import parse_space
from pufferlib.sweep.trial import TrialFailed, _Score, run_trial
from pufferlib.train.config import load_config


class FakeTrial:
    """Records what a trial reports; its pruner prunes from report `prune_at` on."""

    def __init__(self, prune_at=None):
        self.reports, self.prune_at = [], prune_at

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return self.prune_at is not None and self.reports[-1][0] >= self.prune_at


def score(trial=None, **changes):
    """A _Score of a plan whose run has 1000 steps, 10 report points, a 10-episode window."""
    plan = {"metric": "return", "episodes": 10, "threshold": None, "objective": "penalized", "pruner": "median",
            "trial_seconds": 100.0, "reports": 10, "cost": "time", "cost_weight": 1.0,
            "base": {"train": {"total_timesteps": 1000}}, **changes}
    return _Score(trial or FakeTrial(), plan)


def log(step, time_s=1.0, episodes=6, mean=1.0, **stats):
    return {"global_step": step, "time_s": time_s, "episodes": episodes, "episode_return": mean, **stats}


def test_the_score_is_the_mean_of_the_last_episodes():
    s = score()
    s.on_log(log(50, episodes=6, mean=1.0))
    assert s.value == 1.0 and s.best is None  # 6 episodes: not a full window yet
    s.on_log(log(150, episodes=6, mean=2.0))
    assert s.value == pytest.approx(1.6) and s.best == pytest.approx(1.6)  # 4 of the first 6, then 6


def test_objective_time_stops_the_run_when_a_full_window_reaches_the_threshold():
    s = score(objective="time", threshold=5.0)
    assert not s.on_log(log(100, time_s=0.5, episodes=4, mean=9.0))  # above it, on 4 episodes only
    assert s.on_log(log(200, time_s=0.8, episodes=6, mean=9.0))
    assert (s.reached_s, s.reached_steps) == (0.8, 200)


def test_other_objectives_record_the_threshold_and_train_on():
    s = score(threshold=5.0)
    assert not s.on_log(log(200, time_s=0.8, episodes=10, mean=9.0))
    assert (s.reached_s, s.reached_steps) == (0.8, 200)


def test_a_run_past_its_time_budget_is_stopped():
    s = score(trial_seconds=2.0)
    assert not s.on_log(log(100, time_s=1.9))
    assert s.on_log(log(200, time_s=2.1)) and s.over_budget and not s.pruned


def test_the_pruner_hears_the_score_once_per_report_point():
    trial = FakeTrial()
    s = score(trial)
    for step in (20, 60, 120, 180, 350):  # report points 0, 0, 1, 1, 3
        s.on_log(log(step, time_s=0.0, episodes=10, mean=float(step)))
    assert trial.reports == [(0, 20.0), (1, 120.0), (3, 350.0)]


def test_the_penalized_score_is_reported_less_its_cost():
    trial = FakeTrial()
    score(trial, cost_weight=2.0).on_log(log(100, time_s=1.5, episodes=10, mean=10.0))
    assert trial.reports == [(1, 10.0 - 2.0 * 1.5)]


def test_steps_cost_millions_of_steps():
    trial = FakeTrial()
    score(trial, cost="steps", cost_weight=1e3).on_log(log(500, time_s=9.0, episodes=10, mean=10.0))
    assert trial.reports == [(5, 10.0 - 1e3 * 500 / 1e6)]


def test_objective_time_reports_the_score_negated_the_study_minimises():
    trial = FakeTrial()
    score(trial, objective="time", threshold=1e9).on_log(log(100, episodes=10, mean=7.0))
    assert trial.reports == [(1, -7.0)]


def test_nothing_is_reported_before_an_episode_ends_or_without_a_pruner():
    trial = FakeTrial()
    score(trial).on_log(log(100, episodes=0, mean=None))
    score(trial, pruner="none").on_log(log(100, episodes=10, mean=3.0))
    assert trial.reports == []


def test_a_pruned_run_is_stopped():
    s = score(FakeTrial(prune_at=2))
    assert not s.on_log(log(100, episodes=10))
    assert s.on_log(log(200, episodes=10)) and s.pruned and s.last_report == 2


def test_an_environment_statistic_is_scored_by_its_name():
    s = score(metric="reached")
    s.on_log(log(100, episodes=10, mean=3.0, **{"env/reached": 0.75}))
    assert s.value == 0.75


def test_a_statistic_the_environment_does_not_log_fails_the_trial_naming_those_it_does():
    with pytest.raises(TrialFailed, match=r"^sweep\.metric 'reached': the environment logs no such statistic; it "
                                          r"logs score, steps \(or use 'return' or 'eval'\)$"):
        score(metric="reached").on_log(log(100, **{"env/score": 1.0, "env/steps": 3.0}))


# -- trials of cartpole, trained in this process ---------------------------------------------------

def cartpole_trial(tmp_path, study=None, **sweep):
    """Runs one trial of a 4096-step cartpole run over a learning-rate space; returns (trial, value or error)."""
    config = load_config("cartpole", overrides={
        "train.total_timesteps": 4096, "env.num_envs": 16, "log.interval": 0.01, "sweep.episodes": 20,
        **{f"sweep.{key}": value for key, value in sweep.items()}})
    config.sweep.space = {"train.learning_rate": {"distribution": "log_uniform", "min": 1e-3, "max": 1e-2}}
    params = parse_space(config)
    plan = studies.resolve_plan("cartpole", config, params)
    study = study or optuna.create_study(directions=plan["directions"])
    trial = study.ask()
    try:
        return trial, run_trial(trial, plan, params, str(tmp_path), stream=io.StringIO())
    except (optuna.TrialPruned, TrialFailed) as error:
        return trial, error


def test_objective_time_is_the_seconds_until_the_threshold_and_stops_there(tmp_path):
    trial, value = cartpole_trial(tmp_path, threshold=10, pruner="none")  # a random policy's return is ~20
    attrs = trial.user_attrs
    assert value == attrs["reached_s"] <= attrs["seconds"]
    assert attrs["reached_steps"] == attrs["steps"] < 4096


def test_objective_time_never_reached_is_worth_the_budget_times_one_plus_the_gap(tmp_path):
    trial, value = cartpole_trial(tmp_path, threshold=1e6, trial_seconds=50, pruner="none")
    attrs = trial.user_attrs
    assert attrs["steps"] >= 4096 and attrs["reached_s"] is None
    # the gap is from the best score of the run (at least its last one's): nowhere near, so almost 1
    assert 99 < value <= 50 * (1 + (1e6 - attrs["score"]) / 1e6) < 100


def test_objective_penalized_is_the_score_less_its_cost(tmp_path):
    trial, value = cartpole_trial(tmp_path, threshold="none", objective="penalized", cost_weight=3)
    attrs = trial.user_attrs
    assert value == pytest.approx(attrs["score"] - 3 * attrs["cost"]) and attrs["cost"] == attrs["seconds"]


def test_objective_pareto_is_score_and_cost(tmp_path):
    trial, values = cartpole_trial(tmp_path, threshold="none", cost="steps")
    assert values == (trial.user_attrs["score"], trial.user_attrs["steps"] / 1e6)


def test_a_trial_past_its_time_budget_fails_naming_it(tmp_path):
    trial, error = cartpole_trial(tmp_path, threshold="none", objective="penalized", trial_seconds=1e-3)
    assert isinstance(error, TrialFailed)
    assert re.fullmatch(r"exceeded its time budget: \d+\.\d s of training, sweep\.trial_seconds is 0\.001",
                        str(error))
    assert trial.user_attrs["steps"] < 4096


def test_a_trial_far_below_the_others_is_pruned(tmp_path):
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=5))
    for _ in range(5):  # five trials that scored 1e9 at every report point
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=1e9,
                                     intermediate_values={step: 1e9 for step in range(21)}))
    trial, error = cartpole_trial(tmp_path, study, threshold="none", objective="penalized", pruner="median")
    assert isinstance(error, optuna.TrialPruned) and str(error).startswith("pruned at report ")
    assert trial.user_attrs["steps"] < 4096 and math.isfinite(trial.user_attrs["score"])
