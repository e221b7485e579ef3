import io

import pytest

import pufferlib.train as T


@pytest.fixture(scope="session")
def cartpole_run(tmp_path_factory):
    """A CartPole policy trained with a budget that solves it: (data dir, summary)."""
    data_dir = tmp_path_factory.mktemp("cartpole_runs")
    summary = T.train("cartpole", {"train": {"total_timesteps": 300_000}}, data_dir=data_dir, dashboard=False,
                      stream=io.StringIO())
    return data_dir, summary


@pytest.fixture(scope="session")
def lstm_run(tmp_path_factory):
    """A briefly trained LSTM policy on CartPole: (data dir, summary)."""
    data_dir = tmp_path_factory.mktemp("lstm_runs")
    summary = T.train("cartpole", {"train": {"total_timesteps": 4096}, "policy": {"lstm": True}},
                      data_dir=data_dir, dashboard=False, stream=io.StringIO())
    return data_dir, summary
