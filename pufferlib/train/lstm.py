"""The LSTM layer of `LSTMPolicy` over [B, T] sequences, with the state reset where an episode starts.

`lstm_sequence` is the one entry point. On the CPU in float32 it runs the C kernel of
`pufferlib._native.lstm` (csrc/puffer_lstm.h) as a `torch.autograd.Function`: the whole sequence forward
and backward through time in two calls, whatever the resets. Elsewhere (CUDA, other dtypes) it runs
torch: nn.LSTM's fused kernel when no episode starts inside the sequences, else `lstm_reference`, the
step-by-step `torch.lstm_cell` loop the kernel is tested against.
"""
import torch
from torch.autograd.function import once_differentiable

from pufferlib._native import lstm as _kernel

__all__ = ["LSTMSequence", "lstm_reference", "lstm_sequence"]


def _numpy(tensor):
    return tensor.detach().contiguous().numpy()


class LSTMSequence(torch.autograd.Function):
    """The C LSTM with resets as an autograd Function (CPU, float32).

    `LSTMSequence.apply(x, h0, c0, starts, weight_ih, weight_hh, bias_ih, bias_hh)` returns
    (out [B, T, H], h_n [B, H], c_n [B, H]); `starts` [B, T] is float (1 where the state resets) and
    gets no gradient. It runs on `torch.get_num_threads()` threads (results do not depend on them).
    """

    @staticmethod
    def forward(ctx, x, h0, c0, starts, weight_ih, weight_hh, bias_ih, bias_hh):
        """(out, h_n, c_n) of the sequences; keeps what the backward pass reads."""
        batch, horizon = x.shape[:2]
        hidden = weight_hh.shape[1]
        out = x.new_empty(batch, horizon, hidden)
        h_n, c_n = x.new_empty(batch, hidden), x.new_empty(batch, hidden)
        gates = x.new_empty(batch, horizon, 4 * hidden)
        cells = x.new_empty(batch, horizon, hidden)
        x, h0, c0, starts = x.contiguous(), h0.contiguous(), c0.contiguous(), starts.contiguous()
        _kernel.lstm_forward(_numpy(x), _numpy(h0), _numpy(c0), _numpy(starts), _numpy(weight_ih),
                             _numpy(weight_hh), _numpy(bias_ih), _numpy(bias_hh), out.numpy(), h_n.numpy(),
                             c_n.numpy(), gates.numpy(), cells.numpy(), torch.get_num_threads())
        ctx.save_for_backward(x, h0, c0, starts, weight_ih, weight_hh, out)
        ctx.gates, ctx.cells = gates, cells   # intermediates, never seen by autograd
        return out, h_n, c_n

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_h_n, d_c_n):
        """The gradients of x, h0, c0 (where wanted) and the four weights; none for starts."""
        x, h0, c0, starts, weight_ih, weight_hh, out = ctx.saved_tensors
        hidden, inputs = weight_hh.shape[1], weight_ih.shape[1]
        if d_out is None:
            d_out = torch.zeros_like(out)
        d_x = torch.empty_like(x)
        d_h0 = torch.empty_like(h0) if ctx.needs_input_grad[1] else None
        d_c0 = torch.empty_like(c0) if ctx.needs_input_grad[2] else None
        d_params = x.new_empty(4 * hidden * (inputs + hidden + 1))
        _kernel.lstm_backward(
            _numpy(x), _numpy(h0), _numpy(c0), _numpy(starts), _numpy(weight_ih), _numpy(weight_hh),
            _numpy(out), ctx.gates.numpy(), ctx.cells.numpy(), _numpy(d_out),
            None if d_h_n is None else _numpy(d_h_n), None if d_c_n is None else _numpy(d_c_n),
            d_x.numpy(), None if d_h0 is None else d_h0.numpy(), None if d_c0 is None else d_c0.numpy(),
            d_params.numpy(), torch.get_num_threads())
        d_weight_ih, d_weight_hh, d_bias = torch.split(
            d_params, [4 * hidden * inputs, 4 * hidden * hidden, 4 * hidden])
        # b_ih and b_hh get equal gradients, as separate tensors: a shared one would be one .grad for
        # two parameters, and in-place gradient ops (clipping) would act on it twice
        return (d_x, d_h0, d_c0, None, d_weight_ih.view_as(weight_ih), d_weight_hh.view_as(weight_hh),
                d_bias, d_bias.clone())


def lstm_reference(x, state, starts, lstm):
    """The LSTM over sequences as a `torch.lstm_cell` loop over time (any device and dtype).

    Args: as `lstm_sequence`.

    Returns:
        (out [B, T, H], (h_n, c_n)).
    """
    keep = 1 - starts.to(x.dtype)
    h, c = state
    outs = []
    for t in range(x.shape[1]):
        h, c = h * keep[:, t:t + 1], c * keep[:, t:t + 1]
        h, c = torch.lstm_cell(x[:, t], (h, c), lstm.weight_ih_l0, lstm.weight_hh_l0,
                               lstm.bias_ih_l0, lstm.bias_hh_l0)
        outs.append(h)
    return torch.stack(outs, 1), (h, c)


def lstm_sequence(x, state, starts, lstm):
    """A single-layer LSTM over sequences, its state zeroed before every step where an episode starts.

    Args:
        x: inputs [B, T, I].
        state: (h, c) before the first step, each [B, H] (zeroed too where starts[:, 0] is set).
        starts: bool or float [B, T], true where an episode starts at that step.
        lstm: the `nn.LSTM(I, H, batch_first=True)` whose weights are used.

    Returns:
        (out [B, T, H], (h_n, c_n)): h after every step and the state after the last.

    Raises:
        ValueError: shapes that do not fit together.

    Example:
        >>> lstm = torch.nn.LSTM(4, 8, batch_first=True)
        >>> zeros = torch.zeros(2, 8)
        >>> out, (h, c) = lstm_sequence(torch.randn(2, 5, 4), (zeros, zeros), torch.zeros(2, 5), lstm)
        >>> tuple(out.shape), tuple(h.shape)
        ((2, 5, 8), (2, 8))
    """
    h, c = state
    if x.dim() != 3 or starts.shape != x.shape[:2] or h.shape != (x.shape[0], lstm.hidden_size) \
            or c.shape != h.shape or x.shape[2] != lstm.input_size:
        raise ValueError(f"lstm_sequence takes x [B, T, {lstm.input_size}], starts [B, T] and a state of two "
                         f"[B, {lstm.hidden_size}], got x {tuple(x.shape)}, starts {tuple(starts.shape)}, "
                         f"h {tuple(h.shape)} and c {tuple(c.shape)}; reshape the inputs to fit the LSTM")
    weights = (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
    if x.device.type == "cpu" and all(t.dtype == torch.float32 for t in (x, h, c, *weights)):
        out, h, c = LSTMSequence.apply(x, h, c, starts.float(), *weights)
        return out, (h, c)
    if not bool(starts[:, 1:].any()):   # no episode starts inside: nn.LSTM's fused kernel
        keep = 1 - starts[:, :1].to(h.dtype)
        out, (h, c) = lstm(x, ((h * keep).unsqueeze(0), (c * keep).unsqueeze(0)))
        return out, (h[0], c[0])
    return lstm_reference(x, state, starts, lstm)
