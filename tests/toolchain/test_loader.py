"""Loading users' C environments (pufferlib/toolchain/loader.py): `make("my_env.c")` and what it refuses."""
import os

import numpy as np
import pytest

import pufferlib
from pufferlib import toolchain
from pufferlib.errors import EnvironmentLoadError
from pufferlib.toolchain import loader
from tests.toolchain.toolchain_helpers import needs_compiler, tiny

pytestmark = needs_compiler


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


# ---- errors at load time ----

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
    built = os.stat(toolchain.library_path(source)).st_mtime_ns
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


def test_stale_library_without_rebuild(tmp_path):
    source = tiny(tmp_path)
    with pytest.raises(EnvironmentLoadError, match="missing or older than .*; run `puffer build"):
        toolchain.load(source, rebuild=False)


@pytest.mark.skipif(loader._sanitizer_loaded(), reason="this Python already has the sanitizer runtime")
def test_debug_library_needs_the_sanitizer_runtime(tmp_path):
    source = tiny(tmp_path)
    result = toolchain.build(source, debug=True)
    assert result.library.endswith("tiny.debug.so")
    with pytest.raises(EnvironmentLoadError, match="built with --debug .*LD_PRELOAD="):
        pufferlib.make(result.library)
