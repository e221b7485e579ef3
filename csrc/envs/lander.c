/* lander: fly a 2D rocket down onto a landing pad (a rigid body under gravity, a main engine along
 * its axis and side thrusters for torque).
 *
 * World (metres, seconds, y up): flat ground at y = 0 between the walls x = -20 and x = 20, a ceiling
 * at y = 30, and a landing pad of `pad_width` on the ground, centred at a random x (drawn from the
 * env's rng at every reset, the whole pad inside [-19, 19]). The lander is a rigid body: position
 * (x, y) of its centre of mass, velocity, angle theta (0 upright, positive counter-clockwise) and
 * angular velocity omega. Its hull has two legs whose feet are at (+-1.2, -1.0) in the body frame
 * and two top corners at (+-0.8, +1.0).
 *
 * Dynamics: each step is 0.1 s, integrated as two semi-implicit Euler substeps of 0.05 s
 * (velocities first, then positions with the new velocities):
 *   v     += (throttle * max_thrust * (-sin theta, cos theta) + (wind_x, -gravity)) * dt
 *   omega += torque * max_torque * dt           (omega then clipped to +-8 rad/s)
 *   (x, y) += v * dt,  theta += omega * dt       (theta wrapped to [-pi, pi])
 * wind_x is a horizontal acceleration drawn uniformly from [-wind, wind] at every reset and constant
 * through the episode; it is not observed (a policy infers it from the drift). With the default
 * wind = 0 there is none.
 * Fuel: the tank holds `fuel` seconds of full main throttle; a step burns
 *   (throttle + 0.5 * |torque|) * 0.1; once it is empty both engines are dead (the lander falls).
 *
 * Action: Box(float32, (2,), [-1, 1]), clipped (NaN counts as -1): a[0] the main throttle, mapped
 *   to [0, 1] as (a[0] + 1) / 2; a[1] the side-thruster torque (+1 turns counter-clockwise, tilting
 *   the engine's thrust to -x). Any float32 is safe (infinities clip to the bounds).
 *
 * Observation: Box(float32, (8,)), each element clipped to its bounds:
 *   0 (x - pad_x) / 10           [-4, 4]   horizontal offset from the pad's centre
 *   1 (y - 1) / 10               [-4, 4]   height of the feet above the ground when upright
 *   2 vx / 5, 3 vy / 5           [-8, 8]
 *   4 sin theta, 5 cos theta     [-1, 1]
 *   6 omega / 4                  [-2, 2]
 *   7 fuel left / fuel           [0, 1]
 *
 * Episode end (terminated) at the first substep where any hull corner reaches the ground:
 *   - a landing when the touchdown is soft: vy >= -1.5 m/s, |vx| <= 1 m/s, |theta| <= 0.25 rad
 *     and |omega| <= 1.5 rad/s; on the pad when both feet are over the pad (statistic `landed`),
 *     else off the pad (`off_pad`);
 *   - otherwise a crash (`crashed`), as is leaving through a wall or the ceiling.
 * Truncated after max_steps steps without an end.
 *
 * Reward (shaped, potential-based): with phi = -0.1 * distance - 0.2 * speed - 0.5 * |theta|
 *   (distance from the feet's centre, (x, y - 1), to the pad's centre (pad_x, 0), in m; speed in
 *   m/s), each step gives phi(after) - phi(before) - 0.1 * fuel burnt (in seconds of full throttle),
 *   plus at the end +10 for a landing on the pad, +3 for a landing off it, -5 for a crash (0 on a
 *   truncation).
 *
 * Statistics (means over episodes): landed (1 when the episode ended with a landing on the pad),
 *   off_pad (a soft landing elsewhere), crashed, fuel_used (seconds of full throttle burnt),
 *   distance (|x - pad_x| at the end, m). A truncated episode counts in none of the first three.
 *
 * Start: x in [-15, 15], y in [18, 24], vx in [-2, 2], vy in [-2, 0], theta in [-0.2, 0.2],
 *   omega in [-0.3, 0.3], wind_x in [-wind, wind] (uniform), a full tank.
 *
 * Speed: the state is a few floats; sin and cos of theta are kept in the state and turned through
 * omega * dt each substep (a short series, no libm call; they follow the integrated theta to within
 * float rounding at ordinary spins), the touchdown test is a few multiply-adds, and the observation
 * is rewritten in place.
 *
 * Render: 480 x 400, the sky (40 m x 30 m at 12 px/m), the ground with the pad (green, a flag at
 * each edge), the lander (a blue hull with a window, its nozzle and legs) and, while the engines
 * burn, its flame (orange, as long as the throttle) and a side-thruster puff; the wind as an arrow
 * at the top; a fuel gauge (gold) along the bottom.
 */
