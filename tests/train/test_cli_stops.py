"""`puffer train` on Python envs that hang or die in their workers, stopped as a user stops it.

Each test runs `python -m pufferlib.cli train` in a subprocess on a `module:callable` env written to
a temporary directory; every env writes its process id into a folder (so the test can check that
no worker outlives the run) and, once it hangs or dies, a marker file.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="checks /proc and /dev/shm")

ENV = '''
import os, time
import gymnasium
import numpy as np

class Stuck(gymnasium.Env):
    """Steps normally AFTER times, then hangs in step (or, with MODE=die, exits its worker)."""
    observation_space = gymnasium.spaces.Box(-1, 1, (4,), np.float32)
    action_space = gymnasium.spaces.Discrete(2)

    def __init__(self):
        self.steps = 0
        self.dir = os.environ["STUCK_DIR"]
        open(os.path.join(self.dir, "pids", str(os.getpid())), "w").close()

    def reset(self, seed=None, options=None):
        return np.zeros(4, np.float32), {}

    def step(self, action):
        self.steps += 1
        if self.steps > int(os.environ["STUCK_AFTER"]):
            open(os.path.join(self.dir, "stuck"), "w").close()
            if os.environ["STUCK_MODE"] == "die":
                os._exit(3)
            while True:
                time.sleep(0.1)
        return np.zeros(4, np.float32), 1.0, False, self.steps % 50 == 0, {}
'''

DEADLINE = 15.0  # seconds: generous for a loaded 2-core machine; a hung run would never end


def shm():
    """The names in /dev/shm that multiprocessing's semaphores and shared memory take."""
    return {n for n in os.listdir("/dev/shm") if n.startswith(("sem.", "psm_", "wnsm_"))}


def alive(pid):
    """Whether process `pid` exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def wait_until(condition, seconds=DEADLINE):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


class Run:
    """A `puffer train stuck:Stuck --vec.backend multiprocessing` subprocess and what it leaves."""

    def __init__(self, tmp_path, mode="hang", after=100, *settings):
        self.dir = tmp_path
        (tmp_path / "pids").mkdir()
        (tmp_path / "stuck.py").write_text(ENV)
        self.data = tmp_path / "runs"
        path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p)
        env = dict(os.environ, PYTHONPATH=path, STUCK_DIR=str(tmp_path), STUCK_AFTER=str(after),
                   STUCK_MODE=mode)
        self.shm_before = shm()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pufferlib.cli", "train", "stuck:Stuck", "--vec.backend", "multiprocessing",
             "--vec.num_workers", "2", "--env.num_envs", "8", "--log.dashboard", "off",
             "--data-dir", str(self.data), *settings],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.ours = set()

    def wait_stuck(self):
        """Waits until an env hangs or dies (the run has finished iterations before that)."""
        assert wait_until(lambda: (self.dir / "stuck").exists() or self.proc.poll() is not None, 120)
        self.ours = shm() - self.shm_before  # this run's semaphores (its shared memory is unlinked)

    def end(self):
        """Waits for the run to end; returns (exit status, stdout, stderr), failing after DEADLINE."""
        try:
            out, err = self.proc.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.kill_workers()  # orphans would hold its output pipes open
            out, err = self.proc.communicate()
            pytest.fail(f"the run did not end within {DEADLINE} s:\n{out}\n{err}")
        return self.proc.returncode, out, err

    def kill_workers(self):
        for pid in self.workers():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)

    def workers(self):
        return [int(p.name) for p in (self.dir / "pids").iterdir() if int(p.name) != self.proc.pid]

    def checkpoints(self):
        return sorted(self.data.glob("*/checkpoints/*.pt"))

    def assert_nothing_left(self):
        assert self.workers(), "the env never started in a worker"
        if not wait_until(lambda: not any(alive(pid) for pid in self.workers())):
            left = [pid for pid in self.workers() if alive(pid)]
            self.kill_workers()
            pytest.fail(f"workers left running: {left}")
        assert wait_until(lambda: not self.ours & shm()), f"left in /dev/shm: {self.ours & shm()}"


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_a_run_stuck_in_a_worker_saves_it_and_leaves_nothing(tmp_path, signum, status):
    run = Run(tmp_path)
    run.wait_stuck()
    run.proc.send_signal(signum)
    sent = time.monotonic()
    code, out, err = run.end()
    assert time.monotonic() - sent < DEADLINE
    assert code == status, err
    (run_dir,) = run.data.iterdir()
    assert f"interrupted after 768 steps; the run was saved: continue with `puffer train stuck:Stuck " \
           f"--resume {run_dir}`" in out
    assert "Traceback" not in err
    assert [p.name for p in run.checkpoints()] == ["step_000000000768.pt"]  # the last finished iteration
    run.assert_nothing_left()


def test_workers_die_with_a_killed_trainer_and_leave_nothing(tmp_path):
    run = Run(tmp_path)
    run.wait_stuck()
    run.proc.kill()
    run.end()
    run.assert_nothing_left()


def test_a_hung_step_ends_the_run_after_vec_timeout_and_saves_it(tmp_path):
    run = Run(tmp_path, "hang", 100, "--vec.timeout", "0.5")
    code, out, err = run.end()
    assert code == 2, err
    (run_dir,) = run.data.iterdir()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("puffer: error: the environment workers did not answer "
                                                   "within vec.timeout=0.5 s"), err
    assert lines[0].endswith(f"the run was saved at step 768: continue with `puffer train stuck:Stuck "
                             f"--resume {run_dir}`")
    assert [p.name for p in run.checkpoints()] == ["step_000000000768.pt"]
    run.assert_nothing_left()


def test_a_worker_that_dies_ends_the_run_saved_with_how_to_resume(tmp_path):
    run = Run(tmp_path, "die", 100)
    code, out, err = run.end()
    assert code == 2, err
    (run_dir,) = run.data.iterdir()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "died (exit code 3) while stepping; the run was saved at step 768: continue " \
                               f"with `puffer train stuck:Stuck --resume {run_dir}`" in lines[0], err
    assert "close() it" not in err  # no advice for Python API users
    assert [p.name for p in run.checkpoints()] == ["step_000000000768.pt"]
    run.assert_nothing_left()
