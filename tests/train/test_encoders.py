"""Observation encodings (float, scale, one-hot), the conv encoders and ConvPolicy: shapes, numpy
references, error paths, training through the Trainer, checkpoints and export."""
import io

import gymnasium
import numpy as np
import pytest
import torch

import pufferlib.train as T
from pufferlib.emulation import Layout
from pufferlib.export import PolicyModule, export, export_policy, read_weights, weight_tensors
from pufferlib.train import checkpoint as ckpt
from pufferlib.train.config import ConfigError, PolicyConfig
from pufferlib.train.encoders import ConvTrunk, Features, minimum_size, resolve_encoding
from pufferlib.train.policies import ConvPolicy, LSTMPolicy, Policy, architecture, make_policy

GRID = gymnasium.spaces.Box(0, 2, (11, 11), np.uint8)  # squared's cells: 0 empty, 1 agent, 2 target
IMAGE = gymnasium.spaces.Box(0, 255, (84, 84, 3), np.uint8)
ACTIONS = gymnasium.spaces.Discrete(5)


def grid_rows(rows=4, seed=0):
    return np.random.default_rng(seed).integers(0, 3, (rows, 11, 11), dtype=np.uint8)


# -- encodings against numpy ----------------------------------------------------------------------

def reference(values, space, encoding):
    """The features of `encoding`, written out plainly in numpy."""
    rows = values.reshape(len(values), -1).astype(np.float64)
    if encoding == "float":
        return rows
    if encoding == "scale":
        bound = np.maximum(np.abs(space.low), np.abs(space.high)).reshape(-1).astype(np.float64)
        return rows / bound
    low, high = int(space.low.min()), int(space.high.max())
    out = np.zeros((len(rows), rows.shape[1], high - low + 1))
    for r in range(len(rows)):
        for i in range(rows.shape[1]):
            if low <= rows[r, i] <= high:
                out[r, i, int(rows[r, i]) - low] = 1
    return out.reshape(len(rows), -1)


INTEGERS = [(GRID, grid_rows()),
            (gymnasium.spaces.Box(-2, 3, (7,), np.int8), np.random.default_rng(1).integers(-2, 4, (5, 7), dtype=np.int8))]
FLOATS = [(gymnasium.spaces.Box(np.arange(1, 5, dtype=np.float32), 10.0, (4,), np.float32),
           np.random.default_rng(2).uniform(0, 10, (3, 4)).astype(np.float32))]


@pytest.mark.parametrize("space, values, encoding", [(*case, encoding) for case in INTEGERS + FLOATS
                                                     for encoding in ("float", "scale")]
                         + [(*case, "onehot") for case in INTEGERS])
def test_each_encoding_matches_its_numpy_reference(space, values, encoding):
    features = Features(space, encoding=encoding)
    out = features(torch.as_tensor(values))
    want = reference(values, space, encoding)
    assert out.dtype == torch.float32 and out.shape == (len(values), features.size) == want.shape
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-6)


def test_onehot_of_squared_is_three_features_per_cell():
    features = Features(GRID, encoding="onehot")
    assert (features.size, features.row_size, features.code.low, features.code.values) == (363, 121, 0, 3)
    assert not features.identity and Features(GRID).identity


def test_onehot_is_zero_outside_the_range():
    out = Features(gymnasium.spaces.Box(1, 2, (2,), np.uint8), encoding="onehot")(
        torch.tensor([[0, 2], [3, 1]], dtype=torch.uint8))
    assert out.tolist() == [[0, 0, 0, 1], [0, 0, 1, 0]]


def test_features_hold_no_parameters_and_no_state():
    features = Features(GRID, encoding="scale")
    assert list(features.parameters()) == [] and features.state_dict() == {}


def test_auto_is_float_for_the_mlp_and_picks_for_conv_encoders():
    assert resolve_encoding(GRID, "auto") == "float"
    assert resolve_encoding(GRID, "auto", conv=True) == "onehot"
    assert resolve_encoding(IMAGE, "auto", conv=True) == "scale"
    assert resolve_encoding(gymnasium.spaces.Box(-1, 1, (8, 8), np.float32), "auto", conv=True) == "float"


