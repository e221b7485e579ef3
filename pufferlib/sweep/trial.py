"""One trial of a sweep: a normal training run of suggested settings, scored, costed and maybe pruned.

The run is a plain run directory (config.json, metrics.jsonl, checkpoints, train.log) under the sweep's
trials/ folder, so any trial can be evaluated, resumed or exported like a `puffer train` run. While it
trains, every log interval updates the running score (the mean over the last `episodes` episodes) and,
at each of the plan's report points, tells it to the pruner, which may stop it.

What a trial is worth (the plan's objective):
- time: the seconds of training until the running score (over a full window of episodes) first
  reaches the threshold; the run stops there. A run that never reaches it is worth
  trial_seconds * (1 + gap), gap = (threshold - best score) / |threshold| clipped to [0, 1]: worse
  than any run that reached it, and better the closer it came.
- penalized: score - cost_weight * cost.
- pareto: (score, cost), both objectives.

The cost is the seconds of training (cost 'time') or millions of environment steps ('steps').
"""
import math
import os
import socket

from pufferlib.train.config import Config, ConfigError
from pufferlib.train.logger import EpisodeWindow

__all__ = ["TrialFailed", "TrialInfeasible", "TrialInterrupted", "run_trial", "suggest_settings"]


class TrialFailed(Exception):
    """A trial failed in its own right: the message is the reason recorded with it."""


class TrialInfeasible(Exception):
    """The suggested settings contradict each other or the base (a minibatch larger than the rollout).

    Recorded as pruned before its first step, with the reason as its `infeasible` attribute: Optuna's
    TPE learns from pruned trials (ranking them below every completed one) and ignores failed ones,
    so it would go on suggesting what can never run.
    """


class TrialInterrupted(Exception):
    """The trial was stopped from outside (Ctrl-C, SIGTERM): it is marked failed but not counted."""


def suggest_settings(trial, params):
    """{"section.key": value} drawn for `trial` from the `Parameter`s of the space."""
    return {p.name: p.suggest(trial) for p in params}


def run_trial(trial, plan, params, trials_dir, stream=None):
    """Trains one trial of `plan` and returns its objective value(s); see the module docstring.

    Args:
        trial: the Optuna trial (its suggestions, reports and user attributes).
        plan: the study's `Plan`.
        params: the space's `Parameter`s.
        trials_dir: where the trial's run directory (trial_NNNNN) is made.
        stream: where the run's log lines go (default: train.log in the run directory).

    Returns:
        The value (objectives 'time' and 'penalized') or the (score, cost) pair ('pareto').

    Raises:
        optuna.TrialPruned: the pruner stopped it.
        TrialInfeasible: the suggested settings cannot run together.
        TrialFailed: it could not be built, diverged, ran past trial_seconds or scored nothing.
        TrialInterrupted: a signal stopped it.
    """
    import optuna

    from pufferlib.errors import NonFiniteError, PufferError
    from pufferlib.train.trainer import Trainer

    settings = suggest_settings(trial, params)
    run_dir = os.path.join(trials_dir, f"trial_{trial.number:05d}")
    for key, value in (("host", socket.gethostname()), ("pid", os.getpid()), ("run_dir", run_dir),
                       ("settings", settings)):
        trial.set_user_attr(key, value)
    config = Config.from_dict(plan["base"], source="the sweep's base configuration")
    nested = {}
    for name, value in settings.items():
        section, _, key = name.partition(".")
        nested.setdefault(section, {})[key] = value
    score = _Score(trial, plan)
    os.makedirs(run_dir, exist_ok=True)
    log = open(os.path.join(run_dir, "train.log"), "a")
    try:
        config.update(nested, source=f"trial {trial.number}")
        trainer = Trainer(plan["env"], config, run_dir=run_dir, dashboard=False, stream=stream or log)
    except ConfigError as error:  # settings that contradict each other (a minibatch above the rollout)
        log.close()
        raise TrialInfeasible(str(error)) from None
    except BaseException:
        log.close()
        raise
    try:
        with log, trainer:
            summary = trainer.train(on_log=score.on_log)
    except NonFiniteError as error:
        raise TrialFailed(f"training diverged: {error}") from None
    except (PufferError, ValueError, TypeError) as error:  # settings the run refuses, an env that raised
        raise TrialFailed(f"{type(error).__name__}: {error}") from None
    if summary["interrupted"]:
        raise TrialInterrupted(f"stopped by a signal after {summary['global_step']:,} steps")
    seconds, steps = summary["time_s"], summary["global_step"]
    for key, value in (("seconds", seconds), ("steps", steps), ("checkpoint", summary["checkpoint"]),
                       ("reached_s", score.reached_s), ("reached_steps", score.reached_steps)):
        trial.set_user_attr(key, value)
    if score.pruned:
        trial.set_user_attr("score", score.value)
        raise optuna.TrialPruned(f"pruned at report {score.last_report} of {plan['reports']}")
    if score.over_budget:
        raise TrialFailed(f"exceeded its time budget: {seconds:.1f} s of training, sweep.trial_seconds is "
                          f"{plan['trial_seconds']:g}")
    value = score.value
    if plan["metric"] == "eval":
        from pufferlib.train.evaluate import evaluate

        value = evaluate(plan["env"], summary["checkpoint"], episodes=plan["eval_episodes"])["mean_return"]
    if value is None and plan["objective"] != "time":
        raise TrialFailed(f"no training episode finished in {steps:,} steps: nothing to score; raise "
                          "train.total_timesteps")
    trial.set_user_attr("score", value)
    cost = seconds if plan["cost"] == "time" else steps / 1e6
    trial.set_user_attr("cost", cost)
    if plan["objective"] == "time":
        if score.reached_s is not None:
            return score.reached_s
        best = score.best if score.best is not None else -math.inf
        threshold = plan["threshold"]
        gap = min(max((threshold - best) / max(abs(threshold), 1e-12), 0.0), 1.0)
        return plan["trial_seconds"] * (1.0 + gap)
    if plan["objective"] == "penalized":
        return value - plan["cost_weight"] * cost
    return value, cost


