import dataclasses
import io
import re

import pytest

from pufferlib.train.config import (
    RUN_SECTIONS,
    SECTIONS,
    Config,
    ConfigError,
    all_settings,
    apply_overrides,
    config_to_toml,
    load_config,
    parse_value,
    settings_help,
    shipped_config_names,
)

SETTINGS = {s.name: s for s in all_settings()}


def test_defaults_validate():
    Config().validate()


def test_precedence_cli_over_file_over_shipped_over_defaults(tmp_path):
    file = tmp_path / "c.toml"
    file.write_text("[train]\nlearning_rate = 0.5\nupdate_epochs = 3\n")
    defaults = Config()
    shipped = load_config("cartpole")
    assert shipped.train.learning_rate != defaults.train.learning_rate  # shipped beats defaults
    config = load_config("cartpole", file, {"train.update_epochs": "7"})
    assert config.train.learning_rate == 0.5                           # file beats shipped
    assert config.train.update_epochs == 7                             # command line beats file
    assert config.env.num_envs == shipped.env.num_envs                 # untouched keys stay shipped


def test_command_line_strings_are_parsed_as_toml_scalars():
    config = load_config(None, overrides={"train.seed": "3", "train.gamma": "0.9", "policy.lstm": "true",
                                          "train.anneal_lr": "linear", "train.learning_rate": "1"})
    assert (config.train.seed, config.train.gamma, config.policy.lstm) == (3, 0.9, True)
    assert config.train.anneal_lr == "linear" and config.train.learning_rate == 1.0


def test_unknown_env_keys_are_environment_parameters():
    config = load_config("memory", overrides={"env.delay": "8"})
    assert config.env.params == {"delay": 8}


def test_every_shipped_config_loads():
    names = shipped_config_names()
    assert "cartpole" in names and "memory" in names
    for name in names:
        load_config(name)


