"""The advantage kernel on the CPU: one segment per iteration, segments on OpenMP threads."""
import numpy as np

from cython.parallel cimport prange
from libc.stdint cimport uint8_t

__all__ = ["compute_advantages"]


cdef extern from "puffer_advantage.h" nogil:
    void puffer_advantage(const float* values, const float* next_values, const float* rewards,
                          const uint8_t* dones, const float* ratios, float* advantages,
                          int horizon, float gamma, float gae_lambda, float rho_clip, float c_clip)


def _checked(name, array, shape, dtype):
    """The array as a C-contiguous one of `dtype`, or a ValueError/TypeError saying what arrived."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of {np.dtype(dtype).name} with shape {shape}, "
                        f"got {type(array).__name__}")
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (segments, horizon), got {array.shape}")
    if array.dtype != dtype and not (dtype == np.uint8 and array.dtype == np.bool_):
        raise TypeError(f"{name} must be {np.dtype(dtype).name}, got {array.dtype}")
    return np.ascontiguousarray(array).view(dtype)


def compute_advantages(values, next_values, rewards, dones, ratios, float gamma, float gae_lambda,
                       float rho_clip=1.0, float c_clip=1.0, out=None, int num_threads=1):
    """GAE(lambda) with V-trace clipping over [segments, horizon] arrays (see csrc/puffer_advantage.h).

    Args:
        values: float32 V(obs_t).
        next_values: float32 value to bootstrap from after step t (V(obs_{t+1}), V(final
            observation) for a truncated step, 0 for a terminal one).
        rewards: float32 reward of step t.
        dones: bool or uint8, 1 where the episode ended at step t (terminated or truncated).
        ratios: float32 importance ratios pi/mu of the actions (all 1 for on-policy GAE).
        gamma, gae_lambda: discount and GAE lambda.
        rho_clip, c_clip: V-trace clipping of the ratios in the TD error and in the trace.
        out: optional float32 [segments, horizon] array for the result.
        num_threads: threads over segments (results do not depend on it).

    Returns:
        The advantages, float32 [segments, horizon].

    Raises:
        TypeError, ValueError: an array of the wrong type, dtype or shape (the message names it).

    Example:
        >>> import numpy as np
        >>> ones = np.ones((1, 3), np.float32)
        >>> adv = compute_advantages(0 * ones, 0 * ones, ones, np.zeros((1, 3), bool), ones, 1.0, 1.0)
        >>> adv.tolist()
        [[3.0, 2.0, 1.0]]
    """
    if not isinstance(values, np.ndarray) or values.ndim != 2:
        raise ValueError(f"values must be a 2-D float32 array (segments, horizon), got "
                         f"{getattr(values, 'shape', type(values).__name__)}")
    shape = values.shape
    cdef float[:, ::1] v = _checked("values", values, shape, np.float32)
    cdef float[:, ::1] nv = _checked("next_values", next_values, shape, np.float32)
    cdef float[:, ::1] r = _checked("rewards", rewards, shape, np.float32)
    cdef uint8_t[:, ::1] d = _checked("dones", dones, shape, np.uint8)
    cdef float[:, ::1] ratio = _checked("ratios", ratios, shape, np.float32)
    if out is None:
        out = np.empty(shape, np.float32)
    cdef float[:, ::1] adv = _checked("out", out, shape, np.float32)
    if num_threads < 1:
        raise ValueError(f"num_threads must be a positive integer, got {num_threads}")
    cdef Py_ssize_t segments = shape[0], s
    cdef int horizon = shape[1]
    if segments == 0 or horizon == 0:
        return out
    with nogil:
        for s in prange(segments, schedule='static', num_threads=num_threads):
            puffer_advantage(&v[s, 0], &nv[s, 0], &r[s, 0], &d[s, 0], &ratio[s, 0], &adv[s, 0],
                             horizon, gamma, gae_lambda, rho_clip, c_clip)
    return out
