"""Observation encoders: how observation rows become the float inputs of a policy's networks.

Two halves, kept apart on purpose:

- `Features` is parameter-free: flat observation rows -> float features. Nested Dict/Tuple leaves
  are rebuilt (`pufferlib.emulation.nativize`), Discrete/MultiBinary leaves one-hot, and Box
  leaves go through the run's `obs_encoding` ('float' cast, 'scale' to about [-1, 1], or 'onehot'
  of integer cell values). Because it holds no weights, the C kernel runs it first and then the
  MLP towers in C, and checkpoints are unchanged by it.
- `ConvTrunk` is the convolutional encoder of grids and images ('nature_cnn', Mnih et al. 2015;
  'impala', Espeholt et al. 2018), built on the spatial view of the same features (`Features.grid`).

Example:
    >>> import gymnasium, numpy as np, torch
    >>> grid = gymnasium.spaces.Box(0, 2, (11, 11), np.uint8)
    >>> features = Features(grid, encoding="onehot")
    >>> features.size, tuple(features.grid(torch.zeros(4, 121, dtype=torch.uint8)).shape)
    (363, (4, 3, 11, 11))
"""
import math

import gymnasium
import numpy as np
import torch
from torch import nn

from pufferlib import emulation
from pufferlib.train.config import ENCODERS, ENCODINGS

SQRT2 = math.sqrt(2)  # the orthogonal-init gain for relu/tanh hidden layers

MAX_ONEHOT_VALUES = 256  # wider ranges one-hot into more features than they are worth
# 'auto' one-hots the cells of a conv encoder's integer grid when they take at most this many values
AUTO_ONEHOT_VALUES = 16

__all__ = ["ENCODERS", "ENCODINGS", "MAX_ONEHOT_VALUES", "ConvTrunk", "Features", "layer_init",
           "minimum_size", "resolve_encoding"]


def layer_init(layer, gain=SQRT2, bias=0.0):
    """Orthogonal weights with `gain`, constant bias; returns the layer (Linear or Conv2d).

    Example:
        >>> layer = layer_init(nn.Linear(4, 8), gain=1.0)
        >>> float(layer.bias.detach().abs().sum())
        0.0
    """
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.constant_(layer.bias, bias)
    return layer


def _integer_box(space):
    return isinstance(space, gymnasium.spaces.Box) and np.issubdtype(space.dtype, np.integer)


def resolve_encoding(space, encoding, conv=False, name="the observation"):
    """The encoding a Box leaf gets: 'float', 'scale' or 'onehot', checked against its space.

    'auto' keeps the MLP's historical float cast. Under a conv encoder (`conv`), which has no
    history to keep, 'auto' one-hots integer grids of at most 16 values (squared's cells) and scales
    other integer images (uint8 pixels / 255).

    Args:
        space: a gymnasium Box.
        encoding: one of `ENCODINGS`.
        conv: whether a conv encoder reads it.
        name: the leaf, for messages.

    Raises:
        ValueError: an encoding the space cannot take (the message says which would do).
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"policy.obs_encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
    if encoding == "auto":
        if not conv or not _integer_box(space):
            return "float"
        values = high.max() - low.min() + 1
        return "onehot" if len(space.shape) == 2 and values <= AUTO_ONEHOT_VALUES else "scale"
    if encoding == "scale" and not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise ValueError(f"policy.obs_encoding 'scale' divides {name} by its largest bound, which must be "
                         f"finite; got bounds [{low.min()}, {high.max()}] ({space}); use obs_encoding "
                         "'float' or give the Box finite bounds")
    if encoding == "onehot":
        if not _integer_box(space):
            raise ValueError(f"policy.obs_encoding 'onehot' takes integer observations (uint8 cells, ...), "
                             f"but {name} is {space}; use obs_encoding 'float' or 'scale'")
        values = high.max() - low.min() + 1
        if values > MAX_ONEHOT_VALUES:
            raise ValueError(f"policy.obs_encoding 'onehot' needs at most {MAX_ONEHOT_VALUES} values per "
                             f"cell, but {name} ranges over [{low.min():g}, {high.max():g}] "
                             f"({values:g} values); use obs_encoding 'scale', or narrow the Box's bounds")
    return encoding


class _BoxCode(nn.Module):
    """One Box leaf's encoding: values [..., *shape] -> float [..., *shape] or [..., *shape, n]."""

    def __init__(self, space, encoding):
        super().__init__()
        self.kind = encoding
        self.values = 1
        if encoding != "float":
            low, high = np.asarray(space.low, np.float32), np.asarray(space.high, np.float32)
        if encoding == "scale":
            bound = np.maximum(np.abs(low), np.abs(high)).reshape(-1)
            # not persistent: derived from the spaces, so checkpoints and state dicts stay as they were
            self.register_buffer("scale", torch.as_tensor(1.0 / np.where(bound > 0, bound, 1.0)),
                                 persistent=False)
        elif encoding == "onehot":
            self.low = int(low.min())
            self.values = int(high.max()) - self.low + 1
            self.register_buffer("codes", torch.arange(self.low, self.low + self.values, dtype=torch.float32),
                                 persistent=False)

    def forward(self, x):
        """x: [B, D] leaf values -> [B, D] or [B, D, values] floats."""
        x = x.float()
        if self.kind == "scale":
            return x * self.scale
        if self.kind == "onehot":  # a comparison, not F.one_hot: exports to ONNX; out-of-range -> zeros
            return (x.unsqueeze(-1) == self.codes).float()
        return x


