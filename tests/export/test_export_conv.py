"""The C export of conv policies (nature_cnn, impala; with and without an LSTM) against torch."""
import re
import struct

import gymnasium
import numpy as np
import pytest
import torch

from pufferlib.export import ExportError, export_policy, read_weights, weight_tensors, write_weights
from pufferlib.train.policies import ConvPolicy, LSTMPolicy
from tests.export.export_helpers import compare, needs_cc, run_driver, sealed

GRID = gymnasium.spaces.Box(0, 2, (11, 11), np.uint8)  # squared's cells: one-hot into 3 channels
IMAGE = gymnasium.spaces.Box(0, 255, (10, 9, 3), np.uint8)  # scaled by 1/255 ('auto' under a conv)
ACTIONS = {"discrete": (gymnasium.spaces.Discrete(5), None),
           "mixed": (gymnasium.spaces.Box(np.array([0, -1, 0], np.float32), np.array([2, 1, 3], np.float32)),
                     np.array([3, 0, 4]))}
SIZES = {"nature_cnn": dict(channels=(4, 8), kernels=(3, 3), strides=(1, 2)), "impala": dict(channels=(4, 8))}


def conv_policy(encoder, space=GRID, lstm=False, action="discrete", encoding="auto", seed=0):
    """A small conv policy with random weights of about unit gain, so every layer matters."""
    act_space, nvec = ACTIONS[action]
    torch.manual_seed(seed)
    policy = ConvPolicy(space, act_space, encoder, width=16, obs_encoding=encoding, action_nvec=nvec,
                        **SIZES[encoder])
    if lstm:
        policy = LSTMPolicy(policy)
    with torch.no_grad():
        for param in policy.parameters():
            fan_in = int(np.prod(param.shape[1:])) if param.dim() > 1 else 4
            param.normal_(0.0, 1.5 / fan_in ** 0.5)
    return policy.eval()


def observations(space, steps, seed=0):
    rng = np.random.default_rng(seed)
    high = int(space.high.max())
    return rng.integers(0, high + 1, (steps, int(np.prod(space.shape)))).astype(np.float32)


CASES = [(encoder, space, lstm) for encoder in ("nature_cnn", "impala") for space in ("grid", "image")
         for lstm in (False, True)]


@needs_cc
@pytest.mark.parametrize("encoder, space, lstm", CASES)
def test_c_conv_policy_matches_torch(driver, tmp_path, encoder, space, lstm):
    space = {"grid": GRID, "image": IMAGE}[space]
    policy = conv_policy(encoder, space, lstm)
    starts = np.zeros(8)
    starts[[0, 5]] = 1
    params = compare(driver, policy, tmp_path, steps=8, starts=starts, obs=observations(space, 8))
    assert np.ptp(params) > 0.5  # the weights are not trivially small
    arch, _ = read_weights(tmp_path / "policy.bin")
    core = policy.policy if lstm else policy
    assert arch["trunk"]["channels"] == (3 if space is IMAGE else 1)
    assert arch["encoding"] == core.features.encoding == ("scale" if space is IMAGE else "onehot")


@needs_cc
@pytest.mark.parametrize("encoder, lstm", [("nature_cnn", True), ("impala", False)])
def test_c_conv_policy_with_mixed_actions_and_float_pixels(driver, tmp_path, encoder, lstm):
    policy = conv_policy(encoder, IMAGE, lstm, action="mixed", encoding="float")
    core = policy.policy if lstm else policy
    with torch.no_grad():  # float pixels up to 255: a smaller first conv keeps the values in range
        core.trunk.convs[0].weight.mul_(1 / 255)
    compare(driver, policy, tmp_path, steps=6, starts=np.eye(6)[0], obs=observations(IMAGE, 6, seed=1))


@needs_cc
@pytest.mark.parametrize("encoder", ["nature_cnn", "impala"])
def test_c_conv_policy_one_hot_encodes_each_image_channel(driver, tmp_path, encoder):
    """(H, W, C) cells of 4 values: channel c * 4 + v, the order Features.grid gives torch's convs."""
    space = gymnasium.spaces.Box(0, 3, (9, 8, 2), np.uint8)
    policy = conv_policy(encoder, space, encoding="onehot")
    compare(driver, policy, tmp_path, steps=5, starts=np.zeros(5), obs=observations(space, 5, seed=2))
    assert read_weights(tmp_path / "policy.bin")[0]["trunk"]["channels"] == 2


