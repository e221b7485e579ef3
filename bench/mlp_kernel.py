#!/usr/bin/env python3
"""The C actor-critic kernel against torch: microseconds per PPO minibatch step and per rollout forward.

What is measured
    The default PPO policy (separate actor and critic MLPs, --layers hidden layers of width H, CartPole's
    D=4 observations and 2 actions) at H in --hidden and minibatch sizes in --minibatch; with
    --actions box the 2 actions are continuous (Normal heads with a learned log-std, the loss through
    pufferlib's ActionDistribution on the torch side, as the torch learner computes it):

    - update: one PPO minibatch step. The kernel's `update()` (forward, loss, backward, grad-norm clip
      and Adam in one call) against torch doing the same: forward of both towers, cleanrl's loss,
      autograd backward, `clip_grad_norm_` and `torch.optim.Adam(eps=1e-5)`;
    - forward: inference on --forward-rows rows (a rollout step of 32 environments): the kernel's
      `forward()` into preallocated arrays against the two torch modules under `torch.no_grad()`.

    torch runs on one thread (`torch.set_num_threads(1)`), the kernel with --threads (default 1).

How it is measured
    Each figure: one warm-up, then --runs runs of enough calls to take about --seconds; the table shows
    the median microseconds per call over runs (min in brackets) and torch's time over the kernel's.

Run it from the repository root, on the tree that was built in place:

    python setup.py build_ext --inplace
    PYTHONPATH=. python bench/mlp_kernel.py                 # ~1 minute on 2 cores
    PYTHONPATH=. python bench/mlp_kernel.py --activation tanh --hidden 64 --minibatch 512
    PYTHONPATH=. python bench/mlp_kernel.py --actions box
"""
import argparse
import functools
import statistics
import time

import gymnasium
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical

from pufferlib._native import mlp
from pufferlib.train.policies import ActionDistribution

OBS_DIM, NUM_ACTIONS, BATCH = 4, 2, 4096
PPO = dict(clip_coef=0.2, vf_coef=0.5, ent_coef=0.01, max_grad_norm=0.5)


def towers(hidden, layers, activation):
    act = nn.ReLU if activation == "relu" else nn.Tanh

    def tower(out):
        mods, width = [], OBS_DIM
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), act()]
            width = hidden
        return nn.Sequential(*mods, nn.Linear(hidden, out))

    return tower(NUM_ACTIONS), tower(1)


def kernel_over(actor, critic, activation, threads, log_std=None):
    def pairs(tower):
        linears = [m for m in tower if isinstance(m, nn.Linear)]
        return [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in linears]
    a, c = pairs(actor), pairs(critic)
    nvec = [NUM_ACTIONS] if log_std is None else [0] * NUM_ACTIONS
    return mlp.ActorCriticKernel(a[:-1], a[-1], c[:-1], c[-1], nvec, activation, num_threads=threads,
                                 log_std=None if log_std is None else log_std.detach().numpy())


def batch(rng, box):
    if box:
        actions = rng.normal(size=(BATCH, NUM_ACTIONS)).astype(np.float32)
    else:
        actions = rng.integers(0, NUM_ACTIONS, (BATCH, 1)).astype(np.int32)
    return dict(
        obs=rng.normal(size=(BATCH, OBS_DIM)).astype(np.float32),
        actions=actions,
        old_logprobs=np.full(BATCH, -0.69, np.float32) + rng.normal(scale=0.1, size=BATCH).astype(np.float32),
        advantages=rng.normal(size=BATCH).astype(np.float32),
        returns=rng.normal(size=BATCH).astype(np.float32),
        old_values=rng.normal(size=BATCH).astype(np.float32),
    )


