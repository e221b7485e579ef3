"""Self-play: a learner against a league of its past selves, fixed opponents and Elo ratings.

`puffer train GAME --selfplay.enabled true` trains in any multi-agent environment (a C game's
multi-seat mode, a PettingZoo env, a user's C env with several agents per env): the learner plays
one team of seats in every env, frozen opponents from a pool the others (`seats.SeatedEnv`); the
pool of snapshots and fixed opponents, how they are drawn and the Elo ratings are the `League`
(`league.py`, `opponents.py`, `elo.py`). `match.py` plays checkpoints against each other for
`puffer eval --opponent` and `puffer league`. docs/selfplay.md is the guide.
"""
from pufferlib.train.selfplay.elo import expected_score, fit_ratings, update
from pufferlib.train.selfplay.league import League
from pufferlib.train.selfplay.opponents import Opponent, parse_opponents
from pufferlib.train.selfplay.seats import SeatedEnv, parse_teams

__all__ = ["League", "Opponent", "SeatedEnv", "expected_score", "fit_ratings", "multi_seat",
           "parse_opponents", "parse_teams", "update"]

SEATS_PARAM = "self_play"   # the parameter that turns a C game's multi-seat mode on


def multi_seat(env_name, config):
    """The config to make a self-play run's environments with: a C game in its multi-seat mode.

    A native game with a `self_play` parameter that the config leaves unset gets self_play = 1 (in a
    copy: the run's own config, which checkpoints keep, stays as given, so evaluating the trained
    policy without an opponent plays the game's one-seat mode against its scripted opponent).
    Python environments (PettingZoo) and C envs without that parameter are left as they are: their
    agents per env are the seats.

    Args:
        env_name: the ENV spec.
        config: the run's `Config`.

    Returns:
        `config`, or a copy of it with env.params["self_play"] = 1.
    """
    import copy

    from pufferlib.envs import env_def, env_kind

    if env_kind(env_name) != "native" or SEATS_PARAM in config.env.params:
        return config
    if not any(param[0] == SEATS_PARAM for param in env_def(env_name).params):
        return config
    config = copy.deepcopy(config)
    config.env.params[SEATS_PARAM] = 1
    return config
