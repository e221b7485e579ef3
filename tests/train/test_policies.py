import gymnasium
import numpy as np
import pytest
import torch

from pufferlib import emulation
from pufferlib.train.policies import ActionDistribution, LSTMPolicy, Policy

BOX = gymnasium.spaces.Box(-1, 1, (4,), np.float32)


def lstm_policy(seed=0):
    torch.manual_seed(seed)
    return LSTMPolicy(Policy(BOX, gymnasium.spaces.Discrete(3), hidden_size=8))


def test_orthogonal_init_gains():
    policy = Policy(BOX, gymnasium.spaces.Discrete(2), hidden_size=16)
    w = policy.actor[0].weight.detach()
    # rows of an orthogonal (out <= in is false here: 16 x 4) matrix with gain sqrt(2): W^T W = 2 I
    assert torch.allclose(w.T @ w, 2 * torch.eye(4), atol=1e-5)
    head = policy.actor_head.weight.detach()
    assert torch.allclose(head @ head.T, 1e-4 * torch.eye(2), atol=1e-7)
    value = policy.value_head.weight.detach()
    assert torch.allclose((value ** 2).sum(), torch.tensor(1.0), atol=1e-5)
    assert all(float(p.detach().abs().sum()) == 0 for name, p in policy.named_parameters() if name.endswith("bias"))


@pytest.mark.parametrize("space", [gymnasium.spaces.Discrete(5), gymnasium.spaces.MultiDiscrete([3, 4]),
                                   gymnasium.spaces.Box(-2, 2, (3,), np.float32)])
def test_log_prob_and_entropy_match_torch_distributions(space):
    torch.manual_seed(0)
    dist = ActionDistribution(space)
    params = torch.randn(64, dist.num_params)
    log_std = torch.randn(dist.num_continuous) * 0.3 if dist.num_continuous else None
    actions = dist.sample(params, log_std, torch.Generator().manual_seed(1))
    logp, entropy = dist.log_prob_entropy(params, actions, log_std)
    if isinstance(space, gymnasium.spaces.Box):
        ref = torch.distributions.Normal(params, log_std.exp())
        assert torch.allclose(logp, ref.log_prob(actions).sum(-1), atol=1e-5)
        assert torch.allclose(entropy, ref.entropy().sum(-1), atol=1e-5)
        return
    sizes = [int(space.n)] if isinstance(space, gymnasium.spaces.Discrete) else list(space.nvec)
    rows = actions.reshape(64, -1).long()
    ref_logp, ref_entropy = 0, 0
    for k, logits in enumerate(params.split(sizes, -1)):
        cat = torch.distributions.Categorical(logits=logits)
        ref_logp = ref_logp + cat.log_prob(rows[:, k])
        ref_entropy = ref_entropy + cat.entropy()
    assert torch.allclose(logp, ref_logp, atol=1e-5)
    assert torch.allclose(entropy, ref_entropy, atol=1e-5)
    assert actions.dtype == torch.int32 and ((rows >= 0) & (rows < torch.tensor(sizes))).all()


def test_sampling_follows_the_probabilities():
    dist = ActionDistribution(gymnasium.spaces.Discrete(3))
    logits = torch.log(torch.tensor([[0.2, 0.5, 0.3]])).expand(60000, 3)
    actions = dist.sample(logits, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(actions.long(), minlength=3).float() / 60000
    assert torch.allclose(freq, torch.tensor([0.2, 0.5, 0.3]), atol=0.01)
    assert (dist.sample(logits, deterministic=True) == 1).all()


def test_mixed_discrete_and_continuous_actions():
    space = gymnasium.spaces.Dict(move=gymnasium.spaces.Box(-1, 1, (2,)), fire=gymnasium.spaces.Discrete(3))
    layout = emulation.ActionLayout(space)
    dist = ActionDistribution(layout.flat_space, layout.nvec)
    assert dist.num_params == 3 + 2 and dist.num_continuous == 2
    params = torch.randn(10, dist.num_params) * 5
    actions = dist.sample(params, torch.zeros(2), torch.Generator().manual_seed(0))
    clipped = dist.clip(actions)
    index = np.flatnonzero(layout.nvec == 0)
    assert (clipped[:, index].abs() <= 1).all()
    discrete = actions[:, np.flatnonzero(layout.nvec > 0)]
    assert torch.equal(discrete, discrete.round()) and ((discrete >= 0) & (discrete < 3)).all()
    logp, _ = dist.log_prob_entropy(params, actions, torch.zeros(2))
    assert torch.isfinite(logp).all()


def test_nested_observations_are_rebuilt_and_one_hot_encoded():
    space = gymnasium.spaces.Dict(pos=gymnasium.spaces.Box(-1, 1, (3,), np.float64),
                                  cell=gymnasium.spaces.Discrete(4))
    layout = emulation.Layout(space)
    policy = Policy(layout.flat_space, gymnasium.spaces.Discrete(2), hidden_size=8, observation_layout=layout)
    assert policy.features.size == 3 + 4
    rows = np.zeros((5, layout.row_size), layout.row_dtype)
    params, values = policy(torch.from_numpy(rows))
    assert params.shape == (5, 2) and values.shape == (5,)


def test_lstm_step_and_sequence_paths_agree_with_resets():
    policy = lstm_policy()
    batch, horizon = 6, 9
    obs = torch.randn(batch, horizon, 4)
    starts = torch.rand(batch, horizon) < 0.2
    state = (torch.randn(batch, policy.hidden_size), torch.randn(batch, policy.hidden_size))
    params_seq, values_seq, final_seq = policy.sequence(obs, state, starts)
    s = state
    for t in range(horizon):
        params, values, s = policy.step(obs[:, t], s, starts[:, t])
        assert torch.allclose(params, params_seq[:, t], atol=1e-6)
        assert torch.allclose(values, values_seq[:, t], atol=1e-6)
    assert torch.allclose(s[0], final_seq[0], atol=1e-6)
    no_resets = torch.zeros(batch, horizon, dtype=torch.bool)  # no episode starts inside the sequences
    fused = policy.sequence(obs, state, no_resets)[0]
    s = state
    for t in range(horizon):
        params, _, s = policy.step(obs[:, t], s, no_resets[:, t])
        assert torch.allclose(params, fused[:, t], atol=1e-6)


def test_lstm_state_does_not_leak_across_an_episode_start():
    policy = lstm_policy()
    obs = torch.randn(2, 5, 4)
    obs[1, :2] = torch.randn(2, 4) * 10  # a different past in row 1
    obs[1, 2:] = obs[0, 2:]
    starts = torch.zeros(2, 5, dtype=torch.bool)
    starts[:, 2] = True  # both rows start a new episode at step 2
    zeros = policy.initial_state(2)
    params, values, _ = policy.sequence(obs, zeros, starts)
    assert torch.allclose(params[0, 2:], params[1, 2:], atol=1e-6)
    assert not torch.allclose(params[0, :2], params[1, :2])


def test_unsupported_action_space():
    with pytest.raises(TypeError, match="Discrete, MultiDiscrete or Box action spaces"):
        ActionDistribution(gymnasium.spaces.MultiBinary(3))
