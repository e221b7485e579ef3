#!/usr/bin/env python3
"""Game training benchmark: time to each game's target level with its shipped config, beside the original.

What is measured, per game (TARGETS below: the metric, its level, the episodes it is averaged over)
    - pufferlib: `puffer train GAME` with the shipped config (pufferlib/train/configs/GAME.toml), one
      fresh process per seed; the time (seconds of training, from the start of train()) and the
      agent steps until the mean of the game's metric over the last `window` finished episodes first
      reaches the level (read from the run's metrics.jsonl, logged every 50 ms), and the training
      loop's agent steps per second. The run stops there (as Ctrl-C would), or at --max-seconds.
    - the original PufferLib 3.0.0: its CPU trainer on its game of the same name with its shipped
      settings (config/ocean/GAME.ini), through shared/tools/pufferlib3/train.py in its own venv
      (`--train.device cpu --vec.backend Serial --vec.num-envs 1`, OMP_NUM_THREADS=1, as that tool's
      README runs it on 2 cores); its level is its own statistic (its `perf` or `score`, see
      TARGETS), stopped by `--p3t-stop` (two consecutive dashboard logs at the level) or
      `--p3t-max-seconds`; its time is the trainer's uptime at the first of them.
    Every figure is a median over --seeds seeds (3); a seed that does not reach the level counts as
    slower than any that did (the table then shows "> cap"); every run's figures are in the JSON.

Output
    A Markdown table and the issue's budgets with PASS/FAIL on stdout, progress on stderr, every
    run as JSON in --json (default bench/results/games.json).

    PYTHONPATH=. python bench/games.py                              # every game built in: long
    PYTHONPATH=. python bench/games.py --games pong breakout --seeds 3
    PYTHONPATH=. python bench/games.py --games cartpole squared --quick   # a smoke run, 1 seed
"""
import argparse
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from envs import PUFFER3T_HOME, PUFFERLIB3, find_tool, original_environ  # noqa: E402
from train import solve_time_from_metrics  # noqa: E402

# Per game: `metric` (a metrics.jsonl key: "episode_return" or "env/<statistic>") whose mean over the
# last `window` finished episodes must reach `level` (the issue's level, or for "a level well above
# the scripted baseline" a multiple of the baseline its notes measured, in `basis`); `budget_s`: the
# issue's training budget (None: none). `original`: the original's statistic and level for
# --p3t-stop (level None: the same as ours; original None: it has no game of that name); `note`
# says how the two levels compare.
TARGETS = {
    "cartpole": dict(metric="episode_return", level=475.0, window=100, budget_s=None,
                     original=dict(stat="score", level=195.0),
                     note="its episodes end at 200 steps (ours 500): 195 is its 97.5%"),
    "squared": dict(metric="env/reached", level=0.95, window=100, budget_s=None,
                    original=dict(stat="perf", level=0.95),
                    note="perf: the fraction of episodes that reach the target"),
    "pong": dict(metric="env/point_rate", level=0.9, window=100, budget_s=60.0,
                 original=dict(stat="perf", level=0.9), note="perf: its fraction of points won"),
    "breakout": dict(metric="env/bricks", level=0.5, window=100, budget_s=300.0,
                     original=dict(stat="perf", level=0.5), note="perf: its points over the board's points"),
    "connect4": dict(metric="env/wins", level=0.7, window=100, budget_s=180.0,
                     original=dict(stat="perf", level=0.7),
                     note="wins against each one's own training opponent (ours: the shipped config's mix "
                     "of random, heuristic and minimax depth 2)"),
    "snake": dict(metric="env/length", level=21.4, basis="5x the random policy's mean length, 4.3",
                  window=100, budget_s=300.0,
                  original=dict(stat="score", level=None), note="its score is a snake's length; its level: "
                  "the same length as ours"),
    "tetris": dict(metric="env/lines", level=25.1, basis="1.2x the scripted player's 20.9 lines", window=100,
                   budget_s=300.0,
                   original=dict(stat="lines_deleted", level=None), note="lines per game: the same level"),
    "gather": dict(metric="env/delivered", level=9.0, basis="1.2x the scripted player's 7.5", window=100,
                   budget_s=300.0, original=None),
    "lander": dict(metric="env/landed", level=0.9, window=100, budget_s=300.0, original=None),
    "g2048": dict(metric="env/score", level=5046.0, basis="2x the scripted player's 2523", window=100,
                  budget_s=300.0, original=None),
}