class Features(nn.Module):
    """Flat observation rows -> float features [B, size]; parameter-free.

    Args:
        observation_space: the vector env's single (flat) observation space.
        layout: a `pufferlib.emulation.Layout` when observations are nested (Dict, Tuple, discrete
            leaves): leaves are rebuilt with `nativize`, discrete ones one-hot.
        encoding: how Box leaves become floats (one of `ENCODINGS`; see `resolve_encoding`).
        conv: whether a conv encoder reads the features (changes what 'auto' means).

    Attributes:
        layout: the layout, or None for flat rows of one Box.
        size: features per row.
        row_size: elements per observation row (the input).
        encoding: the flat Box's resolved encoding ('float', 'scale' or 'onehot'); None when nested.
        identity: True when the features are the rows cast to float (what the C kernel reads raw).
        code: the flat Box's `_BoxCode` (its `scale`, or `low` and `values` of the one-hot); None when nested.
    """

    def __init__(self, observation_space, layout=None, encoding="auto", conv=False):
        super().__init__()
        nested = layout is not None and (layout.packed or len(layout.leaves) > 1 or _has_discrete(layout))
        self.layout = layout if nested else None
        self.shape = tuple(observation_space.shape)
        if self.layout is None:
            self.row_size = int(np.prod(observation_space.shape))
            self.encoding = resolve_encoding(observation_space, encoding, conv)
            self.code = _BoxCode(observation_space, self.encoding)
            self.onehot, self.codes = [], None
            self.size = self.row_size * self.code.values
        else:
            self.row_size = int(layout.row_size)
            self.encoding = self.code = None
            self.onehot = [_discrete_n(leaf.space) for leaf in self.layout.leaves]
            # Box leaves take the encoding; MultiDiscrete ones enter as numbers, as before
            self.codes = nn.ModuleList(
                _BoxCode(leaf.space, resolve_encoding(leaf.space, encoding, conv, leaf.name))
                if isinstance(leaf.space, gymnasium.spaces.Box) else _BoxCode(leaf.space, "float")
                for leaf in self.layout.leaves)
            self.size = sum(int(np.prod(leaf.shape)) * (n or code.values)
                            for leaf, n, code in zip(self.layout.leaves, self.onehot, self.codes))
        self.identity = self.encoding == "float"

    def forward(self, obs):
        """Observation rows [B, row_size] (or [B, *shape]) -> float features [B, size]."""
        if self.layout is None:
            return self.code(obs.reshape(obs.shape[0], -1)).reshape(obs.shape[0], -1)
        batch = tuple(obs.shape[:-1])
        parts = []
        for value, n, code in zip(emulation.nativize(obs, self.layout, _flat=True), self.onehot, self.codes):
            value = value.reshape(batch + (-1,))
            if n:
                value = nn.functional.one_hot(value.long().clamp(0, n - 1), n)
            else:
                value = code(value)
            parts.append(value.reshape(batch + (-1,)).float())
        return torch.cat(parts, -1)

    def grid(self, obs):
        """Observation rows -> channels-first float images [B, C, H, W] for a conv encoder.

        (H, W) grids get one channel per one-hot value (or one channel); (H, W, C) images keep
        their C channels (times the one-hot values), moved first.
        """
        if self.layout is not None:
            raise ValueError("a conv encoder reads one Box observation of shape (H, W) or (H, W, C)")
        batch = obs.shape[0]
        x = self.code(obs.reshape(batch, -1))  # [B, D] or [B, D, values]
        height, width = self.shape[0], self.shape[1]
        x = x.reshape(batch, height, width, -1)  # channels last: the cells' channels, then values
        # a view, not a copy: channels-last in memory, which mkldnn's convs took ~15% faster than a
        # contiguous copy (squared, 1024 rows, rough figures on a shared 2-core machine)
        return x.permute(0, 3, 1, 2)


