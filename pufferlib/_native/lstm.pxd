# The C API of csrc/puffer_lstm.h (the LSTM over sequences with resets), declared once and cimported where used.

cdef extern from "puffer_lstm.h" nogil:
    enum:
        PUFFER_LSTM_CHUNK

    ctypedef struct PufferLSTM:
        int batch
        int horizon
        int input
        int hidden
        const float* weight_ih
        const float* weight_hh
        const float* bias_ih
        const float* bias_hh
        long num_chunks
        long num_params
        long shared_floats
        long workspace_floats

    ctypedef struct PufferLSTMData:
        const float* x
        const float* h0
        const float* c0
        const float* starts
        float* out
        float* h_n
        float* c_n
        float* gates
        float* cells
        const float* d_out
        const float* d_h_n
        const float* d_c_n
        float* d_x
        float* d_h0
        float* d_c0

    void puffer_lstm_layout(PufferLSTM* net) noexcept
    void puffer_lstm_prepare(const PufferLSTM* net, float* shared) noexcept
    void puffer_lstm_forward_chunk(const PufferLSTM* net, const PufferLSTMData* d, const float* shared,
                                   long chunk, float* ws) noexcept
    void puffer_lstm_backward_chunk(const PufferLSTM* net, const PufferLSTMData* d, long chunk, float* ws,
                                    float* partial) noexcept
    long puffer_lstm_grad_floats(const PufferLSTM* net) noexcept
    void puffer_lstm_adam(const PufferLSTM* net, float* weight_ih, float* weight_hh, float* bias_ih,
                          float* bias_hh, const float* grad, float scale, float* m, float* v, long step,
                          double lr, float beta1, float beta2, float eps) noexcept
