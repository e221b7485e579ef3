"""What the Python vector backends share: making envs on buffer views, pools of workers.

A vector env builds each environment exactly once. It builds env 0 first, on no buffers
(`first_env`), and learns from it what the buffers hold (`pufferlib.emulation.EnvSpec`: spaces, rows per env,
layouts); it then allocates the buffers and wraps env 0 on its rows, building the others on
theirs. `EnvGroup` owns consecutive environments whose rows are views into one set of arrays (the
serial backend's own arrays, or a worker's slice of shared memory) and steps them in turn.
The protocol itself (states, action checks, seeds) is `pufferlib._native.protocol.VectorProtocol`,
shared with the native engine; a backend implements its hooks `_reset`, `_send`, `_recv`,
`_render` and `_close`.
"""
import inspect
from collections import deque

import gymnasium
import numpy as np

from pufferlib import emulation
from pufferlib._native.protocol import VectorProtocol
from pufferlib.environment import Buffers, EpisodeStats, PufferEnv

__all__ = ["EnvGroup", "VecEnv", "WorkerPool", "close_quietly", "first_env", "make_env",
           "wrap_env"]


def _takes_buf(env_creator):
    """Whether env_creator has an explicit `buf` parameter (then it adopts our buffer views)."""
    try:
        return "buf" in inspect.signature(env_creator).parameters
    except (TypeError, ValueError):
        return False


def make_env(env_creator, env_kwargs=None, buf=None):
    """Calls env_creator(**env_kwargs) once and returns what it made, unwrapped.

    `buf` ({name: array}, see Buffers.spec) is passed to creators with a `buf` parameter.
    """
    kwargs = dict(env_kwargs or {})
    if buf is not None and _takes_buf(env_creator):
        kwargs["buf"] = buf
    return env_creator(**kwargs)


def wrap_env(env, buf=None, check_observations="first"):
    """`env` as a PufferEnv: a PufferEnv as it is, a Gymnasium or PettingZoo env emulated on `buf`.

    The emulation (pufferlib.emulation) checks observations and rewards as `check_observations`
    says (see GymnasiumPufferEnv). A PufferEnv that did not adopt `buf` still works: EnvGroup
    copies its buffers into `buf` after every step.

    Raises:
        TypeError: `env` is none of these.
    """
    if isinstance(env, PufferEnv):
        return env
    # the vector env checks actions at its boundary: the wrapper does not check them again
    if hasattr(env, "possible_agents"):
        return emulation.PettingZooPufferEnv(env=env, buf=buf, check_observations=check_observations,
                                             check_actions=False)
    if isinstance(env, gymnasium.Env):
        return emulation.GymnasiumPufferEnv(env=env, buf=buf, check_observations=check_observations,
                                            check_actions=False)
    raise TypeError(f"env_creator must return a pufferlib PufferEnv, a gymnasium.Env or a PettingZoo "
                    f"ParallelEnv, got {type(env).__name__}")


def first_env(env_creator, env_kwargs=None, check_observations="first"):
    """Builds a vector env's first env, on no buffers, to learn its spec.

    Returns:
        (env, EnvSpec): the env as env_creator made it (give it to EnvGroup as `env0`, which wraps
        it on its rows) and its spec. A creator with a `buf` parameter is called without one here,
        so its env keeps buffers of its own, and EnvGroup copies them into env 0's rows each step.
    """
    env = make_env(env_creator, env_kwargs)
    try:
        # a wrapper on buffers of its own, only to read the spec: EnvGroup wraps env again on its rows
        return env, emulation.EnvSpec.of(wrap_env(env, None, check_observations))
    except BaseException:
        close_quietly(env)
        raise


def close_quietly(env):
    """Closes an env whose construction failed, without masking that failure."""
    close = getattr(env, "close", None)
    try:
        if close is not None:
            close()
    except Exception:  # noqa: S110 - closing after a failure must not mask it
        pass


