"""Checkpoints: plain data read with weights_only=True, keys checked at load, finite weights at write,
no temporaries left behind by killed writers."""
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch

import pufferlib
import pufferlib.train as T
import pufferlib.vector
from pufferlib.emulation import ActionLayout, EnvSpec, Layout
from pufferlib.errors import CheckpointError
from pufferlib.train import Trainer
from pufferlib.train import checkpoint as ckpt
from pufferlib.train.checkpoint import (
    FORMAT,
    VERSION,
    find_latest,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from pufferlib.train.evaluate import evaluate


def puffer(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pufferlib.cli", *args], capture_output=True, text=True,
                          timeout=180, cwd=cwd)


def small_trainer(data_dir, env="cartpole", resume=None):
    config = T.load_config(env)
    config.train.total_timesteps = 2048
    return Trainer(env, config, data_dir=data_dir, resume=resume, dashboard=False, stream=io.StringIO())


@pytest.fixture(scope="module")
def cartpole_checkpoint(tmp_path_factory):
    """A real checkpoint: CartPole with the C kernel learner and native env snapshots (numpy state)."""
    with small_trainer(tmp_path_factory.mktemp("ckpt")) as t:
        return t.train()["checkpoint"]


class _Planted:
    """Unpickling it calls `function(*args)`: the payload of a malicious checkpoint."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


PAYLOADS = {  # (function, its argument that creates the marker file {marker})
    "os.system": (os.system, "touch {marker}"),
    "exec": (exec, "open({marker!r}, 'w').close()"),
}


def plant(path, marker, payload="os.system"):
    """A checkpoint that looks like pufferlib's but creates `marker` if it is ever unpickled."""
    function, argument = PAYLOADS[payload]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": FORMAT, "version": VERSION, "env": "cartpole",
                "policy": _Planted(function, argument.format(marker=str(marker)))}, path)
    return path


def damaged(source, target, change):
    data = torch.load(source, weights_only=True)
    change(data)
    torch.save(data, target)
    return target


# -- plain data, read with weights_only=True ------------------------------------------------------

def test_a_trained_checkpoint_holds_plain_data_only(cartpole_checkpoint):
    data = torch.load(cartpole_checkpoint, weights_only=True)
    assert isinstance(data["learner"]["adam"]["exp_avg/actor.0.weight"], torch.Tensor)
    (snapshot,) = data["envs"]
    assert isinstance(snapshot["observations"], torch.Tensor) and isinstance(snapshot["envs"], bytes)


def test_resuming_restores_the_environments_as_numpy(cartpole_checkpoint, tmp_path):
    with small_trainer(tmp_path, resume=cartpole_checkpoint) as t:
        saved = torch.load(cartpole_checkpoint, weights_only=True)["envs"][0]["observations"].numpy()
        np.testing.assert_array_equal(t.groups[0].env.observations, saved)


def test_plain_turns_numpy_into_tensors_and_numbers():
    value = ckpt.plain({"a": np.arange(3, dtype=np.int32), "b": [np.float32(0.5), "s", b"x", None]})
    assert torch.equal(value["a"], torch.tensor([0, 1, 2], dtype=torch.int32))
    assert value["b"] == [0.5, "s", b"x", None] and type(value["b"][0]) is float


