"""A sweep's Optuna study: its storage, sampler and pruner, its plan, and the count of its trials.

The plan is everything that makes two sweeps the same study: the environment, the base configuration
every trial starts from, the search space and the objective. It is stored with the study, and a sweep
that resumes the study with another plan is refused (mixing trials scored two ways would silently
compare the incomparable).

Trials are counted as they ended: completed, pruned, or failed in their own right (the trial set
`fail_reason`: it crashed, diverged, ran past its budget). A trial left running by a sweep that was
killed is marked failed and `interrupted`, and is not counted, so the sweep run again replaces it.
"""
import contextlib
import datetime
import importlib.util
import math
import socket
import time
import warnings
from pathlib import Path

from pufferlib.errors import PufferError
from pufferlib.train.config import ConfigError
from pufferlib.vector.multiprocessing import process_alive

__all__ = ["HEARTBEAT_S", "GRACE_S", "Plan", "counts", "counts_text", "directions", "fail", "load_study",
           "make_pruner", "make_sampler", "mark_interrupted", "open_storage", "quiet_optuna",
           "require_optuna", "resolve_plan", "storage_url", "trial_id"]

# A trial's process records a heartbeat in a database storage every HEARTBEAT_S seconds; a running
# trial silent for GRACE_S (its machine died, or its sweep was killed) is failed by the next sweep
# process that looks. Trials on this machine whose process is gone are failed at once.
HEARTBEAT_S = 5
GRACE_S = 30
_JOURNAL_SUFFIXES = (".log", ".journal", ".jsonl")
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_CREATE_TRIES = 10  # about 4 s in all: another process is creating the tables meanwhile


class Plan(dict):
    """The plan of a study (a plain dict, stored with it): env, base, space, and the objective's settings.

    Keys: env, base (the run sections of the configuration every trial starts from), space (a list
    of `Parameter.to_plain()`), objective, directions, metric, threshold, cost, cost_weight,
    episodes, eval_episodes, reports, trial_seconds.
    """


def require_optuna():
    """Imports Optuna, or says how to install it (a PufferError) when it is missing."""
    try:
        import optuna
    except ImportError:
        raise PufferError("puffer sweep needs Optuna, which is not installed: pip install optuna "
                          "(or, in a checkout, pip install -e \".[sweep]\")") from None
    return optuna


def resolve_plan(env, config, params):
    """The plan of sweeping `env` from `config` over `params`, with 'auto' objective and pruner resolved.

    Raises:
        ConfigError: settings that contradict each other (objective 'time' without a threshold,
            a pruner with objective 'pareto').
    """
    s = config.sweep
    objective = s.objective if s.objective != "auto" else ("time" if s.threshold is not None else "pareto")
    if objective == "time" and s.threshold is None:
        raise ConfigError("sweep.objective 'time' minimises the seconds until the score reaches "
                          "sweep.threshold: set sweep.threshold (e.g. --sweep.threshold 475)")
    pruner = s.pruner if s.pruner != "auto" else ("none" if objective == "pareto" else "median")
    if objective == "pareto" and pruner != "none":
        raise ConfigError(f"sweep.pruner {pruner!r} cannot stop trials of objective 'pareto': Optuna prunes "
                          "single-objective studies only; set sweep.pruner = 'none', or sweep.objective "
                          "'time' or 'penalized'")
    base = {section: values for section, values in config.to_dict().items() if section != "sweep"}
    return Plan(env=env, base=base, space=[p.to_plain() for p in params], objective=objective,
                directions=directions(objective), metric=s.metric, threshold=s.threshold, cost=s.cost,
                cost_weight=s.cost_weight, episodes=s.episodes, eval_episodes=s.eval_episodes,
                reports=s.reports, trial_seconds=s.trial_seconds, pruner=pruner)


def directions(objective):
    """The Optuna directions of an objective: time is minimised, penalized maximised, pareto both."""
    return {"time": ["minimize"], "penalized": ["maximize"], "pareto": ["maximize", "minimize"]}[objective]


def storage_url(spec, sweep_dir):
    """The storage a sweep uses, spelled as `open_storage` takes it.

    Args:
        spec: None (a SQLite file study.db in `sweep_dir`), a database URL (sqlite:///file.db,
            postgresql://user@host/db, ...), journal:PATH (Optuna's journal file, for a shared
            filesystem without a database server), or a file path ending in .db/.sqlite (SQLite)
            or .log/.journal (journal).
        sweep_dir: the sweep's directory.

    Raises:
        ConfigError: a spec that is none of these.
    """
    if spec is None:
        return f"sqlite:///{(Path(sweep_dir) / 'study.db').resolve()}"
    if spec.startswith("journal:") or "://" in spec:
        return spec
    if spec.endswith(_SQLITE_SUFFIXES):
        return f"sqlite:///{Path(spec).resolve()}"
    if spec.endswith(_JOURNAL_SUFFIXES):
        return f"journal:{Path(spec).resolve()}"
    raise ConfigError(f"--storage takes a database URL (sqlite:///sweep.db, postgresql://user@host/db), "
                      f"journal:PATH, or a file ending in .db or .log; got {spec!r}")


