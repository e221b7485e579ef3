#!/usr/bin/env python3
"""Environment-stepping benchmark: steps per second through the public `step()`, beside the alternatives.

Three sections, in one run on one machine (`--sections scaling original games`, all by default):

scaling
    The engine's thread scaling: pufferlib's `cartpole` at the largest --num-envs (4096) against
    bench/cartpole_ref.c, CartPole as a plain C loop compiled with `$CC -O3 -fopenmp` (one
    `omp parallel for schedule(static)` over the envs per step), at each --threads. The two are
    measured in alternation, round by round (a round: every thread count of both), so a change in
    the machine's load hits both alike; the scaling at t threads is the median over rounds of (the
    t-thread figure / the 1-thread figure of the same round), and pufferlib's scaling is reported
    as a fraction of the plain loop's. Target: >= 0.9.

original
    The original PufferLib 3.0.0's table, its three rows: `cartpole`, `bandit` and `squared`, at each
    --num-envs and --threads, beside the original's (one thread; its cartpole and squared in C, its
    bandit a Python env in its Serial vector env, up to 64 envs unless --full), through its own
    venv as subprocesses (shared/tools/pufferlib3/bench.py, see its README); also the plain C loop,
    Gymnasium's CartPole-v1 (SyncVectorEnv, up to 64 envs unless --full), envpool when installed,
    and the engine's overhead (the no-op env `noop`, as nanoseconds per agent-step).

games
    Every game of the suite built into pufferlib (`pufferlib.envs.list_envs()` less the sanity
    envs) at 1 env and at 4096 envs, or for a many-agent game (snake, gather) at as many envs as
    make 4096 agents, at each --threads, in agent-steps per second; beside the original's game of
    the same name (pong, breakout, snake, connect4, tetris: shared/tools/pufferlib3/bench_games.py
    in its own venv, at 1 env and at 4096 or its shipped count), as ratios: ours over its Python
    `step()` (what a user calls) and over its bare C `vec_step`. Target: >= 2x at 1 thread. A game
    of that list not built into pufferlib is skipped with a note.

How it is measured
    256 random action arrays are drawn before timing and step i uses array i % 256; one warm-up
    (about a quarter of --seconds), then --runs runs of at least --seconds each; a figure is
    agent-steps (rows) per second, and a table shows the median and the range. The plain C loop
    and the original time themselves the same way in their own processes.

Output
    Markdown tables and the targets with PASS/FAIL on stdout; progress on stderr; every run's
    figure, the medians, the machine and its load as JSON in --json (default bench/results/envs.json).

Run it from the repository root, on the tree that was built in place:

    python setup.py build_ext --inplace
    PYTHONPATH=. python bench/envs.py                       # ~6 minutes on 2 cores
    PYTHONPATH=. python bench/envs.py --quick               # ~1 minute: short runs, 1 and 4096 envs
    PYTHONPATH=. python bench/envs.py --sections scaling --threads 1 2 4 8 16 --runs 7
"""
import argparse
import datetime
import importlib.metadata
import inspect
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

from pufferlib.benchmark import random_action_batches, time_steps

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ACTION_CACHE = 256
REFERENCE = "plain C -O3"
PUFFERLIB3 = "pufferlib 3.0.0"
SECTIONS = ("scaling", "original", "games")
REFERENCE_LIBRARIES = ("c", "gymnasium", "envpool", "pufferlib3")
# The original project's table: its three rows (its bandit is a Python env).
ORIGINAL_ROWS = ("cartpole", "bandit", "squared")
# The games of the suite that the original PufferLib 3.0.0 has a game of the same name for.
ORIGINAL_GAMES = ("pong", "breakout", "snake", "connect4", "tetris")
# The settings under which a game of the suite plays the original's game of the same name, used in the
# games section: tetris one tick a step (its default places a whole piece a step), snake on the
# original's map (640 x 360, 256 snakes, 4096 food; its default is a quarter of that), connect4 against
# the original's only opponent, a 4-ply search. Pong and breakout play the original's rules by default.
GAME_PARAMS = {
    "tetris": {"placement": 0},
    "snake": {"width": 640, "height": 360, "num_snakes": 256, "num_food": 4096},
    "connect4": {"opponent": 2, "depth": 4},
}
# pufferlib's built-in envs that are not games (sanity checks, the engine's no-op).
SANITY_ENVS = ("cartpole", "squared", "bandit", "memory", "password", "stochastic", "multiagent",
               "continuous", "noop")
CACHE = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
PUFFERLIB3_HOME = os.environ.get("PUFFERLIB3_HOME") or os.path.join(CACHE, "pufferlib3")
PUFFER3T_HOME = os.environ.get("PUFFER3T_HOME") or os.path.join(CACHE, "pufferlib3-train")
SUBPROCESS_SLACK_S = 120

