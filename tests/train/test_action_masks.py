"""Action masks end to end: the distribution, both learners (C kernel and torch), the trainer and evaluation,
over a native C env that writes masks and a Gymnasium env with an `action_mask` observation entry."""
import copy
import io
import textwrap

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium import spaces

import pufferlib
import pufferlib.train as T
from pufferlib.emulation import ActionLayout, EnvSpec, Layout
from pufferlib.envs import scripted
from pufferlib.errors import EnvironmentLoadError
from pufferlib.train.config import PolicyConfig, TrainConfig
from pufferlib.train.evaluate import evaluate
from pufferlib.train.kernel import KernelLearner
from pufferlib.train.learner import TorchLearner
from pufferlib.train.policies import ActionDistribution, make_policy
from pufferlib.train.rollout import RolloutStorage
from tests.toolchain.toolchain_helpers import needs_compiler
from tests.train.learner_parity import assert_learners_agree, perturb


def random_masks(rows, nvec, seed=0):
    """Random legal sets with at least one legal choice per action dimension."""
    rng = np.random.default_rng(seed)
    columns = []
    for n in nvec:
        legal = rng.random((rows, n)) < 0.4
        legal[np.arange(rows), rng.integers(0, n, rows)] = True
        columns.append(legal)
    return np.concatenate(columns, axis=1)


# the distribution

def test_masked_choices_are_never_sampled_and_have_zero_probability():
    dist = ActionDistribution(spaces.MultiDiscrete([4, 3]))
    params = torch.randn(500, 7) * 3
    legal = torch.from_numpy(random_masks(500, [4, 3]))
    masked = dist.mask(params, legal)
    actions = dist.sample(masked, generator=torch.Generator().manual_seed(0))
    assert legal[torch.arange(500), actions[:, 0].long()].all()
    assert legal[torch.arange(500), 4 + actions[:, 1].long()].all()
    greedy = dist.sample(masked, deterministic=True)
    assert legal[torch.arange(500), greedy[:, 0].long()].all()
    logp, entropy = dist.log_prob_entropy(masked, actions)
    assert torch.isfinite(logp).all() and torch.isfinite(entropy).all()
    probs = torch.softmax(masked[:, :4], -1)
    assert (probs[~legal[:, :4]] == 0).all()
    # the entropy is that of the renormalised legal choices
    first = torch.where(legal[:, :4], torch.softmax(params[:, :4].masked_fill(~legal[:, :4], -torch.inf), -1), 0)
    expected = -(first * torch.log(first.clamp_min(1e-30))).sum(-1)
    second = torch.softmax(params[:, 4:].masked_fill(~legal[:, 4:], -torch.inf), -1)
    expected += -(second * torch.log(second.clamp_min(1e-30))).sum(-1)
    torch.testing.assert_close(entropy, expected, rtol=1e-5, atol=1e-5)


def test_no_masks_leave_the_parameters_alone_and_a_wrong_width_is_refused():
    dist = ActionDistribution(spaces.Discrete(5))
    params = torch.randn(3, 5)
    assert dist.mask(params, None) is params
    with pytest.raises(ValueError, match=r"one entry per choice \(5.*got shape \(3, 4\)"):
        dist.mask(params, np.ones((3, 4), np.bool_))


def test_continuous_entries_of_mixed_actions_are_not_masked():
    dist = ActionDistribution(spaces.Box(-1, 1, (2,)), nvec=np.array([3, 0]))
    params = torch.randn(4, 4)
    masked = dist.mask(params, torch.tensor([[True, False, True]] * 4))
    assert (masked[:, 1] == -1e9).all()
    torch.testing.assert_close(masked[:, 3], params[:, 3])


# the learners

SPEC = EnvSpec(spaces.Box(-1, 1, (6,)), spaces.MultiDiscrete([4, 3]), 1, Layout(spaces.Box(-1, 1, (6,))),
               ActionLayout(spaces.MultiDiscrete([4, 3])))
ROWS, HORIZON = 16, 16