@pytest.mark.parametrize("space, encoding, match", [
    (gymnasium.spaces.Box(0, 1, (4,), np.float32), "onehot",
     r"'onehot' takes integer observations .*, but the observation is Box.*float32.*; use obs_encoding 'float' or 'scale'"),
    (gymnasium.spaces.Box(0, 1000, (4,), np.int16), "onehot",
     r"'onehot' needs at most 256 values per cell, but the observation ranges over \[0, 1000\] \(1001 values\); "
     r"use obs_encoding 'scale'"),
    (gymnasium.spaces.Box(-np.inf, np.inf, (4,), np.float32), "scale",
     r"'scale' divides the observation by its largest bound, which must be finite; .*use obs_encoding 'float'"),
    (GRID, "bogus", r"policy.obs_encoding must be one of auto, float, scale, onehot, got 'bogus'"),
])
def test_encodings_a_space_cannot_take_are_refused(space, encoding, match):
    with pytest.raises(ValueError, match=match):
        Features(space, encoding=encoding)


def test_nested_box_leaves_take_the_encoding_and_discrete_leaves_stay_onehot():
    space = gymnasium.spaces.Dict({"grid": gymnasium.spaces.Box(0, 2, (2, 2), np.uint8),
                                   "pick": gymnasium.spaces.Discrete(3)})
    layout = Layout(space)
    features = Features(layout.flat_space, layout, encoding="onehot")
    rows = np.stack([_row(layout, {"grid": np.array([[0, 1], [2, 0]]), "pick": 2}),
                     _row(layout, {"grid": np.array([[2, 2], [1, 0]]), "pick": 0})])
    out = features(torch.as_tensor(rows)).numpy()
    assert features.size == 4 * 3 + 3 and out.shape == (2, 15)
    leaves = [leaf.name for leaf in layout.leaves]
    grid_first = leaves.index("observation_space['grid']") == 0
    grid = reference(np.array([[0, 1, 2, 0], [2, 2, 1, 0]]), space["grid"], "onehot")
    pick = np.eye(3)[[2, 0]]
    np.testing.assert_array_equal(out, np.concatenate([grid, pick] if grid_first else [pick, grid], 1))


def _row(layout, values):
    """One observation row of a layout, each leaf's bytes at its place."""
    row = np.zeros(layout.row_bytes, np.uint8)
    for leaf in layout.leaves:
        data = np.asarray(values[leaf.path[0]], leaf.dtype).tobytes()
        row[leaf.byte_offset:leaf.byte_offset + len(data)] = np.frombuffer(data, np.uint8)
    return row.view(layout.row_dtype)


# -- conv encoders --------------------------------------------------------------------------------

def test_minimum_size_of_the_nature_cnn():
    assert minimum_size((8, 4, 3), (4, 2, 1)) == 36 and minimum_size((3, 3, 3), (1, 1, 1)) == 7


@pytest.mark.parametrize("encoder, channels, kernels, strides, space, obs", [
    ("nature_cnn", (32, 64, 64), (8, 4, 3), (4, 2, 1), IMAGE, np.zeros((2, 84, 84, 3), np.uint8)),
    ("impala", (16, 32, 32), (), (), IMAGE, np.zeros((2, 84, 84, 3), np.uint8)),
    ("nature_cnn", (16, 32), (3, 3), (1, 2), GRID, grid_rows(2)),
    ("impala", (16, 32, 32), (), (), GRID, grid_rows(2)),
])
def test_conv_policies_give_one_row_of_outputs_per_observation(encoder, channels, kernels, strides, space, obs):
    policy = ConvPolicy(space, ACTIONS, encoder, channels, kernels, strides, width=64)
    hidden = policy.encode_observations(torch.as_tensor(obs))
    logits, values = policy.decode_actions(hidden)
    assert hidden.shape == (2, 64) and policy.hidden_size == 64
    assert logits.shape == (2, 5) and values.shape == (2,)
    assert (hidden >= 0).all()  # the trunk ends in a relu


