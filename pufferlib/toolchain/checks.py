"""Checking a C environment the way envpool checks its own: `check`, and `puffer build --check`.

`check` runs rollouts with random actions and reports one CheckResult per property (determinism,
thread independence, seeds, bounds, resets, flags, rewards, statistics). `check_in_subprocess`
runs it in a child process (`_check_main`), with the sanitizer runtime for a --debug library, so
that an environment that crashes is reported with the check it crashed in.
"""
import dataclasses
import hashlib
import os
import subprocess

import numpy as np

from pufferlib._native import builtin_env
from pufferlib._native.engine import check_count
from pufferlib.toolchain._child import python_child, signal_text
from pufferlib.toolchain.compiler import sanitizer_preload
from pufferlib.toolchain.loader import _needs_sanitizer, is_path, load
from pufferlib.vector.native import NativeVecEnv

__all__ = ["CheckResult", "check", "check_in_subprocess"]


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One check of `check`: its name, whether it passed, and what was seen."""

    name: str
    passed: bool
    detail: str

    def __str__(self):
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"


def _digest(*arrays):
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        h.update(np.ascontiguousarray(a).view(np.uint8).tobytes())
    return h.digest()


def _bounds_violation(obs, low, high):
    """(row, element index, value) of the first element outside [low, high], or None."""
    inside = (obs >= low) & (obs <= high)
    if inside.all():
        return None
    index = np.argwhere(~inside)[0]
    return int(index[0]), tuple(int(i) for i in index[1:]), obs[tuple(index)]


class _Run:
    """One rollout with random actions, recording per-step digests and the first problems seen."""

    def __init__(self, d, seed, num_envs, num_threads, steps, params):
        self.digests = []
        self.problems = {}
        self.episodes = 0
        with NativeVecEnv(d, num_envs=num_envs, num_threads=num_threads, seed=seed, **params) as env:
            self.has_masks = env.action_masks is not None
            space = env.single_observation_space
            low, high = space.low, space.high
            rng = np.random.default_rng(12345)
            obs, _ = env.reset(seed=seed)
            self._bounds("bounds", obs, low, high, "after reset")
            first = obs.copy()
            again, _ = env.reset(seed=seed)
            if not np.array_equal(first, again):
                self.problems.setdefault("reset", "reset(seed) twice with the same seed gave different "
                                                  "observations")
            self._masks(env, "after reset")
            self.digests.append(_digest(obs))
            actions = env.action_space
            actions.seed(int(rng.integers(2**31)))
            for t in range(1, steps + 1):
                obs, rew, term, trunc, infos = env.step(actions.sample())
                self.digests.append(_digest(obs, rew, term, trunc, *(
                    () if env.action_masks is None else (env.action_masks,))))
                where = f"at step {t}"
                self._masks(env, where)
                self._bounds("bounds", obs, low, high, where)
                flags = np.concatenate([term.view(np.uint8), trunc.view(np.uint8)])
                if (flags > 1).any():
                    self.problems.setdefault("flags", f"a terminal or truncation flag is "
                                                      f"{int(flags.max())} {where}; write 0 or 1")
                if not np.isfinite(rew).all():
                    row = int(np.flatnonzero(~np.isfinite(rew))[0])
                    self.problems.setdefault("rewards", f"reward {rew[row]} in row {row} {where}")
                done = term | trunc
                if done.any():
                    self.episodes += int(done.sum())
                    final = env.final_observations[done]
                    self._bounds("bounds", final, low, high, f"in a final observation {where}")
                bad = [k for k, v in infos.items() if not np.isfinite(v)]
                if bad:
                    self.problems.setdefault("statistics", f"{bad[0]} = {infos[bad[0]]} {where}")

    def _masks(self, env, where):
        """Every action dimension of every row keeps a legal choice (a policy must have one to take)."""
        if env.action_masks is None or "masks" in self.problems:
            return
        start = 0
        for dim, n in enumerate(env.spec["act_n"]):
            legal = env.action_masks[:, start:start + n].any(axis=1)
            if not legal.all():
                row = int(np.flatnonzero(~legal)[0])
                self.problems["masks"] = (f"row {row}'s action mask leaves no legal choice of action "
                                          f"dimension {dim} {where}: write 1 for at least one choice of each "
                                          "dimension, in reset and in every step")
                return
            start += n

    def _bounds(self, check, obs, low, high, where):
        if check in self.problems:
            return
        found = _bounds_violation(obs, low, high)
        if found is not None:
            row, element, value = found
            lo = low[element] if np.ndim(low) else low
            hi = high[element] if np.ndim(high) else high
            self.problems[check] = (f"observation element {element} of row {row} is {value} {where}, "
                                    f"outside the declared [{lo}, {hi}]")


# The other cause of a trajectory that depends on the run: a copy writing into its neighbours' rows.
_MEMORY_HINT = ("an env reads or writes outside its own rows or struct (`puffer build FILE --check --debug` "
                "finds such an access and its line)")


def _check_sizes(steps, num_envs):
    if steps < 1 or num_envs < 1:
        raise ValueError(f"steps and num_envs must be >= 1, got steps={steps}, num_envs={num_envs}")
    check_count("num_envs", num_envs, "check with fewer envs")


def _first_difference(a, b):
    return next((t for t, (x, y) in enumerate(zip(a, b)) if x != y), None)


def check(env, steps=1000, num_envs=64, seed=0, progress=None, **params):
    """Checks a C environment the way envpool checks its own, with random actions.

    The checks: `determinism` (the same seed gives the same trajectory), `threads` (1 and 2
    threads give the same trajectory: no state shared between copies), `seeds` (another seed
    gives another trajectory), `bounds` (observations, after reset, every step and at episode
    ends, inside the declared space), `reset` (reset(seed) repeats itself; episodes end with a
    terminal or truncation flag within `steps`), `flags` (0 or 1), `rewards` (finite),
    `statistics` (finite means) and `masks` (an env with action masks leaves every row a legal
    choice of each action dimension, after reset and every step).
    Actions are uniformly random, masked choices included: an env must be safe with those too.

    Args:
        env: a built-in name, a path (.c, .so or .dylib), or an EnvDef.
        steps: steps per rollout (four rollouts are run).
        num_envs: environment copies per rollout.
        seed: the seed of the rollouts (`seeds` also uses seed + 1).
        progress: called with the name of the check each rollout is for, before it starts
            (`check_in_subprocess` uses it to name the check that crashed).
        **params: the environment's parameters.

    Returns:
        A list of CheckResult, one per check, in the order above.

    Raises:
        UnknownEnvironmentError: a name that is neither a built-in nor a path.
        ValueError: steps or num_envs below 1.
        EnvironmentLoadError, BuildError: a path that cannot be built or loaded (see `load`).

    Example:
        >>> results = check("cartpole", steps=200, num_envs=16)
        >>> all(r.passed for r in results)
        True
    """
    if isinstance(env, (str, os.PathLike)):
        env = load(env) if is_path(env) else builtin_env(env)
    d = env
    _check_sizes(steps, num_envs)

    def run(name, *args):
        if progress is not None:
            progress(name)
        return _Run(d, *args, params)

    base = run("determinism", seed, num_envs, 1, steps)
    run("determinism", seed + 2, 1, 1, 7)  # moves any global state on by an odd count between runs
    again = run("determinism", seed, num_envs, 1, steps)
    threaded = run("threads", seed, num_envs, 2, steps)
    other = run("seeds", seed + 1, num_envs, 1, steps)
    size = f"{steps} steps x {num_envs} envs"
    results = []

    differs = _first_difference(base.digests, again.digests)
    results.append(CheckResult("determinism", differs is None, (
        f"the same seed gives the same trajectory ({size})" if differs is None else
        f"two runs with seed {seed} diverge at step {differs}: the env uses randomness or state "
        "outside its struct (time, rand(), a global; draw only from the PufferRng given to init) "
        f"or {_MEMORY_HINT}")))

    differs = _first_difference(base.digests, threaded.digests)
    results.append(CheckResult("threads", differs is None, (
        "1 and 2 threads give the same trajectory" if differs is None else
        f"1 and 2 threads diverge at step {differs}: copies share state (a global or static "
        f"variable; keep all state in the env struct) or {_MEMORY_HINT}")))

    same = base.digests == other.digests
    results.append(CheckResult("seeds", not same, (
        f"seeds {seed} and {seed + 1} give different trajectories" if not same else
        f"seeds {seed} and {seed + 1} give the same trajectory: the env ignores its PufferRng (if "
        "it has no randomness at all, ignore this)")))

    problems = {**other.problems, **threaded.problems, **again.problems, **base.problems}
    ok = {
        "bounds": "observations stay inside the declared space",
        "reset": f"reset(seed) repeats itself; {base.episodes} episodes ended with a flag",
        "flags": "terminal and truncation flags are 0 or 1",
        "rewards": "rewards are finite",
        "statistics": "episode statistics are finite",
        "masks": "every row keeps a legal choice" if base.has_masks else "the env has no action masks",
    }
    if base.episodes == 0 and "reset" not in problems:
        problems["reset"] = (f"no episode ended in {size}: every episode must end with a terminal or "
                             "truncation flag (add a step limit), or check with more steps")
    for name, detail in ok.items():
        results.append(CheckResult(name, name not in problems, problems.get(name, detail)))
    return results


_CHECK_CODE = ("import sys; from pufferlib.toolchain.checks import _check_main; "
               "sys.exit(_check_main(sys.argv[1:]))")
_RUNNING = "@running "   # _check_main's line announcing the check whose rollout starts
_DONE = "@done"          # ... and its last line, after every result


def _check_main(argv):
    """Runs `check` on argv = [LIBRARY, STEPS, NUM_ENVS] and prints the results; the exit status.

    `check_in_subprocess` runs the checks this way, in a child process (with the sanitizer
    runtime preloaded for a --debug library); _RUNNING + NAME lines announce each rollout, and
    _DONE says that the checks ran to the end.
    """
    steps, num_envs = (int(argv[1]), int(argv[2])) if len(argv) > 2 else (1000, 64)
    results = check(argv[0], steps=steps, num_envs=num_envs,
                    progress=lambda name: print(_RUNNING + name, flush=True))
    for result in results:
        print(result, flush=True)
    print(_DONE, flush=True)
    return 0 if all(r.passed for r in results) else 1


def check_in_subprocess(library, steps=1000, num_envs=64, source=None, echo=print):
    """Runs `check` on a built library in a child process, so that a crash is reported, not suffered.

    Each result line is passed to `echo` as it arrives. When the environment crashes the child
    (a segfault, an abort, a sanitizer report), a last line `CRASH NAME: ...` names the check
    that was running and the signal; for a --debug library the sanitizers' report, with file and
    line, has gone to stderr just before.

    Args:
        library: a library made by `build` (with debug=True, the checks run under the sanitizers).
        steps: as for `check`.
        num_envs: as for `check`.
        source: the C file, named in the hint to rebuild it with --debug.
        echo: called with each line to show.

    Returns:
        0 when every check passed, 1 when one failed or the environment crashed.

    Raises:
        ValueError: steps or num_envs below 1, or num_envs beyond the engine's limit.
        BuildError: a --debug library, and no sanitizer runtime to load it with.
    """
    _check_sizes(steps, num_envs)
    sanitizers = _needs_sanitizer(library)
    current, done = "load", False
    preload = sanitizer_preload() if sanitizers else None
    with python_child(_CHECK_CODE, [library, str(steps), str(num_envs)], preload,
                      stdout=subprocess.PIPE, text=True) as child:
        for line in child.stdout:
            line = line.rstrip("\n")
            if line == _DONE:
                done = True
            elif line.startswith(_RUNNING):
                current = line[len(_RUNNING):]
            else:
                echo(line)
    if done and child.returncode in (0, 1):
        return child.returncode
    killed_by = signal_text(child.returncode)
    if sanitizers and killed_by is None:
        echo(f"CRASH {current}: the sanitizers stopped the check (exit status {child.returncode}); "
             "their report on stderr names the file and line")
    else:
        how = killed_by or f"exit status {child.returncode}"
        echo(f"CRASH {current}: the environment crashed the check with {how}; "
             f"rebuild with `puffer build {source or library} --check --debug` to see the line")
    return 1
