"""The Python backends: each test runs on serial, multiprocessing (and ray if installed).

Results are compared with the serial backend's for the same seed; failure paths (worker crash,
death, timeout, shutdown) are tested where a backend has workers. The protocol's states and
checks, common to every backend and the native one, are tested in test_protocol.py.
"""
import functools
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from vector_envs import (
    CopyingCartPole,
    CrashingEnv,
    CrashOnCreate,
    DrawingCartPole,
    DyingEnv,
    LongCrashEnv,
    ManyStatsCartPole,
    NumpyCartPole,
    SeededDelayEnv,
    SlowEnv,
)
from vector_fixtures import HAVE_RAY, RAY_MARKS, local_ray, no_leftover_processes, ray_for_ray_tests  # noqa: F401

import pufferlib.vector
from pufferlib.errors import APIUsageError, RenderNotSupportedError, WorkerError, WorkerTimeoutError
from pufferlib.vector.multiprocessing import split_envs

HERE = os.path.dirname(os.path.abspath(__file__))


BACKENDS = [
    pytest.param(dict(backend="serial"), id="serial"),
    pytest.param(dict(backend="multiprocessing", num_workers=2), id="multiprocessing"),
    pytest.param(dict(backend="multiprocessing", num_workers=3, start_method="forkserver"), id="mp-forkserver"),
    pytest.param(dict(backend="ray", num_workers=2), id="ray",
                 marks=RAY_MARKS),
]
WORKERS = [p for p in BACKENDS if p.id != "serial"]
PROCESSES = [p for p in WORKERS if p.id != "ray"]  # tests that reach into worker processes


def make(creator, num_envs, config, **kwargs):
    return pufferlib.vector.make(creator, num_envs, **config, **kwargs)


def rollout(vecenv, steps, seed=0, action_seed=1):
    """Every buffer of every step, and the infos."""
    rng = np.random.default_rng(action_seed)
    obs, _ = vecenv.reset(seed=seed)
    out, infos = [obs.copy()], []
    for _ in range(steps):
        actions = rng.integers(0, 2, vecenv.num_agents)
        obs, rew, term, trunc, info = vecenv.step(actions)
        done = (term | trunc)[:, None]
        out += [obs.copy(), rew.copy(), term.copy(), trunc.copy(),
                np.where(done, vecenv.final_observations, 0), vecenv.masks.copy()]
        infos.append(info)
    return out, infos


def serial_rollout(creator, num_envs, steps, seed=0, **kwargs):
    with pufferlib.vector.make(creator, num_envs, backend="serial", **kwargs) as vecenv:
        return rollout(vecenv, steps, seed)


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def assert_same_infos(got, expected):
    """Step by step, the same keys, and values equal up to float rounding (a backend may average
    episodes in another order). pytest.approx does not compare lists of dicts (pytest >= 9)."""
    assert len(got) == len(expected)
    for step, (ours, theirs) in enumerate(zip(got, expected)):
        assert ours.keys() == theirs.keys(), f"step {step}: {ours} != {theirs}"
        for key, value in theirs.items():
            assert ours[key] == pytest.approx(value), f"step {step}, {key}: {ours[key]} != {value}"


# ---- protocol ----

@pytest.mark.parametrize("config", BACKENDS)
def test_same_seed_gives_serial_results(config):
    expected, expected_infos = serial_rollout(NumpyCartPole, 5, 120, seed=7, env_kwargs=dict(agents=2))
    with make(NumpyCartPole, 5, config, env_kwargs=dict(agents=2)) as vecenv:
        got, infos = rollout(vecenv, 120, seed=7)
        assert same(got, expected)
        assert_same_infos(infos, expected_infos)
        again, _ = rollout(vecenv, 120, seed=7)
        assert same(again, expected)


@pytest.mark.parametrize("config", BACKENDS)
def test_envs_that_ignore_buf_give_the_same_results(config):
    expected, expected_infos = serial_rollout(NumpyCartPole, 4, 150, seed=2)
    with make(CopyingCartPole, 4, config) as vecenv:
        got, infos = rollout(vecenv, 150, seed=2)
    assert same(got, expected)
    assert_same_infos(infos, expected_infos)