@pytest.mark.parametrize("overrides, match", [
    ({"train.bogus": "1"}, r"unknown key train\.bogus; \[train\] has .*learning_rate"),
    ({"nope.key": "1"}, r"unknown section \[nope\]; the sections are env, vec, train, policy, log"),
    ({"seed": "1"}, r"--section\.key VALUE, got --seed"),
    ({"train.update_epochs": "many"}, r"train\.update_epochs must be an integer, got 'many'"),
    ({"train.update_epochs": "1.5"}, r"train\.update_epochs must be an integer, got 1\.5"),
    ({"train.norm_adv": "3"}, r"train\.norm_adv must be true or false, got 3"),
    ({"train.anneal_lr": "fast"}, r"train\.anneal_lr must be one of none, linear, cosine, got 'fast'"),
    ({"vec.backend": "threads"}, r"vec\.backend must be one of serial, multiprocessing, ray"),
    ({"train.learning_rate": "-1"}, r"train\.learning_rate must be > 0, got -1\.0"),
    ({"train.gamma": "1.5"}, r"train\.gamma must be in \[0, 1\], got 1\.5"),
    ({"env.num_envs": "0"}, r"env\.num_envs must be in \[1, 16777216\], got 0"),
    ({"train.bptt_horizon": "5", "policy.lstm": "true"}, r"bptt_horizon \(5\) must divide train\.horizon \(\d+\)"),
])
def test_bad_settings_name_the_key_and_the_allowed_values(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config("cartpole", overrides=overrides)


def test_bad_config_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(None, tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[train\nseed = 1")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(None, broken)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[policy]\nactivation = 'gelu'\n")
    with pytest.raises(ConfigError, match=r"wrong\.toml: policy\.activation must be one of tanh, relu"):
        load_config(None, wrong)


def test_round_trip_through_a_dict():
    config = apply_overrides(Config(), {"train.seed": "9", "env.delay": "3"})
    again = Config.from_dict(config.to_dict())
    assert again == config


@pytest.mark.parametrize("value, match", [
    ("0", r"vec\.timeout must be > 0, got 0\.0"),
    ("nan", r"vec\.timeout must be a finite number, got nan"),
    ("inf", r"vec\.timeout must be a finite number, got inf"),
])
def test_vec_timeout_is_a_positive_finite_number_of_seconds(value, match):
    assert load_config("cartpole", overrides={"vec.timeout": "2.5"}).vec.timeout == 2.5
    with pytest.raises(ConfigError, match=match):
        load_config("cartpole", overrides={"vec.timeout": value})


def numeric_settings(kind):
    return [tuple(s.name.split(".")) for s in all_settings() if s.type is kind]


def test_every_numeric_setting_has_a_range_and_every_setting_a_doc():
    ranged = {tuple(s.name.split(".")) for s in all_settings() if s.range is not None}
    optional = {tuple(s.name.split(".")) for s in all_settings() if s.optional}  # unset or any number
    assert set(numeric_settings(int) + numeric_settings(float)) - optional == ranged
    for s in all_settings():
        assert s.doc, s.name
    assert [s.name for s in all_settings()] == [f"{section}.{f.name}" for section, cls in SECTIONS.items()
                                                for f in dataclasses.fields(cls)]


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400"])
@pytest.mark.parametrize("section, key", numeric_settings(float))
def test_every_float_setting_rejects_non_finite_values(section, key, value):
    with pytest.raises(ConfigError, match=rf"{section}\.{key} must be a finite number, got (-?inf|nan)"):
        load_config(None, overrides={f"{section}.{key}": value})


def test_an_integer_too_large_for_a_float_is_not_a_finite_number():
    with pytest.raises(ConfigError, match=r"train\.gamma must be a finite number, got 1000"):
        load_config(None, overrides={"train.gamma": str(10**400)})


def test_python_nan_is_caught_by_validate():
    config = Config()
    config.train.learning_rate = float("nan")
    with pytest.raises(ConfigError, match=r"train\.learning_rate must be a finite number, got nan"):
        config.validate()


@pytest.mark.parametrize("section, key", numeric_settings(int))
def test_every_integer_setting_has_a_ceiling_naming_the_key(section, key):
    high = SETTINGS[f"{section}.{key}"].range.high
    assert load_config(None, overrides={f"{section}.{key}": str(high)})  # the ceiling itself is fine
    with pytest.raises(ConfigError, match=rf"{section}\.{key} must be in \[\d+, {high}\], got {high + 1}$"):
        load_config(None, overrides={f"{section}.{key}": str(high + 1)})


def test_any_int64_step_budget_is_accepted():
    largest = str(2**63 - 1)
    config = load_config(None, overrides={"train.total_timesteps": largest, "train.seed": largest})
    assert config.train.total_timesteps == config.train.seed == 2**63 - 1


@pytest.mark.parametrize("overrides, match", [
    ({"train.learning_rat": "0.1"}, r"unknown key train\.learning_rat; did you mean train\.learning_rate\?$"),
    ({"trian.seed": "1"}, r"unknown section \[trian\]; the sections are .*; did you mean train\?$"),
    ({"seed": "1"}, r"--section\.key VALUE, got --seed; .*did you mean train\.seed\?$"),
])
def test_unknown_names_suggest_the_closest(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, overrides=overrides)


def test_a_config_file_key_suggests_the_closest(tmp_path):
    typo = tmp_path / "typo.toml"
    typo.write_text("[policy]\nhiden_size = 32\n")
    with pytest.raises(ConfigError, match=r"typo\.toml: unknown key policy\.hiden_size; did you mean "
                                          r"policy\.hidden_size\?"):
        load_config(None, typo)


def test_config_file_that_is_not_utf8(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"[train]\n\xff = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml is not UTF-8 text: byte 0xff at offset 8 \(line 2\)"):
        load_config(None, bad)


def test_config_file_that_is_a_directory(tmp_path):
    with pytest.raises(ConfigError, match=r"is a directory; give the path of a \.toml file"):
        load_config(None, tmp_path)


# -- one home per key: the field holds type, range, choices and doc ----------------------------------

@pytest.mark.parametrize("name", [name for name in SETTINGS if name not in ("env.params", "sweep.space")])
def test_help_shows_what_the_field_holds_and_validation_enforces(name):
    s = SETTINGS[name]
    section, key = name.split(".")
    help_lines = settings_help(sections=tuple(SECTIONS)).splitlines()
    head = next(line for line in help_lines if line.startswith(f"  --{name} "))
    assert head.startswith(f"  --{name} {s.type.__name__.upper()} = ")
    first = " ".join(s.doc.split()).split(". ")[0].rstrip(".")
    assert first[:40] in "\n".join(help_lines[help_lines.index(head) + 1:]).replace("\n      ", " ")
    assert getattr(getattr(Config(), section), key) == s.default
    if s.choices is not None:
        assert head.endswith(f"(one of {', '.join(s.choices)})")
        for choice in s.choices:  # every choice the help lists is accepted
            assert getattr(getattr(load_config(None, overrides={name: choice}), section), key) == choice
        with pytest.raises(ConfigError, match=re.escape(f"{name} must be one of {', '.join(s.choices)}, got 'bogus'")):
            load_config(None, overrides={name: "bogus"})
    elif s.range is not None:
        assert head.endswith(f"({s.range})")
        refused = rf"^command line: {re.escape(f'{name} must be {s.range}, got')}"
        if s.range.open_low:  # the help says "> low": low itself is refused
            with pytest.raises(ConfigError, match=refused):
                load_config(None, overrides={name: str(s.range.low)})
        else:  # the help says "in [low, high]" or ">= low": low is accepted, just below it is not
            assert load_config(None, overrides={name: str(s.range.low)})
            with pytest.raises(ConfigError, match=refused):
                load_config(None, overrides={name: str(s.type(s.range.low) - 1)})
    elif s.optional:  # unset (none) by default; any finite number when set
        assert getattr(getattr(load_config(None, overrides={name: "-2.5"}), section), key) == -2.5
        assert getattr(getattr(load_config(None, overrides={name: "none"}), section), key) is None
        with pytest.raises(ConfigError, match=rf"{re.escape(name)} must be a finite number"):
            load_config(None, overrides={name: "inf"})
    else:
        assert s.type in (bool, str), name  # only booleans and free strings go unchecked


@pytest.mark.parametrize("name, toml, text, message", [
    ("train.update_epochs", "'many'", "many", r"train\.update_epochs must be an integer, got 'many'"),
    ("train.update_epochs", "1.5", "1.5", r"train\.update_epochs must be an integer, got 1\.5"),
    ("train.norm_adv", "3", "3", r"train\.norm_adv must be true or false, got 3"),
    ("train.anneal_lr", "'fast'", "fast", r"train\.anneal_lr must be one of none, linear, cosine, got 'fast'"),
    ("train.gamma", "1.5", "1.5", r"train\.gamma must be in \[0, 1\], got 1\.5"),
    ("train.gamma", "nan", "nan", r"train\.gamma must be a finite number, got nan"),
    ("vec.timeout", "0", "0", r"vec\.timeout must be > 0, got 0\.0"),
    ("env.num_envs", "0", "0", r"env\.num_envs must be in \[1, 16777216\], got 0"),
])
def test_a_bad_value_gives_the_same_error_from_a_file_and_the_command_line(tmp_path, name, toml, text, message):
    section, key = name.split(".")
    file = tmp_path / "bad.toml"
    file.write_text(f"[{section}]\n{key} = {toml}\n")  # `text` is what a shell passes on for it
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(file))}: {message}$") as from_file:
        load_config(None, file)
    with pytest.raises(ConfigError, match=rf"^command line: {message}$") as from_cli:
        load_config(None, overrides={name: text})
    assert str(from_file.value).split(": ", 1)[1] == str(from_cli.value).split(": ", 1)[1]


