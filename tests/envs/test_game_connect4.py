"""connect4: the rules against a reference, the scripted opponents, the action mask, illegal moves,
determinism, memory safety under adversarial actions, render, and the two-seat self-play mode."""
import numpy as np
import pytest

import pufferlib
from pufferlib.environment import EpisodeStats
from pufferlib.envs import scripted
from pufferlib.envs.scripted import connect4 as script

BAD_ACTIONS = np.array([-1, 7, 99, 2**31 - 1, -(2**31)], np.int32)


def landing_row(board, col):
    """The row a piece dropped into `col` of one (6, 7) board lands on, or -1 when it is full."""
    empty = np.nonzero(board[:, col] == 0)[0]
    return int(empty.max()) if len(empty) else -1


def has_four(board, player):
    return bool(script._four((board == player)[None])[0])


def random_legal(env, rng):
    return scripted.random_actions(env, rng)


def test_reset_gives_an_empty_board_or_one_opponent_piece_at_the_bottom():
    with pufferlib.make("connect4", num_envs=200, first=2) as env:
        obs, _ = env.reset(seed=0)
        pieces = (obs != 0).sum(axis=(1, 2))
        assert set(pieces.tolist()) == {0, 1}
        assert (obs[pieces == 1, 5] == 2).sum(axis=1).tolist() == [1] * int((pieces == 1).sum())
        assert 60 < (pieces == 1).sum() < 140  # first=2 draws who starts per game


@pytest.mark.parametrize("first, pieces", [(0, 0), (1, 1)])
def test_first_decides_who_starts(first, pieces):
    with pufferlib.make("connect4", num_envs=50, first=first) as env:
        obs, _ = env.reset(seed=1)
        assert ((obs != 0).sum(axis=(1, 2)) == pieces).all()
        _, _, term, _, _ = env.step(np.full(50, 3, np.int32))
        infos = {}
        while not infos:
            _, _, _, _, infos = env.step(random_legal(env, np.random.default_rng(0)))
        assert infos["first"] == float(first == 0)


@pytest.mark.parametrize("opponent", [0, 1, 2, 3])
def test_every_step_follows_the_rules(opponent):
    """Agent's piece lands where the column says, the opponent adds exactly one legal piece, rewards
    and game ends agree with a reference four-in-a-row check, and the mask is the columns with room."""
    rng = np.random.default_rng(opponent)
    with pufferlib.make("connect4", num_envs=32, seed=opponent, opponent=opponent, depth=3) as env:
        obs, _ = env.reset()
        games = 0
        for _ in range(300):
            before = obs.copy()
            np.testing.assert_array_equal(env.action_masks, before[:, 0, :] == 0)
            actions = random_legal(env, rng)
            obs, rew, term, trunc, _ = env.step(actions)
            assert not trunc.any()
            for i in range(32):
                board = before[i].copy()
                board[landing_row(board, actions[i]), actions[i]] = 1
                end = env.final_observations[i] if term[i] else obs[i]
                if has_four(board, 1):
                    assert term[i] and rew[i] == 1.0
                    np.testing.assert_array_equal(end, board)
                    continue
                added = np.argwhere(end != board)
                if (board != 0).all():
                    assert term[i] and rew[i] == 0.0 and len(added) == 0
                    continue
                assert len(added) == 1
                r, c = added[0]
                assert end[r, c] == 2 and r == landing_row(board, c)
                board[r, c] = 2
                if has_four(board, 2):
                    assert term[i] and rew[i] == -1.0
                elif (board != 0).all():
                    assert term[i] and rew[i] == 0.0
                else:
                    assert not term[i] and rew[i] == 0.0
                    np.testing.assert_array_equal(obs[i], board)
            games += int(term.sum())
        assert games > 100