# -- children: each run in a fresh process ---------------------------------------------------------

def child_puffer(job):
    """One pufferlib training run with the shipped config, stopped at the level or at max_seconds."""
    import pufferlib.train as T
    from pufferlib.train import load_config
    from pufferlib.train.logger import read_metrics
    config = load_config(job["game"])
    config.train.seed = job["seed"]
    config.log.interval = 0.05  # fine-grained intervals so the episode window is exact enough
    with tempfile.TemporaryDirectory(prefix="pufferlib-games-") as data, \
            T.Trainer(job["game"], config, data_dir=data, dashboard=False, stream=io.StringIO()) as trainer:
        log = trainer.logger.log
        seen = []

        def log_and_check(metrics):
            """Logs, then asks the loop to stop once the level is reached or the time is up."""
            log(metrics)
            seen.append(metrics)
            reached = solve_time_from_metrics(seen, job["metric"], job["level"], job["window"])[0]
            if reached is not None or metrics["time_s"] >= job["max_seconds"]:
                trainer.stop.request(signal.SIGINT)

        trainer.logger.log = log_and_check
        summary = trainer.train()
        metrics = read_metrics(summary["run_dir"])
    seconds, steps = solve_time_from_metrics(metrics, job["metric"], job["level"], job["window"])
    last = metrics[-1]
    return {"seconds": seconds, "steps": steps, "sps": last["global_step"] / last["time_s"],
            "train_s": last["time_s"], "total_steps": last["global_step"], "final": last.get(job["metric"])}


CHILDREN = {"puffer": child_puffer}


def run_child(job, timeout):
    """Runs CHILDREN[job['kind']](job) in a fresh Python process; returns its JSON result."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(job)],
                         capture_output=True, text=True, timeout=timeout, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{job['kind']} {job['game']} seed {job.get('seed')} failed:\n"
                           f"{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_original(game, stat, level, seed, max_seconds, notes):
    """One run of the original's CPU trainer on its game; its time, steps to the level and steps/s."""
    python = os.path.join(PUFFER3T_HOME, "venv", "bin", "python")
    script = find_tool("train.py", "PUFFER3T_TRAIN")
    if not os.path.exists(python) or script is None:
        notes.add(f"{PUFFERLIB3} skipped: not built under {PUFFER3T_HOME} or its train.py not found "
                  "(run shared/tools/pufferlib3/build_games.sh)")
        return None
    with tempfile.TemporaryDirectory(prefix="pufferlib-games-") as workdir:
        out = os.path.join(workdir, "train.jsonl")
        cmd = [python, script, f"puffer_{game}", "--train.device", "cpu", "--vec.backend", "Serial",
               "--vec.num-envs", "1", "--train.seed", str(seed), "--p3t-max-seconds", str(max_seconds),
               "--p3t-out", out]
        if level is not None:
            cmd += ["--p3t-stop", f"{stat}>={level}"]
        env = dict(original_environ(), OMP_NUM_THREADS="1")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=max_seconds + 600,
                                  cwd=workdir)
        except subprocess.TimeoutExpired:
            notes.add(f"{PUFFERLIB3} {game} seed {seed}: timed out")
            return None
        records = []
        if os.path.exists(out):
            with open(out) as f:
                records = [json.loads(line) for line in f if line.strip()]
    end = next((r for r in records if r.get("kind") == "end"), None)
    if end is None or end.get("error"):
        notes.add(f"{PUFFERLIB3} {game} seed {seed} failed: "
                  f"{(end or {}).get('error') or proc.stderr.strip()[-300:]}")
        return None
    logs = [r for r in records if r.get("kind") == "log"]
    hit = end.get("threshold_first_hit")
    return {"seconds": hit["uptime"] if hit else None, "steps": hit["agent_steps"] if hit else None,
            "sps": end.get("mean_SPS"), "train_s": end.get("last_uptime"),
            "total_steps": end.get("last_agent_steps"),
            "final": logs[-1].get(f"environment/{stat}") if logs else None, "reason": end.get("reason")}


