"""Learners: what acts for rollouts and takes PPO gradient steps, behind one `Learner` protocol.

The trainer talks to a learner only through the `Learner` protocol, so the fast CPU path for the
default policy (pufferlib's C kernel, `pufferlib.train.kernel.KernelLearner`) and the generic torch
path here (`TorchLearner`, autograd on any device, the reference) are interchangeable.
"""
import math
from typing import ClassVar, Protocol

import torch

from pufferlib.errors import NonFiniteError

__all__ = ["Learner", "TorchLearner", "nonfinite_update", "ppo_loss"]

LOSS_TERMS = {"policy_loss": "policy loss", "value_loss": "value loss", "entropy": "entropy"}


def _masked_mean(x, mask, count):
    return (x * mask).sum() / count


def ppo_loss(logp, entropy, values, mb, config, weights=None):
    """Cleanrl's PPO loss over one minibatch, ignoring rows whose agent was absent (mask 0).

    Args:
        logp: the current policy's log-probabilities of the stored actions [N].
        entropy: the current policy's entropies [N].
        values: the current policy's values [N].
        mb: dict of the minibatch's stored tensors [N]: logprobs, advantages, returns, values, masks.
        config: the TrainConfig (clip_coef, vf_coef, ent_coef, norm_adv, clip_vloss, vf_clip_coef).
        weights: optional importance weights [N] of prioritised replay.

    Returns:
        (loss, stats): the scalar loss and a dict of detached tensors (policy_loss, value_loss,
        entropy, approx_kl, old_approx_kl, clipfrac).
    """
    mask = mb["masks"].float()
    count = mask.sum().clamp(min=1)
    logratio = logp - mb["logprobs"]
    ratio = logratio.exp()
    adv = mb["advantages"]
    if config.norm_adv:
        mean = _masked_mean(adv, mask, count)
        std = (((adv - mean) ** 2 * mask).sum() / (count - 1).clamp(min=1)).sqrt()
        adv = (adv - mean) / (std + 1e-8)
    pg = torch.max(-adv * ratio, -adv * ratio.clamp(1 - config.clip_coef, 1 + config.clip_coef))
    if weights is not None:
        pg = pg * weights
    policy_loss = _masked_mean(pg, mask, count)
    if config.clip_vloss:
        clipped = mb["values"] + (values - mb["values"]).clamp(-config.vf_clip_coef, config.vf_clip_coef)
        v = torch.max((values - mb["returns"]) ** 2, (clipped - mb["returns"]) ** 2)
    else:
        v = (values - mb["returns"]) ** 2
    value_loss = 0.5 * _masked_mean(v, mask, count)
    entropy_mean = _masked_mean(entropy, mask, count)
    loss = policy_loss - config.ent_coef * entropy_mean + config.vf_coef * value_loss
    with torch.no_grad():
        stats = {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy_mean,
                 "old_approx_kl": _masked_mean(-logratio, mask, count),
                 "approx_kl": _masked_mean((ratio - 1) - logratio, mask, count),
                 "clipfrac": _masked_mean(((ratio - 1).abs() > config.clip_coef).float(), mask, count)}
    return loss, {k: v.detach() for k, v in stats.items()}


def nonfinite_update(stats, learning_rate):
    """The NonFiniteError of a minibatch whose loss or gradient norm is NaN or infinite.

    A learner raises it instead of taking that step, so the weights stay finite.

    Args:
        stats: the minibatch's loss statistics (floats or tensors) with its grad_norm.
        learning_rate: the step size in use, for the message.

    Returns:
        NonFiniteError naming the non-finite loss terms, or the gradient when they are all finite.
    """
    bad = [f"{text} {float(stats[key])}" for key, text in LOSS_TERMS.items()
           if not math.isfinite(float(stats[key]))]
    what = (f"the loss is not finite ({', '.join(bad)})" if bad else
            f"the gradient is not finite (norm {float(stats['grad_norm'])})")
    return NonFiniteError(f"{what}; the update was not applied. Lower train.learning_rate (now "
                          f"{learning_rate:g}) or train.max_grad_norm, or look for huge rewards or "
                          "observations in the environment")


