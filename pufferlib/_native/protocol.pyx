"""The vector protocol's one home: states, misuse errors, seeds, action checks, episode statistics.

Every vector env, the native engine (`pufferlib.vector.NativeVecEnv`) and the Python backends
(serial, multiprocessing, ray), is a `VectorProtocol`. It owns what the protocol means:

- the states (`State`): NEW -> reset() -> READY -> send() -> PENDING -> recv() -> READY; step()
  is send() and recv() at once (BUSY while it runs); a worker failure leaves FAILED (only close()
  is left), close() leaves CLOSED; a call in the wrong state raises APIUsageError saying what to do;
- seeds: an integer in [0, 2**64); env i is seeded from (seed, i);
- actions: checked once, here, at the boundary (`ActionCheck`, in C), before anything steps;
- the buffers (`observations`, `actions`, `rewards`, `terminals`, `truncations`, `masks`,
  `final_observations`, and `action_masks`: [rows, sum of the discrete choices] bool, True where a
  choice is legal, or None for an env without action masks) and the tuple step()/recv() return, whose infos is an `EpisodeStats`.

A backend implements the hooks as C methods: `reset_envs(seed)`, `step_envs(actions)`,
`send_envs()`, `recv_envs()`, `render_env(env_index)`, `close_envs()`. The engine overrides them in
Cython, so a native step costs no Python call; their default bodies call a Python backend's methods
`_reset(seed)`, `_send()`, `_recv() -> EpisodeStats`, `_render(env_index) -> frame` and `_close()`
(step_envs: send then receive).
"""
import collections.abc
import numbers
import os

import gymnasium
import numpy as np

cimport cython
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t

from pufferlib._native.abi cimport puffer_check_discrete, puffer_check_finite
from pufferlib import render as _render
from pufferlib.errors import APIUsageError, RenderNotSupportedError, WorkerTimeoutError

__all__ = ["ActionCheck", "EpisodeStats", "State", "VectorProtocol", "check_fits_in_memory", "check_seed",
           "first_invalid_action"]

cnp.import_array()


def check_seed(seed):
    """`seed` as an int if it is an integer in [0, 2**64), else a ValueError (bools neither).

    Example:
        >>> check_seed(7)
        7
    """
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) \
            or not (0 <= seed < 2 ** 64):
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    return int(seed)


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


# ---- episode statistics ----

@cython.freelist(16)
cdef class EpisodeStats:
    """Sums and counts of per-episode values: one mergeable record from the C readout to the logger.

    Each key (episode_return, episode_length, any number an environment reports) has its own sum
    and count, so records of several blocks, environments, workers or steps merge exactly
    (`merge`) and the means are taken once, at the end (`means`). As a read-only Mapping,
    `stats[key]` is that key's mean and `stats["episodes"]` the number of episodes (those that
    reported a return); with no episode it equals {}.

    This is what `step()` / `recv()` of every vector env return as `infos`: the episodes that
    finished since the last step. Keep your own record and merge each step's into it.

    Example:
        >>> stats = EpisodeStats()
        >>> stats.add({"episode_return": 2.0, "episode_length": 10})
        >>> stats.add({"episode_return": 4.0, "episode_length": 30, "score": 1})
        >>> total = EpisodeStats()
        >>> total.merge(stats.pop())
        >>> total.means()
        {'episode_return': 3.0, 'episode_length': 20.0, 'score': 1.0, 'episodes': 2}
        >>> total["score"], stats == {}
        (1.0, True)
    """

    def add(self, values):
        """Records one finished episode: {name: number}; values that are not numbers are skipped."""
        for key, value in values.items():
            if isinstance(value, (numbers.Number, np.number)) and not isinstance(value, (bool, np.bool_)):
                self._add(key, float(value), 1)

    cdef _add(self, str key, double total, long long count):
        if self._sums is None:
            self._sums, self._counts = {}, {}
        self._sums[key] = self._sums.get(key, 0.0) + total
        self._counts[key] = self._counts.get(key, 0) + count

    cpdef merge(self, other):
        """Adds another record's sums and counts to this one.

        Raises:
            TypeError: `other` is not an EpisodeStats.
        """
        cdef EpisodeStats record
        if not isinstance(other, EpisodeStats):
            raise TypeError(f"episode statistics must be a pufferlib.environment.EpisodeStats, got "
                            f"{type(other).__name__} {other!r}; record finished episodes with "
                            "EpisodeStats.add and return stats.pop() as step()'s infos")
        record = other
        if record._sums:
            for key, total in record._sums.items():
                self._add(key, total, record._counts[key])

    cpdef EpisodeStats pop(self):
        """Returns what was recorded since the last pop (a new record), and starts afresh."""
        cdef EpisodeStats out = EpisodeStats.__new__(EpisodeStats)
        out._sums, out._counts = self._sums, self._counts
        self._sums = self._counts = None
        return out

    cpdef dict means(self):
        """{name: mean over the episodes that reported it} plus `episodes`; {} when none finished."""
        if not self._counts:
            return {}
        out = {key: total / self._counts[key] for key, total in self._sums.items()}
        out["episodes"] = self._episodes()
        return out

    @property
    def sums(self):
        """{name: sum} (a copy)."""
        return dict(self._sums or {})

    @property
    def counts(self):
        """{name: episodes that reported it} (a copy)."""
        return dict(self._counts or {})

    def _episodes(self):
        return self._counts.get("episode_return", max(self._counts.values()))

    def __getitem__(self, key):
        if self._counts:
            if key == "episodes":
                return self._episodes()
            if key in self._sums:
                return self._sums[key] / self._counts[key]
        raise KeyError(key)

    def __len__(self):
        return len(self._counts) + 1 if self._counts else 0

    def __iter__(self):
        return iter(self.means())

    def __contains__(self, key):
        return bool(self._counts) and (key == "episodes" or key in self._sums)

    def __bool__(self):
        return bool(self._counts)

    def keys(self):
        return self.means().keys()

    def items(self):
        return self.means().items()

    def values(self):
        return self.means().values()

    def get(self, key, default=None):
        return self[key] if key in self else default

    def __eq__(self, other):
        if isinstance(other, (EpisodeStats, collections.abc.Mapping)):
            return self.means() == dict(other.items())
        return NotImplemented

    __hash__ = None

    def __reduce__(self):
        return _stats, (self._sums, self._counts)

    def __repr__(self):
        return f"EpisodeStats({self.means()})"


