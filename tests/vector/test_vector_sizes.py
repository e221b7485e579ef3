"""Python vector backends count their sizes before they allocate or start anything."""
import functools
import os

import gymnasium
import pytest

import pufferlib.vector
from pufferlib.environment import Buffers

CREATOR = functools.partial(gymnasium.make, "CartPole-v1")


@pytest.mark.parametrize("backend", ["serial", "multiprocessing"])
def test_a_num_envs_past_the_engine_limit_names_the_argument(backend):
    with pytest.raises(ValueError, match=r"num_envs must be at most 2\*\*31-1 \(2147483647\), got 3000000000; "
                                         r"use fewer envs"):
        pufferlib.vector.make(CREATOR, num_envs=3_000_000_000, backend=backend)


@pytest.mark.parametrize("backend", ["serial", "multiprocessing"])
def test_buffers_larger_than_the_machine_are_refused_before_allocating(backend, monkeypatch):
    real = os.sysconf
    monkeypatch.setattr(os, "sysconf", lambda name: 1 if name == "SC_PHYS_PAGES" else real(name))
    with pytest.raises(ValueError, match=r"need 0\.0 GiB of buffers and state, more than this machine's "
                                         r"0\.0 GiB of memory; use fewer envs"):
        pufferlib.vector.make(CREATOR, num_envs=256, backend=backend, num_workers=1)  # 11 kB


def test_buffers_count_their_bytes():
    spec = Buffers.spec(gymnasium.spaces.Box(0, 1, (4,)), gymnasium.spaces.Discrete(2), 10)
    # 4 float32 observations and final observations, an int32 action, a float32 reward, 3 flags
    assert Buffers.nbytes(spec) == 10 * (2 * 16 + 4 + 4 + 3)
