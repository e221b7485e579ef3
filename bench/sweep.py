#!/usr/bin/env python3
"""Sweep benchmark: `puffer sweep cartpole` from a poor search space, and what a suggestion costs.

What is measured
    - shipped: the time to solve CartPole (mean return of the last 100 finished episodes >= 475,
      `pufferlib.train.logger.solve_time` on the run's metrics.jsonl) with the shipped config
      (pufferlib/train/configs/cartpole.toml), seeds 1..--seeds (3), each run in a fresh process,
      alone on the machine: the median, twice: logging at the interval sweep trials log at (a
      trial's time is read at its log intervals, so this is the reference of the in-sweep figures:
      1/2000 of the trial budget, 15 ms for 30 s, pufferlib.sweep.runner.TRIAL_LOG_FRACTION), and
      every 0.01 s (the reference of the re-measurements).
    - the sweep: `puffer sweep cartpole --config bench/sweep_cartpole.toml --jobs J --timeout S
      --seed SEED` as a user types it (J = --jobs, 2; S = --minutes x 60, 600), in a subprocess.
      bench/sweep_cartpole.toml replaces the shipped space by a deliberately poor one: learning rate
      1e-5..1e-1 (log), update epochs 1..8, minibatch 64..4096 (powers of two; those above the
      1024-sample rollout are refused by the trainer, so those trials fail at once, as expected),
      hidden size 16..256; objective 'time' to 475, trials stopped at 30 s of training. Trials train
      with train.seed 0. A trial's time is when it ended (Optuna's datetime_complete) less the sweep's
      start (just before the command is started: imports and the trial processes' start count).
      Only trials that ended within the --minutes count (the table says how many ended later).
        trials run / complete / pruned / failed: the counts of those trials ("solved": complete
            trials that reached 475 within their 30 s);
        best in-sweep: the lowest trial value, its seconds of training to 475 measured inside the
            sweep (two trials share the machine then; each trial's env and torch threads are capped
            at cores / jobs = 1, which is what the shipped config uses anyway);
        time to a config within 1.5x: the sweep's wall-clock until the first trial whose in-sweep
            value is <= 1.5 x the shipped median at the trials' interval ("none" when no trial was).
      `--log-interval S` passes `--log.interval S` to the sweep (a setting fixed on the command
      line, which the sweep leaves alone) to time trials at S instead.
    - re-measured: the best config (and the first within-1.5x config when it is another) trained
      alone like the shipped one: the shipped config with the trial's settings, seeds 1..--seeds
      (seeds the sweep did not select on), logging every 0.01 s, fresh processes, stopped when
      solved or at --cap seconds (an unsolved run counts as slower than any solved one); the median
      and its ratio to the shipped median at 0.01 s. Target: the best config found within 10 minutes
      solves in <= 1.5x the shipped config's time.
    - suggestion overhead: a fresh SQLite study (pufferlib.sweep.study: open_storage, load_study with
      the sweep's plan, the TPE sampler and median pruner a sweep uses) holding N finished trials
      over the same space (N = 0, 50, 200; random settings, a synthetic time-to-solve surface, the
      infeasible minibatches failed, slow ones pruned, each with the user attributes and 20
      intermediate values a real trial stores), then the median over --reps (10) repetitions of
        ask + suggest + tell: `study.ask()`, `Parameter.suggest` for every parameter,
            `study.tell(trial, value)`: the sampler's work and the storage round trips;
        per trial: what a trial process does per trial less the training: `study.optimize(objective,
            n_trials=1)` (heartbeat and stale-trial check included) whose objective suggests every
            parameter, sets the user attributes `run_trial` sets and reports 20 intermediate scores
            to the pruner (asking it each time whether to prune);
        loaded fresh: the per-trial figure plus opening the storage and loading the study
            (open_storage + load_study + make_sampler), as a new trial process does once.
      Each N is measured in a fresh process. Target: <= 1 s per trial with 200 trials (the
      per-trial figure).
    - the original PufferLib 3.0.0's Protein: `Protein.suggest` after N = 0, 50, 200 `observe`d
      (score, cost) pairs over the same four parameters in its own sweep-config format
      (log_normal, int_uniform, uniform_pow2, each centred in its range, scale 'auto'), random
      settings, scores in 0..500, costs in 0.5..60 s; the median of --protein-reps (3) suggestions,
      in its own venv ($PUFFER3T_HOME, or $PUFFERLIB3_HOME if that one imports pufferlib.sweep:
      Protein needs torch and pyro-ppl), with torch's default threads, as its sweep runs. The
      original records 10 observations per run (its sweep.downsample), so N observations are N/10 of
      its runs. "not run" and the reason when it cannot run.

Output
    One Markdown table with every figure, its target and PASS/FAIL, the machine's core count and
    load average (before and after); progress on stderr; every figure and every trial as JSON in
    --json (default bench/results/sweep.json). Figures depend on the machine being otherwise idle.
    With --sweeps K the sweep (and its re-measurement) runs K times with sampler seeds SEED..SEED+K-1,
    and the table shows medians over sweeps and each sweep's figure.

    PYTHONPATH=. python bench/sweep.py                  # ~15 minutes on 2 cores
    PYTHONPATH=. python bench/sweep.py --sweeps 3       # ~45 minutes
    PYTHONPATH=. python bench/sweep.py --quick          # a smoke run: a 1-minute sweep, 1 seed, N 0/20
"""
import argparse
import datetime
import io
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from envs import PUFFER3T_HOME, PUFFERLIB3, PUFFERLIB3_HOME, markdown_table, original_environ  # noqa: E402

