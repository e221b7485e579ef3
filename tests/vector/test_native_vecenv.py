"""Native (C) environments: spaces, statistics, determinism, autoreset, threads and errors.

The protocol's states and checks, common to every backend, are tested in test_protocol.py.
"""
import gc
import hashlib
import os
import time
import warnings
import weakref

import numpy as np
import pytest

import pufferlib
from pufferlib.envs import list_envs
from pufferlib.errors import APIUsageError, UnknownEnvironmentError

ENVS = [name for name in list_envs() if name != "noop"]


def equal_rollouts(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


# ---- protocol ----

@pytest.mark.parametrize("name", list_envs())
def test_spaces_and_buffers_follow_the_protocol(name):
    with pufferlib.make(name, num_envs=5, num_threads=2) as env:
        rows = env.num_agents
        assert rows % 5 == 0 and env.num_envs == 5
        assert env.observation_space.shape == (rows,) + env.single_observation_space.shape
        assert env.observations.shape == env.observation_space.shape
        assert env.observations.dtype == env.single_observation_space.dtype
        assert env.action_space.shape[0] == rows
        assert env.rewards.shape == (rows,) and env.rewards.dtype == np.float32
        for flags in (env.terminals, env.truncations, env.masks):
            assert flags.shape == (rows,) and flags.dtype == np.bool_
        assert env.final_observations.shape == env.observations.shape
        obs, infos = env.reset(seed=3)
        assert obs is env.observations and infos == {}
        assert env.masks.all()


@pytest.mark.parametrize("name", list_envs())
def test_observations_stay_inside_their_space(name, random_actions):
    rng = np.random.default_rng(0)
    with pufferlib.make(name, num_envs=16) as env:
        obs, _ = env.reset(seed=0)
        for _ in range(300):
            assert env.observation_space.contains(obs)
            obs, *_ = env.step(random_actions(env, rng))


def test_torch_reads_the_buffers_without_copying():
    torch = pytest.importorskip("torch")
    with pufferlib.make("cartpole", num_envs=4) as env:
        obs, _ = env.reset(seed=0)
        tensor = torch.from_numpy(obs)
        env.step(np.ones(4, np.int32))
        assert np.array_equal(tensor.numpy(), env.observations)
        assert tensor.data_ptr() == env.observations.ctypes.data


def test_infos_report_means_of_finished_episodes_once():
    with pufferlib.make("cartpole", num_envs=64, max_steps=10) as env:
        env.reset(seed=0)
        finished, returns = 0, []
        for _ in range(10):
            *_, infos = env.step(np.ones(64, np.int32))
            if infos:
                finished += infos["episodes"]
                returns.append(infos["episode_return"])
                assert infos["episode_return"] == infos["episode_length"]  # reward 1 per step
        assert finished == 64  # every env finished exactly one episode within 10 steps
        *_, infos = env.step(np.ones(64, np.int32))
        assert infos == {} or infos["episodes"] < 64


def test_statistics_match_a_python_count(random_actions):
    rng = np.random.default_rng(5)
    with pufferlib.make("squared", num_envs=32, size=5) as env:
        env.reset(seed=1)
        running = np.zeros(32)
        lengths = np.zeros(32)
        ended_returns, ended_lengths, reached = [], [], []
        n, ret, length, hits = 0, 0.0, 0.0, 0.0
        for _ in range(200):
            _, rew, term, trunc, infos = env.step(random_actions(env, rng))
            running += rew
            lengths += 1
            done = term | trunc
            ended_returns += list(running[done])
            ended_lengths += list(lengths[done])
            reached += list(rew[done] == 1.0)
            running[done] = 0
            lengths[done] = 0
            if infos:
                n += infos["episodes"]
                ret += infos["episode_return"] * infos["episodes"]
                length += infos["episode_length"] * infos["episodes"]
                hits += infos["reached"] * infos["episodes"]
        assert n == len(ended_returns) > 0
        assert ret == pytest.approx(sum(ended_returns))
        assert length == pytest.approx(sum(ended_lengths))
        assert hits == pytest.approx(sum(reached))


# ---- autoreset ----

def test_autoreset_is_same_step_and_keeps_the_final_observation():
    with pufferlib.make("cartpole", num_envs=32, max_steps=500) as env:
        env.reset(seed=2)
        previous = env.observations.copy()
        for _ in range(100):
            obs, _, term, trunc, _ = env.step(np.ones(32, np.int32))  # always push right: falls
            done = term | trunc
            if done.any():
                break
            previous = obs.copy()
        assert done.any()
        final = env.final_observations[done]
        # the final observation is where the pole fell; the returned one is a fresh start
        assert (np.abs(final[:, 2]) > 0.2094).any() or (np.abs(final[:, 0]) > 2.4).any()
        assert np.all(np.abs(obs[done]) <= 0.05)
        assert not np.array_equal(previous[done], obs[done])


def test_truncation_is_distinct_from_termination():
    with pufferlib.make("cartpole", num_envs=16, max_steps=3) as env:
        env.reset(seed=0)
        for _ in range(3):
            _, _, term, trunc, _ = env.step(np.tile(np.array([0, 1], np.int32), 8))
        assert trunc.all() and not term.any()


# ---- determinism ----

@pytest.mark.parametrize("name", ENVS)
def test_same_seed_same_trajectory_different_seed_differs(name, rollout):
    with pufferlib.make(name, num_envs=8) as a, pufferlib.make(name, num_envs=8) as b:
        first, infos_a = rollout(a, 60, seed=7)
        second, infos_b = rollout(b, 60, seed=7)
        assert equal_rollouts(first, second) and infos_a == infos_b
        if name in ("cartpole", "squared"):
            other, _ = rollout(b, 60, seed=8)
            assert not equal_rollouts(first, other)


@pytest.mark.parametrize("name", ENVS)
def test_one_thread_and_two_threads_are_bit_identical(name, rollout):
    with pufferlib.make(name, num_envs=300, num_threads=1) as a, \
            pufferlib.make(name, num_envs=300, num_threads=2) as b:
        assert b.num_threads == 2 or not pufferlib.openmp_enabled()
        first, infos_a = rollout(a, 80, seed=11)
        second, infos_b = rollout(b, 80, seed=11)
        assert equal_rollouts(first, second)
        assert infos_a == infos_b


# ---- threads ----

def test_num_threads_follows_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with pufferlib.make("cartpole", num_envs=64) as env:
        assert env.num_threads == 1


def test_num_threads_is_capped_by_the_work():
    with pufferlib.make("cartpole", num_envs=1, num_threads=2) as env:
        assert env.num_threads == 1


def test_idle_threads_do_not_burn_cpu():
    with pufferlib.make("cartpole", num_envs=4096, num_threads=2) as env:
        env.reset()
        for _ in range(50):
            env.step(np.zeros(4096, np.int32))
        env.send(np.zeros(4096, np.int32))
        env.recv()
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        time.sleep(0.5)
        used = time.process_time() - start_cpu
        assert used < 0.1 * (time.perf_counter() - start_wall)


# ---- errors ----

@pytest.mark.parametrize("actions, limits, expected", [
    (np.array([1, 0, 1], np.int32), np.array([2], np.int32), -1),
    (np.array([1, 0, 2], np.int32), np.array([2], np.int32), 2),
    (np.array([[0, 2], [3, 0]], np.int32), np.array([4, 3], np.int32), -1),
    (np.array([[0, 2], [3, 3]], np.int32), np.array([4, 3], np.int32), 3),
    (np.array([[0, -1]], np.int32), np.array([4, 3], np.int32), 1),
])
def test_first_invalid_action_finds_the_first_out_of_range(actions, limits, expected):
    from pufferlib._native.protocol import first_invalid_action
    assert first_invalid_action(actions, limits) == expected


@pytest.mark.parametrize("actions, limits", [
    (np.zeros(3, np.int64), np.array([2], np.int32)),
    (np.zeros((3, 2), np.int32), np.array([2], np.int32)),
    (np.zeros(3, np.int32), np.array([2, 2], np.int32)),
    (np.zeros((3, 2), np.int32)[:, :1], np.array([2], np.int32)),
    (np.zeros((1, 1, 1), np.int32), np.array([2], np.int32)),
])
def test_first_invalid_action_refuses_other_layouts(actions, limits):
    from pufferlib._native.protocol import first_invalid_action
    with pytest.raises(ValueError, match=r"actions must be C-contiguous int32 of shape \(rows,\) or \(rows, dims\)"):
        first_invalid_action(actions, limits)


@pytest.mark.parametrize("name", ENVS)
def test_unchecked_garbage_actions_are_memory_safe(name):
    rng = np.random.default_rng(0)
    with pufferlib.make(name, num_envs=32, check_actions=False) as env:
        env.reset()
        for _ in range(100):
            if env.actions.dtype == np.int32:
                env.actions[...] = rng.integers(-2**31, 2**31 - 1, env.actions.shape, dtype=np.int64)
            else:
                env.actions[...] = rng.choice([np.nan, np.inf, -np.inf, 1e30], env.actions.shape)
            env.step(env.actions)
        assert np.isfinite(env.observations.astype(np.float64)).all()


def test_unknown_environment_lists_the_known_ones():
    with pytest.raises(UnknownEnvironmentError, match=r"unknown environment 'cartpol'.*cartpole, squared"):
        pufferlib.make("cartpol")


@pytest.mark.parametrize("params, error, match", [
    ({"gravity": 3}, TypeError, r"cartpole has no parameter 'gravity'; its parameters are: max_steps \(default 500\)"),
    ({"max_steps": 0}, ValueError, r"cartpole parameter max_steps must be an integer in \[1, 1000000000\], got 0"),
    ({"max_steps": 2.5}, ValueError, r"max_steps must be an integer"),
    ({"max_steps": "10"}, TypeError, r"max_steps must be an integer .* got str '10'"),
    ({"continuous": 2}, ValueError, r"continuous must be an integer in \[0, 1\], got 2"),
])
def test_invalid_parameters_are_named(params, error, match):
    with pytest.raises(error, match=match):
        pufferlib.make("cartpole", **params)


@pytest.mark.parametrize("kwargs, match", [
    ({"num_envs": 0}, r"num_envs must be a positive integer, got 0"),
    ({"num_envs": -3}, r"num_envs must be a positive integer, got -3"),
    ({"num_envs": 2.0}, r"num_envs must be a positive integer, got 2.0"),
    ({"num_threads": 0}, r"num_threads must be a positive integer or None, got 0"),
    ({"num_threads": -1}, r"num_threads must be a positive integer or None, got -1"),
    ({"seed": -1}, r"seed must be an integer in \[0, 2\*\*64\), got -1"),
    ({"seed": 1.5}, r"seed must be an integer"),
])
def test_invalid_sizes_and_seeds(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pufferlib.make("cartpole", **kwargs)


def test_bad_omp_num_threads_is_reported(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "many")
    with pytest.raises(ValueError, match=r"OMP_NUM_THREADS must be a positive integer, got 'many'"):
        pufferlib.make("cartpole")


def test_garbage_collection_frees_the_engine():
    env = pufferlib.make("squared", num_envs=64)
    env.reset()
    env.send(np.zeros(64, np.int32))  # a live stepping thread must not keep it alive
    ref = weakref.ref(env)
    del env
    gc.collect()
    assert ref() is None


def test_stepping_from_two_threads_at_once_is_refused():
    import threading

    with pufferlib.make("squared", num_envs=100_000, num_threads=1) as env:
        env.reset()
        actions = np.zeros(100_000, np.int32)
        errors, done = [], threading.Event()

        def other():
            while not done.is_set() and not errors:
                time.sleep(0.0003)  # land inside one of the main thread's steps
                try:
                    env.step(actions)
                except APIUsageError as error:
                    errors.append(str(error))

        thread = threading.Thread(target=other)
        thread.start()
        for _ in range(2000):
            if errors:
                break
            env.step(actions)
        done.set()
        thread.join()
        assert errors and "another thread is inside step() on this env" in errors[0]


def test_environments_step_on_threads_with_or_without_openmp():
    # the engine's threads are its own; PUFFER_NO_OPENMP=1 only makes the OpenMP kernels serial
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pufferlib.make("cartpole", num_envs=64, num_threads=2) as env:
            assert env.num_threads == 2


def _steps(env, count):
    """A digest of the observations of `count` steps with fixed actions (small, for a queue)."""
    actions = np.arange(env.num_agents, dtype=np.int32) % 2
    digest = hashlib.sha256()
    for _ in range(count):
        digest.update(env.step(actions)[0].tobytes())
    return digest.hexdigest()


def _fresh_rollout():
    with pufferlib.make("cartpole", num_envs=4096, num_threads=2, seed=5) as fresh:
        fresh.reset()
        return _steps(fresh, 20)


def _child_steps_after_fork(env, queue):
    import warnings

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            inherited = _steps(env, 20)   # its copy, on new threads
            fresh = _fresh_rollout()
        threads = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else None
        queue.put((env.num_threads, inherited, fresh, threads, [str(w.message) for w in caught]))
    except Exception as error:  # report, do not hang
        queue.put(repr(error))


def test_a_forked_child_steps_on_threads_with_the_same_results():
    import multiprocessing

    context = multiprocessing.get_context("fork")
    with pufferlib.make("cartpole", num_envs=4096, num_threads=2) as env:
        env.reset()
        env.send(np.zeros(4096, np.int32))
        env.recv()  # the parent has used its stepping threads and its send() thread
        env.step(np.zeros(4096, np.int32))
        queue = context.Queue()
        child = context.Process(target=_child_steps_after_fork, args=(env, queue))
        child.start()
        child.join(timeout=60)
        if child.is_alive():
            child.kill()
            pytest.fail("the forked child hung")
        result = queue.get(timeout=5)
        assert child.exitcode == 0 and not isinstance(result, str), result
        num_threads, inherited, fresh, threads, caught = result
        assert num_threads == 2 and caught == []
        assert threads is None or threads >= 2   # the child made its own stepping thread
        assert inherited == _steps(env, 20)   # the parent's copy, stepped alike
        assert fresh == _fresh_rollout()
