/* gather: many agents share a grid, harvest items from regrowing patches and carry them home.
 *
 * Rules. A size x size grid (outside it is wall) holds a depot_size x depot_size depot in its
 * centre, `patches` square resource patches of side 2 * patch_radius + 1 at random places (cells of
 * a patch hold one item each, all full at the start), a fraction `walls` of random wall cells, and
 * num_agents agents on random free cells. Every step the agents act one after another, starting
 * from agent (tick mod num_agents) so that no index always moves first:
 *   - a move into a free cell (no wall, depot or agent) moves the agent there; a move into
 *     another agent is blocked (a collision, counted); a move into a wall does nothing;
 *   - a move into the depot delivers every item the agent carries (the agent stays put);
 *   - then, where it stands, an agent carrying fewer than `capacity` items picks up the cell's item.
 * After the agents, every empty patch cell regrows its item with probability `regrowth` (an item
 * may regrow under an agent: it picks it up on its next turn unless it walks away). Agents compete
 * for the same patches (supply is finite: about regrowth x patch cells a step) and block each other
 * in the lanes to the depot. There are no deaths.
 *
 * Observation: Box(uint8, (W * W + 3,), [0, 7]) per agent, W = 2 * vision + 1:
 *   [0, W * W)  the egocentric window, row-major, the agent at its centre; cell codes
 *               0 empty, 1 wall (also outside the grid), 2 patch cell without an item, 3 item,
 *               4 depot, 5 agent (the agent itself at the centre).
 *   W * W       load: ceil(7 * carried / capacity) (0 empty ... 7 full).
 *   W * W + 1   the depot's row offset, W * W + 2 its column offset, each 3 + sign(d) * bucket(|d|)
 *               with d the signed distance (in cells) from the agent to the depot's nearest row
 *               (column), 0 when aligned with it, and bucket 0 for 0, 1 for 1-2, 2 for 3-6, 3 for 7+.
 *   Every byte lies in [0, 7], so the row one-hots into 8 values per byte (obs_encoding 'onehot').
 * Action: Discrete(5): 0 stay, 1 up, 2 down, 3 left, 4 right. Any other value acts as stay. All
 *   actions are always legal (no action mask): a blocked move is a stay.
 * Reward, per agent and step: (1 - share) * own + share * team + pick_reward * picked, where own is
 *   the items the agent delivered this step, team the items all agents of the env delivered this
 *   step divided by num_agents, and picked 1 when it picked an item up. share = 1 pays every agent
 *   the team's mean (making room for others and leaving an item to a closer agent pay); share = 0
 *   pays each for its own deliveries only.
 * Episode end: truncated for every agent after max_steps (never terminated).
 * Statistics (once per env episode): delivered (items delivered per agent, the score),
 *   delivered_min (the fewest any agent delivered: fairness), picked (items picked up per agent),
 *   collisions (moves blocked by another agent, per agent), stock (fraction of patch cells holding
 *   an item at the end).
 *
 * Speed: the env keeps a padded grid of observation codes (vision cells of wall around the grid)
 * updated cell by cell as the world changes (a few cells a step). Each agent's window is then W
 * row copies out of it, with no bounds checks. Every agent's window is rewritten every step: the
 * agents move, so their windows shift, and rewriting the moved rows costs what finding the changed
 * bytes would. Regrowth draws one geometric gap per regrown item rather than one number per empty
 * cell. The state lives in one allocation per env (freed by close).
 *
 * Render: the grid (cells of 2 to 32 pixels, at most 512 across), walls dark grey, patch cells
 * light green with an item as a gold disc, the depot orange, agents blue discs (with a gold centre
 * when carrying), and the time used as a bar underneath.
 */
#include <stdlib.h>
#include "../puffer_draw.h"
#include "../puffer_env.h"

