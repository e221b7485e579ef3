"""The learner's seats: a multi-agent vector env seen as the rows of one team per env.

`SeatedEnv` wraps a vector env whose environments have several seats (agent rows) in teams. In
every env the learner plays one team, drawn per game, and the league's opponents (one per other
team, drawn per game) play the rest. The trainer sees an ordinary vector env with the learner's
rows only: its observations, rewards, flags and episode statistics are the learner's, so the
opponents' rows never reach the learner's storage, losses or statistics. Each step, the opponents'
actions are computed member by member (one batch per opponent over every env it plays in) and the
whole env steps.

A game ends when every seat of its env has finished (C games end all seats at once; PettingZoo
agents may finish one by one). Its result for the learner against each other team is the sign of
the difference of the teams' returns over the game: a win scores 1, a draw 0.5, a loss 0. The
league records it (Elo, records) and the seats and opponents of that env are drawn again for the
next game, which the env has already begun (same-step autoreset).
"""
import numpy as np

from pufferlib._native.protocol import EpisodeStats

__all__ = ["SeatedEnv", "parse_teams"]


def parse_teams(text, seats):
    """The teams of `selfplay.teams` over an env's `seats` seats: a list of lists of seat indices.

    Args:
        text: 'auto' (every seat its own team) or teams separated by '/', seats by ',' ('0,2/1,3').
        seats: agent rows per env.

    Raises:
        ValueError: fewer than 2 seats or teams, a seat out of range, named twice or in no team, or
            teams of different sizes.

    >>> parse_teams("auto", 2), parse_teams("0,2/1,3", 4)
    ([[0], [1]], [[0, 2], [1, 3]])
    """
    if seats < 2:
        raise ValueError(f"self-play needs an environment with at least 2 agents per env, this one has "
                         f"{seats}; a built-in game turns its multi-seat mode on with --env.self_play 1")
    if text == "auto":
        return [[s] for s in range(seats)]
    try:
        teams = [[int(s) for s in team.split(",")] for team in text.split("/")]
    except ValueError:
        raise ValueError(f"selfplay.teams must be seat numbers separated by ',' within a team and '/' "
                         f"between teams (e.g. '0,2/1,3'), or 'auto'; got {text!r}") from None
    flat = sorted(s for team in teams for s in team)
    if len(teams) < 2:
        raise ValueError(f"selfplay.teams needs at least 2 teams separated by '/', got {text!r}")
    if flat != list(range(seats)):
        raise ValueError(f"selfplay.teams must put each of the env's {seats} seats (0-{seats - 1}) in "
                         f"exactly one team, got {text!r}")
    if len({len(team) for team in teams}) > 1:
        raise ValueError(f"selfplay.teams must be of equal sizes (the learner plays any of them), got "
                         f"{text!r}")
    return teams


