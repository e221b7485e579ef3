"""Training: the PPO trainer's building blocks (so far: advantage estimation, CPU and torch)."""
from pufferlib.train.advantage import compute_advantages, compute_advantages_torch

__all__ = ["compute_advantages", "compute_advantages_torch"]