/* Cell flags of the world grid. */
enum { G_WALL = 1, G_DEPOT = 2, G_PATCH = 4, G_ITEM = 8, G_AGENT = 16 };
/* Observation codes. */
enum { C_EMPTY = 0, C_WALL = 1, C_PATCH = 2, C_ITEM = 3, C_DEPOT = 4, C_AGENT = 5, C_MAX = 7 };

typedef struct {
    /* parameters */
    int32_t num_agents, size, vision, capacity, patches, patch_radius, depot_size, max_steps;
    float regrowth, walls, share, pick_reward;
    float log_keep;            /* log(1 - regrowth), for the geometric gaps */
    /* state */
    int32_t tick;
    int32_t depot_lo;          /* the depot covers rows and columns [depot_lo, depot_lo + depot_size) */
    int32_t pad;               /* side of the padded code grid: size + 2 * vision */
    int32_t num_empty;         /* patch cells without an item */
    int32_t num_patch;         /* patch cells */
    uint8_t* grid;             /* [size * size] G_* flags */
    uint8_t* codes;            /* [pad * pad] observation codes, the border wall */
    int32_t* empty;            /* [size * size] the empty patch cells (first num_empty) */
    int32_t* slot;             /* [size * size] a cell's index in empty, -1 when not in it */
    int32_t* pos;              /* [num_agents] cell of each agent */
    int32_t* carried;          /* [num_agents] */
    int32_t* delivered;        /* [num_agents] this episode */
    int32_t* picked;           /* [num_agents] this episode */
    int32_t* collisions;       /* [num_agents] this episode */
    void* block;               /* the one allocation the arrays live in */
    PufferRng rng;
} Gather;

static const PufferParam gather_params[] = {
    {"num_agents", 64, 1, 256, 1, "agents per world"},
    {"size", 32, 8, 128, 1, "side of the square grid"},
    {"vision", 5, 1, 7, 1, "the window is (2 * vision + 1) cells square, centred on the agent"},
    {"capacity", 4, 1, 64, 1, "items an agent can carry"},
    {"patches", 8, 1, 64, 1, "resource patches placed at random"},
    {"patch_radius", 2, 0, 8, 1, "a patch is a square of side 2 * patch_radius + 1"},
    {"regrowth", 0.02, 0, 1, 0, "chance per step that an empty patch cell regrows its item"},
    {"depot_size", 2, 1, 8, 1, "side of the square depot in the grid's centre (at most size / 2)"},
    {"walls", 0, 0, 0.25, 0, "fraction of the grid's cells drawn as random walls"},
    {"max_steps", 256, 1, 1e6, 1, "steps after which the world's episode is truncated"},
    {"share", 0, 0, 1, 0, "weight of the team's mean delivery in each agent's reward"},
    {"pick_reward", 0.1, 0, 1, 0, "reward for picking an item up (shaping)"},
};
static const char* const gather_stats[] = {"delivered", "delivered_min", "picked", "collisions", "stock"};

static inline int gather_cell_pixels(int size) {
    int cell = 512 / size;
    return cell < 2 ? 2 : (cell > 32 ? 32 : cell);
}

static int gather_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    int agents = (int)p[0], size = (int)p[1], vision = (int)p[2], depot = (int)p[7];
    if (2 * depot > size) {
        return PUFFER_ERROR(err, errlen, "depot_size must be at most size / 2 = %d, got %d; lower "
                            "depot_size or raise size", size / 2, depot);
    }
    int room = (size * size - depot * depot) / 2;
    if (agents > room) {
        return PUFFER_ERROR(err, errlen, "num_agents must be at most half the cells outside the depot "
                            "(%d for size %d, depot_size %d), got %d; raise size or lower num_agents",
                            room, size, depot, agents);
    }
    int w = 2 * vision + 1;
    int cell = gather_cell_pixels(size);
    s->num_agents = agents;
    s->render_width = size * cell;
    s->render_height = size * cell + (cell / 2 > 4 ? cell / 2 : 4);
    puffer_obs_box(s, PUFFER_UINT8, w * w + 3, 0.0f, (float)C_MAX);
    puffer_act_discrete(s, 5);
    return 0;
}

