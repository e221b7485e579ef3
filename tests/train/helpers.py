"""Shared by the trainer tests: quiet runs in a temporary data directory."""
import io

import pufferlib.train as T
from pufferlib.train.evaluate import evaluate
from pufferlib.train.logger import read_metrics


def quiet_train(spec, tmp_path, **sections):
    """Trains `spec` with its shipped defaults and {section: {key: value}} on top; returns (summary, metrics)."""
    config = T.load_config(spec)
    config.update(sections)
    summary = T.train(spec, config, data_dir=tmp_path, dashboard=False, stream=io.StringIO())
    return summary, read_metrics(summary["run_dir"])


def trained_return(spec, tmp_path, episodes=200, **sections):
    """Trains as quiet_train does, then evaluates the final policy (sampling): the evaluation's result."""
    summary, _ = quiet_train(spec, tmp_path, **sections)
    return evaluate(spec, summary["checkpoint"], episodes=episodes)
