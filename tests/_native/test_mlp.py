"""The actor-critic MLP kernel against torch: forward, loss gradients, Adam steps; threads; error paths."""
import gymnasium
import numpy as np
import pytest
import torch
from kernel_fixtures import instruction_set_fixture
from torch import nn
from torch.distributions import Categorical

from pufferlib._native import mlp
from pufferlib.train.policies import ActionDistribution

instruction_set = instruction_set_fixture()

torch.set_num_threads(1)


def torch_towers(obs_dim, hidden, num_layers, num_actions, activation, seed=0, head_scale=1.0):
    """The reference network: two nn.Sequential towers, as a torch policy would build them."""
    torch.manual_seed(seed)
    act = nn.ReLU if activation == "relu" else nn.Tanh

    def tower(out):
        layers, width = [], obs_dim
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden), act()]
            width = hidden
        head = nn.Linear(hidden, out)
        with torch.no_grad():
            head.weight.mul_(head_scale)
        return nn.Sequential(*layers, head)

    return tower(num_actions), tower(1)


def linears(tower):
    return [m for m in tower if isinstance(m, nn.Linear)]


def kernel_for(actor, critic, nvec, activation, **kwargs):
    """A kernel over the modules' own parameter memory."""
    def pairs(tower):
        return [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in linears(tower)]
    a, c = pairs(actor), pairs(critic)
    return mlp.ActorCriticKernel(a[:-1], a[-1], c[:-1], c[-1], nvec, activation, **kwargs)


def named_parameters(actor, critic, log_std=None):
    """Torch parameters under the kernel's names."""
    out = {}
    for tower_name, tower in (("actor", actor), ("critic", critic)):
        lins = linears(tower)
        for i, m in enumerate(lins):
            prefix = f"{tower_name}.{i}" if i < len(lins) - 1 else f"{tower_name}_head"
            out[f"{prefix}.weight"] = m.weight
            out[f"{prefix}.bias"] = m.bias
    if log_std is not None:
        out["log_std"] = log_std
    return out


def make_batch(actor, obs_dim, nvec, rows=300, seed=1, logprob_noise=0.5):
    """A batch whose old log-probabilities differ from the policy's, so that ratios get clipped."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(rows, obs_dim)).astype(np.float32)
    actions = np.stack([rng.integers(0, n, rows) for n in nvec], axis=1).astype(np.int32)
    with torch.no_grad():
        logp = policy_terms(actor(torch.from_numpy(obs)), torch.from_numpy(actions), nvec)[0].numpy()
    return dict(
        obs=obs,
        actions=actions,
        old_logprobs=(logp + rng.normal(scale=logprob_noise, size=rows)).astype(np.float32),
        advantages=rng.normal(loc=0.3, size=rows).astype(np.float32),
        returns=rng.normal(size=rows).astype(np.float32),
        old_values=rng.normal(scale=0.3, size=rows).astype(np.float32),
    )


def policy_terms(logits, actions, nvec):
    dists = [Categorical(logits=part) for part in torch.split(logits, list(nvec), dim=1)]
    logp = sum(d.log_prob(actions[:, i].long()) for i, d in enumerate(dists))
    entropy = sum(d.entropy() for d in dists)
    return logp, entropy


def torch_loss(actor, critic, batch, indices, nvec, clip_coef=0.2, vf_coef=0.5, ent_coef=0.01, norm_adv=True,
               clip_vloss=False, vf_clip_coef=0.2, dist=None, log_std=None):
    """cleanrl's PPO loss on the minibatch, in torch; with `dist` (an ActionDistribution), its log-probs."""
    idx = torch.from_numpy(indices)
    b = {k: torch.from_numpy(v)[idx] for k, v in batch.items()}
    if dist is None:
        newlogp, entropy = policy_terms(actor(b["obs"]), b["actions"], nvec)
    else:
        newlogp, entropy = dist.log_prob_entropy(actor(b["obs"]), b["actions"], log_std)
    newvalue = critic(b["obs"]).view(-1)
    logratio = newlogp - b["old_logprobs"]
    ratio = logratio.exp()
    adv = b["advantages"]
    if norm_adv:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg_loss = torch.max(-adv * ratio, -adv * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)).mean()
    if clip_vloss:
        unclipped = (newvalue - b["returns"]) ** 2
        clipped = b["old_values"] + torch.clamp(newvalue - b["old_values"], -vf_clip_coef, vf_clip_coef)
        v_loss = 0.5 * torch.max(unclipped, (clipped - b["returns"]) ** 2).mean()
    else:
        v_loss = 0.5 * ((newvalue - b["returns"]) ** 2).mean()
    loss = pg_loss - ent_coef * entropy.mean() + v_loss * vf_coef
    stats = dict(policy_loss=pg_loss.item(), value_loss=v_loss.item(), entropy=entropy.mean().item(),
                 approx_kl=((ratio - 1) - logratio).mean().item(), old_approx_kl=(-logratio).mean().item(),
                 clipfrac=((ratio - 1.0).abs() > clip_coef).float().mean().item())
    return loss, stats


def minibatch(rows=300, size=200, seed=0):
    return np.random.default_rng(seed).permutation(rows)[:size].astype(np.int64)


