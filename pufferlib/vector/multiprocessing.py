"""The multiprocessing backend: worker processes step their environments into shared memory.

Every buffer lives in one block of shared memory: a file with no name (`os.memfd_create`, else
an unlinked temporary file), freed when the last process lets go, so nothing is left in /dev/shm
even after a crash. Worker w owns a contiguous range of environments and steps them on views of
their rows; the parent's buffers are views of the same memory, so the learner reads observations
without a copy.

Each environment is made once, in its worker. The buffers' sizes depend on the environment's
spaces, which only an environment can tell, so the workers start with the file still empty:
worker 0 makes the first environment and answers with its `EnvSpec` (spaces, rows, layouts); the
parent then sizes the file (refusing a size beyond the machine's memory), maps it, writes the
buffers' layout and the spec after the buffers, and tells every worker to build its environments
there (worker 0 wraps its first one on its rows). Workers start, and worker 0 makes its first
environment, in parallel; `startup_timeout` covers all of it, and a worker that raises or dies
meanwhile is reported as failing "while creating its envs".

Commands and answers go through shared memory too, with no system call on the way when the other
side is ready: the parent writes a command in worker w's slot and posts w's semaphore; the worker
writes its answer (pickled episode statistics, a frame, a spec or an exception, if any) in its
mailbox, counts it and posts the parent's one `answers` semaphore. Each side first tries its
semaphore for a brief moment (SPIN_SECONDS, yielding the core between tries), then sleeps on it.
A sleeping parent wakes every WAIT_SLICE to check the workers' process sentinels, so a dead worker
is reported within that time; a sleeping worker checks its pipe, which only closes when the parent
is gone (the pipe otherwise carries only answers too big for the mailbox). An exception raised in
a worker comes back with its traceback.

A worker dies with its parent, even while its main thread is stuck in env code: on Linux the kernel
kills it (PR_SET_PDEATHSIG) when the parent thread that started it ends, and everywhere a daemon
thread in the worker exits the process once the parent's pipe closes or the worker is reparented.
Nothing of the workers then outlives the parent: the shared memory is unlinked already, and
multiprocessing's resource tracker unlinks the named semaphores once every process holding them
has gone, even after a `kill -9` of the parent.
"""
import ast
import ctypes
import mmap
import multiprocessing
import multiprocessing.util
import os
import pickle
import select
import signal
import sys
import tempfile
import threading
import time
import traceback
import weakref
from multiprocessing import reduction

import numpy as np

from pufferlib._native.protocol import check_fits_in_memory
from pufferlib._native.threads import available_cores
from pufferlib.environment import Buffers
from pufferlib.errors import WorkerError, WorkerTimeoutError
from pufferlib.vector._base import EnvGroup, WorkerPool, close_quietly, first_env

__all__ = ["Multiprocessing", "describe_exit", "die_with_parent", "process_alive", "split_envs",
           "unguarded_main_line"]

_STEP, _RESET, _CLOSE, _RENDER, _BUILD = 1, 2, 3, 4, 5   # commands
_OK, _STATS, _ERROR, _FRAME, _SPEC = 0, 1, 2, 3, 4        # kinds of answers
_ALIGN = 64
MAILBOX_BYTES = 1 << 16
# How long a worker waiting for its next command, and the parent waiting for answers, try their
# semaphore before blocking on it: long enough to skip a sleep and wake-up (~40 us each on the
# development machine) between back-to-back steps, short enough that nobody holds a core that
# another process needs (they also yield it while they look).
SPIN_SECONDS = 0.0002
# How long a blocked wait sleeps before it checks that the other side is still alive.
WAIT_SLICE = 0.05
# How often a worker's watchdog thread checks that its parent lives (it only wakes to look).
PARENT_CHECK_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# How long close() waits for a worker still stepping before it terminates it: a step of healthy envs
# ends well within it, and a stuck worker holds up the end of a run (say, after Ctrl-C) only that long.
BUSY_GRACE_SECONDS = 0.25


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


