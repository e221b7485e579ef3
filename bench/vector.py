#!/usr/bin/env python3
"""Vector-backend benchmark: Gymnasium's CartPole-v1 with random actions, beside Gymnasium's own vectorizers.

What is measured (steps per second through `step(actions)`, one run, same machine)
    - 8 envs: pufferlib's multiprocessing backend (2 workers x 4 envs, shared memory) against
      Gymnasium's AsyncVectorEnv (shared memory, same-step autoreset, no copies: as close as it
      allows; it runs one process per env). Target: >= 4x.
    - 64 envs: the multiprocessing backend (2 workers x 32 envs) against the same envs stepped
      serially in one process (pufferlib's serial backend). Target: >= 1.6x.
    - Emulation cost (needs pufferlib.emulation): a Gymnasium env with a nested Dict/Tuple
      observation stepped through GymnasiumPufferEnv against the bare env's step and against
      Gymnasium's FlattenObservation wrapper. Target: <= 1.15x the bare step, and below the wrapper.

How it is measured
    pufferlib.benchmark.time_steps: actions drawn before timing, one warm-up, then --runs runs of at
    least --seconds each; the table shows the median of the runs.

Output
    A Markdown table and the targets (PASS/FAIL) on stdout; every run's figure and the medians as JSON
    in --json (default bench/results/vector.json).

    PYTHONPATH=. python bench/vector.py                 # ~1 minute on 2 cores
    PYTHONPATH=. python bench/vector.py --seconds 0.3 --runs 2
"""
import argparse
import functools
import json
import os
import platform
import statistics
import sys
import time

import gymnasium
import numpy as np

import pufferlib.vector
from pufferlib.benchmark import time_steps
from pufferlib.environment import PufferEnv

HERE = os.path.dirname(os.path.abspath(__file__))
ACTION_CACHE = 256


class GymnasiumCartPole(PufferEnv):
    """Gymnasium's CartPole-v1 written straight into buffers: used only when pufferlib.emulation is absent."""

    def __init__(self, buf=None):
        self.env = gymnasium.make("CartPole-v1").unwrapped
        self.single_observation_space = self.env.observation_space
        self.single_action_space = self.env.action_space
        self._init_buffers(buf)
        self.ticks = 0

    def reset(self, seed=None):
        self.observations[0], _ = self.env.reset(seed=seed)
        self.ticks = 0
        return self.observations, {}

    def step(self, actions):
        obs, reward, terminal, _, _ = self.env.step(int(actions[0]))
        self.ticks += 1
        truncated = self.ticks >= 500 and not terminal
        if terminal or truncated:
            self.final_observations[0] = obs
            obs, _ = self.env.reset()
            self.ticks = 0
        self.observations[0] = obs
        self.rewards[0] = reward
        self.terminals[0] = terminal
        self.truncations[0] = truncated
        return self.observations, self.rewards, self.terminals, self.truncations, {}


def cartpole_creator():
    """(creator, description): through pufferlib.emulation when it exists."""
    try:
        import pufferlib.emulation  # noqa: F401
        return functools.partial(gymnasium.make, "CartPole-v1"), "gymnasium.make via GymnasiumPufferEnv"
    except ImportError:
        return GymnasiumCartPole, "bench.vector.GymnasiumCartPole (pufferlib.emulation not in this tree)"


def actions_for(num_rows, seed=0, dtype=np.int32):
    return list(np.random.default_rng(seed).integers(0, 2, (ACTION_CACHE, num_rows)).astype(dtype))


def bench_puffer(creator, num_envs, backend, seconds, runs, **kwargs):
    with pufferlib.vector.make(creator, num_envs, backend=backend, **kwargs) as vecenv:
        vecenv.reset(seed=0)
        return time_steps(vecenv.step, actions_for(num_envs), num_envs, seconds, runs)


def bench_gym_async(num_envs, seconds, runs):
    envs = gymnasium.vector.AsyncVectorEnv([functools.partial(gymnasium.make, "CartPole-v1")] * num_envs,
                                           shared_memory=True, copy=False, context="spawn",
                                           autoreset_mode=gymnasium.vector.AutoresetMode.SAME_STEP)
    try:
        envs.reset(seed=0)
        return time_steps(envs.step, actions_for(num_envs, dtype=np.int64), num_envs, seconds, runs)
    finally:
        envs.close()


