/* password: guess a hidden string one symbol per step, rewarded only when all of it is right.
 *
 * Observation: Box(float32, (length + 1,), [0, 1]): one-hot of the current position t. Positions
 *   0..length-1 are played; position `length` only appears as the terminal observation (in
 *   final_observations), since the episode has ended by then.
 * Action: Discrete(choices): the symbol guessed at position t.
 * Reward: 1 on the last step if every guess matched the password, else 0 everywhere.
 * Episode end: terminated after exactly `length` steps.
 * Statistics: solved (1 when the whole password was guessed).
 * Tests: exploration under a sparse reward (a uniform policy solves it with probability
 *   choices^-length).
 *
 * The password is drawn from the shared generator, so it is the same in every copy of one vector
 * env (and usually differs between seeds). An invalid action is a wrong guess.
 *
 * Render: 400 x 120, one cell per symbol with the hidden password written in (hexadecimal); the
 * positions already guessed are green while every guess matched, red once one did not, and the
 * current position is outlined.
 */
#include "../puffer_draw.h"
#include "../puffer_env.h"

#define PW_MAX_LENGTH 30

typedef struct {
    int32_t length;
    int32_t tick;
    int32_t matched;     /* every guess so far was right */
    uint8_t password[PW_MAX_LENGTH];
} Password;

static const PufferParam password_params[] = {
    {"length", 5, 1, PW_MAX_LENGTH, 1, "symbols in the password (= steps per episode)"},
    {"choices", 2, 2, 16, 1, "symbols to choose from at each position (actions)"},
};
static const char* const password_stats[] = {"solved"};

static int password_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    (void)err; (void)errlen;
    s->num_agents = 1;
    s->render_width = 400;
    s->render_height = 120;
    puffer_obs_box(s, PUFFER_FLOAT32, (int)p[0] + 1, 0.0f, 1.0f);
    puffer_act_discrete(s, (int)p[1]);
    return 0;
}

static void password_init(Password* env, const double* p, PufferRng rng, PufferRng shared) {
    (void)rng;
    env->length = (int32_t)p[0];
    for (int k = 0; k < env->length; k++)
        env->password[k] = (uint8_t)puffer_rand_int(&shared, (int)p[1]);
}

static void password_reset(Password* env, PufferRows r) {
    float* obs = (float*)r.obs;
    env->tick = 0;
    env->matched = 1;
    memset(obs, 0, (size_t)(env->length + 1) * sizeof(float));
    obs[0] = 1.0f;
}

static inline void password_step(Password* env, PufferRows r) {
    float* obs = (float*)r.obs;
    int t = env->tick;
    env->matched &= ((const int32_t*)r.act)[0] == (int32_t)env->password[t];
    env->tick = t + 1;
    int done = env->tick >= env->length;
    int solved = done & env->matched;
    obs[t] = 0.0f;
    obs[t + 1] = 1.0f;
    r.rew[0] = (float)solved;
    r.term[0] = (uint8_t)done;
    r.trunc[0] = 0;
    if (done) r.log->stats[0] += (double)solved;
}

static int password_render(Password* env, uint8_t* rgb, int w, int h) {
    PufferCanvas c = puffer_canvas(rgb, w, h);
    int n = env->length;
    int margin = w / 40;
    int slot = (w - 2 * margin) / n;
    int top = h / 4, cell_h = h / 2;
    if (slot < 2 || cell_h < 1) return -1;
    int gap = slot / 10;
    int scale = (slot - 2 * gap) / 5 < cell_h / 7 ? (slot - 2 * gap) / 5 : cell_h / 7;
    PufferColor done = env->matched ? PUFFER_GREEN : PUFFER_RED;
    puffer_draw_clear(&c, PUFFER_PAPER);
    for (int k = 0; k < n; k++) {
        int x = margin + k * slot + gap, cw = slot - 2 * gap;
        puffer_draw_rect(&c, x, top, cw, cell_h, k < env->tick ? done : PUFFER_GREY);
        if (k == env->tick) puffer_draw_rect_outline(&c, x - gap, top - 4, slot, cell_h + 8, 3, PUFFER_INK);
        if (scale >= 1) {
            char symbol[2] = {"0123456789ABCDEF"[env->password[k] & 15], 0};
            puffer_draw_text(&c, x + (cw - 3 * scale) / 2, top + (cell_h - 5 * scale) / 2, scale, symbol,
                             k < env->tick ? PUFFER_WHITE : PUFFER_INK);
        }
    }
    return 0;
}

PUFFER_DEFINE_ENV_EXT(Password, password,
    "Guess a hidden password (the same in every copy) one symbol per step; only a full match pays.\n"
    "observation: Box(float32, (length + 1,), [0, 1]) one-hot of the current position\n"
    "action: Discrete(choices) the symbol guessed at this position\n"
    "reward: 1 on the last step if every guess was right, else 0\n"
    "episode end: terminated after length steps\n"
    "statistics: solved (fraction of episodes that guessed the whole password)\n"
    "tests: exploration under a sparse reward\n"
    "render: the password, the positions guessed (green while all matched, red after a miss)",
    password_params, 2, password_stats, 1, NULL, password_render)
