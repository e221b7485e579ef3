/* memory: remember a cue bit through `delay` blank steps, then answer it.
 *
 * Observation: Box(float32, (2,), [-1, 1]) = [cue, query]: [2b - 1, 0] on reset, where b is a
 *   random bit; after step k (k = 1..delay) [0, 1 if k == delay else 0].
 * Action: Discrete(2). Only the answer on the query observation (the (delay + 1)-th action) counts.
 * Reward: 1 if that answer equals b, else 0; every earlier reward is 0.
 * Episode end: terminated on the answer, so every episode lasts delay + 1 steps.
 * Statistics: correct (1 when the answer was right).
 * Tests: memory. A memoryless policy (an MLP) stays at chance, 0.5; a recurrent one can solve it.
 *
 * An invalid action is a wrong answer. The terminal observation (kept in final_observations) is
 * [0, 0].
 *
 * Render: 400 x 160, the episode as a row of cells: the cue (blue for bit 0, orange for 1, with the
 * bit written on it), the blank delay steps and the query (gold); past steps are shaded and the
 * current one outlined. A square in the corner shows the last answer (green right, red wrong).
 */
#include "../puffer_draw.h"
#include "../puffer_env.h"

typedef struct {
    int32_t delay;
    int32_t tick;        /* actions taken this episode */
    int32_t bit;
    int32_t last_correct;    /* 1/0 for the last episode's answer, -1 before the first (render) */
    PufferRng rng;
} Memory;

static const PufferParam memory_params[] = {
    {"delay", 4, 1, 1000, 1, "blank steps between the cue and the query"},
};
static const char* const memory_stats[] = {"correct"};

static int memory_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    (void)p; (void)err; (void)errlen;
    s->num_agents = 1;
    s->render_width = 400;
    s->render_height = 160;
    puffer_obs_box(s, PUFFER_FLOAT32, 2, -1.0f, 1.0f);
    puffer_act_discrete(s, 2);
    return 0;
}

static void memory_init(Memory* env, const double* p, PufferRng rng, PufferRng shared) {
    (void)shared;
    env->delay = (int32_t)p[0];
    env->last_correct = -1;
    env->rng = rng;
}

static void memory_reset(Memory* env, PufferRows r) {
    float* obs = (float*)r.obs;
    env->tick = 0;
    env->bit = puffer_rand_int(&env->rng, 2);
    obs[0] = env->bit ? 1.0f : -1.0f;
    obs[1] = 0.0f;
}

static inline void memory_step(Memory* env, PufferRows r) {
    float* obs = (float*)r.obs;
    int tick = ++env->tick;
    int answered = tick > env->delay;
    int correct = answered & (((const int32_t*)r.act)[0] == env->bit);
    obs[0] = 0.0f;
    obs[1] = tick == env->delay ? 1.0f : 0.0f;
    r.rew[0] = (float)correct;
    r.term[0] = (uint8_t)answered;
    r.trunc[0] = 0;
    if (answered) {
        r.log->stats[0] += (double)correct;
        env->last_correct = correct;
    }
}

static int memory_render(Memory* env, uint8_t* rgb, int w, int h) {
    PufferCanvas c = puffer_canvas(rgb, w, h);
    int n = env->delay + 1;                  /* observations of an episode: cue, blanks, query */
    int margin = w / 20;
    int span = w - 2 * margin;
    int top = (int)(0.4f * (float)h), cell_h = (int)(0.4f * (float)h);
    if (span < 1 || cell_h < 1) return -1;
    PufferColor cue = env->bit ? PUFFER_ORANGE : PUFFER_BLUE;
    puffer_draw_clear(&c, PUFFER_PAPER);
    for (int k = 0; k < n; k++) {
        /* cells split the span evenly; with long delays several share a pixel column */
        int x0 = margin + (int)((int64_t)k * span / n), x1 = margin + (int)((int64_t)(k + 1) * span / n);
        int gap = (x1 - x0) >= 8 ? 2 : 0;
        PufferColor fill = k == 0 ? cue : (k == env->delay ? PUFFER_GOLD : PUFFER_GREY);
        if (k < env->tick) fill = puffer_color_mix(fill, PUFFER_DARK_GREY, 0.6f);
        puffer_draw_rect(&c, x0 + gap, top, x1 - x0 - 2 * gap, cell_h, fill);
        if (k == env->tick) {
            int t = (x1 - x0) >= 8 ? 3 : 1;
            puffer_draw_rect_outline(&c, x0, top - 4, x1 - x0 > 1 ? x1 - x0 : 2, cell_h + 8, t, PUFFER_INK);
        }
    }
    int scale = cell_h / 10 > 1 ? cell_h / 10 : 1;
    int x1 = margin + span / n;
    if (x1 - margin >= 4 * scale) {
        puffer_draw_text(&c, margin + (x1 - margin - 3 * scale) / 2, top + (cell_h - 5 * scale) / 2, scale,
                         env->bit ? "1" : "0", PUFFER_WHITE);
    }
    int box = h / 6;
    PufferColor last = env->last_correct < 0 ? PUFFER_GREY : (env->last_correct ? PUFFER_GREEN : PUFFER_RED);
    puffer_draw_rect(&c, w - margin - box, h / 12, box, box, last);
    puffer_draw_progress(&c, margin, h / 12 + box / 3, w / 2, box / 3,
                         (float)env->tick / (float)n, PUFFER_INK, PUFFER_GREY);
    return 0;
}

PUFFER_DEFINE_ENV_EXT(Memory, memory,
    "Remember a cue bit through delay blank steps, then answer it when queried.\n"
    "observation: Box(float32, (2,), [-1, 1]) [cue, query]: [+-1, 0] at the start, then [0, 0] "
    "until [0, 1] after delay steps\n"
    "action: Discrete(2) the answer (only the one given on the query counts)\n"
    "reward: 1 for the right answer, else 0\n"
    "episode end: terminated on the answer, after delay + 1 steps\n"
    "statistics: correct (fraction of right answers)\n"
    "tests: memory (a memoryless policy stays at 0.5, a recurrent one can solve it)\n"
    "render: the cue, delay and query steps with the current one outlined, the last answer's outcome",
    memory_params, 1, memory_stats, 1, NULL, memory_render)