def test_four_stacked_in_one_column_wins():
    """Against the random opponent, the agent stacking column 3 from an empty board wins on its fourth
    move wherever the opponent never played column 3."""
    with pufferlib.make("connect4", num_envs=64, opponent=0, first=0) as env:
        env.reset(seed=2)
        for move in range(4):
            obs, rew, term, _, _ = env.step(np.full(64, 3, np.int32))
            if move < 3:
                clean = (obs[:, :, 3] != 2).all(axis=1) & ~term
        won = clean & term & (rew == 1.0)
        assert won.sum() == clean.sum() > 20


@pytest.mark.parametrize("opponent, depth", [(1, 2), (2, 2), (2, 4)])
def test_the_opponent_wins_when_it_can_and_blocks_a_single_threat(opponent, depth):
    """After each random agent move: where the opponent can complete four, it does; else, where the
    agent threatens to complete four in exactly one column, the opponent plays there."""
    rng = np.random.default_rng(depth)
    checked = 0
    with pufferlib.make("connect4", num_envs=32, seed=depth, opponent=opponent, depth=depth) as env:
        obs, _ = env.reset()
        for _ in range(200):
            actions = random_legal(env, rng)
            boards = obs.copy()
            for i in range(32):
                boards[i, landing_row(boards[i], actions[i]), actions[i]] = 1
            wins, threats = script.winning_columns(boards, 2), script.winning_columns(boards, 1)
            obs, _, term, _, _ = env.step(actions)
            for i in range(32):
                end = env.final_observations[i] if term[i] else obs[i]
                added = np.argwhere((end != boards[i]) & (end == 2))
                if has_four(boards[i], 1) or not len(added):
                    continue
                column = added[0][1]
                if wins[i].any():
                    assert wins[i, column]
                    checked += 1
                elif threats[i].sum() == 1:
                    assert threats[i, column]
                    checked += 1
    assert checked > 50


def test_stronger_opponents_beat_the_scripted_player_more_often():
    random_opp = scripted.evaluate("connect4", "scripted", episodes=200, opponent=0)
    minimax = scripted.evaluate("connect4", "scripted", episodes=200, opponent=2, depth=2)
    assert random_opp["wins"] > 0.9 and minimax["wins"] < 0.3


def test_a_full_column_is_masked_and_playing_it_loses():
    with pufferlib.make("connect4", num_envs=64, opponent=1, first=0) as env:
        obs, _ = env.reset(seed=4)
        alive = np.ones(64, bool)
        for _ in range(6):  # column 0 while it has room, then the leftmost legal column
            actions = np.where(env.action_masks[:, 0], 0, env.action_masks.argmax(axis=1))
            obs, _, term, _, _ = env.step(actions.astype(np.int32))
            alive &= ~term
        full = alive & (obs[:, 0, 0] != 0)
        assert full.sum() > 10
        assert not env.action_masks[full, 0].any() and env.action_masks[full, 1:].any(axis=1).all()
        _, rew, term, _, infos = env.step(np.zeros(64, np.int32))
        assert term[full].all() and (rew[full] == -1.0).all()
        assert infos["illegal"] > 0


@pytest.mark.parametrize("action", BAD_ACTIONS.tolist())
def test_an_out_of_range_action_unchecked_loses_at_once(action):
    with pufferlib.make("connect4", num_envs=8, first=0, check_actions=False) as env:
        env.reset(seed=5)
        obs, rew, term, trunc, infos = env.step(np.full(8, action, np.int32))
        assert term.all() and not trunc.any() and (rew == -1.0).all()
        assert infos["illegal"] == 1.0 and infos["losses"] == 1.0 and infos["moves"] == 0.0
        assert (env.final_observations == 0).all()


def test_checked_out_of_range_actions_raise():
    with pufferlib.make("connect4", num_envs=2) as env:
        env.reset(seed=0)
        with pytest.raises(ValueError, match="action"):
            env.step(np.array([0, 7], np.int32))


def play(env, rng, steps, bad=False):
    frames = []
    for _ in range(steps):
        actions = rng.choice(BAD_ACTIONS, env.num_agents) if bad else rng.integers(0, 7, env.num_agents)
        obs, rew, term, trunc, _ = env.step(actions.astype(np.int32))
        frames.append((obs.copy(), rew.copy(), term.copy(), env.action_masks.copy()))
    return frames


