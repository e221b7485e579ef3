/* puffer_mlp.h: the default actor-critic MLP on the CPU: inference, and a whole PPO minibatch step
 * (forward, loss, backward, global grad-norm clip, Adam) without an autograd engine.
 *
 * The network, in torch terms (two separate towers, `num_layers` hidden Linear layers of width H):
 *   actor:  x -> [Linear(D,H), act, Linear(H,H), act, ...] -> Linear(H, A)   action parameters
 *   critic: x -> [Linear(D,H), act, Linear(H,H), act, ...] -> Linear(H, 1)   value
 * Weights are torch's Linear layout (W: out x in, b: out, float32, row-major) and are read and updated
 * in place through the pointers of a PufferMLP.
 * Actions are rows of k entries, nvec[c] > 0 a categorical entry, nvec[c] == 0 a continuous one (a
 * Normal). The A = sum(nvec) + (continuous entries) action parameters are the logits of every
 * categorical entry in order, then the means of the continuous ones; each continuous entry has a
 * learned, state-independent log standard deviation (log_std, a parameter after the towers' in the
 * gradient and Adam's state). This is pufferlib.train.policies.ActionDistribution. The loss is cleanrl's PPO loss with torch's
 * sub-gradient conventions (maximum splits the gradient at ties, clamp passes it at the bounds,
 * relu'(0) = 0), so gradients match torch autograd up to float32 summation order.
 *
 * Rows are processed in chunks of PUFFER_MLP_CHUNK (a constant, not the thread count): a chunk writes
 * its own gradient partial and its rows' loss terms, and the partials are summed in chunk order, so the
 * result is bit-identical whatever number of threads runs the chunks. Inside a chunk activations are
 * feature-major (feature x row, rows padded to a multiple of 16) so every loop runs over 16 contiguous
 * rows: one register-tiled matrix product serves the forward pass and both halves of the backward one.
 * It is written with GNU C vector extensions (gcc, clang). With gcc on x86-64 the chunk functions are
 * compiled three times, with 8 x 16 tiles for AVX-512, 4 x 16 tiles for AVX2 + FMA and for any x86-64,
 * and the CPU picks one at run time (the result differs between them by float rounding only).
 *
 * The same chunk machinery also runs as separate layers, so that an LSTM (puffer_lstm.h) can sit between
 * the towers' hidden layers and their heads, as in pufferlib.train.policies.LSTMPolicy: encode (obs ->
 * the two towers' last hidden layers side by side), heads (those rows -> action parameters and values),
 * heads_loss (the heads, the PPO loss and the gradient back to their input rows) and encode_backward
 * (the hidden layers' gradients from their output rows'); pufferlib/_native/mlp.pyx's RecurrentKernel
 * chains them with the LSTM's forward and backward passes, then clips and steps Adam over every weight.
 * PufferPPOBatch's masks leave absent agents' rows out of the loss (its means are over `count` rows).
 *
 * No allocation: the caller passes a workspace of puffer_mlp_layout()'s workspace_floats per thread,
 * a gradient partial of num_params floats per chunk, and PUFFER_MLP_ROW_STATS floats per minibatch row.
 * Pure C; a caller parallelises the chunk loop (the Cython binding uses OpenMP's prange).
 */
#ifndef PUFFER_MLP_H
#define PUFFER_MLP_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define PUFFER_MLP_CHUNK 64       /* rows per chunk; fixed, so results do not depend on the threads */
#define PUFFER_MLP_MAX_LAYERS 8   /* hidden layers per tower */
#define PUFFER_MLP_ROW_STATS 5    /* per row: clipped policy loss, value loss, entropy, logratio, ratio */
#define PUFFER_MLP_HALF_LOG_2PI 0.918938533204672742f   /* 0.5 * log(2 pi) */

enum { PUFFER_MLP_RELU = 0, PUFFER_MLP_TANH = 1 };

/* The hot functions are compiled twice, for AVX2+FMA machines and for any x86-64, and the loader
 * picks one (GCC function multi-versioning); the sanitizer build keeps a single version. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(__SANITIZE_ADDRESS__) && !defined(PUFFER_MLP_NO_CLONES)
#define PUFFER_MLP_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define PUFFER_MLP_CLONES
#endif
#define PUFFER_MLP_INLINE static inline __attribute__((always_inline))

typedef struct PufferMLP {
    /* set by the caller */
    int obs_dim;          /* D */
    int hidden;           /* H */
    int num_layers;       /* hidden layers per tower, 1..PUFFER_MLP_MAX_LAYERS */
    int activation;       /* PUFFER_MLP_RELU or PUFFER_MLP_TANH */
    int num_components;   /* k = len(nvec) */
    const int32_t* nvec;  /* k action sizes, 0 for a continuous entry */
    float* log_std;       /* one per continuous entry (NULL when there is none) */
    /* [tower][layer]: tower 0 actor, 1 critic; layer num_layers is the head */
    float* weight[2][PUFFER_MLP_MAX_LAYERS + 1];
    float* bias[2][PUFFER_MLP_MAX_LAYERS + 1];
    /* set by puffer_mlp_layout */
    int num_actions;      /* A = num_logits + num_continuous: the actor head's outputs */
    int num_logits;       /* sum(nvec) */
    int num_continuous;   /* entries with nvec[c] == 0 */
    long num_params;      /* floats in all weights and biases, then log_std */
    long param_offset[2][PUFFER_MLP_MAX_LAYERS + 1];  /* weight's offset in a flat gradient; bias follows */
    long log_std_offset;  /* log_std's offset in a flat gradient (num_params - num_continuous) */
    long workspace_floats;
    long ws_x, ws_xt, ws_h[2][PUFFER_MLP_MAX_LAYERS + 1], ws_dout[2], ws_d[2];
} PufferMLP;

/* One PPO minibatch: rows indices[0..n) of the batch arrays. */
typedef struct PufferPPOBatch {
    const float* obs;            /* (B, D) */
    const int32_t* actions;      /* (B, k) categorical indices, when every entry is categorical */
    const float* float_actions;  /* (B, k) otherwise: indices as floats and continuous values */
    const float* old_logprobs;   /* (B,) */
    const float* advantages;     /* (B,) */
    const float* returns;        /* (B,) */
    const float* old_values;     /* (B,) */
    const int64_t* indices;      /* (n,) */
    long n;
    const uint8_t* masks;        /* (B,) 0 where the row's agent was absent (no loss there), or NULL */
    long count;                  /* the minibatch rows that count: n, less those masked out */
    const uint8_t* action_masks; /* (B, num_logits) 0 where a choice was illegal, or NULL */
} PufferPPOBatch;

/* The logit an illegal choice gets (what ActionDistribution.mask gives it in torch): its probability
 * is exactly 0 in float32, and 0 * its log-probability stays finite in the entropy. */
#define PUFFER_MLP_MASKED_LOGIT (-1e9f)

typedef struct PufferPPOConfig {
    float clip_coef, vf_coef, ent_coef, vf_clip_coef;
    int norm_adv, clip_vloss;
    float adv_mean, adv_std;     /* from puffer_mlp_advantage_stats when norm_adv */
} PufferPPOConfig;

typedef struct PufferPPOStats {
    double policy_loss, value_loss, entropy, approx_kl, old_approx_kl, clipfrac;
} PufferPPOStats;

PUFFER_MLP_INLINE int puffer_mlp_pad16(int n) { return (n + 15) & ~15; }
PUFFER_MLP_INLINE long puffer_mlp_round16(long n) { return (n + 15) & ~15L; }

PUFFER_MLP_INLINE int puffer_mlp_in_dim(const PufferMLP* net, int layer) {
    return layer == 0 ? net->obs_dim : net->hidden;
}

PUFFER_MLP_INLINE int puffer_mlp_out_dim(const PufferMLP* net, int tower, int layer) {
    if (layer < net->num_layers) return net->hidden;
    return tower == 0 ? net->num_actions : 1;
}