def _stats(sums, counts):
    cdef EpisodeStats stats = EpisodeStats.__new__(EpisodeStats)
    stats._sums, stats._counts = sums, counts
    return stats


collections.abc.Mapping.register(EpisodeStats)


# ---- actions ----

def first_invalid_action(cnp.ndarray actions, cnp.ndarray limits):
    """The flat index of the first discrete action outside [0, its limit), or -1 if all are valid.

    The C check `ActionCheck` runs on discrete actions.

    Args:
        actions: a C-contiguous int32 array of shape (rows,) or (rows, dims).
        limits: a C-contiguous int32 array of shape (dims,): the choices of each action dimension.

    Raises:
        ValueError: arrays of another dtype, layout or shape.

    Example:
        >>> import numpy as np
        >>> first_invalid_action(np.array([[0, 1], [2, 1]], np.int32), np.array([3, 2], np.int32))
        -1
        >>> first_invalid_action(np.array([1, 5, 0], np.int32), np.array([2], np.int32))
        1
    """
    cdef int64_t rows, bad
    cdef int dims
    if not (cnp.PyArray_TYPE(actions) == cnp.NPY_INT32 and cnp.PyArray_IS_C_CONTIGUOUS(actions)
            and cnp.PyArray_TYPE(limits) == cnp.NPY_INT32 and cnp.PyArray_IS_C_CONTIGUOUS(limits)
            and cnp.PyArray_NDIM(limits) == 1 and 1 <= cnp.PyArray_NDIM(actions) <= 2
            and (cnp.PyArray_NDIM(actions) == 1 and cnp.PyArray_DIM(limits, 0) == 1
                 or cnp.PyArray_NDIM(actions) == 2
                 and cnp.PyArray_DIM(actions, 1) == cnp.PyArray_DIM(limits, 0))):
        raise ValueError(f"actions must be C-contiguous int32 of shape (rows,) or (rows, dims) and limits "
                         f"C-contiguous int32 of shape (dims,), got actions {actions.dtype} of shape "
                         f"{(<object>actions).shape} and limits {limits.dtype} of shape "
                         f"{(<object>limits).shape}")
    rows = cnp.PyArray_DIM(actions, 0)
    dims = <int>cnp.PyArray_DIM(limits, 0)
    with nogil:
        bad = puffer_check_discrete(<const int32_t*>cnp.PyArray_DATA(actions), rows, dims,
                                    <const int*>cnp.PyArray_DATA(limits))
    return bad


