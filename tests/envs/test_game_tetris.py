"""Tetris: placements against a plain reference model, primitive moves, the 7-bag, episode ends,
determinism, masks, adversarial actions and render."""
import numpy as np
import pytest

import pufferlib
from pufferlib.envs import scripted
from pufferlib.envs.scripted.tetris import SHAPES

PIECE_I, PIECE_T = 0, 5   # of I J L O S T Z
BOX = [4, 3, 3, 2, 3, 3, 3]
LINE_SCORE = [0, 100, 300, 500, 800]
NOOP, LEFT, RIGHT, ROTATE, SOFT, HARD, HOLD = range(7)


class Reference:
    """Placement tetris written plainly from the rules (a boolean board, cell lists)."""

    def __init__(self, width, height, level_lines=10, reward_scale=0.01, survival_reward=0.0,
                 game_over_penalty=0.0, hole_penalty=0.0, height_penalty=0.0, bump_penalty=0.0):
        self.width, self.height = width, height
        self.level_lines, self.scale = level_lines, reward_scale
        self.survival, self.penalty, self.hole_penalty = survival_reward, game_over_penalty, hole_penalty
        self.height_penalty, self.bump_penalty = height_penalty, bump_penalty
        self.board = np.zeros((height, width), bool)
        self.score = self.lines = 0

    def fits(self, cells, col, row):
        return all(0 <= row + r < self.height and 0 <= col + c < self.width
                   and not self.board[row + r, col + c] for r, c in cells)

    def legal(self, piece):
        mask = np.zeros(4 * self.width, bool)
        for rot in range(4):
            if SHAPES[piece][rot] in SHAPES[piece][:rot]:
                continue
            for col in range(self.width):
                mask[rot * self.width + col] = self.fits(SHAPES[piece][rot], col, 0)
        return mask

    def features(self, piece):
        """Per placement: the piece's top height, rows cleared, holes made, bumpiness after."""
        out = np.zeros((4 * self.width, 4), int)
        legal = self.legal(piece)
        for action in np.flatnonzero(legal):
            rot, col = divmod(action, self.width)
            cells = SHAPES[piece][rot]
            row = 0
            while self.fits(cells, col, row + 1):
                row += 1
            board = self.board.copy()
            for r, c in cells:
                board[row + r, col + c] = True
            holes = self.holes(board, cells, col, row)
            out[action] = [self.height - row, int(board.all(axis=1).sum()), holes, self.bumpiness(board)]
        return out

    def holes(self, board, cells, col, row):
        """Empty cells under the lowest cell of each of the piece's columns, down to the stack."""
        holes = 0
        for c in {c for _, c in cells}:
            r = row + max(r for r, cc in cells if cc == c) + 1
            while r < self.height and not board[r, col + c]:
                holes += 1
                r += 1
        return holes

    def bumpiness(self, board):
        heights = np.where(board.any(axis=0), self.height - board.argmax(axis=0), 0)
        return int(np.abs(np.diff(heights)).sum())

    def place(self, piece, action, next_piece):
        """Returns (reward, game over)."""
        rot, col = 0, (self.width - BOX[piece]) // 2
        if 0 <= action < 4 * self.width and self.fits(SHAPES[piece][action // self.width],
                                                       action % self.width, 0):
            rot, col = divmod(action, self.width)
        cells = SHAPES[piece][rot]
        row = 0
        while self.fits(cells, col, row + 1):
            row += 1
        for r, c in cells:
            self.board[row + r, col + c] = True
        holes = self.holes(self.board, cells, col, row)
        shaping = (self.hole_penalty * holes + self.height_penalty * (self.height - row)
                   + self.bump_penalty * self.bumpiness(self.board))
        full = self.board.all(axis=1)
        cleared = int(full.sum())
        level = 1 + self.lines // self.level_lines if self.level_lines else 1
        self.board = np.concatenate([np.zeros((cleared, self.width), bool), self.board[~full]])
        self.score += LINE_SCORE[cleared] * level
        self.lines += cleared
        reward = self.scale * LINE_SCORE[cleared] * level + self.survival - shaping
        spawn = (self.width - BOX[next_piece]) // 2
        over = not self.fits(SHAPES[next_piece][0], spawn, 0)
        return (reward - self.penalty if over else reward), over


def board_of(obs, width, height):
    return obs[:width * height].reshape(height, width)


def piece_of(obs, width, height, k=0):
    """The current piece (k=0) or the k-th next piece, from its one-hot."""
    start = width * height + 7 * k
    return int(np.argmax(obs[start:start + 7]))


def seed_with_first_piece(piece, **params):
    for seed in range(200):
        with pufferlib.make("tetris", seed=seed, **params) as env:
            obs, _ = env.reset(seed=seed)
            if piece_of(obs[0], params.get("width", 10), params.get("height", 20)) == piece:
                return seed
    raise AssertionError("no seed starts with that piece")


# ---- Rules with known answers ----

@pytest.mark.parametrize("width,height,level_lines,features",
                         [(10, 20, 10, 1), (4, 8, 2, 0), (5, 12, 0, 1), (6, 6, 3, 0), (6, 4, 0, 1)])
def test_placements_match_the_reference(width, height, level_lines, features):
    levels_up = (width, level_lines) == (4, 2)   # random play clears enough rows to level up there
    params = dict(width=width, height=height, level_lines=level_lines, survival_reward=0.25,
                  game_over_penalty=2.0, hole_penalty=0.125 * features, height_penalty=0.0625 * features,
                  bump_penalty=0.03125 * features)
    at = width * height + 14
    n = 16
    rng = np.random.default_rng(width)
    refs = [Reference(width, height, **{k: v for k, v in params.items() if k not in ("width", "height")})
            for _ in range(n)]
    clears = np.zeros(5, int)
    ends = scored_above_level_one = 0
    with pufferlib.make("tetris", num_envs=n, seed=1, check_actions=False, features=features,
                        **params) as env:
        obs, _ = env.reset()
        assert obs.shape[1] == at + features * 16 * width
        for _ in range(400):
            masks = env.action_masks.copy()
            actions = scripted.random_actions(env, rng)
            wild = rng.random(n) < 0.2     # some illegal, masked or out-of-range actions
            actions[wild] = rng.integers(-3, 4 * width + 3, int(wild.sum()))
            pieces = [piece_of(o, width, height) for o in obs]
            nexts = [piece_of(o, width, height, 1) for o in obs]
            for i in range(n):
                np.testing.assert_array_equal(masks[i], refs[i].legal(pieces[i]))
                if features:
                    np.testing.assert_array_equal(obs[i, at:].reshape(-1, 4), refs[i].features(pieces[i]))
            obs, rew, term, trunc, _ = env.step(actions)
            for i in range(n):
                lines = refs[i].lines
                reward, over = refs[i].place(pieces[i], int(actions[i]), nexts[i])
                clears[refs[i].lines - lines] += 1
                scored_above_level_one += level_lines and refs[i].lines > lines >= level_lines
                assert rew[i] == pytest.approx(reward, abs=1e-5)
                assert bool(term[i]) == over and not trunc[i]
                if over:
                    ends += 1
                    refs[i] = Reference(width, height, **{k: v for k, v in params.items()
                                                          if k not in ("width", "height")})
                    assert not board_of(obs[i], width, height).any()
                else:
                    np.testing.assert_array_equal(board_of(obs[i], width, height), refs[i].board)
    # the comparison saw game overs, line clears and (with levels) clears scored at level 2 or more
    assert ends > 0 and clears[1] > 0 and (scored_above_level_one > 0) == levels_up


def test_a_flat_i_on_a_four_wide_well_clears_a_line_for_100_points():
    seed = seed_with_first_piece(PIECE_I, width=4, height=8)
    with pufferlib.make("tetris", seed=seed, width=4, height=8) as env:
        env.reset(seed=seed)
        obs, rew, term, trunc, _ = env.step(np.array([0], np.int32))   # rotation 0, column 0
        assert rew[0] == pytest.approx(1.0)   # 100 points x 0.01
        assert not board_of(obs[0], 4, 8).any() and not term[0] and not trunc[0]


def test_an_upright_i_lands_in_the_chosen_column():
    seed = seed_with_first_piece(PIECE_I)
    with pufferlib.make("tetris", seed=seed) as env:
        env.reset(seed=seed)
        obs, rew, *_ = env.step(np.array([1 * 10 + 7], np.int32))   # rotation 1, column 7
        board = board_of(obs[0], 10, 20)
        assert board[16:, 7].all() and board.sum() == 4 and rew[0] == 0


def test_pieces_come_in_bags_of_seven():
    with pufferlib.make("tetris", num_envs=8, seed=4, width=16, height=32, preview=0) as env:
        obs, _ = env.reset()
        sequences = [[] for _ in range(8)]
        for _ in range(70):
            for i in range(8):
                sequences[i].append(piece_of(obs[i], 16, 32))
            obs, _, term, _, _ = env.step(scripted.policy("tetris")(obs, env.action_masks, None))
            assert not term.any()
    for seq in sequences:
        for k in range(0, 70, 7):
            assert sorted(seq[k:k + 7]) == list(range(7))
    assert len({tuple(s) for s in sequences}) == 8


def test_preview_shows_the_pieces_to_come():
    with pufferlib.make("tetris", num_envs=4, seed=2, preview=3) as env:
        obs, _ = env.reset()
        for _ in range(10):
            shown = [[piece_of(o, 10, 20, k) for k in (1, 2, 3)] for o in obs]
            obs, _, term, _, _ = env.step(scripted.policy("tetris")(obs, env.action_masks, None))
            assert not term.any()
            for o, s in zip(obs, shown):
                assert [piece_of(o, 10, 20, k) for k in (0, 1, 2)] == s


def test_dropping_at_the_spawn_column_tops_out_and_terminates():
    with pufferlib.make("tetris", seed=0, check_actions=False, game_over_penalty=5.0,
                        survival_reward=0.5) as env:
        env.reset()
        steps = 0
        while steps < 40:
            # out of range: the piece falls straight down from where it appeared
            _, rew, term, trunc, infos = env.step(np.array([-1], np.int32))
            steps += 1
            if term[0]:
                break
            assert rew[0] == 0.5
        assert term[0] and not trunc[0] and rew[0] == pytest.approx(0.5 - 5.0)
        assert 5 <= steps <= 20
        assert infos["pieces"] == steps and infos["lines"] == 0 and infos["score"] == 0
        assert infos["episode_length"] == steps


def test_max_steps_truncates():
    with pufferlib.make("tetris", num_envs=3, seed=0, max_steps=6) as env:
        obs, _ = env.reset()
        for _ in range(6):
            obs, _, term, trunc, infos = env.step(scripted.policy("tetris")(obs, env.action_masks, None))
            assert not term.any()
        assert trunc.all() and infos["pieces"] == 6 and infos["episode_length"] == 6


def test_hold_swaps_once_per_piece():
    with pufferlib.make("tetris", seed=3, hold=1, check_actions=False) as env:
        obs, _ = env.reset()
        hold_at = 200 + 14
        assert env.action_masks.shape == (1, 41) and env.action_masks[0, 40]
        assert not obs[0, hold_at:].any()
        current, upcoming = piece_of(obs[0], 10, 20), piece_of(obs[0], 10, 20, 1)
        obs, rew, term, *_ = env.step(np.array([40], np.int32))
        assert piece_of(obs[0], 10, 20) == upcoming and obs[0, hold_at + current] == 1
        assert obs[0, hold_at + 7] == 1 and not env.action_masks[0, 40]
        assert not board_of(obs[0], 10, 20).any() and rew[0] == 0
        # a second hold before placing is not allowed: the piece drops from its spawn position
        obs, *_ = env.step(np.array([40], np.int32))
        assert board_of(obs[0], 10, 20).sum() == 4 and obs[0, hold_at + 7] == 0
        assert env.action_masks[0, 40]
        obs, *_ = env.step(np.array([40], np.int32))   # now the held piece comes back
        assert piece_of(obs[0], 10, 20) == current


# ---- Primitive moves (placement=0) ----

def falling(obs, width=10, height=20):
    return np.argwhere(board_of(obs, width, height) == 2)


def test_primitive_spawn_moves_and_gravity():
    seed = seed_with_first_piece(PIECE_T, placement=0)
    with pufferlib.make("tetris", seed=seed, placement=0, gravity=3) as env:
        obs, _ = env.reset(seed=seed)
        assert env.action_masks is None and env.single_action_space.n == 6
        # T spawns in columns 3-5 with its nose on the top row
        assert sorted(map(tuple, falling(obs[0]))) == [(0, 4), (1, 3), (1, 4), (1, 5)]
        obs, *_ = env.step(np.array([LEFT], np.int32))
        assert sorted(map(tuple, falling(obs[0]))) == [(0, 3), (1, 2), (1, 3), (1, 4)]
        obs, *_ = env.step(np.array([NOOP], np.int32))
        obs, *_ = env.step(np.array([NOOP], np.int32))   # the third tick: gravity
        assert sorted(map(tuple, falling(obs[0]))) == [(1, 3), (2, 2), (2, 3), (2, 4)]
        obs, *_ = env.step(np.array([ROTATE], np.int32))  # clockwise: nose to the right
        assert sorted(map(tuple, falling(obs[0]))) == [(1, 3), (2, 3), (2, 4), (3, 3)]
        for _ in range(10):
            obs, *_ = env.step(np.array([LEFT], np.int32))
        assert falling(obs[0])[:, 1].min() == 0   # against the wall, no further
        obs, rew, term, *_ = env.step(np.array([HARD], np.int32))
        board = board_of(obs[0], 10, 20)
        assert sorted(map(tuple, np.argwhere(board == 1))) == [(17, 0), (18, 0), (18, 1), (19, 0)]
        assert len(falling(obs[0])) == 4 and falling(obs[0])[:, 0].min() == 0   # the next piece
        assert rew[0] == 0 and not term[0]


def test_primitive_soft_drop_locks_at_the_bottom():
    with pufferlib.make("tetris", seed=0, placement=0, gravity=60, height=6) as env:
        obs, _ = env.reset()
        for _ in range(6):
            obs, *_ = env.step(np.array([SOFT], np.int32))
        board = board_of(obs[0], 10, 6)
        assert (board == 1).sum() == 4 and (board[4:] == 1).sum() >= 2


def test_primitive_clears_lines_like_placements():
    """Hard drops at the spawn column top out after the same number of pieces in both modes."""
    ends = []
    for placement, action in [(1, -1), (0, HARD)]:
        with pufferlib.make("tetris", seed=5, placement=placement, check_actions=False) as env:
            env.reset()
            for _ in range(60):
                _, _, term, _, infos = env.step(np.array([action], np.int32))
                if term[0]:
                    ends.append(infos["pieces"])
                    break
    assert len(ends) == 2 and ends[0] == ends[1]


# ---- Determinism, spaces, adversarial actions ----

def rollout(seed, num_threads=1, steps=300, placement=1, num_envs=8):
    rng = np.random.default_rng(0)
    with pufferlib.make("tetris", num_envs=num_envs, seed=seed, num_threads=num_threads,
                        placement=placement) as env:
        out = [env.reset()[0].copy()]
        for _ in range(steps):
            obs, rew, term, trunc, _ = env.step(scripted.random_actions(env, rng))
            out.append(np.concatenate([obs.reshape(num_envs, -1), rew[:, None] * 100,
                                       term[:, None], trunc[:, None]], axis=1))
    return np.concatenate([o.reshape(len(o), -1) for o in out[1:]])


@pytest.mark.parametrize("placement", [0, 1])
def test_same_seed_same_trajectory_and_seeds_differ(placement):
    a = rollout(3, placement=placement)
    np.testing.assert_array_equal(a, rollout(3, placement=placement))
    assert not np.array_equal(a, rollout(4, placement=placement))


@pytest.mark.parametrize("placement", [0, 1])
def test_one_and_two_threads_agree(placement):
    np.testing.assert_array_equal(rollout(6, 1, placement=placement, num_envs=13),
                                  rollout(6, 2, placement=placement, num_envs=13))


@pytest.mark.parametrize("params", [{}, {"placement": 0, "hold": 1, "preview": 5},
                                    {"width": 16, "height": 32, "hold": 1, "preview": 0, "features": 1}])
def test_observations_stay_inside_the_space(params):
    rng = np.random.default_rng(1)
    with pufferlib.make("tetris", num_envs=16, seed=0, **params) as env:
        space = env.single_observation_space
        width, height = params.get("width", 10), params.get("height", 20)
        obs, _ = env.reset()
        for _ in range(300):
            assert all(space.contains(o) for o in obs)
            assert (obs[:, width * height:width * height + 7].sum(axis=1) == 1).all()
            if env.action_masks is not None:
                assert env.action_masks.any(axis=1).all()
            obs, *_ = env.step(scripted.random_actions(env, rng))


@pytest.mark.parametrize("params", [{}, {"placement": 0, "hold": 1},
                                    {"hold": 1, "width": 4, "height": 4, "features": 1}])
def test_adversarial_actions_are_safe(params):
    extremes = np.array([-2**31, -1, 0, 2**31 - 1, 40, 41, 6, 7, 1 << 20], np.int32)
    rng = np.random.default_rng(2)
    with pufferlib.make("tetris", num_envs=9, num_threads=2, seed=0, check_actions=False, **params) as env:
        env.reset()
        for step in range(2000):
            if step % 2:
                actions = rng.integers(-2**31, 2**31 - 1, 9, dtype=np.int64).astype(np.int32)
            else:
                actions = np.roll(extremes, step)
            obs, rew, *_ = env.step(actions)
            assert np.isfinite(rew).all() and obs.max() <= env.single_observation_space.high.max()


def test_masked_actions_keep_the_random_player_legal():
    random = scripted.evaluate("tetris", "random", episodes=30, num_envs=8)
    best = scripted.evaluate("tetris", "scripted", episodes=16, num_envs=8)
    assert random["lines"] < 1 and best["lines"] > 5 * max(random["lines"], 1)
    assert best["pieces"] > 2 * random["pieces"]


@pytest.mark.parametrize("params,match", [({"width": 17}, "width"), ({"height": 3}, "height"),
                                          ({"placement": 2}, "placement"), ({"preview": 6}, "preview"),
                                          ({"placement": 0, "features": 1}, "features=1 .* needs placement=1")])
def test_parameters_out_of_range_are_refused(params, match):
    with pytest.raises(ValueError, match=match):
        pufferlib.make("tetris", **params)


def test_scripted_player_refuses_the_primitive_game():
    with pufferlib.make("tetris", placement=0) as env:
        obs, _ = env.reset()
        with pytest.raises(ValueError, match="placement=1"):
            scripted.policy("tetris")(obs, env.action_masks, None)


# ---- Render ----

@pytest.mark.parametrize("params", [{}, {"placement": 0, "hold": 1, "preview": 3}, {"width": 4, "height": 30}])
def test_render_draws_the_well_and_leaves_the_trajectory_alone(params):
    def run(render):
        rng = np.random.default_rng(0)
        frames = []
        with pufferlib.make("tetris", num_envs=2, seed=1, **params) as env:
            obs = [env.reset()[0].copy()]
            for _ in range(40):
                if render:
                    frames.append(env.render(1))
                obs.append(env.step(scripted.random_actions(env, rng))[0].copy())
            shape = env.spec["render_size"]
        return np.stack(obs), frames, shape

    plain, _, _ = run(False)
    rendered, frames, (height, width) = run(True)
    np.testing.assert_array_equal(plain, rendered)
    assert frames[0].shape == (height, width, 3) and frames[0].dtype == np.uint8
    np.testing.assert_array_equal(frames, run(True)[1])
    assert len({f.tobytes() for f in frames}) > 10


def test_render_shows_locked_blocks_where_the_board_has_them():
    seed = seed_with_first_piece(PIECE_I)
    with pufferlib.make("tetris", seed=seed) as env:
        env.reset(seed=seed)
        env.step(np.array([0], np.int32))   # a flat I in columns 0-3 of the bottom row
        frame = env.render()
    grey = np.all(frame == np.array([110, 112, 124], np.uint8), axis=-1)
    rows, cols = np.nonzero(grey)
    assert rows.size > 0
    cell = (cols.max() - cols.min() + 2) // 4
    assert cols.max() - cols.min() + 1 > 3 * cell and rows.max() - rows.min() + 1 < cell
