/* breakout: knock out a wall of bricks with a ball, keeping it in play with a paddle.
 *
 * Rules. The field is `cols` units wide (one unit per brick column) and 10 + rows / 2 units tall,
 * y growing downwards. Bricks are 1 x 0.5 units, `rows` rows of `cols`, starting 2 units below the
 * top wall. The paddle's top edge lies 1 unit above the bottom; it is `paddle_width` units wide and
 * moves `paddle_speed` units a physics tick, stopping at the side walls. The ball is a point moving
 * `ball_speed` units a tick (always below 0.5, the brick height, so that it cannot jump a row). It
 * reflects off the side and top walls. Entering a cell that holds a brick destroys the brick (one
 * a tick) and bounces the ball back to where it was: vertically when it entered across a row
 * boundary, horizontally when it came in from the side. Crossing the paddle's top edge within its
 * width (plus 0.25 units of slack on each side) sends the ball back up at an angle set by where it
 * hit: eight zones across the paddle, 60, 45, 30, 15 degrees from the vertical to the left or the
 * right (never straight up, so that no rally can repeat forever in one column). A ball that falls
 * past the bottom costs a life. The ball serves itself (no launch action): from a uniformly random
 * x, 1 unit below the lowest bricks, moving down at a random angle within 45 degrees of the
 * vertical, at the start of the episode and after each lost life. One step is `frameskip` ticks
 * (default 4, as Atari agents play and as the original PufferLib's breakout), the action repeated
 * in each: by default the paddle moves 2 units and the ball 1.2 to 1.74 units a step.
 *   speedup=1 (Atari's rule): the ball speeds up by 15% of `ball_speed` after the 4th and the 12th
 *   paddle hit of a life and on the first brick broken in the top two rows (at most 1.45x; the
 *   stages restart with each life). shrink=1: the paddle halves once the ball first reaches the top
 *   wall, for the rest of that life.
 *
 * Observation (pixels=0): Box(float32, (8 + rows * cols,)) in [-1, 1]:
 *   0 paddle centre x / width, 1 paddle width / field width, 2 ball x / width, 3 ball y / height,
 *   4 ball vx / 0.5, 5 ball vy / 0.5, 6 (ball x - paddle x) / width, 7 lives left / lives,
 *   8.. the bricks, 1 alive and 0 broken, row-major from the top row (only the changed entries are
 *   written after a reset).
 * Observation (pixels=1): Box(uint8, (4 * (10 + rows / 2), 4 * cols)) a grayscale frame, 4 pixels
 *   a unit: bricks in shades 96..224 by row, the paddle and the ball (2 x 2 pixels) 255, empty 0
 *   (updated incrementally: the ball, the paddle's two pixel rows and broken bricks).
 * Action: Discrete(3): 0 stay, 1 left, 2 right. Any other value (only reachable when the engine's
 *   action check is turned off) stays.
 * Reward: +1 per brick broken; -life_penalty when the ball is lost (summed over a step's ticks).
 * Episode end: terminated when the last life is lost or every brick is broken (a win; the step's
 *   remaining ticks are skipped); truncated after max_steps steps.
 * Parameters: the table below (PufferParam: name, default, range, meaning).
 * Statistics (per episode): score (Atari points: 1, 1, 4, 4, 7, 7 from the bottom row up, 7 above),
 *   bricks (fraction broken), lives_lost, wins (1 when the board was cleared).
 *
 * Speed: the brick hit is a grid lookup of the one cell the ball entered, the paddle bounce a table
 * of eight angles, and the observation is written incrementally (8 floats a step, one brick entry
 * on a hit); the env never reads its observation buffer.
 *
 * Render: the bricks in row colours (red, orange, gold, green, blue, purple from the top), the
 * paddle, the ball, and a strip on top with the score (Atari points) and the lives left (red dots).
 */
#include "../puffer_draw.h"
#include "../puffer_env.h"

#define BO_MAX_ROWS 12
#define BO_MAX_COLS 32
#define BO_TOP_CELLS 4          /* half-unit rows above the bricks (2 units) */
#define BO_GAP 8.0f             /* units between the lowest bricks and the bottom */
#define BO_PX 4                 /* pixels per unit of the pixels=1 observation */
#define BO_SCALARS 8

typedef struct {
    float paddle_x, half_w;     /* paddle centre and half width */
    float ball_x, ball_y, vx, vy;
    float speed;                /* current ball speed */
    float width, height, paddle_y;
    float base_speed, paddle_speed, base_half_w, life_penalty;
    int32_t rows, cols, bricks_left, total_bricks;
    int32_t lives, max_lives, tick, max_steps;
    int32_t score, hits, stage, top_hit, shrunk, speedup, shrink, pixels, frameskip;
    int32_t ball_px, ball_py;   /* where the pixels frame has the ball drawn (top-left) */
    PufferRng rng;
    uint8_t alive[BO_MAX_ROWS * BO_MAX_COLS];
} Breakout;