/* Fills the derived fields (sizes and offsets) from obs_dim, hidden, num_layers and nvec. */
static inline void puffer_mlp_layout(PufferMLP* net) {
    const int CH = PUFFER_MLP_CHUNK;
    net->num_logits = net->num_continuous = 0;
    for (int c = 0; c < net->num_components; c++) {
        net->num_logits += net->nvec[c];
        net->num_continuous += net->nvec[c] == 0;
    }
    net->num_actions = net->num_logits + net->num_continuous;
    long p = 0;
    for (int t = 0; t < 2; t++) {
        for (int l = 0; l <= net->num_layers; l++) {
            int in = puffer_mlp_in_dim(net, l), out = puffer_mlp_out_dim(net, t, l);
            net->param_offset[t][l] = p;
            p += (long)out * (in + 1);
        }
    }
    net->log_std_offset = p;
    net->num_params = p + net->num_continuous;
    int widest_in = net->obs_dim > net->hidden ? net->obs_dim : net->hidden;
    long w = 0;
    net->ws_x = w;  w += puffer_mlp_round16((long)net->obs_dim * CH);
    net->ws_xt = w; w += puffer_mlp_round16((long)CH * puffer_mlp_pad16(widest_in));
    for (int t = 0; t < 2; t++) {
        for (int l = 0; l <= net->num_layers; l++) {
            net->ws_h[t][l] = w;
            w += puffer_mlp_round16((long)puffer_mlp_out_dim(net, t, l) * CH);
        }
        net->ws_dout[t] = w;
        w += puffer_mlp_round16((long)puffer_mlp_out_dim(net, t, net->num_layers) * CH);
    }
    for (int i = 0; i < 2; i++) {
        net->ws_d[i] = w;
        w += puffer_mlp_round16((long)net->hidden * CH);
    }
    net->workspace_floats = w;
}

/* GNU C vector extensions (gcc, clang): 8 floats, compiled to one AVX register or two SSE ones. */
#if !defined(__GNUC__)
#error "puffer_mlp.h needs GNU C vector extensions: compile with gcc or clang"
#endif
typedef float puffer_v8f __attribute__((vector_size(32)));
typedef int32_t puffer_v8i __attribute__((vector_size(32)));
typedef float puffer_v8f_u __attribute__((vector_size(32), aligned(4)));   /* unaligned loads/stores */
#define PUFFER_LOAD8(p) (*(const puffer_v8f_u*)(p))
#define PUFFER_STORE8(p, v) (*(puffer_v8f_u*)(p) = (v))
#define PUFFER_SELECT8(mask, a, b) ((puffer_v8f)(((puffer_v8i)(a) & (mask)) | ((puffer_v8i)(b) & ~(mask))))

/* tanh of 8 floats (in to out, which may alias) to about 2e-7 relative: an odd polynomial below
 * |x| = 0.55 (fitted to tanh(x)/x), 1 - 2 / (e^2|x| + 1) above, with e^y as 2^k times a Taylor
 * polynomial of the remainder. NaN stays NaN. */
PUFFER_MLP_INLINE void puffer_mlp_tanh8(const float* in, float* out) {
    puffer_v8f x = PUFFER_LOAD8(in);
    const puffer_v8i sign = (puffer_v8i){0} + (int32_t)0x80000000;
    puffer_v8i xbits = (puffer_v8i)x;
    puffer_v8f a = (puffer_v8f)(xbits & ~sign);
    puffer_v8f s = x * x;
    puffer_v8f p = s * -6.657488851e-03f + 2.133977761e-02f;
    p = p * s - 5.391574818e-02f;
    p = p * s + 1.333315930e-01f;
    p = p * s - 3.333333273e-01f;
    puffer_v8f small = x + x * s * p;
    puffer_v8f nine = (puffer_v8f){0} + 9.0f;        /* tanh(9) rounds to 1 in float32 */
    puffer_v8f y = 2.0f * PUFFER_SELECT8(a < nine, a, nine);
    puffer_v8i k = __builtin_convertvector(y * 1.44269504f + 0.5f, puffer_v8i);
    puffer_v8f kf = __builtin_convertvector(k, puffer_v8f);
    puffer_v8f r = (y - kf * 0.693145752f) - kf * 1.42860677e-06f;   /* ln 2 split in two */
    puffer_v8f e = r * (1.0f / 5040.0f) + 1.0f / 720.0f;
    e = e * r + 1.0f / 120.0f;
    e = e * r + 1.0f / 24.0f;
    e = e * r + 1.0f / 6.0f;
    e = e * r + 0.5f;
    e = e * r + 1.0f;
    e = e * r + 1.0f;
    e = (puffer_v8f)((puffer_v8i)e + (k << 23));
    puffer_v8f big = (puffer_v8f)((puffer_v8i)(1.0f - 2.0f / (e + 1.0f)) | (xbits & sign));
    PUFFER_STORE8(out, PUFFER_SELECT8(a >= 0.55f, big, small));
}

/* puffer_mlp_tanh_array (below), for one instruction set. */
PUFFER_MLP_INLINE void puffer_mlp_tanh_array_impl(const float* x, float* out, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) puffer_mlp_tanh8(x + i, out + i);
    if (i < n) {
        float tail[8] = {0};
        for (long j = i; j < n; j++) tail[j - i] = x[j];
        puffer_mlp_tanh8(tail, tail);
        for (long j = i; j < n; j++) out[j] = tail[j - i];
    }
}

/* C[m, c] = bias[m] + sum_k A[m*ars + k*acs] * B[k*ldb + c] for m < M, c < ncols. Columns are computed
 * in blocks of 16, so B's rows must be readable up to ncols rounded up to 16 (those extra columns are
 * never stored). bias may be NULL. Register tile: 4 rows of C by 16 columns, held in GNU C vectors (a
 * local array would live on the stack), accumulated in k order. */
PUFFER_MLP_INLINE void puffer_mlp_gemm8(int M, int K, int ncols, const float* A, long ars, long acs,
                                       const float* B, long ldb, const float* bias, float* C, long ldc) {
    int m = 0;
    for (; m + 4 <= M; m += 4) {
        const float* a = A + (long)m * ars;
        for (int c0 = 0; c0 < ncols; c0 += 16) {
            puffer_v8f c00, c01, c10, c11, c20, c21, c30, c31;
            c00 = c01 = (puffer_v8f){0} + (bias ? bias[m] : 0.0f);
            c10 = c11 = (puffer_v8f){0} + (bias ? bias[m + 1] : 0.0f);
            c20 = c21 = (puffer_v8f){0} + (bias ? bias[m + 2] : 0.0f);
            c30 = c31 = (puffer_v8f){0} + (bias ? bias[m + 3] : 0.0f);
            for (int k = 0; k < K; k++) {
                const float* b = B + (long)k * ldb + c0;
                puffer_v8f b0 = PUFFER_LOAD8(b), b1 = PUFFER_LOAD8(b + 8);
                const float* ak = a + (long)k * acs;
                float a0 = ak[0], a1 = ak[ars], a2 = ak[2 * ars], a3 = ak[3 * ars];
                c00 += a0 * b0; c01 += a0 * b1;
                c10 += a1 * b0; c11 += a1 * b1;
                c20 += a2 * b0; c21 += a2 * b1;
                c30 += a3 * b0; c31 += a3 * b1;
            }
            float* out = C + (long)m * ldc + c0;
            if (c0 + 16 <= ncols) {
                PUFFER_STORE8(out, c00); PUFFER_STORE8(out + 8, c01);
                PUFFER_STORE8(out + ldc, c10); PUFFER_STORE8(out + ldc + 8, c11);
                PUFFER_STORE8(out + 2 * ldc, c20); PUFFER_STORE8(out + 2 * ldc + 8, c21);
                PUFFER_STORE8(out + 3 * ldc, c30); PUFFER_STORE8(out + 3 * ldc + 8, c31);
            } else {
                float tile[4][16];
                PUFFER_STORE8(tile[0], c00); PUFFER_STORE8(tile[0] + 8, c01);
                PUFFER_STORE8(tile[1], c10); PUFFER_STORE8(tile[1] + 8, c11);
                PUFFER_STORE8(tile[2], c20); PUFFER_STORE8(tile[2] + 8, c21);
                PUFFER_STORE8(tile[3], c30); PUFFER_STORE8(tile[3] + 8, c31);
                for (int r = 0; r < 4; r++) {
                    for (int c = 0; c < ncols - c0; c++) out[r * ldc + c] = tile[r][c];
                }
            }
        }
    }
    for (; m < M; m++) {
        const float* a = A + (long)m * ars;
        for (int c0 = 0; c0 < ncols; c0 += 16) {
            puffer_v8f c00, c01;
            c00 = c01 = (puffer_v8f){0} + (bias ? bias[m] : 0.0f);
            for (int k = 0; k < K; k++) {
                const float* b = B + (long)k * ldb + c0;
                float a0 = a[(long)k * acs];
                c00 += a0 * PUFFER_LOAD8(b);
                c01 += a0 * PUFFER_LOAD8(b + 8);
            }
            float tile[16];
            PUFFER_STORE8(tile, c00);
            PUFFER_STORE8(tile + 8, c01);
            float* out = C + (long)m * ldc + c0;
            int w = ncols - c0 < 16 ? ncols - c0 : 16;
            for (int c = 0; c < w; c++) out[c] = tile[c];
        }
    }
}

