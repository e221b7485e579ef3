"""A Gymnasium env that returns a NaN reward or observation at one step (for the trainer's guard)."""
import gymnasium
import numpy as np
from gymnasium import spaces


class NanAt(gymnasium.Env):
    """Observations of 3 floats, two actions, reward 1; at its `at`-th step (counted over episodes)
    the reward or one observation element is NaN. Episodes last 8 steps."""

    observation_space = spaces.Box(-10, 10, (3,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, bad="reward", at=5):
        self.bad, self.at = bad, at
        self.steps = self.length = 0

    def _obs(self):
        obs = np.full(3, 0.5, np.float32)
        if self.bad == "observation" and self.steps == self.at:
            obs[1] = np.nan
        return obs

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.length = 0
        return self._obs(), {}

    def step(self, action):
        self.steps += 1
        self.length += 1
        reward = float("nan") if self.bad == "reward" and self.steps == self.at else 1.0
        return self._obs(), reward, False, self.length >= 8, {}


def make(bad="reward", at=5):
    """The env_creator for `puffer train tests.train.nan_env:make --env.bad reward --env.at 5`."""
    return NanAt(bad, at)
