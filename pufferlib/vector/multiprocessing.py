"""The multiprocessing backend: worker processes step their environments into shared memory.

Every buffer lives in one block of shared memory (a `multiprocessing.RawArray`: an unlinked
file, freed when the last process lets go, so nothing is left in /dev/shm even after a crash).
Worker w owns a contiguous range of environments and steps them on views of their rows; the
parent's buffers are views of the same memory, so the learner reads observations without a copy.

The parent wakes a worker with one byte on a pipe and waits with poll() on the workers' pipes and
process sentinels: nobody spins, a dead worker is noticed at once, and an exception raised in a
worker comes back with its traceback.
"""
import multiprocessing
import os
import pickle
import select
import signal
import time
import traceback
import weakref

import numpy as np

from pufferlib._native.threads import available_cores
from pufferlib.environment import Buffers
from pufferlib.errors import WorkerError, WorkerTimeoutError
from pufferlib.vector._base import EnvGroup, WorkerPool

__all__ = ["Multiprocessing", "split_envs"]

_STEP, _RESET, _CLOSE = b"s", b"r", b"c"
_OK, _LOG, _ERROR = b"", b"L", b"E"
_ALIGN = 64
# How long a worker waiting for its next command, and the parent waiting for answers, check a
# shared counter before blocking on their pipes: long enough to skip a sleep and wake-up (~40 us
# each on the development machine) between back-to-back steps, short enough that nobody holds a
# core that another process needs (they also yield it while they look).
SPIN_SECONDS = 0.0002


