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
 *
 * Render: 400 x 300, one column per arm, the last pulled arm in orange with its reward as a bar
 * (green up for positive, red down for negative) and as a number; a gold dot marks the best arm.
 */
#include "../puffer_draw.h"
#include "../puffer_env.h"

typedef struct {
    int32_t arms;
    int32_t best;
    float noise;
    int32_t last_arm;    /* the arm pulled by the last step, -1 before the first (for render) */
    float last_reward;
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
    s->render_width = 400;
    s->render_height = 300;
    puffer_obs_box(s, PUFFER_FLOAT32, 1, 0.0f, 1.0f);
    puffer_act_discrete(s, (int)p[0]);
    return 0;
}

static void bandit_init(Bandit* env, const double* p, PufferRng rng, PufferRng shared) {
    env->arms = (int32_t)p[0];
    env->noise = (float)p[1];
    env->best = puffer_rand_int(&shared, env->arms);
    env->last_arm = -1;
    env->rng = rng;
}

static void bandit_reset(Bandit* env, PufferRows r) {
    (void)env;
    ((float*)r.obs)[0] = 1.0f;
}

static inline void bandit_step(Bandit* env, PufferRows r) {
    int32_t arm = ((const int32_t*)r.act)[0];
    int best = arm == env->best;
    float reward = (float)best;
    if (env->noise > 0.0f) reward += env->noise * puffer_rand_normal(&env->rng);
    env->last_arm = arm;
    env->last_reward = reward;
    ((float*)r.obs)[0] = 1.0f;
    r.rew[0] = reward;
    r.term[0] = 1;
    r.trunc[0] = 0;
    r.log->stats[0] += (double)best;
}

static int bandit_render(Bandit* env, uint8_t* rgb, int w, int h) {
    PufferCanvas c = puffer_canvas(rgb, w, h);
    int n = env->arms;
    int margin = w / 20;
    int slot = (w - 2 * margin) / n;
    if (slot < 1) return -1;
    int gap = slot / 6;
    int arm_top = (int)(0.62f * (float)h), arm_h = (int)(0.24f * (float)h);
    int base = (int)(0.34f * (float)h);          /* the zero line of the reward bar */
    int reach = (int)(0.2f * (float)h);          /* bar length of a reward of +-2 (clipped there) */
    int pulled = (uint32_t)env->last_arm < (uint32_t)n ? env->last_arm : -1;
    puffer_draw_clear(&c, PUFFER_PAPER);
    puffer_draw_rect(&c, margin, base, slot * n, 1, PUFFER_DARK_GREY);
    for (int k = 0; k < n; k++) {
        int x = margin + k * slot + gap, aw = slot - 2 * gap > 1 ? slot - 2 * gap : 1;
        puffer_draw_rect(&c, x, arm_top, aw, arm_h, k == pulled ? PUFFER_ORANGE : PUFFER_GREY);
        if (aw >= 6) puffer_draw_rect_outline(&c, x, arm_top, aw, arm_h, 1, PUFFER_INK);
        if (k == env->best) {
            float dot = 0.2f * (float)slot < 6.0f ? 0.2f * (float)slot : 6.0f;
            puffer_draw_circle(&c, (float)x + 0.5f * (float)(aw - 1),
                               (float)(arm_top + arm_h) + 2.0f * dot + 2.0f, dot + 1.0f, PUFFER_GOLD);
        }
    }
    if (pulled >= 0) {
        float value = puffer_clampf(env->last_reward, -2.0f, 2.0f);
        int len = (int)lrintf(fabsf(value) * 0.5f * (float)reach);
        int x = margin + pulled * slot + gap, aw = slot - 2 * gap > 1 ? slot - 2 * gap : 1;
        if (value >= 0.0f) {
            puffer_draw_rect(&c, x, base - len, aw, len, PUFFER_GREEN);
        } else {
            puffer_draw_rect(&c, x, base + 1, aw, len, PUFFER_RED);
        }
        char text[32];
        snprintf(text, sizeof(text), "%+.2f", (double)env->last_reward);
        puffer_draw_text(&c, margin, h / 30, h / 60 > 1 ? h / 60 : 1, text, PUFFER_INK);
    }
    return 0;
}

PUFFER_DEFINE_ENV_EXT(Bandit, bandit,
    "A multi-armed bandit: find the one arm that pays (hidden, the same in every copy).\n"
    "observation: Box(float32, (1,)) always 1\n"
    "action: Discrete(arms) the arm to pull\n"
    "reward: 1 for the best arm, else 0, plus noise * N(0, 1)\n"
    "episode end: terminated after every step\n"
    "statistics: best_arm (fraction of pulls of the best arm)\n"
    "tests: credit assignment for a single action; learning from noisy rewards\n"
    "render: the arms, the last pulled one with its reward, and the best one marked",
    bandit_params, 2, bandit_stats, 1, NULL, bandit_render)
