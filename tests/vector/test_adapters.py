"""as_gymnasium and as_sb3 over native and Python vector envs."""
import gymnasium
import numpy as np
import pytest
from vector_envs import NumpyCartPole

import pufferlib
import pufferlib.vector


def vecenvs():
    return [pytest.param(lambda: pufferlib.make("cartpole", num_envs=4, seed=0), id="native"),
            pytest.param(lambda: pufferlib.vector.make(NumpyCartPole, 2, env_kwargs=dict(agents=2)), id="serial")]


@pytest.mark.parametrize("factory", vecenvs())
def test_as_gymnasium_follows_the_vector_api(factory):
    envs = pufferlib.vector.as_gymnasium(factory())
    assert isinstance(envs, gymnasium.vector.VectorEnv)
    assert envs.num_envs == 4
    assert envs.metadata["autoreset_mode"] == gymnasium.vector.AutoresetMode.SAME_STEP
    assert envs.observation_space == gymnasium.vector.utils.batch_space(envs.single_observation_space, 4)
    obs, infos = envs.reset(seed=0)
    assert envs.observation_space.contains(obs) and isinstance(infos, dict)
    envs.action_space.seed(0)
    ended = 0
    for _ in range(300):
        obs, rewards, terms, truncs, infos = envs.step(envs.action_space.sample())
        assert envs.observation_space.contains(obs)
        assert rewards.shape == terms.shape == truncs.shape == (4,) and terms.dtype == np.bool_
        if "final_obs" in infos:
            assert np.array_equal(infos["_final_obs"], terms | truncs)
            ended += int(infos["_final_obs"].sum())
    assert ended > 0
    envs.close()
    assert envs.closed


def test_as_gymnasium_matches_the_vector_env_for_the_same_seed():
    with pufferlib.make("cartpole", num_envs=4) as native:
        native.reset(seed=3)
        expected = [native.step(np.ones(4, np.int32))[0].copy() for _ in range(20)]
    envs = pufferlib.vector.as_gymnasium(pufferlib.make("cartpole", num_envs=4))
    envs.reset(seed=3)
    got = [envs.step(np.ones(4, np.int64))[0] for _ in range(20)]
    envs.close()
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))


def test_adapters_refuse_asynchronous_pools():
    with pufferlib.vector.make(NumpyCartPole, 4, backend="multiprocessing", num_workers=2, batch_size=2) as vecenv:
        with pytest.raises(ValueError, match="batch_size=None"):
            pufferlib.vector.as_gymnasium(vecenv)


def test_as_sb3_reports_sb3s_episode_infos():
    pytest.importorskip("stable_baselines3")
    envs = pufferlib.vector.as_sb3(pufferlib.make("cartpole", num_envs=4, seed=0))
    obs = envs.reset()
    assert obs.shape == (4, 4)
    episodes = []
    for _ in range(300):
        envs.step_async(np.random.default_rng(0).integers(0, 2, (4,)))
        obs, rewards, dones, infos = envs.step_wait()
        for done, info in zip(dones, infos):
            assert done == ("terminal_observation" in info)
            if done:
                episodes.append(info["episode"])
    assert episodes and all(e["r"] == e["l"] > 0 for e in episodes)
    envs.close()


def test_sb3_ppo_trains_on_native_cartpole():
    sb3 = pytest.importorskip("stable_baselines3")
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    envs = pufferlib.vector.as_sb3(pufferlib.make("cartpole", num_envs=8, seed=0))
    model = sb3.PPO("MlpPolicy", envs, n_steps=128, batch_size=256, n_epochs=2, seed=0, device="cpu")
    model.learn(total_timesteps=4096)
    assert model.num_timesteps >= 4096
    assert len(model.ep_info_buffer) > 0
    envs.close()
