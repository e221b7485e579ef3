"""Exporting a trained policy to run without pufferlib: plain C, ONNX or TorchScript.

`export(env, checkpoint, format=..., output=DIR)` rebuilds the policy a checkpoint was trained with
from the checkpoint alone (`pufferlib.train.checkpoint.load_policy`, as `puffer eval` does: the
environment is neither built nor imported) and writes it into DIR:

- ``c``: ``puffer_policy.h`` and ``puffer_policy.c`` (C99, libm only) and ``policy.bin``, the
  architecture and weights in a versioned little-endian binary format that the C code checks as it
  loads it (see docs/export.md and `write_weights`).
- ``onnx``: ``policy.onnx`` (needs the ``onnx`` and ``onnxscript`` packages, and
  ``onnxruntime`` to run it: ``pip install onnx onnxscript onnxruntime``).
- ``torchscript``: ``policy.pt``, loadable with ``torch.jit.load``.

The ONNX and TorchScript modules are `PolicyModule`: ``observation [B, obs_size] float32 ->
(params [B, P], value [B])``, and for LSTM policies ``(observation, h, c) -> (params, value, h, c)``
with ``h`` and ``c`` of shape ``[B, state_size]`` (zeros at an episode start). ``params`` holds the
logits of every discrete action entry, then the means of the continuous entries. Observations are
flat float32 rows of the observation's values (uint8 ones cast to float, unscaled): the exported
policy encodes them as the trainer does (scale, one-hot) itself.

Every policy kind exports to ONNX and TorchScript but for nested observation spaces whose leaves
have several dtypes (packed into uint8 rows, which neither can bit-cast back); the C export runs
the MLP `Policy` and the `ConvPolicy` ('nature_cnn', 'impala'), either wrapped in `LSTMPolicy`,
with any `obs_encoding`; it refuses nested observations and custom modules.
"""
import importlib.util
import shutil
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pufferlib.errors import ExportError

__all__ = ["FORMATS", "MAGIC", "VERSION", "ExportError", "PolicyModule", "export", "export_policy",
           "read_weights", "weight_tensors", "write_weights"]

FORMATS = ("c", "onnx", "torchscript")
MAGIC = b"PUFFPOL\0"
VERSION = 4  # 2: a CRC-32 of the file closes it; 3: the observation encoding; 4: conv trunks
READS = (2, 3, 4)  # older files are MLPs: version 2 ones with float-cast observations
ENCODING_CODES = {"float": 0, "scale": 1, "onehot": 2}
# the conv trunk's operations, each stored as (code, out_channels, kernel, stride, padding)
OP_CODES = {"conv": 0, "relu": 1, "maxpool": 2, "save": 3, "add": 4}
C_FILES = ("puffer_policy.h", "puffer_policy.c")


def export(env, checkpoint="latest", data_dir="runs", format="c", output="export"):
    """Exports the policy of a checkpoint to `output` (a directory, created when missing).

    Needs no environment: the policy is rebuilt from the spaces and config the checkpoint holds, so
    it works where the environment's module or library is gone.

    Args:
        env: the ENV spec the checkpoint was trained on (a name only: never imported); None accepts
            a checkpoint of any environment (then `checkpoint` is a file or run directory).
        checkpoint: a checkpoint file, a run directory, or 'latest'.
        data_dir: where 'latest' looks.
        format: 'c', 'onnx' or 'torchscript'.
        output: the directory to write into.

    Returns:
        list of Path: the files written.

    Raises:
        CheckpointError: missing, unreadable or incompatible checkpoint.
        ExportError: a policy the format cannot express, an output that is not a directory, or a
            missing optional package.
        ValueError: an unknown format.

    Example:
        >>> import tempfile, pufferlib
        >>> with tempfile.TemporaryDirectory() as tmp:  # doctest: +SKIP
        ...     pufferlib.train("cartpole", {"train": {"total_timesteps": 50_000}}, data_dir=tmp,
        ...                     dashboard=False)
        ...     files = export("cartpole", "latest", data_dir=tmp, format="c", output=f"{tmp}/out")
        ...     sorted(f.name for f in files)
        ['policy.bin', 'puffer_policy.c', 'puffer_policy.h']
    """
    from pufferlib.train.checkpoint import load_policy

    _check_format(format)
    policy, _ = load_policy(checkpoint, env, data_dir)  # before export_policy creates the output directory
    return export_policy(policy, format, output)


