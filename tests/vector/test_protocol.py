"""The vector protocol, one suite for every backend: native, serial, multiprocessing and ray.

Each backend steps a cartpole with the same spaces (observations of shape (4,), Discrete(2)
actions): the native C env, or `DrawingCartPole` (numpy, and it draws) in the Python backends.
"""

import gymnasium
import numpy as np
import pytest
from vector_envs import DrawingCartPole, NumpyCartPole
from vector_fixtures import RAY_MARKS, local_ray, no_leftover_processes, ray_for_ray_tests  # noqa: F401

import pufferlib
import pufferlib.vector
from pufferlib.environment import EpisodeStats
from pufferlib.errors import APIUsageError

BACKENDS = [
    pytest.param(dict(backend="native"), id="native"),
    pytest.param(dict(backend="serial"), id="serial"),
    pytest.param(dict(backend="multiprocessing", num_workers=2), id="multiprocessing"),
    pytest.param(dict(backend="multiprocessing", num_workers=2, start_method="forkserver"), id="mp-forkserver"),
    pytest.param(dict(backend="ray", num_workers=2, actor_options={"num_cpus": 0.5}), id="ray", marks=RAY_MARKS),
]
PYTHON = BACKENDS[1:]


def make(config, num_envs, seed=0, creator=DrawingCartPole, **kwargs):
    """A cartpole vector env of `num_envs` envs on the backend `config` names."""
    if config["backend"] == "native":
        return pufferlib.make("cartpole", num_envs=num_envs, seed=seed, **kwargs)
    return pufferlib.vector.make(creator, num_envs, seed=seed, **config, **kwargs)


# ---- spaces, buffers and the returned tuple ----

@pytest.mark.parametrize("config", BACKENDS)
def test_spaces_and_buffers_follow_the_protocol(config):
    with make(config, 5) as env:
        rows = env.num_agents
        assert env.num_envs == 5 and rows == 5
        assert env.observation_space.shape == (rows, 4) == env.observations.shape
        assert env.observations.dtype == env.single_observation_space.dtype
        assert env.action_space.shape == (rows,) == env.actions.shape
        assert env.rewards.shape == (rows,) and env.rewards.dtype == np.float32
        for flags in (env.terminals, env.truncations, env.masks):
            assert flags.shape == (rows,) and flags.dtype == np.bool_
        assert env.final_observations.shape == env.observations.shape
        obs, infos = env.reset(seed=3)
        assert obs is env.observations and infos == {}
        assert env.observation_space.contains(obs) and env.masks.all()


@pytest.mark.parametrize("config", PYTHON)
def test_python_backends_give_each_agent_a_row(config):
    with make(config, 5, creator=NumpyCartPole, env_kwargs=dict(agents=2)) as vecenv:
        assert vecenv.num_envs == 5 and vecenv.num_agents == 10
        assert vecenv.observation_space.shape == (10, 4) == vecenv.observations.shape
        assert vecenv.action_space.shape == (10,) == vecenv.actions.shape
        obs, infos = vecenv.reset(seed=3)
        assert vecenv.observation_space.contains(obs) and infos == {}


@pytest.mark.parametrize("config", BACKENDS)
def test_step_returns_the_same_buffers_every_time(config):
    with make(config, 8) as env:
        env.reset()
        first = env.step(np.zeros(8, np.int32))
        second = env.step(np.ones(8, np.int32))
        third = env.step(env.actions)
        for a, b, c in zip(first[:4], second[:4], third[:4]):
            assert a is b is c
        for buffer in (env.observations, env.rewards, env.terminals, env.truncations):
            assert buffer.flags.c_contiguous and buffer.flags.writeable


@pytest.mark.parametrize("config", BACKENDS)
def test_actions_buffer_can_be_filled_in_place(config):
    with make(config, 4, seed=0) as a, make(config, 4, seed=0) as b:
        a.reset()
        b.reset()
        actions = np.array([0, 1, 1, 0], np.int32)
        a.actions[:] = actions
        assert np.array_equal(a.step(a.actions)[0], b.step(actions)[0])


@pytest.mark.parametrize("config", BACKENDS)
def test_other_integer_dtypes_and_lists_are_accepted(config):
    with make(config, 3, seed=0) as a, make(config, 3, seed=0) as b:
        a.reset()
        b.reset()
        assert np.array_equal(a.step([1, 0, 1])[0], b.step(np.array([1, 0, 1], np.uint8))[0])