def assert_grads_close(kernel_grads, actor, critic, log_std=None):
    """Within 1e-5 of the largest gradient element: a gradient that is a sum of cancelling terms (a head's
    bias with normalized advantages) has float32 summation noise on the scale of its terms, not its value."""
    params = named_parameters(actor, critic, log_std)
    assert set(kernel_grads) == set(params)
    scale = max(float(p.grad.abs().max()) for p in params.values())
    for name, param in params.items():
        np.testing.assert_allclose(kernel_grads[name], param.grad.numpy(), rtol=0, atol=1e-5 * scale,
                                   err_msg=name)


# forward

@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("nvec", [[2], [3, 4, 2]])
@pytest.mark.parametrize("hidden", [24, 64])
def test_forward_matches_torch(activation, num_layers, nvec, hidden, instruction_set):
    actor, critic = torch_towers(5, hidden, num_layers, sum(nvec), activation)
    kernel = kernel_for(actor, critic, nvec, activation)
    obs = np.random.default_rng(0).normal(scale=2.0, size=(100, 5)).astype(np.float32)
    logits, values = np.empty((100, sum(nvec)), np.float32), np.empty(100, np.float32)
    kernel.forward(obs, logits, values)
    with torch.no_grad():
        np.testing.assert_allclose(logits, actor(torch.from_numpy(obs)).numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(values, critic(torch.from_numpy(obs)).numpy()[:, 0], rtol=1e-5, atol=1e-5)


def test_forward_of_no_rows_writes_nothing():
    actor, critic = torch_towers(4, 8, 1, 2, "relu")
    kernel_for(actor, critic, [2], "relu").forward(np.empty((0, 4), np.float32), np.empty((0, 2), np.float32),
                                                    np.empty(0, np.float32))


def test_fast_tanh_is_accurate_and_odd(instruction_set):
    x = np.concatenate([np.linspace(-12, 12, 200001), np.geomspace(1e-8, 1.0, 1000)]).astype(np.float32)
    got = mlp._fast_tanh(x)
    expected = np.tanh(x.astype(np.float64))
    assert np.max(np.abs(got - expected) / np.abs(expected).clip(1e-30)) < 1e-6
    assert np.array_equal(mlp._fast_tanh(-x), -got)
    assert mlp._fast_tanh(np.zeros(1, np.float32))[0] == 0.0


# gradients

@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("norm_adv", [True, False])
@pytest.mark.parametrize("clip_vloss", [True, False])
@pytest.mark.parametrize("ent_coef", [0.0, 0.05])
def test_gradients_match_torch_autograd(activation, norm_adv, clip_vloss, ent_coef, instruction_set):
    nvec = [2]
    actor, critic = torch_towers(4, 32, 2, 2, activation, head_scale=5.0)
    kernel = kernel_for(actor, critic, nvec, activation)
    batch, indices = make_batch(actor, 4, nvec), minibatch()
    settings = dict(clip_coef=0.2, vf_coef=0.5, ent_coef=ent_coef, norm_adv=norm_adv, clip_vloss=clip_vloss,
                    vf_clip_coef=0.2)
    grads, stats = kernel.gradients(**batch, indices=indices, **settings)
    loss, expected = torch_loss(actor, critic, batch, indices, nvec, **settings)
    loss.backward()
    assert_grads_close(grads, actor, critic)
    assert 0.2 < stats["clipfrac"] < 0.9          # both sides of the clip are exercised
    for name, value in expected.items():
        assert stats[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    total = np.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in named_parameters(actor, critic).values()))
    assert stats["grad_norm"] == pytest.approx(total, rel=1e-5)


def test_gradients_match_torch_for_multidiscrete_and_repeated_indices(instruction_set):
    nvec = [3, 4, 2]
    actor, critic = torch_towers(11, 37, 2, sum(nvec), "tanh", head_scale=3.0)
    kernel = kernel_for(actor, critic, nvec, "tanh")
    batch = make_batch(actor, 11, nvec, rows=150)
    indices = np.random.default_rng(3).integers(0, 150, 130).astype(np.int64)
    settings = dict(clip_coef=0.1, vf_coef=0.7, ent_coef=0.02, clip_vloss=True, vf_clip_coef=0.1)
    grads, stats = kernel.gradients(**batch, indices=indices, **settings)
    loss, expected = torch_loss(actor, critic, batch, indices, nvec, **settings)
    loss.backward()
    assert_grads_close(grads, actor, critic)
    assert stats["entropy"] == pytest.approx(expected["entropy"], rel=1e-5)


def test_value_clipping_ties_split_the_gradient_like_torch():
    # old_values == returns puts both value losses at the same place for rows inside the clip
    actor, critic = torch_towers(4, 16, 1, 2, "relu")
    kernel = kernel_for(actor, critic, [2], "relu")
    batch, indices = make_batch(actor, 4, [2], rows=64), np.arange(64, dtype=np.int64)
    with torch.no_grad():
        batch["old_values"] = critic(torch.from_numpy(batch["obs"])).numpy()[:, 0].copy()
    settings = dict(clip_coef=0.2, vf_coef=0.5, ent_coef=0.0, clip_vloss=True)
    grads, _ = kernel.gradients(**batch, indices=indices, **settings)
    loss, _ = torch_loss(actor, critic, batch, indices, [2], **settings)
    loss.backward()
    assert_grads_close(grads, actor, critic)


