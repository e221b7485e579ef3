/* cartpole: balance a pole on a cart (Gymnasium's CartPole-v1 dynamics, in float32).
 *
 * Observation: Box(float32, (4,)) = cart position, cart velocity, pole angle (rad), pole angular
 *   velocity; bounds as Gymnasium's: +-4.8, +-FLT_MAX, +-0.418879, +-FLT_MAX.
 * Action: Discrete(2) (0 push left, 1 push right), or with continuous=1 Box(-1, 1, (1,)) scaling
 *   the force (clipped to [-1, 1]; NaN counts as -1).
 * Reward: +1 every step, the terminating one included.
 * Episode end: terminated when |x| > 2.4 or |theta| > 12 degrees; truncated after max_steps (both
 *   flags are set when both happen, as Gymnasium does).
 * Tests: the classic control benchmark; parity with Gymnasium within float32 tolerance.
 *
 * Four copies step at once in SIMD lanes (see cartpole_group), branch-free, with short Taylor
 * polynomials for sin/cos: the angle fed to them is always the pre-step angle, within the 0.21 rad
 * termination threshold (the episode resets otherwise), where their truncation error is below
 * 2e-9, so results are exact to float32 rounding.
 *
 * Render: 400 x 300, the track (the shaded ends lie past the termination threshold), the cart and
 * the pole at its angle (redder as it nears 12 degrees), and the steps taken as a bar at the bottom.
 */
#include <float.h>
#include "../puffer_draw.h"
#include "../puffer_env.h"

typedef struct {
    float x, x_dot, theta, theta_dot;
    int32_t steps;
    int32_t max_steps;
    int32_t continuous;
    PufferRng rng;
} CartPole;

#define CP_GRAVITY 9.8f
#define CP_MASSPOLE 0.1f
#define CP_TOTAL_MASS 1.1f
#define CP_LENGTH 0.5f
#define CP_POLEMASS_LENGTH 0.05f
#define CP_FORCE_MAG 10.0f
#define CP_TAU 0.02f
#define CP_X_THRESHOLD 2.4f
#define CP_THETA_THRESHOLD (12.0f * 2.0f * 3.14159265358979f / 360.0f)

static const PufferParam cartpole_params[] = {
    {"max_steps", 500, 1, 1e9, 1, "steps after which the episode is truncated"},
    {"continuous", 0, 0, 1, 1, "1: Box(-1, 1, (1,)) force instead of Discrete(2)"},
};

static int cartpole_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    (void)err; (void)errlen;
    const float high[4] = {CP_X_THRESHOLD * 2.0f, FLT_MAX, CP_THETA_THRESHOLD * 2.0f, FLT_MAX};
    s->num_agents = 1;
    s->render_width = 400;
    s->render_height = 300;
    puffer_obs_symmetric(s, 4, high);
    if (p[1] != 0.0) {
        puffer_act_box(s, 1, -1.0f, 1.0f);
    } else {
        puffer_act_discrete(s, 2);
    }
    return 0;
}

static void cartpole_init(CartPole* env, const double* p, PufferRng rng, PufferRng shared) {
    (void)shared;
    env->max_steps = (int32_t)p[0];
    env->continuous = p[1] != 0.0;
    env->rng = rng;
}

static void cartpole_write_obs(const CartPole* env, float* obs) {
    obs[0] = env->x;
    obs[1] = env->x_dot;
    obs[2] = env->theta;
    obs[3] = env->theta_dot;
}

static void cartpole_reset(CartPole* env, PufferRows r) {
    env->x = puffer_rand_uniform(&env->rng, -0.05f, 0.05f);
    env->x_dot = puffer_rand_uniform(&env->rng, -0.05f, 0.05f);
    env->theta = puffer_rand_uniform(&env->rng, -0.05f, 0.05f);
    env->theta_dot = puffer_rand_uniform(&env->rng, -0.05f, 0.05f);
    env->steps = 0;
    cartpole_write_obs(env, (float*)r.obs);
}

/* Four copies at a time, one per SIMD lane (GCC/Clang vector extensions: SSE2 on x86-64, NEON on
 * ARM). The pre-step angle feeds polynomials and one division; lanes are independent and a tail
 * of fewer than four copies runs in a padded group, so every copy gets exactly the same
 * arithmetic wherever it sits. */
typedef float cp_v4 __attribute__((vector_size(16)));
typedef int32_t cp_v4i __attribute__((vector_size(16)));

static inline cp_v4 cp_select(cp_v4i mask, cp_v4 a, cp_v4 b) {
    return (cp_v4)((mask & (cp_v4i)a) | (~mask & (cp_v4i)b));
}

/* The force on each lane's cart: +-10 for Discrete(2) (1 pushes right), 10 * clip(a, -1, 1) for
 * the continuous variant (NaN counts as -1). act holds four int32 or float32 actions. */
