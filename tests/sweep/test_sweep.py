"""`pufferlib.sweep.sweep`: tiny studies of `trial_env` run end to end, in SQLite, in trial processes."""
import io
import json
import re
import shutil

import optuna
import pytest

from pufferlib.sweep import runner
from pufferlib.train.config import ConfigError, load_config
from tests.sweep.sweep_helpers import by_state, run_sweep, trials_of


def test_every_trial_completes_as_a_run_directory(finished_study):
    assert finished_study.summary["counts"] == {"ended": 4, "complete": 4, "pruned": 0, "infeasible": 0,
                                                "failed": 0, "interrupted": 0, "running": 0}
    assert [t.number for t in finished_study.trials] == [0, 1, 2, 3]
    for trial in finished_study.trials:
        run_dir = finished_study.data_dir / "sweeps" / "finished" / "trials" / f"trial_{trial.number:05d}"
        assert trial.user_attrs["run_dir"] == str(run_dir)
        assert {"config.json", "metrics.jsonl", "train.log"} <= {p.name for p in run_dir.iterdir()}
        assert list((run_dir / "checkpoints").glob("*.pt"))
        saved = json.loads((run_dir / "config.json").read_text())  # the run as `puffer eval` reads it
        assert saved["env"] == "tests.sweep.trial_env:make"
        config = saved["config"]
        for name, value in trial.user_attrs["settings"].items():
            section, key = name.split(".")
            assert config[section][key] == value


def test_the_settings_are_drawn_from_the_space(finished_study):
    for trial in finished_study.trials:
        settings = trial.user_attrs["settings"]
        assert set(settings) == {"train.learning_rate", "train.gae_lambda"}
        assert 1e-3 <= settings["train.learning_rate"] <= 1e-1 and 0.8 <= settings["train.gae_lambda"] <= 0.99


def test_jobs_2_runs_two_trial_processes_at_once(finished_study):
    trials = finished_study.trials
    assert len({t.user_attrs["pid"] for t in trials}) == 2
    # trial_env's `meet = 2` held each trial until two ran, so none would have completed otherwise
    first, second = sorted(trials, key=lambda t: t.datetime_start)[:2]
    assert second.datetime_start < first.datetime_complete


class Conn:
    """A trial process's pipe, as the sweep's pool sees it: what was sent down it."""

    def __init__(self):
        self.sent = []

    def send(self, message):
        self.sent.append(message)


def test_an_idle_trial_process_waits_for_word_of_a_trial_asked_for_rather_than_stop():
    study = optuna.create_study()
    study.ask()  # a trial of another sweep
    study.ask()  # the trial just asked of a process here, in the study before the process says so
    config = load_config(None, overrides={"sweep.trials": 3, "sweep.jobs": 2})
    pool = runner._Pool(study, study._storage, {}, config.sweep, io.StringIO())
    try:
        asked, idle = runner._Worker(None, Conn()), runner._Worker(None, Conn())
        asked.ready = idle.ready = asked.asked = True
        pool.workers = [asked, idle]
        pool._dispatch()  # it counts the new trial twice: running, and asked for
        assert idle.conn.sent == []  # a stop would leave this sweep a process short for good
        asked.asked, asked.number = False, 1  # "started"
        pool._dispatch()
        assert idle.conn.sent == ["run"] and asked.conn.sent == []
    finally:
        pool.workers = []
        pool.close()


def test_parallel_trial_processes_do_not_repeat_suggestions(finished_study):
    settings = [tuple(t.user_attrs["settings"].values()) for t in finished_study.trials]
    assert len(set(settings)) == len(settings)


def test_the_sweep_prints_one_line_per_trial_and_a_summary(finished_study):
    lines = finished_study.output.splitlines()
    assert lines[0].startswith("sweep 'finished' of tests.sweep.trial_env:make: objective penalized")
    assert sorted(line.split()[1] for line in lines if line.startswith("trial ")) == ["0", "1", "2", "3"]
    best = finished_study.summary["best"]
    assert re.search(rf"^4 of 4 trials ended \(4 complete, .*\); 4 run by this sweep; best: trial {best['number']} ",
                     finished_study.output, re.MULTILINE)


