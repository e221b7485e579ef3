/* continuous: steer a point mass to a target in the square [-1, 1]^2 with continuous actions.
 *
 * Observation: Box(float32, (6,)) = [px, py, vx, vy, tx - px, ty - py]; bounds [-1, 1] for the
 *   first four, [-2, 2] for the offset to the target.
 * Action: Box(float32, (2,), [-1, 1]): the acceleration, clipped (NaN counts as -1).
 * Dynamics: v = 0.9 v + 0.1 a, then each component clipped to [-1, 1]; p += 0.1 v, clipped to the
 *   square, and a velocity component that hits a wall is zeroed.
 * Reward: the progress made towards the target (previous distance - new distance), plus 1 when the
 *   new distance is within radius.
 * Episode end: terminated within radius of the target; truncated after max_steps (only when not
 *   terminated on the same step).
 * Statistics: reached (1 when the episode ended at the target).
 * Tests: continuous (Box) actions; a proportional controller solves it.
 *
 * Reset draws the position and the target uniformly in [-0.9, 0.9]^2 until they are more than
 * 2 * radius apart. That almost always takes one or two draws; it can take hundreds for radius
 * near 1, so the loop is capped and then falls back to opposite corners (2.5 apart).
 *
 * Render: 400 x 410, the square (y up) with the target (green, its radius to scale), the point
 * (blue) with its velocity as a line, and the steps taken as a bar at the bottom.
 */
#include "../puffer_draw.h"
#include "../puffer_env.h"

#define CT_MAX_DRAWS 1000

typedef struct {
    float px, py, vx, vy, tx, ty;
    float dist;          /* current distance to the target */
    float radius;
    int32_t steps;
    int32_t max_steps;
    PufferRng rng;
} Continuous;

static const PufferParam continuous_params[] = {
    {"max_steps", 100, 1, 1e6, 1, "steps after which the episode is truncated"},
    {"radius", 0.1, 0.01, 1.0, 0, "distance to the target that counts as reaching it"},
};
static const char* const continuous_stats[] = {"reached"};

static int continuous_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    (void)p; (void)err; (void)errlen;
    const float high[6] = {1.0f, 1.0f, 1.0f, 1.0f, 2.0f, 2.0f};
    s->num_agents = 1;
    s->render_width = 400;
    s->render_height = 410;
    puffer_obs_symmetric(s, 6, high);
    puffer_act_box(s, 2, -1.0f, 1.0f);
    return 0;
}

static void continuous_init(Continuous* env, const double* p, PufferRng rng, PufferRng shared) {
    (void)shared;
    env->max_steps = (int32_t)p[0];
    env->radius = (float)p[1];
    env->rng = rng;
}

static void continuous_write_obs(const Continuous* env, float* obs) {
    obs[0] = env->px;
    obs[1] = env->py;
    obs[2] = env->vx;
    obs[3] = env->vy;
    obs[4] = env->tx - env->px;
    obs[5] = env->ty - env->py;
}

static void continuous_reset(Continuous* env, PufferRows r) {
    PufferRng* rng = &env->rng;
    float min_dist = 2.0f * env->radius;
    int ok = 0;
    for (int k = 0; k < CT_MAX_DRAWS && !ok; k++) {
        env->px = puffer_rand_uniform(rng, -0.9f, 0.9f);
        env->py = puffer_rand_uniform(rng, -0.9f, 0.9f);
        env->tx = puffer_rand_uniform(rng, -0.9f, 0.9f);
        env->ty = puffer_rand_uniform(rng, -0.9f, 0.9f);
        ok = hypotf(env->tx - env->px, env->ty - env->py) > min_dist;
    }
    if (!ok) {
        /* opposite corners, on a random diagonal in a random direction */
        float sx = puffer_rand_int(rng, 2) ? 0.9f : -0.9f;
        float sy = puffer_rand_int(rng, 2) ? 0.9f : -0.9f;
        env->px = sx; env->py = sy;
        env->tx = -sx; env->ty = -sy;
    }
    env->vx = 0.0f;
    env->vy = 0.0f;
    env->steps = 0;
    env->dist = hypotf(env->tx - env->px, env->ty - env->py);
    continuous_write_obs(env, (float*)r.obs);
}