def test_impala_trunk_is_written_as_its_operations(tmp_path):
    policy = conv_policy("impala")
    arch, tensors = read_weights(write_weights(policy, tmp_path / "p.bin"))
    residual = [("save", 0, 0, 0, 0), ("relu", 0, 0, 0, 0), ("conv", 4, 3, 1, 1), ("relu", 0, 0, 0, 0),
                ("conv", 4, 3, 1, 1), ("add", 0, 0, 0, 0)]
    stage = [("conv", 4, 3, 1, 1), ("maxpool", 0, 3, 2, 1), *residual, *residual]
    assert arch["trunk"]["ops"][:len(stage)] == stage
    assert arch["trunk"]["ops"][-1] == ("relu", 0, 0, 0, 0) and len(arch["trunk"]["ops"]) == 2 * len(stage) + 1
    assert (arch["trunk"]["height"], arch["trunk"]["width"], arch["num_layers"], arch["hidden"]) == (11, 11, 0, 16)
    names = [name for name, _ in tensors]
    assert names[:2] == ["conv.0.weight", "conv.0.bias"] and names[20:22] == ["trunk.weight", "trunk.bias"]
    assert dict(tensors)["conv.0.weight"].shape == (4, 3, 3, 3)  # 3 one-hot channels in
    assert dict(tensors)["trunk.weight"].shape == (16, 8 * 3 * 3)  # 11 -> 6 -> 3 after two pools
    assert names == [name for name, _ in weight_tensors(policy)]


def test_export_c_writes_a_conv_lstm_policy(tmp_path):
    files = export_policy(conv_policy("nature_cnn", lstm=True), "c", tmp_path)
    assert sorted(f.name for f in files) == ["policy.bin", "puffer_policy.c", "puffer_policy.h"]
    arch, tensors = read_weights(tmp_path / "policy.bin")
    assert arch["lstm"] and dict(tensors)["lstm.weight_ih"].shape == (64, 16)


def test_export_c_refuses_a_conv_it_cannot_run(tmp_path):
    policy = conv_policy("nature_cnn")
    policy.trunk.convs[0] = torch.nn.Conv2d(3, 4, (3, 2))
    with pytest.raises(ExportError, match=r"the C export runs square kernels, but Conv2d.* has kernel \(3, 2\); "
                                          r"export it with --format onnx or torchscript"):
        export_policy(policy, "c", tmp_path)
    policy.trunk.convs[0] = torch.nn.Conv2d(3, 4, 3, groups=1, dilation=2)
    with pytest.raises(ExportError, match=r"the C export runs plain convs \(biased, zero-padded, no groups or "
                                          r"dilation\), got Conv2d"):
        export_policy(policy, "c", tmp_path)
    policy.trunk.convs[1] = torch.nn.Tanh()
    policy.trunk.convs[0] = torch.nn.Conv2d(3, 4, 3)
    with pytest.raises(ExportError, match=r"the C export cannot run the conv trunk's Tanh\(\)"):
        export_policy(policy, "c", tmp_path)


# -- malformed conv trunks: refused with a message, by both loaders ---------------------------------

def trunk_at(data):
    """The offset of the trunk field of a version 4 policy.bin (after the encoding fields)."""
    return 8 + 4 * 7 + 12 * struct.unpack_from("<I", data, 8 + 4 * 6)[0] + 12


def field(index, value):
    """A mutation that sets the uint32 `index` words after the trunk field (0: trunk, 1..4: height, width,
    channels, num_ops, then 5 words per op), sealed with a matching checksum."""
    def mutate(data):
        at = trunk_at(data) + 4 * index
        return data[:at] + struct.pack("<I", value) + data[at + 4:]
    return sealed(mutate)


def op(index, word, value):
    return field(5 + 5 * index + word, value)


