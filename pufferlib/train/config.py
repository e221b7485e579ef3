"""Training configuration: dataclasses with defaults, per-environment TOML files, command-line overrides.

Precedence, from strongest to weakest: command line (`--section.key VALUE`) > a config file
(`--config FILE.toml`) > the environment's shipped defaults (`pufferlib/train/configs/ENV.toml`) >
the defaults below. Each key is one dataclass field, made by `setting`, that holds its type, default,
documentation and accepted values (a `Range` or choices); validation, `puffer train --help`
(`settings_help`) and the suggestions for a mistyped name all read the fields (`all_settings`). Every
value, from a TOML file or the command line, goes through one parser (`parse_value`). An unknown
section or key (with the closest one suggested), or a value of the wrong type, not finite, or outside
its accepted values, is a `ConfigError` that names the key and what it accepts.

>>> config = load_config("cartpole", overrides={"train.seed": "3"})
>>> config.train.seed, config.env.num_envs
(3, 64)
"""
import copy
import dataclasses
import inspect
import io
import json
import math
import sys
import textwrap
import typing
from importlib import resources
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python < 3.11 reads TOML through the backport
    import tomli as tomllib

from pufferlib.errors import PufferError, did_you_mean

__all__ = ["Config", "ConfigError", "EnvConfig", "LogConfig", "PolicyConfig", "Range", "SelfPlayConfig",
           "Setting", "SweepConfig", "TrainConfig", "VecConfig", "all_settings", "apply_overrides",
           "check_setting", "config_to_toml", "load_config", "parse_value", "setting", "settings_help",
           "shipped_config_names"]


class ConfigError(PufferError, ValueError):
    """A configuration key that does not exist, or a value it does not accept."""


class Range(typing.NamedTuple):
    """The values a numeric key accepts: low..high, both included unless `open_low`."""

    low: float
    high: float = math.inf
    open_low: bool = False

    def __contains__(self, value):
        return (value > self.low if self.open_low else value >= self.low) and value <= self.high

    def __str__(self):
        if self.high == math.inf:
            return f"{'>' if self.open_low else '>='} {self.low}"
        return f"in {'(' if self.open_low else '['}{self.low}, {self.high}]"


def setting(default, doc, *, range=None, choices=None, optional=False):
    """A configuration field: its default, its documentation and the values it accepts, in one place.

    Validation (`Config.validate`), `settings_help` and `puffer train --help` read these, and only
    these. A mutable default (the env parameters' {}) is copied for every instance.

    Args:
        default: the value before any TOML file or command line.
        doc: what the key does; the first sentence is the one `puffer train --help` shows.
        range: the `Range` a numeric key must lie in (every int and float key has one).
        choices: the strings a string key accepts.
        optional: the key may be unset (None, its default then): absent from a TOML file, `none`
            on the command line.

    Returns:
        A `dataclasses.field` carrying `doc`, `range`, `choices` and `optional` as its metadata.

    >>> @dataclasses.dataclass
    ... class Example:
    ...     width: int = setting(8, "Cells per row.", range=Range(1, 64))
    >>> dataclasses.fields(Example)[0].metadata["range"]
    Range(low=1, high=64, open_low=False)
    """
    metadata = {"doc": inspect.cleandoc(doc), "range": range, "choices": choices, "optional": optional}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


_INT64_MAX = 2**63 - 1
# Sizes are generous for one machine yet far from the C ints and int64s that hold them (whether the
# memory exists is checked where it is allocated); a seed below 2**63, plus an environment's index
# and 7919 * rank, stays below 2**64, the engine's and torch's seed limit.
_SIZE = Range(1, 2**24)
_THREADS = Range(0, 1024)
_POSITIVE = Range(0, open_low=True)
_NON_NEGATIVE = Range(0)
_FRACTION = Range(0, 1)
_STEPS = Range(1, 2**20)
ENCODERS = ("mlp", "nature_cnn", "impala")
ENCODINGS = ("auto", "float", "scale", "onehot")


@dataclasses.dataclass
class EnvConfig:
    """How many environments, on how many threads; any other key is an environment parameter."""

    num_envs: int = setting(32, "Environment copies stepped together (each has the env's agents per env "
                                "rows).", range=_SIZE)
    num_threads: int = setting(1, """Threads stepping native environments; 0 for the cores available
        (honours OMP_NUM_THREADS). One by default: stepping a few hundred small C envs takes less time
        than waking a second thread, and the learner's work between steps is single-threaded; raise it
        for costly envs.""", range=_THREADS)
    params: dict = setting({}, "Environment parameters (`puffer envs NAME` lists a built-in's); extra "
                               "keys of [env] land here.")