ENV = "cartpole"
CONFIG = os.path.join(HERE, "sweep_cartpole.toml")
RATIO_TARGET = 1.5          # the best config found solves in <= 1.5x the shipped config's time
OVERHEAD_TARGET_S = 1.0     # seconds of sweep bookkeeping per trial, with 200 trials in the storage
FINE_INTERVAL = 0.01        # what runs measured alone log at: the solve time read to 10 ms
TRIALS = 100_000            # --trials of the sweep: its --timeout ends it
# The original's sweep-config distributions for ours (its pufferlib/sweep.py _params_from_puffer_sweep).
PROTEIN_DISTRIBUTIONS = {"uniform": "uniform", "log_uniform": "log_normal", "int": "int_uniform",
                         "pow2": "uniform_pow2"}


def trial_log_interval():
    """The log interval sweep trials of bench/sweep_cartpole.toml run at (pufferlib.sweep.runner's rule)."""
    from pufferlib.sweep.runner import TRIAL_LOG_FRACTION, TRIAL_LOG_MIN_S
    config = sweep_config()
    return min(config.log.interval, max(TRIAL_LOG_MIN_S, config.sweep.trial_seconds * TRIAL_LOG_FRACTION))


def sweep_config():
    """The shipped cartpole config with bench/sweep_cartpole.toml's [sweep] settings and space."""
    from pufferlib.train.config import load_config
    return load_config(ENV, config_file=CONFIG)


# -- children: each run in a fresh process -----------------------------------------------------------

def child_solve(job):
    """One training run of the shipped cartpole config with job['settings']: its time to solve.

    Stopped (as a trial stops) once solved, or at job['cap'] seconds of training.
    """
    import pufferlib.train as T
    from pufferlib.train.config import apply_overrides, load_config
    from pufferlib.train.logger import EpisodeWindow, read_metrics, solve_time
    config = load_config(ENV)
    apply_overrides(config, job["settings"], source="bench/sweep.py")
    config.train.seed = job["seed"]
    config.log.interval = job["interval"]
    window = EpisodeWindow(100)

    def on_log(metrics):
        window.add(metrics.get("episodes"), metrics.get("episode_return"))
        return window.full and window.mean >= 475.0 or metrics["time_s"] >= job["cap"]

    with tempfile.TemporaryDirectory(prefix="pufferlib-bench-sweep-") as data, \
            T.Trainer(ENV, config, data_dir=data, dashboard=False, stream=io.StringIO()) as trainer:
        summary = trainer.train(on_log=on_log)
        metrics = read_metrics(summary["run_dir"])
    seconds, steps = solve_time(metrics, "episode_return", 475.0, 100)
    last = metrics[-1]
    return {"seconds": seconds, "steps": steps, "train_s": last["time_s"], "total_steps": last["global_step"],
            "sps": last["global_step"] / last["time_s"], "final": last.get("episode_return")}


def synthetic_seconds(settings, rng):
    """A made-up time-to-solve surface over the space (best near lr 3e-3, 4 epochs, 256, 32) with noise:
    gives TPE a landscape to model; its exact shape does not matter to the timing."""
    lr, epochs = settings["train.learning_rate"], settings["train.update_epochs"]
    mb, hidden = settings["train.minibatch_size"], settings["policy.hidden_size"]
    penalty = ((math.log10(lr) + 2.5) ** 2 + 0.1 * (epochs - 4) ** 2 + 0.2 * (math.log2(mb) - 8) ** 2
               + 0.2 * (math.log2(hidden) - 5) ** 2)
    return 0.5 * math.exp(penalty) * rng.uniform(0.8, 1.25)