#include "../puffer_draw.h"
#include "../puffer_env.h"

#define LD_HALF_WIDTH 20.0f     /* walls at x = -+20 m */
#define LD_CEILING 30.0f
#define LD_DT 0.05f             /* one substep */
#define LD_SUBSTEPS 2
#define LD_STEP_DT (LD_DT * LD_SUBSTEPS)
#define LD_LEG_X 1.2f           /* feet at (+-LEG_X, -LEG_Y) in the body frame */
#define LD_LEG_Y 1.0f
#define LD_TOP_X 0.8f           /* top corners at (+-TOP_X, +TOP_Y) */
#define LD_TOP_Y 1.0f
#define LD_MAX_SPIN 8.0f
#define LD_RCS_BURN 0.5f        /* fuel per unit |torque|, relative to the main engine's */
#define LD_SAFE_VY 1.5f         /* what a touchdown may not exceed to count as a landing */
#define LD_SAFE_VX 1.0f
#define LD_SAFE_TILT 0.25f
#define LD_SAFE_SPIN 1.5f
#define LD_K_DIST 0.1f          /* the reward's potential */
#define LD_K_SPEED 0.2f
#define LD_K_TILT 0.5f
#define LD_FUEL_COST 0.1f
#define LD_BONUS_PAD 10.0f
#define LD_BONUS_OFF_PAD 3.0f
#define LD_CRASH -5.0f
#define LD_PI 3.14159265358979f

typedef struct {
    float x, y, vx, vy, theta, omega;
    float sin_t, cos_t;        /* of theta, kept with it */
    float pad_x;
    float fuel_left;
    float phi;                 /* the reward's potential at the current state */
    float throttle, torque;    /* the last step's engines, for the render only */
    int32_t steps;
    int32_t max_steps;
    float wind_x;              /* this episode's wind, m/s^2 */
    float gravity, max_thrust, max_torque, fuel, inv_fuel, pad_half, wind;
    PufferRng rng;
} Lander;

enum { LD_FLYING = 0, LD_LANDED = 1, LD_OFF_PAD = 2, LD_CRASHED = 3 };

static const PufferParam lander_params[] = {
    {"max_steps", 300, 1, 1e6, 1, "steps (0.1 s each) after which the episode is truncated"},
    {"gravity", 4.0, 0.5, 20.0, 0, "downward acceleration, m/s^2"},
    {"max_thrust", 10.0, 0.5, 50.0, 0, "main engine acceleration at full throttle, m/s^2"},
    {"max_torque", 4.0, 0.1, 50.0, 0, "side thrusters' angular acceleration at full torque, rad/s^2"},
    {"fuel", 10.0, 0.1, 1e6, 0, "tank size in seconds of full main throttle"},
    {"pad_width", 5.0, 3.0, 20.0, 0, "width of the landing pad, m (the feet are 2.4 m apart)"},
    {"wind", 0.0, 0.0, 10.0, 0, "largest horizontal wind acceleration, m/s^2 (drawn per episode, unobserved)"},
};
static const char* const lander_stats[] = {"landed", "off_pad", "crashed", "fuel_used", "distance"};

static int lander_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    (void)p; (void)err; (void)errlen;
    const float high[8] = {4.0f, 4.0f, 8.0f, 8.0f, 1.0f, 1.0f, 2.0f, 1.0f};
    s->num_agents = 1;
    s->render_width = 480;
    s->render_height = 400;
    puffer_obs_symmetric(s, 8, high);
    s->obs_low_vec[7] = 0.0f;    /* the fuel left is a fraction */
    puffer_act_box(s, 2, -1.0f, 1.0f);
    return 0;
}

