"""The C export: policy.bin, and the generated C against torch (compiled with the test driver)."""
import os
import re
import struct
import zlib

import numpy as np
import pytest
import torch

from pufferlib.export import (
    MAGIC,
    VERSION,
    ExportError,
    export_policy,
    read_weights,
    weight_tensors,
    write_weights,
)
from tests.export.export_helpers import compare, make_policy, needs_cc, run_driver, sealed

FEED_FORWARD = [("discrete", layers, activation) for layers in (1, 2, 3) for activation in ("relu", "tanh")]
FEED_FORWARD += [("multidiscrete", 2, "relu"), ("box", 2, "tanh"), ("mixed", 3, "relu")]
RECURRENT = [("discrete", 1, "tanh"), ("multidiscrete", 2, "relu"), ("box", 2, "tanh"), ("mixed", 1, "relu")]


@needs_cc
@pytest.mark.parametrize("action, layers, activation", FEED_FORWARD)
def test_c_feed_forward_matches_torch(driver, tmp_path, action, layers, activation):
    policy = make_policy(action, layers, activation)
    params = compare(driver, policy, tmp_path, steps=32, starts=np.zeros(32))
    assert np.ptp(params) > 1.0  # the weights are not trivially small


@needs_cc
@pytest.mark.parametrize("action", ["discrete", "multidiscrete", "mixed"])
def test_c_policy_mask_keeps_actions_legal_as_torch_does(driver, tmp_path, action):
    policy = make_policy(action, 2, "relu")
    rng = np.random.default_rng(7)
    width = sum(policy.dist.logit_sizes)
    masks = rng.random((40, width)) < 0.5
    start = 0
    for n in policy.dist.logit_sizes:       # one legal choice at least per entry
        masks[np.arange(40), start + rng.integers(0, n, 40)] = True
        start += n
    compare(driver, policy, tmp_path, steps=40, starts=np.zeros(40), masks=masks)


@needs_cc
@pytest.mark.parametrize("action, layers, activation", RECURRENT)
def test_c_lstm_matches_torch_over_steps_with_a_reset(driver, tmp_path, action, layers, activation):
    policy = make_policy(action, layers, activation, lstm=True)
    starts = np.zeros(12)
    starts[[0, 5]] = 1
    compare(driver, policy, tmp_path, steps=12, starts=starts)


@needs_cc
@pytest.mark.parametrize("encoding, action, lstm", [("scale", "discrete", False), ("scale", "mixed", True),
                                                    ("onehot", "discrete", False), ("onehot", "box", True)])
def test_c_matches_torch_with_each_observation_encoding(driver, tmp_path, encoding, action, lstm):
    policy = make_policy(action, 2, "relu", lstm=lstm, encoding=encoding)
    # integer values, and for one-hot also values outside the Box's range (their features are zero)
    obs = np.random.default_rng(4).integers(-5, 6, (12, 5)).astype(np.float32)
    starts = np.zeros(12)
    starts[[0, 7]] = 1
    params = compare(driver, policy, tmp_path, steps=12, starts=starts, obs=obs)
    assert np.ptp(params) > 1.0
    arch, tensors = read_weights(tmp_path / "policy.bin")
    assert arch["encoding"] == encoding and (arch["onehot_low"], arch["onehot_values"]) == (
        (-2, 6) if encoding == "onehot" else (0, 0))
    assert dict(tensors)["actor.0.weight"].shape == (16, 30 if encoding == "onehot" else 5)