@pytest.mark.parametrize("opponent", [0, 3])
def test_same_seed_same_games_at_any_thread_count(opponent):
    runs = []
    for threads in (1, 2, 2):
        with pufferlib.make("connect4", num_envs=16, num_threads=threads, seed=9, opponent=opponent) as env:
            env.reset()
            runs.append(play(env, np.random.default_rng(0), 60))
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            for x, y in zip(a, b):
                np.testing.assert_array_equal(x, y)


def test_different_seeds_differ():
    boards = []
    for seed in (1, 2):
        with pufferlib.make("connect4", num_envs=16, seed=seed, opponent=0) as env:
            env.reset()
            boards.append(play(env, np.random.default_rng(0), 10)[-1][0])
    assert not np.array_equal(*boards)


@pytest.mark.parametrize("bad", [False, True])
def test_many_steps_stay_inside_the_spaces(bad):
    with pufferlib.make("connect4", num_envs=32, num_threads=2, opponent=3, depth=3,
                        check_actions=False) as env:
        env.reset(seed=0)
        for obs, rew, _, mask in play(env, np.random.default_rng(1), 400, bad):
            assert env.single_observation_space.contains(obs[0]) and obs.max() <= 2
            assert set(np.unique(rew)) <= {-1.0, 0.0, 1.0}
            assert mask.any(axis=1).all()


def test_render_draws_the_board_and_does_not_change_the_game():
    rng = np.random.default_rng(0)
    with pufferlib.make("connect4", num_envs=2, seed=3) as a, pufferlib.make("connect4", num_envs=2, seed=3) as b:
        a.reset()
        b.reset()
        height, width = a.spec["render_size"]
        for _ in range(15):
            actions = random_legal(a, rng)
            frame = a.render(0)
            assert frame.shape == (height, width, 3)
            np.testing.assert_array_equal(frame, a.render(0))
            obs_a = a.step(actions)[0]
            obs_b = b.step(actions)[0]
            np.testing.assert_array_equal(obs_a, obs_b)
        red = np.all(a.render(0) == (212, 62, 52), axis=-1).sum()
        gold = np.all(a.render(0) == (226, 188, 36), axis=-1).sum()
        pieces = a.observations[0]
        # each piece is a disc of about the same area
        if (pieces == 1).any() and (pieces == 2).any():
            per_red, per_gold = red / (pieces == 1).sum(), gold / (pieces == 2).sum()
            assert 0.8 < per_red / per_gold < 1.25


# A plain full-width negamax over bitboards (7 bits a column, bit 0 the bottom cell), written from
# the rules in connect4.c's header: the optimised C search (alpha-beta, narrowed root windows,
# forced blocks) must pick among exactly the columns this one scores best.
CELLS = [c * 7 + h for c in range(7) for h in range(6)]
CENTRE = sum(1 << (3 * 7 + h) for h in range(6))


def ref_four(b):
    return any((b & (b >> s)) & ((b & (b >> s)) >> 2 * s) for s in (1, 6, 7, 8))


def ref_threats(p, filled):
    """The empty cells where `p` would complete four in a row."""
    return [cell for cell in CELLS if not filled >> cell & 1 and ref_four(p | 1 << cell)]


def ref_moves(filled):
    """The cell a piece dropped into each column with room would take."""
    moves = []
    for c in range(7):
        h = next((h for h in range(6) if not filled >> (c * 7 + h) & 1), None)
        if h is not None:
            moves.append((c, 1 << (c * 7 + h)))
    return moves


def ref_evaluate(me, them):
    filled = me | them
    return (4 * (len(ref_threats(me, filled)) - len(ref_threats(them, filled)))
            + bin(me & CENTRE).count("1") - bin(them & CENTRE).count("1"))


def ref_negamax(me, them, depth, ply):
    moves = ref_moves(me | them)
    if any(ref_four(me | m) for _, m in moves):
        return 1000 - ply
    if not moves:
        return 0
    if depth <= 1:
        return max(ref_evaluate(me | m, them) for _, m in moves)
    return max(-ref_negamax(them, me | m, depth - 1, ply + 1) for _, m in moves)


