"""Shared by the kernel-learner parity tests (tests/train/test_kernel*.py): specs of every action and
observation kind, their observations, and the checks that a C learner and TorchLearner agree."""
import numpy as np
import pytest
import torch
from gymnasium import spaces

from pufferlib.emulation import ActionLayout, EnvSpec, GymnasiumPufferEnv, Layout
from tests.train.nested_env import MatchTarget


def flat_spec(obs, act):
    return EnvSpec(obs, act, 1, Layout(obs), ActionLayout(act))


def nested_spec():
    return EnvSpec.of(GymnasiumPufferEnv(MatchTarget()))


# name: (spec, whether the policy's features are a view of flat float32 observations)
SPECS = {
    "discrete": lambda: flat_spec(spaces.Box(-1, 1, (5,)), spaces.Discrete(3)),
    "multidiscrete": lambda: flat_spec(spaces.Box(-1, 1, (5,)), spaces.MultiDiscrete([3, 2, 4])),
    "box": lambda: flat_spec(spaces.Box(-1, 1, (5,)), spaces.Box(-0.5, 0.5, (2,))),
    "uint8_grid": lambda: flat_spec(spaces.Box(0, 255, (4, 4), np.uint8), spaces.Box(-1, 1, (3,))),
    "nested": nested_spec,    # Dict/Tuple observations with one-hot leaves, Dict(Discrete, Box) actions
}


def observations(spec, count, seed=0):
    """`count` observation rows of the spec's flat space (a nested env's come from the env itself)."""
    rng = np.random.default_rng(seed)
    space = spec.single_observation_space
    if spec.observation_layout.packed or len(spec.observation_layout.leaves) > 1:
        env = GymnasiumPufferEnv(MatchTarget())
        return np.stack([env.reset(seed=int(seed) * count + i)[0][0].copy() for i in range(count)])
    if space.dtype == np.uint8:
        # cell kinds, as in a grid env (0-255 saturates tanh units: Adam then steps on float noise in
        # their near-zero gradients, and the two learners drift apart though their gradients agree)
        return rng.integers(0, 4, (count,) + space.shape, dtype=np.uint8)
    return rng.normal(size=(count,) + space.shape).astype(np.float32)


def assert_same_policy(kernel, torch_learner, atol=1e-5):
    ours, theirs = kernel.policy.state_dict(), torch_learner.policy.state_dict()
    for name, value in ours.items():
        np.testing.assert_allclose(value.numpy(), theirs[name].numpy(), rtol=0, atol=atol, err_msg=name)


def perturb(storage):
    """After the rollout: an absent agent's step, old log-probs the policy has moved from, advantages
    and returns, so every term of the loss and the ratio clip are exercised."""
    generator = torch.Generator().manual_seed(0)
    storage.masks.fill_(True)
    storage.masks[3, 5] = False    # an absent agent's step counts in neither loss
    storage.logprobs += 0.3 * torch.randn(storage.logprobs.shape, generator=generator)
    storage.advantages.copy_(torch.randn(storage.advantages.shape, generator=generator) + 0.2)
    storage.returns.copy_(torch.randn(storage.returns.shape, generator=generator))
    return storage


def assert_learners_agree(kernel, torch_learner, storage, minibatch, updates=4):
    """evaluate() and `updates` minibatch steps of both learners on one rollout give the same figures
    and the same weights; the ratio clip must have been exercised."""
    kernel.begin(storage)
    torch_learner.begin(storage)
    for ours, theirs in zip(kernel.evaluate(), torch_learner.evaluate()):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-4)
    generator = torch.Generator().manual_seed(1)
    clipped = 0.0
    for _ in range(updates):
        indices = torch.randperm(storage.units, generator=generator)[:minibatch]
        ours, theirs = kernel.update(indices), torch_learner.update(indices)
        for key, value in theirs.items():
            assert ours[key] == pytest.approx(float(value), rel=1e-4, abs=1e-5), key
        clipped += ours["clipfrac"]
        assert_same_policy(kernel, torch_learner)
    assert clipped > 0    # the ratio clip was exercised