@pytest.mark.parametrize("config", BACKENDS)
def test_episode_statistics_count_every_finished_episode(config):
    with make(NumpyCartPole, 4, config) as vecenv:
        out, infos = rollout(vecenv, 200, seed=0)
    terminals = np.array(out[3::6]) | np.array(out[4::6])
    assert sum(info.get("episodes", 0) for info in infos) == terminals.sum() > 0
    lengths = [info["episode_length"] for info in infos if info]
    assert all(1 <= length <= 200 for length in lengths)


# ---- misuse ----

def test_unknown_backend_and_bad_sizes_raise():
    with pytest.raises(ValueError, match="backend must be one of"):
        pufferlib.vector.make(NumpyCartPole, 2, backend="threads")
    with pytest.raises(ValueError, match="num_envs must be a positive integer"):
        pufferlib.vector.make(NumpyCartPole, 0)
    with pytest.raises(ValueError, match="batch_size must be None or 4"):
        pufferlib.vector.make(NumpyCartPole, 4, backend="serial", batch_size=2)
    with pytest.raises(TypeError, match="use pufferlib.make"):
        pufferlib.vector.make("cartpole", 2)


# ---- splitting envs over workers ----

def test_split_spreads_envs_evenly_without_a_batch_size():
    assert split_envs(7, 3) == ([3, 2, 2], 7)
    assert split_envs(8, "auto", cores=2) == ([4, 4], 8)
    assert split_envs(3, "auto", cores=16) == ([1, 1, 1], 3)


def test_split_with_a_batch_size_uses_whole_workers():
    sizes, batch = split_envs(12, "auto", batch_size=6, cores=2)
    assert batch == 6 and len(set(sizes)) == 1 and 6 % sizes[0] == 0 and len(sizes) == 4
    assert split_envs(12, 3, batch_size=8) == ([4, 4, 4], 8)


def test_split_names_the_valid_worker_counts():
    with pytest.raises(ValueError, match=r"num_workers must be 'auto' or one of \[3, 6, 12\]"):
        split_envs(12, 5, batch_size=8)
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, num_envs=4\]"):
        split_envs(4, 2, batch_size=5)
    with pytest.raises(ValueError, match=r"num_workers must be 'auto' or an integer in \[1, 4\]"):
        split_envs(4, 0)
    assert split_envs(2, 5) == ([1, 1], 2)


# ---- asynchronous pools ----

def test_async_recv_returns_the_first_ready_workers():
    with pufferlib.vector.make(SlowEnv, 4, backend="multiprocessing", num_workers=4, batch_size=2,
                               env_kwargs=dict(delay=0.0)) as vecenv:
        assert vecenv.num_agents == 2 and vecenv.observations.shape == (2, 4)
        vecenv.reset(seed=0)
        assert list(vecenv.env_ids) == [0, 1]
        vecenv.step(np.zeros(2, np.int32))
        assert list(vecenv.env_ids) == [2, 3]  # were ready since reset


def test_async_pool_does_not_wait_for_a_slow_worker():
    with pufferlib.vector.make(SeededDelayEnv, 4, backend="multiprocessing", num_workers=4,
                               batch_size=2) as vecenv:
        vecenv.reset(seed=99)  # env i sleeps 0.02 * ((99 + i) % 100) s a step: env 0 1.98 s, the others <= 0.04 s
        seen = []
        start = time.monotonic()
        for _ in range(6):
            vecenv.step(np.ones(2, np.int32))
            seen += list(vecenv.env_ids)
        elapsed = time.monotonic() - start
        assert 0 not in seen  # env 0 was sent once and is still stepping
        assert elapsed < 1.5


