/* tetris: the falling-block game, with the 7 tetrominoes, a 7-bag randomiser and standard scoring.
 *
 * Rules: a width x height well (10 x 20 by default). Pieces I, J, L, O, S, T, Z (indices 0-6) come
 * from a 7-bag (each bag a random permutation of the seven, drawn from the env's rng). A piece that
 * rests on the stack locks; full rows are cleared and the rows above fall. Scoring (the NES /
 * guideline table, line clears only, no drop points): 1/2/3/4 rows at once score 100/300/500/800
 * times the level; the level starts at 1 and rises by one every `level_lines` rows cleared (0: it
 * stays 1). Rotation is clockwise in the SRS boxes, without SRS kick tables: a rotation that would
 * collide is tried one column left, then one column right, and otherwise does nothing. A new piece
 * appears with its top row on the top row of the well, its box centred (columns 3-6 of 10); when
 * it does not fit there the game is over. Hold (hold=1): swap the current piece with the held one
 * (the next one when none is held), once per piece.
 *
 * Two ways to play (param `placement`):
 *   placement=1 (default): each step places one piece. Action a in [0, 4 * width): rotation
 *     a / width (clockwise quarter turns from the spawn orientation) with the piece's leftmost
 *     cell in column a % width, dropped straight down from the top rows onto the stack; action
 *     4 * width (hold=1 only) holds. The action mask marks the legal placements: the piece lies
 *     inside the walls and fits with its top row on the top row of the well, and each distinct
 *     orientation is offered once (O has one, I, S and Z have two; the others are masked). Hold is
 *     legal once per piece. A masked placement that is inside the walls and fits acts as asked (a
 *     masked duplicate orientation places the same shape); any other action (out of range, sticking
 *     out of the well, colliding at the top, hold when it is not allowed) places the piece at its
 *     spawn position and orientation, straight down.
 *   placement=0: each step is one tick of the falling piece. Discrete(6), or Discrete(7) with hold:
 *     0 nothing, 1 left, 2 right, 3 rotate clockwise, 4 soft drop (one row down, locks when it
 *     cannot move), 5 hard drop (falls and locks), 6 hold. Then gravity: every `gravity` ticks the
 *     piece falls one row, and locks when it cannot. Out-of-range actions do nothing. No mask.
 *   The original PufferLib's tetris plays the primitive way; its steps/s compare with placement=0.
 *
 * Observation: Box(uint8, (height * width + 7 * (1 + preview) + 8 * hold + 16 * width * features,)),
 *   one flat row; the Box bounds are [0, 2] with placement=0, [0, 1] with placement=1 and
 *   [0, 255] with features=1:
 *   [0, H*W)                 the well, row-major from the top row: 0 empty, 1 a locked block,
 *                            2 the falling piece (placement=0 only; with placement=1 the piece to
 *                            place is not on the board)
 *   [H*W, H*W+7)             the current piece, one-hot over I J L O S T Z
 *   next 7 * preview         the next `preview` pieces in order, one-hot each
 *   next 8 (hold=1)          the held piece one-hot (all 0 when none), then 1 when hold is used up
 *                            for this piece
 *   last 16 * width          (features=1, placement=1 only) per placement action a < 4 * width, 4
 *                            bytes of what it would do, all 0 when it is masked: the height of the
 *                            piece's top above the floor after the drop (1..height), the rows it
 *                            would clear, the holes it would cover (empty cells between its lowest
 *                            cell and the stack below, per column), and the bumpiness of the
 *                            surface after it (sum of |height differences| of neighbouring columns,
 *                            before clearing; capped at 255). An afterstate summary that lets a small
 *                            MLP rank placements; the game is the same with or without it.
 * Rewards: reward_scale * (the score gained) + survival_reward per piece locked, and
 *   -game_over_penalty on the step that ends the game. Optional shaping, per piece locked (all 0 by
 *   default; the placement features show each term ahead): -hole_penalty per hole it covers (empty
 *   cells under its lowest cell of each column, down to the stack or the floor), -height_penalty
 *   per row of its top's height above the floor, -bump_penalty per unit of the surface's bumpiness
 *   after it (sum of |height differences| of neighbouring columns), both before rows are cleared.
 * Episode end: terminated at game over (a new piece cannot appear); truncated after max_steps
 *   steps (pieces with placement=1, ticks with placement=0).
 * Statistics (per episode): score, lines (cleared), pieces (locked), tetrises (4-row clears).
 *
 * Parameters (tetris_params, [min, max], default): width [4, 16] 10, height [4, 32] 20,
 *   placement [0, 1] 1, preview [0, 5] 1, hold [0, 1] 0, gravity [1, 60] 2 (placement=0), level_lines
 *   [0, 1000] 10, max_steps [1, 1e9] 10000, reward_scale [0, 10] 0.01, survival_reward [0, 10] 0,
 *   game_over_penalty [0, 1000] 0, features [0, 1] 0 (1 needs placement=1), hole_penalty,
 *   height_penalty and bump_penalty [0, 10] 0.
 *
 * State: one uint16 bit mask per row (bit c = column c), so collisions, drops and line clears are
 * a few ANDs per piece row; the observation is updated incrementally (the cells of a locked piece,
 * and the rows above a cleared one), never rebuilt from scratch during an episode.
 *
 * Render: the well with the locked blocks (grey) and the current piece in its colour (at its spawn
 * position with placement=1), and beside it the score, the next pieces, the held piece and the
 * lines cleared.
 */
