"""pufferlib: reinforcement learning whose environments step in C, on threads.

>>> import pufferlib
>>> with pufferlib.make("cartpole", num_envs=8, seed=1) as env:
...     obs, infos = env.reset()
...     obs, rewards, terminals, truncations, infos = env.step(env.action_space.sample())
>>> obs.shape
(8, 4)
"""
from pufferlib import errors
from pufferlib._native import ABI_VERSION, openmp_enabled
from pufferlib.envs import make
from pufferlib.headers import get_include

__version__ = "0.1.0"

__all__ = ["ABI_VERSION", "errors", "get_include", "make", "openmp_enabled", "train", "__version__"]


def __getattr__(name):
    # `pufferlib.train(...)` without importing torch at `import pufferlib`: the trainer package
    # (callable, see pufferlib.train) is imported on first use.
    if name == "train":
        import importlib

        return importlib.import_module("pufferlib.train")
    raise AttributeError(f"module 'pufferlib' has no attribute {name!r}")
