"""Checkpoints: written atomically, checked against the environment and policy they are loaded into.

A run directory (`runs/ENV-DATE-TIME` by default) holds `config.toml`-like `config.json`, the
`metrics.jsonl` log, and `checkpoints/step_<global step>.pt` files. A checkpoint is a dict saved
with `torch.save`: the format tag and version, the environment spec, the resolved config, the
environment's spaces and layouts (`spec`), the policy's architecture and weights, the optimizer state,
the step counters, the RNG states and, for native environments, a snapshot of the environments so a
resumed run continues exactly. The spaces and the config are enough to rebuild the policy
(`load_policy`): evaluating and exporting never build the environment only to look at it, and
exporting needs no environment at all.

A checkpoint holds plain data only (tensors, numbers, strings, bytes, lists, tuples, dicts, None)
and is read with `torch.load(weights_only=True)`, so a file planted or swapped under the data
directory cannot run code when it is loaded: it is refused. Its keys are checked once, as it is
read; the writer refuses weights or optimizer state that hold NaN or inf.
"""
import json
import os
import pickle
import re
from pathlib import Path

import numpy as np
import torch

from pufferlib.emulation import EnvSpec
from pufferlib.errors import CheckpointError
from pufferlib.vector.multiprocessing import process_alive

__all__ = ["FORMAT", "VERSION", "check_compatible", "check_env_spec", "find_latest",
           "list_checkpoints", "load_checkpoint", "load_policy", "load_policy_state", "plain", "read_spec",
           "resolve_checkpoint", "run_env", "save_checkpoint", "to_numpy"]

FORMAT = "pufferlib-checkpoint"
VERSION = 2  # 2: the environment's spaces and layouts (`spec`), so a policy is rebuilt without the env
_STEP = re.compile(r"^step_(\d+)\.pt$")
_TEMPORARY = re.compile(r"^\..+\.tmp(\d+)$")  # save_checkpoint's `.NAME.tmpPID`

# What every checkpoint holds, checked as it is read: a nested dict is a dict with (at least) those
# keys. One clear line for a damaged file, instead of a KeyError in the middle of a restore.
_SCHEMA = {"env": str, "config": dict,
           "spec": {"observation_space": dict, "action_space": dict, "single_observation_space": dict,
                    "single_action_space": dict, "agents_per_env": int, "observation_layout": list,
                    "action_layout": list},
           "architecture": dict, "policy": dict, "learner": {"kind": str},
           "global_step": int, "iteration": int, "elapsed": (int, float), "envs": (list, type(None)),
           "rng": {"torch": torch.Tensor, "sampler": torch.Tensor},
           "carry": {"next_starts": torch.Tensor, "state": (list, type(None))}}
_PLAIN = (torch.Tensor, str, bytes, bool, int, float, type(None))


