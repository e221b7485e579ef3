"""Native vector environments: C environments stepped by the engine, with Gymnasium spaces."""

import gymnasium
import numpy as np

from pufferlib._native import Engine, resolve_num_threads
from pufferlib.emulation import ActionLayout, EnvSpec, Layout

__all__ = ["NativeVecEnv"]


class NativeVecEnv(Engine):
    """`num_envs` copies of a C environment, stepped in parallel into shared numpy buffers.

    Follows the vector protocol of pufferlib (`pufferlib._native.protocol.VectorProtocol`, see
    DESIGN.md): Gymnasium-style `single_observation_space` / `observation_space`,
    `reset(seed=) -> (obs, infos)`, the 5-tuple `step`, `send`/`recv`, `render`, `close`, and use
    as a context manager. Autoreset is same-step: the observation returned for a finished episode
    already belongs to the next one, and the last observation of the finished episode is in
    `final_observations`.

    Buffers (numpy, reused every step, rows = `num_agents`): `observations`, `actions` (int32 or
    float32), `rewards` (float32), `terminals`, `truncations`, `masks` (bool), `final_observations`.
    A C environment's spaces are flat: `observation_layout` and `action_layout` (as on every vector
    env, see pufferlib.emulation) are those of `single_observation_space` and `single_action_space`,
    and `env_spec` (a `pufferlib.emulation.EnvSpec`) holds the four.

    Use `pufferlib.make(name, ...)` to create one.
    """

    def __init__(self, env_def, num_envs=1, num_threads=None, seed=0, check_actions=True, **params):
        super().__init__(env_def, num_envs, resolve_num_threads(num_threads), seed, params)
        spec = self.spec
        self.single_observation_space = gymnasium.spaces.Box(
            low=spec["obs_low"], high=spec["obs_high"], shape=spec["obs_shape"], dtype=spec["obs_dtype"])
        if not spec["discrete"]:
            self.single_action_space = gymnasium.spaces.Box(
                spec["act_low"], spec["act_high"], (spec["act_dims"],), np.float32)
        elif spec["act_dims"] == 1:
            self.single_action_space = gymnasium.spaces.Discrete(spec["act_n"][0])
        else:
            self.single_action_space = gymnasium.spaces.MultiDiscrete(spec["act_n"])
        self.observation_layout = Layout(self.single_observation_space)
        self.action_layout = ActionLayout(self.single_action_space)
        self.env_spec = EnvSpec(self.single_observation_space, self.single_action_space, self.agents_per_env,
                                self.observation_layout, self.action_layout)
        self._init_protocol(seed, check_actions)

    @property
    def name(self):
        """The environment's registered name."""
        return self.env_def.name

    def __repr__(self):
        return (f"NativeVecEnv({self.name!r}, num_envs={self.num_envs}, num_agents={self.num_agents}, "
                f"num_threads={self.num_threads})")