typedef float puffer_v16f __attribute__((vector_size(64)));
typedef float puffer_v16f_u __attribute__((vector_size(64), aligned(4)));
#define PUFFER_LOAD16(p) (*(const puffer_v16f_u*)(p))
#define PUFFER_STORE16(p, v) (*(puffer_v16f_u*)(p) = (v))

/* The same product with a tile of 8 rows by 16 columns in 16-float vectors (one AVX-512 register each). */
PUFFER_MLP_INLINE void puffer_mlp_gemm16(int M, int K, int ncols, const float* A, long ars, long acs,
                                         const float* B, long ldb, const float* bias, float* C, long ldc) {
    int m = 0;
    for (; m + 8 <= M; m += 8) {
        const float* a = A + (long)m * ars;
        for (int c0 = 0; c0 < ncols; c0 += 16) {
            puffer_v16f acc[8];
            puffer_v16f c0_, c1_, c2_, c3_, c4_, c5_, c6_, c7_;
            c0_ = (puffer_v16f){0} + (bias ? bias[m] : 0.0f);
            c1_ = (puffer_v16f){0} + (bias ? bias[m + 1] : 0.0f);
            c2_ = (puffer_v16f){0} + (bias ? bias[m + 2] : 0.0f);
            c3_ = (puffer_v16f){0} + (bias ? bias[m + 3] : 0.0f);
            c4_ = (puffer_v16f){0} + (bias ? bias[m + 4] : 0.0f);
            c5_ = (puffer_v16f){0} + (bias ? bias[m + 5] : 0.0f);
            c6_ = (puffer_v16f){0} + (bias ? bias[m + 6] : 0.0f);
            c7_ = (puffer_v16f){0} + (bias ? bias[m + 7] : 0.0f);
            for (int k = 0; k < K; k++) {
                puffer_v16f b = PUFFER_LOAD16(B + (long)k * ldb + c0);
                const float* ak = a + (long)k * acs;
                c0_ += ak[0] * b;
                c1_ += ak[ars] * b;
                c2_ += ak[2 * ars] * b;
                c3_ += ak[3 * ars] * b;
                c4_ += ak[4 * ars] * b;
                c5_ += ak[5 * ars] * b;
                c6_ += ak[6 * ars] * b;
                c7_ += ak[7 * ars] * b;
            }
            acc[0] = c0_; acc[1] = c1_; acc[2] = c2_; acc[3] = c3_;
            acc[4] = c4_; acc[5] = c5_; acc[6] = c6_; acc[7] = c7_;
            float* out = C + (long)m * ldc + c0;
            if (c0 + 16 <= ncols) {
                for (int r = 0; r < 8; r++) PUFFER_STORE16(out + r * ldc, acc[r]);
            } else {
                for (int r = 0; r < 8; r++) {
                    for (int c = 0; c < ncols - c0; c++) out[r * ldc + c] = acc[r][c];
                }
            }
        }
    }
    for (; m < M; m++) {
        const float* a = A + (long)m * ars;
        for (int c0 = 0; c0 < ncols; c0 += 16) {
            puffer_v16f acc = (puffer_v16f){0} + (bias ? bias[m] : 0.0f);
            for (int k = 0; k < K; k++) acc += a[(long)k * acs] * PUFFER_LOAD16(B + (long)k * ldb + c0);
            float* out = C + (long)m * ldc + c0;
            int w = ncols - c0 < 16 ? ncols - c0 : 16;
            for (int c = 0; c < w; c++) out[c] = acc[c];
        }
    }
}

/* The product with the tile for the instruction set: wide (8 x 16) for AVX-512, else 4 x 16. */
PUFFER_MLP_INLINE void puffer_mlp_gemm(int wide, int M, int K, int ncols, const float* A, long ars, long acs,
                                       const float* B, long ldb, const float* bias, float* C, long ldc) {
    if (wide) {
        puffer_mlp_gemm16(M, K, ncols, A, ars, acs, B, ldb, bias, C, ldc);
    } else {
        puffer_mlp_gemm8(M, K, ncols, A, ars, acs, B, ldb, bias, C, ldc);
    }
}

/* The activation over rows x npad (feature-major, row stride PUFFER_MLP_CHUNK), in place. */
PUFFER_MLP_INLINE void puffer_mlp_activate(float* h, int rows, int npad, int activation) {
    for (int i = 0; i < rows; i++) {
        float* x = h + (long)i * PUFFER_MLP_CHUNK;
        if (activation == PUFFER_MLP_TANH) {
            for (int j = 0; j < npad; j += 8) puffer_mlp_tanh8(x + j, x + j);
        } else {
            for (int j = 0; j < npad; j++) x[j] = x[j] > 0.0f ? x[j] : 0.0f;
        }
    }
}

/* d *= act'(pre-activation), from the activation's output h: relu: h > 0 (so relu'(0) = 0), tanh: 1 - h^2. */
PUFFER_MLP_INLINE void puffer_mlp_activate_backward(float* d, const float* h, int rows, int npad,
                                                    int activation) {
    for (int i = 0; i < rows; i++) {
        float* g = d + (long)i * PUFFER_MLP_CHUNK;
        const float* y = h + (long)i * PUFFER_MLP_CHUNK;
        if (activation == PUFFER_MLP_TANH) {
            for (int j = 0; j < npad; j++) g[j] = g[j] * (1.0f - y[j] * y[j]);
        } else {
            for (int j = 0; j < npad; j++) g[j] = y[j] > 0.0f ? g[j] : 0.0f;
        }
    }
}

/* Both towers' layers 0..top over the chunk's input ws[ws_x] (D x npad): ws_h[t][l] gets layer l's output
 * (top = num_layers: the heads too). */
PUFFER_MLP_INLINE void puffer_mlp_towers(int wide, const PufferMLP* net, float* ws, int npad, int top) {
    const int CH = PUFFER_MLP_CHUNK;
    for (int t = 0; t < 2; t++) {
        const float* in = ws + net->ws_x;
        for (int l = 0; l <= top; l++) {
            int in_dim = puffer_mlp_in_dim(net, l), out_dim = puffer_mlp_out_dim(net, t, l);
            float* out = ws + net->ws_h[t][l];
            puffer_mlp_gemm(wide, out_dim, in_dim, npad, net->weight[t][l], in_dim, 1, in, CH,
                            net->bias[t][l], out, CH);
            if (l < net->num_layers) puffer_mlp_activate(out, out_dim, npad, net->activation);
            in = out;
        }
    }
}

/* puffer_mlp_forward_chunk (below), for one instruction set. */
PUFFER_MLP_INLINE void puffer_mlp_forward_chunk_impl(int wide, const PufferMLP* net, const float* obs, int n,
                                                    float* logits, float* values, float* ws) {
    const int CH = PUFFER_MLP_CHUNK, D = net->obs_dim, A = net->num_actions, L = net->num_layers;
    int npad = puffer_mlp_pad16(n);
    float* x = ws + net->ws_x;
    for (int i = 0; i < D; i++) {
        for (int j = 0; j < n; j++) x[i * CH + j] = obs[(long)j * D + i];
        for (int j = n; j < npad; j++) x[i * CH + j] = 0.0f;
    }
    puffer_mlp_towers(wide, net, ws, npad, L);
    const float* lg = ws + net->ws_h[0][L];
    const float* v = ws + net->ws_h[1][L];
    for (int j = 0; j < n; j++) {
        for (int a = 0; a < A; a++) logits[(long)j * A + a] = lg[a * CH + j];
        values[j] = v[j];
    }
}

