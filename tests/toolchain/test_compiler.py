"""Users' C environments: `puffer new`, `puffer build`, `pufferlib.make("my_env.c")` (pufferlib/build.py)."""
import os
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest

import pufferlib
from pufferlib import build
from pufferlib.errors import BuildError, EnvironmentLoadError

pytestmark = pytest.mark.skipif(
    shutil.which((shlex.split(os.environ.get("CC") or "cc") or ["cc"])[0]) is None,
    reason="no C compiler (cc, or $CC) to build user environments with")


def puffer(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "pufferlib.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env)


# A minimal environment whose pieces the tests replace to break it in one way at a time.
TINY = """
#include "puffer_env.h"
{extra}
typedef struct {{ int32_t tick; PufferRng rng; }} Tiny;
static const PufferParam tiny_params[] = {{{{"horizon", {horizon}, 1, 100, 1, "steps per episode"}}}};
static const char* const tiny_stats[] = {{"score"}};
static int tiny_describe(const double* p, PufferSpec* s, char* err, int errlen) {{
    (void)p; (void)err; (void)errlen;
    s->num_agents = 1;
    puffer_obs_box(s, PUFFER_FLOAT32, 1, 0.0f, 1.0f);
    puffer_act_discrete(s, 2);
    {spaces}
    return 0;
}}
static void tiny_init(Tiny* e, const double* p, PufferRng rng, PufferRng shared) {{
    (void)p; (void)shared; e->rng = rng;
}}
static void tiny_reset(Tiny* e, PufferRows r) {{
    e->tick = 0;
    ((float*)r.obs)[0] = puffer_rand_float(&e->rng);
}}
static void tiny_step(Tiny* e, PufferRows r) {{
    e->tick += 1;
    ((float*)r.obs)[0] = {observation};
    r.rew[0] = 1.0f;
    r.term[0] = e->tick >= 10;
    r.trunc[0] = 0;
    if (r.term[0]) r.log->stats[0] += 1.0;
}}
PUFFER_DEFINE_ENV(Tiny, tiny, "a tiny env", tiny_params, tiny_stats)
{export}
"""


def tiny(folder, name="tiny.c", extra="", spaces="", observation="puffer_rand_float(&e->rng)",
         export="PUFFER_EXPORT(tiny)", horizon=10):
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write(TINY.format(extra=extra, spaces=spaces, observation=observation, export=export,
                            horizon=horizon))
    return path


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """`puffer new catcher` then `puffer build catcher.c`, as a user would."""
    folder = tmp_path_factory.mktemp("new")
    made = puffer("new", "catcher", "--dir", str(folder))
    assert made.returncode == 0, made.stderr
    built = puffer("build", str(folder / "catcher.c"))
    assert built.returncode == 0, built.stderr
    return folder


# ---- puffer new, puffer build, make ----

def test_new_writes_a_source_and_its_tests(template):
    assert sorted(p.name for p in template.iterdir() if p.is_file()) == ["catcher.c", "test_catcher.py"]
    source = (template / "catcher.c").read_text()
    assert "PUFFER_EXPORT(catcher)" in source and "#ifdef PUFFER_STANDALONE" in source
    assert "$" not in source.replace("$(python", "").replace("$INC", "")


def test_build_puts_the_library_where_make_looks(template):
    library = template / ".puffer_build" / "catcher.so"
    assert library.exists()
    assert build.library_path(template / "catcher.c") == str(library)


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


def test_user_env_checks_actions_and_parameters(template):
    source = str(template / "catcher.c")
    with pytest.raises(TypeError, match="catcher has no parameter 'size'"):
        pufferlib.make(source, size=3)
    with pytest.raises(ValueError, match="width must be an integer in \\[2, 64\\]"):
        pufferlib.make(source, width=1)
    with pufferlib.make(source, num_envs=2) as env:
        env.reset()
        with pytest.raises(ValueError, match="action 3 at row 1 is out of range"):
            env.step(np.array([0, 3], np.int32))


def test_generated_tests_pass(template):
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "test_catcher.py"], cwd=template, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout


