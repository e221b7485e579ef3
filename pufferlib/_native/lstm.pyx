"""A single-layer LSTM over [B, T] sequences in C, with the state reset where an episode starts.

Two calls over numpy arrays, the forward pass and the backward pass through time; the torch layer that
uses them (an autograd Function) is `pufferlib.train.lstm`. See csrc/puffer_lstm.h for the math and
how rows are split over threads.
"""
import numpy as np

cimport numpy as cnp
from cython.parallel cimport prange, threadid

from pufferlib._native.lstm cimport *
from pufferlib._native.simd cimport puffer_mlp_isa, puffer_mlp_isa_limit, puffer_mlp_sum_partials
from pufferlib._native.arrays import check_array

cnp.import_array()

__all__ = ["CHUNK", "lstm_backward", "lstm_forward"]

CHUNK = PUFFER_LSTM_CHUNK   # rows per chunk: the unit of work of a thread


cdef float* _ptr(str name, object array, tuple shape, bint writeable=False) except NULL:
    return <float*> cnp.PyArray_DATA(check_array(name, array, np.float32, shape, writeable))


cdef PufferLSTM _sizes(x, weight_ih, weight_hh) except *:
    """The layer's sizes from x (B, T, I) and the weights, checked against each other."""
    cdef PufferLSTM net
    if not isinstance(x, np.ndarray) or x.ndim != 3:
        check_array("x", x, np.float32, (None, None, None))
    if not isinstance(weight_hh, np.ndarray) or weight_hh.ndim != 2:
        check_array("weight_hh", weight_hh, np.float32, (None, None))
    batch, horizon, inputs = x.shape
    hidden = weight_hh.shape[1]
    if batch < 1 or horizon < 1 or inputs < 1 or hidden < 1:
        raise ValueError(f"x must be (batch, horizon, input) and weight_hh (4 * hidden, hidden), all positive, "
                         f"got x of shape {x.shape} and weight_hh of shape {weight_hh.shape}")
    check_array("weight_hh", weight_hh, np.float32, (4 * hidden, hidden))
    check_array("weight_ih", weight_ih, np.float32, (4 * hidden, inputs))
    net.batch, net.horizon, net.input, net.hidden = batch, horizon, inputs, hidden
    net.weight_ih = <const float*> cnp.PyArray_DATA(weight_ih)
    net.weight_hh = <const float*> cnp.PyArray_DATA(weight_hh)
    net.bias_ih = NULL
    net.bias_hh = NULL
    puffer_lstm_layout(&net)
    return net


cdef int _threads(int num_threads, long chunks) except -1:
    if num_threads < 1:
        raise ValueError(f"num_threads must be a positive integer, got {num_threads}")
    return num_threads if num_threads < chunks else <int> chunks


def lstm_forward(x, h0, c0, starts, weight_ih, weight_hh, bias_ih, bias_hh, out, h_n, c_n, gates, cells,
                 int num_threads=1):
    """The LSTM over every sequence, resetting the state where `starts` is 1.

    Args:
        x: float32 (B, T, I) inputs.
        h0, c0: float32 (B, H) state before step 0 (itself reset where starts[:, 0] is 1).
        starts: float32 (B, T): 1 where an episode starts; the state is multiplied by 1 - starts
            before that step.
        weight_ih, weight_hh, bias_ih, bias_hh: torch's nn.LSTM layout, gate order i, f, g, o:
            (4H, I), (4H, H), (4H,), (4H,).
        out: float32 (B, T, H), written: h after every step.
        h_n, c_n: float32 (B, H), written: the state after step T-1.
        gates, cells: float32 (B, T, 4H) and (B, T, H), written: what `lstm_backward` reads.
        num_threads: OpenMP threads over chunks of CHUNK rows; results do not depend on it.

    Raises:
        TypeError, ValueError: an array of the wrong type, dtype, shape or layout, or num_threads < 1.

    Example:
        >>> B, T, I, H = 2, 3, 4, 5
        >>> f = lambda *shape: np.zeros(shape, np.float32)
        >>> out, h_n, c_n = f(B, T, H), f(B, H), f(B, H)
        >>> lstm_forward(f(B, T, I), f(B, H), f(B, H), f(B, T), f(4 * H, I), f(4 * H, H), f(4 * H), f(4 * H),
        ...              out, h_n, c_n, f(B, T, 4 * H), f(B, T, H))
        >>> float(abs(out).max())
        0.0
    """
    cdef PufferLSTM net = _sizes(x, weight_ih, weight_hh)
    cdef long B = net.batch, T = net.horizon, I = net.input, H = net.hidden
    cdef PufferLSTMData d
    d.x = _ptr("x", x, (B, T, I))
    d.h0 = _ptr("h0", h0, (B, H))
    d.c0 = _ptr("c0", c0, (B, H))
    d.starts = _ptr("starts", starts, (B, T))
    net.bias_ih = _ptr("bias_ih", bias_ih, (4 * H,))
    net.bias_hh = _ptr("bias_hh", bias_hh, (4 * H,))
    d.out = _ptr("out", out, (B, T, H), True)
    d.h_n = _ptr("h_n", h_n, (B, H), True)
    d.c_n = _ptr("c_n", c_n, (B, H), True)
    d.gates = _ptr("gates", gates, (B, T, 4 * H), True)
    d.cells = _ptr("cells", cells, (B, T, H), True)
    cdef int threads = _threads(num_threads, net.num_chunks)
    cdef float[::1] shared = np.empty(net.shared_floats, np.float32)
    cdef float[::1] ws = np.empty(threads * net.workspace_floats, np.float32)
    cdef long c, per_thread = net.workspace_floats
    with nogil:
        puffer_lstm_prepare(&net, &shared[0])
        if threads == 1:
            for c in range(net.num_chunks):
                puffer_lstm_forward_chunk(&net, &d, &shared[0], c, &ws[0])
        else:
            for c in prange(net.num_chunks, schedule='static', num_threads=threads):
                puffer_lstm_forward_chunk(&net, &d, &shared[0], c, &ws[threadid() * per_thread])


