/* puffer_env.h: the C environment ABI of pufferlib.
 *
 * An environment is one C file that includes this header, defines a state struct and four static
 * functions, and ends with PUFFER_DEFINE_ENV (and PUFFER_EXPORT, to be built and loaded on its
 * own by `puffer build` / `pufferlib.make("my_env.c")`). The engine (pufferlib/_native) then steps
 * any number of copies of it on OpenMP threads, straight into numpy buffers. Nothing here
 * includes Python.h: an environment compiles and runs on its own (see puffer_run.c for a
 * standalone driver).
 *
 * The four functions, for a state struct T and a prefix NAME:
 *
 *   static int  NAME_describe(const double* params, PufferSpec* spec, char* err, int errlen);
 *       Fill the spaces for these parameters: agents per env, observation shape/dtype/bounds,
 *       action kind and sizes. Return 0, or nonzero after writing a message into err. The engine
 *       counts envs and agent rows in ints: it refuses an observation of more than 2**31-1 bytes
 *       per agent at load, and more than 2**31-1 rows (num_envs * num_agents) when made.
 *   static void NAME_init(T* env, const double* params, PufferRng rng, PufferRng shared);
 *       Store parameters, keep rng (seeded from (seed, env index)) for the env's own randomness.
 *       shared is the same stream in every copy of one vector env (seeded from seed alone): draw
 *       hidden task constants from it (the best arm, the password). The struct is zeroed before
 *       init. Called again on every reset(seed=...).
 *   static void NAME_reset(T* env, PufferRows r);
 *       Start a new episode: write the observations of the env's agents into r.obs. (r.log may
 *       be NULL here: statistics are only added by step.)
 *   static void NAME_step(T* env, PufferRows r);
 *       Read the agents' actions from r.act, advance one step, write observations, rewards and
 *       the terminal and truncation flags of every agent (0 or 1, always written). When the episode
 *       ends, add each of the env's named statistics to r.log->stats[k] once (they are averaged
 *       over finished env episodes; returns and lengths over agent episodes).
 *       Never read or write outside the given rows, whatever the actions hold: the engine checks
 *       actions before stepping (discrete in range, continuous finite), but can be told not to
 *       (and a C caller may not). Continuous actions are clipped by the env (puffer_clampf maps
 *       NaN to the lower bound).
 *   An env with discrete actions may also declare action masks (puffer_act_mask in describe):
 *       reset and step then write, for every agent row, which choices are legal in the new state
 *       into r.action_mask (see puffer_act_mask below), and policies never sample the others.
 *
 * Optional, passed to PUFFER_DEFINE_ENV_EXT: NAME_close (free what init allocated) and NAME_render
 * (draw an RGB frame).
 *   static int NAME_render(T* env, uint8_t* rgb, int width, int height);
 *       Draw the env's state into rgb[height][width][3] (width and height are the render_width and
 *       render_height its describe() set) and return 0, or -1 when it cannot. Read the state only:
 *       rendering must not change a trajectory. csrc/puffer_draw.h has clipped primitives for it.
 *
 * Episodes and autoreset (same-step): after NAME_step, the engine adds each agent's reward to its
 * episode return and length. When any agent of an env sets terminal or truncated, the episode ends
 * for all of that env's agents (agents with neither flag are marked truncated), their observation
 * rows are copied to the final-observation buffer (for bootstrapping truncated episodes), their
 * return and length are folded into the log, and NAME_reset runs in the same step, so the returned
 * observation already belongs to the new episode.
 *
 * Agent episodes (many-agent games where agents die and respawn while the world goes on): an env
 * whose describe() sets spec->agent_episodes = 1 ends one agent's episode with that agent's terminal
 * flag alone. The env respawns the agent itself, in the same step, writing the new episode's
 * observation into its row; the engine folds that agent's return and length into the log and
 * counts one episode for the statistics, which the env adds once per finished agent episode (so
 * they are averaged over agent episodes). A truncation flag on any agent still ends the world's
 * episode for every agent, as above (NAME_reset runs; the final observations are saved); agents
 * that terminated in that same step are not counted twice.
 *
 * Randomness: use only the PufferRng handed to init (puffer_rand_*). Never rand()/srand(): the
 * same seed must give the same trajectories at any thread count.
 */