static inline void continuous_step(Continuous* env, PufferRows r) {
    const float* act = (const float*)r.act;
    float vx = puffer_clampf(0.9f * env->vx + 0.1f * puffer_clampf(act[0], -1.0f, 1.0f), -1.0f, 1.0f);
    float vy = puffer_clampf(0.9f * env->vy + 0.1f * puffer_clampf(act[1], -1.0f, 1.0f), -1.0f, 1.0f);
    float px = env->px + 0.1f * vx;
    float py = env->py + 0.1f * vy;
    if (px < -1.0f || px > 1.0f) { px = puffer_clampf(px, -1.0f, 1.0f); vx = 0.0f; }
    if (py < -1.0f || py > 1.0f) { py = puffer_clampf(py, -1.0f, 1.0f); vy = 0.0f; }
    float dist = hypotf(env->tx - px, env->ty - py);
    int reached = dist <= env->radius;
    int timeout = ++env->steps >= env->max_steps;

    r.rew[0] = (env->dist - dist) + (reached ? 1.0f : 0.0f);
    env->px = px; env->py = py;
    env->vx = vx; env->vy = vy;
    env->dist = dist;
    continuous_write_obs(env, (float*)r.obs);
    r.term[0] = (uint8_t)reached;
    r.trunc[0] = (uint8_t)(timeout & !reached);
    if (reached | timeout) r.log->stats[0] += (double)reached;
}

static int continuous_render(Continuous* env, uint8_t* rgb, int w, int h) {
    PufferCanvas c = puffer_canvas(rgb, w, h);
    int bar = h / 40 > 3 ? h / 40 : 3;
    int side = w < h - bar ? w : h - bar;
    int margin = side / 40;
    float half = 0.5f * (float)(side - 2 * margin);    /* pixels per unit */
    float ox = (float)margin + half, oy = (float)margin + half;
    if (half <= 0.0f) return -1;
    puffer_draw_clear(&c, PUFFER_PAPER);
    puffer_draw_rect(&c, margin, margin, side - 2 * margin, side - 2 * margin, PUFFER_WHITE);
    puffer_draw_rect_outline(&c, margin, margin, side - 2 * margin, side - 2 * margin, 2, PUFFER_INK);
    puffer_draw_line(&c, ox, (float)margin, ox, (float)(side - margin), 1.0f, PUFFER_GREY);
    puffer_draw_line(&c, (float)margin, oy, (float)(side - margin), oy, 1.0f, PUFFER_GREY);

    float tx = ox + env->tx * half, ty = oy - env->ty * half;
    float px = ox + env->px * half, py = oy - env->py * half;
    float radius = env->radius * half > 3.0f ? env->radius * half : 3.0f;
    puffer_draw_line(&c, px, py, tx, ty, 1.0f, puffer_color(214, 226, 214));
    puffer_draw_circle(&c, tx, ty, radius, puffer_color(186, 228, 194));
    puffer_draw_ring(&c, tx, ty, radius, 2.0f, PUFFER_GREEN);
    puffer_draw_circle(&c, tx, ty, 3.0f, PUFFER_GREEN);
    /* velocity at 0.5 units per unit of speed */
    puffer_draw_line(&c, px, py, px + 0.5f * env->vx * half, py - 0.5f * env->vy * half, 3.0f, PUFFER_ORANGE);
    puffer_draw_circle(&c, px, py, 0.03f * (float)side + 1.0f, PUFFER_BLUE);

    float done = env->max_steps > 0 ? (float)env->steps / (float)env->max_steps : 0.0f;
    puffer_draw_progress(&c, 0, h - bar, w, bar, done, PUFFER_BLUE, PUFFER_GREY);
    return 0;
}

PUFFER_DEFINE_ENV_EXT(Continuous, continuous,
    "Steer a point mass to a target in the square [-1, 1]^2 with a continuous acceleration.\n"
    "observation: Box(float32, (6,)) position, velocity (in [-1, 1]), target - position (in [-2, 2])\n"
    "action: Box(-1, 1, (2,)) acceleration, clipped\n"
    "reward: progress towards the target (distance decrease), +1 on reaching it\n"
    "episode end: terminated within radius of the target, truncated after max_steps\n"
    "statistics: reached (fraction of episodes that reached the target)\n"
    "tests: continuous actions (a proportional controller solves it)\n"
    "render: the point (blue) with its velocity and the target (green) in the square",
    continuous_params, 2, continuous_stats, 1, NULL, continuous_render)