class _Score:
    """The running score of a trial, fed by the trainer's log intervals; reports it and stops the run.

    Attributes:
        value: the mean of the metric over the last `episodes` episodes (None before any finished).
        best: the best value over a full window seen so far.
        reached_s, reached_steps: when a full window first reached the threshold (or None).
        pruned, over_budget: why the run was stopped early, if it was.
        last_report: the last report point told to the pruner.
    """

    def __init__(self, trial, plan):
        self.trial, self.plan = trial, plan
        metric = plan["metric"]
        self.key = "episode_return" if metric in ("return", "eval") else f"env/{metric}"
        self.window = EpisodeWindow(plan["episodes"])
        self.best = self.reached_s = self.reached_steps = None
        self.pruned = self.over_budget = False
        self.last_report = -1
        self.report_steps = plan["base"]["train"]["total_timesteps"] / plan["reports"]
        self.prunes = plan["pruner"] != "none"
        # the pruner compares reports in the study's direction: time is minimised
        self.sign = -1.0 if plan["objective"] == "time" else 1.0

    @property
    def value(self):
        return self.window.mean

    def on_log(self, metrics):
        """Trainer.train's on_log: True stops the run (threshold reached, pruned, or out of time)."""
        count = metrics.get("episodes") or 0
        if count and self.key not in metrics:
            stats = sorted(k[4:] for k in metrics if k.startswith("env/"))
            raise TrialFailed(f"sweep.metric {self.plan['metric']!r}: the environment logs no such "
                              f"statistic; it logs {', '.join(stats) or 'none'} (or use 'return' or 'eval')")
        self.window.add(count, metrics.get(self.key))
        score = self.window.mean
        if self.window.full:
            self.best = score if self.best is None else max(self.best, score)
            threshold = self.plan["threshold"]
            if threshold is not None and score >= threshold and self.reached_s is None:
                self.reached_s, self.reached_steps = metrics["time_s"], metrics["global_step"]
                if self.plan["objective"] == "time":
                    return True
        if metrics["time_s"] > self.plan["trial_seconds"]:
            self.over_budget = True
            return True
        point = int(metrics["global_step"] // self.report_steps)
        if self.prunes and score is not None and point > self.last_report:
            self.last_report = point
            value = score
            if self.plan["objective"] == "penalized":
                cost = metrics["time_s"] if self.plan["cost"] == "time" else metrics["global_step"] / 1e6
                value = score - self.plan["cost_weight"] * cost
            self.trial.report(self.sign * value, point)
            if self.trial.should_prune():
                self.pruned = True
                return True
        return False
