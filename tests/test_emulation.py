import gymnasium
import numpy as np
import pytest

from pufferlib.emulation import EnvSpec, GymnasiumPufferEnv, PettingZooPufferEnv, nativize
from pufferlib.environment import Buffers
from pufferlib.errors import APIUsageError, UnsupportedSpaceError

try:
    from pettingzoo import ParallelEnv
except ImportError:
    ParallelEnv = None

S = gymnasium.spaces
needs_pettingzoo = pytest.mark.skipif(ParallelEnv is None, reason="pettingzoo is not installed")


class CountEnv(gymnasium.Env):
    """Observes its step count; never ends by itself; reports a numeric and a text info."""

    observation_space = S.Box(0, 100, (1,), np.float32)
    action_space = S.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t], np.float32), 1.0, False, False, {"score": 2 * self.t, "name": "x"}


class NestedEnv(gymnasium.Env):
    """Mixed-dtype nested observations; mixed discrete + continuous nested actions; records both."""

    observation_space = S.Dict(
        pos=S.Box(-5, 5, (2,), np.float32),
        inventory=S.Tuple((S.Discrete(4), S.MultiBinary(3), S.Box(0, 9, (2, 2), np.int64))),
    )
    action_space = S.Dict(move=S.Box(-1, 1, (2,), np.float32),
                          tools=S.Tuple((S.Discrete(3, start=1), S.MultiDiscrete([2, 4]), S.MultiBinary(2))))

    def __init__(self, bad=None):
        self.bad = bad
        self.actions = []

    def _obs(self):
        obs = self.observation_space.sample()
        if self.bad is not None:
            obs["pos"] = self.bad
        self.last = obs
        return obs

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        return self._obs(), {}

    def step(self, action):
        self.actions.append(action)
        return self._obs(), 0.0, False, False, {}


def _same(a, b):
    if isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in b)
    if isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return np.asarray(a).dtype == np.asarray(b).dtype and np.array_equal(a, b)


def test_cartpole_matches_the_raw_env_trajectory():
    raw = gymnasium.make("CartPole-v1")
    env = GymnasiumPufferEnv(env_creator=gymnasium.make, env_args=("CartPole-v1",))
    expected, _ = raw.reset(seed=3)
    obs, _ = env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(200):
        np.testing.assert_array_equal(obs[0], expected)
        action = int(rng.integers(2))
        expected, reward, term, trunc, _ = raw.step(action)
        obs, rewards, terminals, truncations, _ = env.step(np.array([action], np.int32))
        assert (rewards[0], terminals[0], truncations[0]) == (reward, term, trunc)
        if term or trunc:
            np.testing.assert_array_equal(env.final_observations[0], expected)
            expected, _ = raw.reset()
    env.close()


def test_spaces_and_buffers_are_flat():
    env = GymnasiumPufferEnv(gymnasium.make("CartPole-v1"))
    assert env.single_observation_space == S.Box(env.env.observation_space.low,
                                                 env.env.observation_space.high, (4,), np.float32)
    assert env.single_action_space == S.Discrete(2)
    assert env.num_agents == 1 and env.observations.shape == (1, 4) and env.actions.dtype == np.int32


def test_truncated_episode_resets_in_the_same_step_and_keeps_its_final_observation():
    env = GymnasiumPufferEnv(gymnasium.wrappers.TimeLimit(CountEnv(), 5))
    env.reset(seed=0)
    for t in range(1, 5):
        obs, _, _, truncations, infos = env.step(np.zeros(1, np.int32))
        assert obs[0, 0] == t and not truncations[0] and infos == {}
    obs, rewards, terminals, truncations, infos = env.step(np.zeros(1, np.int32))
    assert truncations[0] and not terminals[0] and rewards[0] == 1
    assert env.final_observations[0, 0] == 5 and obs[0, 0] == 0


def test_numeric_infos_of_finished_episodes_are_aggregated():
    env = GymnasiumPufferEnv(gymnasium.wrappers.TimeLimit(CountEnv(), 5))
    env.reset(seed=0)
    for _ in range(4):
        env.step(np.zeros(1, np.int32))
    infos = env.step(np.zeros(1, np.int32))[-1]
    assert infos == {"score": 10.0, "episode_return": 5.0, "episode_length": 5.0, "episodes": 1}


def test_nested_observations_round_trip_through_nativize():
    env = GymnasiumPufferEnv(NestedEnv())
    assert env.observation_layout.packed
    env.reset(seed=1)
    for _ in range(5):
        obs = env.step(env.action_space.sample().astype(np.float32))[0]
        native = nativize(obs, env.observation_layout)
        single = {"pos": native["pos"][0], "inventory": tuple(v[0] for v in native["inventory"])}
        assert _same(single, env.env.last)


