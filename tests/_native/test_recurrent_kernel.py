"""The recurrent C layers (pufferlib._native.mlp.RecurrentKernel) against torch autograd.

RecurrentKernel chains puffer_mlp.h's encode / heads layers with puffer_lstm.h's LSTM over sequences:
its outputs, every gradient (towers, heads, log_std, the four LSTM tensors), its loss statistics and
its Adam steps must match `LSTMPolicy(Policy)` under torch within 1e-5, on every instruction set, and
be bit-identical on any number of threads.
"""
import copy
import types

import gymnasium
import numpy as np
import pytest
import torch
from kernel_fixtures import instruction_set_fixture
from pufferlib._native.mlp import ActorCriticKernel, RecurrentKernel

from pufferlib.train.learner import ppo_loss
from pufferlib.train.policies import LSTMPolicy, Policy

instruction_set = instruction_set_fixture()

OBS_DIM = 5
ACTION_KINDS = {
    "discrete": (gymnasium.spaces.Discrete(3), None),
    "multidiscrete": (gymnasium.spaces.MultiDiscrete([3, 4, 2]), None),
    "box": (gymnasium.spaces.Box(-1, 1, (2,)), None),
    "mixed": (gymnasium.spaces.Box(-1, 4, (4,)), [3, 0, 2, 0]),   # an emulated Dict/Tuple action space
}


def make_policy(kind="discrete", hidden=8, num_layers=2, activation="tanh", seed=0):
    """An LSTMPolicy(Policy) with LSTM biases and log_std away from their initial values."""
    torch.manual_seed(seed)
    space, nvec = ACTION_KINDS[kind]
    base = Policy(gymnasium.spaces.Box(-1, 1, (OBS_DIM,)), space, hidden, num_layers, activation,
                  action_nvec=nvec)
    policy = LSTMPolicy(base)
    with torch.no_grad():
        for p in policy.lstm.parameters():
            p.add_(0.2 * torch.randn_like(p))
        base.actor_head.weight.mul_(30.0)   # far from uniform: ratios get clipped
        if base.log_std is not None:
            base.log_std.copy_(torch.linspace(-0.6, 0.4, base.log_std.numel()))
    return policy


def _linear(m):
    return m.weight.detach().numpy(), m.bias.detach().numpy()


def kernel_for(policy, num_threads=1):
    """A RecurrentKernel on the policy's own memory."""
    base = policy.policy
    actor = [m for m in base.actor if isinstance(m, torch.nn.Linear)]
    critic = [m for m in base.critic if isinstance(m, torch.nn.Linear)]
    log_std = None if base.log_std is None else base.log_std.detach().numpy()
    towers = ActorCriticKernel([_linear(m) for m in actor], _linear(base.actor_head), [_linear(m) for m in critic],
                               _linear(base.value_head), [int(n) for n in base.dist.nvec], base.activation,
                               num_threads=num_threads, log_std=log_std)
    lstm = policy.lstm
    return RecurrentKernel(towers, *(t.detach().numpy() for t in (lstm.weight_ih_l0, lstm.weight_hh_l0,
                                                                    lstm.bias_ih_l0, lstm.bias_hh_l0)))


def torch_names(policy):
    """The kernel's parameter names -> the policy's parameters."""
    base = policy.policy
    out = {"log_std": base.log_std, "actor_head.weight": base.actor_head.weight,
           "actor_head.bias": base.actor_head.bias, "critic_head.weight": base.value_head.weight,
           "critic_head.bias": base.value_head.bias}
    for tower in ("actor", "critic"):
        for i, m in enumerate(m for m in getattr(base, tower) if isinstance(m, torch.nn.Linear)):
            out[f"{tower}.{i}.weight"], out[f"{tower}.{i}.bias"] = m.weight, m.bias
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        out[f"lstm.{name}"] = getattr(policy.lstm, name)
    return out


def make_batch(policy, sequences=6, horizon=7, rows=None, seed=1, masked=True):
    """A batch of rollout rows and a minibatch of [sequences, horizon] of them, with resets and masks."""
    rng = np.random.default_rng(seed)
    rows = rows or 2 * sequences * horizon
    dist = policy.dist
    obs = rng.normal(size=(rows, OBS_DIM)).astype(np.float32)
    with torch.no_grad():
        params = torch.randn(rows, dist.num_params, generator=torch.Generator().manual_seed(seed))
        actions = dist.sample(params, policy.log_std, torch.Generator().manual_seed(seed))
    actions = actions.numpy().reshape(rows, -1)
    actions = np.ascontiguousarray(actions, np.int32 if dist.discrete else np.float32)
    w = policy.hidden_size
    return dict(obs=obs, actions=actions,
                old_logprobs=rng.normal(loc=-1.5, size=rows).astype(np.float32),
                advantages=rng.normal(loc=0.3, size=rows).astype(np.float32),
                returns=rng.normal(size=rows).astype(np.float32),
                old_values=rng.normal(scale=0.3, size=rows).astype(np.float32),
                masks=(rng.random(rows) > 0.15) if masked else None,
                indices=rng.permutation(rows)[:sequences * horizon].reshape(sequences, horizon).astype(np.int64),
                starts=(rng.random((sequences, horizon)) < 0.2).astype(np.float32),
                h0=rng.normal(size=(sequences, w)).astype(np.float32),
                c0=rng.normal(size=(sequences, w)).astype(np.float32))


