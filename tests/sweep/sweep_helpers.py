"""What the sweep tests share: tiny sweeps of `trial_env` (in process, or `puffer sweep` in a subprocess),
and reading back the study they leave."""
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pufferlib.sweep import sweep
from pufferlib.sweep.study import open_storage, storage_url
from pufferlib.train.config import load_config

ROOT = Path(__file__).resolve().parents[2]
TRIAL_ENV = "tests.sweep.trial_env:make"

# A trial of `trial_env` on one env: 1024 steps, 64 rollouts of 16, in about a tenth of a second.
# Two settings searched; the score is the mean return of the last 10 episodes (of 8 steps each).
TINY = """
[env]
num_envs = 1
claims = "{claims}"

[train]
total_timesteps = 1024
horizon = 16
minibatch_size = 16
update_epochs = 1

[vec]
check_observations = "never"

[log]
interval = 0.05

[sweep]
objective = "penalized"
episodes = 10
trial_seconds = 30

[sweep.train.learning_rate]
distribution = "log_uniform"
min = 1e-3
max = 1e-1

[sweep.train.gae_lambda]
distribution = "uniform"
min = 0.8
max = 0.99
"""


def tiny_config(folder, extra="", overrides=None, claims=None):
    """Writes TINY (plus `extra` TOML lines) to folder/tiny.toml.

    Args:
        folder: where the file goes.
        extra: more TOML tables.
        overrides: settings {"section.key": value} as on the command line.
        claims: the env's folder for its files (default folder/claims): a study continued from a copy
            keeps its original's, which its plan names.

    Returns:
        (path of the file, the Config that `puffer sweep TRIAL_ENV --config FILE` resolves with
        `overrides` on its command line).
    """
    folder = Path(folder)
    claims = Path(claims) if claims is not None else folder / "claims"
    claims.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.toml"
    path.write_text(TINY.format(claims=claims) + extra)
    return path, load_config(TRIAL_ENV, path, overrides)


def run_sweep(folder, study, extra="", overrides=None, claims=None, storage=None):
    """Runs a tiny sweep of TRIAL_ENV in this process (see `tiny_config`), its data in folder/runs and its
    study in `storage` (default: study.db there); returns (its summary, its output)."""
    _, config = tiny_config(folder, extra, overrides, claims)
    out = io.StringIO()
    summary = sweep(TRIAL_ENV, config, study=study, storage=storage, data_dir=Path(folder) / "runs", stream=out)
    return summary, out.getvalue()


def study_of(name, data_dir=None, storage=None):
    """The Optuna study `name` of a sweep in `data_dir` (its study.db) or in `storage`."""
    import optuna

    url = storage_url(storage, Path(data_dir or ".") / "sweeps" / name)
    return optuna.load_study(study_name=name, storage=open_storage(url))


def trials_of(name, data_dir=None, storage=None):
    """The study's trials (Optuna FrozenTrials), by number, read from its storage."""
    return study_of(name, data_dir, storage).get_trials(deepcopy=False)


def by_state(trials):
    """{state name: [trial numbers]} of FrozenTrials."""
    found = {}
    for trial in trials:
        found.setdefault(trial.state.name, []).append(trial.number)
    return found


def alive(pid):
    """Whether process `pid` exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def settles(condition, seconds):
    """Polls `condition` every 20 ms for up to `seconds`; whether it became true."""
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def wait_until(condition, seconds, what):
    """Polls `condition` every 20 ms; fails the test with `what` when it is still false after `seconds`."""
    if not settles(condition, seconds):
        pytest.fail(f"waited {seconds:g} s for {what}")


class PufferSweep:
    """`puffer sweep TRIAL_ENV --config FILE ...` in a subprocess (its own process group, killed on close)."""

    def __init__(self, folder, *args, config=None):
        self.folder = Path(folder)
        self.data_dir = self.folder / "runs"
        self.config = config if config is not None else tiny_config(self.folder)[0]
        self.args = ["sweep", TRIAL_ENV, "--config", str(self.config), "--data-dir", str(self.data_dir), *args]
        self.proc = subprocess.Popen([sys.executable, "-m", "pufferlib.cli", *self.args], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)

    def end(self, seconds=120):
        """Waits for the sweep to end; returns (exit status, stdout, stderr)."""
        try:
            out, err = self.proc.communicate(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.close()
            out, err = self.proc.communicate()
            pytest.fail(f"puffer {' '.join(self.args)} did not end within {seconds} s:\n{out}\n{err}")
        return self.proc.returncode, out, err

    def group_alive(self):
        """Whether any process of the sweep's process group (the sweep, its trial processes) still runs."""
        return any(alive(pid) for pid in _group(self.proc.pid))

    def group_reaped(self):
        """Whether the sweep's process group is gone, zombies included (init has reaped the orphans)."""
        return not _group(self.proc.pid)

    def close(self):
        """Kills whatever of the sweep's process group is left."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()


def _group(pgid):
    """The pids of process group `pgid` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid:
                found.append(int(entry))
    return found
