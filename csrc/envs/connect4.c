/* connect4: Connect Four on a 7-column, 6-row board against a scripted opponent, or two-seat
 * self-play.
 *
 * Rules: two sides take turns dropping a piece into one of the 7 columns; it falls to the lowest
 * empty cell. Four in a row (horizontal, vertical or diagonal) wins; a full board with no four is a
 * draw. Who moves first is the `first` parameter.
 *
 * One seat (self_play=0): the agent against the scripted `opponent`, which answers each agent move
 *   within the same step, so every step is the agent's turn.
 * Self-play (self_play=1): 2 agents (rows) per env, seat 0 and seat 1, and no scripted opponent
 *   (`opponent` and `depth` are unused). One piece a step: the seat to move plays its row's action;
 *   the waiting seat's action is not read at all (any value, no illegal-move check). `first`: 0
 *   seat 0 begins, 1 seat 1, 2 drawn per game. `openings` = k: each game first plays 0 to k
 *   (drawn per game) random legal moves, alternating from the beginner, for varied positions.
 *
 * Observation: Box(uint8, (6, 7)), row 0 the top row, from the row's own view: 0 empty, 1 its own
 * pieces, 2 the other side's, so a policy trained in one mode plays in the other. An episode
 * starting with the opponent's move shows that piece already (one seat). In self-play the two rows
 * are the same board with 1 and 2 swapped.
 * Action: Discrete(7), the column to drop into. Action mask: column k is legal while it has room.
 * In self-play the waiting seat's mask has exactly one legal entry, column 0 (its action is
 * ignored), and its row is marked absent (`masks` 0, the engine's agent-present flag) while it waits:
 * a learner trains on the steps where a seat chooses, the rewards of the steps between (the loss
 * that arrives on the opponent's winning move) still reaching its last choice through the returns.
 * An illegal move (a full column, or with check_actions=False any action outside 0..6) loses the
 * game at once for the side that made it: -1 (and +1 for the other seat in self-play), terminated,
 * counted as a loss and as illegal. Policies that honour the mask never make one.
 * Reward: +1 when the agent wins, -1 when it loses, 0 for a draw and on every other step. Self-play
 * is zero-sum: in the step of the game's last move the winner's row gets +1, the loser's -1 (a draw
 * 0 for both); 0 for both on every other step.
 * Episode end: terminated when the game is over (win, loss, draw or illegal move), both rows in
 * self-play; never truncated (a game lasts at most 21 agent moves, 42 self-play steps).
 *
 * The opponent (`opponent`): 0 random (uniform over the legal columns); 1 heuristic (wins when it
 * can, else blocks a column where the agent would win, else plays a legal column at random with
 * weights 1,2,3,4,3,2,1 from left to right, favouring the centre); 2 minimax: a depth-limited
 * negamax over `depth` plies (its own move counts as the first) that scores a win at ply k as
 * 1000 - k and a leaf by 4 * (the mover's open threat cells - the other side's) + (the mover's
 * pieces in the centre column - the other side's); 3 mixed, a curriculum: each game draws one of
 * the three above uniformly. Ties between equally good columns are broken at random through the
 * env's rng, so the same seed plays the same games at any thread count.
 *
 * Statistics (per game): wins, losses, draws (1 or 0 each, so their means are rates), moves (the
 * agent's moves in the game), illegal (1 when the game ended on an illegal move), first (1 when the
 * agent moved first). Self-play reports seat 0's view (wins, losses, draws, moves and first are seat
 * 0's); illegal counts an illegal move by either seat.
 *
 * Representation: bitboards, one bit per cell, 7 bits per column (6 cells and an always-empty
 * sentinel bit above them), so that a win is four shifts and ANDs and the cells where a side would
 * complete a four ("threats") are a dozen more. The observation is updated one cell a move.
 *
 * Render: the blue board with the agent's (seat 0's) pieces in red and the opponent's (seat 1's) in
 * gold, the last move ringed, and a bar under the board from the agent's (seat 0's) view: green
 * after a win, red after a loss, grey otherwise.
 */
#include "../puffer_draw.h"
#include "../puffer_env.h"

#define C4_COLS 7
#define C4_ROWS 6
#define C4_STRIDE 7                       /* bits per column: 6 cells and a sentinel */
#define C4_BOTTOM 0x0040810204081ull      /* bit 0 of every column */
#define C4_BOARD (C4_BOTTOM * 0x3Full)    /* the 42 playable cells */
#define C4_WIN_SCORE 1000

