/* noop: does nothing, as fast as possible: measures the engine's own cost per agent-step.
 *
 * Observation: Box(float32, (1,)) always 0. Action: Discrete(2), ignored. Reward: 0.
 * Episode end: truncated after max_steps (so the autoreset path is exercised too).
 * Tests: nothing about a learner; bench/envs.py uses it for the engine overhead figure.
 */
#include "../puffer_env.h"

typedef struct {
    int32_t steps;
    int32_t max_steps;
} Noop;

static const PufferParam noop_params[] = {
    {"max_steps", 1000, 1, 1e9, 1, "steps after which the episode is truncated"},
    {"agents", 1, 1, 64, 1, "agents per environment"},
};

static int noop_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    (void)err; (void)errlen;
    s->num_agents = (int)p[1];
    puffer_obs_box(s, PUFFER_FLOAT32, 1, 0.0f, 0.0f);
    puffer_act_discrete(s, 2);
    return 0;
}

static void noop_init(Noop* env, const double* p, PufferRng rng, PufferRng shared) {
    (void)shared;
    (void)rng;
    env->max_steps = (int32_t)p[0];
}

static void noop_reset(Noop* env, PufferRows r) {
    (void)r;
    env->steps = 0;
}

static inline void noop_step(Noop* env, PufferRows r) {
    env->steps += 1;
    for (int a = 0; a < r.num_agents; a++) {
        r.rew[a] = 0.0f;
        r.term[a] = 0;
        r.trunc[a] = (uint8_t)(env->steps >= env->max_steps);
    }
}

PUFFER_DEFINE_ENV_EXT(Noop, noop,
    "Does nothing: measures the engine's own cost per agent-step.\n"
    "observation: Box(float32, (1,)) always 0\n"
    "action: Discrete(2), ignored\n"
    "reward: 0\n"
    "episode end: truncated after max_steps\n"
    "tests: the engine (bench/envs.py reports its overhead with it)",
    noop_params, 2, NULL, 0, NULL, NULL)
