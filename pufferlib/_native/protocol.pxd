# The vector protocol's one home (see protocol.pyx), declared for the engine to subclass.
from libc.stdint cimport int64_t


cpdef enum State:
    NEW = 0        # made, reset() not called yet
    READY = 1      # reset or stepped: step(), send(), render() allowed
    PENDING = 2    # send() called; recv() expected
    BUSY = 3       # step() running (in another Python thread, when anyone else can look)
    FAILED = 4     # a worker raised or died, or the env was inherited half stepped: only close()
    CLOSED = 5


cdef class EpisodeStats:
    cdef dict _sums      # None until an episode is recorded: an empty record costs one allocation
    cdef dict _counts
    cpdef merge(self, other)
    cpdef EpisodeStats pop(self)
    cpdef dict means(self)
    cdef _add(self, str key, double total, long long count)


cdef class ActionCheck:
    cdef readonly object buffer
    cdef object shape
    cdef str text
    cdef int typenum
    cdef int64_t rows
    cdef int dims
    cdef bint discrete
    cdef bint enabled
    cdef object limits         # int32 array (dims,): each dimension's choices; 0 for a continuous one
    cdef object mixed          # bool array (dims,): the discrete dimensions of float rows, else None
    cdef object take(self, actions, bint copy)
    cdef object _convert(self, actions, object rows)
    cdef _check_range(self, flat, object rows)
    cdef _raise_range(self, int64_t index, value, object rows)


cdef class VectorProtocol:
    cdef State _state
    cdef str _failure
    cdef str _name
    cdef bint _copy_actions
    cdef ActionCheck _check
    cdef readonly object seed
    cdef readonly object observations
    cdef readonly object actions
    cdef readonly object rewards
    cdef readonly object terminals
    cdef readonly object truncations
    cdef readonly object masks
    cdef readonly object action_masks
    cdef readonly object final_observations
    cdef _require(self, bint need_reset)
    cdef _fail(self, error)
    cdef reset_envs(self, seed)
    cdef EpisodeStats step_envs(self, actions)
    cdef send_envs(self)
    cdef EpisodeStats recv_envs(self)
    cdef render_env(self, int env_index)
    cdef close_envs(self)
