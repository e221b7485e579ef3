"""Builds pufferlib's native code: the engine (with the built-in C environments) and emulation's flattener.

Environment switches (read at build time):
  PUFFER_DEBUG=1      -O0 -g, AddressSanitizer + UBSan, Cython bounds checks (see README).
  PUFFER_NO_OPENMP=1  build the OpenMP kernels (advantage, MLP, LSTM) without OpenMP even when the
                      compiler supports it. The engine never uses OpenMP: it steps environments
                      on its own threads (csrc/puffer_pool.h), so importing it loads no OpenMP
                      runtime and changes no OpenMP setting.
Nothing is downloaded and nothing is compiled against torch.

Each compiled extension is kept in build/puffer-cache/ beside this file, under a hash of everything
its compilation reads (see BuildExt._cache_key), so building again, e.g. `pip install -e ".[test]"`
after `pip install -e .`, copies it instead of compiling it. Delete that folder to start afresh.
"""
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("PUFFER_DEBUG", "0") not in ("", "0")
NO_OPENMP = os.environ.get("PUFFER_NO_OPENMP", "0") not in ("", "0")

if DEBUG:
    COMPILE_ARGS = ["-O0", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                    "-fno-sanitize-recover=undefined"]
    LINK_ARGS = ["-fsanitize=address,undefined"]
else:
    COMPILE_ARGS = ["-O3"]
    LINK_ARGS = []
COMPILE_ARGS += ["-Wno-unused-function", "-Wno-unreachable-code"]

# Every Cython directive of the project, in one place.
DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": False,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

OPENMP_PROBE = """
#include <omp.h>
#include <stdio.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    printf("%d\\n", n + omp_get_max_threads() * 0);
    return 0;
}
"""


HERE = os.path.dirname(os.path.abspath(__file__))
CACHE_DIR = os.path.join(HERE, "build", "puffer-cache")
CACHE_KEEP = 4  # builds kept per extension, the most recently used (default, debug, no-OpenMP, ...)


# The extensions whose kernels run on OpenMP threads; no other links the OpenMP runtime, so making and
# stepping environments (engine, protocol, emulation) never loads it, whatever the build.
OPENMP_EXTENSIONS = {"pufferlib._native.advantage", "pufferlib._native.mlp", "pufferlib._native.lstm"}

class BuildExt(build_ext):
    """build_ext that adds OpenMP when a compile-and-link probe shows the compiler supports it, and
    reuses an extension compiled before with the same sources, headers, flags, compiler and Python."""

    def build_extensions(self):
        flags = [] if NO_OPENMP else self._openmp_flags()
        if not flags:
            banner = "*" * 78
            why = "PUFFER_NO_OPENMP is set" if NO_OPENMP else "the compiler cannot build OpenMP code"
            print(f"\n{banner}\nWARNING: pufferlib is built WITHOUT OpenMP ({why}).\n"
                  "The advantage, MLP and LSTM kernels will run on one thread (environments still step\n"
                  "on threads); pufferlib.openmp_enabled() is False.\n"
                  f"Install a compiler with OpenMP support (gcc, or clang with libomp) and rebuild.\n"
                  f"{banner}\n", file=sys.stderr)
        for ext in self.extensions:
            if ext.name == "pufferlib._native.engine":   # its own threads; it only reports the flag
                ext.define_macros.append(("PUFFER_OPENMP", "1" if flags else "0"))
            elif ext.name in OPENMP_EXTENSIONS:
                ext.extra_compile_args += flags
                ext.extra_link_args += flags
        super().build_extensions()

    def _openmp_flags(self):
        with tempfile.TemporaryDirectory() as tmp:
            source = os.path.join(tmp, "probe.c")
            with open(source, "w") as f:
                f.write(OPENMP_PROBE)
            try:
                objects = self.compiler.compile([source], output_dir=tmp, extra_postargs=["-fopenmp"])
                self.compiler.link_executable(objects, os.path.join(tmp, "probe"),
                                              extra_postargs=["-fopenmp"])
            except Exception:  # CompileError, LinkError: no OpenMP here
                return []
        return ["-fopenmp"]

    def build_extension(self, ext):
        target = self.get_ext_fullpath(ext.name)
        try:
            key = self._cache_key(ext)
        except Exception as error:  # no preprocessor, an unreadable file: just compile
            print(f"pufferlib build cache: not used for {ext.name} ({error})", file=sys.stderr)
            super().build_extension(ext)
            return
        cached = os.path.join(CACHE_DIR, f"{ext.name}-{key}{os.path.splitext(target)[1]}")
        if os.path.exists(cached):
            print(f"pufferlib build cache: {ext.name} unchanged, reusing {os.path.relpath(cached, HERE)}",
                  file=sys.stderr)
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            shutil.copyfile(cached, target)
            os.utime(cached)  # recently used: kept
            return
        # A miss means something the key covers changed: compile even where setuptools would judge the
        # target up to date by its timestamps alone (they miss a change of flags, e.g. PUFFER_DEBUG).
        force, self.force = self.force, True
        try:
            super().build_extension(ext)
        finally:
            self.force = force
        try:
            os.makedirs(CACHE_DIR, exist_ok=True)
            partial = f"{cached}.{os.getpid()}.tmp"
            shutil.copyfile(target, partial)
            os.replace(partial, cached)  # atomic: a concurrent build never reads half a file
            builds = sorted(glob.glob(os.path.join(CACHE_DIR, f"{ext.name}-*{os.path.splitext(target)[1]}")),
                            key=os.path.getmtime)  # not a concurrent build's .tmp
            for old in builds[:-CACHE_KEEP]:
                os.remove(old)
        except OSError as error:  # a read-only source tree (an sdist unpacked elsewhere): no cache
            print(f"pufferlib build cache: cannot store {ext.name} ({error})", file=sys.stderr)

    def _cache_key(self, ext):
        """A hash of what compiling and linking `ext` reads: each source as the preprocessor expands
        it (so every included header, pufferlib's, numpy's and Python's, and every macro and flag
        that changes the code: PUFFER_DEBUG's sanitizers, OpenMP), the compile and link flags, the
        compiler's identity and the Python it builds for."""
        digest = hashlib.sha256()
        compiler = list(self.compiler.compiler_so)
        version = subprocess.run([compiler[0], "--version"], capture_output=True, text=True, check=True)
        for part in (ext.name, sys.version, sysconfig.get_config_var("EXT_SUFFIX"), version.stdout,
                     compiler, self.compiler.linker_so, ext.extra_compile_args, ext.extra_link_args,
                     ext.define_macros, ext.undef_macros, ext.libraries, ext.library_dirs):
            digest.update(repr(part).encode() + b"\0")
        macros = ext.define_macros + [(name,) for name in ext.undef_macros]
        with tempfile.TemporaryDirectory() as tmp:
            for i, source in enumerate(sorted(ext.sources)):
                expanded = os.path.join(tmp, f"{i}.i")
                # -P: no line markers, whose absolute paths (pip's temporary build environments) vary
                self.compiler.preprocess(source, expanded, macros=macros, include_dirs=ext.include_dirs,
                                         extra_postargs=["-P", *ext.extra_compile_args])
                digest.update(source.encode() + b"\0")
                with open(expanded, "rb") as f:
                    digest.update(hashlib.sha256(f.read()).digest())
        return digest.hexdigest()[:24]


