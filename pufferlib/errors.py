"""Exceptions pufferlib raises for misuse; bad argument values raise ValueError/TypeError.

Every message says what was expected, what arrived, and how to fix it.
"""

__all__ = ["PufferError", "APIUsageError", "UnknownEnvironmentError", "EnvironmentLoadError",
           "UnsupportedSpaceError"]


class PufferError(Exception):
    """Base class of pufferlib's own exceptions."""


class APIUsageError(PufferError, RuntimeError):
    """A method was called in the wrong state: step() before reset(), use after close(), ..."""


class UnknownEnvironmentError(PufferError, ValueError):
    """No environment is registered under the requested name."""


class EnvironmentLoadError(PufferError, RuntimeError):
    """A C environment could not be loaded: ABI mismatch, missing function, inconsistent spaces."""


class UnsupportedSpaceError(PufferError, TypeError):
    """A space pufferlib cannot flatten (Text, Graph, Sequence, ...); the message names its path."""
