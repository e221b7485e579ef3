"""RecurrentKernelLearner against TorchLearner, the reference, for an LSTMPolicy around the default Policy.

Both learners get copies of one policy and one rollout with episode starts inside it: acting (the
state carried per row and reset at starts), evaluating and several minibatch steps over bptt segments
must agree within float32 noise. The C layers' own gradients are checked against autograd in
tests/_native/test_recurrent_kernel.py.
"""
import copy
import io

import numpy as np
import pytest
import torch

import pufferlib.train as T
from pufferlib.errors import NonFiniteError
from pufferlib.train.config import PolicyConfig, TrainConfig
from pufferlib.train.kernel import KernelLearner, RecurrentKernelLearner, make_learner
from pufferlib.train.learner import TorchLearner
from pufferlib.train.policies import make_policy
from pufferlib.train.rollout import RolloutStorage
from tests.train.learner_parity import SPECS, assert_learners_agree, observations, perturb

ROWS, HORIZON, BPTT = 12, 16, 8


def learners(spec, **train):
    config = TrainConfig(clip_vloss=True, ent_coef=0.01, learning_rate=3e-3, bptt_horizon=BPTT, **train)
    policy = make_policy(PolicyConfig(hidden_size=8, lstm=True), spec)
    with torch.no_grad():
        base = policy.policy
        if base.log_std is not None:
            base.log_std.copy_(torch.linspace(-0.5, 0.2, base.log_std.numel()))
        base.actor_head.weight.mul_(100.0)     # far from uniform: ratios get clipped, log-probs vary
        for p in policy.lstm.parameters():     # biases away from 0, so b_ih and b_hh both matter
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    twin = copy.deepcopy(policy)
    return RecurrentKernelLearner(policy, config, seed=1), TorchLearner(twin, config, torch.device("cpu"))


