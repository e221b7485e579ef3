#!/usr/bin/env python3
"""Training benchmark: time to solve CartPole, a 1M-step run end to end, and training throughput.

What is measured (2-core CPU machine unless a GPU is given with --device cuda)
    - Time to solve CartPole-v1: wall-clock from the start of training until the mean return of the
      last 100 finished episodes first reaches 475. pufferlib: `puffer train cartpole` with its
      shipped defaults (the C CartPole, the C kernel learner). stable-baselines3: PPO with the
      rl-zoo CartPole-v1 settings (8 envs, n_steps 32, batch 256, gae_lambda 0.8, gamma 0.98,
      20 epochs, linear lr 1e-3 and clip 0.2, ent_coef 0) on Gymnasium's CartPole-v1, clocked the
      same way from the start of learn(). Each seed runs in a fresh process; medians over --seeds.
      Target: pufferlib <= 0.1x stable-baselines3's time.
    - `puffer train cartpole --timesteps 1000000`, from process start to exit (wall-clock of the
      subprocess, imports and run directory included). Target: <= 8 s on 2 CPU cores.
    - Training throughput (cartpole, default MLP): agent steps per second of the training loop of
      those 1M-step runs (rollouts and updates; no imports). Target: >= 300k steps/s on CPU.

Output
    A Markdown table with ratios and the targets (PASS/FAIL) on stdout; every run as JSON in --json
    (default bench/results/train.json).

    PYTHONPATH=. python bench/train.py              # ~2 minutes on 2 cores
    PYTHONPATH=. python bench/train.py --seeds 1 --no-sb3
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SOLVED = 475.0
WINDOW = 100


def solve_time_from_metrics(metrics):
    """(seconds, steps) when the mean of the last 100 episodes first reached 475, from metrics.jsonl
    intervals (each: episodes finished in it and their mean return), or (None, None)."""
    window = deque()  # (count, mean) of recent intervals, newest last
    for m in metrics:
        if not m.get("episodes"):
            continue
        window.append((m["episodes"], m["episode_return"]))
        while sum(c for c, _ in window) - window[0][0] >= WINDOW:
            window.popleft()
        total = sum(c for c, _ in window)
        if total < WINDOW:
            continue
        # the oldest interval contributes only the episodes the window still needs (at its mean)
        extra = total - WINDOW
        mean = sum(c * r for c, r in window) - extra * window[0][1]
        if mean / WINDOW >= SOLVED:
            return m["time_s"], m["global_step"]
    return None, None


PUFFER_SOLVE = """
import io, json, sys
import pufferlib.train as T
from pufferlib.train.logger import read_metrics
sys.path.insert(0, {here!r})
from train import solve_time_from_metrics
config = T.load_config("cartpole")
config.train.seed = {seed}
config.train.device = {device!r}
config.log.interval = 0.01   # fine-grained intervals so the 100-episode window is exact enough
with T.Trainer("cartpole", config, data_dir={data!r}, dashboard=False, stream=io.StringIO()) as trainer:
    summary = trainer.train()
seconds, steps = solve_time_from_metrics(read_metrics(summary["run_dir"]))
print(json.dumps({{"seconds": seconds, "steps": steps, "total_s": summary["time_s"]}}))
"""

SB3_SOLVE = """
import json, time
import gymnasium, torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
torch.set_num_threads(1)

def linear(start):
    return lambda progress: progress * start

class Solved(BaseCallback):
    def _on_training_start(self):
        self.start = time.perf_counter()
        self.seconds = None
    def _on_step(self):
        buffer = self.model.ep_info_buffer
        if len(buffer) == 100 and sum(e["r"] for e in buffer) / 100 >= 475:
            self.seconds = time.perf_counter() - self.start
            return False
        return True

env = make_vec_env("CartPole-v1", n_envs=8, seed={seed})
model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
            ent_coef=0.0, learning_rate=linear(1e-3), clip_range=linear(0.2), seed={seed}, device="cpu")
