"""`puffer export` run as a user would, in a subprocess."""
import subprocess
import sys

import pytest


def puffer(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pufferlib.cli", *args], capture_output=True, text=True,
                          timeout=180, cwd=cwd)


def test_export_c_latest(cartpole_run, tmp_path):
    data_dir, _ = cartpole_run
    result = puffer("export", "cartpole", "--checkpoint", "latest", "--data-dir", str(data_dir), "--format", "c",
                    "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "exported cartpole (c)" in result.stdout and "policy.bin" in result.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["policy.bin", "puffer_policy.c",
                                                                   "puffer_policy.h"]


def test_export_torchscript_checkpoint_path(cartpole_run, tmp_path):
    _, summary = cartpole_run
    result = puffer("export", "cartpole", "--checkpoint", summary["checkpoint"], "--format", "torchscript",
                    "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "policy.pt").is_file()


@pytest.mark.parametrize("args, message", [
    (("--checkpoint", "{tmp}/missing.pt"), "no checkpoint at"),
    (("--checkpoint", "latest", "--data-dir", "{tmp}"), "no checkpoint of 'cartpole' under"),
    (("--checkpoint", "{ckpt}", "--format", "tflite"), "unknown export format 'tflite'; choose one of c, onnx"),
    (("--checkpoint", "{ckpt}", "-o", "{tmp}/a_file"), "is a file; pass a directory"),
])
def test_export_errors_are_one_clear_line(cartpole_run, tmp_path, args, message):
    _, summary = cartpole_run
    (tmp_path / "a_file").write_text("")
    args = [a.format(tmp=tmp_path, ckpt=summary["checkpoint"]) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "out")]
    result = puffer("export", "cartpole", *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
