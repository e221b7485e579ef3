/* driver.c: runs an exported policy on inputs from a file, for tests/export/test_export_c.py.
 *
 * Usage: driver POLICY.bin INPUT OUTPUT
 * INPUT (float32 little-endian): steps T, then per step: start (1: reset the state first),
 *   obs[obs_size], uniforms[discrete entries].
 * OUTPUT (float32): per step: params[num_params], value, h[state_size], c[state_size],
 *   most likely actions[num_entries], sampled actions[num_entries] (int32 actions as floats).
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
    if (argc != 4) {
        fprintf(stderr, "usage: driver POLICY.bin INPUT OUTPUT\n");
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
    fclose(in);
    fclose(out);
    puffer_policy_state_free(&s);
    puffer_policy_free(&p);
    return 0;
}
