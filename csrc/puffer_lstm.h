/* puffer_lstm.h: a single-layer LSTM over [B, T] sequences on the CPU, forward and backward through
 * time, with the state reset where an episode starts inside a sequence.
 *
 * The layer, in torch terms (nn.LSTM's layout and gate order i, f, g, o; W_ih: (4H, IN), W_hh: (4H, H),
 * b_ih, b_hh: (4H,), float32, row-major), for each row b and step t = 0 .. T-1:
 *   keep = 1 - starts[b, t]                         (the state is zeroed before an episode's first step)
 *   h, c = h * keep, c * keep                       (h, c = h0[b], c0[b] before step 0)
 *   i, f, g, o = (x[b, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4)
 *   i, f, g, o = sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
 *   c = f * c + i * g;  h = o * tanh(c);  out[b, t] = h
 * and (h_n, c_n) = the state after step T-1: `torch.lstm_cell` stepped over t with the resets. The
 * forward pass keeps the gates after their activations and every cell state; the backward pass reads
 * them (and the outputs) to give d_x, d_h0, d_c0 and the weight gradients from d_out (and d_h_n, d_c_n).
 * The bias gradient is the same for b_ih and b_hh. sigmoid(x) is computed as 0.5 + 0.5 tanh(x / 2) with
 * puffer_mlp.h's vector tanh (about 2e-7 relative), so results match torch up to float32 rounding.
 *
 * Work is cache-friendly: the input projection of all T steps of a chunk is one matrix product, each
 * step then adds only its (rows x H) @ (H x 4H) recurrent product; the backward pass builds the gate
 * gradients step by step and forms d_x and the weight gradients as three large products at the end.
 * Rows are processed in chunks of PUFFER_LSTM_CHUNK (a constant, not the thread count): forward rows
 * are independent, and each chunk writes its own weight-gradient partial, which the caller sums in
 * chunk order (puffer_mlp_sum_partials), so results are bit-identical whatever the number of threads.
 * The products are register-tiled in GNU C vectors; the chunk functions are compiled for AVX-512 (wider
 * tiles), AVX2 + FMA and any x86-64, and puffer_mlp.h's puffer_mlp_isa() picks one at run time (they
 * differ by float rounding only).
 *
 * No allocation: the caller passes a shared buffer of shared_floats (filled once per forward call by
 * puffer_lstm_prepare), a workspace of workspace_floats per thread and, for the backward pass, a
 * partial of num_params floats per chunk. Pure C; a caller parallelises the chunk loop (the Cython
 * binding pufferlib/_native/lstm.pyx uses OpenMP's prange).
 */
#ifndef PUFFER_LSTM_H
#define PUFFER_LSTM_H

#include "puffer_mlp.h"   /* the vector types and tanh, the instruction-set dispatch, puffer_mlp_sum_partials */

#define PUFFER_LSTM_CHUNK 16   /* rows per chunk; fixed, so results do not depend on the threads */

typedef struct PufferLSTM {
    /* set by the caller */
    int batch;                  /* B sequences */
    int horizon;                /* T steps each */
    int input;                  /* I */
    int hidden;                 /* H */
    const float* weight_ih;     /* (4H, I) */
    const float* weight_hh;     /* (4H, H) */
    const float* bias_ih;       /* (4H,) */
    const float* bias_hh;       /* (4H,) */
    /* set by puffer_lstm_layout */
    long num_chunks;
    long num_params;            /* a flat gradient: d_weight_ih (4H*I), d_weight_hh (4H*H), d_bias (4H) */
    long shared_floats;
    long workspace_floats;
    long sh_wih_t, sh_whh_t, sh_bias;                                  /* offsets in the shared buffer */
    long ws_h, ws_c, ws_tmp, ws_dgates, ws_hprev;         /* offsets in a workspace */
} PufferLSTM;

