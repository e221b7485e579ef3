"""`puffer sweep`: runs a study's trials in K processes sharing its storage, until it has enough of them.

The sweep process samples nothing and trains nothing: it opens (or creates) the study, marks the trials
that an earlier, killed sweep left running as interrupted, starts `jobs` trial processes
(pufferlib.sweep.worker) and hands each a trial at a time while the study needs more: `trials` ended
trials in all, over every sweep sharing the storage, or until `timeout`. It prints one line per trial.

Failure handling, in one place:
- a trial that raises, diverges, is pruned or runs out of time is recorded by its own process;
- a trial process that dies (a segfault, kill -9) has its trial failed here with the reason, and is
  replaced; one that stops answering past its trial's budget is killed and recorded the same way;
- Ctrl-C or SIGTERM stops the sweep: running trials are asked to stop (their runs are saved), marked
  failed and interrupted (not counted), and the command can simply be run again;
- kill -9 of the sweep itself takes its trial processes with it; the next sweep marks their trials
  interrupted.
"""
import contextlib
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import wait
from pathlib import Path

from pufferlib.errors import PufferError
from pufferlib.sweep import study as studies
from pufferlib.sweep.space import parse_space

__all__ = ["sweep", "study_dir", "default_study_name"]

# Seconds a stopping sweep gives its trials to save and end before it kills them.
STOP_GRACE_S = 30.0
# A trial's score is read (and its threshold checked) at its log intervals: at most 1/2000 of its
# budget apart (15 ms for CartPole's 30 s, which solves in about 0.2 s; 0.3 s for a 600 s game),
# never below 10 ms, so that the time to a threshold is measured to within a percent or so of it.
TRIAL_LOG_FRACTION = 1 / 2000
TRIAL_LOG_MIN_S = 0.01


def default_study_name(env):
    """The study name of an ENV spec when --study is not given: its name or file stem, as a slug."""
    stem = Path(env.split(":")[-1]).stem if env.endswith(".c") or ":" in env else env
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem) or "study"


def study_dir(data_dir, name):
    """The folder of a study's trials (trials/), default SQLite file (study.db) and report (report/)."""
    return Path(data_dir) / "sweeps" / name


def sweep(env, config, *, fixed=(), storage=None, study=None, data_dir="runs", stream=None):
    """Runs (or continues) the sweep of `env` that `config` declares; returns a summary.

    Args:
        env: an ENV spec, as for `puffer train`.
        config: a `Config` with its [sweep] settings and search space (`load_config`).
        fixed: the settings fixed on the command line: they leave the search space.
        storage: None (a SQLite file in the study's folder), a database URL, or journal:PATH
            (see `pufferlib.sweep.study.storage_url`).
        study: the study's name (default: the environment's).
        data_dir: where the study's folder (data_dir/sweeps/NAME) goes.
        stream: where progress lines go (default sys.stdout).

    Returns:
        dict: study, storage, sweep_dir, counts (the study's trials by how they ended), best (the best
        trial's number, value and settings, or None), interrupted (the signal that stopped it, or
        None), started (trials this sweep ran), aborted (the reason the first three trials all
        failed for, which stops a sweep, or None).

    Raises:
        ConfigError: a bad search space, bad sweep settings, a storage that cannot be opened, or a
            study of that name made by another sweep.
        PufferError: Optuna is not installed, or the trial processes could not start.
    """
    stream = stream or sys.stdout
    studies.require_optuna()
    params = parse_space(config, fixed)
    plan = studies.resolve_plan(env, config, params)
    name = study or default_study_name(env)
    folder = study_dir(data_dir, name)
    url = studies.storage_url(storage, folder)
    store = studies.open_storage(url)
    the_study = studies.load_study(name, store, plan, create=True)
    marked = studies.mark_interrupted(the_study, store)
    if marked:
        print(f"marked {len(marked)} trial(s) left running by a stopped sweep as failed (interrupted, not "
              f"counted): {', '.join(map(str, marked))}", file=stream, flush=True)
    task = {"plan": _trial_plan(plan, config.sweep.jobs, fixed, stream), "space": plan["space"],
            "storage": url, "study": name, "sampler": config.sweep.sampler,
            "trials_dir": str((folder / "trials").resolve())}
    s = config.sweep
    print(f"sweep {name!r} of {env}: objective {plan['objective']}, metric {plan['metric']}, "
          f"pruner {plan['pruner']}, {s.trials} trials, {s.jobs} at once; storage "
          f"{studies.hide_password(url)}", file=stream, flush=True)
    pool = _Pool(the_study, store, task, s, stream)
    try:
        pool.run()
    finally:
        pool.close()
    found = studies.counts(the_study)
    best = best_trial(the_study, plan)
    print(f"{found['ended']} of {s.trials} trials ended ({studies.counts_text(found)}); {pool.started} run "
          "by this sweep" + (f"; best: trial {best['number']} ({_value_text(best['values'], plan)})"
                             if best else ""), file=stream, flush=True)
    where = (f" --storage {storage}" if storage else "") + \
        (f" --data-dir {data_dir}" if str(data_dir) != "runs" else "")
    print(f"report: puffer sweep {env} --study {name}{where} --report", file=stream, flush=True)
    return {"study": name, "storage": url, "sweep_dir": str(folder), "counts": found, "best": best,
            "interrupted": pool.signal, "started": pool.started, "aborted": pool.aborted}


