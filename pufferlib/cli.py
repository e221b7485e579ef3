"""The `puffer` command: list environments and measure how fast they step.

puffer envs [NAME]
puffer bench ENV [--num-envs N] [--threads T] [--seconds S] [--param KEY=VALUE ...]
puffer new NAME [--dir DIR]                       write a template C environment and its tests
puffer build FILE.c [-o FILE.so] [--check] [--debug]   compile (and check) a C environment
"""
import argparse
import statistics
import sys

import numpy as np

__all__ = ["main"]


def _parse_params(pairs):
    """Turns ["size=7", "noise=0.5"] into {"size": 7, "noise": 0.5}."""
    params = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--param expects KEY=VALUE, got {pair!r}")
        try:
            params[key] = int(value)
        except ValueError:
            try:
                params[key] = float(value)
            except ValueError:
                raise ValueError(f"--param {key} expects a number, got {value!r}") from None
    return params


def _space_text(space):
    """A short description of a space: Box(float32, (4,), low..high) with bounds abbreviated."""
    if not hasattr(space, "low"):
        return str(space)

    def bound(values):
        flat = np.unique(values)
        if flat.size == 1:
            return f"{flat[0]:g}"
        return "[" + ", ".join(f"{v:.4g}" for v in np.ravel(values)) + "]"

    return f"Box({space.dtype}, {space.shape}, {bound(space.low)}..{bound(space.high)})"


def _describe(name):
    """The text `puffer envs NAME` prints: documentation, spaces with defaults, parameters."""
    from pufferlib.envs import env_def, make

    d = env_def(name)
    with make(name, num_envs=1, num_threads=1) as env:
        agents = env.num_agents
        obs, act = env.single_observation_space, env.single_action_space
    lines = [f"{name}", *("  " + line for line in d.doc.splitlines()),
             f"  spaces with the default parameters: observation {_space_text(obs)}, "
             f"action {_space_text(act)}, agents per env {agents}"]
    if d.params:
        lines.append("  parameters:")
        for pname, default, lo, hi, integer, doc in d.params:
            cast = int if integer else float
            lines.append(f"    {pname} = {cast(default)}  [{cast(lo)}, {cast(hi)}]  {doc}")
    return "\n".join(lines)


def cmd_envs(args):
    """Prints every built-in environment, or one, with its documentation and parameters."""
    from pufferlib.envs import list_envs

    names = [args.name] if args.name else list_envs()
    print("\n\n".join(_describe(name) for name in names))
    return 0


def cmd_bench(args):
    """Prints the steps per second of a built-in environment."""
    import pufferlib
    from pufferlib.benchmark import random_action_batches, time_steps

    params = _parse_params(args.param)
    with pufferlib.make(args.env, num_envs=args.num_envs, num_threads=args.threads, **params) as env:
        env.reset(seed=0)
        rates = time_steps(env.step, random_action_batches(env), env.num_agents, args.seconds, args.runs)
        threads = env.num_threads
    median = statistics.median(rates)
    runs = ", ".join(f"{r / 1e6:.2f}M" for r in rates)
    print(f"{args.env}: {median / 1e6:.2f}M agent-steps/s ({1e9 / median:.2f} ns each), "
          f"num_envs={args.num_envs}, threads={threads}, median of {len(rates)} runs ({runs})")
    return 0


def cmd_new(args):
    """Writes the template environment NAME.c and test_NAME.py."""
    from pufferlib.build import new_env

    try:
        source, test = new_env(args.name, args.dir, force=args.force)
    except OSError as error:  # files that exist, a directory that cannot be written
        print(f"puffer: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {source} and {test}\nnext: puffer build {source} --check")
    return 0


