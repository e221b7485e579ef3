"""Training configuration: dataclasses with defaults, per-environment TOML files, command-line overrides.

Precedence, from strongest to weakest: command line (`--section.key VALUE`) > a config file
(`--config FILE.toml`) > the environment's shipped defaults (`pufferlib/train/configs/ENV.toml`) >
the defaults below. Every key is checked: an unknown section or key (with the closest one
suggested), or a value of the wrong type, not finite, or outside its allowed values (`CHOICES`,
`RANGES`), is a `ConfigError` that names the key and what it accepts. `puffer train --help` lists
every key with its type, default, accepted values and doc (`settings_help`).

>>> config = load_config("cartpole", overrides={"train.seed": "3"})
>>> config.train.seed, config.env.num_envs
(3, 64)
"""
import ast
import dataclasses
import inspect
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

__all__ = ["Config", "ConfigError", "EnvConfig", "LogConfig", "PolicyConfig", "TrainConfig", "VecConfig",
           "apply_overrides", "load_config", "settings_help", "shipped_config_names"]


class ConfigError(PufferError, ValueError):
    """A configuration key that does not exist, or a value it does not accept."""


# Allowed values of the string-valued keys; checked by `Config.validate`.
CHOICES = {
    ("vec", "backend"): ("serial", "multiprocessing", "ray"),
    ("vec", "check_observations"): ("first", "always", "never"),
    ("train", "device"): ("cpu", "cuda", "auto"),
    ("train", "anneal_lr"): ("none", "linear", "cosine"),
    ("train", "overlap"): ("auto", "on", "off"),
    ("train", "kernel"): ("auto", "off"),
    ("policy", "activation"): ("tanh", "relu"),
    ("log", "dashboard"): ("auto", "on", "off"),
}


class _Range(typing.NamedTuple):
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


_INT64_MAX = 2**63 - 1
# Ranges of the numeric keys; checked by `Config.validate` (a test checks that every int and float
# key has one). Sizes are generous for one machine yet far from the C ints and int64s that hold
# them (whether the memory exists is checked where it is allocated); a seed below 2**63, plus an
# environment's index and 7919 * rank, stays below 2**64, the engine's and torch's seed limit.
RANGES = {
    ("env", "num_envs"): _Range(1, 2**24),
    ("env", "num_threads"): _Range(0, 1024),
    ("vec", "num_workers"): _Range(0, 4096),
    ("vec", "timeout"): _Range(0, open_low=True),
    ("train", "total_timesteps"): _Range(1, _INT64_MAX),
    ("train", "seed"): _Range(0, _INT64_MAX),
    ("train", "horizon"): _Range(1, 2**20),
    ("train", "bptt_horizon"): _Range(1, 2**20),
    ("train", "minibatch_size"): _Range(1, 2**24),
    ("train", "update_epochs"): _Range(1, 1024),
    ("train", "learning_rate"): _Range(0, open_low=True),
    ("train", "adam_eps"): _Range(0, open_low=True),
    ("train", "gamma"): _Range(0, 1),
    ("train", "gae_lambda"): _Range(0, 1),
    ("train", "rho_clip"): _Range(0),
    ("train", "c_clip"): _Range(0),
    ("train", "clip_coef"): _Range(0),
    ("train", "vf_clip_coef"): _Range(0),
    ("train", "vf_coef"): _Range(0),
    ("train", "ent_coef"): _Range(0),
    ("train", "max_grad_norm"): _Range(0),
    ("train", "target_kl"): _Range(0),
    ("train", "replay_alpha"): _Range(0, 1),
    ("train", "replay_beta"): _Range(0, 1),
    ("train", "torch_threads"): _Range(1, 1024),
    ("policy", "hidden_size"): _Range(1, 2**16),
    ("policy", "num_layers"): _Range(1, 1024),
    ("policy", "lstm_size"): _Range(1, 2**16),
    ("log", "interval"): _Range(0, open_low=True),
    ("log", "checkpoint_interval"): _Range(0, open_low=True),
}


