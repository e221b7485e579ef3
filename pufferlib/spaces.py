"""Helpers over `gymnasium.spaces`: walk nested spaces, name their leaves, reject what cannot flatten.

pufferlib flattens Box, Discrete, MultiDiscrete and MultiBinary leaves inside any nesting of Dict
and Tuple. Every other space (Text, Graph, Sequence, OneOf, ...) raises
`pufferlib.errors.UnsupportedSpaceError` naming where it sits, e.g. `observation_space['inventory'][1]`.

>>> import gymnasium
>>> from pufferlib import spaces
>>> space = gymnasium.spaces.Dict(pos=gymnasium.spaces.Box(-1, 1, (2,)),
...                               items=gymnasium.spaces.Tuple((gymnasium.spaces.Discrete(3),)))
>>> [spaces.path_name(path) for path, _ in spaces.leaves(space)]
["observation_space['pos']", "observation_space['items'][0]"]
"""
import gymnasium
import numpy as np

from pufferlib.errors import UnsupportedSpaceError

__all__ = ["LEAF_SPACES", "is_discrete", "leaf_bounds", "leaf_dtype", "leaf_shape", "leaves",
           "path_name", "discrete_sizes", "discrete_start", "from_plain", "to_plain"]

Box = gymnasium.spaces.Box
Discrete = gymnasium.spaces.Discrete
MultiDiscrete = gymnasium.spaces.MultiDiscrete
MultiBinary = gymnasium.spaces.MultiBinary
Dict = gymnasium.spaces.Dict
Tuple = gymnasium.spaces.Tuple

LEAF_SPACES = (Box, Discrete, MultiDiscrete, MultiBinary)
"""The leaf spaces pufferlib flattens (inside any nesting of Dict and Tuple)."""


def path_name(path, root="observation_space"):
    """Names a leaf for messages: `path_name(('inventory', 1))` is `observation_space['inventory'][1]`."""
    return root + "".join(f"[{key!r}]" for key in path)


def leaves(space, root="observation_space", path=()):
    """Yields (path, leaf space) for every leaf, depth first, in the order of Dict keys and Tuple items.

    Args:
        space: a gymnasium space.
        root: the name of the space, for error messages.
        path: the keys leading to `space` (used by the recursion).

    Raises:
        UnsupportedSpaceError: a space that is none of Box, Discrete, MultiDiscrete, MultiBinary,
            Dict, Tuple, or an empty Dict/Tuple, or a leaf with no elements; the message names its path.
    """
    if isinstance(space, Dict):
        if not space.spaces:
            raise UnsupportedSpaceError(
                f"{path_name(path, root)} is an empty Dict; give it at least one space")
        for key, sub in space.spaces.items():
            yield from leaves(sub, root, path + (key,))
    elif isinstance(space, Tuple):
        if not space.spaces:
            raise UnsupportedSpaceError(
                f"{path_name(path, root)} is an empty Tuple; give it at least one space")
        for index, sub in enumerate(space.spaces):
            yield from leaves(sub, root, path + (index,))
    elif isinstance(space, LEAF_SPACES):
        if int(np.prod(leaf_shape(space))) == 0:
            raise UnsupportedSpaceError(f"{path_name(path, root)} is {space}, which has no elements")
        yield path, space
    else:
        raise UnsupportedSpaceError(
            f"{path_name(path, root)} is {space!r}, which pufferlib cannot flatten; supported spaces are "
            "Box, Discrete, MultiDiscrete and MultiBinary inside any nesting of Dict and Tuple")


def leaf_shape(space):
    """The shape of one value of a leaf space: () for Discrete."""
    return () if isinstance(space, Discrete) else tuple(space.shape)


def leaf_dtype(space):
    """The numpy dtype of a leaf space's values."""
    return np.dtype(space.dtype)


def is_discrete(space):
    """Whether a leaf space holds indices (Discrete, MultiDiscrete, MultiBinary) rather than a Box."""
    return isinstance(space, (Discrete, MultiDiscrete, MultiBinary))


def discrete_sizes(space):
    """The number of choices of each element of a discrete leaf, flattened (MultiBinary: 2 each)."""
    if isinstance(space, Discrete):
        return np.asarray([space.n], np.int64)
    if isinstance(space, MultiDiscrete):
        return np.asarray(space.nvec, np.int64).reshape(-1)
    if isinstance(space, MultiBinary):
        return np.full(int(np.prod(space.shape)), 2, np.int64)
    raise TypeError(f"{space} is not a discrete space")


def discrete_start(space):
    """The value of index 0 of each element of a discrete leaf, flattened."""
    if isinstance(space, Discrete):
        return np.asarray([space.start], np.int64)
    if isinstance(space, MultiDiscrete):
        return np.asarray(space.start, np.int64).reshape(-1)
    return np.zeros(int(np.prod(space.shape)), np.int64)


def leaf_bounds(space):
    """(low, high) of a leaf's values, flattened, in the leaf's dtype (Box bounds may be infinite)."""
    dtype = leaf_dtype(space)
    if isinstance(space, Box):
        return np.asarray(space.low, dtype).reshape(-1), np.asarray(space.high, dtype).reshape(-1)
    start = discrete_start(space)
    return start.astype(dtype), (start + discrete_sizes(space) - 1).astype(dtype)


