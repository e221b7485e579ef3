/* snake: many snakes on one shared map, eating food, growing, and dying on collisions (the game of
 * the original PufferLib's Snake, written from its rules).
 *
 * Rules: num_snakes snakes share a width x height map walled all round. Every step each snake, in
 *   index order, moves its head one cell. Entering food grows it by one (its tail stays; up to
 *   max_length cells, after which food is eaten without growing); otherwise its tail follows (so a
 *   head may enter the cell its own tail leaves in the same step). Entering a wall or any snake's
 *   body or head (its own included) kills it: its whole body is left as food (corpses) and it
 *   respawns at once, one cell long, on a random empty cell (on a map crowded past that, on a food
 *   cell, of which its corpse left at least one). Snakes move in index order, so in a
 *   head-on meeting the later snake dies. Food: num_food cells at reset; whenever eating brings the
 *   food on the map below num_food, new food appears on random empty cells (corpses count as food,
 *   so they are eaten without being replaced).
 * Observation: Box(uint8, (2 * vision + 1, 2 * vision + 1), [0, 5]), the window centred on the
 *   snake's head (row-major, row 0 is up): 0 empty, 1 food (corpses too), 2 wall (outside the map),
 *   3 another snake's body, 4 another snake's head, 5 the snake's own body (its head, the centre
 *   cell, included).
 * Action: Discrete(4) absolute directions: 0 up, 1 down, 2 left, 3 right. A snake of two or more
 *   cells cannot turn back into its neck: that action (and any action outside 0..3) repeats its
 *   last move. A one-cell snake may move any way; it starts with a random last move.
 * Reward: reward_food (default +1) for eating food, reward_death (default -1) on dying, else 0.
 * Episode end: each snake's own episode (spec->agent_episodes) is terminated when it dies (it
 *   respawns in the same step); every snake is truncated after max_steps steps of the world, which
 *   then resets.
 * Statistics (per snake episode): length (cells at death or truncation), food (eaten), and how it
 *   ended: wall, self, other (1 for the collision that killed it, all 0 when truncated).
 * Parameters (snake_params below, with ranges): width, height (the map; the defaults are a quarter
 *   of the original's 640 x 360 with 256 snakes and 4096 food, at the same densities), num_snakes,
 *   num_food, vision, max_length, max_steps, reward_food, reward_death. describe() refuses
 *   num_snakes + num_food >= width * height and num_snakes * max_length > 2**26.
 * Memory: init allocates the grid and the bodies (close frees them); if that fails the world is
 *   inert (windows of walls, every snake truncated each step) rather than unsafe.
 *
 * Speed: the grid keeps a vision-wide wall border, so a window never leaves it and is written as
 * plain row copies of the grid's own codes (which are the observation's codes); only the snake's
 * own cells are then rewritten as 5, walking its body. No per-step allocation or clearing.
 *
 * Render: the map on a ground of 8 x 8 cell blocks in two tones (walls beyond its edge not drawn),
 * cells of up to 16 pixels and the frame at most 512 pixels across (large maps are scaled down, heads
 * then marked 3 x 3 pixels), food in pale grey, each snake in its own colour with a darker head.
 */
#include <stdlib.h>
#include "../puffer_draw.h"
#include "../puffer_env.h"

enum { SN_EMPTY = 0, SN_FOOD = 1, SN_WALL = 2, SN_BODY = 3, SN_HEAD = 4, SN_OWN = 5 };
enum { SN_UP = 0, SN_DOWN = 1, SN_LEFT = 2, SN_RIGHT = 3 };
enum { SN_STAT_LENGTH, SN_STAT_FOOD, SN_STAT_WALL, SN_STAT_SELF, SN_STAT_OTHER };

typedef struct {
    int16_t r, c;           /* cell in the bordered grid */
} SnakeCell;

typedef struct {
    int32_t head;           /* index of the head in this snake's ring of cells */
    int32_t len;
    int32_t dir;            /* last move */
    int32_t food;           /* eaten this episode */
} SnakeBody;

