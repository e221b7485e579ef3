"""Gymnasium and PettingZoo environments as flat-buffer PufferEnvs, and the way back for the policy.

A `Layout` is computed once per observation space: every leaf (Box, Discrete, MultiDiscrete,
MultiBinary inside any nesting of Dict and Tuple) gets an offset in one flat row. Rows hold the
leaves' own dtype when they all share one, else raw bytes (uint8) with each leaf aligned to its
itemsize. Each step, a Cython routine copies the leaves the environment returned into the row;
`nativize(rows, layout)` gives the policy the nested structure back as zero-copy views.

>>> import gymnasium
>>> from pufferlib.emulation import GymnasiumPufferEnv, nativize
>>> env = GymnasiumPufferEnv(env_creator=gymnasium.make, env_args=("CartPole-v1",))
>>> obs, infos = env.reset(seed=0)
>>> obs.shape, obs.dtype.name
((1, 4), 'float32')
>>> obs, rewards, terminals, truncations, infos = env.step(env.action_space.sample())
>>> env.close()
"""
import numbers
import sys
from typing import NamedTuple

import gymnasium
import numpy as np

from pufferlib import spaces
from pufferlib._native.emulation import Flattener, StepWriter
from pufferlib._native.protocol import ActionCheck
from pufferlib.environment import EpisodeStats, PufferEnv
from pufferlib.errors import APIUsageError

__all__ = ["ActionLayout", "EnvSpec", "GymnasiumPufferEnv", "Layout", "Leaf", "PettingZooPufferEnv",
           "action_mask_view", "make_layout", "nativize"]

CHECK_MODES = ("first", "always", "never")


class Leaf:
    """One leaf of a layout: where it sits in the nesting and in the flat row.

    Attributes:
        path: the keys and indices leading to it (`('inventory', 1)`).
        name: its name for messages (`observation_space['inventory'][1]`).
        space: the leaf space.
        shape, dtype: of one value.
        offset, size: its elements in a row, in units of the row's dtype.
        byte_offset, nbytes: the same in bytes.
    """

    __slots__ = ("path", "name", "space", "shape", "dtype", "offset", "size", "byte_offset", "nbytes")

    def __init__(self, path, name, space, shape, dtype, offset, size, byte_offset, nbytes):
        self.path, self.name, self.space, self.shape, self.dtype = path, name, space, shape, dtype
        self.offset, self.size, self.byte_offset, self.nbytes = offset, size, byte_offset, nbytes

    def __repr__(self):
        return (f"Leaf({self.name}, {self.dtype.name}{list(self.shape)}, "
                f"row[{self.offset}:{self.offset + self.size}])")


def _tree(space, counter):
    """The nesting of a space with leaves replaced by their index: ('dict', keys, children), ..."""
    if isinstance(space, spaces.Dict):
        keys = tuple(space.spaces)
        return ("dict", keys, tuple(_tree(space.spaces[k], counter) for k in keys))
    if isinstance(space, spaces.Tuple):
        return ("tuple", None, tuple(_tree(s, counter) for s in space.spaces))
    counter[0] += 1
    return ("leaf", counter[0] - 1, None)


def _build(tree, values):
    kind, keys, children = tree
    if kind == "leaf":
        return values[keys]
    if kind == "dict":
        return {key: _build(child, values) for key, child in zip(keys, children)}
    return tuple(_build(child, values) for child in children)


