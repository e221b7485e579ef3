import builtins
import io
import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
from rich.console import Console

from pufferlib.errors import APIUsageError
from pufferlib.train.logger import CURVES_FILE, METRICS_FILE, RunLogger, read_metrics

METRICS = {"time_s": 12.5, "global_step": 123456, "sps": 45678.9, "episode_return": 187.25,
           "episode_length": 190.5, "episodes": 412, "iteration": 30, "losses/policy_loss": -0.0123,
           "losses/value_loss": 12.34, "losses/entropy": 0.6812, "losses/approx_kl": 0.00312,
           "losses/clipfrac": 0.125, "losses/explained_variance": 0.91, "charts/learning_rate": 2.5e-4,
           "timing/env": 0.25, "timing/inference": 0.1, "timing/learn": 0.3, "env/score": 3.5}


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch):
    """Rich reads these to decide what a terminal is; CI machines set some of them."""
    monkeypatch.setenv("TERM", "xterm")
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES", "JUPYTER_COLUMNS"):
        monkeypatch.delenv(name, raising=False)


def make_logger(run_dir, stream=None, **kwargs):
    kwargs.setdefault("total_timesteps", 1_000_000)
    kwargs.setdefault("env_name", "cartpole")
    return RunLogger(run_dir, {"lr": 2.5e-4, "env": {"name": "cartpole"}},
                     stream=io.StringIO() if stream is None else stream, **kwargs)


def terminal(width=100):
    return Console(file=io.StringIO(), force_terminal=True, width=width, color_system=None)


def block_imports(monkeypatch, prefix):
    """Makes `import <prefix>...` fail as if the package were not installed."""
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == prefix or name.startswith(prefix + "."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


class FakeWriter:
    """Stands in for torch.utils.tensorboard.SummaryWriter; `fail` makes add_scalar raise."""

    instances = []
    fail = False

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.scalars = []
        self.texts = []
        self.closed = False
        FakeWriter.instances.append(self)

    def add_scalar(self, tag, value, step):
        if FakeWriter.fail:
            raise RuntimeError("disk full")
        self.scalars.append((tag, value, step))

    def add_text(self, tag, text):
        self.texts.append((tag, text))

    def close(self):
        self.closed = True


@pytest.fixture
def fake_tensorboard(monkeypatch):
    FakeWriter.instances = []
    FakeWriter.fail = False
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard",
                        types.SimpleNamespace(SummaryWriter=FakeWriter))
    return FakeWriter


class FakeWandbRun:
    def __init__(self, **options):
        self.options = options
        self.id = options.get("id", "run123")
        self.logged = []
        self.finished = False

    def log(self, data, step=None):
        self.logged.append((data, step))

    def finish(self):
        self.finished = True


@pytest.fixture
def fake_wandb(monkeypatch):
    runs = []

    def init(**options):
        runs.append(FakeWandbRun(**options))
        return runs[-1]

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    return runs


# -- metrics.jsonl ---------------------------------------------------------------------------------


def test_each_log_is_one_json_line_with_what_was_logged(tmp_path):
    with make_logger(tmp_path) as logger:
        logger.log(METRICS)
        logger.log({"global_step": 2, "episode_return": None, "losses/value_loss": float("nan"),
                    "sps": float("inf"), "episodes": np.int64(3), "losses/entropy": np.float32(0.5)})
    lines = (tmp_path / METRICS_FILE).read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == METRICS
    assert json.loads(lines[1]) == {"global_step": 2, "episode_return": None, "losses/value_loss": None,
                                    "sps": None, "episodes": 3, "losses/entropy": 0.5}
    assert '"losses/value_loss": null' in lines[1]
    assert read_metrics(tmp_path) == [json.loads(line) for line in lines]


def test_metrics_are_on_disk_before_close(tmp_path):
    logger = make_logger(tmp_path)
    logger.log({"global_step": 1})
    assert read_metrics(tmp_path) == [{"global_step": 1}]
    logger.close()