static void gather_close(Gather* env) {
    free(env->block);
    env->block = NULL;
}

static void gather_init(Gather* env, const double* p, PufferRng rng, PufferRng shared) {
    (void)shared;
    env->num_agents = (int32_t)p[0];
    env->size = (int32_t)p[1];
    env->vision = (int32_t)p[2];
    env->capacity = (int32_t)p[3];
    env->patches = (int32_t)p[4];
    env->patch_radius = (int32_t)p[5];
    env->regrowth = (float)p[6];
    env->depot_size = (int32_t)p[7];
    env->walls = (float)p[8];
    env->max_steps = (int32_t)p[9];
    env->share = (float)p[10];
    env->pick_reward = (float)p[11];
    env->log_keep = env->regrowth > 0.0f && env->regrowth < 1.0f ? logf(1.0f - env->regrowth) : 0.0f;
    env->depot_lo = (env->size - env->depot_size) / 2;
    env->pad = env->size + 2 * env->vision;
    env->rng = rng;
    size_t cells = (size_t)env->size * (size_t)env->size, n = (size_t)env->num_agents;
    size_t ints = 2 * cells + 5 * n;
    size_t bytes = ints * sizeof(int32_t) + cells + (size_t)env->pad * (size_t)env->pad;
    env->block = calloc(1, bytes);
    if (!env->block) return;   /* reset and step then do nothing (render refuses) */
    int32_t* at = (int32_t*)env->block;
    env->empty = at; at += cells;
    env->slot = at; at += cells;
    env->pos = at; at += n;
    env->carried = at; at += n;
    env->delivered = at; at += n;
    env->picked = at; at += n;
    env->collisions = at; at += n;
    env->grid = (uint8_t*)at;
    env->codes = env->grid + cells;
}

static inline uint8_t gather_code(uint8_t g) {
    if (g & G_AGENT) return C_AGENT;
    if (g & G_WALL) return C_WALL;
    if (g & G_DEPOT) return C_DEPOT;
    if (g & G_ITEM) return C_ITEM;
    return g & G_PATCH ? C_PATCH : C_EMPTY;
}

/* The padded code of a grid cell. */
static inline uint8_t* gather_code_at(Gather* env, int cell) {
    int row = cell / env->size, col = cell - row * env->size;
    return env->codes + (size_t)(row + env->vision) * (size_t)env->pad + (size_t)(col + env->vision);
}

static inline void gather_set(Gather* env, int cell, uint8_t g) {
    env->grid[cell] = g;
    *gather_code_at(env, cell) = gather_code(g);
}

/* A patch cell lost its item: it joins the regrowth list. */
static inline void gather_take(Gather* env, int cell) {
    env->slot[cell] = env->num_empty;
    env->empty[env->num_empty++] = cell;
}

/* The empty patch cell at index k of the list regrows (the list's last entry takes its place). */
static inline void gather_regrow(Gather* env, int k) {
    int cell = env->empty[k];
    int last = env->empty[--env->num_empty];
    env->empty[k] = last;
    env->slot[last] = k;
    env->slot[cell] = -1;
    gather_set(env, cell, (uint8_t)(env->grid[cell] | G_ITEM));
}

/* A random cell without wall, depot or agent (and, when avoid_items, without an item): random
 * draws first, then a scan from a random start, which finds one whenever any exists. */
static int gather_free_cell(Gather* env, int avoid_items) {
    int cells = env->size * env->size;
    uint8_t blocked = (uint8_t)(G_WALL | G_DEPOT | G_AGENT | (avoid_items ? G_ITEM : 0));
    for (int tries = 0; tries < 64; tries++) {
        int c = puffer_rand_int(&env->rng, cells);
        if (!(env->grid[c] & blocked)) return c;
    }
    int start = puffer_rand_int(&env->rng, cells);
    for (int k = 0; k < cells; k++) {
        int c = (start + k) % cells;
        if (!(env->grid[c] & blocked)) return c;
    }
    return -1;
}

