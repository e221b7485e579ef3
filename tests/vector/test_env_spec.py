"""What a vector env learns from its environments: each is made exactly once, and the first one's
spaces and layouts travel with the vector env (every backend, and native envs)."""
import numpy as np
import pytest
from vector_envs import (
    CountedCartPole,
    CountedCopyingCartPole,
    CountedNested,
    constructions,
    counted_cartpole,
)
from vector_fixtures import RAY_MARKS, local_ray, no_leftover_processes, ray_for_ray_tests  # noqa: F401

import pufferlib
import pufferlib.vector
from pufferlib.emulation import ActionLayout, GymnasiumPufferEnv, Layout
from pufferlib.errors import WorkerError

BACKENDS = [
    pytest.param(dict(backend="serial"), id="serial"),
    pytest.param(dict(backend="multiprocessing", num_workers=2), id="multiprocessing"),
    pytest.param(dict(backend="multiprocessing", num_workers=2, start_method="forkserver"), id="mp-forkserver"),
    pytest.param(dict(backend="ray", num_workers=2), id="ray", marks=RAY_MARKS),
]


def make(creator, num_envs, config, **kwargs):
    return pufferlib.vector.make(creator, num_envs, **config, **kwargs)


@pytest.mark.parametrize("config", BACKENDS)
@pytest.mark.parametrize("creator", [counted_cartpole, CountedCartPole], ids=["gymnasium", "puffer-env"])
def test_each_env_is_made_exactly_once(tmp_path, config, creator):
    count = str(tmp_path / "count")
    with make(creator, 5, config, env_kwargs=dict(count_file=count)) as vecenv:
        assert constructions(count) == 5
        vecenv.reset(seed=0)
        vecenv.step(np.zeros(5, np.int32))
    assert constructions(count) == 5


@pytest.mark.parametrize("config", BACKENDS)
def test_the_first_env_steps_like_the_others_though_it_was_made_before_the_buffers(tmp_path, config):
    # a PufferEnv creator taking `buf` gets none for env 0 (its spaces are not known yet); its rows
    # are copied from its own buffers, and must follow that env as closely as the others follow theirs
    count = str(tmp_path / "count")
    alone = [CountedCartPole(str(tmp_path / "alone")) for _ in range(3)]
    for i, env in enumerate(alone):
        env.reset(seed=7 + i)
    rng = np.random.default_rng(0)
    with make(CountedCartPole, 3, config, env_kwargs=dict(count_file=count)) as vecenv:
        obs, _ = vecenv.reset(seed=7)
        assert np.array_equal(obs, np.concatenate([env.observations for env in alone]))
        for _ in range(60):
            actions = rng.integers(0, 2, 3).astype(np.int32)
            obs, rewards, terminals, truncations, _ = vecenv.step(actions)
            for i, env in enumerate(alone):
                env.step(actions[i:i + 1])
            assert np.array_equal(obs, np.concatenate([env.observations for env in alone]))
            assert np.array_equal(terminals, np.concatenate([env.terminals for env in alone]))


@pytest.mark.parametrize("config", BACKENDS)
def test_layouts_are_those_of_the_env(tmp_path, config):
    env = GymnasiumPufferEnv(CountedNested(str(tmp_path / "alone")))
    with make(CountedNested, 3, config, env_kwargs=dict(count_file=str(tmp_path / "count"))) as vecenv:
        assert vecenv.observation_layout.space == env.env.observation_space
        assert vecenv.action_layout.space == env.env.action_space
        assert vecenv.observation_layout.signature() == env.observation_layout.signature()
        assert vecenv.action_layout.signature() == env.action_layout.signature()
        assert vecenv.action_layout.nvec.tolist() == [4, 0, 0]
        assert vecenv.single_observation_space == env.single_observation_space
        assert vecenv.single_action_space == env.single_action_space
        assert vecenv.env_spec == (vecenv.single_observation_space, vecenv.single_action_space, 1,
                                   vecenv.observation_layout, vecenv.action_layout)


@pytest.mark.parametrize("config", BACKENDS)
def test_a_puffer_envs_layouts_are_those_of_its_flat_spaces(tmp_path, config):
    with make(CountedCartPole, 2, config, env_kwargs=dict(count_file=str(tmp_path / "count"))) as vecenv:
        assert vecenv.observation_layout.signature() == Layout(vecenv.single_observation_space).signature()
        assert vecenv.action_layout.signature() == ActionLayout(vecenv.single_action_space).signature()


@pytest.mark.parametrize("name", ["cartpole", "squared", "continuous", "multiagent"])
def test_a_native_envs_layouts_are_those_of_its_flat_spaces(name):
    with pufferlib.make(name, num_envs=2) as vecenv:
        assert vecenv.observation_layout.space == vecenv.single_observation_space
        assert vecenv.observation_layout.signature() == Layout(vecenv.single_observation_space).signature()
        assert vecenv.action_layout.flat_space == vecenv.single_action_space
        assert vecenv.env_spec == (vecenv.single_observation_space, vecenv.single_action_space,
                                   vecenv.agents_per_env, vecenv.observation_layout, vecenv.action_layout)


@pytest.mark.parametrize("config", BACKENDS)
@pytest.mark.parametrize("creator, kwargs, match", [
    (CountedNested, dict(width=3), r"env [1-3] has the observation space Dict\(.*\(3,\).*; the first env had "
                                   r"Dict\(.*\(2,\).*same structure, shapes and dtypes \(bounds may differ\)"),
    (CountedCopyingCartPole, dict(agents=2), r"env [1-3] has num_agents=2; the first env had 1, and every env of a "
                                      r"vector env must have the same"),
], ids=["spaces", "rows"])
def test_an_env_unlike_the_first_is_refused(tmp_path, config, creator, kwargs, match):
    error = ValueError if config["backend"] == "serial" else WorkerError
    with pytest.raises(error, match=match):
        make(creator, 4, config, env_kwargs=dict(count_file=str(tmp_path / "count"), **kwargs))