@dataclasses.dataclass
class VecConfig:
    """The vector backend for Python (Gymnasium/PettingZoo) environments; native envs ignore it."""

    backend: str = setting("serial", "'serial' (in process), 'multiprocessing' (worker processes) or "
                                     "'ray'.", choices=("serial", "multiprocessing", "ray"))
    num_workers: int = setting(0, "Worker processes or actors; 0 for as many as there are cores.",
                               range=Range(0, 4096))
    check_observations: str = setting("first", """How Gymnasium/PettingZoo observations and rewards are
        checked (pufferlib.emulation): 'first' checks observations against their spaces (NaN, bounds) on
        the first step only, 'always' on every step (finds the step that made a NaN, at a cost per step),
        'never' not at all; rewards must be finite unless 'never'. The trainer stops on any NaN or
        infinity in a rollout regardless.""", choices=("first", "always", "never"))
    timeout: float = setting(300.0, """Seconds the trainer waits for the workers' answer to one step
        before it ends the run (saving it) as hung. Five minutes: a worker steps its envs in turn, and
        one step may reset several of them, which for envs that launch a simulator or build a level can
        take a minute or more; any longer and a hung env would only look like a frozen run. Ignored by
        the serial backend.""", range=_POSITIVE)


@dataclasses.dataclass
class TrainConfig:
    """PPO with GAE(lambda)/V-trace advantages (cleanrl's names where they exist)."""

    total_timesteps: int = setting(1_000_000, "Agent steps to train for (summed over all rows and, with "
                                              "torchrun, all ranks).", range=Range(1, _INT64_MAX))
    seed: int = setting(0, "Seeds the environments (env i from (seed, i)), the policy's initial weights "
                           "and the sampler.", range=Range(0, _INT64_MAX))
    device: str = setting("cpu", "'cpu', 'cuda', or 'auto' (cuda when available).",
                          choices=("cpu", "cuda", "auto"))
    horizon: int = setting(32, "Steps per rollout and row: a rollout is [rows, horizon] transitions.",
                           range=_STEPS)
    bptt_horizon: int = setting(16, """Length of the training sequences of a recurrent policy (a divisor
        of horizon when policy.lstm); feed-forward policies train on single steps.""", range=_STEPS)
    minibatch_size: int = setting(256, "Transitions per gradient step (a multiple of bptt_horizon for "
                                       "recurrent policies).", range=_SIZE)
    update_epochs: int = setting(4, "Passes over each rollout.", range=Range(1, 1024))
    learning_rate: float = setting(2.5e-4, "Adam's step size (the start of the schedule when anneal_lr "
                                           "is not 'none').", range=_POSITIVE)
    anneal_lr: str = setting("none", "Learning-rate schedule over total_timesteps: 'none', 'linear' or "
                                     "'cosine' (to 0).", choices=("none", "linear", "cosine"))
    adam_eps: float = setting(1e-5, "Adam's epsilon.", range=_POSITIVE)
    gamma: float = setting(0.99, "Discount factor.", range=_FRACTION)
    gae_lambda: float = setting(0.95, "GAE lambda.", range=_FRACTION)
    vtrace: bool = setting(False, """Recompute advantages before every epoch after the first, with the
        current policy's values and importance ratios clipped by rho_clip / c_clip (V-trace); off: GAE
        once per rollout.""")
    rho_clip: float = setting(1.0, "V-trace clip of the importance ratio in the TD error.",
                              range=_NON_NEGATIVE)
    c_clip: float = setting(1.0, "V-trace clip of the importance ratio in the trace.", range=_NON_NEGATIVE)
    clip_coef: float = setting(0.2, "PPO's policy ratio clip.", range=_NON_NEGATIVE)
    clip_vloss: bool = setting(False, "Clip the value update around the rollout's values (by "
                                      "vf_clip_coef).")
    vf_clip_coef: float = setting(0.2, "Value clip range when clip_vloss is on.", range=_NON_NEGATIVE)
    vf_coef: float = setting(0.5, "Weight of the value loss.", range=_NON_NEGATIVE)
    ent_coef: float = setting(0.01, "Weight of the entropy bonus.", range=_NON_NEGATIVE)
    max_grad_norm: float = setting(0.5, "Global gradient-norm clip (0 turns it off).", range=_NON_NEGATIVE)
    norm_adv: bool = setting(True, "Normalise advantages per minibatch.")
    target_kl: float = setting(0.0, "Stop the epochs of a rollout early when the approximate KL exceeds "
                                    "this (0: never).", range=_NON_NEGATIVE)
    replay_alpha: float = setting(0.0, """Prioritised segment replay: sample training sequences with
        probability proportional to (mean |advantage|)^alpha; 0 samples uniformly (off).""",
                                  range=_FRACTION)
    replay_beta: float = setting(0.4, "Importance-weight exponent correcting prioritised sampling (used "
                                      "when replay_alpha > 0).", range=_FRACTION)
    overlap: str = setting("auto", """Step half of the environments while the policy acts on the other
        half: 'on', 'off', or 'auto' (on for process- and Ray-backed environments, whose steps are slow
        enough to hide).""", choices=("auto", "on", "off"))
    kernel: str = setting("auto", """'auto' runs the default policy (any action and observation kind),
        feed-forward or in an LSTM, through pufferlib's C kernels on the CPU (inference and the whole
        update); 'off' always uses torch autograd.""", choices=("auto", "off"))
    torch_threads: int = setting(1, "torch's intra-op threads on the CPU (1 leaves the other cores to the "
                                    "environments).", range=Range(1, 1024))
    compile: bool = setting(False, "torch.compile the policy (CUDA).")
    bf16: bool = setting(False, "bf16 autocast for the policy's forward passes (CUDA).")
    deterministic: bool = setting(False, "torch.use_deterministic_algorithms: bit-identical reruns (and "
                                         "resumed runs) at some cost.")