extensions = [
    Extension(
        "pufferlib._native.engine",
        sources=["pufferlib/_native/engine.pyx"] + sorted(glob.glob("csrc/envs/*.c")),
        include_dirs=["csrc", numpy.get_include()],
        # PUFFER_BUILTIN: PUFFER_EXPORT expands to nothing in environments compiled in here.
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"), ("PUFFER_BUILTIN", "1")],
        extra_compile_args=list(COMPILE_ARGS),
        extra_link_args=list(LINK_ARGS),
        depends=glob.glob("csrc/*.h") + glob.glob("csrc/envs/*.h") + ["pufferlib/_native/protocol.pxd"],
    ),
    Extension(
        "pufferlib._native.protocol",
        sources=["pufferlib/_native/protocol.pyx"],
        include_dirs=["csrc", numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=list(COMPILE_ARGS),
        extra_link_args=list(LINK_ARGS),
        depends=["csrc/puffer_checks.h", "pufferlib/_native/protocol.pxd"],
    ),
    Extension(
        "pufferlib._native.advantage",
        sources=["pufferlib/_native/advantage.pyx"],
        include_dirs=["csrc", numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=list(COMPILE_ARGS),
        extra_link_args=list(LINK_ARGS),
        depends=["csrc/puffer_advantage.h"],
    ),
    Extension(
        "pufferlib._native.mlp",
        sources=["pufferlib/_native/mlp.pyx"],
        include_dirs=["csrc", numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=COMPILE_ARGS + ["-fno-math-errno"],  # lets Adam's sqrtf loop vectorise
        extra_link_args=list(LINK_ARGS),
        depends=["csrc/puffer_mlp.h", "csrc/puffer_lstm.h", "pufferlib/_native/mlp.pxd",
                 "pufferlib/_native/lstm.pxd", "pufferlib/_native/simd.pxd"],
    ),
    Extension(
        "pufferlib._native.lstm",
        sources=["pufferlib/_native/lstm.pyx"],
        include_dirs=["csrc", numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=list(COMPILE_ARGS),
        extra_link_args=list(LINK_ARGS),
        depends=["csrc/puffer_lstm.h", "csrc/puffer_mlp.h", "pufferlib/_native/lstm.pxd",
                 "pufferlib/_native/simd.pxd"],
    ),
    Extension(
        "pufferlib._native.emulation",
        sources=["pufferlib/_native/emulation.pyx"],
        include_dirs=[numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=list(COMPILE_ARGS),
        extra_link_args=list(LINK_ARGS),
    ),
]

setup(
    ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES, quiet=True),
    cmdclass={"build_ext": BuildExt},
)
