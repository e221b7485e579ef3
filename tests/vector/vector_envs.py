"""Small PufferEnvs for the vector backend tests, importable by spawned workers."""
import os
import signal
import time

import gymnasium
import numpy as np

from pufferlib.environment import EpisodeStats, PufferEnv


class NumpyCartPole(PufferEnv):
    """CartPole in numpy, written against Buffers, with `agents` independent poles per env."""

    def __init__(self, agents=1, max_steps=200, buf=None):
        self.num_agents = agents
        high = np.array([4.8, np.inf, 0.42, np.inf], np.float32)
        self.single_observation_space = gymnasium.spaces.Box(-high, high, dtype=np.float32)
        self.single_action_space = gymnasium.spaces.Discrete(2)
        self.max_steps = max_steps
        self._init_buffers(buf)
        self.stats = EpisodeStats()
        self.rng = np.random.default_rng()
        self.state = np.zeros((agents, 4))
        self.ticks = np.zeros(agents, np.int64)
        self.returns = np.zeros(agents)

    def reset(self, seed=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.state[:] = self.rng.uniform(-0.05, 0.05, self.state.shape)
        self.ticks[:] = 0
        self.returns[:] = 0
        self.observations[:] = self.state
        self.rewards[:] = 0
        self.terminals[:] = False
        self.truncations[:] = False
        return self.observations, {}

    def step(self, actions):
        x, x_dot, theta, theta_dot = self.state.T
        force = np.where(np.asarray(actions) == 1, 10.0, -10.0)
        cos, sin = np.cos(theta), np.sin(theta)
        temp = (force + 0.05 * theta_dot**2 * sin) / 1.1
        theta_acc = (9.8 * sin - cos * temp) / (0.5 * (4.0 / 3.0 - 0.1 * cos**2 / 1.1))
        x_acc = temp - 0.05 * theta_acc * cos / 1.1
        self.state[:] = np.stack([x + 0.02 * x_dot, x_dot + 0.02 * x_acc,
                                  theta + 0.02 * theta_dot, theta_dot + 0.02 * theta_acc], 1)
        self.ticks += 1
        self.returns += 1
        terminal = (np.abs(self.state[:, 0]) > 2.4) | (np.abs(self.state[:, 2]) > 0.2095)
        truncated = ~terminal & (self.ticks >= self.max_steps)
        self.rewards[:] = 1.0
        self.terminals[:] = terminal
        self.truncations[:] = truncated
        self.observations[:] = self.state
        for row in np.flatnonzero(terminal | truncated):
            self.final_observations[row] = self.state[row]
            self.stats.add({"episode_return": self.returns[row], "episode_length": self.ticks[row]})
            self.state[row] = self.rng.uniform(-0.05, 0.05, 4)
            self.ticks[row] = 0
            self.returns[row] = 0
            self.observations[row] = self.state[row]
        return self.observations, self.rewards, self.terminals, self.truncations, self.stats.pop()


class CopyingCartPole(NumpyCartPole):
    """A PufferEnv that ignores `buf` (allocates its own buffers): backends must copy its rows."""

    def __init__(self, agents=1, max_steps=200):
        super().__init__(agents, max_steps, None)


class CrashingEnv(NumpyCartPole):
    """Raises on the `crash_at`-th step (of env 0 only, when only_first)."""

    def __init__(self, crash_at=2, buf=None):
        super().__init__(buf=buf)
        self.crash_at = crash_at
        self.count = 0

    def step(self, actions):
        self.count += 1
        if self.count == self.crash_at:
            raise ZeroDivisionError("the env divided by zero on purpose")
        return super().step(actions)


class LongCrashEnv(CrashingEnv):
    """Raises on its second step with a message longer than a worker's mailbox."""

    def step(self, actions):
        self.count += 1
        if self.count == self.crash_at:
            raise ZeroDivisionError("x" * 100_000)
        return NumpyCartPole.step(self, actions)


class ManyStatsCartPole(NumpyCartPole):
    """Reports 5000 named statistics per episode: a worker's log outgrows its mailbox."""

    def step(self, actions):
        out = super().step(actions)
        for _ in range(int(np.count_nonzero(self.terminals | self.truncations))):
            out[4].add({f"stat_{k:04d}_with_a_long_name": k for k in range(5000)})
        return out


class CrashOnCreate(NumpyCartPole):
    """Raises in its constructor when made inside a worker process."""

    def __init__(self, parent_pid, buf=None):
        if os.getpid() != parent_pid:
            raise RuntimeError("cannot create this env in a worker")
        super().__init__(buf=buf)


class DyingEnv(NumpyCartPole):
    """Kills its own process with `signum` on the `die_at`-th step."""

    def __init__(self, die_at=2, signum=signal.SIGKILL, buf=None):
        super().__init__(buf=buf)
        self.die_at = die_at
        self.signum = signum
        self.count = 0

    def step(self, actions):
        self.count += 1
        if self.count == self.die_at:
            os.kill(os.getpid(), self.signum)
            time.sleep(10)
        return super().step(actions)


class SlowEnv(NumpyCartPole):
    """Sleeps `delay` seconds per step; env i sleeps (i + 1) * delay when staggered."""

    def __init__(self, delay=0.01, buf=None):
        super().__init__(buf=buf)
        self.delay = delay

    def step(self, actions):
        time.sleep(self.delay)
        return super().step(actions)


class SeededDelayEnv(NumpyCartPole):
    """Sleeps longer in envs reset with larger seeds, so workers finish in a known order."""

    def __init__(self, buf=None):
        super().__init__(buf=buf)
        self.delay = 0.0

    def reset(self, seed=None):
        if seed is not None:
            self.delay = 0.02 * (seed % 100)
        return super().reset(seed)

    def step(self, actions):
        time.sleep(self.delay)
        return super().step(actions)


class DrawingCartPole(NumpyCartPole):
    """Draws a frame that says which env it is and how far it is into its episode.

    Red is the seed of its last seeded reset, green its steps since then; 200 x 300 x 3 bytes
    outgrow a worker's mailbox. `mode` picks what render() returns instead of an RGB frame:
    "rgba" (a fourth channel), "text", or "raise".
    """

    def __init__(self, mode="rgb_array", buf=None):
        super().__init__(buf=buf)
        self.mode = mode
        self.seed = -1
        self.steps = 0

    def reset(self, seed=None):
        if seed is not None:
            self.seed, self.steps = seed, 0
        return super().reset(seed)

    def step(self, actions):
        self.steps += 1
        return super().step(actions)

    def render(self):
        if self.mode == "text":
            return "a cart and a pole"
        if self.mode == "raise":
            raise RuntimeError("cannot draw on purpose")
        frame = np.zeros((200, 300, 4 if self.mode == "rgba" else 3), np.uint8)
        frame[..., 0] = self.seed % 256
        frame[..., 1] = self.steps % 256
        return frame


def count_construction(count_file):
    """Appends a line to `count_file` (or to $PUFFER_TEST_COUNT_FILE): one per environment made.

    A file, so that constructions in worker processes and Ray actors count too.
    """
    with open(count_file or os.environ["PUFFER_TEST_COUNT_FILE"], "a") as f:
        f.write(f"{os.getpid()}\n")


def constructions(count_file):
    """How many environments were made (see count_construction)."""
    return len(open(count_file).read().splitlines()) if os.path.exists(count_file) else 0


def counted_cartpole(count_file=None):
    """Gymnasium's CartPole, counted (the creator of `puffer train vector_envs:counted_cartpole`)."""
    count_construction(count_file)
    return gymnasium.make("CartPole-v1")


class CountedCartPole(NumpyCartPole):
    """A PufferEnv that adopts `buf` when given one, counted; every env made after the first has
    `agents` rows (`first_agents` the first): unequal counts make envs that do not match."""

    def __init__(self, count_file=None, agents=1, first_agents=1, buf=None):
        first = count_file is not None and constructions(count_file) == 0
        count_construction(count_file)
        super().__init__(agents=first_agents if first else agents, buf=buf)


class CountedCopyingCartPole(CountedCartPole):
    """CountedCartPole on buffers of its own (no `buf` parameter): backends copy its rows."""

    def __init__(self, count_file=None, agents=1, first_agents=1):
        super().__init__(count_file, agents, first_agents)


class CountedNested(gymnasium.Env):
    """A Gymnasium env with nested spaces, counted; every env made after the first has `width` numbers
    in its observations (`first_width` in the first's): unequal widths make envs that do not match."""

    def __init__(self, count_file, width=2, first_width=2):
        first = constructions(count_file) == 0
        count_construction(count_file)
        box = gymnasium.spaces.Box(-1, 1, (first_width if first else width,), np.float32)
        self.observation_space = gymnasium.spaces.Dict(
            pos=box, kind=gymnasium.spaces.Discrete(3), bits=gymnasium.spaces.MultiBinary(2))
        self.action_space = gymnasium.spaces.Tuple(
            (gymnasium.spaces.Discrete(4), gymnasium.spaces.Box(-1, 1, (2,), np.float32)))

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}
