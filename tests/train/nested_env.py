"""A Gymnasium env with nested Dict/Tuple spaces and mixed discrete + continuous actions (for tests)."""
import gymnasium
import numpy as np
from gymnasium import spaces


class MatchTarget(gymnasium.Env):
    """Name the target cell and push towards 0.5: one-step episodes.

    Observation: Dict(target=Discrete(4), extra=Tuple(Box(-1, 1, (2,)), MultiBinary(2))).
    Action: Dict(choice=Discrete(4), push=Box(-1, 1, (1,))).
    Reward: 1 for the right choice, minus |push - 0.5|.
    """

    def __init__(self):
        self.observation_space = spaces.Dict(
            target=spaces.Discrete(4),
            extra=spaces.Tuple((spaces.Box(-1, 1, (2,), np.float32), spaces.MultiBinary(2))))
        self.action_space = spaces.Dict(choice=spaces.Discrete(4), push=spaces.Box(-1, 1, (1,), np.float32))
        self.target = 0

    def _obs(self):
        extra = (self.np_random.uniform(-1, 1, 2).astype(np.float32), self.np_random.integers(0, 2, 2, dtype=np.int8))
        return {"target": self.target, "extra": extra}

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.target = int(self.np_random.integers(4))
        return self._obs(), {}

    def step(self, action):
        reward = float(action["choice"] == self.target) - abs(float(action["push"][0]) - 0.5)
        self.target = int(self.np_random.integers(4))
        return self._obs(), reward, True, False, {}


def make():
    """The env_creator for `puffer train tests.train.nested_env:make`."""
    return MatchTarget()