#ifndef PUFFER_ENV_H
#define PUFFER_ENV_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PUFFER_ABI_VERSION 1
#define PUFFER_MAX_DIMS 4        /* observation shape rank */
#define PUFFER_MAX_ACT_DIMS 16   /* MultiDiscrete dimensions or Box size */
#define PUFFER_MAX_PARAMS 16
#define PUFFER_MAX_STATS 8
#define PUFFER_MAX_BOUNDS 16     /* per-element observation bounds, for small observations */

/* Observation dtypes. */
enum { PUFFER_FLOAT32 = 0, PUFFER_UINT8 = 1 };
/* Action kinds: int32 indices (Discrete when act_dims == 1, else MultiDiscrete), or float32 Box. */
enum { PUFFER_DISCRETE = 0, PUFFER_CONTINUOUS = 1 };

/* A numeric parameter; values arrive as doubles in declaration order, already range-checked. */
typedef struct {
    const char* name;
    double default_value;
    double min, max;
    int integer;          /* 1: must be a whole number */
    const char* doc;
} PufferParam;

/* The spaces of one environment copy, filled by describe(). */
typedef struct {
    int num_agents;                      /* agents (buffer rows) per env */
    int obs_dtype;                       /* PUFFER_FLOAT32 or PUFFER_UINT8 */
    int obs_ndim;
    int obs_shape[PUFFER_MAX_DIMS];
    float obs_low, obs_high;             /* bounds of every element ... */
    float obs_low_vec[PUFFER_MAX_BOUNDS];    /* ... or, when obs_bounds_per_element, of each */
    float obs_high_vec[PUFFER_MAX_BOUNDS];   /*     (flat observations of up to 16 elements) */
    int obs_bounds_per_element;
    int act_kind;                        /* PUFFER_DISCRETE or PUFFER_CONTINUOUS */
    int act_dims;                        /* number of int32 or float32 per agent */
    int act_n[PUFFER_MAX_ACT_DIMS];      /* discrete: choices per dimension */
    float act_low, act_high;             /* continuous: bounds (the env clips) */
    int render_width, render_height;     /* RGB frame size, 0 when the env cannot render */
    int act_mask;                        /* 1: the env writes a mask of legal discrete actions */
    int agent_episodes;                  /* 1: a terminal flag ends one agent's episode (see above) */
} PufferSpec;

/* Episode statistics of one block of envs, summed; the engine divides by episodes when read.
 * Padded to two cache lines so that blocks stepped by different threads never share one. */
typedef struct {
    double episodes;                     /* agent-episodes finished */
    double episode_return;
    double episode_length;
    double env_episodes;                 /* env episodes finished (the stats' denominator) */
    double stats[PUFFER_MAX_STATS];      /* the env's named statistics, in declaration order */
    double _pad[16 - 4 - PUFFER_MAX_STATS];
} PufferLog;

/* The engine's buffers, one row per agent, rows of env i start at i * num_agents. */
typedef struct {
    void* observations;                  /* [rows, obs_size] of obs_dtype */
    const void* actions;                 /* [rows, act_dims] int32 or float32 */
    float* rewards;                      /* [rows] */
    uint8_t* terminals;                  /* [rows] */
    uint8_t* truncations;                /* [rows] */
    uint8_t* masks;                      /* [rows], 1 where the agent is present */
    void* final_observations;            /* [rows, obs_size]: last obs of the episode just ended */
    float* episode_return;               /* [rows] running sums, engine-owned */
    int32_t* episode_length;             /* [rows] */
    size_t obs_row_bytes;
    int act_dims;
    int num_agents;
    uint8_t* action_masks;               /* [rows, mask_size] 0/1, or NULL when act_mask is 0 */
    int mask_size;                       /* sum of act_n: one byte per choice of each dimension */
    int agent_episodes;                  /* the spec's agent_episodes */
} PufferBuffers;

/* What one env sees: the rows of its agents. */
typedef struct {
    void* obs;
    const void* act;
    float* rew;
    uint8_t* term;
    uint8_t* trunc;
    uint8_t* mask;
    PufferLog* log;
    int num_agents;
    uint8_t* action_mask;                /* [num_agents, mask_size], NULL unless act_mask was set */
    int mask_size;
} PufferRows;

/* ---- Random numbers: xorshift64*, one per env copy, seeded from (seed, env index) ---- */

typedef struct { uint64_t s; } PufferRng;

