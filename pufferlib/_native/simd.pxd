# What the C kernels share (csrc/puffer_mlp.h, which csrc/puffer_lstm.h includes): the instruction set
# chosen at run time, and the in-order sum of per-chunk gradient partials that keeps results
# independent of the thread count. Declared once here, below both the MLP and the LSTM modules.

cdef extern from "puffer_mlp.h" nogil:
    int puffer_mlp_isa_limit
    int puffer_mlp_isa()
    void puffer_mlp_sum_partials(const float* partials, long num_chunks, long num_params, long begin,
                                 long end, float* grad)
