"""A sweep's study: where it is stored, its plan, how its trials are counted, and who marks them failed."""
import importlib.util
import os
import socket
import subprocess
import sys
import threading

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from pufferlib.sweep import study as studies
from pufferlib.sweep.report import pareto_front
from pufferlib.sweep.space import parse_space
from pufferlib.train.config import ConfigError, load_config
from tests.sweep.sweep_helpers import alive, wait_until

LR = {"train.learning_rate": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2}}


def plan_of(env="cartpole", space=None, **sweep):
    """The plan of sweeping `env` (shipped defaults) over `space` with [sweep] settings `sweep`."""
    config = load_config(env, overrides={f"sweep.{key}": value for key, value in sweep.items()})
    config.sweep.space = dict(space or LR)
    return studies.resolve_plan(env, config, parse_space(config))


def sqlite(tmp_path):
    return studies.open_storage(studies.storage_url(None, tmp_path))


# -- storage ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["sqlite:///elsewhere/s.db", "postgresql://me@db.example.org:5433/sweeps",
                                  "mysql+pymysql://me@host/db", "journal:/shared/sweep.log"])
def test_urls_are_taken_as_they_are(tmp_path, spec):
    assert studies.storage_url(spec, tmp_path) == spec


@pytest.mark.parametrize("spec, scheme", [
    ("s.db", "sqlite:///"), ("s.sqlite", "sqlite:///"), ("s.sqlite3", "sqlite:///"),
    ("s.log", "journal:"), ("s.journal", "journal:"), ("s.jsonl", "journal:"),
])
def test_file_paths_are_sqlite_or_journal_by_their_suffix(tmp_path, monkeypatch, spec, scheme):
    monkeypatch.chdir(tmp_path)
    assert studies.storage_url(spec, "ignored") == f"{scheme}{tmp_path / spec}"


def test_no_storage_is_study_db_in_the_study_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert studies.storage_url(None, "runs/sweeps/x") == f"sqlite:///{tmp_path}/runs/sweeps/x/study.db"


@pytest.mark.parametrize("spec", ["sweep", "sweep.txt", "postgres:host/db"])
def test_a_storage_that_is_none_of_these_is_refused(tmp_path, spec):
    with pytest.raises(ConfigError, match=rf"^--storage takes a database URL \(sqlite:///sweep\.db, "
                                          rf"postgresql://user@host/db\), journal:PATH, or a file ending in "
                                          rf"\.db or \.log; got '{spec}'$"):
        studies.storage_url(spec, tmp_path)


def test_sweeps_opening_a_new_database_at_once_all_open_it(tmp_path):
    # they race to create its tables (Optuna does not lock them): the ones that lose try again
    failures = []

    def open_it(barrier, url):
        barrier.wait()
        try:
            studies.open_storage(url)
        except ConfigError as error:
            failures.append(str(error))

    for i in range(5):
        barrier = threading.Barrier(4)
        threads = [threading.Thread(target=open_it, args=(barrier, f"sqlite:///{tmp_path}/{i}.db"))
                   for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []


def test_sqlite_storage_makes_its_folder(tmp_path):
    storage = studies.open_storage(f"sqlite:///{tmp_path}/a/b/s.db")
    assert isinstance(storage, optuna.storages.RDBStorage) and (tmp_path / "a" / "b").is_dir()


def test_journal_storage_makes_its_folder(tmp_path):
    storage = studies.open_storage(f"journal:{tmp_path}/a/s.log")
    assert isinstance(storage, optuna.storages.JournalStorage)
    optuna.create_study(storage=storage, study_name="s")
    assert (tmp_path / "a" / "s.log").stat().st_size > 0


@pytest.mark.parametrize("url, match", [
    ("journal:{tmp}/file/s.log", r"^cannot open the journal file .*/file/s\.log: File exists$"),
    ("sqlite:///{tmp}/file/s.db", r"^cannot create the folder of .*/file/s\.db: File exists$"),
])
def test_a_storage_file_that_cannot_be_made(tmp_path, url, match):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=match):
        studies.open_storage(url.format(tmp=tmp_path))


