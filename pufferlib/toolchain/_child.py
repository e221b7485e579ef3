"""Fresh Python processes that try what the toolchain made, so that a crash is reported, not suffered.

`build` loads each library it compiles in one (`loader._verify_main`), and `check_in_subprocess`
runs the checks in one (`checks._check_main`).
"""
import os
import signal
import subprocess
import sys

__all__ = ["python_child", "signal_text"]

# The folder holding this pufferlib package, put first on the child's PYTHONPATH.
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def python_child(code, args, preload=None, **kwargs):
    """Starts `python -c code *args` with this pufferlib.

    Args:
        code: the program, run with this interpreter.
        args: its arguments (sys.argv[1:]).
        preload: the sanitizer runtime to preload (`compiler.sanitizer_preload`) for a --debug
            library, else None.
        **kwargs: passed on to subprocess.Popen (stdout, stderr, text, ...).

    Returns:
        The subprocess.Popen of the child.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p))
    if preload:   # Python is not built with AddressSanitizer: its runtime must come first
        env.update(LD_PRELOAD=preload, ASAN_OPTIONS="detect_leaks=0")
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, **kwargs)


def signal_text(returncode):
    """The signal that killed a child (a negative return code), as "SIGSEGV (signal 11)"; else None."""
    if returncode >= 0:
        return None
    try:
        return f"{signal.Signals(-returncode).name} (signal {-returncode})"
    except ValueError:
        return f"signal {-returncode}"