def test_save_refuses_an_object_that_is_not_plain_data(tmp_path):
    with pytest.raises(TypeError, match=r"the checkpoint\['extra'\]\[0\] is a set; a checkpoint holds tensors"):
        save_checkpoint(tmp_path / "step_1.pt", {"extra": [{1, 2}]})
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("payload, name", [("os.system", r"(posix|nt)\.system"), ("exec", "exec")])
def test_load_refuses_a_pickled_function_and_runs_nothing(tmp_path, payload, name):
    marker = tmp_path / "ran"
    path = plant(tmp_path / "evil.pt", marker, payload)
    with pytest.raises(CheckpointError, match=rf"evil.pt holds Python objects that are not plain data \({name}\); "
                                              "pufferlib checkpoints hold tensors, numbers, strings and lists only"):
        load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("command", [
    ("eval", "cartpole", "--checkpoint", "{path}"),
    ("eval", "cartpole", "--checkpoint", "latest", "--data-dir", "{data}"),
    ("export", "cartpole", "--checkpoint", "{path}", "-o", "{tmp}/out"),
    ("export", "cartpole", "--checkpoint", "latest", "--data-dir", "{data}", "-o", "{tmp}/out"),
    ("train", "cartpole", "--resume", "{path}", "--data-dir", "{data}"),
    ("train", "cartpole", "--resume", "{run}", "--data-dir", "{data}"),
])
def test_the_cli_refuses_a_malicious_checkpoint_in_one_line_and_runs_nothing(tmp_path, command):
    marker = tmp_path / "ran"
    run = tmp_path / "data" / "cartpole-20250101-000000"  # what `latest` finds: a run of cartpole
    path = plant(run / "checkpoints" / "step_000000004096.pt", marker)
    (run / "config.json").write_text(json.dumps({"env": "cartpole"}))
    args = [a.format(path=path, data=tmp_path / "data", tmp=tmp_path, run=run) for a in command]
    result = puffer(*args, cwd=tmp_path)
    assert not marker.exists()
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"puffer: error: {path} holds Python objects that are not plain data (posix.system); pufferlib "
        "checkpoints hold tensors, numbers, strings and lists only; refusing to load it"]


# -- what a damaged checkpoint says ----------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("rng"), r"is damaged: it has no 'rng' \(a pufferlib checkpoint holds env, config, "),
    (lambda d: d["carry"].pop("next_starts"), r"is damaged: it has no 'carry.next_starts' \(.* under 'carry'\)"),
    (lambda d: d["learner"].pop("kind"), r"is damaged: it has no 'learner.kind'"),
    (lambda d: d.update(global_step="12"), r"is damaged: 'global_step' must be int, got str"),
    (lambda d: d.update(envs=3), r"is damaged: 'envs' must be list or NoneType, got int"),
    (lambda d: d.update(carry=[]), r"is damaged: 'carry' must be a dict, got list"),
    (lambda d: d["policy"].update({"actor.0.weight": [1.0]}), r"is damaged: policy\['actor.0.weight'\] must be a "
                                                              "tensor, got list"),
    (lambda d: d.pop("spec"), r"is damaged: it has no 'spec' \(a pufferlib checkpoint holds env, config, spec, "),
    (lambda d: d["spec"].pop("action_space"), r"is damaged: it has no 'spec.action_space' \(.* under 'spec'\)"),
    (lambda d: d["spec"].update(observation_layout="Box"), r"is damaged: 'spec.observation_layout' must be list, "
                                                          "got str"),
    (lambda d: d["spec"]["observation_space"].update(type="Text"), r"is damaged: spec.observation_space is not a "
                                                                  "stored space: .* got type 'Text'$"),
    (lambda d: d["spec"]["single_action_space"].pop("n"), r"is damaged: spec.single_action_space is a stored "
                                                          "Discrete without its n$"),
    (lambda d: d["spec"]["observation_space"].update(shape=[5]), r"is damaged: spec.observation_space is a malformed "
                                                                 "stored Box: "),
    (lambda d: d["spec"]["action_space"].update(n=3), r"is damaged: spec.action_layout does not match the layout of "
                                                      r"its action space Discrete\(3\)$"),
])
def test_load_names_a_missing_or_mistyped_key(cartpole_checkpoint, tmp_path, change, message):
    path = damaged(cartpole_checkpoint, tmp_path / "step_1.pt", change)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


@pytest.mark.parametrize("version, message", [
    (1, r"is a version 1 checkpoint, written before checkpoints held their environment's spaces; this pufferlib "
        "reads version 2: train the policy again, or use the pufferlib that wrote it$"),
    (3, r"is a version 3 checkpoint; this pufferlib reads version 2 \(upgrade pufferlib to read it\)$"),
])
def test_load_refuses_another_version_saying_what_to_do(cartpole_checkpoint, tmp_path, version, message):
    path = damaged(cartpole_checkpoint, tmp_path / "step_1.pt", lambda d: d.update(version=version))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_load_refuses_a_truncated_checkpoint(cartpole_checkpoint, tmp_path):
    data = open(cartpole_checkpoint, "rb").read()
    (tmp_path / "cut.pt").write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut.pt is not a readable checkpoint: it is damaged or truncated "
                                              r"\(\w+: .+\); use another checkpoint of the run$"):
        load_checkpoint(tmp_path / "cut.pt")