#include <stdlib.h>
#include "../puffer_draw.h"
#include "../puffer_env.h"

#define TT_MAX_W 16
#define TT_MAX_H 32
#define TT_MAX_PREVIEW 5
#define TT_PIECES 7

/* One orientation of a piece, normalised to its occupied cells: row k of the piece (from its top
 * occupied row) is m[k] << (leftmost column). left/top: where those cells sit in the SRS box;
 * same: the first orientation with the same shape (itself when distinct). */
typedef struct {
    uint8_t m[4];
    int8_t w, h, left, top, same;
} TTShape;

/* I J L O S T Z, clockwise from the spawn orientation (generated from the SRS boxes). */
static const TTShape TT_SHAPES[TT_PIECES][4] = {
    /* I */ {{{0xf, 0x0, 0x0, 0x0}, 4, 1, 0, 1, 0},
             {{0x1, 0x1, 0x1, 0x1}, 1, 4, 2, 0, 1},
             {{0xf, 0x0, 0x0, 0x0}, 4, 1, 0, 2, 0},
             {{0x1, 0x1, 0x1, 0x1}, 1, 4, 1, 0, 1}},
    /* J */ {{{0x1, 0x7, 0x0, 0x0}, 3, 2, 0, 0, 0},
             {{0x3, 0x1, 0x1, 0x0}, 2, 3, 1, 0, 1},
             {{0x7, 0x4, 0x0, 0x0}, 3, 2, 0, 1, 2},
             {{0x2, 0x2, 0x3, 0x0}, 2, 3, 0, 0, 3}},
    /* L */ {{{0x4, 0x7, 0x0, 0x0}, 3, 2, 0, 0, 0},
             {{0x1, 0x1, 0x3, 0x0}, 2, 3, 1, 0, 1},
             {{0x7, 0x1, 0x0, 0x0}, 3, 2, 0, 1, 2},
             {{0x3, 0x2, 0x2, 0x0}, 2, 3, 0, 0, 3}},
    /* O */ {{{0x3, 0x3, 0x0, 0x0}, 2, 2, 0, 0, 0},
             {{0x3, 0x3, 0x0, 0x0}, 2, 2, 0, 0, 0},
             {{0x3, 0x3, 0x0, 0x0}, 2, 2, 0, 0, 0},
             {{0x3, 0x3, 0x0, 0x0}, 2, 2, 0, 0, 0}},
    /* S */ {{{0x6, 0x3, 0x0, 0x0}, 3, 2, 0, 0, 0},
             {{0x1, 0x3, 0x2, 0x0}, 2, 3, 1, 0, 1},
             {{0x6, 0x3, 0x0, 0x0}, 3, 2, 0, 1, 0},
             {{0x1, 0x3, 0x2, 0x0}, 2, 3, 0, 0, 1}},
    /* T */ {{{0x2, 0x7, 0x0, 0x0}, 3, 2, 0, 0, 0},
             {{0x1, 0x3, 0x1, 0x0}, 2, 3, 1, 0, 1},
             {{0x7, 0x2, 0x0, 0x0}, 3, 2, 0, 1, 2},
             {{0x2, 0x3, 0x2, 0x0}, 2, 3, 0, 0, 3}},
    /* Z */ {{{0x3, 0x6, 0x0, 0x0}, 3, 2, 0, 0, 0},
             {{0x2, 0x3, 0x1, 0x0}, 2, 3, 1, 0, 1},
             {{0x3, 0x6, 0x0, 0x0}, 3, 2, 0, 1, 0},
             {{0x2, 0x3, 0x1, 0x0}, 2, 3, 0, 0, 1}},
};
/* Side of each piece's SRS box (its spawn column is (width - box) / 2). */
static const int8_t TT_BOX[TT_PIECES] = {4, 3, 3, 2, 3, 3, 3};
static const int32_t TT_LINE_SCORE[5] = {0, 100, 300, 500, 800};

