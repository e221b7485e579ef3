"""Shared by the export tests: the C compiler, sanitizer flags, and small policies of every kind."""
import os
import shlex
import shutil
import struct
import subprocess
import zlib

import gymnasium
import numpy as np
import pytest
import torch

from pufferlib.train.policies import LSTMPolicy, Policy

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# ASan/UBSan findings exit with these, apart from the driver's own codes.
SANITIZER_ENV = {"ASAN_OPTIONS": "exitcode=99:detect_leaks=1", "UBSAN_OPTIONS": "halt_on_error=1:exitcode=98"}


def compiler():
    """The C compiler command, or None (the tests that need one skip)."""
    command = shlex.split(os.environ.get("CC") or "cc")
    return command if command and shutil.which(command[0]) else None


needs_cc = pytest.mark.skipif(compiler() is None, reason="no C compiler (cc, or $CC) on PATH")


def compile_program(sources, output, includes=()):
    """Compiles C99 sources into `output`, with AddressSanitizer and UBSan when the compiler has them."""
    base = [*compiler(), "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", *(f"-I{i}" for i in includes),
            *sources, "-lm", "-o", str(output)]
    sanitized = subprocess.run(base[:1] + ["-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                                           "-fno-omit-frame-pointer"] + base[1:], capture_output=True, text=True)
    if sanitized.returncode == 0 and _runs(output):
        return output
    plain = subprocess.run(base, capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    return output


def _runs(program):
    """Whether a sanitized program starts here (LeakSanitizer needs ptrace, which sandboxes may deny)."""
    result = subprocess.run([str(program)], capture_output=True, env={**os.environ, **SANITIZER_ENV})
    return "Sanitizer" not in result.stderr.decode(errors="replace")


# observation spaces of each obs_encoding (one-hot needs integers: 6 values per element here)
OBS_SPACES = {"float": gymnasium.spaces.Box(-10, 10, (5,), np.float32),
              "scale": gymnasium.spaces.Box(np.array([-4, -1, 0, 2, -8], np.float32), 4.0, (5,), np.float32),
              "onehot": gymnasium.spaces.Box(-2, 3, (5,), np.int8)}


def make_policy(action, layers=2, activation="tanh", lstm=False, hidden=16, obs_size=5, seed=0, encoding="float"):
    """A policy with random (not initial) weights, so every layer matters."""
    spaces = {
        "discrete": (gymnasium.spaces.Discrete(3), None),
        "multidiscrete": (gymnasium.spaces.MultiDiscrete([3, 4, 2]), None),
        "box": (gymnasium.spaces.Box(np.array([-1, -0.5], np.float32), np.array([1, 2], np.float32)), None),
        "mixed": (gymnasium.spaces.Box(np.array([0, -1, 0, -0.5], np.float32), np.array([2, 1, 1, 0.5], np.float32)),
                  np.array([3, 0, 2, 0])),
    }
    act_space, nvec = spaces[action]
    torch.manual_seed(seed)
    obs_space = gymnasium.spaces.Box(-10, 10, (obs_size,), np.float32) if encoding == "float" else OBS_SPACES[encoding]
    policy = Policy(obs_space, act_space, hidden_size=hidden, num_layers=layers, activation=activation,
                    action_nvec=nvec, obs_encoding=encoding)
    if lstm:
        policy = LSTMPolicy(policy)
    with torch.no_grad():
        for param in policy.parameters():
            param.normal_(0.0, 0.4)
    return policy.eval()


def sealed(mutate):
    """`mutate` applied to a policy.bin's bytes before its checksum, with a checksum that matches again.

    For the tests of what the loaders check after the checksum (a forged file, not a damaged one).
    """
    def apply(data):
        body = mutate(data[:-4])
        return body + struct.pack("<I", zlib.crc32(body))
    return apply
