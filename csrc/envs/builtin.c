/* The environments that ship with pufferlib, in the order `puffer envs` lists them. */
#include "builtin.h"

const PufferEnvDef* const puffer_builtin_envs[] = {
    &cartpole_env_def,
    &squared_env_def,
    &bandit_env_def,
    &memory_env_def,
    &password_env_def,
    &stochastic_env_def,
    &multiagent_env_def,
    &continuous_env_def,
    &pong_env_def,
    &breakout_env_def,
    &snake_env_def,
    &connect4_env_def,
    &tetris_env_def,
    &gather_env_def,
    &lander_env_def,
    &g2048_env_def,
    &noop_env_def,
};

const int puffer_num_builtin_envs = (int)(sizeof(puffer_builtin_envs) / sizeof(puffer_builtin_envs[0]));
