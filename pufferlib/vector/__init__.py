"""Vector environments: every backend follows the same protocol (see DESIGN.md).

>>> import pufferlib.vector
>>> from pufferlib.environment import PufferEnv
>>> vecenv = pufferlib.vector.make(MyEnv, num_envs=8, backend="multiprocessing")  # doctest: +SKIP
"""
from pufferlib._native.engine import check_count
from pufferlib.vector.adapters import as_gymnasium, as_sb3
from pufferlib.vector.multiprocessing import Multiprocessing
from pufferlib.vector.native import NativeVecEnv
from pufferlib.vector.serial import Serial

__all__ = ["BACKENDS", "Multiprocessing", "NativeVecEnv", "Serial", "as_gymnasium", "as_sb3", "make"]

BACKENDS = ("serial", "multiprocessing", "ray")


def make(env_creator, num_envs, backend="serial", num_workers="auto", batch_size=None, seed=0,
         env_kwargs=None, **backend_kwargs):
    """Creates `num_envs` Python environments stepped by a vector backend.

    Args:
        env_creator: a callable returning a PufferEnv, a gymnasium.Env or a PettingZoo
            ParallelEnv (the latter two are wrapped by pufferlib.emulation), called exactly
            num_envs times; it receives `buf=` when it has a `buf` parameter (every env but the
            first, which tells the buffers' sizes). For 'multiprocessing' and 'ray' it must be
            picklable. The vector env's `observation_layout` and `action_layout` are the first
            env's.
        num_envs: how many environments.
        backend: 'serial' (in process), 'multiprocessing' (worker processes, shared memory) or
            'ray' (Ray actors; needs `pip install ray`).
        num_workers: worker processes/actors, or 'auto' (ignored by 'serial').
        batch_size: envs per recv() (asynchronous pools); None means num_envs.
        seed: env i is seeded with seed + i.
        env_kwargs: keyword arguments for env_creator.
        **backend_kwargs: passed to the backend (e.g. check_observations for emulated envs; timeout,
            start_method for multiprocessing).

    Returns:
        A vector env (Serial, Multiprocessing or Ray) following the vector protocol.

    Raises:
        ValueError: an unknown backend or invalid sizes (messages list the valid values).

    Example:
        >>> import functools, gymnasium, pufferlib.vector
        >>> creator = functools.partial(gymnasium.make, "CartPole-v1")
        >>> with pufferlib.vector.make(creator, 4, backend="multiprocessing") as vecenv:  # doctest: +SKIP
        ...     obs, infos = vecenv.reset(seed=0)
    """
    num_envs = check_count("num_envs", num_envs, "use fewer envs")
    if not callable(env_creator):
        raise TypeError(f"env_creator must be callable, got {type(env_creator).__name__}; for the native "
                        "environments use pufferlib.make(name, ...)")
    if backend == "serial":
        return Serial(env_creator, num_envs, seed=seed, env_kwargs=env_kwargs, batch_size=batch_size,
                      **backend_kwargs)
    if backend == "multiprocessing":
        return Multiprocessing(env_creator, num_envs, num_workers=num_workers, batch_size=batch_size,
                               seed=seed, env_kwargs=env_kwargs, **backend_kwargs)
    if backend == "ray":
        from pufferlib.vector.ray import Ray  # lazily: Ray is an optional extra
        return Ray(env_creator, num_envs, num_workers=num_workers, batch_size=batch_size, seed=seed,
                   env_kwargs=env_kwargs, **backend_kwargs)
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