def test_gradients_leave_weights_and_adam_state_alone():
    actor, critic = torch_towers(4, 16, 2, 2, "relu")
    kernel = kernel_for(actor, critic, [2], "relu")
    before = {k: v.detach().clone() for k, v in named_parameters(actor, critic).items()}
    kernel.gradients(**make_batch(actor, 4, [2]), indices=minibatch(), clip_coef=0.2, vf_coef=0.5, ent_coef=0.0)
    for name, param in named_parameters(actor, critic).items():
        assert torch.equal(param, before[name])
    assert kernel.step == 0
    assert all(not v.any() for k, v in kernel.state_dict().items() if k != "step")


# updates

def torch_update(actor, critic, optimizer, batch, indices, nvec, lr, max_grad_norm, **settings):
    optimizer.param_groups[0]["lr"] = lr
    loss, _ = torch_loss(actor, critic, batch, indices, nvec, **settings)
    optimizer.zero_grad()
    loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    optimizer.step()


@pytest.mark.parametrize("activation, max_grad_norm", [("relu", 0.05), ("tanh", 0.05), ("relu", 0.0),
                                                       ("tanh", 100.0)])
def test_updates_match_torch_adam(activation, max_grad_norm):
    nvec = [2]
    actor, critic = torch_towers(4, 32, 2, 2, activation, head_scale=3.0)
    ref_actor, ref_critic = torch_towers(4, 32, 2, 2, activation, head_scale=3.0)
    optimizer = torch.optim.Adam(list(ref_actor.parameters()) + list(ref_critic.parameters()), eps=1e-5)
    kernel = kernel_for(actor, critic, nvec, activation)
    batch = make_batch(actor, 4, nvec, rows=512)
    settings = dict(clip_coef=0.2, vf_coef=0.5, ent_coef=0.01, clip_vloss=True)
    for step in range(6):
        indices = minibatch(512, 256, seed=step)
        stats = kernel.update(**batch, indices=indices, lr=3e-3, max_grad_norm=max_grad_norm, **settings)
        if max_grad_norm == 0.05:
            assert stats["grad_norm"] > max_grad_norm      # the clip is active
        torch_update(ref_actor, ref_critic, optimizer, batch, indices, nvec, 3e-3, max_grad_norm, **settings)
    assert kernel.step == 6
    ref = named_parameters(ref_actor, ref_critic)
    for name, param in named_parameters(actor, critic).items():
        np.testing.assert_allclose(param.detach().numpy(), ref[name].detach().numpy(), rtol=0, atol=1e-5,
                                   err_msg=name)
    state = kernel.state_dict()
    for name, param in ref.items():
        np.testing.assert_allclose(state[f"exp_avg/{name}"], optimizer.state[param]["exp_avg"].numpy(),
                                   rtol=1e-3, atol=1e-7, err_msg=name)
        np.testing.assert_allclose(state[f"exp_avg_sq/{name}"], optimizer.state[param]["exp_avg_sq"].numpy(),
                                   rtol=1e-3, atol=1e-10, err_msg=name)


def test_update_moves_the_torch_parameters_in_place_and_accepts_1d_actions():
    actor, critic = torch_towers(4, 16, 2, 2, "relu")
    kernel = kernel_for(actor, critic, [2], "relu")
    head = actor[-1].weight
    before = head.detach().clone()
    batch = make_batch(actor, 4, [2])
    batch["actions"] = batch["actions"][:, 0].copy()
    kernel.update(**batch, indices=minibatch(), lr=1e-2, clip_coef=0.2, vf_coef=0.5, ent_coef=0.0,
                  max_grad_norm=0.5)
    assert actor[-1].weight is head and not torch.equal(head, before)


@pytest.mark.parametrize("name, index, value", [("returns", 7, np.nan), ("advantages", 3, np.inf),
                                                 ("obs", 5, np.nan)])
def test_a_non_finite_update_takes_no_step(name, index, value):
    actor, critic = torch_towers(4, 16, 2, 2, "relu")
    kernel = kernel_for(actor, critic, [2], "relu")
    batch = make_batch(actor, 4, [2])
    settings = dict(clip_coef=0.2, vf_coef=0.5, ent_coef=0.01, max_grad_norm=0.5)
    kernel.update(**batch, indices=minibatch(), lr=1e-2, **settings)  # Adam has state to lose
    before = {k: v.detach().clone() for k, v in named_parameters(actor, critic).items()}
    state = kernel.state_dict()
    batch[name].reshape(-1)[index * batch[name][0].size] = value
    stats = kernel.update(**batch, indices=np.arange(300, dtype=np.int64), lr=1e-2, **settings)
    assert not np.isfinite([stats[k] for k in ("grad_norm", "policy_loss", "value_loss", "entropy")]).all()
    assert kernel.step == 1
    for key, param in named_parameters(actor, critic).items():
        assert torch.equal(param, before[key]), key
    assert all(np.array_equal(v, state[k]) for k, v in kernel.state_dict().items())