typedef struct {
    int32_t width, height, num_snakes, num_food, vision, max_length, max_steps;
    int32_t pw;             /* bordered grid width: width + 2 * vision */
    int32_t tick, food_count;
    float reward_food, reward_death;
    uint8_t* grid;          /* [height + 2 vision][pw] cell codes (SN_EMPTY..SN_HEAD) */
    SnakeCell* cells;       /* [num_snakes][max_length] rings of body cells */
    SnakeBody* snakes;      /* [num_snakes] */
    PufferRng rng;
} Snake;

static const PufferParam snake_params[] = {
    /* a quarter of the original's 640 x 360 map with 256 snakes and 4096 food: the same densities */
    {"width", 320, 4, 4096, 1, "columns of the map"},
    {"height", 180, 4, 4096, 1, "rows of the map"},
    {"num_snakes", 64, 1, 4096, 1, "snakes (agents) sharing the map"},
    {"num_food", 1024, 0, 1 << 24, 1, "food kept on the map (at least; corpses add to it)"},
    {"vision", 5, 1, 32, 1, "radius of the observed window: (2 vision + 1) cells square"},
    {"max_length", 1024, 1, 65536, 1, "a snake stops growing at this length"},
    {"max_steps", 2048, 1, 1e9, 1, "steps after which the world is truncated and reset"},
    {"reward_food", 1.0, -100, 100, 0, "reward for eating food"},
    {"reward_death", -1.0, -100, 100, 0, "reward for dying"},
};
static const char* const snake_stats[] = {"length", "food", "wall", "self", "other"};

#define SN_FOOD_COLOR puffer_color(214, 214, 200)

static const int8_t SN_DR[4] = {-1, 1, 0, 0};
static const int8_t SN_DC[4] = {0, 0, -1, 1};
static const int8_t SN_BACK[4] = {SN_DOWN, SN_UP, SN_RIGHT, SN_LEFT};

/* Pixels per map cell when the map fits 512 pixels at one or more a cell (16 at most); 0 when the
 * map must be scaled down. */
static inline int snake_cell_pixels(int width, int height) {
    int big = width > height ? width : height;
    int cell = 512 / big;
    return cell > 16 ? 16 : cell;
}

static void snake_frame_size(int width, int height, int* fw, int* fh) {
    int cell = snake_cell_pixels(width, height);
    int big = width > height ? width : height;
    *fw = cell ? width * cell : (int)((long)width * 512 / big);
    *fh = cell ? height * cell : (int)((long)height * 512 / big);
    if (*fw < 8) *fw = 8;  /* a long thin map stays visible */
    if (*fh < 8) *fh = 8;
}

static int snake_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    int width = (int)p[0], height = (int)p[1], num_snakes = (int)p[2], num_food = (int)p[3];
    int vision = (int)p[4], max_length = (int)p[5];
    long area = (long)width * (long)height;
    if ((long)num_snakes + (long)num_food >= area) {
        return PUFFER_ERROR(err, errlen,
                            "num_snakes + num_food must be less than width * height (%ld cells), "
                            "got %d + %d; use a larger map or fewer snakes or food",
                            area, num_snakes, num_food);
    }
    if ((long)num_snakes * (long)max_length > (1L << 26)) {
        return PUFFER_ERROR(err, errlen,
                            "num_snakes * max_length must be at most 2**26 (the snakes' body "
                            "storage), got %d * %d; lower max_length", num_snakes, max_length);
    }
    int win = 2 * vision + 1;
    s->num_agents = num_snakes;
    s->agent_episodes = 1;
    puffer_obs_box(s, PUFFER_UINT8, win * win, 0.0f, (float)SN_OWN);
    s->obs_ndim = 2;
    s->obs_shape[0] = win;
    s->obs_shape[1] = win;
    puffer_act_discrete(s, 4);
    snake_frame_size(width, height, &s->render_width, &s->render_height);
    return 0;
}

