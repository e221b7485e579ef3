"""Checks of the numpy arrays handed to the C kernels: messages say what arrived and how to fix it."""
import numpy as np

__all__ = ["check_array", "describe"]


def describe(array):
    """What `array` is, for an error message: its dtype and shape, or its type."""
    if isinstance(array, np.ndarray):
        return f"{array.dtype} array of shape {array.shape}"
    return type(array).__name__


def check_array(name, array, dtype, shape, writeable=False):
    """Raises TypeError/ValueError unless `array` is a C-contiguous numpy array of dtype and shape.

    A None in `shape` accepts any size on that axis.
    """
    sizes = ", ".join("N" if s is None else str(s) for s in shape)
    expected = "(" + sizes + ("," if len(shape) == 1 else "") + ")"
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of {np.dtype(dtype).name} with shape {expected}, "
                        f"got {describe(array)} (pass tensor.numpy() for a CPU torch tensor)")
    if array.dtype != dtype:
        raise TypeError(f"{name} must be {np.dtype(dtype).name} with shape {expected}, got {describe(array)}")
    if array.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, array.shape)):
        raise ValueError(f"{name} must have shape {expected}, got {array.shape}")
    if not array.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous, got strides {array.strides} "
                         "(pass np.ascontiguousarray(...))")
    if writeable and not array.flags.writeable:
        raise ValueError(f"{name} must be writeable (the kernel writes into it), got a read-only array")
    return array