def test_the_best_trial_has_the_highest_value(finished_study):
    best = max(finished_study.trials, key=lambda t: t.values[0])
    assert finished_study.summary["best"]["number"] == best.number
    assert finished_study.summary["best"]["values"] == best.values


# -- trials that fail: the sweep records why, and goes on -------------------------------------------

@pytest.fixture(scope="module")
def failures(tmp_path_factory):
    """A sweep of 3 trials: the first diverges (NaN rewards), the second trains, the third segfaults."""
    folder = tmp_path_factory.mktemp("failures")
    summary, output = run_sweep(folder, "failures", overrides={"sweep.trials": 3, "env.fail": "nan,ok,segv"})
    return summary, output, {t.number: t for t in trials_of("failures", folder / "runs")}


def test_a_trial_that_segfaults_fails_with_the_signal(failures):
    _, output, trials = failures
    assert trials[2].state.name == "FAIL"
    assert trials[2].user_attrs["fail_reason"] == "its process died (signal SIGSEGV)"
    assert "trial 2 failed: its process died (signal SIGSEGV)" in output


def test_a_trial_that_diverges_fails_naming_the_nan(failures):
    trial = failures[2][0]
    assert trial.state.name == "FAIL"
    assert trial.user_attrs["fail_reason"].startswith("training diverged: the reward of row 0")
    assert "is nan" in trial.user_attrs["fail_reason"]


def test_the_sweep_goes_on_after_a_failed_trial(failures):
    # (and after a trial process that dies: test_resume.py::test_the_sweep_goes_on_after_a_trial_process...)
    summary, _, trials = failures
    assert by_state(trials.values()) == {"FAIL": [0, 2], "COMPLETE": [1]}
    assert summary["counts"]["ended"] == 3 and summary["counts"]["failed"] == 2
    assert summary["aborted"] is None and summary["best"]["number"] == 1


# Two fresh studies of one job, both sampling at random from seed 7: the one of settings the trainer
# refuses, the one of a mistaken metric.
SEEDED = {"sweep.sampler": "random", "sweep.seed": 7}


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    """A sweep of 2 trials whose minibatch (32) is larger than their 16-step rollout, in a journal file."""
    folder = tmp_path_factory.mktemp("refused")
    journal = str(folder / "refused.log")
    summary, output = run_sweep(folder, "refused", overrides={"sweep.trials": 2, "train.minibatch_size": 32,
                                                              **SEEDED}, storage=journal)
    return summary, output, trials_of("refused", storage=journal), folder


@pytest.fixture(scope="module")
def mistaken(tmp_path_factory):
    """A sweep of 6 trials that all score a statistic the environment does not log."""
    folder = tmp_path_factory.mktemp("mistaken")
    summary, output = run_sweep(folder, "mistaken", overrides={"sweep.trials": 6, "sweep.metric": "reached",
                                                               **SEEDED})
    return summary, output, trials_of("mistaken", folder / "runs")


def test_settings_the_trainer_refuses_are_pruned_as_infeasible_and_the_sweep_goes_on(refused):
    # pruned, not failed: Optuna's TPE learns from pruned trials and ignores failed ones
    summary, output, trials, _ = refused
    reason = "train.minibatch_size (32) is larger than a rollout"
    assert summary["counts"]["pruned"] == summary["counts"]["infeasible"] == summary["counts"]["ended"] == 2
    for trial in trials:
        assert trial.state.name == "PRUNED" and trial.user_attrs["infeasible"].startswith(reason)
    assert f"trial 1 infeasible: {reason}" in output and summary["aborted"] is None


