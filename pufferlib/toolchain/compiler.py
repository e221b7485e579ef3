"""Users' C environments: compile one file into a shared library, load it, check it.

A C environment written against `puffer_env.h` and ending with `PUFFER_EXPORT(NAME)` is compiled
by the user's C compiler (`CC`, else `cc`) with the flags of the built-in environments (-O3, and
OpenMP when the compiler has it) into a shared library, which is loaded with dlopen and stepped
by the same engine as the built-in environments. No Cython, no setup.py.

Where libraries go: `DIR/.puffer_build/NAME.so` beside the source `DIR/NAME.c` (with a `.d` file
listing the headers it included), or, when DIR is not writable, a per-directory folder of the user
cache (`$XDG_CACHE_HOME/pufferlib/build/`, default `~/.cache/pufferlib/build/`). A library is
rebuilt when it is missing or older than the source or any header it included (pufferlib's
among them). Libraries are never unloaded: every engine made from one can rely on its code, and
a library rebuilt while an older version is loaded is loaded from a private copy.
"""
import ctypes
import dataclasses
import functools
import hashlib
import keyword
import os
import re
import shlex
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import threading
import uuid

import numpy as np

from pufferlib.errors import BuildError, EnvironmentLoadError, PufferError
from pufferlib.headers import get_include

__all__ = ["BUILD_DIR", "BuildResult", "CheckResult", "build", "check", "check_in_subprocess", "compiler",
           "is_path", "load", "library_path", "new_env", "sanitizer_preload"]

