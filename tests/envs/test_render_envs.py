"""The built-in environments' RGB frames: present, non-trivial, faithful to the state, deterministic."""
import numpy as np
import pytest

import pufferlib

RENDERING = ["cartpole", "squared", "bandit", "memory", "password", "stochastic", "multiagent", "continuous",
             "lander", "breakout", "snake", "tetris", "pong", "gather", "connect4", "g2048"]

# Colours of csrc/puffer_draw.h's palette that the tests look for.
INK = (34, 36, 48)
BLUE = (52, 108, 220)
GREEN = (58, 168, 84)
RED = (212, 62, 52)
ORANGE = (240, 148, 40)


def fixed_actions(env):
    """The same valid, non-trivial action for every row (1, or 0.5 on every continuous axis)."""
    if env.actions.dtype == np.int32:
        return np.ones(env.actions.shape, np.int32)
    return np.full(env.actions.shape, 0.5, np.float32)


def random_actions(env, rng):
    space = env.single_action_space
    if hasattr(space, "n"):
        return rng.integers(0, space.n, env.num_agents, dtype=np.int32)
    return rng.uniform(space.low, space.high, (env.num_agents,) + space.shape).astype(np.float32)


def pixels_of(frame, color):
    """(rows, cols) of the pixels of exactly this colour."""
    return np.nonzero(np.all(frame == np.asarray(color, np.uint8), axis=-1))


@pytest.mark.parametrize("name", RENDERING)
def test_frame_has_the_declared_size(name):
    with pufferlib.make(name, num_envs=2) as env:
        env.reset(seed=0)
        frame = env.render()
        height, width = env.spec["render_size"]
        assert height > 0 and width > 0
        assert frame.shape == (height, width, 3)
        assert frame.dtype == np.uint8 and frame.flags.c_contiguous


@pytest.mark.parametrize("name", RENDERING)
def test_frame_is_not_blank(name):
    with pufferlib.make(name, num_envs=2) as env:
        env.reset(seed=0)
        env.step(fixed_actions(env))
        frame = env.render()
    colors, counts = np.unique(frame.reshape(-1, 3), axis=0, return_counts=True)
    assert len(colors) >= 4, colors
    background = counts.max() / counts.sum()
    assert background < 0.97, f"{name}: {background:.3f} of the frame is one colour"


@pytest.mark.parametrize("name", RENDERING)
def test_frame_changes_with_the_state(name):
    with pufferlib.make(name, num_envs=1) as env:
        env.reset(seed=0)
        before = env.render()
        for _ in range(3):
            env.step(fixed_actions(env))
        after = env.render()
    assert not np.array_equal(before, after)


@pytest.mark.parametrize("name", RENDERING)
def test_same_seed_same_frames(name):
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    with pufferlib.make(name, num_envs=4, seed=7) as a, pufferlib.make(name, num_envs=4, seed=7) as b:
        a.reset()
        b.reset()
        for _ in range(20):
            a.step(random_actions(a, rng_a))
            b.step(random_actions(b, rng_b))
            for i in range(4):
                np.testing.assert_array_equal(a.render(i), b.render(i))


@pytest.mark.parametrize("name", RENDERING)
def test_render_leaves_the_trajectory_alone(name):
    def trajectory(render):
        rng = np.random.default_rng(1)
        with pufferlib.make(name, num_envs=3, seed=2) as env:
            obs = [env.reset()[0].copy()]
            for _ in range(30):
                if render:
                    for i in range(env.num_envs):
                        env.render(i)
                obs.append(env.step(random_actions(env, rng))[0].copy())
        return np.stack(obs)

    np.testing.assert_array_equal(trajectory(False), trajectory(True))


def test_each_copy_renders_its_own_state():
    with pufferlib.make("squared", num_envs=8, seed=3) as env:
        env.reset()
        frames = [env.render(i) for i in range(8)]
        targets = [int(np.argmax(env.observations[i] == 2)) for i in range(8)]
    assert len(set(targets)) > 1
    for i in range(1, 8):
        assert np.array_equal(frames[i], frames[0]) == (targets[i] == targets[0])


# ---- The picture matches the state ----

def test_cartpole_cart_sits_at_its_position():
    with pufferlib.make("cartpole", seed=0) as env:
        env.reset()
        for _ in range(8):   # pushing right, before the pole falls
            obs = env.step(np.ones(1, np.int32))[0]
        x = float(obs[0, 0])
        frame = env.render()
    assert x > 0.05
    height, width = frame.shape[:2]
    rows, cols = pixels_of(frame, INK)
    cart = cols[(rows > 0.5 * height) & (rows < 0.72 * height)]   # the cart body, above the track
    expected = width / 2 + x * width / (2.2 * 2.4)
    assert abs(cart.mean() - expected) < 2.0


