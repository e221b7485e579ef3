"""The C LSTM over sequences with resets against torch's lstm_cell loop: forward, every gradient, every
instruction set, threads, error paths."""
import numpy as np
import pytest
import torch
from kernel_fixtures import instruction_set_fixture

from pufferlib._native import lstm
from pufferlib.train.lstm import LSTMSequence, lstm_reference, lstm_sequence

instruction_set = instruction_set_fixture()

torch.set_num_threads(1)

# (batch, horizon, input, hidden): small odd sizes (tails of every tile), B above and not a multiple of
# the chunk, T = 1, and the memory config's shapes (16 sequences of 32 steps, width 64)
SHAPES = [(3, 5, 4, 5), (lstm.CHUNK + 5, 7, 13, 9), (40, 1, 3, 2), (16, 32, 64, 64), (2 * lstm.CHUNK + 1, 6, 40, 36)]


def resets(batch, horizon, seed):
    """Random episode starts, with a start at t = 0 and two consecutive ones in row 0."""
    g = torch.Generator().manual_seed(seed)
    starts = (torch.rand(batch, horizon, generator=g) < 0.25).float()
    starts[0, 0] = 1
    if horizon >= 3:
        starts[0, 1:3] = 1
    return starts


def problem(batch, horizon, inputs, hidden, seed=0):
    torch.manual_seed(seed)
    layer = torch.nn.LSTM(inputs, hidden, batch_first=True)
    with torch.no_grad():
        for p in layer.parameters():
            p.uniform_(-0.5, 0.5)
    x = torch.randn(batch, horizon, inputs, requires_grad=True)
    h0 = torch.randn(batch, hidden, requires_grad=True)
    c0 = torch.randn(batch, hidden, requires_grad=True)
    return layer, x, h0, c0, resets(batch, horizon, seed)


def weights(layer):
    return (layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0)


def outputs_and_grads(run, layer, x, h0, c0, seed=1):
    """(out, h_n, c_n) of run() and the gradients of every input and weight under a random loss that
    reaches out, h_n and c_n."""
    out, h_n, c_n = run()
    g = torch.Generator().manual_seed(seed)
    loss = sum((t * torch.randn(t.shape, generator=g)).sum() for t in (out, h_n, c_n))
    grads = torch.autograd.grad(loss, (x, h0, c0) + weights(layer))
    return (out, h_n, c_n), grads


@pytest.mark.parametrize("shape", SHAPES)
def test_forward_and_every_gradient_match_the_lstm_cell_loop(shape, instruction_set):
    layer, x, h0, c0, starts = problem(*shape)
    ours, our_grads = outputs_and_grads(lambda: LSTMSequence.apply(x, h0, c0, starts, *weights(layer)),
                                        layer, x, h0, c0)
    ref, ref_grads = outputs_and_grads(lambda: (lambda o, s: (o, *s))(*lstm_reference(x, (h0, c0), starts, layer)),
                                       layer, x, h0, c0)
    for name, a, b in zip(("out", "h_n", "c_n"), ours, ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, msg=lambda m, name=name: f"{name}: {m}")
    names = ("x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh")
    for name, a, b in zip(names, our_grads, ref_grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, msg=lambda m, name=name: f"d_{name}: {m}")


def test_a_reset_zeroes_the_state_and_its_gradient():
    layer, x, h0, c0, _ = problem(4, 6, 3, 5)
    starts = torch.zeros(4, 6)
    starts[:, 0] = 1   # every row starts afresh: the initial state cannot matter
    out, h_n, c_n = LSTMSequence.apply(x, h0, c0, starts, *weights(layer))
    fresh = LSTMSequence.apply(x, torch.zeros_like(h0), torch.zeros_like(c0), starts, *weights(layer))[0]
    assert torch.equal(out, fresh)
    d_h0, d_c0 = torch.autograd.grad((out.sum() + h_n.sum() + c_n.sum()), (h0, c0))
    assert not d_h0.any() and not d_c0.any()