def ref_best_columns(me, them, depth):
    scores = {}
    for c, m in ref_moves(me | them):
        if ref_four(me | m):
            scores[c] = 1000
        elif depth <= 1:
            scores[c] = ref_evaluate(me | m, them)
        else:
            scores[c] = -ref_negamax(them, me | m, depth - 1, 1)
    top = max(scores.values())
    return {c for c, v in scores.items() if v == top}


def bitboards(board):
    """(the opponent's, the agent's) bitboards of one (6, 7) observation (row 0 on top)."""
    b = [0, 0]
    for r, c in zip(*np.nonzero(board)):
        b[board[r, c] - 1] |= 1 << (c * 7 + 5 - r)
    return b[1], b[0]


@pytest.mark.parametrize("depth, steps", [(1, 12), (2, 12), (3, 8), (4, 3)])
def test_minimax_picks_a_column_the_plain_negamax_scores_best(depth, steps):
    rng = np.random.default_rng(depth)
    checked = 0
    with pufferlib.make("connect4", num_envs=12, seed=depth, opponent=2, depth=depth, first=2) as env:
        obs, _ = env.reset()
        for _ in range(steps):
            actions = random_legal(env, rng)
            boards = obs.copy()
            for i in range(12):
                boards[i, landing_row(boards[i], actions[i]), actions[i]] = 1
            obs, _, term, _, _ = env.step(actions)
            for i in range(12):
                end = env.final_observations[i] if term[i] else obs[i]
                added = np.argwhere((end != boards[i]) & (end == 2))
                if not len(added):
                    continue
                me, them = bitboards(boards[i])
                assert added[0][1] in ref_best_columns(me, them, depth)
                checked += 1
    assert checked > 8 * steps


# ---- Self-play (self_play=1: seat 0 and seat 1, one piece a step) ----

WAITING = np.eye(7, dtype=bool)[0]  # the waiting seat's mask: column 0 alone
SWAP = np.array([0, 2, 1], np.uint8)  # one seat's view into the other's

# A full board without four: columns 0-2 and 4-6 alternate bottom-up from the first mover, column 3
# from the second, so rows read XXXOXXX / OOOXOOO and every diagonal and column alternates. Each
# mover drops into the leftmost column whose next cell is its own.
DRAW = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 4, 3, 3, 3, 3, 3, 3,
        4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6]


def seat_to_move(obs, first):
    """The seat to move in each env of a self-play batch whose games `first` began: the beginner
    when both have as many pieces, else the other (rows 0::2 are seat 0's views)."""
    own, other = (obs[0::2] == 1).sum(axis=(1, 2)), (obs[0::2] == 2).sum(axis=(1, 2))
    return np.where(own == other, first, 1 - first)


def play_script(columns, first, **params):
    """One game from a reset, the mover of each step dropping into the next of `columns` and the
    waiting seat playing 0; the game must end on the last column. Returns the env's rewards,
    terminals, statistics, final and new observations of that last step."""
    with pufferlib.make("connect4", num_envs=1, self_play=1, first=first, **params) as env:
        env.reset(seed=0)
        for k, column in enumerate(columns):
            actions = np.zeros(2, np.int32)
            actions[(first + k) % 2] = column
            obs, rew, term, trunc, infos = env.step(actions)
            assert not trunc.any()
            assert term.all() == (k == len(columns) - 1)
        return rew.copy(), term.copy(), infos, env.final_observations.copy(), obs.copy()


def play_legal(env, rng, steps):
    frames = []
    for _ in range(steps):
        obs, rew, term, _, _ = env.step(random_legal(env, rng))
        frames.append((obs.copy(), rew.copy(), term.copy(), env.action_masks.copy()))
    return frames


