"""Compiling a user's C environment into a shared library: the compiler, its flags, where the library goes.

A C environment written against `puffer_env.h` and ending with `PUFFER_EXPORT(NAME)` is compiled
by the user's C compiler (`CC`, else `cc`) with the flags of the built-in environments (-O3, and
OpenMP when the compiler has it) into a shared library, which `pufferlib.toolchain.loader` loads
with dlopen, to be stepped by the same engine as the built-in environments. No Cython, no setup.py.

Where libraries go: `DIR/.puffer_build/NAME.so` beside the source `DIR/NAME.c` (with a `.d` file
listing the headers it included), or, when DIR is not writable, a per-directory folder of the user
cache (`$XDG_CACHE_HOME/pufferlib/build/`, default `~/.cache/pufferlib/build/`). A library is
stale, and rebuilt by `load`, when it is missing or older than the source or any header it
included (pufferlib's among them).
"""
import dataclasses
import functools
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import uuid

from pufferlib.errors import BuildError, EnvironmentLoadError
from pufferlib.headers import get_include
from pufferlib.toolchain._child import python_child, signal_text

__all__ = ["BUILD_DIR", "BuildResult", "build", "compiler", "library_path", "sanitizer_preload"]

BUILD_DIR = ".puffer_build"

# The flags of the built-in environments (setup.py), for a shared library.
RELEASE_FLAGS = ["-O3"]
DEBUG_FLAGS = ["-O0", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
               "-fno-sanitize-recover=undefined"]
COMMON_FLAGS = ["-shared", "-fPIC", "-Wall", "-Wno-unused-function"]

_OPENMP_PROBE = "#include <omp.h>\nint puffer_probe(void) { return omp_get_max_threads(); }\n"


@dataclasses.dataclass(frozen=True)
class BuildResult:
    """What `build` made: the library, the command that made it, and what the compiler printed."""

    library: str
    command: tuple
    messages: str


def compiler():
    """The C compiler command: `CC` split like a shell would (e.g. "ccache gcc"), else `cc`.

    Raises:
        BuildError: the compiler is not on PATH.
    """
    command = shlex.split(os.environ.get("CC") or "cc")
    if not command or shutil.which(command[0]) is None:
        raise BuildError(f"no C compiler: {command[0] if command else 'CC'!r} is not on PATH; install "
                         "gcc or clang, or point the CC environment variable at one")
    return command


