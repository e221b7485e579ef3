/* driver.c: runs an exported policy on inputs from a file, for tests/export/test_export_c.py.
 *
 * Usage: driver POLICY.bin INPUT OUTPUT [MASKS]
 * INPUT (float32 little-endian): steps T, then per step: start (1: reset the state first),
 *   obs[obs_size], uniforms[discrete entries].
 * OUTPUT (float32): per step: params[num_params], value, h[state_size], c[state_size],
 *   most likely actions[num_entries], sampled actions[num_entries] (int32 actions as floats).
 * MASKS (uint8, optional): per step, one byte per logit; the actions are then chosen after
 *   puffer_policy_mask (the params written are the unmasked ones).
 * Exits with -code (1..6) and the loader's message on stderr when the policy does not load.
 */
#include <stdio.h>
#include <stdlib.h>

#include "puffer_policy.h"

static float* read_floats(FILE* f, size_t n) {
    float* x = malloc((n ? n : 1) * sizeof(float));
    if (x && fread(x, sizeof(float), n, f) != n) {
        free(x);
        return NULL;
    }
    return x;
}

static void write_actions(const PufferPolicy* p, const void* actions, FILE* out) {
    for (int e = 0; e < p->num_entries; e++) {
        float a = p->discrete ? (float)((const int32_t*)actions)[e] : ((const float*)actions)[e];
        fwrite(&a, sizeof(float), 1, out);
    }
}

int main(int argc, char** argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: driver POLICY.bin INPUT OUTPUT [MASKS]\n");
        return 10;
    }
    PufferPolicy p;
    int code = puffer_policy_load(&p, argv[1]);
    if (code != PUFFER_POLICY_OK) {
        fprintf(stderr, "%s\n", p.error);
        puffer_policy_free(&p);
        return -code;
    }
    int discrete = p.num_entries - p.num_continuous;
    FILE* masks = argc == 5 ? fopen(argv[4], "rb") : NULL;
    int num_logits = p.num_params - p.num_continuous;
    uint8_t* legal = malloc((size_t)num_logits + 1);
    FILE* in = fopen(argv[2], "rb");
    FILE* out = fopen(argv[3], "wb");
    float* steps = in ? read_floats(in, 1) : NULL;
    if (!in || !out || !steps) {
        fprintf(stderr, "cannot open or read the input/output files\n");
        return 11;
    }
    PufferPolicyState s;
    if (puffer_policy_state_init(&p, &s) != PUFFER_POLICY_OK) return 12;
    float* params = malloc((size_t)p.num_params * sizeof(float));
    void* actions = malloc((size_t)p.num_entries * 4);
    for (int t = 0; t < (int)steps[0]; t++) {
        float* start = read_floats(in, 1);
        float* obs = read_floats(in, (size_t)p.obs_size);
        float* uniforms = read_floats(in, (size_t)discrete);
        if (!start || !obs || !uniforms) {
            fprintf(stderr, "the input ends at step %d\n", t);
            return 13;
        }
        if (*start != 0.0f) puffer_policy_state_reset(&p, &s);
        float value;
        puffer_policy_forward(&p, &s, obs, params, &value);
        fwrite(params, sizeof(float), (size_t)p.num_params, out);
        fwrite(&value, sizeof(float), 1, out);
        fwrite(s.h, sizeof(float), (size_t)p.state_size, out);
        fwrite(s.c, sizeof(float), (size_t)p.state_size, out);
        if (masks) {
            if (fread(legal, 1, (size_t)num_logits, masks) != (size_t)num_logits) {
                fprintf(stderr, "the masks end at step %d\n", t);
                return 14;
            }
            puffer_policy_mask(&p, params, legal);
        }
        puffer_policy_act(&p, params, NULL, actions);
        write_actions(&p, actions, out);
        puffer_policy_act(&p, params, uniforms, actions);
        write_actions(&p, actions, out);
        free(start);
        free(obs);
        free(uniforms);
    }
    free(steps);
    free(params);
    free(actions);
    free(legal);
    if (masks) fclose(masks);
    fclose(in);
    fclose(out);
    puffer_policy_state_free(&s);
    puffer_policy_free(&p);
    return 0;
}
