"""Breakout: the rules against a plain reference, episode ends, statistics, pixels, determinism, safety."""
import numpy as np
import pytest

import pufferlib
from pufferlib.envs import scripted

STAY, LEFT, RIGHT = range(3)
SCALARS = 8
ZONE_SIN = np.float32([-0.8660254, -0.7071068, -0.5, -0.2588190, 0.2588190, 0.5, 0.7071068, 0.8660254])
ZONE_COS = np.float32([0.5, 0.7071068, 0.8660254, 0.9659258, 0.9659258, 0.8660254, 0.7071068, 0.5])


class Reference:
    """breakout.c's rules for one env, written plainly, started from an observation (frameskip=1).

    The ball's position and velocity are read back from the observation (so to within float32
    rounding); counters the observation does not show (paddle hits and speed stages of the life)
    are tracked from the events the reference itself predicted.
    """

    def __init__(self, rows, cols, lives, paddle_width=3.0, paddle_speed=0.5, ball_speed=0.3):
        self.rows, self.cols, self.lives_max = rows, cols, lives
        self.width, self.height = float(cols), 10.0 + 0.5 * rows
        self.paddle_y = self.height - 1.0
        self.base_half_w, self.paddle_speed, self.base_speed = paddle_width / 2, paddle_speed, ball_speed
        self.new_life()

    def new_life(self):
        self.hits, self.stage, self.top_hit = 0, 0, False

    def sync(self, obs):
        w = self.width
        self.paddle_x = obs[0] * w
        self.half_w = obs[1] * w / 2
        self.x, self.y = obs[2] * w, obs[3] * self.height
        self.vx, self.vy = obs[4] / 2, obs[5] / 2
        self.lives = round(obs[7] * self.lives_max)
        self.alive = obs[SCALARS:].reshape(self.rows, self.cols).copy()

    def speed_up(self):
        self.stage += 1
        scale = (1 + 0.15 * self.stage) / (1 + 0.15 * (self.stage - 1))
        self.vx, self.vy = self.vx * scale, self.vy * scale

    def tick(self, action):
        """Advances one tick; returns (reward, ambiguous: the ball lay within 1e-3 of an edge)."""
        eps, reward, ambiguous = 1e-3, 0.0, False
        self.paddle_x = float(np.clip(self.paddle_x + [0, -1, 1][action] * self.paddle_speed,
                                      self.half_w, self.width - self.half_w))
        ox, oy = self.x, self.y
        x, y = ox + self.vx, oy + self.vy
        if x < 0:
            x, self.vx = -x, -self.vx
        if x > self.width:
            x, self.vx = 2 * self.width - x, -self.vx
        if y < 0:
            y, self.vy = -y, -self.vy
            if abs(self.half_w - self.base_half_w) < 1e-4:  # shrink=1: the paddle halves at the top wall
                self.half_w /= 2
        # edges of cells, walls and the paddle line near the ball make the outcome depend on rounding
        for v in (x, 2 * y, y - self.paddle_y, x - self.paddle_x - self.half_w - 0.25,
                  x - self.paddle_x + self.half_w + 0.25, y - self.height):
            ambiguous |= abs(v - round(v)) < eps if v in (x, 2 * y) else abs(v) < eps
        row, col = int(2 * y) - 4, min(int(x), self.cols - 1)
        if 0 <= row < self.rows and self.alive[row, col]:
            self.alive[row, col] = 0
            reward += 1.0
            if int(2 * oy) != int(2 * y):
                self.vy = -self.vy
            else:
                self.vx = -self.vx
            x, y = ox, oy
            if row < 2 and not self.top_hit:
                self.top_hit = True
                self.speed_up()
        if self.vy > 0 and oy < self.paddle_y <= y:
            reach = self.half_w + 0.25
            off = x - self.paddle_x
            if -reach <= off <= reach:
                zone = int(np.clip(int((off + reach) * (4 / reach)), 0, 7))
                ambiguous |= abs((off + reach) * (4 / reach) - round((off + reach) * (4 / reach))) < eps
                speed = self.base_speed * (1 + 0.15 * self.stage)
                self.vx, self.vy = speed * ZONE_SIN[zone], -speed * ZONE_COS[zone]
                y = 2 * self.paddle_y - y
                self.hits += 1
                if self.hits in (4, 12):
                    self.speed_up()
        self.x, self.y = x, y
        lost = y > self.height
        if lost:
            reward -= 1.0
            self.lives -= 1
        return reward, ambiguous, lost