/* splitmix64: turns (seed, index) into well-mixed, never-zero generator states. */
static inline uint64_t puffer_splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* The generator of env copy `index`; puffer_shared_rng(seed) is the one all copies share. */
static inline PufferRng puffer_rng(uint64_t seed, uint64_t index) {
    PufferRng r;
    r.s = puffer_splitmix64(puffer_splitmix64(seed) ^ puffer_splitmix64(index + 0x632BE59BD9B4E019ull));
    if (r.s == 0) r.s = 0x9E3779B97F4A7C15ull;
    return r;
}

static inline PufferRng puffer_shared_rng(uint64_t seed) {
    return puffer_rng(seed ^ 0x5DEECE66Dull, UINT64_MAX);
}

static inline uint32_t puffer_rand_u32(PufferRng* r) {
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

/* Uniform in [0, 1). */
static inline float puffer_rand_float(PufferRng* r) {
    return (float)(puffer_rand_u32(r) >> 8) * (1.0f / 16777216.0f);
}

static inline float puffer_rand_uniform(PufferRng* r, float lo, float hi) {
    return lo + (hi - lo) * puffer_rand_float(r);
}

/* Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; bias below 2^-32 * n). */
static inline int puffer_rand_int(PufferRng* r, int n) {
    return (int)(((uint64_t)puffer_rand_u32(r) * (uint64_t)n) >> 32);
}

/* Standard normal (Box-Muller; only used off the hot path). */
static inline float puffer_rand_normal(PufferRng* r) {
    float u1 = ((float)(puffer_rand_u32(r) >> 8) + 1.0f) * (1.0f / 16777217.0f);
    float u2 = puffer_rand_float(r);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530718f * u2);
}

/* ---- The table the engine loads ---- */

typedef struct PufferEnvDef {
    int abi_version;                     /* PUFFER_ABI_VERSION the env was compiled against */
    const char* name;
    const char* doc;                     /* spaces, rewards, episode end, what it tests */
    const PufferParam* params;
    int num_params;
    const char* const* stat_names;
    int num_stats;
    size_t env_size;                     /* bytes of state per env copy */
    int (*describe)(const double* params, PufferSpec* spec, char* err, int errlen);
    /* Batched entry points over envs [start, end) of the array at `envs`. */
    void (*init)(void* envs, int start, int end, const double* params, uint64_t seed);
    void (*reset)(void* envs, int start, int end, const PufferBuffers* b);
    void (*step)(void* envs, int start, int end, const PufferBuffers* b, PufferLog* log);
    void (*close)(void* envs, int start, int end);
    /* Draws env copy `env` into rgb[height][width][3]; returns -1 when the env cannot render. */
    int (*render)(void* env, uint8_t* rgb, int width, int height);
} PufferEnvDef;

/* ---- Generating the batched entry points from the per-env functions ---- */

static inline PufferRows puffer_rows(const PufferBuffers* b, int env_index, PufferLog* log) {
    size_t row = (size_t)env_index * (size_t)b->num_agents;
    PufferRows r;
    r.obs = (char*)b->observations + row * b->obs_row_bytes;
    r.act = (const char*)b->actions + row * (size_t)b->act_dims * 4;
    r.rew = b->rewards + row;
    r.term = b->terminals + row;
    r.trunc = b->truncations + row;
    r.mask = b->masks + row;
    r.log = log;
    r.num_agents = b->num_agents;
    r.mask_size = b->mask_size;
    r.action_mask = b->action_masks ? b->action_masks + row * (size_t)b->mask_size : NULL;
    return r;
}

/* Ends the episode of env i (after a flag was seen on one of its agents): marks agents without a
 * flag truncated, folds returns and lengths into the log, saves the final observations. The env is
 * then reset by the caller. Shared by every environment, off the hot path. */
#if defined(__GNUC__)
#define PUFFER_COLD __attribute__((noinline, cold))
#else
#define PUFFER_COLD
#endif

/* Folds row k's finished episode into the log. */
static inline void puffer_fold_agent(const PufferBuffers* b, size_t k, PufferLog* log) {
    log->episodes += 1.0;
    log->episode_return += b->episode_return[k];
    log->episode_length += b->episode_length[k];
    b->episode_return[k] = 0.0f;
    b->episode_length[k] = 0;
}

/* An agent whose episode an agent-episodes env ended alone (terminal, not truncated): its row was
 * folded when the step was accounted, and the env already respawned it. */
static inline int puffer_agent_ended_alone(const PufferBuffers* b, size_t k) {
    return b->agent_episodes & b->terminals[k] & !b->truncations[k];
}

