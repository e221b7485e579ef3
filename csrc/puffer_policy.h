/* puffer_policy.h: run a policy trained by pufferlib, exported with `puffer export ENV --format c`,
 * in plain C99 (libm only, no Python, no torch).
 *
 * The weights and the architecture are read at run time from the versioned binary file the
 * exporter writes beside this header (policy.bin; its layout is in docs/export.md and below), and
 * checked before use: a wrong magic or version, bytes that do not match the file's checksum
 * (damaged or truncated weights), a wrong architecture or tensor shape returns an error code with a
 * message, never a crash.
 *
 * The network, for an observation row o of D floats (uint8 observations are cast to float first,
 * unscaled), encoded as the trainer's obs_encoding says into x of F features:
 *   float:  x = o                                                               F = D
 *   scale:  x_i = o_i * obs_scale_i     (1 / the largest bound of element i)    F = D
 *   onehot: x_{i * n + v} = 1 where v = o_i - onehot_low is in [0, n), else 0   F = D * n
 * then either (MLP policies) towers of L hidden Linear layers of width H with activation act:
 *   a = actor(x) = act(W_{L-1} ... act(W_0 x + b_0) ... + b_{L-1})             [H]
 *   c = critic(x), the same shape with its own weights                          [H]
 *   z = [a, c]                                                                  [2H]
 *   LSTM policies only: (h, c') = lstm_cell(z, (h, c')), z = h, gates in torch's order i, f, g, o
 *   params = actor_head(z[0:H])     the logits of every discrete action entry, then the means of
 *                                   the continuous entries                      [P]
 *   value  = value_head(z[H:2H])                                                [1]
 * or (conv policies) a conv trunk: x as a channels-first image [C', h, w] (C' = C, or C * n for
 * onehot, channel c * n + v), the trunk's operations in order (conv2d, relu, maxpool, save / add
 * for residual blocks), flattened in channels-first order, then
 *   z = relu(trunk.weight x + trunk.bias)                                       [H]
 *   LSTM policies only: (h, c') = lstm_cell(z, (h, c')), z = h
 *   params = actor_head(z), value = value_head(z)
 *
 * Usage:
 *   PufferPolicy policy;
 *   if (puffer_policy_load(&policy, "policy.bin") != PUFFER_POLICY_OK) { puts(policy.error); ... }
 *   PufferPolicyState state;                     one per agent (it holds the LSTM state)
 *   puffer_policy_state_init(&policy, &state);
 *   for each step:
 *       if (episode_start) puffer_policy_state_reset(&policy, &state);
 *       puffer_policy_forward(&policy, &state, obs, params, &value);
 *       puffer_policy_mask(&policy, params, legal);           envs with action masks only
 *       puffer_policy_act(&policy, params, NULL, actions);    NULL: most likely actions
 *   puffer_policy_state_free(&state);
 *   puffer_policy_free(&policy);
 *
 * Nothing is global: one loaded policy can serve any number of threads, each with its own states.
 */
#ifndef PUFFER_POLICY_H
#define PUFFER_POLICY_H

#include <stddef.h>
#include <stdint.h>

#define PUFFER_POLICY_MAGIC "PUFFPOL"        /* 8 bytes in the file, with the terminating NUL */
#define PUFFER_POLICY_VERSION 4          /* 2: the file ends with a CRC-32 of its bytes; 3: the
                                                observation encoding; 4: conv trunks (versions 2 and
                                                3 still load) */
#define PUFFER_POLICY_MAX_LAYERS 16          /* hidden layers per tower */
#define PUFFER_POLICY_MAX_ENTRIES 256        /* action entries (MultiDiscrete dimensions, Box size) */
#define PUFFER_POLICY_MAX_WIDTH (1 << 16)    /* observation size, hidden width, action entry size */
#define PUFFER_POLICY_MAX_ONEHOT 256         /* values per observation element of a one-hot encoding */
#define PUFFER_POLICY_MAX_OPS 64             /* operations of a conv trunk */
#define PUFFER_POLICY_MAX_CHANNELS 4096      /* channels of any image in a conv trunk */
#define PUFFER_POLICY_MAX_KERNEL 64          /* conv and max-pool kernel and stride */
#define PUFFER_POLICY_MAX_IMAGE (1 << 24)    /* floats of any image in a conv trunk (channels x h x w) */

