"""Export needs no environment: a checkpoint carries the spaces, layouts and architecture of its policy.

Each test trains briefly, then breaks the environment's code (a Python module that raises on import,
a C file and library that are gone) and exports from the checkpoint alone, in process and with the
`puffer` command, checking that the exported policy computes what the trained one did.
"""
import io
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

import pufferlib.train as T
from pufferlib.errors import BuildError
from pufferlib.export import PolicyModule, export, read_weights, weight_tensors
from pufferlib.train.checkpoint import load_policy

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")

MODULE = "puffer_gone_env"
SOURCE = '''
import gymnasium
import numpy as np
from gymnasium import spaces


class Nested(gymnasium.Env):
    # float32 leaves only: TorchScript cannot trace the byte views of rows that pack several dtypes
    observation_space = spaces.Dict(pos=spaces.Box(-1, 1, (3,), np.float32),
                                    more=spaces.Tuple((spaces.Box(0, 2, (2,), np.float32),)))
    action_space = spaces.Dict(choice=spaces.Discrete(4), push=spaces.Box(-1, 1, (1,), np.float32))

    def _obs(self):
        return {"pos": self.np_random.uniform(-1, 1, 3).astype(np.float32),
                "more": (self.np_random.uniform(0, 2, 2).astype(np.float32),)}

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), float(action["choice"] == 1), self.t == 5, False, {}


def flat():
    return gymnasium.make("CartPole-v1")


def nested():
    return Nested()
'''


def puffer(*args, cwd=None, pythonpath=None):
    env = None
    if pythonpath is not None:  # the broken module is importable (and raises) in the child too
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(pythonpath), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "pufferlib.cli", *args], capture_output=True, text=True,
                          timeout=180, cwd=cwd, env=env)


def train(spec, data_dir, **sections):
    """Trains `spec` for 2048 steps; returns (summary, the trained policy)."""
    config = T.load_config(spec)
    config.update({"train": {"total_timesteps": 2048}, **sections})
    with T.Trainer(spec, config, data_dir=data_dir, dashboard=False, stream=io.StringIO()) as trainer:
        return trainer.train(), trainer.policy


@pytest.fixture
def gone_module(tmp_path, monkeypatch):
    """A module:callable env module on sys.path; call the returned function to break it."""
    folder = tmp_path / "modules"
    folder.mkdir()
    path = folder / f"{MODULE}.py"
    path.write_text(SOURCE)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)

    def break_it():
        path.write_text("raise ImportError('this environment is gone')\n")
        shutil.rmtree(folder / "__pycache__", ignore_errors=True)
        sys.modules.pop(MODULE, None)
        with pytest.raises(ImportError, match="this environment is gone"):
            __import__(MODULE)
        return folder

    return break_it


def assert_same_outputs(exported, policy, rows=5):
    module = PolicyModule(policy).eval()
    generator = torch.Generator().manual_seed(0)
    obs = (torch.randn(rows, module.obs_size, generator=generator) if module.obs_dtype == torch.float32
           else torch.zeros(rows, module.obs_size, dtype=module.obs_dtype))
    with torch.no_grad():
        for got, want in zip(exported(obs), module(obs)):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_export_a_python_env_whose_module_is_gone(gone_module, tmp_path):
    spec = f"{MODULE}:flat"
    summary, trained = train(spec, tmp_path / "runs", vec={"backend": "serial"}, env={"num_envs": 8})
    folder = gone_module()
    files = export(spec, "latest", data_dir=tmp_path / "runs", format="c", output=tmp_path / "c")
    assert {f.name for f in files} == {"policy.bin", "puffer_policy.h", "puffer_policy.c"}
    _, tensors = read_weights(tmp_path / "c" / "policy.bin")
    for (name, got), (_, want) in zip(tensors, weight_tensors(trained), strict=True):
        np.testing.assert_array_equal(got, want, err_msg=name)

    result = puffer("export", spec, "--checkpoint", "latest", "--data-dir", str(tmp_path / "runs"), "--format",
                    "torchscript", "-o", str(tmp_path / "ts"), cwd=tmp_path, pythonpath=folder)
    assert result.returncode == 0, result.stderr
    assert f"exported {spec} (torchscript)" in result.stdout
    assert_same_outputs(torch.jit.load(str(tmp_path / "ts" / "policy.pt")), trained)


def test_export_a_nested_python_env_whose_module_is_gone(gone_module, tmp_path):
    spec = f"{MODULE}:nested"
    summary, trained = train(spec, tmp_path / "runs", vec={"backend": "serial"}, env={"num_envs": 8})
    folder = gone_module()
    # no ENV named: the checkpoint file says everything
    result = puffer("export", "--checkpoint", summary["checkpoint"], "--format", "torchscript",
                    "-o", str(tmp_path / "ts"), cwd=tmp_path, pythonpath=folder)
    assert result.returncode == 0, result.stderr
    assert f"exported {summary['checkpoint']} (torchscript)" in result.stdout
    assert_same_outputs(torch.jit.load(str(tmp_path / "ts" / "policy.pt")), trained)
    policy, data = load_policy(summary["checkpoint"])  # no env named: any checkpoint's own
    assert data["env"] == spec and policy.features.layout.space == trained.features.layout.space


def test_export_a_c_env_whose_source_and_library_are_gone(tmp_path):
    folder = tmp_path / "envs"
    made = puffer("new", "catch", "--dir", str(folder))
    assert made.returncode == 0, made.stderr
    spec = str(folder / "catch.c")
    try:
        summary, trained = train(spec, tmp_path / "runs", env={"num_envs": 8})
    except BuildError as error:
        pytest.skip(f"the C environment does not build here: {error}")
    shutil.rmtree(folder)
    export(spec, "latest", data_dir=tmp_path / "runs", format="c", output=tmp_path / "c")
    _, tensors = read_weights(tmp_path / "c" / "policy.bin")
    for (name, got), (_, want) in zip(tensors, weight_tensors(trained), strict=True):
        np.testing.assert_array_equal(got, want, err_msg=name)
    result = puffer("export", spec, "--checkpoint", summary["checkpoint"], "--format", "torchscript",
                    "-o", str(tmp_path / "ts"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert_same_outputs(torch.jit.load(str(tmp_path / "ts" / "policy.pt")), trained)


def test_export_of_latest_without_an_env_is_one_line(tmp_path):
    result = puffer("export", "--data-dir", str(tmp_path), "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "puffer: error: checkpoint 'latest' means the newest checkpoint of an environment: pass env, or a "
        "checkpoint file or run directory"]
    assert not (tmp_path / "out").exists()


def test_a_version_1_checkpoint_is_refused_in_one_line(tmp_path):
    path = tmp_path / "step_1.pt"
    torch.save({"format": "pufferlib-checkpoint", "version": 1, "env": "cartpole"}, path)
    result = puffer("export", "cartpole", "--checkpoint", str(path), "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"puffer: error: {path} is a version 1 checkpoint, written before checkpoints held their environment's "
        "spaces; this pufferlib reads version 2: train the policy again, or use the pufferlib that wrote it"]