# The original's bandit (pufferlib/ocean/sanity.py, a gymnasium.Env) in its Serial vector env, run in
# its venv: argv = num_envs seconds runs; prints one JSON list of steps/s figures. Its make_bandit
# takes no `seed`, which its vector env passes, so the creator drops it.
PUFFERLIB3_BANDIT = """
import json, os, sys, time
import numpy as np
os.chdir(sys.argv[4])
import pufferlib.vector
from pufferlib.ocean.environment import make_bandit
n, seconds, runs = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
env = pufferlib.vector.make(lambda buf=None, seed=None: make_bandit(buf=buf), num_envs=n,
                            backend=pufferlib.vector.Serial)
env.reset(seed=0)
actions = np.random.default_rng(0).integers(0, 10, (256, n))
def block(count, start):
    for i in range(start, start + count):
        env.step(actions[i % 256])
block(50, 0)
rates = []
for _ in range(runs):
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        block(50, steps)
        steps += 50
    rates.append(steps * n / (time.perf_counter() - t0))
print(json.dumps(rates))
"""


# ----------------------------------------------------------------------------------------------
# Timing: one helper for every library stepped from this process
# ----------------------------------------------------------------------------------------------

def draw_actions(n_actions, num_envs, dtype, seed=0):
    """Returns ACTION_CACHE contiguous action arrays of shape (num_envs,), drawn before any timing."""
    table = np.random.default_rng(seed).integers(0, n_actions, (ACTION_CACHE, num_envs)).astype(dtype)
    return list(table)  # contiguous row views, made once: picking one in the loop creates no view


def result(section, library, env, num_envs, threads, rates, **extra):
    """One row of results: every run's figure (agent-steps per second), the median, min and max."""
    return dict(section=section, library=library, env=env, num_envs=num_envs, threads=threads, sps_runs=rates,
                sps_median=statistics.median(rates), sps_min=min(rates), sps_max=max(rates), **extra)


def cpu_snapshot():
    """(wall seconds, CPU seconds the whole machine was busy or None, CPU seconds of this process)."""
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal: all but idle and iowait kept a core from us
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        busy = None
    return time.perf_counter(), busy, own