def save_checkpoint(path, payload):
    """Writes `payload` to `path` atomically: a temporary file in the same directory, then a rename.

    A crash or Ctrl-C during the write leaves the previous checkpoint intact; the temporary files
    of writers that were killed are removed by the next write into the same directory. Numpy arrays
    are stored as tensors (see `plain`).

    Raises:
        CheckpointError: the policy weights or the learner state hold NaN or inf (the previous
            checkpoint stays the latest).
        TypeError: the payload holds something that is not plain data.
    """
    path = Path(path)
    data = plain({"format": FORMAT, "version": VERSION, **payload}, "the checkpoint")
    for key in ("policy", "learner"):
        bad = _first_non_finite(data.get(key), key)
        if bad is not None:
            raise CheckpointError(f"refusing to write {path}: {bad} holds NaN or inf, so training has "
                                  "diverged; the last checkpoint written stays the latest (lower "
                                  "train.learning_rate, or check the environment's rewards and observations)")
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path.parent)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save(data, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def plain(value, where="value"):
    """`value` as the plain data a checkpoint holds: numpy arrays become tensors, numpy scalars numbers.

    Containers are rebuilt only where something inside them changed, so state dicts keep their type.

    Args:
        value: tensors, numbers, strings, bytes, None, numpy arrays and scalars, in lists, tuples
            and dicts.
        where: what `value` is, for the error message.

    Raises:
        TypeError: `value` holds anything else (it could not be read back with weights_only=True).

    Example:
        >>> plain({"a": np.zeros(2, np.float32), "b": [np.int64(3)]})
        {'a': tensor([0., 0.]), 'b': [3]}
    """
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict):
        items = {key: plain(item, f"{where}[{key!r}]") for key, item in value.items()}
        return value if all(items[key] is item for key, item in value.items()) else items
    if isinstance(value, (list, tuple)):
        items = [plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return value if all(a is b for a, b in zip(items, value)) else type(value)(items)
    raise TypeError(f"{where} is a {type(value).__name__}; a checkpoint holds tensors, numbers, strings, "
                    "bytes, lists and dicts only (convert it to one of those)")


def to_numpy(value):
    """The reverse of `plain` for state that lives in numpy (environment snapshots): tensors become arrays."""
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {key: to_numpy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_numpy(item) for item in value)
    return value


def _first_non_finite(value, where):
    """The name of the first floating-point tensor in `value` holding NaN or inf, or None."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return where
    elif isinstance(value, dict):
        for key, item in value.items():
            if (bad := _first_non_finite(item, f"{where}[{key!r}]")) is not None:
                return bad
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if (bad := _first_non_finite(item, f"{where}[{i}]")) is not None:
                return bad
    return None


def _remove_stale_temporaries(folder):
    """Removes the temporary files of checkpoint writes whose process is gone (killed mid-write)."""
    for entry in folder.iterdir():
        match = _TEMPORARY.match(entry.name)
        # this process writes one checkpoint at a time, so a temporary with its own pid is a leftover
        # of an earlier process that had the same pid
        if match and (int(match.group(1)) == os.getpid() or not process_alive(int(match.group(1)))):
            try:
                entry.unlink()
            except OSError:  # removed meanwhile, or not ours to remove
                pass


def load_checkpoint(path):
    """Reads a checkpoint written by `save_checkpoint`, with `torch.load(weights_only=True)`.

    Raises:
        CheckpointError: no such file; a file that is not a pufferlib checkpoint of a version this
            pufferlib reads; one that holds Python objects other than plain data (which could run
            code as they are unpickled: nothing of the file runs); a key missing or of the wrong type.
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
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a file that is not a checkpoint
        # weights_only refuses every global (a function or class to call) outside its allow-list
        found = isinstance(e, pickle.UnpicklingError) and re.search(r"GLOBAL ([\w.]+)", str(e))
        if found:
            raise CheckpointError(f"{path} holds Python objects that are not plain data ({found.group(1)}); "
                                  "pufferlib checkpoints hold tensors, numbers, strings and lists only; "
                                  "refusing to load it") from None
        if _is_zip(path):  # what torch.save writes, cut short or changed on its way
            raise CheckpointError(f"{path} is not a readable checkpoint: it is damaged or truncated "
                                  f"({_reason(e)}); use another checkpoint of the run") from None
        raise CheckpointError(f"{path} is not a readable checkpoint: it is not a file torch.save wrote "
                              f"({_reason(e)})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a pufferlib checkpoint")
    version = data.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version < VERSION:
        raise CheckpointError(f"{path} is a version {version} checkpoint, written before checkpoints held "
                              f"their environment's spaces; this pufferlib reads version {VERSION}: train "
                              "the policy again, or use the pufferlib that wrote it")
    if version != VERSION:
        raise CheckpointError(f"{path} is a version {version} checkpoint; this pufferlib reads "
                              f"version {VERSION} (upgrade pufferlib to read it)")
    _check_schema(data, _SCHEMA, path, "")
    for name, value in data["policy"].items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path} is damaged: policy[{name!r}] must be a tensor, got "
                                  f"{type(value).__name__}")
    data["path"] = str(path)
    read_spec(data)  # a damaged spec is refused here, not when the policy is rebuilt
    return data


def _is_zip(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _reason(error):
    """The gist of torch.load's error, in one line (its messages run to paragraphs of advice)."""
    text = str(error).split("WeightsUnpickler error:")[-1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0].split('. ')[0] if lines else 'the file ends early'}"


def _check_schema(data, schema, path, prefix):
    for key, kind in schema.items():
        name = f"{prefix}{key}"
        if key not in data:
            raise CheckpointError(f"{path} is damaged: it has no {name!r} (a pufferlib checkpoint holds "
                                  f"{', '.join(schema)}{' under ' + repr(prefix[:-1]) if prefix else ''})")
        value = data[key]
        if isinstance(kind, dict):
            if not isinstance(value, dict):
                raise CheckpointError(f"{path} is damaged: {name!r} must be a dict, got "
                                      f"{type(value).__name__}")
            _check_schema(value, kind, path, f"{name}.")
        elif not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            expected = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise CheckpointError(f"{path} is damaged: {name!r} must be {expected}, got "
                                  f"{type(value).__name__}")


