"""Environments: the registry of names and `make`, and what a run's ENV spec means and makes.

`registry.py` holds `list_envs`, `env_def` and `make` (C environments by name or path);
`spec.py` holds `env_kind` and `make_vecenvs` (the vector envs of a run, native or Python).
"""
from pufferlib.envs.registry import env_def, list_envs, make
from pufferlib.envs.spec import env_kind, make_vecenvs

__all__ = ["env_def", "env_kind", "list_envs", "make", "make_vecenvs"]
