/* pong: two paddles and a ball; our agent (the right paddle) against a scripted paddle or itself.
 *
 * Rules: the court is the unit square, y downwards. A ball (radius 0.015) flies between the top and
 * bottom walls, which reflect it, and two paddles (half-height 0.075) that move up and down at the
 * left (x = 0.04) and right (x = 0.96) ends. A ball that reaches a paddle's line within the paddle
 * bounces back, faster (|vx| grows from 0.03 by 0.003 a hit, up to 0.06 a step), at an angle set
 * by where it struck: vy = |vx| * 2 * offset, offset in [-1, 1] from the paddle's centre to its
 * tips. A ball that reaches the line past the paddle scores a point for the other side. Each point
 * starts with a serve from the centre line (height random in [0.3, 0.7]) towards a random side at
 * |vx| 0.03 and a random vy in +-0.02. A game ends when one side has `points` points.
 *
 * Opponent (self_play=0): a scripted paddle that, while the ball comes towards it, steers for the
 *   ball's height plus an aiming error drawn at each of our hits (uniform in +-(1 - skill) * 0.075),
 *   and otherwise for the centre, at a top speed of (0.3 + 0.7 * skill) * 0.04 a step (ours is
 *   0.04): a tracking paddle keeps up with flat shots but not with steep ones.
 * Self-play (self_play=1): 2 agents per env, agent 0 the right paddle and agent 1 the left; agent 1
 *   sees the court mirrored left-right, so both play from the right.
 *
 * Observation (pixels=0): Box(float32, (6,)), each in [-1, 1]: ball x, ball y (2 * coordinate - 1),
 *   ball vx / 0.06, ball vy / 0.12, own paddle y, opponent paddle y (2 * centre - 1); x and vx
 *   are negated for agent 1 (mirrored).
 * Observation (pixels=1): Box(uint8, (42, 42, 2)) in {0, 255}: a 42 x 42 grayscale picture of the
 *   court (paddles 1 x 7 pixels at columns 1 and 40, ball 2 x 2 pixels), channel 0 the current frame
 *   and channel 1 the previous one (so the ball's motion is visible). Both channels are updated
 *   incrementally: the old ball and paddles are erased and the new ones drawn.
 * Action: Discrete(3): 0 stay, 1 up (y decreases), 2 down; any other value (out of range when the
 *   engine's checks are off) is "stay".
 * Reward: +1 when the agent wins a point, -1 when it loses one, else 0 (self-play: zero-sum).
 * Episode end: terminated when a side reaches `points`; truncated after max_steps steps.
 * Statistics (agent 0's view, one per game): point_rate (the fraction of the game's points it won),
 *   wins (1 when it won the game), score (its points minus the opponent's), rally (paddle hits per
 *   point, both paddles).
 *
 * Physics are float32, one update a step, with no other branches than a hit or a miss; the
 * scripted opponent reads the state, not the observation.
 *
 * Render: the court on a dark ground, the centre line, our paddle blue, the other red, the ball
 * white and the score (ours on the right) at the top.
 */
#include "../puffer_draw.h"
#include "../puffer_env.h"

#define PONG_PADDLE_X 0.04f      /* distance of a paddle's face from its end of the court */
#define PONG_PADDLE_HALF 0.075f
#define PONG_BALL_R 0.015f
#define PONG_PADDLE_SPEED 0.04f
#define PONG_SERVE_VX 0.03f
#define PONG_SERVE_VY 0.02f
#define PONG_SPEEDUP 0.003f
#define PONG_MAX_VX 0.06f
#define PONG_ANGLE 2.0f          /* vy / |vx| of a ball struck with a paddle's tip */
#define PONG_MAX_VY (PONG_MAX_VX * PONG_ANGLE)
#define PONG_PIX 42              /* side of a pixel observation */
#define PONG_PADDLE_PIX 7        /* paddle height in pixels */

