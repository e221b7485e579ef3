"""What the Python vector backends share: making envs on buffer views, the protocol's states.

A vector env builds each environment exactly once. It builds env 0 first, on no buffers
(`first_env`), and learns from it what the buffers hold (`EnvSpec`: spaces, rows per env,
layouts); it then allocates the buffers and wraps env 0 on its rows, building the others on
theirs. `EnvGroup` owns consecutive environments whose rows are views into one set of arrays (the
serial backend's own arrays, or a worker's slice of shared memory) and steps them in turn.
`VecEnv` holds the protocol (states, action checks, seeds, episode statistics) on top of a
backend's `_reset`, `_send` and `_recv`.
"""
import enum
import inspect
import numbers
from collections import deque
from typing import NamedTuple

import gymnasium
import numpy as np

from pufferlib import emulation
from pufferlib import render as _render
from pufferlib._native.engine import first_invalid_action
from pufferlib.environment import Buffers, Closeable, EpisodeLog, PufferEnv
from pufferlib.errors import APIUsageError, RenderNotSupportedError

__all__ = ["EnvGroup", "EnvSpec", "VecEnv", "WorkerPool", "close_quietly", "first_env", "make_env",
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
    if hasattr(env, "possible_agents"):
        return emulation.PettingZooPufferEnv(env=env, buf=buf, check_observations=check_observations)
    if isinstance(env, gymnasium.Env):
        return emulation.GymnasiumPufferEnv(env=env, buf=buf, check_observations=check_observations)
    raise TypeError(f"env_creator must return a pufferlib PufferEnv, a gymnasium.Env or a PettingZoo "
                    f"ParallelEnv, got {type(env).__name__}")


class EnvSpec(NamedTuple):
    """What a vector env learns from its first env, and requires of every other.

    Attributes:
        observation_space, action_space: the flat spaces of one agent (its row).
        num_agents: rows per env.
        observation_layout: the `pufferlib.emulation.Layout` of the env's original (possibly
            nested) observation space.
        action_layout: the `pufferlib.emulation.ActionLayout` of its original action space.
    """

    observation_space: gymnasium.Space
    action_space: gymnasium.Space
    num_agents: int
    observation_layout: emulation.Layout
    action_layout: emulation.ActionLayout

    @classmethod
    def of(cls, env):
        """The spec of a PufferEnv: an emulated env's layouts, else those of its flat spaces."""
        obs_layout = getattr(env, "observation_layout", None)
        act_layout = getattr(env, "action_layout", None)
        if obs_layout is None:
            obs_layout = emulation.Layout(env.single_observation_space)
        if act_layout is None:
            act_layout = emulation.ActionLayout(env.single_action_space)
        return cls(env.single_observation_space, env.single_action_space, int(env.num_agents), obs_layout,
                   act_layout)

    def check(self, env, index):
        """Raises ValueError unless PufferEnv `env` (env `index`) has the rows and layouts of this spec.

        Bounds may differ, as they may between the agents of a PettingZoo env.
        """
        if int(env.num_agents) != self.num_agents:
            raise ValueError(f"env {index} has num_agents={env.num_agents}; the first env had "
                             f"{self.num_agents}, and every env of a vector env must have the same")
        spec = EnvSpec.of(env)
        for kind, mine, theirs in (("observation", self.observation_layout, spec.observation_layout),
                                   ("action", self.action_layout, spec.action_layout)):
            if mine.signature() != theirs.signature():
                raise ValueError(f"env {index} has the {kind} space {theirs.space}; the first env had "
                                 f"{mine.space}, and every env of a vector env must have spaces of the same "
                                 "structure, shapes and dtypes (bounds may differ): make every env alike")


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
        return env, EnvSpec.of(wrap_env(env, None, check_observations))
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


def _log_infos(log, infos):
    """Folds a step's infos (means + `episodes`, as EpisodeLog.means gives) into `log`."""
    episodes = infos.get("episodes", 0) if infos else 0
    if not episodes:
        return
    for key, value in infos.items():
        numeric = isinstance(value, (numbers.Number, np.number)) and not isinstance(value, bool)
        if key != "episodes" and numeric:
            log.sums[key] = log.sums.get(key, 0.0) + float(value) * episodes
            log.counts[key] = log.counts.get(key, 0) + int(episodes)


class EnvGroup:
    """Environments `first` .. `first + count - 1`, each on its rows of `arrays`.

    Args:
        env_creator, env_kwargs: how to make one environment.
        first: the global index of the first environment (it is seeded with seed + index).
        count: how many environments.
        spec: the `EnvSpec` of the vector env's first env; every env must match it, with
            `spec.num_agents` rows each.
        arrays: {name: array} with count * spec.num_agents rows (see Buffers.spec).
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
        self.log = EpisodeLog()
        self.actions = []
        agents = spec.num_agents
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
        self.log.pop()

    def step(self):
        """Steps every env on the actions already in its rows."""
        log = self.log
        for env, actions, copy_to in zip(self.envs, self.actions, self.copy_to):
            infos = env.step(actions)[4]
            if infos:
                _log_infos(log, infos)
            own = getattr(env, "episode_log", None)
            if isinstance(own, EpisodeLog) and own.counts:
                log.merge(*own.pop())
            if copy_to is not None:
                self._copy(env, copy_to)

    def render(self, index):
        """The frame env `index` (a global index) draws itself; None when the env cannot draw."""
        render = getattr(self.envs[index - self.first], "render", None)
        try:
            return None if render is None else render()
        except NotImplementedError:  # Gymnasium's way of saying an env does not render
            return None

    def pop_log(self):
        """(sums, counts) of the episodes finished since the last call, or None if none."""
        sums, counts = self.log.pop()
        return (sums, counts) if counts else None

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


class State(enum.Enum):
    """Where a vector env is in its protocol."""

    NEW = "new"            # made, not reset
    READY = "ready"        # reset or stepped; step()/send() allowed
    PENDING = "pending"    # send() called; recv() expected
    FAILED = "failed"      # a worker raised or died; only close()
    CLOSED = "closed"


class VecEnv(Closeable):
    """The vector protocol over a backend's `_reset(seed)`, `_send()` and `_recv()`.

    Subclasses call `_use_spec(spec)` (the spaces and layouts of their first env), set
    `num_envs`, `num_agents`, the buffers and `env_ids`, then call `_init_protocol(seed)`.
    """

    def _use_spec(self, spec):
        """Takes the spaces, layouts and rows per env of the vector env's first env."""
        self.single_observation_space = spec.observation_space
        self.single_action_space = spec.action_space
        self.observation_layout = spec.observation_layout
        self.action_layout = spec.action_layout
        self.agents_per_env = spec.num_agents

    def _init_protocol(self, seed):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self._state = State.NEW
        self._failure = None
        self.observation_space = gymnasium.vector.utils.batch_space(
            self.single_observation_space, self.num_agents)
        self.action_space = gymnasium.vector.utils.batch_space(self.single_action_space, self.num_agents)
        space = self.single_action_space
        self._discrete = isinstance(space, (gymnasium.spaces.Discrete, gymnasium.spaces.MultiDiscrete))
        if isinstance(space, gymnasium.spaces.Discrete):
            self._limits = np.int64(space.n)
        elif isinstance(space, gymnasium.spaces.MultiDiscrete):
            self._limits = np.asarray(space.nvec, np.int64)
        # rows of actions (a Discrete space) or rows of 1-D MultiDiscrete actions: checked in C
        self._limits32 = (np.asarray(self._limits, np.int32).reshape(-1)
                          if self._discrete and self.actions.ndim <= 2 else None)
        kind = "integer" if self._discrete else "float"
        self._actions_text = f"{kind} ({self.actions.dtype.name}) of shape {self.actions.shape}"

    # ---- protocol ----

    def reset(self, seed=None):
        """Starts a new episode in every environment.

        Args:
            seed: environment i is reset with seed + i. None keeps each environment's stream
                going (the first reset uses the seed given to make()).

        Returns:
            (observations, infos): the observation buffer (of the first batch) and {}.

        Raises:
            APIUsageError: the env is closed or failed, or a send() is pending.
            WorkerError: a worker raised or died.
        """
        self._require(False)
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
                raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
            self.seed = int(seed)
        elif self._state == State.NEW:
            seed = self.seed
        self._guard(self._reset, seed)
        self._state = State.READY
        return self.observations, {}

    def step(self, actions):
        """Steps the envs of the current batch once (same-step autoreset) and returns recv()'s tuple.

        Args:
            actions: an array of the shape of `actions` (integers for discrete spaces, floats
                for Box); the `actions` buffer itself may be passed after filling it in place.

        Returns:
            (observations, rewards, terminals, truncations, infos): buffers overwritten by the
            next step; infos holds the means of the episode statistics of the episodes that
            finished in the returned batch, and their count as `episodes` ({} when none did).

        Raises:
            APIUsageError: before reset(), after close() or a worker failure, or with a send() pending.
            TypeError, ValueError: actions of the wrong dtype, shape or range (nothing is stepped).
            WorkerError: a worker raised (its traceback is in the message) or died.
            WorkerTimeoutError: the workers did not answer within `timeout`.
        """
        self.send(actions)
        return self.recv()

    def send(self, actions):
        """Starts stepping the current batch's envs with `actions` and returns (results via recv())."""
        self._require(True)
        self._load_actions(actions)
        self._guard(self._send)
        self._state = State.PENDING

    def recv(self):
        """Waits (without spinning) for the next ready batch; returns step()'s tuple.

        Raises:
            APIUsageError: no send() is pending.
        """
        if self._state != State.PENDING:
            self._require(False)
            raise APIUsageError("recv() called without a pending send(); call send(actions) first")
        infos = self._guard(self._recv)
        self._state = State.READY
        return self.observations, self.rewards, self.terminals, self.truncations, infos

    render_modes = _render.MODES

    def render(self, env_index=0, mode="rgb_array"):
        """Draws environment `env_index` as the environment draws itself (in its worker, if any).

        Python environments draw themselves: a Gymnasium env does so when it was made with
        render_mode="rgb_array" (`gymnasium.make(id, render_mode="rgb_array")`; `puffer eval
        --video` asks for that), a PettingZoo env likewise. Nothing is stepped; a worker stepping
        in the background (an asynchronous pool) finishes its step first.

        Args:
            env_index: which environment, in [0, num_envs) (not an agent row).
            mode: "rgb_array" for a uint8 array of shape (height, width, 3) (an RGBA frame loses its
                alpha); "ansi" for that frame as 24-bit colour text (`pufferlib.render.ansi`).

        Returns:
            The frame or the text.

        Raises:
            APIUsageError: called before reset(), after close() or a failure, or while a send() is pending.
            IndexError: env_index outside [0, num_envs).
            TypeError: env_index is not an integer.
            RenderNotSupportedError: the environment drew no RGB frame (no render(), or a render
                mode other than "rgb_array"); the message says what it returned.
            ValueError: an unknown mode.
            WorkerError: the environment's render() raised in its worker (the vector env can go on
                stepping), or the worker died.

        Example:
            >>> import functools, gymnasium, pufferlib.vector
            >>> creator = functools.partial(gymnasium.make, "CartPole-v1", render_mode="rgb_array")
            >>> with pufferlib.vector.make(creator, 2, backend="serial") as vecenv:
            ...     _ = vecenv.reset(seed=0)
            ...     vecenv.render(1).shape
            (400, 600, 3)
        """
        _render.check_mode(mode)
        self._require(False)
        if self._state == State.NEW:
            raise APIUsageError("call reset() before render(): the environments have no state yet")
        if isinstance(env_index, (bool, np.bool_)) or not isinstance(env_index, (int, np.integer)):
            raise TypeError(f"env_index must be an integer, got {type(env_index).__name__} {env_index!r}")
        if not 0 <= env_index < self.num_envs:
            raise IndexError(f"env_index must be in [0, {self.num_envs}), got {env_index}")
        frame = self._render(int(env_index))  # an env that fails to draw leaves the others stepping
        is_array = isinstance(frame, np.ndarray)
        if not (is_array and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] in (3, 4)):
            what = (f"{frame.dtype} of shape {frame.shape}" if is_array
                    else "None" if frame is None else type(frame).__name__)
            raise RenderNotSupportedError(
                f"environment {env_index} drew no RGB frame: its render() returned {what}, expected a uint8 "
                "array of shape (height, width, 3); make the env with render_mode='rgb_array' (for "
                "Gymnasium: gymnasium.make(id, render_mode='rgb_array'))")
        return _render.in_mode(frame[..., :3], mode)

    @property
    def closed(self):
        """Whether close() has been called."""
        return self._state == State.CLOSED

    def close(self):
        """Shuts every environment (and worker) down. Calling it twice is harmless."""
        if self._state != State.CLOSED:
            self._state = State.CLOSED
            self._close()

    def __repr__(self):
        return (f"{type(self).__name__}(num_envs={self.num_envs}, num_agents={self.num_agents}, "
                f"state={self._state.value})")

    # ---- helpers ----

    def _guard(self, method, *args):
        """Runs a backend method; any exception other than a timeout leaves the env failed."""
        from pufferlib.errors import WorkerTimeoutError
        try:
            return method(*args)
        except WorkerTimeoutError:
            raise
        except BaseException as error:
            self._state = State.FAILED
            self._failure = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            raise

    def _require(self, need_reset):
        state = self._state
        if state == State.CLOSED:
            raise APIUsageError(f"this {type(self).__name__} is closed; make a new one")
        if state == State.FAILED:
            raise APIUsageError(f"this {type(self).__name__} failed ({self._failure}); close() it and "
                                "make a new one")
        if state == State.PENDING:
            raise APIUsageError("a send() is pending; call recv() before anything else")
        if need_reset and state == State.NEW:
            raise APIUsageError("call reset() before step() or send()")

    def _load_actions(self, actions):
        """Checks actions and copies them into the actions buffer (unless they are that buffer)."""
        if actions is self.actions:
            array = actions
        else:
            array = actions if isinstance(actions, np.ndarray) else np.asarray(actions)
            kind_ok = array.dtype.kind in "iu" if self._discrete else array.dtype.kind == "f"
            if not kind_ok or array.shape != self.actions.shape:
                raise (ValueError if kind_ok else TypeError)(
                    f"actions must be {self._actions_text}, got {array.dtype} of shape {array.shape}")
        if self._discrete:
            if self._limits32 is not None and array.dtype == np.int32 and array.flags.c_contiguous:
                bad = first_invalid_action(array, self._limits32)
            else:
                invalid = np.flatnonzero((array < 0) | (array >= self._limits))
                bad = int(invalid[0]) if invalid.size else -1
            if bad >= 0:
                index = np.unravel_index(bad, array.shape)
                limit = self._limits if self._limits.ndim == 0 else self._limits[index[-1]]
                raise ValueError(f"actions must be in [0, {int(limit)}), got {array[index]} at index "
                                 f"{tuple(int(i) for i in index)}")
        if array is not self.actions:
            np.copyto(self.actions, array, casting="unsafe")



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
        self._log = EpisodeLog()

    def _use_spec(self, spec):
        super()._use_spec(spec)
        self.num_agents = self.batch_size * spec.num_agents
        self._batch = None if self.batch_size == self.num_envs else Buffers(
            self.single_observation_space, self.single_action_space, self.num_agents)

    def _use_buffers(self, full):
        """Adopts `full` ({name: array}: every env's rows); the public buffers are the batch's.

        When every env is in each batch, the public buffers are `full` itself (no copies).
        """
        self._full = full
        for name in Buffers.NAMES:
            setattr(self, name, getattr(self._batch, name) if self._batch is not None else full[name])

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
        self._log.pop()
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
