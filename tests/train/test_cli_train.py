"""`puffer train` / `puffer eval` run as a user would, in subprocesses with tiny budgets."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pufferlib.train.logger import read_metrics


def puffer(*args, cwd=None, timeout=180):
    return subprocess.run([sys.executable, "-m", "pufferlib.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def test_train_then_eval_latest(tmp_path):
    result = puffer("train", "bandit", "--timesteps", "8192", "--seed", "3", "--data-dir", str(tmp_path),
                    "--train.learning_rate", "0.003", "--policy.hidden_size=16")
    assert result.returncode == 0, result.stderr
    assert "trained 8,192 steps" in result.stdout
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    saved = json.loads((run / "config.json").read_text())
    assert saved["env"] == "bandit" and saved["config"]["train"]["seed"] == 3
    assert saved["config"]["policy"]["hidden_size"] == 16
    assert read_metrics(run)[-1]["global_step"] == 8192
    result = puffer("eval", "bandit", "--checkpoint", "latest", "--data-dir", str(tmp_path), "--episodes", "20",
                    "--deterministic")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("bandit: 20 episodes, return 1 +- 0")


@pytest.mark.parametrize("args, message", [
    (("train", "bandit", "--train.nonsense", "1"), "unknown key train.nonsense"),
    (("train", "bandit", "--train.update_epochs", "two"), "train.update_epochs must be an integer, got 'two'"),
    (("train", "bandit", "--policy.activation", "gelu"), "policy.activation must be one of tanh, relu"),
    (("train", "bandit", "stray"), "unexpected argument 'stray'"),
    (("train", "nope"), "unknown environment 'nope'"),
    (("train", "bandit", "--config", "missing.toml"), "config file missing.toml does not exist"),
    (("eval", "bandit", "--checkpoint", "missing.pt"), "no checkpoint at missing.pt"),
    (("eval", "cartpole"), "no checkpoint of 'cartpole' under"),
    (("train", "bandit", "--resume", "missing-run"), "no checkpoint at missing-run"),
])
def test_bad_input_is_one_clear_line(tmp_path, args, message):
    result = puffer(*args, "--data-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_saves_a_checkpoint_and_resume_continues(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "pufferlib.cli", "train", "cartpole", "--timesteps", "100000000",
                             "--data-dir", str(tmp_path), "--log.interval", "0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob("*/metrics.jsonl")):
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in out and "Traceback" not in err
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    (checkpoint,) = (run / "checkpoints").iterdir()
    stopped_at = int(checkpoint.stem.split("_")[1])
    result = puffer("train", "cartpole", "--resume", str(run), "--timesteps", str(stopped_at + 4096))
    assert result.returncode == 0, result.stderr
    assert read_metrics(run)[-1]["global_step"] >= stopped_at + 4096


@pytest.mark.skipif(not hasattr(os, "fork"), reason="torchrun needs a POSIX system here")
def test_torchrun_two_cpu_ranks_average_gradients(tmp_path):
    script = tmp_path / "ranks.py"
    script.write_text(f"""
import io, os, torch
import pufferlib.train as T
config = T.load_config("bandit")
config.train.total_timesteps = 8192
config.train.kernel = "off"
with T.Trainer("bandit", config, data_dir={str(tmp_path)!r}, dashboard=False, stream=io.StringIO()) as t:
    summary = t.train()
    torch.save([p.detach() for p in t.policy.parameters()], {str(tmp_path)!r} + f"/rank{{t.rank}}.pt")
    print("rank", t.rank, "world", t.world_size, "steps", summary["global_step"])
""")
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rank 0 world 2 steps 8192" in result.stdout and "rank 1 world 2 steps 8192" in result.stdout
    import torch
    rank0, rank1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert all(torch.equal(a, b) for a, b in zip(rank0, rank1))  # all-reduced gradients keep ranks in step
    runs = [p for p in Path(tmp_path).iterdir() if p.is_dir()]
    assert len(runs) == 1 and list((runs[0] / "checkpoints").iterdir())  # rank 0 alone writes


def test_eval_records_a_video(tmp_path):
    pytest.importorskip("PIL")
    assert puffer("train", "squared", "--timesteps", "2048", "--env.size", "7", "--env.num_envs", "16",
                  "--train.minibatch_size", "256", "--data-dir", str(tmp_path)).returncode == 0
    video = tmp_path / "squared.gif"
    result = puffer("eval", "squared", "--data-dir", str(tmp_path), "--episodes", "2", "--video", str(video))
    assert result.returncode == 0, result.stderr
    from PIL import Image
    with Image.open(video) as gif:
        assert gif.n_frames > 1


@pytest.mark.parametrize("backend", ["serial", "multiprocessing"])
def test_eval_records_a_video_of_a_gymnasium_env(tmp_path, backend):
    """Python envs draw themselves: eval makes them with render_mode='rgb_array'."""
    pytest.importorskip("PIL")
    pytest.importorskip("pygame")  # Gymnasium's CartPole draws with it
    assert puffer("train", "gymnasium:CartPole-v1", "--timesteps", "1024", "--env.num_envs", "4",
                  "--train.minibatch_size", "64", "--vec.backend", backend,
                  "--data-dir", str(tmp_path)).returncode == 0
    video = tmp_path / "cartpole.gif"
    result = puffer("eval", "gymnasium:CartPole-v1", "--data-dir", str(tmp_path), "--episodes", "2",
                    "--video", str(video))
    assert result.returncode == 0, result.stderr
    from PIL import Image
    with Image.open(video) as gif:
        assert gif.n_frames > 5 and gif.size == (600, 400)


def test_eval_video_of_an_env_that_cannot_draw_is_one_clear_line(tmp_path):
    env = "tests.train.nested_env:make"  # a gymnasium.Env without render()
    assert puffer("train", env, "--timesteps", "512", "--env.num_envs", "2", "--train.minibatch_size", "64",
                  "--vec.backend", "serial", "--data-dir", str(tmp_path)).returncode == 0
    result = puffer("eval", env, "--data-dir", str(tmp_path), "--episodes", "1",
                    "--video", str(tmp_path / "out.gif"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "environment 0 drew no RGB frame: its render() returned None" in result.stderr
    assert not (tmp_path / "out.gif").exists()


def test_train_a_user_c_environment(tmp_path):
    from pufferlib.errors import BuildError
    from pufferlib.toolchain import compiler
    try:
        compiler()
    except BuildError:
        pytest.skip("no C compiler")
    assert puffer("new", "catch", "--dir", str(tmp_path)).returncode == 0
    source = tmp_path / "catch.c"
    result = puffer("train", str(source), "--timesteps", "4096", "--data-dir", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stderr
    result = puffer("eval", str(source), "--data-dir", str(tmp_path / "runs"), "--episodes", "4")
    assert result.returncode == 0, result.stderr
    assert "4 episodes" in result.stdout
