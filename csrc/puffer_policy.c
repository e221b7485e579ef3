/* puffer_policy.c: loading and running an exported pufferlib policy (see puffer_policy.h).
 *
 * The file, every number little-endian (docs/export.md has the same table):
 *   char     magic[8]        "PUFFPOL\0"
 *   uint32   version         PUFFER_POLICY_VERSION
 *   uint32   obs_size D, hidden H, num_layers L, activation (0 relu, 1 tanh), lstm (0 or 1)
 *   uint32   num_entries k
 *   int32    nvec[k]         categories per action entry, 0 for continuous entries
 *   float32  low[k], high[k] bounds of the continuous entries
 *   uint32   encoding (0 float, 1 scale, 2 onehot), int32 onehot_low, uint32 onehot_values n
 *            (versions 3 and 4: a version 2 file has none of the three and means float)
 *   uint32   trunk (0 MLP towers, 1 conv; version 4 only: older files are MLPs), and for a conv trunk
 *            uint32 height h, width w, channels C of the observation image, num_ops, then per op
 *            uint32 kind (PUFFER_POLICY_CONV, ...), out_channels, kernel, stride, padding
 *   uint32   num_tensors
 *   then each tensor: uint32 name_length, the name's bytes (no NUL), uint32 rank, uint32 shape[rank],
 *   float32 values[prod(shape)] (row-major), in this order and with these shapes (P = logits + means):
 *     conv.{j}.weight [out, in, k, k], conv.{j}.bias [out]  per conv op j, in order  (conv trunk only)
 *     trunk.weight [H, flat], trunk.bias [H]                                      (conv trunk only)
 *     actor.{l}.weight [H, F or H], actor.{l}.bias [H]      for l = 0 .. L-1 (F = D, or D * n for onehot)
 *     critic.{l}.weight, critic.{l}.bias                      the same              (MLP towers only)
 *     lstm.weight_ih [4S, S], lstm.weight_hh [4S, S], lstm.bias_ih [4S], lstm.bias_hh [4S]  (lstm only;
 *                                                          S = 2H after MLP towers, H after a conv trunk)
 *     actor_head.weight [P, H], actor_head.bias [P], value_head.weight [1, H], value_head.bias [1]
 *     log_std [number of continuous entries]               (only when there are some)
 *     obs_scale [D]                                        (the scale encoding only)
 *   uint32   crc32           CRC-32 (zlib's) of every byte before it; nothing follows it.
 *
 * The magic, then the version, then the checksum are checked before anything else is read, so
 * damaged or truncated weights are refused (PUFFER_POLICY_ERR_CHECKSUM) rather than run.
 *
 * Sums are accumulated in double, so results agree with torch's float32 to about 1e-6.
 */
#include "puffer_policy.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TENSORS (4 * PUFFER_POLICY_MAX_LAYERS + 2 * PUFFER_POLICY_MAX_OPS + 12)

typedef struct {
    const uint8_t* at;
    size_t left;
} Reader;

typedef struct {
    char name[32];
    int rank;
    uint32_t shape[4];   /* unused dimensions are 0 */
    const float** slot;
} Expected;

static int fail(PufferPolicy* p, int code, const char* format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(p->error, sizeof(p->error), format, args);
    va_end(args);
    return code;
}

static int read_u32(Reader* r, uint32_t* out) {
    if (r->left < 4) return 0;
    *out = (uint32_t)r->at[0] | (uint32_t)r->at[1] << 8 | (uint32_t)r->at[2] << 16 | (uint32_t)r->at[3] << 24;
    r->at += 4;
    r->left -= 4;
    return 1;
}

static int read_f32(Reader* r, float* out) {
    uint32_t bits;
    if (!read_u32(r, &bits)) return 0;
    memcpy(out, &bits, sizeof(bits));
    return 1;
}

static void expect4(Expected* e, int* n, const char* name, int rank, const uint32_t shape[4],
                    const float** slot) {
    Expected* t = &e[(*n)++];
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->rank = rank;
    memcpy(t->shape, shape, sizeof(t->shape));
    t->slot = slot;
}

static void expect(Expected* e, int* n, const char* name, int rank, uint32_t d0, uint32_t d1,
                   const float** slot) {
    uint32_t shape[4] = {d0, d1, 0, 0};
    expect4(e, n, name, rank, shape, slot);
}

/* Floats in a tensor, in 64 bits: a forged shape cannot overflow it (each dimension < 2^32). */
static uint64_t tensor_size(const Expected* t) {
    uint64_t n = 1;
    for (int d = 0; d < t->rank; d++) n *= t->shape[d];
    return n;
}