@dataclasses.dataclass
class PolicyConfig:
    """The actor-critic: separate actor and critic MLPs, or a conv encoder, optionally under an LSTM."""

    hidden_size: int = setting(64, "Width of every hidden layer (the LSTM's, when policy.lstm, is twice "
                                   "this: the actor's and the critic's features side by side).",
                               range=Range(1, 2**16))
    num_layers: int = setting(2, "Hidden layers in each of the actor and critic towers.",
                              range=Range(1, 1024))
    activation: str = setting("tanh", "'tanh' or 'relu'.", choices=("tanh", "relu"))
    lstm: bool = setting(False, "Put an LSTM between the encoder and the heads (needed for memory tasks).")
    encoder: str = setting("mlp", """'mlp' (the actor and critic MLPs above), 'nature_cnn' (Mnih et al.
                           2015) or 'impala' (Espeholt et al. 2018 residual blocks): a conv trunk for
                           (H, W) grid and (H, W, C) image observations, shared by a linear actor head
                           and value head; hidden_size and num_layers are the MLP's only.""",
                           choices=ENCODERS)
    obs_encoding: str = setting("auto", """How Box observations become features: 'float' (cast), 'scale'
                                (divided by their largest bound: uint8 / 255), 'onehot' (integer cells,
                                one feature per value of the Box's range, at most 256 values) or 'auto':
                                'float' for the MLP; for a conv encoder 'onehot' on integer (H, W) grids
                                of at most 16 values, 'scale' on other integer images.""",
                                choices=ENCODINGS)
    cnn_channels: str = setting("auto", """Output channels of each conv layer (nature_cnn) or each stage
                                (impala), comma-separated: '32,64,64'; 'auto' takes the paper's: 32,64,64
                                for nature_cnn, 16,32,32 for impala.""")
    cnn_kernels: str = setting("8,4,3", """Kernel size of each nature_cnn conv layer, comma-separated (its
                               defaults need observations of at least 36x36; '3,3,3' with cnn_strides
                               '1,1,1' suits an 11x11 grid).""")
    cnn_strides: str = setting("4,2,1", "Stride of each nature_cnn conv layer, comma-separated.")
    cnn_width: int = setting(512, "Width of the conv encoder's final linear layer (the heads' input).",
                             range=Range(1, 2**16))

    def cnn_layers(self, source="config"):
        """(channels, kernels, strides) of the conv encoder, as tuples of ints.

        Raises:
            ConfigError: a list that is not comma-separated positive integers, or lists of
                different lengths for nature_cnn.

        >>> PolicyConfig(encoder="impala").cnn_layers()
        ((16, 32, 32), (8, 4, 3), (4, 2, 1))
        """
        default = CNN_CHANNELS.get(self.encoder, CNN_CHANNELS["nature_cnn"])
        channels = default if self.cnn_channels == "auto" else _int_list("policy.cnn_channels",
                                                                          self.cnn_channels, source)
        kernels = _int_list("policy.cnn_kernels", self.cnn_kernels, source)
        strides = _int_list("policy.cnn_strides", self.cnn_strides, source)
        if self.encoder == "nature_cnn" and not len(channels) == len(kernels) == len(strides):
            raise ConfigError(f"{source}: policy.cnn_channels, cnn_kernels and cnn_strides need one entry "
                              f"per nature_cnn conv layer, got {len(channels)}, {len(kernels)} and "
                              f"{len(strides)} "
                              f"({','.join(map(str, channels))} / {self.cnn_kernels} / {self.cnn_strides})")
        return channels, kernels, strides


