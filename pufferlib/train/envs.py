"""The environments a run trains on: a built-in or user C env, or a Python env through a vector backend.

An ENV spec is one of
  NAME                  a built-in C environment (`puffer envs`),
  path/to/env.c or .so  a user C environment (built when stale, see docs/c-environments.md),
  gymnasium:ID          a registered Gymnasium environment (gymnasium.make(ID, **params)),
  module:callable       anything returning a gymnasium.Env, a PettingZoo ParallelEnv or a PufferEnv.
"""
import dataclasses
import functools
import importlib
import inspect
import re

import gymnasium

from pufferlib._native.threads import available_cores
from pufferlib.errors import UnknownEnvironmentError

__all__ = ["EnvInfo", "env_kind", "make_vecenvs"]


@dataclasses.dataclass
class EnvInfo:
    """What the policy needs to know about an environment beyond its flat spaces."""

    name: str
    native: bool
    observation_layout: object = None   # pufferlib.emulation.Layout of nested observations, or None
    action_nvec: object = None          # category counts (0 = continuous) of mixed actions, or None
    action_layout: object = None        # pufferlib.emulation.ActionLayout of the action space, or None


_MODULE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")  # the module of module:callable


def env_kind(spec):
    """'native' or 'python' for an ENV spec; raises UnknownEnvironmentError for nonsense.

    A built-in name or a path to a C file or library (as `pufferlib.toolchain.is_path` decides) is
    native; `module:callable` and `gymnasium:ID` are Python, even when the ID holds a slash
    (`gymnasium:ALE/Pong-v5`).

    >>> env_kind("cartpole"), env_kind("envs/my_env.dylib"), env_kind("gymnasium:ALE/Pong-v5")
    ('native', 'native', 'python')
    """
    from pufferlib.envs import list_envs
    from pufferlib.toolchain import LIBRARY_SUFFIXES, is_path

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


def _probe(creator, params):
    """Layouts of a Python env's nested spaces, and its mixed actions' nvec (creates one env and closes it)."""
    from pufferlib.vector._base import create_env

    env = create_env(creator, params)
    try:
        obs_layout = getattr(env, "observation_layout", None)
        act_layout = getattr(env, "action_layout", None)
        nvec = act_layout.nvec if act_layout is not None and not act_layout.discrete else None
        return obs_layout, nvec, act_layout
    finally:
        env.close()


def _wants_render_mode(spec, creator):
    """Whether a Python env creator takes `render_mode` (gymnasium.make does, as do most env classes)."""
    if spec.startswith("gymnasium:"):
        return True
    try:
        return "render_mode" in inspect.signature(creator).parameters
    except (TypeError, ValueError):
        return False


def _emulated(creator, check_observations, buf=None, **params):
    """creator's env as a PufferEnv checked as vec.check_observations says (picklable as a partial)."""
    from pufferlib.vector._base import create_env

    return create_env(creator, params, buf, check_observations)


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
        (list of vector envs, EnvInfo).
    """
    import pufferlib
    import pufferlib.vector

    num_envs = config.env.num_envs // groups
    params = dict(config.env.params)
    envs = []
    try:
        if env_kind(spec) == "native":
            threads = config.env.num_threads or None
            for g in range(groups):
                envs.append(pufferlib.make(spec, num_envs=num_envs, num_threads=threads,
                                           seed=seed + g * num_envs, **params))
            return envs, EnvInfo(spec, True)
        creator = _creator(spec)
        if render and _wants_render_mode(spec, creator):
            params.setdefault("render_mode", "rgb_array")
        obs_layout, nvec, act_layout = _probe(creator, params)
        creator = functools.partial(_emulated, creator, config.vec.check_observations)
        # the workers are shared out between the groups, whose pools step at different times
        workers = max(1, (config.vec.num_workers or available_cores()) // groups)
        for g in range(groups):
            kwargs = {} if config.vec.backend == "serial" else {"num_workers": workers,
                                                                  "timeout": config.vec.timeout}
            envs.append(pufferlib.vector.make(creator, num_envs, backend=config.vec.backend,
                                              seed=seed + g * num_envs, env_kwargs=params, **kwargs))
        return envs, EnvInfo(spec, False, obs_layout, nvec, act_layout)
    except BaseException:
        for env in envs:
            env.close()
        raise
