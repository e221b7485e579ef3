"""`puffer sweep` on the command line, run as a user runs it: its mistakes, its help, its settings."""
import pytest

from tests.sweep.sweep_helpers import ROOT, TRIAL_ENV, study_of, tiny_config
from tests.toolchain.toolchain_helpers import puffer

SPACE_ERRORS = [
    ('[sweep.train.gamma]\ndistribution = "normal"\nmin = 0.9\nmax = 0.99',
     "[sweep.train.gamma]: unknown distribution 'normal'; did you mean uniform?; one of uniform, log_uniform, int, "
     "int_log, pow2, categorical"),
    ('[sweep.train.gamma]\ndistribution = "uniform"\nmin = 0.99\nmax = 0.9',
     "[sweep.train.gamma]: min must be below max, got min = 0.99, max = 0.9"),
    ('[sweep.train.learning_rate]\ndistribution = "log_uniform"\nmin = 0\nmax = 0.1',
     "[sweep.train.learning_rate]: log_uniform needs min > 0 (it draws on a log scale), got min = 0"),
    ('[sweep.train.minibatch_size]\ndistribution = "pow2"\nmin = 100\nmax = 1024',
     "[sweep.train.minibatch_size]: pow2 draws powers of two: min must be one (e.g. 128), got 100"),
    ('[sweep.train.learnig_rate]\ndistribution = "log_uniform"\nmin = 1e-4\nmax = 1e-2',
     "[sweep.train.learnig_rate]: train has no setting learnig_rate; did you mean train.learning_rate?"),
    ('[sweep.policy.activation]\ndistribution = "categorical"',
     "[sweep.policy.activation]: a categorical needs values = [...] (a non-empty list), got None"),
]


@pytest.mark.parametrize("toml, message", SPACE_ERRORS, ids=lambda v: v.split("\n")[0] if "\n" in v else None)
def test_a_bad_search_space_is_one_line(tmp_path, toml, message):
    (tmp_path / "space.toml").write_text(toml + "\n")
    result = puffer("sweep", "cartpole", "--config", str(tmp_path / "space.toml"), "--data-dir", str(tmp_path / "d"))
    assert (result.returncode, result.stdout, result.stderr) == (2, "", f"puffer: error: {message}\n")
    assert not (tmp_path / "d").exists()  # refused before any study was made


@pytest.mark.parametrize("args, message", [
    (("--sweep.objective", "time", "--sweep.threshold", "none"),
     "sweep.objective 'time' minimises the seconds until the score reaches sweep.threshold: set sweep.threshold "
     "(e.g. --sweep.threshold 475)"),
    (("--sweep.objective", "pareto", "--sweep.pruner", "median"),
     "sweep.pruner 'median' cannot stop trials of objective 'pareto': Optuna prunes single-objective studies "
     "only; set sweep.pruner = 'none', or sweep.objective 'time' or 'penalized'"),
    (("--storage", "nonsense"),
     "--storage takes a database URL (sqlite:///sweep.db, postgresql://user@host/db), journal:PATH, or a file "
     "ending in .db or .log; got 'nonsense'"),
    (("--sweep.train.learning_rate.min", "0.6", "--sweep.train.learning_rate.max", "0.5"),
     "[sweep.train.learning_rate]: min must be below max, got min = 0.6, max = 0.5"),
    (("--train.learnig_rate", "0.1"), "command line: unknown key train.learnig_rate; did you mean "
                                      "train.learning_rate?"),
    (("--jobs", "0"), "command line: sweep.jobs must be in [1, 1024], got 0"),
    (("--report", "--train.seed", "3"), "--report and --dashboard read the study as it is; settings such as "
                                        "--train.seed belong to the sweep itself"),
])
def test_bad_settings_are_one_line(tmp_path, args, message):
    result = puffer("sweep", "cartpole", "--data-dir", str(tmp_path / "d"), *args)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", f"puffer: error: {message}\n")


def test_an_unreachable_database_is_one_line_without_its_password(tmp_path):
    result = puffer("sweep", "cartpole", "--data-dir", str(tmp_path), "--storage",
                    "postgresql://me:secret@127.0.0.1:1/sweeps")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("puffer: error: cannot open the storage postgresql://me:***@127.0.0.1:1/sweeps: "
                                    "OperationalError: ")
    assert result.stderr.count("\n") == 1 and "secret" not in result.stderr


def test_help_lists_the_sweep_settings_beside_the_run_settings():
    result = puffer("sweep", "--help")
    assert result.returncode == 0
    for line in ("  --sweep.trials INT = 100  (in [1, 1000000])",
                 "  --sweep.objective STR = 'auto'  (one of auto, time, penalized, pareto)",
                 "  --sweep.threshold FLOAT = none", "  --sweep.SECTION.KEY.FIELD VALUE",
                 "  --train.learning_rate FLOAT = 0.00025  (> 0)"):
        assert f"\n{line}\n" in result.stdout


@pytest.fixture(scope="module")
def narrowed(tmp_path_factory):
    """A sweep of TINY's space (learning_rate, gae_lambda) with gae_lambda fixed and learning_rate's max
    lowered on the command line, and a timeout that lets it start no trial: (result, its plan)."""
    folder = tmp_path_factory.mktemp("narrowed")
    config, _ = tiny_config(folder)
    result = puffer("sweep", TRIAL_ENV, "--config", str(config), "--data-dir", str(folder / "runs"), "--study",
                    "narrowed", "--trials", "1", "--timeout", "1e-9", "--train.gae_lambda", "0.9",
                    "--sweep.train.learning_rate.max", "0.01", cwd=ROOT)
    study = study_of("narrowed", folder / "runs")
    assert study.get_trials() == []
    return result, study.user_attrs["pufferlib"]


def test_a_setting_given_on_the_command_line_leaves_the_space(narrowed):
    result, plan = narrowed
    assert result.returncode == 0, result.stderr
    assert [p["name"] for p in plan["space"]] == ["train.learning_rate"]
    assert plan["base"]["train"]["gae_lambda"] == 0.9


def test_a_bound_given_on_the_command_line_narrows_the_space(narrowed):
    _, plan = narrowed
    assert plan["space"] == [{"name": "train.learning_rate", "distribution": "log_uniform", "low": 1e-3,
                              "high": 0.01}]
