"""The one vectorizer for every C environment.

Environments are split into a fixed number of contiguous blocks (a function of num_envs only, so
results never depend on the thread count); the engine's own threads (csrc/puffer_pool.h, not
OpenMP) step contiguous ranges of whole blocks with the GIL released, writing observations, rewards
and flags straight into numpy arrays, and each block folds its finished episodes into its own
statistics record, summed in block order when read.
"""
import math
import os
import weakref

import numpy as np

cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport free
from posix.stdlib cimport posix_memalign
from libc.string cimport memcpy, memset

from pufferlib._native.abi cimport *
from pufferlib._native.protocol import check_fits_in_memory, check_seed
from pufferlib._native.protocol cimport EpisodeStats, FAILED, PENDING, BUSY, NEW, READY, VectorProtocol
from pufferlib.errors import APIUsageError, EnvironmentLoadError, RenderNotSupportedError

__all__ = ["EnvDef", "Engine", "builtin_envs", "check_count", "env_def_at", "openmp_enabled",
           "ABI_VERSION", "MAX_COUNT"]

ABI_VERSION = PUFFER_ABI_VERSION

cnp.import_array()

# The engine steps on its own threads and is compiled without OpenMP (so importing it loads no
# OpenMP runtime); setup.py defines PUFFER_OPENMP to say whether the OpenMP kernels (advantage, mlp)
# were built with it.
cdef extern from *:
    """
    #ifndef PUFFER_OPENMP
    #define PUFFER_OPENMP 0
    #endif
    static int puffer_openmp_enabled(void) { return PUFFER_OPENMP; }
    """
    int puffer_openmp_enabled() nogil

# Blocks per vector env: enough for 32 threads, few enough that the statistics records the threads
# write (one cache line per block) and the main thread sums after every step cost little traffic
# between cores (128 blocks measured ~2% slower than 32 with 2 threads); and large enough (at
# least MIN_BLOCK envs, boundaries on multiples of 4) that an env stepping SIMD groups fills its
# lanes.
cdef int MAX_BLOCKS = 32
cdef int MIN_BLOCK = 16

# Sizes the engine can hold. The ABI counts envs, agent rows and per-agent sizes in C ints, so
# each is at most 2**31-1; sizes are multiplied out in Python integers and checked against these
# limits before anything is allocated, so no product can wrap around.
MAX_COUNT = 2 ** 31 - 1
MAX_COUNT_TEXT = "2**31-1"

def openmp_enabled():
    """Whether this build of pufferlib runs its OpenMP kernels (advantage, MLP) on threads.

    Environments step on the engine's own threads either way.

    Returns:
        True when the kernels were compiled with OpenMP. Without it, they run on one thread and
        the build printed a warning.

    Example:
        >>> import pufferlib
        >>> isinstance(pufferlib.openmp_enabled(), bool)
        True
    """
    return bool(puffer_openmp_enabled())


cdef str _text(const char* s):
    return s.decode("utf-8") if s != NULL else ""


