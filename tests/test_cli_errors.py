"""Bad command lines, run as a user would: exit status 2 and one line naming what to fix."""
import subprocess
import sys
from pathlib import Path

import pytest


def puffer(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pufferlib.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def assert_one_line_error(result, *fragments):
    """Exit status 2 and a stderr of exactly one `puffer: error:` line holding every fragment."""
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("puffer: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def train(tmp_path, *args):
    return puffer("train", "bandit", "--data-dir", str(tmp_path / "runs"), *args, cwd=tmp_path)


# -- config files ----------------------------------------------------------------------------------

def test_config_that_is_a_directory(tmp_path):
    assert_one_line_error(train(tmp_path, "--config", str(tmp_path)),
                          f"config file {tmp_path} is a directory")


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux's /proc/self/mem")
def test_config_that_cannot_be_read():
    # /proc/self/mem exists but reading it from the start fails, even as root (chmod would not)
    result = puffer("train", "bandit", "--config", "/proc/self/mem")
    assert_one_line_error(result, "config file /proc/self/mem cannot be read")


def test_config_that_is_not_utf8_names_the_file_and_the_byte(tmp_path):
    config = tmp_path / "latin1.toml"
    config.write_bytes("[train]\nseed = 1  # café\n".encode("latin-1"))
    assert_one_line_error(train(tmp_path, "--config", str(config)),
                          f"config file {config} is not UTF-8 text: byte 0xe9 at offset 23 (line 2)")


def test_config_file_key_suggests_the_closest(tmp_path):
    config = tmp_path / "typo.toml"
    config.write_text("[train]\nlearning_rat = 0.01\n")
    assert_one_line_error(train(tmp_path, "--config", str(config)),
                          f"{config}: unknown key train.learning_rat; did you mean train.learning_rate?")


# -- the run directory ------------------------------------------------------------------------------

def test_data_dir_that_cannot_be_written(tmp_path):
    (tmp_path / "file").write_text("in the way")  # root can write anywhere, but not under a file
    result = puffer("train", "bandit", "--timesteps", "256", "--data-dir", str(tmp_path / "file" / "runs"))
    assert_one_line_error(result, f"cannot write the run directory {tmp_path / 'file' / 'runs'}",
                          "Not a directory", "--data-dir")


# -- options: no prefix matching, suggestions -------------------------------------------------------

def test_a_prefix_of_an_option_is_not_that_option(tmp_path):
    result = train(tmp_path, "--timestep", "100")
    assert_one_line_error(result, "unknown option --timestep", "did you mean --timesteps?")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("args, fragments", [
    (("--learning_rate", "0.1"), ("unknown option --learning_rate", "did you mean --train.learning_rate?")),
    (("--train.learning_rat", "0.1"), ("unknown key train.learning_rat; did you mean train.learning_rate?",)),
    (("--trian.seed", "1"), ("unknown section [trian]", "did you mean train?")),
])
def test_train_suggests_the_closest_setting(tmp_path, args, fragments):
    assert_one_line_error(train(tmp_path, *args), *fragments)


@pytest.mark.parametrize("args, fragments", [
    (("bench", "cartpole", "--num-env", "8", "--seconds", "0.01"),
     ("unrecognized argument '--num-env'", "did you mean --num-envs?")),
    (("eval", "bandit", "--episode", "3"), ("unrecognized argument '--episode'", "did you mean --episodes?")),
    (("bench", "cartpole", "--num-envs"), ("argument --num-envs: expected one argument",)),
    (("bench",), ("the following arguments are required: env", "puffer bench --help")),
])
def test_other_commands_reject_unknown_options_in_one_line(args, fragments):
    assert_one_line_error(puffer(*args), *fragments)


# -- values -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, fragment", [
    (("--env.num_envs", "3000000000"), "env.num_envs must be in [1, 16777216], got 3000000000"),
    (("--seed", "99999999999999999999999"),
     "train.seed must be in [0, 9223372036854775807], got 99999999999999999999999"),
    (("--timesteps", str(2**63)), f"train.total_timesteps must be in [1, 9223372036854775807], got {2**63}"),
    (("--env.num_threads", "99999999999"), "env.num_threads must be in [0, 1024], got 99999999999"),
    (("--train.learning_rate", "inf"), "train.learning_rate must be a finite number, got inf"),
    (("--train.replay_alpha", "inf"), "train.replay_alpha must be a finite number, got inf"),
    (("--train.gamma", "nan"), "train.gamma must be a finite number, got nan"),
])
def test_train_rejects_out_of_range_values_naming_the_key(tmp_path, args, fragment):
    assert_one_line_error(train(tmp_path, *args), fragment)


@pytest.mark.parametrize("shorthand, setting, value, fragment", [
    ("--timesteps", "--train.total_timesteps", "many", "train.total_timesteps must be an integer, got 'many'"),
    ("--seed", "--train.seed", "-1", "train.seed must be in [0, 9223372036854775807], got -1"),
    ("--device", "--train.device", "tpu", "train.device must be one of cpu, cuda, auto, got 'tpu'"),
])
def test_a_shorthand_and_its_setting_parse_and_check_alike(tmp_path, shorthand, setting, value, fragment):
    short, full = train(tmp_path, shorthand, value), train(tmp_path, f"{setting}={value}")
    assert_one_line_error(short, fragment)
    assert short.stderr == full.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_bench_seconds_must_be_finite_and_positive(value):
    result = puffer("bench", "cartpole", "--num-envs", "8", "--seconds", value)
    assert_one_line_error(result, f"argument --seconds: must be a finite number > 0, got '{value}'")


@pytest.mark.parametrize("command, option", [("bench", "--runs"), ("eval", "--episodes")])
def test_counts_must_be_positive(command, option):
    result = puffer(command, "cartpole", option, "0")
    assert_one_line_error(result, f"argument {option}: must be an integer > 0, got '0'")


# -- help ---------------------------------------------------------------------------------------------

def test_train_help_lists_every_setting_with_its_default_and_doc():
    from pufferlib.train.config import RUN_SECTIONS, all_settings
    result = puffer("train", "--help")
    assert result.returncode == 0, result.stderr
    for name in (s.name for s in all_settings()):
        listed = f"  --{name} " in result.stdout
        if name.partition(".")[0] in RUN_SECTIONS and name != "env.params":
            assert listed, name
        else:  # [sweep] belongs to puffer sweep --help
            assert not listed, name
    assert "  --env.NAME VALUE" in result.stdout
    learning_rate = ("  --train.learning_rate FLOAT = 0.00025  (> 0)\n"
                     "      Adam's step size (the start of the schedule when anneal_lr is not 'none').")
    assert learning_rate in result.stdout
    assert "  --vec.backend STR = 'serial'  (one of serial, multiprocessing, ray)" in result.stdout