@pytest.mark.parametrize("toml, text, value", [
    ("7", "7", 7), ("0.5", "0.5", 0.5), ("true", "true", True), ("'rgb'", "rgb", "rgb"),
    ("1e3", "1e3", 1000.0), ("-2", "-2", -2),
])
def test_env_parameters_are_parsed_the_same_from_a_file_and_the_command_line(tmp_path, toml, text, value):
    file = tmp_path / "env.toml"
    file.write_text(f"[env]\nsize = {toml}\n")
    from_file = load_config(None, file).env.params
    from_cli = load_config(None, overrides={"env.size": text}).env.params
    assert from_file == from_cli == {"size": value}
    assert type(from_file["size"]) is type(from_cli["size"]) is type(value)


def test_one_parser_for_every_value():
    assert parse_value("train.seed", int, "3") == parse_value("train.seed", int, 3) == 3
    assert parse_value("train.gamma", float, " 0.5 ") == parse_value("train.gamma", float, 0.5) == 0.5
    assert parse_value("env.size", None, "7") == parse_value("env.size", None, 7) == 7
    with pytest.raises(ConfigError, match=r"^a\.toml: train\.seed must be an integer, got 'x'$"):
        parse_value("train.seed", int, "x", "a.toml")


def test_lstm_size_is_not_a_setting(tmp_path):
    assert "policy.lstm_size" not in SETTINGS and "lstm_size" not in settings_help()
    with pytest.raises(ConfigError, match=r"^command line: unknown key policy\.lstm_size; did you mean "
                                          r"policy\.lstm\?$"):
        load_config(None, overrides={"policy.lstm_size": "128"})
    old = tmp_path / "old.toml"
    old.write_text("[policy]\nlstm = true\nlstm_size = 128\n")
    with pytest.raises(ConfigError, match=r"old\.toml: unknown key policy\.lstm_size; did you mean policy\.lstm\?"):
        load_config(None, old)