class Learner(Protocol):
    """What the trainer asks of a learner: act during rollouts, then update on the rollout.

    One iteration of the trainer calls, in order: `act` for every step of every row group (and
    `value` for the observations it must bootstrap from), then `set_learning_rate` and `begin` with
    the filled `RolloutStorage`, then per epoch `evaluate` (V-trace only, after the first epoch) and
    `update` per minibatch. `state_dict` and `load_state_dict` carry the learner's own state
    (optimizer, sampler) through checkpoints; the policy's weights are saved by the trainer.
    """

    name: ClassVar[str]
    """The learner's kind, stored in checkpoints ("torch", "kernel"): a run resumes with the same kind."""

    def act(self, obs, state, starts, generator, deterministic=False, action_masks=None):
        """Samples one step's actions for some rows.

        Args:
            obs: the rows' observations (the env's numpy buffer, or a tensor).
            state: the rows' recurrent state (h, c), or None for a feed-forward policy.
            starts: per row, whether this step starts an episode (the recurrent state resets there).
            generator: the torch.Generator that torch sampling draws from.
            deterministic: take the most probable action instead of sampling.
            action_masks: the rows' legal choices (the env's `action_masks`), or None: illegal
                choices get probability 0.

        Returns:
            (env actions, stored actions, log-probs, values, new state): arrays or tensors of one
            row each; env actions are what the env takes (continuous ones clipped to its bounds),
            stored actions what the rollout keeps; the new state is None without recurrence.
        """

    def value(self, obs, state=None):
        """The policy's values of observations (a truncated episode's final one, a rollout's last).

        Args:
            obs: observation rows.
            state: their recurrent state (h, c), or None.

        Returns:
            values [rows], an array or a tensor.
        """

    def set_learning_rate(self, lr):
        """Sets the optimizer's step size (the schedule calls this before each rollout's update)."""

    def begin(self, storage):
        """Takes the rollout that the following `evaluate` and `update` calls work on.

        Args:
            storage: the filled `pufferlib.train.rollout.RolloutStorage`, advantages computed.
        """

    def evaluate(self):
        """(log-probs, values) [rows, horizon] of the rollout's stored actions under the current policy.

        V-trace calls this between epochs to recompute the importance ratios and the advantages.
        """

    def update(self, indices, weights=None):
        """One PPO gradient step on a minibatch of the rollout.

        Args:
            indices: int64 tensor of the rollout's training units (see `RolloutStorage.minibatch`).
            weights: optional per-step importance weights of prioritised replay.

        Returns:
            the loss statistics (policy_loss, value_loss, entropy, approx_kl, old_approx_kl,
            clipfrac, grad_norm), floats or tensors; empty when the step was skipped.

        Raises:
            NonFiniteError: the loss or the gradient is NaN or infinite (the step is not taken).
        """

    def state_dict(self):
        """The learner's own state for checkpoints: a dict with "kind" (its `name`) and plain data."""

    def load_state_dict(self, state):
        """Restores what `state_dict` returned."""


