"""A Gymnasium env for the sweep tests: the first trials' fates, one each, in order; then trials that train.

`puffer sweep tests.sweep.trial_env:make --env.fail nan,ok,segv --env.claims DIR`: at its `at`-th step
the env takes the first fate of `fail` that no trial has taken yet (a file in `claims`, created
exclusively) and acts it out: 'nan' returns NaN rewards, 'segv' ends the trial's process by SIGSEGV (a
C env's crash), 'ok' trains normally, as every trial does once the fates are taken. With
env.num_envs = 1 each trial steps exactly one env, so the fates go to the first trials in order.

`delay` sleeps that many seconds a step (trials that last a while); `meet = N` holds each trial at its
first step until N trials have reached theirs (at most MEET_S seconds, then it raises): trials that
train at all ran N at once.
"""
import os
import signal
import time

import gymnasium
import numpy as np
from gymnasium import spaces

FATES = ("nan", "ok", "segv")
MEET_S = 60.0


class Failing(gymnasium.Env):
    """Observations of 3 zeros; reward 1 for action 1, 0 for action 0; episodes of 8 steps."""

    observation_space = spaces.Box(-1, 1, (3,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, fail="", claims="", at=20, delay=0.0, meet=0):
        self.fates = [name for name in str(fail).split(",") if name]
        unknown = set(self.fates) - set(FATES)
        if unknown:
            raise ValueError(f"unknown fate {sorted(unknown)}; one of {', '.join(FATES)}")
        self.claims, self.at, self.delay, self.meet = str(claims), int(at), float(delay), int(meet)
        self.steps = self.length = 0
        self.fate = None

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.length = 0
        return np.zeros(3, np.float32), {}

    def step(self, action):
        self.steps += 1
        self.length += 1
        if self.steps == 1 and self.meet:
            self._meet()
        if self.steps == self.at and self.fates:
            self.fate = self._claim()
            if self.fate == "segv":
                os.kill(os.getpid(), signal.SIGSEGV)
        if self.delay:
            time.sleep(self.delay)
        reward = float("nan") if self.fate == "nan" else float(action)
        return np.zeros(3, np.float32), reward, False, self.length >= 8, {}

    def _meet(self):
        """Waits until `meet` trials (this one among them) have reached their first step."""
        open(os.path.join(self.claims, f"meet-{os.getpid()}-{id(self)}"), "w").close()
        deadline = time.monotonic() + MEET_S
        while time.monotonic() < deadline:
            met = sum(name.startswith("meet-") for name in os.listdir(self.claims))
            if met >= self.meet:
                return
            time.sleep(0.01)
        raise RuntimeError(f"{met} of {self.meet} trials ran at once within {MEET_S:g} s")

    def _claim(self):
        """The first fate no env has taken yet (now taken by this one), or None."""
        for name in self.fates:
            try:
                os.close(os.open(os.path.join(self.claims, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                continue
            return name
        return None


def make(fail="", claims="", at=20, delay=0.0, meet=0):
    """The env_creator of `tests.sweep.trial_env:make`."""
    return Failing(fail, claims, at, delay, meet)
