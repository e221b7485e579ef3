"""Sweeps stored in a real PostgreSQL server (the `postgres_url` fixture starts one): two `puffer sweep`
processes, as on two machines, share one study; the report reads it back from the database."""
import sys

import pytest

from tests.sweep.sweep_helpers import TRIAL_ENV, PufferSweep, by_state, tiny_config, trials_of
from tests.toolchain.toolchain_helpers import puffer

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


@pytest.fixture(scope="module")
def shared(postgres_url, tmp_path_factory):
    """Two sweeps of one study of 3 trials in PostgreSQL, started together from their own data directories:
    a with --jobs 2, b with --jobs 1. Each trial waits until three run at once (`meet`): a runs two at
    once, b one. (With more trials than processes, two sweeps that each see one trial missing may both
    start one: a study shared by sweeps can end a trial or so above --trials.) Returns ({name: (status,
    stdout, stderr)}, {name: data dir}, the study's trials)."""
    folder = tmp_path_factory.mktemp("postgres")
    config, _ = tiny_config(folder)  # one plan for both (the env's claims folder among it)
    runs = {name: PufferSweep(folder / name, "--storage", postgres_url, "--study", "shared", "--trials", "3",
                              "--env.meet", "3", *jobs, config=config)
            for name, jobs in (("a", ("--jobs", "2")), ("b", ()))}
    try:
        results = {name: run.end() for name, run in runs.items()}
    finally:
        for run in runs.values():
            run.close()
    return results, {name: run.data_dir for name, run in runs.items()}, trials_of("shared", storage=postgres_url)


def ran_here(trials, data_dir):
    return [t for t in trials if t.user_attrs["run_dir"].startswith(f"{data_dir}/")]


def test_two_sweeps_on_one_database_run_one_study_to_its_end(shared):
    results, data_dirs, trials = shared
    for status, _, err in results.values():
        assert status == 0, err
    assert by_state(trials) == {"COMPLETE": [0, 1, 2]}  # (the first sweep to end saw the others running)
    assert "; 2 run by this sweep" in results["a"][1] and "; 1 run by this sweep" in results["b"][1]
    assert [len(ran_here(trials, data_dirs[name])) for name in ("a", "b")] == [2, 1]


def test_jobs_2_runs_two_trial_processes_at_once_on_postgresql(shared):
    _, data_dirs, trials = shared
    assert len({t.user_attrs["pid"] for t in ran_here(trials, data_dirs["a"])}) == 2


def test_the_study_is_in_the_database_and_each_run_on_its_machine(shared):
    _, data_dirs, trials = shared
    for data_dir in data_dirs.values():
        assert not (data_dir / "sweeps" / "shared" / "study.db").exists()
        made = sorted(p.name for p in (data_dir / "sweeps" / "shared" / "trials").iterdir())
        assert made == [f"trial_{t.number:05d}" for t in ran_here(trials, data_dir)]


def test_the_report_reads_the_study_from_postgresql(shared, postgres_url, tmp_path):
    result = puffer("sweep", TRIAL_ENV, "--storage", postgres_url, "--study", "shared", "--report", "-o",
                    str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "study 'shared' (tests.sweep.trial_env:make): objective penalized" in result.stdout
    assert "3 trials ended: 3 complete, " in result.stdout
    assert (tmp_path / "best.toml").is_file() and (tmp_path / "score_vs_cost.png").is_file()


@pytest.mark.xfail(strict=False, reason="(passes when the two sweeps happen not to start together) each sweep seeds its first trial process with sweep.seed plus the trials "
                   "in the study when it starts: two sweeps started together on one study (the same command on "
                   "two machines) both seed theirs with sweep.seed, and draw the same settings")
def test_sweeps_sharing_a_study_do_not_repeat_each_others_suggestions(shared):
    _, _, trials = shared
    assert len({tuple(sorted(t.params.items())) for t in trials}) == len(trials)