class SeatedEnv:
    """A multi-agent vector env as the learner's rows, the league's opponents playing the others.

    Args:
        vecenv: the vector env (any backend; `num_agents` rows, `num_envs` envs).
        league: the `pufferlib.train.selfplay.league.League` whose members play and whose ratings the
            games update (shared by the trainer's groups).
        teams: the seats of each team (`parse_teams`).
        seed: seeds the draw of the learner's team per game.
        team: always put the learner on this team (a match's seat); None draws it per game.

    Attributes:
        num_agents: the learner's rows (num_envs x team size); the trainer's rows.
        agent_rows: the rows the env steps (every seat of every env).
        observations, rewards, terminals, truncations, masks, action_masks, final_observations:
            the learner's rows of the env's buffers, row j = env j // team size, the j % team size-th
            seat of the learner's team there.
    """

    def __init__(self, vecenv, league, teams, seed=0, team=None):
        self.env, self.league, self.teams, self.team = vecenv, league, [list(t) for t in teams], team
        self.num_envs = vecenv.num_envs
        self.seats = vecenv.num_agents // vecenv.num_envs
        self.team_size = len(self.teams[0])
        self.num_agents = self.num_envs * self.team_size
        self.agent_rows = vecenv.num_agents
        for name in ("single_observation_space", "single_action_space", "env_spec", "observation_layout",
                     "action_layout"):
            setattr(self, name, getattr(vecenv, name, None))
        self.rng = np.random.default_rng(seed)
        self.seat_team = np.empty(self.seats, np.int64)   # seat -> its team
        for t, team in enumerate(self.teams):
            self.seat_team[team] = t
        rows = self.num_agents
        take = lambda buf: None if buf is None else np.zeros((rows,) + buf.shape[1:], buf.dtype)  # noqa: E731
        self.observations = take(vecenv.observations)
        self.final_observations = take(vecenv.final_observations)
        self.rewards, self.terminals = take(vecenv.rewards), take(vecenv.terminals)
        self.truncations, self.masks = take(vecenv.truncations), take(vecenv.masks)
        self.action_masks = take(getattr(vecenv, "action_masks", None))
        self.actions = take(vecenv.actions)
        self._actions = np.zeros_like(vecenv.actions)    # every row's, handed to the env
        n = vecenv.num_agents
        self._game_return = np.zeros(n)          # each row's reward since its game began
        self._episode_return = np.zeros(n)       # since its own episode began
        self._episode_length = np.zeros(n, np.int64)
        self._finished = np.zeros(n, bool)       # the row's episode ended in this game
        self._starts = np.ones(n, bool)          # an opponent's next action begins an episode
        self.learner_team = np.zeros(self.num_envs, np.int64)
        self.opponents = np.empty((self.num_envs, len(self.teams)), object)   # member per (env, team)
        self._states = {}                        # recurrent member -> (h, c) over every row
        self._stats = EpisodeStats()

    # -- seats ---------------------------------------------------------------------------------

    def _new_games(self, envs):
        """Draws the learner's team and the other teams' opponents for new games in `envs`."""
        teams = len(self.teams)
        self.learner_team[envs] = self.rng.integers(0, teams, len(envs)) if self.team is None else self.team
        drawn = self.league.draw(len(envs) * teams)
        self.opponents[envs] = np.array(drawn, object).reshape(len(envs), teams)
        rows = (envs[:, None] * self.seats + np.arange(self.seats)).reshape(-1)
        self._game_return[rows] = 0.0
        self._finished[rows] = False
        self._starts[rows] = True
        self._index()

    def _index(self):
        """The learner's env rows, and each opponent's rows (one batch each), from the seat draw."""
        team_seats = np.array(self.teams)                                   # [teams, team size]
        envs = np.arange(self.num_envs)
        self.learner_rows = (envs[:, None] * self.seats + team_seats[self.learner_team]).reshape(-1)
        owner = self.opponents[:, self.seat_team]                           # [envs, seats]
        mine = self.seat_team[None, :] == self.learner_team[:, None]
        owner[mine] = None
        batches = {}
        for row, member in enumerate(owner.reshape(-1)):
            if member is not None:
                batches.setdefault(member, []).append(row)
        # batchable members (feed-forward kernel policies) are sampled together: their rows first
        fast = [(m, rows) for m, rows in batches.items() if m.batchable]
        self.batches = [(m, np.array(rows)) for m, rows in batches.items() if not m.batchable]
        self.fast = [member for member, _ in fast]
        self.fast_rows = np.array([r for _, rows in fast for r in rows], np.int64)
        self._fast_bounds = np.cumsum([0] + [len(rows) for _, rows in fast])   # each member's slice
        if fast:
            width = self.fast[0].actor.kernel.num_actions
            self._params = np.empty((len(self.fast_rows), width), np.float32)
            self._values = np.empty(len(self.fast_rows), np.float32)
        for member in [m for m in self._states if m not in batches]:
            del self._states[member]

    def _gather(self):
        """The learner's rows of the observation buffers (after the seat draw of ended games)."""
        env, rows = self.env, self.learner_rows
        np.take(env.observations, rows, axis=0, out=self.observations)
        np.take(env.masks, rows, out=self.masks)
        if self.action_masks is not None:
            np.take(env.action_masks, rows, axis=0, out=self.action_masks)

    # -- the vector env protocol ---------------------------------------------------------------

    def reset(self, seed=None):
        """Resets the env and draws every game's seats; returns (the learner's observations, {})."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.env.reset(seed=seed)
        self._episode_return[:] = 0.0
        self._episode_length[:] = 0
        self._new_games(np.arange(self.num_envs))
        self._gather()
        return self.observations, {}

    def send(self, actions):
        """Starts a step in the background: `actions` on the learner's rows, the opponents' computed here."""
        self.env.send(self._all_actions(actions))

    def step(self, actions):
        """Steps at once (no hand-off to the env's stepping thread): `recv`'s results."""
        return self._received(self.env.step(self._all_actions(actions)))

    def _all_actions(self, actions):
        """Every row's actions: the learner's `actions` on its rows, the opponents' on theirs.

        Opponents act for the rows that are present (`masks`): an absent seat, such as the one that
        waits for the other's move in a turn-based game, keeps its last action, which the env ignores.
        """
        full, env = self._actions, self.env
        full[self.learner_rows] = np.asarray(actions).reshape(self.actions.shape)
        masks, present = getattr(env, "action_masks", None), env.masks
        if self.fast:   # feed-forward kernel members: a forward pass each, one sampling for all
            rows, bounds = self.fast_rows, self._fast_bounds
            keep = present[rows]
            if not keep.all():
                kept = np.flatnonzero(keep)
                rows, bounds = rows[kept], np.searchsorted(kept, bounds)
            count = len(rows)
            if count:
                obs = env.observations[rows]
                for member, start, stop in zip(self.fast, bounds[:-1], bounds[1:]):
                    if stop > start:
                        member.forward_into(obs[start:stop], self._params[start:stop],
                                            self._values[start:stop])
                chosen = self.fast[0].actor.sample(self._params[:count], self._values[:count],
                                                   action_masks=None if masks is None else masks[rows])[0]
                full[rows] = chosen.reshape((count,) + full.shape[1:])
        for member, rows in self.batches:
            rows = rows[present[rows]]
            if not len(rows):
                continue
            state = None
            if member.recurrent:
                if member not in self._states:
                    self._states[member] = member.initial_state(self.agent_rows)
                h, c = self._states[member]
                state = (h[rows], c[rows])
            chosen, state = member.act(env.observations[rows], None if masks is None else masks[rows],
                                       state, self._starts[rows])
            full[rows] = np.asarray(chosen).reshape((len(rows),) + full.shape[1:])
            if state is not None:
                h, c = self._states[member]
                h[rows], c[rows] = state[0], state[1]
            self._starts[rows] = False
        return full

    def recv(self):
        """Finishes the step: (observations, rewards, terminals, truncations, infos) of the learner's rows.

        The infos are the learner's finished episodes (return, length) and, per finished game, its
        result against each opponent: selfplay/wins, draws, losses overall and per opponent class
        (selfplay/CLASS/wins, ...).
        """
        return self._received(self.env.recv())

    def _received(self, result):
        """The learner's view of the env's step `result`; scores and redraws the games that ended."""
        env = self.env
        _, rewards, terminals, truncations, _ = result
        rows = self.learner_rows
        np.take(rewards, rows, out=self.rewards)
        np.take(terminals, rows, out=self.terminals)
        np.take(truncations, rows, out=self.truncations)
        if self.truncations.any():
            np.take(env.final_observations, rows, axis=0, out=self.final_observations)
        self._game_return += rewards
        self._episode_return += rewards
        self._episode_length += 1
        done = terminals | truncations
        if done.any():
            self._finish_episodes(done)
        self._gather()
        return self.observations, self.rewards, self.terminals, self.truncations, self._stats.pop()

    def _finish_episodes(self, done):
        """Logs the learner's finished episodes; scores and redraws the games every seat finished."""
        learner = np.zeros(self.agent_rows, bool)
        learner[self.learner_rows] = True
        for row in np.flatnonzero(done & learner):
            self._stats.add({"episode_return": self._episode_return[row],
                             "episode_length": self._episode_length[row]})
        self._episode_return[done] = 0.0
        self._episode_length[done] = 0
        self._finished |= done
        self._starts |= done
        ended = np.flatnonzero(self._finished.reshape(self.num_envs, self.seats).all(1))
        if ended.size == 0:
            return
        returns = self._game_return.reshape(self.num_envs, self.seats)
        for e in ended:
            team_return = [returns[e, team].sum() for team in self.teams]
            mine = team_return[self.learner_team[e]]
            for t, theirs in enumerate(team_return):
                if t == self.learner_team[e]:
                    continue
                score = 1.0 if mine > theirs else 0.0 if mine < theirs else 0.5
                member = self.opponents[e, t]
                self.league.record(member, score, env=e)
                outcome = {"selfplay/wins": float(score == 1.0), "selfplay/draws": float(score == 0.5),
                           "selfplay/losses": float(score == 0.0)}
                self._stats.add({**outcome, **{f"selfplay/{member.label}/{k[9:]}": v
                                               for k, v in outcome.items()}})
        self._new_games(ended)

    # -- the rest of the protocol ----------------------------------------------------------------

    def snapshot(self):
        """The wrapped env's snapshot (native envs; the seat draw is saved with the league)."""
        return self.env.snapshot()

    def restore(self, snapshot):
        """Restores the wrapped env's snapshot."""
        self.env.restore(snapshot)
        self._gather()

    def state_dict(self):
        """The seat draw and the games' running returns, as plain data (names of the opponents)."""
        return {"learner_team": self.learner_team.copy(),
                "opponents": [[m.name for m in row] for row in self.opponents],
                "game_return": self._game_return.copy(), "episode_return": self._episode_return.copy(),
                "episode_length": self._episode_length.copy(), "finished": self._finished.copy(),
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state):
        """Continues a saved seat draw; games against opponents no longer in the pool are drawn again.

        Raises:
            KeyError, ValueError: a damaged state.
        """
        self.learner_team[:] = np.asarray(state["learner_team"])
        names = {m.name: m for m in self.league.members}
        lost = []
        for e, row in enumerate(state["opponents"]):
            for t, name in enumerate(row):
                if name in names:
                    self.opponents[e, t] = names[name]
                else:
                    lost.append(e)
        for name in ("game_return", "episode_return", "episode_length", "finished"):
            getattr(self, f"_{name}")[:] = np.asarray(state[name])
        self.rng.bit_generator.state = state["rng"]
        self._starts[:] = True
        self._index()
        if lost:
            self._new_games(np.unique(lost))
        self._gather()

    def render(self, index=0):
        """The wrapped env's frame of env `index`."""
        return self.env.render(index)

    def close(self):
        """Closes the wrapped env."""
        self.env.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
