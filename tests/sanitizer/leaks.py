"""Leak check for the sanitizer build: run under LeakSanitizer, fail on leaks from pufferlib's code.

CPython itself leaves a few objects at exit that LeakSanitizer reports; only leaks whose stack
passes through pufferlib's extension or C sources count. Used by .ci/run (see the README):

    PUFFER_DEBUG=1 pip install -e .   # or build_ext --inplace in a copy
    LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=1 \
        PYTHONMALLOC=malloc python tests/sanitizer/leaks.py
"""
import os
import subprocess
import sys

WORKLOAD = """
import gc
import numpy as np
import pufferlib
for name in pufferlib.envs.list_envs():
    for i in range(6):
        env = pufferlib.make(name, num_envs=33, num_threads=2, seed=i)
        env.reset()
        for _ in range(40):
            env.step(np.zeros(env.actions.shape, env.actions.dtype))
        env.send(np.zeros(env.actions.shape, env.actions.dtype))
        if i % 2:
            env.recv()
            env.reset(seed=i + 1)
            env.close()
        del env
gc.collect()
"""

OURS = ("pufferlib/_native", "csrc/", "engine.cpython")


def main():
    """Runs the workload in a child (which inherits LD_PRELOAD) and inspects its leak report."""
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", PYTHONMALLOC="malloc")
    result = subprocess.run([sys.executable, "-c", WORKLOAD], env=env, capture_output=True, text=True)
    reports = result.stderr.split("\n\n")
    ours = [r for r in reports if "leak of" in r and any(marker in r for marker in OURS)]
    if "AddressSanitizer" not in result.stderr and result.returncode != 0:
        print(result.stderr, file=sys.stderr)
        return 1
    if ours:
        print("\n\n".join(ours), file=sys.stderr)
        print(f"{len(ours)} leak(s) from pufferlib", file=sys.stderr)
        return 1
    other = sum("leak of" in r for r in reports)
    print(f"no leaks from pufferlib ({other} report(s) from the interpreter itself ignored)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