def test_mixed_discrete_and_continuous_actions_reach_the_env_in_native_structure():
    env = GymnasiumPufferEnv(NestedEnv())
    assert env.single_action_space == S.Box(np.array([-1, -1, 0, 0, 0, 0, 0], np.float32),
                                            np.array([1, 1, 2, 1, 3, 1, 1], np.float32), (7,), np.float32)
    env.reset(seed=0)
    env.step(np.array([[0.5, -0.25, 2, 1, 3, 0, 1]], np.float32))
    action = env.env.actions[-1]
    assert _same(action, {"move": np.array([0.5, -0.25], np.float32),
                          "tools": (np.int64(3), np.array([1, 3]), np.array([0, 1], np.int8))})


def test_an_env_spec_survives_plain_data_and_names_what_differs():
    spec = EnvSpec.of(GymnasiumPufferEnv(NestedEnv()))
    assert spec.agents_per_env == 1 and spec.action_nvec is not None  # mixed actions
    again = EnvSpec.from_plain(spec.to_plain())  # through a checkpoint: tests/train/test_checkpoint.py
    assert again.single_observation_space == spec.single_observation_space
    assert again.single_action_space == spec.single_action_space
    assert again.observation_layout.signature() == spec.observation_layout.signature()
    assert again.action_layout.signature() == spec.action_layout.signature()
    assert again.differences(spec) == []
    other = EnvSpec.of(GymnasiumPufferEnv(CountEnv()))
    assert spec.differences(other, "trained", "now") == [
        f"observation space: trained {spec.observation_layout.space}, now {other.observation_layout.space}",
        f"action space: trained {spec.action_layout.space}, now {other.action_layout.space}"]
    plain = spec.to_plain()
    plain["observation_layout"] = other.to_plain()["observation_layout"]
    with pytest.raises(ValueError, match=r"^spec.observation_layout does not match the layout of its observation "
                                         r"space Dict\("):
        EnvSpec.from_plain(plain)


def test_observation_of_the_wrong_dtype_names_the_key():
    env = GymnasiumPufferEnv(NestedEnv(bad=np.zeros(2, np.float64)))
    with pytest.raises(TypeError, match=r"observation_space\['pos'\] must be float32 of shape \(2,\), "
                                        r"got float64 of shape \(2,\); converting would lose data"):
        env.reset(seed=0)


def test_observation_of_the_wrong_shape_names_the_key():
    env = GymnasiumPufferEnv(NestedEnv(bad=np.zeros(3, np.float32)))
    with pytest.raises(ValueError, match=r"observation_space\['pos'\] must be float32 of shape \(2,\), "
                                         r"got float32 of shape \(3,\)"):
        env.reset(seed=0)


def test_observation_missing_a_key_names_the_key():
    class Missing(NestedEnv):
        def _obs(self):
            return {"pos": np.zeros(2, np.float32)}

    with pytest.raises(ValueError, match=r"the observation has no observation_space\['inventory'\]\[0\]"):
        GymnasiumPufferEnv(Missing()).reset(seed=0)


def test_observation_out_of_bounds_is_caught_on_the_first_step():
    env = GymnasiumPufferEnv(NestedEnv(bad=np.array([0, 7], np.float32)))
    with pytest.raises(ValueError, match=r"observation_space\['pos'\] holds 7.0 at index \(1,\), outside"):
        env.reset(seed=0)


def test_bounds_are_not_checked_when_told_not_to():
    env = GymnasiumPufferEnv(NestedEnv(bad=np.array([0, 7], np.float32)), check_observations="never")
    assert nativize(env.reset(seed=0)[0], env.observation_layout)["pos"][0, 1] == 7


def test_lossless_python_scalars_are_accepted():
    class Scalar(CountEnv):
        observation_space = S.Discrete(10)

        def reset(self, seed=None, options=None):
            return 3, {}

    env = GymnasiumPufferEnv(Scalar())
    assert env.reset()[0].tolist() == [[3]]


def test_unsupported_observation_space_names_its_path():
    class TextEnv(CountEnv):
        observation_space = S.Dict(inventory=S.Tuple((S.Discrete(2), S.Text(4))))

    with pytest.raises(UnsupportedSpaceError, match=r"observation_space\['inventory'\]\[1\] is Text"):
        GymnasiumPufferEnv(TextEnv())