def test_an_unreachable_database_is_one_error_without_its_password():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://me:secret@127.0.0.1:{port}/sweeps"
    with pytest.raises(ConfigError, match=rf"^cannot open the storage postgresql://me:\*\*\*@127\.0\.0\.1:{port}/"
                                          r"sweeps: OperationalError: ") as error:
        studies.open_storage(url)
    assert "secret" not in str(error.value) and "\n" not in str(error.value)


def test_a_missing_database_driver_names_its_package():
    if importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("MySQLdb is installed here")
    with pytest.raises(ConfigError, match=r"^the storage mysql://me@localhost/db needs the Python package "
                                          r"'MySQLdb': pip install mysqlclient$"):
        studies.open_storage("mysql://me@localhost/db")


def test_an_unknown_database_kind_is_one_error():
    with pytest.raises(ConfigError, match=r"^cannot open the storage nosuchdb://host/db: NoSuchModuleError: "):
        studies.open_storage("nosuchdb://host/db")


# -- the plan ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("settings, objective, pruner", [
    ({"threshold": 475}, "time", "median"),
    ({"threshold": "none"}, "pareto", "none"),
    ({"threshold": "none", "objective": "penalized"}, "penalized", "median"),
    ({"threshold": 475, "objective": "pareto"}, "pareto", "none"),
    ({"threshold": 475, "pruner": "hyperband"}, "time", "hyperband"),
])
def test_auto_objective_and_pruner(settings, objective, pruner):
    plan = plan_of(**settings)
    assert (plan["objective"], plan["pruner"]) == (objective, pruner)
    assert plan["directions"] == studies.directions(objective)


def test_the_plan_holds_the_run_sections_and_the_space():
    plan = plan_of(trials=3, jobs=2)
    assert set(plan["base"]) == {"env", "vec", "train", "policy", "log", "selfplay"}
    assert plan["base"]["train"] == load_config("cartpole").to_dict()["train"]
    assert plan["space"] == [{"name": "train.learning_rate", "distribution": "log_uniform", "low": 1e-4,
                              "high": 1e-2}]


def test_objective_time_needs_a_threshold():
    with pytest.raises(ConfigError, match=r"^sweep\.objective 'time' minimises the seconds until the score "
                                          r"reaches sweep\.threshold: set sweep\.threshold"):
        plan_of(objective="time", threshold="none")


def test_pareto_cannot_be_pruned():
    with pytest.raises(ConfigError, match=r"^sweep\.pruner 'median' cannot stop trials of objective 'pareto': "
                                          r"Optuna prunes single-objective studies only"):
        plan_of(objective="pareto", pruner="median")


def test_a_study_is_resumed_with_the_same_plan(tmp_path):
    storage = sqlite(tmp_path)
    made = studies.load_study("s", storage, plan_of(), create=True)
    again = studies.load_study("s", storage, plan_of(), create=True)
    assert again._study_id == made._study_id and again.user_attrs["pufferlib"] == dict(plan_of())


@pytest.mark.parametrize("change, match", [
    ({"env": "bandit"}, r"env was 'cartpole', now 'bandit'"),
    ({"space": {"train.gamma": {"distribution": "uniform", "min": 0.9, "max": 0.99}}},
     r"its search space differs \(it was train\.learning_rate; now train\.gamma\)"),
    ({"threshold": 400}, r"threshold was 475\.0, now 400\.0"),
])
def test_a_study_is_not_resumed_with_another_plan(tmp_path, change, match):
    storage = sqlite(tmp_path)
    studies.load_study("s", storage, plan_of(threshold=475), create=True)
    with pytest.raises(ConfigError, match=rf"^study 's' was made by another sweep: {match}\. Run the same "
                                          r"command to continue it, or give a new --study NAME$"):
        studies.load_study("s", storage, plan_of(**{"threshold": 475, **change}), create=True)