def open_storage(url):
    """The Optuna storage of a `storage_url`: an RDBStorage with heartbeats, or a JournalStorage.

    Raises:
        ConfigError: the database cannot be reached, its driver is missing, or the URL is malformed.
    """
    import optuna

    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(url[len("journal:"):])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(str(path)))
        except OSError as error:
            raise ConfigError(f"cannot open the journal file {path}: {error.strerror or error}") from None
    kwargs, spec = {}, url  # the URL as given, for messages
    if url.startswith("postgresql://") and importlib.util.find_spec("psycopg") is None:
        # SQLAlchemy 2.1 reads postgresql:// as psycopg (3), 2.0 as psycopg2: take the one [postgres] installs
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    if url.startswith("sqlite:"):
        path = url.partition(":///")[2]
        if path:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ConfigError(f"cannot create the folder of {path}: {error.strerror or error}") from None
        # several trial processes write one file: wait for its lock instead of failing at once
        kwargs = {"connect_args": {"timeout": 60}}
    try:
        for attempt in range(_CREATE_TRIES):
            try:
                with quiet_optuna():
                    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs,
                                                      heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)
            except Exception as error:
                # sweeps started together on a new database race to create its tables: the losers retry
                if attempt + 1 == _CREATE_TRIES or not _lost_creation_race(error):
                    raise
                time.sleep(0.05 * 2 ** min(attempt, 4))
    except ImportError as error:  # Optuna raises a missing driver's ModuleNotFoundError as an ImportError
        missing = getattr(error if isinstance(error, ModuleNotFoundError) else error.__cause__, "name", None)
        if missing is None:
            raise ConfigError(f"cannot open the storage {hide_password(spec)}: {error}") from None
        raise ConfigError(f"the storage {hide_password(spec)} needs the Python package {missing!r}: "
                          f"pip install {_driver_package(missing)}") from None
    except Exception as error:  # SQLAlchemy's errors: a bad URL, a server that is down, bad credentials
        reason = " ".join(str(error).split("\n")[0].split())[:300]
        raise ConfigError(f"cannot open the storage {hide_password(spec)}: {type(error).__name__}: "
                          f"{reason}") from None


def _lost_creation_race(error):
    """Whether opening a database failed because another process was creating its tables meanwhile."""
    import sqlalchemy.exc

    return isinstance(error, sqlalchemy.exc.IntegrityError) or \
        isinstance(error, sqlalchemy.exc.DBAPIError) and "already exists" in str(error)


@contextlib.contextmanager
def quiet_optuna():
    """Optuna without its info lines and its warnings that heartbeats are experimental (used as meant)."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _driver_package(module):
    return {"psycopg2": "psycopg2-binary", "MySQLdb": "mysqlclient", "pymysql": "pymysql"}.get(module, module)


def hide_password(url):
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db (for messages)."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.partition(':')[0]}:***@{host}"


def make_sampler(name, seed):
    """The Optuna sampler: TPE (multivariate, as its authors recommend) or random, seeded."""
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True)


def make_pruner(name, plan):
    """The Optuna pruner of a plan: median, successive halving, Hyperband, or none.

    Trials report at `reports` points of the base run (0 .. reports); the median pruner waits for
    five trials and the first tenth of a run before it compares.
    """
    import optuna

    reports = plan["reports"]
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=max(1, reports // 10))
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, reports // 10))
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, reports // 10), max_resource=reports)
    return optuna.pruners.NopPruner()


def load_study(name, storage, plan, sampler=None, pruner=None, create=False):
    """The study `name` in `storage` (created with `plan` when `create` and it does not exist).

    Raises:
        ConfigError: the study exists with another plan (the message names what differs), or it
            does not exist and `create` is False.
    """
    import optuna

    try:
        storage.get_study_id_from_name(name)  # one lookup: listing the studies reads all their trials
        exists = True
    except KeyError:
        exists = False
    if not exists:
        if not create:
            known = ", ".join(sorted(s.study_name for s in storage.get_all_studies())) or "none"
            raise ConfigError(f"no study {name!r} in this storage (studies: {known}); run `puffer sweep` "
                              "first, or pass its --study NAME and --storage")
        with quiet_optuna():
            study = optuna.create_study(storage=storage, study_name=name, directions=plan["directions"],
                                        sampler=sampler, pruner=pruner, load_if_exists=True)
        if "pufferlib" not in study.user_attrs:
            study.set_user_attr("pufferlib", dict(plan))
    else:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    stored = study.user_attrs.get("pufferlib")
    deadline = time.monotonic() + 10.0
    while stored is None and time.monotonic() < deadline:  # another sweep created it, its plan comes next
        time.sleep(0.1)
        stored = study.user_attrs.get("pufferlib")
    if stored is None:
        raise ConfigError(f"study {name!r} was not made by puffer sweep (it has no plan); "
                          "give another --study")
    if create:
        _check_same_plan(name, stored, plan)
    return study


def _check_same_plan(name, stored, plan):
    """Refuses to add trials of one plan to a study of another (their scores would not compare)."""
    for key in ("env", "objective", "metric", "threshold", "cost", "cost_weight", "episodes", "eval_episodes",
                "reports", "space", "base"):
        if _plain(stored.get(key)) != _plain(plan.get(key)):
            what = _first_difference(stored.get(key), plan.get(key), key)
            raise ConfigError(f"study {name!r} was made by another sweep: {what}. Run the same command "
                              f"to continue it, or give a new --study NAME")


def _plain(value):
    """JSON-like normal form: tuples as lists, integral floats as they were stored (storage is JSON)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def _first_difference(old, new, path):
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            if _plain(old.get(key)) != _plain(new.get(key)):
                return _first_difference(old.get(key), new.get(key), f"{path}.{key}")
    if path == "space":
        return "its search space differs (it was " + \
            ", ".join(p["name"] for p in old or []) + "; now " + ", ".join(p["name"] for p in new or []) + ")"
    return f"{path} was {old!r}, now {new!r}"


