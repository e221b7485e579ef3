"""The `puffer` command: list environments and measure how fast they step.

puffer envs [NAME]
puffer bench ENV [--num-envs N] [--threads T] [--seconds S] [--env.KEY VALUE ...]
puffer train ENV [--timesteps N] [--seed N] [--data-dir DIR] [--config FILE] [--section.key VALUE ...]
puffer sweep ENV [--trials N] [--jobs K] [--storage URL] [--study NAME] [--config FILE] [--report] ...
puffer eval ENV --checkpoint PATH|latest [--episodes N] [--deterministic] [--video out.gif]
puffer export [ENV] --checkpoint PATH|latest --format c|onnx|torchscript -o DIR
puffer new NAME [--dir DIR]                       write a template C environment and its tests
puffer build FILE.c [-o FILE.so] [--check] [--debug]   compile (and check) a C environment
"""
import argparse
import math
import statistics
import sys

import numpy as np

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse without prefix matching, with one-line errors and an epilog that may be a function.

    The epilog function runs only when --help is asked for, so that `puffer envs` imports no torch.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # --timestep is not --timesteps
        super().__init__(*args, **kwargs)

    def format_help(self):
        if callable(self.epilog):
            self.epilog = self.epilog()
        return super().format_help()

    def error(self, message):
        print(f"puffer: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)

    def option_strings(self):
        """Every --option this parser takes (argparse lists them only in its private _actions)."""
        return [s for action in self._actions for s in action.option_strings if s.startswith("--")]


def _positive(kind):
    """An argparse type: a finite number of `kind` (int or float) above 0."""
    expected = "an integer > 0" if kind is int else "a finite number > 0"

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}") from None
        if not (kind is int or math.isfinite(value)) or not value > 0:  # nan fails every comparison
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}")
        return value

    return parse


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


def cmd_bench(args, extra):
    """Prints the steps per second of an environment, its parameters given as --env.KEY VALUE."""
    from pufferlib.benchmark import random_action_batches, time_steps
    from pufferlib.envs import make
    from pufferlib.train.config import Config, ConfigError, apply_overrides

    overrides = _overrides(extra, args.command_parser.option_strings())
    for name in overrides:
        flag = {"env.num_envs": "--num-envs N", "env.num_threads": "--threads T"}.get(name)
        if flag or not name.startswith("env."):
            raise ConfigError(f"command line: puffer bench takes environment parameters (--env.KEY VALUE) "
                              f"and its own options, got --{name}" + (f"; use {flag}" if flag else ""))
    params = apply_overrides(Config(), overrides).env.params
    with make(args.env, num_envs=args.num_envs, num_threads=args.threads, **params) as env:
        env.reset(seed=0)
        rates = time_steps(env.step, random_action_batches(env), env.num_agents, args.seconds, args.runs)
        threads = env.num_threads
    median = statistics.median(rates)
    runs = ", ".join(f"{r / 1e6:.2f}M" for r in rates)
    print(f"{args.env}: {median / 1e6:.2f}M agent-steps/s ({1e9 / median:.2f} ns each), "
          f"num_envs={args.num_envs}, threads={threads}, median of {len(rates)} runs ({runs})")
    return 0


def _overrides(extra, options=()):
    """Turns leftover ["--train.seed", "3", "--policy.lstm=true"] into {"train.seed": "3", ...}.

    The values stay strings: `pufferlib.train.config.parse_value` converts them, as it does a TOML
    file's. `options` are the command's own --options, suggested (with the settings) for an unknown one.
    """
    from pufferlib.errors import did_you_mean
    from pufferlib.train.config import ConfigError, typed_setting_names

    overrides, i = {}, 0
    while i < len(extra):
        token = extra[i]
        if token.partition("=")[0] == "--param":  # the old syntax: say the new one, with the user's values
            pair = token.partition("=")[2] or (extra[i + 1] if i + 1 < len(extra) else "")
            key, _, value = pair.partition("=")
            raise ConfigError(f"command line: --param is no longer taken; environment parameters are set "
                              f"like every setting, --env.KEY VALUE: use --env.{key or 'KEY'} "
                              f"{value or 'VALUE'}")
        if token.startswith("--") and "." not in token:
            name = token.partition("=")[0]
            known = {**{typed: f"--{key}" for typed, key in typed_setting_names().items()},
                     **{option[2:]: option for option in options}}
            raise ConfigError(f"command line: unknown option {name}; settings take the form --section.key "
                              f"VALUE (see puffer train --help){did_you_mean(name[2:], known)}")
        if not token.startswith("--"):
            raise ConfigError(f"command line: unexpected argument {token!r}; settings take the form "
                              "--section.key VALUE (e.g. --train.learning_rate 0.001)")
        key, sep, value = token[2:].partition("=")
        if not sep:
            if i + 1 >= len(extra):
                raise ConfigError(f"command line: --{key} needs a value")
            value = extra[i + 1]
            i += 1
        overrides[key] = value
        i += 1
    return overrides