enum { TT_NOOP, TT_LEFT, TT_RIGHT, TT_ROTATE, TT_SOFT, TT_HARD, TT_HOLD };

typedef struct {
    uint16_t rows[TT_MAX_H];     /* locked blocks, row 0 on top */
    int32_t width, height, placement, preview, hold, gravity, level_lines, max_steps;
    float reward_scale, survival_reward, game_over_penalty, hole_penalty, height_penalty, bump_penalty;
    int32_t features;
    int32_t pieces_at, hold_at, features_at, obs_size, num_actions;   /* observation offsets, sizes */
    uint16_t full;               /* a full row */
    int8_t cur, rot, held, hold_used;
    int32_t col, row;            /* leftmost column and top row of the current piece's cells */
    int8_t next[TT_MAX_PREVIEW];
    int8_t bag[TT_PIECES];
    int32_t bag_pos;
    int32_t tick, fall;
    int32_t score, lines, pieces, tetrises, level;
    PufferRng rng;
} Tetris;

static const PufferParam tetris_params[] = {
    {"width", 10, 4, TT_MAX_W, 1, "columns of the well"},
    {"height", 20, 4, TT_MAX_H, 1, "rows of the well"},
    {"placement", 1, 0, 1, 1, "1: an action places a piece (rotation x column, masked); 0: primitive "
                              "moves, one tick a step, with gravity"},
    {"preview", 1, 0, TT_MAX_PREVIEW, 1, "next pieces shown in the observation"},
    {"hold", 0, 0, 1, 1, "1: the hold action and the held piece in the observation"},
    {"gravity", 2, 1, 60, 1, "placement=0: ticks per row the piece falls"},
    {"level_lines", 10, 0, 1000, 1, "rows cleared per level (the score multiplier); 0: level stays 1"},
    {"max_steps", 10000, 1, 1e9, 1, "steps after which the episode is truncated"},
    {"reward_scale", 0.01, 0, 10, 0, "reward per point scored"},
    {"survival_reward", 0, 0, 10, 0, "reward per piece locked"},
    {"game_over_penalty", 0, 0, 1000, 0, "subtracted from the reward of the step that ends the game"},
    {"features", 0, 0, 1, 1, "placement=1: append what each placement would do to the observation"},
    {"hole_penalty", 0, 0, 10, 0, "subtracted from the reward per hole a locked piece covers"},
    {"height_penalty", 0, 0, 10, 0, "subtracted from the reward per row of a locked piece's top height"},
    {"bump_penalty", 0, 0, 10, 0, "subtracted from the reward per unit of bumpiness after a lock"},
};
static const char* const tetris_stats[] = {"score", "lines", "pieces", "tetrises"};

/* ---- Layout ---- */

#define TT_FEATURES 4   /* per placement: top height, rows cleared, holes made, bumpiness */

static inline int tt_obs_size(int width, int height, int preview, int hold, int features) {
    return width * height + TT_PIECES * (1 + preview) + 8 * hold + features * 4 * width * TT_FEATURES;
}

static inline int tt_cell_pixels(int width, int height) {
    int cell = 480 / (height + 2) < 640 / (width + 7) ? 480 / (height + 2) : 640 / (width + 7);
    return cell < 4 ? 4 : (cell > 24 ? 24 : cell);
}

static int tetris_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    int width = (int)p[0], height = (int)p[1], placement = (int)p[2], preview = (int)p[3];
    int hold = (int)p[4], features = (int)p[11];
    if (features && !placement) {
        return PUFFER_ERROR(err, errlen, "features=1 describes placements and needs placement=1, got "
                            "placement=0; pass features=0 (or placement=1) to fix");
    }
    int cell = tt_cell_pixels(width, height);
    s->num_agents = 1;
    s->render_width = (width + 7) * cell;
    s->render_height = (height + 2) * cell;
    puffer_obs_box(s, PUFFER_UINT8, tt_obs_size(width, height, preview, hold, features), 0.0f,
                   features ? 255.0f : (placement ? 1.0f : 2.0f));
    if (placement) {
        puffer_act_discrete(s, 4 * width + hold);
        puffer_act_mask(s);
    } else {
        puffer_act_discrete(s, 6 + hold);
    }
    return 0;
}