# -- the table ---------------------------------------------------------------------------------------

def median_or_cap(runs, key, cap):
    """The median of `key` over runs, a run that never reached the level counting as `cap`;
    (value, reached count); value is None when no run reached it."""
    values = [r[key] for r in runs if r and r.get(key) is not None]
    if not values:
        return None, 0
    padded = values + [float("inf")] * (len(runs) - len(values))
    m = statistics.median(padded)
    return (m if m != float("inf") else None), len(values)


def cell_time(value, reached, seeds, cap):
    """'12.3 s (3/3)', or '> cap' when the median run did not reach the level."""
    if value is None:
        return f"> {cap:.0f} s ({reached}/{seeds})"
    return f"{value:.1f} s ({reached}/{seeds})"


def summarise(game, ours, theirs, seeds, cap):
    """One game's medians over seeds."""
    entry = {"game": game}
    for side, runs in (("pufferlib", ours), ("original", theirs)):
        runs = [r for r in runs if r is not None]
        seconds, reached = median_or_cap(runs, "seconds", cap) if runs else (None, 0)
        steps, _ = median_or_cap(runs, "steps", cap) if runs else (None, 0)
        rates = [r["sps"] for r in runs if r.get("sps")]
        sps = statistics.median(rates) if rates else None
        entry[side] = dict(seconds=seconds, steps=steps, sps=sps, reached=reached, runs=len(runs))
    a, b = entry["pufferlib"]["seconds"], entry["original"]["seconds"]
    entry["speedup"] = b / a if a and b else None
    # the original ran and missed the level: it took longer than the cap, so at least cap / ours
    entry["speedup_at_least"] = cap / a if a and b is None and entry["original"]["runs"] else None
    return entry


def table(summaries):
    """The Markdown table."""
    from envs import human, markdown_table
    header = ["game", "level", "pufferlib: time (seeds)", "steps", "steps/s", "3.0.0: time (seeds)", "steps",
              "steps/s", "time ratio"]
    cells = []
    for s in summaries:
        row = [s["game"], s["level_text"]]
        for side in ("pufferlib", "original"):
            e = s[side]
            if not e["runs"]:
                row += ["not run", "", ""]
                continue
            row += [cell_time(e["seconds"], e["reached"], e["runs"], s["cap_s"]),
                    human(e["steps"]) if e["steps"] else "", human(e["sps"]) if e["sps"] else ""]
        row.append(f"{s['speedup']:.1f}x" if s["speedup"] else
                   f"> {s['speedup_at_least']:.1f}x" if s["speedup_at_least"] else "")
        cells.append(row)
    return markdown_table(header, cells, right_from=2)


# -- main --------------------------------------------------------------------------------------------

def check_targets(games):
    """Each game's metric must be a statistic it reports."""
    from pufferlib.envs import env_def
    for game in games:
        metric = TARGETS[game]["metric"]
        if metric.startswith("env/") and metric[4:] not in env_def(game).stat_names:
            raise SystemExit(f"bench/games.py: TARGETS[{game!r}] uses {metric!r}, but {game} reports "
                             f"{', '.join(env_def(game).stat_names) or 'no statistics'}; fix TARGETS")