def cmd_train(args, extra):
    """Trains PPO on an environment and prints where the run was written."""
    from pufferlib.train import Trainer
    from pufferlib.train.checkpoint import load_checkpoint
    from pufferlib.train.config import Config, apply_overrides, load_config

    overrides = _overrides(extra, args.command_parser.option_strings())
    for flag, key in (("timesteps", "train.total_timesteps"), ("seed", "train.seed"),
                      ("device", "train.device")):
        if getattr(args, flag) is not None:
            overrides[key] = getattr(args, flag)
    if args.wandb:
        overrides["log.wandb"] = "true"
    if args.tensorboard:
        overrides["log.tensorboard"] = "true"
    if args.resume:  # the run's own configuration, with any settings given now on top
        data = load_checkpoint(args.resume)
        config = Config.from_dict(data["config"], source=f"the config saved in {data['path']}")
        apply_overrides(config, overrides)
        resume = data["path"]
    else:
        config = load_config(args.env, args.config, overrides)
        resume = None
    with Trainer(args.env, config, data_dir=args.data_dir, resume=resume) as trainer:
        summary = trainer.train()
    metrics = summary["metrics"]
    ret = metrics.get("episode_return")
    if summary["interrupted"]:  # 128 + the signal, as a shell reports a process the signal ended
        print(f"interrupted after {summary['global_step']:,} steps; the run was saved: continue with "
              f"`puffer train {args.env} --resume {summary['run_dir']}`")
        return 128 + int(summary["signal"] or 2)
    print(f"trained {summary['global_step']:,} steps in "
          f"{summary['time_s']:.1f} s; last episode return "
          f"{'n/a' if ret is None else format(ret, '.4g')}; run {summary['run_dir']}; "
          f"checkpoint {summary['checkpoint']}")
    return 0


def cmd_sweep(args, extra):
    """Runs (or continues) a hyperparameter sweep; --report reports on it, --dashboard serves it."""
    from pufferlib.sweep.study import storage_url
    from pufferlib.train.config import load_config

    if args.report or args.dashboard:
        if extra:
            raise ValueError(f"--report and --dashboard read the study as it is; settings such as {extra[0]} "
                             "belong to the sweep itself")
        if args.report:
            from pufferlib.sweep import report

            report(args.env, storage=args.storage, study=args.study, data_dir=args.data_dir,
                   output=args.output)
        if args.dashboard:
            from pufferlib.sweep.runner import default_study_name, study_dir

            folder = study_dir(args.data_dir, args.study or default_study_name(args.env))
            return _dashboard(storage_url(args.storage, folder), args.port)
        return 0
    from pufferlib.sweep import sweep

    overrides = _overrides(extra, args.command_parser.option_strings())
    fixed = set(overrides)  # settings given on the command line leave the search space
    for flag in ("trials", "jobs", "metric", "timeout", "seed"):
        if getattr(args, flag) is not None:
            overrides[f"sweep.{flag}"] = getattr(args, flag)
    config = load_config(args.env, args.config, overrides)
    summary = sweep(args.env, config, fixed={name for name in fixed if not name.startswith("sweep.")},
                    storage=args.storage, study=args.study, data_dir=args.data_dir)
    if summary["interrupted"]:
        return 128 + int(summary["interrupted"])
    return 1 if summary["aborted"] else 0


def _dashboard(url, port):
    """Serves the study's storage in optuna-dashboard (an optional package) until Ctrl-C."""
    try:
        import optuna_dashboard
    except ImportError:
        raise ValueError("--dashboard serves the study with Optuna's own web dashboard: pip install "
                         "optuna-dashboard") from None
    from pufferlib.sweep.study import open_storage

    print(f"serving the study on http://127.0.0.1:{port} (Ctrl-C to stop)", flush=True)
    optuna_dashboard.run_server(open_storage(url), host="127.0.0.1", port=port)
    return 0


