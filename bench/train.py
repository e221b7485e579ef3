#!/usr/bin/env python3
"""Training benchmark: every policy kind against stable-baselines3, big-MLP overhead, and CartPole.

Policy kinds (one table row each; `--rows` picks them)
    continuous  the C `continuous` env, MLP with Gaussian actions      vs stable-baselines3 PPO
    memory      the C `memory` env (delay 16), LSTM policy               vs sb3-contrib RecurrentPPO
    squared     the C `squared` env, an MLP on its 11x11 uint8 grid (the cells as floats; squared's
                config before it shipped a CNN, which the MLP cannot match: no time to solve) vs PPO
    nested      bench/nested_env.py's Courier (a Dict observation holding a Dict, Discrete and Box
                leaves; Discrete actions) through pufferlib's emulation layer, config bench/nested.toml.
                stable-baselines3 takes no nested Dict, so PPO gets the same env under Gymnasium's
                FlattenObservation (its Discrete leaves one-hot, as pufferlib's policy sees them) in
                its own DummyVecEnv
    cnn         squared's shipped config: a small Nature-style CNN over the one-hot grid (or `--cnn
                impala`: IMPALA residual stages) vs PPO with a features extractor of the same
                architecture (an SB3 BaseFeaturesExtractor running a copy of the pufferlib policy's
                encoder; one trunk shared by linear actor and value heads on both sides)
    bigmlp      cartpole's config with a 3-layer 512-wide MLP (--policy.hidden_size 512
                --policy.num_layers 3) trained by the Trainer, against a bare torch loop doing the
                same number of forward/backward/Adam steps on minibatches of the same size (the same
                policy module and PPO-shaped loss; no env, no rollout, no logging)
    cartpole    the CartPole figures of the training issue (below)

What each row measures
    - pufferlib steps/s: agent steps per second of the training loop (rollouts, advantages,
      updates and logging; no imports, no run directory) of a whole run with the env's shipped
      config (`pufferlib.train.load_config(ENV)`, or bench/nested.toml), read from its metrics.jsonl.
    - SB3 steps/s: timesteps / wall-clock of `learn()` for a fixed budget of steps (past the first
      rollouts' warm-up), at the same hyperparameters read from the same config: n_envs = env rows,
      n_steps = horizon, batch_size = minibatch_size, n_epochs = update_epochs, learning rate and its
      schedule, gamma, gae_lambda, clip_range = clip_coef, ent/vf coefs, max_grad_norm, advantage
      normalisation, Adam's eps, net_arch = separate pi/vf towers of hidden_size x num_layers with the
      same activation, torch threads = train.torch_threads. RecurrentPPO: one LSTM (shared_lstm,
      no critic LSTM) as wide as pufferlib's (2 x hidden_size), the towers after it; it trains on
      whole rollouts cut at episode starts (it has no bptt_horizon). SB3 steps the SAME C env through
      `pufferlib.vector.as_sb3`, so both step the env at the same speed.
    - ratio: pufferlib / SB3 steps/s. Target: >= 30x.
    - time to solve: seconds of training (from the start of `train()`) until, over the last >= 100
      finished episodes, continuous and squared reach a 0.95 success rate (their `reached` episode
      statistic: the episode ended on the target), memory a 0.95 mean return (its return is 1 for a
      right answer), nested a 0.95 mean return (the fraction of parcels delivered right).
      Targets: memory <= 5 s, squared <= 20 s, continuous <= 2 s.
    - big-MLP overhead: Trainer steps/s / bare-loop steps/s (both over the same minibatches).
      Target: >= 0.8x.

CartPole (unchanged)
    - Time to solve CartPole-v1: wall-clock from the start of training until the mean return of the
      last 100 finished episodes first reaches 475. pufferlib: `puffer train cartpole` with its
      shipped defaults. stable-baselines3: PPO with the rl-zoo CartPole-v1 settings (8 envs, n_steps
      32, batch 256, gae_lambda 0.8, gamma 0.98, 20 epochs, linear lr 1e-3 and clip 0.2, ent_coef 0)
      on Gymnasium's CartPole-v1, clocked the same way from the start of learn(). Target: <= 0.1x.
    - `puffer train cartpole --timesteps 1000000`, from process start to exit. Target: <= 8 s.
    - Training throughput of those runs' training loop. Target: >= 300k steps/s on CPU.

Every measurement runs in a fresh process; the table shows medians over --seeds (3) runs, each run's
figure in the JSON (--json, default bench/results/train.json). Figures depend on the machine being
otherwise idle.

    PYTHONPATH=. python bench/train.py                          # ~10 minutes on 2 cores
    PYTHONPATH=. python bench/train.py --quick --rows memory    # one seed, shortened runs
"""
import argparse
import copy
import io
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SOLVED = 475.0
WINDOW = 100
RATIO_TARGET = 30.0
OVERHEAD_TARGET = 0.8

