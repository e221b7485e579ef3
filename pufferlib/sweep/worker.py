"""A sweep's trial process: runs the trials its sweep hands it, one at a time, sharing the study's storage.

The protocol with the sweep (pufferlib.sweep.runner), over one pipe:

    worker -> sweep   ("ready",)                      once the study is loaded
    sweep -> worker   "run" | "stop"                  run one more trial, or exit
    worker -> sweep   ("started", number, trial_id)   the trial it took from the study
    worker -> sweep   ("finished", report)            how it ended (a dict: number, state, values, ...)

A second, one-way pipe carries nothing: when the sweep's process dies, even by kill -9, it closes and
the worker ends itself (`vector.multiprocessing.die_with_parent`, as environment workers do), so no
trial outlives its sweep. Its trial, left running in the
storage, is marked failed and interrupted by the next sweep (`study.mark_interrupted`).

Each worker is a fresh process (spawned, not forked: the parent holds database connections, and
forking a process with OpenMP threads is unsafe), imports torch once, and runs every trial in-process;
a trial that crashes the process (a segfault in a C environment) is recorded by the sweep.
"""
import functools
import traceback
import warnings

__all__ = ["main"]


def main(task, conn, parent_alive, parent_pid):
    """The trial process's entry point (multiprocessing target).

    Args:
        task: a dict: plan, space (the Parameters as plain dicts), storage (the URL), study (its
            name), sampler, seed, trials_dir, and threads (the environment variables to set).
        conn: this worker's end of the pipe to the sweep.
        parent_alive: the read end of a pipe whose write end only the sweep holds.
        parent_pid: the sweep's pid.
    """
    from pufferlib.vector.multiprocessing import die_with_parent

    die_with_parent(parent_alive, parent_pid, pdeathsig=True)
    try:
        _serve(task, conn)
    except KeyboardInterrupt:  # Ctrl-C reached the whole process group; the sweep reports the trial
        pass
    except BrokenPipeError:  # the sweep is gone
        pass


def _serve(task, conn):
    import optuna

    from pufferlib.sweep.space import Parameter
    from pufferlib.sweep.study import load_study, make_pruner, make_sampler, open_storage

    # this process is the sweep's own: the sweep prints one line per trial, and heartbeats are meant
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    plan = task["plan"]
    params = [Parameter(**{k: tuple(v) if isinstance(v, list) else v for k, v in p.items()})
              for p in task["space"]]
    storage = open_storage(task["storage"])
    study = load_study(task["study"], storage, plan, sampler=make_sampler(task["sampler"], task["seed"]),
                       pruner=make_pruner(plan["pruner"], plan))
    conn.send(("ready",))
    while conn.recv() == "run":
        report = {}
        objective = functools.partial(_objective, conn=conn, storage=storage, study=study, plan=plan,
                                      params=params, trials_dir=task["trials_dir"], report=report)
        study.optimize(objective, n_trials=1, catch=(Exception,))
        if "number" in report:
            trial = storage.get_trial(report["trial_id"])
            report.update(state=trial.state.name, values=trial.values, user_attrs=dict(trial.user_attrs),
                          params=dict(trial.params))
        conn.send(("finished", report))


def _objective(trial, conn, storage, study, plan, params, trials_dir, report):
    """Runs one trial; records why it failed (its `fail_reason`) or that it was interrupted."""
    import optuna

    from pufferlib.sweep.study import trial_id
    from pufferlib.sweep.trial import TrialFailed, TrialInfeasible, TrialInterrupted, run_trial

    report["number"], report["trial_id"] = trial.number, trial_id(storage, study, trial.number)
    conn.send(("started", trial.number, report["trial_id"]))
    try:
        return run_trial(trial, plan, params, trials_dir)
    except optuna.TrialPruned:
        raise
    except TrialInfeasible as error:
        trial.set_user_attr("infeasible", str(error))
        raise optuna.TrialPruned(f"infeasible: {error}") from None
    except TrialInterrupted:
        trial.set_user_attr("interrupted", True)
        raise
    except TrialFailed as error:
        trial.set_user_attr("fail_reason", str(error))
        raise
    except Exception as error:  # a bug, or an env's own exception: recorded, and the sweep goes on
        trial.set_user_attr("fail_reason", f"{type(error).__name__}: {error}")
        trial.set_user_attr("traceback", traceback.format_exc()[-4000:])
        raise