def torch_loss(policy, batch, **settings):
    """(loss, stats) of the minibatch under torch: LSTMPolicy.sequence, then the trainer's ppo_loss."""
    idx = batch["indices"]
    flat = idx.reshape(-1)
    params, values, _ = policy.sequence(torch.from_numpy(batch["obs"][idx]),
                                        (torch.from_numpy(batch["h0"]), torch.from_numpy(batch["c0"])),
                                        torch.from_numpy(batch["starts"]).bool())
    actions = torch.from_numpy(batch["actions"][flat])
    if policy.dist.single:
        actions = actions[:, 0]
    logp, entropy = policy.dist.log_prob_entropy(params.reshape(flat.size, -1), actions, policy.log_std)
    masks = np.ones(flat.size, bool) if batch["masks"] is None else batch["masks"][flat]
    mb = {"logprobs": torch.from_numpy(batch["old_logprobs"][flat]),
          "advantages": torch.from_numpy(batch["advantages"][flat]),
          "returns": torch.from_numpy(batch["returns"][flat]),
          "values": torch.from_numpy(batch["old_values"][flat]), "masks": torch.from_numpy(masks)}
    return ppo_loss(logp, entropy, values.reshape(-1), mb, types.SimpleNamespace(**settings))


LOSS = dict(clip_coef=0.2, vf_coef=0.5, ent_coef=0.01, norm_adv=True, clip_vloss=True, vf_clip_coef=0.2)


@pytest.mark.parametrize("kind", list(ACTION_KINDS))
@pytest.mark.parametrize("activation, num_layers, masked, norm_adv, clip_vloss", [
    ("tanh", 2, True, True, True), ("relu", 1, False, False, False), ("tanh", 3, True, False, True)])
def test_gradients_and_loss_match_torch_autograd(kind, activation, num_layers, masked, norm_adv, clip_vloss,
                                                 instruction_set):
    policy = make_policy(kind, num_layers=num_layers, activation=activation)
    kernel = kernel_for(policy)
    batch = make_batch(policy, sequences=20, horizon=9, masked=masked)   # 180 rows: 3 chunks, 2 LSTM chunks
    settings = dict(LOSS, norm_adv=norm_adv, clip_vloss=clip_vloss)
    grads, stats = kernel.gradients(**batch, **settings)
    loss, expected = torch_loss(policy, batch, **settings)
    policy.zero_grad()
    loss.backward()
    params = torch_names(policy)
    assert set(grads) == {name for name, p in params.items() if p is not None}
    for name, grad in grads.items():
        np.testing.assert_allclose(grad, params[name].grad.numpy(), rtol=0, atol=1e-5, err_msg=name)
    assert np.abs(grads["lstm.weight_hh_l0"]).max() > 1e-3     # the gradient did go through time
    for key, value in expected.items():
        assert stats[key] == pytest.approx(float(value), rel=1e-5, abs=1e-6), key
    norm = torch.sqrt(sum((p.grad ** 2).sum() for p in policy.parameters()))
    assert stats["grad_norm"] == pytest.approx(float(norm), rel=1e-5)


def test_step_and_sequence_match_the_policy_with_resets(instruction_set):
    policy = make_policy("mixed", hidden=16)
    kernel = kernel_for(policy)
    rng = np.random.default_rng(0)
    rows, horizon, w = 70, 5, policy.hidden_size
    obs = rng.normal(size=(rows, horizon, OBS_DIM)).astype(np.float32)
    starts = (rng.random((rows, horizon)) < 0.3).astype(np.float32)
    h, c = rng.normal(size=(rows, w)).astype(np.float32), rng.normal(size=(rows, w)).astype(np.float32)
    params, values = np.empty((rows * horizon, policy.dist.num_params), np.float32), np.empty(rows * horizon, np.float32)
    kernel.sequence(obs.reshape(rows * horizon, OBS_DIM), h, c, starts, params, values)
    with torch.no_grad():
        expected, expected_values, _ = policy.sequence(torch.from_numpy(obs), (torch.from_numpy(h), torch.from_numpy(c)),
                                                       torch.from_numpy(starts))
    np.testing.assert_allclose(params, expected.reshape(rows * horizon, -1).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(values, expected_values.reshape(-1).numpy(), rtol=1e-5, atol=1e-5)
    state = (torch.from_numpy(h), torch.from_numpy(c))
    for t in range(horizon):
        out = [np.empty((rows, policy.dist.num_params), np.float32), np.empty(rows, np.float32),
               np.empty((rows, w), np.float32), np.empty((rows, w), np.float32)]
        kernel.step(np.ascontiguousarray(obs[:, t]), h, c, np.ascontiguousarray(starts[:, t]), *out)
        with torch.no_grad():
            p, v, state = policy.step(torch.from_numpy(obs[:, t]), state, torch.from_numpy(starts[:, t]))
        for ours, theirs in zip(out, (p, v) + state):
            np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-5, atol=1e-5)
        h, c = out[2], out[3]