# One row per policy kind. `config`: a shipped config name, or a TOML file in bench/. `solve`: the
# metric (a metrics.jsonl key) whose mean over >= 100 episodes must reach `threshold`; `target_s`:
# the time-to-solve target (None: no target). `steps`: pufferlib's total_timesteps when not
# the config's (squared's 2M steps through a CNN take minutes per seed on 2 cores). `limit`: the env
# parameter bounding an episode's length when episodes that succeed end sooner than those that fail
# (see `burn_in`). `sb3_steps`: SB3's learn() budget. `quick_steps`: total_timesteps under --quick.
ROWS = {
    "continuous": dict(env="continuous", config="continuous", policy="MLP, Gaussian actions",
                       sb3="PPO", solve="env/reached", threshold=0.95, target_s=2.0, limit="max_steps",
                       sb3_steps=40_000, quick_steps=50_000),
    "memory": dict(env="memory", config="memory", policy="LSTM", sb3="RecurrentPPO",
                   solve="episode_return", threshold=0.95, target_s=5.0, sb3_steps=16_384,
                   quick_steps=50_000),
    "squared": dict(env="squared", config="squared", policy="MLP on the 11x11 uint8 grid", sb3="PPO",
                    solve="env/reached", threshold=0.95, target_s=None, sb3_steps=40_960,
                    steps=409_600, quick_steps=200_000,
                    overrides={"policy.encoder": "mlp", "policy.obs_encoding": "float",
                               "policy.hidden_size": 128, "train.update_epochs": 4,
                               "train.learning_rate": 1e-3}),
    "nested": dict(env="nested_env:make", config=os.path.join(HERE, "nested.toml"),
                   policy="MLP, nested Dict obs (emulation)", sb3="PPO", solve="episode_return",
                   threshold=0.95, target_s=None, sb3_steps=16_384, quick_steps=30_000),
    "cnn": dict(env="squared", config="squared", policy="CNN encoder on the 11x11 grid", sb3="PPO",
                solve="env/reached", threshold=0.95, target_s=20.0, sb3_steps=8_192,
                quick_steps=100_000),
}
# The cnn row's encoder (--cnn): squared's shipped config (a Nature-style CNN sized for 11x11), or
# these overrides of it.
CNN_OVERRIDES = {"shipped": {}, "impala": {"policy.encoder": "impala", "policy.cnn_channels": "auto"}}
SB3_LABEL = {"PPO": "SB3 PPO", "RecurrentPPO": "sb3-contrib RecurrentPPO"}
BIG_MLP = {"policy.hidden_size": 512, "policy.num_layers": 3}


def solve_time_from_metrics(metrics, key="episode_return", threshold=SOLVED, window=WINDOW, burn_in=0):
    """(seconds, steps) when the mean of `key` over the last `window` episodes first reached
    `threshold`, or (None, None): pufferlib.train.logger.solve_time, the sweeps' criterion too."""
    from pufferlib.train.logger import solve_time
    return solve_time(metrics, key, threshold, window, burn_in)


# -- configuration shared by both sides of a row ----------------------------------------------------

