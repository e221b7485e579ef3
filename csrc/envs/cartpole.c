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
 * The step is branch-free (a select for the force, flags computed with bitwise ops) and uses
 * short Taylor polynomials for sin/cos: the angle fed to them is always the pre-step angle, which
 * is within the 0.21 rad termination threshold (the episode resets otherwise).
 */
#include <float.h>
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

/* sin and cos as short polynomials in x^2 (Taylor, Estrin's scheme for short dependency chains).
 * Truncation error below 2e-9 for |x| <= 0.25, so results are exact to float32 rounding over the
 * whole reachable range (the pre-step angle is within the 0.21 rad termination threshold). */
static inline float cp_sin(float x) {
    float x2 = x * x;
    float x3 = x2 * x;
    return x + x3 * ((-1.0f / 6.0f + x2 * (1.0f / 120.0f)) + (x2 * x2) * (-1.0f / 5040.0f));
}

static inline float cp_cos(float x) {
    float x2 = x * x;
    return 1.0f + x2 * ((-0.5f + x2 * (1.0f / 24.0f)) + (x2 * x2) * (-1.0f / 720.0f));
}

static int cartpole_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    (void)err; (void)errlen;
    const float high[4] = {CP_X_THRESHOLD * 2.0f, FLT_MAX, CP_THETA_THRESHOLD * 2.0f, FLT_MAX};
    s->num_agents = 1;
    s->obs_dtype = PUFFER_FLOAT32;
    s->obs_ndim = 1;
    s->obs_shape[0] = 4;
    s->obs_bounds_per_element = 1;
    for (int k = 0; k < 4; k++) {
        s->obs_low_vec[k] = -high[k];
        s->obs_high_vec[k] = high[k];
    }
    s->act_dims = 1;
    if (p[1] != 0.0) {
        s->act_kind = PUFFER_CONTINUOUS;
        s->act_low = -1.0f;
        s->act_high = 1.0f;
    } else {
        s->act_kind = PUFFER_DISCRETE;
        s->act_n[0] = 2;
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

static inline void cartpole_step(CartPole* env, PufferRows r) {
    float force;
    if (env->continuous) {
        force = CP_FORCE_MAG * puffer_clampf(((const float*)r.act)[0], -1.0f, 1.0f);
    } else {
        force = ((const int32_t*)r.act)[0] == 1 ? CP_FORCE_MAG : -CP_FORCE_MAG;
    }
    /* Gymnasium's equations, with the divisions by constants done as multiplications: one
     * division per step instead of four (within an ulp of dividing). State is kept in locals:
     * the stores to the observation buffer could otherwise alias it and force reloads. */
    const float inv_total_mass = 1.0f / CP_TOTAL_MASS;
    float x = env->x, x_dot = env->x_dot, theta = env->theta, theta_dot = env->theta_dot;
    float c = cp_cos(theta);
    float s = cp_sin(theta);
    float temp = (force + CP_POLEMASS_LENGTH * theta_dot * theta_dot * s) * inv_total_mass;
    float thetaacc = (CP_GRAVITY * s - c * temp)
                     / (CP_LENGTH * (4.0f / 3.0f - CP_MASSPOLE * inv_total_mass * c * c));
    float xacc = temp - CP_POLEMASS_LENGTH * inv_total_mass * thetaacc * c;
    x += CP_TAU * x_dot;
    x_dot += CP_TAU * xacc;
    theta += CP_TAU * theta_dot;
    theta_dot += CP_TAU * thetaacc;
    int32_t steps = env->steps + 1;

    env->x = x;
    env->x_dot = x_dot;
    env->theta = theta;
    env->theta_dot = theta_dot;
    env->steps = steps;
    float* obs = (float*)r.obs;
    obs[0] = x;
    obs[1] = x_dot;
    obs[2] = theta;
    obs[3] = theta_dot;
    r.rew[0] = 1.0f;
    r.term[0] = (uint8_t)((x < -CP_X_THRESHOLD) | (x > CP_X_THRESHOLD)
                          | (theta < -CP_THETA_THRESHOLD) | (theta > CP_THETA_THRESHOLD));
    r.trunc[0] = (uint8_t)(steps >= env->max_steps);
}

PUFFER_DEFINE_ENV_EXT(CartPole, cartpole,
    "Balance a pole on a cart: Gymnasium's CartPole-v1 dynamics in float32.\n"
    "observation: Box(float32, (4,)) cart position, cart velocity, pole angle, pole angular velocity\n"
    "action: Discrete(2) push left/right; continuous=1: Box(-1, 1, (1,)) force scale\n"
    "reward: +1 per step\n"
    "episode end: terminated when |x| > 2.4 or |angle| > 12 degrees, truncated after max_steps\n"
    "tests: the classic control benchmark",
    cartpole_params, 2, NULL, 0, NULL, NULL)