def test_async_batches_follow_each_envs_own_trajectory():
    """Whatever the batch order, env i's observations are serial env i's (constant actions)."""
    steps = 30
    with pufferlib.vector.make(NumpyCartPole, 6, backend="serial") as vecenv:
        obs, _ = vecenv.reset(seed=5)
        expected = [[row.copy()] for row in obs]
        for _ in range(steps):
            obs, *_ = vecenv.step(np.ones(6, np.int32))
            for i in range(6):
                expected[i].append(obs[i].copy())
    with pufferlib.vector.make(NumpyCartPole, 6, backend="multiprocessing", num_workers=3,
                               batch_size=2) as vecenv:
        obs, _ = vecenv.reset(seed=5)
        got = [[] for _ in range(6)]
        for _ in range(steps):
            for i, row in zip(vecenv.env_ids, obs):
                got[i].append(row.copy())
            obs, *_ = vecenv.step(np.ones(2, np.int32))
    for i in range(6):
        assert len(got[i]) > 0
        assert same(got[i], expected[i][:len(got[i])])


# ---- failures of workers ----

@pytest.mark.parametrize("config", WORKERS)
def test_worker_exception_is_raised_with_its_traceback(config):
    with make(CrashingEnv, 4, config) as vecenv:
        vecenv.reset()
        vecenv.step(np.zeros(4, np.int32))
        start = time.monotonic()
        with pytest.raises(WorkerError, match=r"(?s)raised ZeroDivisionError.*on purpose.*Traceback.*vector_envs.py"):
            vecenv.step(np.zeros(4, np.int32))
        assert time.monotonic() - start < 1.0
        with pytest.raises(APIUsageError, match=r"failed \(WorkerError"):
            vecenv.step(np.zeros(4, np.int32))


@pytest.mark.parametrize("config", PROCESSES)
def test_worker_error_too_big_for_the_mailbox_comes_whole_through_the_pipe(config):
    with make(LongCrashEnv, 4, config) as vecenv:
        vecenv.reset()
        vecenv.step(np.zeros(4, np.int32))
        with pytest.raises(WorkerError, match=r"raised ZeroDivisionError while stepping: x{100000}\n"):
            vecenv.step(np.zeros(4, np.int32))


@pytest.mark.parametrize("config", PROCESSES)
def test_logs_too_big_for_the_mailbox_come_through_the_pipe(config):
    expected = serial_rollout(ManyStatsCartPole, 4, 40)[1]
    with make(ManyStatsCartPole, 4, config) as vecenv:
        got = rollout(vecenv, 40)[1]
    assert any(len(infos) > 5000 for infos in got)
    assert got == expected


def test_serial_env_exception_propagates_as_is():
    with make(CrashingEnv, 2, dict(backend="serial")) as vecenv:
        vecenv.reset()
        with pytest.raises(ZeroDivisionError, match="on purpose"):
            for _ in range(3):
                vecenv.step(np.zeros(2, np.int32))


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGSEGV], ids=["SIGKILL", "SIGSEGV"])
@pytest.mark.parametrize("config", WORKERS)
def test_worker_that_dies_is_detected(config, signum):
    with make(DyingEnv, 4, config, env_kwargs=dict(signum=signum)) as vecenv:
        vecenv.reset()
        vecenv.step(np.zeros(4, np.int32))
        start = time.monotonic()
        how = "" if config["backend"] == "ray" else rf" \(signal {signal.Signals(signum).name}\)"
        with pytest.raises(WorkerError, match=rf"died{how} while stepping"):
            vecenv.step(np.zeros(4, np.int32))
        assert time.monotonic() - start < 1.5


@pytest.mark.parametrize("config", PROCESSES)
def test_worker_killed_from_outside_between_steps_is_detected(config):
    with make(NumpyCartPole, 4, config) as vecenv:
        vecenv.reset()
        victim = vecenv._processes[1]
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(5)
        with pytest.raises(WorkerError, match="died"):
            vecenv.step(np.zeros(4, np.int32))


@pytest.mark.parametrize("config", WORKERS)
def test_env_that_cannot_be_created_in_a_worker_raises(config):
    with pytest.raises(WorkerError, match=r"(?s)raised RuntimeError while creating its envs.*cannot create"):
        make(CrashOnCreate, 4, config, env_kwargs=dict(parent_pid=os.getpid()))


