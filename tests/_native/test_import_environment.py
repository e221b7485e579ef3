"""Importing pufferlib and stepping on threads leave the process environment as they found it."""
import os
import subprocess
import sys

import pytest

import pufferlib

STEP_ON_TWO_THREADS = """
import ctypes, os, subprocess, sys
before = dict(os.environ)
import numpy as np
import pufferlib
with pufferlib.make("cartpole", num_envs=64, num_threads=2) as env:
    env.reset(seed=0)
    env.step(np.zeros(64, np.int32))
assert dict(os.environ) == before, set(os.environ.items()) ^ set(before.items())
getenv = ctypes.CDLL(None).getenv
getenv.restype = ctypes.c_char_p
assert getenv(b"GOMP_SPINCOUNT") is None       # the C environment too
child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('GOMP_SPINCOUNT'))"],
                       capture_output=True, text=True, check=True)
print("child sees", child.stdout.strip())
"""


def _python(code, **env):
    environ = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**environ, **env})


def test_import_and_stepping_leave_os_environ_unchanged():
    result = _python(STEP_ON_TWO_THREADS)
    assert result.returncode == 0, result.stderr
    assert "child sees None" in result.stdout


STEP_THEN_LOAD_OPENMP = """
import numpy as np
import pufferlib
def gomp_loaded():
    with open("/proc/self/maps") as maps:
        return any("libgomp" in line for line in maps)
with pufferlib.make("cartpole", num_envs=64, num_threads=2) as env:
    env.reset(seed=0)
    env.step(np.zeros(64, np.int32))
print("gomp loaded by the engine:", gomp_loaded(), flush=True)
import pufferlib._native.advantage   # an OpenMP kernel: libgomp initialises now
print("gomp loaded by the kernel:", gomp_loaded(), flush=True)
"""


@pytest.mark.skipif(not pufferlib.openmp_enabled(), reason="built without OpenMP")
@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="reads /proc/self/maps")
def test_stepping_on_threads_leaves_openmp_unloaded_and_at_its_defaults():
    # libgomp prints the settings it initialised with: its own default spin, not one of ours
    result = _python(STEP_THEN_LOAD_OPENMP, OMP_DISPLAY_ENV="verbose")
    assert result.returncode == 0, result.stderr
    assert "gomp loaded by the engine: False" in result.stdout
    assert "gomp loaded by the kernel: True" in result.stdout
    assert "GOMP_SPINCOUNT = '300000'" in result.stderr, result.stderr


def test_a_users_spin_setting_is_kept():
    result = _python("import os, pufferlib; print(os.environ['GOMP_SPINCOUNT'])", GOMP_SPINCOUNT="5")
    assert result.returncode == 0 and result.stdout.strip() == "5", result.stderr