class _SharedFile:
    """A file with no name that holds the buffers; its descriptor travels to each worker as it starts.

    Pickled only while starting a process (as multiprocessing passes a RawArray's file): the
    worker gets its own descriptor for the same file. Empty until the parent knows its size.
    """

    def __init__(self, fd=None):
        if fd is None:
            if hasattr(os, "memfd_create"):
                fd = os.memfd_create("pufferlib-buffers")
            else:  # an unlinked temporary file, where multiprocessing keeps its own shared memory
                fd, path = tempfile.mkstemp(prefix="pufferlib-", dir=multiprocessing.util.get_temp_dir())
                os.unlink(path)
        self.fd = fd

    def __reduce__(self):
        return _rebuild_shared_file, (reduction.DupFd(self.fd),)

    def map(self, size):
        """Maps the first `size` bytes (the file's size is set by the parent) and closes the descriptor."""
        try:
            return mmap.mmap(self.fd, size)
        finally:
            self.close()

    def close(self):
        """Closes this process's descriptor (the file lives on while another process holds it)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _rebuild_shared_file(dup):
    return _SharedFile(dup.detach())


def _sync_views(raw, num_workers):
    """Per worker, two cache lines of int64 (a memoryview) shared by the parent and worker w.

    The parent writes [0] (the command); the worker [8] (answers given so far), [9] (the kind of
    its last answer) and [10] (the bytes of its payload in the mailbox, or -1 when the payload
    follows on the pipe).
    """
    flat = memoryview(raw).cast("B").cast("q")
    return [flat[16 * w:16 * (w + 1)] for w in range(num_workers)]


def _mailboxes(raw, num_workers):
    """Per worker, MAILBOX_BYTES of shared memory for pickled payloads.

    The payloads: a reset's seed, statistics, an error.
    """
    return [memoryview(raw).cast("B")[w * MAILBOX_BYTES:(w + 1) * MAILBOX_BYTES]
            for w in range(num_workers)]


def _spin_acquire(semaphore, seconds):
    """Takes the semaphore if it is posted within `seconds` (yielding the core meanwhile); True if taken."""
    if semaphore.acquire(False):
        return True
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        os.sched_yield()
        if semaphore.acquire(False):
            return True
    return False


class _Replier:
    """A worker's side of its answers: payload in the mailbox (or the pipe when too big), count, post."""

    def __init__(self, sync, mailbox, conn, answers):
        self.sync, self.mailbox, self.conn, self.answers = sync, mailbox, conn, answers

    def __call__(self, kind, payload=b""):
        size = len(payload)
        in_mailbox = size <= len(self.mailbox)
        if in_mailbox:
            self.mailbox[:size] = payload
        self.sync[9] = kind
        self.sync[10] = size if in_mailbox else -1
        self.sync[8] += 1
        self.answers.release()  # a full memory barrier: the parent sees every write above
        if not in_mailbox:
            self.conn.send_bytes(payload)

    def error(self, error):
        """Answers with the exception being handled and its traceback (unless the parent is gone)."""
        try:
            self(_ERROR, pickle.dumps((type(error).__name__, str(error), traceback.format_exc())))
        except (OSError, ValueError):
            pass


def _wait_for_command(command, conn):
    """Waits for the parent's next command; False when the parent is gone (its end of the pipe closed)."""
    if _spin_acquire(command, SPIN_SECONDS):
        return True
    while not command.acquire(True, WAIT_SLICE):
        if conn.poll():  # nothing is ever sent to a worker: readable means closed
            return False
    return True


def _parent_gone(conn, parent_pid):
    """Whether the parent has exited: its end of the pipe closed, or this process was reparented."""
    try:
        if conn.poll():  # nothing is ever sent to a worker: readable means closed
            return True
    except (OSError, ValueError):
        return True
    return parent_pid is not None and os.getppid() != parent_pid