/* Return codes of puffer_policy_load / puffer_policy_load_memory / puffer_policy_state_init. */
enum {
    PUFFER_POLICY_OK = 0,
    PUFFER_POLICY_ERR_IO = -1,        /* the file could not be opened or read */
    PUFFER_POLICY_ERR_MAGIC = -2,     /* not a pufferlib policy file */
    PUFFER_POLICY_ERR_VERSION = -3,   /* a format version this code does not read */
    PUFFER_POLICY_ERR_FORMAT = -4,    /* bad architecture, tensor name or shape, truncated or too long */
    PUFFER_POLICY_ERR_MEMORY = -5,    /* out of memory */
    PUFFER_POLICY_ERR_CHECKSUM = -6   /* the bytes do not match the file's CRC-32: damaged or truncated */
};

enum { PUFFER_POLICY_RELU = 0, PUFFER_POLICY_TANH = 1 };

/* How an observation row becomes the towers' input (the trainer's policy.obs_encoding). */
enum { PUFFER_POLICY_FLOAT = 0, PUFFER_POLICY_SCALE = 1, PUFFER_POLICY_ONEHOT = 2 };

/* The operations of a conv trunk, as the file codes them. */
enum {
    PUFFER_POLICY_CONV = 0,      /* conv2d: out_channels, square kernel, stride, zero padding */
    PUFFER_POLICY_OP_RELU = 1,
    PUFFER_POLICY_MAXPOOL = 2,   /* kernel, stride, padding (padded cells never win) */
    PUFFER_POLICY_SAVE = 3,      /* keeps the image for the next ADD (a residual block's input) */
    PUFFER_POLICY_ADD = 4        /* adds the image SAVE kept */
};

typedef struct PufferPolicyOp {
    int kind, channels, kernel, stride, padding;   /* from the file (channels: a conv's out_channels) */
    int in_channels, in_height, in_width;          /* the image it reads, and the one it writes */
    int out_channels, out_height, out_width;
    const float* weight;                           /* conv: [out_channels x in_channels x kernel x kernel] */
    const float* bias;                             /* conv: [out_channels] */
} PufferPolicyOp;