static inline void puffer_end_episode(const PufferBuffers* b, int i, PufferLog* log) {
    int n = b->num_agents;
    size_t row = (size_t)i * (size_t)n;
    for (int a = 0; a < n; a++) {
        size_t k = row + (size_t)a;
        if (puffer_agent_ended_alone(b, k)) continue;
        b->truncations[k] |= (uint8_t)(!b->terminals[k] & !b->truncations[k]);
        puffer_fold_agent(b, k, log);
        if (b->agent_episodes) log->env_episodes += 1.0;
    }
    if (!b->agent_episodes) log->env_episodes += 1.0;
    memcpy((char*)b->final_observations + row * b->obs_row_bytes,
           (char*)b->observations + row * b->obs_row_bytes, (size_t)n * b->obs_row_bytes);
}

#define PUFFER_ENV_AT(T, envs, i) (&((T*)(envs))[i])

/* PUFFER_DEFINE_ENV_EXT(T, NAME, DOC, PARAMS, NUM_PARAMS, STATS, NUM_STATS, CLOSE, RENDER) emits
 * `const PufferEnvDef NAME##_env_def` from the per-env functions. PARAMS is a PufferParam array
 * and STATS a const char* array (either may be NULL with a count of 0); CLOSE (void (*)(T*)) and
 * RENDER (int (*)(T*, uint8_t*, int, int)) are functions or NULL. PUFFER_DEFINE_ENV is the short
 * form for an env with parameters and statistics and neither close nor render.
 *
 * PUFFER_DEFINE_ENV_BATCHED takes the same arguments for an env that steps many copies at once
 * (with SIMD, say): instead of NAME_step it defines
 *   static void NAME_step_many(T* envs, int count, PufferRows r);
 * which steps envs[0 .. count) whose rows start at r (row k of a buffer is r's pointer plus k
 * rows; one agent per env). Autoreset and statistics are then done for it, as for NAME_step. */
#define PUFFER_DEFINE_ENV_EXT(T, NAME, DOC, PARAMS, NUM_PARAMS, STATS, NUM_STATS, CLOSE, RENDER)  \
    PUFFER__DEFINE_COMMON(T, NAME, DOC, PARAMS, NUM_PARAMS, STATS, NUM_STATS, CLOSE, RENDER)     \
    static void NAME##__step(void* envs, int start, int end, const PufferBuffers* b,            \
                             PufferLog* log) {                                                  \
        /* The buffer fields are copied into locals: the flag stores are bytes, which may alias \
         * anything, and would otherwise force a reload of every field after each of them. */  \
        PufferBuffers bl = *b;                                                                  \
        const int n = bl.num_agents;                                                            \
        const size_t obs_bytes = bl.obs_row_bytes, act_bytes = (size_t)bl.act_dims * 4;       \
        if (n == 1 && !bl.agent_episodes) {                                                     \
            PufferRows r = puffer_rows(&bl, start, log);                                        \
            for (int i = start; i < end; i++) {                                                 \
                T* e = PUFFER_ENV_AT(T, envs, i);                                               \
                r.rew = bl.rewards + i;                                                         \
                r.term = bl.terminals + i;                                                      \
                r.trunc = bl.truncations + i;                                                   \
                NAME##_step(e, r);                                                              \
                bl.episode_return[i] += bl.rewards[i];                                          \
                bl.episode_length[i] += 1;                                                      \
                if (bl.terminals[i] | bl.truncations[i]) NAME##__restart(e, &bl, i, r);         \
                r.obs = (char*)r.obs + obs_bytes;                                               \
                r.act = (const char*)r.act + act_bytes;                                         \
                r.mask += 1;                                                                    \
                if (r.action_mask) r.action_mask += r.mask_size;                                \
            }                                                                                   \
            return;                                                                             \
        }                                                                                       \
        for (int i = start; i < end; i++) {                                                     \
            T* e = PUFFER_ENV_AT(T, envs, i);                                                   \
            NAME##_step(e, puffer_rows(&bl, i, log));                                           \
            NAME##__account(e, &bl, i, log);                                                    \
        }                                                                                       \
    }