def test_template_runs_standalone(template, tmp_path):
    program = str(tmp_path / "catcher")
    compiled = subprocess.run([*build.compiler(), "-O2", "-DPUFFER_STANDALONE", "-I", pufferlib.get_include(),
                               str(template / "catcher.c"), "-lm", "-o", program], capture_output=True,
                              text=True)
    assert compiled.returncode == 0, compiled.stderr
    run = subprocess.run([program, "20000"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "catcher: 20000 steps" in run.stdout
    play = subprocess.run([program, "play"], input="a\nd\ns\nq\n", capture_output=True, text=True, timeout=60)
    assert play.returncode == 0 and "..=.." in play.stdout


def test_check_passes_on_the_template(template):
    result = puffer("build", str(template / "catcher.c"), "--check", "--steps", "300")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for name in ("determinism", "threads", "seeds", "bounds", "reset", "flags", "rewards", "statistics"):
        assert any(line.startswith(f"PASS {name}:") for line in lines), result.stdout


def test_build_to_a_chosen_output_and_make_from_it(tmp_path):
    source = tiny(tmp_path)
    result = puffer("build", source, "-o", str(tmp_path / "out" / "mine.so"))
    assert result.returncode == 0, result.stderr
    with pufferlib.make(str(tmp_path / "out" / "mine.so"), num_envs=4) as env:
        assert env.name == "tiny"


def test_new_refuses_to_overwrite_and_bad_names(tmp_path):
    build.new_env("twice", tmp_path)
    with pytest.raises(FileExistsError, match="pass --force to overwrite"):
        build.new_env("twice", tmp_path)
    assert build.new_env("twice", tmp_path, force=True)
    with pytest.raises(ValueError, match="must be a C identifier.*got 'my-env'"):
        build.new_env("my-env", tmp_path)
    with pytest.raises(ValueError, match="got 'int'"):
        build.new_env("int", tmp_path)
    result = puffer("new", "twice", "--dir", str(tmp_path))
    assert result.returncode == 2 and "already exist" in result.stderr and "Traceback" not in result.stderr


# ---- the build cache ----

def test_make_builds_when_stale_and_reuses_when_fresh(tmp_path):
    source = tiny(tmp_path)
    library = build.library_path(source)
    assert not os.path.exists(library)
    first = pufferlib.envs.env_def(source)
    built = os.stat(library).st_mtime_ns
    assert pufferlib.envs.env_def(source) is first          # fresh: neither rebuilt nor reloaded
    assert os.stat(library).st_mtime_ns == built

    tiny(tmp_path, horizon=20)                               # an edit: rebuilt and reloaded
    os.utime(source, ns=(built + 10**9, built + 10**9))
    second = pufferlib.envs.env_def(source)
    assert os.stat(library).st_mtime_ns > built
    assert second.defaults() == {"horizon": 20} and first.defaults() == {"horizon": 10}


def test_a_changed_local_header_makes_the_library_stale(tmp_path):
    header = tmp_path / "tiny_size.h"
    header.write_text("#define TINY_HORIZON 10\n")
    source = tiny(tmp_path, extra='#include "tiny_size.h"', horizon="TINY_HORIZON")
    assert pufferlib.envs.env_def(source).defaults() == {"horizon": 10}
    built = os.stat(build.library_path(source)).st_mtime_ns
    header.write_text("#define TINY_HORIZON 30\n")
    os.utime(header, ns=(built + 10**9, built + 10**9))
    assert pufferlib.envs.env_def(source).defaults() == {"horizon": 30}


def test_an_engine_keeps_its_library(tmp_path):
    source = tiny(tmp_path)
    env = pufferlib.make(source, num_envs=32, num_threads=2)
    assert env.env_def.owner is not None                     # the loaded library
    tiny(tmp_path, horizon=5)                                # rebuilt and reloaded meanwhile
    os.utime(source, ns=(os.stat(source).st_mtime_ns + 10**9,) * 2)
    with pufferlib.make(source, num_envs=4) as newer:
        assert newer.env_def.defaults() == {"horizon": 5}
    env.reset(seed=0)
    for _ in range(25):
        _, rewards, terminals, _, _ = env.step(np.zeros(32, np.int32))
    assert (rewards == 1).all()
    env.close()


# ---- errors at build and load time ----

def test_syntax_error_shows_the_compiler_output_and_command(tmp_path):
    source = tiny(tmp_path, observation="1.0f +")
    with pytest.raises(BuildError, match=r"(?s)compiling .*tiny\.c failed.*\$ .*-shared.*tiny\.c.*error"):
        pufferlib.make(source)
    result = puffer("build", source)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: expected expression" in result.stderr and "-I " + pufferlib.get_include() in result.stderr


def test_missing_file(tmp_path):
    with pytest.raises(EnvironmentLoadError, match="no such file: .*nothing.c"):
        pufferlib.make(str(tmp_path / "nothing.c"))
    result = puffer("build", str(tmp_path / "nothing.c"))
    assert result.returncode == 2 and "no such file" in result.stderr


def test_missing_export(tmp_path):
    source = tiny(tmp_path, export="")
    with pytest.raises(EnvironmentLoadError, match="not a pufferlib environment: it exports no "
                                                   r"pufferlib_env_table\(\); end the C file with PUFFER_EXPORT"):
        pufferlib.make(source)


def test_not_a_shared_library(tmp_path):
    fake = tmp_path / "fake.so"
    fake.write_text("not a library")
    with pytest.raises(EnvironmentLoadError, match="cannot load .*fake.so"):
        pufferlib.make(str(fake))


def test_wrong_abi_version(tmp_path):
    source = tiny(tmp_path, extra="#undef PUFFER_ABI_VERSION\n#define PUFFER_ABI_VERSION 99")
    with pytest.raises(EnvironmentLoadError, match="compiled against pufferlib ABI version 99, but this "
                                                   "pufferlib speaks version 1; rebuild it"):
        pufferlib.make(source)


def test_a_fixed_source_loads_in_the_process_that_refused_it(tmp_path):
    source = tiny(tmp_path, extra="#undef PUFFER_ABI_VERSION\n#define PUFFER_ABI_VERSION 99")
    with pytest.raises(EnvironmentLoadError, match="ABI version 99"):
        pufferlib.make(source)
    built = os.stat(build.library_path(source)).st_mtime_ns
    tiny(tmp_path)
    os.utime(source, ns=(built + 10**9, built + 10**9))
    with pufferlib.make(source, num_envs=2) as env:    # not the refused library, still loaded
        assert env.name == "tiny"


def test_null_function_in_the_table(tmp_path):
    export = """
static PufferEnvDef broken;
const PufferEnvDef* pufferlib_env_table(void) {
    broken = tiny_env_def;
    broken.step = NULL;
    return &broken;
}"""
    source = tiny(tmp_path, export=export)
    with pytest.raises(EnvironmentLoadError, match="the environment defines no step"):
        pufferlib.make(source)


def test_null_table(tmp_path):
    source = tiny(tmp_path, export="const PufferEnvDef* pufferlib_env_table(void) { return NULL; }")
    with pytest.raises(EnvironmentLoadError, match="the environment table is NULL"):
        pufferlib.make(source)


@pytest.mark.parametrize("spaces, message", [
    ("s->obs_shape[0] = 0;", r"observation shape \(0,\); every size must be >= 1"),
    ("s->obs_shape[0] = -3;", r"observation shape \(-3,\); every size must be >= 1"),
    ("s->obs_ndim = 7;", "obs_ndim=7; expected 1 to 4"),
    ("s->num_agents = 0;", "num_agents=0; expected >= 1"),
    ("puffer_act_discrete(s, 0);", r"discrete action sizes \(0,\); each must be >= 1"),
    ("s->act_dims = 40;", "act_dims=40; expected 1 to 16"),
    ("s->obs_dtype = 9;", "obs_dtype=9; expected PUFFER_FLOAT32"),
    ("s->obs_ndim = 4; for (int k = 0; k < 4; k++) s->obs_shape[k] = 65536;",   # 2**64 elements
     r"observation shape \(65536, 65536, 65536, 65536\) of float32: 73786976294838206464 bytes per agent, "
     r"more than the engine's limit of 2\*\*31-1 bytes"),
])
def test_bad_spaces_fail_at_load(tmp_path, spaces, message):
    source = tiny(tmp_path, spaces=spaces)
    with pytest.raises(EnvironmentLoadError, match=message):
        pufferlib.envs.env_def(source)


def test_bad_parameter_table(tmp_path):
    source = tiny(tmp_path, horizon=500)
    with pytest.raises(EnvironmentLoadError, match=r"parameter horizon has default 500, expected an "
                                                   r"integer in its range \[1, 100\]"):
        pufferlib.make(source)


def test_describe_rejecting_the_defaults(tmp_path):
    source = tiny(tmp_path, spaces='return PUFFER_ERROR(err, errlen, "no %s today", "tiny");')
    with pytest.raises(EnvironmentLoadError, match="describe\\(\\) rejects the default parameters: tiny: no tiny"):
        pufferlib.make(source)


def test_no_compiler(tmp_path, monkeypatch):
    source = tiny(tmp_path)
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    with pytest.raises(BuildError, match="no C compiler: .*no-such-cc.* is not on PATH"):
        pufferlib.make(source)


def test_stale_library_without_rebuild(tmp_path):
    source = tiny(tmp_path)
    with pytest.raises(EnvironmentLoadError, match="missing or older than .*; run `puffer build"):
        build.load(source, rebuild=False)


@pytest.mark.skipif(build._sanitizer_loaded(), reason="this Python already has the sanitizer runtime")
def test_debug_library_needs_the_sanitizer_runtime(tmp_path):
    source = tiny(tmp_path)
    result = build.build(source, debug=True)
    assert result.library.endswith("tiny.debug.so")
    with pytest.raises(EnvironmentLoadError, match="built with --debug .*LD_PRELOAD="):
        pufferlib.make(result.library)


# ---- puffer build --check ----

def test_check_fails_on_a_nondeterministic_env(tmp_path):
    source = tiny(tmp_path, extra="static int counter;", observation="(float)(counter++ % 2)")
    result = puffer("build", source, "--check", "--steps", "100")
    assert result.returncode == 1
    assert "FAIL determinism: two runs with seed 0 diverge at step 1" in result.stdout
    assert "PASS bounds" in result.stdout and "Traceback" not in result.stderr


def test_check_fails_on_observations_out_of_bounds(tmp_path):
    source = tiny(tmp_path, observation="(e->tick == 3 ? 2.5f : 0.5f)")
    results = {r.name: r for r in build.check(source, steps=50, num_envs=8)}
    assert not results["bounds"].passed
    assert "observation element (0,) of row 0 is 2.5 at step 3, outside the declared [0.0, 1.0]" in \
        results["bounds"].detail
    assert results["determinism"].passed and results["flags"].passed


def test_check_fails_on_bad_flags_rewards_and_endless_episodes(tmp_path):
    source = tiny(tmp_path, observation="0.5f; r.rew[0] = NAN; r.trunc[0] = 2; r.term[0] = 0; return")
    results = {r.name: r for r in build.check(source, steps=20, num_envs=4)}
    assert "flag is 2 at step 1; write 0 or 1" in results["flags"].detail
    assert "reward nan in row 0 at step 1" in results["rewards"].detail
    source = tiny(tmp_path, name="endless.c", observation="0.5f; r.term[0] = 0; r.trunc[0] = 0; return")
    results = {r.name: r for r in build.check(source, steps=20, num_envs=4)}
    assert not results["reset"].passed and "no episode ended in 20 steps x 4 envs" in results["reset"].detail


def _sanitizer_runtime():
    try:
        return build.sanitizer_preload()
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


# ---- puffer build verifies what it built ----

def test_build_refuses_a_file_that_is_not_c_before_compiling(tmp_path, monkeypatch):
    fake = tmp_path / "fake.so"
    fake.write_text("GROUP ( /etc/passwd )\n")      # what the linker would read as a script
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))  # the compiler is never asked
    with pytest.raises(BuildError, match=r"fake.so is not a C source: build compiles one .c file"):
        build.build(fake)
    result = puffer("build", str(fake))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "puffer: error: " in result.stderr and "is not a C source" in result.stderr


