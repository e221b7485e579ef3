/* cartpole_policy.c: run a CartPole policy exported with `puffer export cartpole --format c -o DIR`
 * against pufferlib's C CartPole, with no Python, and print its mean episode return.
 *
 * Build (from the repository root; DIR holds policy.bin, puffer_policy.h and puffer_policy.c):
 *   cc -O2 -std=c99 -Icsrc -IDIR examples/cartpole_policy.c DIR/puffer_policy.c csrc/envs/cartpole.c \
 *      -lm -o cartpole_policy
 * Run:
 *   ./cartpole_policy DIR/policy.bin [EPISODES=100] [NUM_ENVS=1] [SEED=0]
 *
 * NUM_ENVS copies of the environment step together, env i seeded from (SEED, i) as pufferlib seeds
 * them; each contributes its first ceil(EPISODES / NUM_ENVS) episodes and the mean is taken over the
 * first EPISODES of those in the order first episodes of every env, then second ones, and so on:
 * the same episodes `puffer eval cartpole --deterministic` averages over with that many envs.
 * Actions are the policy's most likely ones; an LSTM policy's state is reset at every episode start.
 */
#include <stdio.h>
#include <stdlib.h>

#include "puffer_env.h"
#include "puffer_policy.h"

extern const PufferEnvDef cartpole_env_def;

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s POLICY.bin [EPISODES=100] [NUM_ENVS=1] [SEED=0]\n", argv[0]);
        return 2;
    }
    int episodes = argc > 2 ? atoi(argv[2]) : 100;
    int n = argc > 3 ? atoi(argv[3]) : 1;
    uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
    if (episodes < 1 || n < 1) {
        fprintf(stderr, "EPISODES and NUM_ENVS must be positive integers\n");
        return 2;
    }

    /* The environment, with its default parameters (Discrete(2) actions, 500 steps at most). */
    const PufferEnvDef* def = &cartpole_env_def;
    double params[PUFFER_MAX_PARAMS];
    for (int i = 0; i < def->num_params; i++) params[i] = def->params[i].default_value;
    PufferSpec spec = {0};
    char err[256] = {0};
    if (def->describe(params, &spec, err, sizeof(err)) != 0) {
        fprintf(stderr, "cartpole: %s\n", err);
        return 1;
    }
    int obs_size = spec.obs_shape[0];

    /* The policy, checked against the environment's spaces. */
    PufferPolicy policy;
    if (puffer_policy_load(&policy, argv[1]) != PUFFER_POLICY_OK) {
        fprintf(stderr, "%s\n", policy.error);
        return 1;
    }
    if (policy.obs_size != obs_size || policy.num_entries != 1 || !policy.discrete
        || policy.nvec[0] != spec.act_n[0]) {
        fprintf(stderr, "%s is not a CartPole policy: it takes %d observation floats and %d action "
                "entries; CartPole has 4 floats and one Discrete(2) action\n", argv[1], policy.obs_size,
                policy.num_entries);
        puffer_policy_free(&policy);
        return 1;
    }

    PufferBuffers b = {0};
    float* obs = calloc((size_t)n * (size_t)obs_size, sizeof(float));
    int32_t* actions = calloc((size_t)n, sizeof(int32_t));
    b.observations = obs;
    b.final_observations = calloc((size_t)n * (size_t)obs_size, sizeof(float));
    b.actions = actions;
    b.rewards = calloc((size_t)n, sizeof(float));
    b.terminals = calloc((size_t)n, 1);
    b.truncations = calloc((size_t)n, 1);
    b.masks = calloc((size_t)n, 1);
    b.episode_return = calloc((size_t)n, sizeof(float));
    b.episode_length = calloc((size_t)n, sizeof(int32_t));
    b.obs_row_bytes = (size_t)obs_size * sizeof(float);
    b.act_dims = 1;
    b.num_agents = 1;
    void* envs = calloc((size_t)n, def->env_size);
    PufferPolicyState* states = calloc((size_t)n, sizeof(PufferPolicyState));
    float* policy_params = calloc((size_t)policy.num_params, sizeof(float));
    int quota = (episodes + n - 1) / n;
    double* returns = calloc((size_t)n * (size_t)quota, sizeof(double));   /* [quota][n] */
    double* running = calloc((size_t)n, sizeof(double));
    int* finished = calloc((size_t)n, sizeof(int));
    int ok = obs && actions && b.final_observations && b.rewards && b.terminals && b.truncations && b.masks
             && b.episode_return && b.episode_length && envs && states && policy_params && returns && running
             && finished;
    for (int i = 0; ok && i < n; i++) ok = puffer_policy_state_init(&policy, &states[i]) == PUFFER_POLICY_OK;
    if (!ok) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }

    PufferLog log = {0};
    def->init(envs, 0, n, params, seed);
    def->reset(envs, 0, n, &b);
    int waiting = n;   /* envs that have not finished their quota */
    while (waiting > 0) {
        for (int i = 0; i < n; i++) {
            float value;
            puffer_policy_forward(&policy, &states[i], obs + (size_t)i * (size_t)obs_size, policy_params, &value);
            puffer_policy_act(&policy, policy_params, NULL, &actions[i]);
        }
        def->step(envs, 0, n, &b, &log);   /* finished episodes restart within the step */
        for (int i = 0; i < n; i++) {
            running[i] += b.rewards[i];
            if (!b.terminals[i] && !b.truncations[i]) continue;
            if (finished[i] < quota) {
                returns[(size_t)finished[i] * (size_t)n + (size_t)i] = running[i];
                if (++finished[i] == quota) waiting--;
            }
            running[i] = 0.0;
            puffer_policy_state_reset(&policy, &states[i]);
        }
    }
    double total = 0.0;
    for (int k = 0; k < episodes; k++) total += returns[k];
    printf("cartpole: mean return %.4f over %d episodes (%d envs, seed %llu)\n", total / episodes, episodes, n,
           (unsigned long long)seed);

    for (int i = 0; i < n; i++) puffer_policy_state_free(&states[i]);
    if (def->close) def->close(envs, 0, n);
    free(states); free(policy_params); free(returns); free(running); free(finished); free(envs);
    free(obs); free(actions); free(b.final_observations); free(b.rewards); free(b.terminals);
    free(b.truncations); free(b.masks); free(b.episode_return); free(b.episode_length);
    puffer_policy_free(&policy);
    return 0;
}