def test_grids_get_one_channel_per_onehot_value_and_images_are_channels_first():
    grid = Features(GRID, encoding="onehot", conv=True)
    rows = grid_rows(2)
    image = grid.grid(torch.as_tensor(rows))
    assert image.shape == (2, 3, 11, 11)
    np.testing.assert_array_equal(image.numpy(), np.stack([rows == v for v in range(3)], 1))
    pixels = np.random.default_rng(0).integers(0, 256, (2, 84, 84, 3), dtype=np.uint8)
    scaled = Features(IMAGE, encoding="auto", conv=True).grid(torch.as_tensor(pixels.reshape(2, -1)))
    np.testing.assert_allclose(scaled.numpy(), pixels.transpose(0, 3, 1, 2) / 255.0, rtol=1e-6)


def test_nature_cnn_defaults_on_a_small_grid_name_the_minimum_size():
    with pytest.raises(ValueError, match=r"'nature_cnn' with kernels 8,4,3 and strides 4,2,1 needs observations of "
                                         r"at least 36x36, got 11x11; for a small grid set smaller ones "
                                         r"\(--policy.cnn_kernels 3,3,3 --policy.cnn_strides 1,1,1\)"):
        ConvPolicy(GRID, ACTIONS, "nature_cnn")


@pytest.mark.parametrize("space, layout, match", [
    (gymnasium.spaces.Box(0, 1, (8,), np.float32), None, r"reads one Box observation of shape \(H, W\) or \(H, W, C\), "
                                                         r"got Box.*\(8,\).*; use policy.encoder mlp"),
    (None, Layout(gymnasium.spaces.Dict({"a": GRID, "b": gymnasium.spaces.Discrete(2)})), r"\(nested\)"),
])
def test_conv_policies_refuse_observations_that_are_not_images(space, layout, match):
    with pytest.raises(ValueError, match=match):
        ConvPolicy(layout.flat_space if space is None else space, ACTIONS, "impala", observation_layout=layout)


def test_a_conv_policy_reads_an_emulated_image_through_its_layout():
    layout = Layout(IMAGE)  # an emulated env's rows are flat: (21168,)
    policy = ConvPolicy(layout.flat_space, ACTIONS, "nature_cnn", width=32, observation_layout=layout)
    logits, _ = policy(torch.zeros(2, layout.row_size, dtype=torch.uint8))
    assert logits.shape == (2, 5) and policy.features.encoding == "scale"


def test_conv_layers_are_orthogonally_initialised():
    trunk = ConvTrunk("nature_cnn", (3, 11, 11), (8, 16), (3, 3), (1, 1), width=32)
    conv = trunk.convs[2].weight.detach().reshape(16, -1)  # [out, in * k * k] has orthogonal rows
    torch.testing.assert_close(conv @ conv.T, 2.0 * torch.eye(16), atol=1e-4, rtol=0)
    assert float(trunk.convs[2].bias.detach().abs().sum()) == 0.0


# -- configuration --------------------------------------------------------------------------------

def test_make_policy_builds_what_the_config_says():
    spec = _spec()
    assert type(make_policy(PolicyConfig(obs_encoding="onehot"), spec)) is Policy
    conv = make_policy(PolicyConfig(encoder="impala", cnn_width=32), spec)
    assert type(conv) is ConvPolicy and [m.out_channels for m in conv.trunk.convs if
                                         isinstance(m, torch.nn.Conv2d)] == [16, 32, 32]
    wrapped = make_policy(PolicyConfig(encoder="nature_cnn", cnn_channels="8,8", cnn_kernels="3,3",
                                       cnn_strides="1,1", cnn_width=16, lstm=True), spec)
    assert type(wrapped) is LSTMPolicy and type(wrapped.policy) is ConvPolicy and wrapped.hidden_size == 16


@pytest.mark.parametrize("overrides, match", [
    ({"policy.cnn_channels": "32,x"}, r"policy.cnn_channels must be comma-separated integers in \[1, 4096\] "
                                      r"\(e.g. '32,64,64'\), got '32,x'"),
    ({"policy.cnn_kernels": "0,3"}, r"policy.cnn_kernels must be comma-separated integers"),
    ({"policy.encoder": "nature_cnn", "policy.cnn_channels": "32,64,64", "policy.cnn_kernels": "8,4,3",
      "policy.cnn_strides": "1,1"},
     r"cnn_channels, cnn_kernels and cnn_strides need one entry per nature_cnn conv layer, got 3, 3 and 2"),
])
def test_bad_cnn_lists_are_config_errors(overrides, match):
    with pytest.raises(ConfigError, match=match):
        T.load_config("squared", overrides=overrides)