typedef struct {
    uint64_t own, other;                  /* the agent's (seat 0's) pieces, the opponent's (seat 1) */
    int32_t opponent, depth, first, self_play, openings;
    int32_t mode;                         /* this game's opponent (opponent, or a draw for mixed) */
    int32_t moves;                        /* the agent's (seat 0's) moves this game */
    int32_t agent_first;                  /* the agent (seat 0) moved first this game */
    int32_t to_move;                      /* self-play: the seat whose move it is (else always 0) */
    int32_t last_col, outcome;            /* for render: last move, +1 win / -1 loss / 0 (seat 0) */
    PufferRng rng;
    uint8_t book[64];                     /* minimax's best columns (a 7-bit set, 0 unknown) for the
                                           * positions of at most 2 pieces: the costliest searches,
                                           * the same every game (see c4_book_key) */
} Connect4;

static const PufferParam connect4_params[] = {
    {"opponent", 1, 0, 3, 1, "0 random, 1 heuristic (win, block, centre-biased random), 2 minimax to "
                             "`depth` plies, 3 mixed (each game draws one of 0, 1, 2)"},
    {"depth", 2, 1, 8, 1, "plies the minimax opponent searches, its own move included"},
    {"first", 2, 0, 2, 1, "who moves first: 0 the agent (seat 0), 1 the opponent (seat 1), 2 random "
                          "per game"},
    {"self_play", 0, 0, 1, 1, "1: two agents, seat 0 and seat 1, each seeing the board from its own "
                              "side (`opponent` and `depth` unused)"},
    {"openings", 0, 0, 6, 1, "self-play: each game begins with 0 to `openings` random legal moves "
                             "(their number drawn per game), for varied positions"},
};
static const char* const connect4_stats[] = {"wins", "losses", "draws", "moves", "illegal", "first"};

/* Column c's bit range, its lowest and its top cell. */
static inline uint64_t c4_column(int c) { return 0x3Full << (c * C4_STRIDE); }
static inline uint64_t c4_top(int c) { return 1ull << (c * C4_STRIDE + C4_ROWS - 1); }

static inline int c4_popcount(uint64_t x) { return __builtin_popcountll(x); }

static inline int c4_has_four(uint64_t b) {
    uint64_t m = b & (b >> 7);            /* horizontal */
    if (m & (m >> 14)) return 1;
    m = b & (b >> 6);                     /* diagonal \ (row up, column left) */
    if (m & (m >> 12)) return 1;
    m = b & (b >> 8);                     /* diagonal / */
    if (m & (m >> 16)) return 1;
    m = b & (b >> 1);                     /* vertical */
    return (m & (m >> 2)) != 0;
}

/* Empty cells where `p` would complete four in a row (reachable now or later). */
static inline uint64_t c4_threats(uint64_t p, uint64_t filled) {
    uint64_t r = (p << 1) & (p << 2) & (p << 3);
    static const int shifts[3] = {7, 6, 8};
    for (int k = 0; k < 3; k++) {
        int s = shifts[k];
        uint64_t q = (p << s) & (p << 2 * s);
        r |= q & (p << 3 * s);
        r |= q & (p >> s);
        q = (p >> s) & (p >> 2 * s);
        r |= q & (p << s);
        r |= q & (p >> 3 * s);
    }
    return r & (C4_BOARD ^ filled);
}

/* The cell a piece dropped now would take, in every column with room (one bit per such column). */
static inline uint64_t c4_playable(uint64_t filled) {
    return (filled + C4_BOTTOM) & C4_BOARD;
}

static inline uint64_t c4_drop(uint64_t filled, int c) {
    return (filled + (1ull << (c * C4_STRIDE))) & c4_column(c);
}

/* Leaf score from the view of `me`, the side to move. */
static inline int c4_evaluate(uint64_t me, uint64_t them) {
    uint64_t filled = me | them;
    uint64_t centre = c4_column(3);
    return 4 * (c4_popcount(c4_threats(me, filled)) - c4_popcount(c4_threats(them, filled)))
           + c4_popcount(me & centre) - c4_popcount(them & centre);
}

static const int8_t c4_order[C4_COLS] = {3, 2, 4, 1, 5, 0, 6};

