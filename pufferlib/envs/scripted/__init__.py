"""Baseline players for the game suite: a hand-written policy per game, and the random policy.

Each game `NAME` with a scripted baseline has a module `pufferlib.envs.scripted.NAME` defining
``act(observations, action_masks, rng) -> actions``: a plain numpy policy over a batch of rows (the
vector env's buffers), written from the game's rules and its observation layout. A module may also
define ``opponent(param)``, the player of a self-play opponent `scripted:PARAM` (pong: a slower
tracker; connect4: the baseline with a chance of random moves). They are the
yardsticks the docs (docs/games.md) and `bench/games.py` compare trained agents with.

Example:
    >>> from pufferlib.envs import scripted
    >>> stats = scripted.evaluate("cartpole", "random", episodes=20, num_envs=4)
    >>> 5 < stats["episode_length"] < 60
    True
"""
import importlib

import numpy as np

from pufferlib._native.protocol import EpisodeStats
from pufferlib.envs.registry import make

__all__ = ["evaluate", "fraction", "policy", "random_actions", "random_rows"]


def random_actions(vecenv, rng):
    """Uniformly random actions for every row of `vecenv`, legal ones only where it has action masks."""
    actions = random_rows(vecenv.single_action_space, vecenv.num_agents, vecenv.action_masks, rng)
    return actions.reshape(vecenv.actions.shape).astype(vecenv.actions.dtype)


def random_rows(space, rows, action_masks, rng):
    """Uniformly random actions for `rows` rows of the flat action space `space`.

    Args:
        space: a Discrete, MultiDiscrete or Box (a vector env's `single_action_space`).
        rows: how many rows.
        action_masks: [rows, choices] legal choices (legal ones only are drawn), or None.
        rng: a numpy Generator.

    Returns:
        int64 [rows, entries] choices, or float32 [rows, *shape] values within the Box's bounds.
    """
    if hasattr(space, "nvec") or hasattr(space, "n"):
        nvec = np.atleast_1d(getattr(space, "nvec", getattr(space, "n", None))).astype(np.int64)
        columns, start = [], 0
        for n in nvec:
            if action_masks is None:
                columns.append(rng.integers(0, n, rows))
            else:
                # a random legal choice: the argmax of uniform noise over the legal entries
                noise = rng.random((rows, int(n))) * action_masks[:, start:start + n]
                columns.append(noise.argmax(axis=1))
            start += int(n)
        return np.stack(columns, axis=1)
    return rng.uniform(space.low, space.high, (rows,) + space.shape).astype(np.float32)


def fraction(param, what):
    """The number in [0, 1] that a scripted opponent's `scripted:PARAM` gives.

    Raises:
        ValueError: PARAM is not a number in [0, 1] (`what` names it in the message).
    """
    try:
        value = float(param)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be a number in [0, 1], got {param!r}")
    return value


def policy(name):
    """The scripted `act(observations, action_masks, rng)` of game `name`.

    Raises:
        ValueError: `name` has no scripted baseline.
    """
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":
            raise
        raise ValueError(f"{name!r} has no scripted baseline; modules in pufferlib.envs.scripted "
                         "define one per game (or use 'random')") from None
    return module.act


def evaluate(name, player="scripted", episodes=100, num_envs=16, seed=0, max_steps=10_000_000, **params):
    """Plays `episodes` env episodes of `name` with a baseline player and returns the mean statistics.

    Args:
        name: a registered environment.
        player: "scripted" (the game's hand-written policy) or "random".
        episodes: env episodes to finish before returning (at least).
        num_envs: envs stepped at once.
        seed: seeds the envs and the random player.
        max_steps: gives up after this many vector steps (returns what was seen).
        **params: the environment's parameters.

    Returns:
        {"episode_return", "episode_length" (means over agent episodes), the env's statistics (means
        over env episodes), "episodes": agent episodes finished}.

    Raises:
        ValueError: an unknown player, or a game without a scripted baseline.
    """
    if player not in ("scripted", "random"):
        raise ValueError(f"player must be 'scripted' or 'random', got {player!r}")
    act = policy(name) if player == "scripted" else None
    rng = np.random.default_rng(seed)
    total = EpisodeStats()
    with make(name, num_envs=num_envs, seed=seed, **params) as env:
        obs, _ = env.reset(seed=seed)
        for _ in range(max_steps):
            actions = random_actions(env, rng) if act is None else act(obs, env.action_masks, rng)
            obs, _, _, _, infos = env.step(actions)
            total.merge(infos)
            if total.counts.get("episode_return", 0) >= episodes:
                break
    return total.means() or {"episodes": 0}