@functools.lru_cache(maxsize=None)
def _openmp_flags(cc):
    """["-fopenmp"] when the compiler builds and links a shared library with it, else []."""
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "probe.c")
        with open(source, "w") as f:
            f.write(_OPENMP_PROBE)
        command = [*cc, "-shared", "-fPIC", "-fopenmp", source, "-o", os.path.join(tmp, "probe.so")]
        try:
            result = subprocess.run(command, capture_output=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            return ()
    return ("-fopenmp",) if result.returncode == 0 else ()


def _flags(cc, debug):
    return [*(DEBUG_FLAGS if debug else RELEASE_FLAGS), *COMMON_FLAGS, *_openmp_flags(tuple(cc))]


def _user_cache_dir(directory):
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    digest = hashlib.sha1(os.path.abspath(directory).encode()).hexdigest()[:12]
    return os.path.join(root, "pufferlib", "build", f"{os.path.basename(directory) or 'root'}-{digest}")


def library_path(source, debug=False):
    """Where `build` puts, and `load` looks for, the library of `source` (see the module doc).

    Args:
        source: path of the C file.
        debug: the sanitizer build (NAME.debug.so), kept apart from the release build.

    Example:
        >>> library_path("envs/my_env.c").endswith(os.path.join("envs", ".puffer_build", "my_env.so"))
        True
    """
    directory, filename = os.path.split(os.path.abspath(os.fspath(source)))
    stem = os.path.splitext(filename)[0] + (".debug" if debug else "")
    local = os.path.join(directory, BUILD_DIR)
    writable = not os.path.isdir(directory) or os.access(local if os.path.isdir(local) else directory,
                                                         os.W_OK | os.X_OK)
    return os.path.join(local if writable else _user_cache_dir(directory), stem + ".so")


def _dependencies(source, library):
    """Files whose change makes `library` stale.

    The source, pufferlib's headers, and the headers the compiler saw included (listed in the .d
    file written beside the library).
    """
    include = get_include()
    deps = {os.path.abspath(source)}
    deps.update(os.path.join(include, f) for f in os.listdir(include) if f.endswith(".h"))
    try:
        with open(os.path.splitext(library)[0] + ".d") as f:
            text = f.read().replace("\\\n", " ")
    except OSError:
        return deps
    _, _, listed = text.partition(":")
    for dep in re.split(r"(?<!\\)\s+", listed.strip()):
        if dep:
            deps.add(dep.replace("\\ ", " "))
    return deps


def _is_stale(source, library):
    try:
        built = os.stat(library).st_mtime_ns
    except OSError:
        return True
    for dep in _dependencies(source, library):
        try:
            if os.stat(dep).st_mtime_ns > built:
                return True
        except OSError:  # a header that has gone away: rebuild to find out
            return True
    return False


def _check_source(source):
    if not os.path.isfile(source):
        raise EnvironmentLoadError(
            f"no such file: {source!r} (relative to {os.getcwd()}); expected a C environment "
            "source (.c) or a library built from one by `puffer build` (.so)")


def build(source, output=None, debug=False, verify=True):
    """Compiles a C environment into a shared library that `load` and `pufferlib.make` accept.

    The command is `CC` (else `cc`) with -O3 (or, with debug, -O0 -g and AddressSanitizer +
    UBSan), -shared -fPIC -Wall, -fopenmp when the compiler has it, and -I pufferlib.get_include().
    The library is written under a temporary name and renamed into place, so a concurrent load
    never sees half a file. It is then loaded in a fresh Python process and checked as `load`
    checks it (the table PUFFER_EXPORT defines, its ABI version, its spaces at the default
    parameters); a library that fails is deleted, so nothing reports it as built.

    Args:
        source: path of the C file (it must end with PUFFER_EXPORT(NAME)).
        output: where to write the library; default `library_path(source, debug)`.
        debug: build for the sanitizers. Such a library loads only into a Python started with
            the sanitizer runtime preloaded (see `sanitizer_preload`).
        verify: load and check the library in a child process (`load`, which loads it next
            anyway, skips this).

    Returns:
        A BuildResult: the library path, the command run, and the compiler's warnings (if any).

    Raises:
        EnvironmentLoadError: the source does not exist, or the library built does not load as
            a pufferlib environment (no PUFFER_EXPORT, another ABI version, bad tables or spaces,
            or it crashed while loading).
        BuildError: a source that is not a .c file, no compiler, or the compiler failed (the
            message holds the command and everything the compiler printed).

    Example:
        >>> import os, tempfile
        >>> from pufferlib.toolchain import build, new_env
        >>> source = new_env("catch", tempfile.mkdtemp())[0]
        >>> result = build(source)
        >>> os.path.basename(result.library)
        'catch.so'
    """
    source = os.fspath(source)
    # The compiler would take a .so or .o as an input, and any other file as a linker script.
    if not source.endswith(".c"):
        raise BuildError(f"{source} is not a C source: build compiles one .c file that ends with "
                         "PUFFER_EXPORT(NAME); pass a library built from one to pufferlib.make instead")
    _check_source(source)
    cc = compiler()
    library = os.path.abspath(os.fspath(output) if output is not None else library_path(source, debug))
    folder = os.path.dirname(library)
    os.makedirs(folder, exist_ok=True)
    tmp = f"{library}.{uuid.uuid4().hex[:12]}.tmp"   # the compiler creates it, with the usual mode
    deps_tmp = tmp + ".d"
    command = [*cc, *_flags(cc, debug), "-I", get_include(), "-MMD", "-MF", deps_tmp,
               "-o", tmp, os.path.abspath(source), "-lm"]
    try:
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise BuildError(f"could not run the compiler: {error}\n$ {shlex.join(command)}") from None
        messages = (result.stdout + result.stderr).strip()
        if result.returncode != 0:
            raise BuildError(f"compiling {source} failed (exit status {result.returncode}):\n"
                             f"$ {shlex.join(command)}\n{messages}")
        os.replace(tmp, library)
        if os.path.exists(deps_tmp):
            os.replace(deps_tmp, os.path.splitext(library)[0] + ".d")
    finally:
        for leftover in (tmp, deps_tmp):
            if os.path.exists(leftover):
                os.remove(leftover)
    if verify:
        _verify(library, debug)
    return BuildResult(library, tuple(command), messages)


def sanitizer_preload(cc=None):
    """The LD_PRELOAD value under which a `build(..., debug=True)` library can be loaded.

    Python itself is not built with AddressSanitizer, so its runtime must be loaded first:
    `LD_PRELOAD=<this> ASAN_OPTIONS=detect_leaks=0 python ...`.

    Raises:
        BuildError: no compiler, or it does not know where its sanitizer runtime is.
    """
    cc = cc or compiler()
    paths = []
    for name in ("libasan.so", "libubsan.so"):
        found = subprocess.run([*cc, f"-print-file-name={name}"], capture_output=True, text=True)
        path = found.stdout.strip()
        if found.returncode == 0 and os.path.isabs(path) and os.path.exists(path):
            paths.append(path)
    if not paths:
        raise BuildError(f"{shlex.join(cc)} does not know where its AddressSanitizer runtime "
                         "(libasan.so) is; install it (e.g. the libasan package of gcc)")
    return ":".join(paths)


_VERIFY_CODE = ("import sys; from pufferlib.toolchain.loader import _verify_main; "
                "sys.exit(_verify_main(sys.argv[1:]))")
_REFUSED = 3   # the exit status of _verify_main for a library load() refuses


def _verify(library, debug):
    """Loads `library` in a child process; deletes it and raises when it is not a loadable env."""
    preload = sanitizer_preload() if debug else None
    with python_child(_VERIFY_CODE, [library], preload, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                      text=True) as child:
        try:
            _, stderr = child.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            child.kill()
            _, stderr = child.communicate()
    if child.returncode == 0:
        return
    for path in (library, os.path.splitext(library)[0] + ".d"):
        if os.path.exists(path):
            os.remove(path)
    stderr = stderr.strip()
    if child.returncode == _REFUSED:
        raise EnvironmentLoadError(stderr or f"{library} was refused")
    how = signal_text(child.returncode) or f"exit status {child.returncode}"
    raise EnvironmentLoadError(f"{library} compiled, but loading it crashed with {how} while its table "
                               "was read and describe() ran at the default parameters, so it was "
                               "deleted; fix the crash (a --debug build shows where) and rebuild"
                               + (f"\n{stderr}" if stderr else ""))
