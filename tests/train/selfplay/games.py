"""Small PettingZoo games for the self-play tests (`module:callable` specs: tests.train.selfplay.games:NAME)."""
import itertools

import gymnasium
import numpy as np
from pettingzoo import ParallelEnv

ROCK, PAPER, SCISSORS = 0, 1, 2


class RockPaperScissors(ParallelEnv):
    """Rock-paper-scissors, one throw a game: the winner gets its win's payoff, the loser minus that.

    `payoffs` are what rock beating scissors, paper beating rock and scissors beating paper pay. The
    game's one equilibrium, where every throw earns 0 against it, plays x_rock : x_paper :
    x_scissors = c : a : b for payoffs (a, b, c): uniform for equal payoffs, (1/4, 1/2, 1/4) for (1, 1/2, 1/2).
    """

    metadata = {"name": "rps"}

    def __init__(self, payoffs=(1.0, 1.0, 1.0)):
        self.possible_agents = ["player_0", "player_1"]
        self.agents = []
        a, b, c = payoffs
        # PAYOFF[mine, theirs]: rows and columns rock, paper, scissors
        self.payoff = np.array([[0, -b, a], [b, 0, -c], [-a, c, 0]], np.float32)

    def observation_space(self, agent):
        return gymnasium.spaces.Box(0.0, 1.0, (1,), np.float32)

    def action_space(self, agent):
        return gymnasium.spaces.Discrete(3)

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        return {a: np.ones(1, np.float32) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        first = float(self.payoff[int(actions["player_0"]), int(actions["player_1"])])
        rewards = {"player_0": first, "player_1": -first}
        done = {agent: True for agent in self.agents}
        obs = {agent: np.ones(1, np.float32) for agent in self.agents}
        self.agents = []
        return obs, rewards, done, {agent: False for agent in done}, {agent: {} for agent in done}


def rps():
    """The env_creator of `RockPaperScissors` (equal payoffs)."""
    return RockPaperScissors()


def weighted_rps():
    """Rock-paper-scissors where rock's win pays 1 and the others 1/2: equilibrium (1/4, 1/2, 1/4)."""
    return RockPaperScissors((1.0, 0.5, 0.5))


_ids = itertools.count()


class MarkedDuel(ParallelEnv):
    """`seats` agents over 4-step games; each observation names its env, seat and step.

    Observation: [env id, seat, step of the game]; action Discrete(2); each step every seat's reward
    is its action (so the seats' returns are their number of 1s, and a team that plays 1 wins).
    """

    metadata = {"name": "marked_duel"}

    def __init__(self, seats=2, length=4):
        self.possible_agents = [f"seat_{i}" for i in range(seats)]
        self.agents = []
        self.id, self.length, self.t = next(_ids), length, 0

    def observation_space(self, agent):
        return gymnasium.spaces.Box(0.0, 1e6, (3,), np.float32)

    def action_space(self, agent):
        return gymnasium.spaces.Discrete(2)

    def _obs(self):
        return {a: np.array([self.id, i, self.t], np.float32) for i, a in enumerate(self.possible_agents)}

    def reset(self, seed=None, options=None):
        self.agents, self.t = list(self.possible_agents), 0
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions):
        self.t += 1
        rewards = {a: float(actions[a]) for a in self.agents}
        over = self.t >= self.length
        done = {a: over for a in self.agents}
        obs = self._obs()
        if over:
            self.agents = []
        return obs, rewards, done, {a: False for a in done}, {a: {} for a in done}


def duel():
    """Two seats of `MarkedDuel`."""
    return MarkedDuel(2)


def teams():
    """Four seats of `MarkedDuel` (for teams such as '0,2/1,3')."""
    return MarkedDuel(4)
