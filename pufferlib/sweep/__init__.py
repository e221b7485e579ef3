"""Hyperparameter search on Optuna: `puffer sweep ENV`, with its storage in SQLite or any database.

The search space is declared in TOML beside the run settings ([sweep.SECTION.KEY] tables,
`pufferlib.sweep.space`); the [sweep] settings say how trials are scored and run
(`pufferlib.train.config.SweepConfig`). `sweep` runs a study's trials in parallel processes
(`pufferlib.sweep.runner`), each a normal training run (`pufferlib.sweep.trial`); `report` prints the
best trials and the Pareto front of score and cost, writes the best configuration as TOML and draws
the plots (`pufferlib.sweep.report`). See docs/sweeps.md.
"""
from pufferlib.sweep.report import report
from pufferlib.sweep.runner import sweep
from pufferlib.sweep.space import Parameter, parse_space

__all__ = ["Parameter", "parse_space", "report", "sweep"]
