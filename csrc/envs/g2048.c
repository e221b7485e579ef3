/* g2048: the sliding-tile puzzle 2048 on a 4x4 grid (named g2048: a C identifier cannot start with
 * a digit).
 *
 * Rules: every move slides all tiles as far as they go in one direction; two tiles of the same
 * value that meet merge into one of twice the value (a merged tile does not merge again in the same
 * move, and merging pairs form from the side the tiles move towards: [2,2,2,2] left gives
 * [4,4,0,0], [2,2,2,0] left gives [4,2,0,0]). After every move that changes the board a new tile
 * appears on a uniformly chosen empty cell: a 2 with probability 0.9, else a 4. A game starts with
 * two such tiles.
 *
 * Observation: Box(uint8, (4, 4)), row 0 on top, each cell the log2 of its tile (0 empty, 1 for 2,
 * 2 for 4, ..., 11 for 2048), at most 17.
 * Action: Discrete(4): 0 up, 1 down, 2 left, 3 right. Action mask: the moves that change the board.
 * A move that changes nothing (masked, or with check_actions=False any action outside 0..3) is a
 * no-op: no tile moves or appears, the reward is -illegal_penalty, and it counts as a step (so
 * max_steps still ends an episode of them). Policies that honour the mask never make one.
 * Reward: the sum of the values of the tiles merged by the move (the game's score increment) times
 * reward_scale (default 1/64, so merging two 32s into a 64 gives 1).
 * Episode end: terminated when no move changes the board (game over); truncated after max_steps
 * steps.
 *
 * Statistics (per game): score (the game's score: the sum of all merged tiles' values), max_tile
 * (the largest tile's value), moves (moves that changed the board), illegal (no-op moves),
 * reached_1024 and reached_2048 (1 when the game made that tile, so their means are rates).
 *
 * Render: the tiles in colours that deepen with their value, each with its value written on it, and
 * a bar under the grid with the time used (steps / max_steps).
 */
#include "../puffer_draw.h"
#include "../puffer_env.h"

#define G2048_N 4
#define G2048_CELLS 16

typedef struct {
    uint8_t cell[G2048_CELLS];        /* log2 of each tile, 0 empty; row-major, row 0 on top */
    uint8_t legal[4];                 /* which moves change the board */
    int32_t steps, max_steps, moves, illegal;
    double score;
    float reward_scale, illegal_penalty;
    PufferRng rng;
} G2048;

static const PufferParam g2048_params[] = {
    {"max_steps", 10000, 1, 1e7, 1, "steps after which an episode is truncated"},
    {"reward_scale", 1.0 / 64.0, 0.0, 1.0, 0, "reward per point of score (merged tile value)"},
    {"illegal_penalty", 0.0, 0.0, 10.0, 0, "subtracted from the reward of a move that changes nothing"},
};
static const char* const g2048_stats[] = {"score", "max_tile", "moves", "illegal", "reached_1024",
                                          "reached_2048"};

/* The cells of line k for move d, listed from the side the tiles move towards. */
static inline int g2048_index(int d, int line, int k) {
    switch (d) {
        case 0: return k * G2048_N + line;                     /* up: column `line`, top first */
        case 1: return (G2048_N - 1 - k) * G2048_N + line;     /* down */
        case 2: return line * G2048_N + k;                     /* left: row `line`, left first */
        default: return line * G2048_N + (G2048_N - 1 - k);    /* right */
    }
}

/* Whether move d changes the board: some tile has an empty cell before it, or two equal tiles are
 * neighbours along the line. */
static inline int g2048_can_move(const uint8_t* cell, int d) {
    for (int line = 0; line < G2048_N; line++) {
        int empty_before = 0;
        uint8_t prev = 0;
        for (int k = 0; k < G2048_N; k++) {
            uint8_t v = cell[g2048_index(d, line, k)];
            if (!v) { empty_before = 1; prev = 0; continue; }
            if (empty_before || v == prev) return 1;
            prev = v;
        }
    }
    return 0;
}

/* Plays move d on `cell` in place; returns the merged tiles' total value. */
static inline double g2048_slide(uint8_t* cell, int d) {
    double gained = 0.0;
    for (int line = 0; line < G2048_N; line++) {
        uint8_t out[G2048_N] = {0, 0, 0, 0};
        int n = 0, mergeable = 0;
        for (int k = 0; k < G2048_N; k++) {
            uint8_t v = cell[g2048_index(d, line, k)];
            if (!v) continue;
            if (mergeable && out[n - 1] == v) {
                out[n - 1] = (uint8_t)(v + 1);
                gained += (double)(1u << (v + 1));
                mergeable = 0;
            } else {
                out[n++] = v;
                mergeable = 1;
            }
        }
        for (int k = 0; k < G2048_N; k++) cell[g2048_index(d, line, k)] = out[k];
    }
    return gained;
}

static inline void g2048_spawn(G2048* env) {
    int empty = 0;
    for (int i = 0; i < G2048_CELLS; i++) empty += env->cell[i] == 0;
    if (!empty) return;
    int k = puffer_rand_int(&env->rng, empty);
    uint8_t value = puffer_rand_int(&env->rng, 10) == 0 ? 2 : 1;
    for (int i = 0; i < G2048_CELLS; i++) {
        if (env->cell[i]) continue;
        if (k-- == 0) { env->cell[i] = value; return; }
    }
}

