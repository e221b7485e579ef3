"""The fast CPU learner: the default feed-forward policy through pufferlib's C kernel.

For the default `Policy` on discrete actions and flat observations, `KernelLearner` runs rollout
inference and whole PPO minibatch steps (loss, gradient, grad-norm clip, Adam) in C with the GIL
released (`pufferlib._native.mlp`, csrc/puffer_mlp.h). The weights stay in the torch module's
tensors, updated in place, so checkpoints, evaluation and export see the same policy as the torch
path; its loss and Adam match torch's (tests/_native/test_mlp.py). Sampling uses numpy's PCG64.
"""
import math

import numpy as np
import torch

from pufferlib._native.mlp import ActorCriticKernel
from pufferlib.train.learner import Learner, nonfinite_update
from pufferlib.train.policies import Policy

__all__ = ["KernelLearner"]


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

        It runs the default Policy with discrete actions and flat float-cast observations, on the CPU.
        """
        return (type(policy) is Policy and policy.dist.discrete and policy.features.identity
                and all(p.device.type == "cpu" and p.dtype == torch.float32 for p in policy.parameters()))

    def __init__(self, policy, config, seed=0):
        self.policy = policy
        self.config = config
        self.lr = config.learning_rate
        actor = [m for m in policy.actor if isinstance(m, torch.nn.Linear)]
        critic = [m for m in policy.critic if isinstance(m, torch.nn.Linear)]
        self.kernel = ActorCriticKernel([_linear(m) for m in actor], _linear(policy.actor_head),
                                        [_linear(m) for m in critic], _linear(policy.value_head),
                                        [int(n) for n in policy.dist.nvec], policy.activation,
                                        adam_eps=config.adam_eps)
        self.nvec = [int(n) for n in policy.dist.nvec]
        self.single = policy.dist.single
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self._buffers = {}
        self.storage = self.batch = None

    def _scratch(self, rows):
        """Per-batch-size output buffers (rollout groups and final observations reuse them)."""
        if rows not in self._buffers:
            self._buffers[rows] = (np.empty((rows, self.kernel.num_actions), np.float32),
                                   np.empty(rows, np.float32))
        return self._buffers[rows]

    def _obs(self, obs):
        obs = obs.numpy() if isinstance(obs, torch.Tensor) else obs
        obs = obs.reshape(obs.shape[0], -1)
        if obs.dtype != np.float32 or not obs.flags.c_contiguous:
            obs = np.ascontiguousarray(obs, np.float32)
        return obs

    def _components(self, logits):
        """(index, logits minus their max, log of the softmax normaliser) of each action component."""
        start = 0
        for k, n in enumerate(self.nvec):
            group = logits[:, start:start + n]
            start += n
            shifted = group - group.max(1, keepdims=True)
            yield k, shifted, np.log(np.exp(shifted).sum(1))

    def act(self, obs, state, starts, generator, deterministic=False):
        """Samples actions: (env actions, stored actions, log-probs, values, None), numpy arrays."""
        obs = self._obs(obs)
        logits, values = self._scratch(obs.shape[0])
        self.kernel.forward(obs, logits, values)
        actions = np.empty((obs.shape[0], len(self.nvec)), np.int32)
        logp = np.zeros(obs.shape[0], np.float32)
        for k, shifted, log_norm in self._components(logits):
            if deterministic:
                index = shifted.argmax(1)
            else:  # Gumbel-max: argmax of logits plus Gumbel noise is a categorical sample
                index = (shifted - np.log(-np.log(self.rng.random(shifted.shape, np.float32)))).argmax(1)
            actions[:, k] = index
            logp += np.take_along_axis(shifted, index[:, None], 1)[:, 0] - log_norm
        actions = actions[:, 0] if self.single else actions
        return actions, actions, logp, values.copy(), None

    def value(self, obs, state=None):
        """Values of observations."""
        obs = self._obs(obs)
        logits, values = self._scratch(obs.shape[0])
        self.kernel.forward(obs, logits, values)
        return values.copy()

    def evaluate(self):
        """(log-probs, values) [rows, horizon] of the rollout's stored actions under the current policy."""
        obs, actions = self.storage.obs, self.storage.actions
        segments, horizon = obs.shape[:2]
        flat = self._obs(obs.reshape((segments * horizon,) + tuple(obs.shape[2:])))
        logits, values = np.empty((flat.shape[0], self.kernel.num_actions), np.float32), \
            np.empty(flat.shape[0], np.float32)
        self.kernel.forward(flat, logits, values)
        rows = actions.numpy().reshape(flat.shape[0], -1)
        logp = np.zeros(flat.shape[0], np.float32)
        for k, shifted, log_norm in self._components(logits):
            logp += np.take_along_axis(shifted, rows[:, k:k + 1].astype(np.int64), 1)[:, 0] - log_norm
        return (torch.from_numpy(logp.reshape(segments, horizon)),
                torch.from_numpy(values.reshape(segments, horizon)))

    def set_learning_rate(self, lr):
        """Sets Adam's step size."""
        self.lr = lr

    def begin(self, storage):
        """Takes the rollout to update on, as flat float32 views (the kernel reads them in place)."""
        self.storage = storage
        obs = storage.obs.numpy()
        count = obs.shape[0] * obs.shape[1]
        flat = lambda name: getattr(storage, name).numpy().reshape(count)  # noqa: E731
        self.batch = {"obs": self._obs(obs.reshape((count,) + obs.shape[2:])),
                      "actions": np.ascontiguousarray(storage.actions.numpy().reshape(count, -1), np.int32),
                      "logprobs": flat("logprobs"), "advantages": flat("advantages"),
                      "returns": flat("returns"), "values": flat("values"), "masks": flat("masks")}

    def update(self, indices, weights=None):
        """One PPO minibatch step on the rollout's steps `indices` (flat [rows * horizon] indices).

        Prioritised replay's weights are not supported (the trainer picks the torch learner then).

        Raises:
            NonFiniteError: the loss or the gradient is NaN or infinite (the step is not taken).
        """
        b, c = self.batch, self.config
        indices = indices.numpy()
        present = indices[b["masks"][indices]]
        if present.size < 2:
            return {}
        stats = self.kernel.update(b["obs"], b["actions"], b["logprobs"], b["advantages"], b["returns"],
                                   b["values"], present, lr=self.lr, clip_coef=c.clip_coef, vf_coef=c.vf_coef,
                                   ent_coef=c.ent_coef, max_grad_norm=c.max_grad_norm, norm_adv=c.norm_adv,
                                   clip_vloss=c.clip_vloss, vf_clip_coef=c.vf_clip_coef)
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