/* The tensors the architecture in `p` needs, in file order. */
static int expected_tensors(PufferPolicy* p, Expected* e) {
    int n = 0;
    uint32_t h = (uint32_t)p->hidden;
    static const char* towers[2] = {"actor", "critic"};
    char name[32];
    int convs = 0;
    for (int i = 0; i < p->num_ops; i++) {
        PufferPolicyOp* op = &p->ops[i];
        if (op->kind != PUFFER_POLICY_CONV) continue;
        uint32_t k = (uint32_t)op->kernel, shape[4] = {(uint32_t)op->out_channels, (uint32_t)op->in_channels, k, k};
        snprintf(name, sizeof(name), "conv.%d.weight", convs);
        expect4(e, &n, name, 4, shape, &op->weight);
        snprintf(name, sizeof(name), "conv.%d.bias", convs++);
        expect(e, &n, name, 1, (uint32_t)op->out_channels, 0, &op->bias);
    }
    if (p->conv) {
        expect(e, &n, "trunk.weight", 2, h, (uint32_t)p->flat, &p->trunk_weight);
        expect(e, &n, "trunk.bias", 1, h, 0, &p->trunk_bias);
    }
    for (int t = 0; t < 2 && !p->conv; t++) {
        for (int l = 0; l < p->num_layers; l++) {
            snprintf(name, sizeof(name), "%s.%d.weight", towers[t], l);
            expect(e, &n, name, 2, h, l == 0 ? (uint32_t)p->features : h, &p->weight[t][l]);
            snprintf(name, sizeof(name), "%s.%d.bias", towers[t], l);
            expect(e, &n, name, 1, h, 0, &p->bias[t][l]);
        }
    }
    if (p->lstm) {
        uint32_t s = (uint32_t)p->state_size;
        expect(e, &n, "lstm.weight_ih", 2, 4 * s, s, &p->lstm_weight_ih);
        expect(e, &n, "lstm.weight_hh", 2, 4 * s, s, &p->lstm_weight_hh);
        expect(e, &n, "lstm.bias_ih", 1, 4 * s, 0, &p->lstm_bias_ih);
        expect(e, &n, "lstm.bias_hh", 1, 4 * s, 0, &p->lstm_bias_hh);
    }
    expect(e, &n, "actor_head.weight", 2, (uint32_t)p->num_params, h, &p->actor_head_weight);
    expect(e, &n, "actor_head.bias", 1, (uint32_t)p->num_params, 0, &p->actor_head_bias);
    expect(e, &n, "value_head.weight", 2, 1, h, &p->value_head_weight);
    expect(e, &n, "value_head.bias", 1, 1, 0, &p->value_head_bias);
    if (p->num_continuous) expect(e, &n, "log_std", 1, (uint32_t)p->num_continuous, 0, &p->log_std);
    if (p->encoding == PUFFER_POLICY_SCALE) expect(e, &n, "obs_scale", 1, (uint32_t)p->obs_size, 0, &p->obs_scale);
    return n;
}

/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320): zlib's crc32 and Python's zlib.crc32. */
static uint32_t crc32(const uint8_t* bytes, size_t size) {
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < size; i++) crc = table[(crc ^ bytes[i]) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

/* The version, then the checksum of the whole file (`start`, `size` bytes); leaves the checksum
 * out of `r`, which then holds the fields after the version. */
static int check_version_and_checksum(PufferPolicy* p, Reader* r, const uint8_t* start, size_t size,
                                      uint32_t* version_out) {
    uint32_t version;
    if (!read_u32(r, &version)) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "the file ends inside its header (reading version)");
    }
    if (version < 2 || version > PUFFER_POLICY_VERSION) {
        return fail(p, PUFFER_POLICY_ERR_VERSION, "format version %u; this code reads versions 2, 3 and %d "
                    "(export the policy again with this pufferlib, or use its puffer_policy.c)",
                    (unsigned)version, PUFFER_POLICY_VERSION);
    }
    *version_out = version;
    if (r->left < 4) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "the file ends inside its header (reading its checksum)");
    }
    Reader tail = {start + size - 4, 4};
    uint32_t stored;
    read_u32(&tail, &stored);
    uint32_t computed = crc32(start, size - 4);
    if (computed != stored) {
        return fail(p, PUFFER_POLICY_ERR_CHECKSUM, "the file is damaged or truncated: its CRC-32 is %08x, "
                    "the file says %08x; export the policy again", (unsigned)computed, (unsigned)stored);
    }
    r->left -= 4;
    return PUFFER_POLICY_OK;
}

/* The architecture fields after the version: fields[1..5] (fields[0] is the version's place). */
static int read_header(PufferPolicy* p, Reader* r, uint32_t* fields) {
    static const char* names[6] = {"version", "obs_size", "hidden", "num_layers", "activation", "lstm"};
    for (int i = 1; i < 6; i++) {
        if (!read_u32(r, &fields[i])) {
            return fail(p, PUFFER_POLICY_ERR_FORMAT, "the file ends inside its header (reading %s)", names[i]);
        }
    }
    if (fields[1] < 1 || fields[1] > PUFFER_POLICY_MAX_WIDTH || fields[2] < 1
        || fields[2] > PUFFER_POLICY_MAX_WIDTH) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "obs_size %u and hidden %u must be in [1, %d]",
                    (unsigned)fields[1], (unsigned)fields[2], PUFFER_POLICY_MAX_WIDTH);
    }
    if (fields[3] > PUFFER_POLICY_MAX_LAYERS) {  /* 0 is for conv trunks, checked with the trunk */
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "num_layers %u must be in [1, %d]", (unsigned)fields[3],
                    PUFFER_POLICY_MAX_LAYERS);
    }
    if (fields[4] > 1 || fields[5] > 1) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "activation %u and lstm %u must be 0 or 1",
                    (unsigned)fields[4], (unsigned)fields[5]);
    }
    return PUFFER_POLICY_OK;
}