def _objective_fn(params, plan, rollout, rng):
    """An objective doing a trial's storage work (pufferlib.sweep.trial.run_trial), without training."""
    import optuna

    from pufferlib.sweep.trial import TrialFailed, suggest_settings

    def objective(trial):
        settings = suggest_settings(trial, params)
        for key, value in (("host", platform.node()), ("pid", os.getpid()),
                           ("run_dir", f"/tmp/trial_{trial.number:05d}"), ("settings", settings)):
            trial.set_user_attr(key, value)
        if settings["train.minibatch_size"] > rollout:
            trial.set_user_attr("fail_reason", "ConfigError: train.minibatch_size is larger than a rollout")
            raise TrialFailed("minibatch larger than a rollout")
        seconds = synthetic_seconds(settings, rng)
        for point in range(plan["reports"]):
            trial.report(-min(475.0, 475.0 * (point + 1) / plan["reports"] * 2.0 / max(seconds, 0.5)), point)
            if trial.should_prune():
                trial.set_user_attr("score", 100.0)
                raise optuna.TrialPruned()
        for key, value in (("seconds", seconds), ("steps", 10**5), ("checkpoint", "/tmp/model.pt"),
                           ("reached_s", seconds), ("reached_steps", 10**5), ("score", 475.0),
                           ("cost", seconds)):
            trial.set_user_attr(key, value)
        return min(seconds, 60.0)

    return objective


def fill_study(study, params, plan, n, rollout, rng):
    """Adds n finished trials (random settings; failed, pruned or complete as a real sweep's would be)."""
    import optuna
    from optuna.trial import TrialState

    from pufferlib.sweep.trial import suggest_settings
    scratch = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=rng.randrange(2**31)))
    trials = []
    for number in range(n):
        draw = scratch.ask()
        settings = suggest_settings(draw, params)
        attrs = {"host": platform.node(), "pid": 1, "run_dir": f"/tmp/trial_{number:05d}",
                 "settings": settings}
        seconds = synthetic_seconds(settings, rng)
        if settings["train.minibatch_size"] > rollout:
            attrs["fail_reason"] = "ConfigError: train.minibatch_size is larger than a rollout"
            state, value, reports = TrialState.FAIL, None, 0
        elif seconds > plan["trial_seconds"]:
            state, value, reports = TrialState.PRUNED, None, rng.randint(2, plan["reports"] // 2)
        else:
            state, value, reports = TrialState.COMPLETE, seconds, plan["reports"]
            attrs.update(seconds=seconds, steps=10**5, checkpoint="/tmp/model.pt", reached_s=seconds,
                         reached_steps=10**5, score=475.0, cost=seconds)
        intermediate = {p: -475.0 * (p + 1) / plan["reports"] for p in range(reports)}
        trials.append(optuna.trial.create_trial(state=state, value=value, params=draw.params,
                                                distributions=draw.distributions, user_attrs=attrs,
                                                intermediate_values=intermediate))
    study.add_trials(trials)


def child_overhead(job):
    """Seconds per suggestion with job['n'] finished trials in a fresh SQLite study (see the docstring)."""
    import optuna

    from pufferlib.sweep import study as studies
    from pufferlib.sweep.space import parse_space
    from pufferlib.sweep.trial import suggest_settings

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")  # Optuna's: heartbeats are experimental and meant for optimize()
    config = sweep_config()
    params = parse_space(config)
    plan = studies.resolve_plan(ENV, config, params)
    rollout = config.env.num_envs * config.train.horizon
    rng = random.Random(job["seed"])
    name = "bench"
    out = {"n": job["n"], "ask_suggest_tell_s": [], "per_trial_s": [], "fresh_s": []}
    with tempfile.TemporaryDirectory(prefix="pufferlib-bench-sweep-") as folder, studies.quiet_optuna():
        url = f"sqlite:///{folder}/study.db"

        def load(seed, create=False):
            """The study as a trial process loads it: its storage, the TPE sampler, the plan's pruner."""
            return studies.load_study(name, studies.open_storage(url), plan,
                                      sampler=studies.make_sampler("tpe", seed),
                                      pruner=studies.make_pruner(plan["pruner"], plan), create=create)

        study = load(job["seed"], create=True)
        fill_study(study, params, plan, job["n"], rollout, rng)
        objective = _objective_fn(params, plan, rollout, rng)
        study.optimize(objective, n_trials=1, catch=(Exception,))  # warm-up: imports, first queries
        for rep in range(job["reps"]):
            start = time.perf_counter()
            trial = study.ask()
            settings = suggest_settings(trial, params)
            if settings["train.minibatch_size"] > rollout:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, min(synthetic_seconds(settings, rng), 60.0))
            out["ask_suggest_tell_s"].append(time.perf_counter() - start)

            start = time.perf_counter()
            study.optimize(objective, n_trials=1, catch=(Exception,))
            out["per_trial_s"].append(time.perf_counter() - start)

            start = time.perf_counter()
            load(job["seed"] + rep + 1).optimize(objective, n_trials=1, catch=(Exception,))
            out["fresh_s"].append(time.perf_counter() - start)
        out["trials_after"] = len(study.get_trials(deepcopy=False))
    return out


