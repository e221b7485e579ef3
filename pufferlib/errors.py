"""Exceptions pufferlib raises for misuse; bad argument values raise ValueError/TypeError.

Every message says what was expected, what arrived, and how to fix it.
"""
import difflib

__all__ = ["PufferError", "APIUsageError", "UnknownEnvironmentError", "EnvironmentLoadError",
           "BuildError", "UnsupportedSpaceError", "WorkerError", "WorkerTimeoutError", "CheckpointError",
           "RenderNotSupportedError", "ExportError", "NonFiniteError", "did_you_mean"]


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


def did_you_mean(name, choices):
    """"; did you mean X?" for the choice closest to a mistyped `name`, or "" when none is close.

    The one place that suggests a name: command-line options, config sections and config keys.

    Args:
        name: what was typed.
        choices: the valid names, or a dict {name to compare: name to show} (compare "timesteps",
            show "--timesteps": a prefix that every choice shares would make any two look alike).

    >>> did_you_mean("timestep", {"timesteps": "--timesteps", "seed": "--seed"})
    '; did you mean --timesteps?'
    """
    shown = choices if isinstance(choices, dict) else {choice: choice for choice in choices}
    close = difflib.get_close_matches(name, list(shown), n=1)
    return f"; did you mean {shown[close[0]]}?" if close else ""