typedef struct {
    float bx, by, vx, vy;       /* the ball's centre and velocity (court units per step) */
    float py[2];                /* paddle centres: [0] right (agent 0), [1] left */
    float opp_err;              /* the scripted paddle's aiming error for this approach */
    float opp_speed, opp_err_max;
    int32_t score[2];
    int32_t tick, max_steps, points;
    int32_t hits;               /* paddle hits this game (for the rally statistic) */
    int32_t self_play, pixels;
    /* pixels: where channel c of agent row a last drew the ball (x, y) and the paddle tops */
    int16_t drawn_ball[2][2][2];
    int16_t drawn_pad[2][2][2];
    PufferRng rng;
} Pong;

static const PufferParam pong_params[] = {
    {"skill", 0.7, 0, 1, 0, "the scripted paddle's skill: 0 slow and inaccurate, 1 as fast as ours and exact"},
    {"points", 21, 1, 1000, 1, "points that win a game (the episode)"},
    {"max_steps", 20000, 1, 1e9, 1, "steps after which the episode is truncated"},
    {"self_play", 0, 0, 1, 1, "1: two agents (right and left paddles, the left one mirrored)"},
    {"pixels", 0, 0, 1, 1, "1: (42, 42, 2) uint8 frames (current, previous) instead of the 6 floats"},
};
static const char* const pong_stats[] = {"point_rate", "wins", "score", "rally"};

static int pong_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    (void)err; (void)errlen;
    static const float high[6] = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
    s->num_agents = p[3] != 0.0 ? 2 : 1;
    s->render_width = 480;
    s->render_height = 400;
    if (p[4] != 0.0) {
        puffer_obs_box(s, PUFFER_UINT8, PONG_PIX * PONG_PIX * 2, 0.0f, 255.0f);
        s->obs_ndim = 3;
        s->obs_shape[0] = PONG_PIX;
        s->obs_shape[1] = PONG_PIX;
        s->obs_shape[2] = 2;
    } else {
        puffer_obs_symmetric(s, 6, high);
    }
    puffer_act_discrete(s, 3);
    return 0;
}

static void pong_init(Pong* env, const double* p, PufferRng rng, PufferRng shared) {
    (void)shared;
    float skill = (float)p[0];
    env->opp_speed = (0.3f + 0.7f * skill) * PONG_PADDLE_SPEED;
    env->opp_err_max = (1.0f - skill) * PONG_PADDLE_HALF;
    env->points = (int32_t)p[1];
    env->max_steps = (int32_t)p[2];
    env->self_play = p[3] != 0.0;
    env->pixels = p[4] != 0.0;
    env->rng = rng;
}

static inline void pong_serve(Pong* env) {
    env->bx = 0.5f;
    env->by = puffer_rand_uniform(&env->rng, 0.3f, 0.7f);
    env->vx = (puffer_rand_u32(&env->rng) & 1) ? PONG_SERVE_VX : -PONG_SERVE_VX;
    env->vy = puffer_rand_uniform(&env->rng, -PONG_SERVE_VY, PONG_SERVE_VY);
    env->opp_err = puffer_rand_uniform(&env->rng, -env->opp_err_max, env->opp_err_max);
}

/* ---- Observations ---- */

static inline void pong_write_vector(const Pong* env, float* o, int agent) {
    float sign = agent ? -1.0f : 1.0f;
    o[0] = sign * (2.0f * env->bx - 1.0f);
    o[1] = 2.0f * env->by - 1.0f;
    o[2] = sign * env->vx * (1.0f / PONG_MAX_VX);
    o[3] = env->vy * (1.0f / PONG_MAX_VY);
    o[4] = 2.0f * env->py[agent] - 1.0f;
    o[5] = 2.0f * env->py[agent ^ 1] - 1.0f;
}

/* Pixel positions of the ball's top-left corner and of the paddles' tops (in the mirrored picture
 * for agent 1). Clamped, so that any state draws inside the frame. */