@dataclasses.dataclass
class EnvConfig:
    """How many environments, on how many threads; any other key is an environment parameter."""

    num_envs: int = 32
    """Environment copies stepped together (each has the env's agents per env rows)."""
    num_threads: int = 1
    """Threads stepping native environments; 0 for the cores available (honours OMP_NUM_THREADS).
    One by default: stepping a few hundred small C envs takes less time than waking a second
    thread, and the learner's work between steps is single-threaded; raise it for costly envs."""
    params: dict = dataclasses.field(default_factory=dict)
    """Environment parameters (`puffer envs NAME` lists a built-in's); extra keys of [env] land here."""


@dataclasses.dataclass
class VecConfig:
    """The vector backend for Python (Gymnasium/PettingZoo) environments; native envs ignore it."""

    backend: str = "serial"
    """'serial' (in process), 'multiprocessing' (worker processes) or 'ray'."""
    num_workers: int = 0
    """Worker processes or actors; 0 for as many as there are cores."""
    check_observations: str = "first"
    """How Gymnasium/PettingZoo observations and rewards are checked (pufferlib.emulation): 'first'
    checks observations against their spaces (NaN, bounds) on the first step only, 'always' on every
    step (finds the step that made a NaN, at a cost per step), 'never' not at all; rewards must be
    finite unless 'never'. The trainer stops on any NaN or infinity in a rollout regardless."""
    timeout: float = 300.0
    """Seconds the trainer waits for the workers' answer to one step before it ends the run (saving
    it) as hung. Five minutes: a worker steps its envs in turn, and one step may reset several of
    them, which for envs that launch a simulator or build a level can take a minute or more; any
    longer and a hung env would only look like a frozen run. Ignored by the serial backend."""


@dataclasses.dataclass
class TrainConfig:
    """PPO with GAE(lambda)/V-trace advantages (cleanrl's names where they exist)."""

    total_timesteps: int = 1_000_000
    """Agent steps to train for (summed over all rows and, with torchrun, all ranks)."""
    seed: int = 0
    """Seeds the environments (env i from (seed, i)), the policy's initial weights and the sampler."""
    device: str = "cpu"
    """'cpu', 'cuda', or 'auto' (cuda when available)."""
    horizon: int = 32
    """Steps per rollout and row: a rollout is [rows, horizon] transitions."""
    bptt_horizon: int = 16
    """Length of the training sequences of a recurrent policy (a divisor of horizon when policy.lstm);
    feed-forward policies train on single steps."""
    minibatch_size: int = 256
    """Transitions per gradient step (a multiple of bptt_horizon for recurrent policies)."""
    update_epochs: int = 4
    """Passes over each rollout."""
    learning_rate: float = 2.5e-4
    """Adam's step size (the start of the schedule when anneal_lr is not 'none')."""
    anneal_lr: str = "none"
    """Learning-rate schedule over total_timesteps: 'none', 'linear' or 'cosine' (to 0)."""
    adam_eps: float = 1e-5
    """Adam's epsilon."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    vtrace: bool = False
    """Recompute advantages before every epoch after the first, with the current policy's values and
    importance ratios clipped by rho_clip / c_clip (V-trace); off: GAE once per rollout."""
    rho_clip: float = 1.0
    """V-trace clip of the importance ratio in the TD error."""
    c_clip: float = 1.0
    """V-trace clip of the importance ratio in the trace."""
    clip_coef: float = 0.2
    """PPO's policy ratio clip."""
    clip_vloss: bool = False
    """Clip the value update around the rollout's values (by vf_clip_coef)."""
    vf_clip_coef: float = 0.2
    """Value clip range when clip_vloss is on."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    ent_coef: float = 0.01
    """Weight of the entropy bonus."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip (0 turns it off)."""
    norm_adv: bool = True
    """Normalise advantages per minibatch."""
    target_kl: float = 0.0
    """Stop the epochs of a rollout early when the approximate KL exceeds this (0: never)."""
    replay_alpha: float = 0.0
    """Prioritised segment replay: sample training sequences with probability proportional to
    (mean |advantage|)^alpha; 0 samples uniformly (off)."""
    replay_beta: float = 0.4
    """Importance-weight exponent correcting prioritised sampling (used when replay_alpha > 0)."""
    overlap: str = "auto"
    """Step half of the environments while the policy acts on the other half: 'on', 'off', or 'auto'
    (on for process- and Ray-backed environments, whose steps are slow enough to hide)."""
    kernel: str = "auto"
    """'auto' runs the default feed-forward policy on discrete actions through pufferlib's C kernel
    on the CPU (inference and the whole update); 'off' always uses torch autograd."""
    torch_threads: int = 1
    """torch's intra-op threads on the CPU (1 leaves the other cores to the environments)."""
    compile: bool = False
    """torch.compile the policy (CUDA)."""
    bf16: bool = False
    """bf16 autocast for the policy's forward passes (CUDA)."""
    deterministic: bool = False
    """torch.use_deterministic_algorithms: bit-identical reruns (and resumed runs) at some cost."""


