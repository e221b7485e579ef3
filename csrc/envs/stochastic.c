/* stochastic: a task only a stochastic policy solves: take action 0 on a fraction p of the steps.
 *
 * Observation: Box(float32, (1,)) always 1.0, so a policy cannot tell steps apart.
 * Action: Discrete(2).
 * Reward: on the last step, 1 - 2 * |f - p| where f is the fraction of the episode's steps on which
 *   action 0 was taken; 0 on the other steps.
 * Episode end: terminated after horizon steps.
 * Statistics: frequency (f of the episode).
 * Tests: that the learner keeps a stochastic policy: the best memoryless policy takes action 0 with
 *   probability about p, while a deterministic one scores at most 1 - 2 * min(p, 1 - p).
 *
 * Only action 0 counts as 0: an invalid action counts as a 1.
 */
#include "../puffer_env.h"

typedef struct {
    float p;
    int32_t horizon;
    int32_t tick;
    int32_t zeros;       /* steps on which action 0 was taken */
} Stochastic;

static const PufferParam stochastic_params[] = {
    {"p", 0.75, 0.0, 1.0, 0, "target fraction of steps on which to take action 0"},
    {"horizon", 16, 1, 1000, 1, "steps per episode"},
};
static const char* const stochastic_stats[] = {"frequency"};

static int stochastic_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    (void)p; (void)err; (void)errlen;
    s->num_agents = 1;
    puffer_obs_box(s, PUFFER_FLOAT32, 1, 0.0f, 1.0f);
    puffer_act_discrete(s, 2);
    return 0;
}

static void stochastic_init(Stochastic* env, const double* p, PufferRng rng, PufferRng shared) {
    (void)rng; (void)shared;
    env->p = (float)p[0];
    env->horizon = (int32_t)p[1];
}

static void stochastic_reset(Stochastic* env, PufferRows r) {
    env->tick = 0;
    env->zeros = 0;
    ((float*)r.obs)[0] = 1.0f;
}

static inline void stochastic_step(Stochastic* env, PufferRows r) {
    env->zeros += ((const int32_t*)r.act)[0] == 0;
    env->tick += 1;
    int done = env->tick >= env->horizon;
    ((float*)r.obs)[0] = 1.0f;
    r.rew[0] = 0.0f;
    r.term[0] = (uint8_t)done;
    r.trunc[0] = 0;
    if (done) {
        float f = (float)env->zeros / (float)env->horizon;
        r.rew[0] = 1.0f - 2.0f * fabsf(f - env->p);
        r.log->stats[0] += (double)f;
    }
}

PUFFER_DEFINE_ENV_EXT(Stochastic, stochastic,
    "Take action 0 on a fraction p of the steps: only a stochastic policy scores full marks.\n"
    "observation: Box(float32, (1,)) always 1\n"
    "action: Discrete(2)\n"
    "reward: 1 - 2 * |f - p| on the last step, f the fraction of steps with action 0; else 0\n"
    "episode end: terminated after horizon steps\n"
    "statistics: frequency (mean f)\n"
    "tests: that the learner keeps a stochastic policy (deterministic ones score at most "
    "1 - 2 * min(p, 1 - p))",
    stochastic_params, 2, stochastic_stats, 1, NULL, NULL)