def test_resume_appends_and_a_new_run_starts_afresh(tmp_path):
    with make_logger(tmp_path) as logger:
        logger.log({"global_step": 1})
    with make_logger(tmp_path, resume=True) as logger:
        logger.log({"global_step": 2})
    assert [r["global_step"] for r in read_metrics(tmp_path)] == [1, 2]
    with make_logger(tmp_path) as logger:
        logger.log({"global_step": 3})
    assert [r["global_step"] for r in read_metrics(tmp_path)] == [3]


def test_resume_drops_a_partial_last_line(tmp_path):
    (tmp_path / METRICS_FILE).write_text('{"global_step": 1}\n{"global_st')
    out = io.StringIO()
    with make_logger(tmp_path, out, resume=True) as logger:
        logger.log({"global_step": 2})
    assert [r["global_step"] for r in read_metrics(tmp_path)] == [1, 2]
    assert "partial line" in out.getvalue()


def test_disabled_logger_does_nothing(tmp_path, fake_tensorboard):
    run_dir = tmp_path / "rank1"
    out = io.StringIO()
    with make_logger(run_dir, out, enabled=False, tensorboard=True, total_timesteps=0) as logger:
        logger.log(METRICS)
        logger.log("not even a dict")
        logger.message("hello")
    logger.close()
    assert not run_dir.exists()
    assert out.getvalue() == ""
    assert fake_tensorboard.instances == []


def test_read_metrics_skips_a_cut_short_last_line(tmp_path):
    (tmp_path / METRICS_FILE).write_text('{"global_step": 1}\n\n{"global_step": 2}\n{"glob')
    assert read_metrics(tmp_path) == [{"global_step": 1}, {"global_step": 2}]
    assert read_metrics(tmp_path / METRICS_FILE) == [{"global_step": 1}, {"global_step": 2}]


def test_read_metrics_without_a_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no metrics\.jsonl at .*expected the directory of a run"):
        read_metrics(tmp_path)


def test_read_metrics_rejects_a_damaged_line(tmp_path):
    (tmp_path / METRICS_FILE).write_text('{"global_step": 1}\n{"global_st\n{"global_step": 2}\n')
    with pytest.raises(ValueError, match=r"line 2: expected one JSON object per line.*fix or delete"):
        read_metrics(tmp_path)


def test_read_metrics_rejects_a_line_that_is_not_an_object(tmp_path):
    (tmp_path / METRICS_FILE).write_text('[1, 2]\n{"global_step": 2}\n')
    with pytest.raises(ValueError, match=r"line 1: expected a JSON object, got list"):
        read_metrics(tmp_path)


# -- arguments and lifecycle -----------------------------------------------------------------------


@pytest.mark.parametrize("total", [0, -5, 1.5, True, "100"])
def test_total_timesteps_must_be_a_positive_integer(tmp_path, total):
    with pytest.raises(ValueError, match=r"total_timesteps must be a positive integer.*got"):
        make_logger(tmp_path, total_timesteps=total)


def test_metrics_must_be_a_dict(tmp_path):
    with make_logger(tmp_path) as logger:
        with pytest.raises(TypeError, match="metrics must be a dict of name -> number, got list"):
            logger.log([1, 2])


def test_log_after_close_is_refused(tmp_path):
    logger = make_logger(tmp_path)
    logger.close()
    with pytest.raises(APIUsageError, match=r"log\(\) called after close\(\).*resume=True"):
        logger.log({"global_step": 1})


def test_close_is_idempotent_and_the_context_manager_closes_on_error(tmp_path, fake_tensorboard):
    out = io.StringIO()
    with pytest.raises(KeyError):
        with make_logger(tmp_path, out, tensorboard=True) as logger:
            logger.log({"global_step": 1, "episode_return": 1.0})
            raise KeyError("crash")
    assert fake_tensorboard.instances[0].closed
    text = out.getvalue()
    logger.close()
    assert out.getvalue() == text
    assert read_metrics(tmp_path) == [{"global_step": 1, "episode_return": 1.0}]