/* Negamax with alpha-beta over `depth` plies, `me` to move; a win found at ply k scores 1000 - k.
 * Fail-soft: the exact value when it lies inside (alpha, beta), else a bound on the right side, so
 * the pruning below never changes a value the root compares. */
static int c4_negamax(uint64_t me, uint64_t them, int depth, int ply, int alpha, int beta) {
    uint64_t filled = me | them;
    uint64_t playable = c4_playable(filled);
    if (c4_threats(me, filled) & playable) return C4_WIN_SCORE - ply;
    if (!playable) return 0;
    uint64_t their_threats = c4_threats(them, filled);
    if (depth <= 1) {
        /* no win on this ply: each move leads to a leaf, scored from our view after it (the
         * c4_evaluate of the leaf, with their threats computed once: a move only removes one) */
        uint64_t centre = c4_column(3);
        int base = c4_popcount(me & centre) - c4_popcount(them & centre);
        int best = -C4_WIN_SCORE - 64;
        for (int k = 0; k < C4_COLS; k++) {
            uint64_t move = playable & c4_column(c4_order[k]);
            if (!move) continue;
            int v = 4 * (c4_popcount(c4_threats(me | move, filled | move)) - c4_popcount(their_threats & ~move))
                    + base + (int)((move & centre) != 0);
            if (v > best) { best = v; if (best >= beta) break; }
        }
        return best;
    }
    /* Their immediate wins: two or more (in different columns) cannot all be blocked, so every
     * move loses at the next ply; exactly one must be blocked, any other move scores that same
     * loss, which is no better than the block's value: search the block alone. */
    uint64_t forced = their_threats & playable;
    if (forced) {
        if (forced & (forced - 1)) return -(C4_WIN_SCORE - ply - 1);
        return -c4_negamax(them, me | forced, depth - 1, ply + 1, -beta, -alpha);
    }
    int best = -C4_WIN_SCORE - 64;
    for (int k = 0; k < C4_COLS; k++) {
        uint64_t move = playable & c4_column(c4_order[k]);
        if (!move) continue;
        int v = -c4_negamax(them, me | move, depth - 1, ply + 1, -beta, -alpha);
        if (v > best) best = v;
        if (v > alpha) alpha = v;
        if (alpha >= beta) break;
    }
    return best;
}

/* Uniform choice among the columns set in `cols` (a 7-bit set, not empty). */
static inline int c4_pick(PufferRng* rng, unsigned cols) {
    int k = puffer_rand_int(rng, __builtin_popcount(cols));
    for (; k > 0; k--) cols &= cols - 1;
    return __builtin_ctz(cols);
}

/* The 7-bit set of columns whose cell in `cells` is set. */
static inline unsigned c4_columns_of(uint64_t cells) {
    unsigned cols = 0;
    for (int c = 0; c < C4_COLS; c++) cols |= (unsigned)((cells & c4_column(c)) != 0) << c;
    return cols;
}

/* The book slot of a position with the opponent (`me`) to move and at most 2 pieces, else -1:
 * 0 the empty board, 1 + c the agent's first piece in column c, 8 + 7 a + b the opponent's in a and
 * the agent's in b. */
static inline int c4_book_key(uint64_t me, uint64_t them) {
    int pieces = c4_popcount(me | them);
    if (pieces > 2 || c4_popcount(them) != (pieces + 1) / 2) return -1;
    if (pieces == 0) return 0;
    int b = __builtin_ctzll(them) / C4_STRIDE;
    return pieces == 1 ? 1 + b : 8 + __builtin_ctzll(me) / C4_STRIDE * C4_COLS + b;
}

