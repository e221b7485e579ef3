"""The compiled half of pufferlib: the C environment engine and its thread settings.

OpenMP worker threads that finish a step keep spinning for a while in case more work comes
(libgomp's default is 300,000 spins, 10-40 ms of a core here). Between the steps of a training
loop that time belongs to the learner, so unless the user chose a policy, idle engine threads spin
for about a millisecond (30,000 spins: enough to bridge the gap between back-to-back steps, which
10,000 was not on the development machine) and then sleep. libgomp reads this once, when it is
loaded, hence here.
"""
import os

if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "30000"

from pufferlib._native.engine import (  # noqa: E402
    ABI_VERSION,
    Engine,
    EnvDef,
    builtin_envs,
    env_def_at,
    openmp_enabled,
)
from pufferlib._native.threads import resolve_num_threads  # noqa: E402

__all__ = ["ABI_VERSION", "Engine", "EnvDef", "builtin_envs", "env_def_at", "openmp_enabled",
           "resolve_num_threads"]
