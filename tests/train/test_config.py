import dataclasses

import pytest

from pufferlib.train.config import Config, ConfigError, apply_overrides, load_config, shipped_config_names


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
    from pufferlib.train.config import SECTIONS
    return [(section, f.name) for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)
            if f.type is kind]


def test_every_numeric_setting_has_a_range_and_every_setting_a_doc():
    from pufferlib.train.config import RANGES, SECTIONS, field_docs
    assert set(numeric_settings(int) + numeric_settings(float)) == set(RANGES)
    for cls in SECTIONS.values():
        assert set(field_docs(cls)) == {f.name for f in dataclasses.fields(cls)}, cls


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
    from pufferlib.train.config import RANGES
    high = RANGES[section, key].high
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
