"""The serial backend: every environment stepped in turn in this process (debugging, small envs)."""
import numpy as np

from pufferlib.environment import Buffers
from pufferlib.vector._base import EnvGroup, VecEnv, close_quietly, first_env

__all__ = ["Serial"]


class Serial(VecEnv):
    """`num_envs` environments stepped one after another in this process.

    Follows the vector protocol (see DESIGN.md and NativeVecEnv). Buffers hold every env's rows
    (env i owns rows i * agents .. (i + 1) * agents - 1) and each env writes into its rows in place.

    Args:
        env_creator: a callable returning a PufferEnv, a gymnasium.Env or a PettingZoo ParallelEnv
            (the latter two are wrapped by pufferlib.emulation); it is called exactly num_envs
            times, and receives `buf=` when it has a `buf` parameter (except for env 0, made first
            to learn the spaces: a PufferEnv that made buffers of its own is copied from instead).
        num_envs: how many environments.
        seed: env i is seeded with seed + i on the first reset (and on reset(seed)).
        env_kwargs: keyword arguments for env_creator.
        batch_size: None or num_envs (the serial backend always steps every env).
        check_observations: how emulated envs check observations and rewards: "first", "always"
            or "never" (see GymnasiumPufferEnv).

    Example:
        >>> import gymnasium
        >>> from pufferlib.vector import make
        >>> with make(lambda: MyPufferEnv(), 4, backend="serial") as vecenv:  # doctest: +SKIP
        ...     obs, infos = vecenv.reset(seed=0)
    """

    def __init__(self, env_creator, num_envs, seed=0, env_kwargs=None, batch_size=None,
                 check_observations="first"):
        if batch_size not in (None, num_envs):
            raise ValueError(f"the serial backend steps all {num_envs} envs at once, so batch_size must be "
                             f"None or {num_envs}, got {batch_size!r}; use backend='multiprocessing' for "
                             "batch_size < num_envs")
        env0, spec = first_env(env_creator, env_kwargs, check_observations)
        try:
            self._use_spec(spec)
            self.num_envs = num_envs
            self.num_agents = num_envs * spec.agents_per_env
            self.num_workers = 1
            self.batch_size = num_envs
            self.env_ids = np.arange(num_envs)
            self.buffers = Buffers(self.single_observation_space, self.single_action_space, self.num_agents)
        except BaseException:
            close_quietly(env0)
            raise
        arrays = {name: getattr(self.buffers, name) for name in Buffers.NAMES}
        self._set_buffers(arrays)
        self._group = EnvGroup(env_creator, env_kwargs, 0, num_envs, spec, arrays, check_observations, env0)
        self._init_protocol(seed)

    def _reset(self, seed):
        self._group.reset(seed)

    def _send(self):
        self._group.step()

    def _recv(self):
        return self._group.stats.pop()

    def _render(self, env_index):
        return self._group.render(env_index)

    def _close(self):
        self._group.close()