def row_config(job):
    """The row's Config: its shipped (or bench/) config, the job's overrides and seed."""
    from pufferlib.train.config import apply_overrides, load_config
    name = job["config"]
    config = (load_config(job["env"], config_file=name) if name.endswith(".toml")
              else load_config(name))
    apply_overrides(config, job.get("overrides"), source="bench/train.py")
    config.train.seed = job["seed"]
    return config


# -- children: each measurement runs in a fresh process ----------------------------------------------

def burn_in(job, config, rows):
    """Steps before which finished episodes do not count towards solving: rows x the longest episode,
    when the row's env ends successful episodes early (continuous: reaching the target ends one, a miss
    runs to max_steps), so the first episodes to finish are the lucky ones; 0 otherwise."""
    if not job.get("limit"):
        return 0
    from pufferlib.envs import env_def
    default = dict((p[0], p[1]) for p in env_def(job["env"]).params)[job["limit"]]
    return rows * int(config.env.params.get(job["limit"], default))


def child_puffer(job):
    """A whole pufferlib training run: loop steps/s and the time to solve, from metrics.jsonl."""
    import pufferlib.train as T
    from pufferlib.train.logger import read_metrics
    config = row_config(job)
    config.log.interval = 0.02  # fine-grained intervals so the 100-episode window is exact enough
    if job.get("timesteps"):
        config.train.total_timesteps = job["timesteps"]
    with T.Trainer(job["env"], config, data_dir=job["data"], dashboard=False,
                   stream=io.StringIO()) as trainer:
        learner = type(trainer.learner).__name__
        rows = trainer.rows
        summary = trainer.train()
    metrics = read_metrics(summary["run_dir"])
    seconds, steps = solve_time_from_metrics(metrics, job["solve"], job["threshold"],
                                             burn_in=burn_in(job, config, rows))
    last = metrics[-1]
    return {"sps": last["global_step"] / last["time_s"], "steps": last["global_step"],
            "train_s": last["time_s"], "solve_s": seconds, "solve_steps": steps,
            "final": last.get(job["solve"]), "learner": learner}


def _linear(start):
    return lambda progress: progress * start


def _cosine(start):
    return lambda progress: start * 0.5 * (1 + math.cos(math.pi * (1 - progress)))


def sb3_kwargs(config, seed):
    """PPO/RecurrentPPO keyword arguments for the same hyperparameters as `config`."""
    from torch import nn
    t, p = config.train, config.policy
    schedule = {"none": lambda lr: lr, "linear": _linear, "cosine": _cosine}[t.anneal_lr]
    tower = [p.hidden_size] * p.num_layers
    return dict(n_steps=t.horizon, batch_size=t.minibatch_size, n_epochs=t.update_epochs,
                learning_rate=schedule(t.learning_rate), gamma=t.gamma, gae_lambda=t.gae_lambda,
                clip_range=t.clip_coef, clip_range_vf=t.vf_clip_coef if t.clip_vloss else None,
                normalize_advantage=t.norm_adv, ent_coef=t.ent_coef, vf_coef=t.vf_coef,
                max_grad_norm=t.max_grad_norm or math.inf, target_kl=t.target_kl or None, seed=seed,
                device="cpu", verbose=0,
                policy_kwargs=dict(net_arch=dict(pi=tower, vf=list(tower)),
                                   activation_fn={"tanh": nn.Tanh, "relu": nn.ReLU}[p.activation],
                                   optimizer_kwargs=dict(eps=t.adam_eps)))


def sb3_encoder_extractor(policy):
    """An SB3 BaseFeaturesExtractor running a copy of `policy`'s encoder (its parameter-free features,
    then its conv trunk: `encode_observations`), the action and value heads left to SB3's own linear
    action_net and value_net, as pufferlib's ConvPolicy has them."""
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class EncoderExtractor(BaseFeaturesExtractor):
        """obs -> the pufferlib policy's encode_observations (features and conv trunk, no heads)."""

        def __init__(self, observation_space):
            super().__init__(observation_space, policy.hidden_size)
            self.encoder = copy.deepcopy(policy)
            del self.encoder.actor_head, self.encoder.value_head  # SB3 has its own

        def forward(self, obs):
            return self.encoder.encode_observations(obs)

    return EncoderExtractor


