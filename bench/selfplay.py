#!/usr/bin/env python3
"""Self-play benchmark: games learned only by self-play, and what self-play costs per step.

What is measured (the targets of the self-play issue, on the 2-core machine)
    - connect4: `puffer train connect4 --selfplay.enabled true` plus the league settings of
      CONNECT4 below, for up to --c4-seconds of training, a checkpoint every --c4-every seconds. No
      scripted opponent plays during training: the pool holds the learner's snapshots only. After
      training, every checkpoint plays --games games (greedy, legal moves) against random play and
      against the depth-2 minimax opponent, as first and as second player (the game's one-seat
      mode, `opponent` 0 and 2, `first` 0 and 1). Reported: the training time of the first
      checkpoint at >= 99% wins against random and >= 80% against minimax on both seats, and the
      last checkpoint's four win rates.
    - pong: `puffer train pong --selfplay.enabled true` (the shipped network), for up to
      --pong-seconds, a checkpoint every --pong-every seconds; each checkpoint then plays --games
      21-point games against the default scripted paddle (skill 0.7, the one-seat mode) and its
      fraction of the points is read. Reported: the first checkpoint at >= 90% of the points.
    - steps/s with self-play on and off, the same env (the game's two-seat mode) and network:
      off, the learner plays both seats (plain shared-policy self-play); on, one seat against the
      default league (a snapshot every 10 updates, 8 in the pool, PFSP, 8 in play). Steps are
      agent steps, every seat counted, as the trainer counts them; the learner's own rows are half
      of them when on. --runs runs of --sps-steps each, alternating off and on; medians.
    The original PufferLib's self-play is GPU-only (its 3.0 release, the one that runs on a CPU,
    has none), so there is no same-machine comparison with it here.

Output
    Markdown tables and the targets with PASS/FAIL on stdout, progress on stderr, everything as JSON
    in --json (default bench/results/selfplay.json).

    PYTHONPATH=. python bench/selfplay.py                       # all three: about 20 minutes
    PYTHONPATH=. python bench/selfplay.py --sections sps --runs 3
    PYTHONPATH=. python bench/selfplay.py --quick               # a smoke run
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))

# The connect4 run: pufferlib/train/configs/connect4.toml (its [selfplay] section: 32 snapshots, one
# every 25 updates) with the self-play settings docs/selfplay.md gives: more entropy (diverse games),
# a narrower network (twice the steps/s), games from 0-2 random opening moves.
CONNECT4 = {"selfplay": {"enabled": True}, "train": {"ent_coef": 0.1}, "policy": {"hidden_size": 128},
            "env": {"openings": 2}}
PONG = {"selfplay": {"enabled": True}}   # the shipped config as it is
SPS = {"selfplay": {}}   # the default league: 8 snapshots, one every 10 updates, pfsp, 8 in play


def log(text):
    print(text, file=sys.stderr, flush=True)


def train(env, overrides, seconds, every, data_dir):
    """Trains for `seconds` of training time with a checkpoint every `every` seconds; returns the run."""
    from pufferlib.train import Trainer, load_config

    config = load_config(env)
    config.update({"train": {"total_timesteps": 10**12},
                   "log": {"interval": 5.0, "checkpoint_interval": every}})
    config.update(overrides)
    with open(os.devnull, "w") as quiet, \
            Trainer(env, config, data_dir=data_dir, dashboard=False, stream=quiet) as trainer:
        summary = trainer.train(on_log=lambda metrics: metrics["time_s"] >= seconds)
        return {"run_dir": str(trainer.run_dir), "time_s": summary["time_s"],
                "global_step": summary["global_step"], "metrics": summary["metrics"]}


def one_seat(checkpoint, env, games, seed=123, **params):
    """The means of the game's statistics over `games` greedy games of its one-seat mode."""
    import pufferlib
    from pufferlib.environment import EpisodeStats
    from pufferlib.train.checkpoint import load_policy
    from pufferlib.train.config import Config
    from pufferlib.train.kernel import make_learner

    policy, data = load_policy(checkpoint)
    learner = make_learner(policy, Config.from_dict(data["config"]).train, torch.device("cpu"), seed=seed)
    generator = torch.Generator().manual_seed(seed)
    num_envs = min(games, 128)
    stats = EpisodeStats()
    with pufferlib.make(env, num_envs=num_envs, seed=seed, **params) as vecenv:
        obs, _ = vecenv.reset(seed=seed)
        state = policy.initial_state(num_envs) if policy.recurrent else None
        starts = np.ones(num_envs, bool)
        while stats.means().get("episodes", 0) < games:
            actions, _, _, _, state = learner.act(obs, state, starts, generator, True,
                                                  action_masks=vecenv.action_masks)
            obs, _, terminals, truncations, infos = vecenv.step(np.asarray(actions))
            starts = terminals | truncations
            stats.merge(infos)
    return stats.means()