/* The observation encoding after the action bounds (version 3), and the features width F it gives. */
static int read_encoding(PufferPolicy* p, Reader* r, uint32_t version) {
    uint32_t encoding = PUFFER_POLICY_FLOAT, low = 0, values = 0;
    if (version >= 3 && (!read_u32(r, &encoding) || !read_u32(r, &low) || !read_u32(r, &values))) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "the file ends inside the observation encoding");
    }
    if (encoding > PUFFER_POLICY_ONEHOT) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "encoding %u must be 0 (float), 1 (scale) or 2 (onehot)",
                    (unsigned)encoding);
    }
    if (encoding == PUFFER_POLICY_ONEHOT && (values < 1 || values > PUFFER_POLICY_MAX_ONEHOT)) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "onehot_values %u must be in [1, %d]", (unsigned)values,
                    PUFFER_POLICY_MAX_ONEHOT);
    }
    p->encoding = (int)encoding;
    p->onehot_low = (int)(int32_t)low;
    p->onehot_values = encoding == PUFFER_POLICY_ONEHOT ? (int)values : 1;
    p->features = p->obs_size * p->onehot_values;  /* at most 2^16 * 256: no overflow */
    return PUFFER_POLICY_OK;
}

/* The output size of a conv or max-pool along one axis (torch's floor rule), or 0 when the window
 * does not fit. */
static int window_out(int in, int kernel, int stride, int padding) {
    long span = (long)in + 2L * padding - kernel;
    return span < 0 ? 0 : (int)(span / stride + 1);
}

static const char* op_name(int kind) {
    static const char* names[5] = {"conv", "relu", "maxpool", "save", "add"};
    return kind >= 0 && kind < 5 ? names[kind] : "?";
}

/* One conv trunk op: its fields checked, its image shapes from the previous image. */
static int read_op(PufferPolicy* p, Reader* r, int i, int* c, int* h, int* w, int* saved) {
    PufferPolicyOp* op = &p->ops[i];
    uint32_t f[5];
    for (int j = 0; j < 5; j++) {
        if (!read_u32(r, &f[j])) return fail(p, PUFFER_POLICY_ERR_FORMAT, "the file ends inside conv trunk op %d", i);
    }
    if (f[0] > PUFFER_POLICY_ADD) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "conv trunk op %d has kind %u; kinds are 0 (conv), 1 (relu), "
                    "2 (maxpool), 3 (save), 4 (add)", i, (unsigned)f[0]);
    }
    int kind = (int)f[0];
    int windowed = kind == PUFFER_POLICY_CONV || kind == PUFFER_POLICY_MAXPOOL;
    if (!windowed && (f[1] || f[2] || f[3] || f[4])) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "conv trunk op %d (%s) has sizes %u, %u, %u, %u; they must be 0",
                    i, op_name(kind), (unsigned)f[1], (unsigned)f[2], (unsigned)f[3], (unsigned)f[4]);
    }
    if (windowed && (f[2] < 1 || f[2] > PUFFER_POLICY_MAX_KERNEL || f[3] < 1 || f[3] > PUFFER_POLICY_MAX_KERNEL
                     || f[4] > (kind == PUFFER_POLICY_CONV ? f[2] - 1 : f[2] / 2))) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "conv trunk op %d (%s) has kernel %u, stride %u, padding %u; "
                    "kernel and stride must be in [1, %d] and padding below the kernel (at most half of it for "
                    "maxpool)", i, op_name(kind), (unsigned)f[2], (unsigned)f[3], (unsigned)f[4],
                    PUFFER_POLICY_MAX_KERNEL);
    }
    if (kind == PUFFER_POLICY_CONV && (f[1] < 1 || f[1] > PUFFER_POLICY_MAX_CHANNELS)) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "conv trunk op %d (conv) has %u out_channels; it must be in [1, %d]",
                    i, (unsigned)f[1], PUFFER_POLICY_MAX_CHANNELS);
    }
    if (kind == PUFFER_POLICY_MAXPOOL && f[1]) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "conv trunk op %d (maxpool) has %u out_channels; it must be 0",
                    i, (unsigned)f[1]);
    }
    op->kind = kind;
    op->channels = (int)f[1];
    op->kernel = (int)f[2];
    op->stride = (int)f[3];
    op->padding = (int)f[4];
    op->in_channels = *c;
    op->in_height = *h;
    op->in_width = *w;
    if (windowed) {
        *h = window_out(*h, op->kernel, op->stride, op->padding);
        *w = window_out(*w, op->kernel, op->stride, op->padding);
        if (*h < 1 || *w < 1) {
            return fail(p, PUFFER_POLICY_ERR_FORMAT, "conv trunk op %d (%s): its %dx%d window does not fit the "
                        "%dx%d image (padding %d)", i, op_name(kind), op->kernel, op->kernel, op->in_height,
                        op->in_width, op->padding);
        }
        if (kind == PUFFER_POLICY_CONV) *c = op->channels;
    }
    if (kind == PUFFER_POLICY_SAVE) {
        if (*saved >= 0) {
            return fail(p, PUFFER_POLICY_ERR_FORMAT, "conv trunk op %d saves an image while op %d's is not added "
                        "yet (residual blocks do not nest)", i, *saved);
        }
        *saved = i;
    }
    if (kind == PUFFER_POLICY_ADD) {
        const PufferPolicyOp* from = *saved >= 0 ? &p->ops[*saved] : NULL;
        if (!from || from->in_channels != *c || from->in_height != *h || from->in_width != *w) {
            return fail(p, PUFFER_POLICY_ERR_FORMAT, "conv trunk op %d adds a residual, but %s", i,
                        from ? "its image's shape differs from the saved one" : "no save op precedes it");
        }
        *saved = -1;
    }
    op->out_channels = *c;
    op->out_height = *h;
    op->out_width = *w;
    uint64_t floats = (uint64_t)*c * (uint64_t)*h * (uint64_t)*w;
    if (floats > PUFFER_POLICY_MAX_IMAGE) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "conv trunk op %d makes a %dx%dx%d image; at most %d floats",
                    i, *c, *h, *w, PUFFER_POLICY_MAX_IMAGE);
    }
    if (floats > p->image_floats) p->image_floats = (size_t)floats;
    return PUFFER_POLICY_OK;
}