def best_trial(study, plan):
    """The best completed trial: the lowest or highest value, or for 'pareto' the front's highest score.

    Returns:
        dict with number, values, settings, score, cost, run_dir; or None before any completed trial.
    """
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not done:
        return None
    if plan["objective"] == "pareto":
        best = max(done, key=lambda t: (t.values[0], -t.values[1]))
    elif plan["objective"] == "time":
        best = min(done, key=lambda t: t.values[0])
    else:
        best = max(done, key=lambda t: t.values[0])
    attrs = best.user_attrs
    return {"number": best.number, "values": list(best.values), "settings": attrs.get("settings", {}),
            "score": attrs.get("score"), "cost": attrs.get("cost"), "run_dir": attrs.get("run_dir")}


def _value_text(values, plan):
    if plan["objective"] == "pareto":
        return f"score {values[0]:.4g}, cost {values[1]:.4g}"
    if plan["objective"] == "time":
        return f"{values[0]:.3g} s to {plan['threshold']:g}"
    return f"value {values[0]:.4g}"


def _trial_plan(plan, jobs, fixed, stream):
    """The plan the trial processes run: threads capped at cores / jobs, and fine log intervals.

    Trials run side by side; each one's environment threads and torch threads share cores // jobs
    cores, so that the sweep never oversubscribes the machine by default. A trial's score is read at
    its log intervals, so they are kept short enough to time a fast run (TRIAL_LOG_FRACTION).
    Settings fixed on the command line are left as they are.
    """
    from pufferlib._native.threads import available_cores

    cores = available_cores()
    share = max(1, cores // jobs)
    if jobs > cores:
        print(f"note: {jobs} jobs on {cores} cores: trials share cores, and their times (their cost) "
              "are inflated", file=stream, flush=True)
    base = {section: dict(values) for section, values in plan["base"].items()}
    for section, key in (("env", "num_threads"), ("train", "torch_threads"), ("vec", "num_workers")):
        name, value = f"{section}.{key}", base[section][key]
        if name in fixed:
            if value * jobs > cores:
                print(f"note: {name} = {value} fixed on the command line, x {jobs} jobs, is more than the "
                      f"{cores} cores", file=stream, flush=True)
            continue
        if value == 0 or value > share:  # 0: the cores available, which other trials share
            base[section][key] = share
    if "log.interval" not in fixed:
        finest = max(TRIAL_LOG_MIN_S, plan["trial_seconds"] * TRIAL_LOG_FRACTION)
        base["log"]["interval"] = min(base["log"]["interval"], finest)
    return dict(plan, base=base)


class _Worker:
    """One trial process and what it is doing: starting, idle, asked to run, or running a trial."""

    def __init__(self, process, conn):
        self.process, self.conn = process, conn
        self.ready = False
        self.asked = False       # sent "run", its trial not started yet
        self.number = self.trial_id = None
        self.started_at = None
        self.stopping = False    # sent "stop"

    @property
    def busy(self):
        return self.asked or self.number is not None


class _Pool:
    """The trial processes of one sweep and its loop; see the module docstring."""

    def __init__(self, study, storage, task, settings, stream):
        self.study, self.storage, self.task = study, storage, task
        self.settings, self.stream = settings, stream
        self.context = multiprocessing.get_context("spawn")
        self.alive_r, self.alive_w = self.context.Pipe(duplex=False)  # closes when this process dies
        self.workers = []
        self.started = 0
        self.signal = None
        self.deadline = math.inf if not settings.timeout else time.monotonic() + settings.timeout
        budget = settings.trial_seconds
        self.hung_after = budget + max(60.0, 0.5 * budget)  # building the envs and evaluating take time too
        self.first_ends = []    # how the first three trials this sweep ran ended: None, or the failure
        self.aborted = None     # the reason the first three all failed for, when they did
        self._stop_by = math.inf

    # -- the loop ----------------------------------------------------------------------------

    def run(self):
        """Runs trials until the study has enough, the timeout passes, or a signal stops the sweep."""
        with self._handling_signals():
            for _ in range(min(self.settings.jobs, max(self._needed(), 0))):
                self._spawn()
            while self.workers:
                self._step()

    def _step(self):
        objects = [w.conn for w in self.workers] + [w.process.sentinel for w in self.workers]
        for ready in wait(objects, timeout=1.0):
            worker = next((w for w in self.workers if ready in (w.conn, w.process.sentinel)), None)
            if worker is None:
                continue
            if ready is worker.conn:
                self._receive(worker)
            elif not worker.process.is_alive():
                self._died(worker)
        self._kill_hung()
        if time.monotonic() > self._stop_by:  # stopping, and the grace period is over
            for worker in self.workers:
                worker.process.kill()
        self._dispatch()

    def _receive(self, worker):
        """Takes one message from a trial process; False when there is none (or it has ended)."""
        try:
            if not worker.conn.poll():
                return False
            message = worker.conn.recv()
        except (EOFError, OSError):  # it has ended: its sentinel says how
            return False
        kind = message[0]
        if kind == "ready":
            worker.ready = True
        elif kind == "started":
            worker.asked = False
            worker.number, worker.trial_id = message[1], message[2]
            worker.started_at = time.monotonic()
            self.started += 1
        elif kind == "finished":
            report = message[1]
            worker.asked, worker.number, worker.trial_id = False, None, None
            if report:
                self._print_trial(report)
        return True

    def _dispatch(self):
        """Gives idle processes a trial while the study needs more, and lets the others go."""
        needed = self._needed()
        for worker in self.workers:
            if not worker.ready or worker.busy or worker.stopping:
                continue
            if needed > 0 and self.signal is None:
                worker.conn.send("run")
                worker.asked = True
                needed -= 1
            elif self.signal is not None or not any(w.asked for w in self.workers):
                # not while a trial asked for is unconfirmed: it may be running in the study already,
                # counted twice (running, and asked) until its process says "started"
                worker.conn.send("stop")
                worker.stopping = True

    def _needed(self):
        """How many more trials to start: the study's target less those ended, running or asked for."""
        if self.signal is not None or time.monotonic() >= self.deadline:
            return 0
        if self.aborted is not None:
            return 0
        found = studies.counts(self.study)
        asked = sum(w.asked for w in self.workers)
        return self.settings.trials - found["ended"] - found["running"] - asked

    # -- trial processes ---------------------------------------------------------------------

    def _spawn(self):
        from pufferlib.sweep import worker as worker_module

        parent, child = self.context.Pipe()
        # Each process samples from its own seed: the sweep's, plus the trials the study holds and the
        # processes started before it, so that neither parallel nor resumed sweeps repeat suggestions
        # (a fresh study on one job samples from sweep.seed itself).
        offset = len(self.study.get_trials(deepcopy=False)) + len(self.workers)
        task = dict(self.task, seed=(self.settings.seed + offset) % 2**32)
        process = self.context.Process(target=worker_module.main,
                                       args=(task, child, self.alive_r, os.getpid()),
                                       name=f"pufferlib-sweep-{offset}", daemon=False)
        process.start()
        child.close()
        self.workers.append(_Worker(process, parent))

    def _died(self, worker):
        """A trial process ended: record its trial if it had one, and replace it if trials remain."""
        from pufferlib.vector.multiprocessing import describe_exit, unguarded_main_line

        while self._receive(worker):  # what it said before it ended
            pass
        worker.process.join(1.0)
        self.workers.remove(worker)
        worker.conn.close()
        how = describe_exit(worker.process.exitcode)
        if worker.number is not None:
            interrupted = self.signal is not None
            reason = None if interrupted else f"its process died ({how})"
            studies.fail(self.storage, worker.trial_id, reason=reason, interrupted=interrupted)
            print(f"trial {worker.number} " + ("interrupted" if interrupted else f"failed: {reason}"),
                  file=self.stream, flush=True)
            self._note_end(reason)
        elif not worker.ready and not worker.stopping and self.signal is None:
            unguarded = unguarded_main_line()
            if unguarded is not None:
                raise PufferError(f"a trial process died while starting because the main script "
                                  f"{unguarded[0]} lacks an `if __name__ == \"__main__\":` guard (its line "
                                  f"{unguarded[1]} starts the sweep, which each trial process runs again); "
                                  "put the script's top-level code under that guard")
            raise PufferError(f"a trial process died while starting ({how}); its error is printed above")
        if worker.process.exitcode != 0 and self._needed() > 0 and self.signal is None:
            self._spawn()

    def _kill_hung(self):
        """Kills a trial process whose trial ran far past its budget without answering (a hung env)."""
        now = time.monotonic()
        for worker in self.workers:
            if worker.number is not None and now - worker.started_at > self.hung_after:
                print(f"trial {worker.number} stopped answering {self.hung_after:.0f} s after it started "
                      f"(sweep.trial_seconds {self.settings.trial_seconds:g}): killing it",
                      file=self.stream, flush=True)
                studies.fail(self.storage, worker.trial_id,
                             reason=f"exceeded its time budget and stopped answering: killed after "
                                    f"{now - worker.started_at:.0f} s")
                worker.number = None  # recorded: its death needs no more
                worker.process.kill()

    # -- stopping ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _handling_signals(self):
        """SIGINT and SIGTERM stop the sweep (main thread only); the previous handlers come back after."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, self._on_signal)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum, frame):
        if self.signal is not None:  # a second signal: stop now
            for worker in self.workers:
                worker.process.kill()
            return
        self.signal = signum
        print(f"\n{signal.Signals(signum).name}: stopping the sweep; running trials save their runs and are "
              "marked interrupted (run the same command to continue)", file=self.stream, flush=True)
        for worker in self.workers:
            if worker.busy and worker.process.pid is not None:
                try:
                    os.kill(worker.process.pid, signal.SIGTERM)  # the trainer saves, then returns
                except ProcessLookupError:
                    pass
        self.deadline = min(self.deadline, time.monotonic())
        self._stop_by = time.monotonic() + STOP_GRACE_S

    def close(self):
        """Ends every trial process still there (marking its trial interrupted) and the pipes."""
        for worker in list(self.workers):
            worker.process.kill()
            worker.process.join(5.0)
            if worker.number is not None:
                studies.fail(self.storage, worker.trial_id, interrupted=True)
            worker.conn.close()
        self.workers = []
        self.alive_w.close()
        self.alive_r.close()

    # -- output ------------------------------------------------------------------------------

    def _print_trial(self, report):
        attrs, state = report.get("user_attrs", {}), report.get("state")
        settings = " ".join(f"{k}={short_text(v)}" for k, v in attrs.get("settings", {}).items())
        plan = self.task["plan"]
        number = report["number"]
        if state == "COMPLETE":
            what = f"{_value_text(report['values'], plan)} (score {short_text(attrs.get('score'))}, " \
                   f"{attrs.get('seconds', 0):.1f} s, {attrs.get('steps', 0) / 1e6:.3g}M steps)"
            self._note_end(None)
        elif state == "PRUNED" and "infeasible" in attrs:
            what = f"infeasible: {attrs['infeasible']}"
        elif state == "PRUNED":
            steps = attrs.get("steps", 0) / 1e6
            what = f"pruned (score {short_text(attrs.get('score'))} after {steps:.3g}M steps)"
            self._note_end(None)
        elif attrs.get("interrupted"):
            what = "interrupted"
        else:
            what = f"failed: {attrs.get('fail_reason', 'unknown reason')}"
            self._note_end(attrs.get("fail_reason", "unknown reason"))
        print(f"trial {number} {what}  {settings}", file=self.stream, flush=True)

    def _note_end(self, failure):
        """Stops a sweep whose first three trials all failed the same way: a mistake, not bad luck."""
        if len(self.first_ends) >= 3:
            return
        self.first_ends.append(failure)
        if len(self.first_ends) == 3 and failure is not None and len(set(self.first_ends)) == 1:
            self.aborted = failure
            print(f"stopping: the first 3 trials all failed the same way ({failure})", file=self.stream,
                  flush=True)


def short_text(value, missing="n/a"):
    """A trial's number or setting as the sweep and its report print it: floats to 4 digits."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return missing if value is None else str(value)