def ball_follower(obs, rng, noise):
    actions = scripted.policy("breakout")(obs, None, rng)
    flip = rng.random(len(actions)) < noise
    return np.where(flip, rng.integers(0, 3, len(actions)), actions).astype(np.int32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_tick_follows_the_reference_rules(seed):
    rows, cols, lives = 4, 10, 3
    rng = np.random.default_rng(seed)
    checked = events = shrinks = 0
    with pufferlib.make("breakout", num_envs=1, seed=seed, rows=rows, cols=cols, lives=lives,
                        frameskip=1, max_steps=100_000) as env:
        obs, _ = env.reset(seed=seed)
        ref = Reference(rows, cols, lives)
        ref.sync(obs[0])
        for _ in range(6000):
            action = int(ball_follower(obs, rng, 0.3)[0])
            reward, ambiguous, lost = ref.tick(action)
            obs, rew, term, trunc, _ = env.step(np.array([action], np.int32))
            if term[0] or trunc[0]:  # the observation is the next episode's
                ref = Reference(rows, cols, lives)
                ref.sync(obs[0])
                continue
            if not ambiguous:
                assert rew[0] == reward
                assert round(obs[0, 7] * lives) == ref.lives
                np.testing.assert_array_equal(obs[0, SCALARS:].reshape(rows, cols), ref.alive)
                if not lost:
                    got = obs[0, [0, 2, 3, 4, 5]]
                    want = [ref.paddle_x / cols, ref.x / cols, ref.y / ref.height, 2 * ref.vx, 2 * ref.vy]
                    np.testing.assert_allclose(got, want, atol=1e-4)
                checked += 1
                events += reward != 0
                half_w = ref.base_half_w if lost else ref.half_w  # a new ball comes with a whole paddle
                assert obs[0, 1] * cols / 2 == pytest.approx(half_w)
                shrinks += half_w < ref.base_half_w
            if lost:
                ref.new_life()
            ref.sync(obs[0])
        assert checked > 5000 and events > 20 and shrinks > 100


def test_reset_serves_the_ball_down_from_under_the_bricks():
    with pufferlib.make("breakout", num_envs=64) as env:
        obs, _ = env.reset(seed=0)
        height = 10.0 + 0.5 * 6
        np.testing.assert_allclose(obs[:, 0], 0.5)                    # paddle centred
        np.testing.assert_allclose(obs[:, 1], 3 / 18)                 # paddle width
        np.testing.assert_allclose(obs[:, 3], (2 + 3 + 1) / height)   # 1 unit under the bricks
        assert (obs[:, 5] > 0).all()                                  # moving down ...
        assert (np.abs(obs[:, 4]) <= obs[:, 5] + 1e-6).all()          # ... within 45 degrees
        np.testing.assert_allclose(np.hypot(obs[:, 4], obs[:, 5]), 0.6, rtol=1e-5)
        assert (obs[:, 7] == 1).all() and (obs[:, SCALARS:] == 1).all()
        assert obs.shape == (64, SCALARS + 6 * 18)
        assert len(np.unique(obs[:, 2])) == 64                        # a random serving x


def test_the_paddle_moves_and_stops_at_the_walls():
    with pufferlib.make("breakout", num_envs=1, frameskip=1, lives=9) as env:
        env.reset(seed=0)
        obs, *_ = env.step(np.array([LEFT], np.int32))
        np.testing.assert_allclose(obs[0, 0] * 18, 9 - 0.5)
        obs, *_ = env.step(np.array([RIGHT], np.int32))
        obs, *_ = env.step(np.array([RIGHT], np.int32))
        np.testing.assert_allclose(obs[0, 0] * 18, 9 + 0.5)
        for _ in range(40):
            obs, *_ = env.step(np.array([LEFT], np.int32))
        np.testing.assert_allclose(obs[0, 0] * 18, 1.5)
        for _ in range(80):
            obs, *_ = env.step(np.array([RIGHT], np.int32))
        np.testing.assert_allclose(obs[0, 0] * 18, 18 - 1.5)


def test_frameskip_repeats_the_action_and_the_physics():
    steps = {}
    for frameskip in (1, 4):
        with pufferlib.make("breakout", num_envs=1, frameskip=frameskip) as env:
            obs, _ = env.reset(seed=5)
            for _ in range(8 // frameskip):
                obs, *_ = env.step(np.array([RIGHT], np.int32))
            steps[frameskip] = obs.copy()
    np.testing.assert_allclose(steps[1], steps[4], atol=1e-6)


def test_losing_every_ball_terminates_with_a_penalty_each():
    with pufferlib.make("breakout", num_envs=16, lives=3, paddle_width=0.5, life_penalty=2.5) as env:
        env.reset(seed=0)
        total = np.zeros(16)
        for _ in range(2000):
            _, rew, term, trunc, infos = env.step(np.full(16, LEFT, np.int32))
            total += rew
            if term.any():
                break
        assert not trunc.any()
        assert infos["lives_lost"] == 3
        bricks = infos["bricks"] * 6 * 18
        # a return of bricks broken minus 2.5 per ball, over the episodes that ended this step
        assert infos["episode_return"] == pytest.approx(bricks - 3 * 2.5)
        assert infos["score"] >= bricks and infos["wins"] == 0


def test_truncation_after_max_steps():
    with pufferlib.make("breakout", num_envs=8, max_steps=5) as env:
        env.reset(seed=0)
        for _ in range(5):
            _, rew, term, trunc, infos = env.step(np.full(8, STAY, np.int32))
        assert trunc.all() and not term.any()
        assert infos["episode_length"] == 5 and infos["lives_lost"] == 0 and infos["bricks"] == 0


def test_clearing_the_board_is_a_win():
    with pufferlib.make("breakout", num_envs=8, rows=1, cols=4, paddle_width=4, shrink=0,
                        max_steps=5000) as env:
        obs, _ = env.reset(seed=0)
        rng = np.random.default_rng(0)
        wins = []
        for _ in range(5000):
            obs, rew, term, trunc, infos = env.step(ball_follower(obs, rng, 0.0))
            if infos:
                wins.append(infos)
            if len(wins) >= 2:
                break
        assert wins and all(w["wins"] == 1 and w["bricks"] == 1 for w in wins)
        assert all(w["score"] == 4 for w in wins)  # the bottom row: 1 point a brick
        assert all(w["episode_return"] == pytest.approx(4 - w["lives_lost"]) for w in wins)


def test_score_counts_atari_points_by_row():
    # the paddle spans the field, so no ball is lost: every point comes from bricks
    with pufferlib.make("breakout", num_envs=4, rows=6, cols=4, paddle_width=4, shrink=0,
                        max_steps=20_000) as env:
        obs, _ = env.reset(seed=0)
        rng = np.random.default_rng(0)
        for _ in range(20_000):
            obs, rew, term, trunc, infos = env.step(ball_follower(obs, rng, 0.0))
            if infos:
                break
        assert infos["wins"] == 1 and infos["score"] == 4 * (1 + 1 + 4 + 4 + 7 + 7)


def test_paddle_wider_than_the_field_is_refused():
    with pytest.raises(ValueError, match="paddle_width must be at most cols"):
        pufferlib.make("breakout", num_envs=1, cols=4, paddle_width=5)


def test_scripted_baseline_beats_random():
    follower = scripted.evaluate("breakout", "scripted", episodes=8, num_envs=8)
    chance = scripted.evaluate("breakout", "random", episodes=32, num_envs=8)
    assert follower["bricks"] > 0.5 > 0.05 > chance["bricks"]


def rollout(seed=0, steps=400, num_envs=8, render=False, random=False, **kwargs):
    """(obs, rewards, terminals, truncations) of each step: the ball follower with noise, or random
    actions (random=True, or pixels=1)."""
    rng = np.random.default_rng(123)
    random = random or kwargs.get("pixels", 0) == 1
    out = []
    with pufferlib.make("breakout", num_envs=num_envs, seed=seed, **kwargs) as env:
        obs, _ = env.reset(seed=seed)
        for _ in range(steps):
            actions = rng.integers(0, 3, num_envs, dtype=np.int32) if random else ball_follower(obs, rng, 0.5)
            obs, rew, term, trunc, _ = env.step(actions)
            if render:
                env.render()
            out.append((obs.copy(), rew.copy(), term.copy(), trunc.copy()))
    return out


def same(a, b):
    return all(all(np.array_equal(x, y) for x, y in zip(p, q)) for p, q in zip(a, b))


def test_same_seed_same_trajectory_and_other_seeds_differ():
    assert same(rollout(seed=3), rollout(seed=3))
    assert not same(rollout(seed=3), rollout(seed=4))


@pytest.mark.parametrize("pixels", [0, 1])
def test_one_and_two_threads_agree(pixels):
    assert same(rollout(num_threads=1, pixels=pixels, num_envs=33), rollout(num_threads=2, pixels=pixels, num_envs=33))


@pytest.mark.parametrize("pixels", [0, 1])
def test_observations_stay_in_their_space(pixels):
    with pufferlib.make("breakout", num_envs=16, pixels=pixels, rows=12, cols=32, paddle_width=0.5,
                        ball_speed=0.33, shrink=1) as env:
        obs, _ = env.reset(seed=0)
        rng = np.random.default_rng(0)
        space = env.single_observation_space
        ended = 0
        for _ in range(3000):
            obs, _, term, trunc, _ = env.step(rng.integers(0, 3, 16, dtype=np.int32))
            assert obs.min() >= space.low.min() and obs.max() <= space.high.max()
            done = term | trunc
            final = env.final_observations[done]  # the last observation of each finished episode
            assert final.min(initial=0) >= space.low.min() and final.max(initial=0) <= space.high.max()
            ended += done.sum()
        assert all(space.contains(o) for o in obs) and ended > 100


@pytest.mark.parametrize("pixels", [0, 1])
def test_adversarial_actions_are_safe_and_stay(pixels):
    bad = np.array([-1, 3, 2**31 - 1, -2**31, 1000, -7, 0, 1], np.int32)
    with pufferlib.make("breakout", num_envs=8, pixels=pixels, check_actions=False, rows=1, cols=2,
                        paddle_width=2) as env:
        env.reset(seed=0)
        for _ in range(5000):
            env.step(bad)
    # out-of-range actions (rows 0-5) leave the paddle where it is, like action 0 (row 6)
    with pufferlib.make("breakout", num_envs=8, check_actions=False) as env:
        obs0 = env.reset(seed=0)[0].copy()
        obs, *_ = env.step(bad)
        np.testing.assert_array_equal(obs[:6, 0], obs0[:6, 0])
        assert obs[7, 0] < obs0[7, 0]


def test_pixels_show_the_bricks_the_paddle_and_the_ball():
    with pufferlib.make("breakout", num_envs=2, pixels=1, rows=6, cols=18) as env:
        obs, _ = env.reset(seed=0)
        assert obs.shape == (2, 4 * 13, 4 * 18) and obs.dtype == np.uint8
        frame = obs[0]
        brick_rows = frame[8:20]                              # 6 rows of 2 pixels, from y = 2 units
        assert (brick_rows > 0).all() and len(np.unique(brick_rows)) == 6
        assert (frame[48:50] == 255).sum() == 2 * 12          # the paddle: 3 units, 2 pixel rows
        assert (frame[:48] == 255).sum() == 4                 # the ball: 2 x 2 pixels
        total = 0
        rng = np.random.default_rng(0)
        for _ in range(300):
            obs, rew, *_ = env.step(rng.integers(0, 3, 2, dtype=np.int32))
            total += max(rew[0], 0)
        broken = (obs[0][8:20] == 0).sum() // 8              # 4 x 2 pixels a brick (the ball aside)
        assert total > 0 and broken >= 1


def test_pixels_and_vector_observations_share_the_game():
    # the same seed and the same (random) actions give the same rewards and episode ends
    vec = [step[1:] for step in rollout(seed=1, steps=500, pixels=0, random=True)]
    pix = [step[1:] for step in rollout(seed=1, steps=500, pixels=1, random=True)]
    assert same(vec, pix)


def test_render_draws_the_state_without_changing_it():
    with pufferlib.make("breakout", num_envs=2) as env:
        env.reset(seed=0)
        frame = env.render()
        height, width = env.spec["render_size"]
        assert frame.shape == (height, width, 3) and frame.dtype == np.uint8
        np.testing.assert_array_equal(frame, env.render())
        colours = {tuple(c) for c in np.unique(frame.reshape(-1, 3), axis=0)}
        assert {(212, 62, 52), (240, 148, 40), (226, 188, 36), (58, 168, 84)} <= colours  # brick rows
    assert same(rollout(render=True, steps=200), rollout(render=False, steps=200))
