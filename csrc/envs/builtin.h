/* The environments that ship with pufferlib (defined in csrc/envs/<name>.c). */
#ifndef PUFFER_BUILTIN_H
#define PUFFER_BUILTIN_H
#include "../puffer_env.h"

extern const PufferEnvDef cartpole_env_def;
extern const PufferEnvDef squared_env_def;
extern const PufferEnvDef bandit_env_def;
extern const PufferEnvDef memory_env_def;
extern const PufferEnvDef password_env_def;
extern const PufferEnvDef stochastic_env_def;
extern const PufferEnvDef multiagent_env_def;
extern const PufferEnvDef continuous_env_def;
extern const PufferEnvDef lander_env_def;
extern const PufferEnvDef noop_env_def;
extern const PufferEnvDef pong_env_def;
extern const PufferEnvDef breakout_env_def;
extern const PufferEnvDef snake_env_def;
extern const PufferEnvDef tetris_env_def;
extern const PufferEnvDef gather_env_def;
extern const PufferEnvDef connect4_env_def;
extern const PufferEnvDef g2048_env_def;

extern const PufferEnvDef* const puffer_builtin_envs[];
extern const int puffer_num_builtin_envs;

#endif