@pytest.mark.parametrize("actions, error, message", [
    (np.zeros(1, np.float64), TypeError, r"actions must be int32 of shape \(1,\), got float64 of shape \(1,\)"),
    (np.zeros((1, 1), np.int32), ValueError, r"actions must be int32 of shape \(1,\), got int32 of shape \(1, 1\)"),
    (np.array([2], np.int64), ValueError, r"action 2 at row 0 is out of range: expected 0 <= action < 2"),
])
def test_wrong_actions_are_rejected_like_native_envs(actions, error, message):
    env = GymnasiumPufferEnv(gymnasium.make("CartPole-v1"))
    env.reset(seed=0)
    with pytest.raises(error, match=message):
        env.step(actions)


def test_without_check_actions_an_action_reaches_the_env_unchecked():
    """What a vector env asks of the envs it drives: it has checked the actions already."""
    received = []

    class Recording(gymnasium.Wrapper):
        def step(self, action):
            received.append(action)
            return self.env.step(0)

    env = GymnasiumPufferEnv(Recording(gymnasium.make("CartPole-v1")), check_actions=False)
    env.reset(seed=0)
    env.step(np.array([7], np.int64))
    assert received == [7]


def test_a_vector_env_checks_emulated_actions_once_with_the_one_wording():
    import pufferlib.vector

    with pufferlib.vector.make(gymnasium.make, 2, backend="serial", env_kwargs={"id": "CartPole-v1"}) as vecenv:
        vecenv.reset(seed=0)
        with pytest.raises(ValueError, match=r"action 2 at row 1 is out of range: expected 0 <= action < 2"):
            vecenv.step(np.array([0, 2], np.int32))


def test_non_finite_continuous_actions_are_rejected():
    env = GymnasiumPufferEnv(NestedEnv())
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must be finite, got nan at row 0, dimension 1"):
        env.step(np.array([[0, np.nan, 0, 0, 0, 0, 0]], np.float32))


def test_step_before_reset_is_misuse():
    env = GymnasiumPufferEnv(gymnasium.make("CartPole-v1"))
    with pytest.raises(APIUsageError, match=r"call reset\(\) before step\(\)"):
        env.step(np.zeros(1, np.int32))


def test_exactly_one_of_env_and_env_creator():
    with pytest.raises(TypeError, match="pass exactly one of env"):
        GymnasiumPufferEnv()


def test_adopted_buffers_are_written_in_place():
    probe = GymnasiumPufferEnv(gymnasium.make("CartPole-v1"))
    spec = Buffers.spec(probe.single_observation_space, probe.single_action_space, 1)
    buf = {name: np.zeros(shape, dtype) for name, (shape, dtype) in spec.items()}
    env = GymnasiumPufferEnv(gymnasium.make("CartPole-v1"), buf=buf)
    obs, _ = env.reset(seed=0)
    assert obs is buf["observations"] and obs.any()


def test_constructor_seed_is_used_by_the_first_reset():
    a = GymnasiumPufferEnv(gymnasium.make("CartPole-v1"), seed=7).reset()[0].copy()
    b = GymnasiumPufferEnv(gymnasium.make("CartPole-v1")).reset(seed=7)[0]
    np.testing.assert_array_equal(a, b)


# PettingZoo ---------------------------------------------------------------------------------------

class Respawn(ParallelEnv or object):
    """a lives throughout; b dies at step 1 and respawns at step 3; c appears at step 2; all truncate at 4."""

    metadata = {"name": "respawn"}
    possible_agents = ["a", "b", "c"]

    def __init__(self):
        self.agents = []
        self.received = []

    def observation_space(self, agent):
        return S.Dict(pos=S.Box(0, 100, (2,), np.float32), action_mask=S.MultiBinary(3))

    def action_space(self, agent):
        return S.Discrete(3)

    def _obs(self, agent):
        i = self.possible_agents.index(agent)
        return {"pos": np.array([self.t, i], np.float32), "action_mask": np.eye(3, dtype=np.int8)[i]}

    def reset(self, seed=None, options=None):
        self.t = 0
        self.agents = ["a", "b"]
        return {a: self._obs(a) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        self.received.append(dict(actions))
        self.t += 1
        acting = list(self.agents)
        rewards = {a: 1.0 for a in acting}
        terms = {a: self.t == 1 and a == "b" for a in acting}
        truncs = {a: self.t == 4 for a in acting}
        if self.t == 1:
            rewards["b"] = 5.0
        obs = {a: self._obs(a) for a in acting}
        infos = {a: {"kills": 2} for a in acting}
        self.agents = [a for a in acting if not (terms[a] or truncs[a])]
        newcomer = {2: "c", 3: "b"}.get(self.t)
        if newcomer:
            self.agents.append(newcomer)
            obs[newcomer] = self._obs(newcomer)
        return obs, rewards, terms, truncs, infos


def _pos(env, buffer=None):
    return nativize(env.observations if buffer is None else buffer, env.observation_layout)["pos"].tolist()


@needs_pettingzoo
def test_pettingzoo_rows_are_padded_and_masked_on_reset():
    env = PettingZooPufferEnv(Respawn())
    env.reset(seed=0)
    assert env.num_agents == 3 and env.masks.tolist() == [True, True, False]
    assert _pos(env) == [[0, 0], [0, 1], [0, 0]]
    assert env.action_masks.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]