class Recorder:
    """Collects result rows, prints each on stderr, and tags each with other processes' CPU use.

    `other_cpu` on a row is the CPU (in cores, averaged over the time since the previous row) that
    processes other than this benchmark took while it was measured: above ~0.1 on a 2-core machine,
    that row's figure (a multi-threaded one most) is suspect.
    """

    def __init__(self):
        self.rows = []
        self._mark = cpu_snapshot()

    def add(self, *rows):
        """Records rows measured since the previous call."""
        (w0, b0, o0), (w1, b1, o1) = self._mark, cpu_snapshot()
        self._mark = (w1, b1, o1)
        other = max(0.0, (b1 - b0) - (o1 - o0)) / (w1 - w0) if b0 is not None and b1 is not None else None
        for row in rows:
            row["other_cpu"] = other
            self.rows.append(row)
            runs = ", ".join(human(r) for r in row["sps_runs"])
            busy = f", other processes {other:.2f} cores" if other is not None else ""
            print(f"  [{row['section']}] {row['library']:16s} {row['env']:9s} num_envs={row['num_envs']:<5d} "
                  f"threads={row['threads']} {human(row['sps_median']):>7s} steps/s  (runs: {runs}{busy})",
                  file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# pufferlib and the plain C loop
# ----------------------------------------------------------------------------------------------

def make_env(name, num_envs, threads, params=None):
    """A reset pufferlib vector env (with these parameters) and its cached random actions."""
    import pufferlib
    env = pufferlib.make(name, num_envs=num_envs, num_threads=threads, seed=0, **(params or {}))
    env.reset()
    return env, random_action_batches(env, ACTION_CACHE)


def bench_pufferlib(record, section, env_names, sizes, threads, seconds, runs, params=None):
    """pufferlib's C environments through the public make()/step(), at every size and thread count."""
    for name in env_names:
        for n in sizes:
            for t in threads:
                env, actions = make_env(name, n, t, params)
                try:
                    rates = time_steps(env.step, actions, env.num_agents, seconds, runs)
                    extra = dict(threads_used=env.num_threads, num_agents=env.num_agents)
                finally:
                    env.close()
                record.add(result(section, "pufferlib", name, n, t, rates, **extra))


def compile_reference(workdir, notes):
    """Compiles bench/cartpole_ref.c with `$CC -O3 -fopenmp` (default gcc; without -fopenmp when the
    compiler lacks it, noted); returns (the executable's path, whether it runs threads)."""
    cc = shlex.split(os.environ.get("CC") or "gcc")
    exe = os.path.join(workdir, "cartpole_ref")
    errors = []
    for openmp in (["-fopenmp"], []):
        cmd = cc + ["-O3", *openmp, os.path.join(HERE, "cartpole_ref.c"), "-lm", "-o", exe]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0:
            if not openmp:
                notes.append(f"{REFERENCE}: compiled without OpenMP ({errors[0]}); it runs on one "
                             "thread only")
            return exe, bool(openmp)
        errors.append(f"`{shlex.join(cmd)}` failed: {proc.stderr.strip()[-300:]}")
    raise RuntimeError("; ".join(errors))


def run_reference(exe, num_envs, threads, seconds, runs):
    """The plain C loop's steps/s figures (one per run; it warms up with one run first)."""
    proc = subprocess.run([exe, str(num_envs), str(seconds), str(runs), str(threads)], capture_output=True,
                          text=True, check=True, timeout=(runs + 1) * seconds + SUBPROCESS_SLACK_S)
    return [float(line) for line in proc.stdout.split()]


def bench_reference(record, exe, sizes, seconds, runs):
    """The plain C loop of bench/cartpole_ref.c at every size, on one thread."""
    for n in sizes:
        record.add(result("original", REFERENCE, "cartpole", n, 1, run_reference(exe, n, 1, seconds, runs)))


def bench_scaling(record, exe, threaded, num_envs, threads, seconds, runs, notes):
    """pufferlib's cartpole and the plain OpenMP loop at every thread count, in alternation.

    Each of --runs rounds measures one run of every (library, thread count), so a change of the
    machine's load between rounds hits all of them alike; rows get `round_figures` in round order.
    """
    if not threaded:
        notes.append("scaling: the plain C loop has no OpenMP here; only pufferlib's figures are measured")
    envs = {t: make_env("cartpole", num_envs, t) for t in threads}
    figures = {(lib, t): [] for lib in ("pufferlib", REFERENCE) for t in threads}
    try:
        for _ in range(runs):
            for t in threads:
                if threaded:
                    figures[REFERENCE, t] += run_reference(exe, num_envs, t, seconds, 1)
                env, actions = envs[t]
                figures["pufferlib", t] += time_steps(env.step, actions, env.num_agents, seconds, 1)
    finally:
        used = {t: envs[t][0].num_threads for t in threads}
        for env, _ in envs.values():
            env.close()
    record.add(*[result("scaling", lib, "cartpole", num_envs, t, rates,
                        **({"threads_used": used[t]} if lib == "pufferlib" else {}))
                 for (lib, t), rates in figures.items() if rates])


def scaling_summary(rows):
    """{threads: {pufferlib, plain, fraction}}: each library's median over rounds of its t-thread
    figure over its 1-thread figure of the same round, and pufferlib's as a fraction of the loop's."""
    def runs_of(library, t):
        """That row's figures in round order, or None."""
        row = next((r for r in rows if r["section"] == "scaling" and r["library"] == library
                    and r["threads"] == t), None)
        return row["sps_runs"] if row else None

    out = {}
    for t in sorted({r["threads"] for r in rows if r["section"] == "scaling"}):
        entry = {}
        for key, library in (("pufferlib", "pufferlib"), ("plain", REFERENCE)):
            one, many = runs_of(library, 1), runs_of(library, t)
            entry[key] = statistics.median(m / o for m, o in zip(many, one)) if one and many else None
        entry["fraction"] = (entry["pufferlib"] / entry["plain"]
                             if entry["pufferlib"] is not None and entry["plain"] else None)
        out[t] = entry
    return out


def make_gymnasium_cartpole(gymnasium, num_envs):
    """A SyncVectorEnv of CartPole-v1, with same-step autoreset where this Gymnasium supports it."""
    kwargs = {}
    if "autoreset_mode" in inspect.signature(gymnasium.vector.SyncVectorEnv.__init__).parameters:
        kwargs["autoreset_mode"] = gymnasium.vector.AutoresetMode.SAME_STEP
    return gymnasium.vector.SyncVectorEnv([lambda: gymnasium.make("CartPole-v1")] * num_envs, **kwargs)


def bench_gymnasium(record, sizes, full, seconds, runs, notes):
    """Gymnasium's CartPole-v1 in a SyncVectorEnv, up to 64 envs (every size with --full)."""
    import gymnasium
    library = f"gymnasium {gymnasium.__version__}"
    if not full and any(n > 64 for n in sizes):
        notes.append(f"{library}: sizes above 64 envs skipped (minutes to build; add --full)")
    for n in [n for n in sizes if full or n <= 64]:
        env = make_gymnasium_cartpole(gymnasium, n)
        try:
            env.reset(seed=0)
            actions = draw_actions(2, n, env.action_space.dtype)
            rates = time_steps(env.step, actions, n, seconds, runs)
        finally:
            env.close()
        record.add(result("original", library, "cartpole", n, 1, rates))


def bench_envpool(record, sizes, threads, seconds, runs, notes):
    """envpool's CartPole-v1 (its synchronous step) at every size and thread count, when installed."""
    try:
        import envpool
    except ImportError as e:
        notes.append(f"envpool skipped: `import envpool` failed ({e}); it is an optional extra")
        return
    library = f"envpool {importlib.metadata.version('envpool')}"
    for n in sizes:
        for t in threads:
            with warnings.catch_warnings():  # its spaces warn that float64 bounds are cast to float32
                warnings.simplefilter("ignore")
                env = envpool.make("CartPole-v1", env_type="gymnasium", num_envs=n, num_threads=t)
                try:
                    env.reset()
                    actions = draw_actions(2, n, env.action_space.dtype)
                    rates = time_steps(env.step, actions, n, seconds, runs)
                finally:
                    env.close()
            record.add(result("original", library, "cartpole", n, t, rates))


# ----------------------------------------------------------------------------------------------
# The original PufferLib 3.0.0, in its own venvs (shared/tools/pufferlib3)
# ----------------------------------------------------------------------------------------------

def find_tool(name, variable):
    """The path of shared/tools/pufferlib3/NAME ($VARIABLE first, then in the repository or in any
    folder above it, as a worktree's checkout has it), or None."""
    candidates, folder = [os.environ.get(variable, "")], REPO
    while True:
        candidates.append(os.path.join(folder, "shared", "tools", "pufferlib3", name))
        if os.path.dirname(folder) == folder:
            break
        folder = os.path.dirname(folder)
    return next((p for p in candidates if p and os.path.isfile(p)), None)


def original_environ():
    """Our environment less PYTHONPATH/PYTHONHOME: the original's venv must not import this pufferlib."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def bench_pufferlib3(record, sizes, full, seconds, runs, notes):
    """The original's cartpole and squared (its bench.py) and bandit (a Python env), one thread."""
    python = os.path.join(PUFFERLIB3_HOME, "venv", "bin", "python")
    script = find_tool("bench.py", "PUFFERLIB3_BENCH")
    if not os.path.exists(python) or script is None:
        notes.append(f"{PUFFERLIB3} skipped: not built under {PUFFERLIB3_HOME} or its bench.py not found "
                     "(run shared/tools/pufferlib3/build.sh; set PUFFERLIB3_BENCH to its bench.py)")
        return
    envs = ["cartpole", "squared"]
    cmd = [python, script, "--env", *envs, "--num-envs", *map(str, sizes),
           "--seconds", str(seconds), "--runs", str(runs)]
    timeout = len(envs) * len(sizes) * (runs * seconds + 5) + SUBPROCESS_SLACK_S
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=original_environ())
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        notes.append(f"{PUFFERLIB3} cartpole/squared skipped: its bench.py failed "
                     f"({proc.stderr.strip()[-300:]})")
    else:
        record.add(*[result("original", PUFFERLIB3, r["env"], r["num_envs"], 1, r["sps_runs"])
                     for r in json.loads(lines[-1])])
    bandit_sizes = [n for n in sizes if full or n <= 64]
    if len(bandit_sizes) < len(sizes):
        notes.append(f"{PUFFERLIB3} bandit: sizes above 64 envs skipped (a Python env per copy; add --full)")
    for n in bandit_sizes:
        cmd = [python, "-c", PUFFERLIB3_BANDIT, str(n), str(seconds), str(runs), PUFFERLIB3_HOME]
        proc = subprocess.run(cmd,
                              capture_output=True, text=True, env=original_environ(),
                              timeout=(runs + 1) * seconds * 2 + SUBPROCESS_SLACK_S)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            notes.append(f"{PUFFERLIB3} bandit skipped: {proc.stderr.strip()[-300:]} (its sanity envs import "
                         f"pettingzoo: `{python} -m pip install pettingzoo==1.24.1`, its own pin)")
            return
        record.add(result("original", PUFFERLIB3, "bandit", n, 1, json.loads(lines[-1])))