/* The sequences and results of one call (row-major, float32). Backward fields are unused by forward. */
typedef struct PufferLSTMData {
    const float* x;             /* (B, T, I) */
    const float* h0;            /* (B, H) */
    const float* c0;            /* (B, H) */
    const float* starts;        /* (B, T): 1 where an episode starts (the state is multiplied by 1 - starts) */
    float* out;                 /* (B, T, H) */
    float* h_n;                 /* (B, H) */
    float* c_n;                 /* (B, H) */
    float* gates;               /* (B, T, 4H): i, f, g, o after their activations */
    float* cells;               /* (B, T, H): c after each step */
    const float* d_out;         /* (B, T, H) */
    const float* d_h_n;         /* (B, H), or NULL for zeros */
    const float* d_c_n;         /* (B, H), or NULL for zeros */
    float* d_x;                 /* (B, T, I) */
    float* d_h0;                /* (B, H), or NULL when not wanted */
    float* d_c0;                /* (B, H), or NULL when not wanted */
} PufferLSTMData;

PUFFER_MLP_INLINE long puffer_lstm_round16(long n) { return (n + 15) & ~15L; }

/* Fills the derived fields (sizes and offsets) from batch, horizon, input and hidden. (The input size is
 * IN in code, not I: complex.h, which Cython's modules include, defines I as a macro.) */
static inline void puffer_lstm_layout(PufferLSTM* net) {
    const long R = PUFFER_LSTM_CHUNK, T = net->horizon, IN = net->input, H = net->hidden, G = 4 * H;
    net->num_chunks = (net->batch + R - 1) / R;
    net->num_params = G * IN + G * H + G;
    long s = 0;
    net->sh_wih_t = s; s += puffer_lstm_round16(IN * G);
    net->sh_whh_t = s; s += puffer_lstm_round16(H * G);
    net->sh_bias = s;  s += puffer_lstm_round16(G);
    net->shared_floats = s;
    long w = 0;
    net->ws_h = w;        w += puffer_lstm_round16(R * H);
    net->ws_c = w;        w += puffer_lstm_round16(R * H);
    net->ws_tmp = w;      w += puffer_lstm_round16(H);
    net->ws_dgates = w;   w += puffer_lstm_round16(R * T * G);
    net->ws_hprev = w;    w += puffer_lstm_round16(R * T * H);
    net->workspace_floats = w;
}

/* out (cols, rows) = in (rows, cols) transposed, in 16 x 16 blocks: a row-by-row copy would write with a
 * stride of a power of two and keep evicting its own cache lines. */
static inline void puffer_lstm_transpose(const float* in, long rows, long cols, float* out) {
    for (long r0 = 0; r0 < rows; r0 += 16) {
        long r1 = r0 + 16 < rows ? r0 + 16 : rows;
        for (long c0 = 0; c0 < cols; c0 += 16) {
            long c1 = c0 + 16 < cols ? c0 + 16 : cols;
            for (long c = c0; c < c1; c++) {
                for (long r = r0; r < r1; r++) out[c * rows + r] = in[r * cols + c];
            }
        }
    }
}

/* The transposed weights (W_ih.T: (I, 4H), W_hh.T: (H, 4H)) and b_ih + b_hh, into the shared buffer. */
static void puffer_lstm_prepare(const PufferLSTM* net, float* shared) {
    const long IN = net->input, H = net->hidden, G = 4 * H;
    puffer_lstm_transpose(net->weight_ih, G, IN, shared + net->sh_wih_t);
    puffer_lstm_transpose(net->weight_hh, G, H, shared + net->sh_whh_t);
    for (long j = 0; j < G; j++) shared[net->sh_bias + j] = net->bias_ih[j] + net->bias_hh[j];
}

/* C[m, n] = init + sum_k A[m * ars + k * acs] * B[k * ldb + n] for m < M, n < N, with init = C[m, n]
 * when accumulate, else bias[n] (bias may be NULL for 0). A's strides let it be read transposed (ars = 1).
 * Summed in k order. Register tile: 4 rows of C by 32 columns in 16-float vectors when wide (AVX-512),
 * else by 16 columns in 8-float ones; a panel of B is reused by every row before the next one. */