def test_run_dir_is_created(tmp_path):
    with make_logger(tmp_path / "runs" / "a") as logger:
        logger.log({"global_step": 1})
    assert (tmp_path / "runs" / "a" / METRICS_FILE).is_file()


# -- plain lines and the dashboard -----------------------------------------------------------------


def test_plain_lines_when_the_stream_is_not_a_terminal(tmp_path):
    out = io.StringIO()
    with make_logger(tmp_path, out, total_timesteps=1000) as logger:
        logger.log({"time_s": 5.0, "global_step": 500, "sps": 10.0, "episode_return": 21.5,
                    "episode_length": 30, "losses/policy_loss": -0.25, "losses/value_loss": 3.0})
        logger.log({"global_step": 600, "episode_return": None})
    first, second = out.getvalue().splitlines()[:2]
    assert first == ("[cartpole] step 500/1,000 (50.0%) | sps 10 | return 21.5 | length 30 | "
                     "policy -0.25 value 3 | 0:00:05 elapsed, 0:00:50 left")
    assert second == "[cartpole] step 600/1,000 (60.0%) | sps - | return - | length -"
    assert "\x1b" not in out.getvalue()


def test_dashboard_false_prints_plain_lines_even_on_a_terminal(tmp_path):
    console = terminal()
    with make_logger(tmp_path, console, dashboard=False) as logger:
        logger.log(METRICS)
    text = console.file.getvalue()
    assert "[cartpole] step 123,456/1,000,000 (12.3%) | sps 45,679 | return 187.2" in text
    assert "╭" not in text


@pytest.mark.parametrize("dashboard", [True, None])
def test_dashboard_on_a_terminal_shows_the_numbers(tmp_path, dashboard):
    console = terminal()
    with make_logger(tmp_path, console, dashboard=dashboard) as logger:
        logger.log(dict(METRICS, time_s=10.0))
        logger.log(dict(METRICS, time_s=11.0, **{"timing/env": 0.5, "timing/inference": 0.1,
                                                   "timing/learn": 0.3}))
    text = console.file.getvalue()
    assert "╭" in text and "pufferlib · cartpole" in text
    for shown in ["123,456 / 1,000,000 steps", "12.3%", "45,679", "187.2", "190.5", "412", "-0.0123",
                  "12.34", "0.6812", "0.00312", "0.125", "0.91", "0.00025", "0:00:11", "0:00:19",
                  "score", "3.5"]:
        assert shown in text, shown
    # the second interval lasted 1 s: env 0.5 s, inference 0.1 s, learn 0.3 s, the rest elsewhere
    last = text[text.rindex("pufferlib · cartpole"):]
    for label, share in [("env", "50.0%"), ("inference", "10.0%"), ("learn", "30.0%"), ("other", "10.0%")]:
        assert any(label in line and share in line for line in last.splitlines()), (label, share)


def test_dashboard_on_a_file_renders_when_it_stops(tmp_path):
    out = io.StringIO()
    with make_logger(tmp_path, out, dashboard=True) as logger:
        logger.log(METRICS)
    assert "187.2" in out.getvalue()


def test_messages_show_plainly_and_through_the_dashboard(tmp_path):
    out = io.StringIO()
    with make_logger(tmp_path, out) as logger:
        logger.message("saved [checkpoint] 3")
    assert out.getvalue() == "saved [checkpoint] 3\n"
    console = terminal()
    with make_logger(tmp_path / "b", console, dashboard=True, env_name="[bold]x") as logger:
        logger.log(METRICS)
        logger.message("saved [checkpoint] 4")
    text = console.file.getvalue()
    assert "saved [checkpoint] 4" in text
    assert "pufferlib · [bold]x" in text


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_dashboard_on_a_terminal_stdout_shows_prints_above_it_and_gives_stdout_back(tmp_path, monkeypatch):
    screen = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", screen)
    logger = RunLogger(tmp_path, {}, total_timesteps=100, env_name="cartpole")
    assert sys.stdout is not screen  # rich shows other prints above the dashboard while it runs
    print("a print from elsewhere")
    logger.log({"global_step": 50})
    logger.close()
    assert sys.stdout is screen
    text = screen.getvalue()
    assert "a print from elsewhere" in text and "50 / 100 steps" in text and "╭" in text


