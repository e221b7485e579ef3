"""`puffer new` (pufferlib/toolchain/template.py): the template builds, steps, passes its tests, runs alone."""
import subprocess
import sys

import numpy as np
import pytest

import pufferlib
from pufferlib import toolchain
from tests.toolchain.toolchain_helpers import needs_compiler, puffer

pytestmark = needs_compiler


def test_new_writes_a_source_and_its_tests(template):
    assert sorted(p.name for p in template.iterdir() if p.is_file()) == ["catcher.c", "test_catcher.py"]
    source = (template / "catcher.c").read_text()
    assert "PUFFER_EXPORT(catcher)" in source and "#ifdef PUFFER_STANDALONE" in source
    assert "$" not in source.replace("$(python", "").replace("$INC", "")


def test_new_refuses_to_overwrite_and_bad_names(tmp_path):
    toolchain.new_env("twice", tmp_path)
    with pytest.raises(FileExistsError, match="pass --force to overwrite"):
        toolchain.new_env("twice", tmp_path)
    assert toolchain.new_env("twice", tmp_path, force=True)
    with pytest.raises(ValueError, match="must be a C identifier.*got 'my-env'"):
        toolchain.new_env("my-env", tmp_path)
    with pytest.raises(ValueError, match="got 'int'"):
        toolchain.new_env("int", tmp_path)
    result = puffer("new", "twice", "--dir", str(tmp_path))
    assert result.returncode == 2 and "already exist" in result.stderr and "Traceback" not in result.stderr


def test_built_template_steps_like_a_builtin_at_any_thread_count(template, rollout):
    source = str(template / "catcher.c")
    with pufferlib.make(source, num_envs=64, num_threads=1, seed=3, width=7) as one, \
            pufferlib.make(source, num_envs=64, num_threads=2, seed=3, width=7) as two:
        assert one.name == "catcher" and one.single_observation_space.shape == (3,)
        assert two.num_threads == 2
        a, infos = rollout(one, 200)
        b, _ = rollout(two, 200)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    finished = [info for info in infos if info]
    assert finished and {"episode_return", "episode_length", "episodes", "caught"} <= set(finished[0])


def test_generated_tests_pass(template):
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "test_catcher.py"], cwd=template, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout


def test_template_runs_standalone(template, tmp_path):
    program = str(tmp_path / "catcher")
    compiled = subprocess.run([*toolchain.compiler(), "-O2", "-DPUFFER_STANDALONE", "-I", pufferlib.get_include(),
                               str(template / "catcher.c"), "-lm", "-o", program], capture_output=True,
                              text=True)
    assert compiled.returncode == 0, compiled.stderr
    run = subprocess.run([program, "20000"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "catcher: 20000 steps" in run.stdout
    play = subprocess.run([program, "play"], input="a\nd\ns\nq\n", capture_output=True, text=True, timeout=60)
    assert play.returncode == 0 and "..=.." in play.stdout
