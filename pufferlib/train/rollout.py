"""One rollout's storage: [rows, horizon] tensors on the learner's device, written step by step.

`RolloutStorage` is the one home of a rollout: what the policy saw and did (obs, actions, logprobs,
values, masks, starts, the LSTM state at each bptt segment), what the environments returned
(rewards, terminals, truncations, the values of truncated episodes' final observations), what
carries over to the next rollout (next_starts, the recurrent state) and what the update derives
from it (next_values, advantages, returns, V-trace ratios). The trainer writes a step through
`views` (numpy views of the tensors on the CPU, so each write is a cheap numpy assignment) and
the learner reads minibatches through `minibatch`.

>>> import gymnasium, torch
>>> storage = RolloutStorage(rows=4, horizon=8, observation_space=gymnasium.spaces.Box(-1, 1, (3,)),
...                          action_shape=(), action_dtype=torch.int32, device=torch.device("cpu"))
>>> storage.obs.shape, storage.segment
(torch.Size([4, 8, 3]), 1)
"""
import math

import numpy as np
import torch

from pufferlib.errors import NonFiniteError
from pufferlib.train.advantage import compute_advantages, compute_advantages_torch

__all__ = ["RolloutStorage", "torch_dtype"]


def torch_dtype(dtype):
    """The torch dtype of a numpy dtype (float32 -> torch.float32, ...)."""
    return torch.from_numpy(np.zeros(0, dtype)).dtype


def _numpy(x):
    return x.numpy() if isinstance(x, torch.Tensor) else x


class _StepViews:
    """The tensors a rollout writes step by step, as numpy views on the CPU (tensors elsewhere)."""

    __slots__ = ("obs", "actions", "logprobs", "values", "masks", "starts", "rewards", "terminals",
                 "truncations", "final_values", "next_starts", "bootstrap", "action_masks")

    def __init__(self, storage, as_view):
        for name in self.__slots__:
            tensor = getattr(storage, name)
            setattr(self, name, None if tensor is None else as_view(tensor))


# The stored tensors a NaN or inf could reach, checked in this order, and what one there means.
_FINITE_CHECKS = (
    ("obs", "observation", "the environment returned it: fix the environment (for a Python one, "
     "vec.check_observations = 'always' stops at the step that made it)"),
    ("rewards", "reward", "the environment returned it: fix the environment"),
    ("values", "policy's value", "the weights have grown too large: lower train.learning_rate"),
    ("final_values", "policy's value of the final observation", "the environment's final observation "
     "of a truncated episode holds a NaN or inf: fix the environment"),
)


