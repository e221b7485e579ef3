"""What an ENV spec names (a native environment: built-in, C file, library; or a Python one), and
the vector envs a run makes of it: each environment made once."""
import io
import os
import subprocess
import sys

import gymnasium
import pytest

import pufferlib.train as T
from pufferlib.envs import env_kind, make_vecenvs
from pufferlib.errors import UnknownEnvironmentError


@pytest.mark.parametrize("spec", ["cartpole", "my_env.c", "envs/my_env.c", "envs/my_env.so", "my_env.dylib",
                                  "./my_env.c"])
def test_built_in_names_and_c_paths_are_native(spec):
    assert env_kind(spec) == "native"


@pytest.mark.parametrize("spec", ["gymnasium:CartPole-v1", "gymnasium:ALE/Pong-v5", "my_pkg.envs:make_env"])
def test_module_callables_and_gymnasium_ids_are_python(spec):
    # an id with a namespace holds a slash, and was taken for a path
    assert env_kind(spec) == "python"


@pytest.mark.parametrize("spec", ["cartpol", "", 3])
def test_anything_else_is_refused(spec):
    with pytest.raises(UnknownEnvironmentError, match=r"unknown environment|a name or spec string"):
        env_kind(spec)


# ---- each environment of a run is made exactly once ----

COUNTED = "tests.vector.vector_envs:counted_cartpole"  # appends a line to a file per env made


def constructions(path):
    return len(path.read_text().splitlines()) if path.exists() else 0


def counted_config(count, backend, num_envs=4):
    config = T.Config()
    config.env.num_envs = num_envs
    config.env.params = {"count_file": str(count)}
    config.vec.backend = backend
    config.vec.num_workers = 2
    return config


@pytest.mark.parametrize("backend", ["serial", "multiprocessing"])
@pytest.mark.parametrize("groups", [1, 2])
def test_make_vecenvs_makes_each_env_once_over_all_groups(tmp_path, backend, groups):
    count = tmp_path / "count"
    vecenvs = make_vecenvs(COUNTED, counted_config(count, backend), seed=0, groups=groups)
    try:
        assert len(vecenvs) == groups and sum(v.num_envs for v in vecenvs) == 4
        assert constructions(count) == 4
        cartpole = gymnasium.make("CartPole-v1")
        for vecenv in vecenvs:  # what the trainer reads, from the vector env itself
            assert vecenv.observation_layout.space == cartpole.observation_space
            assert vecenv.action_layout.space == cartpole.action_space
    finally:
        for vecenv in vecenvs:
            vecenv.close()


@pytest.mark.parametrize("backend", ["serial", "multiprocessing"])
def test_training_makes_each_env_once(tmp_path, backend):
    # multiprocessing steps two groups (vec.overlap 'auto'), each a vector env of its own
    count = tmp_path / "count"
    config = counted_config(count, backend)
    config.train.total_timesteps = 256
    config.train.minibatch_size = 64
    T.train(COUNTED, config, data_dir=tmp_path / "runs", dashboard=False, stream=io.StringIO())
    assert constructions(count) == 4


def test_puffer_train_makes_each_env_once(tmp_path):
    count = tmp_path / "count"
    env = dict(os.environ, PUFFER_TEST_COUNT_FILE=str(count),
               PYTHONPATH=os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH")) if p))
    result = subprocess.run([sys.executable, "-m", "pufferlib.cli", "train", COUNTED, "--timesteps", "256",
                             "--env.num_envs", "4", "--train.minibatch_size", "64", "--vec.backend",
                             "multiprocessing", "--vec.num_workers", "2", "--data-dir", str(tmp_path / "runs")],
                            capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr
    assert constructions(count) == 4