static inline int pong_pix(float v, int hi) {
    int p = (int)(v * (float)PONG_PIX);
    return p < 0 ? 0 : (p > hi ? hi : p);
}

static inline void pong_positions(const Pong* env, int agent, int16_t ball[2], int16_t pad[2]) {
    int bx = pong_pix(env->bx - PONG_BALL_R, PONG_PIX - 2);
    ball[0] = (int16_t)(agent ? PONG_PIX - 2 - bx : bx);
    ball[1] = (int16_t)pong_pix(env->by - PONG_BALL_R, PONG_PIX - 2);
    /* pad[0]: the paddle on the right of this agent's picture (its own), pad[1]: the left one */
    pad[0] = (int16_t)pong_pix(env->py[agent] - PONG_PADDLE_HALF, PONG_PIX - PONG_PADDLE_PIX);
    pad[1] = (int16_t)pong_pix(env->py[agent ^ 1] - PONG_PADDLE_HALF, PONG_PIX - PONG_PADDLE_PIX);
}

/* Draws (v = 255) or erases (v = 0) the ball and paddles at the given positions in channel c. */
static inline void pong_paint(uint8_t* img, int c, const int16_t ball[2], const int16_t pad[2],
                              uint8_t v) {
    for (int k = 0; k < PONG_PADDLE_PIX; k++) {
        img[((pad[0] + k) * PONG_PIX + PONG_PIX - 2) * 2 + c] = v;
        img[((pad[1] + k) * PONG_PIX + 1) * 2 + c] = v;
    }
    uint8_t* b = img + (ball[1] * PONG_PIX + ball[0]) * 2 + c;
    b[0] = v;
    b[2] = v;
    b[PONG_PIX * 2] = v;
    b[PONG_PIX * 2 + 2] = v;
}

/* Channel 1 takes what channel 0 showed; channel 0 the new state. Erasing everything first, then
 * drawing, keeps a ball over a paddle drawn. */
static inline void pong_write_pixels(Pong* env, uint8_t* img, int agent) {
    int16_t ball[2], pad[2];
    pong_positions(env, agent, ball, pad);
    int16_t (*db)[2] = env->drawn_ball[agent];
    int16_t (*dp)[2] = env->drawn_pad[agent];
    pong_paint(img, 1, db[1], dp[1], 0);
    pong_paint(img, 0, db[0], dp[0], 0);
    pong_paint(img, 1, db[0], dp[0], 255);
    pong_paint(img, 0, ball, pad, 255);
    db[1][0] = db[0][0]; db[1][1] = db[0][1];
    dp[1][0] = dp[0][0]; dp[1][1] = dp[0][1];
    db[0][0] = ball[0]; db[0][1] = ball[1];
    dp[0][0] = pad[0]; dp[0][1] = pad[1];
}

static inline void pong_observe(Pong* env, PufferRows r) {
    if (env->pixels) {
        for (int a = 0; a < r.num_agents; a++) {
            pong_write_pixels(env, (uint8_t*)r.obs + (size_t)a * PONG_PIX * PONG_PIX * 2, a);
        }
    } else {
        for (int a = 0; a < r.num_agents; a++) pong_write_vector(env, (float*)r.obs + 6 * a, a);
    }
}

static void pong_reset(Pong* env, PufferRows r) {
    env->score[0] = env->score[1] = 0;
    env->tick = 0;
    env->hits = 0;
    env->py[0] = env->py[1] = 0.5f;
    pong_serve(env);
    if (env->pixels) {
        /* a blank picture whose two channels both show the first state */
        memset(r.obs, 0, (size_t)r.num_agents * PONG_PIX * PONG_PIX * 2);
        for (int a = 0; a < r.num_agents; a++) {
            uint8_t* img = (uint8_t*)r.obs + (size_t)a * PONG_PIX * PONG_PIX * 2;
            int16_t ball[2], pad[2];
            pong_positions(env, a, ball, pad);
            pong_paint(img, 0, ball, pad, 255);
            pong_paint(img, 1, ball, pad, 255);
            for (int c = 0; c < 2; c++) {
                env->drawn_ball[a][c][0] = ball[0]; env->drawn_ball[a][c][1] = ball[1];
                env->drawn_pad[a][c][0] = pad[0]; env->drawn_pad[a][c][1] = pad[1];
            }
        }
    } else {
        pong_observe(env, r);
    }
}

