"""What every Python-side pufferlib environment shares: flat buffers and episode statistics.

A `PufferEnv` steps `num_agents` rows at once into preallocated numpy buffers (see DESIGN.md's
vector protocol). Emulated Gymnasium/PettingZoo environments (pufferlib.emulation) are PufferEnvs,
and the vector backends (pufferlib.vector) hand each one views into their shared buffers, so
stepping writes straight into the memory the learner reads.

Episode statistics travel as one record, `EpisodeStats`: per-key sums and counts, never means,
from where episodes finish to where they are logged:

1. A C environment folds each finished episode into its block's record (return, length, its own
   named scores); the engine sums the blocks after a step. A Python environment `add`s each
   finished episode ({"episode_return": ..., "episode_length": ..., any number}) to its own
   record and returns `stats.pop()` as step()'s infos; that is its only channel.
2. A vector backend merges its environments' (and workers') records and returns one per step as
   `infos`; the trainer merges those over a logging interval.
3. The means are taken once, when the interval is logged (`means()`).

Read as a Mapping, a record is what users of Gymnasium-style infos expect: `infos[key]` is that
key's mean over the episodes that reported it, `infos["episodes"]` their count, and a record of no
episode equals {}. Each key has its own count, so records merge exactly whatever their sizes (a
multi-agent env reports its return per agent and its scores per env episode).
"""
import math

import gymnasium
import numpy as np

from pufferlib._native.protocol import EpisodeStats, check_fits_in_memory

__all__ = ["Buffers", "Closeable", "EpisodeStats", "PufferEnv"]


class Buffers:
    """The arrays of `rows` agent rows: observations, actions, rewards, flags, final observations.

    Args:
        observation_space: the flat per-agent observation space (a gymnasium Box).
        action_space: the flat per-agent action space (Discrete, MultiDiscrete or Box).
        rows: agent rows.
        arrays: optional {name: array} to adopt instead of allocating (views into shared
            memory, say); each must have the shape and dtype given by `spec`.

    Raises:
        ValueError: an adopted array has the wrong shape or dtype.
    """

    NAMES = ("observations", "actions", "rewards", "terminals", "truncations", "masks",
             "final_observations")

    def __init__(self, observation_space, action_space, rows, arrays=None):
        self.rows = rows
        spec = self.spec(observation_space, action_space, rows)
        arrays = arrays or {}
        check_fits_in_memory(self.nbytes({k: v for k, v in spec.items() if k not in arrays}),
                             f"{rows} agent rows", "use fewer envs")
        for name, (shape, dtype) in spec.items():
            if name in arrays:
                array = arrays[name]
                if array.shape != shape or array.dtype != dtype:
                    raise ValueError(f"buffer {name} must be {np.dtype(dtype).name} of shape {shape}, "
                                     f"got {array.dtype} of shape {array.shape}")
            else:
                array = np.zeros(shape, dtype)
            setattr(self, name, array)
        if "masks" not in arrays:
            self.masks[...] = True

    @staticmethod
    def nbytes(spec):
        """The bytes of the buffers of a `spec`."""
        return sum(math.prod(shape) * np.dtype(dtype).itemsize for shape, dtype in spec.values())

    @staticmethod
    def spec(observation_space, action_space, rows):
        """{name: (shape, dtype)} of every buffer, for allocating them elsewhere (shared memory)."""
        if isinstance(action_space, gymnasium.spaces.Discrete):
            action = ((rows,), np.int32)
        elif isinstance(action_space, gymnasium.spaces.MultiDiscrete):
            action = ((rows,) + action_space.shape, np.int32)
        else:
            action = ((rows,) + action_space.shape, action_space.dtype)
        obs = ((rows,) + observation_space.shape, observation_space.dtype)
        return {"observations": obs, "actions": action, "rewards": ((rows,), np.float32),
                "terminals": ((rows,), np.bool_), "truncations": ((rows,), np.bool_),
                "masks": ((rows,), np.bool_), "final_observations": obs}


class Closeable:
    """Closes the object at the end of a `with` block (letting any exception through).

    Mixed into every class that owns environments, workers or files and has a `close()`.
    """

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class PufferEnv(Closeable):
    """Base of environments that step `num_agents` rows into flat buffers.

    Subclasses set `single_observation_space`, `single_action_space` (flat spaces) and
    `num_agents`, call `self._init_buffers(buf)` and implement `reset` and `step`, which write into
    `self.observations`, `self.rewards`, ... in place and return them (same-step autoreset: see
    DESIGN.md). `buf` is None (allocate) or {name: array} of views to adopt (see Buffers.spec).
    step()'s infos is an `EpisodeStats` of the episodes that finished in the step (record each with
    `add`, return `pop()`), or {} when none did.
    """

    num_agents = 1

    def _init_buffers(self, buf=None):
        self.buffers = Buffers(self.single_observation_space, self.single_action_space,
                               self.num_agents, buf)
        for name in Buffers.NAMES:
            setattr(self, name, getattr(self.buffers, name))
        self.observation_space = gymnasium.vector.utils.batch_space(
            self.single_observation_space, self.num_agents)
        self.action_space = gymnasium.vector.utils.batch_space(self.single_action_space, self.num_agents)

    def reset(self, seed=None):
        """Starts new episodes; returns (observations, infos)."""
        raise NotImplementedError

    def step(self, actions):
        """Steps once; returns (observations, rewards, terminals, truncations, infos)."""
        raise NotImplementedError

    def close(self):
        """Releases the environment's resources."""
