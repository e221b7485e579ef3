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


# -- spaces as plain data (what a checkpoint stores) ----------------------------------------------

@st.composite
def stored_boxes(draw):
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    dtype = draw(st.sampled_from(DTYPES + [np.float16, np.uint16, np.int16]))
    if np.dtype(dtype).kind == "f":
        low = draw(st.sampled_from([-np.inf, -2.5, 0.0]))
        high = draw(st.sampled_from([np.inf, 0.5, 7.0]))
    else:
        info = np.iinfo(dtype)
        low, high = draw(st.sampled_from([(info.min, info.max), (0, 9), (max(info.min, -3), 3)]))
    if shape and draw(st.booleans()):  # bounds that differ per element
        low = np.full(shape, low, dtype)
        low.flat[0] = min(low.flat[0] + 1, high) if low.flat[0] != -np.inf else -1
    return S.Box(low, high, shape, dtype)


stored_leaves = st.one_of(
    stored_boxes(),
    st.builds(S.Discrete, st.integers(1, 6), start=st.integers(-3, 3)),
    st.builds(lambda nvec, start, dtype: S.MultiDiscrete(nvec, dtype=dtype, start=[start] * len(nvec)),
              st.lists(st.integers(1, 5), min_size=1, max_size=3), st.integers(-2, 2),
              st.sampled_from([np.int32, np.int64])),
    st.builds(lambda nvec: S.MultiDiscrete(np.array(nvec).reshape(2, -1)),
              st.lists(st.integers(1, 5), min_size=2, max_size=2)),
    st.builds(S.MultiBinary, st.one_of(st.integers(1, 4), st.lists(st.integers(1, 3), min_size=1, max_size=2))),
)
stored_spaces = st.recursive(
    stored_leaves,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda items: S.Tuple(tuple(items))),
        # a list of pairs keeps its order (a dict would be sorted): the order must survive the round trip
        st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), children, min_size=1, max_size=3).map(
            lambda items: S.Dict(list(items.items()))),
    ),
    max_leaves=6,
)


def _assert_same_plain(got, want):
    """Equal plain forms: same types, keys in the same order, arrays equal in dtype, shape and values."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want)
        for key in want:
            _assert_same_plain(got[key], want[key])
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want)
        for a, b in zip(got, want):
            _assert_same_plain(a, b)
    elif isinstance(want, np.ndarray):
        got = np.asarray(got)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    else:
        assert type(got) is type(want) and got == want


@settings(max_examples=80, deadline=None)
@given(stored_spaces)
def test_a_space_round_trips_through_plain_data(space):
    plain = spaces.to_plain(space)
    rebuilt = spaces.from_plain(plain)
    assert type(rebuilt) is type(space) and rebuilt == space
    _assert_same_plain(spaces.to_plain(rebuilt), plain)


@settings(max_examples=30, deadline=None)
@given(stored_spaces)
def test_a_space_round_trips_through_a_weights_only_torch_file(space):
    torch = pytest.importorskip("torch")
    import io

    from pufferlib.train.checkpoint import plain

    buffer = io.BytesIO()
    torch.save(plain(spaces.to_plain(space)), buffer)
    buffer.seek(0)
    rebuilt = spaces.from_plain(torch.load(buffer, weights_only=True))
    _assert_same_plain(spaces.to_plain(rebuilt), spaces.to_plain(space))
    assert Layout(rebuilt).signature() == Layout(space).signature()


def test_the_plain_form_of_a_space():
    space = S.Dict([("pos", S.Box(-1, 1, (2,))), ("kind", S.Discrete(3, start=1))])
    plain = spaces.to_plain(space)
    assert plain["type"] == "Dict" and [key for key, _ in plain["spaces"]] == ["pos", "kind"]
    box = plain["spaces"][0][1]
    assert box["dtype"] == "float32" and box["shape"] == [2] and box["low"].tolist() == [-1, -1]
    assert plain["spaces"][1][1] == {"type": "Discrete", "n": 3, "start": 1}


@pytest.mark.parametrize("bad, name", [(S.Text(5), "Text"), (S.Sequence(S.Discrete(2)), "Sequence")])
def test_to_plain_names_a_space_it_cannot_store(bad, name):
    with pytest.raises(UnsupportedSpaceError, match=rf"observation_space\['a'\]\[1\] is {name}\(.*\), which cannot "
                                                    "be stored as plain data; supported spaces are Box"):
        spaces.to_plain(S.Dict(a=S.Tuple((S.Discrete(2), bad))), "observation_space")


def test_to_plain_refuses_a_dict_key_that_is_not_plain():
    with pytest.raises(UnsupportedSpaceError, match=r"space has the key \(1, 2\); a stored Dict space takes string "
                                                    "or integer keys only"):
        spaces.to_plain(S.Dict({(1, 2): S.Discrete(2)}))


@pytest.mark.parametrize("data, message", [
    (3, r"^space is not a stored space: expected a dict whose type is one of Box, .*, got a int$"),
    ({"type": "Text"}, r"^space is not a stored space: .* got type 'Text'$"),
    ({"type": "Discrete", "n": 3}, r"^space is a stored Discrete without its start$"),
    ({"type": "Discrete", "n": "3", "start": 0}, r"^space is a malformed stored Discrete: n must be an integer, "
                                                  "got '3'$"),
    ({"type": "Box", "dtype": "float32", "shape": [2], "low": [0, 0, 0], "high": [1, 1, 1]},
     r"^space is a malformed stored Box: .*shape"),
    ({"type": "Box", "dtype": "nonsense", "shape": [1], "low": [0], "high": [1]},
     r"^space is a malformed stored Box: data type 'nonsense' not understood$"),
    ({"type": "MultiDiscrete", "dtype": "int64", "nvec": [0], "start": [0]}, r"^space is a malformed stored "
                                                                              "MultiDiscrete: "),
    ({"type": "MultiBinary", "n": "3"}, r"^space is a malformed stored MultiBinary: n must be an integer, got '3'$"),
    ({"type": "Dict", "spaces": {"a": {"type": "Discrete"}}}, r"^space is a malformed stored Dict: its spaces must "
                                                              r"be a list of \[key, space\] pairs"),
    ({"type": "Tuple", "spaces": [{"type": "Discrete", "n": 2, "start": 0}, {"type": "Box"}]},
     r"^space\[1\] is a stored Box without its dtype, shape, low, high$"),
])
def test_from_plain_names_what_is_wrong_and_where(data, message):
    with pytest.raises(ValueError, match=message):
        spaces.from_plain(data)
