/* puffer_run.c: drive one C environment without Python, for playing, benchmarking and sanitizers.
 *
 * Build it together with an environment file, naming its table:
 *   gcc -O3 -Icsrc -DPUFFER_ENV_DEF=cartpole_env_def csrc/puffer_run.c csrc/envs/cartpole.c -lm -o run
 *   gcc -O0 -g -fsanitize=address,undefined -Icsrc -DPUFFER_ENV_DEF=... (same files) -lm -o run
 * Usage: run [NUM_ENVS] [STEPS] [SEED]
 * Steps NUM_ENVS copies with uniformly random valid actions (default parameters), checks every
 * observation against the declared bounds and every flag for 0/1, and prints steps/s and the mean
 * episode return. Exits 1 on the first violation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "puffer_env.h"

#ifndef PUFFER_ENV_DEF
#error "compile with -DPUFFER_ENV_DEF=<name>_env_def"
#endif
extern const PufferEnvDef PUFFER_ENV_DEF;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int check_obs(const PufferSpec* s, const void* obs, size_t count, size_t row_size) {
    for (size_t k = 0; k < count; k++) {
        size_t e = k % row_size;
        float lo = s->obs_bounds_per_element ? s->obs_low_vec[e] : s->obs_low;
        float hi = s->obs_bounds_per_element ? s->obs_high_vec[e] : s->obs_high;
        float v = s->obs_dtype == PUFFER_FLOAT32 ? ((const float*)obs)[k] : (float)((const uint8_t*)obs)[k];
        if (!(v >= lo && v <= hi)) {
            fprintf(stderr, "observation element %zu = %g outside [%g, %g]\n", k, v, lo, hi);
            return 1;
        }
    }
    return 0;
}

int main(int argc, char** argv) {
    const PufferEnvDef* def = &PUFFER_ENV_DEF;
    /* strtoll, not atoi: an out-of-range count is refused, not wrapped into a small int */
    long long n_arg = argc > 1 ? strtoll(argv[1], NULL, 10) : 1024;
    long steps = argc > 2 ? atol(argv[2]) : 1000;
    uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
    if (n_arg < 1 || n_arg > INT32_MAX || steps < 0) {
        fprintf(stderr, "usage: %s [NUM_ENVS in 1..2147483647] [STEPS >= 0] [SEED]\n", argv[0]);
        return 2;
    }
    int n = (int)n_arg;
    double params[PUFFER_MAX_PARAMS];
    for (int i = 0; i < def->num_params; i++) params[i] = def->params[i].default_value;
    PufferSpec spec;
    memset(&spec, 0, sizeof(spec));
    char err[256] = {0};
    if (def->describe(params, &spec, err, sizeof(err)) != 0) {
        fprintf(stderr, "describe failed: %s\n", err);
        return 1;
    }
    size_t row_size = 1;
    for (int d = 0; d < spec.obs_ndim; d++) row_size *= (size_t)spec.obs_shape[d];
    size_t item = spec.obs_dtype == PUFFER_FLOAT32 ? 4 : 1;
    size_t rows = (size_t)n * (size_t)spec.num_agents;
    if (rows > INT32_MAX) {   /* the engine's limit: rows are C ints in the ABI */
        fprintf(stderr, "%d envs x %d agents = %zu rows: more than 2**31-1; use fewer envs\n", n,
                spec.num_agents, rows);
        return 2;
    }

    PufferBuffers b;
    memset(&b, 0, sizeof(b));
    b.observations = calloc(rows * row_size, item);
    b.final_observations = calloc(rows * row_size, item);
    void* actions = calloc(rows * (size_t)spec.act_dims, 4);
    b.actions = actions;
    b.rewards = calloc(rows, sizeof(float));
    b.terminals = calloc(rows, 1);
    b.truncations = calloc(rows, 1);
    b.masks = calloc(rows, 1);
    b.episode_return = calloc(rows, sizeof(float));
    b.episode_length = calloc(rows, sizeof(int32_t));
    b.obs_row_bytes = row_size * item;
    b.act_dims = spec.act_dims;
    b.num_agents = spec.num_agents;
    void* envs = calloc((size_t)n, def->env_size ? def->env_size : 1);
    PufferLog log;
    memset(&log, 0, sizeof(log));

    def->init(envs, 0, n, params, seed);
    def->reset(envs, 0, n, &b);
    int bad = check_obs(&spec, b.observations, rows * row_size, row_size);
    PufferRng rng = puffer_rng(seed, 0xac7);
    double elapsed = 0.0;
    for (long t = 0; t < steps && !bad; t++) {
        for (size_t k = 0; k < rows * (size_t)spec.act_dims; k++) {
            int d = (int)(k % (size_t)spec.act_dims);
            if (spec.act_kind == PUFFER_DISCRETE)
                ((int32_t*)actions)[k] = puffer_rand_int(&rng, spec.act_n[d]);
            else
                ((float*)actions)[k] = puffer_rand_uniform(&rng, spec.act_low, spec.act_high);
        }
        double start = now();
        def->step(envs, 0, n, &b, &log);
        elapsed += now() - start;
        bad = check_obs(&spec, b.observations, rows * row_size, row_size);
        for (size_t k = 0; k < rows && !bad; k++) {
            if (b.terminals[k] > 1 || b.truncations[k] > 1) {
                fprintf(stderr, "row %zu: flags must be 0 or 1\n", k);
                bad = 1;
            }
        }
    }
    printf("%s: %ld steps x %d envs, %.1fM agent-steps/s (step only), %.0f episodes, "
           "mean return %.4f, mean length %.2f\n", def->name, steps, n,
           elapsed > 0 ? (double)steps * (double)rows / elapsed / 1e6 : 0.0, log.episodes,
           log.episodes ? log.episode_return / log.episodes : 0.0,
           log.episodes ? log.episode_length / log.episodes : 0.0);
    if (def->close) def->close(envs, 0, n);
    free(envs); free(b.observations); free(b.final_observations); free(actions); free(b.rewards);
    free(b.terminals); free(b.truncations); free(b.masks); free(b.episode_return); free(b.episode_length);
    return bad;
}