# impala's ops: 0 conv, 1 maxpool, 2 save, 3 relu, 4 conv, 5 relu, 6 conv, 7 add, ...
C_ERRORS = [
    (field(0, 2), r"trunk 2 must be 0 \(MLP towers\) or 1 \(conv\)"),
    (field(1, 12), r"the conv trunk's image is 12x11x1; height x width x channels must be obs_size 121"),
    (field(4, 0), r"num_ops 0 must be in \[1, 64\]"),
    (field(4, 65), r"num_ops 65 must be in \[1, 64\]"),
    (op(0, 0, 9), r"conv trunk op 0 has kind 9; kinds are 0 \(conv\), 1 \(relu\), 2 \(maxpool\), 3 \(save\), 4 \(add\)"),
    (op(0, 2, 0), r"conv trunk op 0 \(conv\) has kernel 0, stride 1, padding 1; kernel and stride must be in \[1, 64\]"),
    (op(0, 4, 3), r"conv trunk op 0 \(conv\) has kernel 3, stride 1, padding 3"),
    (op(1, 4, 2), r"conv trunk op 1 \(maxpool\) has kernel 3, stride 2, padding 2; .*at most half of it for maxpool"),
    (op(0, 1, 0), r"conv trunk op 0 \(conv\) has 0 out_channels; it must be in \[1, 4096\]"),
    (op(1, 1, 5), r"conv trunk op 1 \(maxpool\) has 5 out_channels; it must be 0"),
    (op(3, 2, 1), r"conv trunk op 3 \(relu\) has sizes 0, 1, 0, 0; they must be 0"),
    (op(0, 2, 20), r"conv trunk op 0 \(conv\): its 20x20 window does not fit the 11x11 image \(padding 1\)"),
    (sealed(lambda d: d.replace(b"conv.0.weight\x04\0\0\0\x04", b"conv.0.weight\x04\0\0\0\x05")),
     r"tensor conv.0.weight has shape \(5, 3, 3, 3\); the architecture needs \(4, 3, 3, 3\)"),
    (op(2, 0, 1), r"conv trunk op 7 adds a residual, but no save op precedes it"),
    (op(7, 0, 1), r"conv trunk op 8 saves an image while op 2's is not added yet"),
    (op(6, 1, 5), r"conv trunk op 7 adds a residual, but its image's shape differs from the saved one"),
    (sealed(lambda d: d[:trunk_at(d) + 4 * 5 + 8]), r"the file ends inside conv trunk op 0"),
    (sealed(lambda d: d[:trunk_at(d) + 8]), r"the file ends inside the conv trunk's header"),
    (sealed(lambda d: d[:24] + struct.pack("<I", 1) + d[28:]),
     r"a conv trunk has num_layers 0 and activation 0 \(relu\), got 0 and 1"),
    (sealed(lambda d: d[:20] + struct.pack("<I", 2) + d[24:]),
     r"a conv trunk has num_layers 0 and activation 0 \(relu\), got 2 and 0"),
]


@needs_cc
@pytest.mark.parametrize("mutate, message", C_ERRORS)
def test_c_loader_rejects_a_malformed_conv_trunk(driver, tmp_path, mutate, message):
    path = write_weights(conv_policy("impala"), tmp_path / "p.bin")
    path.write_bytes(mutate(path.read_bytes()))
    result, _ = run_driver(driver, path, tmp_path, [], [], [])
    assert result.returncode == 4, result.stderr
    assert re.search(message, result.stderr), result.stderr


@pytest.mark.parametrize("mutate, message", [
    (field(0, 2), r"is malformed: trunk 2 must be 0 \(MLP towers\) or 1 \(conv\)"),
    (op(0, 0, 9), r"is malformed: conv trunk op 0 has code 9; codes are 0 \(conv\), 1 \(relu\), 2 \(maxpool\)"),
    (sealed(lambda d: d[:trunk_at(d) + 4 * 5 + 8]), r"is truncated at byte"),
])
def test_read_weights_rejects_a_malformed_conv_trunk(tmp_path, mutate, message):
    path = write_weights(conv_policy("impala"), tmp_path / "p.bin")
    path.write_bytes(mutate(path.read_bytes()))
    with pytest.raises(ExportError, match=message):
        read_weights(path)


@needs_cc
def test_c_loader_survives_corrupted_conv_trunks(driver, tmp_path):
    """No crash (and, under the sanitizers, no memory error or leak) whatever the trunk's words hold."""
    data = write_weights(conv_policy("impala", lstm=True), tmp_path / "p.bin").read_bytes()
    start = trunk_at(data)
    rng = np.random.default_rng(0)
    path = tmp_path / "bad.bin"
    for _ in range(60):
        body = bytearray(data[:-4])
        for _ in range(int(rng.integers(1, 4))):  # small values, which get past more checks
            at = start + 4 * int(rng.integers(0, 5 + 5 * 20))
            body[at:at + 4] = struct.pack("<I", int(rng.choice([0, 1, 2, 3, 4, 5, 9, 64, 65, 1 << 20])))
        path.write_bytes(sealed(lambda d: d)(bytes(body) + b"\0\0\0\0"))
        result, _ = run_driver(driver, path, tmp_path, [], [], [])
        assert result.returncode in (0, 4), result.stderr
