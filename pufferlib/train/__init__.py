"""Training: PPO with GAE/V-trace advantages, MLP and LSTM policies, checkpoints and logging.

`pufferlib.train(env, config)` (this package is callable) and `Trainer` mirror `puffer train`.
The configuration (`pufferlib.train.config`) needs no torch; the rest loads on first use, so that
reading settings (`puffer bench --env.size 7`) does not import torch.
"""
import importlib
import sys
import types

from pufferlib.train.config import Config, ConfigError, load_config

__all__ = ["Config", "ConfigError", "Trainer", "compute_advantages", "compute_advantages_torch",
           "load_config", "train"]

# The names that need torch, and the module each lives in.
_LAZY = {"Trainer": "pufferlib.train.trainer", "train": "pufferlib.train.trainer",
         "compute_advantages": "pufferlib.train.advantage",
         "compute_advantages_torch": "pufferlib.train.advantage"}


class _CallableModule(types.ModuleType):
    """Lets `pufferlib.train(env, config)` call `train`; `pufferlib.train.Trainer` still works."""

    def __call__(self, *args, **kwargs):
        return self.train(*args, **kwargs)

    def __getattr__(self, name):
        if name not in _LAZY:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(_LAZY[name]), name)
        setattr(self, name, value)
        return value

    def __dir__(self):
        return sorted({*super().__dir__(), *_LAZY})


sys.modules[__name__].__class__ = _CallableModule
