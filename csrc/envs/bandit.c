/* bandit: a multi-armed bandit whose best arm is a hidden constant of the task.
 *
 * Observation: Box(float32, (1,)) always 1.0.
 * Action: Discrete(arms): the arm to pull.
 * Reward: 1 for the best arm, else 0, plus noise * N(0, 1); an invalid arm counts as not-best.
 * Episode end: terminated after every step (one-step episodes).
 * Statistics: best_arm (1 when the best arm was pulled).
 * Tests: the policy-gradient basics (credit for a single action), and with noise, learning from
 *   noisy rewards.
 *
 * The best arm is drawn from the shared generator, so every copy of one vector env hides the same
 * arm (different seeds may hide different ones); the noise comes from each env's own generator.
 */
#include "../puffer_env.h"

typedef struct {
    int32_t arms;
    int32_t best;
    float noise;
    PufferRng rng;
} Bandit;

static const PufferParam bandit_params[] = {
    {"arms", 4, 2, 64, 1, "number of arms (actions)"},
    {"noise", 0.0, 0.0, 10.0, 0, "standard deviation of the Gaussian noise added to the reward"},
};
static const char* const bandit_stats[] = {"best_arm"};

static int bandit_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    (void)err; (void)errlen;
    s->num_agents = 1;
    puffer_obs_box(s, PUFFER_FLOAT32, 1, 0.0f, 1.0f);
    puffer_act_discrete(s, (int)p[0]);
    return 0;
}

static void bandit_init(Bandit* env, const double* p, PufferRng rng, PufferRng shared) {
    env->arms = (int32_t)p[0];
    env->noise = (float)p[1];
    env->best = puffer_rand_int(&shared, env->arms);
    env->rng = rng;
}

static void bandit_reset(Bandit* env, PufferRows r) {
    (void)env;
    ((float*)r.obs)[0] = 1.0f;
}

static inline void bandit_step(Bandit* env, PufferRows r) {
    int best = ((const int32_t*)r.act)[0] == env->best;
    float reward = (float)best;
    if (env->noise > 0.0f) reward += env->noise * puffer_rand_normal(&env->rng);
    ((float*)r.obs)[0] = 1.0f;
    r.rew[0] = reward;
    r.term[0] = 1;
    r.trunc[0] = 0;
    r.log->stats[0] += (double)best;
}

PUFFER_DEFINE_ENV_EXT(Bandit, bandit,
    "A multi-armed bandit: find the one arm that pays (hidden, the same in every copy).\n"
    "observation: Box(float32, (1,)) always 1\n"
    "action: Discrete(arms) the arm to pull\n"
    "reward: 1 for the best arm, else 0, plus noise * N(0, 1)\n"
    "episode end: terminated after every step\n"
    "statistics: best_arm (fraction of pulls of the best arm)\n"
    "tests: credit assignment for a single action; learning from noisy rewards",
    bandit_params, 2, bandit_stats, 1, NULL, NULL)
