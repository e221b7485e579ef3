"""Sizes given on the `puffer` command line: one line of error, exit status 2, never a traceback."""
import subprocess
import sys


def test_bench_with_too_many_envs_is_one_line():
    result = subprocess.run([sys.executable, "-m", "pufferlib.cli", "bench", "cartpole", "--num-envs",
                             "99999999999"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == ("puffer: error: num_envs must be at most 2**31-1 (2147483647), got 99999999999; "
                             "use fewer envs\n")


def test_train_with_a_huge_seed_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pufferlib.cli", "train", "cartpole", "--seed", str(2**70),
                             "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "train.seed must be in [0, 9223372036854775807], got 1180591620717411303424" \
        in result.stderr