@pytest.mark.parametrize("config", BACKENDS)
def test_infos_are_episode_stats_that_read_as_means(config):
    with make(config, 4) as env:
        env.reset(seed=0)
        seen = 0
        for _ in range(200):
            infos = env.step(np.ones(4, np.int32))[4]
            assert isinstance(infos, EpisodeStats)
            if infos:
                seen += infos["episodes"]
                assert infos == infos.means() and infos["episode_return"] == infos["episode_length"]
            else:
                assert infos == {} and len(infos) == 0
        assert seen > 0


@pytest.mark.parametrize("config", BACKENDS)
def test_send_recv_equals_step(config):
    rng = np.random.default_rng(3)
    with make(config, 8) as a, make(config, 8) as b:
        a.reset(seed=4)
        b.reset(seed=4)
        for _ in range(50):
            actions = rng.integers(0, 2, 8, dtype=np.int32)
            stepped = a.step(actions)
            b.send(actions)
            received = b.recv()
            for x, y in zip(stepped[:4], received[:4]):
                assert np.array_equal(x, y)
            assert stepped[4] == received[4]


@pytest.mark.parametrize("config", BACKENDS)
def test_send_returns_before_the_step_finishes_and_copies_the_actions(config):
    with make(config, 4, seed=0) as a, make(config, 4, seed=0) as b:
        a.reset()
        b.reset()
        actions = np.ones(4, np.int32)
        a.send(actions)
        actions[:] = 0  # too late to change what was sent
        obs_async = a.recv()[0]
        assert np.array_equal(obs_async, b.step(np.ones(4, np.int32))[0])


# ---- seeds ----

@pytest.mark.parametrize("config", BACKENDS)
def test_reset_without_seed_continues_the_random_stream(config):
    with make(config, 4) as env:
        first = env.reset(seed=1)[0].copy()
        second = env.reset()[0].copy()
        again = env.reset(seed=1)[0].copy()
        assert not np.array_equal(first, second)
        assert np.array_equal(first, again)


@pytest.mark.parametrize("config", BACKENDS)
def test_make_seed_is_used_on_first_reset(config):
    with make(config, 4, seed=9) as a, make(config, 4) as b:
        assert np.array_equal(a.reset()[0], b.reset(seed=9)[0])


@pytest.mark.parametrize("config", BACKENDS)
def test_different_seeds_differ(config):
    with make(config, 4) as env:
        a = env.reset(seed=0)[0].copy()
        b = env.reset(seed=1)[0].copy()
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("seed", [-1, 1.5, "a", True, 2**64])
@pytest.mark.parametrize("config", BACKENDS)
def test_invalid_seeds_are_refused(config, seed):
    match = rf"seed must be an integer in \[0, 2\*\*64\), got {seed!r}"
    with pytest.raises(ValueError, match=match):
        make(config, 2, seed=seed)
    with make(config, 2) as env:
        with pytest.raises(ValueError, match=match):
            env.reset(seed=seed)


# ---- actions: checked at the boundary, before anything steps ----

@pytest.mark.parametrize("num_envs, actions, error, match", [
    (8, np.zeros(8, np.float64), TypeError, r"actions must be int32 of shape \(8,\), got float64 of shape \(8,\)"),
    (8, np.zeros((8, 1), np.int32), ValueError, r"actions must be int32 of shape \(8,\), got int32 of shape \(8, 1\)"),
    (8, np.zeros(7, np.int32), ValueError, r"of shape \(8,\), got int32 of shape \(7,\)"),
    (8, np.array([0, 1, 2, 0, 0, 0, 0, 0], np.int32), ValueError,
     r"action 2 at row 2 is out of range: expected 0 <= action < 2"),
    (8, np.array([0, 0, 0, 0, 0, 0, 0, -1], np.int64), ValueError, r"action -1 at row 7 is out of range"),
    (8, np.array([0, 0, 0, 2**40, 0, 0, 0, 0], np.int64), ValueError, r"at row 3 is out of range"),
    (8, np.zeros(8, np.bool_), TypeError, r"got bool"),
    (8, "left", TypeError, r"actions must be int32"),
    (4, np.zeros(4, np.float32), TypeError, r"actions must be int32 of shape \(4,\), got float32"),
    (4, np.zeros(3, np.int32), ValueError, r"of shape \(4,\), got int32 of shape \(3,\)"),
    (4, np.array([0, 1, 2, 0]), ValueError, r"action 2 at row 2 is out of range: expected 0 <= action < 2"),
    (4, np.array([0, -1, 0, 0]), ValueError, r"action -1 at row 1 is out of range"),
    (4, np.array([0, 1, 0, 7], np.int32), ValueError, r"action 7 at row 3 is out of range: expected 0 <= action < 2"),
    (4, np.array([-3, 1, 0, 0], np.int32), ValueError, r"action -3 at row 0 is out of range"),
])
@pytest.mark.parametrize("config", BACKENDS)
def test_bad_actions_are_rejected_before_anything_steps(config, num_envs, actions, error, match):
    with make(config, num_envs) as env:
        env.reset(seed=0)
        before = env.observations.copy()
        with pytest.raises(error, match=match):
            env.step(actions)
        with pytest.raises(error, match=match):
            env.send(actions)
        assert np.array_equal(env.observations, before)
        env.step(np.zeros(num_envs, np.int32))  # still usable