def test_state_dict_round_trip_continues_identically():
    def run(kernel, batch, seeds):
        for seed in seeds:
            kernel.update(**batch, indices=minibatch(seed=seed), lr=1e-2, clip_coef=0.2, vf_coef=0.5,
                          ent_coef=0.01, max_grad_norm=0.5)

    actor, critic = torch_towers(4, 16, 2, 2, "tanh")
    kernel = kernel_for(actor, critic, [2], "tanh")
    batch = make_batch(actor, 4, [2])
    run(kernel, batch, [0, 1])
    saved_state = kernel.state_dict()
    saved_weights = {k: v.detach().clone() for k, v in named_parameters(actor, critic).items()}
    run(kernel, batch, [2, 3])

    actor2, critic2 = torch_towers(4, 16, 2, 2, "tanh", seed=7)
    with torch.no_grad():
        for name, param in named_parameters(actor2, critic2).items():
            param.copy_(saved_weights[name])
    kernel2 = kernel_for(actor2, critic2, [2], "tanh")
    kernel2.load_state_dict(saved_state)
    assert kernel2.step == 2
    run(kernel2, batch, [2, 3])
    for (name, p1), p2 in zip(named_parameters(actor, critic).items(), named_parameters(actor2, critic2).values()):
        assert torch.equal(p1, p2), name
    for key, value in kernel.state_dict().items():
        assert np.array_equal(value, kernel2.state_dict()[key]), key


# threads

def test_two_threads_are_bit_identical_to_one(instruction_set):
    results = []
    for threads in (1, 2):
        actor, critic = torch_towers(4, 32, 2, 3, "tanh")
        kernel = kernel_for(actor, critic, [3], "tanh", num_threads=threads)
        batch = make_batch(actor, 4, [3], rows=700)
        stats = [kernel.update(**batch, indices=minibatch(700, 600, seed=s), lr=1e-2, clip_coef=0.2,
                               vf_coef=0.5, ent_coef=0.01, max_grad_norm=0.5) for s in range(3)]
        logits, values = np.empty((700, 3), np.float32), np.empty(700, np.float32)
        kernel.forward(batch["obs"], logits, values)
        weights = [p.detach().numpy().copy() for p in named_parameters(actor, critic).values()]
        results.append((stats, logits, values, weights))
    (s1, l1, v1, w1), (s2, l2, v2, w2) = results
    assert s1 == s2
    assert np.array_equal(l1, l2) and np.array_equal(v1, v2)
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))


# error paths

def linear(out_dim, in_dim):
    return (np.zeros((out_dim, in_dim), np.float32), np.zeros(out_dim, np.float32))


def small_kernel(**kwargs):
    return mlp.ActorCriticKernel([linear(8, 4)], linear(2, 8), [linear(8, 4)], linear(1, 8), [2], **kwargs)


@pytest.mark.parametrize("change, error, match", [
    (dict(activation="gelu"), ValueError, "activation must be one of"),
    (dict(num_threads=0), ValueError, "num_threads must be a positive integer"),
    (dict(nvec=[]), ValueError, "nvec must be a non-empty list"),
    (dict(nvec=[0]), ValueError, "nvec must be a non-empty list of positive"),
    (dict(nvec="ab"), TypeError, "nvec must be a list of ints"),
    (dict(nvec=[3]), ValueError, r"actor_head W must have shape \(3, 8\), got \(2, 8\)"),
    (dict(betas=(0.9, 1.5)), ValueError, "betas must be two numbers"),
    (dict(adam_eps=0.0), ValueError, "adam_eps must be positive"),
    (dict(actor_layers=[]), ValueError, "actor_layers must be a list of 1 to 8"),
    (dict(actor_layers=[np.zeros(3)]), TypeError, r"actor_layers\[0\] must be a \(W, b\) pair"),
    (dict(critic_layers=[linear(8, 4), linear(8, 8)]), ValueError, "critic_layers must have as many layers"),
    (dict(critic_layers=[linear(8, 5)]), ValueError, r"critic_layers\[0\] W must have shape \(8, 4\)"),
    (dict(critic_head=(np.zeros((1, 8)), np.zeros(1, np.float32))), TypeError,
     "critic_head W must be float32 with shape"),
    (dict(actor_head=(np.zeros((8, 2), np.float32).T, np.zeros(2, np.float32))), ValueError,
     "actor_head W must be C-contiguous"),
    (dict(actor_head=(torch.zeros(2, 8), np.zeros(2, np.float32))), TypeError,
     r"must be a numpy array .*tensor.numpy\(\)"),
])
def test_constructor_rejects_bad_arguments(change, error, match):
    args = dict(actor_layers=[linear(8, 4)], actor_head=linear(2, 8), critic_layers=[linear(8, 4)],
                critic_head=linear(1, 8), nvec=[2])
    args.update(change)
    with pytest.raises(error, match=match):
        mlp.ActorCriticKernel(**args)


def test_constructor_rejects_read_only_weights():
    w, b = linear(2, 8)
    w.flags.writeable = False
    with pytest.raises(ValueError, match="actor_head W must be writeable"):
        mlp.ActorCriticKernel([linear(8, 4)], (w, b), [linear(8, 4)], linear(1, 8), [2])