static void snake_init(Snake* env, const double* p, PufferRng rng, PufferRng shared) {
    (void)shared;
    env->width = (int32_t)p[0];
    env->height = (int32_t)p[1];
    env->num_snakes = (int32_t)p[2];
    env->num_food = (int32_t)p[3];
    env->vision = (int32_t)p[4];
    env->max_length = (int32_t)p[5];
    env->max_steps = (int32_t)p[6];
    env->reward_food = (float)p[7];
    env->reward_death = (float)p[8];
    env->pw = env->width + 2 * env->vision;
    env->rng = rng;
    size_t grid = (size_t)env->pw * (size_t)(env->height + 2 * env->vision);
    env->grid = (uint8_t*)malloc(grid);
    env->cells = (SnakeCell*)malloc((size_t)env->num_snakes * (size_t)env->max_length * sizeof(SnakeCell));
    env->snakes = (SnakeBody*)malloc((size_t)env->num_snakes * sizeof(SnakeBody));
}

static void snake_close(Snake* env) {
    free(env->grid);
    free(env->cells);
    free(env->snakes);
    env->grid = NULL;
    env->cells = NULL;
    env->snakes = NULL;
}

static inline int snake_ok(const Snake* env) {
    return env->grid && env->cells && env->snakes;
}

static inline uint8_t* snake_at(Snake* env, SnakeCell c) {
    return env->grid + (size_t)c.r * (size_t)env->pw + (size_t)c.c;
}

/* A random cell of the map (inside the border). */
static inline SnakeCell snake_random_cell(Snake* env) {
    SnakeCell c;
    c.r = (int16_t)(env->vision + puffer_rand_int(&env->rng, env->height));
    c.c = (int16_t)(env->vision + puffer_rand_int(&env->rng, env->width));
    return c;
}

/* A random empty cell, else (a crowded map) the first empty cell, else the first food cell, after
 * a random one in reading order. Returns 0 when the map holds neither. */
static int snake_free_cell(Snake* env, SnakeCell* out) {
    for (int k = 0; k < 64; k++) {
        SnakeCell c = snake_random_cell(env);
        if (*snake_at(env, c) == SN_EMPTY) {
            *out = c;
            return 1;
        }
    }
    long area = (long)env->width * (long)env->height;
    long start = (long)puffer_rand_int(&env->rng, (int)area);
    for (int want = SN_EMPTY; want <= SN_FOOD; want++) {
        for (long k = 0; k < area; k++) {
            long i = (start + k) % area;
            SnakeCell c = {(int16_t)(env->vision + i / env->width), (int16_t)(env->vision + i % env->width)};
            if (*snake_at(env, c) == want) {
                *out = c;
                return 1;
            }
        }
    }
    return 0;
}

/* Places snake i, one cell long, on a free cell. */
static void snake_spawn(Snake* env, int i) {
    SnakeBody* s = &env->snakes[i];
    SnakeCell c;
    s->head = 0;
    s->len = 0;
    s->food = 0;
    s->dir = puffer_rand_int(&env->rng, 4);
    if (!snake_free_cell(env, &c)) return;  /* impossible: describe keeps free cells */
    uint8_t* g = snake_at(env, c);
    env->food_count -= *g == SN_FOOD;
    *g = SN_HEAD;
    env->cells[(size_t)i * (size_t)env->max_length] = c;
    s->len = 1;
}

/* Tops the food up to num_food, a few random draws per missing cell (a crowded map retries on
 * later steps). */
static void snake_add_food(Snake* env) {
    int tries = 8 * (env->num_food - env->food_count);
    while (env->food_count < env->num_food && tries-- > 0) {
        uint8_t* g = snake_at(env, snake_random_cell(env));
        if (*g == SN_EMPTY) {
            *g = SN_FOOD;
            env->food_count += 1;
        }
    }
}