@needs_pettingzoo
def test_pettingzoo_agent_that_dies_is_flagged_then_masked_then_respawns():
    env = PettingZooPufferEnv(Respawn())
    env.reset(seed=0)
    actions = np.array([1, 2, 0], np.int32)

    obs, rewards, terminals, truncations, infos = env.step(actions)          # b dies
    assert rewards.tolist() == [1, 5, 0] and terminals.tolist() == [False, True, False]
    assert env.masks.tolist() == [True, True, False] and not truncations.any()
    assert _pos(env, env.final_observations)[1] == [1, 1]
    assert infos == {"kills": 2.0, "episode_return": 5.0, "episode_length": 1.0, "episodes": 1}

    obs, rewards, terminals, truncations, infos = env.step(actions)          # b absent, c appears
    assert env.env.received[-1] == {"a": 1}
    assert rewards.tolist() == [1, 0, 0] and not terminals.any() and not truncations.any()
    assert env.masks.tolist() == [True, False, True]
    assert _pos(env) == [[2, 0], [0, 0], [2, 2]]
    assert env.action_masks.tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 1]]

    obs, rewards, terminals, truncations, infos = env.step(actions)          # b respawns
    assert env.env.received[-1] == {"a": 1, "c": 0}
    assert rewards.tolist() == [1, 0, 1] and env.masks.tolist() == [True, True, True]
    assert _pos(env) == [[3, 0], [3, 1], [3, 2]] and infos == {}


@needs_pettingzoo
def test_pettingzoo_episode_end_logs_every_agent_and_resets_in_the_same_step():
    env = PettingZooPufferEnv(Respawn())
    env.reset(seed=0)
    for _ in range(3):
        env.step(np.zeros(3, np.int32))
    obs, rewards, terminals, truncations, infos = env.step(np.zeros(3, np.int32))
    assert truncations.tolist() == [True, True, True] and not terminals.any()
    assert _pos(env, env.final_observations) == [[4, 0], [4, 1], [4, 2]]
    assert _pos(env) == [[0, 0], [0, 1], [0, 0]]
    assert infos["episodes"] == 3
    assert infos["episode_return"] == pytest.approx((4 + 1 + 2) / 3)
    assert infos["episode_length"] == pytest.approx((4 + 1 + 2) / 3)


@needs_pettingzoo
def test_pettingzoo_action_range_is_checked_on_acting_rows_only():
    env = PettingZooPufferEnv(Respawn())
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action 3 at row 1 is out of range: expected 0 <= action < 3"):
        env.step(np.array([0, 3, 0], np.int32))
    env.step(np.array([0, 0, 7], np.int32))        # c is absent: its row is ignored
    assert env.env.received[-1] == {"a": 0, "b": 0}


@needs_pettingzoo
def test_pettingzoo_heterogeneous_spaces_that_do_not_flatten_alike_are_rejected():
    class Hetero(Respawn):
        def observation_space(self, agent):
            return S.Box(0, 1, (2 if agent == "a" else 3,), np.float32)

    with pytest.raises(ValueError, match=r"every agent's observation space must flatten to the same layout, "
                                         r"but 'a' has Box.* and 'b' has Box"):
        PettingZooPufferEnv(Hetero())


@needs_pettingzoo
def test_pettingzoo_heterogeneous_bounds_are_merged():
    class Bounds(Respawn):
        def observation_space(self, agent):
            return S.Box(0, 1 + self.possible_agents.index(agent), (2,), np.float32)

    env = PettingZooPufferEnv(Bounds())
    assert env.single_observation_space.high.tolist() == [3, 3]