CHILDREN = {"solve": child_solve, "overhead": child_overhead}


def run_child(job, timeout):
    """Runs CHILDREN[job['kind']](job) in a fresh Python process; returns its JSON result."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(job)],
                         capture_output=True, text=True, timeout=timeout, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{job['kind']} {job.get('settings', job.get('n', ''))} seed {job.get('seed')} "
                           f"failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the original's Protein, in its own venv ------------------------------------------------------------

# argv[1]: a JSON job {config, counts, reps, seed}; prints one JSON line {N: [seconds, ...]}.
PROTEIN_SCRIPT = """
import copy, json, random, sys, time
import numpy as np
import torch
from pufferlib.sweep import Protein
job = json.loads(sys.argv[1])
out = {"torch_threads": torch.get_num_threads(), "seconds": {}}
for n in job["counts"]:
    random.seed(job["seed"]); np.random.seed(job["seed"]); torch.manual_seed(job["seed"])
    protein = Protein(copy.deepcopy(job["config"]))
    space = protein.hyperparameters
    for _ in range(n):
        hypers = space.to_dict(space.sample(1)[0], {"train": {}, "policy": {}})
        protein.observe(hypers, random.uniform(0, 500), random.uniform(0.5, 60))
    times = []
    for _ in range(job["reps"]):
        start = time.perf_counter()
        protein.suggest({"train": {}, "policy": {}})
        times.append(time.perf_counter() - start)
    out["seconds"][str(n)] = times
print(json.dumps(out))
"""


def protein_config(params):
    """Our space in the original's sweep-config format: each parameter centred in its range."""
    config = {"method": "Protein", "metric": "score", "goal": "maximize", "downsample": 10}
    for p in params:
        section, _, key = p.name.partition(".")
        log = p.distribution in ("log_uniform", "pow2")
        mean = math.sqrt(p.low * p.high) if log else (p.low + p.high) / 2
        if p.distribution == "pow2":
            mean = 2 ** round(math.log2(mean))
        elif p.distribution == "int":
            mean = round(mean)
        config.setdefault(section, {})[key] = {"distribution": PROTEIN_DISTRIBUTIONS[p.distribution],
                                               "min": p.low, "max": p.high, "mean": mean, "scale": "auto"}
    return config


def protein_python():
    """(the python of a venv of the original that imports its pufferlib.sweep, None) or (None, why not)."""
    tried = []
    for home in dict.fromkeys((PUFFER3T_HOME, PUFFERLIB3_HOME)):
        python = os.path.join(home, "venv", "bin", "python")
        if not os.path.exists(python):
            tried.append(f"{home}: no venv")
            continue
        with tempfile.TemporaryDirectory() as cwd:
            proc = subprocess.run([python, "-c", "import pufferlib.sweep"], capture_output=True, text=True,
                                  env=original_environ(), cwd=cwd, timeout=300)
        if proc.returncode == 0:
            return python, None
        error = (proc.stderr.strip().splitlines() or ["?"])[-1]
        tried.append(f"{home}: {error}")
    return None, "; ".join(tried) + " (Protein imports torch and pyro; build_games.sh's venv has both)"


def run_protein(params, counts, reps, seed):
    """The original's Protein.suggest times per count of observations, or {'error': why not}."""
    python, why = protein_python()
    if python is None:
        return {"error": why}
    job = {"config": protein_config(params), "counts": counts, "reps": reps, "seed": seed}
    with tempfile.TemporaryDirectory() as cwd:  # not the repository: its venv must import its own pufferlib
        try:
            proc = subprocess.run([python, "-c", PROTEIN_SCRIPT, json.dumps(job)], capture_output=True,
                                  text=True, env=original_environ(), cwd=cwd, timeout=3600)
        except subprocess.TimeoutExpired:
            return {"error": "timed out after an hour", "python": python}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"error": f"exited with {proc.returncode}: {proc.stderr.strip()[-300:]}", "python": python}
    return dict(json.loads(lines[-1]), python=python, config=job["config"])


