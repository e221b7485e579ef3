"""`puffer sweep ENV --report`: the best trials and the Pareto front, best.toml, the plots."""
import io
import re

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from pufferlib.sweep import report
from pufferlib.sweep import study as studies
from pufferlib.sweep.report import pareto_front
from pufferlib.sweep.runner import best_trial
from pufferlib.sweep.space import parse_space
from pufferlib.train.config import RUN_SECTIONS, ConfigError, load_config
from tests.sweep.sweep_helpers import TRIAL_ENV
from tests.toolchain.toolchain_helpers import puffer

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def reported(finished_study, tmp_path_factory):
    """The report of the finished study (objective penalized, no threshold): (result, its output, folder)."""
    folder = tmp_path_factory.mktemp("report")
    out = io.StringIO()
    result = report(TRIAL_ENV, study="finished", data_dir=finished_study.data_dir, output=folder, stream=out)
    return result, out.getvalue(), folder


def run_sections(config):
    return {section: values for section, values in config.to_dict().items() if section in RUN_SECTIONS}


def test_best_toml_is_the_base_config_with_the_best_trials_settings(finished_study, reported):
    result, _, folder = reported
    best = max(finished_study.trials, key=lambda t: t.values[0])
    assert result["best"]["number"] == best.number
    # what the sweep started from, then the best trial's settings
    expected = load_config(TRIAL_ENV, finished_study.folder / "tiny.toml", finished_study.overrides)
    expected.update({"train": {key.split(".")[1]: value for key, value in best.user_attrs["settings"].items()}})
    written = load_config(TRIAL_ENV, folder / "best.toml")  # as `puffer train ENV --config best.toml` reads it
    assert run_sections(written) == run_sections(expected)


def test_best_toml_says_where_it_came_from_and_how_to_train_it(reported):
    result, _, folder = reported
    text = (folder / "best.toml").read_text()
    assert text.startswith(f"# The best trial ({result['best']['number']}) of the sweep 'finished' of "
                           f"{TRIAL_ENV}: score ")
    assert f"# Train it: puffer train {TRIAL_ENV} --config best.toml\n" in text


@pytest.mark.parametrize("name", ["score_vs_cost.png", "history.png", "importances.png"])
def test_the_plots_are_png_files(reported, name):
    result, _, folder = reported
    assert result["files"][name] == folder / name
    assert (folder / name).read_bytes()[:8] == PNG


def test_the_best_trials_are_printed_best_first(finished_study, reported):
    _, out, _ = reported
    lines = out.splitlines()
    assert lines[0].startswith("study 'finished' (tests.sweep.trial_env:make): objective penalized, metric "
                               "return, cost time; 4 trials ended: 4 complete, 0 pruned")
    table = lines[lines.index("best trials (penalized):") + 1:][:5]
    assert table[0].split() == ["trial", "value", "score", "seconds", "M", "steps", "gae_lambda", "learning_rate"]
    ranked = sorted(finished_study.trials, key=lambda t: -t.values[0])
    assert [int(row.split()[0]) for row in table[1:]] == [t.number for t in ranked]
    assert re.search(rf"^best: trial {ranked[0].number}; train it with: puffer train {re.escape(TRIAL_ENV)} "
                     r"--config .*best\.toml$", out, re.MULTILINE)


def test_the_pareto_front_is_printed_by_cost(finished_study, reported):
    result, out, _ = reported
    points = [(t.user_attrs["score"], t.user_attrs["cost"]) for t in finished_study.trials]
    front = [finished_study.trials[i].number for i in pareto_front(points)]
    assert [row["number"] for row in result["front"]] == front
    head = f"Pareto front of score and cost ({len(front)} of 4 completed trials):"
    lines = out.splitlines()
    rows = lines[lines.index(head) + 2:][:len(front)]
    assert [int(row.split()[0]) for row in rows] == front


def test_the_report_on_the_command_line(finished_study, tmp_path):
    result = puffer("sweep", TRIAL_ENV, "--study", "finished", "--data-dir", str(finished_study.data_dir),
                    "--report", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "best trials (penalized):" in result.stdout and "Pareto front of score and cost" in result.stdout
    assert {p.name for p in tmp_path.iterdir()} == {"best.toml", "score_vs_cost.png", "history.png",
                                                    "importances.png"}


def test_the_report_of_a_missing_study_is_one_error(tmp_path):
    result = puffer("sweep", "cartpole", "--data-dir", str(tmp_path), "--report")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (f"puffer: error: no sweep 'cartpole' in {tmp_path}/sweeps/cartpole (no study.db "
                             "there): run `puffer sweep cartpole` first, or give the --study, --storage or "
                             "--data-dir it used\n")


def test_a_study_without_a_completed_trial_has_nothing_to_report(tmp_path):
    config = load_config("cartpole")
    plan = studies.resolve_plan("cartpole", config, parse_space(config))
    folder = tmp_path / "sweeps" / "cartpole"
    studies.load_study("cartpole", studies.open_storage(studies.storage_url(None, folder)), plan, create=True)
    with pytest.raises(ConfigError, match=r"^study 'cartpole' has no completed trial yet: nothing to report$"):
        report("cartpole", data_dir=tmp_path, stream=io.StringIO())


# -- the best trial of each objective ----------------------------------------------------------------

def study_of(objective, rows):
    """An in-memory study of completed trials (values, score, cost) under a plan of `objective`."""
    study = optuna.create_study(directions=studies.directions(objective))
    for values, score, cost in rows:
        study.add_trial(create_trial(state=TrialState.COMPLETE, values=values,
                                     user_attrs={"score": score, "cost": cost, "settings": {}}))
    return study, {"objective": objective}


@pytest.mark.parametrize("objective, rows, best", [
    ("time", [([9.0], 400, 9.0), ([3.0], 480, 3.0), ([5.0], 490, 5.0)], 1),       # the fewest seconds
    ("penalized", [([1.0], 3, 2), ([4.0], 6, 2), ([2.5], 5, 2.5)], 1),             # the highest value
    ("pareto", [([8.0, 5.0], 8, 5), ([9.0, 7.0], 9, 7), ([9.0, 6.0], 9, 6)], 2),   # top score, then cost
])
def test_the_best_trial_of_each_objective(objective, rows, best):
    assert best_trial(*study_of(objective, rows))["number"] == best


def test_no_best_trial_before_one_completes():
    assert best_trial(*study_of("time", [])) is None