typedef struct PufferPolicy {
    /* the architecture, from the file */
    int obs_size;          /* D: floats per observation row */
    int encoding;          /* PUFFER_POLICY_FLOAT, _SCALE or _ONEHOT */
    int onehot_low;        /* the value one-hot index 0 stands for (onehot only) */
    int onehot_values;     /* n: values per element (onehot only) */
    int features;          /* F: the towers' input width (D, or D * n for onehot) */
    int hidden;            /* H: width of each tower's hidden layers, or of the conv trunk's output */
    int num_layers;        /* L: hidden layers per tower (0 for a conv trunk) */
    int activation;        /* PUFFER_POLICY_RELU or PUFFER_POLICY_TANH */
    int lstm;              /* 1: an LSTM of width 2H (H after a conv trunk) sits before the heads */
    int conv;              /* 1: a conv trunk instead of the MLP towers */
    int height, width, image_channels;  /* the conv trunk's input image, (height, width, channels) */
    int num_ops;
    PufferPolicyOp ops[PUFFER_POLICY_MAX_OPS];
    size_t image_floats;   /* the largest image of the conv trunk */
    int flat;              /* the floats of the trunk's last image: trunk.weight's columns */
    int num_entries;       /* k: action entries (1 for Discrete) */
    int32_t* nvec;         /* [k] categories of each entry, 0 for a continuous one */
    float* low;            /* [k] bounds of continuous entries (unused for discrete ones) */
    float* high;           /* [k] */
    int num_params;        /* P: logits of the discrete entries, then one mean per continuous entry */
    int num_continuous;    /* entries with nvec 0 */
    int discrete;          /* 1: every entry is discrete, actions are int32; 0: actions are float32 */
    int state_size;        /* 2H (H after a conv trunk) floats each in h and c for LSTM policies, else 0 */
    /* the weights, torch's nn.Linear layout (out x in, row-major), all in one allocation */
    const float* weight[2][PUFFER_POLICY_MAX_LAYERS];   /* [tower 0 actor, 1 critic][layer] */
    const float* bias[2][PUFFER_POLICY_MAX_LAYERS];
    const float* trunk_weight;     /* [H x flat] the conv trunk's linear layer */
    const float* trunk_bias;       /* [H] */
    const float* lstm_weight_ih;   /* [4S x S], S = state_size */
    const float* lstm_weight_hh;   /* [4S x S] */
    const float* lstm_bias_ih;     /* [4S] */
    const float* lstm_bias_hh;     /* [4S] */
    const float* actor_head_weight;  /* [P x H] */
    const float* actor_head_bias;    /* [P] */
    const float* value_head_weight;  /* [1 x H] */
    const float* value_head_bias;    /* [1] */
    const float* log_std;            /* [num_continuous] learned log standard deviations, or NULL */
    const float* obs_scale;          /* [D] per-element factors of the scale encoding, or NULL */
    float* data;                     /* owns every array above */
    char error[256];                 /* why the last call failed */
} PufferPolicy;

/* Per-agent state: the LSTM's (h, c) and the scratch space of one forward pass. */
typedef struct PufferPolicyState {
    float* h;      /* [state_size] */
    float* c;      /* [state_size] */
    float* work;
} PufferPolicyState;

/* Reads and checks a policy file. On failure returns a negative code, writes policy->error and
 * leaves nothing allocated (puffer_policy_free is still safe to call). */
int puffer_policy_load(PufferPolicy* policy, const char* path);

/* The same, from `size` bytes already in memory (the bytes are copied). */
int puffer_policy_load_memory(PufferPolicy* policy, const void* bytes, size_t size);

void puffer_policy_free(PufferPolicy* policy);

/* Allocates a state with zero (h, c); returns PUFFER_POLICY_OK or PUFFER_POLICY_ERR_MEMORY. */
int puffer_policy_state_init(const PufferPolicy* policy, PufferPolicyState* state);

/* Zeroes (h, c): call it at every episode start, before the forward pass of its first step. */
void puffer_policy_state_reset(const PufferPolicy* policy, PufferPolicyState* state);

void puffer_policy_state_free(PufferPolicyState* state);

/* One step for one observation row: writes params[num_params] and *value, and advances the
 * LSTM state of recurrent policies. */
void puffer_policy_forward(const PufferPolicy* policy, PufferPolicyState* state, const float* obs,
                           float* params, float* value);

/* For an environment with action masks: sets the logits of illegal choices in params (from
 * puffer_policy_forward) to -1e9, so that puffer_policy_act never takes them, as the trainer's
 * policy does. legal[k] != 0 when logit k (k < num_params - num_continuous: the choices of every
 * discrete entry, in order, as the env's action_masks row) is a legal choice. */
void puffer_policy_mask(const PufferPolicy* policy, float* params, const uint8_t* legal);

/* Actions from the parameters of puffer_policy_forward, in the environment's layout: int32[k]
 * when every entry is discrete (policy->discrete), else float32[k] (discrete entries as whole
 * numbers). Discrete entries take their most likely category when uniforms is NULL, else sample
 * it from the softmax of their logits by inverse CDF with uniforms[j] in [0, 1), one per discrete
 * entry j in order (the trainer's own sampling). Continuous entries take their mean, clipped to
 * [low, high]. */
void puffer_policy_act(const PufferPolicy* policy, const float* params, const float* uniforms,
                       void* actions);

#endif /* PUFFER_POLICY_H */