static void lander_init(Lander* env, const double* p, PufferRng rng, PufferRng shared) {
    (void)shared;
    env->max_steps = (int32_t)p[0];
    env->gravity = (float)p[1];
    env->max_thrust = (float)p[2];
    env->max_torque = (float)p[3];
    env->fuel = (float)p[4];
    env->inv_fuel = 1.0f / env->fuel;
    env->pad_half = 0.5f * (float)p[5];
    env->wind = (float)p[6];
    env->rng = rng;
}

static inline float lander_potential(const Lander* env) {
    float dx = env->x - env->pad_x, dy = env->y - LD_LEG_Y;
    return -LD_K_DIST * sqrtf(dx * dx + dy * dy)
           - LD_K_SPEED * sqrtf(env->vx * env->vx + env->vy * env->vy)
           - LD_K_TILT * fabsf(env->theta);
}

static inline void lander_write_obs(const Lander* env, float* obs) {
    obs[0] = puffer_clampf((env->x - env->pad_x) * 0.1f, -4.0f, 4.0f);
    obs[1] = puffer_clampf((env->y - LD_LEG_Y) * 0.1f, -4.0f, 4.0f);
    obs[2] = puffer_clampf(env->vx * 0.2f, -8.0f, 8.0f);
    obs[3] = puffer_clampf(env->vy * 0.2f, -8.0f, 8.0f);
    obs[4] = env->sin_t;
    obs[5] = env->cos_t;
    obs[6] = env->omega * 0.25f;    /* omega is kept within +-8 */
    obs[7] = fminf(env->fuel_left * env->inv_fuel, 1.0f);   /* the product may round above 1 */
}

static void lander_reset(Lander* env, PufferRows r) {
    PufferRng* rng = &env->rng;
    float pad_range = LD_HALF_WIDTH - 1.0f - env->pad_half;
    env->pad_x = puffer_rand_uniform(rng, -pad_range, pad_range);
    env->x = puffer_rand_uniform(rng, -15.0f, 15.0f);
    env->y = puffer_rand_uniform(rng, 18.0f, 24.0f);
    env->vx = puffer_rand_uniform(rng, -2.0f, 2.0f);
    env->vy = puffer_rand_uniform(rng, -2.0f, 0.0f);
    env->theta = puffer_rand_uniform(rng, -0.2f, 0.2f);
    env->omega = puffer_rand_uniform(rng, -0.3f, 0.3f);
    env->wind_x = puffer_rand_uniform(rng, -env->wind, env->wind);
    env->sin_t = sinf(env->theta);
    env->cos_t = cosf(env->theta);
    env->fuel_left = env->fuel;
    env->throttle = 0.0f;
    env->torque = 0.0f;
    env->steps = 0;
    env->phi = lander_potential(env);
    lander_write_obs(env, (float*)r.obs);
}

/* What a touchdown in the current state is: a landing on or off the pad, or a crash. */
static inline int lander_touchdown(const Lander* env) {
    int soft = (env->vy >= -LD_SAFE_VY) & (fabsf(env->vx) <= LD_SAFE_VX)
               & (fabsf(env->theta) <= LD_SAFE_TILT) & (fabsf(env->omega) <= LD_SAFE_SPIN);
    /* feet at x + -LEG_X cos + LEG_Y sin: both within the pad */
    float feet = env->x + LD_LEG_Y * env->sin_t - env->pad_x;
    int on_pad = fabsf(feet) + LD_LEG_X * env->cos_t <= env->pad_half;
    return soft ? (on_pad ? LD_LANDED : LD_OFF_PAD) : LD_CRASHED;
}

/* Turns (s, c) = (sin a, cos a) into (sin(a + d), cos(a + d)) for |d| <= 0.4 (omega * dt) by the
 * angle-sum formulas, with sin d and cos d from their Taylor series to d^5 and d^4 (errors below
 * 1e-8 for |d| <= 0.1, 3e-6 at the largest spin). No libm call: a few multiply-adds. The step puts
 * (s, c) back on the unit circle afterwards, so that rounding does not accumulate. */