PUFFER_MLP_INLINE void puffer_lstm_gemm(int wide, int M, int N, int K, const float* A, long ars, long acs,
                                        const float* B, long ldb, float* C, long ldc, const float* bias,
                                        int accumulate) {
    int n0 = 0;
    for (; wide && n0 + 32 <= N; n0 += 32) {
        puffer_v16f z0 = (puffer_v16f){0}, z1 = (puffer_v16f){0};
        if (bias) { z0 = PUFFER_LOAD16(bias + n0); z1 = PUFFER_LOAD16(bias + n0 + 16); }
        int m = 0;
        for (; m + 8 <= M; m += 8) {   /* 16 accumulators: enough in flight to keep both FMA units busy */
            float* c = C + (long)m * ldc + n0;
#define PUFFER_LSTM_ROW(r) \
            puffer_v16f c##r##0 = accumulate ? PUFFER_LOAD16(c + r * ldc) : z0; \
            puffer_v16f c##r##1 = accumulate ? PUFFER_LOAD16(c + r * ldc + 16) : z1;
            PUFFER_LSTM_ROW(0) PUFFER_LSTM_ROW(1) PUFFER_LSTM_ROW(2) PUFFER_LSTM_ROW(3)
            PUFFER_LSTM_ROW(4) PUFFER_LSTM_ROW(5) PUFFER_LSTM_ROW(6) PUFFER_LSTM_ROW(7)
#undef PUFFER_LSTM_ROW
            const float* a = A + (long)m * ars;
            for (int k = 0; k < K; k++) {
                const float* b = B + (long)k * ldb + n0;
                puffer_v16f b0 = PUFFER_LOAD16(b), b1 = PUFFER_LOAD16(b + 16);
                const float* ak = a + (long)k * acs;
#define PUFFER_LSTM_FMA(r) { float ar = ak[r * ars]; c##r##0 += ar * b0; c##r##1 += ar * b1; }
                PUFFER_LSTM_FMA(0) PUFFER_LSTM_FMA(1) PUFFER_LSTM_FMA(2) PUFFER_LSTM_FMA(3)
                PUFFER_LSTM_FMA(4) PUFFER_LSTM_FMA(5) PUFFER_LSTM_FMA(6) PUFFER_LSTM_FMA(7)
#undef PUFFER_LSTM_FMA
            }
#define PUFFER_LSTM_STORE(r) PUFFER_STORE16(c + r * ldc, c##r##0); PUFFER_STORE16(c + r * ldc + 16, c##r##1);
            PUFFER_LSTM_STORE(0) PUFFER_LSTM_STORE(1) PUFFER_LSTM_STORE(2) PUFFER_LSTM_STORE(3)
            PUFFER_LSTM_STORE(4) PUFFER_LSTM_STORE(5) PUFFER_LSTM_STORE(6) PUFFER_LSTM_STORE(7)
#undef PUFFER_LSTM_STORE
        }
        for (; m + 4 <= M; m += 4) {
            float* c = C + (long)m * ldc + n0;
            puffer_v16f c00 = z0, c01 = z1, c10 = z0, c11 = z1, c20 = z0, c21 = z1, c30 = z0, c31 = z1;
            if (accumulate) {
                c00 = PUFFER_LOAD16(c); c01 = PUFFER_LOAD16(c + 16);
                c10 = PUFFER_LOAD16(c + ldc); c11 = PUFFER_LOAD16(c + ldc + 16);
                c20 = PUFFER_LOAD16(c + 2 * ldc); c21 = PUFFER_LOAD16(c + 2 * ldc + 16);
                c30 = PUFFER_LOAD16(c + 3 * ldc); c31 = PUFFER_LOAD16(c + 3 * ldc + 16);
            }
            const float* a = A + (long)m * ars;
            for (int k = 0; k < K; k++) {
                const float* b = B + (long)k * ldb + n0;
                puffer_v16f b0 = PUFFER_LOAD16(b), b1 = PUFFER_LOAD16(b + 16);
                const float* ak = a + (long)k * acs;
                float a0 = ak[0], a1 = ak[ars], a2 = ak[2 * ars], a3 = ak[3 * ars];
                c00 += a0 * b0; c01 += a0 * b1;
                c10 += a1 * b0; c11 += a1 * b1;
                c20 += a2 * b0; c21 += a2 * b1;
                c30 += a3 * b0; c31 += a3 * b1;
            }
            PUFFER_STORE16(c, c00); PUFFER_STORE16(c + 16, c01);
            PUFFER_STORE16(c + ldc, c10); PUFFER_STORE16(c + ldc + 16, c11);
            PUFFER_STORE16(c + 2 * ldc, c20); PUFFER_STORE16(c + 2 * ldc + 16, c21);
            PUFFER_STORE16(c + 3 * ldc, c30); PUFFER_STORE16(c + 3 * ldc + 16, c31);
        }
        for (; m < M; m++) {
            float* c = C + (long)m * ldc + n0;
            puffer_v16f c00 = z0, c01 = z1;
            if (accumulate) { c00 = PUFFER_LOAD16(c); c01 = PUFFER_LOAD16(c + 16); }
            const float* a = A + (long)m * ars;
            for (int k = 0; k < K; k++) {
                const float* b = B + (long)k * ldb + n0;
                float ak = a[(long)k * acs];
                c00 += ak * PUFFER_LOAD16(b);
                c01 += ak * PUFFER_LOAD16(b + 16);
            }
            PUFFER_STORE16(c, c00); PUFFER_STORE16(c + 16, c01);
        }
    }
    for (; n0 + 16 <= N; n0 += 16) {
        puffer_v8f z0 = (puffer_v8f){0}, z1 = (puffer_v8f){0};
        if (bias) { z0 = PUFFER_LOAD8(bias + n0); z1 = PUFFER_LOAD8(bias + n0 + 8); }
        int m = 0;
        for (; m + 4 <= M; m += 4) {
            float* c = C + (long)m * ldc + n0;
            puffer_v8f c00 = z0, c01 = z1, c10 = z0, c11 = z1, c20 = z0, c21 = z1, c30 = z0, c31 = z1;
            if (accumulate) {
                c00 = PUFFER_LOAD8(c); c01 = PUFFER_LOAD8(c + 8);
                c10 = PUFFER_LOAD8(c + ldc); c11 = PUFFER_LOAD8(c + ldc + 8);
                c20 = PUFFER_LOAD8(c + 2 * ldc); c21 = PUFFER_LOAD8(c + 2 * ldc + 8);
                c30 = PUFFER_LOAD8(c + 3 * ldc); c31 = PUFFER_LOAD8(c + 3 * ldc + 8);
            }
            const float* a = A + (long)m * ars;
            for (int k = 0; k < K; k++) {
                const float* b = B + (long)k * ldb + n0;
                puffer_v8f b0 = PUFFER_LOAD8(b), b1 = PUFFER_LOAD8(b + 8);
                const float* ak = a + (long)k * acs;
                float a0 = ak[0], a1 = ak[ars], a2 = ak[2 * ars], a3 = ak[3 * ars];
                c00 += a0 * b0; c01 += a0 * b1;
                c10 += a1 * b0; c11 += a1 * b1;
                c20 += a2 * b0; c21 += a2 * b1;
                c30 += a3 * b0; c31 += a3 * b1;
            }
            PUFFER_STORE8(c, c00); PUFFER_STORE8(c + 8, c01);
            PUFFER_STORE8(c + ldc, c10); PUFFER_STORE8(c + ldc + 8, c11);
            PUFFER_STORE8(c + 2 * ldc, c20); PUFFER_STORE8(c + 2 * ldc + 8, c21);
            PUFFER_STORE8(c + 3 * ldc, c30); PUFFER_STORE8(c + 3 * ldc + 8, c31);
        }
        for (; m < M; m++) {
            float* c = C + (long)m * ldc + n0;
            puffer_v8f c00 = z0, c01 = z1;
            if (accumulate) { c00 = PUFFER_LOAD8(c); c01 = PUFFER_LOAD8(c + 8); }
            const float* a = A + (long)m * ars;
            for (int k = 0; k < K; k++) {
                const float* b = B + (long)k * ldb + n0;
                float ak = a[(long)k * acs];
                c00 += ak * PUFFER_LOAD8(b);
                c01 += ak * PUFFER_LOAD8(b + 8);
            }
            PUFFER_STORE8(c, c00); PUFFER_STORE8(c + 8, c01);
        }
    }
    for (int m = 0; m < M && n0 < N; m++) {   /* the last N % 16 columns */
        const float* a = A + (long)m * ars;
        float* c = C + (long)m * ldc;
        for (int n = n0; n < N; n++) {
            float s = accumulate ? c[n] : (bias ? bias[n] : 0.0f);
            for (int k = 0; k < K; k++) s += a[(long)k * acs] * B[(long)k * ldb + n];
            c[n] = s;
        }
    }
}

