"""Exceptions pufferlib raises for misuse; bad argument values raise ValueError/TypeError.

Every message says what was expected, what arrived, and how to fix it.
"""

__all__ = ["PufferError", "APIUsageError", "UnknownEnvironmentError", "EnvironmentLoadError",
           "BuildError", "UnsupportedSpaceError", "WorkerError", "WorkerTimeoutError", "CheckpointError",
           "RenderNotSupportedError", "ExportError", "NonFiniteError"]


class PufferError(Exception):
    """Base class of pufferlib's own exceptions."""


class APIUsageError(PufferError, RuntimeError):
    """A method was called in the wrong state: step() before reset(), use after close(), ..."""


class UnknownEnvironmentError(PufferError, ValueError):
    """No environment is registered under the requested name."""


class EnvironmentLoadError(PufferError, RuntimeError):
    """A C environment could not be loaded: ABI mismatch, missing function, inconsistent spaces."""


class BuildError(EnvironmentLoadError):
    """A C environment did not compile: the message holds the command and the compiler's output."""


class UnsupportedSpaceError(PufferError, TypeError):
    """A space pufferlib cannot flatten (Text, Graph, Sequence, ...); the message names its path."""


class WorkerError(PufferError, RuntimeError):
    """A vector backend's worker raised or died; the message carries the worker's traceback."""

    reason = None
    """What happened, without the advice to the vector env's user (for callers with advice of their own)."""


class WorkerTimeoutError(PufferError, TimeoutError):
    """A vector backend's workers did not answer within the timeout given to the vector env."""

    reason = None
    """What happened, without the advice to the vector env's user (for callers with advice of their own)."""


class CheckpointError(PufferError, RuntimeError):
    """A checkpoint is missing, unreadable, or was written for another environment or policy."""


class RenderNotSupportedError(PufferError, NotImplementedError):
    """render() was called on an environment that draws no frames (its C code defines no render)."""


class ExportError(PufferError, RuntimeError):
    """A policy cannot be exported in the requested format, or the export could not be written."""


class NonFiniteError(PufferError, FloatingPointError):
    """Training met a NaN or an infinity: in an observation, a reward, a loss term or the gradient.

    The message says which number and where (env row and step, or epoch and minibatch). The
    update that would have used it is not applied, so the weights stay those of the last good step.
    """
