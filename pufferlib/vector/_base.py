"""What the Python vector backends share: creating envs on buffer views, pools of workers.

`EnvGroup` owns consecutive environments whose rows are views into one set of arrays (the
serial backend's own arrays, or a worker's slice of shared memory) and steps them in turn.
The protocol itself (states, action checks, seeds) is `pufferlib._native.protocol.VectorProtocol`,
shared with the native engine; a backend implements its hooks `_reset`, `_send`, `_recv`,
`_render` and `_close`.
"""
import inspect
from collections import deque

import gymnasium
import numpy as np

from pufferlib._native.protocol import VectorProtocol
from pufferlib.environment import Buffers, EpisodeStats, PufferEnv

__all__ = ["EnvGroup", "WorkerPool", "create_env", "probe_env"]


def _takes_buf(env_creator):
    """Whether env_creator has an explicit `buf` parameter (then it adopts our buffer views)."""
    try:
        return "buf" in inspect.signature(env_creator).parameters
    except (TypeError, ValueError):
        return False


def create_env(env_creator, env_kwargs=None, buf=None, check_observations="first"):
    """Calls env_creator(**env_kwargs) and returns a PufferEnv, writing into `buf` if it can.

    `buf` ({name: array}, see Buffers.spec) is passed to creators with a `buf` parameter; a
    Gymnasium or PettingZoo env is wrapped by pufferlib.emulation on `buf`, checking its
    observations and rewards as `check_observations` says (see GymnasiumPufferEnv). A PufferEnv
    that did not adopt `buf` still works: EnvGroup copies its buffers into `buf` after every step.
    """
    kwargs = dict(env_kwargs or {})
    if buf is not None and _takes_buf(env_creator):
        kwargs["buf"] = buf
    env = env_creator(**kwargs)
    if isinstance(env, PufferEnv):
        return env
    from pufferlib import emulation  # lazily: emulation imports Gymnasium/PettingZoo machinery
    # the vector env checks actions at its boundary: the wrapper does not check them again
    if hasattr(env, "possible_agents"):
        return emulation.PettingZooPufferEnv(env=env, buf=buf, check_observations=check_observations,
                                             check_actions=False)
    if isinstance(env, gymnasium.Env):
        return emulation.GymnasiumPufferEnv(env=env, buf=buf, check_observations=check_observations,
                                            check_actions=False)
    raise TypeError(f"env_creator must return a pufferlib PufferEnv, a gymnasium.Env or a PettingZoo "
                    f"ParallelEnv, got {type(env).__name__}")


def probe_env(env_creator, env_kwargs=None):
    """Creates one env to read (single_observation_space, single_action_space, num_agents)."""
    env = create_env(env_creator, env_kwargs)
    try:
        return env.single_observation_space, env.single_action_space, int(env.num_agents)
    finally:
        env.close()


class EnvGroup:
    """Environments `first` .. `first + count - 1`, each on its rows of `arrays`.

    Args:
        env_creator, env_kwargs: how to make one environment.
        first: the global index of the first environment (it is seeded with seed + index).
        count: how many environments.
        agents: rows per environment.
        arrays: {name: array} with count * agents rows (see Buffers.spec).
    """

    def __init__(self, env_creator, env_kwargs, first, count, agents, arrays):
        self.first = first
        self.envs = []
        self.copy_to = []  # per env: None when it writes into our rows, else the rows to copy into
        self.stats = EpisodeStats()  # of the episodes finished since the last pop
        self.actions = []
        try:
            for k in range(count):
                rows = slice(k * agents, (k + 1) * agents)
                buf = {name: array[rows] for name, array in arrays.items()}
                env = create_env(env_creator, env_kwargs, buf)
                self.envs.append(env)
                if int(env.num_agents) != agents:
                    raise ValueError(f"env {first + k} has num_agents={env.num_agents}; the first env had "
                                     f"{agents}, and every env of a vector env must have the same")
                adopted = all(np.shares_memory(getattr(env, name), buf[name]) for name in Buffers.NAMES)
                self.copy_to.append(None if adopted else buf)
                self.actions.append(env.actions if adopted else buf["actions"])
        except BaseException:
            self.close()
            raise

    def reset(self, seed):
        """Resets every env, env i with seed + i (or its own stream when seed is None)."""
        for k, env in enumerate(self.envs):
            env.reset(seed=None if seed is None else seed + self.first + k)
            if self.copy_to[k] is not None:
                self._copy(env, self.copy_to[k])
        self.stats.pop()

    def step(self):
        """Steps every env on the actions already in its rows (checked by the vector env) and
        merges the statistics of the episodes that finished into `stats`."""
        stats = self.stats
        for env, actions, copy_to in zip(self.envs, self.actions, self.copy_to):
            infos = env.step(actions)[4]
            if infos:
                stats.merge(infos)
            if copy_to is not None:
                self._copy(env, copy_to)

    def render(self, index):
        """The frame env `index` (a global index) draws itself; None when the env cannot draw."""
        render = getattr(self.envs[index - self.first], "render", None)
        try:
            return None if render is None else render()
        except NotImplementedError:  # Gymnasium's way of saying an env does not render
            return None

    @staticmethod
    def _copy(env, buf):
        for name in Buffers.NAMES:
            if name != "actions":
                buf[name][...] = getattr(env, name)

    def close(self):
        """Closes every env."""
        for env in self.envs:
            env.close()
        self.envs = []