@dataclasses.dataclass
class PolicyConfig:
    """The default actor-critic: separate actor and critic MLPs, optionally under an LSTM."""

    hidden_size: int = 64
    """Width of every hidden layer."""
    num_layers: int = 2
    """Hidden layers in each of the actor and critic towers."""
    activation: str = "tanh"
    """'tanh' or 'relu'."""
    lstm: bool = False
    """Put an LSTM between the encoder and the heads (needed for memory tasks)."""
    lstm_size: int = 128
    """Hidden size of the LSTM."""


@dataclasses.dataclass
class LogConfig:
    """Where and how often a run reports and saves."""

    interval: float = 1.0
    """Seconds between logging intervals (metrics.jsonl lines, dashboard updates)."""
    checkpoint_interval: float = 60.0
    """Seconds between checkpoints (one is always written at the end and on Ctrl-C)."""
    dashboard: str = "auto"
    """'auto' (a live dashboard in a terminal, plain lines otherwise), 'on' or 'off'."""
    tensorboard: bool = False
    """Write TensorBoard event files into the run directory (`pip install tensorboard`)."""
    wandb: bool = False
    """Log to Weights & Biases (`pip install wandb`)."""
    wandb_project: str = "pufferlib"
    """The W&B project."""


SECTIONS = {"env": EnvConfig, "vec": VecConfig, "train": TrainConfig, "policy": PolicyConfig,
            "log": LogConfig}


