"""Export from checkpoints; TorchScript and ONNX against the original module."""
import importlib.util

import gymnasium
import numpy as np
import pytest
import torch

from pufferlib.errors import CheckpointError
from pufferlib.export import ExportError, PolicyModule, export, export_policy, read_weights
from pufferlib.train.checkpoint import load_policy
from pufferlib.train.policies import LSTMPolicy
from tests.export.export_helpers import make_policy

# torch deprecates TorchScript but still loads it; the export is for runtimes that only read TorchScript
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")

POLICIES = [("discrete", False), ("multidiscrete", False), ("box", False), ("mixed", False), ("discrete", True),
            ("box", True), ("mixed", True)]


def inputs(module, rows=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    obs = torch.randn(rows, module.obs_size, generator=generator)
    if not module.recurrent:
        return (obs,)
    return obs, torch.randn(rows, module.state_size, generator=generator), torch.randn(
        rows, module.state_size, generator=generator)


def test_policy_module_matches_the_lstm_policy_step():
    policy = make_policy("multidiscrete", lstm=True)
    module = PolicyModule(policy)
    obs, h, c = inputs(module)
    with torch.no_grad():
        params, value, h2, c2 = module(obs, h, c)
        want_params, want_value, (want_h, want_c) = policy.step(obs, (h, c), torch.zeros(len(obs)))
    for got, want in ((params, want_params), (value, want_value), (h2, want_h), (c2, want_c)):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("action, lstm", POLICIES)
def test_torchscript_matches_the_module(tmp_path, action, lstm):
    policy = make_policy(action, lstm=lstm)
    (path,) = export_policy(policy, "torchscript", tmp_path)
    loaded = torch.jit.load(str(path))
    module = PolicyModule(policy)
    args = inputs(module, rows=9)  # another batch size than the one traced
    with torch.no_grad():
        for got, want in zip(loaded(*args), module(*args)):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("action, lstm", POLICIES)
def test_onnx_matches_the_module(tmp_path, action, lstm):
    runtime = pytest.importorskip("onnxruntime")
    for name in ("onnx", "onnxscript"):
        pytest.importorskip(name)
    policy = make_policy(action, lstm=lstm)
    (path,) = export_policy(policy, "onnx", tmp_path)
    module = PolicyModule(policy)
    args = inputs(module, rows=9)
    session = runtime.InferenceSession(str(path))
    names, outputs = module.names()
    got = session.run(outputs, {name: a.numpy() for name, a in zip(names, args)})
    with torch.no_grad():
        for g, want in zip(got, module(*args)):
            np.testing.assert_allclose(g, want.numpy(), rtol=0, atol=1e-5)


def test_onnx_without_its_packages_names_them(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("onnx", "onnxscript") else real(name, *a))
    with pytest.raises(ExportError, match=r"ONNX export needs the onnx and onnxscript packages, which are not "
                                          r"installed: pip install onnx onnxscript onnxruntime$"):
        export_policy(make_policy("discrete"), "onnx", tmp_path)


def test_load_policy_rebuilds_the_checkpoint(cartpole_run):
    data_dir, summary = cartpole_run
    policy, data = load_policy("latest", "cartpole", data_dir=data_dir)
    assert not policy.training and data["path"] == summary["checkpoint"]
    for name, tensor in policy.state_dict().items():
        torch.testing.assert_close(tensor, data["policy"][name])


def test_export_c_from_a_checkpoint_holds_its_weights(cartpole_run, tmp_path):
    data_dir, summary = cartpole_run
    files = export("cartpole", summary["checkpoint"], format="c", output=tmp_path / "out")
    assert {f.name for f in files} == {"policy.bin", "puffer_policy.h", "puffer_policy.c"}
    arch, tensors = read_weights(tmp_path / "out" / "policy.bin")
    assert arch["obs_size"] == 4 and arch["hidden"] == 32 and arch["nvec"].tolist() == [2]
    state = torch.load(summary["checkpoint"], weights_only=True)["policy"]
    np.testing.assert_array_equal(dict(tensors)["critic.1.weight"], state["critic.2.weight"].numpy())


def test_export_an_lstm_checkpoint(lstm_run, tmp_path):
    data_dir, _ = lstm_run
    policy, _ = load_policy("latest", "cartpole", data_dir=data_dir)
    assert isinstance(policy, LSTMPolicy)
    export("cartpole", "latest", data_dir=data_dir, format="c", output=tmp_path)
    arch, _ = read_weights(tmp_path / "policy.bin")
    assert arch["lstm"] and arch["hidden"] == 32
    (path,) = export("cartpole", "latest", data_dir=data_dir, format="torchscript", output=tmp_path)
    module = PolicyModule(policy)
    args = inputs(module)
    with torch.no_grad():
        for got, want in zip(torch.jit.load(str(path))(*args), module(*args)):
            torch.testing.assert_close(got, want)


def test_export_a_missing_checkpoint_raises_the_trainers_error(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        export("cartpole", tmp_path / "missing.pt", output=tmp_path / "out")
    with pytest.raises(CheckpointError, match="no checkpoint of 'cartpole' under"):
        export("cartpole", "latest", data_dir=tmp_path, output=tmp_path / "out")


def test_export_an_incompatible_checkpoint(cartpole_run, tmp_path):
    _, summary = cartpole_run
    with pytest.raises(CheckpointError, match="was trained on 'cartpole', not 'bandit'"):
        export("bandit", summary["checkpoint"], output=tmp_path)


@pytest.mark.parametrize("lstm", [False, True])
def test_onnx_of_a_nested_observation_policy_matches_the_module(tmp_path, lstm):
    """Dict observations of one dtype, which the C format refuses: ONNX takes their flat rows."""
    runtime = pytest.importorskip("onnxruntime")
    for name in ("onnx", "onnxscript"):
        pytest.importorskip(name)
    policy, layout = nested_policy({"a": gymnasium.spaces.Box(-1, 1, (3,)), "b": gymnasium.spaces.Box(0, 1, (2,))},
                                   lstm)
    module = PolicyModule(policy)
    assert not layout.packed and module.obs_dtype == torch.float32 and policy_features(policy).layout is not None
    (path,) = export_policy(policy, "onnx", tmp_path)
    feeds = {"observation": np.random.default_rng(0).uniform(-1, 1, (5, 5)).astype(np.float32)}
    if lstm:
        feeds.update(h=np.zeros((5, module.state_size), np.float32), c=np.ones((5, module.state_size), np.float32))
    got = runtime.InferenceSession(str(path)).run(None, feeds)
    with torch.no_grad():
        want = module(*(torch.as_tensor(v) for v in feeds.values()))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w.numpy(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("format", ["onnx", "torchscript"])
def test_export_refuses_packed_observation_rows_in_one_message(tmp_path, format):
    policy, layout = nested_policy({"a": gymnasium.spaces.Discrete(3), "b": gymnasium.spaces.Box(0, 1, (2,))})
    assert layout.packed  # int64 and float32 leaves in one uint8 row
    with pytest.raises(ExportError, match=rf"the {format} export cannot bit-cast observation rows: this policy's "
                                          r"nested observation space has leaves of several dtypes.* Give every leaf "
                                          r"one dtype"):
        export_policy(policy, format, tmp_path)


def nested_policy(leaves, lstm=False):
    """A small MLP policy on a Dict observation of `leaves`, and its layout."""
    from pufferlib.emulation import Layout
    from pufferlib.train.policies import Policy

    layout = Layout(gymnasium.spaces.Dict(leaves))
    torch.manual_seed(0)
    policy = Policy(layout.flat_space, gymnasium.spaces.Discrete(2), hidden_size=8, observation_layout=layout)
    return (LSTMPolicy(policy) if lstm else policy).eval(), layout


def policy_features(policy):
    return (policy.policy if policy.recurrent else policy).features