def _watch_parent(conn, parent_pid):
    """A worker's daemon thread: ends the process when the parent is gone, whatever the env is doing."""
    while not _parent_gone(conn, parent_pid):
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def die_with_parent(conn, parent_pid, pdeathsig):
    """Makes this worker end when its parent does, even while its main thread is stuck in env code.

    Also what a sweep's trial processes use (pufferlib.sweep.worker).

    Args:
        conn: the worker's end of its pipe (it closes when the parent exits).
        parent_pid: the parent's pid when the parent started this process itself (spawn, fork),
            else None (forkserver: the fork server is the parent).
        pdeathsig: ask Linux to SIGKILL this process when the parent's starting thread ends (only
            when that thread is the parent's main thread, which lasts as long as the parent).
    """
    if pdeathsig and sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl in this libc: the watchdog thread still works
            pass
    if _parent_gone(conn, parent_pid):  # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(conn, parent_pid), name="pufferlib-parent-watch",
                     daemon=True).start()


def _worker(conn, shared, sync_raw, mail_raw, command, answers, w, num_workers, env_creator, env_kwargs,
            first, count, check_observations, parent_pid=None, pdeathsig=False):
    """A worker's main loop: build its envs, then step them on each command until told to close.

    Worker 0 first makes env 0 and answers with its spec. Every worker then waits for the parent's
    _BUILD (where to find the buffers' layout and the spec in `shared`), builds its envs on its rows
    and answers. A command is in shared memory (a reset's seed in the mailbox); the answer too,
    counted and announced by posting the parent's `answers` semaphore. The pipe only carries answers
    too big for the mailbox, and tells the worker when the parent has gone.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    die_with_parent(conn, parent_pid, pdeathsig)
    group = env0 = None
    sync = _sync_views(sync_raw, num_workers)[w]
    mailbox = _mailboxes(mail_raw, num_workers)[w]
    reply = _Replier(sync, mailbox, conn, answers)
    try:
        if w == 0:  # the vector env's first env: its spec sizes the shared memory
            env0, spec = first_env(env_creator, env_kwargs, check_observations)
            reply(_SPEC, pickle.dumps(spec))
        if not _wait_for_command(command, conn) or sync[0] != _BUILD:
            return
        offset, size = pickle.loads(mailbox)
        memory = shared.map(offset + size)
        layout, spec = pickle.loads(memory[offset:offset + size])
        rows = slice(first * spec.agents_per_env, (first + count) * spec.agents_per_env)
        arrays = {name: array[rows] for name, array in _views(memory, layout).items()}
        owned, env0 = env0, None  # the group owns it now
        group = EnvGroup(env_creator, env_kwargs, first, count, spec, arrays, check_observations, owned)
        reply(_OK)
        while _wait_for_command(command, conn):
            what = sync[0]
            try:
                if what == _STEP:
                    group.step()
                    stats = group.stats.pop()
                    if stats:
                        reply(_STATS, pickle.dumps(stats))
                    else:
                        reply(_OK)
                elif what == _RESET:
                    group.reset(pickle.loads(mailbox))
                    reply(_OK)
                elif what == _RENDER:
                    reply(_FRAME, pickle.dumps(group.render(pickle.loads(mailbox))))
                else:
                    return
            except Exception as error:
                reply.error(error)
    except Exception as error:
        reply.error(error)
    finally:
        shared.close()
        if env0 is not None:
            close_quietly(env0)
        if group is not None:
            try:
                group.close()
            except Exception:  # noqa: S110 - closing after a failure must not mask it
                pass


def _shutdown(processes, conns, sync, commands, grace=1.0):
    """Asks every worker to exit, joins it, and terminates (then kills) the ones that do not.

    Args:
        processes: the worker processes (cleared once they are gone).
        conns: the parent's ends of the workers' pipes (closed, then cleared).
        sync: per worker, the shared-memory slot the close command is written to.
        commands: per worker, the semaphore posted to wake it for the command.
        grace: seconds the workers get, all together, to close their envs and exit.
    """
    for w, command in enumerate(commands):
        sync[w][0] = _CLOSE
        command.release()
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
            returning a PufferEnv, a gymnasium.Env or a PettingZoo ParallelEnv; each worker calls it
            once for each of its envs (num_envs calls in all), with `buf=` when it has a `buf`
            parameter (except for env 0, made before the buffers exist: a PufferEnv that made
            buffers of its own is copied from instead).
        num_envs: how many environments.
        num_workers: worker processes, or 'auto' (see split_envs for what is valid).
        batch_size: envs per recv(); None means num_envs.
        seed: env i is seeded with seed + i on the first reset (and on reset(seed)).
        env_kwargs: keyword arguments for env_creator.
        startup_timeout: seconds to wait for the workers to start and create their envs.
        timeout: seconds to wait for workers before WorkerTimeoutError (None: wait as long as they
            live; a dead worker is always detected at once).
        start_method: 'spawn' (default: safe after OpenMP and threads), 'forkserver' or 'fork'.
        check_observations: how emulated envs check observations and rewards: "first", "always"
            or "never" (see GymnasiumPufferEnv).

    Raises:
        ValueError: bad num_envs, num_workers or batch_size (the message lists valid values).
        WorkerError: an env could not be created in a worker.
    """

    def __init__(self, env_creator, num_envs, num_workers="auto", batch_size=None, seed=0,
                 env_kwargs=None, timeout=None, start_method="spawn", startup_timeout=120,
                 check_observations="first"):
        sizes, batch_size = split_envs(num_envs, num_workers, batch_size)
        self._init_pool(sizes, batch_size, timeout)
        context = multiprocessing.get_context(start_method)
        self._start_method = context.get_start_method()
        self._sync_raw = context.RawArray("q", 16 * len(sizes))
        self._mail_raw = context.RawArray("b", MAILBOX_BYTES * len(sizes))
        self._sync = _sync_views(self._sync_raw, len(sizes))
        self._mailboxes = _mailboxes(self._mail_raw, len(sizes))
        self._commands = [context.Semaphore(0) for _ in sizes]  # parent -> worker w: a command is ready
        self._answers = context.Semaphore(0)                    # workers -> parent: an answer is ready
        self._answered = [0] * len(sizes)                       # answers read, per worker

        self._processes, self._conns = [], []
        self._finalizer = weakref.finalize(self, _shutdown, self._processes, self._conns, self._sync,
                                           self._commands)
        self._sentinels = {}      # process sentinel -> worker
        self._poller = select.poll()  # the sentinels: readable once their process has exited
        self._busy = set()        # workers given a command and not yet answered
        # forkserver workers are the fork server's children, not ours; PR_SET_PDEATHSIG follows the
        # thread that starts them, which must live as long as this process (the main thread)
        parent_pid = None if start_method == "forkserver" else os.getpid()
        pdeathsig = parent_pid is not None and threading.current_thread() is threading.main_thread()
        deadline = None if startup_timeout is None else time.monotonic() + startup_timeout
        shared = _SharedFile()
        try:
            for w, count in enumerate(sizes):
                parent, child = context.Pipe()
                process = context.Process(
                    target=_worker, name=f"pufferlib-worker-{w}", daemon=True,
                    args=(child, shared, self._sync_raw, self._mail_raw, self._commands[w], self._answers, w,
                          self.num_workers, env_creator, env_kwargs, int(self._first[w]), count,
                          check_observations, parent_pid, pdeathsig))
                self._processes.append(process)
                self._conns.append(parent)
                process.start()
                child.close()
                self._sentinels[process.sentinel] = w
                self._poller.register(process.sentinel, select.POLLIN)
            # an answer is due from every worker: worker 0's spec, then each one's built envs
            self._busy.update(range(self.num_workers))
            _, spec = self._next_answer("creating its envs", deadline, startup_timeout)
            self._use_spec(spec)
            layout, nbytes = _layout(Buffers.spec(self.single_observation_space, self.single_action_space,
                                                  num_envs * self.agents_per_env))
            check_fits_in_memory(nbytes, f"num_envs={num_envs} environments", "use fewer envs")
            message = pickle.dumps((layout, spec))  # for the workers, after the buffers
            os.ftruncate(shared.fd, nbytes + len(message))
            memory = shared.map(nbytes + len(message))
            memory[nbytes:] = message
            self._use_buffers(_views(memory, layout))
            self._full["masks"][...] = True
            self._init_protocol(seed)
            where = pickle.dumps((nbytes, len(message)))
            for w in range(self.num_workers):
                self._mailboxes[w][:len(where)] = where
                self._command(w, _BUILD)
            while self._busy:
                self._next_answer("creating its envs", deadline, startup_timeout)
        except BaseException:
            self._finalizer()
            raise
        finally:
            shared.close()

    # ---- backend methods ----

    def _reset(self, seed):
        if self._busy:
            self._wait_all("stepping")
        message = pickle.dumps(seed)
        for w in range(self.num_workers):
            self._mailboxes[w][:len(message)] = message
            self._command(w, _RESET)
        self._wait_all("resetting its envs")
        self._restart_batches()

    def _send(self):
        self._scatter_actions()
        for w in self._current:
            self._command(w, _STEP)

    def _recv(self):
        need = self._batch_workers
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while len(self._ready) < need:
            self._ready.append(self._next_answer("stepping", deadline, self.timeout)[0])
        self._take_batch()
        return self._stats.pop()

    def _render(self, env_index):
        # No timeout: an answer left behind by a timeout would later pass for a step's. A dead worker
        # is still reported at once.
        w = self._worker_of(env_index)
        while w in self._busy:  # stepping in the background (an asynchronous pool): its step first
            self._ready.append(self._next_answer("stepping", None, None)[0])
        message = pickle.dumps(env_index)
        self._mailboxes[w][:len(message)] = message
        self._command(w, _RENDER)
        while True:
            answered, frame = self._next_answer("rendering", None, None)
            if answered == w:
                return frame
            self._ready.append(answered)  # another worker's background step

    def _close(self):
        if self._busy and self._finalizer.alive:
            # a worker still stepping was given up on (a timeout, an interrupt, another worker's
            # failure) and is likely stuck: it gets a moment to finish, not the full grace
            self._finalizer.detach()
            _shutdown(self._processes, self._conns, self._sync, self._commands, grace=BUSY_GRACE_SECONDS)
        self._finalizer()
        for sentinel in self._sentinels:
            self._poller.unregister(sentinel)
        self._sentinels.clear()

    # ---- helpers ----

    def _command(self, w, what):
        self._sync[w][0] = what
        self._busy.add(w)
        self._commands[w].release()  # a full memory barrier: the worker sees the actions and the command

    def _wait_all(self, doing, timeout=False):
        """Reads the answers of every busy worker."""
        timeout = self.timeout if timeout is False else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._busy:
            self._next_answer(doing, deadline, timeout)

    def _next_answer(self, doing, deadline, timeout):
        """Waits for the next answer of a busy worker and reads it.

        Returns:
            (the worker's index, the frame it drew for a render command or worker 0's first spec,
            else None).
        """
        self._await_answer(doing, deadline, timeout)
        # each answer is counted before it is posted, so one of the busy workers has a new one
        for w in self._busy:
            sync = self._sync[w]
            if sync[8] != self._answered[w]:
                break
        else:
            raise RuntimeError(f"an answer was announced but none of workers {sorted(self._busy)} gave one")
        self._answered[w] += 1
        self._busy.discard(w)
        kind, size = sync[9], sync[10]
        return w, (None if kind == _OK else self._read_answer(w, kind, size, doing))

    def _read_answer(self, w, kind, size, doing):
        """Merges episode statistics, returns a frame or a spec, or raises the worker's error.

        The answer is read from the mailbox, else from the pipe.
        """
        if size >= 0:
            payload = self._mailboxes[w][:size]
        else:
            try:
                payload = self._conns[w].recv_bytes()
            except (EOFError, OSError):
                raise self._died(w, doing) from None
        if kind == _STATS:
            self._stats.merge(pickle.loads(payload))
            return None
        if kind in (_FRAME, _SPEC):
            return pickle.loads(payload)
        name, text, trace = pickle.loads(payload)
        raise WorkerError(f"worker {w} (envs {self._first[w]}-{self._first[w + 1] - 1}) raised {name} while "
                          f"{doing}: {text}\n\nWorker traceback:\n{trace}")

    def _await_answer(self, doing, deadline, timeout):
        """Takes one answer from the answers semaphore, or raises for a dead worker or the deadline.

        It tries the semaphore for a brief moment (which spares a sleep and a wake-up when the answer
        comes soon), then blocks on it in slices of WAIT_SLICE, checking before each that every
        worker lives and that the deadline has not passed.
        """
        if _spin_acquire(self._answers, SPIN_SECONDS):
            return
        while True:
            dead = self._poller.poll(0)
            if dead:
                if self._answers.acquire(False):
                    return  # posted before its worker died: read it first
                w = min(self._sentinels[fd] for fd, _ in dead)
                raise self._died(w, doing if w in self._busy else "waiting for its next step")
            wait = WAIT_SLICE
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    reason = f"workers {sorted(self._busy)} did not finish {doing} within timeout={timeout} s"
                    error = WorkerTimeoutError(f"{reason}; call recv() to keep waiting, "
                                               "or close() the vector env")
                    error.reason = reason
                    raise error
                wait = min(wait, remaining)
            if self._answers.acquire(True, wait):
                return

    def _died(self, w, doing):
        process = self._processes[w]
        process.join(0.5)
        how = describe_exit(process.exitcode)
        envs = f"{self._first[w]}-{self._first[w + 1] - 1}"
        first_answer = self._answered[w] == 0 and self._start_method != "fork"
        unguarded = unguarded_main_line() if first_answer else None
        if unguarded is not None:  # it died importing the main script, before it could answer
            path, line = unguarded
            error = WorkerError(
                f"worker {w} (pid {process.pid}, envs {envs}) died ({how}) while {doing} because the main "
                f"script {path} lacks an `if __name__ == \"__main__\":` guard: its line {line} makes this "
                f"vector env at the top level, which each worker (started with {self._start_method!r}) runs "
                "again as it imports the script, trying to start workers of its own (its error is printed "
                "above). Put the script's top-level code under `if __name__ == \"__main__\":` to fix it "
                "(see the README's multiprocessing example)")
            error.reason = str(error)
            return error
        reason = f"worker {w} (pid {process.pid}, envs {envs}) died ({how}) while {doing}"
        error = WorkerError(f"{reason}; the vector env cannot continue: close() it and make a new one")
        error.reason = reason
        return error


