"""Every game of the suite passes `puffer build --check`'s conformance checks (pufferlib.toolchain.check):
determinism, 1 vs 2 threads, seeds, observation bounds (final observations included), resets, flags,
finite rewards and statistics, and, for games with action masks, a legal choice in every row."""
import pytest

from pufferlib import toolchain

GAMES = {
    "pong": {}, "breakout": {}, "snake": {"width": 40, "height": 30, "num_snakes": 16, "num_food": 40},
    "connect4": {"opponent": 3}, "tetris": {}, "gather": {}, "lander": {}, "g2048": {},
    "tetris_moves": {"placement": 0}, "pong_pixels": {"pixels": 1, "self_play": 1},
    "connect4_selfplay": {"self_play": 1},
}


@pytest.mark.parametrize("name", list(GAMES))
def test_every_game_passes_the_conformance_checks(name):
    results = toolchain.check(name.split("_")[0], steps=300, num_envs=8, **GAMES[name])
    # a game longer than 300 steps (pong's 21 points) ends no episode here: its own tests end them
    failed = [str(r) for r in results if not r.passed and not r.detail.startswith("no episode ended")]
    assert not failed, failed
    masked = name.split("_")[0] in ("connect4", "tetris", "g2048") and name != "tetris_moves"
    assert {r.name: r.detail for r in results}["masks"] == (
        "every row keeps a legal choice" if masked else "the env has no action masks")