# -- the sweep ----------------------------------------------------------------------------------------

def run_sweep(args, seed, data_dir):
    """Runs `puffer sweep` for --minutes; returns every trial with when it ended since the sweep's start."""
    from optuna.trial import TrialState

    from pufferlib.sweep import study as studies
    name = f"bench_seed{seed}"
    budget = args.minutes * 60
    cmd = [sys.executable, "-m", "pufferlib.cli", "sweep", ENV, "--config", CONFIG, "--trials", str(TRIALS),
           "--jobs", str(args.jobs), "--timeout", str(budget), "--seed", str(seed), "--study", name,
           "--data-dir", data_dir]
    if args.log_interval is not None:  # fixed on the command line: trials log at it, not the sweep's
        cmd += ["--log.interval", str(args.log_interval)]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    load_before = os.getloadavg()
    start, clock = datetime.datetime.now(), time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=ROOT)
    killer = threading.Timer(budget + 300, proc.kill)  # trials end at most ~90 s past the timeout
    killer.start()
    output = []
    try:
        for line in proc.stdout:
            output.append(line.rstrip())
            print(f"  [sweep {seed}] {line.rstrip()}", file=sys.stderr, flush=True)
        proc.wait()
    finally:
        killer.cancel()
    wall = time.perf_counter() - clock
    folder = os.path.join(data_dir, "sweeps", name)
    if not os.path.exists(os.path.join(folder, "study.db")):
        raise RuntimeError(f"puffer sweep (seed {seed}) exited with {proc.returncode} and made no study:\n"
                           + "\n".join(output[-30:]))
    url = studies.storage_url(None, folder)
    study = studies.load_study(name, studies.open_storage(url), plan=None)
    trials = []
    for t in study.get_trials(deepcopy=False):
        if t.datetime_start is not None and t.datetime_start < start:
            continue  # an earlier sweep's, in the same --data-dir: the study was continued
        attrs = t.user_attrs
        state = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned"}.get(t.state)
        if state is None:
            state = ("failed" if "fail_reason" in attrs else "interrupted" if t.state == TrialState.FAIL
                     else t.state.name.lower())
        trials.append({
            "number": t.number, "state": state, "value": t.values[0] if t.values else None,
            "started_s": (t.datetime_start - start).total_seconds() if t.datetime_start else None,
            "ended_s": (t.datetime_complete - start).total_seconds() if t.datetime_complete else None,
            "settings": attrs.get("settings", {}), "reached_s": attrs.get("reached_s"),
            "seconds": attrs.get("seconds"), "fail_reason": attrs.get("fail_reason")})
    trials.sort(key=lambda t: (t["ended_s"] is None, t["ended_s"] or 0.0))
    return {"seed": seed, "study": name, "command": " ".join(cmd[1:]), "returncode": proc.returncode,
            "wall_s": wall, "budget_s": budget,
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "trials": trials,
            "output_tail": output[-5:]}


def sweep_figures(sweep, shipped_s, trial_seconds):
    """The counts, the best in-sweep trial and the time to a config within 1.5x, over the budget."""
    inside = [t for t in sweep["trials"] if t["ended_s"] is not None and t["ended_s"] <= sweep["budget_s"]]
    counts = {state: sum(t["state"] == state for t in inside) for state in ("complete", "pruned", "failed")}
    counts["run"] = len(inside)
    counts["solved"] = sum(t["state"] == "complete" and t["reached_s"] is not None for t in inside)
    counts["after_budget"] = sum(t["ended_s"] is not None and t["ended_s"] > sweep["budget_s"]
                                 for t in sweep["trials"])
    done = [t for t in inside if t["state"] == "complete" and t["value"] is not None]
    best = min(done, key=lambda t: t["value"]) if done else None
    if best is not None and best["value"] >= trial_seconds:  # the time objective's value of an unsolved run
        best = dict(best, unsolved=True)
    limit = RATIO_TARGET * shipped_s if shipped_s else None
    first = next((t for t in done if limit is not None and t["value"] <= limit), None)
    return {"counts": counts, "best": best, "first_within": first,
            "within_s": first["ended_s"] if first else None, "limit_s": limit}