def _discrete_n(space):
    if isinstance(space, gymnasium.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gymnasium.spaces.MultiBinary):
        return 2
    return 0  # MultiDiscrete and Box leaves enter as numbers (Box ones through their encoding)


def _has_discrete(layout):
    return any(_discrete_n(leaf.space) for leaf in layout.leaves)


def minimum_size(kernels, strides):
    """The smallest square input a stack of unpadded convs maps to at least 1x1.

    Example:
        >>> minimum_size((8, 4, 3), (4, 2, 1))  # the Nature CNN
        36
    """
    size = 1
    for kernel, stride in zip(reversed(kernels), reversed(strides)):
        size = (size - 1) * stride + kernel
    return size


class _Residual(nn.Module):
    """IMPALA's residual block: x + conv(relu(conv(relu(x))))."""

    def __init__(self, channels):
        super().__init__()
        self.conv0 = layer_init(nn.Conv2d(channels, channels, 3, padding=1))
        self.conv1 = layer_init(nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x):
        return x + self.conv1(torch.relu(self.conv0(torch.relu(x))))


class ConvTrunk(nn.Module):
    """A conv encoder: images [B, C, H, W] -> relu features [B, width].

    'nature_cnn' (Mnih et al. 2015): unpadded convs with relu (by default 8x8/4 32, 4x4/2 64,
    3x3/1 64), then a linear layer. 'impala' (Espeholt et al. 2018): per stage a 3x3 conv, a 3x3/2
    max-pool and two residual blocks (by default 16, 32, 32 channels), then relu and a linear layer.
    Orthogonally initialised, as the MLP is.

    Args:
        encoder: 'nature_cnn' or 'impala'.
        in_shape: (C, H, W) of the input.
        channels: output channels per conv layer (nature) or per stage (impala).
        kernels, strides: per conv layer (nature only; impala's are 3x3/1 convs and 3x3/2 pools).
        width: the final linear layer's width.

    Raises:
        ValueError: a Nature CNN whose convs do not fit the input (the message gives the minimum).
    """

    def __init__(self, encoder, in_shape, channels, kernels=(), strides=(), width=512):
        super().__init__()
        depth, height, width_in = in_shape
        layers = []
        if encoder == "nature_cnn":
            if not len(channels) == len(kernels) == len(strides):
                raise ValueError(f"policy.cnn_channels, cnn_kernels and cnn_strides need one entry per conv "
                                 f"layer, got {len(channels)}, {len(kernels)} and {len(strides)}")
            need = minimum_size(kernels, strides)
            if min(height, width_in) < need:
                raise ValueError(
                    f"policy.encoder 'nature_cnn' with kernels {_csv(kernels)} and strides {_csv(strides)} "
                    f"needs observations of at least {need}x{need}, got {height}x{width_in}; for a small "
                    f"grid set smaller ones (--policy.cnn_kernels 3,3,3 --policy.cnn_strides 1,1,1) or use "
                    f"--policy.encoder impala")
            for out, kernel, stride in zip(channels, kernels, strides):
                layers += [layer_init(nn.Conv2d(depth, out, kernel, stride)), nn.ReLU()]
                depth = out
        elif encoder == "impala":
            for out in channels:
                layers += [layer_init(nn.Conv2d(depth, out, 3, padding=1)), nn.MaxPool2d(3, 2, padding=1),
                           _Residual(out), _Residual(out)]
                depth = out
            layers.append(nn.ReLU())
        else:
            raise ValueError(f"a conv encoder is 'nature_cnn' or 'impala', got {encoder!r}")
        self.convs = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.convs(torch.zeros((1,) + tuple(in_shape))).numel()
        self.linear = layer_init(nn.Linear(flat, width))
        self.width = width

    def forward(self, x):
        """Images [B, C, H, W] -> features [B, width]."""
        return torch.relu(self.linear(self.convs(x).flatten(1)))


def _csv(values):
    return ",".join(str(v) for v in values)