def _main_test(node):
    """Whether an if-statement's test is `__name__ == "__main__"` (either way round)."""
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)):
        return False
    sides = [node.left, node.comparators[0]]
    return (any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
            and any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides))


def process_alive(pid):
    """Whether a process `pid` runs on this machine: another user's counts, a zombie does not.

    On Windows, always True.
    """
    if not isinstance(pid, int):
        return False
    if os.name == "nt":  # os.kill would terminate it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:  # a zombie has ended: it only waits for its parent (or, orphaned, for init) to reap it
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (macOS), or it was reaped meanwhile
        return True
    return True


def describe_exit(code):
    """How a process ended, from its exit code: 'exit code 1', 'signal SIGSEGV' (a negative code)."""
    if code is not None and code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def unguarded_main_line():
    """(path, line) where the main script's unguarded top level runs the caller, else None.

    The line is at the main script's top level, outside `if __name__ == "__main__":`, and is
    running the code that called this.

    A worker started by 'spawn' or 'forkserver' imports the main script as `__mp_main__` before it
    runs anything else, so such a line runs again in the worker, which dies trying to start
    processes before it has finished starting (multiprocessing's "bootstrapping phase" error).
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    frame = sys._getframe()
    while frame is not None and not (frame.f_code.co_name == "<module>" and frame.f_globals is vars(main)):
        frame = frame.f_back
    if frame is None or path is None:
        return None  # not called from a script's top level (a function, -c, an interactive session)
    line = frame.f_lineno
    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _main_test(node.test) and node.lineno <= line <= node.end_lineno:
            return None
    return path, line