/* ---- Step ---- */

static inline float pong_reflect(float y) {
    /* one reflection off each wall is enough: |vy| per step is far below the court's height */
    y = y < PONG_BALL_R ? 2.0f * PONG_BALL_R - y : y;
    return y > 1.0f - PONG_BALL_R ? 2.0f * (1.0f - PONG_BALL_R) - y : y;
}

static inline float pong_move_paddle(float y, float dy) {
    return puffer_clampf(y + dy, PONG_PADDLE_HALF, 1.0f - PONG_PADDLE_HALF);
}

/* The paddle `side` (0 right, 1 left) meets the ball crossing its line during this step, at time
 * t in (0, 1]; returns 1 on a hit (the ball bounces), 0 on a miss. */
static inline int pong_contact(Pong* env, int side, float line) {
    float t = (line - env->bx) / env->vx;
    float yc = pong_reflect(env->by + env->vy * t);
    float offset = (yc - env->py[side]) * (1.0f / (PONG_PADDLE_HALF + PONG_BALL_R));
    if (offset < -1.0f || offset > 1.0f) {
        env->bx = line;
        env->by = yc;
        return 0;
    }
    float speed = fminf(fabsf(env->vx) + PONG_SPEEDUP, PONG_MAX_VX);
    env->vx = side ? speed : -speed;
    env->vy = speed * PONG_ANGLE * offset;
    float rest = 1.0f - t;
    env->bx = line + env->vx * rest;
    env->by = pong_reflect(yc + env->vy * rest);
    env->hits += 1;
    return 1;
}

static void pong_step(Pong* env, PufferRows r) {
    static const float dir[3] = {0.0f, -PONG_PADDLE_SPEED, PONG_PADDLE_SPEED};
    const int32_t* act = (const int32_t*)r.act;
    uint32_t a0 = (uint32_t)act[0];
    env->py[0] = pong_move_paddle(env->py[0], dir[a0 < 3 ? a0 : 0]);
    if (env->self_play) {
        uint32_t a1 = (uint32_t)act[1];
        /* agent 1 sees the court mirrored left-right only: up is still up */
        env->py[1] = pong_move_paddle(env->py[1], dir[a1 < 3 ? a1 : 0]);
    } else {
        float target = env->vx < 0.0f ? env->by + env->opp_err : 0.5f;
        float d = puffer_clampf(target - env->py[1], -env->opp_speed, env->opp_speed);
        env->py[1] = pong_move_paddle(env->py[1], d);
    }

    const float right = 1.0f - PONG_PADDLE_X - PONG_BALL_R, left = PONG_PADDLE_X + PONG_BALL_R;
    float nx = env->bx + env->vx, ny = env->by + env->vy;
    int scorer = -1;  /* the side that won a point this step */
    if (nx >= right) {
        if (pong_contact(env, 0, right)) {
            env->opp_err = puffer_rand_uniform(&env->rng, -env->opp_err_max, env->opp_err_max);
        } else {
            scorer = 1;
        }
    } else if (nx <= left) {
        if (!pong_contact(env, 1, left)) scorer = 0;
    } else {
        float y = ny;
        env->vy = (y < PONG_BALL_R || y > 1.0f - PONG_BALL_R) ? -env->vy : env->vy;
        env->bx = nx;
        env->by = pong_reflect(y);
    }
    env->tick += 1;

    float reward = 0.0f;
    int done = 0;
    if (scorer >= 0) {
        reward = scorer == 0 ? 1.0f : -1.0f;
        env->score[scorer] += 1;
        done = env->score[scorer] >= env->points;
    }
    int trunc = !done & (env->tick >= env->max_steps);
    r.rew[0] = reward;
    r.term[0] = (uint8_t)done;
    r.trunc[0] = (uint8_t)trunc;
    if (r.num_agents == 2) {
        r.rew[1] = -reward;
        r.term[1] = (uint8_t)done;
        r.trunc[1] = (uint8_t)trunc;
    }
    if (done | trunc) {
        int played = env->score[0] + env->score[1];
        r.log->stats[0] += played ? (double)env->score[0] / (double)played : 0.0;
        r.log->stats[1] += (double)(env->score[0] >= env->points);
        r.log->stats[2] += (double)(env->score[0] - env->score[1]);
        r.log->stats[3] += played ? (double)env->hits / (double)played : 0.0;
        return;  /* the engine resets the env, which writes the new episode's observation */
    }
    if (scorer >= 0) pong_serve(env);
    pong_observe(env, r);
}