BUILD_DIR = ".puffer_build"
EXPORT_SYMBOL = "pufferlib_env_table"   # PUFFER_EXPORT_SYMBOL in puffer_env.h
LIBRARY_SUFFIXES = (".so", ".dylib")

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


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One check of `check`: its name, whether it passed, and what was seen."""

    name: str
    passed: bool
    detail: str

    def __str__(self):
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"


def is_path(name):
    """Whether `make`/`env_def` should read `name` as a file rather than a built-in name.

    A path is an os.PathLike, or a string containing a path separator or ending in .c or .so.

    Example:
        >>> is_path("cartpole"), is_path("my_env.c"), is_path("envs/my_env.so")
        (False, True, True)
    """
    if isinstance(name, os.PathLike):
        return True
    if not isinstance(name, str):
        return False
    return "/" in name or os.sep in name or name.endswith((".c",) + LIBRARY_SUFFIXES)


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
        >>> import pufferlib.build, tempfile, os
        >>> folder = tempfile.mkdtemp()
        >>> source = pufferlib.build.new_env("catch", folder)[0]
        >>> result = pufferlib.build.build(source)
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


def _signal_text(returncode):
    """The signal that killed a child (a negative return code), as "SIGSEGV (signal 11)"; else None."""
    if returncode >= 0:
        return None
    try:
        return f"{signal.Signals(-returncode).name} (signal {-returncode})"
    except ValueError:
        return f"signal {-returncode}"


def _python_child(code, args, sanitizers, **kwargs):
    """Runs `python -c code *args` with this pufferlib; for sanitizer builds, their runtime first."""
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH")) if p))
    if sanitizers:   # Python is not built with AddressSanitizer: its runtime must come first
        env.update(LD_PRELOAD=sanitizer_preload(), ASAN_OPTIONS="detect_leaks=0")
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, **kwargs)


_VERIFY_CODE = "import sys; from pufferlib.build import _verify_main; sys.exit(_verify_main(sys.argv[1:]))"
_REFUSED = 3   # the exit status of _verify_main for a library load() refuses


def _verify_main(argv):
    """Loads the library argv[0] as `load` would; prints why it is refused (exit status 3)."""
    try:
        _load_library(argv[0])
    except PufferError as error:
        print(error, file=sys.stderr)
        return _REFUSED
    return 0


def _verify(library, debug):
    """Loads `library` in a child process; deletes it and raises when it is not a loadable env."""
    with _python_child(_VERIFY_CODE, [library], debug, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True) as child:
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
    how = _signal_text(child.returncode) or f"exit status {child.returncode}"
    raise EnvironmentLoadError(f"{library} compiled, but loading it crashed with {how} while its table "
                               "was read and describe() ran at the default parameters, so it was "
                               "deleted; fix the crash (a --debug build shows where) and rebuild"
                               + (f"\n{stderr}" if stderr else ""))


# ---- loading ----

_LOCK = threading.RLock()
_LOADED = {}    # real path -> ((device, inode, size, mtime), EnvDef) of the version loaded last
_OPENED = set()  # real paths dlopen()ed, even when the table was then refused


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
        from pufferlib._native import env_def_at

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


# ---- checks ----

def _digest(*arrays):
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        h.update(np.ascontiguousarray(a).view(np.uint8).tobytes())
    return h.digest()


def _bounds_violation(obs, low, high):
    """(row, element index, value) of the first element outside [low, high], or None."""
    inside = (obs >= low) & (obs <= high)
    if inside.all():
        return None
    index = np.argwhere(~inside)[0]
    return int(index[0]), tuple(int(i) for i in index[1:]), obs[tuple(index)]


class _Run:
    """One rollout with random actions, recording per-step digests and the first problems seen."""

    def __init__(self, d, seed, num_envs, num_threads, steps, params):
        from pufferlib.vector.native import NativeVecEnv

        self.digests = []
        self.problems = {}
        self.episodes = 0
        with NativeVecEnv(d, num_envs=num_envs, num_threads=num_threads, seed=seed, **params) as env:
            space = env.single_observation_space
            low, high = space.low, space.high
            rng = np.random.default_rng(12345)
            obs, _ = env.reset(seed=seed)
            self._bounds("bounds", obs, low, high, "after reset")
            first = obs.copy()
            again, _ = env.reset(seed=seed)
            if not np.array_equal(first, again):
                self.problems.setdefault("reset", "reset(seed) twice with the same seed gave different "
                                                  "observations")
            self.digests.append(_digest(obs))
            actions = env.action_space
            actions.seed(int(rng.integers(2**31)))
            for t in range(1, steps + 1):
                obs, rew, term, trunc, infos = env.step(actions.sample())
                self.digests.append(_digest(obs, rew, term, trunc))
                where = f"at step {t}"
                self._bounds("bounds", obs, low, high, where)
                flags = np.concatenate([term.view(np.uint8), trunc.view(np.uint8)])
                if (flags > 1).any():
                    self.problems.setdefault("flags", f"a terminal or truncation flag is "
                                                      f"{int(flags.max())} {where}; write 0 or 1")
                if not np.isfinite(rew).all():
                    row = int(np.flatnonzero(~np.isfinite(rew))[0])
                    self.problems.setdefault("rewards", f"reward {rew[row]} in row {row} {where}")
                done = term | trunc
                if done.any():
                    self.episodes += int(done.sum())
                    final = env.final_observations[done]
                    self._bounds("bounds", final, low, high, f"in a final observation {where}")
                bad = [k for k, v in infos.items() if not np.isfinite(v)]
                if bad:
                    self.problems.setdefault("statistics", f"{bad[0]} = {infos[bad[0]]} {where}")

    def _bounds(self, check, obs, low, high, where):
        if check in self.problems:
            return
        found = _bounds_violation(obs, low, high)
        if found is not None:
            row, element, value = found
            lo = low[element] if np.ndim(low) else low
            hi = high[element] if np.ndim(high) else high
            self.problems[check] = (f"observation element {element} of row {row} is {value} {where}, "
                                    f"outside the declared [{lo}, {hi}]")


# The other cause of a trajectory that depends on the run: a copy writing into its neighbours' rows.
_MEMORY_HINT = ("an env reads or writes outside its own rows or struct (`puffer build FILE --check --debug` "
                "finds such an access and its line)")


def _check_sizes(steps, num_envs):
    if steps < 1 or num_envs < 1:
        raise ValueError(f"steps and num_envs must be >= 1, got steps={steps}, num_envs={num_envs}")
    from pufferlib._native.engine import check_count

    check_count("num_envs", num_envs, "check with fewer envs")


def _first_difference(a, b):
    return next((t for t, (x, y) in enumerate(zip(a, b)) if x != y), None)


def check(env, steps=1000, num_envs=64, seed=0, progress=None, **params):
    """Checks a C environment the way envpool checks its own, with random actions.

    The checks: `determinism` (the same seed gives the same trajectory), `threads` (1 and 2
    threads give the same trajectory: no state shared between copies), `seeds` (another seed
    gives another trajectory), `bounds` (observations, after reset, every step and at episode
    ends, inside the declared space), `reset` (reset(seed) repeats itself; episodes end with a
    terminal or truncation flag within `steps`), `flags` (0 or 1), `rewards` (finite) and
    `statistics` (finite means).

    Args:
        env: a path (.c or .so), a built-in name, or an EnvDef.
        steps: steps per rollout (four rollouts are run).
        num_envs: environment copies per rollout.
        seed: the seed of the rollouts (`seeds` also uses seed + 1).
        progress: called with the name of the check each rollout is for, before it starts
            (`check_in_subprocess` uses it to name the check that crashed).
        **params: the environment's parameters.

    Returns:
        A list of CheckResult, one per check, in the order above.

    Example:
        >>> results = check("cartpole", steps=200, num_envs=16)
        >>> all(r.passed for r in results)
        True
    """
    from pufferlib.envs import env_def

    d = env if not isinstance(env, (str, os.PathLike)) else env_def(env)
    _check_sizes(steps, num_envs)

    def run(name, *args):
        if progress is not None:
            progress(name)
        return _Run(d, *args, params)

    base = run("determinism", seed, num_envs, 1, steps)
    run("determinism", seed + 2, 1, 1, 7)  # moves any global state on by an odd count between runs
    again = run("determinism", seed, num_envs, 1, steps)
    threaded = run("threads", seed, num_envs, 2, steps)
    other = run("seeds", seed + 1, num_envs, 1, steps)
    size = f"{steps} steps x {num_envs} envs"
    results = []

    differs = _first_difference(base.digests, again.digests)
    results.append(CheckResult("determinism", differs is None, (
        f"the same seed gives the same trajectory ({size})" if differs is None else
        f"two runs with seed {seed} diverge at step {differs}: the env uses randomness or state "
        "outside its struct (time, rand(), a global; draw only from the PufferRng given to init) "
        f"or {_MEMORY_HINT}")))

    differs = _first_difference(base.digests, threaded.digests)
    results.append(CheckResult("threads", differs is None, (
        "1 and 2 threads give the same trajectory" if differs is None else
        f"1 and 2 threads diverge at step {differs}: copies share state (a global or static "
        f"variable; keep all state in the env struct) or {_MEMORY_HINT}")))

    same = base.digests == other.digests
    results.append(CheckResult("seeds", not same, (
        f"seeds {seed} and {seed + 1} give different trajectories" if not same else
        f"seeds {seed} and {seed + 1} give the same trajectory: the env ignores its PufferRng (if "
        "it has no randomness at all, ignore this)")))

    problems = {**other.problems, **threaded.problems, **again.problems, **base.problems}
    ok = {
        "bounds": "observations stay inside the declared space",
        "reset": f"reset(seed) repeats itself; {base.episodes} episodes ended with a flag",
        "flags": "terminal and truncation flags are 0 or 1",
        "rewards": "rewards are finite",
        "statistics": "episode statistics are finite",
    }
    if base.episodes == 0 and "reset" not in problems:
        problems["reset"] = (f"no episode ended in {size}: every episode must end with a terminal or "
                             "truncation flag (add a step limit), or check with more steps")
    for name, detail in ok.items():
        results.append(CheckResult(name, name not in problems, problems.get(name, detail)))
    return results


# ---- puffer new ----

_C_KEYWORDS = set("""auto break case char const continue default do double else enum extern float for goto
if inline int long register restrict return short signed sizeof static struct switch typedef union
unsigned void volatile while bool true false main""".split())


def new_env(name, directory=".", force=False):
    """Writes the template environment NAME.c and its tests test_NAME.py into `directory`.

    The template is a small real task (catch falling balls with a paddle) that compiles, loads,
    trains and runs on its own as it is, commented to be made into your own environment.

    Args:
        name: the environment's name, a C identifier (it prefixes the C functions).
        directory: created if missing.
        force: overwrite existing files.

    Returns:
        [path of NAME.c, path of test_NAME.py].

    Raises:
        ValueError: name is not a C identifier, or is a C or Python keyword.
        FileExistsError: a file would be overwritten without force.
    """
    from pufferlib import _template

    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) \
            or name in _C_KEYWORDS or keyword.iskeyword(name):
        raise ValueError(f"the environment name must be a C identifier that is not a keyword "
                         f"(letters, digits, _), e.g. my_env; got {name!r}")
    camel = "".join(part[:1].upper() + part[1:] for part in name.split("_")) or "Env"
    files = {f"{name}.c": _template.C_SOURCE, f"test_{name}.py": _template.PY_TEST}
    paths = [os.path.join(directory, f) for f in files]
    existing = [p for p in paths if os.path.exists(p)]
    if existing and not force:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); choose another name or "
                              "directory, or pass --force to overwrite")
    os.makedirs(directory, exist_ok=True)
    for path, text in zip(paths, files.values()):
        with open(path, "w") as f:
            f.write(string.Template(text).substitute(name=name, Name=camel))
    return paths


_CHECK_CODE = "import sys; from pufferlib.build import _check_main; sys.exit(_check_main(sys.argv[1:]))"
_RUNNING = "@running "   # _check_main's line announcing the check whose rollout starts
_DONE = "@done"          # ... and its last line, after every result


def _check_main(argv):
    """Runs `check` on argv = [LIBRARY, STEPS, NUM_ENVS] and prints the results; the exit status.

    `check_in_subprocess` runs the checks this way, in a child process (with the sanitizer
    runtime preloaded for a --debug library); _RUNNING + NAME lines announce each rollout, and
    _DONE says that the checks ran to the end.
    """
    steps, num_envs = (int(argv[1]), int(argv[2])) if len(argv) > 2 else (1000, 64)
    results = check(argv[0], steps=steps, num_envs=num_envs,
                    progress=lambda name: print(_RUNNING + name, flush=True))
    for result in results:
        print(result, flush=True)
    print(_DONE, flush=True)
    return 0 if all(r.passed for r in results) else 1


def check_in_subprocess(library, steps=1000, num_envs=64, source=None, echo=print):
    """Runs `check` on a built library in a child process, so that a crash is reported, not suffered.

    Each result line is passed to `echo` as it arrives. When the environment crashes the child
    (a segfault, an abort, a sanitizer report), a last line `CRASH NAME: ...` names the check
    that was running and the signal; for a --debug library the sanitizers' report, with file and
    line, has gone to stderr just before.

    Args:
        library: a library made by `build` (with debug=True, the checks run under the sanitizers).
        steps, num_envs: as for `check`.
        source: the C file, named in the hint to rebuild it with --debug.
        echo: called with each line to show.

    Returns:
        0 when every check passed, 1 when one failed or the environment crashed.

    Raises:
        ValueError: steps or num_envs below 1, or num_envs beyond the engine's limit.
        BuildError: a --debug library, and no sanitizer runtime to load it with.
    """
    _check_sizes(steps, num_envs)
    sanitizers = _needs_sanitizer(library)
    current, done = "load", False
    with _python_child(_CHECK_CODE, [library, str(steps), str(num_envs)], sanitizers,
                       stdout=subprocess.PIPE, text=True) as child:
        for line in child.stdout:
            line = line.rstrip("\n")
            if line == _DONE:
                done = True
            elif line.startswith(_RUNNING):
                current = line[len(_RUNNING):]
            else:
                echo(line)
    if done and child.returncode in (0, 1):
        return child.returncode
    signal_text = _signal_text(child.returncode)
    if sanitizers and signal_text is None:
        echo(f"CRASH {current}: the sanitizers stopped the check (exit status {child.returncode}); "
             "their report on stderr names the file and line")
    else:
        how = signal_text or f"exit status {child.returncode}"
        echo(f"CRASH {current}: the environment crashed the check with {how}; "
             f"rebuild with `puffer build {source or library} --check --debug` to see the line")
    return 1