CNN_CHANNELS = {"nature_cnn": (32, 64, 64), "impala": (16, 32, 32)}


def _int_list(name, text, source):
    """'32, 64,64' -> (32, 64, 64); a ConfigError naming the key for anything else."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1 or max(values) > 4096:
        raise ConfigError(f"{source}: {name} must be comma-separated integers in [1, 4096] "
                          f"(e.g. '32,64,64'), got {text!r}")
    return values


@dataclasses.dataclass
class LogConfig:
    """Where and how often a run reports and saves."""

    interval: float = setting(1.0, "Seconds between logging intervals (metrics.jsonl lines, dashboard "
                                   "updates).", range=_POSITIVE)
    checkpoint_interval: float = setting(60.0, "Seconds between checkpoints (one is always written at the "
                                               "end and on Ctrl-C).", range=_POSITIVE)
    dashboard: str = setting("auto", "'auto' (a live dashboard in a terminal, plain lines otherwise), "
                                     "'on' or 'off'.", choices=("auto", "on", "off"))
    tensorboard: bool = setting(False, "Write TensorBoard event files into the run directory (`pip "
                                       "install tensorboard`).")
    wandb: bool = setting(False, "Log to Weights & Biases (`pip install wandb`).")
    wandb_project: str = setting("pufferlib", "The W&B project.")


@dataclasses.dataclass
class SelfPlayConfig:
    """Self-play: the learner against a league of its past selves and fixed opponents (train.selfplay).

    In a multi-agent environment the learner controls one team's rows of every env and opponents
    drawn from the pool control the others; docs/selfplay.md.
    """

    enabled: bool = setting(False, """Train against a pool of opponents: the learner plays one team of
        every env (drawn per game), frozen policies of the pool the others. A built-in game with a
        `self_play` parameter is switched to its multi-seat mode.""")
    pool_size: int = setting(8, "Snapshots of the learner the pool keeps (the opponents of "
                                "selfplay.opponents come on top).", range=Range(1, 1024))
    snapshot_interval: int = setting(10, "Updates between snapshots of the learner into the pool.",
                                     range=Range(1, 10**9))
    drop: str = setting("oldest", "Which snapshot leaves a full pool: 'oldest', or 'weakest' (lowest "
                                  "Elo).", choices=("oldest", "weakest"))
    sampling: str = setting("pfsp", """How each game's opponent is drawn from the pool: 'latest' (the
        newest snapshot), 'uniform', or 'pfsp' (prioritised fictitious self-play: by how often the
        learner loses to each, weight (1 - win rate) ** pfsp_power).""",
                            choices=("latest", "uniform", "pfsp"))
    active: int = setting(8, """Opponents in play at once: each update draws this many members of the
        pool (by selfplay.sampling) and new games draw among them, so opponent inference runs in
        a few large batches however big the pool.""", range=Range(1, 1024))
    pfsp_power: float = setting(2.0, "The exponent of pfsp's weights (0: uniform; higher: the hardest "
                                     "opponents more often).", range=Range(0, 100))
    opponents: str = setting("", """Fixed members of the pool, comma-separated: 'random' (uniform legal
        actions), 'scripted' or 'scripted:PARAM' (the game's scripted player,
        pufferlib.envs.scripted), or checkpoint files / run directories; never dropped.""")
    teams: str = setting("auto", """The env's seats in teams, e.g. '0,1/2,3' for 2v2: teams separated
        by '/', seats by ','; 'auto': every seat its own team. The learner plays one team per
        env, an opponent from the pool each other team.""")
    elo_k: float = setting(16.0, "Elo's K factor: the rating points a game moves at most.",
                           range=Range(0, 1000, open_low=True))
    initial_elo: float = setting(1000.0, "The learner's and every fixed opponent's starting rating "
                                         "(snapshots start at the learner's rating).",
                                 range=Range(-1e6, 1e6))


@dataclasses.dataclass
class SweepConfig:
    """`puffer sweep`: how trials run and what they are scored on (pufferlib.sweep).

    `puffer train` ignores it. Tables [sweep.SECTION.KEY] declare the search space (docs/sweeps.md).
    """

    trials: int = setting(100, """Trials the study runs to an end (completed, pruned, or failed in their
        own right), counted over every sweep sharing its storage; trials cut off by a killed sweep are
        not counted.""", range=Range(1, 10**6))
    jobs: int = setting(1, """Trials run at once on this machine, each in its own process; every trial's
        env.num_threads and train.torch_threads are capped at cores / jobs unless set on the command
        line.""", range=Range(1, 1024))
    timeout: float = setting(0.0, "Seconds after which this sweep starts no new trial (0: no limit).",
                             range=_NON_NEGATIVE)
    seed: int = setting(0, "Seeds the sampler: one job with the same seed and storage makes the same "
                           "suggestions given the same results.", range=Range(0, 2**32 - 1))
    sampler: str = setting("tpe", "'tpe' (Optuna's Tree-structured Parzen Estimator) or 'random'.",
                           choices=("tpe", "random"))
    pruner: str = setting("auto", """Stops poor trials early from their intermediate scores: 'median',
        'halving' (successive halving), 'hyperband' or 'none'; 'auto' is 'median', or 'none' for
        objective 'pareto' (Optuna prunes single-objective studies only).""",
                          choices=("auto", "median", "halving", "hyperband", "none"))
    objective: str = setting("auto", """What a trial is worth: 'time' (minimise the seconds until the
        score reaches sweep.threshold), 'penalized' (maximise score - cost_weight * cost), 'pareto'
        (maximise score and minimise cost together; the report gives the Pareto front); 'auto' is
        'time' when sweep.threshold is set, else 'pareto'.""",
                            choices=("auto", "time", "penalized", "pareto"))
    metric: str = setting("return", """The score: 'return' (mean episode return over the last
        sweep.episodes training episodes), 'eval' (mean return of sweep.eval_episodes episodes of the
        trained policy) or the name of one of the environment's statistics (e.g. 'score'), over the
        last sweep.episodes episodes.""")
    episodes: int = setting(100, "Training episodes the running score averages over.",
                            range=Range(1, 10**7))
    eval_episodes: int = setting(100, "Episodes of the final evaluation (metric 'eval').",
                                 range=Range(1, 10**7))
    threshold: float = setting(None, "The score a trial must reach (objective 'time'); none by default.",
                               optional=True)
    cost: str = setting("time", "What a trial costs: 'time' (seconds of training) or 'steps' (millions "
                                "of environment steps).", choices=("time", "steps"))
    cost_weight: float = setting(1.0, "Score given up per unit of cost (objective 'penalized').",
                                 range=_NON_NEGATIVE)
    trial_seconds: float = setting(600.0, """Seconds of training after which a trial stops and is
        recorded as failed (a hung trial is killed soon after).""", range=_POSITIVE)
    reports: int = setting(20, """Points of the base config's total_timesteps at which trials report their
        running score to the pruner (trials are compared at the same points).""", range=Range(1, 10**4))
    space: dict = setting({}, "The search space: {\"section.key\": {distribution, min, max | values}}, "
                              "from the [sweep.SECTION.KEY] tables.")


SECTIONS = {"env": EnvConfig, "vec": VecConfig, "train": TrainConfig, "policy": PolicyConfig,
            "log": LogConfig, "selfplay": SelfPlayConfig, "sweep": SweepConfig}
# the sections a run's settings live in, and a sweep's space may search (not [sweep] itself)
RUN_SECTIONS = ("env", "vec", "train", "policy", "log", "selfplay")


@dataclasses.dataclass
class Config:
    """A whole run's configuration: one dataclass per section."""

    env: EnvConfig = dataclasses.field(default_factory=EnvConfig)
    vec: VecConfig = dataclasses.field(default_factory=VecConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    policy: PolicyConfig = dataclasses.field(default_factory=PolicyConfig)
    log: LogConfig = dataclasses.field(default_factory=LogConfig)
    selfplay: SelfPlayConfig = dataclasses.field(default_factory=SelfPlayConfig)
    sweep: SweepConfig = dataclasses.field(default_factory=SweepConfig)

    def to_dict(self):
        """The configuration as a nested dict of plain values (for TOML/JSON and checkpoints)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data, source="config"):
        """Builds a Config from a nested dict (missing keys take their defaults), checking every key."""
        config = cls()
        config.update(data, source)
        return config

    def update(self, data, source="config"):
        """Sets the keys of a nested dict {section: {key: value}}; values are converted and checked.

        Raises:
            ConfigError: an unknown section or key, or a bad value (the message names it and `source`).
        """
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a table of sections {sorted(SECTIONS)}, got "
                              f"{type(data).__name__}")
        for section, values in data.items():
            if section not in SECTIONS:
                raise ConfigError(f"{source}: unknown section [{section}]; the sections are "
                                  f"{', '.join(SECTIONS)}{did_you_mean(section, list(SECTIONS))}")
            if not isinstance(values, dict):
                raise ConfigError(f"{source}: [{section}] must be a table of keys, got {values!r}")
            for key, value in values.items():
                self.set(section, key, value, source)
        self.validate(source)

    def set(self, section, key, value, source="config"):
        """Sets one key, its value converted by `parse_value` (checked by `validate`).

        Raises:
            ConfigError: an unknown key, or a value that is not of the key's type.
        """
        target = getattr(self, section)
        fields = {f.name: f for f in dataclasses.fields(target)}
        if section == "env" and key == "params":
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: env.params must be a table, got {value!r}")
            for name, param in value.items():
                target.params[name] = parse_value(f"env.{name}", None, param, source)
            return
        if section == "env" and key not in fields:  # environment parameters live beside num_envs
            target.params[key] = parse_value(f"env.{key}", None, value, source)
            return
        if section == "sweep" and key.partition(".")[0] in RUN_SECTIONS:  # the search space
            self._set_space(key, value, source)
            return
        if section == "sweep" and key == "space":  # a whole space, {"section.key": {...}} (from_dict)
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: sweep.space must be a table, got {value!r}")
            for name, entry in value.items():
                self._set_space(name, entry, source)
            return
        if key not in fields:
            close = did_you_mean(key, {name: f"{section}.{name}" for name in fields})
            raise ConfigError(f"{source}: unknown key {section}.{key}" + (close or f"; [{section}] has "
                              f"{', '.join(sorted(fields))}"))
        if fields[key].metadata["optional"] and value in (None, "none"):
            setattr(target, key, None)
            return
        setattr(target, key, parse_value(f"{section}.{key}", fields[key].type, value, source))

    def _set_space(self, key, value, source):
        """[sweep.SECTION] tables, or --sweep.SECTION.KEY.FIELD VALUE, into sweep.space["SECTION.KEY"].

        What the entries say is checked by `pufferlib.sweep.space.parse_space`.
        """
        section, _, rest = key.partition(".")
        space = self.sweep.space
        if not rest:  # a whole [sweep.SECTION] table of {KEY: {field: value}}
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: sweep.{section} must be a table of [sweep.{section}.KEY] "
                                  f"tables, got {value!r}")
            for name, entry in value.items():
                self._set_space(f"{section}.{name}", entry, source)
            return
        name, _, field = rest.partition(".")
        dotted = f"{section}.{name}"
        if field:  # the command line narrows one field of an entry: --sweep.train.learning_rate.max 0.01
            space.setdefault(dotted, {})[field] = parse_value(f"sweep.{dotted}.{field}", None, value, source)
            return
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: sweep.{dotted} must be a table (distribution = \"...\", min, "
                              f"max or values), got {value!r}")
        space[dotted] = {field: parse_value(f"sweep.{dotted}.{field}", None, item, source)
                         if not isinstance(item, list) else list(item) for field, item in value.items()}

    def validate(self, source="config"):
        """Checks every key against its field's choices or range, and the keys against each other.

        Raises:
            ConfigError: the first offending key, with the values it accepts.
        """
        for item in all_settings():
            section, _, key = item.name.partition(".")
            check_setting(item, getattr(getattr(self, section), key), source)
        t, p = self.train, self.policy
        p.cnn_layers(source)
        if p.lstm and t.horizon % t.bptt_horizon:
            raise ConfigError(f"{source}: train.bptt_horizon ({t.bptt_horizon}) must divide train.horizon "
                              f"({t.horizon}); try bptt_horizon = {math.gcd(t.horizon, t.bptt_horizon)}")


def check_setting(item, value, source="config"):
    """Checks one key's (parsed) value against its `Setting`: choices, finiteness, range.

    Raises:
        ConfigError: the value is not one the key accepts (the message says which it accepts).
    """
    if value is None and item.optional:
        return
    if item.choices is not None and value not in item.choices:
        raise ConfigError(f"{source}: {item.name} must be one of {', '.join(item.choices)}, got {value!r}")
    if item.type is float and not math.isfinite(value):  # inf and nan train nothing
        raise ConfigError(f"{source}: {item.name} must be a finite number, got {value!r}")
    if item.range is not None and value not in item.range:
        raise ConfigError(f"{source}: {item.name} must be {item.range}, got {value!r}")


def parse_value(name, kind, value, source="command line"):
    """The one value parser of the configuration, for TOML files and the command line alike.

    A string given to a key that is not a string is read as the TOML scalar it spells, so
    `--train.seed 3` on the command line and `seed = 3` (or `seed = "3"`) in a file give the same
    value, and a bad value the same error.

    Args:
        name: the key, "section.key", for the error message.
        kind: the field's type (int, float, bool or str), or None for an environment parameter,
            which keeps the scalar its text spells (7, 0.5, true), else the text.
        value: what the TOML file holds, or the command-line string.
        source: where the value came from, for the error message.

    Returns:
        The value as `kind`.

    Raises:
        ConfigError: a value that is not of the key's type ("train.seed must be an integer, got 'x'").

    >>> parse_value("train.seed", int, "3"), parse_value("env.size", None, "7")
    (3, 7)
    """
    if isinstance(value, str) and kind is not str:
        text = value.strip()
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
    if kind is None:
        return value
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an integer beyond any float (1e400 parses as inf, 10**400 does not)
            raise ConfigError(f"{source}: {name} must be a finite number, got {value!r}") from None
    if kind is str and isinstance(value, str):
        return value
    expected = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[kind]
    raise ConfigError(f"{source}: {name} must be {expected}, got {value!r}")


class Setting(typing.NamedTuple):
    """One configuration key, as its field in the dataclasses above defines it.

    Attributes:
        name: "section.key".
        type: int, float, bool, str, or dict (the environment parameters).
        default: the value before any TOML file or command line.
        doc: what the key does.
        range: the `Range` a numeric key accepts (every int and float key has one), else None.
        choices: the strings a string key accepts when it is one of a few, else None.
        optional: the key may be None (unset).
    """

    name: str
    type: type
    default: object
    doc: str
    range: typing.Optional[Range]
    choices: typing.Optional[tuple]
    optional: bool = False


def all_settings():
    """Every configuration key, in the order of the dataclasses, read from its field.

    The one listing that validation, `settings_help` and the command line's suggestions use.

    >>> [s for s in all_settings() if s.name == "train.gamma"][0].range
    Range(low=0, high=1, open_low=False)
    """
    found = []
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            found.append(Setting(f"{section}.{f.name}", f.type, default, f.metadata["doc"],
                                 f.metadata["range"], f.metadata["choices"], f.metadata["optional"]))
    return found


def shipped_config_names():
    """Names of the environments with shipped defaults (pufferlib/train/configs/NAME.toml)."""
    folder = resources.files("pufferlib.train") / "configs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def typed_setting_names():
    """{name as a user may type it: "section.key"}, both the dotted name and the bare key.

    The choices `did_you_mean` picks from for a mistyped setting (e.g. --learning_rate).
    """
    names = [item.name for item in all_settings()]
    bare = {name.partition(".")[2]: name for name in reversed(names)}  # a bare key names its first owner
    return {**bare, **{name: name for name in names}}


def settings_help(sections=RUN_SECTIONS):
    """The text listing every setting: --section.key TYPE = default (accepted values), then its doc.

    `puffer train --help` (the run's sections) and `puffer sweep --help` (with [sweep]) print it; the
    fields of the dataclasses above are its only source.
    """
    lines = ["settings: --section.key VALUE on the command line, or [section] key = VALUE in a --config",
             "FILE; the defaults shown are before an environment's own (pufferlib/train/configs/ENV.toml)."]
    section = None
    for item in all_settings():
        if item.name.partition(".")[0] not in sections:
            continue
        if item.name.partition(".")[0] != section:
            section = item.name.partition(".")[0]
            lines.append("")
        doc = " ".join(item.doc.split())
        first = doc.split(". ")[0].rstrip(".") + "." if doc else ""
        if item.name == "env.params":
            head = "--env.NAME VALUE"
        elif item.name == "sweep.space":
            head = "--sweep.SECTION.KEY.FIELD VALUE"
        else:
            head = f"--{item.name} {item.type.__name__.upper()} = {_toml(item.default)}"
            if item.choices is not None:
                head += f"  (one of {', '.join(item.choices)})"
            elif item.range is not None:
                head += f"  ({item.range})"
        lines.append(f"  {head}")
        lines += textwrap.wrap(first, 100, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return "\n".join(lines)


def _toml(value):
    """A default as it is written in TOML or on the command line: true, 'name', 0.00025, 64, none."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else repr(value)


def _toml_value(value):
    """A scalar as TOML writes it, exactly: true, "name", 0.00025 (repr keeps every digit), 64."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    raise ConfigError(f"cannot write {value!r} ({type(value).__name__}) as a TOML value")


def config_to_toml(config, sections=RUN_SECTIONS, header=""):
    """A Config as the text of a TOML file that `load_config(config_file=...)` reads back unchanged.

    Every key of `sections` is written (environment parameters among [env]'s keys), so the file
    says the whole run, whatever defaults an environment ships; unset optional keys are left out.

    Args:
        config: the Config.
        sections: the sections to write (by default the run's, not [sweep]).
        header: comment lines to put first (each without its "# ").

    >>> text = config_to_toml(load_config("cartpole"))
    >>> config_to_toml(load_config(config_file=io.StringIO(text))) == text  # the same run, read back
    True
    """
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    data = config.to_dict()
    for section in sections:
        lines += ["", f"[{section}]"] if lines else [f"[{section}]"]
        for key, value in data[section].items():
            if isinstance(value, dict):  # env.params, beside num_envs
                lines += [f"{name} = {_toml_value(item)}" for name, item in value.items()]
            elif value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _read_toml(path, source):
    """The tables of the TOML file `path` (or a text stream); a ConfigError for any way it cannot be read."""
    if isinstance(path, io.TextIOBase):
        return tomllib.loads(path.read())
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory; give the path of a .toml file") from None
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(f"config file {path} is not UTF-8 text: byte 0x{data[e.start]:02x} at offset "
                          f"{e.start} (line {line}); TOML files are UTF-8, save it as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source} is not valid TOML: {e}") from None


def apply_overrides(config, overrides, source="command line"):
    """Sets {"section.key": value} settings (strings parsed as TOML scalars) on a Config in place.

    Raises:
        ConfigError: a malformed name, an unknown key or a bad value.
    """
    nested = {}
    for dotted, value in (overrides or {}).items():
        section, sep, key = dotted.partition(".")
        if not sep or not key:
            close = did_you_mean(dotted, typed_setting_names())
            raise ConfigError(f"{source}: options take the form --section.key VALUE, got --{dotted}; "
                              f"the sections are {', '.join(SECTIONS)}{close}")
        nested.setdefault(section, {})[key] = value
    if nested:
        config.update(nested, source=source)
    return config


def load_config(env_name=None, config_file=None, overrides=None):
    """Resolves a run's configuration: defaults < shipped env defaults < config file < overrides.

    A config file that declares a search space ([sweep.SECTION.KEY] tables) replaces the shipped
    space as a whole; every other key of the file overrides the shipped one alone.

    Args:
        env_name: the environment; its shipped defaults apply when pufferlib has them.
        config_file: optional path of a TOML file with [section] tables (or a text stream of one).
        overrides: {"section.key": value} from the command line (strings are parsed as TOML
            scalars: 3, 0.5, true, "name").

    Returns:
        A validated `Config`.

    Raises:
        ConfigError: a missing or malformed file, an unknown key, or a bad value.
    """
    config = Config()
    if env_name is not None and env_name in shipped_config_names():
        path = resources.files("pufferlib.train") / "configs" / f"{env_name}.toml"
        config.update(tomllib.loads(path.read_text()), source=f"shipped defaults for {env_name}")
    if config_file is not None:
        source = "config text" if isinstance(config_file, io.TextIOBase) else str(config_file)
        data = _read_toml(config_file if source == "config text" else Path(config_file), source)
        sweep = data.get("sweep")
        if isinstance(sweep, dict) and any(key in RUN_SECTIONS for key in sweep):
            config.sweep.space = {}  # a file's search space replaces the shipped one, never widens it
        config.update(data, source=source)
    apply_overrides(config, overrides)
    return config
