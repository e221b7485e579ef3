"""Policies for the PPO trainer: the default actor-critic MLP, the LSTM wrapper, action distributions.

A policy is a `torch.nn.Module` with two halves, so a recurrent core can sit between them:
`encode_observations(obs) -> hidden` and `decode_actions(hidden) -> (action parameters, values)`.
`Policy` is the default: separate actor and critic MLPs (the hidden vector is their two outputs side
by side), orthogonally initialised. `ConvPolicy` reads grids and images through a convolutional
trunk (pufferlib.train.encoders) shared by its two heads. `LSTMPolicy` wraps any such policy with
an LSTM whose state is kept per agent row and reset at episode starts, in rollouts and inside
training sequences.

Actions of every kind go through one `ActionDistribution`: each discrete entry (Discrete,
MultiDiscrete, or the discrete leaves of a Dict/Tuple) is a categorical over its logits, each
continuous entry a Normal with a learned, state-independent log standard deviation.
"""
import math

import gymnasium
import numpy as np
import torch
from torch import nn

from pufferlib.train.encoders import ConvTrunk, Features, layer_init
from pufferlib.train.lstm import lstm_sequence

__all__ = ["ActionDistribution", "ConvPolicy", "LSTMPolicy", "Policy", "architecture", "layer_init",
           "make_policy"]


# The logit an illegal choice gets: its probability is exactly 0 in float32, and 0 times its
# log-probability stays finite in the entropy (-inf would make it NaN). The C kernel uses the same.
MASKED_LOGIT = -1e9


