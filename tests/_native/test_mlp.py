"""The actor-critic MLP kernel against torch: forward, loss gradients, Adam steps; threads; error paths."""
import numpy as np
import pytest
import torch
from pufferlib._native.mlp import ActorCriticKernel, _fast_tanh
from torch import nn
from torch.distributions import Categorical

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
    return ActorCriticKernel(a[:-1], a[-1], c[:-1], c[-1], nvec, activation, **kwargs)


def named_parameters(actor, critic):
    """Torch parameters under the kernel's names."""
    out = {}
    for tower_name, tower in (("actor", actor), ("critic", critic)):
        lins = linears(tower)
        for i, m in enumerate(lins):
            prefix = f"{tower_name}.{i}" if i < len(lins) - 1 else f"{tower_name}_head"
            out[f"{prefix}.weight"] = m.weight
            out[f"{prefix}.bias"] = m.bias
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
               clip_vloss=False, vf_clip_coef=0.2):
    """cleanrl's PPO loss on the minibatch, in torch."""
    idx = torch.from_numpy(indices)
    b = {k: torch.from_numpy(v)[idx] for k, v in batch.items()}
    newlogp, entropy = policy_terms(actor(b["obs"]), b["actions"], nvec)
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


def assert_grads_close(kernel_grads, actor, critic):
    """Within 1e-5 of the largest gradient element: a gradient that is a sum of cancelling terms (a head's
    bias with normalized advantages) has float32 summation noise on the scale of its terms, not its value."""
    params = named_parameters(actor, critic)
    scale = max(float(p.grad.abs().max()) for p in params.values())
    for name, param in params.items():
        np.testing.assert_allclose(kernel_grads[name], param.grad.numpy(), rtol=0, atol=1e-5 * scale,
                                   err_msg=name)


# forward

@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("nvec", [[2], [3, 4, 2]])
@pytest.mark.parametrize("hidden", [24, 64])
def test_forward_matches_torch(activation, num_layers, nvec, hidden):
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


def test_fast_tanh_is_accurate_and_odd():
    x = np.concatenate([np.linspace(-12, 12, 200001), np.geomspace(1e-8, 1.0, 1000)]).astype(np.float32)
    got = _fast_tanh(x)
    expected = np.tanh(x.astype(np.float64))
    assert np.max(np.abs(got - expected) / np.abs(expected).clip(1e-30)) < 1e-6
    assert np.array_equal(_fast_tanh(-x), -got)
    assert _fast_tanh(np.zeros(1, np.float32))[0] == 0.0


# gradients

@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("norm_adv", [True, False])
@pytest.mark.parametrize("clip_vloss", [True, False])
@pytest.mark.parametrize("ent_coef", [0.0, 0.05])
def test_gradients_match_torch_autograd(activation, norm_adv, clip_vloss, ent_coef):
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


def test_gradients_match_torch_for_multidiscrete_and_repeated_indices():
    nvec = [3, 4, 2]
    actor, critic = torch_towers(6, 40, 2, sum(nvec), "tanh", head_scale=3.0)
    kernel = kernel_for(actor, critic, nvec, "tanh")
    batch = make_batch(actor, 6, nvec, rows=150)
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
    params = list(actor.parameters()) + list(critic.parameters())
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

def test_two_threads_are_bit_identical_to_one():
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
