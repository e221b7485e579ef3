"""Games between fixed players: `puffer eval --opponent` (one pairing, both seats) and `puffer league`.

A player is anything a self-play pool holds (`Opponent`): a checkpoint, the game's scripted player
or random play. Games run in the environment's multi-seat mode through the same `SeatedEnv` as
training, with the first player on a given team and the second on every other; a game's result is
the sign of the teams' return difference, as in training.

>>> result = play("connect4", "random", "random", games=20)
>>> [sum(seat.values()) for seat in result["seats"]], sum(result["total"].values())
([20, 20], 40)
"""
import numpy as np
import torch

from pufferlib.train.selfplay import elo
from pufferlib.train.selfplay.opponents import Opponent, parse_opponents
from pufferlib.train.selfplay.seats import SeatedEnv, parse_teams

__all__ = ["load_player", "play", "round_robin"]

ENVS = 32   # games played at once (at most)


def load_player(spec, env_name, env_spec, seed=0):
    """The `Opponent` a player spec names: 'random', 'scripted[:PARAM]', or a checkpoint or run directory.

    Raises:
        ValueError: an unknown spec (neither a keyword nor an existing path), or a game without a
            scripted player.
        CheckpointError: an unreadable checkpoint, or one trained on other spaces.
    """
    from pufferlib.train.config import TrainConfig

    ((kind, argument),) = parse_opponents(spec, env_name, where="player")
    return Opponent.named(kind, argument, env_name, env_spec, 0.0, torch.device("cpu"), TrainConfig(), seed)


def _env_config(env_name, players):
    """The config to make the match's envs with: a checkpoint player's, else the shipped one."""
    from pufferlib.train.checkpoint import load_checkpoint
    from pufferlib.train.config import Config, load_config
    from pufferlib.train.selfplay import multi_seat

    config = load_config(env_name)
    for spec in players:
        kind = parse_opponents(spec, env_name, where="player")[0][0]
        if kind == "checkpoint":
            data = load_checkpoint(_newest(spec))
            if data["env"] == env_name:   # another env's checkpoint is refused by its player
                config = Config.from_dict(data["config"], source=f"the config saved in {data['path']}")
                break
    config.train.device, config.train.compile, config.train.bf16 = "cpu", False, False
    return multi_seat(env_name, config)


def _newest(path):
    from pathlib import Path

    from pufferlib.train.checkpoint import list_checkpoints

    found = list_checkpoints(path) if Path(path).is_dir() else []
    return found[-1] if found else path


def play(env_name, first, second, games=100, seed=0, teams=None, deterministic=False):
    """Plays `games` games of `first` against `second` on every team `first` can take.

    Args:
        env_name: the ENV spec (a built-in game is played in its multi-seat mode).
        first: a player spec ('random', 'scripted[:PARAM]', a checkpoint file or run directory)
            or an `Opponent`.
        second: its opponent, the same way.
        games: games per seat of `first` (each env plays its share, in order, so short games are
            not over-represented).
        seed: seeds the environments and the players' sampling.
        teams: the env's seats in teams (`selfplay.teams`' syntax); None: the checkpoint's
            selfplay.teams (or 'auto').
        deterministic: `first` takes its most likely actions (a checkpoint player).

    Returns:
        {"seats": [{"wins", "draws", "losses"} per team `first` played], "total": the sums}.

    Raises:
        ValueError: bad specs or teams, or an environment with one agent per env.
        CheckpointError: an unreadable checkpoint, or one trained on other spaces.
    """
    from pufferlib.envs import make_vecenvs

    if not isinstance(games, int) or games < 1:
        raise ValueError(f"games must be a positive integer, got {games!r}")
    specs = [p for p in (first, second) if isinstance(p, str)]
    config = _env_config(env_name, specs)
    envs = max(d for d in range(1, min(ENVS, games) + 1) if games % d == 0)
    config.env.num_envs = envs
    (vecenv,) = make_vecenvs(env_name, config, seed)
    try:
        team_list = parse_teams(config.selfplay.teams if teams is None else teams,
                                vecenv.num_agents // vecenv.num_envs)
        players = [p if isinstance(p, Opponent) else load_player(p, env_name, vecenv.env_spec, seed + i)
                   for i, p in enumerate((first, second))]
        if deterministic and players[0].actor is not None:
            players[0].deterministic = True
        seats = [_play_seat(vecenv, players, team_list, t, games // envs, seed + t)
                 for t in range(len(team_list))]
    finally:
        vecenv.close()
    total = {key: sum(s[key] for s in seats) for key in ("wins", "draws", "losses")}
    return {"seats": seats, "total": total}


def _play_seat(vecenv, players, teams, team, quota, seed):
    """`quota` games per env with players[0] on team `team`: its wins, draws and losses."""
    first, second = players
    tally = _Tally(second, vecenv.num_envs)
    seated = SeatedEnv(vecenv, tally, teams, seed=seed, team=team)
    obs, _ = seated.reset(seed=seed)
    rows = seated.num_agents
    state = first.initial_state(rows)
    starts = np.ones(rows, bool)
    while min(len(s) for s in tally.scores) < quota:
        actions, state = first.act(obs, seated.action_masks, state, starts)
        obs, _, terminals, truncations, _ = seated.step(actions)
        starts = terminals | truncations
    scores = [s for env_scores in tally.scores for s in env_scores[:quota]]
    return {"wins": sum(s == 1.0 for s in scores), "draws": sum(s == 0.5 for s in scores),
            "losses": sum(s == 0.0 for s in scores)}


class _Tally:
    """The 'league' of a match: always the same opponent; the first player's scores, per env."""

    def __init__(self, member, envs):
        self.member = member
        self.scores = [[] for _ in range(envs)]

    def draw(self, count):
        return [self.member] * count

    def record(self, member, score, env):
        del member
        self.scores[env].append(score)


def round_robin(env_name, players, games=100, seed=0, teams=None):
    """Every pair of `players` plays `games` games per seat; returns their ratings, best first.

    Ratings are fitted to all the results at once (`elo.fit_ratings`, mean 1000), so they do not
    depend on the order of the games.

    Args:
        env_name: the ENV spec.
        players: player specs (see `play`); at least 2, each named once.
        games: games per pairing and seat.
        seed: seeds the games (each pairing its own).
        teams: as for `play`.

    Returns:
        list of {"player", "rating", "games", "wins", "draws", "losses"}, highest rating first.

    Raises:
        ValueError: fewer than 2 players, or one named twice.
    """
    if len(players) < 2:
        raise ValueError(f"a league needs at least 2 players, got {len(players)}")
    if len(set(players)) < len(players):
        raise ValueError("a league names each player once; got " + ", ".join(players))
    n = len(players)
    scores, played = np.zeros((n, n)), np.zeros((n, n))
    record = np.zeros((n, 3), np.int64)
    for i in range(n):
        for j in range(i + 1, n):
            result = play(env_name, players[i], players[j], games, seed=seed + 101 * i + j,
                          teams=teams)["total"]
            w, d, lost = result["wins"], result["draws"], result["losses"]
            scores[i, j], scores[j, i] = w + 0.5 * d, lost + 0.5 * d
            played[i, j] = played[j, i] = w + d + lost
            record[i] += (w, d, lost)
            record[j] += (lost, d, w)
    ratings = elo.fit_ratings(scores, played)
    table = [{"player": p, "rating": float(ratings[k]), "games": int(record[k].sum()),
              "wins": int(record[k, 0]), "draws": int(record[k, 1]), "losses": int(record[k, 2])}
             for k, p in enumerate(players)]
    return sorted(table, key=lambda row: -row["rating"])