/* The opponent's column (the board has room). */
static int c4_opponent_move(Connect4* env) {
    uint64_t me = env->other, them = env->own, filled = me | them;
    uint64_t playable = c4_playable(filled);
    unsigned legal = c4_columns_of(playable);
    if (env->mode == 0) return c4_pick(&env->rng, legal);
    if (env->mode == 1) {
        unsigned win = c4_columns_of(c4_threats(me, filled) & playable);
        if (win) return c4_pick(&env->rng, win);
        unsigned block = c4_columns_of(c4_threats(them, filled) & playable);
        if (block) return c4_pick(&env->rng, block);
        static const int weight[C4_COLS] = {1, 2, 3, 4, 3, 2, 1};
        int total = 0;
        for (int c = 0; c < C4_COLS; c++) total += (legal >> c & 1) * weight[c];
        int k = puffer_rand_int(&env->rng, total);
        for (int c = 0; c < C4_COLS; c++) {
            if (!(legal >> c & 1)) continue;
            if (k < weight[c]) return c;
            k -= weight[c];
        }
        return __builtin_ctz(legal);
    }
    /* minimax: the set of best columns, ties drawn at random. A winning column scores 1000, above
     * anything searched. Each other column is searched with the window (best - 1, inf): one that
     * cannot reach the best so far fails low cheaply, one that reaches it gets its exact score. */
    unsigned win = c4_columns_of(c4_threats(me, filled) & playable);
    if (win) return c4_pick(&env->rng, win);
    int key = c4_book_key(me, them);    /* the search is a function of the position and depth */
    if (key >= 0 && env->book[key]) return c4_pick(&env->rng, env->book[key]);
    int best = -C4_WIN_SCORE - 128;
    unsigned ties = 0;
    for (int k = 0; k < C4_COLS; k++) {
        int c = c4_order[k];
        if (!(legal >> c & 1)) continue;
        uint64_t move = playable & c4_column(c);
        int v;
        if (env->depth <= 1) v = -c4_evaluate(them, me | move);
        else v = -c4_negamax(them, me | move, env->depth - 1, 1, -C4_WIN_SCORE - 64, 1 - best);
        if (v > best) { best = v; ties = 0; }
        if (v == best) ties |= 1u << c;
    }
    if (key >= 0) env->book[key] = (uint8_t)ties;
    return c4_pick(&env->rng, ties);
}

/* The observation index of the cell at bit `bit` (row 0 is the top row). */
static inline int c4_cell(uint64_t bit) {
    int b = __builtin_ctzll(bit);
    int c = b / C4_STRIDE, h = b % C4_STRIDE;
    return (C4_ROWS - 1 - h) * C4_COLS + c;
}

/* The mover's row: the columns with room. Self-play's waiting row: column 0 alone, a single choice
 * (its action is ignored; one legal entry leaves a masked policy nothing to learn from there). */
static inline void c4_write_mask(Connect4* env, PufferRows r) {
    uint64_t filled = env->own | env->other;
    uint8_t* mover = r.action_mask + env->to_move * C4_COLS;
    for (int c = 0; c < C4_COLS; c++) mover[c] = (uint8_t)((filled & c4_top(c)) == 0);
    if (env->self_play) {
        uint8_t* waiting = r.action_mask + (env->to_move ^ 1) * C4_COLS;
        memset(waiting, 0, C4_COLS);
        waiting[0] = 1;
        r.mask[env->to_move] = 1;          /* present: the mover acts */
        r.mask[env->to_move ^ 1] = 0;      /* absent while waiting: nothing to learn from that step */
    }
}

/* The opponent plays; returns 1 when that ends the game (writing reward and stats). */
static inline int c4_opponent_turn(Connect4* env, uint8_t* obs) {
    int c = c4_opponent_move(env);
    uint64_t move = c4_drop(env->own | env->other, c);
    env->other |= move;
    env->last_col = c;
    obs[c4_cell(move)] = 2;
    if (c4_has_four(env->other)) { env->outcome = -1; return 1; }
    return ((env->own | env->other) == C4_BOARD);
}

static int connect4_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    (void)err; (void)errlen;
    s->num_agents = p[3] != 0.0 ? 2 : 1;
    puffer_obs_box(s, PUFFER_UINT8, C4_ROWS * C4_COLS, 0.0f, 2.0f);
    s->obs_ndim = 2;
    s->obs_shape[0] = C4_ROWS;
    s->obs_shape[1] = C4_COLS;
    puffer_act_discrete(s, C4_COLS);
    puffer_act_mask(s);
    s->render_width = 7 * 48;
    s->render_height = 6 * 48 + 12;
    return 0;
}

static void connect4_init(Connect4* env, const double* p, PufferRng rng, PufferRng shared) {
    (void)shared;
    env->opponent = (int32_t)p[0];
    env->depth = (int32_t)p[1];
    env->first = (int32_t)p[2];
    env->self_play = p[3] != 0.0;
    env->openings = (int32_t)p[4];
    env->rng = rng;
    memset(env->book, 0, sizeof(env->book));
}

/* Self-play: 0 to `openings` random legal moves, alternating from the first mover. At most 6
 * pieces cannot make four of one side, nor fill more than one column. */