#define PUFFER_DEFINE_ENV_BATCHED(T, NAME, DOC, PARAMS, NUM_PARAMS, STATS, NUM_STATS, CLOSE,      \
                                  RENDER)                                                       \
    PUFFER__DEFINE_COMMON(T, NAME, DOC, PARAMS, NUM_PARAMS, STATS, NUM_STATS, CLOSE, RENDER)     \
    static void NAME##__step(void* envs, int start, int end, const PufferBuffers* b,            \
                             PufferLog* log) {                                                  \
        PufferBuffers bl = *b;                                                                  \
        NAME##_step_many(PUFFER_ENV_AT(T, envs, start), end - start,                            \
                         puffer_rows(&bl, start, log));                                         \
        for (int i = start; i < end; i++) NAME##__account(PUFFER_ENV_AT(T, envs, i), &bl, i, log); \
    }

#define PUFFER_DEFINE_ENV(T, NAME, DOC, PARAMS, STATS)                                           \
    PUFFER_DEFINE_ENV_EXT(T, NAME, DOC, PARAMS, (int)(sizeof(PARAMS) / sizeof(PufferParam)),    \
                          STATS, (int)(sizeof(STATS) / sizeof(const char*)), NULL, NULL)

/* What both variants share: the batched init/reset/close/render, the episode bookkeeping after a
 * step, and the table. */
#define PUFFER__DEFINE_COMMON(T, NAME, DOC, PARAMS, NUM_PARAMS, STATS, NUM_STATS, CLOSE, RENDER)  \
    static void NAME##__step(void* envs, int start, int end, const PufferBuffers* b,            \
                             PufferLog* log);                                                   \
    static void NAME##__init(void* envs, int start, int end, const double* params,              \
                             uint64_t seed) {                                                   \
        for (int i = start; i < end; i++) {                                                     \
            T* e = PUFFER_ENV_AT(T, envs, i);                                                   \
            memset(e, 0, sizeof(T));                                                            \
            NAME##_init(e, params, puffer_rng(seed, (uint64_t)i), puffer_shared_rng(seed));     \
        }                                                                                       \
    }                                                                                           \
    static void NAME##__reset(void* envs, int start, int end, const PufferBuffers* b) {         \
        for (int i = start; i < end; i++) {                                                     \
            NAME##_reset(PUFFER_ENV_AT(T, envs, i), puffer_rows(b, i, NULL));                   \
        }                                                                                       \
    }                                                                                           \
    /* Off the hot loop, so that its register needs do not spill the step's. */               \
    static PUFFER_COLD void NAME##__restart(T* e, const PufferBuffers* b, int i, PufferRows r) { \
        puffer_end_episode(b, i, r.log);                                                        \
        NAME##_reset(e, r);                                                                     \
    }                                                                                           \
    /* After env i stepped: fold rewards into the running episodes, restart it if it ended (an    \
     * agent-episodes env: fold the agents that ended alone, restart on a truncation). */       \
    static inline void NAME##__account(T* e, const PufferBuffers* b, int i, PufferLog* log) {   \
        const int n = b->num_agents;                                                            \
        int done = 0;                                                                           \
        for (int a = 0; a < n; a++) {                                                           \
            size_t k = (size_t)i * (size_t)n + (size_t)a;                                       \
            b->episode_return[k] += b->rewards[k];                                              \
            b->episode_length[k] += 1;                                                          \
            if (puffer_agent_ended_alone(b, k)) {                                               \
                puffer_fold_agent(b, k, log);                                                   \
                log->env_episodes += 1.0;                                                       \
            }                                                                                   \
            done |= b->agent_episodes ? b->truncations[k] : (b->terminals[k] | b->truncations[k]); \
        }                                                                                       \
        if (done) NAME##__restart(e, b, i, puffer_rows(b, i, log));                             \
    }                                                                                           \
    static void NAME##__close(void* envs, int start, int end) {                                 \
        void (*fn)(T*) = (CLOSE);                                                               \
        if (!fn) return;                                                                        \
        for (int i = start; i < end; i++) fn(PUFFER_ENV_AT(T, envs, i));                        \
    }                                                                                           \
    static int NAME##__render(void* env, uint8_t* rgb, int width, int height) {                 \
        int (*fn)(T*, uint8_t*, int, int) = (RENDER);                                           \
        return fn ? fn((T*)env, rgb, width, height) : -1;                                       \
    }                                                                                           \
    const PufferEnvDef NAME##_env_def = {                                                       \
        PUFFER_ABI_VERSION, #NAME, DOC, PARAMS, NUM_PARAMS, STATS, NUM_STATS, sizeof(T),        \
        NAME##_describe, NAME##__init, NAME##__reset, NAME##__step,                             \
        /* NULL when the env gave no close: its state is plain data (engines may copy it) */     \
        _Generic((CLOSE), void*: NULL, int: NULL, default: NAME##__close),                      \
        NAME##__render,                                                                         \
    };