static void tetris_init(Tetris* e, const double* p, PufferRng rng, PufferRng shared) {
    (void)shared;
    e->width = (int32_t)p[0];
    e->height = (int32_t)p[1];
    e->placement = (int32_t)p[2];
    e->preview = (int32_t)p[3];
    e->hold = (int32_t)p[4];
    e->gravity = (int32_t)p[5];
    e->level_lines = (int32_t)p[6];
    e->max_steps = (int32_t)p[7];
    e->reward_scale = (float)p[8];
    e->survival_reward = (float)p[9];
    e->game_over_penalty = (float)p[10];
    e->features = (int32_t)p[11];
    e->hole_penalty = (float)p[12];
    e->height_penalty = (float)p[13];
    e->bump_penalty = (float)p[14];
    e->full = (uint16_t)((1u << e->width) - 1u);
    e->pieces_at = e->width * e->height;
    e->hold_at = e->pieces_at + TT_PIECES * (1 + e->preview);
    e->features_at = e->hold_at + 8 * e->hold;
    e->obs_size = tt_obs_size(e->width, e->height, e->preview, e->hold, e->features);
    e->num_actions = e->placement ? 4 * e->width + e->hold : 6 + e->hold;
    e->rng = rng;
}

/* ---- The well ---- */

static inline int tt_fits(const Tetris* e, const TTShape* s, int col, int row) {
    if (col < 0 || row < 0 || col + s->w > e->width || row + s->h > e->height) return 0;
    for (int k = 0; k < s->h; k++) {
        if (e->rows[row + k] & ((uint32_t)s->m[k] << col)) return 0;
    }
    return 1;
}

/* Writes `value` into the observation cells of piece shape s at (col, row). */
static inline void tt_draw(const Tetris* e, uint8_t* obs, const TTShape* s, int col, int row,
                           uint8_t value) {
    for (int k = 0; k < s->h; k++) {
        uint8_t* line = obs + (row + k) * e->width + col;
        for (uint32_t m = s->m[k]; m; m &= m - 1) line[__builtin_ctz(m)] = value;
    }
}

/* The next piece of the 7-bag. */
static inline int tt_bag_draw(Tetris* e) {
    if (e->bag_pos >= TT_PIECES) {
        for (int k = 0; k < TT_PIECES; k++) e->bag[k] = (int8_t)k;
        for (int k = TT_PIECES - 1; k > 0; k--) {
            int j = puffer_rand_int(&e->rng, k + 1);
            int8_t t = e->bag[k];
            e->bag[k] = e->bag[j];
            e->bag[j] = t;
        }
        e->bag_pos = 0;
    }
    return e->bag[e->bag_pos++];
}

/* The piece after the current one: the head of the preview queue, which is refilled. */
static inline int tt_take(Tetris* e) {
    int n = e->preview;
    if (n == 0) return tt_bag_draw(e);
    int piece = e->next[0];
    for (int k = 1; k < n; k++) e->next[k - 1] = e->next[k];
    e->next[n - 1] = (int8_t)tt_bag_draw(e);
    return piece;
}

/* Rewrites the piece part of the observation (current, next, hold). */
static void tt_write_pieces(const Tetris* e, uint8_t* obs) {
    uint8_t* p = obs + e->pieces_at;
    memset(p, 0, (size_t)(e->features_at - e->pieces_at));
    p[e->cur] = 1;
    for (int k = 0; k < e->preview; k++) p[TT_PIECES * (1 + k) + e->next[k]] = 1;
    if (e->hold) {
        uint8_t* h = obs + e->hold_at;
        if (e->held >= 0) h[e->held] = 1;
        h[TT_PIECES] = (uint8_t)e->hold_used;
    }
}

/* Puts `piece` at its spawn position; returns 0 when it does not fit there (game over). */
static inline int tt_spawn(Tetris* e, int piece) {
    e->cur = (int8_t)piece;
    e->rot = 0;
    e->col = (e->width - TT_BOX[piece]) / 2 + TT_SHAPES[piece][0].left;
    e->row = 0;
    e->fall = 0;
    return tt_fits(e, &TT_SHAPES[piece][0], e->col, e->row);
}

/* Writes row r of the well into the observation. */
static inline void tt_write_row(const Tetris* e, uint8_t* obs, int r) {
    uint8_t* line = obs + r * e->width;
    uint32_t bits = e->rows[r];
    for (int c = 0; c < e->width; c++) line[c] = (uint8_t)((bits >> c) & 1u);
}

/* Locks the current piece where it is, clears full rows, scores and brings the next piece.
 * Returns 1 at game over. */