def test_load_refuses_a_file_that_is_not_a_checkpoint(tmp_path):
    (tmp_path / "notes.pt").write_text("hello")
    with pytest.raises(CheckpointError, match=r"notes.pt is not a readable checkpoint: it is not a file torch.save "
                                              r"wrote \(\w+: .+\)$"):
        load_checkpoint(tmp_path / "notes.pt")


def test_eval_of_a_checkpoint_missing_a_key_is_one_line(cartpole_checkpoint, tmp_path):
    path = damaged(cartpole_checkpoint, tmp_path / "step_1.pt", lambda d: d.pop("policy"))
    result = puffer("eval", "cartpole", "--checkpoint", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"puffer: error: {path} is damaged: it has no 'policy' (a "
                                                  "pufferlib checkpoint holds env, config, spec, architecture, policy, "
                                                  "learner, global_step, iteration, elapsed, envs, rng, carry)"]


def test_weights_that_do_not_fit_their_architecture_are_refused(cartpole_checkpoint, tmp_path):
    path = damaged(cartpole_checkpoint, tmp_path / "step_1.pt", lambda d: d["policy"].pop("actor.0.bias"))
    with pytest.raises(CheckpointError, match=r"is damaged: its policy weights do not fit the policy its "
                                              r"architecture describes \(.*Missing key\(s\).*actor.0.bias"):
        evaluate("cartpole", path, episodes=1)


def test_resume_refuses_a_learner_state_that_does_not_fit(cartpole_checkpoint, tmp_path):
    path = damaged(cartpole_checkpoint, tmp_path / "step_1.pt",
                   lambda d: d["learner"]["adam"].pop("exp_avg/actor.0.weight"))
    with pytest.raises(CheckpointError, match=r"is damaged: its training state does not fit this run \(ValueError: "
                                              r"state must have the keys of state_dict\(\); missing"):
        small_trainer(tmp_path, resume=path)


# -- the environment's spaces, and the policy rebuilt from them -------------------------------------

def test_a_checkpoint_holds_the_spaces_and_layouts_of_its_env(cartpole_checkpoint):
    data = torch.load(cartpole_checkpoint, weights_only=True)
    assert data["version"] == VERSION == 2
    assert data["spec"]["observation_space"]["type"] == "Box" and data["spec"]["action_space"]["type"] == "Discrete"
    spec = ckpt.read_spec(load_checkpoint(cartpole_checkpoint))
    with pufferlib.make("cartpole") as env:
        assert spec.single_observation_space == env.single_observation_space
        assert spec.single_action_space == env.single_action_space
        assert spec.observation_layout.signature() == Layout(env.single_observation_space).signature()
        assert spec.action_layout.signature() == ActionLayout(env.single_action_space).signature()


def test_load_policy_needs_no_environment(cartpole_checkpoint, monkeypatch):
    def no_env(*args, **kwargs):
        raise AssertionError("load_policy built an environment")

    monkeypatch.setattr(pufferlib, "make", no_env)
    monkeypatch.setattr(pufferlib.vector, "make", no_env)
    policy, data = ckpt.load_policy(cartpole_checkpoint)
    assert not policy.training and data["env"] == "cartpole"
    for name, tensor in policy.state_dict().items():
        torch.testing.assert_close(tensor, data["policy"][name])


def test_load_policy_refuses_a_checkpoint_of_another_env(cartpole_checkpoint):
    with pytest.raises(CheckpointError, match="was trained on 'cartpole', not 'bandit'"):
        ckpt.load_policy(cartpole_checkpoint, "bandit")


def test_load_policy_latest_needs_the_env():
    with pytest.raises(ValueError, match="checkpoint 'latest' means the newest checkpoint of an environment: pass env"):
        ckpt.load_policy("latest")