cdef class EnvDef:
    """A loaded C environment: its name, documentation, parameters and statistics.

    Instances come from `builtin_envs()` (and, for user environments, from the loader); they are
    validated on creation, so an Engine can trust them.
    """
    cdef const PufferEnvDef* ptr
    cdef readonly str name
    cdef readonly str doc
    cdef readonly tuple params      # (name, default, min, max, integer, doc) per parameter
    cdef readonly tuple stat_names
    cdef readonly object owner      # keeps a shared library loaded while the def is in use

    @staticmethod
    cdef EnvDef wrap(const PufferEnvDef* ptr, object owner, str where):
        cdef EnvDef d = EnvDef.__new__(EnvDef)
        if ptr == NULL:
            raise EnvironmentLoadError(f"{where}: the environment table is NULL")
        if ptr.abi_version != PUFFER_ABI_VERSION:
            raise EnvironmentLoadError(
                f"{where}: compiled against pufferlib ABI version {ptr.abi_version}, but this "
                f"pufferlib speaks version {PUFFER_ABI_VERSION}; rebuild it against the "
                f"installed headers (pufferlib.get_include())")
        missing = [name for name, fn in (
            ("describe", ptr.describe != NULL), ("init", ptr.init != NULL),
            ("reset", ptr.reset != NULL), ("step", ptr.step != NULL)) if not fn]
        if missing:
            raise EnvironmentLoadError(f"{where}: the environment defines no {', '.join(missing)}")
        if not (0 <= ptr.num_params <= PUFFER_MAX_PARAMS) or (ptr.num_params and ptr.params == NULL):
            raise EnvironmentLoadError(
                f"{where}: expected 0 to {PUFFER_MAX_PARAMS} parameters, got {ptr.num_params}")
        if not (0 <= ptr.num_stats <= PUFFER_MAX_STATS) or (ptr.num_stats and ptr.stat_names == NULL):
            raise EnvironmentLoadError(
                f"{where}: expected 0 to {PUFFER_MAX_STATS} statistics, got {ptr.num_stats}")
        if not (1 <= ptr.env_size <= MAX_COUNT):
            raise EnvironmentLoadError(
                f"{where}: the environment's state is {ptr.env_size} bytes per copy (env_size); "
                f"expected 1 to {MAX_COUNT_TEXT}")
        d.ptr = ptr
        d.owner = owner
        d.name = _text(ptr.name)
        d.doc = _text(ptr.doc)
        d.params = tuple(
            (_text(ptr.params[i].name), ptr.params[i].default_value, ptr.params[i].min,
             ptr.params[i].max, bool(ptr.params[i].integer), _text(ptr.params[i].doc))
            for i in range(ptr.num_params))
        d.stat_names = tuple(_text(ptr.stat_names[i]) for i in range(ptr.num_stats))
        return d

    def defaults(self):
        """Returns {parameter name: default value}."""
        return {p[0]: _as_number(p[1], p[4]) for p in self.params}

    def resolve(self, dict params):
        """Validates keyword parameters and returns all values, defaults filled in, in C order.

        Raises:
            TypeError: a parameter this environment does not have, or a non-numeric value.
            ValueError: a value outside the parameter's range, or fractional for an integer one.
        """
        known = {p[0]: p for p in self.params}
        for key in params:
            if key not in known:
                listing = ", ".join(f"{p[0]} (default {_as_number(p[1], p[4])})" for p in self.params)
                raise TypeError(f"{self.name} has no parameter {key!r}; its parameters are: "
                                f"{listing or 'none'}")
        values = []
        for name, default, lo, hi, integer, _ in self.params:
            value = params.get(name, default)
            kind = "an integer" if integer else "a number"
            if isinstance(value, (bool, np.bool_)):
                value = int(value)
            if not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"{self.name} parameter {name} must be {kind} in "
                                f"[{_as_number(lo, integer)}, {_as_number(hi, integer)}], "
                                f"got {type(value).__name__} {value!r}")
            value = float(value)
            if not (lo <= value <= hi) or (integer and value != int(value)):
                raise ValueError(f"{self.name} parameter {name} must be {kind} in "
                                 f"[{_as_number(lo, integer)}, {_as_number(hi, integer)}], "
                                 f"got {params.get(name)!r}")
            values.append(value)
        return values

    def spec(self, params=None):
        """The spaces this environment has with these parameters, as a plain dict.

        Raises:
            EnvironmentLoadError: the environment describes spaces the engine cannot hold.
        """
        cdef double values[PUFFER_MAX_PARAMS]
        cdef PufferSpec s
        cdef char err[256]
        for i, v in enumerate(self.resolve(dict(params or {}))):
            values[i] = v
        return _describe(self, values, &s, err)

    def __repr__(self):
        return f"EnvDef({self.name!r})"


def _as_number(value, integer):
    return int(value) if integer else value


