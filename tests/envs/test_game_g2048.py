"""g2048 (the 2048 puzzle): moves and merges against a reference, new tiles, the action mask, no-op
moves, episode ends, determinism, memory safety under adversarial actions, and render."""
import numpy as np
import pytest

import pufferlib
from pufferlib.envs import scripted
from pufferlib.envs.scripted import g2048 as script

UP, DOWN, LEFT, RIGHT = range(4)
BAD_ACTIONS = np.array([-1, 4, 99, 2**31 - 1, -(2**31)], np.int32)


def slide_line(line):
    """One line of log2 tiles slid towards index 0: (new line, merged value)."""
    tiles = [int(v) for v in line if v]
    out, gained, k = [], 0, 0
    while k < len(tiles):
        if k + 1 < len(tiles) and tiles[k] == tiles[k + 1]:
            out.append(tiles[k] + 1)
            gained += 2 ** (tiles[k] + 1)
            k += 2
        else:
            out.append(tiles[k])
            k += 1
    return out + [0] * (4 - len(out)), gained


def slide(grid, move):
    """The reference move on one (4, 4) log2 grid: (new grid, merged value)."""
    view = {UP: lambda g: g.T, DOWN: lambda g: g.T[:, ::-1], LEFT: lambda g: g, RIGHT: lambda g: g[:, ::-1]}
    out = grid.copy()
    target, gained = view[move](out), 0
    for r in range(4):
        target[r], g = slide_line(list(target[r]))
        gained += g
    return out, gained


@pytest.mark.parametrize("line, expected, gained", [
    ([1, 1, 1, 1], [2, 2, 0, 0], 8),     # 2 2 2 2 -> 4 4
    ([1, 1, 1, 0], [2, 1, 0, 0], 4),     # 2 2 2 _ -> 4 2: pairs form from the front
    ([0, 1, 0, 1], [2, 0, 0, 0], 4),     # gaps close before merging
    ([2, 1, 1, 0], [2, 2, 0, 0], 4),     # a merged tile does not merge again
    ([3, 2, 1, 0], [3, 2, 1, 0], 0),
])
def test_the_reference_merges_by_the_rules(line, expected, gained):
    assert slide_line(line) == (expected, gained)


def test_reset_places_two_tiles_of_2_or_4():
    with pufferlib.make("g2048", num_envs=500) as env:
        obs, _ = env.reset(seed=0)
        assert ((obs != 0).sum(axis=(1, 2)) == 2).all()
        values = obs[obs != 0]
        assert set(np.unique(values)) == {1, 2}
        assert 0.05 < (values == 2).mean() < 0.15  # a 4 one time in ten


def test_every_move_follows_the_rules():
    """The tiles slide and merge as the reference says, the reward is the merged value times
    reward_scale, one new 2 or 4 appears on an empty cell, and the mask is the moves that change
    the board."""
    rng = np.random.default_rng(0)
    with pufferlib.make("g2048", num_envs=32, seed=1, reward_scale=0.5) as env:
        obs, _ = env.reset()
        ends = 0
        for _ in range(400):
            before = obs.copy()
            legal = np.array([[not np.array_equal(slide(g, m)[0], g) for m in range(4)] for g in before])
            np.testing.assert_array_equal(env.action_masks, legal)
            np.testing.assert_array_equal(script.legal_moves(before), legal)
            actions = scripted.random_actions(env, rng)
            obs, rew, term, trunc, _ = env.step(actions)
            for i in range(32):
                moved, gained = slide(before[i], actions[i])
                assert rew[i] == gained * 0.5
                after = env.final_observations[i] if term[i] else obs[i]
                new = np.argwhere(after != moved)
                assert len(new) == 1 and moved[tuple(new[0])] == 0 and after[tuple(new[0])] in (1, 2)
                if term[i]:
                    assert not any(not np.array_equal(slide(after, m)[0], after) for m in range(4))
            ends += int(term.sum())
        assert ends > 10 and not trunc.any()


def test_statistics_sum_the_game():
    with pufferlib.make("g2048", num_envs=1, seed=2) as env:
        env.reset()
        rng, score, moves, infos = np.random.default_rng(1), 0.0, 0, {}
        while not infos:
            _, rew, _, _, infos = env.step(scripted.random_actions(env, rng))
            score += rew[0] * 64
            moves += 1
        assert infos["score"] == pytest.approx(score) and infos["moves"] == moves
        assert infos["illegal"] == 0 and infos["episode_length"] == moves
        assert infos["max_tile"] in [2 ** k for k in range(3, 12)]