/* The trunk (version 4): none for the MLP towers, or a conv trunk's input image and its ops. */
static int read_trunk(PufferPolicy* p, Reader* r, uint32_t version) {
    uint32_t trunk = 0, f[4];
    if (version >= 4 && !read_u32(r, &trunk)) return fail(p, PUFFER_POLICY_ERR_FORMAT, "the file ends before trunk");
    if (trunk > 1) return fail(p, PUFFER_POLICY_ERR_FORMAT, "trunk %u must be 0 (MLP towers) or 1 (conv)", (unsigned)trunk);
    p->conv = (int)trunk;
    if (!p->conv) {
        if (p->num_layers < 1) {
            return fail(p, PUFFER_POLICY_ERR_FORMAT, "num_layers %d must be in [1, %d]", p->num_layers,
                        PUFFER_POLICY_MAX_LAYERS);
        }
        return PUFFER_POLICY_OK;
    }
    for (int j = 0; j < 4; j++) {
        if (!read_u32(r, &f[j])) return fail(p, PUFFER_POLICY_ERR_FORMAT, "the file ends inside the conv trunk's header");
    }
    if (p->num_layers != 0 || p->activation != PUFFER_POLICY_RELU) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "a conv trunk has num_layers 0 and activation 0 (relu), got %d "
                    "and %d", p->num_layers, p->activation);
    }
    if (f[0] < 1 || f[0] > PUFFER_POLICY_MAX_WIDTH || f[1] < 1 || f[1] > PUFFER_POLICY_MAX_WIDTH || f[2] < 1
        || (uint64_t)f[0] * f[1] * f[2] != (uint64_t)p->obs_size) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "the conv trunk's image is %ux%ux%u; height x width x channels must "
                    "be obs_size %d", (unsigned)f[0], (unsigned)f[1], (unsigned)f[2], p->obs_size);
    }
    if ((uint64_t)f[2] * (uint64_t)p->onehot_values > PUFFER_POLICY_MAX_CHANNELS) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "the conv trunk's input has %u channels x %d one-hot values; at "
                    "most %d channels", (unsigned)f[2], p->onehot_values, PUFFER_POLICY_MAX_CHANNELS);
    }
    if (f[3] < 1 || f[3] > PUFFER_POLICY_MAX_OPS) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "num_ops %u must be in [1, %d]", (unsigned)f[3], PUFFER_POLICY_MAX_OPS);
    }
    p->height = (int)f[0];
    p->width = (int)f[1];
    p->image_channels = (int)f[2];
    p->num_ops = (int)f[3];
    int c = p->image_channels * p->onehot_values, h = p->height, w = p->width, saved = -1;
    if ((uint64_t)c * (uint64_t)h * (uint64_t)w > PUFFER_POLICY_MAX_IMAGE) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "the conv trunk's input image is %dx%dx%d; at most %d floats", c, h,
                    w, PUFFER_POLICY_MAX_IMAGE);
    }
    p->image_floats = (size_t)c * (size_t)h * (size_t)w;
    for (int i = 0; i < p->num_ops; i++) {
        int code = read_op(p, r, i, &c, &h, &w, &saved);
        if (code) return code;
    }
    if (saved >= 0) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "conv trunk op %d saves an image that no add op uses", saved);
    }
    p->flat = c * h * w;  /* at most PUFFER_POLICY_MAX_IMAGE */
    return PUFFER_POLICY_OK;
}

/* "(a, b)" for rank 2 (and rank 1, as the MLP's messages always were), "(a, b, c, d)" for rank 4. */
static void format_shape(char* out, size_t size, const uint32_t* shape, int rank) {
    if (rank <= 2) {
        snprintf(out, size, "(%u, %u)", (unsigned)shape[0], (unsigned)shape[1]);
    } else {
        snprintf(out, size, "(%u, %u, %u, %u)", (unsigned)shape[0], (unsigned)shape[1], (unsigned)shape[2],
                 (unsigned)shape[3]);
    }
}