/* 3 + sign(d) * bucket(|d|): the quantised offset written into the observation. */
static inline uint8_t gather_offset_code(int d) {
    int m = d < 0 ? -d : d;
    int bucket = m == 0 ? 0 : (m <= 2 ? 1 : (m <= 6 ? 2 : 3));
    return (uint8_t)(d < 0 ? 3 - bucket : 3 + bucket);
}

/* Signed distance from x to the span [lo, hi]: 0 inside it. */
static inline int gather_span_offset(int x, int lo, int hi) {
    return x < lo ? lo - x : (x > hi ? hi - x : 0);
}

static inline void gather_write_obs(Gather* env, uint8_t* obs) {
    const int w = 2 * env->vision + 1, size = env->size, pad = env->pad;
    const size_t row_bytes = (size_t)(w * w + 3);
    const int lo = env->depot_lo, hi = env->depot_lo + env->depot_size - 1;
    for (int a = 0; a < env->num_agents; a++, obs += row_bytes) {
        int cell = env->pos[a];
        int row = cell / size, col = cell - row * size;
        /* the window's top-left corner in padded coordinates is (row, col) */
        const uint8_t* src = env->codes + (size_t)row * (size_t)pad + (size_t)col;
        for (int i = 0; i < w; i++) memcpy(obs + i * w, src + (size_t)i * (size_t)pad, (size_t)w);
        uint8_t* state = obs + w * w;
        state[0] = (uint8_t)((7 * env->carried[a] + env->capacity - 1) / env->capacity);
        state[1] = gather_offset_code(gather_span_offset(row, lo, hi));
        state[2] = gather_offset_code(gather_span_offset(col, lo, hi));
    }
}

static void gather_reset(Gather* env, PufferRows r) {
    if (!env->block) return;
    const int size = env->size, cells = size * size, pad = env->pad;
    env->tick = 0;
    env->num_empty = 0;
    env->num_patch = 0;
    memset(env->grid, 0, (size_t)cells);
    memset(env->codes, C_WALL, (size_t)pad * (size_t)pad);
    for (int c = 0; c < cells; c++) env->slot[c] = -1;
    for (int i = 0; i < env->depot_size; i++) {
        for (int j = 0; j < env->depot_size; j++) {
            env->grid[(env->depot_lo + i) * size + env->depot_lo + j] = G_DEPOT;
        }
    }
    int walls = (int)(env->walls * (float)cells);
    for (int k = 0; k < walls; k++) {
        int c = puffer_rand_int(&env->rng, cells);
        if (!env->grid[c]) env->grid[c] = G_WALL;
    }
    const int rad = env->patch_radius;
    for (int k = 0; k < env->patches; k++) {
        int pr = puffer_rand_int(&env->rng, size), pc = puffer_rand_int(&env->rng, size);
        for (int i = pr - rad; i <= pr + rad; i++) {
            for (int j = pc - rad; j <= pc + rad; j++) {
                if ((unsigned)i >= (unsigned)size || (unsigned)j >= (unsigned)size) continue;
                uint8_t* g = &env->grid[i * size + j];
                if (*g & (G_WALL | G_DEPOT | G_PATCH)) continue;
                *g = G_PATCH | G_ITEM;
                env->num_patch++;
            }
        }
    }
    for (int a = 0; a < env->num_agents; a++) {
        /* describe() leaves room for every agent, so a free cell always exists */
        int c = gather_free_cell(env, 1);
        if (c < 0) c = gather_free_cell(env, 0);
        if (c < 0) c = 0;   /* unreachable (see describe); keeps every index inside the grid */
        env->pos[a] = c;
        env->grid[c] |= G_AGENT;
        env->carried[a] = env->delivered[a] = env->picked[a] = env->collisions[a] = 0;
    }
    for (int c = 0; c < cells; c++) *gather_code_at(env, c) = gather_code(env->grid[c]);
    gather_write_obs(env, (uint8_t*)r.obs);
}