def test_gradients_without_h_n_c_n_and_for_an_input_state_without_grad():
    layer, x, _, _, starts = problem(5, 4, 3, 6)
    zeros = torch.zeros(5, 6)
    out = LSTMSequence.apply(x, zeros, zeros, starts, *weights(layer))[0]
    ref = lstm_reference(x, (zeros, zeros), starts, layer)[0]
    ours = torch.autograd.grad(out.square().sum(), (x,) + weights(layer))
    theirs = torch.autograd.grad(ref.square().sum(), (x,) + weights(layer))
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_bias_gradients_are_separate_tensors():
    layer, x, h0, c0, starts = problem(3, 4, 2, 3)
    LSTMSequence.apply(x, h0, c0, starts, *weights(layer))[0].sum().backward()
    assert torch.equal(layer.bias_ih_l0.grad, layer.bias_hh_l0.grad)
    assert layer.bias_ih_l0.grad.data_ptr() != layer.bias_hh_l0.grad.data_ptr()


def numpy_problem(batch, horizon, inputs, hidden, seed=0):
    rng = np.random.default_rng(seed)
    f = lambda *shape: rng.uniform(-1, 1, shape).astype(np.float32)  # noqa: E731
    starts = (rng.random((batch, horizon)) < 0.2).astype(np.float32)
    return dict(x=f(batch, horizon, inputs), h0=f(batch, hidden), c0=f(batch, hidden), starts=starts,
                weight_ih=f(4 * hidden, inputs), weight_hh=f(4 * hidden, hidden), bias_ih=f(4 * hidden),
                bias_hh=f(4 * hidden))


def run_numpy(p, num_threads):
    batch, horizon, inputs = p["x"].shape
    hidden = p["h0"].shape[1]
    empty = lambda *shape: np.full(shape, np.nan, np.float32)  # noqa: E731
    fwd = dict(out=empty(batch, horizon, hidden), h_n=empty(batch, hidden), c_n=empty(batch, hidden),
               gates=empty(batch, horizon, 4 * hidden), cells=empty(batch, horizon, hidden))
    lstm.lstm_forward(p["x"], p["h0"], p["c0"], p["starts"], p["weight_ih"], p["weight_hh"], p["bias_ih"],
                      p["bias_hh"], **fwd, num_threads=num_threads)
    rng = np.random.default_rng(1)
    d_out = rng.normal(size=fwd["out"].shape).astype(np.float32)
    d_h_n = rng.normal(size=(batch, hidden)).astype(np.float32)
    bwd = dict(d_x=empty(batch, horizon, inputs), d_h0=empty(batch, hidden), d_c0=empty(batch, hidden),
               d_params=empty(4 * hidden * (inputs + hidden + 1)))
    lstm.lstm_backward(p["x"], p["h0"], p["c0"], p["starts"], p["weight_ih"], p["weight_hh"], fwd["out"],
                       fwd["gates"], fwd["cells"], d_out, d_h_n, None, **bwd, num_threads=num_threads)
    return {**fwd, **bwd}


def test_one_thread_and_many_give_identical_bits():
    p = numpy_problem(3 * lstm.CHUNK + 7, 11, 10, 12)
    one, many = run_numpy(p, 1), run_numpy(p, 3)
    for name in one:
        assert np.isfinite(one[name]).all(), name
        assert np.array_equal(one[name], many[name]), name


def test_numpy_calls_match_torch():
    p = numpy_problem(2 * lstm.CHUNK + 3, 5, 6, 7)
    ours = run_numpy(p, 2)
    t = {k: torch.from_numpy(v) for k, v in p.items()}
    layer = torch.nn.LSTM(6, 7, batch_first=True)
    with torch.no_grad():
        for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                               ("weight_ih", "weight_hh", "bias_ih", "bias_hh")):
            getattr(layer, name).copy_(t[value])
    out, (h_n, c_n) = lstm_reference(t["x"], (t["h0"], t["c0"]), t["starts"], layer)
    torch.testing.assert_close(torch.from_numpy(ours["out"]), out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.from_numpy(ours["c_n"]), c_n, atol=1e-5, rtol=1e-5)


def forward_args(p, **changes):
    batch, horizon, inputs = p["x"].shape
    hidden = p["h0"].shape[1]
    args = dict(p, out=np.zeros((batch, horizon, hidden), np.float32), h_n=np.zeros((batch, hidden), np.float32),
                c_n=np.zeros((batch, hidden), np.float32), gates=np.zeros((batch, horizon, 4 * hidden), np.float32),
                cells=np.zeros((batch, horizon, hidden), np.float32))
    args.update(changes)
    return args