static int parse(PufferPolicy* p, Reader* r) {
    const uint8_t* start = r->at;
    size_t size = r->left;
    if (r->left < 8 || memcmp(r->at, PUFFER_POLICY_MAGIC, 8) != 0) {
        return fail(p, PUFFER_POLICY_ERR_MAGIC, "not a pufferlib policy file (it does not start with "
                    "\"PUFFPOL\\0\"; write one with `puffer export ENV --format c`)");
    }
    r->at += 8;
    r->left -= 8;
    uint32_t version = 0;
    int code = check_version_and_checksum(p, r, start, size, &version);
    if (code) return code;
    uint32_t fields[6] = {PUFFER_POLICY_VERSION};
    code = read_header(p, r, fields);
    if (code) return code;
    p->obs_size = (int)fields[1];
    p->hidden = (int)fields[2];
    p->num_layers = (int)fields[3];
    p->activation = (int)fields[4];
    p->lstm = (int)fields[5];

    uint32_t k;
    if (!read_u32(r, &k)) return fail(p, PUFFER_POLICY_ERR_FORMAT, "the file ends before num_entries");
    if (k < 1 || k > PUFFER_POLICY_MAX_ENTRIES) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "num_entries %u must be in [1, %d]", (unsigned)k,
                    PUFFER_POLICY_MAX_ENTRIES);
    }
    if (r->left < (size_t)k * 12) return fail(p, PUFFER_POLICY_ERR_FORMAT, "the file ends inside the action entries");
    p->num_entries = (int)k;
    p->nvec = malloc(k * sizeof(int32_t));
    p->low = malloc(k * sizeof(float));
    p->high = malloc(k * sizeof(float));
    if (!p->nvec || !p->low || !p->high) return fail(p, PUFFER_POLICY_ERR_MEMORY, "out of memory");
    long params = 0;
    for (uint32_t e = 0; e < k; e++) {
        uint32_t n = 0;
        read_u32(r, &n);
        if (n > PUFFER_POLICY_MAX_WIDTH) {
            return fail(p, PUFFER_POLICY_ERR_FORMAT, "action entry %u has %d categories; at most %d",
                        (unsigned)e, (int32_t)n, PUFFER_POLICY_MAX_WIDTH);
        }
        p->nvec[e] = (int32_t)n;
        p->num_continuous += n == 0;
        params += n ? (long)n : 1;
    }
    for (uint32_t e = 0; e < k; e++) read_f32(r, &p->low[e]);
    for (uint32_t e = 0; e < k; e++) read_f32(r, &p->high[e]);
    for (uint32_t e = 0; e < k; e++) {
        if (p->nvec[e] == 0 && !(p->low[e] <= p->high[e])) {
            return fail(p, PUFFER_POLICY_ERR_FORMAT, "continuous action entry %u has bounds [%g, %g]",
                        (unsigned)e, p->low[e], p->high[e]);
        }
    }
    p->num_params = (int)params;
    p->discrete = p->num_continuous == 0;
    code = read_encoding(p, r, version);
    if (code) return code;
    code = read_trunk(p, r, version);
    if (code) return code;
    p->state_size = p->lstm ? (p->conv ? 1 : 2) * p->hidden : 0;

    Expected expected[MAX_TENSORS];
    int count = expected_tensors(p, expected);
    uint32_t num_tensors;
    if (!read_u32(r, &num_tensors)) return fail(p, PUFFER_POLICY_ERR_FORMAT, "the file ends before num_tensors");
    if (num_tensors != (uint32_t)count) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "%u tensors; this architecture has %d", (unsigned)num_tensors,
                    count);
    }
    uint64_t total = 0;
    for (int t = 0; t < count; t++) total += tensor_size(&expected[t]);
    if ((uint64_t)r->left / sizeof(float) < total) {  /* before allocating: a corrupt header cannot ask for much */
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "the file is truncated: its architecture needs %llu floats, "
                    "%zu bytes remain", (unsigned long long)total, r->left);
    }
    p->data = malloc((size_t)total * sizeof(float));
    if (!p->data) return fail(p, PUFFER_POLICY_ERR_MEMORY, "out of memory (%llu floats)", (unsigned long long)total);

    float* at = p->data;
    for (int t = 0; t < count; t++) {
        const Expected* x = &expected[t];
        uint32_t length = 0, rank = 0, shape[4] = {0, 0, 0, 0};
        if (!read_u32(r, &length) || length >= 32 || r->left < length) {
            return fail(p, PUFFER_POLICY_ERR_FORMAT, "tensor %d (%s): bad or truncated name", t, x->name);
        }
        char name[32];
        memcpy(name, r->at, length);
        name[length] = '\0';
        r->at += length;
        r->left -= length;
        if (strcmp(name, x->name) != 0) {
            return fail(p, PUFFER_POLICY_ERR_FORMAT, "tensor %d is %s; expected %s", t, name, x->name);
        }
        if (!read_u32(r, &rank) || rank != (uint32_t)x->rank) {
            return fail(p, PUFFER_POLICY_ERR_FORMAT, "tensor %s has rank %u; expected %d", name, (unsigned)rank,
                        x->rank);
        }
        for (uint32_t d = 0; d < rank; d++) {
            if (!read_u32(r, &shape[d])) return fail(p, PUFFER_POLICY_ERR_FORMAT, "tensor %s: truncated", name);
        }
        if (memcmp(shape, x->shape, sizeof(shape)) != 0) {
            char got[64], want[64];
            format_shape(got, sizeof(got), shape, x->rank);
            format_shape(want, sizeof(want), x->shape, x->rank);
            return fail(p, PUFFER_POLICY_ERR_FORMAT, "tensor %s has shape %s; the architecture needs %s", name,
                        got, want);
        }
        size_t n = (size_t)tensor_size(x);
        if (r->left < n * sizeof(float)) {
            return fail(p, PUFFER_POLICY_ERR_FORMAT, "tensor %s: the file ends inside its values", name);
        }
        for (size_t i = 0; i < n; i++) read_f32(r, &at[i]);
        *x->slot = at;
        at += n;
    }
    if (r->left) {
        return fail(p, PUFFER_POLICY_ERR_FORMAT, "%zu unexpected bytes after the last tensor", r->left);
    }
    return PUFFER_POLICY_OK;
}

