"""Adapters outward: any pufferlib vector env as a Gymnasium VectorEnv or a stable-baselines3 VecEnv.

Both see one sub-environment per agent row (`num_agents` of them) and keep same-step autoreset:
the observation returned for a finished row already belongs to its next episode, and the last
observation of the finished one is in the infos (Gymnasium: `final_obs`; SB3: `terminal_observation`).
"""
import gymnasium
import numpy as np

__all__ = ["as_gymnasium", "as_sb3"]


def _check_synchronous(vecenv):
    if getattr(vecenv, "batch_size", getattr(vecenv, "num_envs", None)) != getattr(vecenv, "num_envs", None):
        raise ValueError("the adapters need a vector env that steps every env at once; make it with "
                         "batch_size=None")


class GymnasiumVecEnv(gymnasium.vector.VectorEnv):
    """A pufferlib vector env as a `gymnasium.vector.VectorEnv` with same-step autoreset.

    `num_envs` is the number of agent rows. infos holds `final_obs` and its mask `_final_obs`
    (rows whose episode ended this step), and `episode_stats`: the means of the episode
    statistics of the episodes that ended, when any did.
    """

    metadata = {"autoreset_mode": gymnasium.vector.AutoresetMode.SAME_STEP}

    def __init__(self, vecenv, copy=True, render_mode=None):
        _check_synchronous(vecenv)
        modes = tuple(getattr(vecenv, "render_modes", ()))
        if render_mode is not None and render_mode not in modes:
            raise ValueError(f"render_mode must be None or one of {modes} for {type(vecenv).__name__}, "
                             f"got {render_mode!r}")
        self.vecenv = vecenv
        self.copy = copy
        self.num_envs = vecenv.num_agents
        self.single_observation_space = vecenv.single_observation_space
        self.single_action_space = vecenv.single_action_space
        self.observation_space = vecenv.observation_space
        self.action_space = vecenv.action_space
        self.metadata = {**type(self).metadata, "render_modes": list(modes)}
        self.render_mode = render_mode

    def render(self):
        """One frame per row (rows of one env share its frame) in `render_mode`; None without one."""
        if self.render_mode is None:
            return None
        frames = [self.vecenv.render(i, mode=self.render_mode) for i in range(self.vecenv.num_envs)]
        per_env = self.vecenv.num_agents // self.vecenv.num_envs
        return tuple(frames[row // per_env] for row in range(self.num_envs))

    def reset(self, *, seed=None, options=None):
        """Resets every row; `seed` may be an int or a list (its first element is used)."""
        if isinstance(seed, (list, tuple)):
            seed = seed[0]
        obs, _ = self.vecenv.reset(seed=seed)
        return (obs.copy() if self.copy else obs), {}

    def step(self, actions):
        """Steps every row; returns (obs, rewards, terminations, truncations, infos)."""
        obs, rewards, terminals, truncations, stats = self.vecenv.step(np.asarray(actions))
        infos = {}
        done = terminals | truncations
        if done.any():
            infos["final_obs"] = self.vecenv.final_observations.copy()
            infos["_final_obs"] = done.copy()
        if stats:
            infos["episode_stats"] = dict(stats)
        if self.copy:
            return obs.copy(), rewards.copy(), terminals.copy(), truncations.copy(), infos
        return obs, rewards, terminals, truncations, infos

    def close_extras(self, **kwargs):
        """Closes the wrapped vector env."""
        self.vecenv.close()


def as_gymnasium(vecenv, copy=True, render_mode=None):
    """Returns `vecenv` (any pufferlib vector env, NativeVecEnv included) as a Gymnasium VectorEnv.

    Args:
        vecenv: a synchronous pufferlib vector env.
        copy: return copies of the buffers (Gymnasium's default); False returns the buffers,
            overwritten by the next step.
        render_mode: None, or one of `vecenv.render_modes` ("rgb_array" or "ansi" for a
            NativeVecEnv): render() then returns a frame per row.

    Raises:
        ValueError: a render_mode the vector env cannot render in.

    Example:
        >>> import pufferlib, pufferlib.vector
        >>> envs = pufferlib.vector.as_gymnasium(pufferlib.make("cartpole", num_envs=4))
        >>> obs, infos = envs.reset(seed=0)
        >>> obs.shape
        (4, 4)
        >>> envs.close()
    """
    return GymnasiumVecEnv(vecenv, copy, render_mode)


def as_sb3(vecenv):
    """Returns `vecenv` (any pufferlib vector env, NativeVecEnv included) as a stable-baselines3 VecEnv.

    Each agent row is one SB3 environment. infos carry `terminal_observation`,
    `TimeLimit.truncated` and, when an episode ends, `episode` ({"r": return, "l": length}) as
    SB3's Monitor would, so `ep_info_buffer` and its logs work.

    Raises:
        ImportError: stable-baselines3 is not installed.

    Example:
        >>> import pufferlib, pufferlib.vector
        >>> from stable_baselines3 import PPO  # doctest: +SKIP
        >>> envs = pufferlib.vector.as_sb3(pufferlib.make("cartpole", num_envs=8))  # doctest: +SKIP
        >>> PPO("MlpPolicy", envs).learn(2048)  # doctest: +SKIP
    """
    from stable_baselines3.common.vec_env import VecEnv  # lazily: an optional dependency

    class SB3VecEnv(VecEnv):
        """A pufferlib vector env seen by stable-baselines3 (one SB3 env per agent row)."""

        def __init__(self, vecenv):
            _check_synchronous(vecenv)
            self.vecenv = vecenv
            super().__init__(vecenv.num_agents, vecenv.single_observation_space, vecenv.single_action_space)
            self._actions = None
            self._returns = np.zeros(vecenv.num_agents, np.float64)
            self._lengths = np.zeros(vecenv.num_agents, np.int64)

        def reset(self):
            seeds = getattr(self, "_seeds", None) or [None]
            obs, _ = self.vecenv.reset(seed=seeds[0])
            if hasattr(self, "_reset_seeds"):
                self._reset_seeds()
            self._returns[:] = 0
            self._lengths[:] = 0
            return obs.copy()

        def step_async(self, actions):
            self._actions = np.asarray(actions)

        def step_wait(self):
            actions = self._actions
            if isinstance(self.vecenv.single_action_space, gymnasium.spaces.Discrete) and actions.ndim > 1:
                actions = actions.reshape(-1)
            obs, rewards, terminals, truncations, _ = self.vecenv.step(actions)
            self._returns += rewards
            self._lengths += 1
            done = terminals | truncations
            infos = [{} for _ in range(self.num_envs)]
            for row in np.flatnonzero(done):
                infos[row] = {"terminal_observation": self.vecenv.final_observations[row].copy(),
                              "TimeLimit.truncated": bool(truncations[row] and not terminals[row]),
                              "episode": {"r": float(self._returns[row]), "l": int(self._lengths[row])}}
            self._returns[done] = 0
            self._lengths[done] = 0
            return obs.copy(), rewards.copy(), done, infos

        def close(self):
            self.vecenv.close()

        def get_attr(self, attr_name, indices=None):
            value = None if attr_name == "render_mode" else getattr(self.vecenv, attr_name)
            return [value] * len(self._get_indices(indices))

        def set_attr(self, attr_name, value, indices=None):
            setattr(self.vecenv, attr_name, value)

        def env_method(self, method_name, *method_args, indices=None, **method_kwargs):
            raise NotImplementedError("a pufferlib vector env steps its envs together; call methods on "
                                      "the vector env itself (.vecenv)")

        def env_is_wrapped(self, wrapper_class, indices=None):
            return [False] * len(self._get_indices(indices))

    return SB3VecEnv(vecenv)