/* ---- Render ---- */

static int pong_render(Pong* env, uint8_t* rgb, int w, int h) {
    PufferCanvas c = puffer_canvas(rgb, w, h);
    int top = 40;                                  /* the score band */
    int side = w < h - top ? w : h - top;          /* the court, square */
    if (side < 20) return -1;
    int x0 = (w - side) / 2;
    float s = (float)side;
    puffer_draw_clear(&c, PUFFER_INK);
    puffer_draw_rect(&c, x0, top, side, side, puffer_color(20, 22, 30));
    for (int y = top; y < top + side; y += 16) puffer_draw_rect(&c, x0 + side / 2 - 1, y, 2, 8, PUFFER_DARK_GREY);
    int pw = (int)(0.015f * s) > 2 ? (int)(0.015f * s) : 2;
    int ph = (int)(2.0f * PONG_PADDLE_HALF * s);
    int yr = top + (int)((env->py[0] - PONG_PADDLE_HALF) * s);
    int yl = top + (int)((env->py[1] - PONG_PADDLE_HALF) * s);
    puffer_draw_rect(&c, x0 + (int)((1.0f - PONG_PADDLE_X) * s), yr, pw, ph, PUFFER_BLUE);
    puffer_draw_rect(&c, x0 + (int)(PONG_PADDLE_X * s) - pw, yl, pw, ph, PUFFER_RED);
    puffer_draw_circle(&c, (float)x0 + env->bx * s, (float)top + env->by * s, PONG_BALL_R * s,
                       PUFFER_WHITE);
    char text[16];
    snprintf(text, sizeof text, "%d", (int)env->score[1]);
    puffer_draw_text(&c, x0 + side / 2 - 24 - puffer_text_width(text, 5), 6, 5, text, PUFFER_RED);
    snprintf(text, sizeof text, "%d", (int)env->score[0]);
    puffer_draw_text(&c, x0 + side / 2 + 24, 6, 5, text, PUFFER_BLUE);
    return 0;
}

PUFFER_DEFINE_ENV_EXT(Pong, pong,
    "Pong: our paddle (right) against a scripted paddle of a given skill, or self-play.\n"
    "observation: Box(float32, (6,)) ball x, y, vx, vy, own paddle y, opponent paddle y in [-1, 1]; "
    "pixels=1: Box(uint8, (42, 42, 2)) current and previous frame\n"
    "action: Discrete(3) stay, up, down\n"
    "reward: +1 for a point won, -1 for a point lost\n"
    "episode end: terminated when a side reaches `points`, truncated after max_steps\n"
    "statistics: point_rate, wins, score (points won minus lost), rally (hits per point)\n"
    "render: the court, paddles (ours blue), ball and score",
    pong_params, 5, pong_stats, 4, NULL, pong_render)
PUFFER_EXPORT(pong)