int puffer_policy_load_memory(PufferPolicy* policy, const void* bytes, size_t size) {
    memset(policy, 0, sizeof(*policy));
    Reader r = {(const uint8_t*)bytes, bytes ? size : 0};
    int code = parse(policy, &r);
    if (code) {
        char error[sizeof(policy->error)];
        memcpy(error, policy->error, sizeof(error));
        puffer_policy_free(policy);
        memcpy(policy->error, error, sizeof(error));
    }
    return code;
}

int puffer_policy_load(PufferPolicy* policy, const char* path) {
    memset(policy, 0, sizeof(*policy));
    FILE* f = path ? fopen(path, "rb") : NULL;
    if (!f) return fail(policy, PUFFER_POLICY_ERR_IO, "cannot open %s", path ? path : "(null)");
    uint8_t* bytes = NULL;
    size_t size = 0, capacity = 0;
    for (;;) {
        if (size == capacity) {
            capacity = capacity ? 2 * capacity : 1 << 16;
            uint8_t* grown = realloc(bytes, capacity);
            if (!grown) {
                free(bytes);
                fclose(f);
                return fail(policy, PUFFER_POLICY_ERR_MEMORY, "out of memory reading %s", path);
            }
            bytes = grown;
        }
        size_t got = fread(bytes + size, 1, capacity - size, f);
        size += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(bytes);
        return fail(policy, PUFFER_POLICY_ERR_IO, "cannot read %s", path);
    }
    int code = puffer_policy_load_memory(policy, bytes, size);
    free(bytes);
    if (code) {
        char error[sizeof(policy->error)];
        memcpy(error, policy->error, sizeof(error));
        size_t n = strlen(path) < sizeof(error) / 2 ? strlen(path) : sizeof(error) / 2;
        snprintf(policy->error, sizeof(policy->error), "%.*s: %.*s", (int)n, path,
                 (int)(sizeof(error) - n - 3), error);
    }
    return code;
}

void puffer_policy_free(PufferPolicy* policy) {
    free(policy->data);
    free(policy->nvec);
    free(policy->low);
    free(policy->high);
    memset(policy, 0, sizeof(*policy));
}

static size_t work_floats(const PufferPolicy* p) {
    /* conv: two images and the saved one, z [H], LSTM gates [4H] */
    if (p->conv) return 3 * p->image_floats + (size_t)5 * (size_t)p->hidden;
    /* MLP: two tower buffers, z [2H], LSTM gates [8H], the scaled observation [D] */
    return (size_t)12 * (size_t)p->hidden + (size_t)p->obs_size;
}

int puffer_policy_state_init(const PufferPolicy* policy, PufferPolicyState* state) {
    size_t s = (size_t)policy->state_size;
    state->h = calloc(s ? s : 1, sizeof(float));
    state->c = calloc(s ? s : 1, sizeof(float));
    state->work = calloc(work_floats(policy), sizeof(float));
    if (!state->h || !state->c || !state->work) {
        puffer_policy_state_free(state);
        return PUFFER_POLICY_ERR_MEMORY;
    }
    return PUFFER_POLICY_OK;
}

void puffer_policy_state_reset(const PufferPolicy* policy, PufferPolicyState* state) {
    size_t s = (size_t)policy->state_size;
    memset(state->h, 0, s * sizeof(float));
    memset(state->c, 0, s * sizeof(float));
}

void puffer_policy_state_free(PufferPolicyState* state) {
    free(state->h);
    free(state->c);
    free(state->work);
    state->h = state->c = state->work = NULL;
}

/* y = W x + b for W [out x in]. */
static void linear(const float* w, const float* b, const float* x, int in, int out, float* y) {
    for (int o = 0; o < out; o++) {
        const float* row = w + (size_t)o * (size_t)in;
        double sum = b[o];
        for (int i = 0; i < in; i++) sum += (double)row[i] * (double)x[i];
        y[o] = (float)sum;
    }
}