def test_a_study_that_does_not_exist_is_named_with_those_that_do(tmp_path):
    storage = sqlite(tmp_path)
    studies.load_study("here", storage, plan_of(), create=True)
    with pytest.raises(ConfigError, match=r"^no study 'there' in this storage \(studies: here\); run `puffer "
                                          r"sweep` first"):
        studies.load_study("there", storage, None)


def test_a_study_made_without_puffer_sweep_is_refused(tmp_path):
    storage = sqlite(tmp_path)
    optuna.create_study(storage=storage, study_name="plain")
    with pytest.raises(ConfigError, match=r"^study 'plain' was not made by puffer sweep \(it has no plan\); "
                                          r"give another --study$"):
        studies.load_study("plain", storage, plan_of(), create=True)


# -- counting trials, and failing them from outside ------------------------------------------------

def test_counts_count_ended_trials_but_not_interrupted_ones():
    study = optuna.create_study()
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=1.0))
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=2.0))
    study.add_trial(create_trial(state=TrialState.PRUNED))
    study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs={"infeasible": "minibatch > rollout"}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": "diverged"}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"interrupted": True}))
    study.add_trial(create_trial(state=TrialState.FAIL))
    study.ask()
    study.enqueue_trial({})
    assert studies.counts(study) == {"ended": 5, "complete": 2, "pruned": 2, "infeasible": 1, "failed": 1,
                                     "interrupted": 2, "running": 2}


# study.ask() on a storage with heartbeats (the sweep's trial processes run study.optimize)
heartbeat_outside_optimize = pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed")


@pytest.fixture
def running(tmp_path):
    """A SQLite study and a function that starts a trial as process `pid` of `host` would: its number."""
    storage = sqlite(tmp_path)
    study = studies.load_study("s", storage, plan_of(), create=True)

    def start(host=None, pid=None):
        trial = study.ask()
        trial.set_user_attr("host", host or socket.gethostname())
        trial.set_user_attr("pid", pid)
        return trial.number

    return storage, study, start


def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def state(storage, study, number):
    trial = storage.get_trial(studies.trial_id(storage, study, number))
    return trial.state.name, trial.user_attrs


@heartbeat_outside_optimize
def test_a_trial_whose_process_is_gone_is_marked_interrupted(running):
    storage, study, start = running
    number = start(pid=dead_pid())
    assert studies.mark_interrupted(study, storage) == [number]
    name, attrs = state(storage, study, number)
    assert name == "FAIL" and attrs["interrupted"] is True and "fail_reason" not in attrs
    assert studies.counts(study)["ended"] == 0


@heartbeat_outside_optimize
def test_a_trial_whose_process_is_a_zombie_is_marked_interrupted(running):
    storage, study, start = running
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        wait_until(lambda: not alive(process.pid), 30, "the process to end (a zombie: it is not waited for)")
        number = start(pid=process.pid)
        assert studies.mark_interrupted(study, storage) == [number]
    finally:
        process.wait()


@heartbeat_outside_optimize
def test_a_trial_whose_process_lives_is_left_running(running):
    storage, study, start = running
    number = start(pid=os.getpid())
    assert studies.mark_interrupted(study, storage) == []
    assert state(storage, study, number)[0] == "RUNNING"


@heartbeat_outside_optimize
def test_a_trial_that_never_said_where_it_ran_is_marked_past_the_grace_period(running, monkeypatch):
    # its process died between taking the trial and starting it
    storage, study, _ = running
    number = study.ask().number
    assert studies.mark_interrupted(study, storage) == []  # within the grace period: it may be starting
    monkeypatch.setattr(studies, "GRACE_S", 0)
    assert studies.mark_interrupted(study, storage) == [number]
    assert state(storage, study, number)[0] == "FAIL"


@heartbeat_outside_optimize
def test_a_trial_of_another_machine_is_left_to_its_heartbeat(running):
    storage, study, start = running
    number = start(host="another-machine", pid=dead_pid())
    storage.record_heartbeat(studies.trial_id(storage, study, number))
    assert studies.mark_interrupted(study, storage) == []
    assert state(storage, study, number)[0] == "RUNNING"


