/* memory: remember a cue bit through `delay` blank steps, then answer it.
 *
 * Observation: Box(float32, (2,), [-1, 1]) = [cue, query]: [2b - 1, 0] on reset, where b is a
 *   random bit; after step k (k = 1..delay) [0, 1 if k == delay else 0].
 * Action: Discrete(2). Only the answer on the query observation (the (delay + 1)-th action) counts.
 * Reward: 1 if that answer equals b, else 0; every earlier reward is 0.
 * Episode end: terminated on the answer, so every episode lasts delay + 1 steps.
 * Statistics: correct (1 when the answer was right).
 * Tests: memory. A memoryless policy (an MLP) stays at chance, 0.5; a recurrent one can solve it.
 *
 * An invalid action is a wrong answer. The terminal observation (kept in final_observations) is
 * [0, 0].
 */
#include "../puffer_env.h"

typedef struct {
    int32_t delay;
    int32_t tick;        /* actions taken this episode */
    int32_t bit;
    PufferRng rng;
} Memory;

static const PufferParam memory_params[] = {
    {"delay", 4, 1, 1000, 1, "blank steps between the cue and the query"},
};
static const char* const memory_stats[] = {"correct"};

static int memory_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    (void)p; (void)err; (void)errlen;
    s->num_agents = 1;
    puffer_obs_box(s, PUFFER_FLOAT32, 2, -1.0f, 1.0f);
    puffer_act_discrete(s, 2);
    return 0;
}

static void memory_init(Memory* env, const double* p, PufferRng rng, PufferRng shared) {
    (void)shared;
    env->delay = (int32_t)p[0];
    env->rng = rng;
}

static void memory_reset(Memory* env, PufferRows r) {
    float* obs = (float*)r.obs;
    env->tick = 0;
    env->bit = puffer_rand_int(&env->rng, 2);
    obs[0] = env->bit ? 1.0f : -1.0f;
    obs[1] = 0.0f;
}

static inline void memory_step(Memory* env, PufferRows r) {
    float* obs = (float*)r.obs;
    int tick = ++env->tick;
    int answered = tick > env->delay;
    int correct = answered & (((const int32_t*)r.act)[0] == env->bit);
    obs[0] = 0.0f;
    obs[1] = tick == env->delay ? 1.0f : 0.0f;
    r.rew[0] = (float)correct;
    r.term[0] = (uint8_t)answered;
    r.trunc[0] = 0;
    if (answered) r.log->stats[0] += (double)correct;
}

PUFFER_DEFINE_ENV_EXT(Memory, memory,
    "Remember a cue bit through delay blank steps, then answer it when queried.\n"
    "observation: Box(float32, (2,), [-1, 1]) [cue, query]: [+-1, 0] at the start, then [0, 0] "
    "until [0, 1] after delay steps\n"
    "action: Discrete(2) the answer (only the one given on the query counts)\n"
    "reward: 1 for the right answer, else 0\n"
    "episode end: terminated on the answer, after delay + 1 steps\n"
    "statistics: correct (fraction of right answers)\n"
    "tests: memory (a memoryless policy stays at 0.5, a recurrent one can solve it)",
    memory_params, 1, memory_stats, 1, NULL, NULL)
