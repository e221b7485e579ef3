#!/usr/bin/env python3
"""Does `import pufferlib` slow down other libraries? stable-baselines3 PPO with and without it.

What is measured
    The seconds stable-baselines3 takes to train PPO ("MlpPolicy", CartPole-v1, CPU, its default
    hyperparameters, a fixed seed) for --timesteps steps: the `learn()` call only, in a fresh Python
    process per run, in these cases:

    - `sb3 alone`: stable-baselines3 (and so torch) imported, nothing of pufferlib;
    - `import pufferlib first`: `import pufferlib` before stable-baselines3 (before pufferlib
      stepped on its own threads, this import loaded the OpenMP runtime torch then used);
    - `pufferlib stepped first`: as above, and 4096 pufferlib cartpoles stepped 200 times on 2
      threads before training, the vector env left open (the engine's threads exist and idle
      during training);
    - `GOMP_SPINCOUNT=30000 exported` (with --old): what `import pufferlib` used to leave in
      os.environ, for every later library and child process to read.

    The cases alternate run by run (ABCABC...), so a change in the machine's load touches all of
    them alike. Each child also reports whether GOMP_SPINCOUNT is in its environment after the
    imports.

Output
    A Markdown table (case, median seconds, runs, ratio to `sb3 alone`) on stdout, with the load
    average before and after; every run and the machine as JSON in --json (default
    bench/results/sb3_import.json).

Run it from the repository root, on the tree that was built in place:

    PYTHONPATH=. python bench/sb3_import.py --old           # ~3 minutes on 2 cores
    PYTHONPATH=. python bench/sb3_import.py --timesteps 2048 --runs 1     # a smoke run
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from envs import machine_info, write_json  # noqa: E402

# The child: optional pufferlib work, then stable-baselines3 training, timed; one JSON line out.
CHILD = """
import json, os, sys, time
case = sys.argv[1]
timesteps = int(sys.argv[2])
if case in ("import pufferlib first", "pufferlib stepped first"):
    import pufferlib
if case == "pufferlib stepped first":
    import numpy as np
    env = pufferlib.make("cartpole", num_envs=4096, num_threads=2)   # open until the end
    env.reset(seed=0)
    actions = np.zeros(env.num_agents, np.int32)
    for _ in range(200):
        env.step(actions)
import torch
from stable_baselines3 import PPO
model = PPO("MlpPolicy", "CartPole-v1", seed=0, device="cpu", verbose=0)
start = time.perf_counter()
model.learn(total_timesteps=timesteps)
seconds = time.perf_counter() - start
print(json.dumps(dict(case=case, seconds=seconds, torch_threads=torch.get_num_threads(),
                      gomp_spincount=os.environ.get("GOMP_SPINCOUNT"))))
"""

CASES = ("sb3 alone", "import pufferlib first", "pufferlib stepped first")
OLD = "GOMP_SPINCOUNT=30000 exported"


def run_case(case, timesteps):
    """One training run in a fresh process; returns its JSON record."""
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    if case == OLD:
        env["GOMP_SPINCOUNT"] = "30000"
    result = subprocess.run([sys.executable, "-c", CHILD, case, str(timesteps)], capture_output=True,
                            text=True, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"the {case!r} run failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=4096,
                        help="PPO training steps per run (2048 per rollout, then 10 epochs of updates)")
    parser.add_argument("--runs", type=int, default=3, help="runs per case")
    parser.add_argument("--old", action="store_true", help=f"add the case {OLD!r}")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "sb3_import.json"))
    args = parser.parse_args(argv)
    cases = CASES + ((OLD,) if args.old else ())
    machine = machine_info()
    print(f"{len(cases)} cases x {args.runs} runs of {args.timesteps} PPO steps; "
          f"load {machine['load_average']}", file=sys.stderr)
    records = []
    for run in range(args.runs):
        for case in cases:
            record = run_case(case, args.timesteps)
            records.append(record)
            print(f"  run {run + 1}: {case:32s} {record['seconds']:.2f} s", file=sys.stderr, flush=True)
    machine["load_average_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None

    medians = {case: statistics.median(r["seconds"] for r in records if r["case"] == case) for case in cases}
    base = medians["sb3 alone"]
    print(f"stable-baselines3 PPO, CartPole-v1, {args.timesteps} steps on the CPU, median of {args.runs} "
          f"runs (load average {machine['load_average'][0]:.2f} before, "
          f"{machine['load_average_after'][0]:.2f} after)\n")
    print("| case | median s | runs (s) | / sb3 alone | GOMP_SPINCOUNT seen |\n|---|---:|---|---:|---|")
    for case in cases:
        runs = [r for r in records if r["case"] == case]
        seen = ", ".join(sorted({str(r["gomp_spincount"]) for r in runs}))
        times = ", ".join(f"{r['seconds']:.2f}" for r in runs)
        print(f"| {case} | {medians[case]:.2f} | {times} | {medians[case] / base:.3f} | {seen} |")
    write_json(args.json, dict(timesteps=args.timesteps, runs=args.runs, records=records, medians=medians,
                               ratios={case: medians[case] / base for case in cases}, machine=machine))


if __name__ == "__main__":
    main()