static void activate(int activation, float* x, int n) {
    for (int i = 0; i < n; i++) {
        x[i] = activation == PUFFER_POLICY_TANH ? (float)tanh((double)x[i]) : (x[i] > 0.0f ? x[i] : 0.0f);
    }
}

static double sigmoid(double x) {
    return 1.0 / (1.0 + exp(-x));
}

/* z = [h, c] <- lstm_cell(z, (h, c)); torch's gate order i, f, g, o. */
static void lstm_step(const PufferPolicy* p, PufferPolicyState* s, float* z, float* gates) {
    int n = p->state_size;
    for (int j = 0; j < 4 * n; j++) {
        const float* wi = p->lstm_weight_ih + (size_t)j * (size_t)n;
        const float* wh = p->lstm_weight_hh + (size_t)j * (size_t)n;
        double sum = (double)p->lstm_bias_ih[j] + (double)p->lstm_bias_hh[j];
        for (int i = 0; i < n; i++) sum += (double)wi[i] * (double)z[i] + (double)wh[i] * (double)s->h[i];
        gates[j] = (float)sum;
    }
    for (int i = 0; i < n; i++) {
        double in = sigmoid(gates[i]), forget = sigmoid(gates[n + i]);
        double cell = tanh((double)gates[2 * n + i]), out = sigmoid(gates[3 * n + i]);
        double c = forget * (double)s->c[i] + in * cell;
        s->c[i] = (float)c;
        s->h[i] = (float)(out * tanh((double)s->c[i]));
        z[i] = s->h[i];
    }
}

/* y = W x + b for the one-hot x of obs: each element adds the one column its value selects
 * (a value outside the range selects none, as torch's comparison gives zeros). */
static void linear_onehot(const PufferPolicy* p, const float* w, const float* b, const float* obs, int out,
                          float* y) {
    int n = p->onehot_values, in = p->features;
    for (int o = 0; o < out; o++) {
        const float* row = w + (size_t)o * (size_t)in;
        double sum = b[o];
        for (int i = 0; i < p->obs_size; i++) {
            float v = obs[i] - (float)p->onehot_low;
            if (v >= 0.0f && v < (float)n && v == (float)(int)v) sum += (double)row[(size_t)i * n + (int)v];
        }
        y[o] = (float)sum;
    }
}

/* The observation row as the trunk's channels-first input image (as Features.grid): element
 * (y, x, c) of the (h, w, C) row is channel c (or c * n + v of the one-hot value v). */
static void encode_image(const PufferPolicy* p, const float* obs, float* image) {
    int n = p->onehot_values, channels = p->image_channels, plane = p->height * p->width;
    for (int cell = 0; cell < plane; cell++) {
        for (int c = 0; c < channels; c++) {
            int i = cell * channels + c;
            float v = obs[i];
            if (p->encoding == PUFFER_POLICY_ONEHOT) {
                for (int j = 0; j < n; j++) {
                    image[(size_t)(c * n + j) * plane + cell] = v == (float)(p->onehot_low + j) ? 1.0f : 0.0f;
                }
            } else {
                image[(size_t)c * plane + cell] = p->encoding == PUFFER_POLICY_SCALE ? v * p->obs_scale[i] : v;
            }
        }
    }
}

/* y = conv2d(x) with zero padding, both channels-first. */
static void conv2d(const PufferPolicyOp* op, const float* x, float* y) {
    int k = op->kernel, ih = op->in_height, iw = op->in_width;
    for (int o = 0; o < op->out_channels; o++) {
        for (int oy = 0; oy < op->out_height; oy++) {
            for (int ox = 0; ox < op->out_width; ox++) {
                double sum = op->bias[o];
                for (int c = 0; c < op->in_channels; c++) {
                    const float* w = op->weight + ((size_t)o * op->in_channels + c) * k * k;
                    const float* plane = x + (size_t)c * ih * iw;
                    for (int ky = 0; ky < k; ky++) {
                        int iy = oy * op->stride - op->padding + ky;
                        if (iy < 0 || iy >= ih) continue;
                        for (int kx = 0; kx < k; kx++) {
                            int ix = ox * op->stride - op->padding + kx;
                            if (ix >= 0 && ix < iw) sum += (double)w[ky * k + kx] * (double)plane[iy * iw + ix];
                        }
                    }
                }
                y[((size_t)o * op->out_height + oy) * op->out_width + ox] = (float)sum;
            }
        }
    }
}

/* y = max_pool2d(x): padded cells never win (the loader keeps padding at most half the kernel, so
 * every window holds a real cell). */
static void maxpool2d(const PufferPolicyOp* op, const float* x, float* y) {
    int k = op->kernel, ih = op->in_height, iw = op->in_width;
    for (int c = 0; c < op->out_channels; c++) {
        const float* plane = x + (size_t)c * ih * iw;
        for (int oy = 0; oy < op->out_height; oy++) {
            for (int ox = 0; ox < op->out_width; ox++) {
                float best = -INFINITY;
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy * op->stride - op->padding + ky;
                    for (int kx = 0; kx < k && iy >= 0 && iy < ih; kx++) {
                        int ix = ox * op->stride - op->padding + kx;
                        if (ix >= 0 && ix < iw && plane[iy * iw + ix] > best) best = plane[iy * iw + ix];
                    }
                }
                y[((size_t)c * op->out_height + oy) * op->out_width + ox] = best;
            }
        }
    }
}