@pytest.mark.parametrize("arg, value, error, match", [
    ("obs", np.zeros((5, 4)), TypeError, r"obs must be float32 with shape \(N, 4\), got float64"),
    ("obs", np.zeros((5, 3), np.float32), ValueError, r"obs must have shape \(N, 4\), got \(5, 3\)"),
    ("obs", np.zeros((5, 8), np.float32)[:, ::2], ValueError, "obs must be C-contiguous"),
    ("logits_out", np.zeros((4, 2), np.float32), ValueError, r"logits_out must have shape \(5, 2\)"),
    ("values_out", np.zeros(5, np.float64), TypeError, "values_out must be float32"),
    ("values_out", [0.0] * 5, TypeError, "values_out must be a numpy array"),
])
def test_forward_rejects_bad_arrays(arg, value, error, match):
    arrays = dict(obs=np.zeros((5, 4), np.float32), logits_out=np.zeros((5, 2), np.float32),
                  values_out=np.zeros(5, np.float32))
    arrays[arg] = value
    with pytest.raises(error, match=match):
        small_kernel().forward(**arrays)


def test_forward_rejects_read_only_outputs():
    values = np.zeros(5, np.float32)
    values.flags.writeable = False
    with pytest.raises(ValueError, match="values_out must be writeable"):
        small_kernel().forward(np.zeros((5, 4), np.float32), np.zeros((5, 2), np.float32), values)


def update_arrays(rows=10):
    return dict(obs=np.zeros((rows, 4), np.float32), actions=np.zeros((rows, 1), np.int32),
                old_logprobs=np.zeros(rows, np.float32), advantages=np.arange(rows, dtype=np.float32),
                returns=np.zeros(rows, np.float32), old_values=np.zeros(rows, np.float32),
                indices=np.arange(rows, dtype=np.int64))


SETTINGS = dict(lr=1e-3, clip_coef=0.2, vf_coef=0.5, ent_coef=0.0, max_grad_norm=0.5)


@pytest.mark.parametrize("arg, value, error, match", [
    ("obs", np.zeros((10, 4), np.float64), TypeError, "obs must be float32"),
    ("actions", np.zeros((10, 1), np.int64), TypeError, r"actions must be int32 with shape \(10, 1\), got int64"),
    ("actions", np.zeros((10, 2), np.int32), ValueError, r"actions must have shape \(10, 1\), got \(10, 2\)"),
    ("old_logprobs", np.zeros(9, np.float32), ValueError, r"old_logprobs must have shape \(10,\), got \(9,\)"),
    ("advantages", np.zeros(20, np.float32)[::2], ValueError, "advantages must be C-contiguous"),
    ("returns", np.zeros(10, np.float64), TypeError, "returns must be float32"),
    ("old_values", None, TypeError, "old_values must be a numpy array"),
    ("indices", np.arange(10, dtype=np.int32), TypeError, "indices must be int64"),
    ("indices", np.zeros(0, np.int64), ValueError, "indices must select at least one row"),
    ("indices", np.array([0, 10], np.int64), IndexError, r"indices\[1\] = 10 is outside the batch of 10 rows"),
    ("indices", np.array([-1, 3], np.int64), IndexError, r"indices\[0\] = -1 is outside the batch"),
    ("indices", np.array([3], np.int64), ValueError, "norm_adv needs at least 2 rows"),
    ("actions", np.full((10, 1), 2, np.int32), ValueError, r"actions\[0\] = \[2\] is outside the action space"),
    ("actions", np.full((10, 1), -1, np.int32), ValueError, r"is outside the action space nvec=\[2\]"),
])
@pytest.mark.parametrize("method", ["update", "gradients"])
def test_update_rejects_bad_batches(arg, value, error, match, method):
    kernel = small_kernel()
    arrays = update_arrays()
    arrays[arg] = value
    settings = dict(SETTINGS) if method == "update" else dict(clip_coef=0.2, vf_coef=0.5, ent_coef=0.0)
    with pytest.raises(error, match=match):
        getattr(kernel, method)(**arrays, **settings)
    assert kernel.step == 0


def test_a_single_row_is_fine_without_advantage_normalization():
    arrays = dict(update_arrays(), indices=np.array([3], np.int64))
    arrays["old_logprobs"][:] = np.log(0.5)         # zero weights: both actions at probability 0.5
    stats = small_kernel().update(**arrays, norm_adv=False, **SETTINGS)
    assert stats["clipfrac"] == 0.0 and stats["approx_kl"] == pytest.approx(0.0, abs=1e-7)
    assert stats["policy_loss"] == pytest.approx(-3.0)


@pytest.mark.parametrize("mutate, error, match", [
    (lambda s: "state", TypeError, "state must be a dict from state_dict"),
    (lambda s: {k: v for k, v in s.items() if k != "exp_avg/actor.0.bias"}, ValueError,
     r"missing \['exp_avg/actor.0.bias'\]"),
    (lambda s: dict(s, extra=1), ValueError, r"unexpected \['extra'\]"),
    (lambda s: dict(s, step=-1), ValueError, "state\\['step'\\] must be a non-negative int"),
    (lambda s: dict(s, step=1.5), ValueError, "state\\['step'\\] must be a non-negative int"),
    (lambda s: {**s, "exp_avg_sq/critic_head.weight": np.zeros((8, 1), np.float32)}, ValueError,
     r"state\['exp_avg_sq/critic_head.weight'\] must have shape \(1, 8\), got \(8, 1\)"),
    (lambda s: {**s, "exp_avg/actor.0.weight": np.zeros((8, 4), np.int32)}, TypeError,
     "must be a float array, got int32"),
])
def test_load_state_dict_rejects_bad_states(mutate, error, match):
    kernel = small_kernel()
    kernel.update(**update_arrays(), **SETTINGS)
    before = kernel.state_dict()
    with pytest.raises(error, match=match):
        kernel.load_state_dict(mutate(kernel.state_dict()))
    after = kernel.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_byteswapped_arrays_are_rejected_and_subclasses_accepted():
    kernel = small_kernel()
    arrays = update_arrays()
    with pytest.raises(TypeError, match="obs must be float32 with shape .* got >f4"):
        kernel.update(**dict(arrays, obs=arrays["obs"].astype(">f4")), **SETTINGS)

    class Sub(np.ndarray):
        pass

    stats = kernel.update(**dict(arrays, obs=arrays["obs"].view(Sub)), **SETTINGS)
    assert kernel.step == 1 and np.isfinite(stats["value_loss"])