def to_plain(space, root="space"):
    """A space as plain data (dicts, lists, strings, numbers, numpy arrays): what a checkpoint stores.

    Box keeps its dtype, shape and bounds (as arrays), Discrete its n and start, MultiDiscrete its
    nvec, start and dtype, MultiBinary its n; Dict (in its key order) and Tuple nest. `from_plain`
    rebuilds an equal space.

    Args:
        space: a gymnasium space: Box, Discrete, MultiDiscrete, MultiBinary inside any nesting of
            Dict and Tuple.
        root: the name of the space, for error messages.

    Returns:
        dict: {"type": the space's class name, ...its fields}.

    Raises:
        UnsupportedSpaceError: any other space (or a Dict key that is not a string or an integer);
            the message names its path.

    Example:
        >>> space = Dict(pos=Box(-1, 1, (2,)), kind=Discrete(3, start=1))
        >>> from_plain(to_plain(space)) == space
        True
        >>> to_plain(Discrete(3, start=1))
        {'type': 'Discrete', 'n': 3, 'start': 1}
    """
    return _to_plain(space, root, ())


def _to_plain(space, root, path):
    if isinstance(space, Box):
        return {"type": "Box", "dtype": np.dtype(space.dtype).name, "shape": list(space.shape),
                "low": np.array(space.low), "high": np.array(space.high)}
    if isinstance(space, Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, MultiDiscrete):
        return {"type": "MultiDiscrete", "dtype": np.dtype(space.dtype).name, "nvec": np.array(space.nvec),
                "start": np.array(space.start)}
    if isinstance(space, MultiBinary):
        n = space.n  # an int, or a shape: MultiBinary(3) and MultiBinary([3]) differ
        return {"type": "MultiBinary", "n": int(n) if np.ndim(n) == 0 else [int(k) for k in np.ravel(n)]}
    if isinstance(space, Dict):
        items = []
        for key, sub in space.spaces.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise UnsupportedSpaceError(f"{path_name(path, root)} has the key {key!r}; "
                                            "a stored Dict space takes string or integer keys only "
                                            "(rename the key)")
            items.append([key, _to_plain(sub, root, path + (key,))])
        return {"type": "Dict", "spaces": items}
    if isinstance(space, Tuple):
        return {"type": "Tuple",
                "spaces": [_to_plain(sub, root, path + (i,)) for i, sub in enumerate(space.spaces)]}
    raise UnsupportedSpaceError(
        f"{path_name(path, root)} is {space!r}, which cannot be stored as plain data; supported spaces are "
        "Box, Discrete, MultiDiscrete and MultiBinary inside any nesting of Dict and Tuple")


def from_plain(data, root="space"):
    """The space that `to_plain` turned into `data` (its arrays may be numpy arrays or tensors).

    Args:
        data: what `to_plain` returned, possibly after a round trip through a checkpoint.
        root: the name of the space, for error messages.

    Returns:
        gymnasium.spaces.Space: equal to the space `to_plain` was given.

    Raises:
        ValueError: `data` is not the plain form of a space (an unknown type, a missing or malformed
            field); the message names where.

    Example:
        >>> from_plain({"type": "Tuple", "spaces": [{"type": "Discrete", "n": 2, "start": 0}]})
        Tuple(Discrete(2))
    """
    return _from_plain(data, root, ())


_FIELDS = {"Box": ("dtype", "shape", "low", "high"), "Discrete": ("n", "start"),
           "MultiDiscrete": ("dtype", "nvec", "start"), "MultiBinary": ("n",), "Dict": ("spaces",),
           "Tuple": ("spaces",)}


def _from_plain(data, root, path):
    where = path_name(path, root)
    kind = data.get("type") if isinstance(data, dict) else None
    if kind not in _FIELDS:
        found = f"type {kind!r}" if isinstance(data, dict) else f"a {type(data).__name__}"
        raise ValueError(f"{where} is not a stored space: expected a dict whose type is one of "
                         f"{', '.join(_FIELDS)}, got {found}")
    missing = [field for field in _FIELDS[kind] if field not in data]
    if missing:
        raise ValueError(f"{where} is a stored {kind} without its {', '.join(missing)}")
    items = data["spaces"] if kind in ("Dict", "Tuple") else None
    if kind == "Dict":
        if not isinstance(items, (list, tuple)) or not all(
                isinstance(item, (list, tuple)) and len(item) == 2 for item in items):
            raise ValueError(f"{where} is a malformed stored Dict: its spaces must be a list of [key, space] "
                             f"pairs, got {items!r}")
        return Dict([(key, _from_plain(sub, root, path + (key,))) for key, sub in items])
    if kind == "Tuple":
        if not isinstance(items, (list, tuple)):
            raise ValueError(f"{where} is a malformed stored Tuple: its spaces must be a list, got {items!r}")
        return Tuple([_from_plain(sub, root, path + (i,)) for i, sub in enumerate(items)])
    try:
        if kind == "Box":
            dtype = np.dtype(data["dtype"])
            return Box(np.asarray(data["low"], dtype), np.asarray(data["high"], dtype), _shape(data["shape"]),
                       dtype)
        if kind == "Discrete":
            return Discrete(_integer(data["n"], "n"), start=_integer(data["start"], "start"))
        if kind == "MultiDiscrete":
            return MultiDiscrete(np.asarray(data["nvec"]), dtype=np.dtype(data["dtype"]),
                                 start=np.asarray(data["start"]))
        n = data["n"]
        return MultiBinary(list(_shape(n)) if isinstance(n, (list, tuple)) else _integer(n, "n"))
    except (TypeError, ValueError, AssertionError) as error:  # gymnasium asserts on bad arguments
        raise ValueError(f"{where} is a malformed stored {kind}: {error or type(error).__name__}") from None


def _integer(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    return int(value)


def _shape(value):
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"shape must be a list of integers, got {value!r}")
    return tuple(_integer(n, "shape") for n in value)