def checkpoints(run_dir):
    """(training seconds, path) of a run's checkpoints, oldest first."""
    from pufferlib.train.checkpoint import list_checkpoints

    return [(float(torch.load(p, weights_only=True)["elapsed"]), str(p)) for p in list_checkpoints(run_dir)]


def bench_connect4(args, data_dir):
    log(f"connect4: self-play for {args.c4_seconds:g} s ...")
    run = train("connect4", CONNECT4, args.c4_seconds, args.c4_every, data_dir)
    rows = []
    for seconds, path in checkpoints(run["run_dir"]):
        rates = {f"{name}_{seat}": one_seat(path, "connect4", args.games, opponent=opponent, depth=2,
                                            first=first)["wins"]
                 for name, opponent in (("random", 0), ("minimax2", 2))
                 for seat, first in (("first", 0), ("second", 1))}
        rows.append({"time_s": seconds, "checkpoint": path, **rates})
        log(f"  {seconds:6.0f} s  " + "  ".join(f"{k} {v:.3f}" for k, v in rates.items()))
    reached = [r for r in rows if min(r["random_first"], r["random_second"]) >= 0.99
               and min(r["minimax2_first"], r["minimax2_second"]) >= 0.80]
    league = None
    if args.league_games:
        log("connect4: round robin of the checkpoints, random and scripted ...")
        from pufferlib.train.selfplay.match import round_robin

        players = [r["checkpoint"] for r in rows] + ["random", "scripted"]
        league = round_robin("connect4", players, games=args.league_games)
        if args.plot:
            plot_league(run, rows, league, args.plot)
    return {"run": run, "checkpoints": rows, "first_at_target": reached[0] if reached else None,
            "league": league}