cdef dict _describe(EnvDef d, const double* values, PufferSpec* s, char* err):
    """Calls the env's describe() and checks that its answer fits the engine."""
    memset(s, 0, sizeof(PufferSpec))
    err[0] = 0
    if d.ptr.describe(values, s, err, 256) != 0:
        raise ValueError(f"{d.name}: {_text(err) or 'invalid parameters'}")
    where = f"{d.name}: describe()"
    if s.num_agents < 1:
        raise EnvironmentLoadError(f"{where} gave num_agents={s.num_agents}; expected >= 1")
    if s.obs_dtype not in (PUFFER_FLOAT32, PUFFER_UINT8):
        raise EnvironmentLoadError(f"{where} gave obs_dtype={s.obs_dtype}; expected "
                                   f"PUFFER_FLOAT32 ({PUFFER_FLOAT32}) or PUFFER_UINT8 ({PUFFER_UINT8})")
    if not (1 <= s.obs_ndim <= PUFFER_MAX_DIMS):
        raise EnvironmentLoadError(f"{where} gave obs_ndim={s.obs_ndim}; expected 1 to {PUFFER_MAX_DIMS}")
    shape = tuple(s.obs_shape[k] for k in range(s.obs_ndim))
    if any(n < 1 for n in shape):
        raise EnvironmentLoadError(f"{where} gave observation shape {shape}; every size must be >= 1")
    size = math.prod(shape)    # a Python integer: exact for any shape
    dtype = np.dtype(np.float32 if s.obs_dtype == PUFFER_FLOAT32 else np.uint8)
    if size * dtype.itemsize > MAX_COUNT:
        raise EnvironmentLoadError(
            f"{where} gave observation shape {shape} of {dtype.name}: {size * dtype.itemsize} bytes per "
            f"agent, more than the engine's limit of {MAX_COUNT_TEXT} bytes; declare a smaller observation")
    if s.obs_bounds_per_element and size > PUFFER_MAX_BOUNDS:
        raise EnvironmentLoadError(f"{where} asks for per-element bounds on {size} elements; "
                                   f"at most {PUFFER_MAX_BOUNDS} are supported, use obs_low/obs_high")
    if s.act_kind not in (PUFFER_DISCRETE, PUFFER_CONTINUOUS):
        raise EnvironmentLoadError(f"{where} gave act_kind={s.act_kind}; expected PUFFER_DISCRETE "
                                   f"({PUFFER_DISCRETE}) or PUFFER_CONTINUOUS ({PUFFER_CONTINUOUS})")
    if not (1 <= s.act_dims <= PUFFER_MAX_ACT_DIMS):
        raise EnvironmentLoadError(f"{where} gave act_dims={s.act_dims}; expected 1 to {PUFFER_MAX_ACT_DIMS}")
    nvec = tuple(s.act_n[k] for k in range(s.act_dims))
    if s.act_kind == PUFFER_DISCRETE and any(n < 1 for n in nvec):
        raise EnvironmentLoadError(f"{where} gave discrete action sizes {nvec}; each must be >= 1")
    if s.act_mask and s.act_kind != PUFFER_DISCRETE:
        raise EnvironmentLoadError(f"{where} declared action masks (act_mask=1) for continuous actions; "
                                   "masks are for discrete actions only, leave act_mask at 0")
    if s.act_kind == PUFFER_CONTINUOUS and not (s.act_low <= s.act_high):
        raise EnvironmentLoadError(f"{where} gave action bounds [{s.act_low}, {s.act_high}]")
    if s.obs_bounds_per_element:
        low = np.array([s.obs_low_vec[k] for k in range(size)], np.float32).reshape(shape)
        high = np.array([s.obs_high_vec[k] for k in range(size)], np.float32).reshape(shape)
    else:
        low, high = float(s.obs_low), float(s.obs_high)
    return dict(
        num_agents=s.num_agents,
        obs_shape=shape,
        obs_dtype=dtype,
        obs_low=low,
        obs_high=high,
        discrete=s.act_kind == PUFFER_DISCRETE,
        act_dims=s.act_dims,
        act_n=nvec if s.act_kind == PUFFER_DISCRETE else None,
        act_low=float(s.act_low),
        act_high=float(s.act_high),
        render_size=(s.render_height, s.render_width),
        mask_size=sum(nvec) if s.act_mask else 0,
        agent_episodes=bool(s.agent_episodes),
    )