static const PufferParam breakout_params[] = {
    {"rows", 6, 1, BO_MAX_ROWS, 1, "rows of bricks"},
    {"cols", 18, 2, BO_MAX_COLS, 1, "bricks per row (the field is this many units wide)"},
    {"lives", 5, 1, 9, 1, "balls per episode"},
    {"max_steps", 4000, 1, 1e9, 1, "steps after which the episode is truncated"},
    {"paddle_width", 3, 0.5, BO_MAX_COLS, 0, "paddle width in units (at most cols)"},
    {"paddle_speed", 0.5, 0.05, 2, 0, "units the paddle moves a physics tick"},
    {"ball_speed", 0.3, 0.05, 0.33, 0, "units the ball moves a physics tick (x1.45 at most with speedup)"},
    {"speedup", 1, 0, 1, 1, "1: the ball speeds up after 4 and 12 paddle hits and on the top rows"},
    {"shrink", 1, 0, 1, 1, "1: the paddle halves once the ball reaches the top wall"},
    {"life_penalty", 1, 0, 100, 0, "reward lost with each ball"},
    {"pixels", 0, 0, 1, 1, "1: a grayscale frame (uint8) instead of the state vector"},
    {"frameskip", 4, 1, 16, 1, "physics ticks per step, the action repeated in each"},
};
static const char* const breakout_stats[] = {"score", "bricks", "lives_lost", "wins"};

/* Paddle zones, left to right: the bounce direction (sin, -cos of the angle from the vertical). */
static const float bo_zone_sin[8] = {-0.8660254f, -0.7071068f, -0.5f, -0.2588190f,
                                     0.2588190f, 0.5f, 0.7071068f, 0.8660254f};
static const float bo_zone_cos[8] = {0.5f, 0.7071068f, 0.8660254f, 0.9659258f,
                                     0.9659258f, 0.8660254f, 0.7071068f, 0.5f};

/* Rows of the pixels=1 frame: 4 pixels a unit of the 10 + rows / 2 units of height. */
static inline int bo_field_px_h(int rows) { return BO_PX * 10 + (BO_PX / 2) * rows; }

/* Pixels per unit of the RGB render and the height of its score strip. */
static inline int bo_render_unit(int cols) {
    int u = 432 / cols;
    return u < 12 ? 12 : (u > 32 ? 32 : u);
}

static int breakout_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    int rows = (int)p[0], cols = (int)p[1];
    if (p[4] > p[1]) {
        return PUFFER_ERROR(err, errlen, "paddle_width must be at most cols (%d), got %g; pass a "
                            "smaller paddle_width or more cols", cols, p[4]);
    }
    float height = 10.0f + 0.5f * (float)rows;
    int unit = bo_render_unit(cols);
    s->num_agents = 1;
    s->render_width = unit * cols;
    s->render_height = (int)(unit * height) + unit;
    if (p[10] != 0.0) {
        puffer_obs_box(s, PUFFER_UINT8, 0, 0.0f, 255.0f);
        s->obs_ndim = 2;
        s->obs_shape[0] = bo_field_px_h(rows);
        s->obs_shape[1] = BO_PX * cols;
    } else {
        puffer_obs_box(s, PUFFER_FLOAT32, BO_SCALARS + rows * cols, -1.0f, 1.0f);
    }
    puffer_act_discrete(s, 3);
    return 0;
}

static void breakout_init(Breakout* env, const double* p, PufferRng rng, PufferRng shared) {
    (void)shared;
    env->rows = (int32_t)p[0];
    env->cols = (int32_t)p[1];
    env->max_lives = (int32_t)p[2];
    env->max_steps = (int32_t)p[3];
    env->base_half_w = 0.5f * (float)p[4];
    env->paddle_speed = (float)p[5];
    env->base_speed = (float)p[6];
    env->speedup = p[7] != 0.0;
    env->shrink = p[8] != 0.0;
    env->life_penalty = (float)p[9];
    env->pixels = p[10] != 0.0;
    env->frameskip = (int32_t)p[11];
    env->width = (float)env->cols;
    env->height = 10.0f + 0.5f * (float)env->rows;
    env->paddle_y = env->height - 1.0f;
    env->total_bricks = env->rows * env->cols;
    env->rng = rng;
}