def plot_league(run, rows, league, path):
    """The connect4 league's picture: fitted ratings of the checkpoints, and the in-training Elo."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from pufferlib.train.logger import read_metrics

    rating = {row["player"]: row["rating"] for row in league}
    figure = Figure(figsize=(11, 4), dpi=100)
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    left.plot([r["time_s"] for r in rows], [rating[r["checkpoint"]] for r in rows], marker="o",
              label="checkpoints of the self-play run")
    for name, style in (("random", ":"), ("scripted", "--")):
        left.axhline(rating[name], linestyle=style, color="grey", label=name)
    left.set(title="puffer league: ratings fitted to a round robin", xlabel="seconds of training",
             ylabel="Elo (mean 1000)")
    left.legend(fontsize=8)
    records = [r for r in read_metrics(run["run_dir"]) if "selfplay/elo" in r]
    right.plot([r["time_s"] for r in records], [r["selfplay/elo"] for r in records], label="learner")
    right.plot([r["time_s"] for r in records], [r["selfplay/pool_elo"] for r in records], label="pool (mean)")
    right.set(title="during training: the learner's and the pool's Elo", xlabel="seconds of training")
    right.legend(fontsize=8)
    for axes in (left, right):
        axes.grid(alpha=0.3)
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.9, wspace=0.2)
    figure.savefig(path)
    log(f"wrote {path}")


def bench_pong(args, data_dir):
    log(f"pong: self-play for {args.pong_seconds:g} s ...")
    run = train("pong", PONG, args.pong_seconds, args.pong_every, data_dir)
    rows = []
    for seconds, path in checkpoints(run["run_dir"]):
        rate = one_seat(path, "pong", args.pong_games, skill=0.7)["point_rate"]
        rows.append({"time_s": seconds, "checkpoint": path, "point_rate": rate})
        log(f"  {seconds:6.0f} s  point_rate {rate:.3f}")
    reached = [r for r in rows if r["point_rate"] >= 0.90]
    return {"run": run, "checkpoints": rows, "first_at_target": reached[0] if reached else None}


def sps_run(env, selfplay, steps, data_dir):
    """Agent steps per second of training (the whole loop) with self-play on or off."""
    from pufferlib.train import Trainer, load_config

    config = load_config(env)
    config.update({"env": {"self_play": 1}, "train": {"total_timesteps": steps}, "log": {"interval": 1e9},
                   "selfplay": {"enabled": selfplay, **SPS["selfplay"]}})
    with open(os.devnull, "w") as quiet, \
            Trainer(env, config, data_dir=data_dir, dashboard=False, stream=quiet) as trainer:
        summary = trainer.train()
        return summary["global_step"] / summary["time_s"], trainer.rows


def bench_sps(args, data_dir):
    result = {}
    for env in args.sps_envs:
        runs = {"off": [], "on": []}
        for k in range(args.runs):
            for mode in ("off", "on"):
                sps, rows = sps_run(env, mode == "on", args.sps_steps, data_dir)
                runs[mode].append(sps)
                log(f"{env} self-play {mode} run {k + 1}: {sps:,.0f} agent steps/s ({rows} learner rows)")
        off, on = statistics.median(runs["off"]), statistics.median(runs["on"])
        result[env] = {"off": runs["off"], "on": runs["on"], "median_off": off, "median_on": on,
                       "ratio": on / off}
    return result


def report(results, args):
    lines = []
    if results.get("connect4", {}).get("league"):
        lines += ["", "connect4 league (puffer league: every pair plays "
                  f"{args.league_games} games per seat; ratings fitted to all the results):", "",
                  "| player | Elo | games | wins | draws | losses |", "|---|---:|---:|---:|---:|---:|"]
        for row in results["connect4"]["league"]:
            name = os.path.basename(row["player"])
            lines.append(f"| {name} | {row['rating']:.0f} | {row['games']} | {row['wins']} | "
                         f"{row['draws']} | {row['losses']} |")
    if "connect4" in results:
        c4 = results["connect4"]
        lines += ["", f"connect4, self-play only ({c4['run']['global_step']:,} agent steps in "
                  f"{c4['run']['time_s']:.0f} s); greedy wins over {args.games} games per seat:", "",
                  "| training s | vs random, first | vs random, second | vs minimax 2, first "
                  "| vs minimax 2, second |",
                  "|---:|---:|---:|---:|---:|"]
        for r in c4["checkpoints"]:
            lines.append(f"| {r['time_s']:.0f} | {r['random_first']:.3f} | {r['random_second']:.3f} | "
                         f"{r['minimax2_first']:.3f} | {r['minimax2_second']:.3f} |")
    if "pong" in results:
        pong = results["pong"]
        lines += ["", f"pong, self-play only ({pong['run']['global_step']:,} agent steps in "
                  f"{pong['run']['time_s']:.0f} s); points won against the default scripted paddle over "
                  f"{args.pong_games} games:", "", "| training s | point rate |", "|---:|---:|"]
        lines += [f"| {r['time_s']:.0f} | {r['point_rate']:.3f} |" for r in pong["checkpoints"]]
    if "sps" in results:
        lines += ["", f"training agent steps/s, self-play off / on (median of {args.runs} runs of "
                  f"{args.sps_steps:,} steps):", "", "| env | off | on | on / off |", "|---|---:|---:|---:|"]
        for env, r in results["sps"].items():
            lines.append(f"| {env} | {r['median_off']:,.0f} | {r['median_on']:,.0f} | {r['ratio']:.2f}x |")
    lines += ["", "targets:"]
    if "connect4" in results:
        hit = results["connect4"]["first_at_target"]
        ok = hit is not None and hit["time_s"] <= 600
        lines.append(f"  connect4 >= 99% vs random and >= 80% vs minimax 2, both seats, within 600 s: "
                     f"{'PASS at %.0f s' % hit['time_s'] if ok else 'FAIL'}")
    if "pong" in results:
        hit = results["pong"]["first_at_target"]
        ok = hit is not None and hit["time_s"] <= 300
        lines.append(f"  pong >= 90% of the points vs the scripted paddle within 300 s: "
                     f"{'PASS at %.0f s' % hit['time_s'] if ok else 'FAIL'}")
    for env, r in results.get("sps", {}).items():
        lines.append(f"  {env} steps/s on / off >= 0.8x: {'PASS' if r['ratio'] >= 0.8 else 'FAIL'} "
                     f"({r['ratio']:.2f}x)")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sections", nargs="+", default=["connect4", "pong", "sps"],
                   choices=["connect4", "pong", "sps"])
    p.add_argument("--c4-seconds", type=float, default=600.0)
    p.add_argument("--c4-every", type=float, default=60.0)
    p.add_argument("--pong-seconds", type=float, default=300.0)
    p.add_argument("--pong-every", type=float, default=30.0)
    p.add_argument("--games", type=int, default=512, help="connect4 games per opponent and seat")
    p.add_argument("--pong-games", type=int, default=64, help="pong games per checkpoint")
    p.add_argument("--sps-envs", nargs="+", default=["pong", "connect4"])
    p.add_argument("--league-games", type=int, default=50,
                   help="connect4 round robin of the checkpoints: games per pairing and seat (0: none)")
    p.add_argument("--plot", help="write the connect4 league's picture there (a .png)")
    p.add_argument("--sps-steps", type=int, default=3_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="tiny budgets: checks the script runs")
    p.add_argument("--json", default=os.path.join(HERE, "results", "selfplay.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.c4_seconds, args.c4_every, args.pong_seconds, args.pong_every = 6, 3, 6, 3
        args.games, args.pong_games, args.sps_steps, args.runs, args.league_games = 16, 4, 200_000, 1, 4
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1)
    started = time.time()
    results = {}
    with tempfile.TemporaryDirectory() as data_dir:
        if "connect4" in args.sections:
            results["connect4"] = bench_connect4(args, data_dir)
        if "pong" in args.sections:
            results["pong"] = bench_pong(args, data_dir)
        if "sps" in args.sections:
            results["sps"] = bench_sps(args, data_dir)
    text = report(results, args)
    print(text)
    load = os.getloadavg()
    results["machine"] = {"cores": os.cpu_count(), "loadavg_at_end": load, "seconds": time.time() - started}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2)
    log(f"\nWrote {args.json} (load average at the end {load[0]:.1f})")


if __name__ == "__main__":
    main()