def test_a_discrete_action_reaches_the_env_as_a_scalar_with_its_start():
    class Shifted(gymnasium.Env):
        observation_space = gymnasium.spaces.Box(-1, 1, (1,), np.float32)
        action_space = gymnasium.spaces.Discrete(3, start=-1)

        def reset(self, seed=None, options=None):
            return np.zeros(1, np.float32), {}

        def step(self, action):
            self.seen = action
            return np.zeros(1, np.float32), 0.0, False, False, {}

    env = GymnasiumPufferEnv(env=Shifted())
    env.reset(seed=0)
    env.step(np.array([0], np.int32))
    assert np.ndim(env.env.seen) == 0 and env.env.seen == -1
    env.step(np.array([2], np.int32))
    assert env.env.seen == 1


# non-finite rewards, missing observations ----------------------------------------------------------

class RewardAt(CountEnv):
    """CountEnv whose reward at its second step is `value`."""

    def __init__(self, value):
        super().__init__()
        self.value, self.steps = value, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        self.steps += 1
        return obs, self.value if self.steps == 2 else reward, terminated, truncated, info


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e39])  # 1e39 is inf as a float32
def test_non_finite_reward_is_rejected_naming_the_step(value):
    env = GymnasiumPufferEnv(RewardAt(value))
    env.reset(seed=0)
    env.step(np.zeros(1, np.int32))
    with pytest.raises(ValueError, match=r"the reward must be a finite number, got (nan|inf|1e\+39) "
                                         r"at step 2 of the episode; fix the environment"):
        env.step(np.zeros(1, np.int32))


def test_rewards_are_not_checked_when_told_not_to():
    env = GymnasiumPufferEnv(RewardAt(np.nan), check_observations="never")
    env.reset(seed=0)
    env.step(np.zeros(1, np.int32))
    assert np.isnan(env.step(np.zeros(1, np.int32))[1][0])


class NanLater(NestedEnv):
    """NestedEnv whose observations from the second step on hold a NaN."""

    def step(self, action):
        if self.actions:
            self.bad = np.array([0, np.nan], np.float32)
        return super().step(action)


def test_first_checking_lets_a_later_nan_observation_through():
    env = GymnasiumPufferEnv(NanLater())
    env.reset(seed=0)
    action = np.zeros(env.actions.shape, env.actions.dtype)
    env.step(action)
    assert np.isnan(nativize(env.step(action)[0], env.observation_layout)["pos"][0, 1])


def test_always_checking_finds_a_nan_observation_after_the_first_step():
    env = GymnasiumPufferEnv(NanLater(), check_observations="always")
    env.reset(seed=0)
    action = np.zeros(env.actions.shape, env.actions.dtype)
    env.step(action)
    with pytest.raises(ValueError, match=r"observation_space\['pos'\] holds nan at index \(1,\), "
                                         r"not a number"):
        env.step(action)


class Mute(Respawn):
    """Respawn that leaves one agent of env.agents out of its observations at `when` ('reset' or 'step')."""

    def __init__(self, when):
        super().__init__()
        self.when = when

    def reset(self, seed=None, options=None):
        obs, infos = super().reset(seed, options)
        if self.when == "reset":
            del obs["b"]
        return obs, infos

    def step(self, actions):
        obs, rewards, terms, truncs, infos = super().step(actions)
        if self.when == "step" and self.t == 2:
            del obs["a"]
        return obs, rewards, terms, truncs, infos


@needs_pettingzoo
def test_pettingzoo_agent_without_an_observation_on_reset_is_named():
    with pytest.raises(ValueError, match=r"agent 'b' is in env.agents but reset\(\) returned no "
                                         r"observation for it"):
        PettingZooPufferEnv(Mute("reset")).reset(seed=0)


@needs_pettingzoo
def test_pettingzoo_agent_without_an_observation_on_step_is_named_with_the_step():
    env = PettingZooPufferEnv(Mute("step"))
    env.reset(seed=0)
    env.step(np.zeros(3, np.int32))
    with pytest.raises(ValueError, match=r"agent 'a' is in env.agents but step\(\) \(step 2 of the episode\) "
                                         r"returned no observation for it"):
        env.step(np.zeros(3, np.int32))


@needs_pettingzoo
def test_pettingzoo_non_finite_reward_is_named_by_agent():
    class NanReward(Respawn):
        def step(self, actions):
            obs, rewards, terms, truncs, infos = super().step(actions)
            rewards["a"] = float("nan")
            return obs, rewards, terms, truncs, infos

    env = PettingZooPufferEnv(NanReward())
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"agent 'a''s reward must be a finite number, got nan at step 1"):
        env.step(np.zeros(3, np.int32))