def test_architecture_records_the_encoder_settings():
    config = PolicyConfig(encoder="impala", cnn_width=32)
    arch = architecture(config, make_policy(config, _spec()), GRID, ACTIONS)
    assert arch["encoder"] == "impala" and arch["obs_encoding"] == "auto"
    assert arch["cnn_channels"] == [16, 32, 32] and arch["cnn_width"] == 32


def _spec():
    import pufferlib

    env = pufferlib.make("squared", num_envs=1)
    try:
        return env.env_spec
    finally:
        env.close()


# -- training, checkpoints, export ----------------------------------------------------------------

SMALL_CNN = {"encoder": "nature_cnn", "cnn_channels": "8,8", "cnn_kernels": "3,3", "cnn_strides": "1,2",
             "cnn_width": 32}


def tiny_run(tmp_path, **policy):
    config = T.load_config("squared")
    config.update({"env": {"num_envs": 8}, "policy": policy,
                   "train": {"total_timesteps": 1024, "horizon": 32, "minibatch_size": 128, "update_epochs": 1,
                             "bptt_horizon": 8}})
    trainer = T.Trainer("squared", config, data_dir=tmp_path, dashboard=False, stream=io.StringIO())
    before = {k: v.clone() for k, v in trainer.policy.state_dict().items()}
    try:
        summary = trainer.train()
        after = trainer.policy.state_dict()
    finally:
        trainer.close()
    return summary, before, after


@pytest.mark.parametrize("policy, kind", [
    (SMALL_CNN, ConvPolicy),
    ({**SMALL_CNN, "lstm": True}, LSTMPolicy),
    ({"encoder": "impala", "cnn_channels": "4,8", "cnn_width": 16}, ConvPolicy),
    ({"encoder": "mlp", "obs_encoding": "onehot", "hidden_size": 16}, Policy),  # squared ships a CNN
])
def test_the_trainer_trains_each_encoder_on_squared(tmp_path, policy, kind):
    summary, before, after = tiny_run(tmp_path, **policy)
    assert summary["global_step"] >= 1024
    assert before.keys() == after.keys()
    assert all(torch.isfinite(v).all() for v in after.values())
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any("trunk" in k or "actor." in k for k in changed), changed  # the encoder learned too
    loaded, _ = ckpt.load_policy(summary["checkpoint"])
    assert type(loaded) is kind
    obs = torch.as_tensor(grid_rows(3))
    with torch.no_grad():
        core = loaded.policy if kind is LSTMPolicy else loaded
        hidden = core.encode_observations(obs)
        for key, value in loaded.state_dict().items():  # the checkpoint round trip keeps every weight
            torch.testing.assert_close(value, after[key], rtol=0, atol=0)
    assert hidden.shape == (3, core.hidden_size)
    export(None, summary["checkpoint"], format="c", output=tmp_path / "c")  # every kind exports to C
    arch, tensors = read_weights(tmp_path / "c" / "policy.bin")
    assert [name for name, _ in tensors] == [name for name, _ in weight_tensors(loaded)]
    assert (arch["trunk"] is None) == (kind is Policy)


def test_a_checkpoint_from_before_the_encoder_settings_loads_as_an_mlp(tmp_path):
    summary, _, after = tiny_run(tmp_path, encoder="mlp", hidden_size=16)  # squared ships a CNN
    data = ckpt.load_checkpoint(summary["checkpoint"])
    for key in ("encoder", "obs_encoding"):
        del data["architecture"][key]
    for key in ("encoder", "obs_encoding", "cnn_channels", "cnn_kernels", "cnn_strides", "cnn_width"):
        del data["config"]["policy"][key]
    old = tmp_path / "old.pt"
    ckpt.save_checkpoint(old, {k: v for k, v in data.items() if k != "path"})
    policy, _ = ckpt.load_policy(old)
    assert type(policy) is Policy and policy.features.encoding == "float"