/* mean and unbiased standard deviation of advantages[indices[0..n)] over the rows that count (masks), as
 * torch's mean() and std() (the trainer's masked ones: count clamped to 1, count - 1 to 1). */
static inline void puffer_mlp_advantage_stats(const PufferPPOBatch* b, float* mean, float* std) {
    double sum = 0.0;
    for (long j = 0; j < b->n; j++) {
        long r = b->indices[j];
        if (!b->masks || b->masks[r]) sum += b->advantages[r];
    }
    double count = b->count > 1 ? (double)b->count : 1.0;
    double mu = sum / count, sq = 0.0;
    for (long j = 0; j < b->n; j++) {
        long r = b->indices[j];
        if (b->masks && !b->masks[r]) continue;
        double d = b->advantages[r] - mu;
        sq += d * d;
    }
    *mean = (float)mu;
    *std = (float)sqrt(sq / (count - 1.0 > 1.0 ? count - 1.0 : 1.0));
}

/* Position in the minibatch of the first index outside [0, batch_rows), or -1. */
static inline long puffer_mlp_find_bad_index(const int64_t* indices, long n, long batch_rows) {
    for (long j = 0; j < n; j++) {
        if (indices[j] < 0 || indices[j] >= batch_rows) return j;
    }
    return -1;
}

/* Position in the minibatch of the first row with a categorical entry outside [0, nvec[c]) (or, in float
 * rows, not a whole number), or -1. Continuous entries are not checked: a NaN or inf there makes the loss
 * or the gradient non-finite, which the caller reports as for a NaN observation. */
static inline long puffer_mlp_find_bad_action(const PufferMLP* net, const PufferPPOBatch* b) {
    const int k = net->num_components;
    for (long j = 0; j < b->n; j++) {
        for (int c = 0; c < k; c++) {
            if (net->nvec[c] == 0) continue;
            if (b->actions) {
                int32_t a = b->actions[b->indices[j] * k + c];
                if (a < 0 || a >= net->nvec[c]) return j;
            } else {
                float a = b->float_actions[b->indices[j] * k + c];
                if (!(a >= 0.0f && a < (float)net->nvec[c] && a == floorf(a))) return j;  /* NaN fails too */
            }
        }
    }
    return -1;
}

/* The categorical index of entry c of batch row r (an entry with nvec[c] > 0). */
PUFFER_MLP_INLINE int puffer_mlp_action_index(const PufferPPOBatch* b, int k, long r, int c) {
    return b->actions ? b->actions[r * k + c] : (int)b->float_actions[r * k + c];
}

/* The loss gradients of one row w.r.t. its action parameters (dlogit[a * CH], a < A), value and the
 * log-stds (added to dlog_std), and its loss terms. g = 1 / minibatch size (the gradient of a mean). */
PUFFER_MLP_INLINE void puffer_mlp_row_loss(const PufferMLP* net, const PufferPPOBatch* b,
                                           const PufferPPOConfig* cfg, long row, float* logit,
                                           float value, float g, float* dlogit, float* dvalue,
                                           float* dlog_std, float* stats, long stats_stride) {
    const int CH = PUFFER_MLP_CHUNK, k = net->num_components;
    long r = b->indices[row];
    if (b->masks && !b->masks[r]) {   /* an absent agent's row: no loss, no gradient */
        for (int a = 0; a < net->num_actions; a++) dlogit[(long)a * CH] = 0.0f;
        *dvalue = 0.0f;
        for (int s = 0; s < PUFFER_MLP_ROW_STATS; s++) stats[s * stats_stride] = s == 4 ? 1.0f : 0.0f;
        return;
    }
    /* log-probability and entropy, summed over the categorical entries, then the continuous ones (as
     * ActionDistribution sums them); logit[] is overwritten with the log-probabilities and dlogit[]
     * holds the probabilities (softmax, as torch computes it) until the gradient replaces them */
    float newlogp = 0.0f, entropy = 0.0f;
    int off = 0;
    for (int c = 0; c < k; c++) {
        int nc = net->nvec[c];
        if (nc == 0) continue;
        float* z = logit + (long)off * CH;
        float* p = dlogit + (long)off * CH;
        if (b->action_masks) {
            const uint8_t* legal = b->action_masks + r * net->num_logits + off;
            for (int a = 0; a < nc; a++) {
                if (!legal[a]) z[a * CH] = PUFFER_MLP_MASKED_LOGIT;
            }
        }
        float zmax = z[0];
        for (int a = 1; a < nc; a++) zmax = fmaxf(zmax, z[a * CH]);
        float sum = 0.0f;
        for (int a = 0; a < nc; a++) {
            p[a * CH] = expf(z[a * CH] - zmax);
            sum += p[a * CH];
        }
        float lse = zmax + logf(sum);
        float h = 0.0f;
        for (int a = 0; a < nc; a++) {
            p[a * CH] = p[a * CH] / sum;
            z[a * CH] = z[a * CH] - lse;
            h -= p[a * CH] * z[a * CH];
        }
        newlogp += z[puffer_mlp_action_index(b, k, r, c) * CH];
        entropy += h;
        off += nc;
    }
    /* Normal(mean, exp(log_std)): -(x - mean)^2 / (2 std^2) - log_std - 0.5 log(2 pi); the entropy
     * 0.5 + 0.5 log(2 pi) + log_std does not depend on the row */
    if (net->num_continuous) {
        float clogp = 0.0f, cent = 0.0f;
        for (int c = 0, i = 0; c < k; c++) {
            if (net->nvec[c]) continue;
            float ls = net->log_std[i], std = expf(ls);
            float diff = b->float_actions[r * k + c] - logit[(long)(net->num_logits + i) * CH];
            clogp += -(diff * diff) / (2.0f * (std * std)) - ls - PUFFER_MLP_HALF_LOG_2PI;
            cent += 0.5f + PUFFER_MLP_HALF_LOG_2PI + ls;
            i++;
        }
        newlogp += clogp;
        entropy += cent;
    }
    /* clipped surrogate: max(-adv * ratio, -adv * clamp(ratio)); torch's maximum halves at ties */
    float adv = b->advantages[r];
    if (cfg->norm_adv) adv = (adv - cfg->adv_mean) / (cfg->adv_std + 1e-8f);
    float logratio = newlogp - b->old_logprobs[r];
    float ratio = expf(logratio);
    float lo = 1.0f - cfg->clip_coef, hi = 1.0f + cfg->clip_coef;
    float clipped = ratio < lo ? lo : (ratio > hi ? hi : ratio);
    float pg1 = -adv * ratio, pg2 = -adv * clipped;
    float w1 = pg1 > pg2 ? 1.0f : (pg1 < pg2 ? 0.0f : 0.5f);
    float inside = (ratio >= lo && ratio <= hi) ? 1.0f : 0.0f;
    float dratio = g * w1 * -adv + g * (1.0f - w1) * -adv * inside;
    float dlogp = dratio * ratio;
    /* dL/dz = dlogp * (onehot - p) - ent_coef * dH/dz, dH/dz = -p * (logp + H) per component */
    off = 0;
    for (int c = 0; c < k; c++) {
        int nc = net->nvec[c];
        if (nc == 0) continue;
        const float* logp = logit + (long)off * CH;
        float* p = dlogit + (long)off * CH;
        int act = puffer_mlp_action_index(b, k, r, c);
        float h = 0.0f;
        for (int a = 0; a < nc; a++) h -= p[a * CH] * logp[a * CH];
        for (int a = 0; a < nc; a++) {
            float onehot = a == act ? 1.0f : 0.0f;
            float pa = p[a * CH];
            p[a * CH] = dlogp * (onehot - pa) + cfg->ent_coef * g * pa * (logp[a * CH] + h);
        }
        off += nc;
    }
    /* dlogp/dmean = (x - mean) / std^2, dlogp/dlog_std = (x - mean)^2 / std^2 - 1, dH/dlog_std = 1 */
    for (int c = 0, i = 0; c < k && net->num_continuous; c++) {
        if (net->nvec[c]) continue;
        float std = expf(net->log_std[i]), var = std * std;
        long at = (long)(net->num_logits + i) * CH;
        float diff = b->float_actions[r * k + c] - logit[at];
        dlogit[at] = dlogp * (diff / var);
        dlog_std[i] += dlogp * ((diff * diff) / var - 1.0f) - cfg->ent_coef * g;
        i++;
    }
    /* value loss: 0.5 * mean((v - ret)^2), or of the max with the clipped value's */
    float ret = b->returns[r];
    float gv = cfg->vf_coef * 0.5f * g;
    float vterm;
    if (cfg->clip_vloss) {
        float old = b->old_values[r];
        float delta = value - old;
        float c = cfg->vf_clip_coef;
        float dclamped = delta < -c ? -c : (delta > c ? c : delta);
        float vclipped = old + dclamped;
        float lu = (value - ret) * (value - ret), lc = (vclipped - ret) * (vclipped - ret);
        float wu = lu > lc ? 1.0f : (lu < lc ? 0.0f : 0.5f);
        float vin = (delta >= -c && delta <= c) ? 1.0f : 0.0f;
        *dvalue = gv * wu * 2.0f * (value - ret) + gv * (1.0f - wu) * 2.0f * (vclipped - ret) * vin;
        vterm = lu > lc ? lu : lc;
    } else {
        *dvalue = gv * 2.0f * (value - ret);
        vterm = (value - ret) * (value - ret);
    }
    stats[0] = pg1 > pg2 ? pg1 : pg2;
    stats[stats_stride] = vterm;
    stats[2 * stats_stride] = entropy;
    stats[3 * stats_stride] = logratio;
    stats[4 * stats_stride] = ratio;
}

