"""KernelLearner against TorchLearner, the reference, on every action and observation kind of the default Policy.

Both learners get copies of one policy and one rollout: acting, evaluating and every minibatch step must
agree within float32 noise (the C kernel's own gradients are checked against autograd in
tests/_native/test_mlp.py; this checks the learner around it: features, sampling, log-probs, storage).
"""
import copy
import io

import numpy as np
import pytest
import torch

import pufferlib.train as T
from pufferlib.errors import NonFiniteError
from pufferlib.train.config import PolicyConfig, TrainConfig
from pufferlib.train.kernel import KernelLearner
from pufferlib.train.learner import TorchLearner
from pufferlib.train.policies import make_policy
from pufferlib.train.rollout import RolloutStorage
from tests.train.learner_parity import SPECS, assert_learners_agree, nested_spec, observations, perturb

ROWS, HORIZON = 16, 16


def learners(spec, **train):
    config = TrainConfig(clip_vloss=True, ent_coef=0.01, learning_rate=3e-3, **train)
    policy = make_policy(PolicyConfig(hidden_size=16), spec)
    with torch.no_grad():
        if policy.log_std is not None:
            policy.log_std.copy_(torch.linspace(-0.5, 0.2, policy.log_std.numel()))
        policy.actor_head.weight.mul_(100.0)     # far from uniform: ratios get clipped, log-probs vary
    twin = copy.deepcopy(policy)
    return KernelLearner(policy, config, seed=1), TorchLearner(twin, config, torch.device("cpu"))


def rollout(kernel, torch_learner, spec):
    """Fills a storage by acting with the kernel learner, checking each step against torch's policy."""
    action_space = spec.single_action_space
    storage = RolloutStorage(ROWS, HORIZON, spec.single_observation_space, action_space.shape,
                             torch.int32 if action_space.dtype == np.int64 else torch.float32,
                             torch.device("cpu"))
    obs = observations(spec, ROWS * HORIZON).reshape((ROWS, HORIZON) + spec.single_observation_space.shape)
    policy, dist = torch_learner.policy, torch_learner.policy.dist
    for t in range(HORIZON):
        env_actions, actions, logp, values, state = kernel.act(obs[:, t], None, None, None)
        assert state is None
        with torch.no_grad():
            params, expected_values = policy(torch.from_numpy(obs[:, t]))
            expected_logp, _ = dist.log_prob_entropy(params, torch.from_numpy(actions), policy.log_std)
        np.testing.assert_allclose(values, expected_values.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(logp, expected_logp.numpy(), rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(env_actions, dist.clip(torch.from_numpy(actions)).numpy())
        storage.views.obs[:, t] = obs[:, t]
        storage.views.actions[:, t] = actions
        storage.views.logprobs[:, t] = logp
        storage.views.values[:, t] = values
    return perturb(storage)


@pytest.mark.parametrize("name", list(SPECS))
def test_kernel_learner_matches_the_torch_learner(name):
    spec = SPECS[name]()
    kernel, torch_learner = learners(spec)
    assert KernelLearner.supports(kernel.policy)
    storage = rollout(kernel, torch_learner, spec)
    assert_learners_agree(kernel, torch_learner, storage, minibatch=128)
    if kernel.policy.log_std is not None:   # it learned, in the torch module's own tensor
        assert not torch.equal(kernel.policy.log_std, torch.linspace(-0.5, 0.2, kernel.policy.log_std.numel()))


def test_flat_float_observations_reach_the_kernel_without_a_copy():
    kernel, _ = learners(SPECS["box"]())
    for rows in (4, 7):   # the first call goes through policy.features, later ones skip torch
        obs = np.arange(rows * 5, dtype=np.float32).reshape(rows, 5)
        features = kernel._features(obs)
        assert np.shares_memory(features, obs) and features.shape == (rows, 5)
    assert kernel._reshaped == (np.dtype(np.float32), (5,))
    grid, _ = learners(SPECS["uint8_grid"]())
    for _ in range(2):
        features = grid._features(np.full((4, 4, 4), 3, np.uint8))
        assert features.dtype == np.float32 and features.shape == (4, 16) and (features == 3).all()
    assert grid._reshaped is None


def test_deterministic_actions_are_the_means_and_the_most_probable_entries():
    spec = nested_spec()
    kernel, torch_learner = learners(spec)
    obs = observations(spec, 8)
    _, actions, _, _, _ = kernel.act(obs, None, None, None, deterministic=True)
    with torch.no_grad():
        params, _ = torch_learner.policy(torch.from_numpy(obs))
        expected = torch_learner.policy.dist.sample(params, torch_learner.policy.log_std, deterministic=True)
    np.testing.assert_allclose(actions, expected.numpy(), rtol=1e-5, atol=1e-5)


def test_continuous_samples_spread_as_the_learned_std():
    kernel, _ = learners(SPECS["box"]())
    obs = np.zeros((20000, 5), np.float32)
    _, actions, _, _, _ = kernel.act(obs, None, None, None)
    means, _ = kernel._forward(obs)
    np.testing.assert_allclose((actions - means).std(0), np.exp(kernel.log_std), rtol=0.03)
    assert np.abs(actions).max() > 0.5     # stored unclipped; the env gets them clipped to [-0.5, 0.5]


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_a_non_finite_continuous_action_stops_the_update(value):
    spec = SPECS["box"]()
    kernel, torch_learner = learners(spec)
    storage = rollout(kernel, torch_learner, spec)
    storage.actions[2, 3, 1] = value
    kernel.begin(storage)
    before = {k: v.clone() for k, v in kernel.policy.state_dict().items()}
    with pytest.raises(NonFiniteError, match=r"the update was not applied\. Lower train\.learning_rate"):
        kernel.update(torch.arange(storage.units))
    assert all(torch.equal(v, before[k]) for k, v in kernel.policy.state_dict().items())


def test_supports_only_the_default_feed_forward_policy_on_the_cpu_in_float32():
    spec = SPECS["nested"]()
    assert KernelLearner.supports(make_policy(PolicyConfig(hidden_size=8), spec))
    assert not KernelLearner.supports(make_policy(PolicyConfig(hidden_size=8, lstm=True), spec))
    assert not KernelLearner.supports(make_policy(PolicyConfig(hidden_size=8), spec).double())

    class Subclass(type(make_policy(PolicyConfig(hidden_size=8), spec))):   # e.g. a convolutional policy
        pass

    policy = make_policy(PolicyConfig(hidden_size=8), spec)
    policy.__class__ = Subclass
    assert not KernelLearner.supports(policy)
    learned = make_policy(PolicyConfig(hidden_size=8), spec)
    learned.features.scale = torch.nn.Parameter(torch.ones(1))   # a features module with weights
    assert not KernelLearner.supports(learned)


def test_the_trainer_runs_continuous_actions_through_the_kernel(tmp_path):
    config = T.load_config("continuous")
    config.update({"train": {"total_timesteps": 4096}})
    with T.Trainer("continuous", config, data_dir=tmp_path, dashboard=False, stream=io.StringIO()) as trainer:
        assert trainer.learner.name == "kernel"
        trainer.train()