def torch_update(policy, optimizer, batch, lr, max_grad_norm, **settings):
    loss, _ = torch_loss(policy, batch, **settings)
    optimizer.zero_grad()
    loss.backward()
    if max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.step()


@pytest.mark.parametrize("kind, max_grad_norm", [("discrete", 0.05), ("box", 0.05), ("mixed", 0.0)])
def test_updates_match_torch_adam(kind, max_grad_norm):
    policy = make_policy(kind)
    twin = copy.deepcopy(policy)
    kernel = kernel_for(policy)
    optimizer = torch.optim.Adam(twin.parameters(), lr=1e-2, eps=1e-5)
    for step in range(4):
        batch = make_batch(policy, sequences=5, horizon=6, seed=step)
        stats = kernel.update(**batch, lr=1e-2, max_grad_norm=max_grad_norm, **LOSS)
        torch_update(twin, optimizer, batch, 1e-2, max_grad_norm, **LOSS)
        assert stats["grad_norm"] > 0.05 or max_grad_norm == 0    # the clip was exercised
        for (name, ours), theirs in zip(policy.named_parameters(), twin.parameters()):
            np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=0, atol=1e-5,
                                       err_msg=f"{name} after step {step + 1}")
    assert kernel.step_count == 4
    assert not torch.equal(policy.lstm.bias_ih_l0, make_policy(kind).lstm.bias_ih_l0)   # it moved


def test_two_threads_are_bit_identical_to_one(instruction_set):
    results = []
    for threads in (1, 2):
        policy = make_policy("mixed", hidden=16)
        kernel = kernel_for(policy, num_threads=threads)
        stats = [kernel.update(**make_batch(policy, sequences=40, horizon=8, seed=s), lr=1e-2, max_grad_norm=0.5,
                               **LOSS) for s in range(3)]
        batch = make_batch(policy, sequences=40, horizon=8)
        w, n = policy.hidden_size, 40 * 8
        seq = [np.empty((n, policy.dist.num_params), np.float32), np.empty(n, np.float32)]
        kernel.sequence(batch["obs"][batch["indices"].reshape(-1)], batch["h0"], batch["c0"], batch["starts"], *seq)
        step = [np.empty((n, policy.dist.num_params), np.float32), np.empty(n, np.float32),
                np.empty((n, w), np.float32), np.empty((n, w), np.float32)]
        rows = batch["obs"][:n]
        kernel.step(rows, np.ones((n, w), np.float32), np.ones((n, w), np.float32),
                    batch["starts"].reshape(-1), *step)
        results.append((stats, seq + step, [p.detach().numpy().copy() for p in policy.parameters()]))
    (s1, o1, w1), (s2, o2, w2) = results
    assert s1 == s2
    assert all(np.array_equal(a, b) for a, b in zip(o1, o2))
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))


def test_state_dict_round_trip_continues_identically():
    policy = make_policy("box")
    kernel = kernel_for(policy)
    kernel.update(**make_batch(policy, seed=0), lr=1e-2, max_grad_norm=0.5, **LOSS)
    saved, weights = kernel.state_dict(), copy.deepcopy(policy.state_dict())
    assert saved["step"] == 1 and "exp_avg_sq/lstm.bias_hh_l0" in saved and "exp_avg/log_std" in saved
    kernel.update(**make_batch(policy, seed=1), lr=1e-2, max_grad_norm=0.5, **LOSS)
    after = copy.deepcopy(policy.state_dict())
    policy.load_state_dict(weights)
    fresh = kernel_for(policy)
    fresh.load_state_dict(saved)
    fresh.update(**make_batch(policy, seed=1), lr=1e-2, max_grad_norm=0.5, **LOSS)
    for name, value in policy.state_dict().items():
        assert torch.equal(value, after[name]), name


# error paths