/* ---- the pixels=1 frame ---- */

static inline uint8_t bo_brick_shade(const Breakout* env, int row) {
    return (uint8_t)(224 - (row * 128) / (env->rows > 1 ? env->rows - 1 : 1));
}

/* The background of pixel (x, y): a brick's shade or empty. */
static inline uint8_t bo_background(const Breakout* env, int x, int y) {
    int row = (y / (BO_PX / 2)) - BO_TOP_CELLS, col = x / BO_PX;
    if ((unsigned)row < (unsigned)env->rows && env->alive[row * env->cols + col]) {
        return bo_brick_shade(env, row);
    }
    return 0;
}

/* Ball (2 x 2) and paddle (2 pixel rows) onto the frame; the ball's old square is restored. */
static void bo_draw_pixels(Breakout* env, uint8_t* frame) {
    int w = BO_PX * env->cols, h = bo_field_px_h(env->rows);
    for (int dy = 0; dy < 2; dy++) {
        for (int dx = 0; dx < 2; dx++) {
            int x = env->ball_px + dx, y = env->ball_py + dy;
            if ((unsigned)x < (unsigned)w && (unsigned)y < (unsigned)h) {
                frame[y * w + x] = bo_background(env, x, y);
            }
        }
    }
    int py = (int)(env->paddle_y * BO_PX);
    memset(frame + py * w, 0, (size_t)(2 * w));
    int x0 = (int)lrintf((env->paddle_x - env->half_w) * BO_PX);
    int x1 = (int)lrintf((env->paddle_x + env->half_w) * BO_PX);
    x0 = x0 < 0 ? 0 : x0;
    x1 = x1 > w ? w : x1;
    if (x1 > x0) {
        memset(frame + py * w + x0, 255, (size_t)(x1 - x0));
        memset(frame + (py + 1) * w + x0, 255, (size_t)(x1 - x0));
    }
    env->ball_px = (int)(env->ball_x * BO_PX) - 1;
    env->ball_py = (int)(env->ball_y * BO_PX) - 1;
    for (int dy = 0; dy < 2; dy++) {
        for (int dx = 0; dx < 2; dx++) {
            int x = env->ball_px + dx, y = env->ball_py + dy;
            if ((unsigned)x < (unsigned)w && (unsigned)y < (unsigned)h) frame[y * w + x] = 255;
        }
    }
}

static void bo_clear_brick_pixels(const Breakout* env, uint8_t* frame, int brick) {
    int w = BO_PX * env->cols;
    int row = brick / env->cols, col = brick % env->cols;
    int y = (row + BO_TOP_CELLS) * (BO_PX / 2);
    for (int k = 0; k < BO_PX / 2; k++) memset(frame + (y + k) * w + col * BO_PX, 0, BO_PX);
}

/* ---- the vector observation ---- */

static inline void bo_write_scalars(const Breakout* env, float* obs) {
    float inv_w = 1.0f / env->width;
    obs[0] = env->paddle_x * inv_w;
    obs[1] = 2.0f * env->half_w * inv_w;
    obs[2] = env->ball_x * inv_w;
    obs[3] = env->ball_y / env->height;
    obs[4] = env->vx * 2.0f;
    obs[5] = env->vy * 2.0f;
    obs[6] = (env->ball_x - env->paddle_x) * inv_w;
    obs[7] = (float)env->lives / (float)env->max_lives;
}

/* A new ball for a new life: speed, paddle size and their stages restart. */
static void bo_serve(Breakout* env) {
    float angle = puffer_rand_uniform(&env->rng, -0.7853982f, 0.7853982f);
    env->ball_x = puffer_rand_uniform(&env->rng, 1.0f, env->width - 1.0f);
    env->ball_y = 2.0f + 0.5f * (float)env->rows + 1.0f;
    env->speed = env->base_speed;
    env->vx = env->speed * sinf(angle);
    env->vy = env->speed * cosf(angle);
    env->hits = 0;
    env->stage = 0;
    env->top_hit = 0;
    env->shrunk = 0;
    env->half_w = env->base_half_w;
}