def test_build_refuses_a_library_of_another_abi_version(tmp_path):
    source = tiny(tmp_path, extra="#undef PUFFER_ABI_VERSION\n#define PUFFER_ABI_VERSION 99")
    result = puffer("build", source)
    assert result.returncode == 2 and "built" not in result.stdout
    assert "compiled against pufferlib ABI version 99, but this pufferlib speaks version 1" in result.stderr
    assert not os.path.exists(build.library_path(source))


def test_build_refuses_a_library_without_the_table(tmp_path):
    source = tiny(tmp_path, export="")
    with pytest.raises(EnvironmentLoadError, match=r"exports no pufferlib_env_table\(\)"):
        build.build(source)
    assert not os.path.exists(build.library_path(source))


def test_build_reports_a_library_that_crashes_when_loaded(tmp_path):
    source = tiny(tmp_path, spaces="*(volatile int*)16 = 1;")    # describe() faults
    result = puffer("build", source)
    assert result.returncode == 2 and "built" not in result.stdout
    assert "compiled, but loading it crashed with SIGSEGV (signal 11) while its table was read and " \
           "describe() ran at the default parameters, so it was deleted" in result.stderr
    assert not os.path.exists(build.library_path(source))


def test_check_of_a_huge_observation_is_one_line(tmp_path):
    source = tiny(tmp_path, spaces="s->obs_shape[0] = 2000000000;")
    result = puffer("build", source, "--check")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == ("puffer: error: tiny: describe() gave observation shape (2000000000,) of "
                             "float32: 8000000000 bytes per agent, more than the engine's limit of "
                             "2**31-1 bytes; declare a smaller observation\n")