def test_constructor_rejects_bad_arguments():
    policy = make_policy()    # towers 8 wide: the LSTM is W = 16 wide
    lstm = [t.detach().numpy() for t in (policy.lstm.weight_ih_l0, policy.lstm.weight_hh_l0,
                                        policy.lstm.bias_ih_l0, policy.lstm.bias_hh_l0)]
    with pytest.raises(TypeError, match=r"mlp must be an ActorCriticKernel \(the towers and heads\), got dict"):
        RecurrentKernel({}, *lstm)
    with pytest.raises(ValueError, match=r"weight_ih must have shape \(64, 16\) \(4W, W\) for towers of hidden "
                                         r"size 8 \(W = 16\), got \(64, 8\); build the LSTM as nn.LSTM\(16, 16\)"):
        RecurrentKernel(_towers(policy), lstm[0][:, :8].copy(), *lstm[1:])
    read_only = lstm[3].copy()
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="bias_hh must be writeable"):
        RecurrentKernel(_towers(policy), *lstm[:3], read_only)
    with pytest.raises(TypeError, match=r"bias_ih must be float32 with shape \(64,\), got float64"):
        RecurrentKernel(_towers(policy), lstm[0], lstm[1], lstm[2].astype(np.float64), lstm[3])


def _towers(policy):
    base = policy.policy
    actor = [m for m in base.actor if isinstance(m, torch.nn.Linear)]
    critic = [m for m in base.critic if isinstance(m, torch.nn.Linear)]
    return ActorCriticKernel([_linear(m) for m in actor], _linear(base.actor_head), [_linear(m) for m in critic],
                             _linear(base.value_head), [3], base.activation)


@pytest.mark.parametrize("arg, value, error, match", [
    ("indices", np.zeros(12, np.int64), ValueError, r"indices must have shape \(N, N\), got \(12,\)"),
    ("indices", np.full((2, 6), 999, np.int64), IndexError, r"indices\[0\] = 999 is outside the batch of 84 rows"),
    ("starts", np.zeros((2, 5), np.float32), ValueError, r"starts must have shape \(2, 6\), got \(2, 5\)"),
    ("h0", np.zeros((2, 8), np.float32), ValueError, r"h0 must have shape \(2, 16\), got \(2, 8\)"),
    ("masks", np.ones(84, np.float32), TypeError, r"masks must be bool with shape \(84,\), got float32"),
    ("actions", np.full((84, 1), 7, np.int32), ValueError, r"is outside the action space nvec=\[3\]"),
])
def test_update_rejects_bad_minibatches(arg, value, error, match):
    policy = make_policy()
    kernel = kernel_for(policy)
    batch = make_batch(policy, sequences=2, horizon=6, rows=84)
    batch[arg] = value
    before = [p.detach().clone() for p in policy.parameters()]
    with pytest.raises(error, match=match):
        kernel.update(**batch, lr=1e-2, max_grad_norm=0.5, **LOSS)
    assert all(torch.equal(a, b) for a, b in zip(before, policy.parameters()))


@pytest.mark.parametrize("arg, value, error, match", [
    ("h", np.zeros((3, 15), np.float32), ValueError, r"h must have shape \(3, 16\), got \(3, 15\)"),
    ("starts", np.zeros(3, np.float64), TypeError, r"starts must be float32 with shape \(3,\), got float64"),
    ("c_out", np.zeros((3, 16), np.float32)[:, ::2].repeat(2, 1)[:, :16].T.copy().T, ValueError,
     "c_out must be C-contiguous"),
])
def test_step_rejects_bad_arrays(arg, value, error, match):
    kernel = kernel_for(make_policy())
    f = lambda *shape: np.zeros(shape, np.float32)   # noqa: E731
    args = dict(obs=f(3, OBS_DIM), h=f(3, 16), c=f(3, 16), starts=f(3), logits_out=f(3, 3), values_out=f(3),
                h_out=f(3, 16), c_out=f(3, 16))
    args[arg] = value
    with pytest.raises(error, match=match):
        kernel.step(**args)


def test_load_state_dict_rejects_bad_states():
    kernel = kernel_for(make_policy())
    state = kernel.state_dict()
    with pytest.raises(TypeError, match="state must be a dict from state_dict"):
        kernel.load_state_dict([])
    missing = {k: v for k, v in state.items() if k != "exp_avg/lstm.weight_hh_l0"}
    with pytest.raises(ValueError, match=r"missing \['exp_avg/lstm.weight_hh_l0'\]"):
        kernel.load_state_dict(missing)
    wrong = dict(state, **{"exp_avg_sq/lstm.bias_ih_l0": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match=r"state\['exp_avg_sq/lstm.bias_ih_l0'\] must have shape \(64,\), got \(3,\)"):
        kernel.load_state_dict(wrong)
