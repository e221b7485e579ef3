"""The `puffer` command, run as a user would, in a subprocess."""
import subprocess
import sys

import pytest

from pufferlib.envs import list_envs


def puffer(*args):
    return subprocess.run([sys.executable, "-m", "pufferlib.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_envs_lists_every_environment_with_spaces_and_parameters():
    result = puffer("envs")
    assert result.returncode == 0, result.stderr
    for name in list_envs():
        assert f"\n{name}\n" in f"\n{result.stdout}\n"
    assert "observation Box(float32, (4,), [-4.8, -3.403e+38, -0.4189, -3.403e+38]" in result.stdout
    assert "max_steps = 500  [1, 1000000000]" in result.stdout


def test_envs_one_environment():
    result = puffer("envs", "squared")
    assert result.returncode == 0
    assert result.stdout.startswith("squared\n") and "cartpole" not in result.stdout
    assert "size = 11" in result.stdout


@pytest.mark.parametrize("args", [
    ("bench", "cartpole", "--num-envs", "64", "--seconds", "0.05", "--runs", "2"),
    ("bench", "squared", "--num-envs", "16", "--threads", "2", "--seconds", "0.05", "--env.size", "7"),
])
def test_bench_prints_steps_per_second(args):
    result = puffer(*args)
    assert result.returncode == 0, result.stderr
    assert "agent-steps/s" in result.stdout and f"num_envs={args[3]}" in result.stdout


@pytest.mark.parametrize("args, message", [
    (("bench", "cartpol"), "unknown environment 'cartpol'"),
    (("bench", "cartpole", "--env.gravity", "1"), "cartpole has no parameter 'gravity'"),
    (("bench", "cartpole", "--env.max_steps"), "command line: --env.max_steps needs a value"),
    (("bench", "cartpole", "--env.max_steps", "many"), "cartpole parameter max_steps must be an integer"),
    (("bench", "cartpole", "--train.seed", "3"), "puffer bench takes environment parameters (--env.KEY VALUE)"),
    (("bench", "cartpole", "--env.num_envs", "8"), "got --env.num_envs; use --num-envs N"),
    (("bench", "cartpole", "--num-envs", "0"), "num_envs must be a positive integer"),
    (("bench", "cartpole", "--seconds", "0"), "argument --seconds: must be a finite number > 0, got '0'"),
    (("envs", "nothing"), "unknown environment 'nothing'"),
])
def test_errors_are_one_clear_line(args, message):
    result = puffer(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_bench_reads_env_parameters_without_importing_torch():
    code = ("import sys; from pufferlib.cli import main; "
            "status = main(['bench', 'squared', '--num-envs', '8', '--seconds', '0.01', '--runs', '1', "
            "'--env.size', '7']); print(status, 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "0 False"


@pytest.mark.parametrize("args", [
    ("bench", "squared", "--param", "size=7"),
    ("bench", "squared", "--seconds", "0.05", "--param=size=7"),
    ("train", "squared", "--timesteps", "64", "--param", "size=7"),
])
def test_param_is_refused_with_the_env_setting_to_use_instead(args):
    result = puffer(*args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("puffer: error: command line: --param is no longer taken; environment parameters "
                             "are set like every setting, --env.KEY VALUE: use --env.size 7\n")
