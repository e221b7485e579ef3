"""Users' C environments: compile one file into a shared library, load it, check it, start one.

A C environment written against `puffer_env.h` and ending with `PUFFER_EXPORT(NAME)` is compiled
by the user's C compiler with the flags of the built-in environments, loaded with dlopen, and
stepped by the same engine as the built-in environments. No Cython, no setup.py. The `puffer
build` and `puffer new` commands, and `pufferlib.make("path/to/env.c")`, run on this package.

The modules, each importing only modules listed before it:
  _child     the fresh Python processes that try what was built, so that a crash is reported
  compiler   the C compiler, its flags, where a library goes and when it is stale, `build`
  loader     `load`: dlopen a library, read its table, validate it (`is_path` says what is a file)
  checks     `check` (determinism, threads, seeds, bounds, ...) and `check_in_subprocess`
  template   `new_env`: the template environment and its tests, as `puffer new` writes them

The toolchain never imports `pufferlib.envs`: the registry of names sits above it, and gives
`load` the names that are paths.

Example:
    >>> import os, tempfile
    >>> from pufferlib import toolchain
    >>> source, tests = toolchain.new_env("catch", tempfile.mkdtemp())
    >>> d = toolchain.load(source)           # built first, into .puffer_build/ beside it
    >>> d.name, os.path.basename(toolchain.library_path(source))
    ('catch', 'catch.so')
"""
from pufferlib.toolchain.checks import CheckResult, check, check_in_subprocess
from pufferlib.toolchain.compiler import (
    BUILD_DIR,
    BuildResult,
    build,
    compiler,
    library_path,
    sanitizer_preload,
)
from pufferlib.toolchain.loader import LIBRARY_SUFFIXES, is_path, load
from pufferlib.toolchain.template import new_env

__all__ = ["BUILD_DIR", "LIBRARY_SUFFIXES", "BuildResult", "CheckResult", "build", "check",
           "check_in_subprocess", "compiler", "is_path", "library_path", "load", "new_env",
           "sanitizer_preload"]