static inline void gather_log(Gather* env, PufferLog* log) {
    const int n = env->num_agents;
    double delivered = 0.0, picked = 0.0, collisions = 0.0;
    int fewest = env->delivered[0];
    for (int a = 0; a < n; a++) {
        delivered += env->delivered[a];
        picked += env->picked[a];
        collisions += env->collisions[a];
        fewest = env->delivered[a] < fewest ? env->delivered[a] : fewest;
    }
    log->stats[0] += delivered / n;
    log->stats[1] += fewest;
    log->stats[2] += picked / n;
    log->stats[3] += collisions / n;
    log->stats[4] += env->num_patch > 0 ? 1.0 - (double)env->num_empty / env->num_patch : 0.0;
}

static inline void gather_step(Gather* env, PufferRows r) {
    /* moves as (row, column) steps and as cell offsets, for actions 0-4 */
    static const int8_t drow[5] = {0, -1, 1, 0, 0};
    static const int8_t dcol[5] = {0, 0, 0, -1, 1};
    const int n = r.num_agents;
    if (!env->block) {
        for (int a = 0; a < n; a++) r.rew[a] = 0.0f, r.term[a] = 0, r.trunc[a] = 1;
        return;
    }
    const int32_t* act = (const int32_t*)r.act;
    const int size = env->size, cap = env->capacity;
    const float own_w = 1.0f - env->share, pick_w = env->pick_reward;
    int team = 0;
    int first = env->tick % n;
    env->tick += 1;
    for (int k = 0, a = first; k < n; k++, a = a + 1 == n ? 0 : a + 1) {
        uint32_t move = (uint32_t)act[a];
        move = move < 5 ? move : 0;
        int cell = env->pos[a];
        int row = cell / size + drow[move], col = cell % size + dcol[move];
        int own = 0, got = 0;
        if ((unsigned)row < (unsigned)size && (unsigned)col < (unsigned)size) {
            int to = row * size + col;
            uint8_t g = env->grid[to];
            if (g & G_DEPOT) {
                own = env->carried[a];
                env->carried[a] = 0;
                env->delivered[a] += own;
            } else if (g & G_AGENT) {
                env->collisions[a] += to != cell;
            } else if (!(g & G_WALL)) {
                gather_set(env, cell, (uint8_t)(env->grid[cell] & ~G_AGENT));
                gather_set(env, to, (uint8_t)(g | G_AGENT));
                env->pos[a] = cell = to;
            }
        }
        if ((env->grid[cell] & G_ITEM) && env->carried[a] < cap) {
            env->grid[cell] &= (uint8_t)~G_ITEM;      /* the agent stands on it: its code stays */
            env->carried[a] += 1;
            env->picked[a] += 1;
            gather_take(env, cell);
            got = 1;
        }
        team += own;
        r.rew[a] = own_w * (float)own + pick_w * (float)got;
    }
    /* regrowth: geometric gaps between the empty cells that regrow */
    if (env->regrowth >= 1.0f) {
        while (env->num_empty > 0) gather_regrow(env, env->num_empty - 1);
    } else if (env->regrowth > 0.0f) {
        int k = -1;
        for (;;) {
            float u = ((float)(puffer_rand_u32(&env->rng) >> 8) + 1.0f) * (1.0f / 16777216.0f);
            float gap = logf(u) / env->log_keep;   /* failures before the next success */
            if (gap >= (float)(env->num_empty - k - 1)) break;
            k += (int)gap + 1;
            gather_regrow(env, k);
            k -= 1;   /* the list's last entry moved into slot k: it is next in line */
        }
    }
    if (team) {
        float bonus = env->share * (float)team / (float)n;
        for (int a = 0; a < n; a++) r.rew[a] += bonus;
    }
    int done = env->tick >= env->max_steps;
    memset(r.term, 0, (size_t)n);
    memset(r.trunc, done, (size_t)n);
    gather_write_obs(env, (uint8_t*)r.obs);
    if (done) gather_log(env, r.log);
}