@pytest.mark.parametrize("penalty", [0.0, 0.25])
def test_a_masked_move_is_a_no_op_with_the_penalty(penalty):
    with pufferlib.make("g2048", num_envs=64, seed=3, illegal_penalty=penalty, max_steps=50) as env:
        obs = env.reset()[0].copy()  # the env's buffer: step overwrites it
        masks = env.action_masks.copy()
        blocked = ~masks.all(axis=1)
        assert blocked.sum() > 10  # two tiles rarely allow all four moves
        actions = np.where(blocked, (~masks).argmax(axis=1), masks.argmax(axis=1)).astype(np.int32)
        after, rew, term, _, _ = env.step(actions)
        np.testing.assert_array_equal(after[blocked], obs[blocked])
        assert (rew[blocked] == -penalty).all() and not term.any()
        assert (after[~blocked] != obs[~blocked]).any(axis=(1, 2)).all()


@pytest.mark.parametrize("action", BAD_ACTIONS.tolist())
def test_an_out_of_range_action_unchecked_is_a_no_op(action):
    with pufferlib.make("g2048", num_envs=8, seed=4, check_actions=False, max_steps=3,
                        illegal_penalty=0.5) as env:
        obs, _ = env.reset()
        start = obs.copy()
        for _ in range(2):
            obs, rew, term, trunc, _ = env.step(np.full(8, action, np.int32))
            np.testing.assert_array_equal(obs, start)
            assert (rew == -0.5).all() and not (term | trunc).any()
        _, _, term, trunc, infos = env.step(np.full(8, action, np.int32))
        assert trunc.all() and not term.any()
        assert infos["illegal"] == 3 and infos["moves"] == 0 and infos["score"] == 0


def test_checked_out_of_range_actions_raise():
    with pufferlib.make("g2048", num_envs=2) as env:
        env.reset(seed=0)
        with pytest.raises(ValueError, match="action"):
            env.step(np.array([0, 4], np.int32))


def test_max_steps_truncates():
    with pufferlib.make("g2048", num_envs=16, seed=5, max_steps=7) as env:
        env.reset()
        rng = np.random.default_rng(0)
        for _ in range(7):
            _, _, term, trunc, infos = env.step(scripted.random_actions(env, rng))
        assert trunc.all() and not term.any() and infos["episode_length"] == 7


def play(env, rng, steps, bad=False):
    frames = []
    for _ in range(steps):
        actions = rng.choice(BAD_ACTIONS, env.num_agents) if bad else rng.integers(0, 4, env.num_agents)
        obs, rew, term, trunc, _ = env.step(actions.astype(np.int32))
        frames.append((obs.copy(), rew.copy(), term.copy(), trunc.copy(), env.action_masks.copy()))
    return frames


def test_same_seed_same_games_at_any_thread_count():
    runs = []
    for threads in (1, 2, 2):
        with pufferlib.make("g2048", num_envs=16, num_threads=threads, seed=9, max_steps=100) as env:
            env.reset()
            runs.append(play(env, np.random.default_rng(0), 300))
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            for x, y in zip(a, b):
                np.testing.assert_array_equal(x, y)


def test_different_seeds_differ():
    boards = []
    for seed in (1, 2):
        with pufferlib.make("g2048", num_envs=4, seed=seed) as env:
            env.reset()
            boards.append(play(env, np.random.default_rng(0), 5)[-1][0])
    assert not np.array_equal(*boards)


@pytest.mark.parametrize("bad", [False, True])
def test_many_steps_stay_inside_the_spaces(bad):
    with pufferlib.make("g2048", num_envs=32, num_threads=2, check_actions=False, max_steps=300) as env:
        env.reset(seed=0)
        for obs, rew, _, _, mask in play(env, np.random.default_rng(1), 1000, bad):
            assert env.single_observation_space.contains(obs[0]) and obs.max() <= 17
            assert np.isfinite(rew).all() and (rew >= 0).all()
            assert mask.any(axis=1).all()


def test_the_corner_strategy_beats_random():
    corner = scripted.evaluate("g2048", "scripted", episodes=100)
    random = scripted.evaluate("g2048", "random", episodes=100)
    assert corner["score"] > 1.5 * random["score"] and corner["illegal"] == random["illegal"] == 0


def test_render_shows_the_tiles_and_does_not_change_the_game():
    rng = np.random.default_rng(0)
    with pufferlib.make("g2048", num_envs=2, seed=3) as a, pufferlib.make("g2048", num_envs=2, seed=3) as b:
        a.reset()
        b.reset()
        height, width = a.spec["render_size"]
        for _ in range(30):
            actions = scripted.random_actions(a, rng)
            frame = a.render(0)
            assert frame.shape == (height, width, 3)
            np.testing.assert_array_equal(frame, a.render(0))
            np.testing.assert_array_equal(a.step(actions)[0], b.step(actions)[0])
        # an empty cell's colour covers exactly the empty cells' share of the grid
        empty_color = np.all(a.render(0) == (205, 193, 180), axis=-1).sum()
        cell_area = (width // 4 - 2 * max(width // 4 // 16, 1)) ** 2
        assert empty_color == (a.observations[0] == 0).sum() * cell_area