def test_self_play_gives_two_rows_per_env_with_the_one_seat_spaces():
    with pufferlib.make("connect4", num_envs=5, self_play=1) as two, pufferlib.make("connect4", num_envs=5) as one:
        assert two.num_agents == 10 and one.num_agents == 5
        assert two.single_observation_space == one.single_observation_space
        assert two.single_action_space == one.single_action_space
        assert two.action_masks.shape == (10, 7)


def test_self_play_drops_the_movers_piece_and_ignores_the_waiting_seat():
    """Two envs of one seed get the same movers' columns; one waiting seat plays column 0, the other
    anything (out of range included, with the action check off). The games are the same, and each
    step adds exactly the mover's piece, where its column says."""
    rng = np.random.default_rng(0)
    junk = np.concatenate([BAD_ACTIONS, np.arange(7, dtype=np.int32)])
    params = dict(num_envs=16, seed=3, self_play=1, first=0, check_actions=False)
    with pufferlib.make("connect4", **params) as a, pufferlib.make("connect4", **params) as b:
        obs, _ = a.reset()
        b.reset()
        moved = 0
        for _ in range(150):
            seat = seat_to_move(obs, 0)
            waiting = 2 * np.arange(16) + 1 - seat
            quiet = random_legal(a, rng)
            assert (quiet[waiting] == 0).all()
            noisy = quiet.copy()
            noisy[waiting] = rng.choice(junk, 16)
            before = obs[0::2].copy()
            obs, rew, term, _, _ = a.step(noisy)
            for x, y in zip((obs, rew, term, a.final_observations), b.step(quiet)[:3] + (b.final_observations,)):
                np.testing.assert_array_equal(x, y)
            ends = np.where(term[0::2, None, None], a.final_observations[0::2], obs[0::2])
            for i in range(16):
                column = quiet[2 * i + seat[i]]
                board = before[i].copy()
                board[landing_row(board, column), column] = 1 + seat[i]
                np.testing.assert_array_equal(ends[i], board)
                moved += 1
        assert moved == 150 * 16 and term.sum() > 0


def test_self_play_seats_see_one_board_with_1_and_2_swapped():
    rng = np.random.default_rng(1)
    with pufferlib.make("connect4", num_envs=16, seed=1, self_play=1, first=2) as env:
        obs, _ = env.reset()
        for _ in range(100):
            np.testing.assert_array_equal(obs[1::2], SWAP[obs[0::2]])
            obs, _, term, _, _ = env.step(random_legal(env, rng))
            final = env.final_observations
            np.testing.assert_array_equal(final[1::2][term[1::2]], SWAP[final[0::2][term[0::2]]])
        assert (obs == 1).any() and (obs == 2).any()


@pytest.mark.parametrize("first", [0, 1])
def test_self_play_masks_give_the_mover_the_columns_with_room_and_the_waiting_seat_column_0(first):
    rng = np.random.default_rng(first)
    with pufferlib.make("connect4", num_envs=32, seed=first, self_play=1, first=first) as env:
        obs, _ = env.reset()
        full = 0
        for _ in range(200):
            seat = seat_to_move(obs, first)
            masks = env.action_masks.reshape(32, 2, 7)
            np.testing.assert_array_equal(masks[np.arange(32), seat], obs[0::2, 0, :] == 0)
            np.testing.assert_array_equal(masks[np.arange(32), 1 - seat], np.tile(WAITING, (32, 1)))
            full += int((obs[0::2, 0, :] != 0).any(axis=1).sum())
            obs = env.step(random_legal(env, rng))[0]
        assert full > 50


def test_self_play_seat_0_stacking_a_column_wins_in_the_step_of_its_fourth_piece():
    rew, term, infos, final, obs = play_script([3, 0, 3, 0, 3, 0, 3], first=0)
    np.testing.assert_array_equal(rew, [1.0, -1.0])
    assert term.all()
    assert (final[0, 2:, 3] == 1).all() and (final[1, 2:, 3] == 2).all()
    assert infos["wins"] == 1.0 and infos["losses"] == 0.0 and infos["draws"] == 0.0
    assert infos["moves"] == 4.0 and infos["illegal"] == 0.0 and infos["first"] == 1.0
    assert (obs == 0).all()  # same-step autoreset: the next game's empty board