def cmd_build(args):
    """Compiles a C environment into a loadable library; with --check, checks it."""
    import os
    import subprocess

    from pufferlib.build import build, check, compiler, sanitizer_preload

    try:
        result = build(args.source, output=args.output, debug=args.debug)
    except OSError as error:  # an output folder that cannot be written
        print(f"puffer: error: {error}", file=sys.stderr)
        return 2
    if result.messages:
        print(result.messages, file=sys.stderr)
    print(f"built {result.library}")
    preload = sanitizer_preload(compiler()) if args.debug else None
    if args.debug:
        print(f"load it in a Python started as: LD_PRELOAD={preload} ASAN_OPTIONS=detect_leaks=0 "
              f"python ...")
    if not args.check:
        return 0
    if args.debug:  # the sanitizer runtime must be loaded before Python starts
        env = dict(os.environ, LD_PRELOAD=preload, ASAN_OPTIONS="detect_leaks=0")
        code = "import sys; from pufferlib.build import _check_main; sys.exit(_check_main(sys.argv[1:]))"
        return subprocess.run([sys.executable, "-c", code, result.library, str(args.steps),
                               str(args.num_envs)], env=env).returncode
    results = check(result.library, steps=args.steps, num_envs=args.num_envs)
    for line in results:
        print(line)
    return 0 if all(r.passed for r in results) else 1


def build_parser():
    """The argument parser of `puffer` (subcommands envs, bench, new and build)."""
    parser = argparse.ArgumentParser(prog="puffer", description="pufferlib: fast reinforcement learning.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    envs = sub.add_parser("envs", help="list the built-in environments with their parameters")
    envs.add_argument("name", nargs="?", help="show only this environment")
    envs.set_defaults(func=cmd_envs)

    bench = sub.add_parser("bench", help="measure the steps per second of an environment")
    bench.add_argument("env", help="a built-in environment name (see `puffer envs`)")
    bench.add_argument("--num-envs", type=int, default=4096, help="environments stepped together")
    bench.add_argument("--threads", type=int, default=None,
                       help="threads (default: OMP_NUM_THREADS or the cores available)")
    bench.add_argument("--seconds", type=float, default=1.0, help="length of each timed run")
    bench.add_argument("--runs", type=int, default=3, help="timed runs (the median is printed)")
    bench.add_argument("--param", action="append", metavar="KEY=VALUE",
                       help="an environment parameter (repeatable)")
    bench.set_defaults(func=cmd_bench)

    new = sub.add_parser("new", help="write a template C environment NAME.c and its tests test_NAME.py")
    new.add_argument("name", help="the environment's name, a C identifier (e.g. my_env)")
    new.add_argument("--dir", default=".", help="where to write the files (default: here)")
    new.add_argument("--force", action="store_true", help="overwrite existing files")
    new.set_defaults(func=cmd_new)

    build = sub.add_parser("build", help="compile a C environment into a library pufferlib.make loads")
    build.add_argument("source", help="the C file (it ends with PUFFER_EXPORT(NAME))")
    build.add_argument("-o", "--output", help="the library to write (default: .puffer_build/NAME.so "
                                              "beside the source, where pufferlib.make looks)")
    build.add_argument("--check", action="store_true",
                       help="then check determinism, thread independence, observation bounds, resets, "
                            "flags and rewards with random actions; exit 1 if one fails")
    build.add_argument("--debug", action="store_true",
                       help="-O0 -g with AddressSanitizer and UBSan (into NAME.debug.so); --check then "
                            "runs under the sanitizers")
    build.add_argument("--steps", type=int, default=1000, help="steps of each --check rollout")
    build.add_argument("--num-envs", type=int, default=64, help="environments in each --check rollout")
    build.set_defaults(func=cmd_build)
    return parser


def main(argv=None):
    """Entry point of the `puffer` console command; returns the exit status."""
    from pufferlib.errors import PufferError

    args = build_parser().parse_args(argv)
    if getattr(args, "seconds", 1.0) <= 0 or getattr(args, "runs", 1) < 1:
        print("puffer: error: --seconds must be > 0 and --runs >= 1", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except (PufferError, ValueError, TypeError) as error:
        print(f"puffer: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `puffer envs | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