/* puffer_lstm_forward_chunk (below), for one instruction set. */
PUFFER_MLP_INLINE void puffer_lstm_forward_chunk_impl(int wide, const PufferLSTM* net, const PufferLSTMData* d,
                                                      const float* shared, long chunk, float* ws) {
    const int T = net->horizon, IN = net->input, H = net->hidden, G = 4 * H;
    const long first = chunk * PUFFER_LSTM_CHUNK;
    const int R = (int)(net->batch - first < PUFFER_LSTM_CHUNK ? net->batch - first : PUFFER_LSTM_CHUNK);
    float* h = ws + net->ws_h;
    float* c = ws + net->ws_c;
    float* tc = ws + net->ws_tmp;
    float* gates = d->gates + first * T * G;     /* row r, step t at (r * T + t) * G */
    const float* whh_t = shared + net->sh_whh_t;
    /* the input projection of every step at once, biases included */
    puffer_lstm_gemm(wide, R * T, G, IN, d->x + first * T * IN, IN, 1, shared + net->sh_wih_t, G, gates, G,
                     shared + net->sh_bias, 0);
    memcpy(h, d->h0 + first * H, sizeof(float) * R * H);
    memcpy(c, d->c0 + first * H, sizeof(float) * R * H);
    for (int t = 0; t < T; t++) {
        for (int r = 0; r < R; r++) {
            float keep = 1.0f - d->starts[(first + r) * T + t];
            for (int j = 0; j < H; j++) { h[r * H + j] *= keep; c[r * H + j] *= keep; }
        }
        float* gt = gates + (long)t * G;
        puffer_lstm_gemm(wide, R, G, H, h, H, 1, whh_t, G, gt, (long)T * G, NULL, 1);
        for (int r = 0; r < R; r++) {
            float* g = gt + (long)r * T * G;
            float* cr = c + r * H;
            float* hr = h + r * H;
            long row = (first + r) * T + t;
            for (int j = 0; j < 2 * H; j++) g[j] *= 0.5f;          /* sigmoid(x) = 0.5 + 0.5 tanh(x / 2) */
            for (int j = 3 * H; j < G; j++) g[j] *= 0.5f;
            puffer_mlp_tanh_array_impl(g, g, G);
            for (int j = 0; j < 2 * H; j++) g[j] = 0.5f + 0.5f * g[j];
            for (int j = 3 * H; j < G; j++) g[j] = 0.5f + 0.5f * g[j];
            for (int j = 0; j < H; j++) cr[j] = g[H + j] * cr[j] + g[j] * g[2 * H + j];
            memcpy(d->cells + row * H, cr, sizeof(float) * H);
            puffer_mlp_tanh_array_impl(cr, tc, H);
            float* out = d->out + row * H;
            for (int j = 0; j < H; j++) { hr[j] = g[3 * H + j] * tc[j]; out[j] = hr[j]; }
        }
    }
    memcpy(d->h_n + first * H, h, sizeof(float) * R * H);
    memcpy(d->c_n + first * H, c, sizeof(float) * R * H);
}