def test_a_journal_file_holds_the_study(refused):
    summary, output, trials, folder = refused
    assert summary["storage"] == f"journal:{folder}/refused.log" and len(trials) == 2
    assert output.splitlines()[0].endswith(f"storage journal:{folder}/refused.log")
    assert not (folder / "runs" / "sweeps" / "refused" / "study.db").exists()


def test_the_first_three_trials_failing_alike_stop_the_sweep(mistaken):
    # a mistake, not bad luck
    summary, output, trials = mistaken
    reason = "sweep.metric 'reached': the environment logs no such statistic; it logs none (or use 'return' or " \
             "'eval')"
    assert summary["aborted"] == reason
    assert summary["counts"]["failed"] == summary["counts"]["ended"] == 3
    assert [t.user_attrs["fail_reason"] for t in trials] == [reason] * 3
    assert f"stopping: the first 3 trials all failed the same way ({reason})" in output


# -- seeds, and resuming a study --------------------------------------------------------------------

def test_the_same_seed_makes_the_same_suggestions(refused, mistaken):
    a, b = refused[2], mistaken[2][:2]
    assert [t.params for t in a] == [t.params for t in b]
    assert a[0].params != a[1].params


def test_a_study_run_again_with_more_trials_continues_it(finished_study, tmp_path):
    shutil.copytree(finished_study.folder, tmp_path, dirs_exist_ok=True)
    summary, output = run_sweep(tmp_path, "finished", overrides={**finished_study.overrides, "sweep.trials": 5},
                                claims=finished_study.folder / "claims")
    after = trials_of("finished", tmp_path / "runs")
    assert [t.number for t in after] == [0, 1, 2, 3, 4] and by_state(after) == {"COMPLETE": [0, 1, 2, 3, 4]}
    for old, new in zip(finished_study.trials, after):  # the finished trials are kept, not run again
        assert (new.params, new.values, new.datetime_complete) == (old.params, old.values, old.datetime_complete)
    assert summary["started"] == 1 and re.search(r"^5 of 5 trials ended \(5 complete, .*\); 1 run by this sweep",
                                                 output, re.MULTILINE)
    assert after[4].params not in [t.params for t in after[:4]]  # the resumed sampler is seeded anew
    assert (tmp_path / "runs" / "sweeps" / "finished" / "trials" / "trial_00004").is_dir()


def test_a_finished_study_runs_no_more_trials(finished_study, tmp_path):
    shutil.copytree(finished_study.folder, tmp_path, dirs_exist_ok=True)
    summary, _ = run_sweep(tmp_path, "finished", overrides={"sweep.trials": 4, "sweep.jobs": 2, "env.meet": 2},
                           claims=finished_study.folder / "claims")
    assert summary["started"] == 0 and summary["counts"]["ended"] == 4


@pytest.mark.parametrize("extra, overrides, match", [
    ("[sweep.train.ent_coef]\ndistribution = \"log_uniform\"\nmin = 1e-4\nmax = 1e-2\n", {},
     r"^study 'finished' was made by another sweep: its search space differs \(it was train\.learning_rate, "
     r"train\.gae_lambda; now train\.learning_rate, train\.gae_lambda, train\.ent_coef\)\. Run the same "
     r"command to continue it, or give a new --study NAME$"),
    ("", {"sweep.train.learning_rate.max": 0.05}, r"its search space differs"),
    ("", {"train.total_timesteps": 2048}, r"base\.train\.total_timesteps was 1024, now 2048"),
    ("", {"sweep.objective": "pareto", "sweep.pruner": "none"}, r"objective was 'penalized', now 'pareto'"),
])
def test_resuming_with_another_plan_is_refused(finished_study, tmp_path, extra, overrides, match):
    shutil.copytree(finished_study.folder, tmp_path, dirs_exist_ok=True)
    with pytest.raises(ConfigError, match=match):
        run_sweep(tmp_path, "finished", extra, overrides={"sweep.trials": 5, "env.meet": 2, **overrides},
                  claims=finished_study.folder / "claims")
    assert len(trials_of("finished", tmp_path / "runs")) == 4