class EnvGroup:
    """Environments `first` .. `first + count - 1`, each on its rows of `arrays`.

    Args:
        env_creator, env_kwargs: how to make one environment.
        first: the global index of the first environment (it is seeded with seed + index).
        count: how many environments.
        spec: the `EnvSpec` of the vector env's first env; every env must match it, with
            `spec.agents_per_env` rows each.
        arrays: {name: array} with count * spec.agents_per_env rows (see Buffers.spec).
        check_observations: how emulated envs check observations and rewards (see wrap_env).
        env0: environment `first`, already made by `first_env` (it is wrapped on its rows here), or
            None to make it here too.

    Raises:
        ValueError: an env whose rows or layouts differ from the spec's.
    """

    def __init__(self, env_creator, env_kwargs, first, count, spec, arrays, check_observations="first",
                 env0=None):
        self.first = first
        self.envs = []
        self.copy_to = []  # per env: None when it writes into our rows, else the rows to copy into
        self.stats = EpisodeStats()  # of the episodes finished since the last pop
        self.actions = []
        agents = spec.agents_per_env
        try:
            for k in range(count):
                rows = slice(k * agents, (k + 1) * agents)
                buf = {name: array[rows] for name, array in arrays.items()}
                if k == 0 and env0 is not None:
                    made, env0 = env0, None
                else:
                    made = make_env(env_creator, env_kwargs, buf)
                try:
                    try:
                        env = wrap_env(made, buf, check_observations)
                    except ValueError:  # rows it does not fit: say how it differs from the first env
                        spec.check(wrap_env(made, None, check_observations), first + k)
                        raise
                except BaseException:
                    close_quietly(made)
                    raise
                self.envs.append(env)
                spec.check(env, first + k)
                adopted = all(np.shares_memory(getattr(env, name), buf[name]) for name in Buffers.NAMES)
                self.copy_to.append(None if adopted else buf)
                self.actions.append(env.actions if adopted else buf["actions"])
        except BaseException:
            if env0 is not None:
                close_quietly(env0)
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
        """Steps every env on the actions already in its rows (checked by the vector env).

        Merges the statistics of the episodes that finished into `stats`.
        """
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


class VecEnv(VectorProtocol):
    """A Python backend: the vector protocol (`VectorProtocol`) on envs made from a spec.

    Subclasses call `_use_spec(spec)` (the spaces and layouts of their first env), set
    `num_envs`, `num_agents`, the buffers (`_set_buffers`) and `env_ids`, then call
    `_init_protocol(seed)`, and implement the hooks `_reset`, `_send`, `_recv`, `_render`, `_close`.
    """

    def _set_buffers(self, arrays):
        """Adopts {name: array} as the buffers; `action_masks` is the observations' action_mask entry."""
        super()._set_buffers(dict(arrays, action_masks=emulation.action_mask_view(arrays["observations"],
                                                                                  self.observation_layout)))

    def _use_spec(self, spec):
        """Takes the spaces, layouts and rows per env of the vector env's first env."""
        self.env_spec = spec
        self.single_observation_space = spec.single_observation_space
        self.single_action_space = spec.single_action_space
        self.observation_layout = spec.observation_layout
        self.action_layout = spec.action_layout
        self.agents_per_env = spec.agents_per_env


class WorkerPool(VecEnv):
    """What the backends with workers share: envs split among workers, batches of whole workers.

    Worker w owns envs `_first[w]` .. `_first[w + 1] - 1`. A subclass calls `_init_pool`, then
    `_use_spec` with its first env's spec, keeps
    every env's rows in `_full` ({name: array}) and, when batch_size < num_envs, the returned
    batch in `_batch`; `_take_batch` then picks the next ready workers and copies their rows.
    """

    def _init_pool(self, sizes, batch_size, timeout):
        """Splits the envs among workers as `sizes` says (then `_use_spec` once the first env is made)."""
        self.num_envs = int(sum(sizes))
        self.num_workers = len(sizes)
        self.batch_size = batch_size
        self.timeout = timeout
        self.env_ids = np.arange(batch_size)
        self._first = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self._batch_workers = self.num_workers if batch_size == self.num_envs else batch_size // sizes[0]
        self._current = list(range(self._batch_workers))  # workers of the batch last returned
        self._ready = deque()                             # workers done, not yet returned
        self._stats = EpisodeStats()                      # of the workers' steps not yet returned

    def _use_spec(self, spec):
        super()._use_spec(spec)
        self.num_agents = self.batch_size * spec.agents_per_env
        self._batch = None if self.batch_size == self.num_envs else Buffers(
            self.single_observation_space, self.single_action_space, self.num_agents)

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
