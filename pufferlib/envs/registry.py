"""The registry of environments by name, and `make`."""
from pufferlib._native import builtin_env, builtin_envs
from pufferlib.toolchain import is_path, load
from pufferlib.vector.native import NativeVecEnv

__all__ = ["env_def", "list_envs", "make"]


def list_envs():
    """Names of the built-in environments, in listing order."""
    return list(builtin_envs())


def env_def(name):
    """The EnvDef (docs, parameters, statistics) of a built-in environment or of a C file.

    Args:
        name: a built-in name, or a path (it contains a '/' or ends with .c or .so) to a C
            environment or to a library built from one: see `pufferlib.toolchain.load`.

    Raises:
        UnknownEnvironmentError: no environment has this name (the message lists those that do).
        EnvironmentLoadError, BuildError: a path that cannot be built or loaded.

    """
    return load(name) if is_path(name) else builtin_env(name)


def make(name, num_envs=1, num_threads=None, seed=0, check_actions=True, **params):
    """Creates a vector of `num_envs` copies of a C environment, stepped on threads.

    Args:
        name: a built-in environment (`pufferlib.envs.list_envs()`, or `puffer envs`), or the
            path of your own C environment ("path/to/my_env.c", built into
            path/to/.puffer_build/ when missing or stale) or of a library built from one
            ("my_env.so", from `puffer build`). See docs/c-environments.md.
        num_envs: copies to step together; each has `agents per env` rows in the buffers.
        num_threads: threads to step on; None for OMP_NUM_THREADS or the cores available.
        seed: environment i is seeded from (seed, i), so results do not depend on threads.
        check_actions: validate actions before every step (cheap); when False, out-of-range
            actions are still memory-safe but their effect is environment-defined.
        **params: the environment's parameters (see `puffer envs`).

    Returns:
        A `pufferlib.vector.NativeVecEnv`. Call reset() before step().

    Raises:
        UnknownEnvironmentError: no environment has this name.
        EnvironmentLoadError: a file that does not exist, is not a pufferlib environment, was
            built for another ABI version, or describes spaces the engine cannot hold.
        BuildError: a C source that does not compile (the message holds the compiler's output).
        TypeError, ValueError: unknown parameters or invalid values, num_envs or num_threads < 1.

    Example:
        >>> import pufferlib
        >>> env = pufferlib.make("squared", num_envs=4, size=7)
        >>> env.single_observation_space.shape
        (7, 7)
        >>> env.close()

    """
    return NativeVecEnv(env_def(name), num_envs=num_envs, num_threads=num_threads, seed=seed,
                        check_actions=check_actions, **params)