static inline void lander_rotate(float* s, float* c, float d) {
    float d2 = d * d;
    float sd = d * (1.0f - d2 * (1.0f / 6.0f) + d2 * d2 * (1.0f / 120.0f));
    float cd = 1.0f - d2 * 0.5f + d2 * d2 * (1.0f / 24.0f);
    float ns = *s * cd + *c * sd, nc = *c * cd - *s * sd;
    *s = ns;
    *c = nc;
}

static inline void lander_step(Lander* env, PufferRows r) {
    const float* act = (const float*)r.act;
    float throttle = 0.5f * (puffer_clampf(act[0], -1.0f, 1.0f) + 1.0f);
    float torque = puffer_clampf(act[1], -1.0f, 1.0f);
    float burn = (throttle + LD_RCS_BURN * fabsf(torque)) * LD_STEP_DT;
    if (env->fuel_left <= 0.0f) { throttle = 0.0f; torque = 0.0f; burn = 0.0f; }
    burn = burn < env->fuel_left ? burn : env->fuel_left;
    env->fuel_left -= burn;
    env->throttle = throttle;
    env->torque = torque;

    float accel = throttle * env->max_thrust * LD_DT;
    float spin = torque * env->max_torque * LD_DT;
    float gdt = env->gravity * LD_DT, wdt = env->wind_x * LD_DT;
    float x = env->x, y = env->y, vx = env->vx, vy = env->vy;
    float theta = env->theta, omega = env->omega, s = env->sin_t, c = env->cos_t;
    int ground = 0;
    for (int k = 0; k < LD_SUBSTEPS && !ground; k++) {
        vx += wdt - s * accel;
        vy += c * accel - gdt;
        omega = puffer_clampf(omega + spin, -LD_MAX_SPIN, LD_MAX_SPIN);
        x += vx * LD_DT;
        y += vy * LD_DT;
        float turn = omega * LD_DT;
        theta += turn;
        theta += theta > LD_PI ? -2.0f * LD_PI : (theta < -LD_PI ? 2.0f * LD_PI : 0.0f);
        lander_rotate(&s, &c, turn);
        /* the lowest corner: a foot (y - LEG_X |s| - LEG_Y c) or a top corner (y - TOP_X |s| + TOP_Y c) */
        float side = fabsf(s);
        float foot = y - LD_LEG_X * side - LD_LEG_Y * c;
        float top = y - LD_TOP_X * side + LD_TOP_Y * c;
        ground = (foot <= 0.0f) | (top <= 0.0f);
    }
    env->x = x; env->y = y; env->vx = vx; env->vy = vy;
    float norm = 1.5f - 0.5f * (s * s + c * c);    /* one Newton step towards s^2 + c^2 = 1 */
    s *= norm;
    c *= norm;
    env->theta = theta; env->omega = omega; env->sin_t = s; env->cos_t = c;

    int out = (fabsf(x) > LD_HALF_WIDTH) | (y > LD_CEILING);
    int outcome = ground ? lander_touchdown(env) : (out ? LD_CRASHED : LD_FLYING);
    int timeout = ++env->steps >= env->max_steps;

    static const float bonus[4] = {0.0f, LD_BONUS_PAD, LD_BONUS_OFF_PAD, LD_CRASH};
    float phi = lander_potential(env);
    r.rew[0] = phi - env->phi - LD_FUEL_COST * burn + bonus[outcome];
    env->phi = phi;
    lander_write_obs(env, (float*)r.obs);
    r.term[0] = (uint8_t)(outcome != LD_FLYING);
    r.trunc[0] = (uint8_t)(timeout & (outcome == LD_FLYING));
    if ((outcome != LD_FLYING) | timeout) {
        double* stats = r.log->stats;
        stats[0] += (double)(outcome == LD_LANDED);
        stats[1] += (double)(outcome == LD_OFF_PAD);
        stats[2] += (double)(outcome == LD_CRASHED);
        stats[3] += (double)(env->fuel - env->fuel_left);
        stats[4] += (double)fabsf(x - env->pad_x);
    }
}

/* ---- Render ---- */

#define LD_PX 12.0f             /* pixels per metre */
#define LD_SKY 360              /* pixel rows of sky: 30 m */

