"""examples/cartpole_policy.c: an exported CartPole policy run from C, against `evaluate`."""
import os
import re
import subprocess

import pytest

from pufferlib.export import export
from pufferlib.train.evaluate import evaluate
from tests.export.export_helpers import ROOT, SANITIZER_ENV, compile_program, needs_cc

pytestmark = [needs_cc, pytest.mark.learning]


@pytest.fixture(scope="module")
def example(cartpole_run, tmp_path_factory):
    """(the compiled example, the exported policy.bin)."""
    _, summary = cartpole_run
    out = tmp_path_factory.mktemp("cartpole_export")
    export("cartpole", summary["checkpoint"], format="c", output=out)
    program = compile_program([os.path.join(ROOT, "examples", "cartpole_policy.c"), str(out / "puffer_policy.c"),
                               os.path.join(ROOT, "csrc", "envs", "cartpole.c")], out / "cartpole_policy",
                              includes=[os.path.join(ROOT, "csrc"), out])
    return program, out / "policy.bin"


def run(program, *args):
    result = subprocess.run([str(program), *map(str, args)], capture_output=True, text=True, timeout=300,
                            env={**os.environ, **SANITIZER_ENV})
    return result


def test_c_example_returns_what_evaluate_returns(cartpole_run, example):
    _, summary = cartpole_run
    program, weights = example
    python = evaluate("cartpole", summary["checkpoint"], episodes=100, deterministic=True)
    # evaluate runs min(episodes, num_envs) = 64 envs seeded from the run's seed 0; the example alike
    result = run(program, weights, 100, 64, 0)
    assert result.returncode == 0, result.stderr
    c_mean = float(re.search(r"mean return ([\d.]+) over 100 episodes", result.stdout).group(1))
    assert python["mean_return"] > 400 and c_mean > 400  # a solved policy
    assert abs(c_mean - python["mean_return"]) <= 0.02 * python["mean_return"]


def test_c_example_rejects_a_policy_of_another_environment(example, tmp_path):
    from pufferlib.export import write_weights
    from tests.export.export_helpers import make_policy

    program, _ = example
    write_weights(make_policy("discrete"), tmp_path / "other.bin")
    result = run(program, tmp_path / "other.bin")
    assert result.returncode == 1 and "is not a CartPole policy" in result.stderr


def test_c_example_reports_a_missing_policy(example, tmp_path):
    program, _ = example
    result = run(program, tmp_path / "missing.bin")
    assert result.returncode == 1 and "cannot open" in result.stderr