def learners():
    config = TrainConfig(clip_vloss=True, ent_coef=0.02, learning_rate=3e-3)
    policy = make_policy(PolicyConfig(hidden_size=16), SPEC)
    with torch.no_grad():
        policy.actor_head.weight.mul_(100.0)
    return KernelLearner(policy, config, seed=1), TorchLearner(copy.deepcopy(policy), config, torch.device("cpu"))


@pytest.mark.parametrize("which", ["kernel", "torch"])
def test_both_learners_only_act_legally(which):
    kernel, torch_learner = learners()
    learner = kernel if which == "kernel" else torch_learner
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(400, 6)).astype(np.float32)
    legal = random_masks(400, [4, 3], seed=1)
    for deterministic in (False, True):
        actions = np.asarray(learner.act(obs, None, None, torch.Generator().manual_seed(0), deterministic,
                                         action_masks=legal)[0])
        assert legal[np.arange(400), actions[:, 0]].all() and legal[np.arange(400), 4 + actions[:, 1]].all()
    with pytest.raises(ValueError, match="one entry per choice"):
        learner.act(obs, None, None, None, action_masks=legal[:, :5])


def test_the_kernel_learner_matches_torch_under_masks():
    kernel, torch_learner = learners()
    storage = RolloutStorage(ROWS, HORIZON, SPEC.single_observation_space, (2,), torch.int32, torch.device("cpu"),
                             mask_size=7)
    rng = np.random.default_rng(2)
    policy, dist = torch_learner.policy, torch_learner.policy.dist
    for t in range(HORIZON):
        obs = rng.normal(size=(ROWS, 6)).astype(np.float32)
        legal = random_masks(ROWS, [4, 3], seed=t)
        _, actions, logp, values, _ = kernel.act(obs, None, None, None, action_masks=legal)
        with torch.no_grad():
            params, _ = policy(torch.from_numpy(obs))
            expected, _ = dist.log_prob_entropy(dist.mask(params, legal), torch.from_numpy(actions))
        np.testing.assert_allclose(logp, expected.numpy(), rtol=1e-5, atol=1e-4)
        v = storage.views
        v.obs[:, t], v.actions[:, t], v.logprobs[:, t], v.values[:, t] = obs, actions, logp, values
        v.action_masks[:, t] = legal
    assert_learners_agree(kernel, torch_learner, perturb(storage), minibatch=128)


# environments that write masks

MASKED_C = textwrap.dedent("""
    /* masked: Discrete(4); each step one random choice is illegal. An illegal action is counted in the
     * "illegal" statistic and ends the episode with reward -1; a legal one earns +0.1. */
    #include "puffer_env.h"
    typedef struct { int32_t tick, banned, illegal; PufferRng rng; } Masked;
    static const PufferParam masked_params[] = {{"horizon", 16, 1, 100, 1, "steps per episode"}};
    static const char* const masked_stats[] = {"illegal"};
    static int masked_describe(const double* p, PufferSpec* s, char* err, int errlen) {
        (void)p; (void)err; (void)errlen;
        s->num_agents = 1;
        puffer_obs_box(s, PUFFER_FLOAT32, 4, 0.0f, 1.0f);
        puffer_act_discrete(s, 4);
        puffer_act_mask(s);
        return 0;
    }
    static void masked_init(Masked* e, const double* p, PufferRng rng, PufferRng shared) {
        (void)p; (void)shared; e->rng = rng;
    }
    static void masked_observe(Masked* e, PufferRows r) {
        e->banned = puffer_rand_int(&e->rng, 4);
        for (int a = 0; a < 4; a++) {
            ((float*)r.obs)[a] = a == e->banned;
            r.action_mask[a] = a != e->banned;
        }
    }
    static void masked_reset(Masked* e, PufferRows r) { e->tick = 0; e->illegal = 0; masked_observe(e, r); }
    static void masked_step(Masked* e, PufferRows r) {
        int a = ((const int32_t*)r.act)[0];
        int illegal = a == e->banned;
        e->tick += 1;
        r.rew[0] = illegal ? -1.0f : 0.1f;
        r.term[0] = illegal;
        r.trunc[0] = !illegal && e->tick >= 16;
        if (r.term[0] | r.trunc[0]) r.log->stats[0] += illegal;
        masked_observe(e, r);
    }
    PUFFER_DEFINE_ENV(Masked, masked, "one random choice is illegal each step", masked_params, masked_stats)
    PUFFER_EXPORT(masked)
""")