def env_def_at(size_t address, object owner, str where):
    """Wraps the PufferEnvDef table at `address` (checking its ABI version and functions).

    Args:
        address: where the table is, as returned by a library's PUFFER_EXPORT function.
        owner: kept alive as long as the EnvDef (and every Engine using it): the loaded library.
        where: names the table's origin in error messages.

    Raises:
        EnvironmentLoadError: a NULL table, another ABI version, a missing function, or too
            many parameters or statistics.
    """
    return EnvDef.wrap(<const PufferEnvDef*>address, owner, where)


_BUILTIN = None


def builtin_envs():
    """Returns {name: EnvDef} of the environments compiled into pufferlib, in listing order."""
    global _BUILTIN
    if _BUILTIN is None:
        _BUILTIN = {}
        for i in range(puffer_num_builtin_envs):
            d = EnvDef.wrap(puffer_builtin_envs[i], None, "built-in environment")
            _BUILTIN[d.name] = d
    return _BUILTIN


# What one step needs, in a plain C struct so that a background thread can run it with no GIL.
ctypedef struct StepJob:
    const PufferEnvDef* defn
    void* envs
    PufferBuffers* bufs
    PufferLog* logs
    int* bounds          # block b holds envs [bounds[b], bounds[b + 1])
    int num_blocks
    int num_threads
    PufferPool* pool     # started by the Python method that starts the job, when num_threads > 1


ctypedef struct ResetJob:
    StepJob* job
    bint reseed
    const double* params
    uint64_t seed


# Block b of one step. The pool gives each thread the same contiguous share of blocks every step
# (the caller's is the last, so an env that writes into the next env's row, a bug, is usually seen
# in a different order than on one thread, and `puffer build --check` reports it instead of the
# serial order hiding it), and a thread done with its share takes blocks left in another's (a late
# or descheduled worker does not hold the step up). Which thread steps a block never changes the
# results of a correct env.
# The block's statistics record is cleared here, by the thread that is about to write it, not by the
# main thread after reading it: the main thread then only reads the records (after every step), so
# the record's cache line is not handed back and forth between the cores once more per step.
cdef void step_block(void* arg, int b) noexcept nogil:
    cdef StepJob* job = <StepJob*>arg
    memset(&job.logs[b], 0, sizeof(PufferLog))
    job.defn.step(job.envs, job.bounds[b], job.bounds[b + 1], job.bufs, &job.logs[b])


cdef void reset_blocks(void* arg, int thread, int num_threads) noexcept nogil:
    cdef ResetJob* r = <ResetJob*>arg
    cdef StepJob* job = r.job
    cdef int b, first, last
    puffer_pool_range(job.num_blocks, num_threads - 1 - thread, num_threads, &first, &last)
    for b in range(first, last):
        if r.reseed:
            job.defn.init(job.envs, job.bounds[b], job.bounds[b + 1], r.params, r.seed)
        job.defn.reset(job.envs, job.bounds[b], job.bounds[b + 1], job.bufs)


cdef void run_step(void* arg) noexcept nogil:
    cdef StepJob* job = <StepJob*>arg
    cdef int b
    if job.num_threads == 1:
        for b in range(job.num_blocks):
            step_block(job, b)
    else:
        puffer_pool_run_blocks(job.pool, step_block, job, job.num_blocks)


cdef void run_reset(StepJob* job, bint reseed, const double* params, uint64_t seed) noexcept nogil:
    cdef ResetJob r
    r.job = job
    r.reseed = reseed
    r.params = params
    r.seed = seed
    if job.num_threads == 1:
        reset_blocks(&r, 0, 1)
    else:
        puffer_pool_run(job.pool, reset_blocks, &r)


# fork(): only the forking thread lives on in a child. The engine's pool notices that through its
# pthread_atfork hook and starts new threads on its next step, so a child steps on threads like its
# parent; the send()/recv() thread is forgotten here, and an env inherited in the middle of a
# send() (its buffers half written) refuses to be used.
_ENGINES = weakref.WeakSet()
# The buffers a snapshot carries besides the environments' memory and the statistics.
_SNAPSHOT_ARRAYS = ("observations", "final_observations", "rewards", "terminals", "truncations", "masks")
_FORK_HOOK = False