/* Writes snake i's window: rows of the grid, then its own cells as SN_OWN. */
static inline void snake_observe(Snake* env, int i, uint8_t* obs) {
    const SnakeBody* s = &env->snakes[i];
    const SnakeCell* ring = env->cells + (size_t)i * (size_t)env->max_length;
    int v = env->vision, win = 2 * v + 1, cap = env->max_length;
    if (s->len == 0) {
        memset(obs, SN_WALL, (size_t)win * (size_t)win);
        return;
    }
    SnakeCell h = ring[s->head];
    const uint8_t* src = env->grid + (size_t)(h.r - v) * (size_t)env->pw + (size_t)(h.c - v);
    for (int k = 0; k < win; k++) memcpy(obs + k * win, src + (size_t)k * (size_t)env->pw, (size_t)win);
    int idx = s->head;
    for (int k = 0; k < s->len; k++) {
        SnakeCell c = ring[idx];
        unsigned dr = (unsigned)(c.r - h.r + v), dc = (unsigned)(c.c - h.c + v);
        if ((dr < (unsigned)win) & (dc < (unsigned)win)) obs[dr * (unsigned)win + dc] = SN_OWN;
        idx = idx == 0 ? cap - 1 : idx - 1;
    }
}

/* Whether cell c is one of snake i's cells. */
static int snake_owns(Snake* env, int i, SnakeCell c) {
    const SnakeBody* s = &env->snakes[i];
    const SnakeCell* ring = env->cells + (size_t)i * (size_t)env->max_length;
    int idx = s->head;
    for (int k = 0; k < s->len; k++) {
        if (ring[idx].r == c.r && ring[idx].c == c.c) return 1;
        idx = idx == 0 ? env->max_length - 1 : idx - 1;
    }
    return 0;
}

static void snake_reset(Snake* env, PufferRows r) {
    uint8_t* obs = (uint8_t*)r.obs;
    int win = 2 * env->vision + 1;
    if (!snake_ok(env)) {  /* out of memory at init: an inert world of walls */
        memset(obs, SN_WALL, (size_t)env->num_snakes * (size_t)win * (size_t)win);
        return;
    }
    int v = env->vision, ph = env->height + 2 * v;
    memset(env->grid, SN_WALL, (size_t)env->pw * (size_t)ph);
    for (int row = v; row < v + env->height; row++) {
        memset(env->grid + (size_t)row * (size_t)env->pw + v, SN_EMPTY, (size_t)env->width);
    }
    env->tick = 0;
    env->food_count = 0;
    for (int i = 0; i < env->num_snakes; i++) snake_spawn(env, i);
    snake_add_food(env);
    for (int i = 0; i < env->num_snakes; i++) snake_observe(env, i, obs + (size_t)i * (size_t)(win * win));
}

/* Kills snake i after it ran into a cell holding `what`: its body becomes food, it respawns. */
static PUFFER_COLD void snake_die(Snake* env, int i, SnakeCell target, int what, PufferRows r) {
    SnakeBody* s = &env->snakes[i];
    SnakeCell* ring = env->cells + (size_t)i * (size_t)env->max_length;
    int cause = what == SN_WALL ? SN_STAT_WALL : (snake_owns(env, i, target) ? SN_STAT_SELF : SN_STAT_OTHER);
    double* stats = r.log->stats;
    stats[SN_STAT_LENGTH] += (double)s->len;
    stats[SN_STAT_FOOD] += (double)s->food;
    stats[cause] += 1.0;
    int idx = s->head;
    for (int k = 0; k < s->len; k++) {
        *snake_at(env, ring[idx]) = SN_FOOD;
        idx = idx == 0 ? env->max_length - 1 : idx - 1;
    }
    env->food_count += s->len;
    snake_spawn(env, i);
    r.rew[i] = env->reward_death;
    r.term[i] = 1;
}