static int gather_render(Gather* env, uint8_t* rgb, int w, int h) {
    if (!env->block) return -1;
    PufferCanvas c = puffer_canvas(rgb, w, h);
    const int size = env->size;
    int cell = w / size < h / size ? w / size : h / size;
    if (cell < 1) return -1;
    const int grid = size * cell;
    const PufferColor patch = puffer_color(214, 234, 200), wall = PUFFER_DARK_GREY;
    puffer_draw_clear(&c, PUFFER_PAPER);
    float half = 0.5f * (float)(cell - 1);
    for (int i = 0; i < size; i++) {
        for (int j = 0; j < size; j++) {
            uint8_t g = env->grid[i * size + j];
            int x = j * cell, y = i * cell;
            float cx = (float)x + half, cy = (float)y + half;
            if (g & G_WALL) puffer_draw_rect(&c, x, y, cell, cell, wall);
            if (g & G_DEPOT) puffer_draw_rect(&c, x, y, cell, cell, PUFFER_ORANGE);
            if (g & G_PATCH) puffer_draw_rect(&c, x, y, cell, cell, patch);
            if ((g & G_ITEM) && !(g & G_AGENT)) {
                if (cell >= 4) puffer_draw_circle(&c, cx, cy, 0.3f * (float)cell, PUFFER_GOLD);
                else puffer_draw_rect(&c, x, y, cell, cell, PUFFER_GOLD);
            }
        }
    }
    if (cell >= 8) {   /* faint grid lines */
        for (int k = 0; k <= size; k++) {
            int at = k < size ? k * cell : grid - 1;
            puffer_draw_rect(&c, at, 0, 1, grid, puffer_color(232, 230, 222));
            puffer_draw_rect(&c, 0, at, grid, 1, puffer_color(232, 230, 222));
        }
    }
    for (int a = 0; a < env->num_agents; a++) {
        int row = env->pos[a] / size, col = env->pos[a] % size;
        float cx = (float)(col * cell) + half, cy = (float)(row * cell) + half;
        if (cell >= 4) {
            puffer_draw_circle(&c, cx, cy, 0.45f * (float)cell, PUFFER_BLUE);
            if (env->carried[a] > 0) {
                float load = (float)env->carried[a] / (float)env->capacity;
                puffer_draw_circle(&c, cx, cy, (0.1f + 0.2f * load) * (float)cell, PUFFER_GOLD);
            }
        } else {
            puffer_draw_rect(&c, col * cell, row * cell, cell, cell, PUFFER_BLUE);
        }
    }
    float used = env->max_steps > 0 ? (float)env->tick / (float)env->max_steps : 0.0f;
    puffer_draw_progress(&c, 0, grid, w, h - grid, used, PUFFER_ORANGE, PUFFER_GREY);
    return 0;
}

PUFFER_DEFINE_ENV_EXT(Gather, gather,
    "Many agents harvest items from regrowing patches on a shared grid and carry them to a depot.\n"
    "observation: Box(uint8, (W*W + 3,), [0, 7]), W = 2*vision+1: the egocentric window (0 empty,\n"
    "  1 wall, 2 empty patch cell, 3 item, 4 depot, 5 agent), then load (0-7) and the depot's\n"
    "  quantised row and column offsets (0-6, 3 = aligned)\n"
    "action: Discrete(5) stay, up, down, left, right (others: stay); a move into the depot delivers\n"
    "reward: (1 - share) * own deliveries + share * team deliveries / num_agents + pick_reward per pick\n"
    "episode end: truncated after max_steps, never terminated\n"
    "statistics: delivered and delivered_min (per agent), picked, collisions (per agent), stock\n"
    "tests: many agents sharing and competing for a resource\n"
    "render: the grid, items (gold), patches (green), the depot (orange), agents (blue)",
    gather_params, (int)(sizeof(gather_params) / sizeof(PufferParam)), gather_stats,
    (int)(sizeof(gather_stats) / sizeof(const char*)), gather_close, gather_render)
