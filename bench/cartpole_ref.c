/* The reference for bench/envs.py: CartPole-v1 as a plain C loop, the way one would write it
 * without thinking about speed (libm trig, branches), compiled with gcc -O3 (and -fopenmp, for
 * the THREADS argument: the loop over envs is one `omp parallel for schedule(static)` per step).
 *
 * It does the same work per step as pufferlib's cartpole: reads an int32 action, advances the
 * dynamics, writes the 4-float observation, reward, terminal and truncation flags, tracks episode
 * return and length, and resets finished episodes with a per-env xorshift generator.
 *
 * Usage: cartpole_ref NUM_ENVS SECONDS RUNS [THREADS]   -> prints one steps/s figure per run
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
    float x, x_dot, theta, theta_dot;
    int steps;
    uint64_t rng;
} Env;

static float uniform(uint64_t* s, float lo, float hi) {
    uint64_t x = *s;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    *s = x;
    uint32_t r = (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
    return lo + (hi - lo) * (float)(r >> 8) / 16777216.0f;
}

static void reset(Env* e, float* obs) {
    e->x = uniform(&e->rng, -0.05f, 0.05f);
    e->x_dot = uniform(&e->rng, -0.05f, 0.05f);
    e->theta = uniform(&e->rng, -0.05f, 0.05f);
    e->theta_dot = uniform(&e->rng, -0.05f, 0.05f);
    e->steps = 0;
    obs[0] = e->x; obs[1] = e->x_dot; obs[2] = e->theta; obs[3] = e->theta_dot;
}

static void step(Env* e, int action, float* obs, float* rew, uint8_t* term, uint8_t* trunc) {
    const float gravity = 9.8f, masspole = 0.1f, total_mass = 1.1f, length = 0.5f;
    const float polemass_length = 0.05f, force_mag = 10.0f, tau = 0.02f;
    const float theta_threshold = 12.0f * 2.0f * 3.14159265358979f / 360.0f, x_threshold = 2.4f;
    float force = action == 1 ? force_mag : -force_mag;
    float costheta = cosf(e->theta);
    float sintheta = sinf(e->theta);
    float temp = (force + polemass_length * e->theta_dot * e->theta_dot * sintheta) / total_mass;
    float thetaacc = (gravity * sintheta - costheta * temp)
                     / (length * (4.0f / 3.0f - masspole * costheta * costheta / total_mass));
    float xacc = temp - polemass_length * thetaacc * costheta / total_mass;
    e->x += tau * e->x_dot;
    e->x_dot += tau * xacc;
    e->theta += tau * e->theta_dot;
    e->theta_dot += tau * thetaacc;
    e->steps += 1;
    obs[0] = e->x; obs[1] = e->x_dot; obs[2] = e->theta; obs[3] = e->theta_dot;
    *rew = 1.0f;
    *term = e->x < -x_threshold || e->x > x_threshold
            || e->theta < -theta_threshold || e->theta > theta_threshold;
    *trunc = e->steps >= 500;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
    int n = argc > 1 ? atoi(argv[1]) : 4096;
    double seconds = argc > 2 ? atof(argv[2]) : 1.0;
    int runs = argc > 3 ? atoi(argv[3]) : 3;
    int threads = argc > 4 ? atoi(argv[4]) : 1;
#ifndef _OPENMP
    if (threads != 1) {
        fprintf(stderr, "THREADS must be 1 in a build without OpenMP, got %d; compile with -fopenmp\n", threads);
        return 2;
    }
#endif
    const int cache = 256, block = 200;
    Env* envs = calloc(n, sizeof(Env));
    float* obs = calloc((size_t)n * 4, sizeof(float));
    float* rew = calloc(n, sizeof(float));
    uint8_t* term = calloc(n, 1);
    uint8_t* trunc = calloc(n, 1);
    float* ep_return = calloc(n, sizeof(float));
    int* ep_length = calloc(n, sizeof(int));
    int32_t* actions = malloc((size_t)cache * n * sizeof(int32_t));
    uint64_t s = 12345;
    for (long i = 0; i < (long)cache * n; i++) actions[i] = (int32_t)(uniform(&s, 0.0f, 2.0f));
    for (int i = 0; i < n; i++) {
        envs[i].rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
        reset(&envs[i], &obs[4 * i]);
    }
    double total_return = 0, episodes = 0;
    long t = 0;
    for (int r = -1; r < runs; r++) {   /* run -1 warms up */
        long steps = 0;
        double start = now(), elapsed;
        do {
            for (int b = 0; b < block; b++, t++) {
                const int32_t* a = &actions[(t % cache) * n];
                #pragma omp parallel for schedule(static) num_threads(threads) reduction(+:total_return, episodes)
                for (int i = 0; i < n; i++) {
                    step(&envs[i], a[i], &obs[4 * i], &rew[i], &term[i], &trunc[i]);
                    ep_return[i] += rew[i];
                    ep_length[i] += 1;
                    if (term[i] || trunc[i]) {
                        total_return += ep_return[i];
                        episodes += 1;
                        ep_return[i] = 0;
                        ep_length[i] = 0;
                        reset(&envs[i], &obs[4 * i]);
                    }
                }
            }
            steps += (long)block * n;
            elapsed = now() - start;
        } while (elapsed < seconds);
        if (r >= 0) printf("%.1f\n", steps / elapsed);
    }
    fprintf(stderr, "mean episode return %.2f over %.0f episodes\n", total_return / episodes, episodes);
    return 0;
}
