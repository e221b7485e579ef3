"""The compiled half of pufferlib: the C environment engine and its thread settings.

The engine steps environments on its own small thread pool (csrc/puffer_pool.h), not on OpenMP:
importing it loads no OpenMP runtime and sets nothing that other libraries read (no environment
variables). Its idle threads spin for about 50 us after a step, to catch the next one of a tight
loop, and then sleep.
"""
from pufferlib._native.engine import (
    ABI_VERSION,
    Engine,
    EnvDef,
    builtin_envs,
    env_def_at,
    openmp_enabled,
)
from pufferlib._native.threads import resolve_num_threads
from pufferlib.errors import UnknownEnvironmentError

__all__ = ["ABI_VERSION", "Engine", "EnvDef", "builtin_env", "builtin_envs", "env_def_at", "openmp_enabled",
           "resolve_num_threads"]


def builtin_env(name):
    """The EnvDef of the built-in environment `name`.

    Raises:
        UnknownEnvironmentError: no built-in environment has this name (the message lists those that do).
    """
    envs = builtin_envs()
    if not isinstance(name, str) or name not in envs:
        raise UnknownEnvironmentError(
            f"unknown environment {name!r}; the built-in environments are: {', '.join(envs)} "
            "(run `puffer envs` to see them with their parameters)")
    return envs[name]