/* ---- Loading an environment from a shared library ---- */

/* PUFFER_EXPORT(NAME), after PUFFER_DEFINE_ENV*, makes the file loadable as a shared library
 * (`puffer build`, `pufferlib.make("path/to/NAME.c")`): it defines the one well-known symbol
 * PUFFER_EXPORT_SYMBOL, a function returning &NAME##_env_def, with default visibility and C
 * linkage. When the file is compiled into pufferlib itself (PUFFER_BUILTIN defined), or linked
 * with other environments into one program (define PUFFER_NO_EXPORT), it expands to nothing, so
 * any number of environment files can be linked together without clashing. */
#define PUFFER_EXPORT_SYMBOL pufferlib_env_table
#ifdef __cplusplus
#define PUFFER__EXTERN_C extern "C"
#else
#define PUFFER__EXTERN_C
#endif
#if defined(__GNUC__)
#define PUFFER__VISIBLE __attribute__((visibility("default"), used))
#else
#define PUFFER__VISIBLE
#endif
#if defined(PUFFER_BUILTIN) || defined(PUFFER_NO_EXPORT)
#define PUFFER_EXPORT(NAME)
#else
#define PUFFER_EXPORT(NAME)                                                                     \
    PUFFER__EXTERN_C PUFFER__VISIBLE const PufferEnvDef* PUFFER_EXPORT_SYMBOL(void);            \
    PUFFER__EXTERN_C PUFFER__VISIBLE const PufferEnvDef* PUFFER_EXPORT_SYMBOL(void) {           \
        return &NAME##_env_def;                                                                 \
    }
#endif

/* ---- Small helpers environments share ---- */

/* Clamps to [lo, hi]; NaN becomes lo, so bad input cannot poison an env's state. */
static inline float puffer_clampf(float x, float lo, float hi) {
    x = x > lo ? x : lo;
    return x < hi ? x : hi;
}

/* describe() helpers for the common spaces. A flat observation of `size` elements of `dtype`
 * (PUFFER_FLOAT32 or PUFFER_UINT8), each in [low, high]: */
static inline void puffer_obs_box(PufferSpec* s, int dtype, int size, float low, float high) {
    s->obs_dtype = dtype;
    s->obs_ndim = 1;
    s->obs_shape[0] = size;
    s->obs_low = low;
    s->obs_high = high;
}

/* A flat float32 observation of size <= PUFFER_MAX_BOUNDS with element k in [-high[k], high[k]]: */
static inline void puffer_obs_symmetric(PufferSpec* s, int size, const float* high) {
    puffer_obs_box(s, PUFFER_FLOAT32, size, 0.0f, 0.0f);
    s->obs_bounds_per_element = 1;
    for (int k = 0; k < size && k < PUFFER_MAX_BOUNDS; k++) {
        s->obs_low_vec[k] = -high[k];
        s->obs_high_vec[k] = high[k];
    }
}

/* Discrete(n) actions: */
static inline void puffer_act_discrete(PufferSpec* s, int n) {
    s->act_kind = PUFFER_DISCRETE;
    s->act_dims = 1;
    s->act_n[0] = n;
}

/* Box(low, high, (dims,)) float32 actions: */
static inline void puffer_act_box(PufferSpec* s, int dims, float low, float high) {
    s->act_kind = PUFFER_CONTINUOUS;
    s->act_dims = dims;
    s->act_low = low;
    s->act_high = high;
}

/* Declares that the env writes action masks (discrete actions only): in reset and in every step,
 * for each agent row, r.action_mask[agent * r.mask_size + offset_d + k] = 1 when choice k of action
 * dimension d is legal in the new state, else 0 (offset_d = sum of act_n before d). At least one
 * choice of each dimension must stay legal. Policies give masked choices zero probability; an env
 * must still define (and document) what a masked action does when it arrives anyway. */
static inline void puffer_act_mask(PufferSpec* s) {
    s->act_mask = 1;
}

/* Writes a short formatted error message (describe() uses it). */
#include <stdio.h>
#define PUFFER_ERROR(err, errlen, ...) (snprintf((err), (size_t)(errlen), __VA_ARGS__), -1)

#endif /* PUFFER_ENV_H */