def test_self_play_seat_1_stacking_a_column_is_a_loss_for_seat_0():
    rew, term, infos, final, _ = play_script([3, 0, 3, 0, 3, 0, 3], first=1)
    np.testing.assert_array_equal(rew, [-1.0, 1.0])
    assert term.all()
    assert (final[1, 2:, 3] == 1).all()
    assert infos["losses"] == 1.0 and infos["wins"] == 0.0
    assert infos["moves"] == 3.0 and infos["illegal"] == 0.0 and infos["first"] == 0.0


@pytest.mark.parametrize("first", [0, 1])
def test_self_play_a_full_board_without_four_is_a_draw(first):
    rew, term, infos, final, _ = play_script(DRAW, first=first)
    np.testing.assert_array_equal(rew, [0.0, 0.0])
    assert term.all()
    assert (final != 0).all() and not has_four(final[0], 1) and not has_four(final[0], 2)
    assert infos["draws"] == 1.0 and infos["wins"] == 0.0 and infos["losses"] == 0.0
    assert infos["moves"] == 21.0 and infos["first"] == float(first == 0)


@pytest.mark.parametrize("first", [0, 1])
@pytest.mark.parametrize("columns", [[0] * 7, [7], [-1], [2**31 - 1]],
                         ids=["full column", "7", "-1", "int32 max"])
def test_self_play_an_illegal_move_loses_for_the_mover(first, columns):
    """The 7th piece into column 0, or an out-of-range column with the action check off; either way
    the last move is the beginner's."""
    rew, term, infos, final, _ = play_script(columns, first=first, check_actions=False)
    mover = first
    np.testing.assert_array_equal(rew, np.where(np.arange(2) == mover, -1.0, 1.0))
    assert term.all()
    assert infos["illegal"] == 1.0 and infos["wins"] == float(mover == 1) and infos["losses"] == float(mover == 0)
    assert (final != 0).sum() == 2 * (len(columns) - 1)  # the illegal move left the board as it was


@pytest.mark.parametrize("first", [0, 1])
def test_self_play_first_picks_the_seat_that_begins_every_game(first):
    rng = np.random.default_rng(first)
    stats = EpisodeStats()
    with pufferlib.make("connect4", num_envs=16, seed=first, self_play=1, first=first) as env:
        obs, _ = env.reset()
        games = 0
        for _ in range(200):
            new = (obs[0::2] == 0).all(axis=(1, 2))
            masks = env.action_masks.reshape(16, 2, 7)
            assert masks[new, first].all() and (masks[new, 1 - first] == WAITING).all()
            games += int(new.sum())
            obs, _, _, _, infos = env.step(random_legal(env, rng))
            stats.merge(infos)
        assert games > 60
        assert stats["first"] == float(first == 0)


def test_self_play_first_2_draws_the_beginner_per_game():
    rng = np.random.default_rng(2)
    stats = EpisodeStats()
    with pufferlib.make("connect4", num_envs=64, seed=2, self_play=1, first=2) as env:
        obs, _ = env.reset()
        began = []
        for _ in range(150):
            new = (obs[0::2] == 0).all(axis=(1, 2))
            masks = env.action_masks.reshape(64, 2, 7)
            began += masks[new, 0].all(axis=1).tolist()  # seat 0 begins where its row has every column
            assert (masks[new, 0].all(axis=1) != masks[new, 1].all(axis=1)).all()
            obs, _, _, _, infos = env.step(random_legal(env, rng))
            stats.merge(infos)
        assert len(began) > 300 and 0.4 < np.mean(began) < 0.6
        assert stats["episodes"] > 500 and 0.4 < stats["first"] < 0.6