#if defined(__clang__)
#define PUFFER_SHUFFLE8(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define PUFFER_SHUFFLE8(a, b, ...) __builtin_shuffle(a, b, (puffer_v8i){__VA_ARGS__})
#endif

/* out (n x ldo) = the transpose of x (rows x n, row stride PUFFER_MLP_CHUNK), by 8 x 8 blocks in vectors.
 * Rows of out are written up to n rounded up to 8 (x's lanes up to there must be readable). */
PUFFER_MLP_INLINE void puffer_mlp_transpose(const float* x, int rows, int n, float* out, int ldo) {
    const int CH = PUFFER_MLP_CHUNK;
    int i0 = 0;
    for (; i0 + 8 <= rows; i0 += 8) {
        for (int j0 = 0; j0 < n; j0 += 8) {
            const float* src = x + (long)i0 * CH + j0;
            puffer_v8f a[8], b[8];
            for (int k = 0; k < 8; k += 2) {
                puffer_v8f r0 = PUFFER_LOAD8(src + (long)k * CH), r1 = PUFFER_LOAD8(src + (long)(k + 1) * CH);
                a[k] = PUFFER_SHUFFLE8(r0, r1, 0, 8, 1, 9, 4, 12, 5, 13);
                a[k + 1] = PUFFER_SHUFFLE8(r0, r1, 2, 10, 3, 11, 6, 14, 7, 15);
            }
            for (int k = 0; k < 8; k += 4) {
                b[k] = PUFFER_SHUFFLE8(a[k], a[k + 2], 0, 1, 8, 9, 4, 5, 12, 13);
                b[k + 1] = PUFFER_SHUFFLE8(a[k], a[k + 2], 2, 3, 10, 11, 6, 7, 14, 15);
                b[k + 2] = PUFFER_SHUFFLE8(a[k + 1], a[k + 3], 0, 1, 8, 9, 4, 5, 12, 13);
                b[k + 3] = PUFFER_SHUFFLE8(a[k + 1], a[k + 3], 2, 3, 10, 11, 6, 7, 14, 15);
            }
            float* dst = out + (long)j0 * ldo + i0;
            for (int m = 0; m < 4; m++) {
                puffer_v8f lo = PUFFER_SHUFFLE8(b[m], b[m + 4], 0, 1, 2, 3, 8, 9, 10, 11);
                puffer_v8f hi = PUFFER_SHUFFLE8(b[m], b[m + 4], 4, 5, 6, 7, 12, 13, 14, 15);
                PUFFER_STORE8(dst + (long)m * ldo, lo);
                PUFFER_STORE8(dst + (long)(m + 4) * ldo, hi);
            }
        }
    }
    for (int j = 0; j < n; j++) {
        for (int i = i0; i < rows; i++) out[(long)j * ldo + i] = x[(long)i * CH + j];
    }
}

/* Backward through layers top, top - 1, ..., bottom of tower t from dy (layer top's output gradient,
 * feature-major; not ws_d[0]), writing the gradients of those layers' weights into grad (a flat
 * num_params vector, at param_offset). When dx is not NULL it gets the gradient of layer bottom's input
 * (H x npad; that input is taken as not activated: the LSTM's output or another layer's). */
PUFFER_MLP_INLINE void puffer_mlp_tower_backward(int wide, const PufferMLP* net, int t, float* ws, int n,
                                                 int npad, float* dy, int top, int bottom, float* dx,
                                                 float* grad) {
    const int CH = PUFFER_MLP_CHUNK;
    float* xt = ws + net->ws_xt;
    int which = 0;
    for (int l = top; l >= bottom; l--) {
        int in_dim = puffer_mlp_in_dim(net, l), out_dim = puffer_mlp_out_dim(net, t, l);
        int in_pad = puffer_mlp_pad16(in_dim);
        const float* x = l == 0 ? ws + net->ws_x : ws + net->ws_h[t][l - 1];
        /* dW = dY (out x n) . X^T (n x in), with X transposed into xt (n x in_pad) */
        puffer_mlp_transpose(x, in_dim, n, xt, in_pad);
        float* dw = grad + net->param_offset[t][l];
        float* db = dw + (long)out_dim * in_dim;
        puffer_mlp_gemm(wide, out_dim, n, in_dim, dy, CH, 1, xt, in_pad, NULL, dw, in_dim);
        for (int o = 0; o < out_dim; o++) {     /* the padded lanes of dY are 0 */
            const float* d = dy + (long)o * CH;
            puffer_v8f acc = PUFFER_LOAD8(d);
            for (int j = 8; j < npad; j += 8) acc += PUFFER_LOAD8(d + j);
            db[o] = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        }
        if (l == bottom) {
            if (dx) puffer_mlp_gemm(wide, in_dim, out_dim, npad, net->weight[t][l], 1, in_dim, dy, CH, NULL, dx, CH);
            break;
        }
        /* dX = W^T (in x out) . dY (out x npad), then through the activation */
        float* d = ws + net->ws_d[which];
        puffer_mlp_gemm(wide, in_dim, out_dim, npad, net->weight[t][l], 1, in_dim, dy, CH, NULL, d, CH);
        puffer_mlp_activate_backward(d, x, in_dim, npad, net->activation);
        dy = d;
        which ^= 1;
    }
}

/* Observation rows (indices[j] of obs, or row j when indices is NULL) into ws[ws_x], feature-major,
 * the lanes from n to npad zeroed. */
PUFFER_MLP_INLINE void puffer_mlp_load_obs(const PufferMLP* net, const float* obs, const int64_t* indices,
                                           int n, int npad, float* ws) {
    const int CH = PUFFER_MLP_CHUNK, D = net->obs_dim;
    float* x = ws + net->ws_x;
    for (int j = 0; j < n; j++) {
        const float* o = obs + (indices ? indices[j] : j) * D;
        for (int i = 0; i < D; i++) x[i * CH + j] = o[i];
    }
    for (int i = 0; i < D; i++) {
        for (int j = n; j < npad; j++) x[i * CH + j] = 0.0f;
    }
}