/* Refreshes the legal moves, the observation and the mask; returns how many moves are legal. */
static inline int g2048_publish(G2048* env, PufferRows r) {
    int n = 0;
    for (int d = 0; d < 4; d++) {
        env->legal[d] = (uint8_t)g2048_can_move(env->cell, d);
        n += env->legal[d];
    }
    memcpy(r.obs, env->cell, G2048_CELLS);
    if (r.action_mask) {
        /* a finished game is reset within the step, so a mask is only read with a legal move */
        for (int d = 0; d < 4; d++) r.action_mask[d] = env->legal[d];
    }
    return n;
}

static int g2048_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    (void)p; (void)err; (void)errlen;
    s->num_agents = 1;
    puffer_obs_box(s, PUFFER_UINT8, G2048_CELLS, 0.0f, 17.0f);
    s->obs_ndim = 2;
    s->obs_shape[0] = G2048_N;
    s->obs_shape[1] = G2048_N;
    puffer_act_discrete(s, 4);
    puffer_act_mask(s);
    s->render_width = 4 * 72;
    s->render_height = 4 * 72 + 10;
    return 0;
}

static void g2048_init(G2048* env, const double* p, PufferRng rng, PufferRng shared) {
    (void)shared;
    env->max_steps = (int32_t)p[0];
    env->reward_scale = (float)p[1];
    env->illegal_penalty = (float)p[2];
    env->rng = rng;
}

static void g2048_reset(G2048* env, PufferRows r) {
    memset(env->cell, 0, sizeof(env->cell));
    env->steps = env->moves = env->illegal = 0;
    env->score = 0.0;
    g2048_spawn(env);
    g2048_spawn(env);
    g2048_publish(env, r);
}

static void g2048_step(G2048* env, PufferRows r) {
    uint32_t a = (uint32_t)((const int32_t*)r.act)[0];
    env->steps += 1;
    if (a < 4 && env->legal[a]) {
        double gained = g2048_slide(env->cell, (int)a);
        env->score += gained;
        env->moves += 1;
        g2048_spawn(env);
        r.rew[0] = (float)gained * env->reward_scale;
    } else {
        env->illegal += 1;
        r.rew[0] = -env->illegal_penalty;
    }
    int over = g2048_publish(env, r) == 0;
    int timeout = env->steps >= env->max_steps;
    r.term[0] = (uint8_t)over;
    r.trunc[0] = (uint8_t)(timeout & !over);
    if (over | timeout) {
        int top = 0;
        for (int i = 0; i < G2048_CELLS; i++) top = env->cell[i] > top ? env->cell[i] : top;
        double* st = r.log->stats;
        st[0] += env->score;
        st[1] += (double)(1u << top);
        st[2] += env->moves;
        st[3] += env->illegal;
        st[4] += top >= 10;
        st[5] += top >= 11;
    }
}

static PufferColor g2048_tile_color(int v) {
    static const uint8_t rgb[12][3] = {
        {205, 193, 180}, {238, 228, 218}, {237, 224, 200}, {242, 177, 121}, {245, 149, 99},
        {246, 124, 95}, {246, 94, 59}, {237, 207, 114}, {237, 204, 97}, {237, 200, 80},
        {237, 197, 63}, {237, 194, 46},
    };
    if (v < 12) return puffer_color(rgb[v][0], rgb[v][1], rgb[v][2]);
    return puffer_color(60, 58, 50);
}

static int g2048_render(G2048* env, uint8_t* rgb, int w, int h) {
    PufferCanvas c = puffer_canvas(rgb, w, h);
    int cell = w / G2048_N < (h - 10) / G2048_N ? w / G2048_N : (h - 10) / G2048_N;
    if (cell < 8) return -1;
    int grid = cell * G2048_N, gap = cell / 16 > 1 ? cell / 16 : 1;
    puffer_draw_clear(&c, PUFFER_PAPER);
    puffer_draw_rect(&c, 0, 0, grid, grid, puffer_color(187, 173, 160));
    for (int i = 0; i < G2048_CELLS; i++) {
        int v = env->cell[i], x = (i % G2048_N) * cell, y = (i / G2048_N) * cell;
        puffer_draw_rect(&c, x + gap, y + gap, cell - 2 * gap, cell - 2 * gap, g2048_tile_color(v));
        if (!v) continue;
        char text[12];
        snprintf(text, sizeof(text), "%u", 1u << v);
        int scale = cell / 16;
        while (scale > 1 && puffer_text_width(text, scale) > cell - 4 * gap) scale--;
        int tw = puffer_text_width(text, scale);
        PufferColor ink = v <= 2 ? puffer_color(119, 110, 101) : PUFFER_WHITE;
        puffer_draw_text(&c, x + (cell - tw) / 2, y + (cell - 5 * scale) / 2, scale, text, ink);
    }
    float used = env->max_steps > 0 ? (float)env->steps / (float)env->max_steps : 0.0f;
    puffer_draw_progress(&c, 0, grid, w, h - grid, used, PUFFER_ORANGE, PUFFER_GREY);
    return 0;
}

PUFFER_DEFINE_ENV_EXT(G2048, g2048,
    "The sliding-tile puzzle 2048 on a 4x4 grid.\n"
    "observation: Box(uint8, (4, 4)) row 0 on top, log2 of each tile (0 empty)\n"
    "action: Discrete(4) up, down, left, right, with an action mask of the moves that change the "
    "board; a move that changes nothing is a no-op costing illegal_penalty\n"
    "reward: the values of the tiles merged by the move, times reward_scale\n"
    "episode end: terminated when no move changes the board, truncated after max_steps steps\n"
    "statistics: score, max_tile, moves, illegal (no-op moves), reached_1024, reached_2048 (rates)\n"
    "render: the tiles with their values, the time used as a bar",
    g2048_params, 3, g2048_stats, 6, NULL, g2048_render)
PUFFER_EXPORT(g2048)