def test_self_play_same_seed_same_games_at_any_thread_count():
    runs = []
    for threads in (1, 2, 2):
        with pufferlib.make("connect4", num_envs=16, num_threads=threads, seed=9, self_play=1, first=2) as env:
            env.reset()
            runs.append(play_legal(env, np.random.default_rng(0), 80))
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            for x, y in zip(a, b):
                np.testing.assert_array_equal(x, y)


def test_self_play_different_seeds_differ():
    boards = []
    for seed in (1, 2):
        with pufferlib.make("connect4", num_envs=16, seed=seed, self_play=1, first=2) as env:
            env.reset()
            boards.append(play_legal(env, np.random.default_rng(0), 10)[-1][0])
    assert not np.array_equal(*boards)


def test_self_play_adversarial_actions_stay_inside_the_spaces():
    rng = np.random.default_rng(3)
    actions = np.concatenate([BAD_ACTIONS, np.arange(7, dtype=np.int32)])
    with pufferlib.make("connect4", num_envs=32, num_threads=2, seed=3, self_play=1, first=2,
                        check_actions=False) as env:
        env.reset()
        for _ in range(300):
            obs, rew, _, _, _ = env.step(rng.choice(actions, 64))
            assert env.single_observation_space.contains(obs[0]) and obs.max() <= 2
            assert set(np.unique(rew)) <= {-1.0, 0.0, 1.0} and (rew[1::2] == -rew[0::2]).all()
            assert env.action_masks.any(axis=1).all()


def test_self_play_render_draws_seat_0_red_and_seat_1_gold():
    with pufferlib.make("connect4", num_envs=1, self_play=1, first=0) as env:
        env.reset(seed=0)
        for column in (3, 0, 3, 0, 3):  # seat 0: three in column 3, seat 1: two in column 0
            actions = np.zeros(2, np.int32)
            actions[int((env.observations[0] != 0).sum() % 2)] = column
            env.step(actions)
        frame = env.render(0)
        cell = frame.shape[1] // 7
        red = np.all(frame == (212, 62, 52), axis=-1)
        gold = np.all(frame == (226, 188, 36), axis=-1)
        assert (np.nonzero(red)[1] // cell == 3).all() and (np.nonzero(gold)[1] // cell == 0).all()
        # the two bottom rows hold two discs of each colour, neither of them the ringed last move
        bottom = slice(4 * cell, 6 * cell)
        assert red[bottom].sum() == gold[bottom].sum() > 0


def test_self_play_marks_only_the_mover_present():
    rng = np.random.default_rng(3)
    with pufferlib.make("connect4", num_envs=16, seed=3, self_play=1, first=2) as env:
        obs, _ = env.reset()
        for _ in range(100):
            present = env.masks.reshape(16, 2)
            assert (present.sum(1) == 1).all()
            mover = present.argmax(1)
            masks = env.action_masks.reshape(16, 2, 7)
            np.testing.assert_array_equal(masks[np.arange(16), mover], obs[0::2, 0, :] == 0)
            np.testing.assert_array_equal(masks[np.arange(16), 1 - mover], np.tile(WAITING, (16, 1)))
            obs = env.step(random_legal(env, rng))[0]


@pytest.mark.parametrize("openings", [0, 3, 6])
def test_self_play_openings_start_games_from_up_to_that_many_random_moves(openings):
    with pufferlib.make("connect4", num_envs=256, seed=4, self_play=1, openings=openings, first=0) as env:
        obs, _ = env.reset()
        pieces = (obs[0::2] != 0).sum((1, 2))
        assert pieces.min() == 0 and pieces.max() == openings
        assert len(set(pieces.tolist())) == openings + 1
        np.testing.assert_array_equal(obs[1::2], SWAP[obs[0::2]])
        own, other = (obs[0::2] == 1).sum((1, 2)), (obs[0::2] == 2).sum((1, 2))
        assert ((own - other) == pieces % 2).all()          # seat 0 began: it has the extra piece
        present = env.masks.reshape(256, 2)
        np.testing.assert_array_equal(present[:, 1], pieces % 2 == 1)   # then seat 1 is to move
        for board in obs[0::2]:
            assert not has_four(board, 1) and not has_four(board, 2)
