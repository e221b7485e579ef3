"""How many threads the engine uses: one helper, so every parallel loop agrees."""
import os

from pufferlib._native.engine import check_count

__all__ = ["available_cores", "resolve_num_threads"]


def available_cores():
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_num_threads(num_threads=None):
    """Returns the number of threads to step environments on.

    Args:
        num_threads: a positive integer, or None for OMP_NUM_THREADS when it is set (its first
            value, as OpenMP reads it) and otherwise the cores available to this process.

    Returns:
        A positive integer. The engine further caps it by its number of blocks.

    Raises:
        ValueError: num_threads (or OMP_NUM_THREADS) is not a positive integer, or is above
            2**31-1.

    Example:
        >>> resolve_num_threads(2)
        2

    """
    if num_threads is None:
        setting = os.environ.get("OMP_NUM_THREADS", "").strip()
        if not setting:
            return available_cores()
        first = setting.split(",")[0].strip()
        if not first.isdigit() or int(first) < 1:
            raise ValueError(f"OMP_NUM_THREADS must be a positive integer, got {setting!r}; "
                             "unset it or pass num_threads explicitly")
        return check_count("OMP_NUM_THREADS", int(first), "unset it or pass num_threads explicitly")
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"num_threads must be a positive integer or None, got {num_threads!r}")
    return check_count("num_threads", num_threads, "use at most the cores available")