@pytest.mark.parametrize("change, error, pattern", [
    (lambda p: {"x": p["x"].astype(np.float64)}, TypeError, r"x must be float32 with shape \(4, 5, 3\), got float64"),
    (lambda p: {"x": torch.from_numpy(p["x"])}, TypeError, r"x must be a numpy array .*tensor.numpy\(\)"),
    (lambda p: {"x": p["x"][0]}, ValueError, r"x must have shape \(N, N, N\), got \(5, 3\)"),
    (lambda p: {"weight_ih": p["weight_ih"][:, :2].copy()}, ValueError,
     r"weight_ih must have shape \(16, 3\), got \(16, 2\)"),
    (lambda p: {"weight_hh": np.zeros((12, 4), np.float32)}, ValueError, r"weight_hh must have shape \(16, 4\), got \(12, 4\)"),
    (lambda p: {"h0": p["h0"][:3]}, ValueError, r"h0 must have shape \(4, 4\), got \(3, 4\)"),
    (lambda p: {"starts": p["starts"].astype(bool)}, TypeError, r"starts must be float32 .* got bool"),
    (lambda p: {"out": np.zeros((4, 5, 4), np.float32)[:, ::-1]}, ValueError, r"out must be C-contiguous"),
    (lambda p: {"x": np.zeros((0, 5, 3), np.float32)}, ValueError, r"all positive, got x of shape \(0, 5, 3\)"),
])
def test_bad_arrays_are_refused_with_what_was_expected(change, error, pattern):
    p = numpy_problem(4, 5, 3, 4)
    with pytest.raises(error, match=pattern):
        lstm.lstm_forward(**forward_args(p, **change(p)))


def test_read_only_outputs_and_bad_thread_counts_are_refused():
    p = numpy_problem(4, 5, 3, 4)
    args = forward_args(p)
    args["out"].flags.writeable = False
    with pytest.raises(ValueError, match="out must be writeable"):
        lstm.lstm_forward(**args)
    with pytest.raises(ValueError, match="num_threads must be a positive integer, got 0"):
        lstm.lstm_forward(**forward_args(p), num_threads=0)


def test_backward_refuses_a_gradient_of_the_wrong_size():
    p = numpy_problem(4, 5, 3, 4)
    args = forward_args(p)
    lstm.lstm_forward(**args)
    with pytest.raises(ValueError, match=r"d_params must have shape \(128,\), got \(127,\)"):
        lstm.lstm_backward(p["x"], p["h0"], p["c0"], p["starts"], p["weight_ih"], p["weight_hh"], args["out"],
                           args["gates"], args["cells"], np.zeros_like(args["out"]), None, None,
                           np.zeros_like(p["x"]), None, None, np.zeros(127, np.float32))


def test_lstm_sequence_refuses_shapes_that_do_not_fit_the_layer():
    layer = torch.nn.LSTM(3, 4, batch_first=True)
    zeros = torch.zeros(2, 4)
    with pytest.raises(ValueError, match=r"x \[B, T, 3\].*got x \(2, 5, 2\).*reshape the inputs"):
        lstm_sequence(torch.zeros(2, 5, 2), (zeros, zeros), torch.zeros(2, 5), layer)
    with pytest.raises(ValueError, match=r"starts \[B, T\].*got .*starts \(2, 4\)"):
        lstm_sequence(torch.zeros(2, 5, 3), (zeros, zeros), torch.zeros(2, 4), layer)


@pytest.mark.parametrize("inside", [False, True])
def test_lstm_sequence_in_float64_takes_the_torch_paths(inside):
    # off the C kernel (float64 here, CUDA in training): nn.LSTM's fused kernel without starts inside,
    # the lstm_cell loop with them; both agree with the C kernel's float32 results
    layer, x, h0, c0, starts = problem(5, 6, 3, 4)
    if not inside:
        starts[:, 1:] = 0
    out, (h_n, c_n) = lstm_sequence(x.double(), (h0.double(), c0.double()), starts, layer.double())
    assert out.dtype == torch.float64
    ours, hc = lstm_sequence(x, (h0, c0), starts.bool(), layer.float())
    torch.testing.assert_close(out.float(), ours, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(c_n.float(), hc[1], atol=1e-5, rtol=1e-5)
