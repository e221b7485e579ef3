"""The PPO trainer: rollouts straight from the vector env's buffers, GAE/V-trace, clipped updates.

Reads like cleanrl's ppo.py inside a library: `Trainer(env, config)` builds the environments, the
policy and the learner; `train()` alternates `rollout()` (fill [rows, horizon] storage) and
`learn()` (advantages, then epochs of minibatch updates), logging every `log.interval` seconds and
checkpointing every `log.checkpoint_interval` seconds, at the end, on Ctrl-C or SIGTERM, and when an
environment worker dies or hangs.

>>> from pufferlib.train import Config, Trainer
>>> config = Config()
>>> config.train.total_timesteps = 2048
>>> with Trainer("bandit", config, data_dir=tmp_path, dashboard=False) as trainer:  # doctest: +SKIP
...     summary = trainer.train()
"""
import datetime
import json
import math
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import torch

from pufferlib.emulation import ActionLayout, Layout
from pufferlib.environment import Closeable
from pufferlib.errors import CheckpointError, NonFiniteError, WorkerError, WorkerTimeoutError
from pufferlib.train import checkpoint as ckpt
from pufferlib.train.advantage import compute_advantages, compute_advantages_torch
from pufferlib.train.config import Config, ConfigError, load_config
from pufferlib.train.envs import env_kind, make_vecenvs
from pufferlib.train.learner import TorchLearner
from pufferlib.train.policies import architecture, make_policy

__all__ = ["Trainer", "train"]


# How long a stop request (Ctrl-C, SIGTERM) lets the current iteration run on before its rollout is
# dropped: enough for a rollout of responsive workers to end, short enough that a run stuck on a hung
# environment still stops within a few seconds.
STOP_GRACE_SECONDS = 1.0
_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))


class _Stop(BaseException):
    """Raised in the main thread by the stop handler to drop the rollout in progress.

    A BaseException, as KeyboardInterrupt is, so that no `except Exception` in env code swallows it.
    """


def _torch_dtype(dtype):
    return torch.from_numpy(np.zeros(0, dtype)).dtype


class _Group:
    """One vector env and the rows [start, stop) of the storage it fills."""

    def __init__(self, env, start):
        self.env = env
        self.start = start
        self.stop = start + env.num_agents
        self.pending = False
        self.result = None   # a synchronous step's outcome, until it is recorded