def test_cartpole_pole_leans_with_its_angle():
    with pufferlib.make("cartpole", seed=0) as env:
        env.reset()
        for _ in range(8):   # pushing right tips the pole left (negative angle)
            obs = env.step(np.ones(1, np.int32))[0]
        frame = env.render()
    theta = float(obs[0, 2])
    assert theta < -0.02
    rows, cols = np.nonzero((frame[..., 0] > 190) & (frame[..., 2] < 140))    # the pole's browns/reds
    top = cols[rows == rows.min()].mean()
    bottom = cols[rows == rows.max()].mean()
    # the pole's top is left of its foot, by about its length times sin(theta)
    pole = 2 * 0.5 * frame.shape[1] / (2.2 * 2.4)
    assert top - bottom == pytest.approx(pole * np.sin(theta), abs=4.0)


def test_squared_draws_agent_and_target_in_their_cells():
    with pufferlib.make("squared", size=7, seed=4) as env:
        env.reset()
        obs = env.step(np.array([4], np.int32))[0][0]    # one step right
        frame = env.render()
    cell = frame.shape[1] // 7
    for code, color in ((1, BLUE), (2, GREEN)):
        (row,), (col,) = np.nonzero(obs == code)
        rows, cols = pixels_of(frame, color)
        assert rows.min() // cell == rows.max() // cell == row
        assert cols.min() // cell == cols.max() // cell == col


def test_bandit_highlights_the_pulled_arm():
    with pufferlib.make("bandit", arms=5) as env:
        env.reset(seed=0)
        assert len(pixels_of(env.render(), ORANGE)[0]) == 0
        env.step(np.array([3], np.int32))
        frame = env.render()
    margin = frame.shape[1] // 20
    slot = (frame.shape[1] - 2 * margin) // 5
    _, cols = pixels_of(frame, ORANGE)
    assert ((cols - margin) // slot == 3).all()


def test_bandit_draws_the_reward_bar():
    with pufferlib.make("bandit", arms=2) as env:
        env.reset(seed=0)
        rewards = []
        greens = []
        for arm in (0, 1):
            rewards.append(float(env.step(np.array([arm], np.int32))[1][0]))
            greens.append(len(pixels_of(env.render(), GREEN)[0]))
    assert sorted(rewards) == [0.0, 1.0]
    assert greens[rewards.index(1.0)] > 0 and greens[rewards.index(0.0)] == 0


@pytest.mark.parametrize("actions,verdict,other", [((0, 1), GREEN, RED), ((1, 1), RED, GREEN)])
def test_multiagent_shows_whether_the_agents_coordinated(actions, verdict, other):
    with pufferlib.make("multiagent") as env:
        env.reset(seed=0)
        env.step(np.array(actions, np.int32))
        frame = env.render()
    assert len(pixels_of(frame, verdict)[0]) > 100
    assert len(pixels_of(frame, other)[0]) == 0


def test_memory_shows_the_outcome_of_the_last_answer():
    with pufferlib.make("memory", delay=2) as env:
        env.reset(seed=0)
        bit = int(env.observations[0, 0] > 0)
        for _ in range(2):
            env.step(np.zeros(1, np.int32))
        env.step(np.array([1 - bit], np.int32))     # wrong
        assert len(pixels_of(env.render(), RED)[0]) > 0
        bit = int(env.observations[0, 0] > 0)
        for _ in range(2):
            env.step(np.zeros(1, np.int32))
        env.step(np.array([bit], np.int32))         # right
        frame = env.render()
    assert len(pixels_of(frame, GREEN)[0]) > 0 and len(pixels_of(frame, RED)[0]) == 0


def test_continuous_draws_the_point_at_its_position():
    with pufferlib.make("continuous", seed=1) as env:
        env.reset()
        obs = env.step(np.array([[0.5, -0.5]], np.float32))[0][0]
        frame = env.render()
    side = frame.shape[1]
    margin = side // 40
    half = (side - 2 * margin) / 2
    rows, cols = pixels_of(frame[:side], BLUE)     # the square (the progress bar is under it)
    assert cols.mean() == pytest.approx(margin + half * (1 + obs[0]), abs=1.5)
    assert rows.mean() == pytest.approx(margin + half * (1 - obs[1]), abs=1.5)


@pytest.mark.parametrize("params", [{"size": 3}, {"size": 255}])
def test_squared_renders_at_every_grid_size(params):
    with pufferlib.make("squared", **params) as env:
        env.reset(seed=0)
        frame = env.render()
    assert len(pixels_of(frame, BLUE)[0]) > 0 and len(pixels_of(frame, GREEN)[0]) > 0


@pytest.mark.parametrize("name,params", [("bandit", {"arms": 64}), ("memory", {"delay": 1000}),
                                         ("password", {"length": 30, "choices": 16})])
def test_renders_at_the_parameter_limits(name, params):
    with pufferlib.make(name, **params) as env:
        env.reset(seed=0)
        env.step(fixed_actions(env))
        frame = env.render()
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) >= 3
