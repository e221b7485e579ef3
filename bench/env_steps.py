#!/usr/bin/env python3
"""Environment-stepping benchmark: steps per second through the public `step()`, beside the alternatives.

What is measured
    pufferlib's C environments `cartpole` and `squared` at each --num-envs (default 1, 64, 4096) and
    each --threads (default 1, 2), always through `env.step(actions)` as a user calls it, and in the
    same run, on the same machine:

    - the reference: bench/cartpole_ref.c, CartPole written as a plain C loop, compiled here with
      `$CC -O3` (default gcc) into a temporary directory and run at each --num-envs;
    - Gymnasium's CartPole-v1 in a SyncVectorEnv (same-step autoreset where the installed Gymnasium
      has the keyword), at the sizes up to 64 (4096 takes minutes to build; add it with --full);
    - envpool's CartPole-v1 at each size and thread count, when `import envpool` works;
    - the original PufferLib 3.0.0's cartpole and squared, through its own bench.py run as a subprocess
      in its own venv, when it has been built (see shared/tools/pufferlib3/README.md);
    - the engine's overhead: the built-in no-op environment `noop` at the largest --num-envs,
      reported as nanoseconds per agent-step (1e9 / steps per second).

How it is measured
    The same for every library: 256 random action arrays of the library's dtype are drawn before
    timing and step i uses array i % 256; one warm-up (about a quarter of --seconds, which also picks
    how many steps to take between clock reads); then --runs runs of at least --seconds each. A run's
    figure is environment-steps (agent rows) per second; the table shows the median and the range.
    The plain C loop and PufferLib 3.0.0 time themselves the same way in their own processes (their
    warm-ups: one whole run for the C loop, one block of 200 steps for PufferLib 3.0.0).

Output
    A Markdown table (paste it into a README), then the issue's targets with PASS/FAIL, on stdout;
    progress on stderr; every run's figure, the medians and the machine's description as JSON in
    --json (default bench/results/env_steps.json).

Run it from the repository root, on the tree that was built in place:

    python setup.py build_ext --inplace
    PYTHONPATH=. python bench/env_steps.py                       # ~3 minutes on 2 cores
    PYTHONPATH=. python bench/env_steps.py --seconds 0.2 --runs 2 --skip gymnasium envpool
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

from pufferlib.benchmark import time_steps

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ACTION_CACHE = 256
REFERENCE = "plain C -O3"
REFERENCE_LIBRARIES = ("c", "gymnasium", "envpool", "pufferlib3")
PUFFERLIB3_HOME = os.environ.get("PUFFERLIB3_HOME") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pufferlib3")
PUFFERLIB3_BENCH_CANDIDATES = (
    os.environ.get("PUFFERLIB3_BENCH", ""),
    os.path.join(REPO, "shared", "tools", "pufferlib3", "bench.py"),
    os.path.join(os.path.dirname(REPO), "shared", "tools", "pufferlib3", "bench.py"),
)
SUBPROCESS_SLACK_S = 120


# ----------------------------------------------------------------------------------------------
# Timing: one helper for every library stepped from this process
# ----------------------------------------------------------------------------------------------

def draw_actions(n_actions, num_envs, dtype, seed=0):
    """Returns ACTION_CACHE contiguous action arrays of shape (num_envs,), drawn before any timing."""
    table = np.random.default_rng(seed).integers(0, n_actions, (ACTION_CACHE, num_envs)).astype(dtype)
    return list(table)  # contiguous row views, made once: picking one in the loop creates no view


def result(library, env, num_envs, threads, rates, **extra):
    """One row of results: every run's figure, the median, min and max."""
    return dict(library=library, env=env, num_envs=num_envs, threads=threads, sps_runs=rates,
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
            print(f"  {row['library']:16s} {row['env']:9s} num_envs={row['num_envs']:<5d} "
                  f"threads={row['threads']} {human(row['sps_median']):>7s} steps/s  (runs: {runs}{busy})",
                  file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# Libraries
# ----------------------------------------------------------------------------------------------

def bench_pufferlib(record, env_names, sizes, threads, seconds, runs):
    """pufferlib's C environments through the public make()/step(), at every size and thread count."""
    import pufferlib
    for name in env_names:
        for n in sizes:
            for t in threads:
                env = pufferlib.make(name, num_envs=n, num_threads=t, seed=0)
                try:
                    env.reset()
                    actions = draw_actions(env.single_action_space.n, env.num_agents, env.actions.dtype)
                    rates = time_steps(env.step, actions, env.num_agents, seconds, runs)
                    used = env.num_threads
                finally:
                    env.close()
                record.add(result("pufferlib", name, n, t, rates, threads_used=used))


def compile_reference(workdir):
    """Compiles bench/cartpole_ref.c with `$CC -O3` (default gcc); returns the executable's path."""
    cc = shlex.split(os.environ.get("CC") or "gcc")
    exe = os.path.join(workdir, "cartpole_ref")
    cmd = cc + ["-O3", os.path.join(HERE, "cartpole_ref.c"), "-lm", "-o", exe]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"`{shlex.join(cmd)}` failed: {proc.stderr.strip()}")
    return exe


def bench_reference(record, sizes, seconds, runs, notes):
    """The plain C loop of bench/cartpole_ref.c at every size (single-threaded)."""
    with tempfile.TemporaryDirectory(prefix="pufferlib-bench-") as workdir:
        try:
            exe = compile_reference(workdir)
        except (OSError, RuntimeError) as e:
            notes.append(f"{REFERENCE} skipped: could not compile bench/cartpole_ref.c ({e})")
            return
        for n in sizes:
            proc = subprocess.run([exe, str(n), str(seconds), str(runs)], capture_output=True, text=True,
                                  check=True, timeout=(runs + 1) * seconds + SUBPROCESS_SLACK_S)
            rates = [float(line) for line in proc.stdout.split()]
            record.add(result(REFERENCE, "cartpole", n, 1, rates))


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
        record.add(result(library, "cartpole", n, 1, rates))


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
            record.add(result(library, "cartpole", n, t, rates))


def find_pufferlib3_bench():
    """The path of shared/tools/pufferlib3/bench.py ($PUFFERLIB3_BENCH first), or None."""
    return next((p for p in PUFFERLIB3_BENCH_CANDIDATES if p and os.path.isfile(p)), None)


def bench_pufferlib3(record, sizes, seconds, runs, notes):
    """The original PufferLib 3.0.0 (serial, GIL held) via its bench.py in its own venv."""
    python = os.path.join(PUFFERLIB3_HOME, "venv", "bin", "python")
    script = find_pufferlib3_bench()
    if not os.path.exists(python) or script is None:
        notes.append(f"pufferlib 3.0.0 skipped: not built under {PUFFERLIB3_HOME} or its bench.py not "
                     "found (run shared/tools/pufferlib3/build.sh; set PUFFERLIB3_BENCH to its bench.py)")
        return
    envs = ["cartpole", "squared"]
    cmd = [python, script, "--env", *envs, "--num-envs", *map(str, sizes),
           "--seconds", str(seconds), "--runs", str(runs)]
    timeout = len(envs) * len(sizes) * (runs * seconds + 5) + SUBPROCESS_SLACK_S
    # Its own venv: our PYTHONPATH (which points at this tree's pufferlib) must not leak into it.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        notes.append(f"pufferlib 3.0.0 skipped: its bench.py failed ({proc.stderr.strip()[-300:]})")
        return
    record.add(*[result(r["library"], r["env"], r["num_envs"], 1, r["sps_runs"])
                 for r in json.loads(lines[-1])])


# ----------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------

def human(sps):
    """Steps per second in a short form: 1.23G, 45.6M, 789k."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if sps >= scale:
            return f"{sps / scale:.3g}{suffix}" if sps < 100 * scale else f"{sps / scale:.0f}{suffix}"
    return f"{sps:.0f}"


def find(rows, library, env, num_envs, threads):
    """The row with these keys, or None."""
    return next((r for r in rows if (r["library"], r["env"], r["num_envs"], r["threads"])
                 == (library, env, num_envs, threads)), None)


def add_ratios(rows):
    """Sets ratio_vs_reference on every cartpole row: its median over the C loop's at the same size."""
    for r in rows:
        ref = find(rows, REFERENCE, "cartpole", r["num_envs"], 1)
        r["ratio_vs_reference"] = (r["sps_median"] / ref["sps_median"]
                                   if ref and r["env"] == "cartpole" else None)


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


def results_table(rows):
    """The results as a Markdown table, grouped by environment then size."""
    order = {"cartpole": 0, "squared": 1, "noop": 2}
    header = ["library", "env", "num_envs", "threads", "median steps/s", "min - max", "vs C loop"]
    cells = []
    for r in sorted(rows, key=lambda r: (order.get(r["env"], 9), r["num_envs"])):
        threads = str(r["threads"])
        if r.get("threads_used", r["threads"]) != r["threads"]:
            threads += f" (ran {r['threads_used']})"
        ratio = r.get("ratio_vs_reference")
        cells.append([r["library"], r["env"], r["num_envs"], threads, human(r["sps_median"]),
                      f"{human(r['sps_min'])} - {human(r['sps_max'])}",
                      "" if ratio is None else f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.2g}x"])
    return markdown_table(header, cells, right_from=2)


def target(name, measured, goal, at_least, unit, fmt):
    """One target: the measured value (None when not measured), the goal and whether it passed.

    `fmt` is a format string for both values, e.g. "{:.2f}x".
    """
    passed = None if measured is None else (measured >= goal if at_least else measured <= goal)
    comparison = ">=" if at_least else "<="
    return dict(name=name, measured=measured, target=goal, comparison=comparison, unit=unit, passed=passed,
                text=fmt.format(measured) if measured is not None else "n/a",
                target_text=f"{comparison} {fmt.format(goal)}")


def evaluate_targets(rows, n=4096):
    """The issue's targets at 4096 environments, from the measured rows."""
    def median(library, env, threads):
        """The median steps/s of that row at n envs, or None."""
        r = find(rows, library, env, n, threads)
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

    cart1, cart2 = median("pufferlib", "cartpole", 1), median("pufferlib", "cartpole", 2)
    return [
        target(f"cartpole, {n} envs, 1 thread / plain C loop", ratio(cart1, median(REFERENCE, "cartpole", 1)),
               1.1, True, "x", "{:.2f}x"),
        target(f"cartpole, {n} envs, 2 threads / same engine on 1 thread", ratio(cart2, cart1),
               1.8, True, "x", "{:.2f}x"),
        target(f"engine overhead (noop), {n} envs, 1 thread", ns(median("pufferlib", "noop", 1)),
               2.0, False, "ns/agent-step", "{:.2f} ns"),
        target(f"engine overhead (noop), {n} envs, 2 threads", ns(median("pufferlib", "noop", 2)),
               2.0, False, "ns/agent-step", "{:.2f} ns"),
        target(f"squared, {n} envs, 1 thread", mega(median("pufferlib", "squared", 1)),
               115, True, "M steps/s", "{:.1f}M steps/s"),
    ]


def targets_text(targets):
    """The targets section: one line per target with measured value, goal and PASS/FAIL."""
    lines = ["Targets (2-core development machine, 4096 envs):"]
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
    p.add_argument("--seconds", type=float, default=1.0, help="least duration of one run (default 1.0)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per case; the median is reported")
    p.add_argument("--num-envs", type=int, nargs="+", default=[1, 64, 4096], help="vector sizes")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                   help="thread counts (pufferlib, envpool)")
    p.add_argument("--full", action="store_true", help="also Gymnasium above 64 envs (slow to build)")
    p.add_argument("--json", default=os.path.join(HERE, "results", "env_steps.json"),
                   help="where to write every figure (default bench/results/env_steps.json)")
    p.add_argument("--skip", nargs="+", default=[], choices=REFERENCE_LIBRARIES,
                   help="reference libraries not to measure")
    args = p.parse_args(argv)
    if not 0 < args.seconds < float("inf") or min(args.runs, *args.num_envs, *args.threads) < 1:
        p.error("--seconds must be a finite number > 0, and --runs, --num-envs and --threads at least 1")
    return args


def measure(args, notes):
    """Measures every library not skipped, the reference first; returns the result rows."""
    sizes, threads = sorted(set(args.num_envs)), sorted(set(args.threads))
    timing = (args.seconds, args.runs)
    record = Recorder()
    if "c" not in args.skip:
        bench_reference(record, sizes, *timing, notes)
    bench_pufferlib(record, ["cartpole", "squared"], sizes, threads, *timing)
    bench_pufferlib(record, ["noop"], sizes[-1:], threads, *timing)
    if "pufferlib3" not in args.skip:
        bench_pufferlib3(record, sizes, *timing, notes)
    if "envpool" not in args.skip:
        bench_envpool(record, sizes, threads, *timing, notes)
    if "gymnasium" not in args.skip:
        bench_gymnasium(record, sizes, args.full, *timing, notes)
    notes += [f"{name} skipped (--skip)" for name in args.skip]
    notes += busy_notes(record.rows)
    return record.rows


def main(argv=None):
    """Measures, prints the table and the targets, and writes the JSON report."""
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
    rows = measure(args, notes)
    add_ratios(rows)
    targets = evaluate_targets(rows)
    machine["load_average_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(results_table(rows))
    print()
    print(targets_text(targets))
    for note in notes:
        print(f"Note: {note}")
    report = dict(machine=machine, settings=vars(args), seconds_elapsed=time.perf_counter() - start,
                  results=rows, targets=targets, notes=notes)
    write_json(args.json, report)
    print(f"\nWrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
