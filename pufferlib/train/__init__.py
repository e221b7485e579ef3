"""Training: PPO with GAE/V-trace advantages, MLP and LSTM policies, checkpoints and logging.

`pufferlib.train(env, config)` (this package is callable) and `Trainer` mirror `puffer train`.
"""
import sys
import types

from pufferlib.train.advantage import compute_advantages, compute_advantages_torch
from pufferlib.train.config import Config, ConfigError, load_config
from pufferlib.train.trainer import Trainer, train

__all__ = ["Config", "ConfigError", "Trainer", "compute_advantages", "compute_advantages_torch",
           "load_config", "train"]


class _CallableModule(types.ModuleType):
    """Lets `pufferlib.train(env, config)` call `train`; `pufferlib.train.Trainer` still works."""

    def __call__(self, *args, **kwargs):
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
