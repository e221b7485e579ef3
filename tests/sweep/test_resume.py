"""`puffer sweep` stopped as users and machines stop it: a trial process killed, kill -9 of the sweep
itself and the same command run again, SIGTERM.

Each sweep is `python -m pufferlib.cli sweep` in a subprocess (its own process group, so that the
test can check that nothing outlives it, and kill whatever does) on trials of `trial_env` that step
slowly enough (`--env.delay`) to be caught in the middle; the study it leaves is read from SQLite.
"""
import os
import random
import re
import signal
import sys
import time
import types
from pathlib import Path

import pytest

from tests.sweep.sweep_helpers import PufferSweep, alive, by_state, settles, study_of, wait_until

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

# 1024 steps of 0.5 ms: a trial trains for half a second at least
ARGS = ("--study", "slow", "--env.delay", "0.0005")


def study_now(run):
    """The study's trials as they are now, by number ({} before the sweep has made it)."""
    if getattr(run, "study", None) is None:  # opened once: the tests poll it
        if not (run.data_dir / "sweeps" / "slow" / "study.db").is_file():
            return {}
        try:
            run.study = study_of("slow", run.data_dir)
        except KeyError:  # the file is there, the study not yet
            return {}
    return {t.number: t for t in run.study.get_trials(deepcopy=False)}


def running(run, number):
    """Trial `number` once it runs in its process (it has recorded its pid), else None."""
    trial = study_now(run).get(number)
    return trial if trial is not None and trial.state.name == "RUNNING" and "pid" in trial.user_attrs else None


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """A sweep of 3 trials whose trial 0's process is killed (kill -9), then which is itself killed (kill -9)
    at a random moment of trial 2; then the same command, run again to the end."""
    folder = tmp_path_factory.mktemp("killed")
    first = PufferSweep(folder, *ARGS, "--trials", "3")
    again = None
    try:
        wait_until(lambda: running(first, 0), 90, "trial 0 to start")
        victim = running(first, 0).user_attrs["pid"]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: running(first, 2), 90, "trial 2 to start")  # trial 1 ran meanwhile
        before = study_now(first)
        pause = random.uniform(0.0, 0.3)  # a moment of trial 2's half second or more
        time.sleep(pause)
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait(30)
        workers_died = settles(lambda: not first.group_alive(), 20)
        cut = sorted(n for n, t in study_now(first).items() if t.state.name == "RUNNING")
        # before the next sweep looks, init must have reaped them: a zombie still counts as alive
        # (test_study.py::test_a_trial_whose_process_is_a_zombie_is_marked_interrupted)
        wait_until(first.group_reaped, 60, "init to reap the trial processes")
        again = PufferSweep(folder, *ARGS, "--trials", "3")
        status, out, err = again.end()
        return types.SimpleNamespace(first=first, victim=victim, before=before, pause=pause, cut=cut,
                                     workers_died=workers_died, status=status, out=out, err=err,
                                     after=study_now(again))
    finally:
        first.close()
        if again is not None:
            again.close()


def test_a_trial_whose_process_is_killed_fails_naming_sigkill(killed):
    assert not alive(killed.victim)
    trial = killed.before[0]
    assert trial.state.name == "FAIL" and trial.user_attrs["fail_reason"] == "its process died (signal SIGKILL)"


def test_the_sweep_goes_on_after_a_trial_process_is_killed(killed):
    assert killed.before[1].state.name == "COMPLETE"
    assert killed.before[1].user_attrs["pid"] != killed.victim  # a new trial process took over


def test_kill_9_of_the_sweep_takes_its_trial_processes_with_it(killed):
    assert killed.workers_died, "a trial process outlived its sweep"
    assert killed.cut == [2], f"killed {killed.pause:.2f} s into trial 2"


def test_the_same_command_marks_the_cut_off_trial_interrupted_and_replaces_it(killed):
    assert killed.status == 0, killed.err
    assert "marked 1 trial(s) left running by a stopped sweep as failed (interrupted, not counted): 2" in killed.out
    trial = killed.after[2]
    assert trial.state.name == "FAIL" and trial.user_attrs["interrupted"] is True
    assert "fail_reason" not in trial.user_attrs
    assert by_state(killed.after.values()) == {"FAIL": [0, 2], "COMPLETE": [1, 3]}


def test_no_finished_trial_is_lost_or_run_again(killed):
    for number in (0, 1):
        old, new = killed.before[number], killed.after[number]
        assert (new.state, new.values, new.datetime_complete, new.user_attrs) == \
            (old.state, old.values, old.datetime_complete, old.user_attrs)
    run_dirs = [killed.after[n].user_attrs["run_dir"] for n in (1, 3)]
    assert len(set(run_dirs)) == 2 and all(Path(d).is_dir() for d in run_dirs)
    assert "; 1 run by this sweep" in killed.out


def test_the_study_ends_with_exactly_the_trials_asked_for(killed):
    assert re.search(r"^3 of 3 trials ended \(2 complete, .*, 1 failed\); 1 run by this sweep", killed.out,
                     re.MULTILINE)


def test_sigterm_stops_the_sweep_with_143_and_its_trial_is_interrupted_and_saved(tmp_path):
    run = PufferSweep(tmp_path, *ARGS, "--trials", "3")
    try:
        metrics = tmp_path / "runs" / "sweeps" / "slow" / "trials" / "trial_00000" / "metrics.jsonl"
        wait_until(lambda: running(run, 0) and metrics.is_file() and metrics.stat().st_size, 90,
                   "trial 0 to train")
        os.kill(run.proc.pid, signal.SIGTERM)
        status, out, err = run.end()
    finally:
        run.close()
    assert status == 143, err
    assert "SIGTERM: stopping the sweep; running trials save their runs and are marked interrupted" in out
    trials = study_now(run)
    assert by_state(trials.values()) == {"FAIL": [0]}
    assert trials[0].user_attrs["interrupted"] is True and "fail_reason" not in trials[0].user_attrs
    assert list((Path(trials[0].user_attrs["run_dir"]) / "checkpoints").glob("*.pt"))
    assert "0 of 3 trials ended (0 complete, " in out and "; 1 run by this sweep" in out
    assert not run.group_alive()