class ActionDistribution:
    """Sampling, log-probabilities and entropy for flat action rows of any supported kind.

    Args:
        action_space: the vector env's single (flat) action space: Discrete, MultiDiscrete or Box.
        nvec: per-entry category counts with 0 for continuous entries, for a Box whose entries
            mix discrete indices and continuous values (an emulated Dict/Tuple action space);
            taken from the space when None.

    Attributes:
        nvec: the category counts (0 = continuous).
        num_params: width of the parameter vector the policy outputs (the logits of every
            discrete entry, then the means of the continuous entries).
        num_continuous: continuous entries (each has a learned log-std).
    """

    def __init__(self, action_space, nvec=None):
        if isinstance(action_space, gymnasium.spaces.Discrete):
            nvec = np.array([action_space.n])
        elif isinstance(action_space, gymnasium.spaces.MultiDiscrete):
            nvec = np.asarray(action_space.nvec).reshape(-1)
        elif isinstance(action_space, gymnasium.spaces.Box) and nvec is None:
            nvec = np.zeros(int(np.prod(action_space.shape)), np.int64)
        elif not isinstance(action_space, gymnasium.spaces.Box):
            raise TypeError(f"the trainer's policies take Discrete, MultiDiscrete or Box action spaces "
                            f"(nested spaces through pufferlib.emulation), got {action_space}")
        self.space = action_space
        self.nvec = np.asarray(nvec, np.int64)
        self.discrete = bool((self.nvec > 0).all())
        self.logit_sizes = [int(n) for n in self.nvec if n > 0]
        self.num_continuous = int((self.nvec == 0).sum())
        self.num_params = sum(self.logit_sizes) + self.num_continuous
        self.single = isinstance(action_space, gymnasium.spaces.Discrete)
        self._discrete_index = np.flatnonzero(self.nvec > 0)
        self._continuous_index = np.flatnonzero(self.nvec == 0)
        if self.num_continuous:
            self.low = torch.as_tensor(np.asarray(action_space.low, np.float32).reshape(-1)
                                       [self._continuous_index])
            self.high = torch.as_tensor(np.asarray(action_space.high, np.float32).reshape(-1)
                                        [self._continuous_index])

    def mask(self, params, action_masks):
        """`params` with the logits of illegal choices set to MASKED_LOGIT (their probability is 0).

        Args:
            params: [..., num_params] action parameters.
            action_masks: [..., sum of the categorical sizes] bool (or 0/1) tensor or array, True
                where a choice is legal (the env's `action_masks` rows), or None: `params` unchanged.

        Raises:
            ValueError: masks whose width is not the number of logits.
        """
        if action_masks is None:
            return params
        width = sum(self.logit_sizes)
        legal = torch.as_tensor(action_masks, device=params.device)
        if legal.shape[-1:] != (width,) or width == 0:
            raise ValueError(f"action masks must have one entry per choice ({width}: the categorical "
                             f"sizes {self.logit_sizes}), got shape {tuple(legal.shape)}; the env's "
                             "action_masks rows are what the policy takes")
        logits = params[..., :width].masked_fill(legal == 0, MASKED_LOGIT)
        return torch.cat([logits, params[..., width:]], -1) if self.num_continuous else logits

    def _split(self, params):
        logits = params[..., :sum(self.logit_sizes)]
        return torch.split(logits, self.logit_sizes, dim=-1), params[..., sum(self.logit_sizes):]

    def as_rows(self, actions):
        """Actions as a float [..., entries] (or long, all discrete) tensor, whatever their storage."""
        if self.single:
            return actions.long().unsqueeze(-1)
        return actions if not self.discrete else actions.long()

    def sample(self, params, log_std=None, generator=None, deterministic=False):
        """Samples actions in the env's layout: int32 [B] (Discrete), int32 [B, k], or float32 [B, n].

        Continuous samples are not clipped here (their log-probability needs the raw sample);
        `clip` bounds them before they go to the environment.
        """
        logits, means = self._split(params)
        entries = []
        for group in logits:
            if deterministic:
                entries.append(group.argmax(-1))
            else:  # inverse-CDF: one uniform per entry, from the trainer's generator
                probs = torch.softmax(group.float(), -1)
                u = torch.rand(group.shape[:-1] + (1,), generator=generator, device=group.device)
                index = (probs.cumsum(-1) < u).sum(-1)
                entries.append(index.clamp_(max=group.shape[-1] - 1))
        if self.discrete:
            actions = torch.stack(entries, -1).int()
            return actions[..., 0] if self.single else actions
        noise = 0 if deterministic else torch.randn(means.shape, generator=generator, device=means.device)
        continuous = means.float() + noise * log_std.exp()
        out = torch.empty(means.shape[:-1] + (len(self.nvec),), device=means.device)
        out[..., self._continuous_index] = continuous
        if entries:
            out[..., self._discrete_index] = torch.stack(entries, -1).float()
        return out

    def clip(self, actions):
        """Continuous entries clipped to the action space's bounds (what the environment receives)."""
        if not self.num_continuous:
            return actions
        index = self._continuous_index
        clipped = actions.clone()
        clipped[..., index] = torch.clamp(actions[..., index], self.low.to(actions.device),
                                          self.high.to(actions.device))
        return clipped

    def log_prob_entropy(self, params, actions, log_std=None):
        """(log-probability, entropy) of `actions` under `params`, summed over the entries."""
        logits, means = self._split(params)
        rows = self.as_rows(actions)
        logp = params.new_zeros(params.shape[:-1], dtype=torch.float32)
        entropy = torch.zeros_like(logp)
        for k, group in enumerate(logits):
            logsm = torch.log_softmax(group.float(), -1)
            index = rows[..., self._discrete_index[k]].long().unsqueeze(-1)
            logp = logp + logsm.gather(-1, index).squeeze(-1)
            entropy = entropy - (logsm.exp() * logsm).sum(-1)
        if self.num_continuous:
            x = rows[..., self._continuous_index].float()
            std = log_std.exp()
            logp = logp + (-((x - means.float()) ** 2) / (2 * std ** 2) - log_std
                           - 0.5 * math.log(2 * math.pi)).sum(-1)
            entropy = entropy + (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum(-1).expand_as(entropy)
        return logp, entropy


def _tower(inputs, hidden, layers, activation):
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    modules, width = [], inputs
    for _ in range(layers):
        modules += [layer_init(nn.Linear(width, hidden)), act()]
        width = hidden
    return nn.Sequential(*modules)


class Policy(nn.Module):
    """The default actor-critic: separate actor and critic MLPs with orthogonal initialisation.

    Args:
        observation_space: the vector env's single (flat) observation space.
        action_space: the vector env's single (flat) action space.
        hidden_size: width of the hidden layers.
        num_layers: hidden layers per tower.
        activation: 'tanh' or 'relu'.
        observation_layout: a `pufferlib.emulation.Layout` when observations are nested (Dict,
            Tuple, discrete leaves): leaves are rebuilt with `nativize` and discrete ones one-hot.
        action_nvec: per-entry category counts with 0 for continuous entries, for mixed actions.
        obs_encoding: how Box observations become features: 'auto' (= 'float'), 'float', 'scale'
            or 'onehot' (see `pufferlib.train.encoders.resolve_encoding`).

    Example:
        >>> import gymnasium
        >>> policy = Policy(gymnasium.spaces.Box(-1, 1, (4,)), gymnasium.spaces.Discrete(2), hidden_size=8)
        >>> logits, values = policy(torch.zeros(3, 4))
        >>> tuple(logits.shape), tuple(values.shape)
        ((3, 2), (3,))
    """

    recurrent = False

    def __init__(self, observation_space, action_space, hidden_size=64, num_layers=2, activation="tanh",
                 observation_layout=None, action_nvec=None, obs_encoding="auto"):
        super().__init__()
        self.features = Features(observation_space, observation_layout, obs_encoding)
        self.dist = ActionDistribution(action_space, action_nvec)
        self.activation = activation
        self.actor = _tower(self.features.size, hidden_size, num_layers, activation)
        self.critic = _tower(self.features.size, hidden_size, num_layers, activation)
        self.actor_head = layer_init(nn.Linear(hidden_size, self.dist.num_params), gain=0.01)
        self.value_head = layer_init(nn.Linear(hidden_size, 1), gain=1.0)
        continuous = self.dist.num_continuous
        self.log_std = nn.Parameter(torch.zeros(continuous)) if continuous else None
        self.hidden_size = 2 * hidden_size

    def encode_observations(self, obs):
        """Observation rows [B, ...] -> hidden [B, 2 * hidden_size] (actor and critic features)."""
        x = self.features(obs)
        return torch.cat([self.actor(x), self.critic(x)], -1)

    def decode_actions(self, hidden):
        """Hidden [B, 2 * hidden_size] -> (action parameters [B, num_params], values [B])."""
        half = hidden.shape[-1] // 2
        return self.actor_head(hidden[..., :half]), self.value_head(hidden[..., half:]).squeeze(-1)

    def forward(self, obs):
        """(action parameters, values) of observation rows."""
        return self.decode_actions(self.encode_observations(obs))


class ConvPolicy(nn.Module):
    """An actor-critic on a convolutional trunk, for grid and image observations.

    The trunk (`pufferlib.train.encoders.ConvTrunk`: 'nature_cnn' or 'impala') reads the
    observation as channels-first images (`Features.grid`: (H, W) grids get one channel per
    one-hot value, or one scaled channel; (H, W, C) images are permuted), and its relu features
    feed a linear actor head and a linear value head, as in cleanrl's Atari PPO. `LSTMPolicy` can
    wrap it.

    Args:
        observation_space: a Box of shape (H, W) or (H, W, C) (or its flat rows, with the layout).
        action_space: the vector env's single (flat) action space.
        encoder: 'nature_cnn' or 'impala'.
        channels: output channels per conv (nature) or per stage (impala).
        kernels, strides: the nature CNN's conv kernel sizes and strides.
        width: the trunk's final linear width (the hidden size).
        obs_encoding: 'auto', 'float', 'scale' or 'onehot' (see `resolve_encoding`; under a conv
            encoder 'auto' one-hots small integer grids and scales other integer images).
        observation_layout: the spec's layout, whose one leaf has the image's shape; nested
            observations are refused.
        action_nvec: per-entry category counts with 0 for continuous entries, for mixed actions.

    Raises:
        ValueError: observations that are not one (H, W) or (H, W, C) Box, or convs that do not
            fit them (the message says what would).

    Example:
        >>> import gymnasium, numpy as np
        >>> grid = gymnasium.spaces.Box(0, 2, (11, 11), np.uint8)
        >>> policy = ConvPolicy(grid, gymnasium.spaces.Discrete(5), "impala", (8, 16), width=32)
        >>> logits, values = policy(torch.zeros(3, 11, 11, dtype=torch.uint8))
        >>> tuple(logits.shape), tuple(values.shape)
        ((3, 5), (3,))
    """

    recurrent = False
    activation = "relu"

    def __init__(self, observation_space, action_space, encoder="nature_cnn", channels=(32, 64, 64),
                 kernels=(8, 4, 3), strides=(4, 2, 1), width=512, obs_encoding="auto",
                 observation_layout=None, action_nvec=None):
        super().__init__()
        layout = observation_layout
        nested = layout is not None and (layout.packed or len(layout.leaves) > 1)
        if layout is not None and not nested:  # the leaf keeps the shape an emulated env flattened
            observation_space = layout.leaves[0].space
        shape = tuple(getattr(observation_space, "shape", None) or ())
        if nested or not isinstance(observation_space, gymnasium.spaces.Box) or len(shape) not in (2, 3):
            raise ValueError(f"policy.encoder {encoder!r} reads one Box observation of shape (H, W) or "
                             f"(H, W, C), got {observation_space}"
                             f"{' (nested)' if nested else ''}; use policy.encoder mlp for it")
        self.features = Features(observation_space, None, obs_encoding, conv=True)
        self.dist = ActionDistribution(action_space, action_nvec)
        depth = (shape[2] if len(shape) == 3 else 1) * self.features.code.values
        self.trunk = ConvTrunk(encoder, (depth, shape[0], shape[1]), tuple(channels), tuple(kernels),
                               tuple(strides), width)
        self.actor_head = layer_init(nn.Linear(width, self.dist.num_params), gain=0.01)
        self.value_head = layer_init(nn.Linear(width, 1), gain=1.0)
        continuous = self.dist.num_continuous
        self.log_std = nn.Parameter(torch.zeros(continuous)) if continuous else None
        self.encoder = encoder
        self.hidden_size = width

    def encode_observations(self, obs):
        """Observation rows [B, ...] -> trunk features [B, width]."""
        return self.trunk(self.features.grid(obs))

    def decode_actions(self, hidden):
        """Trunk features [B, width] -> (action parameters [B, num_params], values [B])."""
        return self.actor_head(hidden), self.value_head(hidden).squeeze(-1)

    def forward(self, obs):
        """(action parameters, values) of observation rows."""
        return self.decode_actions(self.encode_observations(obs))


class LSTMPolicy(nn.Module):
    """An LSTM between a policy's `encode_observations` and `decode_actions`.

    The LSTM is as wide as the encoder's output. Its state is per agent row and is zeroed where an
    episode starts, both in `step` (rollouts, one step at a time) and in `sequence` (training over
    `[B, T]` sequences), so episodes never leak into each other; the two give the same outputs.

    Args:
        policy: a module with `encode_observations`, `decode_actions` and `hidden_size`.
    """

    recurrent = True

    def __init__(self, policy):
        super().__init__()
        self.policy = policy
        self.dist = policy.dist
        self.hidden_size = policy.hidden_size
        self.lstm = nn.LSTM(policy.hidden_size, policy.hidden_size, batch_first=True)
        for name, param in self.lstm.named_parameters():
            if "weight" in name:
                nn.init.orthogonal_(param, 1.0)
            else:
                nn.init.constant_(param, 0.0)

    @property
    def log_std(self):
        """The wrapped policy's learned log-std (continuous actions), or None."""
        return self.policy.log_std

    def initial_state(self, rows, device=None):
        """Zero (h, c) states for `rows` agent rows."""
        zeros = torch.zeros(rows, self.hidden_size, device=device)
        return zeros, zeros.clone()

    def step(self, obs, state, starts):
        """One step for every row: (action parameters, values, new state).

        Args:
            obs: observation rows [B, ...].
            state: (h, c), each [B, hidden].
            starts: bool/float [B], true where the row's episode starts at this observation.
        """
        keep = (1 - starts.float()).unsqueeze(-1)
        h, c = state[0] * keep, state[1] * keep
        x = self.policy.encode_observations(obs)
        h, c = torch.lstm_cell(x, (h, c), self.lstm.weight_ih_l0, self.lstm.weight_hh_l0,
                               self.lstm.bias_ih_l0, self.lstm.bias_hh_l0)
        params, values = self.policy.decode_actions(h)
        return params, values, (h, c)

    def sequence(self, obs, state, starts):
        """Training pass over sequences: (action parameters [B, T, P], values [B, T], final state).

        Args:
            obs: observation rows [B, T, ...].
            state: (h, c) at the first step of each sequence, each [B, hidden].
            starts: [B, T], true where an episode starts (the state is zeroed before that step).

        On the CPU in float32 the LSTM runs as one C call forward and one backward
        (`pufferlib.train.lstm.lstm_sequence`), whatever the episode starts inside the sequences.
        """
        batch, horizon = obs.shape[:2]
        x = self.policy.encode_observations(obs.reshape((batch * horizon,) + obs.shape[2:]))
        out, (h, c) = lstm_sequence(x.reshape(batch, horizon, -1), state, starts, self.lstm)
        params, values = self.policy.decode_actions(out.reshape(batch * horizon, -1))
        return params.reshape(batch, horizon, -1), values.reshape(batch, horizon), (h, c)


def make_policy(config, env_spec):
    """The policy a `PolicyConfig` describes (wrapped in an LSTM when config.lstm) for an env.

    `config.encoder` 'mlp' gives the default `Policy`, 'nature_cnn' and 'impala' a `ConvPolicy`.

    Args:
        config: the run's `PolicyConfig`.
        env_spec: the environment's `pufferlib.emulation.EnvSpec` (a vector env's `env_spec`, or a
            checkpoint's): its flat spaces, and the layouts that nested observations and mixed
            actions are read through.

    Raises:
        ValueError: an observation encoding or encoder the observations cannot take.
    """
    obs_space, act_space = env_spec.single_observation_space, env_spec.single_action_space
    if config.encoder == "mlp":
        policy = Policy(obs_space, act_space, config.hidden_size, config.num_layers, config.activation,
                        observation_layout=env_spec.observation_layout, action_nvec=env_spec.action_nvec,
                        obs_encoding=config.obs_encoding)
    else:
        channels, kernels, strides = config.cnn_layers()
        policy = ConvPolicy(obs_space, act_space, config.encoder, channels, kernels, strides,
                            config.cnn_width, config.obs_encoding, env_spec.observation_layout,
                            env_spec.action_nvec)
    return LSTMPolicy(policy) if config.lstm else policy


# Keys that checkpoints written before them lack, with the value that those checkpoints were built with.
ARCHITECTURE_DEFAULTS = {"encoder": "mlp", "obs_encoding": "auto"}


def architecture(config, policy, observation_space, action_space):
    """What a checkpoint must share with a policy to be loaded into it: its settings and spaces.

    The encoder keys are recorded always; a checkpoint that lacks them predates them and was an
    MLP on float-cast observations (`ARCHITECTURE_DEFAULTS`).
    """
    obs = observation_space
    arch = {"policy": type(policy).__name__, "hidden_size": config.hidden_size,
            "num_layers": config.num_layers,
            "activation": config.activation, "lstm": config.lstm,
            "observation_space": f"{type(obs).__name__}{tuple(obs.shape)} {obs.dtype}",
            "action_space": str(action_space),
            "encoder": config.encoder, "obs_encoding": config.obs_encoding}
    if config.encoder != "mlp":
        channels, kernels, strides = config.cnn_layers()
        arch.update(cnn_channels=list(channels), cnn_kernels=list(kernels), cnn_strides=list(strides),
                    cnn_width=config.cnn_width)
    return arch