static int tt_lock(Tetris* e, uint8_t* obs, float* reward) {
    const TTShape* s = &TT_SHAPES[e->cur][e->rot];
    int row = e->row, bottom = e->row + s->h;
    int cleared = 0;
    for (int k = 0; k < s->h; k++) {
        uint16_t v = (uint16_t)(e->rows[row + k] | ((uint32_t)s->m[k] << e->col));
        e->rows[row + k] = v;
        cleared += v == e->full;
    }
    e->pieces += 1;
    *reward += e->survival_reward;
    if (e->hole_penalty != 0.0f) {
        /* the empty cells under the piece's lowest cell of each column, down to the stack */
        int holes = 0;
        for (int j = 0; j < s->w; j++) {
            uint32_t bit = 1u << (e->col + j);
            int low = 0;
            for (int k = 0; k < s->h; k++) low = (s->m[k] >> j & 1) ? k : low;
            for (int r = row + low + 1; r < e->height && !(e->rows[r] & bit); r++) holes++;
        }
        *reward -= e->hole_penalty * (float)holes;
    }
    *reward -= e->height_penalty * (float)(e->height - row);
    if (e->bump_penalty != 0.0f) {
        /* sum of |differences| of neighbouring column heights (first filled row from the top) */
        int bump = 0, prev = 0;
        uint32_t seen = 0;
        int top[TT_MAX_W];
        for (int c = 0; c < e->width; c++) top[c] = e->height;
        for (int r = 0; r < e->height && seen != e->full; r++) {
            for (uint32_t fresh = e->rows[r] & ~seen; fresh; fresh &= fresh - 1) top[__builtin_ctz(fresh)] = r;
            seen |= e->rows[r];
        }
        for (int c = 0; c < e->width; c++) {
            int height = e->height - top[c];
            bump += c ? (height > prev ? height - prev : prev - height) : 0;
            prev = height;
        }
        *reward -= e->bump_penalty * (float)bump;
    }
    if (cleared) {
        /* compact the rows above the lowest cleared one downwards */
        int dst = bottom - 1;
        for (int src = bottom - 1; src >= 0; src--) {
            if (e->rows[src] == e->full) continue;
            e->rows[dst--] = e->rows[src];
        }
        for (; dst >= 0; dst--) e->rows[dst] = 0;
        for (int r = 0; r < bottom; r++) tt_write_row(e, obs, r);
        int gained = TT_LINE_SCORE[cleared] * e->level;
        e->score += gained;
        e->lines += cleared;
        e->tetrises += cleared == 4;
        if (e->level_lines > 0) e->level = 1 + e->lines / e->level_lines;
        *reward += e->reward_scale * (float)gained;
    } else {
        tt_draw(e, obs, s, e->col, row, 1);
    }
    e->hold_used = 0;
    int ok = tt_spawn(e, tt_take(e));
    tt_write_pieces(e, obs);
    if (ok & !e->placement) tt_draw(e, obs, &TT_SHAPES[e->cur][0], e->col, e->row, 2);
    return !ok;
}

/* Holds: swaps the current piece with the held one (or the next one). Returns 1 at game over. */
static int tt_hold(Tetris* e) {
    int held = e->held;
    e->held = e->cur;
    e->hold_used = 1;
    return !tt_spawn(e, held >= 0 ? held : tt_take(e));
}