static void breakout_reset(Breakout* env, PufferRows r) {
    memset(env->alive, 1, (size_t)env->total_bricks);
    env->bricks_left = env->total_bricks;
    env->lives = env->max_lives;
    env->tick = 0;
    env->score = 0;
    env->paddle_x = 0.5f * env->width;
    bo_serve(env);
    if (env->pixels) {
        uint8_t* frame = (uint8_t*)r.obs;
        int w = BO_PX * env->cols, h = bo_field_px_h(env->rows);
        memset(frame, 0, (size_t)(w * h));
        for (int row = 0; row < env->rows; row++) {
            int y = (row + BO_TOP_CELLS) * (BO_PX / 2);
            memset(frame + y * w, bo_brick_shade(env, row), (size_t)(w * BO_PX / 2));
        }
        env->ball_px = -8;
        env->ball_py = -8;
        bo_draw_pixels(env, frame);
    } else {
        float* obs = (float*)r.obs;
        bo_write_scalars(env, obs);
        for (int k = 0; k < env->total_bricks; k++) obs[BO_SCALARS + k] = 1.0f;
    }
}

/* Atari points of a brick in row `row` (0 the top row). */
static inline int bo_points(const Breakout* env, int row) {
    int from_bottom = env->rows - 1 - row;
    return from_bottom < 2 ? 1 : (from_bottom < 4 ? 4 : 7);
}

/* Sets the ball's speed for the current stage, keeping its direction. */
static inline void bo_set_stage(Breakout* env, int stage) {
    float speed = env->base_speed * (1.0f + 0.15f * (float)stage);
    float k = speed / env->speed;
    env->vx *= k;
    env->vy *= k;
    env->speed = speed;
    env->stage = stage;
}

/* One tick of physics under action a (0 stay, 1 left, 2 right); returns its reward. A broken brick
 * is written into the observation at once (obs_vec or frame, whichever the env has). */
static inline float bo_tick(Breakout* env, uint32_t a, float* obs_vec, uint8_t* frame) {
    static const float dir[3] = {0.0f, -1.0f, 1.0f};
    float reward = 0.0f;
    float px = env->paddle_x + dir[a] * env->paddle_speed;
    px = px < env->half_w ? env->half_w : px;
    px = px > env->width - env->half_w ? env->width - env->half_w : px;
    env->paddle_x = px;

    float ox = env->ball_x, oy = env->ball_y;
    float x = ox + env->vx, y = oy + env->vy;
    if (x < 0.0f) { x = -x; env->vx = -env->vx; }
    if (x > env->width) { x = 2.0f * env->width - x; env->vx = -env->vx; }
    if (y < 0.0f) {
        y = -y;
        env->vy = -env->vy;
        if (env->shrink & !env->shrunk) {
            env->shrunk = 1;
            env->half_w *= 0.5f;
        }
    }

    /* the cell the ball entered: a brick there is broken and the ball bounces back */
    int cell_row = (int)(y * 2.0f) - BO_TOP_CELLS;
    if ((unsigned)cell_row < (unsigned)env->rows) {
        int col = (int)x;
        col = col < env->cols ? col : env->cols - 1;
        int brick = cell_row * env->cols + col;
        if (env->alive[brick]) {
            env->alive[brick] = 0;
            env->bricks_left -= 1;
            env->score += bo_points(env, cell_row);
            reward += 1.0f;
            if (frame) {
                bo_clear_brick_pixels(env, frame, brick);
            } else {
                obs_vec[BO_SCALARS + brick] = 0.0f;
            }
            if ((int)(oy * 2.0f) != (int)(y * 2.0f)) {
                env->vy = -env->vy;
            } else {
                env->vx = -env->vx;
            }
            x = ox;
            y = oy;
            if (env->speedup & (cell_row < 2) & !env->top_hit) {
                env->top_hit = 1;
                bo_set_stage(env, env->stage + 1);
            }
        }
    }

    /* the paddle: crossing its top edge within reach */
    if ((env->vy > 0.0f) & (oy < env->paddle_y) & (y >= env->paddle_y)) {
        float reach = env->half_w + 0.25f;
        float off = x - px;
        if ((off >= -reach) & (off <= reach)) {
            int zone = (int)((off + reach) * (4.0f / reach));
            zone = zone < 0 ? 0 : (zone > 7 ? 7 : zone);
            env->vx = env->speed * bo_zone_sin[zone];
            env->vy = -env->speed * bo_zone_cos[zone];
            y = 2.0f * env->paddle_y - y;
            env->hits += 1;
            if (env->speedup & ((env->hits == 4) | (env->hits == 12))) bo_set_stage(env, env->stage + 1);
        }
    }
    env->ball_x = x;
    env->ball_y = y;

    if (y > env->height) {
        reward -= env->life_penalty;
        env->lives -= 1;
        if (env->lives > 0) {
            bo_serve(env);
        } else {
            env->ball_y = env->height;  /* the final observation stays inside its bounds */
        }
    }
    return reward;
}

