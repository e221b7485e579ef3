"""Checkpoints: written atomically, checked against the environment and policy they are loaded into.

A run directory (`runs/ENV-DATE-TIME` by default) holds `config.toml`-like `config.json`, the
`metrics.jsonl` log, and `checkpoints/step_<global step>.pt` files. A checkpoint is a dict saved
with `torch.save`: the format tag and version, the environment spec, the resolved config, the
policy's architecture and weights, the optimizer state, the step counters, the RNG states and, for
native environments, a snapshot of the environments so a resumed run continues exactly.
"""
import json
import os
import re
from pathlib import Path

import torch

from pufferlib.errors import CheckpointError

__all__ = ["FORMAT", "VERSION", "check_compatible", "find_latest", "list_checkpoints", "load_checkpoint",
           "run_env", "save_checkpoint"]

FORMAT = "pufferlib-checkpoint"
VERSION = 1
_STEP = re.compile(r"^step_(\d+)\.pt$")


def save_checkpoint(path, payload):
    """Writes `payload` to `path` atomically: a temporary file in the same directory, then a rename.

    A crash or Ctrl-C during the write leaves the previous checkpoint intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save({"format": FORMAT, "version": VERSION, **payload}, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path):
    """Reads a checkpoint written by `save_checkpoint`.

    Raises:
        CheckpointError: no such file, or a file that is not a pufferlib checkpoint of a version
            this pufferlib reads.
    """
    path = Path(path)
    if path.is_dir():
        found = list_checkpoints(path)
        if not found:
            raise CheckpointError(f"{path} holds no checkpoints (expected {path}/checkpoints/step_*.pt)")
        path = found[-1]
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}; pass a .pt file, a run directory, or 'latest'")
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises many kinds for a file that is not a checkpoint
        raise CheckpointError(f"{path} is not a readable checkpoint: {type(e).__name__}: {e}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a pufferlib checkpoint")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path} is a version {data.get('version')} checkpoint; this pufferlib reads "
                              f"version {VERSION}")
    data["path"] = str(path)
    return data


def list_checkpoints(run_dir):
    """The checkpoints of a run directory, oldest (lowest step) first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP.match(p.name))]
    return [p for _, p in sorted(found)]


def run_env(run_dir):
    """The ENV spec a run directory was trained on (from its config.json), or None."""
    try:
        return json.loads((Path(run_dir) / "config.json").read_text())["env"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find_latest(data_dir, env):
    """The newest checkpoint (by modification time) of any run of `env` under `data_dir`.

    Raises:
        CheckpointError: no run of this environment has a checkpoint there.
    """
    data_dir = Path(data_dir)
    candidates = []
    if data_dir.is_dir():
        for run in data_dir.iterdir():
            if run.is_dir() and run_env(run) == env:
                candidates += list_checkpoints(run)
    if not candidates:
        raise CheckpointError(f"no checkpoint of {env!r} under {data_dir}/ (train one with `puffer train "
                              f"{env}`, or pass --data-dir or --checkpoint PATH)")
    return max(candidates, key=lambda p: p.stat().st_mtime_ns)


def check_compatible(checkpoint, env, architecture):
    """Raises CheckpointError when a checkpoint was written for another environment or policy.

    Args:
        checkpoint: a dict from `load_checkpoint`.
        env: the ENV spec it is being loaded for.
        architecture: the policy description it must match (see Trainer's `architecture`).
    """
    where = checkpoint.get("path", "the checkpoint")
    if checkpoint.get("env") != env:
        raise CheckpointError(f"{where} was trained on {checkpoint.get('env')!r}, not {env!r}")
    theirs = checkpoint.get("architecture", {})
    diffs = [f"{key}: checkpoint {theirs.get(key)!r}, here {value!r}" for key, value in architecture.items()
             if theirs.get(key) != value]
    if diffs:
        raise CheckpointError(f"{where} holds a different policy or spaces ({'; '.join(diffs)}); "
                              "use the settings it was trained with (its config is in the run directory)")
