"""Writes nested observations into flat rows, following a layout computed once (pufferlib.emulation).

Per step and per leaf, `Flattener.flatten` looks the leaf up in the observation the environment
returned (dict keys, tuple indices), checks that it is an array of the leaf's dtype and shape with
a few C comparisons, and copies its bytes to the leaf's offset in the row. No Python containers
are built; a Python int for an int64 scalar leaf (a Discrete) is stored directly. Anything else (a
list, an array of another dtype) goes to the layout's Python `convert` callback, which converts it
without losing data or raises an error naming the leaf.

`StepWriter` does the rest of a one-row environment's step in C: the Discrete action's lookup,
the reward and flags, the running episode's return and length.
"""
import numpy as np

cimport numpy as cnp
from libc.math cimport isfinite
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

__all__ = ["Flattener", "StepWriter"]


cnp.import_array()

# How many Discrete actions StepWriter makes in advance (the others are made when taken).
cdef Py_ssize_t CACHED_ACTIONS = 1024


cdef class Flattener:
    """Copies the leaves of one nested observation into one row of a 2-D buffer.

    Args:
        paths: per leaf, the tuple of keys and indices that leads to it from the root.
        names: per leaf, its name for messages (`observation_space['pos']`).
        shapes: per leaf, its shape.
        dtypes: per leaf, its numpy dtype.
        offsets: per leaf, its offset in bytes from the start of a row.
        row_bytes: bytes per row.
        convert: convert(leaf index, value) -> C-contiguous ndarray of the leaf's dtype and shape,
            or raises; called for every value that is not already one.
    """
    cdef list paths
    cdef list names
    cdef object convert
    cdef Py_ssize_t n
    cdef readonly Py_ssize_t row_bytes
    cdef Py_ssize_t* offsets
    cdef Py_ssize_t* nbytes
    cdef int* typenums
    cdef int* ndims
    cdef Py_ssize_t* dims      # leaf i's dims start at dim_start[i]
    cdef Py_ssize_t* dim_start

    def __cinit__(self, paths, names, shapes, dtypes, offsets, Py_ssize_t row_bytes, convert):
        cdef Py_ssize_t i, k, total = 0
        self.n = len(paths)
        if not (len(shapes) == len(dtypes) == len(offsets) == self.n):
            raise ValueError("paths, shapes, dtypes and offsets must have one entry per leaf")
        self.paths = [tuple(p) for p in paths]
        self.names = [str(name) for name in names]
        self.convert = convert
        self.row_bytes = row_bytes
        for shape in shapes:
            total += len(shape)
        self.offsets = <Py_ssize_t*>malloc(max(self.n, 1) * sizeof(Py_ssize_t))
        self.nbytes = <Py_ssize_t*>malloc(max(self.n, 1) * sizeof(Py_ssize_t))
        self.typenums = <int*>malloc(max(self.n, 1) * sizeof(int))
        self.ndims = <int*>malloc(max(self.n, 1) * sizeof(int))
        self.dim_start = <Py_ssize_t*>malloc(max(self.n, 1) * sizeof(Py_ssize_t))
        self.dims = <Py_ssize_t*>malloc(max(total, 1) * sizeof(Py_ssize_t))
        if (self.offsets == NULL or self.nbytes == NULL or self.typenums == NULL or self.ndims == NULL
                or self.dim_start == NULL or self.dims == NULL):
            raise MemoryError()
        total = 0
        for i in range(self.n):
            dtype = np.dtype(dtypes[i])
            shape = tuple(shapes[i])
            self.offsets[i] = offsets[i]
            self.nbytes[i] = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
            if offsets[i] < 0 or offsets[i] + self.nbytes[i] > row_bytes:
                raise ValueError(f"leaf {i} ({self.nbytes[i]} bytes at offset {offsets[i]}) "
                                 f"does not fit a row of {row_bytes} bytes")
            self.typenums[i] = dtype.num
            self.ndims[i] = len(shape)
            self.dim_start[i] = total
            for k in range(len(shape)):
                self.dims[total + k] = shape[k]
            total += len(shape)

    def __dealloc__(self):
        free(self.offsets)
        free(self.nbytes)
        free(self.typenums)
        free(self.ndims)
        free(self.dim_start)
        free(self.dims)

    cdef bint _matches(self, Py_ssize_t i, object value):
        """Whether value is a native-endian C-contiguous ndarray of leaf i's dtype and shape."""
        cdef cnp.ndarray array
        cdef int k
        if not cnp.PyArray_Check(value):
            return False
        array = <cnp.ndarray>value
        if (cnp.PyArray_TYPE(array) != self.typenums[i] or cnp.PyArray_NDIM(array) != self.ndims[i]
                or not cnp.PyArray_IS_C_CONTIGUOUS(array) or not cnp.PyArray_ISNOTSWAPPED(array)):
            return False
        for k in range(self.ndims[i]):
            if cnp.PyArray_DIMS(array)[k] != self.dims[self.dim_start[i] + k]:
                return False
        return True

    def flatten(self, observation, cnp.ndarray out, Py_ssize_t row):
        """Writes `observation` into row `row` of `out` (C-contiguous, `row_bytes` bytes per row).

        Raises:
            ValueError: `out` has the wrong layout, `row` is out of range, or the observation lacks
                a leaf.
            Whatever `convert` raises for a value of the wrong shape or dtype.
        """
        cdef Py_ssize_t rows = cnp.PyArray_DIM(out, 0) if cnp.PyArray_NDIM(out) >= 1 else 0
        if (not cnp.PyArray_IS_C_CONTIGUOUS(out) or cnp.PyArray_NDIM(out) < 1
                or cnp.PyArray_NBYTES(out) != rows * self.row_bytes):
            raise ValueError(f"out must be a C-contiguous array of rows of {self.row_bytes} bytes, "
                             f"got {out.dtype} of shape {(<object>out).shape}")
        if not (0 <= row < rows):
            raise ValueError(f"row {row} is out of range for {rows} rows")
        self._write(observation, cnp.PyArray_BYTES(out) + row * self.row_bytes)

    cdef int _write(self, object observation, char* base) except -1:
        """Writes `observation` at `base` (one row of `row_bytes` bytes)."""
        cdef Py_ssize_t i
        cdef object value
        cdef cnp.ndarray array
        for i in range(self.n):
            value = observation
            try:
                for key in <tuple>self.paths[i]:
                    value = value[key]
            except (LookupError, TypeError) as error:
                raise ValueError(f"the observation has no {self.names[i]}: looking up {key!r} raised "
                                 f"{type(error).__name__}: {error}") from None
            if (self.ndims[i] == 0 and self.typenums[i] == cnp.NPY_INT64 and type(value) is int
                    and -0x8000000000000000 <= value <= 0x7FFFFFFFFFFFFFFF):
                (<int64_t*>(base + self.offsets[i]))[0] = <int64_t>value  # a Discrete leaf's int
                continue
            if not self._matches(i, value):
                value = self.convert(i, value)
                if not self._matches(i, value):
                    raise TypeError(f"convert() returned {type(value).__name__} for leaf {i}, "
                                    "not an array of its dtype and shape")
            array = <cnp.ndarray>value
            memcpy(base + self.offsets[i], cnp.PyArray_DATA(array), self.nbytes[i])
        return 0