def test_a_failing_dashboard_falls_back_to_plain_lines(tmp_path, monkeypatch):
    def broken(self, record):
        raise RuntimeError("bad render")

    monkeypatch.setattr(RunLogger, "_dashboard", broken)
    console = terminal()
    with make_logger(tmp_path, console, dashboard=True) as logger:
        logger.log({"global_step": 1, "episode_return": 2.5})
        logger.log({"global_step": 2, "episode_return": 3.5})
    text = console.file.getvalue()
    assert text.count("dashboard failed (RuntimeError: bad render); printing plain lines instead") == 1
    assert "step 1/" in text and "return 3.5" in text
    assert len(read_metrics(tmp_path)) == 2


# -- TensorBoard and W&B ---------------------------------------------------------------------------


def test_tensorboard_gets_the_numbers_at_their_step(tmp_path, fake_tensorboard):
    with make_logger(tmp_path, tensorboard=True) as logger:
        logger.log({"global_step": 64, "sps": 100.0, "episode_return": None, "losses/policy_loss": 0.5,
                    "env/score": 2})
    writer = fake_tensorboard.instances[0]
    assert writer.log_dir == str(tmp_path)
    assert sorted(writer.scalars) == [("charts/sps", 100.0, 64), ("env/score", 2, 64),
                                      ("losses/policy_loss", 0.5, 64)]
    assert writer.texts[0][0] == "config" and '"lr": 0.00025' in writer.texts[0][1]
    assert writer.closed


def test_a_raising_sink_is_disabled_with_one_warning(tmp_path, fake_tensorboard):
    fake_tensorboard.fail = True
    out = io.StringIO()
    with make_logger(tmp_path, out, tensorboard=True) as logger:
        for step in range(3):
            logger.log({"global_step": step, "sps": 1.0})
    text = out.getvalue()
    assert text.count("tensorboard logging failed (RuntimeError: disk full); continuing without it") == 1
    assert [r["global_step"] for r in read_metrics(tmp_path)] == [0, 1, 2]
    assert text.count("[cartpole] step") == 3
    assert fake_tensorboard.instances[0].closed


def test_missing_tensorboard_is_a_note(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    out = io.StringIO()
    with make_logger(tmp_path, out, tensorboard=True) as logger:
        logger.log({"global_step": 1})
    assert ("tensorboard not installed: pip install tensorboard; continuing without it"
            in out.getvalue())
    assert read_metrics(tmp_path) == [{"global_step": 1}]


def test_a_sink_that_fails_to_start_is_a_note(tmp_path, monkeypatch):
    def refuse(log_dir):
        raise PermissionError("read-only")

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=refuse))
    out = io.StringIO()
    with make_logger(tmp_path, out, tensorboard=True) as logger:
        logger.log({"global_step": 1})
    assert "tensorboard failed to start (PermissionError: read-only); continuing without it" in out.getvalue()


def test_real_tensorboard_writes_event_files(tmp_path):
    pytest.importorskip("tensorboard")
    with make_logger(tmp_path, tensorboard=True) as logger:
        logger.log({"global_step": 1, "sps": 3.0})
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path))


def test_wandb_gets_the_config_and_the_numbers(tmp_path, fake_wandb):
    with make_logger(tmp_path, wandb=True, wandb_project="proj", wandb_run_name="try1") as logger:
        logger.log({"global_step": 8, "episode_return": 1.5, "episode_length": None})
    run = fake_wandb[0]
    assert run.options == {"project": "proj", "name": "try1", "dir": str(tmp_path),
                           "config": {"lr": 2.5e-4, "env": {"name": "cartpole"}}}
    assert run.logged == [({"charts/episode_return": 1.5}, 8)]
    assert run.finished
    assert (tmp_path / "wandb_run_id").read_text() == "run123"