/* The placement mask of the current piece, and with features=1 what each placement would do. */
static void tt_write_choices(const Tetris* e, uint8_t* mask, uint8_t* obs) {
    int w = e->width, h = e->height;
    uint8_t* feat = e->features ? obs + e->features_at : NULL;
    /* top[k][c]: the first filled row of column c at or below row k (h when none). A piece that
     * fits at row 0 has empty cells from each column's highest to its lowest cell (the cells of a
     * tetromino's column are contiguous), so it drops onto top[highest cell][column]. */
    int top[3][TT_MAX_W];
    int surface[TT_MAX_W], edge[TT_MAX_W], bump_all = 0;   /* column heights, |differences| */
    if (feat) {
        for (int k = 0; k < 3; k++) {
            if (k && !e->rows[k - 1]) {   /* an empty row k - 1 changes nothing below it */
                memcpy(top[k], top[k - 1], sizeof(top[k]));
                continue;
            }
            uint32_t seen = 0;
            for (int c = 0; c < w; c++) top[k][c] = h;
            for (int r = k; r < h && seen != e->full; r++) {
                for (uint32_t fresh = e->rows[r] & ~seen; fresh; fresh &= fresh - 1) {
                    top[k][__builtin_ctz(fresh)] = r;
                }
                seen |= e->rows[r];
            }
        }
        for (int c = 0; c < w; c++) surface[c] = h - top[0][c];
        for (int c = 0; c + 1 < w; c++) {
            edge[c] = abs(surface[c] - surface[c + 1]);
            bump_all += edge[c];
        }
    }
    for (int r = 0; r < 4; r++) {
        const TTShape* s = &TT_SHAPES[e->cur][r];
        uint8_t* m = mask ? mask + r * w : NULL;
        uint8_t* f = feat ? feat + r * w * TT_FEATURES : NULL;
        if (s->same != r) {
            if (m) memset(m, 0, (size_t)w);
            if (f) memset(f, 0, (size_t)(w * TT_FEATURES));
            continue;
        }
        int low[4], high[4];   /* lowest and highest cell of each piece column */
        for (int j = 0; j < s->w; j++) {
            low[j] = -1;
            high[j] = 4;
            for (int k = 0; k < s->h; k++) {
                if (s->m[k] >> j & 1) {
                    low[j] = k;
                    high[j] = high[j] < k ? high[j] : k;
                }
            }
        }
        for (int c = 0; c < w; c++) {
            int fits = c + s->w <= w;
            for (int k = 0; k < s->h && fits; k++) fits = !(e->rows[k] & ((uint32_t)s->m[k] << c));
            if (m) m[c] = (uint8_t)fits;
            if (!f) continue;
            uint8_t* out = f + c * TT_FEATURES;
            if (!fits) {
                memset(out, 0, TT_FEATURES);
                continue;
            }
            int land = h;
            for (int j = 0; j < s->w; j++) {
                int at = top[high[j]][c + j] - 1 - low[j];
                land = at < land ? at : land;
            }
            int cleared = 0, holes = 0;
            for (int k = 0; k < s->h; k++) {
                cleared += (uint16_t)(e->rows[land + k] | ((uint32_t)s->m[k] << c)) == e->full;
            }
            for (int j = 0; j < s->w; j++) holes += top[high[j]][c + j] - 1 - (land + low[j]);
            /* the bumpiness changes only on the edges touching the piece's columns */
            int after[TT_MAX_W + 2];
            int first = c > 0 ? c - 1 : 0, last = c + s->w < w ? c + s->w : w - 1;
            for (int x = first; x <= last; x++) {
                int height = surface[x];
                if (x >= c && x < c + s->w) {
                    int piece_top = h - (land + high[x - c]);
                    height = piece_top > height ? piece_top : height;
                }
                after[x - first] = height;
            }
            int bump = bump_all;
            for (int x = first; x < last; x++) {
                bump += abs(after[x - first] - after[x + 1 - first]) - edge[x];
            }
            out[0] = (uint8_t)(h - land);
            out[1] = (uint8_t)cleared;
            out[2] = (uint8_t)(holes < 255 ? holes : 255);
            out[3] = (uint8_t)(bump < 255 ? bump : 255);
        }
    }
    if (mask && e->hold) mask[4 * w] = (uint8_t)!e->hold_used;
}

/* ---- Episodes ---- */

static void tetris_reset(Tetris* e, PufferRows r) {
    uint8_t* obs = (uint8_t*)r.obs;
    memset(e->rows, 0, sizeof(e->rows));
    e->tick = 0;
    e->score = e->lines = e->pieces = e->tetrises = 0;
    e->level = 1;
    e->held = -1;
    e->hold_used = 0;
    e->bag_pos = TT_PIECES;
    for (int k = 0; k < e->preview; k++) e->next[k] = (int8_t)tt_bag_draw(e);
    tt_spawn(e, tt_take(e));
    memset(obs, 0, (size_t)e->obs_size);
    tt_write_pieces(e, obs);
    if (!e->placement) tt_draw(e, obs, &TT_SHAPES[e->cur][0], e->col, e->row, 2);
    if (e->placement) tt_write_choices(e, r.action_mask, obs);
}

/* One placement; returns 1 at game over. */
static inline int tt_place(Tetris* e, uint8_t* obs, int32_t a, float* reward) {
    int w = e->width;
    if (e->hold && a == 4 * w && !e->hold_used) {
        int over = tt_hold(e);
        tt_write_pieces(e, obs);
        return over;
    }
    int rot = 0, col = e->col;
    if ((uint32_t)a < (uint32_t)(4 * w)) {
        int r = a / w, c = a % w;
        if (tt_fits(e, &TT_SHAPES[e->cur][r], c, 0)) {
            rot = r;
            col = c;
        }
    }
    const TTShape* s = &TT_SHAPES[e->cur][rot];
    int row = 0;
    while (tt_fits(e, s, col, row + 1)) row++;
    e->rot = (int8_t)rot;
    e->col = col;
    e->row = row;
    return tt_lock(e, obs, reward);
}

