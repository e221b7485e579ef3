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
           "path_name", "discrete_sizes", "discrete_start"]

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