def rollout(kernel, torch_learner, spec):
    """Fills a storage by acting with the kernel learner as the trainer does, checking each step (and
    the carried state) against torch's policy."""
    action_space = spec.single_action_space
    storage = RolloutStorage(ROWS, HORIZON, spec.single_observation_space, action_space.shape,
                             torch.int32 if action_space.dtype == np.int64 else torch.float32,
                             torch.device("cpu"), hidden_size=kernel.policy.hidden_size, bptt_horizon=BPTT)
    obs = observations(spec, ROWS * HORIZON).reshape((ROWS, HORIZON) + spec.single_observation_space.shape)
    rng = np.random.default_rng(3)
    starts = rng.random((ROWS, HORIZON)) < 0.15
    starts[:, 0] = True
    policy, dist = torch_learner.policy, torch_learner.policy.dist
    state = (torch.randn(ROWS, policy.hidden_size), torch.randn(ROWS, policy.hidden_size))
    reference = state
    for t in range(HORIZON):
        if t % BPTT == 0:
            storage.h[:, t // BPTT], storage.c[:, t // BPTT] = state
        env_actions, actions, logp, values, state = kernel.act(obs[:, t], state, starts[:, t], None)
        with torch.no_grad():
            params, expected_values, reference = policy.step(torch.from_numpy(obs[:, t]), reference,
                                                             torch.from_numpy(starts[:, t]))
            expected_logp, _ = dist.log_prob_entropy(params, torch.from_numpy(actions), policy.log_std)
        np.testing.assert_allclose(values, expected_values.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(logp, expected_logp.numpy(), rtol=1e-5, atol=1e-4)
        for ours, theirs in zip(state, reference):
            assert isinstance(ours, torch.Tensor)
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(env_actions, dist.clip(torch.from_numpy(actions)).numpy())
        storage.views.obs[:, t] = obs[:, t]
        storage.views.actions[:, t] = actions
        storage.views.logprobs[:, t] = logp
        storage.views.values[:, t] = values
        storage.views.starts[:, t] = starts[:, t]
    return perturb(storage)


@pytest.mark.parametrize("name", ["discrete", "multidiscrete", "box", "nested"])
def test_recurrent_kernel_learner_matches_the_torch_learner(name):
    spec = SPECS[name]()
    kernel, torch_learner = learners(spec)
    assert RecurrentKernelLearner.supports(kernel.policy)
    storage = rollout(kernel, torch_learner, spec)
    assert_learners_agree(kernel, torch_learner, storage, minibatch=8)
    assert kernel.kernel.step_count == 4
    if kernel.policy.log_std is not None:   # it learned, in the torch module's own tensor
        assert not torch.equal(kernel.policy.log_std, torch.linspace(-0.5, 0.2, kernel.policy.log_std.numel()))


def test_value_steps_from_the_state_without_a_reset():
    spec = SPECS["discrete"]()
    kernel, torch_learner = learners(spec)
    obs = observations(spec, 6)
    state = (torch.randn(6, kernel.policy.hidden_size), torch.randn(6, kernel.policy.hidden_size))
    np.testing.assert_allclose(kernel.value(obs, state), torch_learner.value(torch.from_numpy(obs), state).numpy(),
                               rtol=1e-5, atol=1e-5)
    zeros = tuple(torch.zeros(6, kernel.policy.hidden_size) for _ in range(2))
    np.testing.assert_allclose(kernel.value(obs), torch_learner.value(torch.from_numpy(obs), zeros).numpy(),
                               rtol=1e-5, atol=1e-5)


def test_a_non_finite_continuous_action_stops_the_recurrent_update():
    spec = SPECS["box"]()
    kernel, torch_learner = learners(spec)
    storage = rollout(kernel, torch_learner, spec)
    storage.actions[2, 3, 1] = np.nan
    kernel.begin(storage)
    before = {k: v.clone() for k, v in kernel.policy.state_dict().items()}
    with pytest.raises(NonFiniteError, match=r"the update was not applied\. Lower train\.learning_rate"):
        kernel.update(torch.arange(storage.units))
    assert all(torch.equal(v, before[k]) for k, v in kernel.policy.state_dict().items())


def test_checkpointed_adam_state_resumes_the_same_steps():
    spec = SPECS["box"]()
    kernel, torch_learner = learners(spec)
    storage = rollout(kernel, torch_learner, spec)
    kernel.begin(storage)
    kernel.update(torch.arange(4))
    saved, weights = kernel.state_dict(), copy.deepcopy(kernel.policy.state_dict())
    kernel.update(torch.arange(4, 8))
    after = copy.deepcopy(kernel.policy.state_dict())
    kernel.policy.load_state_dict(weights)
    kernel.load_state_dict(saved)
    kernel.update(torch.arange(4, 8))
    for name, value in kernel.policy.state_dict().items():
        assert torch.equal(value, after[name]), name


def test_supports_an_lstm_around_the_default_policy_on_the_cpu_in_float32():
    spec = SPECS["nested"]()
    lstm = make_policy(PolicyConfig(hidden_size=8, lstm=True), spec)
    assert RecurrentKernelLearner.supports(lstm) and not KernelLearner.supports(lstm)
    assert not RecurrentKernelLearner.supports(make_policy(PolicyConfig(hidden_size=8), spec))
    assert not RecurrentKernelLearner.supports(make_policy(PolicyConfig(hidden_size=8, lstm=True), spec).double())
    learned = make_policy(PolicyConfig(hidden_size=8, lstm=True), spec)
    learned.policy.features.scale = torch.nn.Parameter(torch.ones(1))   # a features module with weights
    assert not RecurrentKernelLearner.supports(learned)
    assert type(make_learner(lstm, TrainConfig(), torch.device("cpu"))) is RecurrentKernelLearner
    assert type(make_learner(lstm, TrainConfig(kernel="off"), torch.device("cpu"))) is TorchLearner


def test_the_trainer_runs_the_memory_lstm_through_the_kernel(tmp_path):
    config = T.load_config("memory")
    config.update({"train": {"total_timesteps": 4096}})
    with T.Trainer("memory", config, data_dir=tmp_path, dashboard=False, stream=io.StringIO()) as trainer:
        assert type(trainer.learner) is RecurrentKernelLearner
        summary = trainer.train()
    assert summary["global_step"] >= 4096