def export_policy(policy, format, output):
    """Writes an in-memory `Policy` or `LSTMPolicy` in `format` into the directory `output`.

    Returns:
        list of Path: the files written.

    Raises:
        ExportError, ValueError: as `export`.
    """
    _check_format(format)
    out = _check_output(output)
    if format == "c":
        weights = out / "policy.bin"
        write_weights(policy, weights)
        include = Path(_include_dir())
        copied = []
        for name in C_FILES:
            shutil.copyfile(include / name, out / name)
            copied.append(out / name)
        return [weights, *copied]
    module = PolicyModule(policy).eval()
    if module.packed:
        raise ExportError(f"the {format} export cannot bit-cast observation rows: this policy's nested "
                          "observation space has leaves of several dtypes, packed into uint8 rows that "
                          "the policy reinterprets leaf by leaf (ONNX has no bit-cast, TorchScript cannot "
                          "trace one). Give every leaf one dtype (e.g. float32 Boxes, a Discrete as a "
                          "float32 Box of its index) to export it")
    if format == "torchscript":
        path = out / "policy.pt"
        with torch.no_grad(), warnings.catch_warnings():
            # torch deprecates TorchScript in favour of torch.export, but runtimes still load it
            warnings.filterwarnings("ignore", "`torch.jit", DeprecationWarning)
            traced = torch.jit.trace(module, module.example_inputs(2))
            traced.save(str(path))
        return [path]
    return [_export_onnx(module, out / "policy.onnx")]


def _check_format(format):
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")