/* The pixel of world point (wx, wy). */
static inline void lander_pixel(float wx, float wy, float* px, float* py) {
    *px = 240.0f + wx * LD_PX;
    *py = (float)LD_SKY - wy * LD_PX;
}

/* The pixel of body-frame point (bx, by) of the lander. */
static inline void lander_body_pixel(const Lander* env, float bx, float by, float* px, float* py) {
    lander_pixel(env->x + bx * env->cos_t - by * env->sin_t, env->y + bx * env->sin_t + by * env->cos_t,
                 px, py);
}

/* Fills the convex quadrilateral of body-frame corners q (in order): every pixel whose centre lies
 * inside all four edges. */
static void lander_fill_body_quad(PufferCanvas* c, const Lander* env, const float q[4][2], PufferColor col) {
    float px[4], py[4];
    float x0 = 1e9f, y0 = 1e9f, x1 = -1e9f, y1 = -1e9f;
    for (int k = 0; k < 4; k++) {
        lander_body_pixel(env, q[k][0], q[k][1], &px[k], &py[k]);
        x0 = fminf(x0, px[k]); x1 = fmaxf(x1, px[k]);
        y0 = fminf(y0, py[k]); y1 = fmaxf(y1, py[k]);
    }
    int xa, ya, xb, yb;
    puffer__bounds(c, x0, y0, x1, y1, &xa, &ya, &xb, &yb);
    for (int y = ya; y <= yb; y++) {
        for (int x = xa; x <= xb; x++) {
            int neg = 0, pos = 0;
            for (int k = 0; k < 4; k++) {
                int n = (k + 1) & 3;
                float cross = (px[n] - px[k]) * ((float)y - py[k]) - (py[n] - py[k]) * ((float)x - px[k]);
                neg |= cross < 0.0f;
                pos |= cross > 0.0f;
            }
            if (!(neg & pos)) puffer_draw_pixel(c, x, y, col);
        }
    }
}