def bench_original_games(names, seconds, runs, notes):
    """The original's games of these names (shared/tools/pufferlib3/bench_games.py): its records."""
    python = os.path.join(PUFFER3T_HOME, "venv", "bin", "python")
    script = find_tool("bench_games.py", "PUFFER3T_BENCH_GAMES")
    if not names:
        return []
    if not os.path.exists(python) or script is None:
        notes.append(f"{PUFFERLIB3} games skipped: not built under {PUFFER3T_HOME} or bench_games.py not "
                     "found (run shared/tools/pufferlib3/build_games.sh)")
        return []
    with tempfile.TemporaryDirectory(prefix="pufferlib-bench-") as workdir:
        out = os.path.join(workdir, "games.jsonl")
        child_timeout = 2 * (runs + 1) * seconds + 60
        cmd = [python, script, "--env", *names, "--seconds", str(seconds), "--runs", str(runs),
               "--timeout", str(child_timeout), "--out", out]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=original_environ(),
                              timeout=len(names) * 3 * child_timeout + SUBPROCESS_SLACK_S)
        records = []
        if os.path.exists(out):
            with open(out) as f:
                records = [json.loads(line) for line in f if line.strip()]
    for r in records:
        if "error" in r:
            notes.append(f"{PUFFERLIB3} {r['env']} at {r['num_envs']} envs failed: {r['error']}")
    if proc.returncode != 0:
        notes.append(f"{PUFFERLIB3} bench_games.py exited with {proc.returncode}: "
                     f"{proc.stderr.strip()[-300:]}")
    return [r for r in records if "error" not in r]


