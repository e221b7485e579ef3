"""Builds pufferlib's native code: the engine (with the built-in C environments) and emulation's flattener.

Environment switches (read at build time):
  PUFFER_DEBUG=1      -O0 -g, AddressSanitizer + UBSan, Cython bounds checks (see README).
  PUFFER_NO_OPENMP=1  build the OpenMP kernels (advantage, MLP) without OpenMP even when the
                      compiler supports it. The engine never uses OpenMP: it steps environments
                      on its own threads (csrc/puffer_pool.h), so importing it loads no OpenMP
                      runtime and changes no OpenMP setting.
Nothing is downloaded and nothing is compiled against torch.
"""
import glob
import os
import sys
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


class BuildExt(build_ext):
    """build_ext that adds OpenMP when a compile-and-link probe shows the compiler supports it."""

    def build_extensions(self):
        flags = [] if NO_OPENMP else self._openmp_flags()
        if not flags:
            banner = "*" * 78
            why = "PUFFER_NO_OPENMP is set" if NO_OPENMP else "the compiler cannot build OpenMP code"
            print(f"\n{banner}\nWARNING: pufferlib is built WITHOUT OpenMP ({why}).\n"
                  "The advantage and MLP kernels will run on one thread (environments still step\n"
                  "on threads); pufferlib.openmp_enabled() is False.\n"
                  f"Install a compiler with OpenMP support (gcc, or clang with libomp) and rebuild.\n"
                  f"{banner}\n", file=sys.stderr)
        for ext in self.extensions:
            if ext.name == "pufferlib._native.engine":   # its own threads; it only reports the flag
                ext.define_macros.append(("PUFFER_OPENMP", "1" if flags else "0"))
                continue
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


extensions = [
    Extension(
        "pufferlib._native.engine",
        sources=["pufferlib/_native/engine.pyx"] + sorted(glob.glob("csrc/envs/*.c")),
        include_dirs=["csrc", numpy.get_include()],
        # PUFFER_BUILTIN: PUFFER_EXPORT expands to nothing in environments compiled in here.
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"), ("PUFFER_BUILTIN", "1")],
        extra_compile_args=list(COMPILE_ARGS),
        extra_link_args=list(LINK_ARGS),
        depends=glob.glob("csrc/*.h") + glob.glob("csrc/envs/*.h"),
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
        depends=["csrc/puffer_mlp.h", "pufferlib/_native/mlp.pxd"],
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