def remeasure(settings, args, label, interval=FINE_INTERVAL):
    """The shipped config with `settings`, trained alone on seeds 1..--seeds: every run."""
    runs = []
    for seed in range(1, args.seeds + 1):
        r = run_child({"kind": "solve", "settings": settings, "seed": seed, "cap": args.cap,
                       "interval": interval}, timeout=args.cap + 600)
        print(f"  {label} seed {seed}: {r['seconds'] if r['seconds'] is not None else 'unsolved'} s "
              f"({r['train_s']:.1f} s trained)", file=sys.stderr, flush=True)
        runs.append(dict(r, seed=seed))
    return runs


def median_solved(runs):
    """The median time to solve, an unsolved run counting as slower than any; None when the median
    run did not solve."""
    values = [r["seconds"] if r["seconds"] is not None else math.inf for r in runs]
    m = statistics.median(values) if values else math.inf
    return None if math.isinf(m) else m


# -- the table -----------------------------------------------------------------------------------------

def verdict(ok):
    return "PASS" if ok else "FAIL"


def secs(x, digits=2):
    return "n/a" if x is None else f"{x:.{digits}f} s"


def runs_text(runs):
    return ", ".join("unsolved" if r["seconds"] is None else f"{r['seconds']:.2f}" for r in runs)


def settings_text(settings):
    short = {"train.learning_rate": "lr", "train.update_epochs": "epochs", "train.minibatch_size": "mb",
             "policy.hidden_size": "hidden"}
    return ", ".join(f"{short.get(k, k)} {v:.3g}" if isinstance(v, float) else f"{short.get(k, k)} {v}"
                     for k, v in settings.items())


def per_sweep(values, fmt):
    """'median (a, b, c)' over sweeps, a None as 'none'."""
    finite = [v if v is not None else math.inf for v in values]
    m = statistics.median(finite)
    text = "none" if math.isinf(m) else fmt(m)
    if len(values) > 1:
        text += " (" + ", ".join("none" if v is None else fmt(v) for v in values) + ")"
    return text, (None if math.isinf(m) else m)


def sweep_rows(sweeps, args):
    """The table's rows of the sweeps: medians over sweeps, each sweep's figure in brackets."""
    if not sweeps:
        return []
    rows = []
    k = len(sweeps)
    over = f" (median of {k} sweeps)" if k > 1 else ""
    c = [s["figures"]["counts"] for s in sweeps]
    med = {key: statistics.median(x[key] for x in c) for key in c[0]}
    counts = (f"{med['run']:g} / {med['complete']:g} ({med['solved']:g} solved) / {med['pruned']:g} / "
              f"{med['failed']:g}")
    if k > 1:
        counts += " (" + "; ".join(f"{x['run']}/{x['complete']}/{x['pruned']}/{x['failed']}" for x in c) + ")"
    late = sum(x["after_budget"] for x in c)
    if late:
        counts += f"; {late} more ended after the {args.minutes:g} min (not counted)"
    for s in sweeps:
        if s["returncode"] != 0:  # 1: its first 3 trials failed alike; or a signal
            counts += f"; sweep {s['seed']} exited with {s['returncode']}: {s['output_tail'][-1]}"
    rows.append([f"sweep, {args.minutes:g} min, {args.jobs} jobs: trials run / complete / pruned / "
                 f"failed{over}", counts, "minibatches > rollout: pruned as infeasible"])
    best_text, _ = per_sweep([s["figures"]["best"]["value"] if s["figures"]["best"] and
                              not s["figures"]["best"].get("unsolved") else None for s in sweeps],
                             lambda v: f"{v:.2f} s")
    best0 = sweeps[0]["figures"]["best"]
    if best0 and not best0.get("unsolved"):
        best_text += f"; trial {best0['number']}: {settings_text(best0['settings'])}"
    rows.append([f"best trial's time to 475 inside the sweep{over}", best_text, ""])
    within_text, _ = per_sweep([s["figures"]["within_s"] for s in sweeps], lambda v: f"{v:.0f} s")
    first0 = sweeps[0]["figures"]["first_within"]
    if first0:
        within_text += f"; trial {first0['number']} ({first0['value']:.2f} s)"
    limit = sweeps[0]["figures"]["limit_s"]
    found = all(s["figures"]["within_s"] is not None for s in sweeps)
    rows.append([f"time to a config within 1.5x (in-sweep value <= {secs(limit)}){over}", within_text,
                 f"<= {args.minutes:g} min: {verdict(found)}"])
    for key, what in (("best", "best config"), ("first_within", "first within-1.5x config")):
        measured = [s["remeasured"].get(key) for s in sweeps]
        if key == "first_within" and all(x is s["remeasured"].get("best") for x, s in zip(measured, sweeps)):
            continue  # the best config was the first within 1.5x (or none was)
        if not any(measured):
            if key == "best":
                rows.append([f"{what} re-measured alone", "no trial solved", f"<= {RATIO_TARGET:g}x: FAIL"])
            continue
        ratios = [x["ratio"] if x else None for x in measured]
        ratio_text, ratio = per_sweep(ratios, lambda v: f"{v:.2f}x")
        first = next(x for x in measured if x)
        detail = f"{secs(first['median_s'])} ({runs_text(first['runs'])})"
        target = f"<= {RATIO_TARGET:g}x: {verdict(ratio is not None and ratio <= RATIO_TARGET)}" \
            if key == "best" else ""
        rows.append([f"{what} re-measured alone: / shipped (median of {args.seeds}){over}",
                     f"{ratio_text}; {detail}", target])
    return rows