cdef class ActionCheck:
    """Checks actions against an actions buffer and its limits, in C; one wording for every env.

    Discrete actions (an integer buffer) must be integers of the buffer's shape, each in
    [0, its dimension's limit); continuous ones (a float buffer) floats of its shape, finite, and
    the discrete entries of float rows (a nested action space mixing both) in range once rounded.

    Args:
        buffer: the actions buffer, C-contiguous, of shape (rows, ...): converted actions go here.
        limits: per flat action dimension (the buffer's trailing size), its number of choices; 0
            for a continuous dimension.
        discrete: whether actions are indices (an integer buffer).
        enabled: False skips the range and finiteness checks (dtype and shape are still checked).

    Example:
        >>> import numpy as np
        >>> check = ActionCheck(np.zeros(2, np.int32), [3], True)
        >>> check.load(np.array([2, 5]))
        Traceback (most recent call last):
        ...
        ValueError: action 5 at row 1 is out of range: expected 0 <= action < 3
    """

    def __init__(self, cnp.ndarray buffer, limits, bint discrete, bint enabled=True):
        if not cnp.PyArray_IS_C_CONTIGUOUS(buffer) or buffer.ndim < 1 or buffer.shape[0] < 1:
            raise ValueError(f"the actions buffer must be C-contiguous with at least one row, got "
                             f"{buffer.dtype} of shape {(<object>buffer).shape}")
        self.buffer = buffer
        self.shape = (<object>buffer).shape
        self.text = f"{buffer.dtype.name} of shape {self.shape}"
        self.typenum = cnp.PyArray_TYPE(buffer)
        self.rows = buffer.shape[0]
        self.dims = <int>(buffer.size // self.rows)
        self.discrete = discrete
        self.enabled = enabled
        self.limits = np.ascontiguousarray(np.asarray(limits, np.int64).reshape(-1).astype(np.int32))
        if self.limits.size != self.dims:
            raise ValueError(f"limits must give each of the {self.dims} action dimensions its choices, "
                             f"got {self.limits.size} values")
        if discrete and (self.typenum != cnp.NPY_INT32 or (self.limits < 1).any()):
            raise ValueError(f"discrete actions need an int32 buffer and limits >= 1, got a "
                             f"{self.text} buffer and limits {self.limits.tolist()}")
        mixed = self.limits > 0
        self.mixed = mixed if not discrete and mixed.any() else None

    def load(self, actions, rows=None):
        """Checks `actions` and copies them into the buffer (unless they are the buffer).

        Args:
            actions: an array (or anything numpy converts) of the buffer's shape.
            rows: only these rows are range-checked (absent agents' rows may hold anything);
                None checks every row.

        Raises:
            TypeError: actions of the wrong kind (floats for a discrete space, say).
            ValueError: the wrong shape, an index out of range, a NaN or infinity.
        """
        if rows is None:
            self.take(actions, True)
            return
        rows = np.asarray(rows, np.int64).reshape(-1)
        array = self._convert(actions, rows)
        if self.enabled and rows.size:
            self._check_range(np.ascontiguousarray(array.reshape(self.rows, self.dims)[rows]), rows)
        if array is not self.buffer:
            np.copyto(self.buffer, array)

    cdef object take(self, actions, bint copy):
        """The checked actions: `actions` itself when it is an aligned C-contiguous array of the
        buffer's dtype and shape (a few comparisons) and not `copy`, else the buffer, holding them."""
        cdef cnp.ndarray array
        if (isinstance(actions, np.ndarray) and cnp.PyArray_TYPE(<cnp.ndarray>actions) == self.typenum
                and cnp.PyArray_ISCARRAY_RO(<cnp.ndarray>actions) and actions.shape == self.shape):
            array = actions
        else:
            array = self._convert(actions, None)
        if copy and array is not self.buffer:
            np.copyto(self.buffer, array)
            array = self.buffer
        if self.enabled:
            self._check_range(array, None)
        return array

    cdef object _convert(self, actions, object rows):
        """The slow path: any integer (discrete) or float (continuous) array of the buffer's shape,
        copied into the buffer (integers of other dtypes range-checked before they are narrowed)."""
        array = actions if isinstance(actions, np.ndarray) else np.asarray(actions)
        kind_ok = array.dtype.kind in "iu" if self.discrete else array.dtype.kind == "f"
        if not kind_ok or array.shape != self.shape:
            raise (ValueError if kind_ok else TypeError)(
                f"actions must be {self.text}, got {array.dtype} of shape {array.shape}")
        if self.discrete and array.dtype != np.int32 and array.size:
            flat = array.reshape(self.rows, self.dims)
            if rows is not None:
                flat = flat[rows]
            invalid = np.flatnonzero((flat < 0) | (flat >= self.limits))
            if invalid.size:
                self._raise_range(int(invalid[0]), flat.reshape(-1)[invalid[0]], rows)
        np.copyto(self.buffer, array, casting="unsafe")
        return self.buffer

    cdef _check_range(self, array, object rows):
        """Raises for the first action out of range or not finite in `array` (C-contiguous, of the
        buffer's dtype; its rows are `rows` of the buffer, or all of them)."""
        cdef int64_t bad, count = (<cnp.ndarray>array).size
        cdef int64_t n = count // self.dims
        cdef const void* data = cnp.PyArray_DATA(<cnp.ndarray>array)
        cdef const int* limits = <const int*>cnp.PyArray_DATA(<cnp.ndarray>self.limits)
        if self.discrete:
            with nogil:
                bad = puffer_check_discrete(<const int32_t*>data, n, self.dims, limits)
            if bad >= 0:
                self._raise_range(bad, array.reshape(-1)[bad], rows)
            return
        if self.typenum == cnp.NPY_FLOAT32:
            with nogil:
                bad = puffer_check_finite(<const float*>data, count)
        else:
            invalid = np.flatnonzero(~np.isfinite(array.reshape(-1)))
            bad = invalid[0] if invalid.size else -1
        if bad >= 0:
            row, dim = divmod(int(bad), self.dims)
            row = row if rows is None else int(rows[row])
            raise ValueError(f"actions must be finite, got {array.reshape(-1)[bad]} at row {row}, "
                             f"dimension {dim}")
        if self.mixed is not None:  # discrete entries of float rows: their rounded index in range
            flat = array.reshape(n, self.dims)
            index = np.where(self.mixed, np.rint(flat), 0)
            invalid = np.flatnonzero(self.mixed & ((index < 0) | (index >= self.limits)))
            if invalid.size:
                self._raise_range(int(invalid[0]), flat.reshape(-1)[invalid[0]], rows)

    cdef _raise_range(self, int64_t index, value, object rows):
        row, dim = divmod(int(index), self.dims)
        row = row if rows is None else int(rows[row])
        where = f"row {row}" if self.dims == 1 else f"row {row}, dimension {dim}"
        raise ValueError(f"action {value} at {where} is out of range: expected 0 <= action < "
                         f"{self.limits[dim]}")


def _action_limits(space, layout):
    """(limits per flat action dimension, discrete) of a flat action space and its `ActionLayout`."""
    if isinstance(space, gymnasium.spaces.Discrete):
        return [int(space.n)], True
    if isinstance(space, gymnasium.spaces.MultiDiscrete):
        return np.asarray(space.nvec).reshape(-1), True
    if layout.nvec.size == int(np.prod(space.shape)):  # float rows, discrete entries (if any) with n > 0
        return np.asarray(layout.nvec), False
    return np.zeros(max(1, int(np.prod(space.shape))), np.int64), False


# ---- the protocol ----

cdef class VectorProtocol:
    """The vector protocol (see the module docstring), for every backend.

    A backend's constructor sets `single_observation_space`, `single_action_space`,
    `observation_layout`, `action_layout`, `num_envs`, `num_agents` and the buffers (a Python
    backend through `_set_buffers`), then calls `_init_protocol(seed)`. It implements the hooks (see the module docstring).
    """

    render_modes = _render.MODES

    def __cinit__(self, *args, **kwargs):
        self._state = NEW
        self._name = type(self).__name__
        self._copy_actions = True

    def _set_buffers(self, arrays):
        """Adopts {name: array} as the buffers (observations, actions, rewards, ...)."""
        self.observations = arrays["observations"]
        self.actions = arrays["actions"]
        self.rewards = arrays["rewards"]
        self.terminals = arrays["terminals"]
        self.truncations = arrays["truncations"]
        self.masks = arrays["masks"]
        self.final_observations = arrays["final_observations"]
        self.action_masks = arrays.get("action_masks")

    def _init_protocol(self, seed, check_actions=True):
        """Checks the seed, batches the spaces and prepares the action check (buffers set first).

        Args:
            seed: the seed of the first reset.
            check_actions: False skips the range and finiteness checks of actions (native envs
                whose C code is safe with any action).

        Raises:
            ValueError: a seed that is not an integer in [0, 2**64).
        """
        self.seed = check_seed(seed)
        self.observation_space = gymnasium.vector.utils.batch_space(
            self.single_observation_space, self.num_agents)
        self.action_space = gymnasium.vector.utils.batch_space(self.single_action_space, self.num_agents)
        limits, discrete = _action_limits(self.single_action_space, self.action_layout)
        self._check = ActionCheck(self.actions, limits, discrete, check_actions)

    @property
    def state(self):
        """Where the env is in the protocol (a `State`)."""
        return State(self._state)

    @property
    def closed(self):
        """Whether close() has been called."""
        return self._state == CLOSED

    def reset(self, seed=None):
        """Starts a new episode in every environment.

        Args:
            seed: env i is reseeded from (seed, i). None keeps each environment's random stream
                going (the first reset uses the seed given when the vector env was made).

        Returns:
            (observations, infos): the observation buffer (of the first batch) and an empty
            EpisodeStats.

        Raises:
            APIUsageError: the env is closed or failed, or a send() is pending.
            ValueError: seed is not an integer in [0, 2**64).
            WorkerError: a worker raised or died.
        """
        self._require(False)
        if self._check is None:
            raise APIUsageError(f"{type(self).__name__}.__init__ must call _init_protocol(seed)")
        if seed is not None:
            self.seed = check_seed(seed)
        elif self._state == NEW:
            seed = self.seed
        try:
            self.reset_envs(seed)
        except BaseException as error:
            self._fail(error)
            raise
        self._state = READY
        return self.observations, EpisodeStats.__new__(EpisodeStats)

    def step(self, actions):
        """Steps once (same-step autoreset): send(actions) and recv() at once.

        Args:
            actions: an array of the shape and dtype of `actions` (integer indices for discrete
                spaces, floats for Box); the `actions` buffer itself may be passed after filling
                it in place.

        Returns:
            (observations, rewards, terminals, truncations, infos): the buffers, overwritten by
            the next step, and an `EpisodeStats` of the episodes that finished since the last
            step: infos[key] is a mean, infos["episodes"] their count; {} when none did. The last
            observation of each finished episode is in `final_observations`.

        Raises:
            APIUsageError: before reset(), after close() or a failure, with a send() pending, or
                while another thread is inside step().
            TypeError, ValueError: actions of the wrong dtype, shape or range (nothing is stepped).
            WorkerError: a worker raised (its traceback is in the message) or died.
            WorkerTimeoutError: the workers did not answer within `timeout` (recv() waits again).
        """
        cdef EpisodeStats stats
        if self._state != READY:
            self._require(True)
        array = self._check.take(actions, self._copy_actions)
        self._state = BUSY
        try:
            stats = self.step_envs(array)
        except BaseException as error:
            self._state = PENDING   # the step was sent: a timeout leaves it to recv()
            self._fail(error)
            raise
        self._state = READY
        return self.observations, self.rewards, self.terminals, self.truncations, stats

    def send(self, actions):
        """Starts a step and returns at once (results via recv()); the actions are checked and
        copied before it returns. The buffers are being written until recv() returns.

        Raises:
            The same errors as step(), before anything is stepped.
        """
        if self._state != READY:
            self._require(True)
        self._check.take(actions, True)
        try:
            self.send_envs()
        except BaseException as error:
            self._fail(error)
            raise
        self._state = PENDING

    def recv(self):
        """Waits (without using CPU) for the step send() started and returns step()'s tuple.

        Raises:
            APIUsageError: no send() is pending.
            WorkerError, WorkerTimeoutError: as for step().
        """
        cdef EpisodeStats stats
        if self._state != PENDING:
            self._require(False)
            raise APIUsageError("recv() called without a pending send(); call send(actions) first")
        try:
            stats = self.recv_envs()
        except BaseException as error:
            self._fail(error)
            raise
        self._state = READY
        return self.observations, self.rewards, self.terminals, self.truncations, stats

    def render(self, env_index=0, mode="rgb_array"):
        """Draws environment `env_index` as it is now; nothing is stepped.

        C environments draw in software, without a display. Python environments draw themselves
        (in their worker, if any): a Gymnasium env made with render_mode="rgb_array"
        (`gymnasium.make(id, render_mode="rgb_array")`; `puffer eval --video` asks for that), a
        PettingZoo env likewise; a worker stepping in the background (an asynchronous pool)
        finishes its step first.

        Args:
            env_index: which environment, in [0, num_envs) (not an agent row).
            mode: "rgb_array" for a uint8 array of shape (height, width, 3) (an RGBA frame loses its
                alpha); "ansi" for that frame as 24-bit colour text (`pufferlib.render.ansi`).

        Returns:
            The frame (a new array) or the text.

        Raises:
            APIUsageError: called before reset(), after close() or a failure, or while a send() is pending.
            IndexError: env_index outside [0, num_envs).
            TypeError: env_index is not an integer.
            RenderNotSupportedError: the environment draws no RGB frame (the message says why).
            ValueError: an unknown mode.
            WorkerError: the environment's render() raised in its worker (the vector env can go on
                stepping), or the worker died.

        Example:
            >>> import pufferlib
            >>> with pufferlib.make("cartpole", num_envs=2) as env:
            ...     _ = env.reset(seed=0)
            ...     env.render(1).shape
            (300, 400, 3)
        """
        _render.check_mode(mode)
        self._require(False)
        if self._state == NEW:
            raise APIUsageError("call reset() before render(): the environments have no state yet")
        if isinstance(env_index, (bool, np.bool_)) or not isinstance(env_index, (int, np.integer)):
            raise TypeError(f"env_index must be an integer, got {type(env_index).__name__} {env_index!r}")
        if not 0 <= env_index < self.num_envs:
            raise IndexError(f"env_index must be in [0, {self.num_envs}) (an environment, not an agent "
                             f"row), got {env_index}")
        frame = self.render_env(int(env_index))  # an env that fails to draw leaves the others stepping
        is_array = isinstance(frame, np.ndarray)
        if not (is_array and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] in (3, 4)):
            what = (f"{frame.dtype} of shape {frame.shape}" if is_array
                    else "None" if frame is None else type(frame).__name__)
            raise RenderNotSupportedError(
                f"environment {env_index} drew no RGB frame: its render() returned {what}, expected a uint8 "
                "array of shape (height, width, 3); make the env with render_mode='rgb_array' (for "
                "Gymnasium: gymnasium.make(id, render_mode='rgb_array'))")
        return _render.in_mode(frame[..., :3], mode)

    def close(self):
        """Shuts every environment (and worker) down. Calling it twice is harmless.

        Raises:
            APIUsageError: another thread is inside step() on this env.
        """
        if self._state == BUSY:
            raise APIUsageError("close() called while another thread is inside step(); "
                                "close after it returns")
        if self._state != CLOSED:
            self._state = CLOSED
            self.close_envs()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return (f"{type(self).__name__}(num_envs={self.num_envs}, num_agents={self.num_agents}, "
                f"state={State(self._state).name.lower()})")

    # ---- the state machine's checks ----

    cdef _require(self, bint need_reset):
        """Raises APIUsageError unless the env is READY (or NEW, when not `need_reset`)."""
        cdef State state = self._state
        if state == READY:
            return
        if state == CLOSED:
            raise APIUsageError(f"this {self._name} vector env is closed; make a new one")
        if state == FAILED:
            raise APIUsageError(f"this {self._name} vector env failed ({self._failure}); close() it and "
                                "make a new one")
        if state == PENDING:
            raise APIUsageError("a send() is pending; call recv() before anything else")
        if state == BUSY:
            raise APIUsageError("another thread is inside step() on this env; a vector env is "
                                "stepped by one thread at a time")
        if need_reset:
            raise APIUsageError("call reset() before step() or send()")

    cdef _fail(self, error):
        """After a hook raised: the env is FAILED, unless the workers were only slow (a timeout)."""
        if isinstance(error, WorkerTimeoutError):
            return
        text = str(error)
        self._state = FAILED
        self._failure = f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"

    # ---- the hooks: a Python backend's methods, unless a Cython subclass overrides them ----

    cdef reset_envs(self, seed):
        self._reset(seed)

    cdef EpisodeStats step_envs(self, actions):
        self.send_envs()
        return self.recv_envs()

    cdef send_envs(self):
        self._send()

    cdef EpisodeStats recv_envs(self):
        return self._recv()

    cdef render_env(self, int env_index):
        return self._render(env_index)

    cdef close_envs(self):
        self._close()