@heartbeat_outside_optimize
def test_a_trial_of_another_machine_silent_past_the_grace_period_is_marked_interrupted(tmp_path, monkeypatch):
    monkeypatch.setattr(studies, "GRACE_S", 1)
    storage = sqlite(tmp_path)
    study = studies.load_study("s", storage, plan_of(), create=True)
    trial = study.ask()
    trial.set_user_attr("host", "another-machine")
    storage.record_heartbeat(studies.trial_id(storage, study, trial.number))
    found = []
    wait_until(lambda: found.extend(studies.mark_interrupted(study, storage)) or found, 20,
               "the silent trial to be marked")
    assert found == [trial.number]
    name, attrs = state(storage, study, trial.number)
    assert name == "FAIL" and "fail_reason" not in attrs
    assert studies.counts(study)["interrupted"] == 1 and studies.counts(study)["ended"] == 0


@heartbeat_outside_optimize
def test_fail_with_a_reason_counts_the_trial(running):
    storage, study, start = running
    number = start(pid=os.getpid())
    assert studies.fail(storage, studies.trial_id(storage, study, number), reason="its process died (signal 9)")
    name, attrs = state(storage, study, number)
    assert name == "FAIL" and attrs["fail_reason"] == "its process died (signal 9)"
    assert "interrupted" not in attrs and studies.counts(study)["failed"] == 1


@heartbeat_outside_optimize
def test_fail_leaves_a_trial_that_ended_as_it_ended(running):
    storage, study, start = running
    number = start(pid=os.getpid())
    study.tell(number, 3.0)
    assert not studies.fail(storage, studies.trial_id(storage, study, number), reason="too late")
    name, attrs = state(storage, study, number)
    assert name == "COMPLETE" and "fail_reason" not in attrs


# -- samplers and pruners ---------------------------------------------------------------------------

def draws(sampler, n=5):
    study = optuna.create_study(sampler=sampler)
    return [study.ask().suggest_float("x", 0.0, 1.0) for _ in range(n)]


@pytest.mark.parametrize("name", ["tpe", "random"])
def test_a_sampler_draws_by_its_seed(name):
    assert draws(studies.make_sampler(name, 3)) == draws(studies.make_sampler(name, 3))
    assert draws(studies.make_sampler(name, 3)) != draws(studies.make_sampler(name, 4))


@pytest.mark.parametrize("name, kind", [
    ("median", optuna.pruners.MedianPruner), ("halving", optuna.pruners.SuccessiveHalvingPruner),
    ("hyperband", optuna.pruners.HyperbandPruner), ("none", optuna.pruners.NopPruner),
])
def test_pruners_by_name(name, kind):
    assert type(studies.make_pruner(name, plan_of())) is kind


# -- the Pareto front -------------------------------------------------------------------------------

def naive_front(points):
    """The points (score, cost) no other point beats on both (higher or equal score, lower or equal cost)."""
    return {p for p in points
            if not any(q[0] >= p[0] and q[1] <= p[1] and q != p for q in points)}


def test_pareto_front_of_a_few_points():
    points = [(1.0, 5.0), (2.0, 6.0), (0.5, 7.0), (2.0, 4.0), (3.0, 9.0), (3.0, 9.0)]
    front = pareto_front(points)
    assert [points[i] for i in front] == [(2.0, 4.0), (3.0, 9.0)]  # by cost; one of the two ties


def test_pareto_front_of_nothing_and_of_one_point():
    assert pareto_front([]) == [] and pareto_front([(1.0, 1.0)]) == [0]


@pytest.mark.parametrize("seed", range(20))
def test_pareto_front_matches_the_naive_one(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    points = [tuple(p) for p in rng.integers(0, 8, size=(n, 2)).astype(float)]  # ties on purpose
    front = pareto_front(points)
    chosen = [points[i] for i in front]
    assert set(chosen) == naive_front(points) and len(chosen) == len(set(chosen))
    assert chosen == sorted(chosen, key=lambda p: p[1]) and [p[0] for p in chosen] == sorted(p[0] for p in chosen)