@pytest.mark.parametrize("config", WORKERS)
def test_slow_workers_time_out_and_can_be_waited_for_again(config):
    with make(SlowEnv, 2, config, env_kwargs=dict(delay=0.6), timeout=0.2) as vecenv:
        vecenv.reset()
        vecenv.send(np.zeros(2, np.int32))
        start = time.monotonic()
        with pytest.raises(WorkerTimeoutError, match=r"did not finish stepping within timeout=0.2 s"):
            vecenv.recv()
        assert time.monotonic() - start < 0.5
        vecenv.timeout = None
        obs, *_ = vecenv.recv()
        assert obs.shape == (2, 4)


@pytest.mark.parametrize("config", PROCESSES)
def test_close_while_stepping_shuts_every_worker_down(config):
    vecenv = make(SlowEnv, 4, config, env_kwargs=dict(delay=5.0))
    vecenv.reset()
    pids = [p.pid for p in vecenv._processes]
    vecenv.send(np.zeros(4, np.int32))
    start = time.monotonic()
    vecenv.close()
    assert time.monotonic() - start < 4.0
    for pid in pids:  # joined, so reaped: no zombie left with this pid
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_workers_exit_with_the_interpreter_when_not_closed():
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{HERE!r}]
        import pufferlib.vector
        from vector_envs import NumpyCartPole
        vecenv = pufferlib.vector.make(NumpyCartPole, 4, backend="multiprocessing", num_workers=2)
        vecenv.reset()
        print(" ".join(str(p.pid) for p in vecenv._processes), flush=True)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.returncode == 0, out.stderr
    assert "leaked" not in out.stderr
    pids = [int(pid) for pid in out.stdout.split()]
    assert len(pids) == 2
    time.sleep(0.2)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_creator_must_be_picklable_for_workers():
    with pytest.raises(Exception, match="(?i)pickle"):
        pufferlib.vector.make(lambda: NumpyCartPole(), 2, backend="multiprocessing", num_workers=2)


def test_partial_creators_work_across_processes():
    creator = functools.partial(NumpyCartPole, agents=3)
    with pufferlib.vector.make(creator, 2, backend="multiprocessing", num_workers=2) as vecenv:
        assert vecenv.num_agents == 6
        vecenv.reset()
        vecenv.step(np.zeros(6, np.int32))


@pytest.mark.parametrize("config", BACKENDS)
def test_gymnasium_envs_are_emulated_and_match_serial(config):
    import gymnasium

    creator = functools.partial(gymnasium.make, "CartPole-v1")
    expected, expected_infos = serial_rollout(creator, 6, 120, seed=5)
    with make(creator, 6, config) as vecenv:
        assert vecenv.single_observation_space.shape == (4,)
        got, infos = rollout(vecenv, 120, seed=5)
    assert same(got, expected)
    assert infos == expected_infos and any(infos)


@pytest.mark.parametrize("config", BACKENDS)
def test_render_draws_the_env_asked_for_as_it_is_now(config):
    with make(DrawingCartPole, 4, config) as vecenv:
        vecenv.reset(seed=10)
        for _ in range(3):
            vecenv.step(np.zeros(4, np.int32))
        for i in range(4):
            frame = vecenv.render(i)
            assert frame.dtype == np.uint8 and frame.shape == (200, 300, 3)
            assert (frame[..., 0] == 10 + i).all() and (frame[..., 1] == 3).all()
        assert vecenv.render(np.int64(2), mode="ansi").count("\n") > 10


@pytest.mark.parametrize("config", BACKENDS)
def test_render_does_not_change_the_trajectory(config):
    def run(vecenv, draw):
        rng = np.random.default_rng(1)
        out = [vecenv.reset(seed=3)[0].copy()]
        for _ in range(20):
            if draw:
                vecenv.render(1)
            obs, rew, term, trunc, _ = vecenv.step(rng.integers(0, 2, 4, dtype=np.int32))
            out += [obs.copy(), rew.copy(), term.copy(), trunc.copy()]
        return out

    with pufferlib.vector.make(DrawingCartPole, 4, backend="serial") as vecenv:
        expected = run(vecenv, draw=False)
    with make(DrawingCartPole, 4, config) as vecenv:
        assert same(run(vecenv, draw=True), expected)


