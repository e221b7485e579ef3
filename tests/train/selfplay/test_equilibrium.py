"""Self-play must find a known equilibrium: weighted rock-paper-scissors (a PettingZoo game)."""
import numpy as np
import torch

from pufferlib.train import Trainer, load_config

ENV = "tests.train.selfplay.games:weighted_rps"
# the row player's payoff: rock beating scissors pays 1, paper beating rock and scissors beating paper
# 1/2; the equilibrium is (1/4, 1/2, 1/4), where every throw earns 0
PAYOFF = np.array([[0, -0.5, 1], [0.5, 0, -0.5], [-1, 0.5, 0]])


def exploitability(mix):
    """What the best pure reply earns against `mix` (0 at the equilibrium, 1/6 for uniform play)."""
    return float((PAYOFF @ mix).max())


def throws(policy):
    with torch.no_grad():
        return torch.softmax(policy(torch.ones(1, 1))[0], -1)[0].numpy()


def test_self_play_finds_the_equilibrium_of_weighted_rock_paper_scissors(tmp_path):
    config = load_config(ENV)
    # the default opponent choice (pfsp), a snapshot every update; entropy regularisation (0.2)
    # damps the cycling of learning dynamics in this game without moving the equilibrium far
    # (the entropy-regularised equilibrium is (0.33, 0.46, 0.22))
    config.update({"selfplay": {"enabled": True, "snapshot_interval": 1, "pool_size": 64},
                   "env": {"num_envs": 64}, "vec": {"backend": "serial"},
                   "train": {"seed": 1, "total_timesteps": 150_000, "horizon": 16, "minibatch_size": 512,
                             "learning_rate": 1e-3, "ent_coef": 0.2, "norm_adv": False},
                   "log": {"interval": 1e9}})
    with Trainer(ENV, config, data_dir=tmp_path, dashboard=False, stream=open("/dev/null", "w")) as t:
        t.train()
        now = throws(t.policy)
        average = np.mean([throws(m.policy) for m in t.league.snapshots], 0)  # the pool: past selves
    assert exploitability(np.ones(3) / 3) > 0.16
    # the league's average strategy, what fictitious self-play converges to, is near the equilibrium
    assert exploitability(average) < 0.08, average
    assert average.argmax() == 1 and abs(average[1] - 0.5) < 0.08, average
    # and the learner itself is no pure strategy, nor uniform play
    assert exploitability(now) < 0.12, now
