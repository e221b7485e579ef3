"""The PPO trainer: rollouts straight from the vector env's buffers, GAE/V-trace, clipped updates.

Reads like cleanrl's ppo.py inside a library. `Trainer(env, config)` builds the environments, the
policy, the learner (a `pufferlib.train.learner.Learner`) and one `RolloutStorage`; `train()` is
the loop, read top to bottom:

1. collect: `rollout()` fills the storage with `horizon` steps of every row;
2. advantages: `storage.compute_advantages()` (GAE with V-trace clipping);
3. update: `update()` runs epochs of PPO minibatch steps;
4. log every `log.interval` seconds;
5. checkpoint every `log.checkpoint_interval` seconds, at the end, on Ctrl-C or SIGTERM
   (`pufferlib.train.stopping`), and when an environment worker dies or hangs.

>>> from pufferlib.train import Config, Trainer
>>> config = Config()
>>> config.train.total_timesteps = 2048
>>> with Trainer("bandit", config, data_dir=tmp_path, dashboard=False) as trainer:  # doctest: +SKIP
...     summary = trainer.train()
"""
import contextlib
import datetime
import json
import math
import os
import signal
import time
from pathlib import Path

import numpy as np
import torch

from pufferlib.environment import Closeable, EpisodeStats
from pufferlib.envs import env_kind, make_vecenvs
from pufferlib.errors import CheckpointError, NonFiniteError, WorkerError, WorkerTimeoutError
from pufferlib.train import checkpoint as ckpt
from pufferlib.train import selfplay
from pufferlib.train.config import Config, ConfigError, load_config
from pufferlib.train.kernel import make_learner
from pufferlib.train.policies import architecture, make_policy
from pufferlib.train.rollout import RolloutStorage, torch_dtype
from pufferlib.train.stopping import RolloutDropped, StopSignals

__all__ = ["Timing", "Trainer", "train"]


class Timing:
    """Seconds spent stepping environments, in policy inference and learning, since the last log line.

    Attributes:
        env: waiting for environment steps (and handing actions over).
        inference: the policy acting, and valuing observations to bootstrap from.
        learn: advantages and updates.
    """

    __slots__ = ("env", "inference", "learn")

    def __init__(self):
        self.reset()

    def reset(self):
        """Zeroes every counter."""
        self.env = self.inference = self.learn = 0.0

    @contextlib.contextmanager
    def measure(self, name):
        """Adds the time spent in the `with` block to counter `name`."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            setattr(self, name, getattr(self, name) + time.perf_counter() - t0)

    def pop(self):
        """{name: seconds} of every counter, which then restart from zero."""
        seconds = {name: getattr(self, name) for name in self.__slots__}
        self.reset()
        return seconds


class _Group:
    """One vector env, the rows [start, stop) of the storage it fills, and its step in flight.

    With two groups (train.overlap) a group's environments step in the background (`send` now,
    `recv` later) while the policy acts on the other group's rows; a lone group steps directly
    (`send` keeps the result for `recv`), skipping the hand-off to the stepping thread.
    """

    def __init__(self, env, start, overlap):
        self.env = env
        self.start = start
        self.stop = start + env.num_agents
        self.rows = slice(self.start, self.stop)
        self.overlap = overlap
        self.pending = False
        self.result = None   # a direct step's outcome, until `recv` takes it

    def send(self, actions):
        """Starts (or, alone, makes) the step of this group's environments."""
        if self.overlap:
            self.env.send(actions)
        else:
            self.result = self.env.step(actions)
        self.pending = True

    def recv(self):
        """The step's (obs, rewards, terminals, truncations, infos), once it is done."""
        result = self.result if self.result is not None else self.env.recv()
        self.pending, self.result = False, None
        return result