def test_workspaces_grow_with_the_minibatch_without_changing_results():
    actor, critic = torch_towers(4, 16, 2, 2, "relu")
    batch = make_batch(actor, 4, [2], rows=700)
    large = minibatch(700, 650, seed=1)
    settings = dict(clip_coef=0.2, vf_coef=0.5, ent_coef=0.01)
    fresh, _ = kernel_for(actor, critic, [2], "relu").gradients(**batch, indices=large, **settings)
    used = kernel_for(actor, critic, [2], "relu")
    used.gradients(**batch, indices=minibatch(700, 10), **settings)
    grown, _ = used.gradients(**batch, indices=large, **settings)
    used.gradients(**batch, indices=minibatch(700, 10), **settings)
    again, _ = used.gradients(**batch, indices=large, **settings)
    for name in fresh:
        assert np.array_equal(fresh[name], grown[name]) and np.array_equal(fresh[name], again[name])


# action kinds: categorical, MultiDiscrete, Gaussian (Box) and mixed rows, against ActionDistribution

ACTION_KINDS = {
    "discrete": (gymnasium.spaces.Discrete(3), None),
    "multidiscrete": (gymnasium.spaces.MultiDiscrete([3, 4, 2]), None),
    "box": (gymnasium.spaces.Box(-1, 1, (2,)), None),
    "mixed": (gymnasium.spaces.Box(-1, 4, (4,)), [3, 0, 2, 0]),   # an emulated Dict/Tuple action space
}


def kind_setup(kind, obs_dim=6, hidden=24, num_layers=2, activation="tanh", seed=0, **kwargs):
    """(dist, actor, critic, log_std, kernel): the torch reference of an action kind and a kernel on its memory."""
    space, nvec = ACTION_KINDS[kind]
    dist = ActionDistribution(space, nvec)
    actor, critic = torch_towers(obs_dim, hidden, num_layers, dist.num_params, activation, seed=seed,
                                 head_scale=3.0)
    log_std = None
    if dist.num_continuous:
        log_std = nn.Parameter(torch.linspace(-0.6, 0.4, dist.num_continuous))
    kernel = kernel_for(actor, critic, [int(n) for n in dist.nvec], activation,
                        log_std=None if log_std is None else log_std.detach().numpy(), **kwargs)
    return dist, actor, critic, log_std, kernel