static void c4_random_opening(Connect4* env, uint8_t* obs) {
    int plies = env->openings ? puffer_rand_int(&env->rng, env->openings + 1) : 0;
    for (int k = 0; k < plies; k++) {
        uint64_t filled = env->own | env->other;
        int c = puffer_rand_int(&env->rng, C4_COLS);
        if (filled & c4_top(c)) c = (c + 1) % C4_COLS;   /* only one column can be full */
        uint64_t move = c4_drop(filled, c);
        int s = env->to_move;
        *(s ? &env->other : &env->own) |= move;
        int cell = c4_cell(move);
        obs[s * C4_ROWS * C4_COLS + cell] = 1;
        obs[(s ^ 1) * C4_ROWS * C4_COLS + cell] = 2;
        env->last_col = c;
        env->to_move = s ^ 1;
    }
}

static void connect4_reset(Connect4* env, PufferRows r) {
    uint8_t* obs = (uint8_t*)r.obs;
    memset(obs, 0, (size_t)r.num_agents * C4_ROWS * C4_COLS);
    env->own = env->other = 0;
    env->moves = 0;
    env->outcome = 0;
    env->last_col = -1;
    if (!env->self_play) {
        env->mode = env->opponent == 3 ? puffer_rand_int(&env->rng, 3) : env->opponent;
    }
    env->agent_first = env->first == 2 ? puffer_rand_int(&env->rng, 2) == 0 : env->first == 0;
    if (env->self_play) {
        env->to_move = !env->agent_first;
        c4_random_opening(env, obs);
    } else if (!env->agent_first) {
        c4_opponent_turn(env, obs);   /* one piece cannot end a game */
    }
    if (r.action_mask) c4_write_mask(env, r);
}

/* The game is over; `reward` is the agent's (seat 0's), and seat 1's the opposite. */
static inline void c4_finish(Connect4* env, PufferRows r, float reward, int illegal) {
    r.rew[0] = reward;
    r.term[0] = 1;
    if (env->self_play) {
        r.rew[1] = -reward;
        r.term[1] = 1;
    }
    double* st = r.log->stats;
    st[0] += reward > 0.0f;
    st[1] += reward < 0.0f;
    st[2] += reward == 0.0f;
    st[3] += env->moves;
    st[4] += illegal;
    st[5] += env->agent_first;
}

/* Self-play: one piece, the mover's. Seat s's bitboard is own (s = 0) or other (s = 1); a cell it
 * takes reads 1 in its own row and 2 in the other seat's. */
static void c4_seat_step(Connect4* env, PufferRows r) {
    uint8_t* obs = (uint8_t*)r.obs;
    int s = env->to_move;
    uint32_t c = (uint32_t)((const int32_t*)r.act)[s];
    uint64_t filled = env->own | env->other;
    float mover_wins = s ? -1.0f : 1.0f;   /* seat 0's reward when the mover wins */
    r.trunc[0] = r.trunc[1] = 0;
    if (c >= C4_COLS || (filled & c4_top((int)c))) {
        env->outcome = (int32_t)-mover_wins;
        c4_finish(env, r, -mover_wins, 1);
        return;
    }
    uint64_t move = c4_drop(filled, (int)c);
    uint64_t* mine = s ? &env->other : &env->own;
    *mine |= move;
    env->moves += s == 0;
    env->last_col = (int32_t)c;
    int cell = c4_cell(move);
    obs[s * C4_ROWS * C4_COLS + cell] = 1;
    obs[(s ^ 1) * C4_ROWS * C4_COLS + cell] = 2;
    if (c4_has_four(*mine)) {
        env->outcome = (int32_t)mover_wins;
        c4_finish(env, r, mover_wins, 0);
        return;
    }
    if ((filled | move) == C4_BOARD) {
        c4_finish(env, r, 0.0f, 0);
        return;
    }
    env->to_move = s ^ 1;
    r.rew[0] = r.rew[1] = 0.0f;
    r.term[0] = r.term[1] = 0;
    if (r.action_mask) c4_write_mask(env, r);
}

