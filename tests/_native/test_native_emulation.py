"""StepWriter: the per-step work of a one-row emulated environment (pufferlib._native.emulation)."""
import numpy as np
import pytest
from pufferlib._native.emulation import Flattener, StepWriter


def flattener():
    """Observations {'pos': float32[2], 'kind': int64 scalar} in rows of 16 bytes."""
    return Flattener([("pos",), ("kind",)], ["obs['pos']", "obs['kind']"], [(2,), ()],
                     [np.float32, np.int64], [0, 8], 16, lambda i, value: np.asarray(value))


def buffers(n_actions=3, make_action=np.int64):
    bufs = dict(observations=np.zeros((1, 16), np.uint8), rewards=np.zeros(1, np.float32),
                terminals=np.zeros(1, bool), truncations=np.zeros(1, bool), actions=np.zeros(1, np.int32))
    writer = StepWriter(flattener(), bufs["observations"], bufs["rewards"], bufs["terminals"],
                        bufs["truncations"], bufs["actions"], n_actions, make_action)
    return writer, bufs


def observation(kind=1):
    return {"pos": np.array([0.5, -1.0], np.float32), "kind": kind}


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_action_gives_the_envs_action_and_records_its_index(dtype):
    writer, bufs = buffers()
    action = writer.action(np.array([2], dtype))
    assert type(action) is np.int64 and action == 2
    assert bufs["actions"][0] == 2


@pytest.mark.parametrize("actions", [np.array([3], np.int32), np.array([-1], np.int32),
                                     np.array([1, 1], np.int32), np.array([[1]], np.int32),
                                     np.array([1], np.uint8), np.array([1.0], np.float32), [1], 1],
                         ids=["too-big", "negative", "two", "2-d", "uint8", "float", "list", "int"])
def test_action_leaves_anything_else_to_the_general_path(actions):
    writer, bufs = buffers()
    assert writer.action(actions) is None
    assert bufs["actions"][0] == 0


def test_action_beyond_the_cached_ones_is_made_when_taken():
    made = []
    writer, _ = buffers(n_actions=5000, make_action=lambda i: made.append(i) or i + 10)
    assert len(made) == 1024
    assert writer.action(np.array([4321], np.int32)) == 4331
    assert made[-1] == 4321


def test_no_discrete_actions_means_no_fast_path():
    writer, _ = buffers(n_actions=0)
    assert writer.action(np.array([0], np.int32)) is None


def test_write_stores_the_step_and_flattens_the_observation():
    writer, bufs = buffers()
    assert writer.write(observation(7), np.float64(1.5), False, False) is False
    assert bufs["rewards"][0] == 1.5 and not bufs["terminals"][0] and not bufs["truncations"][0]
    row = bufs["observations"][0]
    assert row[:8].view(np.float32).tolist() == [0.5, -1.0] and row[8:].view(np.int64)[0] == 7
    assert writer.write(observation(), 2, False, False) is False
    assert (writer.episode_return, writer.episode_length) == (3.5, 2)


@pytest.mark.parametrize("terminated, truncated", [(True, False), (False, np.bool_(True))])
def test_write_at_the_end_of_an_episode_leaves_the_row_to_the_caller(terminated, truncated):
    writer, bufs = buffers()
    assert writer.write(observation(), 1.0, terminated, truncated) is True
    assert bufs["terminals"][0] == bool(terminated) and bufs["truncations"][0] == bool(truncated)
    assert not bufs["observations"].any()
    assert (writer.episode_return, writer.episode_length) == (1.0, 1)
    writer.restart()
    assert (writer.episode_return, writer.episode_length) == (0.0, 0)


def test_write_without_flatten_only_stores_the_step():
    writer, bufs = buffers()
    assert writer.write(observation(), 1.0, False, False, False) is False
    assert not bufs["observations"].any() and bufs["rewards"][0] == 1.0


def test_write_of_an_observation_missing_a_leaf_names_it():
    writer, _ = buffers()
    with pytest.raises(ValueError, match=r"the observation has no obs\['kind'\]"):
        writer.write({"pos": np.zeros(2, np.float32)}, 1.0, False, False)


def test_write_of_a_reward_that_is_not_a_number_raises():
    writer, _ = buffers()
    with pytest.raises(TypeError, match="must be real number"):
        writer.write(observation(), "one", False, False)


def test_buffers_of_the_wrong_layout_raise():
    good = buffers()[1]
    with pytest.raises(ValueError, match=r"observations must be C-contiguous rows of 16 bytes, got uint8"):
        StepWriter(flattener(), np.zeros((1, 12), np.uint8), good["rewards"], good["terminals"],
                   good["truncations"], good["actions"], 2, np.int64)
    with pytest.raises(ValueError, match=r"rewards must be a non-empty float32 array, got float64"):
        StepWriter(flattener(), good["observations"], np.zeros(1), good["terminals"], good["truncations"],
                   good["actions"], 2, np.int64)
    with pytest.raises(ValueError, match=r"actions must be a non-empty int32 array, got float32"):
        StepWriter(flattener(), good["observations"], good["rewards"], good["terminals"],
                   good["truncations"], np.zeros(1, np.float32), 2, np.int64)
    StepWriter(flattener(), good["observations"], good["rewards"], good["terminals"], good["truncations"],
               np.zeros(1, np.float32), 0, np.int64)  # without a Discrete action space, any actions
