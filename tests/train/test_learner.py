import inspect

import gymnasium
import numpy as np
import pytest
import torch

from pufferlib.emulation import ActionLayout, EnvSpec, Layout
from pufferlib.errors import NonFiniteError
from pufferlib.train.config import PolicyConfig, TrainConfig
from pufferlib.train.kernel import KernelLearner, RecurrentKernelLearner, make_learner
from pufferlib.train.learner import Learner, TorchLearner, ppo_loss
from pufferlib.train.policies import make_policy


def reference_loss(logp, entropy, values, mb, c):
    """cleanrl's PPO loss written out in numpy (float64), no masks."""
    logp, entropy, values = (np.float64(x.detach().numpy()) for x in (logp, entropy, values))
    old, adv, ret, old_v = (np.float64(mb[k].numpy()) for k in ("logprobs", "advantages", "returns", "values"))
    ratio = np.exp(logp - old)
    adv = (adv - adv.mean()) / (adv.std(ddof=1) + 1e-8)
    pg = np.maximum(-adv * ratio, -adv * np.clip(ratio, 1 - c.clip_coef, 1 + c.clip_coef)).mean()
    clipped = old_v + np.clip(values - old_v, -c.vf_clip_coef, c.vf_clip_coef)
    v = 0.5 * np.maximum((values - ret) ** 2, (clipped - ret) ** 2).mean()
    return pg - c.ent_coef * entropy.mean() + c.vf_coef * v


def minibatch(n, masks=None):
    g = torch.Generator().manual_seed(0)
    return {"logprobs": torch.randn(n, generator=g) - 1, "advantages": torch.randn(n, generator=g),
            "returns": torch.randn(n, generator=g), "values": torch.randn(n, generator=g),
            "masks": torch.ones(n, dtype=torch.bool) if masks is None else masks}


def test_ppo_loss_matches_the_reference():
    config = TrainConfig(clip_vloss=True, ent_coef=0.01)
    mb = minibatch(64)
    logp, entropy, values = mb["logprobs"] + torch.randn(64) * 0.5, torch.rand(64), torch.randn(64)
    loss, stats = ppo_loss(logp, entropy, values, mb, config)
    assert np.isclose(float(loss), reference_loss(logp, entropy, values, mb, config), rtol=1e-5)
    assert 0 < float(stats["clipfrac"]) < 1


def test_absent_agents_do_not_count():
    config = TrainConfig()
    masks = torch.arange(64) % 2 == 0
    mb = minibatch(64, masks)
    logp, entropy, values = mb["logprobs"] + 0.3, torch.rand(64), torch.randn(64)
    loss, _ = ppo_loss(logp, entropy, values, mb, config)
    present = {k: v[masks] for k, v in mb.items()}
    only, _ = ppo_loss(logp[masks], entropy[masks], values[masks], present, config)
    assert torch.allclose(loss, only, atol=1e-6)
    garbage = dict(mb, returns=torch.where(masks, mb["returns"], torch.full((64,), 1e6)))
    assert torch.allclose(ppo_loss(logp, entropy, values, garbage, config)[0], loss, atol=1e-6)


def test_torch_learner_refuses_a_non_finite_update_and_keeps_its_weights():
    obs, act = gymnasium.spaces.Box(-1, 1, (3,)), gymnasium.spaces.Discrete(2)
    policy = make_policy(PolicyConfig(hidden_size=8), EnvSpec(obs, act, 1, Layout(obs), ActionLayout(act)))
    learner = TorchLearner(policy, TrainConfig(), torch.device("cpu"))
    mb = dict(minibatch(16), obs=torch.randn(16, 3), actions=torch.randint(0, 2, (16,)))
    learner.update_minibatch(mb)  # a good step first: Adam has state to lose
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    optimizer = {k: v.clone() for k, v in learner.optimizer.state[policy.value_head.weight].items()}
    mb["returns"] = mb["returns"].clone()
    mb["returns"][3] = float("nan")
    with pytest.raises(NonFiniteError, match=r"the loss is not finite \(value loss nan\); the update was not "
                                             r"applied\. Lower train\.learning_rate \(now 0\.00025\)"):
        learner.update_minibatch(mb)
    assert all(torch.equal(v, before[k]) for k, v in policy.state_dict().items())
    state = learner.optimizer.state[policy.value_head.weight]
    assert all(torch.equal(v, optimizer[k]) for k, v in state.items())


PROTOCOL = [name for name, member in vars(Learner).items() if inspect.isfunction(member) and name[0] != "_"]


def test_the_learner_protocol_names_every_call_the_trainer_makes():
    assert PROTOCOL == ["act", "value", "set_learning_rate", "begin", "evaluate", "update", "state_dict",
                        "load_state_dict"]


@pytest.mark.parametrize("cls", [TorchLearner, KernelLearner])
def test_both_learners_implement_the_protocol(cls):
    assert Learner in cls.__mro__  # implemented explicitly, not by coincidence
    assert isinstance(cls.name, str)
    for name in PROTOCOL:
        own = getattr(cls, name)
        assert own is not getattr(Learner, name), f"{cls.__name__} does not implement {name}"
        assert inspect.signature(own) == inspect.signature(getattr(Learner, name)), name


def _spec(action_space=None):
    obs = gymnasium.spaces.Box(-1, 1, (4,), np.float32)
    act = action_space or gymnasium.spaces.Discrete(2)
    return EnvSpec(obs, act, 1, Layout(obs), ActionLayout(act))


@pytest.mark.parametrize("changes, expected", [
    ({}, KernelLearner),
    ({"kernel": "off"}, TorchLearner),
    ({"replay_alpha": 0.6}, TorchLearner),   # the kernel takes no importance weights
])
def test_make_learner_picks_the_kernel_only_where_it_runs(changes, expected):
    config = TrainConfig(**changes)
    policy = make_policy(PolicyConfig(hidden_size=8), _spec())
    assert type(make_learner(policy, config, torch.device("cpu"))) is expected


def test_make_learner_picks_torch_for_a_distributed_run_and_the_recurrent_kernel_for_an_lstm():
    policy = make_policy(PolicyConfig(hidden_size=8), _spec())
    assert type(make_learner(policy, TrainConfig(), torch.device("cpu"), distributed=True)) is TorchLearner
    lstm = make_policy(PolicyConfig(hidden_size=8, lstm=True), _spec())
    assert type(make_learner(lstm, TrainConfig(), torch.device("cpu"))) is RecurrentKernelLearner
    assert type(make_learner(lstm, TrainConfig(), torch.device("cpu"), distributed=True)) is TorchLearner
    assert type(make_learner(lstm, TrainConfig(replay_alpha=0.6), torch.device("cpu"))) is TorchLearner
