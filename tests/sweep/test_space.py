"""The search space: [sweep.SECTION.KEY] tables checked against the settings, then drawn by Optuna."""
import io
import math
import re

import optuna
import pytest

from pufferlib.sweep.space import DISTRIBUTIONS, Parameter, parse_space
from pufferlib.sweep.study import resolve_plan
from pufferlib.train.config import ConfigError, load_config, shipped_config_names


def space(entries, fixed=()):
    config = load_config(None)
    config.sweep.space = entries
    return parse_space(config, fixed)


def test_the_tables_of_a_config_file_become_parameters_in_their_order():
    text = """
[sweep.train.learning_rate]
distribution = "log_uniform"
min = 1e-4
max = 1e-2

[sweep.train.minibatch_size]
distribution = "pow2"
min = 64
max = 1024

[sweep.train.update_epochs]
distribution = "int"
min = 1
max = 9
step = 2

[sweep.policy.activation]
distribution = "categorical"
values = ["tanh", "relu"]

[sweep.env.size]
distribution = "int_log"
min = 5
max = 40
"""
    assert parse_space(load_config(None, io.StringIO(text))) == [
        Parameter("train.learning_rate", "log_uniform", 1e-4, 1e-2),
        Parameter("train.minibatch_size", "pow2", 64, 1024),
        Parameter("train.update_epochs", "int", 1, 9, step=2),
        Parameter("policy.activation", "categorical", values=("tanh", "relu")),
        Parameter("env.size", "int_log", 5, 40),  # an environment parameter: its env checks it
    ]


@pytest.mark.parametrize("name, given, canonical", [
    ("train.update_epochs", "int-log", "int_log"), ("train.update_epochs", "integer", "int"),
    ("train.learning_rate", "loguniform", "log_uniform"), ("train.learning_rate", "Log-Uniform", "log_uniform"),
    ("train.learning_rate", "log", "log_uniform"), ("train.learning_rate", "float", "uniform"),
    ("train.minibatch_size", "power of two", "pow2"), ("train.minibatch_size", "powers_of_two", "pow2"),
    ("policy.activation", "choice", "categorical"),
])
def test_distributions_take_the_spellings_users_reach_for(name, given, canonical):
    entry = {"values": ["relu"]} if canonical == "categorical" else {"min": 1, "max": 8}
    (param,) = space({name: {"distribution": given, **entry}})
    assert param.distribution == canonical


@pytest.mark.parametrize("entry, expected", [
    ({"distribution": "uniform", "min": 0.9, "max": 0.99, "log": True}, ("log_uniform", 0.9, 0.99)),
    ({"distribution": "uniform", "low": 0.9, "high": 0.99}, ("uniform", 0.9, 0.99)),  # Optuna's names
    ({"distribution": "uniform", "min": 0, "max": 1}, ("uniform", 0.0, 1.0)),
])
def test_the_log_flag_and_optunas_bound_names(entry, expected):
    (param,) = space({"train.gamma": entry})
    assert (param.distribution, param.low, param.high) == expected
    assert type(param.low) is float


def test_integer_distributions_take_integral_float_bounds_as_ints():
    (param,) = space({"train.update_epochs": {"distribution": "int", "min": 1.0, "max": 8.0}})
    assert (param.low, param.high) == (1, 8) and type(param.low) is int


def test_settings_fixed_on_the_command_line_leave_the_space():
    entries = {"train.gamma": {"distribution": "uniform", "min": 0.9, "max": 0.99},
               "train.update_epochs": {"distribution": "int", "min": 1, "max": 8}}
    assert [p.name for p in space(entries, fixed={"train.gamma"})] == ["train.update_epochs"]