def as_version_3(data):
    """An MLP's policy.bin written as version 3: without the trunk field (0, MLP towers)."""
    at = 8 + 4 * 7 + 12 * struct.unpack_from("<I", data, 8 + 4 * 6)[0] + 12  # past the encoding fields
    assert struct.unpack_from("<I", data, at) == (0,)
    body = data[:8] + struct.pack("<I", 3) + data[12:at] + data[at + 4:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def as_version_2(data):
    """A float-encoded MLP's policy.bin written as version 2: without the encoding and trunk fields."""
    data = as_version_3(data)
    at = 8 + 4 * 7 + 12 * struct.unpack_from("<I", data, 8 + 4 * 6)[0]  # past the action entries
    assert struct.unpack_from("<IiI", data, at) == (0, 0, 0)
    body = data[:8] + struct.pack("<I", 2) + data[12:at] + data[at + 12:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def test_read_weights_reads_version_3_files(tmp_path):
    policy = make_policy("box", lstm=True, encoding="onehot")
    path = write_weights(policy, tmp_path / "p.bin")
    want_arch, want = read_weights(path)
    path.write_bytes(as_version_3(path.read_bytes()))
    arch, tensors = read_weights(path)
    assert arch["encoding"] == "onehot" and arch["trunk"] is None and arch["onehot_values"] == 6
    assert [name for name, _ in tensors] == [name for name, _ in want]


@needs_cc
def test_c_loader_runs_version_3_files(driver, tmp_path):
    policy = make_policy("mixed", lstm=True, encoding="scale")
    path = write_weights(policy, tmp_path / "v3.bin")
    version_3 = as_version_3(path.read_bytes())
    obs = np.random.default_rng(0).integers(-5, 6, (6, 5)).astype(np.float32)
    starts, uniforms = np.eye(6)[0], np.full((6, 2), 0.5, np.float32)
    _, want = run_driver(driver, path, tmp_path, obs, starts, uniforms)
    path.write_bytes(version_3)
    result, got = run_driver(driver, path, tmp_path, obs, starts, uniforms)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(got, want)


def test_read_weights_reads_version_2_files(tmp_path):
    policy = make_policy("multidiscrete", lstm=True)
    path = write_weights(policy, tmp_path / "p.bin")
    path.write_bytes(as_version_2(path.read_bytes()))
    arch, tensors = read_weights(path)
    assert arch["encoding"] == "float" and arch["lstm"] and arch["nvec"].tolist() == [3, 4, 2]
    assert [name for name, _ in tensors] == [name for name, _ in weight_tensors(policy)]


@needs_cc
def test_c_loader_runs_version_2_files(driver, tmp_path):
    policy = make_policy("mixed", lstm=True)
    path = write_weights(policy, tmp_path / "v2.bin")
    version_2 = as_version_2(path.read_bytes())
    obs = np.random.default_rng(0).normal(0, 2, (6, 5)).astype(np.float32)
    starts, uniforms = np.eye(6)[0], np.full((6, 2), 0.5, np.float32)
    _, want = run_driver(driver, path, tmp_path, obs, starts, uniforms)
    path.write_bytes(version_2)
    result, got = run_driver(driver, path, tmp_path, obs, starts, uniforms)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(got, want)


@needs_cc
def test_c_lstm_state_carries_over_steps(driver, tmp_path):
    """Without the reset, step 5 differs: the comparison above would notice a state that is ignored."""
    policy = make_policy("discrete", lstm=True)
    starts = np.zeros(8)
    starts[0] = 1
    carried = compare(driver, policy, tmp_path, steps=8, starts=starts)
    starts[5] = 1
    reset = compare(driver, policy, tmp_path, steps=8, starts=starts)
    assert np.abs(carried[5] - reset[5]).max() > 1e-3


@needs_cc
def test_c_continuous_means_are_clipped_to_the_bounds(driver, tmp_path):
    policy = make_policy("box")
    with torch.no_grad():
        policy.actor_head.bias.copy_(torch.tensor([5.0, -5.0]))
    steps = 4
    result, out = run_driver(driver, write_weights(policy, tmp_path / "policy.bin"), tmp_path,
                             np.zeros((steps, 5), np.float32), np.zeros(steps), np.zeros((steps, 0)))
    assert result.returncode == 0, result.stderr
    likely = out.reshape(steps, -1)[:, 3:5]
    np.testing.assert_array_equal(likely, [[1.0, -0.5]] * steps)


def test_weights_file_round_trips():
    policy = make_policy("mixed", layers=2, lstm=True)
    path = write_weights(policy, os.path.join(os.environ.get("TMPDIR", "/tmp"), f"rt_{os.getpid()}.bin"))
    try:
        arch, tensors = read_weights(path)
    finally:
        os.unlink(path)
    assert arch["obs_size"] == 5 and arch["hidden"] == 16 and arch["num_layers"] == 2 and arch["lstm"]
    assert arch["activation"] == "tanh" and arch["nvec"].tolist() == [3, 0, 2, 0]
    np.testing.assert_array_equal(arch["low"][[1, 3]], [-1, -0.5])
    expected = weight_tensors(policy)
    assert [name for name, _ in tensors] == [name for name, _ in expected]
    assert [name for name, _ in tensors][:3] == ["actor.0.weight", "actor.0.bias", "actor.1.weight"]
    assert ("lstm.weight_ih", (128, 32)) in [(name, a.shape) for name, a in tensors]
    for (_, got), (_, want) in zip(tensors, expected):
        np.testing.assert_array_equal(got, want)


def test_weights_file_starts_with_magic_and_version(tmp_path):
    data = write_weights(make_policy("discrete"), tmp_path / "p.bin").read_bytes()
    assert data[:8] == MAGIC and struct.unpack_from("<I", data, 8) == (VERSION,) == (4,)


def test_weights_file_ends_with_the_crc32_of_its_bytes(tmp_path):
    data = write_weights(make_policy("discrete"), tmp_path / "p.bin").read_bytes()
    assert struct.unpack("<I", data[-4:]) == (zlib.crc32(data[:-4]),)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: b"NOTAPOL\0" + d[8:], "not a pufferlib policy file"),
    (lambda d: d[:8] + struct.pack("<I", 7) + d[12:], "format version 7; this pufferlib reads versions 2, 3 and 4"),
    (lambda d: d[:-3], "is damaged or truncated: its CRC-32 is"),
    (lambda d: d[:14], "truncated at byte 14 \\(it ends before its checksum\\)"),
    (sealed(lambda d: d[:-3]), "truncated at byte"),
    (sealed(lambda d: d + b"\0\0\0\0"), "4 unexpected bytes"),
    (sealed(lambda d: d[:8 + 4 * 4] + struct.pack("<I", 2) + d[8 + 4 * 5:]), "activation 2 and lstm 0 must be 0 or 1"),
    (sealed(lambda d: d[:48] + struct.pack("<I", 3) + d[52:]), r"encoding 3 must be 0 \(float\), 1 \(scale\) or 2"),
    (sealed(lambda d: d[:48] + struct.pack("<IiI", 2, 0, 300) + d[60:]), r"onehot_values 300 must be in \[1, 256\]"),
])
def test_read_weights_rejects_bad_files(tmp_path, mutate, message):
    path = write_weights(make_policy("discrete"), tmp_path / "p.bin")
    path.write_bytes(mutate(path.read_bytes()))
    with pytest.raises(ExportError, match=message):
        read_weights(path)