def load_policy_state(policy, checkpoint):
    """Loads a checkpoint's weights into `policy` (built with `check_compatible`'s architecture).

    Raises:
        CheckpointError: the weights do not fit the policy (names or shapes differ).
    """
    try:
        policy.load_state_dict(checkpoint["policy"])
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        reason = " ".join(str(e).split())
        raise CheckpointError(f"{checkpoint.get('path', 'the checkpoint')} is damaged: its policy weights do "
                              f"not fit the policy its architecture describes ({reason})") from None


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
    from pufferlib.train.policies import ARCHITECTURE_DEFAULTS

    # keys added since a checkpoint was written take the value that checkpoint was built with
    theirs = {**ARCHITECTURE_DEFAULTS, **checkpoint.get("architecture", {})}
    diffs = [f"{key}: checkpoint {theirs.get(key)!r}, here {value!r}" for key, value in architecture.items()
             if theirs.get(key) != value]
    if diffs:
        raise CheckpointError(f"{where} holds a different policy or spaces ({'; '.join(diffs)}); "
                              "use the settings it was trained with (its config is in the run directory)")


def resolve_checkpoint(env, checkpoint, data_dir="runs"):
    """The checkpoint file meant by `checkpoint`: a path, a run directory, or 'latest' for `env`.

    'latest' is found by the ENV spec recorded in each run's config.json: the environment is never
    imported.

    Raises:
        CheckpointError: 'latest' and no run of `env` under `data_dir` has a checkpoint.
        ValueError: 'latest' without an `env`.
    """
    if checkpoint == "latest":
        if env is None:
            raise ValueError("checkpoint 'latest' means the newest checkpoint of an environment: pass env, "
                             "or a checkpoint file or run directory")
        return find_latest(data_dir, env)
    return Path(checkpoint)


def read_spec(checkpoint):
    """The `pufferlib.emulation.EnvSpec` a checkpoint stores: spaces rebuilt, layouts checked.

    Raises:
        CheckpointError: a stored space that is not one, or layouts that differ from those the
            checkpoint was written with (a damaged checkpoint).
    """
    try:
        return EnvSpec.from_plain(checkpoint["spec"])
    except ValueError as error:
        raise CheckpointError(f"{checkpoint.get('path', 'the checkpoint')} is damaged: {error}") from None


def check_env_spec(checkpoint, env, env_spec):
    """Raises CheckpointError when an environment's spaces differ from those a checkpoint was trained on.

    Args:
        checkpoint: a dict from `load_checkpoint`.
        env: the ENV spec of the environment, for the message.
        env_spec: the vector env's `env_spec`.
    """
    diffs = read_spec(checkpoint).differences(env_spec, "checkpoint", env)
    if diffs:
        raise CheckpointError(f"{checkpoint.get('path', 'the checkpoint')} was trained on other spaces than "
                              f"{env} has ({'; '.join(diffs)}); use the environment code and parameters it "
                              "was trained with (its config is in the run directory)")


def load_policy(checkpoint="latest", env=None, data_dir="runs"):
    """The policy a checkpoint holds, rebuilt from the checkpoint alone, weights loaded, in eval mode.

    The architecture comes from the checkpoint's config and its spaces and layouts from its `spec`:
    no environment is built or imported, so this works where the environment's code is missing.

    Args:
        checkpoint: a checkpoint file, a run directory (its newest checkpoint), 'latest' (the newest
            checkpoint of `env` under `data_dir`), or a dict from `load_checkpoint`.
        env: the ENV spec the checkpoint must have been trained on; None accepts any (and then
            `checkpoint` cannot be 'latest').
        data_dir: where 'latest' looks.

    Returns:
        (policy on the CPU, checkpoint dict).

    Raises:
        CheckpointError: missing, unreadable, damaged or incompatible checkpoint.

    Example:
        >>> policy, data = load_policy("latest", "cartpole", data_dir="runs")  # doctest: +SKIP
        >>> policy.training  # doctest: +SKIP
        False
    """
    from pufferlib.train.config import Config
    from pufferlib.train.policies import architecture, make_policy

    data = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(
        resolve_checkpoint(env, checkpoint, data_dir))
    config = Config.from_dict(data["config"], source=f"the config saved in {data['path']}")
    spec = read_spec(data)
    policy = make_policy(config.policy, spec)
    check_compatible(data, data["env"] if env is None else env,
                     architecture(config.policy, policy, spec.single_observation_space,
                                  spec.single_action_space))
    load_policy_state(policy, data)
    policy.eval()
    return policy, data