/* Rows (n x 2H: the actor's half, then the critic's) into feature-major buffers dst[t] (H x npad). */
PUFFER_MLP_INLINE void puffer_mlp_load_halves(const PufferMLP* net, const float* rows, int n, int npad,
                                              float* dst0, float* dst1) {
    const int CH = PUFFER_MLP_CHUNK, H = net->hidden;
    for (int t = 0; t < 2; t++) {
        float* dst = t ? dst1 : dst0;
        for (int j = 0; j < n; j++) {
            const float* src = rows + (long)j * 2 * H + t * H;
            for (int i = 0; i < H; i++) dst[i * CH + j] = src[i];
        }
        for (int i = 0; i < H; i++) {
            for (int j = n; j < npad; j++) dst[i * CH + j] = 0.0f;
        }
    }
}

/* The inverse of puffer_mlp_load_halves: src[t] (H x CH, feature-major) into rows (n x 2H). */
PUFFER_MLP_INLINE void puffer_mlp_store_halves(const PufferMLP* net, const float* src0, const float* src1,
                                               int n, float* rows) {
    const int CH = PUFFER_MLP_CHUNK, H = net->hidden;
    for (int j = 0; j < n; j++) {
        float* dst = rows + (long)j * 2 * H;
        for (int i = 0; i < H; i++) dst[i] = src0[i * CH + j];
        for (int i = 0; i < H; i++) dst[H + i] = src1[i * CH + j];
    }
}

/* The loss of the chunk's rows [start, start + n) from the heads' outputs in ws_h[t][L]: each row's
 * loss terms into row_stats, the gradients of the heads' outputs into ws_dout[t] (0 in the padded
 * lanes) and the chunk's log_std gradient into grad. */
PUFFER_MLP_INLINE void puffer_mlp_chunk_loss(const PufferMLP* net, const PufferPPOBatch* b,
                                             const PufferPPOConfig* cfg, long start, int n, int npad, float* ws,
                                             float* grad, float* row_stats) {
    const int CH = PUFFER_MLP_CHUNK, A = net->num_actions, L = net->num_layers;
    float* logits = ws + net->ws_h[0][L];
    const float* values = ws + net->ws_h[1][L];
    float* dlogits = ws + net->ws_dout[0];
    float* dvalues = ws + net->ws_dout[1];
    float g = 1.0f / (float)(b->count > 1 ? b->count : 1);
    float* dlog_std = grad + net->log_std_offset;   /* summed over the chunk's rows, in row order */
    for (int i = 0; i < net->num_continuous; i++) dlog_std[i] = 0.0f;
    for (int j = 0; j < n; j++) {
        puffer_mlp_row_loss(net, b, cfg, start + j, logits + j, values[j], g, dlogits + j, dvalues + j,
                            dlog_std, row_stats + start + j, b->n);
    }
    for (int j = n; j < npad; j++) {
        for (int a = 0; a < A; a++) dlogits[a * CH + j] = 0.0f;
        dvalues[j] = 0.0f;
    }
}

/* The rows of chunk `chunk` of a minibatch of n rows: (first row, rows). */
PUFFER_MLP_INLINE int puffer_mlp_chunk_rows(long n, long chunk, long* start) {
    *start = chunk * PUFFER_MLP_CHUNK;
    return n - *start < PUFFER_MLP_CHUNK ? (int)(n - *start) : PUFFER_MLP_CHUNK;
}

/* puffer_mlp_loss_chunk (below), for one instruction set. */
PUFFER_MLP_INLINE void puffer_mlp_loss_chunk_impl(int wide, const PufferMLP* net, const PufferPPOBatch* b,
                                                 const PufferPPOConfig* cfg, long chunk, float* ws,
                                                 float* grad, float* row_stats) {
    long start;
    int n = puffer_mlp_chunk_rows(b->n, chunk, &start), npad = puffer_mlp_pad16(n);
    puffer_mlp_load_obs(net, b->obs, b->indices + start, n, npad, ws);
    puffer_mlp_towers(wide, net, ws, npad, net->num_layers);
    puffer_mlp_chunk_loss(net, b, cfg, start, n, npad, ws, grad, row_stats);
    for (int t = 0; t < 2; t++) {
        puffer_mlp_tower_backward(wide, net, t, ws, n, npad, ws + net->ws_dout[t], net->num_layers, 0, NULL,
                                  grad);
    }
}

/* The layers of a recurrent policy, split where an LSTM sits between the towers and their heads:
 * encode (the towers' hidden layers: obs -> rows of 2H, the actor's H then the critic's), heads (rows of
 * 2H -> action parameters and values) and, for training, heads_loss (the heads, the PPO loss and its
 * gradient back to their input rows) and encode_backward (the towers' hidden layers' gradients from
 * their output rows' gradient; the forward pass is recomputed, so nothing is kept between the calls).
 * A chunk's encode_backward and heads_loss write disjoint parts of its gradient partial. */

/* puffer_mlp_encode_chunk (below), for one instruction set. */
PUFFER_MLP_INLINE void puffer_mlp_encode_chunk_impl(int wide, const PufferMLP* net, const float* obs,
                                                   const int64_t* indices, int n, float* out, float* ws) {
    const int L = net->num_layers;
    int npad = puffer_mlp_pad16(n);
    puffer_mlp_load_obs(net, obs, indices, n, npad, ws);
    puffer_mlp_towers(wide, net, ws, npad, L - 1);
    puffer_mlp_store_halves(net, ws + net->ws_h[0][L - 1], ws + net->ws_h[1][L - 1], n, out);
}

/* puffer_mlp_encode_backward_chunk (below), for one instruction set. */
PUFFER_MLP_INLINE void puffer_mlp_encode_backward_chunk_impl(int wide, const PufferMLP* net, const float* obs,
                                                            const int64_t* indices, int n, const float* d_out,
                                                            float* ws, float* grad) {
    const int L = net->num_layers, H = net->hidden;
    int npad = puffer_mlp_pad16(n);
    puffer_mlp_load_obs(net, obs, indices, n, npad, ws);
    puffer_mlp_towers(wide, net, ws, npad, L - 1);
    float* dy = ws + net->ws_d[1];     /* tower_backward's first dX goes to ws_d[0] */
    for (int t = 0; t < 2; t++) {
        /* one half of d_out, through the last hidden layer's activation */
        const int CH = PUFFER_MLP_CHUNK;
        for (int j = 0; j < n; j++) {
            const float* src = d_out + (long)j * 2 * H + t * H;
            for (int i = 0; i < H; i++) dy[i * CH + j] = src[i];
        }
        for (int i = 0; i < H; i++) {
            for (int j = n; j < npad; j++) dy[i * CH + j] = 0.0f;
        }
        puffer_mlp_activate_backward(dy, ws + net->ws_h[t][L - 1], H, npad, net->activation);
        puffer_mlp_tower_backward(wide, net, t, ws, n, npad, dy, L - 1, 0, NULL, grad);
    }
}

/* The heads over rows (n x 2H), from ws_h[t][L - 1] (where the rows are loaded) into ws_h[t][L]. */
PUFFER_MLP_INLINE void puffer_mlp_heads(int wide, const PufferMLP* net, const float* rows, int n, int npad,
                                        float* ws) {
    const int CH = PUFFER_MLP_CHUNK, L = net->num_layers, H = net->hidden;
    puffer_mlp_load_halves(net, rows, n, npad, ws + net->ws_h[0][L - 1], ws + net->ws_h[1][L - 1]);
    for (int t = 0; t < 2; t++) {
        puffer_mlp_gemm(wide, puffer_mlp_out_dim(net, t, L), H, npad, net->weight[t][L], H, 1,
                        ws + net->ws_h[t][L - 1], CH, net->bias[t][L], ws + net->ws_h[t][L], CH);
    }
}

/* puffer_mlp_heads_chunk (below), for one instruction set. */
PUFFER_MLP_INLINE void puffer_mlp_heads_chunk_impl(int wide, const PufferMLP* net, const float* rows, int n,
                                                  float* logits, float* values, float* ws) {
    const int CH = PUFFER_MLP_CHUNK, A = net->num_actions, L = net->num_layers;
    puffer_mlp_heads(wide, net, rows, n, puffer_mlp_pad16(n), ws);
    const float* lg = ws + net->ws_h[0][L];
    const float* v = ws + net->ws_h[1][L];
    for (int j = 0; j < n; j++) {
        for (int a = 0; a < A; a++) logits[(long)j * A + a] = lg[a * CH + j];
        values[j] = v[j];
    }
}