def _shape_changed(data):
    """actor.0.weight declared (16, 6) instead of (16, 5)."""
    name = b"actor.0.weight"
    at = data.index(name) + len(name) + 4 + 4  # past the rank and the first dimension
    return data[:at] + struct.pack("<I", 6) + data[at + 4:]


@needs_cc
@pytest.mark.parametrize("mutate, code, message", [
    (lambda d: b"NOTAPOL\0" + d[8:], 2, "not a pufferlib policy file"),
    (lambda d: d[:8] + struct.pack("<I", 5) + d[12:], 3, "format version 5; this code reads versions 2, 3 and 4"),
    (lambda d: d[:8] + struct.pack("<I", 1) + d[12:], 3, "format version 1; this code reads versions 2, 3 and 4"),
    (lambda d: d[:-1], 6, "the file is damaged or truncated: its CRC-32 is [0-9a-f]{8}, the file says"),
    (sealed(_shape_changed), 4, r"tensor actor.0.weight has shape \(16, 6\); the architecture needs \(16, 5\)"),
    (sealed(lambda d: d[:8 + 4 * 7] + struct.pack("<I", 9) + d[8 + 4 * 8:]), 4, "the file is truncated"),
    (sealed(lambda d: d[:-1]), 4, "the file ends inside its values"),
    (sealed(lambda d: d + b"\0"), 4, "1 unexpected bytes after the last tensor"),
    (sealed(lambda d: d[:8 + 4 * 3] + struct.pack("<I", 0) + d[8 + 4 * 4:]), 4, r"num_layers 0 must be in \[1, 16\]"),
    (sealed(lambda d: d[:20]), 4, r"the file ends inside its header \(reading num_layers\)"),
    (lambda d: d[:10], 4, r"the file ends inside its header \(reading version\)"),
    (lambda d: d[:14], 4, r"the file ends inside its header \(reading its checksum\)"),
    (lambda d: b"", 2, "not a pufferlib policy file"),
    (sealed(lambda d: d[:48] + struct.pack("<I", 3) + d[52:]), 4, r"encoding 3 must be 0 \(float\), 1 \(scale\) or 2"),
    (sealed(lambda d: d[:48] + struct.pack("<IiI", 2, 0, 300) + d[60:]), 4, r"onehot_values 300 must be in \[1, 256\]"),
])
def test_c_loader_rejects_bad_files_with_a_code_and_message(driver, tmp_path, mutate, code, message):
    path = write_weights(make_policy("discrete"), tmp_path / "p.bin")
    path.write_bytes(mutate(path.read_bytes()))
    result, _ = run_driver(driver, path, tmp_path, [], [], [])
    assert result.returncode == code, result.stderr
    assert re.search(message, result.stderr), result.stderr


