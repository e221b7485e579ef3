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
 *
 * Render: 400 x 140, the steps taken as a bar on top, and below it the fraction of them with
 * action 0 (blue, green when within 0.05 of p) against p (the gold mark), with both as numbers.
 */
#include "../puffer_draw.h"
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
    s->render_width = 400;
    s->render_height = 140;
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

static int stochastic_render(Stochastic* env, uint8_t* rgb, int w, int h) {
    PufferCanvas c = puffer_canvas(rgb, w, h);
    int margin = w / 20, span = w - 2 * margin;
    int scale = h / 40 > 1 ? h / 40 : 1;
    float f = env->tick > 0 ? (float)env->zeros / (float)env->tick : 0.0f;
    int near = env->tick > 0 && fabsf(f - env->p) <= 0.05f;
    puffer_draw_clear(&c, PUFFER_PAPER);
    puffer_draw_progress(&c, margin, h / 10, span, h / 14 > 2 ? h / 14 : 2,
                         (float)env->tick / (float)env->horizon, PUFFER_DARK_GREY, PUFFER_GREY);
    int top = (int)(0.32f * (float)h), bar_h = (int)(0.3f * (float)h);
    puffer_draw_progress(&c, margin, top, span, bar_h, f, near ? PUFFER_GREEN : PUFFER_BLUE, PUFFER_WHITE);
    puffer_draw_rect_outline(&c, margin, top, span, bar_h, 1, PUFFER_INK);
    int mark = margin + (int)lrintf(env->p * (float)span);
    puffer_draw_rect(&c, mark - 2, top - 6, 4, bar_h + 12, PUFFER_GOLD);
    char text[32];
    snprintf(text, sizeof(text), "%.2f", (double)f);
    puffer_draw_text(&c, margin, top + bar_h + h / 14, scale, text, PUFFER_INK);
    snprintf(text, sizeof(text), "%.2f", (double)env->p);
    puffer_draw_text(&c, w - margin - puffer_text_width(text, scale), top + bar_h + h / 14, scale, text,
                     PUFFER_GOLD);
    return 0;
}

PUFFER_DEFINE_ENV_EXT(Stochastic, stochastic,
    "Take action 0 on a fraction p of the steps: only a stochastic policy scores full marks.\n"
    "observation: Box(float32, (1,)) always 1\n"
    "action: Discrete(2)\n"
    "reward: 1 - 2 * |f - p| on the last step, f the fraction of steps with action 0; else 0\n"
    "episode end: terminated after horizon steps\n"
    "statistics: frequency (mean f)\n"
    "tests: that the learner keeps a stochastic policy (deterministic ones score at most "
    "1 - 2 * min(p, 1 - p))\n"
    "render: the fraction of steps with action 0 so far against p",
    stochastic_params, 2, stochastic_stats, 1, NULL, stochastic_render)