static inline void breakout_step(Breakout* env, PufferRows r) {
    uint32_t a = (uint32_t)((const int32_t*)r.act)[0];
    a = a < 3 ? a : 0;
    float* obs_vec = env->pixels ? NULL : (float*)r.obs;
    uint8_t* frame = env->pixels ? (uint8_t*)r.obs : NULL;
    float reward = 0.0f;
    int term = 0;
    for (int k = 0; k < env->frameskip && !term; k++) {
        reward += bo_tick(env, a, obs_vec, frame);
        term = (env->lives <= 0) | (env->bricks_left == 0);
    }
    env->tick += 1;
    int trunc = !term & (env->tick >= env->max_steps);
    if (frame) {
        bo_draw_pixels(env, frame);
    } else {
        bo_write_scalars(env, obs_vec);
    }
    r.rew[0] = reward;
    r.term[0] = (uint8_t)term;
    r.trunc[0] = (uint8_t)trunc;
    if (term | trunc) {
        double* stats = r.log->stats;
        stats[0] += (double)env->score;
        stats[1] += (double)(env->total_bricks - env->bricks_left) / (double)env->total_bricks;
        stats[2] += (double)(env->max_lives - env->lives);
        stats[3] += (double)(env->bricks_left == 0);
    }
}

static int breakout_render(Breakout* env, uint8_t* rgb, int w, int h) {
    static const uint8_t colors[6][3] = {
        {212, 62, 52}, {240, 148, 40}, {226, 188, 36}, {58, 168, 84}, {52, 108, 220}, {128, 84, 196}};
    PufferCanvas c = puffer_canvas(rgb, w, h);
    int unit = w / env->cols;
    if (unit < 4) return -1;
    int top = unit;                       /* the score strip */
    int brick_h = unit / 2;
    puffer_draw_clear(&c, PUFFER_INK);
    puffer_draw_rect(&c, 0, 0, w, top, PUFFER_PAPER);
    char text[32];
    snprintf(text, sizeof text, "%d", env->score);  /* the font has digits, not letters */
    int scale = unit / 8 > 1 ? unit / 8 : 1;
    puffer_draw_text(&c, unit / 4, (top - 5 * scale) / 2, scale, text, PUFFER_INK);
    for (int k = 0; k < env->lives; k++) {
        float cx = (float)w - (float)unit * (0.6f + 0.7f * (float)k);
        puffer_draw_circle(&c, cx, 0.5f * (float)top, 0.25f * (float)unit, PUFFER_RED);
    }
    for (int row = 0; row < env->rows; row++) {
        int band = (row * 6) / env->rows;
        const uint8_t* rc = colors[band];
        PufferColor col = puffer_color(rc[0], rc[1], rc[2]);
        int y = top + (row + BO_TOP_CELLS) * brick_h;
        for (int k = 0; k < env->cols; k++) {
            if (!env->alive[row * env->cols + k]) continue;
            puffer_draw_rect(&c, k * unit + 1, y + 1, unit - 2, brick_h - 2 > 1 ? brick_h - 2 : 1, col);
        }
    }
    int px0 = (int)lrintf((env->paddle_x - env->half_w) * (float)unit);
    int pw = (int)lrintf(2.0f * env->half_w * (float)unit);
    puffer_draw_rect(&c, px0, top + (int)(env->paddle_y * (float)unit), pw, brick_h, PUFFER_GREY);
    puffer_draw_circle(&c, env->ball_x * (float)unit, (float)top + env->ball_y * (float)unit,
                       0.2f * (float)unit + 1.0f, PUFFER_WHITE);
    return 0;
}

PUFFER_DEFINE_ENV_EXT(Breakout, breakout,
    "Breakout: break a wall of rows x cols bricks with a ball, keeping it in play with a paddle.\n"
    "observation: Box(float32, (8 + rows * cols,)) paddle x, paddle width, ball x, y, vx, vy, ball x\n"
    "  - paddle x, lives, then the bricks (1 alive); pixels=1: Box(uint8, (4 * (10 + rows / 2),\n"
    "  4 * cols)) a grayscale frame\n"
    "action: Discrete(3) stay, left, right (the ball serves itself), repeated for frameskip ticks\n"
    "reward: +1 per brick, -life_penalty per lost ball\n"
    "episode end: terminated when the lives run out or the board is clear, truncated after max_steps\n"
    "statistics: score (Atari points 1/1/4/4/7/7 by row), bricks (fraction broken), lives_lost, wins\n"
    "render: bricks in row colours, the paddle, the ball, the score and the lives",
    breakout_params, (int)(sizeof(breakout_params) / sizeof(PufferParam)), breakout_stats, 4, NULL,
    breakout_render)
PUFFER_EXPORT(breakout)