static int lander_render(Lander* env, uint8_t* rgb, int w, int h) {
    if (w < 480 || h < 400) return -1;
    PufferCanvas c = puffer_canvas(rgb, w, h);
    PufferColor sky = puffer_color(226, 234, 246), ground = puffer_color(150, 128, 104);
    puffer_draw_clear(&c, PUFFER_PAPER);
    puffer_draw_rect(&c, 0, 0, 480, LD_SKY, sky);

    /* the flame, out of the nozzle, as long as the throttle (up to 3 m); the ground hides what
     * reaches below it */
    float ax, ay, bx, by;
    if (env->throttle > 0.02f) {
        lander_body_pixel(env, 0.0f, -0.8f, &ax, &ay);
        lander_body_pixel(env, 0.0f, -0.8f - 3.0f * env->throttle, &bx, &by);
        puffer_draw_line(&c, ax, ay, bx, by, 0.7f * LD_PX, PUFFER_ORANGE);
        lander_body_pixel(env, 0.0f, -0.8f - 1.5f * env->throttle, &bx, &by);
        puffer_draw_line(&c, ax, ay, bx, by, 0.3f * LD_PX, PUFFER_GOLD);
    }
    puffer_draw_rect(&c, 0, LD_SKY, 480, 28, ground);
    puffer_draw_rect(&c, 0, LD_SKY, 480, 2, PUFFER_INK);

    /* the pad, and a flag at each edge */
    float left, right, top;
    lander_pixel(env->pad_x - env->pad_half, 0.0f, &left, &top);
    lander_pixel(env->pad_x + env->pad_half, 0.0f, &right, &top);
    puffer_draw_rect(&c, (int)left, LD_SKY - 3, (int)(right - left), 6, PUFFER_GREEN);
    for (int k = 0; k < 2; k++) {
        float fx = k ? right : left;
        puffer_draw_line(&c, fx, top, fx, top - 30.0f, 2.0f, PUFFER_INK);
        puffer_draw_rect(&c, (int)fx + (k ? -12 : 1), (int)top - 30, 11, 7, PUFFER_GOLD);
    }
    /* a side-thruster puff at the top corner that pushes the way the torque turns */
    if (fabsf(env->torque) > 0.05f) {
        float side = env->torque > 0.0f ? 1.0f : -1.0f;
        lander_body_pixel(env, side * 0.6f, 0.8f, &ax, &ay);
        lander_body_pixel(env, side * (0.7f + 0.9f * fabsf(env->torque)), 0.8f, &bx, &by);
        puffer_draw_line(&c, ax, ay, bx, by, 4.0f, PUFFER_GREY);
    }
    /* legs from the hull to the feet (with foot pads), the nozzle, the hull and its window */
    for (int k = -1; k <= 1; k += 2) {
        float side = (float)k;
        lander_body_pixel(env, 0.55f * side, -0.3f, &ax, &ay);
        lander_body_pixel(env, LD_LEG_X * side, -LD_LEG_Y, &bx, &by);
        puffer_draw_line(&c, ax, ay, bx, by, 3.0f, PUFFER_INK);
        lander_body_pixel(env, (LD_LEG_X - 0.3f) * side, -LD_LEG_Y, &ax, &ay);
        lander_body_pixel(env, (LD_LEG_X + 0.3f) * side, -LD_LEG_Y, &bx, &by);
        puffer_draw_line(&c, ax, ay, bx, by, 3.0f, PUFFER_INK);
    }
    static const float nozzle[4][2] = {{-0.3f, -0.45f}, {0.3f, -0.45f}, {0.42f, -0.85f}, {-0.42f, -0.85f}};
    static const float hull[4][2] = {{-0.8f, -0.5f}, {0.8f, -0.5f}, {0.6f, 1.0f}, {-0.6f, 1.0f}};
    lander_fill_body_quad(&c, env, nozzle, PUFFER_DARK_GREY);
    lander_fill_body_quad(&c, env, hull, PUFFER_BLUE);
    lander_body_pixel(env, 0.0f, 0.4f, &ax, &ay);
    puffer_draw_circle(&c, ax, ay, 0.3f * LD_PX, PUFFER_WHITE);

    /* the wind, as an arrow from the top centre (20 px per m/s^2) */
    if (env->wind_x != 0.0f) {
        float tip = 240.0f + 20.0f * env->wind_x, back = env->wind_x > 0.0f ? -6.0f : 6.0f;
        puffer_draw_line(&c, 240.0f, 16.0f, tip, 16.0f, 2.0f, PUFFER_DARK_GREY);
        puffer_draw_line(&c, tip, 16.0f, tip + back, 10.0f, 2.0f, PUFFER_DARK_GREY);
        puffer_draw_line(&c, tip, 16.0f, tip + back, 22.0f, 2.0f, PUFFER_DARK_GREY);
    }
    /* the fuel gauge */
    float left_fraction = env->fuel > 0.0f ? env->fuel_left / env->fuel : 0.0f;
    puffer_draw_progress(&c, 0, LD_SKY + 28, 480, h - LD_SKY - 28, left_fraction, PUFFER_GOLD,
                         PUFFER_GREY);
    return 0;
}

PUFFER_DEFINE_ENV_EXT(Lander, lander,
    "Land a 2D rocket (gravity, a main engine along its axis, side thrusters) softly on a pad.\n"
    "observation: Box(float32, (8,)) offset to the pad /10, height /10, velocity /5, sin and cos of\n"
    "  the angle, angular velocity /4, fuel left (clipped to +-4, +-8, +-1, +-2, [0, 1])\n"
    "action: Box(-1, 1, (2,)) main throttle ((a + 1) / 2 of max_thrust), torque (of max_torque)\n"
    "reward: shaped progress (distance, speed, tilt) - fuel; +10 landing on the pad, +3 off it,\n"
    "  -5 crash\n"
    "episode end: terminated on touching the ground (a landing if vy >= -1.5, |vx| <= 1,\n"
    "  |angle| <= 0.25, |spin| <= 1.5, else a crash) or leaving the world; truncated after max_steps\n"
    "statistics: landed (on the pad), off_pad, crashed, fuel_used, distance (to the pad at the end)\n"
    "render: the ground, the pad, the lander with its flame, the wind and a fuel gauge",
    lander_params, 7, lander_stats, 5, NULL, lander_render)
