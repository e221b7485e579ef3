"""Stopping a training run as a user does: Ctrl-C (SIGINT) or SIGTERM, once or twice.

The first signal asks the loop to stop after the current iteration and starts a grace timer. If the
iteration is still inside a rollout of Python environments when the timer runs out (a hung env,
say), that rollout is dropped: `RolloutDropped` is raised in the main thread, which the trainer
catches. A second signal drops whatever the loop is doing at once. Native environments step in
process and never hang a rollout, so their rollouts are not droppable; no signal ever interrupts
the middle of an update, nor the final checkpoint.
"""
import contextlib
import signal
import threading

__all__ = ["STOP_GRACE_SECONDS", "RolloutDropped", "StopSignals"]

# How long a stop request (Ctrl-C, SIGTERM) lets the current iteration run on before its rollout is
# dropped: enough for a rollout of responsive workers to end, short enough that a run stuck on a hung
# environment still stops within a few seconds.
STOP_GRACE_SECONDS = 1.0
_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))


class RolloutDropped(BaseException):
    """Raised in the main thread by the stop handler to drop the rollout in progress.

    A BaseException, as KeyboardInterrupt is, so that no `except Exception` in env code swallows it.
    """


class StopSignals:
    """The stop requests of one training loop, and the SIGINT/SIGTERM handlers that make them.

    Attributes:
        signal: the number of the signal that asked the run to stop, or None.
        droppable: whether the loop is in a rollout that a stop may drop (see `droppable_rollout`).
        armed: whether a second signal drops what the loop is doing (False outside the loop and
            while the final checkpoint is written).

    Example:
        >>> stop = StopSignals()
        >>> with stop.handling():
        ...     while stop.signal is None:
        ...         stop.request(signal.SIGINT)  # what Ctrl-C does
        >>> stop.signal == signal.SIGINT
        True
    """

    def __init__(self, grace=STOP_GRACE_SECONDS):
        self.grace = grace
        self.signal = None
        self.droppable = False
        self.armed = False
        self._timer = None        # raises the signal again once the grace period is over
        self._grace_over = False

    def request(self, signum):
        """Asks the loop to stop after the current iteration (the first signal) and starts the grace timer."""
        self.signal = signum
        self._timer = threading.Timer(self.grace, self._end_grace, (signum,))
        self._timer.daemon = True
        self._timer.start()

    @contextlib.contextmanager
    def handling(self):
        """Handles SIGINT and SIGTERM in the `with` block (main thread only); restores the previous handlers.

        Clears any earlier request on entry and arms the second-signal stop.
        """
        self.signal, self._grace_over, self.droppable, self.armed = None, False, False, True
        previous = self._install()
        try:
            yield self
        finally:
            self.disarm()
            if self._timer is not None:
                self._timer.cancel()
                self._timer.join()  # a signal it sent is handled by ours (a no-op now) before restoring
                self._timer = None
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    @contextlib.contextmanager
    def droppable_rollout(self, droppable=True):
        """Marks a rollout that the end of the grace period may drop (by raising RolloutDropped)."""
        self.droppable = droppable
        try:
            yield
        finally:
            self.droppable = False

    def disarm(self):
        """From here on no signal interrupts the loop (it is saving its last checkpoint, or done)."""
        self.armed = self.droppable = False

    def _install(self):
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {signum: signal.signal(signum, self._handle) for signum in _SIGNALS}

    def _handle(self, signum, frame):
        if self.signal is None:
            self.request(signum)
            return
        if self._grace_over:  # the timer's signal
            self._grace_over = False
            if self.droppable:
                raise RolloutDropped
        elif self.armed:  # a second signal
            raise RolloutDropped

    def _end_grace(self, signum):
        """The grace timer: signals the main thread, whose handler drops the rollout if one is still on."""
        self._grace_over = True
        if hasattr(signal, "pthread_kill"):  # wakes the main thread out of its wait at once
            signal.pthread_kill(threading.main_thread().ident, signum)
        else:
            signal.raise_signal(signum)