cdef inline bint _is_1d(object value, int typenum, Py_ssize_t size):
    """Whether value is a 1-D ndarray of `size` elements of type `typenum`, aligned and native-endian."""
    return (cnp.PyArray_Check(value) and cnp.PyArray_TYPE(<cnp.ndarray>value) == typenum
            and cnp.PyArray_NDIM(<cnp.ndarray>value) == 1 and cnp.PyArray_DIM(<cnp.ndarray>value, 0) == size
            and cnp.PyArray_ISALIGNED(<cnp.ndarray>value) and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>value))


cdef class StepWriter:
    """The per-step work of a one-row emulated environment, in C: its action in, its results out.

    Holds row 0 of the env's buffers. `action` turns a valid one-element Discrete action into the
    env's own action object; `write` stores a step's reward and flags, adds them to the running
    episode's return and length, and flattens the observation into the row unless the episode ended.

    Args:
        flattener: the observation's `Flattener` (its rows must be the rows of `observations`).
        observations: C-contiguous rows of `flattener.row_bytes` bytes (row 0 is written).
        rewards, terminals, truncations: 1-D float32, bool and bool arrays (element 0 is written).
        actions: an int32 array whose element 0 receives the index of each action `action` takes
            (only used when n_actions > 0).
        n_actions: n for a Discrete(n) action space (then `action` takes indices 0 .. n - 1), else 0
            (then `action` always returns None).
        make_action: make_action(index) -> the env's action object for an index; the first
            1024 are made once, here, the others when taken.
        check_rewards: `write` raises ValueError for a NaN or infinite reward (one comparison).

    Raises:
        ValueError: buffers of the wrong dtype or size.
    """
    cdef Flattener flattener
    cdef object observations, rewards, terminals, truncations, actions
    cdef tuple cached_actions
    cdef object make_action
    cdef Py_ssize_t n_actions
    cdef bint check_rewards
    cdef char* observation_row
    cdef float* reward
    cdef cnp.npy_bool* terminal
    cdef cnp.npy_bool* truncation
    cdef int32_t* action_row
    cdef readonly double episode_return
    cdef readonly long long episode_length

    def __cinit__(self, Flattener flattener, cnp.ndarray observations, rewards, terminals, truncations,
                  actions, Py_ssize_t n_actions, make_action, bint check_rewards=True):
        if (not cnp.PyArray_IS_C_CONTIGUOUS(observations) or cnp.PyArray_NDIM(observations) < 1
                or cnp.PyArray_DIM(observations, 0) < 1
                or cnp.PyArray_NBYTES(observations)
                != cnp.PyArray_DIM(observations, 0) * flattener.row_bytes):
            raise ValueError(f"observations must be C-contiguous rows of {flattener.row_bytes} bytes, got "
                             f"{observations.dtype} of shape {(<object>observations).shape}")
        self.n_actions = max(n_actions, 0)
        self.check_rewards = check_rewards
        self.make_action = make_action
        self.cached_actions = tuple(make_action(i) for i in range(min(self.n_actions, CACHED_ACTIONS)))
        checks = [("rewards", rewards, cnp.NPY_FLOAT32, "float32"),
                  ("terminals", terminals, cnp.NPY_BOOL, "bool"),
                  ("truncations", truncations, cnp.NPY_BOOL, "bool")]
        if self.n_actions:
            checks.append(("actions", actions, cnp.NPY_INT32, "int32"))
        for name, array, typenum, dtype in checks:
            if not (cnp.PyArray_Check(array) and cnp.PyArray_TYPE(<cnp.ndarray>array) == typenum
                    and cnp.PyArray_NDIM(<cnp.ndarray>array) >= 1 and (<cnp.ndarray>array).size >= 1):
                raise ValueError(f"{name} must be a non-empty {dtype} array, got "
                                 f"{getattr(array, 'dtype', type(array).__name__)} of shape "
                                 f"{getattr(array, 'shape', None)}")
        self.flattener = flattener
        self.observations, self.rewards, self.terminals, self.truncations = (
            observations, rewards, terminals, truncations)
        self.actions = actions
        self.observation_row = cnp.PyArray_BYTES(observations)
        self.reward = <float*>cnp.PyArray_DATA(<cnp.ndarray>rewards)
        self.terminal = <cnp.npy_bool*>cnp.PyArray_DATA(<cnp.ndarray>terminals)
        self.truncation = <cnp.npy_bool*>cnp.PyArray_DATA(<cnp.ndarray>truncations)
        if self.n_actions:
            self.action_row = <int32_t*>cnp.PyArray_DATA(<cnp.ndarray>actions)

    cpdef object action(self, object actions):
        """The env's action for a valid one-element int32 or int64 Discrete action array, else None.

        The index goes to `actions[0]`. None means: check and convert `actions` the general way.
        """
        cdef long long index
        if self.n_actions == 0:
            return None
        if _is_1d(actions, cnp.NPY_INT32, 1):
            index = (<int32_t*>cnp.PyArray_DATA(<cnp.ndarray>actions))[0]
        elif _is_1d(actions, cnp.NPY_INT64, 1):
            index = (<int64_t*>cnp.PyArray_DATA(<cnp.ndarray>actions))[0]
        else:
            return None
        if not 0 <= index < self.n_actions:
            return None
        self.action_row[0] = <int32_t>index
        if index < CACHED_ACTIONS:
            return self.cached_actions[index]
        return self.make_action(index)

    cpdef bint write(self, object observation, object reward, object terminated, object truncated,
                     bint flatten=True) except -1:
        """Stores one step; returns True when the episode ended (then the row is not flattened).

        Writes reward and flags to element 0, adds the reward and one step to `episode_return` and
        `episode_length`, and, while the episode goes on and `flatten` is true, writes `observation`
        into row 0 of `observations`.

        Raises:
            ValueError: a NaN or infinite reward (as float32), when checking rewards; nothing is stored.
        """
        cdef double value = reward
        cdef bint ended
        if self.check_rewards and not isfinite(<float>value):
            raise ValueError(f"the reward must be a finite number, got {value} at step "
                             f"{self.episode_length + 1} of the episode; fix the environment, or pass "
                             "check_observations='never' to skip this check")
        self.reward[0] = <float>value
        self.terminal[0] = bool(terminated)
        self.truncation[0] = bool(truncated)
        self.episode_return += value
        self.episode_length += 1
        ended = self.terminal[0] or self.truncation[0]
        if flatten and not ended:
            self.flattener._write(observation, self.observation_row)
        return ended

    def restart(self):
        """Starts a new episode: its return and length go back to 0."""
        self.episode_return = 0.0
        self.episode_length = 0