def random_weights(policy, seed=0, scaled=False):
    """Normal(0, 0.3) weights, or with `scaled` of std 1.5 / sqrt(fan-in): deep trunks (impala) keep
    their values near 1 then, where float32 rounding stays below the 1e-5 the comparisons allow."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for param in policy.parameters():
            fan_in = int(np.prod(param.shape[1:])) if param.dim() > 1 else 4
            param.normal_(0.0, 1.5 / fan_in ** 0.5 if scaled else 0.3)
    return policy.eval()


def conv_policy(lstm=False, encoder="nature_cnn", scaled=False):
    sizes = dict(channels=(4, 8), kernels=(3, 3), strides=(1, 2)) if encoder == "nature_cnn" else dict(channels=(4, 8))
    policy = ConvPolicy(GRID, ACTIONS, encoder, width=16, **sizes)
    return random_weights(LSTMPolicy(policy) if lstm else policy, scaled=scaled)


@pytest.mark.parametrize("make", [conv_policy, lambda: conv_policy(lstm=True), lambda: conv_policy(encoder="impala")])
def test_the_c_export_writes_each_conv_kind(tmp_path, make):
    """What the C code computes is compared with torch in tests/export/test_export_conv.py."""
    policy = make()
    export_policy(policy, "c", tmp_path)
    arch, tensors = read_weights(tmp_path / "policy.bin")
    assert arch["trunk"]["height"] == arch["trunk"]["width"] == 11 and arch["encoding"] == "onehot"
    assert arch["lstm"] == policy.recurrent and arch["hidden"] == 16
    for (name, got), (want_name, want) in zip(tensors, weight_tensors(policy), strict=True):
        assert name == want_name
        np.testing.assert_array_equal(got, want)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("make", [conv_policy, lambda: conv_policy(lstm=True), lambda: conv_policy(encoder="impala"),
                                  lambda: random_weights(Policy(GRID, ACTIONS, 16, obs_encoding="onehot"))])
def test_torchscript_export_of_each_kind_matches_the_module(tmp_path, make):
    policy = make()
    module = PolicyModule(policy)
    assert module.obs_size == 121
    (path,) = export_policy(policy, "torchscript", tmp_path)
    loaded = torch.jit.load(str(path))
    obs = torch.as_tensor(grid_rows(5, seed=3).reshape(5, -1), dtype=torch.float32)
    state = (torch.randn(5, module.state_size), torch.randn(5, module.state_size)) if module.recurrent else ()
    with torch.no_grad():
        for got, want in zip(loaded(obs, *state), module(obs, *state)):
            torch.testing.assert_close(got, want)
        if not module.recurrent:  # the flat float rows give what the policy gives on the env's uint8 rows
            torch.testing.assert_close(module(obs)[0], policy(torch.as_tensor(grid_rows(5, seed=3)))[0])


@pytest.mark.parametrize("make", [conv_policy, lambda: conv_policy(lstm=True),
                                  lambda: conv_policy(encoder="impala", scaled=True),
                                  lambda: conv_policy(lstm=True, encoder="impala", scaled=True),
                                  lambda: random_weights(Policy(GRID, ACTIONS, 16, obs_encoding="onehot"))])
def test_onnx_export_of_each_kind_matches_the_module(tmp_path, make):
    runtime = pytest.importorskip("onnxruntime")
    for name in ("onnx", "onnxscript"):
        pytest.importorskip(name)
    policy = make()
    module = PolicyModule(policy)
    (path,) = export_policy(policy, "onnx", tmp_path)
    obs = grid_rows(4, seed=5).reshape(4, -1).astype(np.float32)
    feeds = {"observation": obs}
    if module.recurrent:
        feeds.update(h=np.zeros((4, module.state_size), np.float32), c=np.zeros((4, module.state_size), np.float32))
    got = runtime.InferenceSession(str(path)).run(None, feeds)
    with torch.no_grad():
        want = module(*(torch.as_tensor(v) for v in feeds.values()))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-5, atol=1e-5)