class RolloutStorage:
    """The tensors of one rollout, [rows, horizon], plus what carries over to the next one.

    Args:
        rows: agent rows stepped per step (over every vector env group).
        horizon: steps per rollout.
        observation_space: the vector env's single observation space (shape and dtype of obs).
        action_shape: the shape of one row's stored action (the env's action buffer without rows).
        action_dtype: the torch dtype of the stored actions.
        device: where the tensors live (the learner's device).
        hidden_size: the recurrent policy's state size, or None for a feed-forward policy.
        bptt_horizon: the length of a recurrent policy's training segments (ignored without one).
        mask_size: the width of the env's action masks (rows of legal choices), 0 without masks.

    Attributes:
        obs, actions, logprobs, values, masks, starts: what the policy saw and did at each step;
            `starts` marks the first step of an episode.
        action_masks: [rows, horizon, mask_size] bool, the legal choices at each step (None when
            the env has no action masks).
        rewards, terminals, truncations: what the environments returned for each step.
        final_values: V(final observation) at the steps that truncated an episode.
        next_values, advantages, returns, ratios: derived by `compute_advantages` (ratios are the
            V-trace importance ratios, 1 until the update recomputes them).
        h, c: a recurrent policy's state at the start of each bptt segment [rows, segments, size]
            (None without one).
        state: the recurrent state carried into the next step, (h, c) [rows, size], or None.
        next_starts: whether each row's next step starts an episode (carried over rollouts).
        bootstrap: V(observation after the rollout), zero where that observation starts an episode.
        segment: steps per training unit: bptt_horizon for a recurrent policy, 1 otherwise.
        views: the per-step write targets (numpy views of the tensors on the CPU).
        convert: turns an env array or a learner output into what `views` holds.
    """

    def __init__(self, rows, horizon, observation_space, action_shape, action_dtype, device, *,
                 hidden_size=None, bptt_horizon=1, mask_size=0):
        self.rows, self.horizon, self.device = rows, horizon, device
        shape = (rows, horizon)
        self.obs = torch.zeros(shape + observation_space.shape, dtype=torch_dtype(observation_space.dtype),
                               device=device)
        self.actions = torch.zeros(shape + tuple(action_shape), dtype=action_dtype, device=device)
        for name in ("logprobs", "values", "rewards", "final_values", "next_values", "advantages", "returns",
                     "ratios"):
            setattr(self, name, torch.zeros(shape, device=device))
        for name in ("terminals", "truncations", "masks", "starts"):
            setattr(self, name, torch.zeros(shape, dtype=torch.bool, device=device))
        self.ratios.fill_(1.0)
        self.action_masks = torch.ones(shape + (mask_size,), dtype=torch.bool, device=device) \
            if mask_size else None
        self.recurrent = hidden_size is not None
        self.segment = bptt_horizon if self.recurrent else 1
        if self.recurrent:
            segments = horizon // bptt_horizon
            self.h = torch.zeros(rows, segments, hidden_size, device=device)
            self.c = torch.zeros(rows, segments, hidden_size, device=device)
            self.state = (torch.zeros(rows, hidden_size, device=device),
                          torch.zeros(rows, hidden_size, device=device))
        else:
            self.h = self.c = self.state = None
        self.next_starts = torch.ones(rows, dtype=torch.bool, device=device)
        self.bootstrap = torch.zeros(rows, device=device)
        if device.type == "cpu":
            self.convert = _numpy
            self.views = _StepViews(self, torch.Tensor.numpy)
        else:
            self.convert = self._to_device
            self.views = _StepViews(self, lambda x: x)

    def _to_device(self, x):
        return x if isinstance(x, torch.Tensor) else torch.from_numpy(x).to(self.device, non_blocking=True)

    def start_new_episodes(self):
        """Makes every row's next step the first of an episode, with a zero recurrent state."""
        self.next_starts.fill_(True)
        if self.state is not None:
            self.state[0].zero_()
            self.state[1].zero_()

    # -- advantages --------------------------------------------------------------------------

    def compute_advantages(self, config):
        """Sets next_values, then advantages (GAE with V-trace clipping) and returns = advantages + values.

        The value bootstrapped from after each step is the next step's within an episode, the final
        observation's after a truncation, and 0 after a termination. Advantages are computed by the
        C kernel on the CPU and by torch ops on another device.

        Args:
            config: the TrainConfig (gamma, gae_lambda, rho_clip, c_clip).
        """
        nv = torch.cat([self.values[:, 1:], self.bootstrap.unsqueeze(1)], 1)
        nv = torch.where(self.truncations, self.final_values, nv)
        nv = torch.where(self.terminals, torch.zeros_like(nv), nv)
        self.next_values.copy_(nv)
        dones = self.terminals | self.truncations
        c = config
        if self.device.type == "cpu":
            compute_advantages(self.values.numpy(), self.next_values.numpy(), self.rewards.numpy(),
                               dones.numpy(), self.ratios.numpy(), c.gamma, c.gae_lambda, c.rho_clip,
                               c.c_clip, out=self.advantages.numpy())
        else:
            self.advantages.copy_(compute_advantages_torch(self.values, self.next_values, self.rewards, dones,
                                                           self.ratios, c.gamma, c.gae_lambda, c.rho_clip,
                                                           c.c_clip))
        torch.add(self.advantages, self.values, out=self.returns)

    def explained_variance(self):
        """1 - Var[returns - values] / Var[returns] over the rollout (NaN when the returns are constant)."""
        values, returns = self.values.flatten(), self.returns.flatten()
        var = float(returns.var())
        unexplained = float((returns - values).var())
        return float("nan") if var == 0 else 1.0 - unexplained / var

    # -- minibatches -------------------------------------------------------------------------

    @property
    def units(self):
        """How many training units (steps, or bptt segments for a recurrent policy) the rollout holds."""
        return self.rows * self.horizon // self.segment

    def minibatch(self, indices):
        """The stored tensors of the training units `indices` (see `units`).

        Args:
            indices: a 1-D int64 tensor of unit indices, on the storage's device.

        Returns:
            dict of obs, actions, logprobs, values, advantages, returns, masks (and action_masks when
            the env has them): [N] (steps) for a feed-forward policy; [N, bptt_horizon] (segments)
            plus starts and the segments' initial state h and c [N, size] for a recurrent one.
        """
        if self.segment == 1:
            flat = lambda x: x.reshape((-1,) + x.shape[2:])[indices]  # noqa: E731
            mb = {}
        else:
            per_row = self.horizon // self.segment
            row, seq = indices // per_row, indices % per_row
            steps = seq.unsqueeze(1) * self.segment + torch.arange(self.segment, device=indices.device)
            rows = row.unsqueeze(1).expand_as(steps)
            flat = lambda x: x[rows, steps]  # noqa: E731
            mb = {"starts": flat(self.starts), "h": self.h[row, seq], "c": self.c[row, seq]}
        for name in ("obs", "actions", "logprobs", "values", "advantages", "returns", "masks"):
            mb[name] = flat(getattr(self, name))
        if self.action_masks is not None:
            mb["action_masks"] = flat(self.action_masks)
        return mb

    # -- checks ------------------------------------------------------------------------------

    def check_finite(self, row_name, rollout):
        """Raises NonFiniteError naming the first NaN or inf the rollout stored, if there is one.

        One sum per tensor per rollout says whether there may be one (a sum of large finite numbers
        can overflow: then a closer look finds none); only then is it looked for.

        Args:
            row_name: row -> how the message names it ("row 3 (environment 1, agent 1)").
            rollout: the rollout's number, counting from 1, for the message.

        Raises:
            NonFiniteError: an observation, reward or value is NaN or infinite; the message names
                the earliest step's first such row (and element), and what to do about it.
        """
        tensors = [getattr(self, name) for name, _, _ in _FINITE_CHECKS]
        if self.device.type == "cpu":
            finite = [not x.is_floating_point() or math.isfinite(float(x.numpy().sum())) for x in tensors]
        else:  # one synchronisation
            finite = torch.stack([x.sum() if x.is_floating_point() else torch.zeros((), device=self.device)
                                  for x in tensors]).isfinite().tolist()
        for ok, x, (_, what, advice) in zip(finite, tensors, _FINITE_CHECKS):
            if ok:
                continue
            x = x.reshape(x.shape[0], x.shape[1], -1)          # [rows, horizon, elements]
            bad = ~torch.isfinite(x)
            steps, rows = torch.nonzero(bad.any(2).T, as_tuple=True)  # the earliest step first
            if len(steps) == 0:
                continue
            row, t = int(rows[0]), int(steps[0])
            element = int(torch.nonzero(bad[row, t])[0])
            at = f" (element {element})" if x.shape[2] > 1 else ""
            raise NonFiniteError(f"the {what} of {row_name(row)} at step {t} of rollout {rollout} is "
                                 f"{float(x[row, t, element])}{at}; {advice}")
