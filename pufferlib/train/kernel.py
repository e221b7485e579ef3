"""The fast CPU learners: the default policy, feed-forward or in an LSTM, through pufferlib's C kernels.

For the default `Policy` (any action kind: Discrete, MultiDiscrete, Box, mixed; any observation its
parameter-free `features` module reads), `KernelLearner` runs rollout inference and whole PPO
minibatch steps (loss, gradient, grad-norm clip, Adam) in C with the GIL released
(`pufferlib._native.mlp`, csrc/puffer_mlp.h). `RecurrentKernelLearner` does the same for an
`LSTMPolicy` wrapping it: the towers, the LSTM (csrc/puffer_lstm.h) over the minibatch's sequences
and the heads, forward and backward, in C. The features are computed by the policy's own torch
module, once per step when acting and once per rollout for the update (a flat float32 observation
passes through as a view). The weights and the log-std stay in the torch module's tensors, updated
in place, so checkpoints, evaluation and export see the same policy as the torch path; its loss and
Adam match torch's (tests/_native/test_mlp.py). Sampling uses numpy's PCG64.
"""
import math

import numpy as np
import torch

from pufferlib._native.mlp import ActorCriticKernel, RecurrentKernel
from pufferlib.train.learner import Learner, TorchLearner, nonfinite_update
from pufferlib.train.policies import MASKED_LOGIT, LSTMPolicy, Policy

__all__ = ["KernelLearner", "RecurrentKernelLearner", "make_learner"]

HALF_LOG_2PI = np.float32(0.5 * math.log(2 * math.pi))
TINY = np.float32(1e-30)


def _linear(layer):
    return layer.weight.detach().numpy(), layer.bias.detach().numpy()


