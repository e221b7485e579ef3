"""The league of a self-play run: the pool of opponents, how they are drawn, and everyone's Elo.

The pool holds snapshots of the learner, taken every `selfplay.snapshot_interval` updates (at most
`selfplay.pool_size` of them: the oldest or the weakest leaves), plus the fixed opponents of
`selfplay.opponents`. Each game's opponent is drawn by `selfplay.sampling`: the newest snapshot,
uniformly, or by prioritised fictitious self-play (PFSP: weight (1 - s) ** p, s the learner's
recent score against it, so the opponents it loses to come back most). Every finished game updates
the learner's and that opponent's ratings (`pufferlib.train.selfplay.elo.update`) and their record.

The league's state (members, snapshot weights, ratings, records, its RNG) is plain data that a
checkpoint holds, so a resumed run continues the same league.
"""
import copy

import numpy as np

from pufferlib.train.selfplay import elo
from pufferlib.train.selfplay.opponents import Opponent, parse_opponents

__all__ = ["League"]

RECENT_GAMES = 100   # PFSP reads the learner's score over about this many recent games per opponent


class League:
    """The opponents of a self-play run and the learner's rating.

    Args:
        config: the run's `Config` (its selfplay and train sections are read).
        env_name: the ENV spec (scripted opponents and messages).
        env_spec: the vector env's `env_spec` (checkpoint opponents are checked against it).
        device: where policy opponents act (the learner's device).
        seed: seeds the draws of opponents and the opponents' own sampling.

    Attributes:
        rating: the learner's Elo rating.
        members: the pool, fixed opponents first, then snapshots oldest first.

    Raises:
        ValueError: a bad `selfplay.opponents` entry, or a game without a scripted player.
        CheckpointError: a checkpoint opponent that is unreadable or of other spaces.
    """

    def __init__(self, config, env_name, env_spec, device, seed=0):
        self.config, self.train_config = config.selfplay, config.train
        self.env_name, self.env_spec, self.device, self.seed = env_name, env_spec, device, seed
        self.rating = float(self.config.initial_elo)
        self.rng = np.random.default_rng(seed)
        self.members = []
        self.active = None  # the members in play until the next update (refresh)
        self.recent = {}    # member -> the learner's running score against it
        for kind, argument in parse_opponents(self.config.opponents, env_name):
            self.members.append(self._fixed(kind, argument))

    def _fixed(self, kind, argument):
        return Opponent.named(kind, argument, self.env_name, self.env_spec, self.config.initial_elo,
                              self.device, self.train_config, seed=self.seed + 1 + len(self.members))

    # -- the pool ------------------------------------------------------------------------------

    @property
    def snapshots(self):
        """The pool's snapshots of the learner, oldest first."""
        return [m for m in self.members if not m.fixed]

    def add_snapshot(self, policy, iteration):
        """Adds a frozen copy of `policy` (after update `iteration`) at the learner's rating.

        A full pool drops its oldest or weakest snapshot first (selfplay.drop).
        """
        snapshots = self.snapshots
        if len(snapshots) >= self.config.pool_size:
            if self.config.drop == "oldest":
                leaving = snapshots[0]
            else:
                leaving = min(snapshots, key=lambda m: m.rating)
            self.members.remove(leaving)
            self.recent.pop(leaving, None)
        self.members.append(Opponent.snapshot(policy, iteration, self.rating, self.device, self.train_config,
                                              seed=self.seed + 7919 * (iteration + 1)))

    def after_update(self, iteration, policy):
        """After each update: a snapshot every selfplay.snapshot_interval updates, new opponents in play."""
        if iteration % self.config.snapshot_interval == 0:
            self.add_snapshot(policy, iteration)
        self.refresh()

    def refresh(self):
        """Draws the opponents in play until the next update: selfplay.active members of the pool.

        Games draw their opponents among these only, so that opponent inference runs in a few large
        batches however big the pool; over many updates every member plays its share.
        """
        weights = self.weights()
        count = min(self.config.active, int((weights > 0).sum()))
        index = self.rng.choice(len(self.members), size=count, replace=False, p=weights)
        self.active = [self.members[i] for i in sorted(index)]

    def weights(self):
        """Each member's probability of being drawn for a game (selfplay.sampling)."""
        count = len(self.members)
        if self.config.sampling == "latest":
            weights = np.array([m is self.snapshots[-1] for m in self.members], float)
        elif self.config.sampling == "uniform":
            weights = np.ones(count)
        else:
            scores = np.array([self.recent.get(m, 0.5) for m in self.members])
            weights = (1.0 - scores) ** self.config.pfsp_power
            if weights.sum() <= 0:   # the learner beats everyone every time: all equally
                weights = np.ones(count)
        return weights / weights.sum()

    def draw(self, count):
        """`count` opponents for new games: members in play, drawn by selfplay.sampling (a list)."""
        if self.active is None or any(m not in self.members for m in self.active):
            self.refresh()
        weights = self.weights()[[self.members.index(m) for m in self.active]]
        weights = weights / weights.sum() if weights.sum() > 0 else None   # None: uniform
        index = self.rng.choice(len(self.active), size=count, p=weights)
        return [self.active[i] for i in index]

    # -- results -------------------------------------------------------------------------------

    def record(self, member, score, env=None):
        """One finished game: the learner's `score` against `member` (1 win, 0.5 draw, 0 loss).

        `env` (the index of the env it was played in) is not needed here; a match's tally counts
        games per env.

        Updates both ratings (Elo, K = selfplay.elo_k), the member's record and the learner's
        recent score against it (PFSP's weights).
        """
        self.rating, member.rating = elo.update(self.rating, member.rating, score, self.config.elo_k)
        member.record(score)
        rate = 1.0 / min(member.games, RECENT_GAMES)
        self.recent[member] = self.recent.get(member, 0.5) * (1.0 - rate) + score * rate

    def metrics(self):
        """The league's numbers for a log line: selfplay/elo, selfplay/pool_size, selfplay/pool_elo."""
        ratings = [m.rating for m in self.members]
        return {"selfplay/elo": self.rating, "selfplay/pool_size": len(self.members),
                "selfplay/pool_elo": float(np.mean(ratings)) if ratings else None}

    # -- persistence -----------------------------------------------------------------------------

    def state_dict(self):
        """The league as plain data: ratings, records, snapshot weights and the RNG's state."""
        return {"rating": self.rating, "members": [m.state_dict() for m in self.members],
                "recent": {m.name: score for m, score in self.recent.items()},
                "active": [m.name for m in self.active or ()],
                "rng": copy.deepcopy(self.rng.bit_generator.state)}

    def load_state_dict(self, state, policy):
        """Continues a saved league: its snapshots, and the fixed opponents' ratings and records.

        Snapshot weights are loaded into copies of `policy`; fixed opponents that this run's
        selfplay.opponents no longer names are left out.

        Raises:
            KeyError, TypeError, ValueError, RuntimeError: a damaged state (the trainer says so).
        """
        self.rating = float(state["rating"])
        fixed = {m.name: m for m in self.members if m.fixed}
        members = []
        for saved in state["members"]:
            if saved["kind"] == "snapshot":
                iteration = int(saved["iteration"])
                member = Opponent.snapshot(policy, iteration, 0.0, self.device, self.train_config,
                                           seed=self.seed + 7919 * (iteration + 1))
                member.policy.load_state_dict(saved["policy"])
            elif saved["name"] in fixed:
                member = fixed.pop(saved["name"])
            else:   # a fixed opponent this run no longer names
                continue
            member.load_results(saved)
            members.append(member)
        self.members = list(fixed.values()) + members
        recent = state["recent"]
        self.recent = {m: float(recent[m.name]) for m in self.members if m.name in recent}
        names = {m.name: m for m in self.members}
        self.active = [names[name] for name in state["active"] if name in names] or None
        self.rng.bit_generator.state = state["rng"]

    def member(self, name):
        """The pool member called `name` (KeyError if none)."""
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(name)
