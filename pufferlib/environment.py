"""What every Python-side pufferlib environment shares: flat buffers and episode statistics.

A `PufferEnv` steps `num_agents` rows at once into preallocated numpy buffers (see DESIGN.md's
vector protocol). Emulated Gymnasium/PettingZoo environments (pufferlib.emulation) are PufferEnvs,
and the vector backends (pufferlib.vector) hand each one views into their shared buffers, so
stepping writes straight into the memory the learner reads.
"""
import math
import numbers
import os

import gymnasium
import numpy as np

__all__ = ["Buffers", "Closeable", "EpisodeLog", "PufferEnv", "check_fits_in_memory"]


def check_fits_in_memory(nbytes, what, fix):
    """Refuses an allocation larger than the machine's memory, before making any of it.

    Allocations that large may succeed lazily and get the process killed once touched, or fail
    with a MemoryError that names no argument.

    Args:
        nbytes: the bytes about to be allocated.
        what: what needs them, for the message ("num_envs=10 copies of cartpole").
        fix: what to do instead ("use fewer envs").

    Raises:
        ValueError: `nbytes` exceed the machine's physical memory.

    Example:
        >>> check_fits_in_memory(1024, "num_envs=1", "use fewer envs")
    """
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):  # not on this platform: let the allocation say
        return
    if nbytes > memory:
        raise ValueError(f"{what} need {nbytes / 2 ** 30:.1f} GiB of buffers and state, more than this "
                         f"machine's {memory / 2 ** 30:.1f} GiB of memory; {fix}")


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


class EpisodeLog:
    """Sums and counts of per-episode values (return, length, any numeric value an env reports).

    Each key is averaged over the episodes that reported it, so logs from several environments or
    workers merge exactly (`merge`) before the means are taken (`means`).
    """

    def __init__(self):
        self.sums = {}
        self.counts = {}

    def add(self, values):
        """Records one finished episode: {name: number}; non-numeric values are ignored."""
        for key, value in values.items():
            if isinstance(value, (numbers.Number, np.number)) and not isinstance(value, bool):
                self.sums[key] = self.sums.get(key, 0.0) + float(value)
                self.counts[key] = self.counts.get(key, 0) + 1

    def merge(self, sums, counts):
        """Adds another log's sums and counts (as returned by `pop`)."""
        for key, value in sums.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + counts[key]

    def pop(self):
        """Returns (sums, counts) recorded since the last pop, and starts afresh."""
        sums, counts = self.sums, self.counts
        self.sums, self.counts = {}, {}
        return sums, counts

    def means(self):
        """Pops and returns {name: mean} plus `episodes` (episodes that reported a return); {} if none."""
        if not self.counts:  # the common step: nothing finished, nothing to allocate
            return {}
        sums, counts = self.pop()
        if not counts:
            return {}
        infos = {key: sums[key] / counts[key] for key in sums}
        infos["episodes"] = counts.get("episode_return", max(counts.values()))
        return infos


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
