import io
import os

import pytest

import pufferlib.train as T
from pufferlib.export import export_policy
from tests.export.export_helpers import HERE, compile_program, make_policy


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


@pytest.fixture(scope="session")
def driver(tmp_path_factory):
    """The test driver, compiled with the C files an export writes."""
    folder = tmp_path_factory.mktemp("c_export")
    export_policy(make_policy("discrete"), "c", folder)
    return compile_program([os.path.join(HERE, "driver.c"), str(folder / "puffer_policy.c")],
                           folder / "driver", includes=[folder])
