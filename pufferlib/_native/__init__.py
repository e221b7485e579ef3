"""The compiled half of pufferlib: the C environment engine and its thread settings.

OpenMP worker threads that finish a step keep spinning for a while in case more work comes
(libgomp's default is 300,000 spins, 10-40 ms of a core here). Between the steps of a training
loop that time belongs to the learner, so unless the user chose a policy, idle engine threads spin
for about a millisecond (30,000 spins: enough to bridge the gap between back-to-back steps, which
10,000 was not on the development machine) and then sleep.

libgomp reads GOMP_SPINCOUNT once, when it is loaded, which is when the engine below is imported.
So the variable is set only for that import and removed right after: the process environment is
left as it was, and no child process and no library initialised later reads it. (When another
library, such as torch, loaded libgomp first, this is too late and the engine's threads spin for
libgomp's default; `OMP_WAIT_POLICY=passive` or `GOMP_SPINCOUNT` set by the user always wins.)
"""
import os

_SPIN_FOR_LOAD = "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ
if _SPIN_FOR_LOAD:
    os.environ["GOMP_SPINCOUNT"] = "30000"
try:
    from pufferlib._native.engine import (
        ABI_VERSION,
        Engine,
        EnvDef,
        builtin_envs,
        env_def_at,
        openmp_enabled,
    )
finally:
    if _SPIN_FOR_LOAD:
        del os.environ["GOMP_SPINCOUNT"]   # unsetenv(): gone from the C environment too
from pufferlib._native.threads import resolve_num_threads  # noqa: E402

__all__ = ["ABI_VERSION", "Engine", "EnvDef", "builtin_envs", "env_def_at", "openmp_enabled",
           "resolve_num_threads"]
