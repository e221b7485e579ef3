"""The members of a self-play pool: frozen policies, the game's scripted player, random play.

Every member acts on a batch of rows (the env rows it controls this step) through one method,
`act(observations, action_masks, state, starts)`, and carries its Elo rating and the learner's
results against it. A policy member (a snapshot of the learner, or a checkpoint) acts through the
same fast path as training (`pufferlib.train.kernel.make_learner`: the C kernel on the CPU for the
default policy, torch otherwise), frozen.

>>> import gymnasium
>>> member = Opponent.random(gymnasium.spaces.Discrete(3), rating=1000.0)
>>> member.name, member.kind, member.label
('random', 'random', 'random')
"""
import copy
from pathlib import Path

import numpy as np
import torch

from pufferlib.envs import scripted
from pufferlib.train import checkpoint as ckpt

__all__ = ["Opponent", "parse_opponents"]


class Opponent:
    """A pool member: how it acts, its rating, and the learner's record against it.

    Attributes:
        name: unique within the pool ("snapshot@120" for the snapshot taken after update 120,
            "random", "scripted", "scripted:PARAM", or "checkpoint:PATH").
        kind: 'snapshot', 'checkpoint', 'scripted' or 'random'.
        label: the opponent class its results are logged under: 'past' for snapshots, the name
            otherwise.
        fixed: never dropped from the pool (every member but a snapshot).
        rating: its Elo rating.
        wins, draws, losses: the learner's results against it.
        policy: the frozen torch policy of a snapshot or checkpoint (None otherwise).
        recurrent: whether it carries an LSTM state per row it controls.
        hidden_size: the size of that state.
    """

    def __init__(self, name, kind, rating, *, policy=None, act=None, action_space=None, iteration=0,
                 device=None, train_config=None, seed=0):
        self.name, self.kind, self.rating, self.iteration = name, kind, float(rating), int(iteration)
        self.label = "past" if kind == "snapshot" else name
        self.fixed = kind != "snapshot"
        self.wins = self.draws = self.losses = 0
        self.policy = policy
        self.recurrent = bool(getattr(policy, "recurrent", False))
        self.hidden_size = policy.hidden_size if self.recurrent else 0
        self._act = act
        self._space = action_space
        self._rng = np.random.default_rng(seed)
        self._actor = None
        self.batchable = False
        self.deterministic = False   # a policy member takes its most likely actions (evaluation)
        if policy is not None:
            from pufferlib.train.kernel import make_learner

            policy.eval()
            for param in policy.parameters():
                param.requires_grad_(False)
            self._device = device or torch.device("cpu")
            self._generator = torch.Generator(self._device).manual_seed(seed)
            self._actor = make_learner(policy, train_config, self._device, seed=seed)
        from pufferlib.train.kernel import KernelLearner

        # a feed-forward kernel policy of categorical actions: its rows can be sampled together
        # with other such members' (SeatedEnv), one forward pass each
        self.batchable = type(self._actor) is KernelLearner and not self._actor.dist.num_continuous

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def snapshot(cls, policy, iteration, rating, device, train_config, seed=0):
        """A frozen copy of the learner's policy taken after update `iteration`."""
        return cls(f"snapshot@{iteration}", "snapshot", rating, policy=copy.deepcopy(policy),
                   iteration=iteration, device=device, train_config=train_config, seed=seed)

    @classmethod
    def random(cls, action_space, rating, seed=0):
        """Uniformly random legal actions."""
        return cls("random", "random", rating, action_space=action_space, seed=seed)

    @classmethod
    def scripted(cls, env_name, param, rating, seed=0):
        """The game's scripted player (`pufferlib.envs.scripted.GAME`), with an optional parameter.

        Raises:
            ValueError: the game has no scripted player, or its player takes no parameter.
        """
        act = scripted.policy(env_name)
        name = "scripted"
        if param is not None:
            module = __import__(act.__module__, fromlist=["opponent"])
            if not hasattr(module, "opponent"):
                raise ValueError(f"{env_name}'s scripted player takes no parameter, got 'scripted:{param}'; "
                                 "use 'scripted'")
            act, name = module.opponent(param), f"scripted:{param}"
        return cls(name, "scripted", rating, act=act, seed=seed)

    @classmethod
    def checkpoint(cls, path, env_name, env_spec, rating, device, train_config, seed=0):
        """A trained policy from a checkpoint file or run directory, checked against the env's spaces.

        Raises:
            CheckpointError: missing, unreadable, or trained on other spaces.
        """
        policy, data = ckpt.load_policy(path)
        ckpt.check_env_spec(data, env_name, env_spec)
        return cls(f"checkpoint:{path}", "checkpoint", rating, policy=policy.to(device), device=device,
                   train_config=train_config, seed=seed)

    @classmethod
    def named(cls, kind, argument, env_name, env_spec, rating, device, train_config, seed=0):
        """The fixed opponent a `parse_opponents` entry names: random, scripted or a checkpoint."""
        if kind == "random":
            return cls.random(env_spec.single_action_space, rating, seed)
        if kind == "scripted":
            return cls.scripted(env_name, argument, rating, seed)
        return cls.checkpoint(argument, env_name, env_spec, rating, device, train_config, seed)

    # -- acting --------------------------------------------------------------------------------

    def initial_state(self, rows):
        """Zero LSTM states for `rows` rows (None for a member without one)."""
        if not self.recurrent:
            return None
        return self.policy.initial_state(rows, self._device)

    def act(self, observations, action_masks, state=None, starts=None):
        """Actions for a batch of rows: (numpy actions as the env takes them, the new state or None).

        Args:
            observations: [rows, ...] the rows' observations.
            action_masks: [rows, choices] legal choices, or None.
            state: a recurrent member's (h, c) for these rows.
            starts: [rows] bool, True where a row's game starts (its state is zeroed first).
        """
        if self._actor is not None:
            actions, _, _, _, state = self._actor.act(observations, state, starts, self._generator,
                                                      self.deterministic, action_masks=action_masks)
            if isinstance(actions, torch.Tensor):
                actions = actions.cpu().numpy()
            return actions, state
        if self._act is not None:
            return self._act(observations, action_masks, self._rng), None
        return scripted.random_rows(self._space, len(observations), action_masks, self._rng), None

    def forward_into(self, observations, params, values):
        """A batchable member's action parameters and values of `observations`, into the buffers."""
        self._actor.forward_into(observations, params, values)

    @property
    def actor(self):
        """The `Learner` a policy member acts through (None for scripted and random members)."""
        return self._actor

    # -- results -------------------------------------------------------------------------------

    @property
    def games(self):
        """Games the learner played against it."""
        return self.wins + self.draws + self.losses

    def record(self, score):
        """Counts one game's result, `score` being the learner's (1 win, 0.5 draw, 0 loss)."""
        if score > 0.5:
            self.wins += 1
        elif score < 0.5:
            self.losses += 1
        else:
            self.draws += 1

    def state_dict(self):
        """The member as plain data (a checkpoint holds it): its weights for a snapshot."""
        state = {"name": self.name, "kind": self.kind, "rating": self.rating, "iteration": self.iteration,
                 "wins": self.wins, "draws": self.draws, "losses": self.losses}
        if self.kind == "snapshot":
            state["policy"] = {k: v.detach().cpu().clone() for k, v in self.policy.state_dict().items()}
        return state

    def load_results(self, state):
        """Takes the rating and the record of a saved member."""
        self.rating = float(state["rating"])
        self.wins, self.draws, self.losses = int(state["wins"]), int(state["draws"]), int(state["losses"])


def parse_opponents(text, env_name, where="selfplay.opponents"):
    """The fixed opponents of `selfplay.opponents`: [(kind, argument)] in the order given.

    Args:
        text: comma-separated 'random', 'scripted', 'scripted:PARAM', or checkpoint paths.
        env_name: the environment (for the message).
        where: what the text is, for the message.

    Returns:
        list of ('random', None), ('scripted', PARAM or None) and ('checkpoint', path).

    Raises:
        ValueError: a checkpoint path that does not exist, or the same opponent twice.

    >>> parse_opponents("random, scripted:2", "connect4")
    [('random', None), ('scripted', '2')]
    """
    found = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item == "random":
            entry = ("random", None)
        elif item == "scripted" or item.startswith("scripted:"):
            entry = ("scripted", item.partition(":")[2] or None)
        else:
            if not Path(item).exists():
                raise ValueError(f"{where}: {item!r} is neither 'random', 'scripted[:PARAM]' nor "
                                 f"an existing checkpoint file or run directory of {env_name}")
            entry = ("checkpoint", item)
        if entry in found:
            raise ValueError(f"{where} names {item!r} twice; name each opponent once")
        found.append(entry)
    return found