@pytest.mark.parametrize("name, entry, match", [
    ("train.gamma", {"distribution": "normal", "min": 0.9, "max": 0.99},
     r"unknown distribution 'normal'; did you mean uniform\?; one of uniform, log_uniform, int, int_log, pow2, "
     r"categorical$"),
    ("train.gamma", {"min": 0.9, "max": 0.99}, r"needs distribution = one of uniform, log_uniform"),
    ("train.gamma", {"distribution": 3, "min": 0.9, "max": 0.99}, r"distribution must be one of .*, got 3$"),
    ("train.gamma", {"distribution": "uniform", "min": 0.99, "max": 0.9},
     r"min must be below max, got min = 0\.99, max = 0\.9$"),
    ("train.gamma", {"distribution": "uniform", "min": 0.9, "max": 0.9}, r"min must be below max"),
    ("train.gamma", {"distribution": "uniform", "min": 0.9}, r"needs max \(a number\)$"),
    ("train.gamma", {"distribution": "uniform", "min": "a", "max": 0.99}, r"min must be a finite number, got 'a'$"),
    ("train.gamma", {"distribution": "uniform", "min": math.nan, "max": 0.99}, r"min must be a finite number"),
    ("train.gamma", {"distribution": "uniform", "min": True, "max": 0.99}, r"min must be a finite number"),
    ("train.gamma", {"distribution": "uniform", "min": 0.9, "max": 1.5},
     r"max 1\.5 is not a value train\.gamma accepts \(train\.gamma must be in \[0, 1\], got 1\.5\)$"),
    ("train.gamma", {"distribution": "uniform", "min": 0.9, "max": 0.99, "stepp": 0.01},
     r"unknown field stepp; did you mean step\?; a table takes distribution, min, max, step"),
    ("train.gamma", {"distribution": "uniform", "min": 0.9, "max": 0.99, "step": 0}, r"step \(> 0\) quantizes"),
    ("train.gamma", {"distribution": "uniform", "min": 0.9, "max": 0.99, "log": "yes"},
     r"log must be true or false, got 'yes'$"),
    ("train.gamma", {"distribution": "uniform", "min": 0.9, "max": 0.99, "values": [0.9]},
     r"values belong to distribution = \"categorical\"; uniform takes min and max$"),
    ("train.gamma", {"distribution": "int", "min": 0, "max": 1},
     r"train\.gamma is float-valued: its distribution must be uniform, log_uniform or categorical, got int$"),
    ("train.learning_rate", {"distribution": "log_uniform", "min": 0, "max": 0.1},
     r"log_uniform needs min > 0 \(it draws on a log scale\), got min = 0$"),
    ("train.learning_rate", {"distribution": "log_uniform", "min": 1e-4, "max": 0.1, "step": 0.01},
     r"step \(> 0\) quantizes uniform and int draws only, got step = 0\.01 with log_uniform$"),
    ("train.update_epochs", {"distribution": "int_log", "min": -1, "max": 8}, r"int_log needs min > 0"),
    ("train.update_epochs", {"distribution": "int", "min": 1.5, "max": 8},
     r"int takes integer bounds, got min = 1\.5, max = 8$"),
    ("train.update_epochs", {"distribution": "uniform", "min": 1, "max": 8},
     r"train\.update_epochs is int-valued: its distribution must be int, int_log, pow2 or categorical"),
    ("train.update_epochs", {"distribution": "int", "min": 0, "max": 8},
     r"min 0 is not a value train\.update_epochs accepts \(train\.update_epochs must be in \[1, 1024\]"),
    ("train.minibatch_size", {"distribution": "pow2", "min": 100, "max": 1024},
     r"pow2 draws powers of two: min must be one \(e\.g\. 128\), got 100$"),
    ("train.minibatch_size", {"distribution": "pow2", "min": 64, "max": 1000},
     r"pow2 draws powers of two: max must be one \(e\.g\. 1024\), got 1000$"),
    ("policy.activation", {"distribution": "categorical"},
     r"a categorical needs values = \[\.\.\.\] \(a non-empty list\), got None$"),
    ("policy.activation", {"distribution": "categorical", "values": []},
     r"a categorical needs values = \[\.\.\.\] \(a non-empty list\), got \[\]$"),
    ("policy.activation", {"distribution": "categorical", "values": ["tanh", "sigmoid"]},
     r"values 'sigmoid' is not a value policy\.activation accepts \(policy\.activation must be one of tanh, "
     r"relu, got 'sigmoid'\)$"),
    ("policy.activation", {"distribution": "categorical", "values": ["tanh"], "min": 1},
     r"a categorical takes values only, not min, max or step$"),
    ("policy.activation", {"distribution": "int", "min": 0, "max": 1},
     r"policy\.activation is str-valued: its distribution must be categorical, got int$"),
    ("policy.lstm", {"distribution": "uniform", "min": 0, "max": 1},
     r"policy\.lstm is bool-valued: its distribution must be categorical, got uniform$"),
    ("train.learnig_rate", {"distribution": "log_uniform", "min": 1e-4, "max": 0.1},
     r"train has no setting learnig_rate; did you mean train\.learning_rate\?$"),
    ("sweep.trials", {"distribution": "int", "min": 1, "max": 8},
     r"the space searches the sections env, vec, train, policy, log, selfplay, got sweep$"),
    ("env.params", {"distribution": "int", "min": 1, "max": 8},
     r"env\.params holds the environment's parameters; search one of them as \[sweep\.env\.NAME\]"),
])
def test_a_bad_table_is_one_error_naming_it(name, entry, match):
    with pytest.raises(ConfigError, match=rf"^\[sweep\.{re.escape(name)}\]: {match}"):
        space({name: entry})


