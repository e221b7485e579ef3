"""Where the C headers of the environment ABI are, for compiling environments against them."""
import os

__all__ = ["get_include"]


def get_include():
    """Returns the directory holding puffer_env.h (pass it to the compiler with -I).

    Example:
        >>> import os, pufferlib
        >>> os.path.exists(os.path.join(pufferlib.get_include(), "puffer_env.h"))
        True

    """
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.path.join(here, "csrc"), os.path.join(os.path.dirname(here), "csrc")):
        if os.path.exists(os.path.join(candidate, "puffer_env.h")):
            return candidate
    raise FileNotFoundError(f"pufferlib's C headers are missing from {here}; reinstall pufferlib")