class Trainer(Closeable):
    """PPO on one environment spec; see the module docstring and `pufferlib.train.config`.

    Args:
        env: an ENV spec: a built-in name, a C file, `gymnasium:ID` or `module:callable`.
        config: a `Config`; None for the environment's shipped defaults.
        data_dir: where run directories are created.
        run_dir: this run's directory (default: a new `data_dir/ENV-DATE-TIME`).
        resume: a run directory or checkpoint to continue from (its weights, optimizer, counters,
            RNG states and, for native environments, the environments themselves).
        dashboard: None (auto), True or False; overrides config.log.dashboard.
        stream: where plain log lines go (default sys.stdout).

    Raises:
        ConfigError: bad configuration values.
        ValueError: the run directory cannot be created or written under `data_dir`.
        CheckpointError: `resume` is missing, unreadable or of another environment or policy.
    """

    def __init__(self, env, config=None, *, data_dir="runs", run_dir=None, resume=None, dashboard=None,
                 stream=None):
        self.env_name = env
        env_kind(env)  # unknown specs fail before anything is created
        self.config = config = config if config is not None else load_config(env)
        config.validate()
        t = config.train
        self.device = self._device(t.device)
        self._setup_distributed()
        if self.device.type == "cpu":
            torch.set_num_threads(t.torch_threads)
        self._was_deterministic = torch.are_deterministic_algorithms_enabled()
        if t.deterministic:  # process-wide in torch: close() puts the previous setting back
            torch.use_deterministic_algorithms(True)
        self.seed = t.seed + 7919 * self.rank  # environments and sampling differ between ranks
        torch.manual_seed(t.seed)              # the initial weights do not
        self.generator = torch.Generator(self.device).manual_seed(self.seed)

        checkpoint = None if resume is None else ckpt.load_checkpoint(resume)
        overlap = t.overlap == "on" or (t.overlap == "auto" and env_kind(env) == "python"
                                        and config.vec.backend != "serial")
        groups = 2 if overlap and config.env.num_envs % 2 == 0 else 1
        envs, self.env_info = make_vecenvs(env, config, self.seed, groups)
        try:
            self._build(envs, checkpoint)
            self.run_dir = self._make_run_dir(Path(data_dir), run_dir, checkpoint)
        except BaseException:
            for e in envs:
                e.close()
            raise
        self.logger = self._make_logger(dashboard, stream, resume=checkpoint is not None)

    # -- construction ------------------------------------------------------------------------

    def _setup_distributed(self):
        """Joins the torchrun process group when launched by torchrun (WORLD_SIZE > 1)."""
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.distributed = self.world_size > 1
        if self.distributed and not torch.distributed.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            torch.distributed.init_process_group(backend)

    def _device(self, name):
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        if name == "cuda":
            if not torch.cuda.is_available():
                raise ConfigError("train.device is 'cuda' but torch sees no CUDA device; "
                                  "use --train.device cpu")
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")

    def _build(self, envs, checkpoint):
        config, t = self.config, self.config.train
        self.groups, start = [], 0
        for env in envs:
            self.groups.append(_Group(env, start))
            start += env.num_agents
        self.rows = start
        first = envs[0]
        self.single_observation_space = first.single_observation_space
        self.single_action_space = first.single_action_space
        self.policy = make_policy(config.policy, self.single_observation_space, self.single_action_space,
                                  self.env_info.observation_layout, self.env_info.action_nvec).to(self.device)
        if self.distributed:  # every rank starts from rank 0's weights, as DistributedDataParallel does
            for param in self.policy.parameters():
                torch.distributed.broadcast(param.data, 0)
        if checkpoint is not None:
            ckpt.check_compatible(checkpoint, self.env_name, self.architecture())
            ckpt.check_env_spec(checkpoint, self.env_name, *self._layouts(), self.single_observation_space,
                                self.single_action_space)
        if self.rows * t.horizon < t.minibatch_size:
            raise ConfigError(f"train.minibatch_size ({t.minibatch_size}) is larger than a rollout "
                              f"({self.rows} rows x {t.horizon} steps); lower it, or raise env.num_envs or "
                              "train.horizon")
        if self.policy.recurrent and t.minibatch_size % t.bptt_horizon:
            raise ConfigError(f"train.minibatch_size ({t.minibatch_size}) must be a multiple of "
                              f"train.bptt_horizon ({t.bptt_horizon}) for a recurrent policy")
        self.learner = self._make_learner()
        self._allocate()
        self.global_step = 0
        self.iteration = 0
        self.elapsed_before = 0.0
        self._reset_envs()
        if checkpoint is not None:
            self._restore(checkpoint)

    def _layouts(self):
        """(observation layout, action layout) of the env; a native env's are those of its flat spaces."""
        info = self.env_info
        return (info.observation_layout or Layout(self.single_observation_space),
                info.action_layout or ActionLayout(self.single_action_space))

    def architecture(self):
        """What a checkpoint must share with this trainer to be loaded (policy and spaces)."""
        return architecture(self.config.policy, self.policy, self.single_observation_space,
                            self.single_action_space)

    def _make_learner(self):
        t = self.config.train
        if t.kernel == "auto" and self.device.type == "cpu" and not self.distributed and t.replay_alpha == 0:
            from pufferlib.train.kernel import KernelLearner
            if KernelLearner.supports(self.policy):
                return KernelLearner(self.policy, t, seed=self.seed)
        return TorchLearner(self.policy, t, self.device, self.distributed)

    def _allocate(self):
        """Rollout storage [rows, horizon], on the learner's device (numpy views of it on the CPU)."""
        rows, horizon, dev = self.rows, self.config.train.horizon, self.device
        obs_space, act_buf = self.single_observation_space, self.groups[0].env.actions
        self.b_obs = torch.zeros((rows, horizon) + obs_space.shape, dtype=_torch_dtype(obs_space.dtype),
                                 device=dev)
        self.b_actions = torch.zeros((rows, horizon) + act_buf.shape[1:], dtype=_torch_dtype(act_buf.dtype),
                                     device=dev)
        names = ("logprobs", "values", "rewards", "next_values", "final_values", "advantages", "returns",
                 "ratios")
        self.b = {name: torch.zeros(rows, horizon, device=dev) for name in names}
        for name in ("terminals", "truncations", "masks", "starts"):
            self.b[name] = torch.zeros(rows, horizon, dtype=torch.bool, device=dev)
        self.b["ratios"].fill_(1.0)
        if self.policy.recurrent:
            size = self.policy.hidden_size
            sequences = horizon // self.config.train.bptt_horizon
            self.b["h"] = torch.zeros(rows, sequences, size, device=dev)
            self.b["c"] = torch.zeros(rows, sequences, size, device=dev)
            self.state = self.policy.initial_state(rows, dev)
        else:
            self.state = None
        self.next_starts = torch.ones(rows, dtype=torch.bool, device=dev)
        self.bootstrap = torch.zeros(rows, device=dev)
        tensors = {"obs": self.b_obs, "actions": self.b_actions, "next_starts": self.next_starts,
                   "bootstrap": self.bootstrap, **self.b}
        # what the rollout writes into, step by step: numpy views of the tensors on the CPU
        self.store = {k: v.numpy() for k, v in tensors.items()} if dev.type == "cpu" else tensors

    def _reset_envs(self):
        for g in self.groups:
            g.env.reset(seed=self.seed + g.start)

    def _make_run_dir(self, data_dir, run_dir, checkpoint):
        if run_dir is None and checkpoint is not None:
            run_dir = Path(checkpoint["path"]).parent.parent
        if run_dir is None:
            slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(self.env_name).stem)
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            run_dir = data_dir / f"{slug}-{stamp}"
            k = 1
            while run_dir.exists():
                k += 1
                run_dir = data_dir / f"{slug}-{stamp}-{k}"
        run_dir = Path(run_dir)
        if self.rank == 0:
            meta = {"env": self.env_name, "config": self.config.to_dict(), "world_size": self.world_size}
            try:
                run_dir.mkdir(parents=True, exist_ok=True)
                (run_dir / "config.json").write_text(json.dumps(meta, indent=2))
            except OSError as error:  # read-only, a file in the way, no space left, ...
                raise ValueError(f"cannot write the run directory {run_dir}: {error.strerror or error}; "
                                 f"choose a writable data_dir (puffer train --data-dir DIR)") from error
        return run_dir

    def _make_logger(self, dashboard, stream, resume):
        from pufferlib.train.logger import RunLogger

        log = self.config.log
        if dashboard is None:
            dashboard = {"auto": None, "on": True, "off": False}[log.dashboard]
        return RunLogger(self.run_dir, self.config.to_dict(),
                         total_timesteps=self.config.train.total_timesteps,
                         env_name=self.env_name, dashboard=dashboard, tensorboard=log.tensorboard,
                         wandb=log.wandb, wandb_project=log.wandb_project, resume=resume,
                         enabled=self.rank == 0, stream=stream)

    # -- rollouts ----------------------------------------------------------------------------

    def _to_store(self, x):
        """An env array or a learner output in the storage's kind.

        That is numpy views on the CPU (cheap per-step writes), tensors on the device otherwise.
        """
        if self.device.type == "cpu":
            return x.numpy() if isinstance(x, torch.Tensor) else x
        return x if isinstance(x, torch.Tensor) else torch.from_numpy(x).to(self.device, non_blocking=True)

    def _env_actions(self, actions):
        if isinstance(actions, torch.Tensor):
            return actions.numpy() if actions.device.type == "cpu" else actions.cpu().numpy()
        return actions

    def rollout(self):
        """Fills the storage with `horizon` steps of every row; returns the finished episodes' statistics.

        With two groups, one group's environments step while the policy acts on the other's.

        Raises:
            NonFiniteError: the rollout stored a NaN or infinity (observation, reward, value); the
                message names the first one's row and step. Nothing is saved: the run stops.
        """
        horizon, bptt = self.config.train.horizon, self.config.train.bptt_horizon
        s, stats = self.store, {}
        for t in range(horizon):
            for g in self.groups:
                rows = slice(g.start, g.stop)
                if g.pending:
                    self._receive(g, t - 1, stats)
                t0 = time.perf_counter()
                env = g.env
                starts = s["next_starts"][rows]
                s["starts"][rows, t] = starts
                state = None
                if self.state is not None:
                    state = (self.state[0][rows], self.state[1][rows])
                    if t % bptt == 0:
                        self.b["h"][rows, t // bptt] = state[0]
                        self.b["c"][rows, t // bptt] = state[1]
                env_actions, actions, logp, values, state = self.learner.act(env.observations, state, starts,
                                                                             self.generator)
                if state is not None:
                    self.state[0][rows], self.state[1][rows] = state
                s["obs"][rows, t] = self._to_store(env.observations)
                s["actions"][rows, t] = self._to_store(actions)
                s["logprobs"][rows, t] = self._to_store(logp)
                s["values"][rows, t] = self._to_store(values)
                s["masks"][rows, t] = self._to_store(env.masks)
                send = self._env_actions(env_actions)
                self.timing["inference"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                if len(self.groups) > 1:  # step in the background while the other group acts
                    env.send(send)
                else:  # nothing to overlap with: a direct step skips the hand-off to the stepping thread
                    g.result = env.step(send)
                g.pending = True
                self.timing["env"] += time.perf_counter() - t0
        for g in self.groups:
            self._receive(g, horizon - 1, stats)
        t0 = time.perf_counter()
        for g in self.groups:  # V(obs after the rollout), to bootstrap its last step
            rows = slice(g.start, g.stop)
            state = None if self.state is None else (self.state[0][rows], self.state[1][rows])
            values = self._to_store(self.learner.value(g.env.observations, state))
            s["bootstrap"][rows] = values * ~s["next_starts"][rows]
        self.timing["inference"] += time.perf_counter() - t0
        self._check_finite()
        self.global_step += self.rows * horizon * self.world_size
        return stats

    # The stored tensors a NaN or inf could reach, checked in this order, and what one there means.
    _FINITE_CHECKS = (
        ("obs", "observation", "the environment returned it: fix the environment (for a Python one, "
         "vec.check_observations = 'always' stops at the step that made it)"),
        ("rewards", "reward", "the environment returned it: fix the environment"),
        ("values", "policy's value", "the weights have grown too large: lower train.learning_rate"),
        ("final_values", "policy's value of the final observation", "the environment's final observation "
         "of a truncated episode holds a NaN or inf: fix the environment"),
    )

    def _check_finite(self):
        """Raises NonFiniteError naming the first NaN or inf the rollout stored, if there is one.

        One sum per tensor per rollout says whether there may be one (a sum of large finite
        numbers can overflow: then a closer look finds none); only then is it looked for.
        """
        tensors = [self.b_obs if key == "obs" else self.b[key] for key, _, _ in self._FINITE_CHECKS]
        if self.device.type == "cpu":
            finite = [not x.is_floating_point() or math.isfinite(float(x.numpy().sum())) for x in tensors]
        else:  # one synchronisation
            finite = torch.stack([x.sum() if x.is_floating_point() else torch.zeros((), device=self.device)
                                  for x in tensors]).isfinite().tolist()
        for ok, x, (_, what, advice) in zip(finite, tensors, self._FINITE_CHECKS):
            if ok:
                continue
            x = x.reshape(x.shape[0], x.shape[1], -1)          # [rows, horizon, elements]
            bad = ~torch.isfinite(x)
            steps, rows = torch.nonzero(bad.any(2).T, as_tuple=True)  # the earliest step first
            if len(steps) == 0:
                continue
            row, t = int(rows[0]), int(steps[0])
            element = int(torch.nonzero(bad[row, t])[0])
            at = f" (element {element})" if x.shape[2] > 1 else ""
            raise NonFiniteError(f"the {what} of {self._row_name(row)} at step {t} of rollout "
                                 f"{self.iteration + 1} is {float(x[row, t, element])}{at}; {advice}")

    def _row_name(self, row):
        """'row R (environment E[, agent A])': a storage row, counting environments over the groups."""
        first_env = 0
        for g in self.groups:
            per_env = g.env.num_agents // g.env.num_envs
            if g.start <= row < g.stop:
                env, agent = divmod(row - g.start, per_env)
                agent = f", agent {agent}" if per_env > 1 else ""
                return f"row {row} (environment {first_env + env}{agent})"
            first_env += g.env.num_envs
        return f"row {row}"

    def _receive(self, g, t, stats):
        """Waits for group g's step and records its outcome as step t of the rollout."""
        t0 = time.perf_counter()
        _, rewards, terminals, truncations, infos = g.result if g.result is not None else g.env.recv()
        g.pending, g.result = False, None
        self.timing["env"] += time.perf_counter() - t0
        rows = slice(g.start, g.stop)
        s = self.store
        s["rewards"][rows, t] = self._to_store(rewards)
        s["terminals"][rows, t] = self._to_store(terminals)
        s["truncations"][rows, t] = self._to_store(truncations)
        s["next_starts"][rows] = self._to_store(terminals | truncations)
        if truncations.any():  # bootstrap truncated episodes from their final observations
            t0 = time.perf_counter()
            index = np.flatnonzero(truncations)
            state = None
            if self.state is not None:
                where = torch.as_tensor(index, device=self.device)
                state = (self.state[0][rows][where], self.state[1][rows][where])
            values = self._to_store(self.learner.value(g.env.final_observations[index], state))
            s["final_values"][g.start + index, t] = values
            self.timing["inference"] += time.perf_counter() - t0
        episodes = infos.get("episodes", 0) if infos else 0
        if episodes:
            for key, value in infos.items():
                if key != "episodes" and isinstance(value, (int, float)):
                    total, count = stats.get(key, (0.0, 0))
                    stats[key] = (total + float(value) * episodes, count + episodes)

    # -- learning ----------------------------------------------------------------------------

    def _next_values(self):
        """Sets the value to bootstrap from after each step.

        That is the next step's value within an episode, the final observation's after a truncation,
        and 0 after a termination.
        """
        b = self.b
        nv = torch.cat([b["values"][:, 1:], self.bootstrap.unsqueeze(1)], 1)
        nv = torch.where(b["truncations"], b["final_values"], nv)
        nv = torch.where(b["terminals"], torch.zeros_like(nv), nv)
        b["next_values"].copy_(nv)

    def _advantages(self):
        t, b = self.config.train, self.b
        dones = b["terminals"] | b["truncations"]
        if self.device.type == "cpu":
            compute_advantages(b["values"].numpy(), b["next_values"].numpy(), b["rewards"].numpy(),
                               dones.numpy(), b["ratios"].numpy(), t.gamma, t.gae_lambda, t.rho_clip,
                               t.c_clip, out=b["advantages"].numpy())
        else:
            b["advantages"].copy_(compute_advantages_torch(b["values"], b["next_values"], b["rewards"], dones,
                                                           b["ratios"], t.gamma, t.gae_lambda, t.rho_clip,
                                                           t.c_clip))
        torch.add(b["advantages"], b["values"], out=b["returns"])

    def _recompute(self):
        """V-trace: values and importance ratios of the current policy, then the advantages again."""
        batch = {"obs": self.b_obs, "actions": self.b_actions, "starts": self.b["starts"],
                 "state0": None if self.state is None else (self.b["h"][:, 0], self.b["c"][:, 0])}
        logp, values = self.learner.evaluate(batch)
        self.b["ratios"].copy_((logp - self.b["logprobs"]).exp())
        self.b["values"].copy_(values)
        self._next_values()
        self._advantages()

    def learning_rate(self):
        """The scheduled learning rate at the current global step."""
        t = self.config.train
        frac = min(self.global_step / t.total_timesteps, 1.0)
        if t.anneal_lr == "linear":
            return t.learning_rate * (1.0 - frac)
        if t.anneal_lr == "cosine":
            return t.learning_rate * 0.5 * (1.0 + math.cos(math.pi * frac))
        return t.learning_rate

    def _sequences(self):
        """Training units: single steps for feed-forward policies, bptt_horizon steps for recurrent."""
        return self.config.train.bptt_horizon if self.policy.recurrent else 1

    def learn(self):
        """Advantages, then update_epochs passes of minibatch updates; returns mean loss statistics.

        Raises:
            NonFiniteError: a minibatch's loss or gradient is NaN or infinite; the message names the
                iteration, epoch and minibatch. Its update is not applied, so the weights stay finite.
        """
        t, b = self.config.train, self.b
        self.learner.set_learning_rate(self.learning_rate())
        self.b["ratios"].fill_(1.0)
        self._next_values()
        self._advantages()
        if hasattr(self.learner, "begin"):
            self.learner.begin(self.store)
        length = self._sequences()
        count = self.rows * t.horizon // length
        per_mb = max(1, t.minibatch_size // length)
        totals, steps = {}, 0
        for epoch in range(t.update_epochs):
            if epoch and t.vtrace:
                self._recompute()
            weights = None
            if t.replay_alpha > 0:
                # priorities |advantage| ** alpha and their weights, in log space: no alpha overflows
                logits = t.replay_alpha * b["advantages"].abs().reshape(count, length).mean(1).log()
                log_probs = torch.log_softmax(logits, 0) if bool(torch.isfinite(logits.max())) else \
                    torch.full_like(logits, -math.log(count))  # all zero: uniform
                order = torch.multinomial(log_probs.exp(), count, replacement=True, generator=self.generator)
                log_weights = -t.replay_beta * (math.log(count) + log_probs[order])
                weights = (log_weights - log_weights.max()).exp()
            else:
                order = torch.randperm(count, generator=self.generator, device=self.device)
            for start in range(0, count - per_mb + 1, per_mb):
                idx = order[start:start + per_mb]
                w = None if weights is None else weights[start:start + per_mb].repeat_interleave(length)
                try:
                    stats = self.learner.update(self._minibatch(idx, length), w)
                except NonFiniteError as error:  # the learner refused the step; say where it was
                    raise NonFiniteError(f"iteration {self.iteration + 1}, epoch {epoch + 1}, minibatch "
                                         f"{start // per_mb + 1}: {error}") from None
                for key, value in stats.items():
                    totals[key] = totals.get(key, 0.0) + value
                steps += 1
            if t.target_kl > 0 and float(stats.get("approx_kl", 0.0)) > t.target_kl:
                break
        means = {key: float(value) / steps for key, value in totals.items()}
        values, returns = b["values"].flatten(), b["returns"].flatten()
        var = float(returns.var())
        unexplained = float((returns - values).var())
        means["explained_variance"] = float("nan") if var == 0 else 1.0 - unexplained / var
        means["learning_rate"] = self.learning_rate()
        self.iteration += 1
        return means

    def _minibatch(self, idx, length):
        """The stored tensors of sequences `idx` (flat steps when length is 1)."""
        b, horizon = self.b, self.config.train.horizon
        if length == 1:
            if getattr(self.learner, "takes_indices", False):
                return {"indices": idx}
            flat = lambda x: x.reshape((-1,) + x.shape[2:])[idx]  # noqa: E731
            mb = {"obs": flat(self.b_obs), "actions": flat(self.b_actions)}
        else:
            per_row = horizon // length
            row, seq = idx // per_row, idx % per_row
            steps = seq.unsqueeze(1) * length + torch.arange(length, device=idx.device)
            rows = row.unsqueeze(1).expand_as(steps)
            flat = lambda x: x[rows, steps]  # noqa: E731
            mb = {"obs": flat(self.b_obs), "actions": flat(self.b_actions), "starts": flat(b["starts"]),
                  "h": b["h"][row, seq], "c": b["c"][row, seq]}
        for name in ("logprobs", "values", "advantages", "returns", "masks"):
            mb[name] = flat(b[name])
        return mb

    # -- the loop ----------------------------------------------------------------------------

    def train(self):
        """Trains until total_timesteps; returns a summary dict (steps, time, last returns, checkpoint).

        Ctrl-C (SIGINT) or SIGTERM asks the run to stop after the current iteration; if that iteration
        is still waiting for Python environments STOP_GRACE_SECONDS later (a hung env, say), its
        rollout is dropped. Either way the last finished iteration is saved, the environments are
        closed and train() returns with `interrupted` True and `signal` set to the signal's number. A
        second signal stops at once (saving as well).

        Raises:
            WorkerError: a Python environment's worker raised or died; the run was saved first and the
                message says how to continue it.
            WorkerTimeoutError: a worker took longer than vec.timeout over a step; saved likewise.
        """
        t, log = self.config.train, self.config.log
        self._stop = None           # the signal that asked the run to stop
        self._stop_timer = None     # raises the signal again once the grace period is over
        self._grace_over = False
        self._abortable = False     # in a rollout of Python envs, which a stop may drop
        self._stoppable = True      # in the loop: a second signal stops at once
        abortable = not self.env_info.native  # native envs step in process, and never hang a rollout
        previous = self._install_stop_handlers()
        start = time.perf_counter()
        last_log = last_ckpt = start
        self.timing = {"env": 0.0, "inference": 0.0, "learn": 0.0}
        interval = {"steps": self.global_step, "episodes": {}, "losses": {}, "updates": 0}
        summary = {"run_dir": str(self.run_dir), "interrupted": False, "signal": None}
        self.last_metrics = {}
        finished = (self.global_step, self.iteration)  # counters at the end of the last learn()
        try:
            try:
                while self.global_step < t.total_timesteps and self._stop is None:
                    finished = (self.global_step, self.iteration)
                    self._abortable = abortable
                    stats = self.rollout()
                    self._abortable = False
                    for key, (total, count) in stats.items():
                        old = interval["episodes"].get(key, (0.0, 0))
                        interval["episodes"][key] = (old[0] + total, old[1] + count)
                    t0 = time.perf_counter()
                    losses = self.learn()
                    self.timing["learn"] += time.perf_counter() - t0
                    for key, value in losses.items():
                        interval["losses"][key] = interval["losses"].get(key, 0.0) + value
                    interval["updates"] += 1
                    now = time.perf_counter()
                    done = self.global_step >= t.total_timesteps or self._stop is not None
                    if now - last_log >= log.interval or done:
                        self._log(interval, now - last_log, now - start)
                        interval = {"steps": self.global_step, "episodes": {}, "losses": {}, "updates": 0}
                        last_log = now
                    if now - last_ckpt >= log.checkpoint_interval and not done:
                        self.save()
                        last_ckpt = now
            except _Stop:
                self._drop_rollout(finished)
            except (WorkerError, WorkerTimeoutError) as error:
                self._stoppable = self._abortable = False
                self._drop_rollout(finished)
                path = self.save()
                raise type(error)(self._failure_message(error, path)) from error
            self._stoppable = self._abortable = False
            summary["checkpoint"] = str(self.save())
            summary["interrupted"] = self._stop is not None
            summary["signal"] = self._stop
            if self._stop is not None:
                self.logger.message(f"interrupted ({signal.Signals(self._stop).name}): the last finished "
                                    f"iteration is saved in {summary['checkpoint']}")
        finally:
            self._stoppable = self._abortable = False
            self._restore_stop_handlers(previous)
            self.elapsed_before += time.perf_counter() - start
        summary.update(global_step=self.global_step, time_s=self.elapsed_before, metrics=self.last_metrics)
        return summary

    def _drop_rollout(self, finished):
        """Uncounts a rollout that was cut short: the run stands where the last learn() left it."""
        step, iteration = finished
        if self.iteration == iteration:
            self.global_step = step

    def _failure_message(self, error, path):
        """The message of a worker failure that ended the run: what happened, and how to continue."""
        first, _, details = str(error).partition("\n")  # details: the traceback of an env that raised
        reason = error.reason or first
        if isinstance(error, WorkerTimeoutError):
            reason = (f"the environment workers did not answer within vec.timeout={self.config.vec.timeout:g} s "
                      f"({reason}): an env hung in step, or steps slower than that (raise --vec.timeout)")
        saved = f"at step {self.global_step:,}" if path is not None else "(by rank 0)"
        return (f"{reason}; the run was saved {saved}: continue with "
                f"`puffer train {self.env_name} --resume {self.run_dir}`" + (f"\n{details}" if details else ""))

    def _log(self, interval, seconds, elapsed):
        episodes = interval["episodes"]
        count = episodes.get("episode_return", (0.0, 0))[1]
        mean = lambda key: episodes[key][0] / episodes[key][1] if key in episodes else None  # noqa: E731
        updates = max(interval["updates"], 1)
        metrics = {"time_s": self.elapsed_before + elapsed, "global_step": self.global_step,
                   "iteration": self.iteration,
                   "sps": (self.global_step - interval["steps"]) / max(seconds, 1e-9),
                   "episode_return": mean("episode_return"), "episode_length": mean("episode_length"),
                   "episodes": count}
        for key, value in interval["losses"].items():
            name = "charts/learning_rate" if key == "learning_rate" else f"losses/{key}"
            metrics[name] = value / updates
        for key in episodes:
            if key not in ("episode_return", "episode_length"):
                metrics[f"env/{key}"] = mean(key)
        for key, value in self.timing.items():
            metrics[f"timing/{key}"] = value
        self.timing = {"env": 0.0, "inference": 0.0, "learn": 0.0}
        self.last_metrics = metrics
        self.logger.log(metrics)

    def _install_stop_handlers(self):
        """Handles SIGINT and SIGTERM while training (main thread only); returns the previous handlers.

        The first signal asks the loop to stop after the current iteration and starts the grace
        timer; the timer's signal, or a second one, raises _Stop: the timer's only inside a rollout
        of Python envs (never in the middle of learn()), a second signal anywhere in the loop.
        """
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum, frame):
            if self._stop is None:
                self._stop = signum
                self._stop_timer = threading.Timer(STOP_GRACE_SECONDS, self._end_grace, (signum,))
                self._stop_timer.daemon = True
                self._stop_timer.start()
                return
            if self._grace_over:  # the timer's signal
                self._grace_over = False
                if self._abortable:
                    raise _Stop
            elif self._stoppable:  # a second signal
                raise _Stop

        return {signum: signal.signal(signum, handler) for signum in _STOP_SIGNALS}

    def _end_grace(self, signum):
        """The grace timer: signals the main thread, whose handler drops the rollout if one is still on."""
        self._grace_over = True
        if hasattr(signal, "pthread_kill"):  # wakes the main thread out of its wait at once
            signal.pthread_kill(threading.main_thread().ident, signum)
        else:
            signal.raise_signal(signum)

    def _restore_stop_handlers(self, previous):
        timer = getattr(self, "_stop_timer", None)
        if timer is not None:
            timer.cancel()
            timer.join()  # a signal it sent is handled by ours (a no-op now) before they are restored
            self._stop_timer = None
        for signum, handler in (previous or {}).items():
            signal.signal(signum, handler)

    # -- checkpoints -------------------------------------------------------------------------

    def save(self, path=None):
        """Writes a checkpoint (rank 0 only) and returns its path."""
        if self.rank != 0:
            return None
        path = Path(path) if path else self.run_dir / "checkpoints" / f"step_{self.global_step:012d}.pt"
        snapshots = []
        for g in self.groups:
            try:
                snapshots.append(g.env.snapshot())
            except (AttributeError, NotImplementedError):
                snapshots = None
                break
        spec = ckpt.spec_record(*self._layouts(), self.single_observation_space, self.single_action_space)
        payload = {"env": self.env_name, "config": self.config.to_dict(), "spec": spec,
                   "architecture": self.architecture(),
                   "policy": self.policy.state_dict(), "learner": self.learner.state_dict(),
                   "global_step": self.global_step, "iteration": self.iteration,
                   "elapsed": self.elapsed_before, "envs": snapshots,
                   "rng": {"torch": torch.get_rng_state(), "sampler": self.generator.get_state()},
                   "carry": {"next_starts": self.next_starts.cpu(),
                             "state": None if self.state is None else [s.cpu() for s in self.state]}}
        return ckpt.save_checkpoint(path, payload)

    def _restore(self, data):
        """Continues from a checkpoint: weights, optimizer, counters, RNGs, environments.

        Raises:
            CheckpointError: its learner or state does not fit this run (a damaged checkpoint).
        """
        ckpt.load_policy_state(self.policy, data)
        state = data["learner"]
        if state["kind"] != self.learner.name:
            raise CheckpointError(f"{data['path']} was trained with the {state['kind']} learner, "
                                  f"this run uses {self.learner.name}; set train.kernel to match")
        try:
            self.learner.load_state_dict(state)
            self.global_step, self.iteration = data["global_step"], data["iteration"]
            self.elapsed_before = data["elapsed"]
            torch.set_rng_state(data["rng"]["torch"])
            self.generator.set_state(data["rng"]["sampler"])
            carry = data["carry"]
            self.next_starts.copy_(carry["next_starts"])
            if self.state is not None and carry["state"] is not None:
                self.state[0].copy_(carry["state"][0])
                self.state[1].copy_(carry["state"][1])
            if data["envs"] and len(data["envs"]) == len(self.groups):
                for g, snap in zip(self.groups, data["envs"]):
                    g.env.restore(ckpt.to_numpy(snap))
            else:  # Python environments cannot be snapshotted: they start new episodes
                self.next_starts.fill_(True)
                if self.state is not None:
                    self.state[0].zero_()
                    self.state[1].zero_()
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as e:  # what their owners raise
            reason = " ".join(str(e).split())
            raise CheckpointError(f"{data['path']} is damaged: its training state does not fit this run "
                                  f"({type(e).__name__}: {reason})") from None

    def close(self):
        """Closes the environments and the logger (idempotent).

        A native env's pending step is received first; Python envs' workers are shut down without
        waiting for them (a hung one is killed).
        """
        native = getattr(self, "env_info", None) is not None and self.env_info.native
        for g in getattr(self, "groups", ()):
            if native and g.pending and g.result is None:
                try:
                    g.env.recv()
                except Exception:  # closing anyway: the env's own error was reported by recv before
                    pass
                g.pending = False
            g.env.close()
        if getattr(self, "logger", None) is not None:
            self.logger.close()
        if hasattr(self, "_was_deterministic"):
            torch.use_deterministic_algorithms(self._was_deterministic)


def train(env, config=None, **kwargs):
    """Trains PPO on `env` (an ENV spec) and returns the summary; `pufferlib.train(...)` calls this.

    Args:
        env: a built-in name, a C file, `gymnasium:ID` or `module:callable`.
        config: a `Config`, a nested dict of overrides {section: {key: value}}, or None for the
            environment's shipped defaults.
        **kwargs: passed to `Trainer` (data_dir, run_dir, resume, dashboard, stream).

    Returns:
        dict with run_dir, checkpoint, global_step, time_s, interrupted and the last metrics.

    Example:
        >>> import pufferlib
        >>> summary = pufferlib.train("bandit", {"train": {"total_timesteps": 4096}},
        ...                           data_dir=tmp_path, dashboard=False)  # doctest: +SKIP
    """
    if isinstance(config, dict):
        base = load_config(env)
        base.update(config, source="train(config=...)")
        config = base
    elif config is not None and not isinstance(config, Config):
        raise TypeError(f"config must be a pufferlib.train.Config, a dict or None, "
                        f"got {type(config).__name__}")
    with Trainer(env, config, **kwargs) as trainer:
        return trainer.train()

