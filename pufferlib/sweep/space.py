"""The search space of a sweep: the [sweep.SECTION.KEY] tables of a config, checked, and suggested by Optuna.

Each table names one setting and how to draw it::

    [sweep.train.learning_rate]
    distribution = "log_uniform"   # uniform, log_uniform, int, int_log, pow2 or categorical
    min = 1e-5
    max = 1e-1

    [sweep.policy.activation]
    distribution = "categorical"
    values = ["tanh", "relu"]

`pow2` draws a power of two between min and max (a minibatch size); `step` quantizes uniform and int
draws. Every bound and value must be one the setting itself accepts: the space is checked before a
single trial runs, and each mistake is one `ConfigError` naming the table and what it accepts.

>>> from pufferlib.train.config import Config
>>> config = Config()
>>> config.update({"sweep": {"train": {"update_epochs": {"distribution": "int", "min": 1, "max": 8}}}})
>>> parse_space(config)
[Parameter(name='train.update_epochs', distribution='int', low=1, high=8, values=None, step=None)]
"""
import math
import typing

from pufferlib.errors import did_you_mean
from pufferlib.train.config import RUN_SECTIONS, ConfigError, all_settings, check_setting, parse_value

__all__ = ["DISTRIBUTIONS", "Parameter", "parse_space"]

DISTRIBUTIONS = ("uniform", "log_uniform", "int", "int_log", "pow2", "categorical")
# other spellings users reach for (the "int-log", Optuna's "loguniform", "powers of two")
_ALIASES = {"loguniform": "log_uniform", "log": "log_uniform", "intlog": "int_log", "int_uniform": "int",
            "integer": "int", "powers_of_two": "pow2", "power_of_two": "pow2", "power2": "pow2",
            "choice": "categorical", "float": "uniform"}
_FIELDS = ("distribution", "min", "max", "values", "step", "log")
_BOUNDS = {"low": "min", "high": "max"}  # Optuna's names for the bounds


class Parameter(typing.NamedTuple):
    """One dimension of the search space.

    Attributes:
        name: the setting, "section.key" (an environment parameter is "env.NAME").
        distribution: one of DISTRIBUTIONS.
        low, high: the bounds, both included (None for categorical).
        values: the choices of a categorical (a tuple), else None.
        step: the quantum of a uniform or int draw, or None.
    """

    name: str
    distribution: str
    low: typing.Optional[float] = None
    high: typing.Optional[float] = None
    values: typing.Optional[tuple] = None
    step: typing.Optional[float] = None

    @property
    def optuna_name(self):
        """The name Optuna records: the setting's, or log2(setting) for pow2 (the exponent is drawn)."""
        return f"log2({self.name})" if self.distribution == "pow2" else self.name

    def suggest(self, trial):
        """Draws this parameter's value for an Optuna trial.

        >>> import optuna
        >>> trial = optuna.trial.FixedTrial({"log2(train.minibatch_size)": 9})
        >>> Parameter("train.minibatch_size", "pow2", 64, 4096).suggest(trial)
        512
        """
        d, name = self.distribution, self.optuna_name
        if d == "categorical":
            return trial.suggest_categorical(name, list(self.values))
        if d == "pow2":
            return 2 ** trial.suggest_int(name, int(math.log2(self.low)), int(math.log2(self.high)))
        if d in ("int", "int_log"):
            return trial.suggest_int(name, int(self.low), int(self.high), step=int(self.step or 1),
                                     log=d == "int_log")
        return trial.suggest_float(name, float(self.low), float(self.high), step=self.step,
                                   log=d == "log_uniform")

    def to_plain(self):
        """The parameter as a plain dict (stored with the study, compared when it is resumed)."""
        return {key: (list(value) if isinstance(value, tuple) else value)
                for key, value in self._asdict().items() if value is not None}


def parse_space(config, fixed=()):
    """The checked search space of `config.sweep.space`, less the settings in `fixed`.

    Args:
        config: a `Config` whose sweep.space holds the [sweep.SECTION.KEY] tables.
        fixed: settings ("section.key") given a value on the command line: they narrow the space
            by leaving it.

    Returns:
        A list of `Parameter`, in the order of the tables.

    Raises:
        ConfigError: an unknown setting, distribution or field, bounds out of order or outside what
            the setting accepts, a categorical value the setting refuses, or an empty space.
    """
    settings = {item.name: item for item in all_settings()}
    params = []
    for name, entry in config.sweep.space.items():
        if name in fixed:
            continue
        params.append(_parse_entry(settings, name, dict(entry)))
    if not params:
        left = " (every one of its settings is fixed on the command line)" if config.sweep.space else ""
        raise ConfigError(f"the search space is empty{left}: declare [sweep.SECTION.KEY] tables in a "
                          "--config FILE.toml, e.g. [sweep.train.learning_rate] distribution = "
                          "\"log_uniform\", min = 1e-4, max = 1e-2 (see docs/sweeps.md)")
    return params


