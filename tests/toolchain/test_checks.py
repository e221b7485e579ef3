"""Checking users' C environments (pufferlib/toolchain/checks.py): `puffer build --check` and `check`."""
import pytest

from pufferlib import toolchain
from pufferlib.errors import BuildError, UnknownEnvironmentError
from tests.toolchain.toolchain_helpers import needs_compiler, puffer, tiny

pytestmark = needs_compiler


def test_check_passes_on_the_template(template):
    result = puffer("build", str(template / "catcher.c"), "--check", "--steps", "300")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for name in ("determinism", "threads", "seeds", "bounds", "reset", "flags", "rewards", "statistics"):
        assert any(line.startswith(f"PASS {name}:") for line in lines), result.stdout


def test_check_fails_on_a_nondeterministic_env(tmp_path):
    source = tiny(tmp_path, extra="static int counter;", observation="(float)(counter++ % 2)")
    result = puffer("build", source, "--check", "--steps", "100")
    assert result.returncode == 1
    assert "FAIL determinism: two runs with seed 0 diverge at step 1" in result.stdout
    assert "PASS bounds" in result.stdout and "Traceback" not in result.stderr


def test_check_fails_on_an_action_mask_without_a_legal_choice(tmp_path):
    masked = tiny(tmp_path, spaces="puffer_act_mask(s);")
    results = {r.name: r for r in toolchain.check(masked, steps=50, num_envs=8)}
    assert results["masks"].passed and results["masks"].detail == "every row keeps a legal choice"
    source = tiny(tmp_path, name="none_legal.c", spaces="puffer_act_mask(s);",
                  observation="(memset(r.action_mask, 0, 2), 0.5f)")
    results = {r.name: r for r in toolchain.check(source, steps=50, num_envs=8)}
    assert not results["masks"].passed
    assert results["masks"].detail.startswith("row 0's action mask leaves no legal choice of action dimension 0 "
                                              "at step 1: write 1 for at least one choice")


def test_check_fails_on_observations_out_of_bounds(tmp_path):
    source = tiny(tmp_path, observation="(e->tick == 3 ? 2.5f : 0.5f)")
    results = {r.name: r for r in toolchain.check(source, steps=50, num_envs=8)}
    assert not results["bounds"].passed
    assert "observation element (0,) of row 0 is 2.5 at step 3, outside the declared [0.0, 1.0]" in \
        results["bounds"].detail
    assert results["determinism"].passed and results["flags"].passed


def test_check_fails_on_bad_flags_rewards_and_endless_episodes(tmp_path):
    source = tiny(tmp_path, observation="0.5f; r.rew[0] = NAN; r.trunc[0] = 2; r.term[0] = 0; return")
    results = {r.name: r for r in toolchain.check(source, steps=20, num_envs=4)}
    assert "flag is 2 at step 1; write 0 or 1" in results["flags"].detail
    assert "reward nan in row 0 at step 1" in results["rewards"].detail
    source = tiny(tmp_path, name="endless.c", observation="0.5f; r.term[0] = 0; r.trunc[0] = 0; return")
    results = {r.name: r for r in toolchain.check(source, steps=20, num_envs=4)}
    assert not results["reset"].passed and "no episode ended in 20 steps x 4 envs" in results["reset"].detail


def _sanitizer_runtime():
    try:
        return toolchain.sanitizer_preload()
    except BuildError:
        return None


@pytest.mark.skipif(_sanitizer_runtime() is None, reason="the compiler has no AddressSanitizer runtime")
def test_debug_check_runs_under_the_sanitizers(template):
    result = puffer("build", str(template / "catcher.c"), "--debug", "--check", "--steps", "100")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "catcher.debug.so" in result.stdout and "LD_PRELOAD=" in result.stdout
    assert "PASS determinism" in result.stdout and "PASS bounds" in result.stdout


@pytest.mark.skipif(_sanitizer_runtime() is None, reason="the compiler has no AddressSanitizer runtime")
def test_debug_check_catches_a_write_past_the_rows(tmp_path):
    source = tiny(tmp_path, observation="0.5f; ((float*)r.obs)[1] = 0.5f")   # the observation has 1 element
    result = puffer("build", source, "--debug", "--check", "--steps", "10")
    assert result.returncode == 1
    assert "AddressSanitizer: heap-buffer-overflow" in result.stderr and "in tiny_step" in result.stderr
    line = next(n for n, text in enumerate(open(source), 1) if "((float*)r.obs)[1]" in text)
    assert f"{source}:{line}" in result.stderr                      # the exact line
    assert "CRASH determinism: the sanitizers stopped the check (exit status 1); their report on stderr " \
           "names the file and line" in result.stdout


def test_check_names_the_check_that_crashed_and_the_signal(tmp_path):
    source = tiny(tmp_path, observation="0.5f; ((volatile float*)16)[e->tick] = 1.0f")   # far out of bounds
    result = puffer("build", source, "--check", "--steps", "10")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == (
        f"CRASH determinism: the environment crashed the check with SIGSEGV (signal 11); rebuild with "
        f"`puffer build {source} --check --debug` to see the line")


def test_check_does_not_blame_shared_state_alone_for_an_overflow(tmp_path):
    source = tiny(tmp_path, observation="0.5f; ((float*)r.obs)[1] = 0.25f")   # into the next env's row
    result = puffer("build", source, "--check", "--steps", "50")
    assert result.returncode == 1, result.stdout + result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith(("FAIL", "CRASH"))]
    assert failed and all("--check --debug" in line for line in failed), result.stdout


def test_check_of_a_huge_observation_is_one_line(tmp_path):
    source = tiny(tmp_path, spaces="s->obs_shape[0] = 2000000000;")
    result = puffer("build", source, "--check")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == ("puffer: error: tiny: describe() gave observation shape (2000000000,) of "
                             "float32: 8000000000 bytes per agent, more than the engine's limit of "
                             "2**31-1 bytes; declare a smaller observation\n")


def test_check_takes_a_built_in_name_a_path_or_an_env_def():
    import pufferlib.envs

    names = ["determinism", "threads", "seeds", "bounds", "reset", "flags", "rewards", "statistics", "masks"]
    assert [r.name for r in toolchain.check("cartpole", steps=50, num_envs=4)] == names
    assert [r.name for r in toolchain.check(pufferlib.envs.env_def("cartpole"), steps=50, num_envs=4)] == names
    with pytest.raises(UnknownEnvironmentError, match=r"unknown environment 'cartpol'; the built-in "
                                                      r"environments are: .*cartpole"):
        toolchain.check("cartpol", steps=10, num_envs=2)