def torch_step(actor, critic, optimizer, mb, params, box=None):
    """cleanrl's minibatch step; box: (ActionDistribution, log_std) for continuous actions."""
    logits = actor(mb["obs"])
    if box is None:
        dist = Categorical(logits=logits)
        newlogprob, entropy = dist.log_prob(mb["actions"]), dist.entropy()
    else:
        newlogprob, entropy = box[0].log_prob_entropy(logits, mb["actions"], box[1])
    newvalue = critic(mb["obs"]).view(-1)
    logratio = newlogprob - mb["old_logprobs"]
    ratio = logratio.exp()
    adv = mb["advantages"]
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    clip = PPO["clip_coef"]
    pg_loss = torch.max(-adv * ratio, -adv * torch.clamp(ratio, 1 - clip, 1 + clip)).mean()
    v_loss = 0.5 * ((newvalue - mb["returns"]) ** 2).mean()
    loss = pg_loss - PPO["ent_coef"] * entropy.mean() + v_loss * PPO["vf_coef"]
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(params, PPO["max_grad_norm"])
    optimizer.step()


def torch_inference(actor, critic, obs):
    with torch.no_grad():
        return actor(obs), critic(obs)


def timed(fn, seconds, runs):
    """Median and min microseconds per call of fn over `runs` runs of about `seconds` each."""
    fn()
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < seconds / 4:
        fn()
        calls += 1
    per_run = max(1, int(calls * 4))
    figures = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(per_run):
            fn()
        figures.append((time.perf_counter() - start) / per_run * 1e6)
    return statistics.median(figures), min(figures)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--minibatch", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--activation", choices=["relu", "tanh"], default="relu")
    parser.add_argument("--actions", choices=["discrete", "box"], default="discrete")
    parser.add_argument("--threads", type=int, default=1, help="kernel threads (torch always uses 1)")
    parser.add_argument("--forward-rows", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=0.3)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    box = args.actions == "box"
    data = batch(rng, box)
    tdata = {k: torch.from_numpy(v) for k, v in data.items()}
    if not box:
        tdata["actions"] = tdata["actions"].view(-1).long()

    print(f"{args.layers} hidden layers, {args.activation}, D={OBS_DIM}, A={NUM_ACTIONS} {args.actions}; "
          f"kernel threads {args.threads}, torch threads 1; median us per call [min] over {args.runs} runs\n")
    print("| H | what | rows | kernel us | torch us | torch / kernel |")
    print("|---|---|---|---|---|---|")
    for hidden in args.hidden:
        torch.manual_seed(0)
        actor, critic = towers(hidden, args.layers, args.activation)
        params = list(actor.parameters()) + list(critic.parameters())
        gaussian = None
        if box:
            gaussian = (ActionDistribution(gymnasium.spaces.Box(-1, 1, (NUM_ACTIONS,))),
                        nn.Parameter(torch.zeros(NUM_ACTIONS)))
            params.append(gaussian[1])
        optimizer = torch.optim.Adam(params, lr=1e-4, eps=1e-5)
        log_std = None if gaussian is None else gaussian[1]
        kernel = kernel_over(actor, critic, args.activation, args.threads, log_std)
        for size in args.minibatch:
            indices = rng.permutation(BATCH)[:size].astype(np.int64)
            tidx = torch.from_numpy(indices)
            mb = {k: v[tidx] for k, v in tdata.items()}

            kernel_update = functools.partial(kernel.update, **data, indices=indices, lr=1e-4, **PPO)
            torch_update = functools.partial(torch_step, actor, critic, optimizer, mb, params, gaussian)
            k_med, k_min = timed(kernel_update, args.seconds, args.runs)
            t_med, t_min = timed(torch_update, args.seconds, args.runs)
            print(f"| {hidden} | update | {size} | {k_med:.1f} [{k_min:.1f}] | {t_med:.1f} [{t_min:.1f}] | "
                  f"{t_med / k_med:.1f}x |", flush=True)
        rows = args.forward_rows
        obs = data["obs"][:rows].copy()
        logits, values = np.empty((rows, NUM_ACTIONS), np.float32), np.empty(rows, np.float32)

        kernel_forward = functools.partial(kernel.forward, obs, logits, values)
        torch_forward = functools.partial(torch_inference, actor, critic, torch.from_numpy(obs))
        k_med, k_min = timed(kernel_forward, args.seconds, args.runs)
        t_med, t_min = timed(torch_forward, args.seconds, args.runs)
        print(f"| {hidden} | forward | {rows} | {k_med:.1f} [{k_min:.1f}] | {t_med:.1f} [{t_min:.1f}] | "
              f"{t_med / k_med:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