static inline void snake_move(Snake* env, int i, int32_t action, PufferRows r) {
    SnakeBody* s = &env->snakes[i];
    SnakeCell* ring = env->cells + (size_t)i * (size_t)env->max_length;
    int cap = env->max_length;
    r.rew[i] = 0.0f;
    r.term[i] = 0;
    if (s->len == 0) return;
    uint32_t a = (uint32_t)action;
    int dir = s->dir;
    if (a < 4u && !(s->len >= 2 && (int)a == SN_BACK[dir])) dir = (int)a;
    SnakeCell h = ring[s->head];
    SnakeCell t = {(int16_t)(h.r + SN_DR[dir]), (int16_t)(h.c + SN_DC[dir])};
    uint8_t* target = snake_at(env, t);
    int what = *target;
    int grow = (what == SN_FOOD) & (s->len < cap);
    if (!grow) {
        /* the tail leaves first, so the head may take its cell */
        int tail = s->head - s->len + 1;
        tail += tail < 0 ? cap : 0;
        *snake_at(env, ring[tail]) = SN_EMPTY;
        what = *target;
    }
    if (what >= SN_WALL) {
        snake_die(env, i, t, what, r);
        return;
    }
    if (grow | (s->len >= 2)) *snake_at(env, h) = SN_BODY;
    *target = SN_HEAD;
    s->head = s->head + 1 == cap ? 0 : s->head + 1;
    ring[s->head] = t;
    s->len += grow;
    s->dir = dir;
    if (what == SN_FOOD) {
        s->food += 1;
        env->food_count -= 1;
        r.rew[i] = env->reward_food;
    }
}

static void snake_step(Snake* env, PufferRows r) {
    const int32_t* act = (const int32_t*)r.act;
    uint8_t* obs = (uint8_t*)r.obs;
    int n = env->num_snakes, win = 2 * env->vision + 1;
    if (!snake_ok(env)) {
        memset(r.rew, 0, (size_t)n * sizeof(float));
        memset(r.term, 0, (size_t)n);
        memset(r.trunc, 1, (size_t)n);
        return;
    }
    for (int i = 0; i < n; i++) snake_move(env, i, act[i], r);
    if (env->food_count < env->num_food) snake_add_food(env);
    for (int i = 0; i < n; i++) snake_observe(env, i, obs + (size_t)i * (size_t)(win * win));
    env->tick += 1;
    uint8_t trunc = (uint8_t)(env->tick >= env->max_steps);
    for (int i = 0; i < n; i++) r.trunc[i] = trunc;
    if (trunc) {
        /* the snakes alive at the end finish their episodes here */
        double* stats = r.log->stats;
        for (int i = 0; i < n; i++) {
            if (r.term[i]) continue;
            stats[SN_STAT_LENGTH] += (double)env->snakes[i].len;
            stats[SN_STAT_FOOD] += (double)env->snakes[i].food;
        }
    }
}

/* A distinct, saturated colour for snake i (hues spaced by the golden ratio). */
static PufferColor snake_color(int i) {
    float hue = (float)i * 0.618034f;
    hue -= floorf(hue);
    float h6 = hue * 6.0f, x = 1.0f - fabsf(fmodf(h6, 2.0f) - 1.0f);
    float rgb[3];
    int sector = (int)h6;
    switch (sector) {
        case 0: rgb[0] = 1; rgb[1] = x; rgb[2] = 0; break;
        case 1: rgb[0] = x; rgb[1] = 1; rgb[2] = 0; break;
        case 2: rgb[0] = 0; rgb[1] = 1; rgb[2] = x; break;
        case 3: rgb[0] = 0; rgb[1] = x; rgb[2] = 1; break;
        case 4: rgb[0] = x; rgb[1] = 0; rgb[2] = 1; break;
        default: rgb[0] = 1; rgb[1] = 0; rgb[2] = x; break;
    }
    return puffer_color(40 + (int)(190.0f * rgb[0]), 40 + (int)(190.0f * rgb[1]), 40 + (int)(190.0f * rgb[2]));
}