# ----------------------------------------------------------------------------------------------
# The game suite
# ----------------------------------------------------------------------------------------------

def game_sizes(name):
    """[1, the many-env count]: 4096 envs, or for a many-agent game as many envs as make 4096 agent
    rows (its shipped config's num_envs when that is more)."""
    import pufferlib.envs
    from pufferlib.train import load_config
    agents = pufferlib.envs.env_def(name).spec(GAME_PARAMS.get(name))["num_agents"]
    if agents == 1:
        return [1, 4096]
    return [1, max(-(-4096 // agents), load_config(name).env.num_envs)]


def suite_games():
    """pufferlib's built-in games (not the sanity envs), in listing order."""
    import pufferlib.envs
    return [name for name in pufferlib.envs.list_envs() if name not in SANITY_ENVS]


def bench_games(record, names, threads, seconds, runs):
    """Each game at 1 env and its many-env count, at every thread count."""
    for name in names:
        sizes = game_sizes(name)
        bench_pufferlib(record, "games", [name], sizes, threads, seconds, runs, GAME_PARAMS.get(name))


def add_original_games(record, originals):
    """The original's game records as rows (agent-steps/s), mode `step` and `vec_step` as libraries."""
    record.add(*[result("games", f"{PUFFERLIB3} {r['mode']}", r["env"], r["num_envs"], 1, r["agent_sps_runs"],
                        num_agents=r["num_agents"]) for r in originals])


def games_summary(rows):
    """Per game and thread count: ours at 1 env and many envs, the original's, and the ratios."""
    ours = [r for r in rows if r["section"] == "games" and r["library"] == "pufferlib"]
    theirs = [r for r in rows if r["section"] == "games" and r["library"].startswith(PUFFERLIB3)]
    out = []
    for r in ours:
        many = r["num_envs"] > 1
        entry = dict(env=r["env"], num_envs=r["num_envs"], num_agents=r.get("num_agents"),
                     threads=r["threads"], threads_used=r.get("threads_used"), sps=r["sps_median"])
        for mode in ("step", "vec_step"):
            # the original at 1 env, or at its own many-env count (4096, or its shipped count)
            cands = [o for o in theirs if o["env"] == r["env"] and o["library"] == f"{PUFFERLIB3} {mode}"
                     and (o["num_envs"] > 1) == many]
            if many and len(cands) > 1:
                cands = [max(cands, key=lambda o: o["num_envs"] if o.get("num_agents") == o["num_envs"]
                             else o["num_agents"] or 0)]
            o = cands[0] if cands else None
            entry[f"original_{mode}"] = o["sps_median"] if o else None
            entry[f"original_{mode}_num_envs"] = o["num_envs"] if o else None
            entry[f"ratio_{mode}"] = r["sps_median"] / o["sps_median"] if o else None
        out.append(entry)
    return out


# ----------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------

def human(sps):
    """Steps per second in a short form: 1.23G, 45.6M, 789k."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if sps >= scale:
            return f"{sps / scale:.3g}{suffix}" if sps < 100 * scale else f"{sps / scale:.0f}{suffix}"
    return f"{sps:.0f}"


def ratio_text(ratio):
    """1.23x, or a blank for none."""
    return "" if ratio is None else f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.2g}x"


def find(rows, section, library, env, num_envs, threads):
    """The row with these keys, or None."""
    return next((r for r in rows if (r["section"], r["library"], r["env"], r["num_envs"], r["threads"])
                 == (section, library, env, num_envs, threads)), None)


def add_ratios(rows):
    """Sets, on every row of the original's table: ratio_vs_original (its median over the original's at
    the same env and size, one thread) and, on cartpole rows, ratio_vs_reference (over the C loop's)."""
    for r in rows:
        if r["section"] != "original":
            continue
        ref = find(rows, "original", REFERENCE, "cartpole", r["num_envs"], 1)
        r["ratio_vs_reference"] = (r["sps_median"] / ref["sps_median"]
                                   if ref and r["env"] == "cartpole" else None)
        orig = find(rows, "original", PUFFERLIB3, r["env"], r["num_envs"], 1)
        r["ratio_vs_original"] = (r["sps_median"] / orig["sps_median"]
                                  if orig and r["library"] == "pufferlib" else None)


def markdown_table(header, cells, right_from):
    """A Markdown table padded to aligned columns; columns from `right_from` on are right-aligned."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *cells)]

    def line(row):
        """One row of cells, padded."""
        return "| " + " | ".join(str(c).rjust(w) if i >= right_from else str(c).ljust(w)
                                 for i, (c, w) in enumerate(zip(row, widths))) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" if i >= right_from else "-" * (w + 2)
                          for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), rule] + [line(r) for r in cells])


def threads_text(r):
    """The thread count asked for, and the count used when the engine used fewer."""
    threads = str(r["threads"])
    if r.get("threads_used", r["threads"]) != r["threads"]:
        threads += f" (ran {r['threads_used']})"
    return threads


def original_table(rows):
    """The original's three rows and the other libraries, grouped by environment then size."""
    order = {name: i for i, name in enumerate(ORIGINAL_ROWS + ("noop",))}
    header = ["library", "env", "num_envs", "threads", "median steps/s", "min - max", "vs 3.0.0", "vs C loop"]
    cells = []
    for r in sorted((r for r in rows if r["section"] == "original"),
                    key=lambda r: (order.get(r["env"], 9), r["num_envs"])):
        cells.append([r["library"], r["env"], r["num_envs"], threads_text(r), human(r["sps_median"]),
                      f"{human(r['sps_min'])} - {human(r['sps_max'])}",
                      ratio_text(r.get("ratio_vs_original")), ratio_text(r.get("ratio_vs_reference"))])
    return markdown_table(header, cells, right_from=2)


def scaling_table(rows):
    """Each library's figures at each thread count and the scalings."""
    summary = scaling_summary(rows)
    header = ["threads", "pufferlib steps/s", "plain loop steps/s", "pufferlib scaling", "plain loop scaling",
              "pufferlib / plain loop"]
    cells = []
    for t, entry in summary.items():
        ours = find(rows, "scaling", "pufferlib", "cartpole", rows_num_envs(rows), t)
        plain = find(rows, "scaling", REFERENCE, "cartpole", rows_num_envs(rows), t)
        cells.append([threads_text(ours) if ours else t, human(ours["sps_median"]) if ours else "",
                      human(plain["sps_median"]) if plain else "", ratio_text(entry["pufferlib"]),
                      ratio_text(entry["plain"]),
                      "" if entry["fraction"] is None else f"{entry['fraction']:.2f}"])
    return markdown_table(header, cells, right_from=1)


def rows_num_envs(rows):
    """The scaling section's env count."""
    return next((r["num_envs"] for r in rows if r["section"] == "scaling"), None)


def games_table(rows):
    """Per game, size and thread count: ours, the original's step and vec_step, and the ratios."""
    header = ["game", "num_envs (agents)", "threads", "pufferlib steps/s", "3.0.0 step", "vs step",
              "3.0.0 vec_step", "vs vec_step"]
    cells = []
    for g in games_summary(rows):
        cells.append([g["env"], f"{g['num_envs']} ({g['num_agents']})", threads_text(g), human(g["sps"]),
                      human(g["original_step"]) if g["original_step"] else "", ratio_text(g["ratio_step"]),
                      human(g["original_vec_step"]) if g["original_vec_step"] else "",
                      ratio_text(g["ratio_vec_step"])])
    return markdown_table(header, cells, right_from=1)


def target(name, measured, goal, at_least, unit, fmt):
    """One target: the measured value (None when not measured), the goal and whether it passed.

    `fmt` is a format string for both values, e.g. "{:.2f}x".
    """
    passed = None if measured is None else (measured >= goal if at_least else measured <= goal)
    comparison = ">=" if at_least else "<="
    return dict(name=name, measured=measured, target=goal, comparison=comparison, unit=unit, passed=passed,
                text=fmt.format(measured) if measured is not None else "n/a",
                target_text=f"{comparison} {fmt.format(goal)}")


def evaluate_targets(rows, n=4096, sections=SECTIONS):
    """The issue's targets of the sections measured, from the measured rows."""
    def median(section, library, env, threads, size=n):
        """The median steps/s of that row, or None."""
        r = find(rows, section, library, env, size, threads)
        return r["sps_median"] if r else None

    def ratio(a, b):
        """a / b, or None when either is missing."""
        return a / b if a is not None and b is not None else None

    def mega(sps):
        """Millions of steps per second, or None."""
        return sps / 1e6 if sps is not None else None

    def ns(sps):
        """Nanoseconds per agent-step, or None."""
        return 1e9 / sps if sps is not None else None

    targets = []
    for t, entry in scaling_summary(rows).items() if "scaling" in sections else ():
        if t != 1:
            targets.append(target(f"cartpole, {rows_num_envs(rows)} envs, scaling at {t} threads / the plain "
                                  "OpenMP loop's", entry["fraction"], 0.9, True, "", "{:.2f}"))
    cart1 = median("original", "pufferlib", "cartpole", 1)
    cart2 = median("original", "pufferlib", "cartpole", 2)
    targets += [] if "original" not in sections else [
        target(f"cartpole, {n} envs, 1 thread / plain C loop",
               ratio(cart1, median("original", REFERENCE, "cartpole", 1)), 1.1, True, "x", "{:.2f}x"),
        target(f"cartpole, {n} envs, 2 threads / same engine on 1 thread", ratio(cart2, cart1),
               1.8, True, "x", "{:.2f}x"),
        target(f"engine overhead (noop), {n} envs, 1 thread", ns(median("original", "pufferlib", "noop", 1)),
               2.0, False, "ns/agent-step", "{:.2f} ns"),
        target(f"engine overhead (noop), {n} envs, 2 threads", ns(median("original", "pufferlib", "noop", 2)),
               2.0, False, "ns/agent-step", "{:.2f} ns"),
        target(f"squared, {n} envs, 1 thread", mega(median("original", "pufferlib", "squared", 1)),
               115, True, "M steps/s", "{:.1f}M steps/s"),
    ]
    for g in games_summary(rows):
        if g["threads"] == 1 and g["ratio_step"] is not None:
            targets.append(target(f"{g['env']}, {g['num_envs']} envs, 1 thread / the original's step()",
                                  g["ratio_step"], 2.0, True, "x", "{:.2f}x"))
    return targets


def targets_text(targets):
    """The targets section: one line per target with measured value, goal and PASS/FAIL."""
    lines = ["Targets:"]
    for t in targets:
        verdict = {True: "PASS", False: "FAIL", None: "NOT MEASURED"}[t["passed"]]
        lines.append(f"- {t['name']}: {t['text']} (target {t['target_text']}) {verdict}")
    return "\n".join(lines)


def version_of(dist):
    """An installed distribution's version, or None."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model():
    """The CPU model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine_info():
    """What the figures depend on: CPU, cores, load, versions, and which pufferlib was measured."""
    import pufferlib
    cc = shlex.split(os.environ.get("CC") or "gcc")
    try:
        cc_version = subprocess.run(cc + ["--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        cc_version = None
    return dict(
        cpu_model=cpu_model(), cpu_count=os.cpu_count(),
        cores_available=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        load_average=os.getloadavg() if hasattr(os, "getloadavg") else None,
        platform=platform.platform(), python=platform.python_version(), numpy=np.__version__,
        gymnasium=version_of("gymnasium"), envpool=version_of("envpool"), cc=cc_version,
        pufferlib=pufferlib.__version__, pufferlib_file=pufferlib.__file__,
        openmp_enabled=pufferlib.openmp_enabled(), omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))


def busy_notes(rows, threshold=0.1):
    """A note naming the rows during which other processes took more than `threshold` cores."""
    busy = [r for r in rows if r.get("other_cpu") is not None and r["other_cpu"] > threshold]
    if not busy:
        return []
    cases = "; ".join(f"{r['library']} {r['env']} {r['num_envs']} envs {r['threads']} thr "
                      f"({r['other_cpu']:.2f} cores)" for r in busy)
    return [f"other processes used the CPU while these were measured, so their figures (multi-threaded "
            f"ones most) may be low; rerun on an idle machine: {cases}"]


def write_json(path, report):
    """Writes the report as JSON, creating the directory."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------

def parse_args(argv=None):
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS, help="what to measure")
    p.add_argument("--seconds", type=float, default=1.0, help="least duration of one run (default 1.0)")
    p.add_argument("--runs", type=int, default=5, help="runs (scaling: rounds) per case; medians shown")
    p.add_argument("--num-envs", type=int, nargs="+", default=[1, 64, 4096],
                   help="vector sizes of the original's table; the scaling uses the largest")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                   help="thread counts (pufferlib, the plain loop's scaling, envpool); 1 is always measured")
    p.add_argument("--games", nargs="+", default=None,
                   help="games to measure (default: every game built into pufferlib)")
    p.add_argument("--quick", action="store_true",
                   help="a short run: --seconds 0.2 --runs 3 --num-envs 1 4096 unless given")
    p.add_argument("--full", action="store_true",
                   help="also Gymnasium and the original's bandit above 64 envs")
    p.add_argument("--json", default=os.path.join(HERE, "results", "envs.json"),
                   help="where to write every figure (default bench/results/envs.json)")
    p.add_argument("--skip", nargs="+", default=[], choices=REFERENCE_LIBRARIES,
                   help="reference libraries not to measure")
    args = p.parse_args(argv)
    given = set(argv if argv is not None else sys.argv[1:])
    if args.quick:
        if "--seconds" not in given:
            args.seconds = 0.2
        if "--runs" not in given:
            args.runs = 3
        if "--num-envs" not in given:
            args.num_envs = [1, 4096]
    if not 0 < args.seconds < float("inf") or min(args.runs, *args.num_envs, *args.threads) < 1:
        p.error("--seconds must be a finite number > 0, and --runs, --num-envs and --threads at least 1")
    args.threads = sorted(set(args.threads) | {1})
    return args


def measure(args, notes):
    """Measures every section asked for; returns the result rows."""
    sizes, threads = sorted(set(args.num_envs)), args.threads
    timing = (args.seconds, args.runs)
    record = Recorder()
    with tempfile.TemporaryDirectory(prefix="pufferlib-bench-") as workdir:
        exe, threaded = None, False
        if "c" not in args.skip and {"scaling", "original"} & set(args.sections):
            try:
                exe, threaded = compile_reference(workdir, notes)
            except (OSError, RuntimeError) as e:
                notes.append(f"{REFERENCE} skipped: could not compile bench/cartpole_ref.c ({e})")
        if "scaling" in args.sections:
            bench_scaling(record, exe, threaded and exe is not None, sizes[-1], threads, *timing, notes)
        if "original" in args.sections:
            if exe is not None:
                bench_reference(record, exe, sizes, *timing)
            bench_pufferlib(record, "original", list(ORIGINAL_ROWS), sizes, threads, *timing)
            bench_pufferlib(record, "original", ["noop"], sizes[-1:], threads, *timing)
            if "pufferlib3" not in args.skip:
                bench_pufferlib3(record, sizes, args.full, *timing, notes)
            if "envpool" not in args.skip:
                bench_envpool(record, sizes, threads, *timing, notes)
            if "gymnasium" not in args.skip:
                bench_gymnasium(record, sizes, args.full, *timing, notes)
    if "games" in args.sections:
        built = suite_games()
        names = args.games if args.games is not None else built
        missing = [g for g in ORIGINAL_GAMES if g not in built and (args.games is None or g in args.games)]
        if missing:
            notes.append(f"games not built into this pufferlib, skipped: {', '.join(missing)}")
        unknown = [g for g in names if g not in built]
        if unknown and args.games is not None:
            notes.append(f"--games {' '.join(unknown)}: not built into this pufferlib "
                         f"({', '.join(built) or 'no games'}), skipped")
        names = [g for g in names if g in built]
        bench_games(record, names, threads, *timing)
        if "pufferlib3" not in args.skip:
            add_original_games(record, bench_original_games([g for g in names if g in ORIGINAL_GAMES],
                                                            *timing, notes))
    notes += [f"{name} skipped (--skip)" for name in args.skip]
    notes += busy_notes(record.rows)
    return record.rows


def main(argv=None):
    """Measures, prints the tables and the targets, and writes the JSON report."""
    args = parse_args(argv)
    try:
        import pufferlib
    except ImportError as e:
        sys.exit(f"cannot import pufferlib ({e}): build it in place (python setup.py build_ext --inplace) "
                 "and run with PYTHONPATH=. from the repository root, or pip install it")
    machine = machine_info()
    print(f"pufferlib {pufferlib.__version__} from {os.path.dirname(pufferlib.__file__)}, OpenMP "
          f"{'on' if machine['openmp_enabled'] else 'OFF'}; {machine['cpu_model']}, "
          f"{machine['cores_available']} cores, load {machine['load_average']}", file=sys.stderr)
    notes, start = [], time.perf_counter()
    if "games" in args.sections:
        played = [f"{name} " + " ".join(f"{k}={v}" for k, v in params.items())
                  for name, params in GAME_PARAMS.items()]
        notes.append("games played as the original's game of the same name: " + "; ".join(played))
    rows = measure(args, notes)
    add_ratios(rows)
    targets = evaluate_targets(rows, max(args.num_envs), args.sections)
    machine["load_average_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    load = (f"load average {machine['load_average'][0]:.2f} before, "
            f"{machine['load_average_after'][0]:.2f} after") if machine["load_average"] else ""
    print(f"Machine: {machine['cpu_model']}, {machine['cores_available']} cores, {load}\n")
    for section, title, table in (("scaling", "Thread scaling (cartpole)", scaling_table),
                                  ("original", "The original's table", original_table),
                                  ("games", "The game suite, agent-steps/s", games_table)):
        if any(r["section"] == section for r in rows):
            print(f"## {title}\n\n{table(rows)}\n")
    print(targets_text(targets))
    for note in notes:
        print(f"Note: {note}")
    report = dict(machine=machine, settings=vars(args), seconds_elapsed=time.perf_counter() - start,
                  results=rows, scaling=scaling_summary(rows), games=games_summary(rows),
                  targets=targets, notes=notes)
    write_json(args.json, report)
    print(f"\nWrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