def test_wandb_resume_continues_the_same_run(tmp_path, fake_wandb):
    (tmp_path / "wandb_run_id").write_text("abc\n")
    with make_logger(tmp_path, wandb=True, resume=True):
        pass
    assert fake_wandb[0].options["id"] == "abc" and fake_wandb[0].options["resume"] == "allow"


def test_missing_wandb_is_a_note(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    out = io.StringIO()
    with make_logger(tmp_path, out, wandb=True) as logger:
        logger.log({"global_step": 1})
    assert "wandb not installed: pip install wandb; continuing without it" in out.getvalue()


# -- curves.png ------------------------------------------------------------------------------------


def log_a_run(logger, steps=40):
    for i in range(1, steps + 1):
        logger.log({"global_step": 128 * i, "episode_return": None if i < 3 else float(i),
                    "losses/policy_loss": 1.0 / i, "losses/value_loss": float(i % 7)})


def test_curves_png_is_written(tmp_path):
    image = pytest.importorskip("matplotlib.image")
    with make_logger(tmp_path) as logger:
        log_a_run(logger)
    path = tmp_path / CURVES_FILE
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = image.imread(path)
    assert pixels.shape[:2] == (900, 1300)
    assert pixels.std() > 0.05  # lines and labels, not a blank canvas


def test_curves_without_matplotlib_is_a_note(tmp_path, monkeypatch):
    block_imports(monkeypatch, "matplotlib")
    out = io.StringIO()
    with make_logger(tmp_path, out) as logger:
        log_a_run(logger, steps=3)
    assert "matplotlib not installed, so no curves.png: pip install matplotlib" in out.getvalue()
    assert not (tmp_path / CURVES_FILE).exists()


def test_a_failing_plot_is_a_note(tmp_path, monkeypatch):
    figure = pytest.importorskip("matplotlib.figure")

    def broken(*args, **kwargs):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(figure, "Figure", broken)
    out = io.StringIO()
    with make_logger(tmp_path, out) as logger:
        log_a_run(logger, steps=3)
    assert "curves.png not written (RuntimeError: no fonts)" in out.getvalue()


def test_a_damaged_metrics_file_at_close_is_a_note(tmp_path):
    out = io.StringIO()
    with make_logger(tmp_path, out) as logger:
        logger.log({"global_step": 1})
        with open(tmp_path / METRICS_FILE, "a") as file:
            file.write('{"glob\n{"global_step": 2}\n')
    assert "curves.png not written: " in out.getvalue() and "line 2: expected one JSON object" in out.getvalue()


def test_no_curves_for_a_run_that_logged_nothing(tmp_path):
    with make_logger(tmp_path):
        pass
    assert not (tmp_path / CURVES_FILE).exists()


# -- import ----------------------------------------------------------------------------------------


def test_import_has_no_side_effects():
    code = ("import signal, sys, warnings\n"
            "import pufferlib, torch\n"  # numpy, gymnasium and torch add warning filters of their own
            "filters = list(warnings.filters)\n"
            "handlers = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]\n"
            "stdout = sys.stdout\n"
            "import pufferlib.train.logger\n"
            "assert warnings.filters == filters, 'warning filters changed'\n"
            "assert [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)] == handlers\n"
            "assert sys.stdout is stdout\n"
            "assert 'matplotlib' not in sys.modules\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))), os.environ.get("PYTHONPATH")])))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_plain_progress_stops_at_100_percent(tmp_path):
    """The last rollout (or a resumed run) may end past total_timesteps."""
    out = io.StringIO()
    with make_logger(tmp_path, out, total_timesteps=1000) as logger:
        logger.log({"global_step": 1024, "sps": 10.0})
    assert out.getvalue().startswith("[cartpole] step 1,024/1,000 (100.0%) | sps 10")


def test_dashboard_progress_stops_at_100_percent(tmp_path):
    console = terminal()
    with make_logger(tmp_path, console, dashboard=True, total_timesteps=1000) as logger:
        logger.log(dict(METRICS, global_step=3000))
    text = console.file.getvalue()
    assert "3,000 / 1,000 steps  100.0%" in text and "300.0%" not in text