def parse_args(argv=None):
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--games", nargs="+", default=None,
                   help="games (default: every game of TARGETS built into pufferlib, but cartpole and "
                        "squared)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per game and side (default 3)")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="stop a run that has not reached the level after this long (default: 2x the game's "
                        "budget, or 300 s)")
    p.add_argument("--skip-original", action="store_true", help="pufferlib only")
    p.add_argument("--quick", action="store_true", help="a smoke run: 1 seed, runs capped at 60 s")
    p.add_argument("--json", default=os.path.join(HERE, "results", "games.json"),
                   help="where to write every run (default bench/results/games.json)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.seeds = 1
        args.max_seconds = args.max_seconds or 60.0
    if args.seeds < 1:
        p.error(f"--seeds must be at least 1, got {args.seeds}")
    return args


def main(argv=None):
    """Trains every game on both sides, prints the table and writes the JSON."""
    args = parse_args(argv)
    if args.child:
        job = json.loads(args.child)
        print(json.dumps(CHILDREN[job["kind"]](job)))
        return
    import pufferlib.envs
    built = set(pufferlib.envs.list_envs())
    games = args.games or [g for g in TARGETS if g in built and g not in ("cartpole", "squared")]
    notes = set()
    unknown = [g for g in games if g not in TARGETS or g not in built]
    for g in unknown:
        notes.add(f"{g} skipped: " + ("not built into this pufferlib" if g not in built else
                                      "no target in bench/games.py's TARGETS"))
    games = [g for g in games if g not in unknown]
    check_targets(games)
    print(f"games: {', '.join(games)}; load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    runs, summaries, start = [], [], time.perf_counter()
    for game in games:
        spec = TARGETS[game]
        cap = args.max_seconds or 2 * (spec["budget_s"] or 150.0)
        level = spec["level"]
        level_text = f"{spec['metric']} >= {level:g}" + (f" ({spec['basis']})" if spec.get("basis") else "")
        original = spec.get("original")
        their_level = original and (original["level"] if original["level"] is not None else level)
        ours, theirs = [], []
        for seed in range(args.seeds):
            job = dict(kind="puffer", game=game, seed=seed, metric=spec["metric"], level=level,
                       window=spec["window"], max_seconds=cap)
            r = run_child(job, timeout=cap + 900)
            print(f"  {game} seed {seed} pufferlib: {r}", file=sys.stderr, flush=True)
            ours.append(r)
            runs.append(dict(game=game, side="pufferlib", seed=seed, **r))
            if original and not args.skip_original:
                o = run_original(game, original["stat"], their_level, seed, cap, notes)
                print(f"  {game} seed {seed} {PUFFERLIB3}: {o}", file=sys.stderr, flush=True)
                theirs.append(o)
                if o is not None:
                    runs.append(dict(game=game, side="original", seed=seed, **o))
        s = summarise(game, ours, theirs, args.seeds, cap)
        s.update(level=level, level_text=level_text, budget_s=spec["budget_s"], cap_s=cap,
                 note=spec.get("note"),
                 original_level=f"{original['stat']} >= {their_level:g}" if original else None)
        summaries.append(s)
    print(table(summaries))
    print()
    for s in summaries:
        seconds, budget = s["pufferlib"]["seconds"], s["budget_s"]
        if budget is not None:
            verdict = "PASS" if seconds is not None and seconds <= budget else "FAIL"
            shown = f"{seconds:.1f} s" if seconds is not None else "not reached"
            print(f"- {s['game']}: {s['level_text']} in {shown} (budget <= {budget:g} s) {verdict}")
        if s.get("original_level"):
            print(f"  the original's level: {s['original_level']} ({s['note']})")
    for note in sorted(notes):
        print(f"Note: {note}")
    report = dict(settings=vars(args), load_average=os.getloadavg(),
                  seconds_elapsed=time.perf_counter() - start,
                  targets={g: TARGETS[g] for g in games}, summaries=summaries, runs=runs, notes=sorted(notes))
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"\nWrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