/* Moves the falling piece to (rot, col, row) when it fits there; returns whether it moved. */
static inline int tt_move(Tetris* e, uint8_t* obs, int rot, int col, int row) {
    const TTShape* s = &TT_SHAPES[e->cur][rot];
    if (!tt_fits(e, s, col, row)) return 0;
    tt_draw(e, obs, &TT_SHAPES[e->cur][e->rot], e->col, e->row, 0);
    tt_draw(e, obs, s, col, row, 2);
    e->rot = (int8_t)rot;
    e->col = col;
    e->row = row;
    return 1;
}

/* One tick of primitive play; returns 1 at game over. */
static inline int tt_tick(Tetris* e, uint8_t* obs, int32_t a, float* reward) {
    uint32_t act = (uint32_t)a < (uint32_t)e->num_actions ? (uint32_t)a : TT_NOOP;
    int rot = e->rot, col = e->col, row = e->row;
    switch (act) {
        case TT_LEFT: tt_move(e, obs, rot, col - 1, row); break;
        case TT_RIGHT: tt_move(e, obs, rot, col + 1, row); break;
        case TT_ROTATE: {
            int nr = (rot + 1) & 3;
            const TTShape* a0 = &TT_SHAPES[e->cur][rot];
            const TTShape* a1 = &TT_SHAPES[e->cur][nr];
            int nc = col - a0->left + a1->left, nrow = row - a0->top + a1->top;
            if (!tt_move(e, obs, nr, nc, nrow) && !tt_move(e, obs, nr, nc - 1, nrow)) {
                tt_move(e, obs, nr, nc + 1, nrow);
            }
            break;
        }
        case TT_SOFT:
            if (!tt_move(e, obs, rot, col, row + 1)) return tt_lock(e, obs, reward);
            e->fall = 0;
            return 0;
        case TT_HARD: {
            const TTShape* s = &TT_SHAPES[e->cur][rot];
            int r = row;
            while (tt_fits(e, s, col, r + 1)) r++;
            tt_draw(e, obs, s, col, row, 0);
            e->row = r;
            return tt_lock(e, obs, reward);
        }
        case TT_HOLD:
            if (!e->hold_used) {
                tt_draw(e, obs, &TT_SHAPES[e->cur][rot], col, row, 0);
                int over = tt_hold(e);
                tt_write_pieces(e, obs);
                if (over) return 1;
                tt_draw(e, obs, &TT_SHAPES[e->cur][0], e->col, e->row, 2);
                return 0;
            }
            break;
        default: break;
    }
    if (++e->fall >= e->gravity) {
        e->fall = 0;
        if (!tt_move(e, obs, e->rot, e->col, e->row + 1)) return tt_lock(e, obs, reward);
    }
    return 0;
}

static void tetris_step(Tetris* e, PufferRows r) {
    uint8_t* obs = (uint8_t*)r.obs;
    int32_t a = ((const int32_t*)r.act)[0];
    float reward = 0.0f;
    e->tick += 1;
    int over;
    if (e->placement) {
        over = tt_place(e, obs, a, &reward);
    } else {
        over = tt_tick(e, obs, a, &reward);
    }
    int trunc = !over & (e->tick >= e->max_steps);
    r.rew[0] = over ? reward - e->game_over_penalty : reward;
    r.term[0] = (uint8_t)over;
    r.trunc[0] = (uint8_t)trunc;
    if (over | trunc) {
        r.log->stats[0] += e->score;
        r.log->stats[1] += e->lines;
        r.log->stats[2] += e->pieces;
        r.log->stats[3] += e->tetrises;
    } else if (e->placement) {
        tt_write_choices(e, r.action_mask, obs);
    }
}

/* ---- Render ---- */

static PufferColor tt_color(int piece) {
    static const uint8_t rgb[TT_PIECES][3] = {
        {40, 190, 210}, {52, 108, 220}, {240, 148, 40}, {226, 188, 36},
        {58, 168, 84}, {150, 70, 190}, {212, 62, 52},
    };
    return puffer_color(rgb[piece][0], rgb[piece][1], rgb[piece][2]);
}

