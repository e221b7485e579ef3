"""Loading a user's C environment: dlopen its library, read its table, validate it.

`load` takes a source (.c, built first by `pufferlib.toolchain.compiler` when its library is missing
or stale) or a library (.so, .dylib), dlopens it, calls the `pufferlib_env_table` that
PUFFER_EXPORT defines, and checks what the engine does not (names, parameter tables, the spaces
at the default parameters), with a fix-it message for each fault. Libraries are never unloaded:
every engine made from one can rely on its code, and a library rebuilt while an older version is
loaded is loaded from a private copy.
"""
import ctypes
import os
import shutil
import sys
import tempfile
import threading

from pufferlib._native import env_def_at
from pufferlib.errors import EnvironmentLoadError, PufferError
from pufferlib.toolchain.compiler import _REFUSED, _check_source, _is_stale, build, library_path

__all__ = ["EXPORT_SYMBOL", "LIBRARY_SUFFIXES", "is_path", "load"]

EXPORT_SYMBOL = "pufferlib_env_table"   # PUFFER_EXPORT_SYMBOL in puffer_env.h
LIBRARY_SUFFIXES = (".so", ".dylib")


def is_path(name):
    """Whether `make`/`env_def` should read `name` as a file rather than a built-in name.

    A path is an os.PathLike, or a string containing a path separator or ending in .c, .so or
    .dylib.

    Example:
        >>> is_path("cartpole"), is_path("my_env.c"), is_path("envs/my_env.so")
        (False, True, True)
    """
    if isinstance(name, os.PathLike):
        return True
    if not isinstance(name, str):
        return False
    return "/" in name or os.sep in name or name.endswith((".c",) + LIBRARY_SUFFIXES)


_LOCK = threading.RLock()
_LOADED = {}    # real path -> ((device, inode, size, mtime), EnvDef) of the version loaded last
_OPENED = set()  # real paths dlopen()ed, even when the table was then refused


def _needs_sanitizer(library):
    with open(library, "rb") as f:
        return b"__asan_init" in f.read()


def _sanitizer_loaded():
    return hasattr(ctypes.CDLL(None), "__asan_init")


def _dlopen(library, reload):
    """dlopen() by path; from a fresh copy when another version was loaded from that path.

    The dynamic loader would otherwise hand back the version it already has.
    """
    mode = os.RTLD_NOW | os.RTLD_LOCAL
    if not reload:
        return ctypes.CDLL(library, mode=mode)
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, os.path.basename(library))
        shutil.copyfile(library, copy)
        return ctypes.CDLL(copy, mode=mode)


def _load_library(library):
    real = os.path.realpath(library)
    info = os.stat(real)
    identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
    with _LOCK:
        seen = _LOADED.get(real)
        if seen is not None and seen[0] == identity:
            return seen[1]
        if _needs_sanitizer(real) and not _sanitizer_loaded():
            raise EnvironmentLoadError(
                f"{library} was built with --debug (AddressSanitizer), which can only be loaded into "
                "a Python started with the sanitizer runtime first: run LD_PRELOAD=$(cc "
                "-print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 python ..., or load the "
                "release build")
        try:
            handle = _dlopen(real, reload=real in _OPENED)
        except OSError as error:
            raise EnvironmentLoadError(f"cannot load {library}: {error}; expected a shared library "
                                       "built for this machine by `puffer build`") from None
        try:
            table = getattr(handle, EXPORT_SYMBOL)
        except AttributeError:
            raise EnvironmentLoadError(
                f"{library} is not a pufferlib environment: it exports no {EXPORT_SYMBOL}(); end "
                "the C file with PUFFER_EXPORT(NAME) after PUFFER_DEFINE_ENV(..., NAME, ...) and "
                "rebuild it") from None
        finally:
            _OPENED.add(real)
        table.restype = ctypes.c_void_p
        table.argtypes = []
        d = env_def_at(table() or 0, handle, library)
        _validate(d, library)
        _LOADED[real] = (identity, d)
        return d


def _validate(d, where):
    """What EnvDef.wrap leaves to the loader: names, parameter tables, spaces at the defaults."""
    if not d.name:
        raise EnvironmentLoadError(f"{where}: the environment has no name (the table's name is empty)")
    names = [p[0] for p in d.params]
    for name, default, lo, hi, integer, _ in d.params:
        if not name or names.count(name) > 1:
            raise EnvironmentLoadError(f"{where}: parameter names must be unique and non-empty, got {names}")
        if not (lo <= default <= hi) or (integer and default != int(default)):
            kind = "an integer" if integer else "a number"
            lo, hi, default = (int(v) if integer and v == int(v) else v for v in (lo, hi, default))
            raise EnvironmentLoadError(f"{where}: parameter {name} has default {default}, expected {kind} "
                                       f"in its range [{lo}, {hi}]")
    if any(not s for s in d.stat_names) or len(set(d.stat_names)) != len(d.stat_names):
        raise EnvironmentLoadError(f"{where}: statistic names must be unique and non-empty, "
                                   f"got {list(d.stat_names)}")
    try:
        d.spec()
    except ValueError as error:
        raise EnvironmentLoadError(f"{where}: describe() rejects the default parameters: {error}") from None


def load(path, rebuild=True):
    """The EnvDef of a user's C environment, from its source (.c) or its built library (.so).

    A source is built first (see `build`) when its library is missing or stale. Loading the same
    unchanged library again returns the same EnvDef.

    Args:
        path: a .c file, or a library made by `build`.
        rebuild: when False, a stale or missing library of a source is an error instead.

    Returns:
        A validated `pufferlib._native.EnvDef` for `pufferlib.vector.NativeVecEnv`.

    Raises:
        EnvironmentLoadError: no such file, not a shared library, no PUFFER_EXPORT in it, another
            ABI version, a NULL function, bad parameter tables, or spaces the engine cannot hold.
        BuildError: the source did not compile.
    """
    path = os.fspath(path)
    _check_source(path)
    if path.endswith(LIBRARY_SUFFIXES):
        return _load_library(path)
    library = library_path(path)
    with _LOCK:
        if _is_stale(path, library):
            if not rebuild:
                raise EnvironmentLoadError(f"{library} is missing or older than {path}; run "
                                           f"`puffer build {path}`")
            build(path, verify=False)   # loaded right below, with the same checks
    return _load_library(library)


def _verify_main(argv):
    """Loads the library argv[0] as `load` would; prints why it is refused (exit status 3).

    The child process of `build`'s verification (`compiler._verify`) runs this.
    """
    try:
        _load_library(argv[0])
    except PufferError as error:
        print(error, file=sys.stderr)
        return _REFUSED
    return 0
