"""Writes nested observations into flat rows, following a layout computed once (pufferlib.emulation).

Per step and per leaf, `Flattener.flatten` looks the leaf up in the observation the environment
returned (dict keys, tuple indices), checks that it is an array of the leaf's dtype and shape with
a few C comparisons, and copies its bytes to the leaf's offset in the row. No Python containers
are built; a Python int for an int64 scalar leaf (a Discrete) is stored directly. Anything else (a
list, an array of another dtype) goes to the layout's Python `convert` callback, which converts it without losing data or raises an
error naming the leaf.
"""
import numpy as np

cimport numpy as cnp
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

__all__ = ["Flattener"]

cnp.import_array()


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
    cdef Py_ssize_t row_bytes
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
        cdef Py_ssize_t i
        cdef char* base
        cdef object value
        cdef cnp.ndarray array
        cdef Py_ssize_t rows = cnp.PyArray_DIM(out, 0) if cnp.PyArray_NDIM(out) >= 1 else 0
        if (not cnp.PyArray_IS_C_CONTIGUOUS(out) or cnp.PyArray_NDIM(out) < 1
                or cnp.PyArray_NBYTES(out) != rows * self.row_bytes):
            raise ValueError(f"out must be a C-contiguous array of rows of {self.row_bytes} bytes, "
                             f"got {out.dtype} of shape {(<object>out).shape}")
        if not (0 <= row < rows):
            raise ValueError(f"row {row} is out of range for {rows} rows")
        base = cnp.PyArray_BYTES(out) + row * self.row_bytes
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
