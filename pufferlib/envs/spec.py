"""The environments a run trains on: a built-in or user C env, or a Python env through a vector backend.

What a run learns of its environments (spaces, layouts) it reads from the vector envs made here
(`observation_layout`, `action_layout`): nothing makes an env only to look at it.

An ENV spec is one of
  NAME                  a built-in C environment (`puffer envs`),
  path/to/env.c or .so  a user C environment (built when stale, see docs/c-environments.md),
  gymnasium:ID          a registered Gymnasium environment (gymnasium.make(ID, **params)),
  module:callable       anything returning a gymnasium.Env, a PettingZoo ParallelEnv or a PufferEnv.
"""
import functools
import importlib
import inspect
import re

import gymnasium

from pufferlib import vector
from pufferlib._native.threads import available_cores
from pufferlib.envs.registry import list_envs, make
from pufferlib.errors import UnknownEnvironmentError
from pufferlib.toolchain import LIBRARY_SUFFIXES, is_path

__all__ = ["env_kind", "make_vecenvs"]


_MODULE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")  # the module of module:callable


def env_kind(spec):
    """'native' or 'python' for an ENV spec; raises UnknownEnvironmentError for nonsense.

    A built-in name or a path to a C file or library (as `pufferlib.toolchain.is_path` decides) is
    native; `module:callable` and `gymnasium:ID` are Python, even when the ID holds a slash
    (`gymnasium:ALE/Pong-v5`).

    >>> env_kind("cartpole"), env_kind("envs/my_env.dylib"), env_kind("gymnasium:ALE/Pong-v5")
    ('native', 'native', 'python')
    """
    if not isinstance(spec, str) or not spec:
        raise UnknownEnvironmentError(f"an environment is a name or spec string, got {spec!r}")
    if spec in list_envs():
        return "native"
    module, colon, _ = spec.partition(":")
    if colon and _MODULE.fullmatch(module) and not spec.endswith((".c",) + LIBRARY_SUFFIXES):
        return "python"
    if is_path(spec):
        return "native"
    raise UnknownEnvironmentError(
        f"unknown environment {spec!r}: use a built-in name ({', '.join(list_envs())}), a C file "
        "(path/to/env.c), gymnasium:ID (a registered Gymnasium env), or module:callable")


def _creator(spec):
    """The env_creator of a Python ENV spec."""
    prefix, _, target = spec.partition(":")
    if prefix == "gymnasium":
        if target not in gymnasium.registry:
            raise UnknownEnvironmentError(f"gymnasium has no environment {target!r} registered "
                                          f"(spec {spec!r}); check the id, or import its package first")
        return functools.partial(gymnasium.make, target)
    try:
        module = importlib.import_module(prefix)
    except ImportError as e:
        raise UnknownEnvironmentError(f"cannot import module {prefix!r} of {spec!r}: {e}") from None
    creator = getattr(module, target, None)
    if not callable(creator):
        raise UnknownEnvironmentError(f"module {prefix!r} has no callable {target!r} (from {spec!r})")
    return creator


def _wants_render_mode(spec, creator):
    """Whether a Python env creator takes `render_mode` (gymnasium.make does, as do most env classes)."""
    if spec.startswith("gymnasium:"):
        return True
    try:
        return "render_mode" in inspect.signature(creator).parameters
    except (TypeError, ValueError):
        return False


def make_vecenvs(spec, config, seed, groups=1, render=False):
    """Creates the run's environments, split into `groups` vector envs of equal size.

    Args:
        spec: the ENV spec (see the module docstring).
        config: the run's `Config` (env and vec sections are read).
        seed: the base seed; group g's envs are seeded after those of the groups before it.
        groups: 1, or 2 to step half of the environments while the policy acts on the other half.
        render: the envs will be rendered: Python envs whose creator takes `render_mode` are made
            with render_mode="rgb_array" (unless the config sets one).

    Returns:
        list of vector envs: `groups` native or Python vector envs, whose `observation_layout` and
        `action_layout` describe the environment. A Python env's creator is called exactly
        `config.env.num_envs` times in all.

    Example:
        >>> from pufferlib.envs import make_vecenvs
        >>> from pufferlib.train import Config
        >>> config = Config()
        >>> config.env.num_envs = 4
        >>> (vecenv,) = make_vecenvs("cartpole", config, seed=0)
        >>> vecenv.action_layout.flat_space
        Discrete(2)
        >>> vecenv.close()
    """
    num_envs = config.env.num_envs // groups
    params = dict(config.env.params)
    envs = []
    try:
        if env_kind(spec) == "native":
            threads = config.env.num_threads or None
            for g in range(groups):
                envs.append(make(spec, num_envs=num_envs, num_threads=threads, seed=seed + g * num_envs,
                                 **params))
            return envs
        creator = _creator(spec)
        if render and _wants_render_mode(spec, creator):
            params.setdefault("render_mode", "rgb_array")
        # the workers are shared out between the groups, whose pools step at different times
        workers = max(1, (config.vec.num_workers or available_cores()) // groups)
        for g in range(groups):
            kwargs = {} if config.vec.backend == "serial" else {"num_workers": workers,
                                                                  "timeout": config.vec.timeout}
            envs.append(vector.make(creator, num_envs, backend=config.vec.backend, seed=seed + g * num_envs,
                                    env_kwargs=params, check_observations=config.vec.check_observations,
                                    **kwargs))
        return envs
    except BaseException:
        for env in envs:
            env.close()
        raise
