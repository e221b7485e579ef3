"""Shared by the export tests: the C compiler, sanitizer flags, small policies of every kind, and the C
driver run against torch."""
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

from pufferlib.export import write_weights
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


def run_driver(driver, weights, tmp_path, obs, starts, uniforms, masks=None):
    """Feeds the driver T steps (and action masks); returns its raw float outputs (or the CompletedProcess on
    failure)."""
    rows = [np.concatenate([[float(s)], o, u]) for s, o, u in zip(starts, obs, uniforms)]
    data = np.concatenate([[len(rows)], *rows]).astype("<f4")
    (tmp_path / "in.bin").write_bytes(data.tobytes())
    args = [str(driver), str(weights), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")]
    if masks is not None:
        (tmp_path / "masks.bin").write_bytes(np.asarray(masks, np.uint8).tobytes())
        args.append(str(tmp_path / "masks.bin"))
    result = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **SANITIZER_ENV})
    return result, np.fromfile(tmp_path / "out.bin", "<f4") if result.returncode == 0 else None


def torch_reference(policy, obs, starts, seed, masks=None):
    """Torch's params, values, states, most likely and sampled actions (legal ones under `masks`), and the
    uniforms it drew."""
    dist = policy.dist
    obs_t = torch.as_tensor(obs)
    with torch.no_grad():
        if policy.recurrent:
            state, params, values, states = policy.initial_state(1), [], [], []
            for t in range(len(obs)):
                p, v, state = policy.step(obs_t[t:t + 1], state, torch.tensor([bool(starts[t])]))
                params.append(p)
                values.append(v)
                states.append(torch.cat(state, -1))
            params, values, states = torch.cat(params), torch.cat(values), torch.cat(states).numpy()
        else:
            params, values = policy(obs_t)
            states = np.zeros((len(obs), 0), np.float32)
        masked = dist.mask(params, masks)
        likely = dist.clip(dist.sample(masked, policy.log_std, deterministic=True))
        sampled = dist.clip(dist.sample(masked, policy.log_std, torch.Generator().manual_seed(seed)))
    # the uniforms ActionDistribution.sample drew: one [T, 1] draw per discrete entry, in order
    generator = torch.Generator().manual_seed(seed)
    uniforms = [torch.rand((len(obs), 1), generator=generator) for _ in dist.logit_sizes]
    uniforms = torch.cat(uniforms, -1).numpy() if uniforms else np.zeros((len(obs), 0), np.float32)
    rows = len(obs)
    return (params.numpy(), values.numpy(), states, likely.reshape(rows, -1).float().numpy(),
            sampled.reshape(rows, -1).float().numpy(), uniforms)


def compare(driver, policy, tmp_path, steps, starts, seed=3, obs=None, masks=None):
    weights = write_weights(policy, tmp_path / "policy.bin")
    rng = np.random.default_rng(seed)
    obs = rng.normal(0.0, 2.0, (steps, 5)).astype(np.float32) if obs is None else obs
    params, values, states, likely, sampled, uniforms = torch_reference(policy, obs, starts, seed, masks)
    result, out = run_driver(driver, weights, tmp_path, obs, starts, uniforms, masks)
    assert result.returncode == 0, result.stderr
    k = likely.shape[1]
    widths = [params.shape[1], 1, states.shape[1], k, k]
    out = out.reshape(steps, sum(widths))
    c_params, c_values, c_states, c_likely, c_sampled = np.split(out, np.cumsum(widths)[:-1], axis=1)
    np.testing.assert_allclose(c_params, params, rtol=0, atol=1e-5)
    np.testing.assert_allclose(c_values[:, 0], values, rtol=0, atol=1e-5)
    np.testing.assert_allclose(c_states, states, rtol=0, atol=1e-5)
    discrete = policy.dist.nvec > 0
    np.testing.assert_array_equal(c_likely[:, discrete], likely[:, discrete])
    np.testing.assert_allclose(c_likely[:, ~discrete], likely[:, ~discrete], rtol=0, atol=1e-5)
    np.testing.assert_array_equal(c_sampled[:, discrete], sampled[:, discrete])
    # continuous entries are the clipped means, sampled or not
    np.testing.assert_array_equal(c_sampled[:, ~discrete], c_likely[:, ~discrete])
    return params