class TorchLearner(Learner):
    """PPO with torch autograd and Adam, for any policy, on CPU or CUDA, alone or under torchrun.

    Args:
        policy: a `Policy`, an `LSTMPolicy`, or any module with the same interface.
        config: the TrainConfig.
        device: the torch device the policy lives on.
        distributed: whether gradients are all-reduced over torch.distributed ranks.
    """

    name = "torch"

    def __init__(self, policy, config, device, distributed=False):
        self.policy = policy
        self.config = config
        self.device = device
        self.distributed = distributed
        # the fused step is one kernel for every tensor: ~3x faster than the per-tensor loop for the
        # small networks of RL, where Adam's per-parameter overhead rivals the arithmetic
        self.optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate, eps=config.adam_eps,
                                          fused=device.type in ("cpu", "cuda"))
        self.autocast = config.bf16 and device.type == "cuda"
        self.model = torch.compile(policy) if config.compile else policy
        self.storage = None

    def _forward(self, obs, state=None, starts=None):
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.autocast):
            if self.policy.recurrent:
                params, values, state = self.policy.step(obs, state, starts)
            else:
                params, values = self.model(obs)
        return params.float(), values.float(), state

    def _tensor(self, array):
        tensor = torch.as_tensor(array)
        return tensor.to(self.device, non_blocking=True) if tensor.device != self.device else tensor

    @torch.no_grad()
    def act(self, obs, state, starts, generator, deterministic=False, action_masks=None):
        """Samples actions for a step: (env actions, stored actions, log-probs, values, new state).

        obs, starts and action_masks are the env's numpy arrays (or tensors); the results are tensors.
        """
        obs = self._tensor(obs)
        starts = None if state is None else self._tensor(starts)
        params, values, state = self._forward(obs, state, starts)
        dist = self.policy.dist
        params = dist.mask(params, None if action_masks is None else self._tensor(action_masks))
        actions = dist.sample(params, self.policy.log_std, generator, deterministic)
        logp, _ = dist.log_prob_entropy(params, actions, self.policy.log_std)
        return dist.clip(actions), actions, logp, values, state

    @torch.no_grad()
    def value(self, obs, state=None):
        """Values of observations (final observations of truncated episodes, the rollout's last)."""
        obs = self._tensor(obs)
        if self.policy.recurrent:
            zeros = torch.zeros(obs.shape[0], device=obs.device)
            return self._forward(obs, state, zeros)[1]
        return self._forward(obs)[1]

    @torch.no_grad()
    def evaluate(self):
        """(log-probs, values) [rows, horizon] of the rollout's stored actions under the current policy."""
        s = self.storage
        obs, actions = s.obs, s.actions
        segments, horizon = obs.shape[:2]
        if self.policy.recurrent:
            params, values, _ = self.policy.sequence(obs, (s.h[:, 0], s.c[:, 0]), s.starts)
            params, values = params.reshape(segments * horizon, -1), values.reshape(-1)
        else:
            params, values = self.policy(obs.reshape((segments * horizon,) + obs.shape[2:]))
        if s.action_masks is not None:
            params = self.policy.dist.mask(params.float(), s.action_masks.reshape(segments * horizon, -1))
        logp, _ = self.policy.dist.log_prob_entropy(params.float(), actions.reshape(
            (segments * horizon,) + actions.shape[2:]), self.policy.log_std)
        return logp.reshape(segments, horizon), values.float().reshape(segments, horizon)

    def set_learning_rate(self, lr):
        """Sets Adam's step size (the schedule calls this before each rollout's update)."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def begin(self, storage):
        """Takes the rollout that the following `evaluate` and `update` calls work on."""
        self.storage = storage

    def update(self, indices, weights=None):
        """One gradient step on the rollout's training units `indices`; returns the loss statistics (tensors).

        Raises:
            NonFiniteError: the loss or the gradient is NaN or infinite (the step is not taken).
        """
        return self.update_minibatch(self.storage.minibatch(indices), weights)

    def update_minibatch(self, mb, weights=None):
        """One gradient step on a gathered minibatch; returns the loss statistics (tensors).

        Args:
            mb: dict of tensors as `RolloutStorage.minibatch` returns them.
            weights: optional per-step importance weights of prioritised replay.

        Raises:
            NonFiniteError: the loss or the gradient is NaN or infinite (the step is not taken).
        """
        policy = self.policy
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.autocast):
            if policy.recurrent:
                params, values, _ = policy.sequence(mb["obs"], (mb["h"], mb["c"]), mb["starts"])
                params, values = params.reshape(-1, params.shape[-1]), values.reshape(-1)
                mb = {k: v.reshape(-1, *v.shape[2:]) for k, v in mb.items() if k not in ("h", "c")}
            else:
                params, values = self.model(mb["obs"])
        params = policy.dist.mask(params.float(), mb.get("action_masks"))
        logp, entropy = policy.dist.log_prob_entropy(params, mb["actions"], policy.log_std)
        loss, stats = ppo_loss(logp, entropy, values.float(), mb, self.config, weights)
        self.optimizer.zero_grad(set_to_none=False)
        loss.backward()
        if self.distributed:
            self._all_reduce_gradients()
        norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), self.config.max_grad_norm
                                              if self.config.max_grad_norm > 0 else float("inf"))
        stats["grad_norm"] = norm.detach()
        if not bool(torch.isfinite(loss.detach()) & torch.isfinite(stats["grad_norm"])):
            raise nonfinite_update(stats, self.optimizer.param_groups[0]["lr"])
        self.optimizer.step()
        return stats

    def _all_reduce_gradients(self):
        """Averages the gradients over ranks in one flat all-reduce."""
        grads = [p.grad for p in self.policy.parameters() if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        torch.distributed.all_reduce(flat)
        flat /= torch.distributed.get_world_size()
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def state_dict(self):
        """The optimizer state (for checkpoints)."""
        return {"kind": self.name, "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state):
        """Restores the optimizer state saved by `state_dict` (of a torch learner)."""
        self.optimizer.load_state_dict(state["optimizer"])