class NestedEnv(gymnasium.Env):
    """Gymnasium's CartPole-v1 with its observation as a nested Dict/Tuple, for the emulation cost.

    The step does CartPole's real work, so the ratio compares emulation with an env's own cost
    rather than with a step that does nothing.
    """

    def __init__(self):
        self.inner = gymnasium.make("CartPole-v1").unwrapped
        box = functools.partial(gymnasium.spaces.Box, dtype=np.float32)
        self.observation_space = gymnasium.spaces.Dict({
            "cart": box(-np.inf, np.inf, (2,)),
            "pole": gymnasium.spaces.Tuple((box(-np.inf, np.inf, (1,)), box(-np.inf, np.inf, (1,)))),
            "steps": gymnasium.spaces.Discrete(501),
        })
        self.action_space = self.inner.action_space
        self.t = 0

    def _nest(self, obs):
        return {"cart": obs[:2], "pole": (obs[2:3], obs[3:4]), "steps": self.t}

    def reset(self, seed=None, options=None):
        self.t = 0
        obs, info = self.inner.reset(seed=seed)
        return self._nest(obs), info

    def step(self, action):
        self.t += 1
        obs, reward, terminated, _, info = self.inner.step(action)
        return self._nest(obs), reward, terminated, self.t >= 500, info


def bench_emulation(seconds, runs):
    """{name: rates}: the bare nested env, FlattenObservation, GymnasiumPufferEnv; None without emulation."""
    try:
        from pufferlib.emulation import GymnasiumPufferEnv
    except ImportError:
        return None
    acts = [int(a) for a in np.random.default_rng(0).integers(0, 2, ACTION_CACHE)]

    def auto(env):
        def step(action):
            out = env.step(action)
            if out[2] or out[3]:
                env.reset()
        env.reset(seed=0)
        return step

    rates = {"bare": time_steps(auto(NestedEnv()), acts, 1, seconds, runs),
             "FlattenObservation": time_steps(
                 auto(gymnasium.wrappers.FlattenObservation(NestedEnv())), acts, 1, seconds, runs)}
    puffer = GymnasiumPufferEnv(env=NestedEnv())
    puffer.reset(seed=0)
    table = [np.array([a], np.int32) for a in acts]
    rates["GymnasiumPufferEnv"] = time_steps(puffer.step, table, 1, seconds, runs)
    return rates


def human(sps):
    return f"{sps / 1e6:.2f}M" if sps >= 1e6 else f"{sps / 1e3:.1f}k"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="least duration of a run")
    parser.add_argument("--runs", type=int, default=5, help="runs per configuration")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "vector.json"))
    args = parser.parse_args()
    creator, how = cartpole_creator()
    med = statistics.median
    rows = []

    def add(case, library, num_envs, rates):
        rows.append(dict(case=case, library=library, num_envs=num_envs, sps_runs=rates,
                         sps_median=med(rates)))
        print(f"  {case:10s} {library:40s} {human(med(rates)):>8s} steps/s", file=sys.stderr, flush=True)

    s, r = args.seconds, args.runs
    add("8 envs", "pufferlib multiprocessing 2x4", 8,
        bench_puffer(creator, 8, "multiprocessing", s, r, num_workers=2))
    add("8 envs", "gymnasium AsyncVectorEnv (8 procs, shm)", 8, bench_gym_async(8, s, r))
    add("64 envs", "pufferlib multiprocessing 2x32", 64,
        bench_puffer(creator, 64, "multiprocessing", s, r, num_workers=2))
    add("64 envs", "pufferlib serial (one process)", 64, bench_puffer(creator, 64, "serial", s, r))
    emulation = bench_emulation(s, r)
    if emulation:
        for name, rates in emulation.items():
            add("emulation", name, 1, rates)

    def get(case, library):
        return next(row["sps_median"] for row in rows
                    if row["case"] == case and row["library"].startswith(library))

    targets = [("8 envs: multiprocessing / Gymnasium AsyncVectorEnv",
                get("8 envs", "pufferlib") / get("8 envs", "gymnasium"), 4.0, True),
               ("64 envs: multiprocessing / serial",
                get("64 envs", "pufferlib multi") / get("64 envs", "pufferlib serial"), 1.6, True)]
    if emulation:
        bare, flat, puf = (med(emulation[k]) for k in ("bare", "FlattenObservation", "GymnasiumPufferEnv"))
        targets.append(("emulation: step time / bare step time", bare / puf, 1.15, False))
        targets.append(("emulation: step time / FlattenObservation's", flat / puf, 1.0, False))

    print(f"CartPole-v1 ({how}), random actions, median of {r} runs of >= {s} s\n")
    print("| case | library | num_envs | steps/s |\n|---|---|---:|---:|")
    for row in rows:
        print(f"| {row['case']} | {row['library']} | {row['num_envs']} | {human(row['sps_median'])} |")
    print()
    results = []
    for name, value, goal, at_least in targets:
        ok = value >= goal if at_least else value <= goal
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {value:.2f} (target {'>=' if at_least else '<='} {goal})")
        results.append(dict(target=name, value=value, goal=goal, at_least=at_least, passed=ok))
    if not emulation:
        print("SKIP  emulation cost: pufferlib.emulation is not in this tree")
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(dict(rows=rows, targets=results, env=how, seconds=s, runs=r, cores=os.cpu_count(),
                       machine=platform.platform(), python=platform.python_version(),
                       gymnasium=gymnasium.__version__,
                       date=time.strftime("%Y-%m-%d %H:%M:%S")), f, indent=1)


if __name__ == "__main__":
    main()
