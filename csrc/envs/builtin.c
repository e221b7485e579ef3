/* The environments that ship with pufferlib, in the order `puffer envs` lists them. */
#include "builtin.h"

const PufferEnvDef* const puffer_builtin_envs[] = {
    &cartpole_env_def,
    &squared_env_def,
    &noop_env_def,
};

const int puffer_num_builtin_envs = (int)(sizeof(puffer_builtin_envs) / sizeof(puffer_builtin_envs[0]));