def _flip_bytes_inside_the_weights(data, seed):
    """policy.bin with a few random bytes of its float values changed, all else intact."""
    rng = np.random.default_rng(seed)
    corrupt = bytearray(data)
    values_start = data.index(b"actor.0.weight") + len("actor.0.weight") + 12  # past rank and shape
    for at in rng.choice(np.arange(values_start, len(data) - 4), 3, replace=False):
        corrupt[at] ^= int(rng.integers(1, 256))
    return bytes(corrupt)


@pytest.mark.parametrize("seed", range(3))
def test_read_weights_refuses_flipped_bytes_inside_the_weights(tmp_path, seed):
    path = write_weights(make_policy("discrete"), tmp_path / "p.bin")
    path.write_bytes(_flip_bytes_inside_the_weights(path.read_bytes(), seed))
    with pytest.raises(ExportError, match="is damaged or truncated: its CRC-32 is"):
        read_weights(path)


@needs_cc
@pytest.mark.parametrize("seed", range(3))
def test_c_loader_refuses_flipped_bytes_inside_the_weights(driver, tmp_path, seed):
    path = write_weights(make_policy("discrete"), tmp_path / "p.bin")
    path.write_bytes(_flip_bytes_inside_the_weights(path.read_bytes(), seed))
    result, _ = run_driver(driver, path, tmp_path, [], [], [])
    assert result.returncode == 6, result.stderr
    assert "the file is damaged or truncated: its CRC-32 is" in result.stderr


@needs_cc
def test_c_loader_reports_a_missing_file(driver, tmp_path):
    result, _ = run_driver(driver, tmp_path / "absent.bin", tmp_path, [], [], [])
    assert result.returncode == 1 and "cannot open" in result.stderr and "absent.bin" in result.stderr


@needs_cc
def test_c_loader_survives_every_truncation_and_corrupted_bytes(driver, tmp_path):
    """No crash (and, under the sanitizers, no memory error or leak) whatever the file holds."""
    data = write_weights(make_policy("multidiscrete", layers=1, lstm=True, hidden=4), tmp_path / "p.bin").read_bytes()
    rng = np.random.default_rng(0)
    variants = [data[:n] for n in range(0, len(data), 7)]
    for _ in range(40):
        corrupt = bytearray(data)
        for at in rng.integers(8, 64, 3):  # the header and the first tensor's name and shape
            corrupt[at] = int(rng.integers(0, 256))
        variants.append(bytes(corrupt))
    # the same with checksums that match, so that the parser behind the checksum sees them too
    variants += [sealed(lambda d, v=v: d[:len(v) - 4])(data) for v in variants[:len(variants) - 40]
                 if len(v) >= 4]
    variants += [sealed(lambda d, v=v: v[:-4])(v) for v in variants[-40:]]
    path = tmp_path / "bad.bin"
    for variant in variants:
        path.write_bytes(variant)
        result, _ = run_driver(driver, path, tmp_path, [], [], [])
        assert result.returncode in (0, 2, 3, 4, 5, 6), (variant[:64], result.stderr)


def test_export_c_writes_the_sources_beside_the_weights(tmp_path):
    files = export_policy(make_policy("box", lstm=True), "c", tmp_path / "out")
    assert sorted(f.name for f in files) == ["policy.bin", "puffer_policy.c", "puffer_policy.h"]
    assert "Python.h" not in (tmp_path / "out" / "puffer_policy.c").read_text()


def test_export_c_refuses_a_custom_policy(tmp_path):
    with pytest.raises(ExportError, match="the C export runs pufferlib's default policies"):
        export_policy(torch.nn.Linear(3, 2), "c", tmp_path)


def test_export_c_refuses_nested_observations(tmp_path):
    import gymnasium

    from pufferlib.emulation import Layout
    from pufferlib.train.policies import Policy

    space = gymnasium.spaces.Dict({"a": gymnasium.spaces.Discrete(3), "b": gymnasium.spaces.Box(0, 1, (2,))})
    layout = Layout(space)
    policy = Policy(layout.flat_space, gymnasium.spaces.Discrete(2), observation_layout=layout)
    with pytest.raises(ExportError, match="the C export takes flat observations"):
        export_policy(policy, "c", tmp_path)


def test_export_refuses_an_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="unknown export format 'tflite'; choose one of c, onnx, torchscript"):
        export_policy(make_policy("discrete"), "tflite", tmp_path)


def test_export_refuses_an_output_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ExportError, match="is a file; pass a directory"):
        export_policy(make_policy("discrete"), "c", tmp_path / "file")