def kind_batch(dist, actor, log_std, obs_dim=6, rows=300, seed=1):
    """Actions sampled by ActionDistribution (continuous ones unclipped), old log-probs moved off the policy's."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(rows, obs_dim)).astype(np.float32)
    with torch.no_grad():
        params = actor(torch.from_numpy(obs))
        actions = dist.sample(params, log_std, torch.Generator().manual_seed(seed))
        logp, _ = dist.log_prob_entropy(params, actions, log_std)
    return dict(obs=obs, actions=actions.numpy(),
                old_logprobs=(logp.numpy() + rng.normal(scale=0.5, size=rows)).astype(np.float32),
                advantages=rng.normal(loc=0.3, size=rows).astype(np.float32),
                returns=rng.normal(size=rows).astype(np.float32),
                old_values=rng.normal(scale=0.3, size=rows).astype(np.float32))


@pytest.mark.parametrize("kind", list(ACTION_KINDS))
def test_action_kinds_forward_gives_the_actor_head(kind):
    dist, actor, critic, log_std, kernel = kind_setup(kind)
    obs = np.random.default_rng(0).normal(size=(70, 6)).astype(np.float32)
    params, values = np.empty((70, dist.num_params), np.float32), np.empty(70, np.float32)
    assert kernel.num_actions == dist.num_params
    kernel.forward(obs, params, values)
    with torch.no_grad():
        np.testing.assert_allclose(params, actor(torch.from_numpy(obs)).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", list(ACTION_KINDS))
@pytest.mark.parametrize("ent_coef, clip_vloss", [(0.0, False), (0.05, True)])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_action_kinds_gradients_match_torch_autograd(kind, ent_coef, clip_vloss, activation, instruction_set):
    dist, actor, critic, log_std, kernel = kind_setup(kind, activation=activation)
    batch, indices = kind_batch(dist, actor, log_std), minibatch()
    settings = dict(clip_coef=0.2, vf_coef=0.5, ent_coef=ent_coef, clip_vloss=clip_vloss)
    grads, stats = kernel.gradients(**batch, indices=indices, **settings)
    loss, expected = torch_loss(actor, critic, batch, indices, None, dist=dist, log_std=log_std, **settings)
    loss.backward()
    assert_grads_close(grads, actor, critic, log_std)
    if log_std is not None:    # log_std's gradient is a sum over rows: check it on its own scale too
        expected_grad = log_std.grad.numpy()
        np.testing.assert_allclose(grads["log_std"], expected_grad, rtol=0, atol=1e-5 * np.abs(expected_grad).max())
    assert 0.1 < stats["clipfrac"] < 0.9
    for name, value in expected.items():
        assert stats[name] == pytest.approx(value, rel=1e-5, abs=1e-5), name
    params = named_parameters(actor, critic, log_std).values()
    assert stats["grad_norm"] == pytest.approx(np.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in params)),
                                               rel=1e-5)


@pytest.mark.parametrize("kind", list(ACTION_KINDS))
@pytest.mark.parametrize("max_grad_norm", [0.05, 0.0])
def test_action_kinds_updates_match_torch_adam(kind, max_grad_norm):
    dist, actor, critic, log_std, kernel = kind_setup(kind)
    _, ref_actor, ref_critic, ref_log_std, _ = kind_setup(kind)
    params = list(ref_actor.parameters()) + list(ref_critic.parameters()) + ([ref_log_std] if ref_log_std is not None else [])
    optimizer = torch.optim.Adam(params, eps=1e-5)
    batch = kind_batch(dist, actor, log_std, rows=512)
    settings = dict(clip_coef=0.2, vf_coef=0.5, ent_coef=0.01, clip_vloss=True)
    for step in range(6):
        indices = minibatch(512, 256, seed=step)
        stats = kernel.update(**batch, indices=indices, lr=3e-3, max_grad_norm=max_grad_norm, **settings)
        if max_grad_norm:
            assert stats["grad_norm"] > max_grad_norm      # the clip is active
        torch_update(ref_actor, ref_critic, optimizer, batch, indices, None, 3e-3, max_grad_norm, dist=dist,
                     log_std=ref_log_std, **settings)
    ref = named_parameters(ref_actor, ref_critic, ref_log_std)
    for name, param in named_parameters(actor, critic, log_std).items():
        np.testing.assert_allclose(param.detach().numpy(), ref[name].detach().numpy(), rtol=0, atol=1e-5,
                                   err_msg=name)
    if log_std is not None:
        assert not torch.equal(log_std, torch.linspace(-0.6, 0.4, dist.num_continuous))   # it learned, in place
        state = kernel.state_dict()
        for kind_name in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(state[f"{kind_name}/log_std"], optimizer.state[ref_log_std][kind_name].numpy(),
                                       rtol=1e-3, atol=1e-10)


@pytest.mark.parametrize("kind", list(ACTION_KINDS))
def test_action_kinds_two_threads_are_bit_identical_to_one(kind, instruction_set):
    results = []
    for threads in (1, 2):
        dist, actor, critic, log_std, kernel = kind_setup(kind, num_threads=threads)
        batch = kind_batch(dist, actor, log_std, rows=700)
        stats = [kernel.update(**batch, indices=minibatch(700, 600, seed=s), lr=1e-2, clip_coef=0.2,
                               vf_coef=0.5, ent_coef=0.01, max_grad_norm=0.5) for s in range(3)]
        weights = [p.detach().numpy().copy() for p in named_parameters(actor, critic, log_std).values()]
        results.append((stats, weights))
    (s1, w1), (s2, w2) = results
    assert s1 == s2
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))


@pytest.mark.parametrize("kind", ["box", "mixed"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_a_non_finite_continuous_action_takes_no_step(kind, value):
    dist, actor, critic, log_std, kernel = kind_setup(kind)
    batch = kind_batch(dist, actor, log_std)
    settings = dict(clip_coef=0.2, vf_coef=0.5, ent_coef=0.01, max_grad_norm=0.5)
    kernel.update(**batch, indices=minibatch(), lr=1e-2, **settings)  # Adam has state to lose
    before = {k: v.detach().clone() for k, v in named_parameters(actor, critic, log_std).items()}
    state = kernel.state_dict()
    batch["actions"][5, np.flatnonzero(dist.nvec == 0)[-1]] = value
    stats = kernel.update(**batch, indices=np.arange(300, dtype=np.int64), lr=1e-2, **settings)
    assert not np.isfinite([stats[k] for k in ("grad_norm", "policy_loss", "value_loss", "entropy")]).all()
    assert kernel.step == 1
    for key, param in named_parameters(actor, critic, log_std).items():
        assert torch.equal(param, before[key]), key
    assert all(np.array_equal(v, state[k]) for k, v in kernel.state_dict().items())


@pytest.mark.parametrize("entry, value", [(0, 3.0), (0, -1.0), (2, 0.5), (2, np.nan), (0, np.inf)])
def test_mixed_rows_reject_a_categorical_entry_outside_its_space(entry, value):
    dist, actor, critic, log_std, kernel = kind_setup("mixed")
    batch = kind_batch(dist, actor, log_std)
    batch["actions"][7, entry] = value
    with pytest.raises(ValueError, match=r"actions\[7\] = \[.*\] is outside the action space nvec=\[3, 0, 2, 0\] "
                                         r"\(each categorical entry must be a whole number in \[0, n\)"):
        kernel.update(**batch, indices=np.arange(300, dtype=np.int64), lr=1e-2, clip_coef=0.2, vf_coef=0.5,
                      ent_coef=0.0, max_grad_norm=0.5)
    assert kernel.step == 0


def test_continuous_actions_must_be_float32_rows():
    dist, actor, critic, log_std, kernel = kind_setup("mixed")
    batch = kind_batch(dist, actor, log_std)
    with pytest.raises(TypeError, match=r"actions must be float32 with shape \(300, 4\), got int32"):
        kernel.gradients(**dict(batch, actions=batch["actions"].astype(np.int32)), indices=minibatch(),
                         clip_coef=0.2, vf_coef=0.5, ent_coef=0.0)


def test_log_std_is_in_the_state_dict_and_round_trips():
    _, actor, critic, log_std, kernel = kind_setup("box")
    batch = kind_batch(ActionDistribution(*ACTION_KINDS["box"]), actor, log_std)
    kernel.update(**batch, indices=minibatch(), lr=1e-2, clip_coef=0.2, vf_coef=0.5, ent_coef=0.0,
                  max_grad_norm=0.5)
    state = kernel.state_dict()
    assert kernel.parameter_names[-1] == "log_std" and state["exp_avg/log_std"].shape == (2,)
    assert state["exp_avg/log_std"].any()
    other = kind_setup("box")[-1]
    other.load_state_dict(state)
    assert all(np.array_equal(v, other.state_dict()[k]) for k, v in state.items())


@pytest.mark.parametrize("nvec, log_std, error, match", [
    ([2, 0], None, ValueError, r"nvec must be a non-empty list of positive action sizes, or have its 0s .* got "
                               r"\[2, 0\] without log_std \(pass log_std="),
    ([2], np.zeros(1, np.float32), ValueError, r"log_std must be None when nvec has no continuous entry"),
    ([2, 0, 0], np.zeros(1, np.float32), ValueError, r"log_std must have shape \(2,\), got \(1,\)"),
    ([2, 0], np.zeros(1, np.float64), TypeError, r"log_std must be float32 with shape \(1,\), got float64"),
    ([2, 0], torch.zeros(1), TypeError, r"log_std must be a numpy array .*tensor.numpy\(\)"),
    ([-1], None, ValueError, r"nvec must be a non-empty list of positive action sizes \(0 for a continuous "
                             r"entry\), got \[-1\]"),
])
def test_constructor_rejects_bad_log_std(nvec, log_std, error, match):
    width = sum(nvec) + nvec.count(0)
    with pytest.raises(error, match=match):
        mlp.ActorCriticKernel([linear(8, 4)], linear(max(width, 1), 8), [linear(8, 4)], linear(1, 8), nvec,
                              log_std=log_std)


def test_constructor_rejects_a_read_only_log_std():
    log_std = np.zeros(1, np.float32)
    log_std.flags.writeable = False
    with pytest.raises(ValueError, match="log_std must be writeable"):
        mlp.ActorCriticKernel([linear(8, 4)], linear(3, 8), [linear(8, 4)], linear(1, 8), [2, 0], log_std=log_std)


def test_gradients_with_action_masks_match_torch_on_masked_logits(instruction_set):
    nvec = [3, 4, 2]
    actor, critic = torch_towers(11, 37, 2, sum(nvec), "tanh", head_scale=3.0)
    kernel = kernel_for(actor, critic, nvec, "tanh")
    batch = make_batch(actor, 11, nvec, rows=150)
    rng = np.random.default_rng(5)
    legal = rng.random((150, sum(nvec))) < 0.5
    offsets = np.cumsum([0] + nvec[:-1])
    legal[np.arange(150)[:, None], offsets + batch["actions"]] = True  # a masked policy sampled them
    indices = minibatch(150, 120)
    settings = dict(clip_coef=0.2, vf_coef=0.5, ent_coef=0.05)
    grads, stats = kernel.gradients(**batch, indices=indices, action_masks=legal, **settings)
    dist = ActionDistribution(gymnasium.spaces.MultiDiscrete(nvec))
    rows_legal = torch.from_numpy(legal[indices])

    def masked_actor(obs):
        return dist.mask(actor(obs), rows_legal)

    loss, expected = torch_loss(masked_actor, critic, batch, indices, nvec, dist=dist, **settings)
    loss.backward()
    assert_grads_close(grads, actor, critic)
    assert stats["entropy"] == pytest.approx(expected["entropy"], rel=1e-5)
    unmasked = kernel.gradients(**batch, indices=indices, **settings)[1]
    assert stats["entropy"] < unmasked["entropy"]  # fewer choices: less entropy


def test_action_masks_of_the_wrong_shape_are_refused():
    nvec = [3, 2]
    actor, critic = torch_towers(5, 16, 1, sum(nvec), "relu")
    kernel = kernel_for(actor, critic, nvec, "relu")
    batch = make_batch(actor, 5, nvec, rows=20)
    with pytest.raises(ValueError, match="action_masks"):
        kernel.gradients(**batch, indices=minibatch(20, 10), clip_coef=0.2, vf_coef=0.5, ent_coef=0.0,
                         action_masks=np.ones((20, 4), np.bool_))