class KernelLearner(Learner):
    """Acts and learns through the C kernel; a `Learner`, as `TorchLearner` is.

    Args:
        policy: a `Policy` (see `supports`).
        config: the TrainConfig.
        seed: seeds the action sampler.
    """

    name = "kernel"

    @staticmethod
    def supports(policy):
        """Whether the kernel can run this policy.

        It runs the default `Policy` (not a subclass such as a convolutional one, nor an
        `LSTMPolicy`) with a parameter-free `features` module, on the CPU in float32.
        """
        return (type(policy) is Policy and not any(True for _ in policy.features.parameters())
                and all(p.device.type == "cpu" and p.dtype == torch.float32 for p in policy.parameters()))

    def __init__(self, policy, config, seed=0):
        self.policy = policy
        self.config = config
        self.lr = config.learning_rate
        self.kernel = self._make_kernel(policy)
        dist = self.base.dist
        self.dist = dist
        self.num_logits = sum(dist.logit_sizes)
        self.categorical = np.flatnonzero(dist.nvec > 0)    # the action row's entries of each kind
        self.continuous = np.flatnonzero(dist.nvec == 0)
        if dist.num_continuous:
            self.low, self.high = dist.low.numpy(), dist.high.numpy()
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self._buffers = {}
        self._reshaped = None     # (dtype, row shape) of observations whose features are a reshape
        self.storage = self.batch = None

    def _make_kernel(self, policy):
        """The C kernel that runs `policy` (a subclass runs another kind of policy)."""
        return self._mlp_kernel(policy)

    def _mlp_kernel(self, base):
        """The ActorCriticKernel of a default `Policy`: its towers, heads and log_std, in place."""
        actor = [m for m in base.actor if isinstance(m, torch.nn.Linear)]
        critic = [m for m in base.critic if isinstance(m, torch.nn.Linear)]
        # the kernel reads and writes log_std in place, as it does the weights
        self.log_std = None if base.log_std is None else base.log_std.detach().numpy()
        self.base = base
        return ActorCriticKernel([_linear(m) for m in actor], _linear(base.actor_head),
                                 [_linear(m) for m in critic], _linear(base.value_head),
                                 [int(n) for n in base.dist.nvec], base.activation,
                                 adam_eps=self.config.adam_eps, log_std=self.log_std)

    def _scratch(self, rows):
        """Per-batch-size output buffers (rollout groups and final observations reuse them)."""
        if rows not in self._buffers:
            self._buffers[rows] = (np.empty((rows, self.kernel.num_actions), np.float32),
                                   np.empty(rows, np.float32))
        return self._buffers[rows]

    def _features(self, obs):
        """The policy's features of observation rows, as a float32 (rows, features) array.

        A flat float32 observation comes back as a view of the caller's memory (no copy). Once the
        features module has returned its input's own memory for numpy rows of some dtype and shape,
        it is a reshape for them: later ones skip torch (about 10 us a call, on every step).
        """
        if type(obs) is np.ndarray and (obs.dtype, obs.shape[1:]) == self._reshaped:
            return obs.reshape(obs.shape[0], -1)
        with torch.no_grad():
            x = self.base.features(torch.as_tensor(obs)).numpy()
        if x.dtype != np.float32 or not x.flags.c_contiguous:
            x = np.ascontiguousarray(x, np.float32)
        elif (type(obs) is np.ndarray and obs.dtype == np.float32 and obs.flags.c_contiguous
              and x.size == obs.size and x.ctypes.data == obs.ctypes.data):
            self._reshaped = (obs.dtype, obs.shape[1:])
        return x

    def _forward(self, obs):
        """(action parameters, values) of observation rows, in the per-size scratch buffers."""
        x = self._features(obs)
        params, values = self._scratch(x.shape[0])
        self.kernel.forward(x, params, values)
        return params, values

    def forward_into(self, obs, params, values):
        """The action parameters and values of observation rows, written into `params` and `values`.

        With `sample`, how a batch of rows acted on by several frozen policies of one action space
        is sampled in one call (self-play's opponents): each policy's forward into its slice.
        """
        self.kernel.forward(self._features(obs), params, values)

    def sample(self, params, values, deterministic=False, action_masks=None):
        """(env actions, stored actions, log-probs, values) from action parameters (see `act`).

        `params` is changed in place (illegal choices masked).
        """
        return self._sample(params, values, deterministic, action_masks)

    def _categorical(self, params):
        """(entry, logits minus their max, log of the softmax normaliser) of each categorical entry."""
        start = 0
        for entry, n in zip(self.categorical, self.dist.logit_sizes):
            group = params[:, start:start + n]
            start += n
            shifted = group - group.max(1, keepdims=True)
            yield entry, shifted, np.log(np.exp(shifted).sum(1))

    def _normal_logp(self, params, x):
        """Summed log-probabilities of continuous values x (rows, C) under the Normal heads.

        The sum of -(x - mean)^2 / (2 std^2) - log_std - 0.5 log(2 pi), in few numpy calls.
        """
        std = np.exp(self.log_std)
        diff = x - params[:, self.num_logits:]
        return -((diff * diff) @ (0.5 / (std * std))) - (self.log_std + HALF_LOG_2PI).sum()

    def act(self, obs, state, starts, generator, deterministic=False, action_masks=None):
        """Samples actions: (env actions, stored actions, log-probs, values, None), numpy arrays.

        Continuous entries are stored as sampled and clipped to the space's bounds for the env;
        choices that `action_masks` marks illegal are never sampled.
        """
        params, values = self._forward(obs)
        return self._sample(params, values, deterministic, action_masks) + (None,)

    def _mask(self, params, action_masks):
        """Sets the logits of illegal choices to MASKED_LOGIT, in place (as ActionDistribution.mask)."""
        if action_masks is None:
            return
        legal = np.asarray(action_masks)
        if legal.shape != (params.shape[0], self.num_logits) or self.num_logits == 0:
            raise ValueError(f"action masks must have one entry per choice ({self.num_logits}: the "
                             f"categorical sizes {self.dist.logit_sizes}) for each of the {params.shape[0]} "
                             f"rows, got shape {legal.shape}; the env's action_masks rows are what the "
                             "policy takes")
        np.copyto(params[:, :self.num_logits], np.float32(MASKED_LOGIT), where=legal == 0)

    def _sample(self, params, values, deterministic, action_masks=None):
        """(env actions, stored actions, log-probs, values) from the action parameters of some rows."""
        self._mask(params, action_masks)
        rows, dist = params.shape[0], self.dist
        actions = np.empty((rows, len(dist.nvec)), np.int32 if dist.discrete else np.float32)
        logp = np.zeros(rows, np.float32)
        for entry, shifted, log_norm in self._categorical(params):
            if deterministic:
                index = shifted.argmax(1)
            else:  # Gumbel-max: argmax of logits plus Gumbel noise is a categorical sample
                uniform = self.rng.random(shifted.shape, np.float32)
                np.maximum(uniform, TINY, out=uniform)    # random() may return 0, whose log is -inf
                index = (shifted - np.log(-np.log(uniform))).argmax(1)
            actions[:, entry] = index
            logp += np.take_along_axis(shifted, index[:, None], 1)[:, 0] - log_norm
        if dist.discrete:
            actions = actions[:, 0] if dist.single else actions
            return actions, actions, logp, values.copy()
        x = params[:, self.num_logits:].copy()
        if not deterministic:
            x += self.rng.standard_normal(x.shape, np.float32) * np.exp(self.log_std)
        logp += self._normal_logp(params, x)
        if dist.num_continuous == len(dist.nvec):    # a Box: the samples are the rows
            return np.clip(x, self.low, self.high), x, logp, values.copy()
        actions[:, self.continuous] = x
        env_actions = actions.copy()
        env_actions[:, self.continuous] = np.clip(x, self.low, self.high)
        return env_actions, actions, logp, values.copy()

    def value(self, obs, state=None):
        """Values of observations."""
        return self._forward(obs)[1].copy()

    def evaluate(self):
        """(log-probs, values) [rows, horizon] of the rollout's stored actions under the current policy."""
        x = self.batch["features"]
        params, values = np.empty((x.shape[0], self.kernel.num_actions), np.float32), \
            np.empty(x.shape[0], np.float32)
        self.kernel.forward(x, params, values)
        return self._log_probs(params, values)

    def _log_probs(self, params, values):
        """(log-probs, values) [rows, horizon] of the rollout's stored actions from every step's outputs."""
        segments, horizon = self.storage.obs.shape[:2]
        actions = self.batch["actions"]
        self._mask(params, self.batch["action_masks"])
        logp = np.zeros(params.shape[0], np.float32)
        for entry, shifted, log_norm in self._categorical(params):
            index = actions[:, entry:entry + 1].astype(np.int64)
            logp += np.take_along_axis(shifted, index, 1)[:, 0] - log_norm
        if self.dist.num_continuous:
            logp += self._normal_logp(params, actions[:, self.continuous])
        return (torch.from_numpy(logp.reshape(segments, horizon)),
                torch.from_numpy(values.reshape(segments, horizon)))

    def set_learning_rate(self, lr):
        """Sets Adam's step size."""
        self.lr = lr

    def begin(self, storage):
        """Takes the rollout to update on.

        Its features are computed once here for every epoch and minibatch; the rest are flat
        float32 views (the kernel reads them in place).
        """
        self.storage = storage
        obs = storage.obs
        count = obs.shape[0] * obs.shape[1]
        flat = lambda name: getattr(storage, name).numpy().reshape(count)  # noqa: E731
        actions = storage.actions.numpy().reshape(count, -1)
        dtype = np.int32 if self.dist.discrete else np.float32
        self.batch = {"features": self._features(obs.reshape((count,) + tuple(obs.shape[2:]))),
                      "actions": np.ascontiguousarray(actions, dtype),
                      "logprobs": flat("logprobs"), "advantages": flat("advantages"),
                      "returns": flat("returns"), "values": flat("values"), "masks": flat("masks"),
                      "action_masks": None if storage.action_masks is None
                      else storage.action_masks.numpy().reshape(count, -1)}

    def update(self, indices, weights=None):
        """One PPO minibatch step on the rollout's steps `indices` (flat [rows * horizon] indices).

        Prioritised replay's weights are not supported (the trainer picks the torch learner then).

        Raises:
            NonFiniteError: the loss or the gradient is NaN or infinite (the step is not taken).
        """
        b = self.batch
        indices = indices.numpy()
        present = indices[b["masks"][indices]]
        if present.size < 2:
            return {}
        return self._checked(self.kernel.update(
            b["features"], b["actions"], b["logprobs"], b["advantages"], b["returns"], b["values"], present,
            **self._loss_settings()))

    def _loss_settings(self):
        """The PPO loss and step settings both kernels' `update` take, from the config."""
        c = self.config
        return dict(lr=self.lr, clip_coef=c.clip_coef, vf_coef=c.vf_coef, ent_coef=c.ent_coef,
                    max_grad_norm=c.max_grad_norm, norm_adv=c.norm_adv, clip_vloss=c.clip_vloss,
                    vf_clip_coef=c.vf_clip_coef, action_masks=self.batch["action_masks"])

    def _checked(self, stats):
        """The kernel's update statistics; NonFiniteError when the kernel refused a non-finite step."""
        # float32 values summed as doubles cannot overflow: the sum is finite when each one is
        total = stats["grad_norm"] + stats["policy_loss"] + stats["value_loss"] + stats["entropy"]
        if not math.isfinite(total):
            raise nonfinite_update(stats, self.lr)  # the kernel did not take this step
        return stats

    def state_dict(self):
        """Adam's state and the sampler's, for checkpoints."""
        return {"kind": self.name, "adam": self.kernel.state_dict(), "sampler": self.rng.bit_generator.state}

    def load_state_dict(self, state):
        """Restores what `state_dict` returned."""
        self.kernel.load_state_dict(state["adam"])
        self.rng.bit_generator.state = state["sampler"]


