"""Vector environments: every backend follows the same protocol (see DESIGN.md)."""
from pufferlib.vector.native import NativeVecEnv

__all__ = ["NativeVecEnv"]