def test_continuous_actions_must_be_finite_floats():
    with pufferlib.make("cartpole", num_envs=4, continuous=1) as env:
        env.reset()
        assert isinstance(env.single_action_space, gymnasium.spaces.Box)
        env.step(np.array([[0.5], [-3.0], [1.0], [0.0]], np.float64))  # out of bounds: clipped
        with pytest.raises(ValueError, match=r"actions must be finite, got nan at row 2, dimension 0"):
            env.step(np.array([[0.5], [0.5], [np.nan], [0.0]], np.float32))
        with pytest.raises(TypeError, match=r"actions must be float32 of shape \(4, 1\), got int64"):
            env.step(np.zeros((4, 1), np.int64))


# ---- calls in the wrong state ----

@pytest.mark.parametrize("config", BACKENDS)
def test_step_before_reset(config):
    with make(config, 2) as env:
        with pytest.raises(APIUsageError, match=r"call reset\(\) before step\(\) or send\(\)"):
            env.step(np.zeros(2, np.int32))
        with pytest.raises(APIUsageError, match=r"call reset\(\) before"):
            env.send(np.zeros(2, np.int32))


@pytest.mark.parametrize("config", BACKENDS)
def test_use_after_close_and_close_twice(config):
    env = make(config, 2)
    env.reset()
    env.close()
    env.close()
    assert env.closed
    name = "cartpole" if config["backend"] == "native" else type(env).__name__
    for call in (lambda: env.step(np.zeros(2, np.int32)), env.reset, env.recv,
                 lambda: env.send(np.zeros(2, np.int32)), env.render):
        with pytest.raises(APIUsageError, match=rf"this {name} vector env is closed; make a new one"):
            call()


@pytest.mark.parametrize("config", BACKENDS)
def test_recv_without_send_and_double_send(config):
    with make(config, 2) as env:
        env.reset()
        with pytest.raises(APIUsageError, match=r"recv\(\) called without a pending send\(\)"):
            env.recv()
        env.send(np.zeros(2, np.int32))
        for call in (lambda: env.send(np.zeros(2, np.int32)), lambda: env.step(np.zeros(2, np.int32)),
                     env.reset, env.render):
            with pytest.raises(APIUsageError, match=r"a send\(\) is pending; call recv\(\)"):
                call()
        env.recv()


@pytest.mark.parametrize("config", BACKENDS)
def test_close_with_a_pending_send_finishes_it(config):
    env = make(config, 4)
    env.reset()
    env.send(np.zeros(4, np.int32))
    env.close()
    assert env.closed


# ---- render: its preconditions ----

@pytest.mark.parametrize("config", BACKENDS)
def test_render_misuse_raises(config):
    with make(config, 2) as env:
        with pytest.raises(APIUsageError, match=r"call reset\(\) before render\(\)"):
            env.render(0)
        env.reset(seed=0)
        with pytest.raises(ValueError, match=r"render mode must be one of 'rgb_array', 'ansi', got 'human'"):
            env.render(0, mode="human")
        for index in (2, -1, 10**12):
            with pytest.raises(IndexError, match=rf"env_index must be in \[0, 2\) \(an environment, not an "
                                                 rf"agent row\), got {index}"):
                env.render(index)
        for index in (1.0, "0", True, None):
            with pytest.raises(TypeError, match="env_index must be an integer"):
                env.render(index)
        with pytest.raises(TypeError, match="env_index must be an integer, got float 1.0"):
            env.render(1.0)
        assert env.render(np.int64(1)).shape[2] == 3
        env.send(np.zeros(2, np.int32))
        with pytest.raises(APIUsageError, match=r"a send\(\) is pending"):
            env.render(0)
        env.recv()
        assert env.render(0).dtype == np.uint8
    with pytest.raises(APIUsageError, match="vector env is closed"):
        env.render(0)
