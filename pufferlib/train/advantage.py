"""Advantages for PPO: GAE(lambda) with V-trace clipping, by a C kernel or by torch ops.

Both compute, per segment of consecutive steps and backwards in time,
    delta_t = min(ratio_t, rho_clip) * (reward_t + gamma * next_value_t - value_t)
    A_t     = delta_t + gamma * lambda * min(ratio_t, c_clip) * (1 - done_t) * A_{t+1}
where next_value_t is V(obs_{t+1}) within an episode, V(final observation) after a truncation and 0
after a termination (see csrc/puffer_advantage.h). The C kernel serves numpy arrays and CPU
tensors; `compute_advantages_torch` serves any torch device (CUDA).
"""
from pufferlib._native.advantage import compute_advantages

__all__ = ["compute_advantages", "compute_advantages_torch"]


def compute_advantages_torch(values, next_values, rewards, dones, ratios, gamma, gae_lambda,
                             rho_clip=1.0, c_clip=1.0):
    """The same advantages as `compute_advantages`, with torch ops on the tensors' device.

    Args:
        values: float tensor [segments, horizon], V(obs_t).
        next_values: the value to bootstrap from after step t (see the module docstring).
        rewards: reward of step t.
        dones: bool or numeric tensor, true where an episode ended at step t.
        ratios: importance ratios pi/mu (all 1 for on-policy GAE).
        gamma: discount.
        gae_lambda: GAE lambda.
        rho_clip: V-trace clip of the ratio in the TD error.
        c_clip: V-trace clip of the ratio in the trace.

    Returns:
        A tensor of advantages, [segments, horizon], on the same device.

    Raises:
        ValueError: tensors of different shapes, or not 2-D.
    """
    shape = values.shape
    tensors = (values, next_values, rewards, dones, ratios)
    if len(shape) != 2 or any(t.shape != shape for t in tensors):
        raise ValueError("values, next_values, rewards, dones and ratios must share one 2-D shape "
                         f"(segments, horizon), got {[tuple(t.shape) for t in tensors]}")
    deltas = ratios.clamp(max=rho_clip) * (rewards + gamma * next_values - values)
    carry = gamma * gae_lambda * ratios.clamp(max=c_clip) * (1 - dones.to(values.dtype))
    advantages = values.new_empty(shape)
    last = values.new_zeros(shape[0])
    for t in range(shape[1] - 1, -1, -1):
        last = deltas[:, t] + carry[:, t] * last
        advantages[:, t] = last
    return advantages
