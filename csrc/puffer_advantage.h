/* puffer_advantage.h: generalized advantage estimation with V-trace importance clipping.
 *
 * For one segment of `horizon` consecutive steps of one agent, backwards from the last step:
 *   rho_t   = min(ratio_t, rho_clip),  c_t = min(ratio_t, c_clip)
 *   delta_t = rho_t * (reward_t + gamma * next_value_t - value_t)
 *   A_t     = delta_t + gamma * lambda * c_t * (1 - done_t) * A_{t+1},   A_horizon = 0
 * next_value_t is the value to bootstrap from after step t: V(obs_{t+1}) within an episode,
 * V(final observation) when the episode was truncated at t, and 0 when it terminated; done_t marks
 * both ends, so no trace crosses an episode boundary. With every ratio 1 this is plain GAE(lambda).
 */
#ifndef PUFFER_ADVANTAGE_H
#define PUFFER_ADVANTAGE_H

#include <stdint.h>

static inline void puffer_advantage(const float* values, const float* next_values, const float* rewards,
                                    const uint8_t* dones, const float* ratios, float* advantages,
                                    int horizon, float gamma, float lambda, float rho_clip, float c_clip) {
    float last = 0.0f;
    for (int t = horizon - 1; t >= 0; t--) {
        float ratio = ratios[t];
        float rho = ratio < rho_clip ? ratio : rho_clip;
        float c = ratio < c_clip ? ratio : c_clip;
        float delta = rho * (rewards[t] + gamma * next_values[t] - values[t]);
        last = delta + gamma * lambda * c * (float)(dones[t] == 0) * last;
        advantages[t] = last;
    }
}

#endif /* PUFFER_ADVANTAGE_H */