class _Interval:
    """What the run did between two log lines: steps, finished episodes' statistics, loss sums."""

    def __init__(self, global_step, now):
        self.global_step, self.start = global_step, now
        self.episodes = EpisodeStats()
        self.losses = {}     # name -> sum over updates
        self.updates = 0

    def add(self, episodes, losses):
        """Counts one iteration: its rollout's episode statistics and its update's mean losses."""
        self.episodes.merge(episodes)
        for key, value in losses.items():
            self.losses[key] = self.losses.get(key, 0.0) + value
        self.updates += 1

    def means(self):
        """{name: mean} of the interval's episode statistics and `episodes`, their count.

        The one place statistics become means.
        """
        return self.episodes.means()


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

    Attributes:
        groups: the vector envs (one, or two that overlap) and the storage rows each fills.
        policy: the torch policy (its weights are what checkpoints and evaluation use).
        learner: the `Learner` that acts and updates (the C kernel or torch).
        storage: the `RolloutStorage` of one rollout.
        timing: the `Timing` of the current log interval.
        stop: the `StopSignals` of the training loop (Ctrl-C and SIGTERM while `train` runs).
        global_step, iteration: environment steps taken (over every rank) and updates done.

    Raises:
        ConfigError: bad configuration values.
        ValueError: the run directory cannot be created or written under `data_dir`.
        CheckpointError: `resume` is missing, unreadable or of another environment or policy.
    """

    def __init__(self, env, config=None, *, data_dir="runs", run_dir=None, resume=None, dashboard=None,
                 stream=None):
        self.env_name = env
        self.native = env_kind(env) == "native"  # unknown specs fail before anything is created
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
        self.timing = Timing()
        self._started = None   # perf_counter at the start of the running train() call
        self.stop = StopSignals()
        self.last_metrics = {}

        checkpoint = None if resume is None else ckpt.load_checkpoint(resume)
        overlap = t.overlap == "on" or (t.overlap == "auto" and not self.native
                                        and config.vec.backend != "serial")
        groups = 2 if overlap and config.env.num_envs % 2 == 0 else 1
        self.league = None
        env_config = selfplay.multi_seat(env, config) if config.selfplay.enabled else config
        envs = make_vecenvs(env, env_config, self.seed, groups)
        try:
            if config.selfplay.enabled:
                envs = self._seat(envs)
            self._build(envs, checkpoint)
            self.run_dir = self._make_run_dir(Path(data_dir), run_dir, checkpoint)
        except BaseException:
            for e in envs:
                e.close()
            raise
        self.logger = self._make_logger(dashboard, stream, resume=checkpoint is not None)

    def _seat(self, envs):
        """Self-play: the league, and each vector env seen as the learner's seats (SeatedEnv)."""
        first = envs[0]
        try:
            teams = selfplay.parse_teams(self.config.selfplay.teams, first.num_agents // first.num_envs)
            self.league = selfplay.League(self.config, self.env_name, first.env_spec, self.device, self.seed)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        return [selfplay.SeatedEnv(e, self.league, teams, seed=self.seed + 104729 * (g + 1))
                for g, e in enumerate(envs)]

    # -- the loop ----------------------------------------------------------------------------

    def train(self, on_log=None):
        """Trains until total_timesteps; returns a summary dict (steps, time, last returns, checkpoint).

        Args:
            on_log: optional callable given each log interval's metrics (the dict `metrics.jsonl`
                gets); when it returns True the run stops there, saved as at its end, and the summary
                says `stopped` (a sweep's pruner and trial budget stop runs this way).

        Ctrl-C (SIGINT) or SIGTERM asks the run to stop after the current iteration; if that iteration
        is still waiting for Python environments STOP_GRACE_SECONDS later (a hung env, say), its
        rollout is dropped. Either way the last finished iteration is saved, the environments are
        closed and train() returns with `interrupted` True and `signal` set to the signal's number. A
        second signal stops at once (saving as well). See `pufferlib.train.stopping`.

        Raises:
            WorkerError: a Python environment's worker raised or died; the run was saved first and the
                message says how to continue it.
            WorkerTimeoutError: a worker took longer than vec.timeout over a step; saved likewise.
        """
        t, log = self.config.train, self.config.log
        start = self._started = time.perf_counter()
        self.timing.reset()
        self.last_metrics = {}
        interval, last_checkpoint = _Interval(self.global_step, start), start
        finished = (self.global_step, self.iteration)  # the counters at the end of the last update
        stopped = False  # by on_log
        try:
            with self.stop.handling():
                try:
                    while self.global_step < t.total_timesteps and self.stop.signal is None and not stopped:
                        finished = (self.global_step, self.iteration)
                        # 1. collect: horizon steps of every row (a stop may drop a rollout of
                        #    Python envs, which can hang; native envs step in process and cannot)
                        with self.stop.droppable_rollout(not self.native):
                            episodes = self.rollout()
                        # 2. advantages, then 3. epochs of PPO minibatch updates
                        with self.timing.measure("learn"):
                            self.storage.compute_advantages(t)
                            losses = self.update()
                        interval.add(episodes, losses)
                        # 4. log and 5. checkpoint, each on its own clock
                        now = time.perf_counter()
                        done = self.global_step >= t.total_timesteps or self.stop.signal is not None
                        if now - interval.start >= log.interval or done:
                            self._log(interval, now, start)
                            interval = _Interval(self.global_step, now)
                            stopped = bool(on_log is not None and on_log(self.last_metrics))
                        if now - last_checkpoint >= log.checkpoint_interval and not done:
                            self.save()
                            last_checkpoint = now
                except RolloutDropped:
                    self._uncount_rollout(finished)
                except (WorkerError, WorkerTimeoutError) as error:
                    self.stop.disarm()
                    self._uncount_rollout(finished)
                    path = self.save()
                    raise type(error)(self._failure_message(error, path)) from error
                self.stop.disarm()
                summary = self._finish()
        finally:
            self.elapsed_before += time.perf_counter() - start
            self._started = None
        summary.update(global_step=self.global_step, time_s=self.elapsed_before, metrics=self.last_metrics,
                       stopped=stopped)
        return summary

    def _uncount_rollout(self, finished):
        """Uncounts a rollout that was cut short: the run stands where the last update left it."""
        step, iteration = finished
        if self.iteration == iteration:
            self.global_step = step

    def _finish(self):
        """The last checkpoint, and the summary of how the run ended."""
        path = str(self.save())
        signum = self.stop.signal
        if signum is not None:
            self.logger.message(f"interrupted ({signal.Signals(signum).name}): the last finished "
                                f"iteration is saved in {path}")
        return {"run_dir": str(self.run_dir), "interrupted": signum is not None, "signal": signum,
                "checkpoint": path}

    def _failure_message(self, error, path):
        """The message of a worker failure that ended the run: what happened, and how to continue."""
        first, _, details = str(error).partition("\n")  # details: the traceback of an env that raised
        reason = error.reason or first
        if isinstance(error, WorkerTimeoutError):
            reason = ("the environment workers did not answer within "
                      f"vec.timeout={self.config.vec.timeout:g} s "
                      f"({reason}): an env hung in step, or steps slower than that "
                      "(raise --vec.timeout)")
        saved = f"at step {self.global_step:,}" if path is not None else "(by rank 0)"
        return (f"{reason}; the run was saved {saved}: continue with "
                f"`puffer train {self.env_name} --resume {self.run_dir}`"
                + (f"\n{details}" if details else ""))

    # -- 1. collect --------------------------------------------------------------------------

    def rollout(self):
        """Fills the storage with `horizon` steps of every row; returns the finished episodes' statistics.

        With two groups, one group's environments step while the policy acts on the other's.

        Returns:
            The EpisodeStats of the episodes that finished in the rollout.

        Raises:
            NonFiniteError: the rollout stored a NaN or infinity (observation, reward, value); the
                message names the first one's row and step. Nothing is saved: the run stops.
        """
        horizon, bptt = self.config.train.horizon, self.config.train.bptt_horizon
        storage, learner, timing, generator = self.storage, self.learner, self.timing, self.generator
        s, convert, carry = storage.views, storage.convert, storage.state
        storage.ratios.fill_(1.0)  # the policy that acts is the one that learns: no correction yet
        episodes = EpisodeStats()
        for t in range(horizon):
            for g in self.groups:
                if g.pending:
                    self._receive(g, t - 1, episodes)
                t0 = time.perf_counter()
                env, rows = g.env, g.rows
                starts = s.next_starts[rows]
                s.starts[rows, t] = starts
                state = None
                if carry is not None:
                    state = (carry[0][rows], carry[1][rows])
                    if t % bptt == 0:
                        storage.h[rows, t // bptt] = state[0]
                        storage.c[rows, t // bptt] = state[1]
                legal = env.action_masks
                env_actions, actions, logp, values, state = learner.act(env.observations, state, starts,
                                                                        generator, action_masks=legal)
                if legal is not None:
                    s.action_masks[rows, t] = convert(legal)
                if state is not None:
                    carry[0][rows], carry[1][rows] = state
                s.obs[rows, t] = convert(env.observations)
                s.actions[rows, t] = convert(actions)
                s.logprobs[rows, t] = convert(logp)
                s.values[rows, t] = convert(values)
                s.masks[rows, t] = convert(env.masks)
                env_actions = _env_actions(env_actions)
                timing.inference += time.perf_counter() - t0
                t0 = time.perf_counter()
                g.send(env_actions)
                timing.env += time.perf_counter() - t0
        for g in self.groups:
            self._receive(g, horizon - 1, episodes)
        with timing.measure("inference"):
            self._bootstrap()
        storage.check_finite(self._row_name, self.iteration + 1)
        self.global_step += self.agent_rows * horizon * self.world_size
        return episodes

    def _receive(self, g, t, episodes):
        """Waits for group g's step and records its outcome as step t of the rollout."""
        t0 = time.perf_counter()
        _, rewards, terminals, truncations, infos = g.recv()
        self.timing.env += time.perf_counter() - t0
        s, convert, rows = self.storage.views, self.storage.convert, g.rows
        s.rewards[rows, t] = convert(rewards)
        s.terminals[rows, t] = convert(terminals)
        s.truncations[rows, t] = convert(truncations)
        s.next_starts[rows] = convert(terminals | truncations)
        if truncations.any():  # bootstrap truncated episodes from their final observations
            t0 = time.perf_counter()
            index = np.flatnonzero(truncations)
            state = None
            if self.storage.state is not None:
                where = torch.as_tensor(index, device=self.device)
                state = (self.storage.state[0][rows][where], self.storage.state[1][rows][where])
            values = convert(self.learner.value(g.env.final_observations[index], state))
            s.final_values[g.start + index, t] = values
            self.timing.inference += time.perf_counter() - t0
        if infos:
            episodes.merge(infos)

    def _bootstrap(self):
        """V(observation after the rollout) of every row, to bootstrap the rollout's last step from."""
        s, carry = self.storage.views, self.storage.state
        for g in self.groups:
            state = None if carry is None else (carry[0][g.rows], carry[1][g.rows])
            values = self.storage.convert(self.learner.value(g.env.observations, state))
            s.bootstrap[g.rows] = values * ~s.next_starts[g.rows]

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

    # -- 3. update ---------------------------------------------------------------------------

    def learning_rate(self):
        """The scheduled learning rate at the current global step."""
        t = self.config.train
        frac = min(self.global_step / t.total_timesteps, 1.0)
        if t.anneal_lr == "linear":
            return t.learning_rate * (1.0 - frac)
        if t.anneal_lr == "cosine":
            return t.learning_rate * 0.5 * (1.0 + math.cos(math.pi * frac))
        return t.learning_rate

    def update(self):
        """PPO on the rollout (advantages computed): update_epochs passes of minibatch steps.

        Returns:
            the mean loss statistics, with explained_variance and learning_rate.

        Raises:
            NonFiniteError: a minibatch's loss or gradient is NaN or infinite; the message names the
                iteration, epoch and minibatch. Its update is not applied, so the weights stay finite.
        """
        t, storage = self.config.train, self.storage
        self.learner.set_learning_rate(self.learning_rate())
        self.learner.begin(storage)
        per_mb = max(1, t.minibatch_size // storage.segment)
        totals, steps = {}, 0
        for epoch in range(t.update_epochs):
            if epoch and t.vtrace:
                self._recompute()
            order, weights = self._sample_units()
            for start in range(0, len(order) - per_mb + 1, per_mb):
                w = None if weights is None else \
                    weights[start:start + per_mb].repeat_interleave(storage.segment)
                try:
                    stats = self.learner.update(order[start:start + per_mb], w)
                except NonFiniteError as error:  # the learner refused the step; say where it was
                    raise NonFiniteError(f"iteration {self.iteration + 1}, epoch {epoch + 1}, minibatch "
                                         f"{start // per_mb + 1}: {error}") from None
                for key, value in stats.items():
                    totals[key] = totals.get(key, 0.0) + value
                steps += 1
            if t.target_kl > 0 and float(stats.get("approx_kl", 0.0)) > t.target_kl:
                break
        means = {key: float(value) / steps for key, value in totals.items()}
        means["explained_variance"] = storage.explained_variance()
        means["learning_rate"] = self.learning_rate()
        self.iteration += 1
        if self.league is not None:
            self.league.after_update(self.iteration, self.policy)
        return means

    def _recompute(self):
        """V-trace: values and importance ratios of the current policy, then the advantages again."""
        storage = self.storage
        logp, values = self.learner.evaluate()
        storage.ratios.copy_((logp - storage.logprobs).exp())
        storage.values.copy_(values)
        storage.compute_advantages(self.config.train)

    def _sample_units(self):
        """An epoch's order of training units: a permutation, or prioritised replay's sample and weights.

        Returns:
            (order, weights): int64 unit indices, and replay's importance weights per unit (or None).
        """
        t, count = self.config.train, self.storage.units
        if t.replay_alpha == 0:
            return torch.randperm(count, generator=self.generator, device=self.device), None
        # priorities |advantage| ** alpha and their weights, in log space: no alpha overflows
        advantages = self.storage.advantages.abs().reshape(count, self.storage.segment)
        logits = t.replay_alpha * advantages.mean(1).log()
        log_probs = torch.log_softmax(logits, 0) if bool(torch.isfinite(logits.max())) else \
            torch.full_like(logits, -math.log(count))  # all zero: uniform
        order = torch.multinomial(log_probs.exp(), count, replacement=True, generator=self.generator)
        log_weights = -t.replay_beta * (math.log(count) + log_probs[order])
        return order, (log_weights - log_weights.max()).exp()

    # -- 4. log ------------------------------------------------------------------------------

    def _log(self, interval, now, start):
        """Logs the interval's metrics (charts, losses/, env/, timing/) and keeps them as last_metrics."""
        updates = max(interval.updates, 1)
        seconds = now - interval.start
        means = interval.means()
        metrics = {"time_s": self.elapsed_before + now - start, "global_step": self.global_step,
                   "iteration": self.iteration,
                   "sps": (self.global_step - interval.global_step) / max(seconds, 1e-9),
                   "episode_return": means.get("episode_return"),
                   "episode_length": means.get("episode_length"),
                   "episodes": means.get("episodes", 0)}
        for key, value in interval.losses.items():
            name = "charts/learning_rate" if key == "learning_rate" else f"losses/{key}"
            metrics[name] = value / updates
        for key, value in means.items():
            if key.startswith("selfplay/"):  # the learner's results against the league
                metrics[key] = value
            elif key not in ("episode_return", "episode_length", "episodes"):
                metrics[f"env/{key}"] = value
        if self.league is not None:
            metrics.update(self.league.metrics())
        for key, value in self.timing.pop().items():
            metrics[f"timing/{key}"] = value
        self.last_metrics = metrics
        self.logger.log(metrics)

    # -- 5. checkpoint ------------------------------------------------------------------------

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
        payload = {"env": self.env_name, "config": self.config.to_dict(), "spec": self.env_spec.to_plain(),
                   "architecture": self.architecture(),
                   "policy": self.policy.state_dict(), "learner": self.learner.state_dict(),
                   "global_step": self.global_step, "iteration": self.iteration,
                   "elapsed": self.elapsed(), "envs": snapshots,
                   "league": None if self.league is None else
                   {"pool": self.league.state_dict(), "seats": [g.env.state_dict() for g in self.groups]},
                   "rng": {"torch": torch.get_rng_state(), "sampler": self.generator.get_state()},
                   "carry": {"next_starts": self.storage.next_starts.cpu(),
                             "state": None if self.storage.state is None else
                             [s.cpu() for s in self.storage.state]}}
        return ckpt.save_checkpoint(path, payload)

    def elapsed(self):
        """Seconds of training so far: the runs before (resumed) and the current train() call."""
        running = 0.0 if self._started is None else time.perf_counter() - self._started
        return self.elapsed_before + running

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
            carry, storage = data["carry"], self.storage
            storage.next_starts.copy_(carry["next_starts"])
            if storage.state is not None and carry["state"] is not None:
                storage.state[0].copy_(carry["state"][0])
                storage.state[1].copy_(carry["state"][1])
            league = data.get("league")
            if self.league is not None and league is not None:  # the same pool, ratings and seats
                self.league.load_state_dict(league["pool"], self.policy)
            if data["envs"] and len(data["envs"]) == len(self.groups):
                for g, snap in zip(self.groups, data["envs"]):
                    g.env.restore(ckpt.to_numpy(snap))
                if self.league is not None and league is not None:
                    for g, seats in zip(self.groups, league["seats"]):
                        g.env.load_state_dict(ckpt.to_numpy(seats))
            else:  # Python environments cannot be snapshotted: they start new episodes
                storage.start_new_episodes()
                if self.league is not None:  # against opponents of the restored pool
                    self._reset_envs()
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as e:  # what their owners raise
            reason = " ".join(str(e).split())
            raise CheckpointError(f"{data['path']} is damaged: its training state does not fit this run "
                                  f"({type(e).__name__}: {reason})") from None

    # -- construction ------------------------------------------------------------------------

    def _setup_distributed(self):
        """Joins the torchrun process group when launched by torchrun (WORLD_SIZE > 1)."""
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.distributed = self.world_size > 1
        self._owns_process_group = self.distributed and not torch.distributed.is_initialized()
        if self._owns_process_group:
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
            self.groups.append(_Group(env, start, overlap=len(envs) > 1))
            start += env.num_agents
        self.rows = start
        self.agent_rows = sum(getattr(env, "agent_rows", env.num_agents) for env in envs)  # stepped
        first = envs[0]
        self.single_observation_space = first.single_observation_space
        self.single_action_space = first.single_action_space
        self.env_spec = first.env_spec
        self.policy = make_policy(config.policy, self.env_spec).to(self.device)
        if self.distributed:  # every rank starts from rank 0's weights, as DistributedDataParallel does
            for param in self.policy.parameters():
                torch.distributed.broadcast(param.data, 0)
        if checkpoint is not None:
            ckpt.check_compatible(checkpoint, self.env_name, self.architecture())
            ckpt.check_env_spec(checkpoint, self.env_name, self.env_spec)
        if self.rows * t.horizon < t.minibatch_size:
            raise ConfigError(f"train.minibatch_size ({t.minibatch_size}) is larger than a rollout "
                              f"({self.rows} rows x {t.horizon} steps); lower it, or raise env.num_envs or "
                              "train.horizon")
        if self.policy.recurrent and t.minibatch_size % t.bptt_horizon:
            raise ConfigError(f"train.minibatch_size ({t.minibatch_size}) must be a multiple of "
                              f"train.bptt_horizon ({t.bptt_horizon}) for a recurrent policy")
        self.learner = make_learner(self.policy, self.config.train, self.device, self.distributed, self.seed)
        act_buf = self.groups[0].env.actions
        self.storage = RolloutStorage(self.rows, t.horizon, self.single_observation_space, act_buf.shape[1:],
                                      torch_dtype(act_buf.dtype), self.device,
                                      hidden_size=self.policy.hidden_size if self.policy.recurrent else None,
                                      bptt_horizon=t.bptt_horizon, mask_size=_mask_size(first))
        self.global_step = 0
        self.iteration = 0
        self.elapsed_before = 0.0
        if self.league is not None:  # the pool starts with the initial policy
            self.league.add_snapshot(self.policy, 0)
        self._reset_envs()
        if checkpoint is not None:
            self._restore(checkpoint)

    def architecture(self):
        """What a checkpoint must share with this trainer to be loaded (policy and spaces)."""
        return architecture(self.config.policy, self.policy, self.single_observation_space,
                            self.single_action_space)

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

    def close(self):
        """Closes the environments, the logger and a process group it joined (idempotent).

        A native env's pending step is received first; Python envs' workers are shut down without
        waiting for them (a hung one is killed).
        """
        for g in getattr(self, "groups", ()):
            if self.native and g.pending and g.result is None:
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
        if getattr(self, "_owns_process_group", False) and torch.distributed.is_initialized():
            # A group left to the interpreter's exit can abort the process: gloo's worker threads
            # are torn down with the interpreter. No barrier: a rank closing on an error must
            # not wait for peers that will never arrive.
            self._owns_process_group = False
            torch.distributed.destroy_process_group()


def _env_actions(actions):
    """The policy's actions as the numpy array the vector env takes."""
    if isinstance(actions, torch.Tensor):
        return actions.numpy() if actions.device.type == "cpu" else actions.cpu().numpy()
    return actions


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



def _mask_size(vecenv):
    """The width of a vector env's action masks (legal choices per row), 0 when it has none."""
    masks = getattr(vecenv, "action_masks", None)
    return 0 if masks is None else int(masks.shape[1])