def lstm_backward(x, h0, c0, starts, weight_ih, weight_hh, out, gates, cells, d_out, d_h_n, d_c_n, d_x,
                  d_h0, d_c0, d_params, int num_threads=1):
    """Backward through time of `lstm_forward`: the gradients of its inputs and weights.

    Args:
        x, h0, c0, starts, weight_ih, weight_hh: as given to `lstm_forward`.
        out, gates, cells: as `lstm_forward` wrote them.
        d_out: float32 (B, T, H), the gradient of `out`.
        d_h_n, d_c_n: float32 (B, H), the gradients of h_n and c_n, or None for zeros.
        d_x: float32 (B, T, I), written.
        d_h0, d_c0: float32 (B, H), written, or None when not wanted.
        d_params: float32 (4H * I + 4H * H + 4H,), written: d_weight_ih, d_weight_hh and d_bias
            (the gradient of bias_ih and of bias_hh alike), flattened one after the other.
        num_threads: OpenMP threads over chunks of CHUNK rows; results do not depend on it.

    Raises:
        TypeError, ValueError: an array of the wrong type, dtype, shape or layout, or num_threads < 1.
    """
    cdef PufferLSTM net = _sizes(x, weight_ih, weight_hh)
    cdef long B = net.batch, T = net.horizon, I = net.input, H = net.hidden
    cdef PufferLSTMData d
    d.x = _ptr("x", x, (B, T, I))
    d.h0 = _ptr("h0", h0, (B, H))
    d.c0 = _ptr("c0", c0, (B, H))
    d.starts = _ptr("starts", starts, (B, T))
    d.out = _ptr("out", out, (B, T, H))
    d.gates = _ptr("gates", gates, (B, T, 4 * H))
    d.cells = _ptr("cells", cells, (B, T, H))
    d.d_out = _ptr("d_out", d_out, (B, T, H))
    d.d_h_n = NULL if d_h_n is None else _ptr("d_h_n", d_h_n, (B, H))
    d.d_c_n = NULL if d_c_n is None else _ptr("d_c_n", d_c_n, (B, H))
    d.d_x = _ptr("d_x", d_x, (B, T, I), True)
    d.d_h0 = NULL if d_h0 is None else _ptr("d_h0", d_h0, (B, H), True)
    d.d_c0 = NULL if d_c0 is None else _ptr("d_c0", d_c0, (B, H), True)
    cdef float* grad = _ptr("d_params", d_params, (net.num_params,), True)
    cdef int threads = _threads(num_threads, net.num_chunks)
    cdef float[::1] ws = np.empty(threads * net.workspace_floats, np.float32)
    # one chunk writes its partial straight into d_params; more are summed in chunk order
    cdef long chunks = net.num_chunks, P = net.num_params, c, per_thread = net.workspace_floats
    cdef float[::1] partials = np.empty(P * chunks if chunks > 1 else 1, np.float32)
    cdef float* part = grad if chunks == 1 else &partials[0]
    with nogil:
        if threads == 1:
            for c in range(chunks):
                puffer_lstm_backward_chunk(&net, &d, c, &ws[0], part + c * P)
        else:
            for c in prange(chunks, schedule='static', num_threads=threads):
                puffer_lstm_backward_chunk(&net, &d, c, &ws[threadid() * per_thread], part + c * P)
        if chunks > 1:
            puffer_mlp_sum_partials(part, chunks, P, 0, P, grad)


def _instruction_set(limit=None):
    """The kernel's instruction set (4: AVX-512, 3: AVX2+FMA, 0: portable); `limit` caps it (for tests)."""
    global puffer_mlp_isa_limit
    if limit is not None:
        puffer_mlp_isa_limit = int(limit)
    return puffer_mlp_isa()