def child_sb3(job):
    """SB3 (or sb3-contrib) learning for a fixed budget: timesteps / wall-clock of learn()."""
    import torch
    config = row_config(job)
    torch.set_num_threads(config.train.torch_threads)
    kwargs = sb3_kwargs(config, job["seed"])
    rows = config.env.num_envs
    if job["env"] == "nested_env:make":  # SB3 takes no nested Dict: the same env, flattened
        import gymnasium
        import nested_env
        from stable_baselines3.common.env_util import make_vec_env
        env = make_vec_env(lambda: gymnasium.wrappers.FlattenObservation(nested_env.make()),
                           n_envs=rows, seed=job["seed"])
    else:
        from pufferlib.envs import make_vecenvs
        from pufferlib.vector import as_sb3
        (vecenv,) = make_vecenvs(job["env"], config, job["seed"])
        env = as_sb3(vecenv)
        rows = vecenv.num_agents
    if job["row"] == "cnn":
        from pufferlib.train.policies import make_policy
        policy = make_policy(config.policy, vecenv.env_spec)
        kwargs["policy_kwargs"].update(features_extractor_class=sb3_encoder_extractor(policy),
                                       net_arch=dict(pi=[], vf=[]), share_features_extractor=True)
    if job["sb3"] == "RecurrentPPO":
        from sb3_contrib import RecurrentPPO
        kwargs["policy_kwargs"].update(lstm_hidden_size=2 * config.policy.hidden_size, n_lstm_layers=1,
                                       shared_lstm=True, enable_critic_lstm=False)
        model = RecurrentPPO("MlpLstmPolicy", env, **kwargs)
    else:
        from stable_baselines3 import PPO
        model = PPO("MlpPolicy", env, **kwargs)
    per_rollout = rows * config.train.horizon
    budget = -(-job["sb3_steps"] // per_rollout) * per_rollout
    start = time.perf_counter()
    model.learn(total_timesteps=budget)
    wall = time.perf_counter() - start
    env.close()
    return {"sps": model.num_timesteps / wall, "steps": model.num_timesteps, "learn_s": wall}


def big_mlp_config(job):
    """cartpole's config with the 3 x 512 MLP, trained for job['rollouts'] rollouts."""
    config = row_config(dict(job, config="cartpole", env="cartpole", overrides=BIG_MLP))
    t = config.train
    t.total_timesteps = config.env.num_envs * t.horizon * job["rollouts"]
    return config


def child_bigmlp_trainer(job):
    """The Trainer on cartpole with the big MLP: its loop's steps/s."""
    import pufferlib.train as T
    from pufferlib.train.logger import read_metrics
    config = big_mlp_config(job)
    config.log.interval = 1e9  # one log line, at the end
    with T.Trainer("cartpole", config, data_dir=job["data"], dashboard=False,
                   stream=io.StringIO()) as trainer:
        learner = type(trainer.learner).__name__
        summary = trainer.train()
    last = read_metrics(summary["run_dir"])[-1]
    return {"sps": last["global_step"] / last["time_s"], "steps": last["global_step"],
            "train_s": last["time_s"], "learner": learner}


def child_bigmlp_bare(job):
    """The same minibatch steps as the Trainer run, bare: policy forward, PPO-shaped loss, backward,
    Adam; random minibatches drawn in advance; steps/s counted as the Trainer's steps over this time."""
    import torch

    import pufferlib
    from pufferlib.train.policies import make_policy
    config = big_mlp_config(job)
    t = config.train
    torch.set_num_threads(t.torch_threads)
    torch.manual_seed(job["seed"])
    env = pufferlib.make("cartpole", num_envs=1)  # for its spaces: the same policy as the Trainer's
    spec = env.env_spec
    env.close()
    policy = make_policy(config.policy, spec)
    optimizer = torch.optim.Adam(policy.parameters(), lr=t.learning_rate, eps=t.adam_eps)
    batch = config.env.num_envs * t.horizon
    minibatches = job["rollouts"] * t.update_epochs * max(batch // t.minibatch_size, 1)
    shape = (t.minibatch_size,) + spec.single_observation_space.shape
    pool = [(torch.randn(shape), torch.randint(0, 2, (t.minibatch_size,)),
             torch.randn(t.minibatch_size), torch.randn(t.minibatch_size)) for _ in range(16)]

    def step(i):
        obs, actions, adv, ret = pool[i % len(pool)]
        params, values = policy(obs)
        logp, entropy = policy.dist.log_prob_entropy(params, actions, policy.log_std)
        loss = (-(logp * adv).mean() + t.vf_coef * ((values - ret) ** 2).mean()
                - t.ent_coef * entropy.mean())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for i in range(5):  # warm-up
        step(i)
    start = time.perf_counter()
    for i in range(minibatches):
        step(i)
    wall = time.perf_counter() - start
    return {"sps": t.total_timesteps / wall, "minibatches": minibatches, "wall_s": wall}


def child_cartpole_puffer(job):
    """Time to solve CartPole with `puffer train cartpole`'s shipped defaults."""
    import pufferlib.train as T
    from pufferlib.train.logger import read_metrics
    config = T.load_config("cartpole")
    config.train.seed = job["seed"]
    config.train.device = job["device"]
    config.log.interval = 0.01   # fine-grained intervals so the 100-episode window is exact enough
    with T.Trainer("cartpole", config, data_dir=job["data"], dashboard=False,
                   stream=io.StringIO()) as trainer:
        summary = trainer.train()
    seconds, steps = solve_time_from_metrics(read_metrics(summary["run_dir"]))
    return {"seconds": seconds, "steps": steps, "total_s": summary["time_s"]}


def child_cartpole_sb3(job):
    """Time to solve Gymnasium's CartPole-v1 with SB3 PPO at the rl-zoo settings."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    torch.set_num_threads(1)

    class Solved(BaseCallback):
        def _on_training_start(self):
            self.start = time.perf_counter()
            self.seconds = None

        def _on_step(self):
            buffer = self.model.ep_info_buffer
            if len(buffer) == 100 and sum(e["r"] for e in buffer) / 100 >= SOLVED:
                self.seconds = time.perf_counter() - self.start
                return False
            return True

    seed = job["seed"]
    env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
                ent_coef=0.0, learning_rate=_linear(1e-3), clip_range=_linear(0.2), seed=seed,
                device="cpu")
    callback = Solved()
    model.learn(total_timesteps=300_000, callback=callback)
    return {"seconds": callback.seconds, "steps": model.num_timesteps}


CHILDREN = {"puffer": child_puffer, "sb3": child_sb3, "bigmlp_trainer": child_bigmlp_trainer,
            "bigmlp_bare": child_bigmlp_bare, "cartpole_puffer": child_cartpole_puffer,
            "cartpole_sb3": child_cartpole_sb3}


def run_child(job, timeout=900):
    """Runs CHILDREN[job['kind']](job) in a fresh Python process; returns its JSON result."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(job)],
                         capture_output=True, text=True, timeout=timeout, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{job['kind']} {job.get('row', '')} seed {job.get('seed')} failed:\n"
                           f"{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def puffer_1m(data, device):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "pufferlib.cli", "train", "cartpole",
                          "--timesteps", "1000000", "--data-dir", data, "--device", device],
                         capture_output=True, text=True, env=env, timeout=600)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    sys.path.insert(0, ROOT)
    from pufferlib.train.logger import read_metrics
    run = max((os.path.join(data, d) for d in os.listdir(data)), key=os.path.getmtime)
    metrics = read_metrics(run)
    steps = metrics[-1]["global_step"]
    return {"wall_s": wall, "train_s": metrics[-1]["time_s"], "sps": steps / metrics[-1]["time_s"],
            "final_return": metrics[-1]["episode_return"]}