/* z [H] = relu(trunk.weight flatten(convs(image of obs)) + trunk.bias). */
static void conv_trunk(const PufferPolicy* p, const float* obs, float* work, float* z) {
    float* x = work;
    float* y = work + p->image_floats;
    float* saved = work + 2 * p->image_floats;
    encode_image(p, obs, x);
    for (int i = 0; i < p->num_ops; i++) {
        const PufferPolicyOp* op = &p->ops[i];
        size_t n = (size_t)op->out_channels * op->out_height * op->out_width;
        if (op->kind == PUFFER_POLICY_CONV || op->kind == PUFFER_POLICY_MAXPOOL) {
            if (op->kind == PUFFER_POLICY_CONV) conv2d(op, x, y); else maxpool2d(op, x, y);
            float* t = x;
            x = y;
            y = t;
        } else if (op->kind == PUFFER_POLICY_OP_RELU) {
            activate(PUFFER_POLICY_RELU, x, (int)n);
        } else if (op->kind == PUFFER_POLICY_SAVE) {
            memcpy(saved, x, n * sizeof(float));
        } else {
            for (size_t j = 0; j < n; j++) x[j] += saved[j];
        }
    }
    linear(p->trunk_weight, p->trunk_bias, x, p->flat, p->hidden, z);
    activate(PUFFER_POLICY_RELU, z, p->hidden);
}

void puffer_policy_forward(const PufferPolicy* p, PufferPolicyState* s, const float* obs, float* params,
                           float* value) {
    int h = p->hidden;
    if (p->conv) {
        float* z = s->work + 3 * p->image_floats;
        conv_trunk(p, obs, s->work, z);
        if (p->lstm) lstm_step(p, s, z, z + h);
        linear(p->actor_head_weight, p->actor_head_bias, z, h, p->num_params, params);
        linear(p->value_head_weight, p->value_head_bias, z, h, 1, value);
        return;
    }
    float* buf[2] = {s->work, s->work + h};
    float* z = s->work + 2 * h;
    float* gates = z + 2 * h;
    if (p->encoding == PUFFER_POLICY_SCALE) {
        float* scaled = s->work + 12 * h;
        for (int i = 0; i < p->obs_size; i++) scaled[i] = obs[i] * p->obs_scale[i];
        obs = scaled;
    }
    for (int t = 0; t < 2; t++) {
        const float* x = obs;
        int in = p->features;
        for (int l = 0; l < p->num_layers; l++) {
            float* y = l == p->num_layers - 1 ? z + t * h : buf[l % 2];
            if (l == 0 && p->encoding == PUFFER_POLICY_ONEHOT) {
                linear_onehot(p, p->weight[t][l], p->bias[t][l], obs, h, y);
            } else {
                linear(p->weight[t][l], p->bias[t][l], x, in, h, y);
            }
            activate(p->activation, y, h);
            x = y;
            in = h;
        }
    }
    if (p->lstm) lstm_step(p, s, z, gates);
    linear(p->actor_head_weight, p->actor_head_bias, z, h, p->num_params, params);
    linear(p->value_head_weight, p->value_head_bias, z + h, h, 1, value);
}

/* The category of one discrete entry: argmax, or inverse CDF of the softmax at u. */
static int choose(const float* logits, int n, const float* u) {
    int best = 0;
    for (int i = 1; i < n; i++) {
        if (logits[i] > logits[best]) best = i;
    }
    if (!u) return best;
    double total = 0.0;
    for (int i = 0; i < n; i++) total += exp((double)logits[i] - (double)logits[best]);
    double cumulative = 0.0;
    int below = 0;
    for (int i = 0; i < n; i++) {
        cumulative += exp((double)logits[i] - (double)logits[best]) / total;
        below += cumulative < (double)*u;
    }
    return below < n ? below : n - 1;
}

void puffer_policy_mask(const PufferPolicy* p, float* params, const uint8_t* legal) {
    int logits = p->num_params - p->num_continuous;
    for (int k = 0; k < logits; k++) {
        if (!legal[k]) params[k] = -1e9f;
    }
}

void puffer_policy_act(const PufferPolicy* p, const float* params, const float* uniforms, void* actions) {
    const float* logits = params;
    const float* means = params + (p->num_params - p->num_continuous);
    int discrete = 0, continuous = 0;
    for (int e = 0; e < p->num_entries; e++) {
        int n = p->nvec[e];
        if (n > 0) {
            int index = choose(logits, n, uniforms ? &uniforms[discrete] : NULL);
            logits += n;
            discrete++;
            if (p->discrete) {
                ((int32_t*)actions)[e] = index;
            } else {
                ((float*)actions)[e] = (float)index;
            }
        } else {
            float m = means[continuous++];
            ((float*)actions)[e] = !(m >= p->low[e]) ? p->low[e] : (m > p->high[e] ? p->high[e] : m);
        }
    }
}