def cmd_eval(args):
    """Evaluates a checkpoint; prints the return and length (mean, std) and the env's statistics.

    With --opponent, plays it against that opponent on every seat and prints wins, draws, losses.
    """
    from pufferlib.train.evaluate import evaluate

    if args.opponent is not None:
        return _eval_match(args)

    result = evaluate(args.env, args.checkpoint, data_dir=args.data_dir, episodes=args.episodes,
                      deterministic=args.deterministic, video=args.video)
    print(f"{args.env}: {result['episodes']} episodes, return {result['mean_return']:.4g} "
          f"+- {result['std_return']:.3g}, length {result['mean_length']:.4g} +- {result['std_length']:.3g} "
          f"(checkpoint {result['checkpoint']})")
    if result["stats"]:
        stats = {key: value for key, value in result["stats"].items() if key != "episodes"}
        print("  " + ", ".join(f"{key} {value:.4g}" for key, value in stats.items()))
    if args.video:
        print(f"video written to {args.video}")
    return 0


def _eval_match(args):
    """`puffer eval GAME --opponent B`: the checkpoint's games against B, per seat and in total."""
    from pufferlib.train.checkpoint import resolve_checkpoint
    from pufferlib.train.selfplay.match import play

    if args.video:
        raise ValueError("--video records a checkpoint alone; drop --video or --opponent")
    first = str(resolve_checkpoint(args.env, args.checkpoint, args.data_dir))
    result = play(args.env, first, args.opponent, games=args.episodes, seed=args.seed,
                  deterministic=args.deterministic)
    print(f"{args.env}: {first} against {args.opponent}, {args.episodes} games on each of its "
          f"{len(result['seats'])} seats")
    rows = [(f"seat {t}", r) for t, r in enumerate(result["seats"])] + [("total", result["total"])]
    print(f"  {'':8} {'wins':>6} {'draws':>6} {'losses':>6} {'win rate':>9}")
    for name, r in rows:
        games = r["wins"] + r["draws"] + r["losses"]
        print(f"  {name:8} {r['wins']:>6} {r['draws']:>6} {r['losses']:>6} {r['wins'] / games:>9.3f}")
    return 0


def cmd_league(args):
    """Plays a round robin of checkpoints (and scripted/random players); prints their Elo ratings."""
    from pufferlib.train.checkpoint import resolve_checkpoint
    from pufferlib.train.selfplay.match import round_robin

    players = [p if p == "random" or p.startswith("scripted") else
               str(resolve_checkpoint(args.env, p, args.data_dir)) for p in args.checkpoints]
    table = round_robin(args.env, players, games=args.episodes, seed=args.seed)
    print(f"{args.env}: round robin of {len(players)} players, {args.episodes} games per pairing and seat")
    width = max(len(row["player"]) for row in table)
    print(f"  {'player':{width}} {'Elo':>7} {'games':>6} {'wins':>6} {'draws':>6} {'losses':>6}")
    for row in table:
        print(f"  {row['player']:{width}} {row['rating']:>7.0f} {row['games']:>6} {row['wins']:>6} "
              f"{row['draws']:>6} {row['losses']:>6}")
    return 0


def cmd_export(args):
    """Exports a checkpoint's policy as C, ONNX or TorchScript and prints the files written.

    No env is built.
    """
    from pufferlib.export import export

    files = export(args.env, args.checkpoint, data_dir=args.data_dir, format=args.format, output=args.output)
    what = args.env or args.checkpoint
    print(f"exported {what} ({args.format}) to {args.output}: {', '.join(f.name for f in files)}")
    return 0


def cmd_new(args):
    """Writes the template environment NAME.c and test_NAME.py."""
    from pufferlib.toolchain import new_env

    try:
        source, test = new_env(args.name, args.dir, force=args.force)
    except OSError as error:  # files that exist, a directory that cannot be written
        print(f"puffer: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {source} and {test}\nnext: puffer build {source} --check")
    return 0


def cmd_build(args):
    """Compiles a C environment into a loadable library; with --check, checks it in a child process."""
    from pufferlib.toolchain import build, check_in_subprocess, compiler, sanitizer_preload

    try:
        result = build(args.source, output=args.output, debug=args.debug)
    except OSError as error:  # an output folder that cannot be written
        print(f"puffer: error: {error}", file=sys.stderr)
        return 2
    if result.messages:
        print(result.messages, file=sys.stderr)
    print(f"built {result.library}")
    if args.debug:
        print(f"load it in a Python started as: LD_PRELOAD={sanitizer_preload(compiler())} "
              "ASAN_OPTIONS=detect_leaks=0 python ...")
    if not args.check:
        return 0
    return check_in_subprocess(result.library, steps=args.steps, num_envs=args.num_envs,
                               source=args.source, echo=lambda line: print(line, flush=True))