static inline cp_v4 cp_force(const void* act, int continuous) {
    const cp_v4 one = {1.0f, 1.0f, 1.0f, 1.0f};
    if (continuous) {
        cp_v4 a;
        memcpy(&a, act, sizeof(a));
        a = cp_select(a > -one, a, -one);
        a = cp_select(a < one, a, one);
        return CP_FORCE_MAG * a;
    }
    cp_v4i a;
    memcpy(&a, act, sizeof(a));
    return cp_select(a == 1, CP_FORCE_MAG * one, -CP_FORCE_MAG * one);
}

/* Steps the four copies of one group; m <= 4 of them are real, the rest padding. */
static inline __attribute__((always_inline)) void cartpole_group(CartPole* e, int m, float* obs,
        const void* act, float* rew, uint8_t* term, uint8_t* trunc) {
    cp_v4 row[4];
    for (int k = 0; k < 4; k++) memcpy(&row[k], &e[k].x, sizeof(cp_v4));
    /* rows (x, x_dot, theta, theta_dot) per copy -> one vector per state variable */
    cp_v4 t0 = __builtin_shufflevector(row[0], row[1], 0, 4, 1, 5);
    cp_v4 t1 = __builtin_shufflevector(row[2], row[3], 0, 4, 1, 5);
    cp_v4 t2 = __builtin_shufflevector(row[0], row[1], 2, 6, 3, 7);
    cp_v4 t3 = __builtin_shufflevector(row[2], row[3], 2, 6, 3, 7);
    cp_v4 x = __builtin_shufflevector(t0, t1, 0, 1, 4, 5);
    cp_v4 x_dot = __builtin_shufflevector(t0, t1, 2, 3, 6, 7);
    cp_v4 theta = __builtin_shufflevector(t2, t3, 0, 1, 4, 5);
    cp_v4 theta_dot = __builtin_shufflevector(t2, t3, 2, 3, 6, 7);

    /* Gymnasium's equations, with the divisions by constants done as multiplications: one
     * division per step instead of four (within an ulp of dividing). */
    const float inv_total_mass = 1.0f / CP_TOTAL_MASS;
    cp_v4 force = cp_force(act, e[0].continuous);
    cp_v4 x2 = theta * theta;
    cp_v4 s = theta + (x2 * theta) * ((-1.0f / 6.0f + x2 * (1.0f / 120.0f)) + (x2 * x2) * (-1.0f / 5040.0f));
    cp_v4 c = 1.0f + x2 * ((-0.5f + x2 * (1.0f / 24.0f)) + (x2 * x2) * (-1.0f / 720.0f));
    cp_v4 temp = (force + CP_POLEMASS_LENGTH * theta_dot * theta_dot * s) * inv_total_mass;
    cp_v4 thetaacc = (CP_GRAVITY * s - c * temp)
                     / (CP_LENGTH * (4.0f / 3.0f - CP_MASSPOLE * inv_total_mass * c * c));
    cp_v4 xacc = temp - CP_POLEMASS_LENGTH * inv_total_mass * thetaacc * c;
    x += CP_TAU * x_dot;
    x_dot += CP_TAU * xacc;
    theta += CP_TAU * theta_dot;
    theta_dot += CP_TAU * thetaacc;
    cp_v4i fallen = (x < -CP_X_THRESHOLD) | (x > CP_X_THRESHOLD)
                    | (theta < -CP_THETA_THRESHOLD) | (theta > CP_THETA_THRESHOLD);

    t0 = __builtin_shufflevector(x, x_dot, 0, 4, 1, 5);
    t1 = __builtin_shufflevector(theta, theta_dot, 0, 4, 1, 5);
    t2 = __builtin_shufflevector(x, x_dot, 2, 6, 3, 7);
    t3 = __builtin_shufflevector(theta, theta_dot, 2, 6, 3, 7);
    row[0] = __builtin_shufflevector(t0, t1, 0, 1, 4, 5);
    row[1] = __builtin_shufflevector(t0, t1, 2, 3, 6, 7);
    row[2] = __builtin_shufflevector(t2, t3, 0, 1, 4, 5);
    row[3] = __builtin_shufflevector(t2, t3, 2, 3, 6, 7);
    for (int k = 0; k < m; k++) {
        memcpy(&e[k].x, &row[k], sizeof(cp_v4));
        memcpy(obs + 4 * k, &row[k], sizeof(cp_v4));
        e[k].steps += 1;
        rew[k] = 1.0f;
        term[k] = (uint8_t)(fallen[k] & 1);
        trunc[k] = (uint8_t)(e[k].steps >= e[k].max_steps);
    }
}