/* puffer_mlp_heads_loss_chunk (below), for one instruction set. */
PUFFER_MLP_INLINE void puffer_mlp_heads_loss_chunk_impl(int wide, const PufferMLP* net, const PufferPPOBatch* b,
                                                       const PufferPPOConfig* cfg, long chunk, const float* rows,
                                                       float* d_rows, float* ws, float* grad, float* row_stats) {
    const int L = net->num_layers, H = net->hidden;
    long start;
    int n = puffer_mlp_chunk_rows(b->n, chunk, &start), npad = puffer_mlp_pad16(n);
    puffer_mlp_heads(wide, net, rows + start * 2 * H, n, npad, ws);
    puffer_mlp_chunk_loss(net, b, cfg, start, n, npad, ws, grad, row_stats);
    for (int t = 0; t < 2; t++) {
        puffer_mlp_tower_backward(wide, net, t, ws, n, npad, ws + net->ws_dout[t], L, L, ws + net->ws_d[t],
                                  grad);
    }
    puffer_mlp_store_halves(net, ws + net->ws_d[0], ws + net->ws_d[1], n, d_rows + start * 2 * H);
}

#define PUFFER_MLP_ARGS(...) __VA_ARGS__   /* an argument list passed through as one macro argument */

/* The chunk functions, compiled for AVX-512 (wide tiles), AVX2+FMA and any x86-64, chosen at run time
 * by what the CPU supports; elsewhere, one portable version. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(PUFFER_MLP_NO_CLONES)
#define PUFFER_MLP_DISPATCH 1
__attribute__((target("arch=x86-64-v4")))
static void puffer_mlp_forward_chunk_v4(const PufferMLP* net, const float* obs, int n, float* logits,
                                        float* values, float* ws) {
    puffer_mlp_forward_chunk_impl(1, net, obs, n, logits, values, ws);
}
__attribute__((target("arch=x86-64-v3")))
static void puffer_mlp_forward_chunk_v3(const PufferMLP* net, const float* obs, int n, float* logits,
                                        float* values, float* ws) {
    puffer_mlp_forward_chunk_impl(0, net, obs, n, logits, values, ws);
}
__attribute__((target("arch=x86-64-v4")))
static void puffer_mlp_loss_chunk_v4(const PufferMLP* net, const PufferPPOBatch* b,
                                     const PufferPPOConfig* cfg, long chunk, float* ws, float* grad,
                                     float* row_stats) {
    puffer_mlp_loss_chunk_impl(1, net, b, cfg, chunk, ws, grad, row_stats);
}
__attribute__((target("arch=x86-64-v3")))
static void puffer_mlp_loss_chunk_v3(const PufferMLP* net, const PufferPPOBatch* b,
                                     const PufferPPOConfig* cfg, long chunk, float* ws, float* grad,
                                     float* row_stats) {
    puffer_mlp_loss_chunk_impl(0, net, b, cfg, chunk, ws, grad, row_stats);
}
__attribute__((target("arch=x86-64-v4")))
static void puffer_mlp_tanh_array_v4(const float* x, float* out, long n) {
    puffer_mlp_tanh_array_impl(x, out, n);
}
__attribute__((target("arch=x86-64-v3")))
static void puffer_mlp_tanh_array_v3(const float* x, float* out, long n) {
    puffer_mlp_tanh_array_impl(x, out, n);
}
#define PUFFER_MLP_VERSIONS(name, params, args) \
    __attribute__((target("arch=x86-64-v4"))) static void name##_v4 params { name##_impl(1, args); } \
    __attribute__((target("arch=x86-64-v3"))) static void name##_v3 params { name##_impl(0, args); }
PUFFER_MLP_VERSIONS(puffer_mlp_encode_chunk,
                    (const PufferMLP* net, const float* obs, const int64_t* indices, int n, float* out, float* ws),
                    PUFFER_MLP_ARGS(net, obs, indices, n, out, ws))
PUFFER_MLP_VERSIONS(puffer_mlp_encode_backward_chunk,
                    (const PufferMLP* net, const float* obs, const int64_t* indices, int n, const float* d_out,
                     float* ws, float* grad),
                    PUFFER_MLP_ARGS(net, obs, indices, n, d_out, ws, grad))
PUFFER_MLP_VERSIONS(puffer_mlp_heads_chunk,
                    (const PufferMLP* net, const float* rows, int n, float* logits, float* values, float* ws),
                    PUFFER_MLP_ARGS(net, rows, n, logits, values, ws))
PUFFER_MLP_VERSIONS(puffer_mlp_heads_loss_chunk,
                    (const PufferMLP* net, const PufferPPOBatch* b, const PufferPPOConfig* cfg, long chunk,
                     const float* rows, float* d_rows, float* ws, float* grad, float* row_stats),
                    PUFFER_MLP_ARGS(net, b, cfg, chunk, rows, d_rows, ws, grad, row_stats))
#endif

/* The best instruction set to use: 4: AVX-512 (x86-64-v4), 3: AVX2 + FMA (x86-64-v3), 0: the portable
 * version; never above puffer_mlp_isa_limit (which tests lower to check every version). */
static int puffer_mlp_isa_limit = 4;

static inline int puffer_mlp_isa(void) {
    int isa = 0;
#ifdef PUFFER_MLP_DISPATCH
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) isa = 4;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) isa = 3;
#endif
    return isa < puffer_mlp_isa_limit ? isa : puffer_mlp_isa_limit;
}

/* tanh over n floats (n need not be a multiple of 8), as the towers compute it. */
static void puffer_mlp_tanh_array(const float* x, float* out, long n) {
#ifdef PUFFER_MLP_DISPATCH
    int isa = puffer_mlp_isa();
    if (isa == 4) { puffer_mlp_tanh_array_v4(x, out, n); return; }
    if (isa == 3) { puffer_mlp_tanh_array_v3(x, out, n); return; }
#endif
    puffer_mlp_tanh_array_impl(x, out, n);
}

/* Inference on n <= PUFFER_MLP_CHUNK rows of obs (n, D): logits (n, A) and values (n,), row-major. */
static void puffer_mlp_forward_chunk(const PufferMLP* net, const float* obs, int n, float* logits,
                                     float* values, float* ws) {
#ifdef PUFFER_MLP_DISPATCH
    int isa = puffer_mlp_isa();
    if (isa == 4) { puffer_mlp_forward_chunk_v4(net, obs, n, logits, values, ws); return; }
    if (isa == 3) { puffer_mlp_forward_chunk_v3(net, obs, n, logits, values, ws); return; }
#endif
    puffer_mlp_forward_chunk_impl(0, net, obs, n, logits, values, ws);
}

/* One chunk of a PPO minibatch: rows [chunk * CHUNK, min(n, (chunk + 1) * CHUNK)). Writes the
 * gradient of the chunk's share of the loss into grad (num_params floats) and each row's loss terms
 * into row_stats (PUFFER_MLP_ROW_STATS arrays of b->n floats). */
static void puffer_mlp_loss_chunk(const PufferMLP* net, const PufferPPOBatch* b, const PufferPPOConfig* cfg,
                                  long chunk, float* ws, float* grad, float* row_stats) {
#ifdef PUFFER_MLP_DISPATCH
    int isa = puffer_mlp_isa();
    if (isa == 4) { puffer_mlp_loss_chunk_v4(net, b, cfg, chunk, ws, grad, row_stats); return; }
    if (isa == 3) { puffer_mlp_loss_chunk_v3(net, b, cfg, chunk, ws, grad, row_stats); return; }
#endif
    puffer_mlp_loss_chunk_impl(0, net, b, cfg, chunk, ws, grad, row_stats);
}

/* The layers of a recurrent policy (see puffer_mlp_encode_chunk_impl above), each on n <= PUFFER_MLP_CHUNK
 * rows at the best instruction set. */