static void connect4_step(Connect4* env, PufferRows r) {
    if (env->self_play) {
        c4_seat_step(env, r);
        return;
    }
    uint8_t* obs = (uint8_t*)r.obs;
    uint32_t c = (uint32_t)((const int32_t*)r.act)[0];
    uint64_t filled = env->own | env->other;
    r.trunc[0] = 0;
    if (c >= C4_COLS || (filled & c4_top((int)c))) {
        env->outcome = -1;
        c4_finish(env, r, -1.0f, 1);
        return;
    }
    uint64_t move = c4_drop(filled, (int)c);
    env->own |= move;
    env->moves += 1;
    env->last_col = (int32_t)c;
    obs[c4_cell(move)] = 1;
    if (c4_has_four(env->own)) {
        env->outcome = 1;
        c4_finish(env, r, 1.0f, 0);
        return;
    }
    if ((filled | move) == C4_BOARD || c4_opponent_turn(env, obs)) {
        c4_finish(env, r, env->outcome < 0 ? -1.0f : 0.0f, 0);
        return;
    }
    r.rew[0] = 0.0f;
    r.term[0] = 0;
    if (r.action_mask) c4_write_mask(env, r);
}

static int connect4_render(Connect4* env, uint8_t* rgb, int w, int h) {
    PufferCanvas cv = puffer_canvas(rgb, w, h);
    int cell = w / C4_COLS < (h - 12) / C4_ROWS ? w / C4_COLS : (h - 12) / C4_ROWS;
    if (cell < 4) return -1;
    int board_h = cell * C4_ROWS;
    puffer_draw_clear(&cv, PUFFER_PAPER);
    puffer_draw_rect(&cv, 0, 0, cell * C4_COLS, board_h, PUFFER_BLUE);
    float radius = 0.40f * (float)cell;
    for (int c = 0; c < C4_COLS; c++) {
        for (int hgt = 0; hgt < C4_ROWS; hgt++) {
            uint64_t bit = 1ull << (c * C4_STRIDE + hgt);
            PufferColor col = (env->own & bit) ? PUFFER_RED : (env->other & bit) ? PUFFER_GOLD : PUFFER_PAPER;
            float cx = (float)c * (float)cell + 0.5f * (float)(cell - 1);
            float cy = (float)(C4_ROWS - 1 - hgt) * (float)cell + 0.5f * (float)(cell - 1);
            puffer_draw_circle(&cv, cx, cy, radius, col);
        }
    }
    if (env->last_col >= 0) {
        uint64_t column = (env->own | env->other) & c4_column(env->last_col);
        if (column) {
            int hgt = 63 - __builtin_clzll(column) - env->last_col * C4_STRIDE;
            float cx = (float)env->last_col * (float)cell + 0.5f * (float)(cell - 1);
            float cy = (float)(C4_ROWS - 1 - hgt) * (float)cell + 0.5f * (float)(cell - 1);
            puffer_draw_ring(&cv, cx, cy, radius, 0.12f * (float)cell, PUFFER_INK);
        }
    }
    PufferColor bar = env->outcome > 0 ? PUFFER_GREEN : env->outcome < 0 ? PUFFER_RED : PUFFER_GREY;
    puffer_draw_rect(&cv, 0, board_h, w, h - board_h, bar);
    return 0;
}

PUFFER_DEFINE_ENV_EXT(Connect4, connect4,
    "Connect Four (7 columns, 6 rows) against a scripted opponent, or two-seat self-play.\n"
    "observation: Box(uint8, (6, 7)) row 0 on top, 0 empty, 1 the row's own pieces, 2 the other "
    "side's\n"
    "action: Discrete(7) the column, with an action mask of the columns that have room; an illegal "
    "move (full column, or out of range) loses the game\n"
    "reward: +1 win, -1 loss, 0 draw and between moves\n"
    "episode end: terminated when the game is over; never truncated\n"
    "opponent: 0 random, 1 heuristic (win, block, centre-biased random), 2 minimax to `depth` plies, "
    "3 a mix drawn per game; `first`: 0 agent, 1 opponent, 2 random\n"
    "self_play=1: 2 agents (seats 0 and 1), one piece a step by the seat to move; the waiting seat's "
    "action is ignored and its mask is column 0 alone; zero-sum +1/-1 at the game's end\n"
    "statistics: wins, losses, draws (rates), moves, illegal, first (rate of games the agent began); "
    "seat 0's view in self-play\n"
    "render: the board, the agent (seat 0) in red, the opponent (seat 1) in gold, the last move ringed",
    connect4_params, 5, connect4_stats, 6, NULL, connect4_render)
PUFFER_EXPORT(connect4)