def table(results, args):
    """The Markdown table of every figure."""
    rows = []
    m = results["machine"]
    rows.append(["machine", f"{m['cpus']} cores; load average {m['loadavg_before'][0]:.2f} before, "
                 f"{m['loadavg_after'][0]:.2f} after", ""])
    for key, what in (("shipped_trial", "as the trials log: the in-sweep reference"),
                      ("shipped", "the re-measurements' reference")):
        shipped = results[key]
        rows.append([f"shipped cartpole: time to solve alone, log every {shipped['log_interval']:g} s "
                     f"({what}; median of {args.seeds})",
                     f"{secs(shipped['median_s'])} ({runs_text(shipped['runs'])})", ""])
    rows += sweep_rows(results["sweeps"], args)
    protein = results["protein"]
    for entry in results["overhead"]:
        n = entry["n"]
        figures = entry["median_s"]
        text = (f"{figures['ask_suggest_tell_s']:.3f} / {figures['per_trial_s']:.3f} / "
                f"{figures['fresh_s']:.3f} s")
        target = f"<= {OVERHEAD_TARGET_S:g} s: {verdict(figures['per_trial_s'] <= OVERHEAD_TARGET_S)}" \
            if n == max(args.counts) else ""
        rows.append([f"suggestion, {n} trials in SQLite: ask+suggest+tell / per trial / loaded fresh "
                     f"(median of {args.reps})", text, target])
        if "error" in protein:
            continue
        theirs = protein["median_s"].get(str(n))
        if theirs is not None:
            ratio = theirs / figures["ask_suggest_tell_s"] if figures["ask_suggest_tell_s"] else None
            rows.append([f"{PUFFERLIB3} Protein.suggest, {n} observations (median of {args.protein_reps})",
                         f"{theirs:.3g} s" + (f" = {ratio:.3g}x our ask+suggest+tell" if ratio else ""), ""])
    if "error" in protein:
        rows.append([f"{PUFFERLIB3} Protein.suggest", f"not run: {protein['error']}", ""])
    return markdown_table(["measure", "value", "target"], rows, right_from=3)


# -- main ----------------------------------------------------------------------------------------------

