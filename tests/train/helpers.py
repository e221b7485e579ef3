"""Shared by the trainer tests: quiet runs in a temporary data directory."""
import io

import pufferlib.train as T
from pufferlib.train.logger import read_metrics


def quiet_train(env, tmp_path, **sections):
    """Trains `env` with its shipped defaults and {section: {key: value}} on top; returns (summary, metrics)."""
    config = T.load_config(env)
    config.update(sections)
    summary = T.train(env, config, data_dir=tmp_path, dashboard=False, stream=io.StringIO())
    return summary, read_metrics(summary["run_dir"])


def last(metrics, key, intervals=2):
    """The episode-weighted mean of `key` over the last logging intervals that finished episodes."""
    rows = [m for m in metrics if m.get("episodes") and m.get(key) is not None][-intervals:]
    return sum(m[key] * m["episodes"] for m in rows) / sum(m["episodes"] for m in rows)