def split_envs(num_envs, num_workers="auto", batch_size=None, cores=None):
    """Chooses how many envs each worker steps; returns (envs per worker list, batch_size).

    Without batch_size (or with batch_size == num_envs) any num_workers >= 1 works (capped at
    num_envs) and the envs are spread as evenly as possible ('auto': one worker per available core). With
    batch_size < num_envs, a batch is made of whole workers, so every worker steps the same number
    k of envs, with k dividing both num_envs and batch_size ('auto': the valid count nearest to
    cores * num_envs / batch_size, so a batch keeps every core busy).

    Raises:
        ValueError: an impossible combination; the message lists the valid num_workers.
    """
    if not _is_int(num_envs) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
    batch_size = num_envs if batch_size is None else batch_size
    if not _is_int(batch_size) or not 1 <= batch_size <= num_envs:
        raise ValueError(f"batch_size must be an integer in [1, num_envs={num_envs}] or None, "
                         f"got {batch_size!r}")
    cores = cores or available_cores()
    if batch_size == num_envs:
        valid = range(1, num_envs + 1)
        target = min(cores, num_envs)
    else:
        valid = [num_envs // k for k in range(1, batch_size + 1) if num_envs % k == 0 and batch_size % k == 0]
        target = cores * num_envs / batch_size
    if batch_size == num_envs and _is_int(num_workers):
        num_workers = min(num_workers, num_envs)  # more workers than envs: one env each
    if num_workers == "auto":
        num_workers = min(valid, key=lambda w: (abs(w - target), w))
    elif not _is_int(num_workers) or num_workers not in valid:
        if batch_size == num_envs:
            raise ValueError(f"num_workers must be 'auto' or an integer in [1, {num_envs}], "
                             f"got {num_workers!r}")
        raise ValueError(f"with num_envs={num_envs} and batch_size={batch_size}, num_workers must be "
                         "'auto' or "
                         f"one of {sorted(valid)} (a batch is made of whole workers, each stepping the same "
                         f"number of envs), got {num_workers!r}")
    base, extra = divmod(num_envs, int(num_workers))
    return [base + (w < extra) for w in range(int(num_workers))], int(batch_size)


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _layout(spec):
    """[(name, shape, dtype, offset)] of every buffer in one block, and the block's size in bytes."""
    layout, offset = [], 0
    for name, (shape, dtype) in spec.items():
        layout.append((name, shape, np.dtype(dtype).str, offset))
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        offset += -(-size // _ALIGN) * _ALIGN
    return layout, max(offset, _ALIGN)


def _views(raw, layout):
    """{name: array} views of the shared block."""
    block = np.frombuffer(raw, dtype=np.uint8)
    views = {}
    for name, shape, dtype, offset in layout:
        dtype = np.dtype(dtype)
        size = int(np.prod(shape)) * dtype.itemsize
        views[name] = block[offset:offset + size].view(dtype).reshape(shape)
    return views


def _spin(counter, value, seconds):
    """Waits up to `seconds` (yielding the core) for counter[0] to differ from value; True if it did."""
    end = time.perf_counter() + seconds
    while counter[0] == value:
        if time.perf_counter() > end:
            return False
        os.sched_yield()
    return True


def _sync_views(raw, num_workers):
    """Per worker, on its own cache lines: [0] commands sent, [8] commands answered.

    Creating the envs counts as the first command.
    """
    return np.frombuffer(raw, np.int64).reshape(num_workers, 16)


def _worker(conn, raw, layout, sync_raw, w, num_workers, env_creator, env_kwargs, first, count, agents):
    """A worker's main loop: step its envs each time the parent asks, until told to close.

    Every answer goes through the pipe (which also orders the buffer writes before the parent's
    reads); the shared counters only let both sides skip sleeping when the next message is near.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    group = None
    sync = _sync_views(sync_raw, num_workers)[w]
    handled = 1  # creating the envs is the first command
    try:
        rows = slice(first * agents, (first + count) * agents)
        arrays = {name: array[rows] for name, array in _views(raw, layout).items()}
        group = EnvGroup(env_creator, env_kwargs, first, count, agents, arrays)
        conn.send_bytes(_OK)
        sync[8] = handled
        while True:
            _spin(sync, handled, SPIN_SECONDS)
            try:
                message = conn.recv_bytes()
            except (EOFError, OSError):
                return  # the parent is gone
            handled += 1
            command = message[:1]
            try:
                if command == _STEP:
                    group.step()
                    log = group.pop_log()
                    conn.send_bytes(_OK if log is None else _LOG + pickle.dumps(log))
                elif command == _RESET:
                    seed = pickle.loads(message[1:])
                    group.reset(seed)
                    conn.send_bytes(_OK)
                else:
                    return
            except Exception as error:
                _send_error(conn, error)
            sync[8] = handled
    except Exception as error:
        _send_error(conn, error)
    finally:
        if group is not None:
            try:
                group.close()
            except Exception:  # noqa: S110 - closing after a failure must not mask it
                pass


def _send_error(conn, error):
    try:
        conn.send_bytes(_ERROR + pickle.dumps((type(error).__name__, str(error), traceback.format_exc())))
    except (OSError, ValueError):
        pass


def _shutdown(processes, conns, grace=1.0):
    """Asks every worker to exit, joins it, and terminates (then kills) the ones that do not."""
    for conn in conns:
        try:
            conn.send_bytes(_CLOSE)
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + grace
    for process in processes:
        if process.pid is not None:
            process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.pid is not None and process.is_alive():
            process.terminate()
            process.join(1.0)
            if process.is_alive():
                process.kill()
                process.join()
    for conn in conns:
        conn.close()
    for process in processes:
        if process.pid is not None:
            process.close()
    processes.clear()
    conns.clear()


class Multiprocessing(WorkerPool):
    """`num_envs` environments stepped by worker processes into shared memory.

    Follows the vector protocol (see DESIGN.md and NativeVecEnv). With batch_size == num_envs
    (the default) `observations` and the other buffers are the shared memory itself (no copy)
    and step() steps every env. With batch_size < num_envs the pool is asynchronous, as in
    EnvPool: recv() returns the first workers to finish, totalling batch_size envs, while the
    others keep stepping; `env_ids` says which envs (global indices) the batch holds, the
    buffers are batch-sized copies of their rows, and send(actions) steps those envs.
    reset() resets every env and returns the first batch (workers in order).

    Args:
        env_creator: a picklable callable (a module-level function or class, a functools.partial)
            returning a PufferEnv, a gymnasium.Env or a PettingZoo ParallelEnv; it receives `buf=`
            when it has a `buf` parameter. Each worker calls it for each of its envs.
        num_envs: how many environments.
        num_workers: worker processes, or 'auto' (see split_envs for what is valid).
        batch_size: envs per recv(); None means num_envs.
        seed: env i is seeded with seed + i on the first reset (and on reset(seed)).
        env_kwargs: keyword arguments for env_creator.
        startup_timeout: seconds to wait for the workers to start and create their envs.
        timeout: seconds to wait for workers before WorkerTimeoutError (None: wait as long as they
            live; a dead worker is always detected at once).
        start_method: 'spawn' (default: safe after OpenMP and threads), 'forkserver' or 'fork'.

    Raises:
        ValueError: bad num_envs, num_workers or batch_size (the message lists valid values).
        WorkerError: an env could not be created in a worker.
    """

    def __init__(self, env_creator, num_envs, num_workers="auto", batch_size=None, seed=0,
                 env_kwargs=None, timeout=None, start_method="spawn", startup_timeout=120):
        sizes, batch_size = split_envs(num_envs, num_workers, batch_size)
        self._init_pool(env_creator, env_kwargs, sizes, batch_size, timeout)
        spec = Buffers.spec(self.single_observation_space, self.single_action_space,
                            num_envs * self.agents_per_env)
        layout, nbytes = _layout(spec)
        context = multiprocessing.get_context(start_method)
        self._raw = context.RawArray("b", nbytes)
        self._sync_raw = context.RawArray("q", 16 * len(sizes))
        self._sync = _sync_views(self._sync_raw, len(sizes))
        self._sync[:, 0] = 1  # the first command: create your envs
        self._use_buffers(_views(self._raw, layout))
        self._full["masks"][...] = True
        agents = self.agents_per_env

        self._processes, self._conns = [], []
        self._finalizer = weakref.finalize(self, _shutdown, self._processes, self._conns)
        self._poller = select.poll()
        self._fd_worker = {}
        self._busy = set()        # workers stepping
        self._init_protocol(seed)
        try:
            for w, count in enumerate(sizes):
                parent, child = context.Pipe()
                process = context.Process(
                    target=_worker, name=f"pufferlib-worker-{w}", daemon=True,
                    args=(child, self._raw, layout, self._sync_raw, w, self.num_workers, env_creator,
                          env_kwargs, int(self._first[w]), count,
                          agents))
                self._processes.append(process)
                self._conns.append(parent)
                process.start()
                child.close()
                self._poller.register(parent.fileno(), select.POLLIN)
                self._poller.register(process.sentinel, select.POLLIN)
                self._fd_worker[parent.fileno()] = w
                self._fd_worker[process.sentinel] = w
            self._wait_all(range(self.num_workers), "creating its envs", startup_timeout)
        except BaseException:
            self._finalizer()
            raise

    # ---- backend methods ----

    def _reset(self, seed):
        if self._busy:
            self._wait_all(sorted(self._busy), "stepping")
        message = _RESET + pickle.dumps(seed)
        for w in range(self.num_workers):
            self._command(w, message)
        self._wait_all(range(self.num_workers), "resetting its envs")
        self._busy.clear()
        self._restart_batches()

    def _send(self):
        self._scatter_actions()
        for w in self._current:
            self._command(w, _STEP)
            self._busy.add(w)

    def _recv(self):
        need = self._batch_workers
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while len(self._ready) < need:
            for w in self._poll(deadline, "stepping", self._busy, self.timeout):
                if w not in self._busy:
                    self._check_alive(w, "waiting for its next step")
                elif self._answer(w, "stepping"):
                    self._busy.discard(w)
                    self._ready.append(w)
        self._take_batch()
        return self._log.means()

    def _close(self):
        self._finalizer()
        for fd in list(self._fd_worker):
            try:
                self._poller.unregister(fd)
            except (KeyError, ValueError):
                pass
        self._fd_worker.clear()

    # ---- helpers ----

    def _command(self, w, message):
        self._sync[w, 0] += 1
        try:
            self._conns[w].send_bytes(message)
        except (OSError, ValueError):
            raise self._died(w, "receiving a command") from None

    def _poll(self, deadline, doing, workers, timeout):
        """Blocks until some worker has answered or died; returns their indices.

        First, for a brief moment, it watches the answer counters of `workers` (the ones it waits
        for), which spares a sleep and a wake-up when they answer soon.
        """
        sync = self._sync
        end = time.perf_counter() + SPIN_SECONDS
        while time.perf_counter() < end:
            answered = {w for w in workers if sync[w, 8] == sync[w, 0]}
            if answered:
                return answered
            os.sched_yield()
        while True:
            if deadline is None:
                events = self._poller.poll()
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WorkerTimeoutError(
                        f"workers {sorted(workers) or 'all'} did not finish {doing} within timeout="
                        f"{timeout} s; call recv() to keep waiting, or close() the vector env")
                events = self._poller.poll(max(1, int(remaining * 1000)))
            if events:
                return {self._fd_worker[fd] for fd, _ in events}

    def _answer(self, w, doing):
        """Reads worker w's answer if there is one: True when it finished, raises if it failed or died."""
        conn = self._conns[w]
        try:
            # the worker writes its answer before counting it, so a counted answer is there to read
            # (which skips poll(), a selector per call)
            if self._sync[w, 8] != self._sync[w, 0] and not conn.poll():
                if not self._processes[w].is_alive():
                    raise self._died(w, doing)
                return False
            message = conn.recv_bytes()
        except (EOFError, OSError):
            raise self._died(w, doing) from None
        tag = message[:1]
        if tag == _LOG:
            self._log.merge(*pickle.loads(message[1:]))
        elif tag == _ERROR:
            name, text, trace = pickle.loads(message[1:])
            raise WorkerError(f"worker {w} (envs {self._first[w]}-{self._first[w + 1] - 1}) raised {name} "
                              "while "
                              f"{doing}: {text}\n\nWorker traceback:\n{trace}")
        return True

    def _wait_all(self, workers, doing, timeout=False):
        waiting = set(workers)
        timeout = self.timeout if timeout is False else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while waiting:
            for w in self._poll(deadline, doing, waiting, timeout):
                if w not in waiting:
                    self._check_alive(w, "waiting for a command")
                elif self._answer(w, doing):
                    waiting.discard(w)

    def _check_alive(self, w, doing):
        if not self._processes[w].is_alive():
            raise self._died(w, doing)

    def _died(self, w, doing):
        process = self._processes[w]
        process.join(0.5)
        code = process.exitcode
        how = f"exit code {code}"
        if code is not None and code < 0:
            try:
                how = f"signal {signal.Signals(-code).name}"
            except ValueError:
                how = f"signal {-code}"
        envs = f"{self._first[w]}-{self._first[w + 1] - 1}"
        return WorkerError(f"worker {w} (pid {process.pid}, envs {envs}) died ({how}) while {doing}; the "
                           "vector env cannot continue: close() it and make a new one")