def _parse_entry(settings, name, entry):
    where = f"[sweep.{name}]"
    section, _, key = name.partition(".")
    if section not in RUN_SECTIONS:
        raise ConfigError(f"{where}: the space searches the sections {', '.join(RUN_SECTIONS)}, "
                          f"got {section}")
    setting = settings.get(name)
    if name == "env.params":  # the table of all of them, not one setting
        raise ConfigError(f"{where}: env.params holds the environment's parameters; search one of them "
                          "as [sweep.env.NAME] (e.g. [sweep.env.size])")
    if setting is None and section != "env":
        keys = {item.name.partition(".")[2]: item.name for item in settings.values()
                if item.name.startswith(section + ".")}
        raise ConfigError(f"{where}: {section} has no setting {key}{did_you_mean(key, keys)}")
    kind = setting.type if setting is not None else None  # None: an environment parameter
    for alias, field in _BOUNDS.items():
        if alias in entry:
            entry.setdefault(field, entry.pop(alias))
    unknown = [field for field in entry if field not in _FIELDS]
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]}{did_you_mean(unknown[0], list(_FIELDS))}; "
                          f"a table takes distribution, min, max, step (or values for a categorical)")
    distribution = _distribution(where, entry, kind)
    if distribution == "categorical":
        values = entry.get("values")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: a categorical needs values = [...] (a non-empty list), "
                              f"got {values!r}")
        if "min" in entry or "max" in entry or "step" in entry:
            raise ConfigError(f"{where}: a categorical takes values only, not min, max or step")
        for value in values:
            _check_value(where, name, setting, value, "values")
        return Parameter(name, distribution, values=tuple(values))
    if "values" in entry:
        raise ConfigError(f"{where}: values belong to distribution = \"categorical\"; {distribution} "
                          "takes min and max")
    low, high = (_number(where, entry, field) for field in ("min", "max"))
    integer = distribution in ("int", "int_log", "pow2")
    if kind is bool or kind is str or integer and kind is float or not integer and kind is int:
        expected = {bool: "categorical", str: "categorical", int: "int, int_log, pow2 or categorical",
                    float: "uniform, log_uniform or categorical"}[kind]
        raise ConfigError(f"{where}: {name} is {kind.__name__}-valued: its distribution must be {expected}, "
                          f"got {distribution}")
    if integer and not (float(low).is_integer() and float(high).is_integer()):
        raise ConfigError(f"{where}: {distribution} takes integer bounds, got min = {low!r}, max = {high!r}")
    if not low < high:
        raise ConfigError(f"{where}: min must be below max, got min = {low!r}, max = {high!r}")
    if distribution in ("log_uniform", "int_log", "pow2") and low <= 0:
        raise ConfigError(f"{where}: {distribution} needs min > 0 (it draws on a log scale), "
                          f"got min = {low!r}")
    if distribution == "pow2":
        for field, value in (("min", low), ("max", high)):
            if not math.log2(value).is_integer():
                raise ConfigError(f"{where}: pow2 draws powers of two: {field} must be one (e.g. "
                                  f"{2 ** round(math.log2(value))}), got {value!r}")
    step = entry.get("step")
    if step is not None:
        if distribution not in ("uniform", "int") or isinstance(step, bool) or \
                not isinstance(step, (int, float)) or not step > 0:
            raise ConfigError(f"{where}: step (> 0) quantizes uniform and int draws only, got step = "
                              f"{step!r} with {distribution}")
    for field, value in (("min", low), ("max", high)):
        _check_value(where, name, setting, int(value) if integer else value, field)
    cast = int if integer else float
    return Parameter(name, distribution, cast(low), cast(high), step=step)


def _distribution(where, entry, kind):
    """The entry's distribution, spelled canonically; a `log = true` flag moves uniform/int to log."""
    given = entry.get("distribution")
    if given is None:
        raise ConfigError(f"{where}: needs distribution = one of {', '.join(DISTRIBUTIONS)}")
    if not isinstance(given, str):
        raise ConfigError(f"{where}: distribution must be one of {', '.join(DISTRIBUTIONS)}, got {given!r}")
    name = given.strip().lower().replace("-", "_").replace(" ", "_")
    name = _ALIASES.get(name, name)
    if name not in DISTRIBUTIONS:
        raise ConfigError(f"{where}: unknown distribution {given!r}"
                          f"{did_you_mean(name, list(DISTRIBUTIONS))}; one of {', '.join(DISTRIBUTIONS)}")
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: log must be true or false, got {log!r}")
    if log:
        name = {"uniform": "log_uniform", "int": "int_log"}.get(name, name)
    return name


def _number(where, entry, field):
    value = entry.get(field)
    if value is None:
        raise ConfigError(f"{where}: needs {field} (a number)")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: {field} must be a finite number, got {value!r}")
    return value


def _check_value(where, name, setting, value, field):
    """Refuses a bound or choice the setting itself would refuse, in the setting's own words."""
    if setting is None:  # an environment parameter: the environment checks it when the trial makes it
        return
    try:
        check_setting(setting, parse_value(name, setting.type, value, where), where)
    except ConfigError as error:
        reason = str(error).removeprefix(f"{where}: ")
        raise ConfigError(f"{where}: {field} {value!r} is not a value {name} accepts ({reason})") from None