@pytest.fixture(scope="module")
def masked_env(tmp_path_factory):
    path = tmp_path_factory.mktemp("masked") / "masked.c"
    path.write_text(MASKED_C)
    return str(path)


@needs_compiler
def test_a_native_env_writes_its_masks_and_random_players_respect_them(masked_env):
    with pufferlib.make(masked_env, num_envs=8, seed=3) as env:
        obs, _ = env.reset(seed=3)
        assert env.action_masks.shape == (8, 4) and env.action_masks.dtype == np.bool_
        np.testing.assert_array_equal(env.action_masks, obs == 0)
        rng = np.random.default_rng(0)
        for _ in range(50):
            actions = scripted.random_actions(env, rng)
            assert env.action_masks[np.arange(8), actions].all()
            obs, *_ = env.step(actions)
            np.testing.assert_array_equal(env.action_masks, obs == 0)
        snapshot = env.snapshot()
        env.step(actions)
        env.restore(snapshot)
        np.testing.assert_array_equal(env.action_masks, obs == 0)


@needs_compiler
@pytest.mark.parametrize("kernel", ["auto", "off"])
def test_the_trainer_and_eval_never_take_a_masked_action(masked_env, kernel, tmp_path):
    config = T.load_config(masked_env)
    config.update({"env": {"num_envs": 8}, "train": {"total_timesteps": 4096, "horizon": 32,
                                                     "minibatch_size": 128, "kernel": kernel}})
    with T.Trainer(masked_env, config, data_dir=tmp_path, dashboard=False, stream=io.StringIO()) as trainer:
        assert trainer.learner.name == ("kernel" if kernel == "auto" else "torch")
        summary = trainer.train()
        assert trainer.storage.action_masks is not None
        taken = trainer.storage.actions.long()
        assert trainer.storage.action_masks.gather(2, taken.unsqueeze(-1)).all()
        assert trainer.global_step >= 4096 and not summary["interrupted"]
    result = evaluate(masked_env, data_dir=tmp_path, episodes=20)
    assert result["stats"]["illegal"] == 0
    assert result["mean_length"] == 16      # every episode ran to its truncation


def test_a_continuous_env_cannot_declare_masks(tmp_path):
    path = tmp_path / "bad.c"
    path.write_text(MASKED_C.replace("puffer_act_discrete(s, 4);", "puffer_act_box(s, 1, -1.0f, 1.0f);"))
    with pytest.raises(EnvironmentLoadError, match="masks are for discrete actions only"):
        pufferlib.make(str(path))


class MaskedGym(gymnasium.Env):
    """PettingZoo's convention in a Gymnasium env: Dict(observation, action_mask); raises on a masked action."""

    observation_space = spaces.Dict(observation=spaces.Box(0, 1, (3,), np.float32),
                                    action_mask=spaces.MultiBinary(3))
    action_space = spaces.Discrete(3)

    def _obs(self):
        self.banned = int(self.np_random.integers(3))
        mask = np.ones(3, np.int8)
        mask[self.banned] = 0
        return {"observation": (1 - mask).astype(np.float32), "action_mask": mask}

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        if int(action) == self.banned:
            raise AssertionError(f"masked action {action} was taken")
        self.t += 1
        return self._obs(), 0.1, False, self.t >= 10, {}


@pytest.mark.parametrize("backend", ["serial", "multiprocessing"])
def test_emulated_action_masks_reach_the_policy(backend, tmp_path):
    env = "tests.train.test_action_masks:MaskedGym"
    config = T.load_config(env)
    config.update({"env": {"num_envs": 4}, "vec": {"backend": backend, "num_workers": 2},
                   "train": {"total_timesteps": 1024, "horizon": 16, "minibatch_size": 64}})
    with T.Trainer(env, config, data_dir=tmp_path, dashboard=False,
                   stream=io.StringIO()) as trainer:
        for group in trainer.groups:    # the multiprocessing backend steps two groups in turn
            assert group.env.action_masks.shape == (group.env.num_agents, 3)
        trainer.train()      # MaskedGym raises if a masked action reaches it