# -- config_to_toml, optional settings, and the [sweep] section --------------------------------------

def run_sections(config):
    return {section: values for section, values in config.to_dict().items() if section in RUN_SECTIONS}


@pytest.mark.parametrize("name", shipped_config_names())
def test_config_to_toml_reads_back_unchanged(name):
    config = load_config(name)
    text = config_to_toml(config, header="a header\nof two lines")
    assert text.startswith("# a header\n# of two lines\n\n[env]\n")
    assert run_sections(load_config(None, io.StringIO(text))) == run_sections(config)  # alone, it says the run
    assert run_sections(load_config(name, io.StringIO(text))) == run_sections(config)


def test_config_to_toml_writes_every_value_exactly():
    name = 'a "quoted" \\ name'
    config = load_config(None, overrides={"train.learning_rate": "0.1", "train.gamma": str(1 / 3),
                                          "log.wandb_project": name, "env.size": "7"})
    again = load_config(None, io.StringIO(config_to_toml(config)))
    assert again.train.gamma == 1 / 3 and again.log.wandb_project == name
    assert again.env.params == {"size": 7} and run_sections(again) == run_sections(config)


def test_an_optional_setting_is_unset_by_none_on_the_command_line():
    assert load_config("cartpole").sweep.threshold == 475.0  # shipped
    assert load_config("cartpole", overrides={"sweep.threshold": "none"}).sweep.threshold is None
    assert load_config("cartpole", overrides={"sweep.threshold": "400"}).sweep.threshold == 400.0


def test_unset_optional_settings_are_left_out_of_toml():
    config = load_config(None)
    assert config.sweep.threshold is None
    assert "threshold" not in config_to_toml(config, sections=("sweep",)).replace("[sweep]", "")


def test_sweep_tables_become_the_search_space():
    text = """
[sweep]
trials = 7
[sweep.train.learning_rate]
distribution = "log_uniform"
min = 1e-4
max = 1e-2
[sweep.policy.activation]
distribution = "categorical"
values = ["tanh", "relu"]
"""
    config = load_config(None, io.StringIO(text))
    assert config.sweep.trials == 7
    assert config.sweep.space == {
        "train.learning_rate": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2},
        "policy.activation": {"distribution": "categorical", "values": ["tanh", "relu"]}}


def test_a_config_files_space_replaces_the_shipped_one():
    shipped = load_config("cartpole").sweep.space
    assert "train.gamma" in shipped and len(shipped) > 1
    text = "[sweep.train.learning_rate]\ndistribution = 'uniform'\nmin = 0.001\nmax = 0.01\n"
    assert load_config("cartpole", io.StringIO(text)).sweep.space == {
        "train.learning_rate": {"distribution": "uniform", "min": 0.001, "max": 0.01}}
    assert load_config("cartpole", io.StringIO("[sweep]\ntrials = 3\n")).sweep.space == shipped  # no tables


def test_the_command_line_narrows_one_field_of_the_space():
    config = load_config("cartpole", overrides={"sweep.train.learning_rate.max": "0.01"})
    assert config.sweep.space["train.learning_rate"] == {
        **load_config("cartpole").sweep.space["train.learning_rate"], "max": 0.01}


@pytest.mark.parametrize("text, match", [
    ("[sweep]\ntrain = 3\n", r"sweep\.train must be a table of \[sweep\.train\.KEY\] tables, got 3$"),
    ("[sweep.train]\nlearning_rate = 3\n",
     r"sweep\.train\.learning_rate must be a table \(distribution = \"\.\.\.\", min, max or values\), got 3$"),
    ("[sweep]\nspace = 3\n", r"sweep\.space must be a table, got 3$"),
    ("[sweep]\ntrails = 3\n", r"unknown key sweep\.trails; did you mean sweep\.trials\?$"),
])
def test_a_malformed_sweep_section_is_refused(text, match):
    with pytest.raises(ConfigError, match=rf"^config text: {match}"):
        load_config(None, io.StringIO(text))


def test_a_config_with_a_search_space_round_trips_through_a_dict():
    config = load_config("cartpole", overrides={"sweep.threshold": "none"})
    assert Config.from_dict(config.to_dict()) == config  # what a checkpoint stores and `puffer eval` reads