def build_parser():
    """The argument parser of `puffer` (subcommands envs, bench, train, sweep, eval, export, new, build)."""
    parser = _Parser(prog="puffer", description="pufferlib: fast reinforcement learning.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    envs = sub.add_parser("envs", help="list the built-in environments with their parameters")
    envs.add_argument("name", nargs="?", help="show only this environment")
    envs.set_defaults(func=cmd_envs)

    bench = sub.add_parser("bench", help="measure the steps per second of an environment",
                           epilog="environment parameters: --env.KEY VALUE, as for puffer train (e.g. "
                                  "--env.size 7; `puffer envs NAME` lists an environment's)")
    bench.add_argument("env", help="a built-in environment name (see `puffer envs`)")
    bench.add_argument("--num-envs", type=int, default=4096, help="environments stepped together")
    bench.add_argument("--threads", type=int, default=None,
                       help="threads (default: OMP_NUM_THREADS or the cores available)")
    bench.add_argument("--seconds", type=_positive(float), default=1.0, help="length of each timed run")
    bench.add_argument("--runs", type=_positive(int), default=3, help="timed runs (the median is printed)")
    bench.set_defaults(func=cmd_bench, takes_extra="env")

    train = sub.add_parser("train", help="train PPO on an environment",
                           description="Train PPO. ENV is a built-in name, a C file, gymnasium:ID or "
                                       "module:callable.\nAny setting can be given as --section.key VALUE "
                                       "(sections env, vec, train, policy, log, selfplay; listed below).",
                           epilog=_settings_help, formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("env", help="a built-in name (puffer envs), path/to/env.c, gymnasium:ID or "
                                   "module:callable")
    # shorthands of settings: their values go through the settings' own parser and checks
    train.add_argument("--timesteps", metavar="N", help="agent steps to train for (train.total_timesteps)")
    train.add_argument("--seed", metavar="N", help="seed of environments, weights and sampling (train.seed)")
    train.add_argument("--device", help="cpu, cuda or auto (train.device)")
    train.add_argument("--data-dir", default="runs", help="where run directories are written (default runs/)")
    train.add_argument("--config", help="a TOML file of [section] settings")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its newest checkpoint")
    train.add_argument("--wandb", action="store_true", help="log to Weights & Biases (log.wandb)")
    train.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs (log.tensorboard)")
    train.set_defaults(func=cmd_train, takes_extra="settings")

    sweep = sub.add_parser("sweep", help="search hyperparameters with Optuna (parallel, resumable)",
                           description="Search an environment's hyperparameters with Optuna. The search "
                                       "space is the [sweep.SECTION.KEY] tables of the environment's "
                                       "shipped config and of --config FILE.toml; a setting given on the "
                                       "command line is fixed (it leaves the space). Running the same "
                                       "command again continues the study. See docs/sweeps.md.",
                           epilog=_sweep_settings_help, formatter_class=argparse.RawDescriptionHelpFormatter)
    sweep.add_argument("env", help="a built-in name (puffer envs), path/to/env.c, gymnasium:ID or "
                                   "module:callable")
    sweep.add_argument("--trials", metavar="N", help="trials in the study, over every sweep sharing it "
                                                     "(sweep.trials)")
    sweep.add_argument("--jobs", metavar="K", help="trials at once on this machine (sweep.jobs)")
    sweep.add_argument("--metric", help="return, eval, or an env statistic's name (sweep.metric)")
    sweep.add_argument("--timeout", metavar="S", help="seconds after which no trial starts (sweep.timeout)")
    sweep.add_argument("--seed", metavar="N", help="the sampler's seed (sweep.seed)")
    sweep.add_argument("--storage", metavar="URL",
                       help="a database URL (sqlite:///sweep.db, postgresql://user@host/db) or "
                            "journal:PATH (default: a SQLite file in the study's folder)")
    sweep.add_argument("--study", metavar="NAME", help="the study's name (default: the environment's)")
    sweep.add_argument("--config", help="a TOML file of [section] settings and [sweep...] tables")
    sweep.add_argument("--data-dir", default="runs",
                       help="where the study's folder sweeps/NAME goes (default runs/)")
    sweep.add_argument("--report", action="store_true",
                       help="print the best trials and the Pareto front; write best.toml and plots")
    sweep.add_argument("-o", "--output", help="the folder --report writes to (default: the study's "
                                              "folder/report)")
    sweep.add_argument("--dashboard", action="store_true",
                       help="serve the study in optuna-dashboard (pip install optuna-dashboard)")
    sweep.add_argument("--port", type=_positive(int), default=8080,
                       help="the dashboard's port (default 8080)")
    sweep.set_defaults(func=cmd_sweep, takes_extra="settings")

    evaluate = sub.add_parser("eval", help="evaluate a trained checkpoint")
    evaluate.add_argument("env", help="the environment the checkpoint was trained on")
    evaluate.add_argument("--checkpoint", default="latest",
                          help="a checkpoint file, a run directory, or latest (default)")
    evaluate.add_argument("--data-dir", default="runs", help="where `latest` looks (default runs/)")
    evaluate.add_argument("--episodes", type=_positive(int), default=100, help="episodes to average over")
    evaluate.add_argument("--deterministic", action="store_true", help="take the most likely actions")
    evaluate.add_argument("--video", help="record the first environment to a .gif or .mp4")
    evaluate.add_argument("--opponent", metavar="B",
                          help="play against B on every seat and print wins/draws/losses: a checkpoint "
                               "file or run directory, random, or scripted[:PARAM] (multi-agent games)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the games against --opponent")
    evaluate.set_defaults(func=cmd_eval)

    league = sub.add_parser("league", help="a round robin of checkpoints with Elo ratings",
                            description="Every pair of players plays --episodes games on each seat; the "
                                        "ratings (Elo, mean 1000) are fitted to all the results at once.")
    league.add_argument("env", help="the game (a multi-agent environment)")
    league.add_argument("--checkpoints", nargs="+", required=True, metavar="A",
                        help="checkpoint files or run directories, random, or scripted[:PARAM]")
    league.add_argument("--data-dir", default="runs", help="where `latest` looks (default runs/)")
    league.add_argument("--episodes", type=_positive(int), default=100,
                        help="games per pairing and seat (default 100)")
    league.add_argument("--seed", type=int, default=0, help="seed of the games")
    league.set_defaults(func=cmd_league)

    export = sub.add_parser("export", help="export a trained policy as C, ONNX or TorchScript",
                            description="Export a checkpoint's policy (see docs/export.md). The policy is "
                                        "rebuilt from the checkpoint alone: the environment is not needed.")
    export.add_argument("env", nargs="?",
                        help="the environment the checkpoint was trained on (its name only: "
                             "it is neither built nor imported); needed only with "
                             "--checkpoint latest")
    export.add_argument("--checkpoint", default="latest",
                        help="a checkpoint file, a run directory, or latest (default)")
    export.add_argument("--data-dir", default="runs", help="where `latest` looks (default runs/)")
    export.add_argument("--format", default="c", help="c (default), onnx or torchscript")
    export.add_argument("-o", "--output", default="export", help="the directory to write (default export/)")
    export.set_defaults(func=cmd_export)

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
    for command in sub.choices.values():
        command.set_defaults(command_parser=command)
    return parser


def _settings_help():
    from pufferlib.train.config import settings_help

    return settings_help()


def _sweep_settings_help():
    from pufferlib.train.config import SECTIONS, settings_help

    return settings_help(sections=tuple(SECTIONS))


def _unrecognized(extra, takes):
    """The first token left over by argparse that the command does not take, or None.

    `takes` is what a command takes beyond its own options: "settings" (train: every --section.key
    VALUE, checked by `_overrides`), "env" (bench: --env.KEY VALUE; any other --section.key and the
    old --param reach `cmd_bench`, which says what to type instead) or None (nothing).
    """
    if takes == "settings":
        return None
    i = 0
    while takes == "env" and i < len(extra):
        name, sep, _ = extra[i].partition("=")
        if not (name.startswith("--") and ("." in name or name == "--param")):
            break
        i += 1 if sep else 2  # --env.size=7, or --env.size 7
    rest = extra[i:] if takes == "env" else extra
    return next((token for token in rest if token.startswith("-")), rest[0]) if rest else None


def main(argv=None):
    """Entry point of the `puffer` console command; returns the exit status."""
    from pufferlib.errors import PufferError, did_you_mean

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    takes = getattr(args, "takes_extra", None)
    unknown = _unrecognized(extra, takes)
    if unknown is not None:
        command = args.command_parser
        name = unknown.partition("=")[0]
        options = {option[2:]: option for option in command.option_strings()}
        close = did_you_mean(name[2:], options) if name.startswith("--") else ""
        command.error(f"unrecognized argument {unknown!r}{close}")
    try:
        return args.func(args, extra) if takes else args.func(args)
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