/* Fills map cell (row, col) (map coordinates) of a frame scaled from the map's size. */
static void snake_fill(PufferCanvas* c, const Snake* env, int row, int col, int inset, PufferColor col_) {
    int x0 = (int)((long)col * c->width / env->width), x1 = (int)((long)(col + 1) * c->width / env->width);
    int y0 = (int)((long)row * c->height / env->height), y1 = (int)((long)(row + 1) * c->height / env->height);
    int w = x1 - x0 > 1 ? x1 - x0 : 1, h = y1 - y0 > 1 ? y1 - y0 : 1;
    if (w > 2 * inset + 1 && h > 2 * inset + 1) {
        x0 += inset;
        y0 += inset;
        w -= 2 * inset;
        h -= 2 * inset;
    }
    puffer_draw_rect(c, x0, y0, w, h, col_);
}

static int snake_render(Snake* env, uint8_t* rgb, int w, int h) {
    if (!snake_ok(env)) return -1;
    PufferCanvas c = puffer_canvas(rgb, w, h);
    int v = env->vision;
    int cell = w / env->width;
    int inset = cell >= 6 ? cell / 6 : 0;
    /* the ground in blocks of 8 x 8 cells of two close tones, so that distances read at any scale */
    for (int br = 0; br < env->height; br += 8) {
        for (int bc = 0; bc < env->width; bc += 8) {
            int x0 = (int)((long)bc * w / env->width), y0 = (int)((long)br * h / env->height);
            int x1 = (int)((long)(bc + 8 < env->width ? bc + 8 : env->width) * w / env->width);
            int y1 = (int)((long)(br + 8 < env->height ? br + 8 : env->height) * h / env->height);
            PufferColor ground = ((br + bc) / 8) & 1 ? puffer_color(30, 34, 44) : puffer_color(24, 28, 36);
            puffer_draw_rect(&c, x0, y0, x1 - x0, y1 - y0, ground);
        }
    }
    for (int row = 0; row < env->height; row++) {
        const uint8_t* g = env->grid + (size_t)(row + v) * (size_t)env->pw + (size_t)v;
        for (int col = 0; col < env->width; col++) {
            if (g[col] == SN_FOOD) snake_fill(&c, env, row, col, inset, SN_FOOD_COLOR);
        }
    }
    for (int i = 0; i < env->num_snakes; i++) {
        const SnakeBody* s = &env->snakes[i];
        const SnakeCell* ring = env->cells + (size_t)i * (size_t)env->max_length;
        PufferColor body = snake_color(i);
        PufferColor head = puffer_color_mix(body, PUFFER_BLACK, 0.45f);
        for (int k = s->len - 1; k >= 0; k--) {
            /* tail first, so that the head is drawn over any overlap of scaled-down cells */
            int at = s->head - k;
            at += at < 0 ? env->max_length : 0;
            SnakeCell sc = ring[at];
            snake_fill(&c, env, sc.r - v, sc.c - v, 0, k == 0 ? head : body);
        }
        if (cell < 3 && s->len > 0) {
            /* a scaled-down map: heads as 3 x 3 pixel marks, so that every snake shows */
            SnakeCell hc = ring[s->head];
            int x = (int)((long)(hc.c - v) * w / env->width), y = (int)((long)(hc.r - v) * h / env->height);
            puffer_draw_rect(&c, x - 1, y - 1, 3, 3, head);
        }
    }
    return 0;
}

PUFFER_DEFINE_ENV_EXT(Snake, snake,
    "Many snakes on one walled map: eat food to grow, die on walls and bodies, corpses become food.\n"
    "observation: Box(uint8, (2 vision + 1, 2 vision + 1), [0, 5]) window at the head: 0 empty,\n"
    "  1 food, 2 wall, 3 other body, 4 other head, 5 own body\n"
    "action: Discrete(4) up, down, left, right (back into the neck or out of range: last move)\n"
    "reward: reward_food for food (+1), reward_death on death (-1), else 0\n"
    "episode end: a snake's terminal on death (it respawns); every snake truncated after max_steps\n"
    "statistics: length (at death/truncation), food (eaten), wall, self, other (cause of death)\n"
    "tests: many-agent grid world with agent episodes\n"
    "render: the map, food in pale grey, each snake in its own colour (darker head)",
    snake_params, (int)(sizeof(snake_params) / sizeof(PufferParam)), snake_stats, 5, snake_close,
    snake_render)