def _check_output(output):
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise ExportError(f"the output {out} is a file; pass a directory to write the exported files into "
                          f"(-o DIR; it is created when missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ExportError(f"cannot create the output directory {out}: {error}") from None
    return out


def _include_dir():
    from pufferlib.headers import get_include

    return get_include()


class PolicyModule(nn.Module):
    """A policy as a plain tensor function, for ONNX and TorchScript.

    Feed-forward: ``forward(observation) -> (params, value)``. Recurrent: ``forward(observation,
    h, c) -> (params, value, h, c)``; pass zero states at an episode start.

    Args:
        policy: a `pufferlib.train.policies.Policy` or `LSTMPolicy`.

    Example:
        >>> import gymnasium
        >>> from pufferlib.train.policies import Policy
        >>> module = PolicyModule(Policy(gymnasium.spaces.Box(-1, 1, (4,)), gymnasium.spaces.Discrete(2)))
        >>> params, value = module(torch.zeros(3, 4))
        >>> tuple(params.shape), tuple(value.shape)
        ((3, 2), (3,))
    """

    def __init__(self, policy):
        super().__init__()
        self.policy = policy
        self.recurrent = bool(getattr(policy, "recurrent", False))
        core = policy.policy if self.recurrent else policy
        layout = core.features.layout
        # flat rows of float32 (a flat space's rows are cast), or a nested space's rows as they are
        self.obs_size = int(core.features.row_size)
        self.obs_dtype = torch.float32 if layout is None else getattr(torch, np.dtype(layout.row_dtype).name)
        self.state_size = int(policy.hidden_size) if self.recurrent else 0
        # leaves of several dtypes packed into uint8 rows, which the policy bit-casts back
        self.packed = layout is not None and bool(layout.packed)

    def forward(self, observation, h=None, c=None):
        """(params, value), or (params, value, h, c) for recurrent policies."""
        if not self.recurrent:
            return self.policy(observation)
        lstm = self.policy.lstm
        x = self.policy.policy.encode_observations(observation)
        h, c = torch.lstm_cell(x, (h, c), lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0,
                               lstm.bias_hh_l0)
        params, value = self.policy.policy.decode_actions(h)
        return params, value, h, c

    def example_inputs(self, batch):
        """Zero inputs of `batch` rows, as a tuple for tracing and exporting."""
        obs = torch.zeros(batch, self.obs_size, dtype=self.obs_dtype)
        if not self.recurrent:
            return (obs,)
        return obs, torch.zeros(batch, self.state_size), torch.zeros(batch, self.state_size)

    def names(self):
        """(input names, output names) of the exported graph."""
        if self.recurrent:
            return ["observation", "h", "c"], ["params", "value", "h_out", "c_out"]
        return ["observation"], ["params", "value"]


def _export_onnx(module, path):
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(f"ONNX export needs the {' and '.join(missing)} package"
                          f"{'s' if len(missing) > 1 else ''}, which {'are' if len(missing) > 1 else 'is'} "
                          "not installed: pip install onnx onnxscript onnxruntime")
    inputs, outputs = module.names()
    batch = torch.export.Dim("batch")
    shapes = {"observation": {0: batch}}
    if module.recurrent:
        shapes.update(h={0: batch}, c={0: batch})
    try:
        program = torch.onnx.export(module, module.example_inputs(2), input_names=inputs,
                                    output_names=outputs, dynamic_shapes=shapes, dynamo=True,
                                    verbose=False)
        program.save(str(path))
    except Exception as error:  # the exporter raises many kinds
        raise ExportError(f"torch.onnx could not export the policy: {type(error).__name__}: "
                          f"{error}") from None
    return path


# ---- The C format: policy.bin ----

def _core(policy):
    """The feed-forward policy inside `policy`, checked to be one the C code can run."""
    from pufferlib.train.policies import ConvPolicy, LSTMPolicy, Policy

    core = policy.policy if isinstance(policy, LSTMPolicy) else policy
    if not isinstance(core, (Policy, ConvPolicy)):
        raise ExportError(f"the C export runs pufferlib's default policies (Policy, ConvPolicy, LSTMPolicy), "
                          f"got {type(policy).__name__}; export it with --format onnx or torchscript")
    if core.features.layout is not None:
        raise ExportError("the C export takes flat observations; this policy rebuilds nested or discrete "
                          "observation leaves (one-hot) before its MLP. Export it with --format onnx or "
                          "torchscript")
    if core.activation not in ("relu", "tanh"):
        raise ExportError(f"the C export knows relu and tanh, not {core.activation!r}")
    return core


def _square(value, what, module):
    pair = value if isinstance(value, tuple) else (value, value)
    if pair[0] != pair[1]:
        raise ExportError(f"the C export runs square {what}s, but {module} has {what} {pair}; export it with "
                          "--format onnx or torchscript")
    return int(pair[0])


def _conv_op(conv):
    if conv.groups != 1 or _square(conv.dilation, "dilation", conv) != 1 or conv.padding_mode != "zeros" \
            or conv.bias is None or isinstance(conv.padding, str):
        raise ExportError(f"the C export runs plain convs (biased, zero-padded, no groups or dilation), got "
                          f"{conv}; export it with --format onnx or torchscript")
    op = ("conv", conv.out_channels, _square(conv.kernel_size, "kernel", conv),
          _square(conv.stride, "stride", conv), _square(conv.padding, "padding", conv))
    return [op], [conv]


def _trunk_ops(trunk):
    """A `ConvTrunk`'s convs as C operations, and its Conv2d modules in order."""
    from pufferlib.train.encoders import _Residual

    ops, convs = [], []
    for module in trunk.convs:
        if isinstance(module, nn.Conv2d):
            more, used = _conv_op(module)
        elif isinstance(module, nn.ReLU):
            more, used = [("relu", 0, 0, 0, 0)], []
        elif isinstance(module, nn.MaxPool2d) and not module.ceil_mode \
                and _square(module.dilation, "dilation", module) == 1:
            sizes = (_square(getattr(module, name), what, module) for name, what in
                     (("kernel_size", "kernel"), ("stride", "stride"), ("padding", "padding")))
            more, used = [("maxpool", 0, *sizes)], []
        elif isinstance(module, _Residual):  # x + conv1(relu(conv0(relu(x))))
            first, _ = _conv_op(module.conv0)
            second, _ = _conv_op(module.conv1)
            more = [("save", 0, 0, 0, 0), ("relu", 0, 0, 0, 0), *first, ("relu", 0, 0, 0, 0), *second,
                    ("add", 0, 0, 0, 0)]
            used = [module.conv0, module.conv1]
        else:
            raise ExportError(f"the C export cannot run the conv trunk's {module}; export it with --format "
                              "onnx or torchscript")
        ops += more
        convs += used
    return ops, convs


def weight_tensors(policy):
    """The named float32 arrays of `policy` in policy.bin's order (see docs/export.md).

    Returns:
        list of (name, numpy array).
    """
    from pufferlib.train.policies import ConvPolicy, LSTMPolicy

    core = _core(policy)
    tensors = []
    if isinstance(core, ConvPolicy):
        _, convs = _trunk_ops(core.trunk)
        for index, conv in enumerate(convs):
            tensors += [(f"conv.{index}.weight", conv.weight), (f"conv.{index}.bias", conv.bias)]
        tensors += [("trunk.weight", core.trunk.linear.weight), ("trunk.bias", core.trunk.linear.bias)]
    else:
        for tower_name in ("actor", "critic"):
            linears = [m for m in getattr(core, tower_name) if isinstance(m, nn.Linear)]
            for layer, linear in enumerate(linears):
                tensors += [(f"{tower_name}.{layer}.weight", linear.weight),
                            (f"{tower_name}.{layer}.bias", linear.bias)]
    if isinstance(policy, LSTMPolicy):
        lstm = policy.lstm
        tensors += [("lstm.weight_ih", lstm.weight_ih_l0), ("lstm.weight_hh", lstm.weight_hh_l0),
                    ("lstm.bias_ih", lstm.bias_ih_l0), ("lstm.bias_hh", lstm.bias_hh_l0)]
    tensors += [("actor_head.weight", core.actor_head.weight), ("actor_head.bias", core.actor_head.bias),
                ("value_head.weight", core.value_head.weight), ("value_head.bias", core.value_head.bias)]
    if core.log_std is not None:
        tensors.append(("log_std", core.log_std))
    if core.features.encoding == "scale":
        tensors.append(("obs_scale", core.features.code.scale))
    return [(name, t.detach().cpu().float().numpy()) for name, t in tensors]


def _architecture(policy):
    from pufferlib.train.policies import ConvPolicy, LSTMPolicy

    core = _core(policy)
    dist = core.dist
    k = len(dist.nvec)
    low, high = np.zeros(k, np.float32), np.zeros(k, np.float32)
    if dist.num_continuous:
        continuous = np.flatnonzero(dist.nvec == 0)
        low[continuous] = dist.low.numpy()
        high[continuous] = dist.high.numpy()
    code = core.features.code
    onehot = core.features.encoding == "onehot"
    trunk = None
    if isinstance(core, ConvPolicy):
        shape = core.features.shape
        ops, _ = _trunk_ops(core.trunk)
        trunk = {"height": int(shape[0]), "width": int(shape[1]),
                 "channels": int(shape[2]) if len(shape) == 3 else 1, "ops": ops}
    return {"obs_size": int(core.features.row_size), "hidden": int(core.actor_head.in_features),
            "num_layers": 0 if trunk else sum(isinstance(m, nn.Linear) for m in core.actor),
            "activation": core.activation, "lstm": isinstance(policy, LSTMPolicy),
            "nvec": dist.nvec.astype(np.int32), "low": low, "high": high,
            "encoding": core.features.encoding, "onehot_low": code.low if onehot else 0,
            "onehot_values": code.values if onehot else 0, "trunk": trunk}


def write_weights(policy, path):
    """Writes `policy`'s architecture and weights to `path` in the C export's binary format.

    The layout (little-endian): the 8 magic bytes ``PUFFPOL`` and a NUL; uint32 version,
    obs_size, hidden, num_layers, activation (0 relu, 1 tanh), lstm (0/1), num_entries k;
    int32 nvec[k] (0 = continuous); float32 low[k], high[k]; uint32 encoding (0 float, 1 scale,
    2 onehot), int32 onehot_low, uint32 onehot_values; uint32 trunk (0 MLP towers, 1 conv) and for
    a conv trunk uint32 height, width, channels, num_ops and per op uint32 code, out_channels, kernel,
    stride, padding (`OP_CODES`); uint32 num_tensors; then per tensor: uint32 name length, the name,
    uint32 rank, uint32 shape[rank], float32 values (row-major), in `weight_tensors`' order; last,
    uint32 CRC-32 (zlib's) of every byte before it, so that damaged weights are refused.
    docs/export.md has the details.

    Raises:
        ExportError: a policy the C code cannot run (custom modules, nested observations).
    """
    arch = _architecture(policy)
    tensors = weight_tensors(policy)
    k = len(arch["nvec"])
    trunk = arch["trunk"]
    parts = [MAGIC, struct.pack("<7I", VERSION, arch["obs_size"], arch["hidden"], arch["num_layers"],
                                int(arch["activation"] == "tanh"), int(arch["lstm"]), k),
             arch["nvec"].astype("<i4").tobytes(), arch["low"].astype("<f4").tobytes(),
             arch["high"].astype("<f4").tobytes(),
             struct.pack("<IiI", ENCODING_CODES[arch["encoding"]], arch["onehot_low"], arch["onehot_values"])]
    if trunk is None:
        parts.append(struct.pack("<I", 0))
    else:
        parts.append(struct.pack("<5I", 1, trunk["height"], trunk["width"], trunk["channels"],
                                 len(trunk["ops"])))
        parts += [struct.pack("<5I", OP_CODES[kind], *sizes) for kind, *sizes in trunk["ops"]]
    parts.append(struct.pack("<I", len(tensors)))
    for name, array in tensors:
        encoded = name.encode()
        parts += [struct.pack(f"<I{len(encoded)}sI", len(encoded), encoded, array.ndim),
                  struct.pack(f"<{array.ndim}I", *array.shape), np.ascontiguousarray(array, "<f4").tobytes()]
    body = b"".join(parts)
    Path(path).write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    return Path(path)


def read_weights(path):
    """Reads a policy.bin written by `write_weights`: (architecture dict, list of (name, array)).

    The architecture's "trunk" is None for MLP towers, else a dict of the conv trunk's input
    height, width and channels and its "ops", (kind, out_channels, kernel, stride, padding) each.

    Raises:
        ExportError: not a policy file, another version, a checksum that does not match (damaged or
            truncated), or a malformed file.
    """
    data = Path(path).read_bytes()
    at = 0

    def take(fmt):
        nonlocal at
        size = struct.calcsize(fmt)
        if at + size > len(data):
            raise ExportError(f"{path} is truncated at byte {at} (expected {size} more bytes)")
        values = struct.unpack_from(fmt, data, at)
        at += size
        return values

    if data[:8] != MAGIC:
        raise ExportError(f"{path} is not a pufferlib policy file (it does not start with {MAGIC!r})")
    at = 8
    (version,) = take("<I")
    if version not in READS:
        raise ExportError(f"{path} is format version {version}; this pufferlib reads versions "
                          f"{', '.join(map(str, READS[:-1]))} and {READS[-1]} (export the policy again with "
                          "this pufferlib)")
    if len(data) < at + 4:
        raise ExportError(f"{path} is truncated at byte {len(data)} (it ends before its checksum)")
    data, (stored,) = data[:-4], struct.unpack("<I", data[-4:])
    if zlib.crc32(data) != stored:
        raise ExportError(f"{path} is damaged or truncated: its CRC-32 is {zlib.crc32(data):08x}, the file "
                          f"says {stored:08x}; export the policy again")
    obs_size, hidden, layers, activation, lstm, k = take("<6I")
    if activation > 1 or lstm > 1:
        raise ExportError(f"{path} is malformed: activation {activation} and lstm {lstm} must be 0 or 1")
    arch = {"obs_size": obs_size, "hidden": hidden, "num_layers": layers,
            "activation": ("relu", "tanh")[activation], "lstm": bool(lstm),
            "nvec": np.array(take(f"<{k}i"), np.int32), "low": np.array(take(f"<{k}f"), np.float32),
            "high": np.array(take(f"<{k}f"), np.float32),
            "encoding": "float", "onehot_low": 0, "onehot_values": 0, "trunk": None}
    if version >= 3:
        encoding, arch["onehot_low"], arch["onehot_values"] = take("<IiI")
        if encoding not in ENCODING_CODES.values():
            raise ExportError(f"{path} is malformed: encoding {encoding} must be 0 (float), 1 (scale) or "
                              "2 (onehot)")
        arch["encoding"] = list(ENCODING_CODES)[encoding]
        if encoding == ENCODING_CODES["onehot"] and not 1 <= arch["onehot_values"] <= 256:
            raise ExportError(f"{path} is malformed: onehot_values {arch['onehot_values']} must be in "
                              "[1, 256]")
    if version >= 4:
        (trunk,) = take("<I")
        if trunk > 1:
            raise ExportError(f"{path} is malformed: trunk {trunk} must be 0 (MLP towers) or 1 (conv)")
        if trunk:
            height, width, channels, count = take("<4I")
            ops = []
            for index in range(count):
                code, *sizes = take("<5I")
                if code >= len(OP_CODES):
                    raise ExportError(f"{path} is malformed: conv trunk op {index} has code {code}; codes "
                                      "are " + ", ".join(f"{c} ({kind})" for kind, c in OP_CODES.items()))
                ops.append((list(OP_CODES)[code], *sizes))
            arch["trunk"] = {"height": height, "width": width, "channels": channels, "ops": ops}
    (count,) = take("<I")
    tensors = []
    for _ in range(count):
        (length,) = take("<I")
        (name,) = take(f"<{length}s")
        (rank,) = take("<I")
        shape = take(f"<{rank}I")
        values = np.array(take(f"<{int(np.prod(shape))}f"), np.float32).reshape(shape)
        tensors.append((name.decode(), values))
    if at != len(data):
        raise ExportError(f"{path} has {len(data) - at} unexpected bytes after its last tensor")
    return arch, tensors
