# The C API of csrc/puffer_mlp.h (the actor-critic MLP kernel), declared once and cimported where used.
from libc.stdint cimport int32_t, int64_t, uint8_t


cdef extern from "puffer_mlp.h" nogil:
    enum:
        PUFFER_MLP_CHUNK
        PUFFER_MLP_MAX_LAYERS
        PUFFER_MLP_ROW_STATS
        PUFFER_MLP_RELU
        PUFFER_MLP_TANH

    ctypedef struct PufferMLP:
        int obs_dim
        int hidden
        int num_layers
        int activation
        int num_components
        const int32_t* nvec
        float* log_std
        float* weight[2][PUFFER_MLP_MAX_LAYERS + 1]
        float* bias[2][PUFFER_MLP_MAX_LAYERS + 1]
        int num_actions
        int num_logits
        int num_continuous
        long num_params
        long param_offset[2][PUFFER_MLP_MAX_LAYERS + 1]
        long log_std_offset
        long workspace_floats

    ctypedef struct PufferPPOBatch:
        const float* obs
        const int32_t* actions
        const float* float_actions
        const float* old_logprobs
        const float* advantages
        const float* returns
        const float* old_values
        const int64_t* indices
        long n
        const uint8_t* masks
        long count
        const uint8_t* action_masks

    ctypedef struct PufferPPOConfig:
        float clip_coef
        float vf_coef
        float ent_coef
        float vf_clip_coef
        int norm_adv
        int clip_vloss
        float adv_mean
        float adv_std

    ctypedef struct PufferPPOStats:
        double policy_loss
        double value_loss
        double entropy
        double approx_kl
        double old_approx_kl
        double clipfrac

    void puffer_mlp_layout(PufferMLP* net)
    void puffer_mlp_forward_chunk(const PufferMLP* net, const float* obs, int n, float* logits,
                                  float* values, float* ws)
    void puffer_mlp_advantage_stats(const PufferPPOBatch* b, float* mean, float* std)
    long puffer_mlp_find_bad_index(const int64_t* indices, long n, long batch_rows)
    long puffer_mlp_find_bad_action(const PufferMLP* net, const PufferPPOBatch* b)
    void puffer_mlp_loss_chunk(const PufferMLP* net, const PufferPPOBatch* b, const PufferPPOConfig* cfg,
                               long chunk, float* ws, float* grad, float* row_stats)
    double puffer_mlp_grad_norm(const float* grad, long num_params)
    void puffer_mlp_summarize(const float* row_stats, long n, long count, float clip_coef, PufferPPOStats* s)
    void puffer_mlp_adam(const PufferMLP* net, const float* grad, float scale, float* m, float* v,
                         long step, double lr, float beta1, float beta2, float eps)
    void puffer_mlp_tanh_array(const float* x, float* out, long n)
    void puffer_mlp_encode_chunk(const PufferMLP* net, const float* obs, const int64_t* indices, int n,
                                 float* out, float* ws)
    void puffer_mlp_encode_backward_chunk(const PufferMLP* net, const float* obs, const int64_t* indices,
                                          int n, const float* d_out, float* ws, float* grad)
    void puffer_mlp_heads_chunk(const PufferMLP* net, const float* rows, int n, float* logits, float* values,
                                float* ws)
    void puffer_mlp_heads_loss_chunk(const PufferMLP* net, const PufferPPOBatch* b, const PufferPPOConfig* cfg,
                                     long chunk, const float* rows, float* d_rows, float* ws, float* grad,
                                     float* row_stats)
    void puffer_mlp_adam_tensor(float* param, const float* grad, float* m, float* v, long size, float scale,
                                float beta1, float beta2, float step_size, float bc2_sqrt, float eps)
