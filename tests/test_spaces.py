import gymnasium
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pufferlib import spaces
from pufferlib.emulation import ActionLayout, Layout, _flattener, nativize
from pufferlib.errors import UnsupportedSpaceError

S = gymnasium.spaces
DTYPES = [np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8]


@st.composite
def boxes(draw):
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    dtype = draw(st.sampled_from(DTYPES))
    low, high = (0, 9) if dtype == np.uint8 else (-9, 9)
    return S.Box(low, high, shape, dtype)


leaf_spaces = st.one_of(
    boxes(),
    st.builds(S.Discrete, st.integers(1, 6), start=st.integers(-3, 3)),
    st.builds(lambda nvec: S.MultiDiscrete(nvec), st.lists(st.integers(1, 5), min_size=1, max_size=3)),
    st.builds(S.MultiBinary, st.integers(1, 4)),
)
nested_spaces = st.recursive(
    leaf_spaces,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda items: S.Tuple(tuple(items))),
        st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), children, min_size=1, max_size=3).map(S.Dict),
    ),
    max_leaves=6,
)


def _assert_same(native, original, space, rtol=0):
    if isinstance(space, S.Dict):
        assert isinstance(native, dict) and list(native) == list(space.spaces)
        for key, sub in space.spaces.items():
            _assert_same(native[key], original[key], sub, rtol)
    elif isinstance(space, S.Tuple):
        assert isinstance(native, tuple) and len(native) == len(space.spaces)
        for value, expected, sub in zip(native, original, space.spaces):
            _assert_same(value, expected, sub, rtol)
    else:
        value = native.numpy() if hasattr(native, "numpy") else native
        assert value.dtype == space.dtype
        np.testing.assert_allclose(value, np.asarray(original), rtol=rtol)


def _flatten(layout, samples):
    rows = np.zeros((len(samples), layout.row_size), layout.row_dtype)
    flattener = _flattener(layout)
    for i, sample in enumerate(samples):
        flattener.flatten(sample, rows, i)
    return rows


@settings(max_examples=60, deadline=None)
@given(nested_spaces, st.integers(0, 2**31 - 1))
def test_flatten_then_nativize_numpy_gives_back_samples(space, seed):
    space.seed(seed)
    samples = [space.sample() for _ in range(3)]
    layout = Layout(space)
    native = nativize(_flatten(layout, samples), layout)
    for i, sample in enumerate(samples):
        _assert_same(_index(native, i), sample, space)


@settings(max_examples=40, deadline=None)
@given(nested_spaces, st.integers(0, 2**31 - 1))
def test_flatten_then_nativize_torch_gives_back_samples(space, seed):
    torch = pytest.importorskip("torch")
    space.seed(seed)
    samples = [space.sample() for _ in range(3)]
    layout = Layout(space)
    rows = torch.from_numpy(_flatten(layout, samples))
    native = nativize(rows, layout)
    for i, sample in enumerate(samples):
        _assert_same(_index(native, i), sample, space)


@settings(max_examples=40, deadline=None)
@given(nested_spaces, st.integers(0, 2**31 - 1))
def test_actions_unflatten_to_samples(space, seed):
    space.seed(seed)
    sample = space.sample()
    layout = ActionLayout(space)
    row = layout.flatten(sample)
    assert layout.flat_space.contains(row if layout.flat_space.shape else row[0])
    # float32 action rows: float64 Box actions come back within float32 precision
    _assert_same(_wrap_scalars(layout.unflatten(row)), sample, space, rtol=1e-6)


def _wrap_scalars(value):
    if isinstance(value, dict):
        return {k: _wrap_scalars(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_wrap_scalars(v) for v in value)
    return np.asarray(value)


def _index(native, i):
    if isinstance(native, dict):
        return {k: _index(v, i) for k, v in native.items()}
    if isinstance(native, tuple):
        return tuple(_index(v, i) for v in native)
    return native[i]


def test_nativize_returns_views_of_the_rows():
    layout = Layout(S.Dict(pos=S.Box(-1, 1, (3,)), kind=S.Discrete(4)))
    rows = np.zeros((2, layout.row_size), layout.row_dtype)
    nativize(rows, layout)["pos"][1, 2] = 0.5
    assert nativize(rows, layout)["pos"][1, 2] == 0.5


def test_nativize_works_inside_torch_compile():
    torch = pytest.importorskip("torch")
    layout = Layout(S.Dict(pos=S.Box(-1, 1, (3,)), kind=S.Discrete(4)))
    rows = torch.zeros(2, layout.row_size, dtype=torch.uint8)
    rows[:, :12].view(torch.float32)[:] = 0.25

    @torch.compile(backend="eager", fullgraph=True)
    def total(rows):
        native = nativize(rows, layout)
        return native["pos"].sum(-1) + native["kind"]

    assert total(rows).tolist() == [0.75, 0.75]


def test_uniform_dtypes_give_rows_of_that_dtype():
    layout = Layout(S.Tuple((S.Box(0, 1, (2,)), S.Box(-1, 1, (3,)))))
    assert layout.row_dtype == np.float32 and not layout.packed and layout.row_size == 5
    np.testing.assert_array_equal(layout.flat_space.low, [0, 0, -1, -1, -1])


def test_mixed_dtypes_give_aligned_byte_rows():
    layout = Layout(S.Tuple((S.MultiBinary(3), S.Discrete(5), S.Box(0, 1, (1,)))))
    assert layout.row_dtype == np.uint8 and layout.packed
    assert [leaf.byte_offset for leaf in layout.leaves] == [0, 8, 16]
    assert layout.row_size % 8 == 0


def test_nativize_rejects_rows_of_the_wrong_size():
    layout = Layout(S.Box(0, 1, (4,)))
    with pytest.raises(ValueError, match=r"rows must be float32 of shape \[..., 4\], got float32 of shape \(2, 3\)"):
        nativize(np.zeros((2, 3), np.float32), layout)


@pytest.mark.parametrize("bad, name", [
    (S.Text(5), "Text"),
    (S.Graph(S.Box(0, 1, (2,)), None), "Graph"),
    (S.Sequence(S.Discrete(2)), "Sequence"),
])
def test_unsupported_space_is_named_by_its_path(bad, name):
    space = S.Dict(pos=S.Box(0, 1, (2,)), inventory=S.Tuple((S.Discrete(2), bad)))
    with pytest.raises(UnsupportedSpaceError, match=rf"observation_space\['inventory'\]\[1\] is {name}"):
        Layout(space)


def test_unsupported_action_space_is_named_by_its_path():
    with pytest.raises(UnsupportedSpaceError, match=r"action_space\[0\] is Text"):
        ActionLayout(S.Tuple((S.Text(3),)))


def test_empty_dict_is_rejected():
    with pytest.raises(UnsupportedSpaceError, match=r"observation_space\['a'\] is an empty Dict"):
        list(spaces.leaves(S.Dict(a=S.Dict())))


def test_leaf_bounds_of_discrete_include_start():
    low, high = spaces.leaf_bounds(S.Discrete(3, start=-1))
    assert low.tolist() == [-1] and high.tolist() == [1]