def _state_rows(x):
    """A recurrent state's rows (a tensor or an array) as a C-contiguous float32 array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().numpy()
    return np.ascontiguousarray(x, np.float32)


class RecurrentKernelLearner(KernelLearner):
    """`KernelLearner` for an `LSTMPolicy` wrapping the default `Policy`: towers, LSTM and heads in C.

    Rollouts step the LSTM one observation per row, carrying (h, c) per row as the `Learner`
    protocol says (a state in, the new state out, as tensors); updates take whole bptt segments
    (`RolloutStorage.minibatch`'s units), the LSTM starting from the state the rollout stored at
    each segment's start. The LSTM's weights stay in the torch module, updated in place.

    Args:
        policy: an `LSTMPolicy` (see `supports`).
        config: the TrainConfig.
        seed: seeds the action sampler.
    """

    @staticmethod
    def supports(policy):
        """Whether the kernels can run this policy.

        They run an `LSTMPolicy` around a policy that `KernelLearner` runs, on the CPU in float32.
        """
        return (type(policy) is LSTMPolicy and KernelLearner.supports(policy.policy)
                and all(p.device.type == "cpu" and p.dtype == torch.float32
                        for p in policy.lstm.parameters()))

    def _make_kernel(self, policy):
        """The RecurrentKernel of the wrapped policy's towers and heads and of the LSTM, in place."""
        lstm = policy.lstm
        return RecurrentKernel(self._mlp_kernel(policy.policy), lstm.weight_ih_l0.detach().numpy(),
                               lstm.weight_hh_l0.detach().numpy(), lstm.bias_ih_l0.detach().numpy(),
                               lstm.bias_hh_l0.detach().numpy())

    def _step(self, obs, state, starts):
        """(action parameters, values, (h, c)) of one step for some rows; the state arrays are new."""
        x = self._features(obs)
        rows = x.shape[0]
        if state is None:
            state = (np.zeros((rows, self.kernel.width), np.float32),) * 2
        h, c = _state_rows(state[0]), _state_rows(state[1])
        if starts is None:
            starts = np.zeros(rows, np.float32)
        else:
            starts = np.ascontiguousarray(np.asarray(starts, np.float32).reshape(rows))
        params, values = self._scratch(rows)
        h_out, c_out = np.empty_like(h), np.empty_like(c)
        self.kernel.step(x, h, c, starts, params, values, h_out, c_out)
        return params, values, (h_out, c_out)

    def act(self, obs, state, starts, generator, deterministic=False, action_masks=None):
        """Samples actions: (env actions, stored actions, log-probs, values, new state (h, c)).

        The state is zeroed for rows whose episode starts, then stepped; the new one comes back as
        tensors (the trainer stores them). Choices `action_masks` marks illegal are never sampled.
        """
        params, values, (h, c) = self._step(obs, state, starts)
        return self._sample(params, values, deterministic, action_masks) + (
            (torch.from_numpy(h), torch.from_numpy(c)),)

    def value(self, obs, state=None):
        """Values of observations, stepping the LSTM from `state` (zeros when None)."""
        return self._step(obs, state, None)[1].copy()

    def begin(self, storage):
        """Takes the rollout to update on: as `KernelLearner.begin`, plus its starts and stored states."""
        super().begin(storage)
        self.batch["starts"] = storage.starts.numpy().astype(np.float32).reshape(-1)
        self.batch["h"], self.batch["c"] = storage.h.numpy(), storage.c.numpy()

    def evaluate(self):
        """(log-probs, values) [rows, horizon] of the rollout's stored actions under the current policy.

        Each row's whole rollout is one sequence from the state stored at its start.
        """
        b = self.batch
        rows, horizon = self.storage.obs.shape[:2]
        params = np.empty((rows * horizon, self.kernel.num_actions), np.float32)
        values = np.empty(rows * horizon, np.float32)
        h0, c0 = np.ascontiguousarray(b["h"][:, 0]), np.ascontiguousarray(b["c"][:, 0])
        self.kernel.sequence(b["features"], h0, c0, b["starts"].reshape(rows, horizon), params, values)
        return self._log_probs(params, values)

    def update(self, indices, weights=None):
        """One PPO minibatch step on the rollout's bptt segments `indices` (`RolloutStorage.units`).

        Prioritised replay's weights are not supported (the trainer picks the torch learner then).

        Raises:
            NonFiniteError: the loss or the gradient is NaN or infinite (the step is not taken).
        """
        b, storage = self.batch, self.storage
        indices = indices.numpy()
        per_row = storage.horizon // storage.segment
        row, seq = indices // per_row, indices % per_row
        steps = (row * storage.horizon + seq * storage.segment)[:, None] + np.arange(storage.segment)
        return self._checked(self.kernel.update(
            b["features"], b["actions"], b["logprobs"], b["advantages"], b["returns"], b["values"],
            b["masks"], steps, b["starts"][steps], b["h"][row, seq], b["c"][row, seq],
            **self._loss_settings()))


def make_learner(policy, config, device, distributed=False, seed=0):
    """The learner for a policy: the C kernel where it runs it, else torch's (the reference).

    The kernel runs on the CPU, for a policy `KernelLearner.supports` (feed-forward) or
    `RecurrentKernelLearner.supports` (an LSTM), when `config.kernel` is
    'auto', on one process (no torchrun) and without prioritised replay (whose weights it does not
    take). Training and evaluation both choose here, so they act through the same fast path.

    Args:
        policy: the policy to act and learn with.
        config: the TrainConfig.
        device: the torch device the policy lives on.
        distributed: whether gradients are all-reduced over torch.distributed ranks.
        seed: seeds the kernel's action sampler.
    """
    if config.kernel == "auto" and device.type == "cpu" and not distributed and config.replay_alpha == 0:
        for learner in (KernelLearner, RecurrentKernelLearner):
            if learner.supports(policy):
                return learner(policy, config, seed=seed)
    return TorchLearner(policy, config, device, distributed)