# -- the table ------------------------------------------------------------------------------------

def fmt(x, unit="s"):
    return "n/a" if x is None else f"{x:.2f} {unit}"


def median(rows, key):
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def ksps(x):
    return "n/a" if x is None else (f"{x / 1e3:.1f}k" if x < 1e5 else f"{x / 1e3:.0f}k")


def verdict(ok):
    return "PASS" if ok else "FAIL"


def policy_row(name, spec, args, data):
    """Runs one policy-kind row (every seed, both sides); returns (its JSON, its table line)."""
    head = f"| {spec['env'].split(':')[0]} | {spec['policy']}{f' ({args.cnn})' if name == 'cnn' else ''}"
    job = {k: v for k, v in spec.items() if k in ("env", "config", "sb3", "solve", "threshold",
                                                  "sb3_steps", "limit")}
    overrides = CNN_OVERRIDES[args.cnn] if name == "cnn" else spec.get("overrides", {})
    job.update(row=name, data=data, overrides=overrides, timesteps=spec.get("steps"))
    if args.quick:
        job.update(timesteps=spec["quick_steps"], sb3_steps=max(spec["sb3_steps"] // 4, 1))
    puffer = [run_child(dict(job, kind="puffer", seed=s)) for s in range(args.seeds)]
    sb3 = [] if args.no_sb3 else [run_child(dict(job, kind="sb3", seed=s)) for s in range(args.seeds)]
    p_sps, s_sps = median(puffer, "sps"), median(sb3, "sps")
    ratio = p_sps / s_sps if p_sps and s_sps else None
    solve = median(puffer, "solve_s")
    unsolved = sum(r["solve_s"] is None for r in puffer)
    target = spec["target_s"]
    solve_text = fmt(solve) + (f" ({unsolved}/{len(puffer)} unsolved)" if unsolved else "")
    if target is not None:
        solve_text += f"; <= {target:g} s: {verdict(solve is not None and not unsolved and solve <= target)}"
    ratio_text = ("n/a" if ratio is None
                  else f"{ratio:.1f}x; >= {RATIO_TARGET:g}x: {verdict(ratio >= RATIO_TARGET)}")
    line = (f"{head} ({puffer[0]['learner']}) | {ksps(p_sps)} | {ksps(s_sps)} ({SB3_LABEL[spec['sb3']]}) | "
            f"{ratio_text} | {solve_text} |")
    summary = {"puffer_sps": p_sps, "sb3_sps": s_sps, "ratio": ratio, "solve_s": solve,
               "unsolved": unsolved}
    return {"puffer": puffer, "sb3": sb3, "summary": summary}, line


def big_mlp_row(args, data):
    rollouts = 4 if args.quick else 16
    job = {"rollouts": rollouts, "data": data}
    trainer = [run_child(dict(job, kind="bigmlp_trainer", seed=s)) for s in range(args.seeds)]
    bare = [run_child(dict(job, kind="bigmlp_bare", seed=s)) for s in range(args.seeds)]
    t_sps, b_sps = median(trainer, "sps"), median(bare, "sps")
    ratio = t_sps / b_sps
    line = (f"| cartpole | MLP 3 x 512, Trainer ({trainer[0]['learner']}) vs bare fwd/bwd/Adam | "
            f"{ksps(t_sps)} | {ksps(b_sps)} (bare torch loop, {bare[0]['minibatches']} minibatches) | "
            f"{ratio:.2f}x; >= {OVERHEAD_TARGET:g}x: {verdict(ratio >= OVERHEAD_TARGET)} | |")
    return {"trainer": trainer, "bare": bare, "summary": {"trainer_sps": t_sps, "bare_sps": b_sps,
                                                           "ratio": ratio}}, line


def cartpole_rows(args, data):
    puffer = [run_child({"kind": "cartpole_puffer", "seed": s, "device": args.device, "data": data})
              for s in range(args.seeds)]
    sb3 = [] if args.no_sb3 else [run_child({"kind": "cartpole_sb3", "seed": s}) for s in range(args.seeds)]
    runs_1m = [puffer_1m(data, args.device) for _ in range(1 if args.quick else args.runs_1m)]
    p_solve, s_solve = median(puffer, "seconds"), median(sb3, "seconds")
    wall, sps = median(runs_1m, "wall_s"), median(runs_1m, "sps")
    ratio = p_solve / s_solve if p_solve and s_solve else None
    lines = ["| measure | pufferlib | stable-baselines3 | ratio | target |", "|---|---:|---:|---:|---|"]
    unsolved = sum(r["seconds"] is None for r in puffer)
    note = f", {unsolved} unsolved" if unsolved else ""
    lines.append(f"| time to solve CartPole-v1 (median of {args.seeds} seeds{note})"
                 f" | {fmt(p_solve)} ({', '.join(fmt(r['seconds']) for r in puffer)}) | {fmt(s_solve)}"
                 f"{' (' + ', '.join(fmt(r['seconds']) for r in sb3) + ')' if sb3 else ''} | "
                 f"{'n/a' if ratio is None else f'{ratio:.3f}x'} | <= 0.1x: "
                 f"{'n/a' if ratio is None else verdict(ratio <= 0.1)} |")
    lines.append(f"| env steps to solve (median) | {median(puffer, 'steps') or 'n/a'} | "
                 f"{median(sb3, 'steps') or 'n/a'} | | |")
    lines.append(f"| `puffer train cartpole --timesteps 1000000`, process start to exit "
                 f"(median of {len(runs_1m)}) | "
                 f"{fmt(wall)} ({', '.join(fmt(r['wall_s']) for r in runs_1m)}) | | | <= 8 s: "
                 f"{verdict(wall <= 8)} |")
    lines.append(f"| training throughput, cartpole, default MLP ({args.device}) | {sps / 1e3:.0f}k steps/s "
                 f"| | | >= 300k: {verdict(sps >= 300e3)} |")
    results = {"puffer_solve": puffer, "sb3_solve": sb3, "puffer_1m": runs_1m,
               "summary": {"puffer_solve_s": p_solve, "sb3_solve_s": s_solve, "ratio": ratio,
                           "puffer_1m_wall_s": wall, "train_sps": sps}}
    return results, lines


ALL_ROWS = [*ROWS, "bigmlp", "cartpole"]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", choices=ALL_ROWS, default=ALL_ROWS, help="rows to run")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="shortened runs (pufferlib total_timesteps capped, SB3 budgets / 4, one "
                             "1M-step run): a smoke test, not the issue's figures; use with --seeds 1")
    parser.add_argument("--cnn", default="shipped", choices=tuple(CNN_OVERRIDES),
                        help="the encoder of the cnn row")
    parser.add_argument("--runs-1m", type=int, default=3, help="1M-step cartpole runs")
    parser.add_argument("--device", default="cpu", help="the cartpole rows' device")
    parser.add_argument("--no-sb3", action="store_true", help="skip stable-baselines3")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "train.json"))
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: one measurement, as JSON
    args = parser.parse_args()
    if args.child:
        job = json.loads(args.child)
        print(json.dumps(CHILDREN[job["kind"]](job)))
        return

    results = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                           "platform": platform.platform(), "loadavg_before": os.getloadavg()},
               "device": args.device, "seeds": args.seeds, "quick": args.quick}
    lines = []
    with tempfile.TemporaryDirectory() as data:
        for name in args.rows:
            if name in ROWS:
                results[name], line = policy_row(name, ROWS[name], args, data)
                lines.append(line)
            elif name == "bigmlp":
                results[name], line = big_mlp_row(args, data)
                lines.append(line)
        cartpole = None
        if "cartpole" in args.rows:
            results["cartpole"], cartpole = cartpole_rows(args, data)
    results["machine"]["loadavg_after"] = os.getloadavg()
    if lines:
        print(f"Policy kinds (medians of {args.seeds} seed{'s' * (args.seeds > 1)}"
              f"{', --quick' if args.quick else ''}):\n")
        print("| env | policy (pufferlib learner) | pufferlib steps/s | reference steps/s | ratio | "
              "time to solve |")
        print("|---|---|---:|---:|---|---|")
        print("\n".join(lines))
    if cartpole:
        print("\nCartPole:\n")
        print("\n".join(cartpole))
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