def parse_args(argv=None):
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--minutes", type=float, default=10.0, help="minutes of sweeping (default 10)")
    p.add_argument("--jobs", type=int, default=2, help="trials at once (puffer sweep --jobs; default 2)")
    p.add_argument("--seed", type=int, default=0, help="the first sweep's sampler seed (default 0)")
    p.add_argument("--sweeps", type=int, default=1, help="sweeps, with seeds SEED..SEED+K-1 (default 1)")
    p.add_argument("--seeds", type=int, default=3, help="training seeds of the shipped and re-measured "
                                                         "configs (default 3)")
    p.add_argument("--cap", type=float, default=60.0, help="seconds of training after which a re-measured "
                                                           "run counts as unsolved (default 60)")
    p.add_argument("--log-interval", type=float, default=None,
                   help="pass --log.interval S to the sweep, so that trials log (and are timed) every S "
                        "seconds instead of the sweep's (1/2000 of the trial budget); the in-sweep "
                        "reference then logs at S too")
    p.add_argument("--counts", type=int, nargs="+", default=[0, 50, 200],
                   help="finished trials in the study for the overhead (default 0 50 200)")
    p.add_argument("--reps", type=int, default=10, help="repetitions per overhead figure (default 10)")
    p.add_argument("--protein-reps", type=int, default=3, help="Protein suggestions per count (default 3)")
    p.add_argument("--skip", nargs="*", default=[], choices=("sweep", "overhead", "protein"),
                   help="parts to leave out")
    p.add_argument("--data-dir", help="keep the sweeps' studies and trial runs here (default: a temporary "
                                      "folder, removed); then `puffer sweep cartpole --study bench_seed0 "
                                      "--data-dir DIR --report` reports on one")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: a 1-minute sweep, 1 seed, overhead at 0/20 trials, 5 repetitions")
    p.add_argument("--json", default=os.path.join(HERE, "results", "sweep.json"),
                   help="where to write every figure (default bench/results/sweep.json)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.minutes, args.seeds, args.cap, args.counts = 1.0, 1, 30.0, [0, 20]
        args.reps, args.protein_reps = 5, 2
    for name in ("sweeps", "seeds", "jobs", "reps", "protein_reps"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    return args


def main(argv=None):
    """Measures everything, prints the table and writes the JSON."""
    args = parse_args(argv)
    if args.child:
        job = json.loads(args.child)
        print(json.dumps(CHILDREN[job["kind"]](job)))
        return
    from pufferlib.sweep.space import parse_space
    config = sweep_config()
    params = parse_space(config)
    results = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                           "platform": platform.platform(), "loadavg_before": os.getloadavg()},
               "settings": {k: v for k, v in vars(args).items() if k != "child"},
               "space": [p.to_plain() for p in params], "sweeps": [], "overhead": []}
    clock = time.perf_counter()

    if "overhead" not in args.skip:
        for n in args.counts:
            r = run_child({"kind": "overhead", "n": n, "reps": args.reps, "seed": args.seed}, timeout=1800)
            r["median_s"] = {k: statistics.median(r[k])
                             for k in ("ask_suggest_tell_s", "per_trial_s", "fresh_s")}
            print(f"overhead, {n} trials: {r['median_s']}", file=sys.stderr, flush=True)
            results["overhead"].append(r)
    if "protein" not in args.skip:
        print(f"{PUFFERLIB3} Protein at {args.counts} observations ...", file=sys.stderr, flush=True)
        protein = run_protein(params, args.counts, args.protein_reps, args.seed)
        if "seconds" in protein:
            protein["median_s"] = {n: statistics.median(v) for n, v in protein["seconds"].items()}
        print(f"  {protein.get('median_s', protein.get('error'))}", file=sys.stderr, flush=True)
    else:
        protein = {"error": "--skip protein"}
    results["protein"] = protein

    print("shipped cartpole, alone ...", file=sys.stderr, flush=True)
    trial_interval = args.log_interval if args.log_interval is not None else trial_log_interval()
    for key, interval in (("shipped_trial", trial_interval), ("shipped", FINE_INTERVAL)):
        runs = remeasure({}, args, f"shipped, log every {interval} s", interval)
        results[key] = {"runs": runs, "median_s": median_solved(runs), "log_interval": interval}

    if "sweep" not in args.skip:
        with tempfile.TemporaryDirectory(prefix="pufferlib-bench-sweep-") as scratch:
            data_dir = os.path.abspath(args.data_dir) if args.data_dir else scratch
            for seed in range(args.seed, args.seed + args.sweeps):
                print(f"sweep, seed {seed}: {args.minutes:g} min, {args.jobs} jobs ...", file=sys.stderr,
                      flush=True)
                sweep = run_sweep(args, seed, data_dir)
                sweep["figures"] = figures = sweep_figures(sweep, results["shipped_trial"]["median_s"],
                                                           config.sweep.trial_seconds)
                sweep["remeasured"] = {}
                chosen = [("best", figures["best"]), ("first_within", figures["first_within"])]
                for key, trial in chosen:
                    if trial is None or trial.get("unsolved"):
                        continue
                    if key == "first_within" and trial["number"] == figures["best"]["number"]:
                        sweep["remeasured"][key] = sweep["remeasured"]["best"]
                        continue
                    runs = remeasure(trial["settings"], args, f"trial {trial['number']}")
                    m, base = median_solved(runs), results["shipped"]["median_s"]
                    sweep["remeasured"][key] = {"number": trial["number"], "settings": trial["settings"],
                                                "runs": runs, "median_s": m,
                                                "ratio": m / base if m is not None and base else None}
                results["sweeps"].append(sweep)
    results["machine"]["loadavg_after"] = os.getloadavg()
    results["seconds_elapsed"] = time.perf_counter() - clock

    print(table(results, args))
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2, default=str)
        f.write("\n")
    print(f"\nWrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