def _after_fork_in_child():
    for engine in list(_ENGINES):
        (<Engine>engine)._after_fork()


cdef void* _zalloc(size_t size) except NULL:
    """Zeroed memory aligned to a cache line (so blocks never share one); free() releases it."""
    cdef void* mem = NULL
    if posix_memalign(&mem, 64, max(size, 64)) != 0:
        raise MemoryError(f"cannot allocate {size} bytes")
    memset(mem, 0, max(size, 64))
    return mem


cdef class Engine(VectorProtocol):
    """Steps `num_envs` copies of a C environment on threads, in place in numpy buffers.

    This is the C-facing half of `pufferlib.vector.NativeVecEnv`, which adds the Gymnasium spaces;
    use `pufferlib.make` rather than this class. The protocol (states, checks, the returned
    tuple) is `VectorProtocol`'s; the engine implements its hooks in C.
    """
    cdef readonly EnvDef env_def
    cdef readonly int num_envs
    cdef readonly int num_agents       # rows per step: num_envs * agents per env
    cdef readonly int agents_per_env
    cdef readonly int num_threads
    cdef readonly int num_blocks
    cdef readonly dict spec
    cdef object _episode_return
    cdef object _episode_length
    cdef bint initialized
    cdef double params[PUFFER_MAX_PARAMS]
    cdef void* envs
    cdef PufferLog* logs
    cdef int* bounds
    cdef PufferBuffers bufs
    cdef StepJob job
    cdef PufferWorker worker
    cdef PufferPool pool
    cdef object __weakref__

    def __init__(self, EnvDef env_def, num_envs, num_threads, seed, dict params):
        cdef PufferSpec s
        cdef char err[256]
        if self._state != NEW or self.envs != NULL:
            raise APIUsageError("an Engine cannot be initialised twice")
        num_envs = check_count("num_envs", num_envs, "use fewer envs")
        num_threads = check_count("num_threads", num_threads, "use at most the cores available")
        self.seed = check_seed(seed)
        self._name = env_def.name
        self._copy_actions = False   # step() steps from the caller's array, without a copy
        self.env_def = env_def
        self.job.defn = env_def.ptr
        for i, v in enumerate(env_def.resolve(params)):
            self.params[i] = v
        self.spec = _describe(env_def, self.params, &s, err)
        rows = num_envs * s.num_agents
        if rows > MAX_COUNT:
            raise ValueError(
                f"num_envs * agents = {num_envs} * {s.num_agents} = {rows} rows exceeds the engine's "
                f"limit of {MAX_COUNT_TEXT}; use fewer envs (at most {MAX_COUNT // s.num_agents} "
                f"of {env_def.name} with these parameters)")
        _check_memory(env_def, num_envs, rows, self.spec)
        self.num_envs = num_envs
        self.agents_per_env = s.num_agents
        self.num_agents = rows
        self.num_blocks = max(1, min(num_envs // MIN_BLOCK, MAX_BLOCKS))
        self.num_threads = min(num_threads, self.num_blocks)
        _register(self)

        obs_shape = (rows,) + self.spec["obs_shape"]
        self.observations = np.zeros(obs_shape, self.spec["obs_dtype"])
        self.final_observations = np.zeros(obs_shape, self.spec["obs_dtype"])
        actions_shape = (rows,) if s.act_dims == 1 and s.act_kind == PUFFER_DISCRETE else (rows, s.act_dims)
        self.actions = np.zeros(actions_shape, np.int32 if s.act_kind == PUFFER_DISCRETE else np.float32)
        self.rewards = np.zeros(rows, np.float32)
        self.terminals = np.zeros(rows, np.bool_)
        self.truncations = np.zeros(rows, np.bool_)
        self.masks = np.ones(rows, np.bool_)
        mask_size = self.spec["mask_size"]
        self.action_masks = np.ones((rows, mask_size), np.bool_) if mask_size else None
        self._episode_return = np.zeros(rows, np.float32)
        self._episode_length = np.zeros(rows, np.int32)

        self.envs = _zalloc(<size_t>num_envs * env_def.ptr.env_size)
        self.logs = <PufferLog*>_zalloc(self.num_blocks * sizeof(PufferLog))
        self.bounds = <int*>_zalloc((self.num_blocks + 1) * sizeof(int))
        for b in range(self.num_blocks + 1):
            self.bounds[b] = <int>((<int64_t>b * num_envs) // self.num_blocks) & ~3
        self.bounds[self.num_blocks] = num_envs

        self.bufs.observations = cnp.PyArray_DATA(self.observations)
        self.bufs.actions = cnp.PyArray_DATA(self.actions)
        self.bufs.rewards = <float*>cnp.PyArray_DATA(self.rewards)
        self.bufs.terminals = <uint8_t*>cnp.PyArray_DATA(self.terminals)
        self.bufs.truncations = <uint8_t*>cnp.PyArray_DATA(self.truncations)
        self.bufs.masks = <uint8_t*>cnp.PyArray_DATA(self.masks)
        self.bufs.final_observations = cnp.PyArray_DATA(self.final_observations)
        self.bufs.episode_return = <float*>cnp.PyArray_DATA(self._episode_return)
        self.bufs.episode_length = <int32_t*>cnp.PyArray_DATA(self._episode_length)
        self.bufs.obs_row_bytes = self.observations.itemsize * (self.observations.size // rows)
        self.bufs.act_dims = s.act_dims
        self.bufs.num_agents = s.num_agents
        self.bufs.mask_size = mask_size
        self.bufs.agent_episodes = s.agent_episodes != 0
        self.bufs.action_masks = <uint8_t*>cnp.PyArray_DATA(self.action_masks) if mask_size else NULL

        self.job.envs = self.envs
        self.job.bufs = &self.bufs
        self.job.logs = self.logs
        self.job.bounds = self.bounds
        self.job.num_blocks = self.num_blocks
        self.job.num_threads = self.num_threads
        self.job.pool = &self.pool

    # ---- the protocol's hooks (see VectorProtocol), in C ----

    cdef reset_envs(self, seed):
        cdef bint reseed = seed is not None or not self.initialized
        cdef uint64_t s = self.seed
        if reseed and self.initialized and self.env_def.ptr.close != NULL:
            with nogil:
                self.env_def.ptr.close(self.envs, 0, self.num_envs)
        self._episode_return.fill(0)
        self._episode_length.fill(0)
        self.rewards.fill(0)
        self.terminals.fill(False)
        self.truncations.fill(False)
        self.masks.fill(True)
        if self.action_masks is not None:
            self.action_masks.fill(True)
        memset(self.logs, 0, self.num_blocks * sizeof(PufferLog))
        self._start_pool()
        with nogil:
            run_reset(&self.job, reseed, self.params, s)
        self.initialized = True

    cdef EpisodeStats step_envs(self, actions):
        # checked actions: the caller's int32/float32 array of the right shape, stepped where it is
        self._start_pool()
        self.bufs.actions = cnp.PyArray_DATA(<cnp.ndarray>actions)
        try:
            with nogil:
                run_step(&self.job)
        finally:
            self.bufs.actions = cnp.PyArray_DATA(self.actions)
        return self._read_stats()

    cdef send_envs(self):
        # the actions are in the buffer: the background thread reads them there
        self._start_pool()
        if not self.worker.started:
            rc = puffer_worker_start(&self.worker)
            if rc != 0:
                raise OSError(rc, "cannot start the stepping thread")
        puffer_worker_submit(&self.worker, run_step, &self.job)

    cdef EpisodeStats recv_envs(self):
        with nogil:
            puffer_worker_wait(&self.worker)
        return self._read_stats()

    cdef render_env(self, int env_index):
        """Env copy `env_index` drawn by its C render function, which reads its state only."""
        cdef int height, width, rc
        cdef cnp.ndarray frame
        cdef uint8_t* rgb
        cdef void* env
        height, width = self.spec["render_size"]
        if self.env_def.ptr.render == NULL or height <= 0 or width <= 0:
            raise RenderNotSupportedError(f"the {self.env_def.name} environment cannot render: its C code "
                                          "defines no render function or frame size")
        if height > 16384 or width > 16384:
            raise EnvironmentLoadError(f"{self.env_def.name}: describe() asks for a {width}x{height} "
                                       "frame; expected at most 16384 pixels a side")
        frame = np.zeros((height, width, 3), np.uint8)
        rgb = <uint8_t*>cnp.PyArray_DATA(frame)
        env = <char*>self.envs + <size_t>env_index * self.env_def.ptr.env_size
        with nogil:
            rc = self.env_def.ptr.render(env, rgb, width, height)
        if rc != 0:
            raise RenderNotSupportedError(f"the {self.env_def.name} environment cannot render "
                                          f"(its render function returned {rc})")
        return frame

    cdef close_envs(self):
        """Stops the stepping threads (a pending step finishes first) and frees the environments."""
        self._free()

    def _snapshot_arrays(self):
        return _SNAPSHOT_ARRAYS + (("action_masks",) if self.action_masks is not None else ())

    def snapshot(self):
        """The whole state of the environments and buffers, to continue later exactly (checkpoints).

        Only for environments whose state is plain data (no `close` function, so nothing was
        allocated by init): their memory is copied as it is.

        Returns:
            A dict of bytes and arrays, accepted by `restore` of an engine made with the same
            environment, parameters and num_envs.

        Raises:
            APIUsageError: before reset(), after close(), while a send() is pending.
            NotImplementedError: the environment owns memory (has a close function).
        """
        self._require(True)
        if self.env_def.ptr.close != NULL:
            raise NotImplementedError(f"{self.env_def.name} allocates memory in init, so its state "
                                      "cannot be copied; it cannot be snapshotted")
        cdef size_t env_bytes = <size_t>self.num_envs * self.env_def.ptr.env_size
        return {"env": self.env_def.name, "num_envs": self.num_envs,
                "params": [self.params[i] for i in range(self.env_def.ptr.num_params)],
                "envs": (<char*>self.envs)[:env_bytes],
                "logs": (<char*>self.logs)[:self.num_blocks * sizeof(PufferLog)],
                "seed": self.seed,
                "episode_return": self._episode_return.copy(), "episode_length": self._episode_length.copy(),
                **{name: getattr(self, name).copy() for name in self._snapshot_arrays()}}

    def restore(self, snapshot):
        """Puts back the state `snapshot()` returned (of an engine with the same env, params, size).

        Raises:
            ValueError: the snapshot is of another environment, parameters or size.
            APIUsageError: after close() or while a send() is pending.
        """
        self._require(False)
        cdef size_t env_bytes = <size_t>self.num_envs * self.env_def.ptr.env_size
        params = [self.params[i] for i in range(self.env_def.ptr.num_params)]
        mine = (self.env_def.name, self.num_envs, params)
        theirs = (snapshot.get("env"), snapshot.get("num_envs"), snapshot.get("params"))
        if mine != theirs or len(snapshot["envs"]) != env_bytes \
                or len(snapshot["logs"]) != self.num_blocks * sizeof(PufferLog):
            raise ValueError(f"the snapshot is of (env, num_envs, params) = {theirs}, this engine is {mine}")
        if self.initialized and self.env_def.ptr.close != NULL:
            raise NotImplementedError(f"{self.env_def.name} owns memory; it cannot be restored")
        memcpy(self.envs, <const char*>snapshot["envs"], env_bytes)
        memcpy(self.logs, <const char*>snapshot["logs"], self.num_blocks * sizeof(PufferLog))
        for name in self._snapshot_arrays():
            np.copyto(getattr(self, name), snapshot[name])
        np.copyto(self._episode_return, snapshot["episode_return"])
        np.copyto(self._episode_length, snapshot["episode_length"])
        self.seed = snapshot["seed"]
        self.initialized = True
        self._state = READY

    cdef int _start_pool(self) except -1:
        """Starts the stepping threads on first use (and again in a forked child); cheap after."""
        cdef int rc
        if self.num_threads > 1:
            rc = puffer_pool_start(&self.pool, self.num_threads)
            if rc != 0:
                raise OSError(rc, f"cannot start {self.num_threads - 1} stepping threads: "
                                  f"{os.strerror(rc)}; pass a smaller num_threads")
        return 0

    cdef EpisodeStats _read_stats(self):
        """The blocks' statistics records of the last step, summed in block order, as one EpisodeStats
        (each step clears them before it writes them)."""
        cdef double totals[4 + PUFFER_MAX_STATS]
        cdef int b, k
        cdef int nstats = self.env_def.ptr.num_stats
        cdef PufferLog* log
        cdef EpisodeStats stats = EpisodeStats.__new__(EpisodeStats)
        memset(totals, 0, sizeof(totals))
        for b in range(self.num_blocks):
            log = &self.logs[b]
            if log.episodes == 0:
                continue
            totals[0] += log.episodes
            totals[1] += log.episode_return
            totals[2] += log.episode_length
            totals[3] += log.env_episodes
            for k in range(nstats):
                totals[4 + k] += log.stats[k]
        if totals[0] == 0:  # the common step: nothing finished
            return stats
        # return and length are per agent episode; the env's own statistics per env episode
        episodes = <long long>totals[0]
        stats._sums = {"episode_return": totals[1], "episode_length": totals[2]}
        stats._counts = {"episode_return": episodes, "episode_length": episodes}
        if totals[3] > 0:
            for k in range(nstats):
                stats._add(self.env_def.stat_names[k], totals[4 + k], <long long>totals[3])
        return stats

    cdef void _free(self) noexcept:
        # Only C fields here: __dealloc__ calls this when Python attributes may be gone.
        if self.worker.started:
            with nogil:
                puffer_worker_stop(&self.worker)
        if self.pool.started:
            with nogil:
                puffer_pool_stop(&self.pool)
        if self.envs != NULL:
            if self.initialized and self.job.defn.close != NULL:
                self.job.defn.close(self.envs, 0, self.num_envs)
            free(self.envs)
            self.envs = NULL
        free(self.logs)
        self.logs = NULL
        free(self.bounds)
        self.bounds = NULL
        self.initialized = False

    cdef _after_fork(self):
        """In a forked child: forget the parent's send() thread (the pool restarts by itself)."""
        self.worker.started = 0
        if self._state in (PENDING, BUSY):
            self._state = FAILED
            self._failure = "inherited through fork() in the middle of a step, so its buffers are half written"

    def __dealloc__(self):
        self._free()


cdef _register(Engine engine):
    """Tracks live engines for the fork hook (installed with the first engine, not at import)."""
    global _FORK_HOOK
    if not _FORK_HOOK and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _FORK_HOOK = True
    _ENGINES.add(engine)


def _check_memory(EnvDef env_def, num_envs, rows, dict spec):
    """Refuses an engine larger than the machine's memory, before allocating any of it.

    (Allocations that large may succeed lazily and then get the process killed when touched.)
    """
    obs_bytes = math.prod(spec["obs_shape"]) * spec["obs_dtype"].itemsize
    # observations and final observations, actions, rewards, 3 flags, episode return and length
    per_row = 2 * obs_bytes + 4 * spec["act_dims"] + 4 + 3 + 4 + 4
    total = rows * per_row + num_envs * env_def.ptr.env_size
    check_fits_in_memory(total, f"num_envs={num_envs} copies of {env_def.name}", "use fewer envs")


def check_count(str name, value, str fix):
    """`value` as an int if it is a positive integer the engine can count to, else a ValueError.

    Args:
        name: the argument's name, for the message.
        value: the argument.
        fix: what to do instead when it is too large ("use fewer envs").

    Raises:
        ValueError: not an integer (bools neither), below 1, or above 2**31-1 (the engine counts
            in C ints).

    Example:
        >>> check_count("num_envs", 4, "use fewer envs")
        4
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value > MAX_COUNT:
        raise ValueError(f"{name} must be at most {MAX_COUNT_TEXT} ({MAX_COUNT}), got {value}; {fix}")
    return int(value)