class WorkerPool(VectorProtocol):
    """What the backends with workers share: envs split among workers, batches of whole workers.

    Worker w owns envs `_first[w]` .. `_first[w + 1] - 1`. A subclass calls `_init_pool`, keeps
    every env's rows in `_full` ({name: array}) and, when batch_size < num_envs, the returned
    batch in `_batch`; `_take_batch` then picks the next ready workers and copies their rows.
    """

    def _init_pool(self, env_creator, env_kwargs, sizes, batch_size, timeout):
        self.single_observation_space, self.single_action_space, agents = probe_env(env_creator, env_kwargs)
        self.num_envs = int(sum(sizes))
        self.num_workers = len(sizes)
        self.batch_size = batch_size
        self.agents_per_env = agents
        self.num_agents = batch_size * agents
        self.timeout = timeout
        self.env_ids = np.arange(batch_size)
        self._first = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self._batch_workers = self.num_workers if batch_size == self.num_envs else batch_size // sizes[0]
        self._batch = None if batch_size == self.num_envs else Buffers(
            self.single_observation_space, self.single_action_space, self.num_agents)
        self._current = list(range(self._batch_workers))  # workers of the batch last returned
        self._ready = deque()                             # workers done, not yet returned
        self._stats = EpisodeStats()                      # of the workers' steps not yet returned

    def _use_buffers(self, full):
        """Adopts `full` ({name: array}: every env's rows); the public buffers are the batch's.

        When every env is in each batch, the public buffers are `full` itself (no copies).
        """
        self._full = full
        self._set_buffers({name: getattr(self._batch, name) if self._batch is not None else full[name]
                           for name in Buffers.NAMES})

    def _worker_of(self, env_index):
        """The worker that owns environment `env_index`."""
        return int(np.searchsorted(self._first, env_index, side="right")) - 1

    def _rows(self, w):
        a = self.agents_per_env
        return slice(int(self._first[w]) * a, int(self._first[w + 1]) * a)

    def _batch_rows(self, j):
        size = (self._first[1] - self._first[0]) * self.agents_per_env
        return slice(j * size, (j + 1) * size)

    def _scatter_actions(self):
        """Copies the batch's actions into the full actions buffer, at its workers' rows."""
        if self._batch is not None:
            for j, w in enumerate(self._current):
                self._full["actions"][self._rows(w)] = self._batch.actions[self._batch_rows(j)]

    def _restart_batches(self):
        """After a reset: the first workers form the current batch, the others are ready next."""
        self._stats.pop()
        self._current = list(range(self._batch_workers))
        self._ready = deque(range(self._batch_workers, self.num_workers))
        self._gather()

    def _take_batch(self):
        """Returns the next `_batch_workers` ready workers as the current batch (copying their rows)."""
        self._current = sorted(self._ready.popleft() for _ in range(self._batch_workers))
        self._gather()

    def _gather(self):
        if self._batch is None:
            return
        self.env_ids = np.concatenate([np.arange(self._first[w], self._first[w + 1]) for w in self._current])
        for j, w in enumerate(self._current):
            src, dst = self._rows(w), self._batch_rows(j)
            for name in Buffers.NAMES:
                if name != "actions":
                    getattr(self._batch, name)[dst] = self._full[name][src]