/* puffer_lstm_backward_chunk (below), for one instruction set. */
PUFFER_MLP_INLINE void puffer_lstm_backward_chunk_impl(int wide, const PufferLSTM* net, const PufferLSTMData* d,
                                                       long chunk, float* ws, float* partial) {
    const int T = net->horizon, IN = net->input, H = net->hidden, G = 4 * H;
    const long first = chunk * PUFFER_LSTM_CHUNK;
    const int R = (int)(net->batch - first < PUFFER_LSTM_CHUNK ? net->batch - first : PUFFER_LSTM_CHUNK);
    const int N = R * T;                          /* the chunk's (row, step) pairs, row-major */
    float* dh = ws + net->ws_h;
    float* dc = ws + net->ws_c;
    float* tc = ws + net->ws_tmp;
    float* dgates = ws + net->ws_dgates;          /* (N, G) */
    float* hprev = ws + net->ws_hprev;            /* (N, H): the (reset) h each step started from */
    const float* starts = d->starts + first * T;
    if (d->d_h_n) memcpy(dh, d->d_h_n + first * H, sizeof(float) * R * H);
    else memset(dh, 0, sizeof(float) * R * H);
    if (d->d_c_n) memcpy(dc, d->d_c_n + first * H, sizeof(float) * R * H);
    else memset(dc, 0, sizeof(float) * R * H);
    for (int t = T - 1; t >= 0; t--) {
        for (int r = 0; r < R; r++) {
            long n = (long)r * T + t, row = first * T + n;
            float keep = 1.0f - starts[n];
            const float* g = d->gates + row * G;
            const float* cell = d->cells + row * H;
            const float* cprev = t ? d->cells + (row - 1) * H : d->c0 + (first + r) * H;
            const float* dout = d->d_out + row * H;
            float* dg = dgates + n * G;
            float* dhr = dh + r * H;
            float* dcr = dc + r * H;
            puffer_mlp_tanh_array_impl(cell, tc, H);
            for (int j = 0; j < H; j++) {
                float i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j];
                float dhj = dhr[j] + dout[j];
                float dcj = dcr[j] + dhj * o * (1.0f - tc[j] * tc[j]);
                dg[j] = dcj * gg * i * (1.0f - i);
                dg[H + j] = dcj * (cprev[j] * keep) * f * (1.0f - f);
                dg[2 * H + j] = dcj * i * (1.0f - gg * gg);
                dg[3 * H + j] = dhj * tc[j] * o * (1.0f - o);
                dcr[j] = dcj * f * keep;
            }
        }
        /* dh of the step before: (dgates_t @ W_hh) * keep */
        puffer_lstm_gemm(wide, R, H, G, dgates + (long)t * G, (long)T * G, 1, net->weight_hh, H, dh, H, NULL, 0);
        for (int r = 0; r < R; r++) {
            float keep = 1.0f - starts[(long)r * T + t];
            for (int j = 0; j < H; j++) dh[r * H + j] *= keep;
        }
    }
    if (d->d_h0) memcpy(d->d_h0 + first * H, dh, sizeof(float) * R * H);
    if (d->d_c0) memcpy(d->d_c0 + first * H, dc, sizeof(float) * R * H);
    /* d_x = dgates @ W_ih */
    puffer_lstm_gemm(wide, N, IN, G, dgates, G, 1, net->weight_ih, IN, d->d_x + first * T * IN, IN, NULL, 0);
    for (int r = 0; r < R; r++) {
        for (int t = 0; t < T; t++) {
            long n = (long)r * T + t;
            float keep = 1.0f - starts[n];
            const float* src = t ? d->out + (first * T + n - 1) * H : d->h0 + (first + r) * H;
            for (int j = 0; j < H; j++) hprev[n * H + j] = src[j] * keep;
        }
    }
    /* d_weight_ih = dgates.T @ x, d_weight_hh = dgates.T @ hprev (dgates read transposed), d_bias =
     * dgates summed over the chunk's (row, step) pairs in order */
    puffer_lstm_gemm(wide, G, IN, N, dgates, 1, G, d->x + first * T * IN, IN, partial, IN, NULL, 0);
    puffer_lstm_gemm(wide, G, H, N, dgates, 1, G, hprev, H, partial + (long)G * IN, H, NULL, 0);
    float* dbias = partial + (long)G * IN + (long)G * H;
    memcpy(dbias, dgates, sizeof(float) * G);
    for (int n = 1; n < N; n++) {
        for (int j = 0; j < G; j++) dbias[j] += dgates[(long)n * G + j];
    }
}