#ifdef PUFFER_MLP_DISPATCH
#define PUFFER_MLP_DISPATCH_TO(name, args) do { \
        int isa_ = puffer_mlp_isa(); \
        if (isa_ == 4) { name##_v4(args); return; } \
        if (isa_ == 3) { name##_v3(args); return; } \
        name##_impl(0, args); \
    } while (0)
#else
#define PUFFER_MLP_DISPATCH_TO(name, args) name##_impl(0, args)
#endif

/* The towers' hidden layers over obs rows (indices[j], or row j when indices is NULL): out (n, 2H), each row
 * the actor's last hidden layer then the critic's (Policy.encode_observations). */
static void puffer_mlp_encode_chunk(const PufferMLP* net, const float* obs, const int64_t* indices, int n,
                                    float* out, float* ws) {
    PUFFER_MLP_DISPATCH_TO(puffer_mlp_encode_chunk, PUFFER_MLP_ARGS(net, obs, indices, n, out, ws));
}

/* The gradients of the towers' hidden layers (into grad, a num_params vector) from d_out (n, 2H), the
 * gradient of puffer_mlp_encode_chunk's output for the same rows (whose forward pass it recomputes). */
static void puffer_mlp_encode_backward_chunk(const PufferMLP* net, const float* obs, const int64_t* indices,
                                             int n, const float* d_out, float* ws, float* grad) {
    PUFFER_MLP_DISPATCH_TO(puffer_mlp_encode_backward_chunk,
                           PUFFER_MLP_ARGS(net, obs, indices, n, d_out, ws, grad));
}

/* The heads over rows (n, 2H): logits (n, A) and values (n,) (Policy.decode_actions). */
static void puffer_mlp_heads_chunk(const PufferMLP* net, const float* rows, int n, float* logits, float* values,
                                   float* ws) {
    PUFFER_MLP_DISPATCH_TO(puffer_mlp_heads_chunk, PUFFER_MLP_ARGS(net, rows, n, logits, values, ws));
}

/* One chunk of a PPO minibatch whose minibatch row j has the heads' input rows[j] (b->n rows of 2H): the
 * heads, the loss, the gradients of the heads and log_std (into grad) and of rows (into d_rows, the chunk's
 * rows only), each row's loss terms into row_stats (as puffer_mlp_loss_chunk). b->obs is not read. */
static void puffer_mlp_heads_loss_chunk(const PufferMLP* net, const PufferPPOBatch* b, const PufferPPOConfig* cfg,
                                        long chunk, const float* rows, float* d_rows, float* ws, float* grad,
                                        float* row_stats) {
    PUFFER_MLP_DISPATCH_TO(puffer_mlp_heads_loss_chunk,
                           PUFFER_MLP_ARGS(net, b, cfg, chunk, rows, d_rows, ws, grad, row_stats));
}

/* grad[p] = sum over chunks, in chunk order, of partials[c * num_params + p], for p in [begin, end). */
PUFFER_MLP_CLONES
static void puffer_mlp_sum_partials(const float* partials, long num_chunks, long num_params, long begin,
                                    long end, float* grad) {
    for (long p = begin; p < end; p++) grad[p] = partials[p];
    for (long c = 1; c < num_chunks; c++) {
        const float* part = partials + c * num_params;
        for (long p = begin; p < end; p++) grad[p] += part[p];
    }
}

/* The global L2 norm of the gradient, accumulated in double in 8 lanes (a fixed order). */
PUFFER_MLP_CLONES
static double puffer_mlp_grad_norm(const float* grad, long num_params) {
    typedef float v4f __attribute__((vector_size(16), aligned(4)));
    typedef double v4d __attribute__((vector_size(32)));
    v4d lo = {0.0, 0.0, 0.0, 0.0}, hi = {0.0, 0.0, 0.0, 0.0};
    long p = 0;
    for (; p + 8 <= num_params; p += 8) {
        v4d a = __builtin_convertvector(*(const v4f*)(grad + p), v4d);
        v4d b = __builtin_convertvector(*(const v4f*)(grad + p + 4), v4d);
        lo += a * a;
        hi += b * b;
    }
    double sq = ((lo[0] + hi[0]) + (lo[1] + hi[1])) + ((lo[2] + hi[2]) + (lo[3] + hi[3]));
    for (; p < num_params; p++) sq += (double)grad[p] * grad[p];
    return sqrt(sq);
}

/* The minibatch means of the loss terms over the count rows that count (masked-out rows hold zero terms
 * and ratio 1), accumulated in row order. */
static inline void puffer_mlp_summarize(const float* row_stats, long n, long count, float clip_coef,
                                        PufferPPOStats* s) {
    const float* pg = row_stats;
    const float* vl = row_stats + n;
    const float* ent = row_stats + 2 * n;
    const float* logratio = row_stats + 3 * n;
    const float* ratio = row_stats + 4 * n;
    double sums[6] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    for (long j = 0; j < n; j++) {
        sums[0] += pg[j];
        sums[1] += vl[j];
        sums[2] += ent[j];
        sums[3] += (ratio[j] - 1.0f) - logratio[j];
        sums[4] += -logratio[j];
        sums[5] += fabsf(ratio[j] - 1.0f) > clip_coef ? 1.0 : 0.0;
    }
    double c = count > 1 ? (double)count : 1.0;
    s->policy_loss = sums[0] / c;
    s->value_loss = 0.5 * sums[1] / c;
    s->entropy = sums[2] / c;
    s->approx_kl = sums[3] / c;
    s->old_approx_kl = sums[4] / c;
    s->clipfrac = sums[5] / c;
}

/* Adam on one contiguous tensor. The loop vectorises when sqrtf need not set errno: build with
 * -fno-math-errno (setup.py does; results are the same either way, sqrtf never sees a negative). */
PUFFER_MLP_INLINE void puffer_mlp_adam_tensor(float* restrict param, const float* restrict grad,
                                              float* restrict m, float* restrict v, long size, float scale,
                                              float beta1, float beta2, float step_size, float bc2_sqrt,
                                              float eps) {
    float one_minus_b1 = 1.0f - beta1, one_minus_b2 = 1.0f - beta2;
    for (long i = 0; i < size; i++) {
        float g = grad[i] * scale;
        m[i] = m[i] + one_minus_b1 * (g - m[i]);
        v[i] = v[i] * beta2 + one_minus_b2 * g * g;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        param[i] = param[i] - step_size * (m[i] / denom);
    }
}

/* Adam's step size lr / (1 - beta1^step) and sqrt(1 - beta2^step), as torch computes them. */
static inline void puffer_mlp_adam_scalars(long step, double lr, float beta1, float beta2, float* step_size,
                                           float* bc2_sqrt) {
    *step_size = (float)(lr / (1.0 - pow((double)beta1, (double)step)));
    *bc2_sqrt = (float)sqrt(1.0 - pow((double)beta2, (double)step));
}

/* One Adam step (torch.optim.Adam, no weight decay) with the gradient times `scale`, on every weight
 * and log_std.
 * m and v are flat num_params vectors laid out like the gradient; step is the count after this step. */
PUFFER_MLP_CLONES
static void puffer_mlp_adam(const PufferMLP* net, const float* grad, float scale, float* m, float* v,
                            long step, double lr, float beta1, float beta2, float eps) {
    float step_size, bc2_sqrt;
    puffer_mlp_adam_scalars(step, lr, beta1, beta2, &step_size, &bc2_sqrt);
    for (int t = 0; t < 2; t++) {
        for (int l = 0; l <= net->num_layers; l++) {
            long out = puffer_mlp_out_dim(net, t, l), count = out * puffer_mlp_in_dim(net, l);
            long off = net->param_offset[t][l];
            puffer_mlp_adam_tensor(net->weight[t][l], grad + off, m + off, v + off, count, scale, beta1,
                                   beta2, step_size, bc2_sqrt, eps);
            off += count;
            puffer_mlp_adam_tensor(net->bias[t][l], grad + off, m + off, v + off, out, scale, beta1, beta2,
                                   step_size, bc2_sqrt, eps);
        }
    }
    long off = net->log_std_offset;
    if (net->num_continuous) {
        puffer_mlp_adam_tensor(net->log_std, grad + off, m + off, v + off, net->num_continuous, scale, beta1,
                               beta2, step_size, bc2_sqrt, eps);
    }
}

#endif /* PUFFER_MLP_H */