def test_an_env_with_other_spaces_is_refused(cartpole_checkpoint):
    data = load_checkpoint(cartpole_checkpoint)
    obs = gymnasium.spaces.Box(-1, 1, (5,), np.float32)
    act = gymnasium.spaces.Discrete(2)
    with pytest.raises(CheckpointError, match=r"was trained on other spaces than cartpole has \(observation space: "
                                              r"checkpoint Box\(.*\(4,\), float32\), cartpole Box\(.*\(5,\), "
                                              r"float32\)\); use the environment code and parameters it was trained with"):
        ckpt.check_env_spec(data, "cartpole", EnvSpec(obs, act, 1, Layout(obs), ActionLayout(act)))
    spec = ckpt.read_spec(data)
    wide = gymnasium.spaces.Box(-1, 1, (2, 2), np.float32)  # same layout, another flat space
    with pytest.raises(CheckpointError, match=r"\(flat observation space: checkpoint Box\(.*\(4,\), float32\), "
                                              r"cartpole Box\(.*\(2, 2\), float32\)\)"):
        ckpt.check_env_spec(data, "cartpole", spec._replace(single_observation_space=wide))


def test_eval_refuses_an_env_whose_spaces_changed_since_training(tmp_path, monkeypatch):
    module = tmp_path / "puffer_changed_env.py"
    module.write_text("import gymnasium\n\ndef make():\n    return gymnasium.make('CartPole-v1')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = T.load_config("puffer_changed_env:make")
    config.update({"train": {"total_timesteps": 1024}, "vec": {"backend": "serial"}, "env": {"num_envs": 8}})
    with Trainer("puffer_changed_env:make", config, data_dir=tmp_path / "runs", dashboard=False,
                 stream=io.StringIO()) as t:
        path = t.train()["checkpoint"]
    module.write_text("import gymnasium\n\ndef make():\n    return gymnasium.make('MountainCar-v0')\n")
    monkeypatch.delitem(sys.modules, "puffer_changed_env")
    with pytest.raises(CheckpointError, match=r"was trained on other spaces than puffer_changed_env:make has "
                                              r"\(observation space: checkpoint Box\(.*\(4,\), float32\), "
                                              r"puffer_changed_env:make Box\(.*\(2,\), float32\); action space: checkpoint "
                                              r"Discrete\(2\), puffer_changed_env:make Discrete\(3\)\); use the "
                                              "environment code and parameters it was trained with"):
        evaluate("puffer_changed_env:make", path, episodes=1)


# -- a non-finite checkpoint is never written ---------------------------------------------------------

@pytest.mark.parametrize("payload, name", [
    ({"policy": {"w": torch.tensor([1.0, float("nan")])}}, r"policy\['w'\]"),
    ({"policy": {"w": torch.ones(2)}, "learner": {"optimizer": {"state": {0: {"exp_avg": torch.tensor([-np.inf])}}}}},
     r"learner\['optimizer'\]\['state'\]\[0\]\['exp_avg'\]"),
    ({"learner": {"adam": {"exp_avg/w": np.array([np.inf], np.float32)}}}, r"learner\['adam'\]\['exp_avg/w'\]"),
])
def test_save_refuses_non_finite_weights_or_optimizer_state(tmp_path, payload, name):
    with pytest.raises(CheckpointError, match=rf"refusing to write .*step_1.pt: {name} holds NaN or inf, so "
                                              "training has diverged; the last checkpoint written stays the latest"):
        save_checkpoint(tmp_path / "step_1.pt", payload)
    assert not list(tmp_path.iterdir())


def test_a_diverged_trainer_keeps_its_last_good_checkpoint_latest(tmp_path):
    with small_trainer(tmp_path) as t:
        good = t.train()["checkpoint"]
        with torch.no_grad():
            next(t.policy.parameters())[0] = float("inf")
        t.global_step += 1
        with pytest.raises(CheckpointError, match=r"policy\['.*'\] holds NaN or inf"):
            t.save()
        assert list_checkpoints(t.run_dir) == [find_latest(tmp_path, "cartpole")] == [Path(good)]


# -- temporaries of killed writers ------------------------------------------------------------------

def test_a_checkpoint_write_removes_temporaries_of_writers_that_are_gone(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = tmp_path / f".step_000000001024.pt.tmp{gone}"
        ours = tmp_path / f".step_000000002048.pt.tmp{os.getpid()}"  # an earlier process with this pid
        writing = tmp_path / f".step_000000001024.pt.tmp{alive.pid}"
        for temporary in (stale, ours, writing):
            temporary.write_bytes(b"half a checkpoint")
        save_checkpoint(tmp_path / "step_000000004096.pt", {"policy": {}})
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([writing.name, "step_000000004096.pt"])
    finally:
        alive.kill()
        alive.wait()
