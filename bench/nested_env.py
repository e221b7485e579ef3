"""A bench-only Gymnasium env with a nested Dict observation, for bench/train.py's nested-Dict row.

`Courier`: every step shows a parcel's destination (one of 4 doors) and a sensor reading; the
agent names the door to deliver to. A set `flip` bit in the sensors means the label was read upside
down, so the right door is 3 - destination. Noise leaves carry nothing useful.

    Observation: Dict(destination=Discrete(4),
                      sensors=Dict(flip=Discrete(2), noise=Box(-1, 1, (3,), float32)))
    Action: Discrete(4).
    Reward: 1 / EPISODE_STEPS for each right door, so a return is the fraction delivered right.
    Episode end: truncated after EPISODE_STEPS steps.
    Solved: a mean return of at least 0.95 over at least 100 episodes (chance is 0.25; the answer
    needs both the destination and the flip leaf).
"""
import gymnasium
import numpy as np
from gymnasium import spaces

EPISODE_STEPS = 8


class Courier(gymnasium.Env):
    """See the module docstring."""

    def __init__(self):
        self.observation_space = spaces.Dict(
            destination=spaces.Discrete(4),
            sensors=spaces.Dict(flip=spaces.Discrete(2), noise=spaces.Box(-1, 1, (3,), np.float32)))
        self.action_space = spaces.Discrete(4)
        self.steps = 0
        self.answer = 0

    def _obs(self):
        destination, flip = int(self.np_random.integers(4)), int(self.np_random.integers(2))
        self.answer = 3 - destination if flip else destination
        noise = self.np_random.uniform(-1, 1, 3).astype(np.float32)
        return {"destination": destination, "sensors": {"flip": flip, "noise": noise}}

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return self._obs(), {}

    def step(self, action):
        reward = float(int(action) == self.answer) / EPISODE_STEPS
        self.steps += 1
        return self._obs(), reward, False, self.steps >= EPISODE_STEPS, {}


def make():
    """The env_creator of the ENV spec `nested_env:make` (bench/ on sys.path)."""
    return Courier()