static void cartpole_step_many(CartPole* envs, int count, PufferRows r) {
    float* obs = (float*)r.obs;
    const int32_t* act = (const int32_t*)r.act;   /* int32 or float32: four bytes each */
    int i = 0;
    for (; i + 4 <= count; i += 4) {
        cartpole_group(envs + i, 4, obs + 4 * i, act + i, r.rew + i, r.term + i, r.trunc + i);
    }
    if (i < count) {  /* a padded group: copies of the last env fill the unused lanes */
        int m = count - i;
        CartPole pad[4];
        int32_t pad_act[4];
        float pad_obs[16], pad_rew[4];
        uint8_t pad_term[4], pad_trunc[4];
        for (int k = 0; k < 4; k++) {
            pad[k] = envs[i + (k < m ? k : m - 1)];
            pad_act[k] = act[i + (k < m ? k : m - 1)];
        }
        cartpole_group(pad, 4, pad_obs, pad_act, pad_rew, pad_term, pad_trunc);
        for (int k = 0; k < m; k++) {
            envs[i + k] = pad[k];
            memcpy(obs + 4 * (i + k), pad_obs + 4 * k, 4 * sizeof(float));
            r.rew[i + k] = pad_rew[k];
            r.term[i + k] = pad_term[k];
            r.trunc[i + k] = pad_trunc[k];
        }
    }
}

static int cartpole_render(CartPole* env, uint8_t* rgb, int w, int h) {
    PufferCanvas c = puffer_canvas(rgb, w, h);
    const float world_width = 2.2f * CP_X_THRESHOLD;   /* the track and some room past its ends */
    float scale = (float)w / world_width;
    float mid = 0.5f * (float)w;
    float track_y = 0.72f * (float)h;
    int edge = (int)lrintf(CP_X_THRESHOLD * scale);
    puffer_draw_clear(&c, PUFFER_PAPER);
    /* past the threshold the episode ends */
    PufferColor out = puffer_color(246, 214, 208);
    puffer_draw_rect(&c, 0, 0, (int)mid - edge, h, out);
    puffer_draw_rect(&c, (int)mid + edge, 0, w - ((int)mid + edge), h, out);
    puffer_draw_line(&c, 0.0f, track_y, (float)(w - 1), track_y, 2.0f, PUFFER_INK);
    puffer_draw_line(&c, mid, track_y - 6.0f, mid, track_y + 6.0f, 1.0f, PUFFER_DARK_GREY);

    float cx = mid + env->x * scale;
    int cart_w = (int)lrintf(0.6f * scale), cart_h = (int)lrintf(0.32f * scale);
    float wheel = 0.07f * scale;
    puffer_draw_circle(&c, cx - 0.3f * (float)cart_w, track_y - wheel, wheel, PUFFER_DARK_GREY);
    puffer_draw_circle(&c, cx + 0.3f * (float)cart_w, track_y - wheel, wheel, PUFFER_DARK_GREY);
    int cart_top = (int)lrintf(track_y - wheel - (float)cart_h);
    puffer_draw_rect(&c, (int)lrintf(cx - 0.5f * (float)cart_w), cart_top, cart_w, cart_h, PUFFER_INK);

    /* The pole (2 * CP_LENGTH long) leans right for positive theta, the direction it then falls. */
    float axle_y = (float)cart_top + 0.25f * (float)cart_h;
    float pole = 2.0f * CP_LENGTH * scale;
    float tilt = fabsf(env->theta) / CP_THETA_THRESHOLD;
    PufferColor pole_color = puffer_color_mix(puffer_color(202, 152, 101), PUFFER_RED, tilt);
    puffer_draw_line(&c, cx, axle_y, cx + pole * sinf(env->theta), axle_y - pole * cosf(env->theta),
                     0.1f * scale, pole_color);
    puffer_draw_circle(&c, cx, axle_y, 0.04f * scale, puffer_color(128, 132, 204));

    int bar = h / 40 > 3 ? h / 40 : 3;
    float done = env->max_steps > 0 ? (float)env->steps / (float)env->max_steps : 0.0f;
    puffer_draw_progress(&c, 0, h - bar, w, bar, done, PUFFER_BLUE, PUFFER_GREY);
    return 0;
}

PUFFER_DEFINE_ENV_BATCHED(CartPole, cartpole,
    "Balance a pole on a cart: Gymnasium's CartPole-v1 dynamics in float32.\n"
    "observation: Box(float32, (4,)) cart position, cart velocity, pole angle, pole angular velocity\n"
    "action: Discrete(2) push left/right; continuous=1: Box(-1, 1, (1,)) force scale\n"
    "reward: +1 per step\n"
    "episode end: terminated when |x| > 2.4 or |angle| > 12 degrees, truncated after max_steps\n"
    "tests: the classic control benchmark\n"
    "render: the cart on its track and the pole at its angle, the steps taken as a bar",
    cartpole_params, 2, NULL, 0, NULL, cartpole_render)