static void tt_render_piece(PufferCanvas* c, const TTShape* s, int x, int y, int cell,
                            PufferColor col) {
    int inset = cell >= 8 ? 1 : 0;
    for (int k = 0; k < s->h; k++) {
        for (int b = 0; b < s->w; b++) {
            if (s->m[k] >> b & 1) {
                puffer_draw_rect(c, x + b * cell + inset, y + k * cell + inset, cell - 2 * inset,
                                 cell - 2 * inset, col);
            }
        }
    }
}

static int tetris_render(Tetris* e, uint8_t* rgb, int w, int h) {
    PufferCanvas c = puffer_canvas(rgb, w, h);
    int cell = tt_cell_pixels(e->width, e->height);
    if (w < (e->width + 7) * cell || h < (e->height + 2) * cell) return -1;
    int x0 = cell, y0 = cell;
    int bw = e->width * cell, bh = e->height * cell;
    int inset = cell >= 8 ? 1 : 0;
    puffer_draw_clear(&c, PUFFER_PAPER);
    puffer_draw_rect(&c, x0 - 2, y0 - 2, bw + 4, bh + 4, PUFFER_INK);
    puffer_draw_rect(&c, x0, y0, bw, bh, PUFFER_WHITE);
    for (int r = 0; r < e->height; r++) {
        for (int col = 0; col < e->width; col++) {
            if (e->rows[r] >> col & 1) {
                puffer_draw_rect(&c, x0 + col * cell + inset, y0 + r * cell + inset,
                                 cell - 2 * inset, cell - 2 * inset, PUFFER_DARK_GREY);
            }
        }
    }
    tt_render_piece(&c, &TT_SHAPES[e->cur][e->rot], x0 + e->col * cell, y0 + e->row * cell, cell,
                    tt_color(e->cur));
    /* the side panel: score, next pieces (half size), held piece, lines */
    int px = x0 + bw + cell, py = y0;
    int scale = cell / 6 > 1 ? cell / 6 : 1;
    char text[16];
    snprintf(text, sizeof(text), "%d", e->score);
    puffer_draw_text(&c, px, py, scale, text, PUFFER_INK);
    py += 6 * scale + cell / 2;
    int small = cell / 2 > 2 ? cell / 2 : 2;
    for (int k = 0; k < e->preview; k++) {
        tt_render_piece(&c, &TT_SHAPES[e->next[k]][0], px, py, small, tt_color(e->next[k]));
        py += 3 * small;
    }
    if (e->hold) {
        py += small;
        puffer_draw_rect_outline(&c, px - 2, py - 2, 4 * small + 4, 2 * small + 4, 1,
                                 e->hold_used ? PUFFER_GREY : PUFFER_INK);
        if (e->held >= 0) {
            tt_render_piece(&c, &TT_SHAPES[e->held][0], px, py, small, tt_color(e->held));
        }
        py += 3 * small;
    }
    snprintf(text, sizeof(text), "%d", e->lines);
    puffer_draw_text(&c, px, y0 + bh - 5 * scale, scale, text, PUFFER_DARK_GREY);
    return 0;
}

PUFFER_DEFINE_ENV_EXT(Tetris, tetris,
    "Tetris: the 7 tetrominoes from a 7-bag, line clears scored 100/300/500/800 x level.\n"
    "observation: Box(uint8, (height*width + 7*(1+preview) + 8*hold,)) the well (0 empty, 1 block,\n"
    "  2 falling piece with placement=0), the current piece one-hot, the next pieces one-hot, the\n"
    "  held piece one-hot and whether hold is used up (hold=1), with features=1 per placement its top\n"
    "  height, rows cleared, holes covered and bumpiness after\n"
    "action: placement=1: Discrete(4*width + hold) rotation x leftmost column, hard-dropped, masked\n"
    "  to the legal placements (last: hold); placement=0: Discrete(6 + hold) nothing, left, right,\n"
    "  rotate, soft drop, hard drop (, hold), with gravity every `gravity` ticks\n"
    "reward: reward_scale * points + survival_reward per piece, -game_over_penalty at game over;\n"
    "  shaping per piece: -hole_penalty per hole covered, -height_penalty per row of its top height,\n"
    "  -bump_penalty per unit of bumpiness after it\n"
    "episode end: terminated when a new piece cannot appear, truncated after max_steps\n"
    "statistics: score, lines, pieces, tetrises\n"
    "render: the well, the current piece in colour, the score, the next and held pieces",
    tetris_params, (int)(sizeof(tetris_params) / sizeof(PufferParam)), tetris_stats,
    (int)(sizeof(tetris_stats) / sizeof(const char*)), NULL, tetris_render)
PUFFER_EXPORT(tetris)
