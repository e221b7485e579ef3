/* multiagent: two agents per env that are paid for choosing different actions.
 *
 * Observation: Box(float32, (2,), [0, 1]) = one-hot of the agent's index within its env (rows 2i
 *   and 2i + 1 are the two agents of env i).
 * Action: Discrete(2) per agent.
 * Reward: 1 to both agents if their actions differ, else 0.
 * Episode end: terminated after every step (one-step episodes), for both agents.
 * Statistics: coordinated (1 when the actions differed).
 * Tests: the multi-agent path of the engine and learner (rows per env, per-agent observations).
 *   Independent learners solve it by breaking the symmetry through their observations.
 *
 * An invalid action never coordinates: the agents must both play a valid, different action.
 */
#include "../puffer_env.h"

typedef struct {
    int32_t unused;      /* the env has no state; C wants a non-empty struct */
} Multiagent;

static const char* const multiagent_stats[] = {"coordinated"};

static int multiagent_describe(const double* p, PufferSpec* s, char* err, int errlen) {
    (void)p; (void)err; (void)errlen;
    s->num_agents = 2;
    puffer_obs_box(s, PUFFER_FLOAT32, 2, 0.0f, 1.0f);
    puffer_act_discrete(s, 2);
    return 0;
}

static void multiagent_init(Multiagent* env, const double* p, PufferRng rng, PufferRng shared) {
    (void)env; (void)p; (void)rng; (void)shared;
}

static void multiagent_write_obs(float* obs) {
    obs[0] = 1.0f; obs[1] = 0.0f;     /* agent 0 */
    obs[2] = 0.0f; obs[3] = 1.0f;     /* agent 1 */
}

static void multiagent_reset(Multiagent* env, PufferRows r) {
    (void)env;
    multiagent_write_obs((float*)r.obs);
}

static inline void multiagent_step(Multiagent* env, PufferRows r) {
    (void)env;
    const int32_t* act = (const int32_t*)r.act;
    uint32_t a0 = (uint32_t)act[0], a1 = (uint32_t)act[1];
    int coordinated = (a0 < 2) & (a1 < 2) & (a0 != a1);
    multiagent_write_obs((float*)r.obs);
    for (int a = 0; a < 2; a++) {
        r.rew[a] = (float)coordinated;
        r.term[a] = 1;
        r.trunc[a] = 0;
    }
    r.log->stats[0] += (double)coordinated;
}

PUFFER_DEFINE_ENV_EXT(Multiagent, multiagent,
    "Two agents per env, both paid when their actions differ.\n"
    "observation: Box(float32, (2,), [0, 1]) one-hot of the agent's index in its env\n"
    "action: Discrete(2) per agent (rows 2i and 2i + 1 are the agents of env i)\n"
    "reward: 1 to both agents if their actions differ, else 0\n"
    "episode end: terminated after every step\n"
    "statistics: coordinated (fraction of episodes in which the actions differed)\n"
    "tests: the multi-agent path (two rows per env, per-agent observations)",
    NULL, 0, multiagent_stats, 1, NULL, NULL)