def counts(study):
    """The study's trials by how they ended (ended, complete, pruned, failed, ...), and running.

    Keys: ended, complete, pruned, infeasible, failed, interrupted, running. Infeasible trials
    (settings that cannot run together) are among the pruned ones.
    """
    from optuna.trial import TrialState

    found = dict.fromkeys(("ended", "complete", "pruned", "infeasible", "failed", "interrupted",
                           "running"), 0)
    for trial in study.get_trials(deepcopy=False):
        if trial.state in (TrialState.RUNNING, TrialState.WAITING):
            found["running"] += 1
        elif trial.state == TrialState.COMPLETE:
            found["complete"] += 1
        elif trial.state == TrialState.PRUNED:
            found["pruned"] += 1
            found["infeasible"] += "infeasible" in trial.user_attrs
        elif "fail_reason" in trial.user_attrs:
            found["failed"] += 1
        else:
            found["interrupted"] += 1
    found["ended"] = found["complete"] + found["pruned"] + found["failed"]
    return found


def counts_text(found):
    """'40 complete, 7 pruned (2 infeasible), 3 failed': a `counts` result as the sweep prints it."""
    return (f"{found['complete']} complete, {found['pruned']} pruned ({found['infeasible']} infeasible), "
            f"{found['failed']} failed")


def mark_interrupted(study, storage):
    """Fails the running trials whose process is gone: on this machine at once, elsewhere by heartbeat.

    Returns:
        The numbers of the trials marked failed (and interrupted: they are not counted).
    """
    import optuna
    from optuna.trial import TrialState

    host, marked = socket.gethostname(), []
    running = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    now = datetime.datetime.now()
    for trial in running:
        attrs = trial.user_attrs
        # gone: its process on this machine has ended, or it never said where it ran (its process died
        # between taking the trial and starting it) and has been running for longer than the grace
        gone = not process_alive(attrs.get("pid")) if attrs.get("host") == host else \
            "host" not in attrs and (now - trial.datetime_start).total_seconds() > GRACE_S
        if gone:
            fail(storage, trial_id(storage, study, trial.number), interrupted=True)
            marked.append(trial.number)
    if isinstance(storage, optuna.storages.RDBStorage):
        with quiet_optuna():  # other machines' trials, silent past the grace period
            optuna.storages.fail_stale_trials(study)
        for trial in running:  # failed without a reason: interrupted (a finished trial takes no attributes)
            ended = storage.get_trial(trial_id(storage, study, trial.number))
            if trial.number not in marked and ended.state == TrialState.FAIL and "fail_reason" not in \
                    ended.user_attrs:
                marked.append(trial.number)
    return sorted(marked)


def trial_id(storage, study, number):
    """The storage's id of trial `number` of `study` (what the storage's own methods take)."""
    study_id = storage.get_study_id_from_name(study.study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, number)


def fail(storage, trial_id, reason=None, interrupted=False):
    """Marks a running trial failed from outside it (its process died, or its sweep stopped).

    `reason` makes it a failure in its own right (counted); `interrupted` one that was cut off (not).
    A trial that ended meanwhile is left as it ended.
    """
    from optuna.trial import TrialState

    if storage.get_trial(trial_id).state != TrialState.RUNNING:
        return False
    if reason is not None:
        storage.set_trial_user_attr(trial_id, "fail_reason", reason)
    if interrupted:
        storage.set_trial_user_attr(trial_id, "interrupted", True)
    try:
        return storage.set_trial_state_values(trial_id, TrialState.FAIL)
    except RuntimeError:  # it ended between the two calls
        return False
