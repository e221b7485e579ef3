"""Timing vector environments: the one loop that `puffer bench` and bench/ scripts share."""
import math
import numbers
import time

import numpy as np

__all__ = ["random_action_batches", "time_steps"]


def random_action_batches(env, count=256, seed=0):
    """Draws `count` batches of valid random actions for a native vector env, before any timing.

    Returns a list of contiguous arrays in the env's action dtype and shape; stepping batch
    i % count keeps drawing actions out of the timed loop.
    """
    space = env.single_action_space
    rng = np.random.default_rng(seed)
    rows = env.num_agents
    if hasattr(space, "n"):
        table = rng.integers(0, space.n, (count, rows), dtype=np.int32)
    elif hasattr(space, "nvec"):
        table = rng.integers(0, space.nvec, (count, rows, len(space.nvec)), dtype=np.int32)
    else:
        table = rng.uniform(space.low, space.high, (count, rows) + space.shape).astype(np.float32)
    return list(table)


def _run_block(step, actions, start, count):
    """Calls step() `count` times with the cached actions, from step number `start`."""
    n = len(actions)
    for i in range(start, start + count):
        step(actions[i % n])


def _warm_up(step, actions, seconds):
    """Steps for about seconds / 4 (at least once); returns (steps taken, steps per clock read).

    The block grows by doubling until one block lasts seconds / 20, so that reading the clock costs
    nothing measurable and a run overshoots `seconds` by little.
    """
    block, done, begin = 1, 0, time.perf_counter()
    while True:
        t0 = time.perf_counter()
        _run_block(step, actions, done, block)
        done += block
        now = time.perf_counter()
        if now - begin >= seconds / 4:
            return done, block
        if now - t0 < seconds / 20:
            block *= 2


def time_steps(step, actions, num_rows, seconds, runs):
    """Steps per second of `step`: one warm-up, then `runs` runs of at least `seconds` each.

    Args:
        step: a callable taking one action array (a library's `env.step`).
        actions: a list of action arrays, used in turn (see random_action_batches).
        num_rows: environment-steps (agent rows) that one call advances.
        seconds: the least duration of a run.
        runs: how many runs to time.

    Returns:
        A list with one steps-per-second figure per run.

    Raises:
        ValueError: seconds is not a finite number > 0 (nan or inf would never end a run), or runs
            is not a positive integer.

    Example:
        >>> import pufferlib
        >>> from pufferlib.benchmark import random_action_batches, time_steps
        >>> with pufferlib.make("cartpole", num_envs=64) as env:
        ...     _ = env.reset()
        ...     rates = time_steps(env.step, random_action_batches(env), 64, 0.01, 2)
        >>> len(rates)
        2
    """
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) or not math.isfinite(seconds) \
            or seconds <= 0:
        raise ValueError(f"seconds must be a finite number > 0, got {seconds!r}")
    if isinstance(runs, bool) or not isinstance(runs, numbers.Integral) or runs < 1:
        raise ValueError(f"runs must be a positive integer, got {runs!r}")
    done, block = _warm_up(step, actions, seconds)
    rates = []
    for _ in range(runs):
        calls, t0 = 0, time.perf_counter()
        while True:
            _run_block(step, actions, done + calls, block)
            calls += block
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds:
                break
        done += calls
        rates.append(calls * num_rows / elapsed)
    return rates