/* The chunk functions, compiled for AVX-512 (wide tiles), AVX2+FMA and any x86-64 and chosen at run time
 * by puffer_mlp.h's puffer_mlp_isa(); elsewhere, one portable version. */
#ifdef PUFFER_MLP_DISPATCH
__attribute__((target("arch=x86-64-v4")))
static void puffer_lstm_forward_chunk_v4(const PufferLSTM* net, const PufferLSTMData* d, const float* shared,
                                         long chunk, float* ws) {
    puffer_lstm_forward_chunk_impl(1, net, d, shared, chunk, ws);
}
__attribute__((target("arch=x86-64-v3")))
static void puffer_lstm_forward_chunk_v3(const PufferLSTM* net, const PufferLSTMData* d, const float* shared,
                                         long chunk, float* ws) {
    puffer_lstm_forward_chunk_impl(0, net, d, shared, chunk, ws);
}
__attribute__((target("arch=x86-64-v4")))
static void puffer_lstm_backward_chunk_v4(const PufferLSTM* net, const PufferLSTMData* d, long chunk, float* ws,
                                          float* partial) {
    puffer_lstm_backward_chunk_impl(1, net, d, chunk, ws, partial);
}
__attribute__((target("arch=x86-64-v3")))
static void puffer_lstm_backward_chunk_v3(const PufferLSTM* net, const PufferLSTMData* d, long chunk, float* ws,
                                          float* partial) {
    puffer_lstm_backward_chunk_impl(0, net, d, chunk, ws, partial);
}
#endif

