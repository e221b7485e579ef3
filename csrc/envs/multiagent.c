/* multiagent: two agents per env that are paid for choosing different actions.
 *
 * Observation: Box(float32, (2,), [0, 1]) = one-hot of the agent's index within its env (rows 2i
 *   and 2i + 1 are the two agents of env i).
 * Action: Discrete(2) per agent.
 * Reward: 1 to both agents if their actions differ, else 0.
 * Episode end: terminated after every step (one-step episodes), for both agents.
 * Statistics: coordinated (1 when the actions differed).
 * Tests: the multi-agent path of the engine and learner (rows per env, per-agent observations).
 *   Independent learners solve it by breaking the symmetry through their observations.
 *
 * An invalid action never coordinates: the agents must both play a valid, different action.
 *
 * Render: 400 x 200, agent 0 (blue) on the left and agent 1 (orange) on the right, each with its
 * two actions, the one it chose last filled; the disc between them is green when they
 * coordinated, red when not, grey before the first step.
 */
#include "../puffer_draw.h"
#include "../puffer_env.h"

typedef struct {
    int32_t last[2];     /* the agents' last actions, for render (the task itself has no state) */
    int32_t played;      /* 1 once a step was taken */
} Multiagent;

static const char* const multiagent_stats[] = {"coordinated"};

static int multiagent_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    (void)p; (void)err; (void)errlen;
    s->num_agents = 2;
    s->render_width = 400;
    s->render_height = 200;
    puffer_obs_box(s, PUFFER_FLOAT32, 2, 0.0f, 1.0f);
    puffer_act_discrete(s, 2);
    return 0;
}

static void multiagent_init(Multiagent* env, const double* p, PufferRng rng, PufferRng shared) {
    (void)env; (void)p; (void)rng; (void)shared;
}

static void multiagent_write_obs(float* obs) {
    obs[0] = 1.0f; obs[1] = 0.0f;     /* agent 0 */
    obs[2] = 0.0f; obs[3] = 1.0f;     /* agent 1 */
}

static void multiagent_reset(Multiagent* env, PufferRows r) {
    (void)env;
    multiagent_write_obs((float*)r.obs);
}

static inline void multiagent_step(Multiagent* env, PufferRows r) {
    const int32_t* act = (const int32_t*)r.act;
    uint32_t a0 = (uint32_t)act[0], a1 = (uint32_t)act[1];
    env->last[0] = act[0];
    env->last[1] = act[1];
    env->played = 1;
    int coordinated = (a0 < 2) & (a1 < 2) & (a0 != a1);
    multiagent_write_obs((float*)r.obs);
    for (int a = 0; a < 2; a++) {
        r.rew[a] = (float)coordinated;
        r.term[a] = 1;
        r.trunc[a] = 0;
    }
    r.log->stats[0] += (double)coordinated;
}

static int multiagent_render(Multiagent* env, uint8_t* rgb, int w, int h) {
    PufferCanvas c = puffer_canvas(rgb, w, h);
    const PufferColor colors[2] = {PUFFER_BLUE, PUFFER_ORANGE};
    int box_w = w / 5, box_h = h / 4;
    int scale = box_h / 9 > 1 ? box_h / 9 : 1;
    puffer_draw_clear(&c, PUFFER_PAPER);
    for (int a = 0; a < 2; a++) {
        int x = a == 0 ? w / 10 : w - w / 10 - box_w;
        /* the agent's colour as a band above its actions */
        puffer_draw_rect(&c, x, h / 10, box_w, h / 16 > 2 ? h / 16 : 2, colors[a]);
        for (int k = 0; k < 2; k++) {
            int y = h / 4 + k * (box_h + h / 12);
            int chosen = env->played && env->last[a] == k;
            puffer_draw_rect(&c, x, y, box_w, box_h, chosen ? colors[a] : PUFFER_PAPER);
            puffer_draw_rect_outline(&c, x, y, box_w, box_h, 2, PUFFER_INK);
            puffer_draw_text(&c, x + (box_w - 3 * scale) / 2, y + (box_h - 5 * scale) / 2, scale,
                             k ? "1" : "0", chosen ? PUFFER_WHITE : PUFFER_INK);
        }
    }
    int a0 = env->last[0], a1 = env->last[1];
    int coordinated = (uint32_t)a0 < 2u && (uint32_t)a1 < 2u && a0 != a1;
    PufferColor verdict = !env->played ? PUFFER_GREY : (coordinated ? PUFFER_GREEN : PUFFER_RED);
    float cy = (float)(h / 4 + box_h) + 0.5f * (float)(h / 12);
    puffer_draw_line(&c, (float)(w / 10 + box_w), cy, (float)(w - w / 10 - box_w), cy, 3.0f, PUFFER_DARK_GREY);
    puffer_draw_circle(&c, 0.5f * (float)w, cy, 0.12f * (float)h, verdict);
    return 0;
}

PUFFER_DEFINE_ENV_EXT(Multiagent, multiagent,
    "Two agents per env, both paid when their actions differ.\n"
    "observation: Box(float32, (2,), [0, 1]) one-hot of the agent's index in its env\n"
    "action: Discrete(2) per agent (rows 2i and 2i + 1 are the agents of env i)\n"
    "reward: 1 to both agents if their actions differ, else 0\n"
    "episode end: terminated after every step\n"
    "statistics: coordinated (fraction of episodes in which the actions differed)\n"
    "tests: the multi-agent path (two rows per env, per-agent observations)\n"
    "render: both agents' last actions and whether they coordinated",
    NULL, 0, multiagent_stats, 1, NULL, multiagent_render)