class Layout:
    """How one nested observation space is laid out in a flat row.

    Args:
        space: a gymnasium space: Box, Discrete, MultiDiscrete, MultiBinary, or Dict/Tuple of them,
            nested to any depth.
        root: the space's name in messages.

    Attributes:
        space: the original space.
        leaves: tuple of `Leaf`, depth first in Dict key / Tuple order.
        row_dtype: the leaves' common dtype, or uint8 when they differ (rows of raw bytes).
        packed: whether rows are raw bytes holding leaves of other dtypes.
        row_size: elements per row (bytes when packed; padded so each leaf stays aligned).
        flat_space: a gymnasium Box of shape (row_size,) and dtype row_dtype, with the leaves'
            bounds (0..255 when packed).

    Raises:
        UnsupportedSpaceError: a space that cannot be flattened, named by its path.
    """

    def __init__(self, space, root="observation_space"):
        found = list(spaces.leaves(space, root))
        dtypes = {spaces.leaf_dtype(leaf) for _, leaf in found}
        self.space = space
        self.root = root
        self.packed = len(dtypes) > 1
        self.row_dtype = np.dtype(np.uint8) if self.packed else dtypes.pop()
        leaves, position, align = [], 0, 1
        for path, leaf in found:
            dtype, shape = spaces.leaf_dtype(leaf), spaces.leaf_shape(leaf)
            count = int(np.prod(shape, dtype=np.int64))
            if self.packed:
                align = max(align, dtype.itemsize)
                position = -(-position // dtype.itemsize) * dtype.itemsize
                size = count * dtype.itemsize
                byte_offset = position
            else:
                size = count
                byte_offset = position * dtype.itemsize
            leaves.append(Leaf(path, spaces.path_name(path, root), leaf, shape, dtype, position, size,
                               byte_offset, count * dtype.itemsize))
            position += size
        self.row_size = -(-position // align) * align
        self.leaves = tuple(leaves)
        self.tree = _tree(space, [0])
        self.flat_space = self._flat_space()

    def _flat_space(self):
        if self.packed:
            return gymnasium.spaces.Box(0, 255, (self.row_size,), np.uint8)
        bounds = [spaces.leaf_bounds(leaf.space) for leaf in self.leaves]
        low = np.concatenate([b[0] for b in bounds]).astype(self.row_dtype)
        high = np.concatenate([b[1] for b in bounds]).astype(self.row_dtype)
        return gymnasium.spaces.Box(low, high, (self.row_size,), self.row_dtype)

    @property
    def row_bytes(self):
        """Bytes per row."""
        return self.row_size * self.row_dtype.itemsize

    def signature(self):
        """What must agree for two layouts to be interchangeable (bounds aside)."""
        return (self.row_dtype, self.row_size, self.tree,
                tuple((leaf.shape, leaf.dtype, leaf.offset) for leaf in self.leaves))

    def describe(self):
        """A one-line account of the leaves, for messages."""
        return ", ".join(f"{leaf.name[len(self.root):] or '(root)'}: {leaf.dtype.name}{list(leaf.shape)}"
                         for leaf in self.leaves)

    def __repr__(self):
        return f"Layout({self.root}, {self.row_dtype.name}[{self.row_size}]: {self.describe()})"


def make_layout(space, root="observation_space"):
    """Returns the `Layout` of an observation space (see `Layout`).

    Example:
        >>> import gymnasium
        >>> space = gymnasium.spaces.Dict(pos=gymnasium.spaces.Box(-1, 1, (3,)),
        ...                               kind=gymnasium.spaces.Discrete(4))
        >>> layout = make_layout(space)
        >>> layout.row_dtype.name, layout.row_size
        ('uint8', 24)
    """
    return Layout(space, root)


def _dtype_text(dtype, shape):
    return f"{np.dtype(dtype).name} of shape {tuple(shape)}"


def _convert_leaf(leaf, value):
    """An ndarray of the leaf's dtype and shape holding `value`, or an error naming the leaf.

    Arrays must be of the leaf's dtype or safely castable to it; Python and numpy scalars and
    lists may be of any type whose values survive the cast unchanged. Nothing is ever cast lossily.
    """
    is_array = isinstance(value, np.ndarray)
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{leaf.name} must be {_dtype_text(leaf.dtype, leaf.shape)}, got "
                        f"{type(value).__name__}: {error}") from None
    if array.shape != leaf.shape:
        raise ValueError(f"{leaf.name} must be {_dtype_text(leaf.dtype, leaf.shape)}, "
                         f"got {_dtype_text(array.dtype, array.shape)}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{leaf.name} must be {_dtype_text(leaf.dtype, leaf.shape)}, "
                        f"got {array.dtype} of shape {array.shape}")
    if array.dtype == leaf.dtype or np.can_cast(array.dtype, leaf.dtype, "safe"):
        return np.require(array, leaf.dtype, "C")
    if not is_array:
        with np.errstate(all="ignore"):
            cast = array.astype(leaf.dtype)
            if np.array_equal(cast.astype(array.dtype), array, equal_nan=array.dtype.kind == "f"):
                return np.require(cast, requirements="C")
    raise TypeError(f"{leaf.name} must be {_dtype_text(leaf.dtype, leaf.shape)}, "
                    f"got {_dtype_text(array.dtype, array.shape)}; converting would lose data: return "
                    f"{leaf.dtype.name} values from the environment or declare the space {array.dtype.name}")


def _flattener(layout):
    leaves = layout.leaves
    return Flattener([leaf.path for leaf in leaves], [leaf.name for leaf in leaves],
                     [leaf.shape for leaf in leaves], [leaf.dtype for leaf in leaves],
                     [leaf.byte_offset for leaf in leaves], layout.row_bytes,
                     lambda i, value: _convert_leaf(leaves[i], value))


def _check_bounds(layout, row, who=""):
    """Raises ValueError naming the first leaf of a flat row holding NaN or values outside its space."""
    values = nativize(row, layout, _flat=True)
    for leaf, value in zip(layout.leaves, values):
        low, high = spaces.leaf_bounds(leaf.space)
        flat = value.reshape(-1)
        outside = ~((flat >= low) & (flat <= high))  # NaN compares False: it is outside too
        if outside.any():
            k = int(np.flatnonzero(outside)[0])
            index = tuple(int(j) for j in np.unravel_index(k, leaf.shape))
            where = f" at index {index}" if leaf.shape else ""
            problem = "not a number" if np.isnan(flat[k]) else f"outside its space {leaf.space}"
            raise ValueError(f"{who}{leaf.name} holds {flat[k]}{where}, {problem}")


def nativize(rows, layout, _flat=False):
    """Rebuilds the nested observations of flat rows: dicts, tuples and arrays of the original dtypes.

    Args:
        rows: numpy array or torch tensor of shape [..., layout.row_size] and dtype layout.row_dtype.
        layout: the `Layout` the rows were written with.

    Returns:
        The structure of `layout.space` with a leaf of shape [..., *leaf shape] in its own dtype;
        each is a view of `rows` (no copy), so it also works inside `torch.compile`.

    Raises:
        ValueError: rows of the wrong dtype or row size.

    Example:
        >>> import gymnasium, numpy as np
        >>> space = gymnasium.spaces.Tuple((gymnasium.spaces.Discrete(3),
        ...                                 gymnasium.spaces.Box(0, 1, (2,), np.float64)))
        >>> layout = make_layout(space)
        >>> index, box = nativize(np.zeros((5, layout.row_size), layout.row_dtype), layout)
        >>> index.shape, index.dtype.name, box.shape, box.dtype.name
        ((5,), 'int64', (5, 2), 'float64')
    """
    torch = sys.modules.get("torch")
    is_torch = torch is not None and isinstance(rows, torch.Tensor)
    row_dtype = getattr(torch, layout.row_dtype.name) if is_torch else layout.row_dtype
    if rows.dtype != row_dtype or rows.ndim < 1 or rows.shape[-1] != layout.row_size:
        raise ValueError(f"rows must be {layout.row_dtype.name} of shape [..., {layout.row_size}], "
                         f"got {rows.dtype} of shape {tuple(rows.shape)}")
    batch = tuple(rows.shape[:-1])
    values = []
    for leaf in layout.leaves:
        value = rows[..., leaf.offset:leaf.offset + leaf.size]
        if layout.packed and leaf.dtype != layout.row_dtype:
            value = value.view(getattr(torch, leaf.dtype.name) if is_torch else leaf.dtype)
        values.append(value.reshape(batch + leaf.shape))
    if _flat:
        return values
    return _build(layout.tree, values)


class ActionLayout:
    """How one nested action space maps to flat action rows, and back.

    Every discrete leaf (Discrete, MultiDiscrete, MultiBinary) becomes one index per element. When
    all leaves are discrete, rows are int32 indices: `flat_space` is Discrete(n) for a Discrete
    action space, else MultiDiscrete; otherwise rows are float32 (`flat_space` a Box) and discrete
    entries hold their index as a float.

    Args:
        space: a gymnasium action space (any nesting of the leaf spaces in Dict and Tuple).
        root: its name in messages.

    Raises:
        UnsupportedSpaceError: a space that cannot be flattened, named by its path.
    """

    def __init__(self, space, root="action_space"):
        found = list(spaces.leaves(space, root))
        self.space = space
        self.root = root
        self.discrete = all(spaces.is_discrete(leaf) for _, leaf in found)
        leaves, position, sizes, lows, highs = [], 0, [], [], []
        for path, leaf in found:
            shape, dtype = spaces.leaf_shape(leaf), spaces.leaf_dtype(leaf)
            count = int(np.prod(shape, dtype=np.int64))
            leaves.append(Leaf(path, spaces.path_name(path, root), leaf, shape, dtype, position, count,
                               position * 4, count * 4))
            position += count
            if spaces.is_discrete(leaf):
                n = spaces.discrete_sizes(leaf)
                sizes.append(n)
                lows.append(np.zeros(count, np.float32))
                highs.append((n - 1).astype(np.float32))
            else:
                sizes.append(np.zeros(count, np.int64))
                lows.append(np.asarray(leaf.low, np.float32).reshape(-1))
                highs.append(np.asarray(leaf.high, np.float32).reshape(-1))
        self.leaves = tuple(leaves)
        self.row_size = position
        self.nvec = np.concatenate(sizes)
        self.discrete_mask = self.nvec > 0
        self.tree = _tree(space, [0])
        if self.discrete and isinstance(space, spaces.Discrete):
            self.flat_space = gymnasium.spaces.Discrete(int(space.n))
        elif self.discrete:
            self.flat_space = gymnasium.spaces.MultiDiscrete(self.nvec.astype(np.int32), dtype=np.int32)
        else:
            self.flat_space = gymnasium.spaces.Box(np.concatenate(lows), np.concatenate(highs),
                                                   (position,), np.float32)
        self.row_dtype = np.dtype(np.int32 if self.discrete else np.float32)
        self._starts = [spaces.discrete_start(leaf.space) if spaces.is_discrete(leaf.space) else None
                        for leaf in leaves]
        self._single_discrete = leaves[0].dtype.type if isinstance(space, spaces.Discrete) else None
        self._single_start = int(np.ravel(self._starts[0])[0]) if self._single_discrete else 0

    def signature(self):
        """What must agree for two action layouts to be interchangeable (bounds aside)."""
        return (self.discrete, self.row_size, self.tree, tuple(self.nvec.tolist()),
                type(self.flat_space).__name__)

    def unflatten(self, row):
        """The env's native action for one flat (validated) action row.

        Example:
            >>> import gymnasium, numpy as np
            >>> layout = ActionLayout(gymnasium.spaces.Dict(
            ...     move=gymnasium.spaces.Box(-1, 1, (2,)), fire=gymnasium.spaces.Discrete(2)))
            >>> action = layout.unflatten(np.array([0.5, -0.5, 1], np.float32))
            >>> int(action["fire"]), action["move"].tolist()
            (1, [0.5, -0.5])
        """
        if self._single_discrete is not None:  # the common case, without the general walk
            return self._single_discrete(np.asarray(row).item(0) + self._single_start)
        row = np.asarray(row).reshape(-1)
        values = []
        for leaf, start in zip(self.leaves, self._starts):
            part = row[leaf.offset:leaf.offset + leaf.size]
            if start is None:
                values.append(part.astype(leaf.dtype).reshape(leaf.shape))
                continue
            index = np.rint(part).astype(np.int64) if part.dtype.kind == "f" else part.astype(np.int64)
            value = (index + start).astype(leaf.dtype)
            values.append(value[0] if isinstance(leaf.space, spaces.Discrete) else value.reshape(leaf.shape))
        return _build(self.tree, values)

    def flatten(self, action):
        """The flat row (in `row_dtype`) of one native action: the inverse of `unflatten`."""
        row = np.zeros(self.row_size, self.row_dtype)
        for leaf, start in zip(self.leaves, self._starts):
            value = action
            for key in leaf.path:
                value = value[key]
            value = np.asarray(value).reshape(-1)
            row[leaf.offset:leaf.offset + leaf.size] = value if start is None else value - start
        return row


class EnvSpec(NamedTuple):
    """What the learner needs to know of an environment: its spaces and their layouts.

    A vector env takes it from its first env (`EnvSpec.of`), requires it of every other
    (`check`), and carries it as `env_spec` (its `observation_layout` and `action_layout` are
    this spec's); a checkpoint stores it as plain data (`to_plain`, `from_plain`), so a policy is
    rebuilt without the environment.

    Attributes:
        single_observation_space, single_action_space: the flat spaces of one agent (its row).
        agents_per_env: rows per environment.
        observation_layout: the `Layout` of the original (possibly nested) observation space.
        action_layout: the `ActionLayout` of the original action space.
    """

    single_observation_space: gymnasium.Space
    single_action_space: gymnasium.Space
    agents_per_env: int
    observation_layout: "Layout"
    action_layout: "ActionLayout"

    @classmethod
    def of(cls, env):
        """The spec of a PufferEnv: an emulated env's layouts, else those of its flat spaces."""
        obs_layout = getattr(env, "observation_layout", None)
        act_layout = getattr(env, "action_layout", None)
        return cls(env.single_observation_space, env.single_action_space, int(env.num_agents),
                   Layout(env.single_observation_space) if obs_layout is None else obs_layout,
                   ActionLayout(env.single_action_space) if act_layout is None else act_layout)

    @property
    def action_nvec(self):
        """The category counts (0 = continuous) of mixed actions, or None when every entry is discrete."""
        return None if self.action_layout.discrete else self.action_layout.nvec

    def differences(self, other, mine="expected", theirs="got"):
        """What differs between the spaces of two specs (bounds aside), as text; [] when they agree.

        The original spaces' layouts are compared first (they name the leaves), then the flat spaces
        a policy reads.
        """
        diffs = [f"{kind} space: {mine} {a.space}, {theirs} {b.space}"
                 for kind, a, b in self._unlike_layouts(other)]
        return diffs or [f"flat {kind} space: {mine} {a}, {theirs} {b}"
                         for kind, a, b in (("observation", self.single_observation_space,
                                             other.single_observation_space),
                                            ("action", self.single_action_space, other.single_action_space))
                         if _flat_signature(a) != _flat_signature(b)]

    def check(self, env, index):
        """Raises ValueError unless PufferEnv `env` has this spec's rows and spaces.

        `index` is the env's index in the vector env.

        Bounds may differ, as they may between the agents of a PettingZoo env.
        """
        if int(env.num_agents) != self.agents_per_env:
            raise ValueError(f"env {index} has num_agents={env.num_agents}; the first env had "
                             f"{self.agents_per_env}, and every env of a vector env must have the same")
        unlike = self._unlike_layouts(EnvSpec.of(env))
        if unlike:
            kind, mine, theirs = unlike[0]
            raise ValueError(f"env {index} has the {kind} space {theirs.space}; the first env had "
                             f"{mine.space}, and every env of a vector env must have spaces of the same "
                             "structure, shapes and dtypes (bounds may differ): make every env alike")

    def _unlike_layouts(self, other):
        """[(kind, this spec's layout, other's)] for the observation and action layouts that differ."""
        pairs = (("observation", self.observation_layout, other.observation_layout),
                 ("action", self.action_layout, other.action_layout))
        return [(kind, a, b) for kind, a, b in pairs if a.signature() != b.signature()]

    def to_plain(self):
        """The spec as plain data (what a checkpoint stores).

        The original and flat spaces (`pufferlib.spaces.to_plain`), rows per env, and the layouts'
        signatures.
        """
        return {"observation_space": spaces.to_plain(self.observation_layout.space, "observation_space"),
                "action_space": spaces.to_plain(self.action_layout.space, "action_space"),
                "single_observation_space": spaces.to_plain(self.single_observation_space,
                                                            "single_observation_space"),
                "single_action_space": spaces.to_plain(self.single_action_space, "single_action_space"),
                "agents_per_env": self.agents_per_env,
                "observation_layout": _plain_signature(self.observation_layout.signature()),
                "action_layout": _plain_signature(self.action_layout.signature())}

    @classmethod
    def from_plain(cls, data, where="spec"):
        """The spec `to_plain` gave.

        Spaces rebuilt, layouts rebuilt and checked against the stored signatures.

        Raises:
            ValueError: a stored space that is not one, or layouts that differ from those stored
                (damaged data); the message names the field under `where`.
        """
        built = {name: spaces.from_plain(data[name], f"{where}.{name}")
                 for name in ("observation_space", "action_space", "single_observation_space",
                              "single_action_space")}
        try:
            layouts = (Layout(built["observation_space"]), ActionLayout(built["action_space"]))
        except (ValueError, TypeError) as error:  # UnsupportedSpaceError is a ValueError
            raise ValueError(f"its spaces do not flatten ({error})") from None
        for name, layout in zip(("observation_layout", "action_layout"), layouts):
            if _plain_signature(layout.signature()) != data[name]:
                raise ValueError(f"{where}.{name} does not match the layout of its "
                                 f"{name.split('_')[0]} space {layout.space}")
        return cls(built["single_observation_space"], built["single_action_space"],
                   int(data["agents_per_env"]), *layouts)


def _plain_signature(value):
    """A layout signature as lists, strings and numbers (its dtypes by name), as it reads back."""
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, (list, tuple)):
        return [_plain_signature(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _flat_signature(space):
    """What must agree between two flat spaces for a policy to run on both (Box bounds aside)."""
    if isinstance(space, spaces.Box):
        return type(space).__name__, tuple(space.shape), np.dtype(space.dtype)
    return str(space)


def _numeric(info, prefix=""):
    """The real-number values of an info dict (nested dicts as 'outer/inner'); others are dropped."""
    out = {}
    for key, value in info.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_numeric(value, name + "/"))
        elif isinstance(value, (bool, np.bool_)):
            continue
        elif isinstance(value, (numbers.Real, np.integer, np.floating)):
            out[name] = value
        elif isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf":
            out[name] = value.item()
    return out


def action_mask_view(observations, layout):
    """The `action_mask` entry of Dict observation rows, as a [rows, n] view, or None without one.

    PettingZoo's (and many Gymnasium envs') convention: a Dict observation whose "action_mask"
    holds 1 for each legal choice of a Discrete (or MultiDiscrete, concatenated) action. The entry
    stays in the observation rows (the policy sees it); the view is what the vector env exposes as
    `action_masks`, so that policies give illegal choices zero probability.

    Args:
        observations: [rows, ...] flat observation buffer.
        layout: the `Layout` of the original observation space.
    """
    space = layout.space
    if not (isinstance(space, spaces.Dict) and "action_mask" in space.spaces):
        return None
    return nativize(observations, layout)["action_mask"].reshape(observations.shape[0], -1)


def _make_env(env, env_creator, env_args, env_kwargs):
    if (env is None) == (env_creator is None):
        raise TypeError("pass exactly one of env (an environment) or env_creator (a callable returning one)")
    if env is not None:
        return env
    if not callable(env_creator):
        raise TypeError(f"env_creator must be callable, got {type(env_creator).__name__}")
    return env_creator(*env_args, **(env_kwargs or {}))


class _Emulated(PufferEnv):
    """What Gymnasium and PettingZoo emulation share: actions in, observations out, checks, state."""

    def _setup(self, obs_layouts, act_layouts, names, buf, seed, check_observations, check_actions):
        if check_observations not in CHECK_MODES:
            raise ValueError(f"check_observations must be one of {CHECK_MODES}, got {check_observations!r}")
        self.check_observations = check_observations
        self._checked = check_observations == "never"
        self._seed = seed
        self._state = "new"
        self.observation_layouts = obs_layouts
        self.action_layouts = act_layouts
        self.observation_layout = obs_layouts[0]
        self.action_layout = act_layouts[0]
        for kind, layouts in (("observation", obs_layouts), ("action", act_layouts)):
            for name, layout in zip(names[1:], layouts[1:]):
                if layout.signature() != layouts[0].signature():
                    raise ValueError(
                        f"every agent's {kind} space must flatten to the same layout, but {names[0]!r} "
                        f"has {layouts[0].space} and {name!r} has {layout.space}; give the agents "
                        f"spaces of the same structure, shapes and dtypes (bounds may differ)")
        self.single_observation_space = _union(self.observation_layout.flat_space,
                                               [layout.flat_space for layout in obs_layouts])
        self.single_action_space = _union(self.action_layout.flat_space,
                                          [layout.flat_space for layout in act_layouts])
        self._init_buffers(buf)
        self._flattener = _flattener(self.observation_layout)
        self.stats = EpisodeStats()  # of the episodes finished in the current step
        # the vector env's own check, when stepped directly; a vector env has checked them already
        self._action_check = ActionCheck(self.actions, self.action_layout.nvec, self.action_layout.discrete) \
            if check_actions else None
        self.action_masks = action_mask_view(self.observations, self.observation_layout)

    def _write(self, observation, out, row):
        self._flattener.flatten(observation, out, row)
        if not self._checked:
            who = "" if self.num_agents == 1 else f"agent {self._agent_names[row]!r}: "
            _check_bounds(self.observation_layouts[row], out[row], who)

    def _require(self):
        if self._state == "closed":
            raise APIUsageError("this environment is closed")
        if self._state == "new":
            raise APIUsageError("call reset() before step()")

    def _reset_seed(self, seed):
        if seed is None and self._state == "new":
            seed = self._seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        if self._state == "closed":
            raise APIUsageError("this environment is closed")
        return None if seed is None else int(seed)

    def _load_actions(self, actions, rows=None):
        """Checks actions like a vector env, then copies them in.

        The checks are a vector env's (dtype kind, shape, range: `ActionCheck`), on `rows` only
        when given; without checks, only copies them in.
        """
        if self._action_check is not None:
            self._action_check.load(actions, rows)
        elif actions is not self.actions:
            np.copyto(self.actions, actions, casting="unsafe")

    def render(self):
        """Renders the wrapped environment and returns what it returns."""
        return self.env.render()

    def close(self):
        """Closes the wrapped environment (again: nothing)."""
        if self._state != "closed":
            self._state = "closed"
            self.env.close()


def _union(first, flat_spaces):
    """A flat Box whose bounds cover every agent's (other flat spaces are equal by signature)."""
    if not isinstance(first, gymnasium.spaces.Box) or len(flat_spaces) == 1:
        return first
    low = np.minimum.reduce([s.low for s in flat_spaces])
    high = np.maximum.reduce([s.high for s in flat_spaces])
    return gymnasium.spaces.Box(low, high, first.shape, first.dtype)


class GymnasiumPufferEnv(_Emulated):
    """A Gymnasium environment as a one-row PufferEnv with flat, preallocated buffers.

    Observations are flattened into `observations[0]` (see `Layout`; `nativize` rebuilds them);
    actions arrive as one flat row (see `ActionLayout`) and reach the env in its native structure.
    Autoreset is same-step: when the env terminates or truncates, its last observation goes to
    `final_observations`, the episode's return, length and the numeric values of its last info
    dict go to the episode log, and the env is reset at once (without a seed, so its random stream
    continues); `observations` then holds the new episode's first observation.

    Args:
        env: a gymnasium.Env; or None, with env_creator.
        env_creator: called as env_creator(*env_args, **env_kwargs) to make the env.
        env_args, env_kwargs: its arguments.
        buf: None to allocate buffers, or {name: array} views to adopt (see Buffers.spec).
        seed: seed of the first reset() when that is called without one.
        check_observations: observations must always have the declared shapes and dtypes (lossless
            conversions aside); "first" (the default) also checks that they are inside their space
            (not NaN, within bounds) on the first reset and step, "always" on every step, "never"
            not at all. Unless "never", every reward must be finite (a NaN or an infinity raises
            ValueError). The trainer checks its whole rollout for NaN and infinity in any case;
            "always" finds the very step that made one, at a cost per step.
        check_actions: check the actions given to step() (dtype kind, shape, range), as a vector
            env does at its boundary; a vector env that drives this env passes False, having
            checked them already.

    Raises:
        UnsupportedSpaceError: the env has a space pufferlib cannot flatten (named by its path).
        TypeError, ValueError: bad arguments.

    Example:
        >>> import gymnasium, numpy as np
        >>> env = GymnasiumPufferEnv(gymnasium.make("CartPole-v1"), seed=1)
        >>> obs, infos = env.reset()
        >>> obs, rewards, terminals, truncations, infos = env.step(np.zeros(1, np.int32))
        >>> rewards
        array([1.], dtype=float32)
    """

    def __init__(self, env=None, env_creator=None, env_args=(), env_kwargs=None, buf=None, seed=None,
                 check_observations="first", check_actions=True):
        self.env = _make_env(env, env_creator, env_args, env_kwargs)
        self.num_agents = 1
        self._agent_names = (None,)
        self._setup([Layout(self.env.observation_space, "observation_space")],
                    [ActionLayout(self.env.action_space, "action_space")], [None], buf, seed,
                    check_observations, check_actions)
        layout = self.action_layout
        discrete = isinstance(self.single_action_space, gymnasium.spaces.Discrete)
        self._rows = StepWriter(self._flattener, self.observations, self.rewards, self.terminals,
                                self.truncations, self.actions,
                                int(self.single_action_space.n) if discrete else 0,
                                lambda index: layout._single_discrete(index + layout._single_start),
                                check_rewards=check_observations != "never")

    def reset(self, seed=None):
        """Resets the env (seeded when `seed` is given); returns (observations, {})."""
        seed = self._reset_seed(seed)
        observation, _ = self.env.reset(seed=seed)
        self._rows.restart()
        self.rewards[:] = 0
        self.terminals[:] = False
        self.truncations[:] = False
        self._write(observation, self.observations, 0)
        self._state = "ready"
        return self.observations, {}

    def step(self, actions):
        """Steps with one flat action row; returns (observations, rewards, terminals, truncations, infos).

        `infos` holds the means over episodes finished in this step ({} if none): episode_return,
        episode_length, the numeric values of the final info dict, and `episodes`.

        Raises:
            TypeError, ValueError: actions of the wrong dtype kind, shape or range; an observation
                that does not match its space (the message names the leaf).
            APIUsageError: step() before reset() or after close().
        """
        if self._state != "ready":
            self._require()
        rows = self._rows
        action = rows.action(actions)  # a valid one-element Discrete action: the common case, in C
        if action is None:
            self._load_actions(actions)
            action = self.action_layout.unflatten(self.actions[0])
        observation, reward, terminated, truncated, info = self.env.step(action)
        # stores reward and flags and, unless the episode ended, the observation
        if not rows.write(observation, reward, terminated, truncated, self._checked):
            if not self._checked:
                self._write(observation, self.observations, 0)
                self._checked = self.check_observations == "first"
            return self.observations, self.rewards, self.terminals, self.truncations, self.stats.pop()
        self._write(observation, self.final_observations, 0)
        self.stats.add({**_numeric(info), "episode_return": rows.episode_return,
                        "episode_length": rows.episode_length})
        rows.restart()
        observation, _ = self.env.reset()
        self._write(observation, self.observations, 0)
        if not self._checked:
            self._checked = self.check_observations == "first"
        return self.observations, self.rewards, self.terminals, self.truncations, self.stats.pop()


class PettingZooPufferEnv(_Emulated):
    """A PettingZoo ParallelEnv as a PufferEnv with one row per possible agent.

    Row i belongs to `env.possible_agents[i]`. Each step, `masks` marks the rows of agents that
    are present (acting, or reporting a reward or their final observation); absent agents' rows
    hold zeros, reward 0 and False flags. Agents may leave and (re)appear mid-episode; an agent that
    finishes has its episode logged (return, length, numeric info values) and its last observation
    in `final_observations`. When every agent is done or `env.agents` is empty, the env is reset in
    the same step (rows of agents still present then are marked truncated). An `action_mask` entry
    of a Dict observation stays in the row and is also exposed as `action_masks`, a
    [num_agents, n] view of `observations`.

    Args:
        env, env_creator, env_args, env_kwargs, buf, seed, check_observations, check_actions: as
            for `GymnasiumPufferEnv` (actions are checked on the rows of present agents only).

    Raises:
        ValueError: agents whose spaces do not flatten to the same layout.
        UnsupportedSpaceError: a space pufferlib cannot flatten (named by its path).
    """

    def __init__(self, env=None, env_creator=None, env_args=(), env_kwargs=None, buf=None, seed=None,
                 check_observations="first", check_actions=True):
        self.env = _make_env(env, env_creator, env_args, env_kwargs)
        agents = list(self.env.possible_agents)
        if not agents:
            raise ValueError("the environment has no possible_agents")
        self.num_agents = len(agents)
        self._agent_names = tuple(agents)
        self._index = {agent: i for i, agent in enumerate(agents)}
        obs = [Layout(self.env.observation_space(a), f"observation_space({a!r})") for a in agents]
        act = [ActionLayout(self.env.action_space(a), f"action_space({a!r})") for a in agents]
        self._setup(obs, act, agents, buf, seed, check_observations, check_actions)
        self._returns = np.zeros(self.num_agents, np.float64)
        self._lengths = np.zeros(self.num_agents, np.int64)
        self._active = np.zeros(self.num_agents, np.bool_)
        self._steps = 0   # of the current episode, for messages

    def _write_all(self, observations, agents, when):
        """Writes every agent's observation; each of `agents` (the env's live ones) must have one."""
        for agent in agents:
            if agent not in observations:
                raise ValueError(f"agent {agent!r} is in env.agents but {when} returned no observation "
                                 f"for it (it has {sorted(map(str, observations))}); return an observation "
                                 "for every agent in env.agents, or remove the agent from env.agents")
        self.observations[...] = 0
        for agent, observation in observations.items():
            i = self._row(agent)
            self._write(observation, self.observations, i)
            self.masks[i] = True
            self._active[i] = True

    def _row(self, agent):
        try:
            return self._index[agent]
        except KeyError:
            raise ValueError(f"the environment returned agent {agent!r}, which is not one of its "
                             f"possible_agents {list(self._index)}") from None

    def reset(self, seed=None):
        """Resets the env (seeded when `seed` is given); returns (observations, {})."""
        seed = self._reset_seed(seed)
        observations, _ = self.env.reset(seed=seed)
        self._returns[:] = 0
        self._lengths[:] = 0
        self._active[:] = False
        self.rewards[:] = 0
        self.terminals[:] = False
        self.truncations[:] = False
        self.masks[:] = False
        self._steps = 0
        self._write_all(observations, self.env.agents, "reset()")
        self._state = "ready"
        return self.observations, {}

    def _finish(self, i, info):
        self.stats.add({**_numeric(info or {}), "episode_return": float(self._returns[i]),
                      "episode_length": int(self._lengths[i])})
        self._returns[i] = 0
        self._lengths[i] = 0
        self._active[i] = False

    def step(self, actions):
        """Steps every present agent with its row of `actions`; returns the buffers and infos.

        Raises:
            TypeError, ValueError: actions of the wrong dtype kind, shape or range (checked on the
                rows of acting agents), or an observation that does not match its space.
            APIUsageError: step() before reset() or after close().
        """
        self._require()
        live = [self._row(agent) for agent in self.env.agents]
        self._load_actions(actions, live)
        names = self._agent_names
        action = {names[i]: self.action_layouts[i].unflatten(self.actions[i]) for i in live}
        observations, rewards, terminations, truncations, infos = self.env.step(action)
        self.rewards[:] = 0
        self.terminals[:] = False
        self.truncations[:] = False
        self.masks[:] = False
        for i in live:
            self._lengths[i] += 1
        self._steps += 1
        for agent, reward in rewards.items():
            i = self._row(agent)
            self.rewards[i] = reward
            self._returns[i] += float(reward)
            self.masks[i] = True
        if self.check_observations != "never" and not np.isfinite(self.rewards).all():
            agent = names[int(np.flatnonzero(~np.isfinite(self.rewards))[0])]
            raise ValueError(f"agent {agent!r}'s reward must be a finite number, got {rewards[agent]} at "
                             f"step {self._steps} of the episode; fix the environment, or pass "
                             "check_observations='never' to skip this check")
        done = []
        for agent in set(terminations) | set(truncations):
            i = self._row(agent)
            self.terminals[i] = bool(terminations.get(agent, False))
            self.truncations[i] = bool(truncations.get(agent, False))
            if self.terminals[i] or self.truncations[i]:
                self.masks[i] = True
                done.append(agent)
        remaining = [a for a in self.env.agents if a not in done]
        self._write_all(observations, remaining, f"step() (step {self._steps} of the episode)")
        if not remaining:
            for i in np.flatnonzero(self._active & ~(self.terminals | self.truncations)):
                self.truncations[i] = True   # still there when the episode ended
                done.append(names[i])
        for agent in done:
            i = self._row(agent)
            if agent in observations:
                self._write(observations[agent], self.final_observations, i)
            if self._active[i] or self._lengths[i]:
                self._finish(i, infos.get(agent))
        if not remaining:
            observations, _ = self.env.reset()
            self._returns[:] = 0
            self._lengths[:] = 0
            self._active[:] = False
            self._steps = 0
            self._write_all(observations, self.env.agents, "reset()")
        if self.check_observations == "first":
            self._checked = True
        return self.observations, self.rewards, self.terminals, self.truncations, self.stats.pop()