@pytest.mark.parametrize("name", shipped_config_names())
def test_every_shipped_space_is_one_puffer_sweep_takes(name):
    config = load_config(name)
    params = parse_space(config)
    assert [p.name for p in params] == list(config.sweep.space)
    resolve_plan(name, config, params)  # its [sweep] settings agree with each other


def test_an_empty_space_says_how_to_declare_one():
    with pytest.raises(ConfigError, match=r"^the search space is empty: declare \[sweep\.SECTION\.KEY\] tables"):
        space({})


def test_a_space_fixed_whole_on_the_command_line_is_empty():
    with pytest.raises(ConfigError, match=r"^the search space is empty \(every one of its settings is fixed on "
                                          r"the command line\)"):
        space({"train.gamma": {"distribution": "uniform", "min": 0.9, "max": 0.99}}, fixed={"train.gamma"})


# -- drawing ----------------------------------------------------------------------------------------

PARAMS = [
    Parameter("train.gamma", "uniform", 0.9, 0.99),
    Parameter("train.clip_coef", "uniform", 0.1, 0.3, step=0.05),
    Parameter("train.learning_rate", "log_uniform", 1e-5, 1e-1),
    Parameter("train.update_epochs", "int", 1, 9, step=2),
    Parameter("env.size", "int_log", 5, 40),
    Parameter("train.minibatch_size", "pow2", 64, 1024),
    Parameter("policy.activation", "categorical", values=("tanh", "relu")),
]


@pytest.fixture(scope="module")
def draws():
    """The settings of 200 random trials of PARAMS: {name: [values]}."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    found = {p.name: [] for p in PARAMS}
    for _ in range(200):
        trial = study.ask()
        for p in PARAMS:
            found[p.name].append(p.suggest(trial))
        study.tell(trial, 0.0)
    return found


def test_every_distribution_is_drawn(draws):
    assert {p.distribution for p in PARAMS} == set(DISTRIBUTIONS)


@pytest.mark.parametrize("param", [p for p in PARAMS if p.distribution != "categorical"], ids=lambda p: p.name)
def test_draws_lie_within_the_bounds_both_included(draws, param):
    values = draws[param.name]
    assert min(values) >= param.low and max(values) <= param.high
    assert len(set(values)) > 1


def test_a_step_quantizes_the_draws(draws):
    assert set(draws["train.update_epochs"]) == {1, 3, 5, 7, 9}
    assert all(abs((v - 0.1) / 0.05 - round((v - 0.1) / 0.05)) < 1e-9 for v in draws["train.clip_coef"])


def test_integer_draws_are_ints(draws):
    for name in ("train.update_epochs", "env.size", "train.minibatch_size"):
        assert all(type(v) is int for v in draws[name])


def test_pow2_draws_every_power_of_two_between_its_bounds(draws):
    assert set(draws["train.minibatch_size"]) == {64, 128, 256, 512, 1024}


def test_log_uniform_draws_spread_over_the_decades(draws):
    decades = {math.floor(math.log10(v)) for v in draws["train.learning_rate"]}
    assert decades == {-5, -4, -3, -2}


def test_categorical_draws_its_values(draws):
    assert set(draws["policy.activation"]) == {"tanh", "relu"}


def test_pow2_is_recorded_by_its_exponent():
    trial = optuna.trial.FixedTrial({"log2(train.minibatch_size)": 9})
    param = Parameter("train.minibatch_size", "pow2", 64, 4096)
    assert param.optuna_name == "log2(train.minibatch_size)" and param.suggest(trial) == 512


@pytest.mark.parametrize("param", PARAMS, ids=lambda p: p.name)
def test_a_parameter_survives_its_plain_form(param):
    plain = param.to_plain()  # what the study stores and the trial processes rebuild
    assert Parameter(**{k: tuple(v) if isinstance(v, list) else v for k, v in plain.items()}) == param