@pytest.mark.parametrize("config", WORKERS)
def test_render_in_an_asynchronous_pool_waits_for_the_envs_step(config):
    four = dict(config, num_workers=4)
    if config["backend"] == "ray":
        four["actor_options"] = {"num_cpus": 0.5}  # four actors on two cores
    with make(DrawingCartPole, 4, four, batch_size=2) as vecenv:
        vecenv.reset(seed=0)
        vecenv.step(np.zeros(2, np.int32))  # envs 0 and 1 step on while 2 and 3 are returned
        assert list(vecenv.env_ids) == [2, 3]
        assert (vecenv.render(0)[..., 1] == 1).all()  # after its step
        assert (vecenv.render(3)[..., 1] == 0).all()
        vecenv.step(np.zeros(2, np.int32))
        # the step render waited for is still returned; which env joins it is up to the scheduler
        assert 0 in list(vecenv.env_ids)


@pytest.mark.parametrize("config", BACKENDS)
def test_rgba_frames_lose_their_alpha(config):
    with make(DrawingCartPole, 2, config, env_kwargs=dict(mode="rgba")) as vecenv:
        vecenv.reset(seed=0)
        assert vecenv.render(1).shape == (200, 300, 3)


@pytest.mark.parametrize("config", BACKENDS)
@pytest.mark.parametrize("creator,kwargs,returned", [
    (NumpyCartPole, {}, "None"), (DrawingCartPole, dict(mode="text"), "str")])
def test_env_that_draws_no_frame_raises_and_stays_usable(config, creator, kwargs, returned):
    with make(creator, 2, config, env_kwargs=kwargs) as vecenv:
        vecenv.reset(seed=0)
        with pytest.raises(RenderNotSupportedError, match=rf"environment 1 drew no RGB frame: its render\(\) "
                           rf"returned {returned}, .*render_mode='rgb_array'"):
            vecenv.render(1)
        vecenv.step(np.zeros(2, np.int32))


@pytest.mark.parametrize("config", WORKERS)
def test_render_that_raises_in_a_worker_comes_back_with_its_traceback(config):
    with make(DrawingCartPole, 2, config, env_kwargs=dict(mode="raise")) as vecenv:
        vecenv.reset(seed=0)
        with pytest.raises(WorkerError, match=r"(?s)raised RuntimeError while rendering: cannot draw on "
                                              r"purpose.*Worker traceback"):
            vecenv.render(0)
        obs, *_ = vecenv.step(np.zeros(2, np.int32))  # the worker is fine: stepping goes on
        assert obs.shape == (2, 4)


@pytest.mark.parametrize("config", WORKERS)
def test_gymnasium_env_made_to_draw_renders_through_workers(config):
    import gymnasium

    creator = functools.partial(gymnasium.make, "CartPole-v1", render_mode="rgb_array")
    with make(creator, 2, config) as vecenv:
        vecenv.reset(seed=0)
        frame = vecenv.render(1)
    assert frame.shape == (400, 600, 3) and len(np.unique(frame.reshape(-1, 3), axis=0)) > 2


@pytest.mark.ray
@pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (pip install ray)")
def test_ray_actor_killed_between_steps_is_detected_and_close_kills_the_rest():
    import ray

    with make(NumpyCartPole, 4, dict(backend="ray", num_workers=2)) as vecenv:
        vecenv.reset()
        actors = list(vecenv._actors)
        ray.kill(actors[1])
        _wait_until_dead(ray, actors[1])  # ray.kill is asynchronous
        with pytest.raises(WorkerError, match="died while stepping"):
            vecenv.step(np.zeros(4, np.int32))
    _wait_until_dead(ray, actors[0])  # close() killed it too


def _wait_until_dead(ray, actor, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            ray.get(actor.__ray_ready__.remote(), timeout=seconds)
        except ray.exceptions.RayActorError:
            return
        time.sleep(0.1)
    pytest.fail("the Ray actor is still alive")
