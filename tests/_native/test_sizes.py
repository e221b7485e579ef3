"""Sizes the engine is asked for: counted in Python integers and refused before any allocation."""
import os
import resource

import pytest

import pufferlib


def test_rows_past_the_engine_limit_are_refused_before_allocating():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # 67108865 * 64 = 2**32 + 64 rows: 64 rows once wrapped around a C int
    with pytest.raises(ValueError, match=r"num_envs \* agents = 67108865 \* 64 = 4294967360 rows exceeds the "
                                         r"engine's limit of 2\*\*31-1; use fewer envs \(at most 33554431"):
        pufferlib.make("noop", num_envs=67108865, agents=64)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000   # KiB: under 100 MB


@pytest.mark.parametrize("kwargs, match", [
    ({"num_envs": 2**40}, r"num_envs must be at most 2\*\*31-1 \(2147483647\), got 1099511627776; use fewer"),
    ({"num_threads": 2**40}, r"num_threads must be at most 2\*\*31-1 \(2147483647\), got 1099511627776"),
])
def test_huge_counts_are_a_value_error_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pufferlib.make("noop", **kwargs)


def test_a_huge_omp_num_threads_is_named(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "99999999999")
    with pytest.raises(ValueError, match=r"OMP_NUM_THREADS must be at most 2\*\*31-1 .*got 99999999999"):
        pufferlib.make("noop")


HUGE_SEED = r"seed must be an integer in \[0, 2\*\*64\), got 1180591620717411303424"


def test_huge_seeds_are_a_value_error_naming_the_seed():
    with pytest.raises(ValueError, match=HUGE_SEED):
        pufferlib.make("noop", seed=2**70)
    with pufferlib.make("noop", num_envs=2) as env:
        with pytest.raises(ValueError, match=HUGE_SEED):
            env.reset(seed=2**70)


def test_buffers_larger_than_the_machine_are_refused(monkeypatch):
    sizes = {"SC_PHYS_PAGES": 256, "SC_PAGE_SIZE": 4096}    # a machine with 1 MiB of memory
    monkeypatch.setattr(os, "sysconf", lambda name: sizes[name])
    with pytest.raises(ValueError, match=r"num_envs=100000 copies of cartpole need 0\.\d GiB of buffers and "
                                         r"state, more than this machine's 0\.0 GiB of memory; use fewer"):
        pufferlib.make("cartpole", num_envs=100000)