@dataclasses.dataclass
class Config:
    """A whole run's configuration: one dataclass per section."""

    env: EnvConfig = dataclasses.field(default_factory=EnvConfig)
    vec: VecConfig = dataclasses.field(default_factory=VecConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    policy: PolicyConfig = dataclasses.field(default_factory=PolicyConfig)
    log: LogConfig = dataclasses.field(default_factory=LogConfig)

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
        """Sets one key, converting strings from the command line to the field's type."""
        target = getattr(self, section)
        fields = {f.name: f for f in dataclasses.fields(target)}
        if section == "env" and key == "params":
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: env.params must be a table, got {value!r}")
            for name, param in value.items():
                target.params[name] = _parse_scalar(param) if isinstance(param, str) else param
            return
        if section == "env" and key not in fields:  # environment parameters live beside num_envs
            target.params[key] = _parse_scalar(value) if isinstance(value, str) else value
            return
        if key not in fields:
            close = did_you_mean(key, {name: f"{section}.{name}" for name in fields})
            raise ConfigError(f"{source}: unknown key {section}.{key}" + (close or f"; [{section}] has "
                              f"{', '.join(sorted(fields))}"))
        setattr(target, key, _convert(f"{section}.{key}", fields[key].type, value, source))

    def validate(self, source="config"):
        """Checks ranges and allowed values across the whole configuration.

        Raises:
            ConfigError: the first offending key, with the values it accepts.
        """
        for (section, key), allowed in CHOICES.items():
            value = getattr(getattr(self, section), key)
            if value not in allowed:
                raise ConfigError(f"{source}: {section}.{key} must be one of {', '.join(allowed)}, "
                                  f"got {value!r}")
        for section, cls in SECTIONS.items():  # one rule for every float: inf and nan train nothing
            for field in dataclasses.fields(cls):
                value = getattr(getattr(self, section), field.name)
                if field.type is float and not math.isfinite(value):
                    raise ConfigError(f"{source}: {section}.{field.name} must be a finite number, "
                                      f"got {value!r}")
        for (section, key), allowed in RANGES.items():
            value = getattr(getattr(self, section), key)
            if value not in allowed:
                raise ConfigError(f"{source}: {section}.{key} must be {allowed}, got {value!r}")
        t, p = self.train, self.policy
        if p.lstm and t.horizon % t.bptt_horizon:
            raise ConfigError(f"{source}: train.bptt_horizon ({t.bptt_horizon}) must divide train.horizon "
                              f"({t.horizon}); try bptt_horizon = {math.gcd(t.horizon, t.bptt_horizon)}")


def _parse_scalar(text):
    """A command-line string as the TOML scalar it spells (int, float, bool), else the string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _convert(name, kind, value, source):
    """`value` as the field type `kind` (int, float, bool or str), from TOML or a command-line string."""
    kind = {"int": int, "float": float, "bool": bool, "str": str}.get(kind, kind)
    if isinstance(value, str) and kind is not str:
        value = _parse_scalar(value.strip())
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


def shipped_config_names():
    """Names of the environments with shipped defaults (pufferlib/train/configs/NAME.toml)."""
    folder = resources.files("pufferlib.train") / "configs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def setting_names():
    """Every "section.key" of the configuration, in the order of the dataclasses."""
    return [f"{section}.{f.name}" for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


def typed_setting_names():
    """{name as a user may type it: "section.key"}, both the dotted name and the bare key.

    The choices `did_you_mean` picks from for a mistyped setting (e.g. --learning_rate).
    """
    names = setting_names()
    return {**{name.partition(".")[2]: name for name in names}, **{name: name for name in names}}


def field_docs(cls):
    """{field name: docstring} of a config dataclass: the string literal under each field.

    Returns an empty dict when the source is not available (a .pyc-only install).
    """
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body
    return {node.target.id: inspect.cleandoc(after.value.value)
            for node, after in zip(body, body[1:])
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)}


def settings_help():
    """The text listing every setting: --section.key TYPE = default (accepted values), then its doc.

    `puffer train --help` prints it; the dataclasses above are its only source.
    """
    lines = ["settings: --section.key VALUE on the command line, or [section] key = VALUE in a --config",
             "FILE; the defaults shown are before an environment's own (pufferlib/train/configs/ENV.toml)."]
    for section, cls in SECTIONS.items():
        docs = field_docs(cls)
        lines.append("")
        for field in dataclasses.fields(cls):
            doc = " ".join(docs.get(field.name, "").split())
            first = doc.split(". ")[0].rstrip(".") + "." if doc else ""
            if section == "env" and field.name == "params":
                head = "--env.NAME VALUE"
            else:
                head = f"--{section}.{field.name} {field.type.__name__.upper()} = {_toml(field.default)}"
                if (section, field.name) in CHOICES:
                    head += f"  (one of {', '.join(CHOICES[section, field.name])})"
                elif (section, field.name) in RANGES:
                    head += f"  ({RANGES[section, field.name]})"
            lines.append(f"  {head}")
            lines += textwrap.wrap(first, 100, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return "\n".join(lines)


def _toml(value):
    """A default as it is written in TOML or on the command line: true, 'name', 0.00025, 64."""
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else repr(value)


def _read_toml(path, source):
    """The tables of the TOML file `path`; every way it cannot be read is a ConfigError naming it."""
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

    Args:
        env_name: the environment; its shipped defaults apply when pufferlib has them.
        config_file: optional path of a TOML file with [section] tables.
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
        config.update(_read_toml(Path(config_file), str(config_file)), source=str(config_file))
    apply_overrides(config, overrides)
    return config