callback = Solved()
model.learn(total_timesteps=300_000, callback=callback)
print(json.dumps({{"seconds": callback.seconds, "steps": model.num_timesteps}}))
"""


def run_python(code, timeout=600):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                         env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def puffer_1m(data, device):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "pufferlib.cli", "train", "cartpole",
                          "--timesteps", "1000000", "--data-dir", data, "--device", device],
                         capture_output=True, text=True, env=env, timeout=600)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    sys.path.insert(0, ROOT)
    from pufferlib.train.logger import read_metrics
    run = max((os.path.join(data, d) for d in os.listdir(data)), key=os.path.getmtime)
    metrics = read_metrics(run)
    steps = metrics[-1]["global_step"]
    return {"wall_s": wall, "train_s": metrics[-1]["time_s"], "sps": steps / metrics[-1]["time_s"],
            "final_return": metrics[-1]["episode_return"]}


def fmt(x, unit="s"):
    return "n/a" if x is None else f"{x:.2f} {unit}"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--runs-1m", type=int, default=3, help="1M-step runs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-sb3", action="store_true", help="skip stable-baselines3")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "train.json"))
    args = parser.parse_args()
    results = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                           "platform": platform.platform()}, "device": args.device}

    with tempfile.TemporaryDirectory() as data:
        puffer = [run_python(PUFFER_SOLVE.format(here=HERE, seed=s, device=args.device, data=data))
                  for s in range(args.seeds)]
        sb3 = [] if args.no_sb3 else [run_python(SB3_SOLVE.format(seed=s)) for s in range(args.seeds)]
        runs_1m = [puffer_1m(data, args.device) for _ in range(args.runs_1m)]
    results.update(puffer_solve=puffer, sb3_solve=sb3, puffer_1m=runs_1m)

    def median(rows, key):
        values = [r[key] for r in rows if r.get(key) is not None]
        return statistics.median(values) if values else None

    p_solve, s_solve = median(puffer, "seconds"), median(sb3, "seconds")
    wall, sps = median(runs_1m, "wall_s"), median(runs_1m, "sps")
    ratio = p_solve / s_solve if p_solve and s_solve else None
    results["summary"] = {"puffer_solve_s": p_solve, "sb3_solve_s": s_solve, "ratio": ratio,
                          "puffer_1m_wall_s": wall, "train_sps": sps}
    print("| measure | pufferlib | stable-baselines3 | ratio | target |")
    print("|---|---:|---:|---:|---|")
    unsolved = sum(r["seconds"] is None for r in puffer)
    note = f", {unsolved} unsolved" if unsolved else ""
    print(f"| time to solve CartPole-v1 (median of {args.seeds} seeds{note})"
          f" | {fmt(p_solve)} ({', '.join(fmt(r['seconds']) for r in puffer)}) | {fmt(s_solve)}"
          f"{' (' + ', '.join(fmt(r['seconds']) for r in sb3) + ')' if sb3 else ''} | "
          f"{'n/a' if ratio is None else f'{ratio:.3f}x'} | <= 0.1x: "
          f"{'n/a' if ratio is None else ('PASS' if ratio <= 0.1 else 'FAIL')} |")
    print(f"| env steps to solve (median) | {median(puffer, 'steps') or 'n/a'} | "
          f"{median(sb3, 'steps') or 'n/a'} | | |")
    print(f"| `puffer train cartpole --timesteps 1000000`, process start to exit "
          f"(median of {args.runs_1m}) | "
          f"{fmt(wall)} ({', '.join(fmt(r['wall_s']) for r in runs_1m)}) | | | <= 8 s: "
          f"{'PASS' if wall <= 8 else 'FAIL'} |")
    print(f"| training throughput, cartpole, default MLP ({args.device}) | {sps / 1e3:.0f}k steps/s | | | "
          f">= 300k: {'PASS' if sps >= 300e3 else 'FAIL'} |")
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
