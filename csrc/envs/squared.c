/* squared: walk from the centre of a grid to a target (the task of the original PufferLib Squared).
 *
 * Observation: Box(uint8, (size, size)), 0 empty, 1 agent, 2 target.
 * Action: Discrete(5): 0 stay, 1 down, 2 up, 3 left, 4 right.
 * Reward: +1 for stepping on the target, -1 for leaving the grid or running out of time, else 0.
 * Episode end: terminated on the target or off the grid; truncated after 3 * size steps.
 * Statistics: reached (1 when the episode ended on the target).
 * Tests: basic navigation from pixels-like input.
 *
 * The observation buffer is updated incrementally (two cells a step) and the step is branch-free
 * (moves come from tables, out-of-range actions act as "stay"); the env never reads the buffer.
 *
 * Render: the grid (cells of 2 to 32 pixels, about 384 pixels across), the target in green, the
 * agent in blue, and the time used as a bar underneath.
 */
#include "../puffer_draw.h"
#include "../puffer_env.h"

typedef struct {
    int32_t size;
    int32_t max_ticks;
    int32_t tick;
    int32_t row, col;
    int32_t target;          /* flat cell index */
    PufferRng rng;
} Squared;

enum { SQ_EMPTY = 0, SQ_AGENT = 1, SQ_TARGET = 2 };

static const PufferParam squared_params[] = {
    {"size", 11, 3, 255, 1, "side of the square grid; the agent starts in its centre"},
};
static const char* const squared_stats[] = {"reached"};

/* Pixels per cell of the rendered grid, and the height of the time bar under it. */
static inline int squared_cell_pixels(int size) {
    int cell = 384 / size;
    return cell < 2 ? 2 : (cell > 32 ? 32 : cell);
}

static inline int squared_bar_pixels(int cell) {
    return cell / 2 > 4 ? cell / 2 : 4;
}

static int squared_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    (void)err; (void)errlen;
    int size = (int)p[0];
    int cell = squared_cell_pixels(size);
    s->num_agents = 1;
    s->render_width = size * cell;
    s->render_height = size * cell + squared_bar_pixels(cell);
    puffer_obs_box(s, PUFFER_UINT8, size * size, 0.0f, 2.0f);
    s->obs_ndim = 2;
    s->obs_shape[0] = size;
    s->obs_shape[1] = size;
    puffer_act_discrete(s, 5);
    return 0;
}

static void squared_init(Squared* env, const double* p, PufferRng rng, PufferRng shared) {
    (void)shared;
    env->size = (int32_t)p[0];
    env->max_ticks = 3 * env->size;
    env->rng = rng;
}

static void squared_reset(Squared* env, PufferRows r) {
    uint8_t* obs = (uint8_t*)r.obs;
    int tiles = env->size * env->size;
    int centre = tiles / 2;
    memset(obs, SQ_EMPTY, (size_t)tiles);
    env->row = env->size / 2;
    env->col = env->size / 2;
    env->tick = 0;
    /* uniform over the cells other than the centre, without a rejection loop */
    int target = puffer_rand_int(&env->rng, tiles - 1);
    env->target = target + (target >= centre);
    obs[centre] = SQ_AGENT;
    obs[env->target] = SQ_TARGET;
}

static inline void squared_step(Squared* env, PufferRows r) {
    static const int8_t drow[5] = {0, 1, -1, 0, 0};
    static const int8_t dcol[5] = {0, 0, 0, -1, 1};
    uint8_t* obs = (uint8_t*)r.obs;
    uint32_t a = (uint32_t)((const int32_t*)r.act)[0];
    a = a < 5 ? a : 0;
    int size = env->size;
    int old = env->row * size + env->col;
    int row = env->row + drow[a];
    int col = env->col + dcol[a];
    env->row = row;
    env->col = col;
    env->tick += 1;

    int out = ((uint32_t)row >= (uint32_t)size) | ((uint32_t)col >= (uint32_t)size);
    int cell = out ? old : row * size + col;
    int hit = !out & (cell == env->target);
    int timeout = env->tick >= env->max_ticks;
    obs[old] = SQ_EMPTY;
    obs[cell] = (uint8_t)(out ? SQ_EMPTY : SQ_AGENT);

    r.rew[0] = hit ? 1.0f : ((out | timeout) ? -1.0f : 0.0f);
    r.term[0] = (uint8_t)(out | hit);
    r.trunc[0] = (uint8_t)(timeout & !(out | hit));
    if (out | hit | timeout) r.log->stats[0] += (double)hit;
}

static int squared_render(Squared* env, uint8_t* rgb, int w, int h) {
    PufferCanvas c = puffer_canvas(rgb, w, h);
    int size = env->size;
    int cell = w / size < h / size ? w / size : h / size;
    if (cell < 1) return -1;
    int grid = size * cell;
    puffer_draw_clear(&c, PUFFER_PAPER);
    if (cell >= 6) {
        for (int k = 0; k <= size; k++) {
            int at = k < size ? k * cell : grid - 1;
            puffer_draw_rect(&c, at, 0, 1, grid, PUFFER_GREY);
            puffer_draw_rect(&c, 0, at, grid, 1, PUFFER_GREY);
        }
    }
    int inset = cell >= 6 ? cell / 6 : 0;
    int tr = env->target / size, tc = env->target % size;
    puffer_draw_rect(&c, tc * cell + inset, tr * cell + inset, cell - 2 * inset, cell - 2 * inset,
                     PUFFER_GREEN);
    if ((uint32_t)env->row < (uint32_t)size && (uint32_t)env->col < (uint32_t)size) {
        if (cell >= 6) {
            puffer_draw_circle(&c, (float)env->col * (float)cell + 0.5f * (float)(cell - 1),
                               (float)env->row * (float)cell + 0.5f * (float)(cell - 1),
                               0.5f * (float)cell - (float)inset, PUFFER_BLUE);
        } else {
            puffer_draw_rect(&c, env->col * cell, env->row * cell, cell, cell, PUFFER_BLUE);
        }
    }
    float used = env->max_ticks > 0 ? (float)env->tick / (float)env->max_ticks : 0.0f;
    puffer_draw_progress(&c, 0, grid, w, h - grid, used, PUFFER_ORANGE, PUFFER_GREY);
    return 0;
}

PUFFER_DEFINE_ENV_EXT(Squared, squared,
    "Walk from the centre of a size x size grid to a target (the original PufferLib's Squared).\n"
    "observation: Box(uint8, (size, size)) 0 empty, 1 agent, 2 target\n"
    "action: Discrete(5) stay, down, up, left, right\n"
    "reward: +1 on the target, -1 for leaving the grid or running out of time, else 0\n"
    "episode end: terminated on the target or off the grid, truncated after 3 * size steps\n"
    "statistics: reached (fraction of episodes that ended on the target)\n"
    "tests: navigation\n"
    "render: the grid with the agent (blue) and the target (green), the time used as a bar",
    squared_params, 1, squared_stats, 1, NULL, squared_render)