/* Forward over the rows of chunk `chunk` (rows [chunk * CHUNK, min(B, (chunk + 1) * CHUNK))): their
 * out, h_n, c_n, gates and cells. `shared` is what puffer_lstm_prepare wrote; ws is workspace_floats. */
static void puffer_lstm_forward_chunk(const PufferLSTM* net, const PufferLSTMData* d, const float* shared,
                                      long chunk, float* ws) {
#ifdef PUFFER_MLP_DISPATCH
    int isa = puffer_mlp_isa();
    if (isa == 4) { puffer_lstm_forward_chunk_v4(net, d, shared, chunk, ws); return; }
    if (isa == 3) { puffer_lstm_forward_chunk_v3(net, d, shared, chunk, ws); return; }
#endif
    puffer_lstm_forward_chunk_impl(0, net, d, shared, chunk, ws);
}

/* Backward through time over the rows of one chunk: d_x (and d_h0, d_c0 where wanted) of its rows, and
 * the chunk's weight-gradient partial (num_params floats: d_weight_ih, d_weight_hh, d_bias). Reads the
 * gates, cells and out the forward pass wrote. */
static void puffer_lstm_backward_chunk(const PufferLSTM* net, const PufferLSTMData* d, long chunk, float* ws,
                                       float* partial) {
#ifdef PUFFER_MLP_DISPATCH
    int isa = puffer_mlp_isa();
    if (isa == 4) { puffer_lstm_backward_chunk_v4(net, d, chunk, ws, partial); return; }
    if (isa == 3) { puffer_lstm_backward_chunk_v3(net, d, chunk, ws, partial); return; }
#endif
    puffer_lstm_backward_chunk_impl(0, net, d, chunk, ws, partial);
}

/* The flat gradient of a recurrent policy's LSTM: d_weight_ih, d_weight_hh, then d_bias_ih and d_bias_hh
 * (two equal copies: torch's grad-norm clip counts both, and Adam steps both). */
PUFFER_MLP_INLINE long puffer_lstm_grad_floats(const PufferLSTM* net) { return net->num_params + 4L * net->hidden; }

/* One Adam step (torch.optim.Adam, no weight decay) with the gradient times `scale` on the four weights,
 * grad, m and v laid out as puffer_lstm_grad_floats says; step is the count after this step. */
PUFFER_MLP_CLONES
static void puffer_lstm_adam(const PufferLSTM* net, float* weight_ih, float* weight_hh, float* bias_ih,
                             float* bias_hh, const float* grad, float scale, float* m, float* v, long step,
                             double lr, float beta1, float beta2, float eps) {
    const long G = 4L * net->hidden;
    float* params[4] = {weight_ih, weight_hh, bias_ih, bias_hh};
    const long sizes[4] = {G * net->input, G * net->hidden, G, G};
    float step_size, bc2_sqrt;
    puffer_mlp_adam_scalars(step, lr, beta1, beta2, &step_size, &bc2_sqrt);
    long off = 0;
    for (int i = 0; i < 4; i++) {
        puffer_mlp_adam_tensor(params[i], grad + off, m + off, v + off, sizes[i], scale, beta1, beta2, step_size,
                               bc2_sqrt, eps);
        off += sizes[i];
    }
}

#endif
