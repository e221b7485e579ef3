"""Run logging for the trainer: metrics.jsonl, a live dashboard or plain lines, TensorBoard, W&B, curves.png.

One `RunLogger` per run. Each `log()` call appends one JSON object to ``run_dir/metrics.jsonl`` (the
run's record, which `read_metrics` parses back), redraws a rich dashboard when the output is a
terminal (or prints one compact line when it is not), and forwards the numbers to TensorBoard and
Weights & Biases when they were asked for. Those two are optional: a missing package, or one that
raises, is reported once through `message()` and switched off, and training carries on. `close()`
draws ``run_dir/curves.png`` with matplotlib when it is installed.

Example:
    >>> import io, pathlib, tempfile
    >>> from pufferlib.train.logger import RunLogger, read_metrics
    >>> run_dir = pathlib.Path(tempfile.mkdtemp())
    >>> out = io.StringIO()
    >>> with RunLogger(run_dir, {}, total_timesteps=1000, env_name="cartpole", stream=out) as logger:
    ...     logger.log({"time_s": 1.5, "global_step": 500, "sps": 333.3, "episode_return": 21.0})
    >>> out.getvalue().split(" | ")[:2]
    ['[cartpole] step 500/1,000 (50.0%)', 'sps 333']
    >>> read_metrics(run_dir)[0]["episode_return"]
    21.0
"""
import json
import math
import numbers
import pathlib
import sys
import time
from collections import deque
from collections.abc import Mapping

from rich.columns import Columns
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from pufferlib.environment import Closeable
from pufferlib.errors import APIUsageError

__all__ = ["RunLogger", "EpisodeWindow", "read_metrics", "solve_time", "METRICS_FILE", "CURVES_FILE"]

METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"

_REFRESH_S = 0.25  # the dashboard redraws at most 4 times a second, and only from log()
_MAX_ENV_STATS = 16  # env/<stat> entries shown on the dashboard (all of them go to the sinks)
_LOSSES = (("policy", "losses/policy_loss"), ("value", "losses/value_loss"),
           ("entropy", "losses/entropy"), ("approx kl", "losses/approx_kl"),
           ("clip frac", "losses/clipfrac"), ("explained var", "losses/explained_variance"),
           ("learning rate", "charts/learning_rate"))
_PLAIN_LOSSES = (("policy", "losses/policy_loss"), ("value", "losses/value_loss"),
                 ("entropy", "losses/entropy"), ("kl", "losses/approx_kl"))
_TIMINGS = (("env", "timing/env"), ("inference", "timing/inference"), ("learn", "timing/learn"))
_CURVES = (("episode_return", "episode return"), ("episode_length", "episode length"),
           ("sps", "steps per second"), ("losses/policy_loss", "policy loss"),
           ("losses/value_loss", "value loss"), ("losses/entropy", "entropy"),
           ("losses/approx_kl", "approx KL"), ("losses/clipfrac", "clip fraction"),
           ("losses/explained_variance", "explained variance"))
# a self-play run's panels, added when its metrics hold them
_SELFPLAY_CURVES = (("selfplay/elo", "Elo rating (learner)"), ("selfplay/wins", "win rate against the pool"),
                    ("selfplay/pool_elo", "mean Elo of the pool"))


class EpisodeWindow:
    """The mean of a statistic over the last `window` finished episodes, from log intervals.

    A metrics record holds how many episodes finished in its interval ("episodes") and their mean of
    each statistic; the window keeps the newest intervals that cover `window` episodes, and the
    oldest of them contributes only the episodes the window still needs (at its mean).

    >>> w = EpisodeWindow(100)
    >>> w.add(60, 10.0); w.add(60, 20.0)
    >>> w.full, w.mean  # the last 100: 40 of the first interval's, 60 of the second's
    (True, 16.0)
    """

    def __init__(self, window):
        self.window = window
        self.recent = deque()  # (count, mean) of recent intervals, newest last

    def add(self, count, mean):
        """Takes one interval: `count` episodes finished in it, with `mean` the mean of the statistic."""
        if not count or mean is None:
            return
        self.recent.append((count, mean))
        while sum(c for c, _ in self.recent) - self.recent[0][0] >= self.window:
            self.recent.popleft()

    @property
    def full(self):
        """Whether the intervals so far hold at least `window` episodes."""
        return sum(c for c, _ in self.recent) >= self.window

    @property
    def mean(self):
        """The mean over the last `window` episodes (over all of them while fewer); None before any."""
        total = sum(c for c, _ in self.recent)
        if not total:
            return None
        extra = max(total - self.window, 0)
        return (sum(c * m for c, m in self.recent) - extra * self.recent[0][1]) / (total - extra)


def solve_time(metrics, key="episode_return", threshold=475.0, window=100, burn_in=0):
    """(seconds, steps) when the mean of `key` over the last `window` episodes first reached `threshold`.

    Args:
        metrics: a run's records (`read_metrics`), or the records as they are logged.
        key: the statistic ("episode_return", or "env/NAME" for an environment's own).
        threshold: the mean to reach.
        window: the episodes it is a mean over.
        burn_in: records at or before this global step are left out.

    Returns:
        The time_s and global_step of the first record at which it was reached, or (None, None).
    """
    episodes = EpisodeWindow(window)
    for m in metrics:
        if m["global_step"] <= burn_in:
            continue
        episodes.add(m.get("episodes"), m.get(key))
        if episodes.full and episodes.mean >= threshold:
            return m["time_s"], m["global_step"]
    return None, None


def read_metrics(run_dir):
    """Parses a run's metrics.jsonl: one dict per `RunLogger.log` call, in order.

    A last line cut short (a run killed mid-write) is left out; a damaged line anywhere else is an error.

    Args:
        run_dir: the run directory (or the path of a metrics.jsonl file itself).

    Returns:
        A list of dicts; values are numbers, strings or None (None and NaN were logged as null).

    Raises:
        FileNotFoundError: there is no metrics.jsonl in run_dir.
        ValueError: a line before the last is not a JSON object.
    """
    path = pathlib.Path(run_dir)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {METRICS_FILE} at {path}: expected the directory of a run that "
                                "RunLogger logged to (pass the run directory, e.g. runs/<name>)")
    lines = path.read_text(encoding="utf-8").split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines):  # no newline after it: the write was cut short
                break
            raise ValueError(f"{path}, line {number}: expected one JSON object per line, could not parse "
                             f"{line[:80]!r} ({error}); fix or delete that line") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}, line {number}: expected a JSON object, got {type(record).__name__} "
                             f"{line[:80]!r}; fix or delete that line")
        records.append(record)
    return records


class RunLogger(Closeable):
    """Records a training run: metrics.jsonl, a live dashboard or plain lines, TensorBoard, W&B, curves.

    Args:
        run_dir: the run's directory (created when missing); metrics.jsonl, TensorBoard's event files,
            W&B's files and curves.png go there.
        config: the run's resolved configuration, a plain nested dict; sent to TensorBoard (as text)
            and W&B (as the run config). Writing it to run_dir is the trainer's job.
        total_timesteps: the run's step budget, for the progress and remaining-time estimates.
        env_name: shown on the dashboard and at the start of each plain line.
        dashboard: None picks a live rich dashboard when `stream` is a terminal and plain lines
            otherwise; True or False forces one.
        tensorboard: also log to TensorBoard (``pip install tensorboard``).
        wandb: also log to Weights & Biases (``pip install wandb``).
        wandb_project: the W&B project.
        wandb_run_name: the W&B run name (None lets W&B pick one).
        resume: append to an existing metrics.jsonl (and continue the W&B run) instead of starting anew.
        enabled: False makes every method a no-op (for the non-zero ranks of distributed training).
        stream: where text goes: a file object or a `rich.console.Console`; default sys.stdout.

    Raises:
        ValueError: total_timesteps is not a positive integer.

    Example:
        >>> import io, pathlib, tempfile
        >>> from pufferlib.train.logger import RunLogger
        >>> logger = RunLogger(pathlib.Path(tempfile.mkdtemp()), {}, total_timesteps=100,
        ...                    env_name="bandit", dashboard=False, stream=io.StringIO())
        >>> logger.log({"global_step": 50, "sps": 10.0, "episode_return": None})
        >>> logger.message("halfway")
        >>> logger.close()
    """

    def __init__(self, run_dir, config, *, total_timesteps, env_name, dashboard=None, tensorboard=False,
                 wandb=False, wandb_project="pufferlib", wandb_run_name=None, resume=False, enabled=True,
                 stream=None):
        self._enabled = bool(enabled)
        self._closed = not self._enabled
        if not self._enabled:
            return
        if isinstance(total_timesteps, bool) or not isinstance(total_timesteps, numbers.Integral) \
                or total_timesteps <= 0:
            raise ValueError(f"total_timesteps must be a positive integer (the run's step budget), "
                             f"got {total_timesteps!r}")
        self._run_dir = pathlib.Path(run_dir)
        self._run_dir.mkdir(parents=True, exist_ok=True)
        self._config = config
        self._total = int(total_timesteps)
        self._env_name = str(env_name)
        self._last_time_s = None
        self._last_render = -math.inf

        stream = sys.stdout if stream is None else stream
        self._console = stream if isinstance(stream, Console) else Console(file=stream)
        if dashboard is None:
            dashboard = self._console.is_terminal and not self._console.is_dumb_terminal
        self._file = self._open_metrics(resume)
        self._sinks = []
        if tensorboard:
            self._start_sink("tensorboard", lambda: _TensorBoardSink(self._run_dir, config))
        if wandb:
            self._start_sink("wandb", lambda: _WandbSink(self._run_dir, config, wandb_project,
                                                                  wandb_run_name, resume))

        # Last, so that nothing can fail in __init__ with the dashboard holding the terminal.
        self._live = None
        if dashboard:
            # Rich shows what others print to stdout/stderr above the dashboard, but only when the
            # dashboard owns the real stdout; text meant for another stream is left alone.
            owns_stdout = self._console.file is sys.stdout
            self._live = Live(self._waiting(), console=self._console, auto_refresh=False,
                              redirect_stdout=owns_stdout, redirect_stderr=owns_stdout)
            self._live.start()

    def log(self, metrics):
        """Records one logging interval: a line of metrics.jsonl, the dashboard or a plain line, the sinks.

        Args:
            metrics: a dict of name -> number (None where there is nothing to report, e.g. episode_return
                when no episode finished). The trainer sends time_s, global_step, sps, episode_return,
                episode_length, episodes, epoch or iteration, losses/*, charts/learning_rate,
                timing/env, timing/inference, timing/learn (seconds since the last log) and env/<stat>.

        Raises:
            TypeError: metrics is not a dict.
            APIUsageError: the logger was closed.
        """
        if not self._enabled:
            return
        if self._closed:
            raise APIUsageError("RunLogger.log() called after close(); log before closing the logger, "
                                "or make a new RunLogger(resume=True) to add to this run")
        if not isinstance(metrics, Mapping):
            raise TypeError(f"metrics must be a dict of name -> number, got {type(metrics).__name__}")
        record = {str(key): _clean(value) for key, value in metrics.items()}
        self._file.write(json.dumps(record, allow_nan=False) + "\n")
        self._file.flush()
        self._show(record)
        self._forward(record)
        if _number(record, "time_s") is not None:
            self._last_time_s = record["time_s"]

    def message(self, text):
        """Shows a line of text above the dashboard, or prints it plainly.

        Args:
            text: the line to show.
        """
        if not self._enabled:
            return
        self._console.print(str(text), markup=False, highlight=False, emoji=False, soft_wrap=True)

    def close(self):
        """Stops the dashboard, closes metrics.jsonl, TensorBoard and W&B, and writes curves.png.

        Calling it again does nothing.
        """
        if self._closed:
            return
        self._closed = True
        self._file.close()
        for sink in self._sinks:
            try:
                sink.close()
            except Exception as error:
                self.message(f"{sink.name} did not close cleanly ({type(error).__name__}: {error})")
        self._sinks = []
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._write_curves()

    # -- metrics.jsonl -------------------------------------------------------------------------------

    def _open_metrics(self, resume):
        path = self._run_dir / METRICS_FILE
        if resume and path.is_file():
            with open(path, "rb+") as file:
                data = file.read()
                end = data.rfind(b"\n") + 1
                if end < len(data):
                    file.truncate(end)
                    self.message(f"{path} ended in a partial line (the run stopped mid-write); "
                                 "dropped it before resuming")
        return open(path, "a" if resume else "w", encoding="utf-8")

    # -- sinks -------------------------------------------------------------------------------------

    def _start_sink(self, name, make):
        try:
            self._sinks.append(make())
        except ImportError:
            self.message(f"{name} not installed: pip install {name}; continuing without it")
        except Exception as error:
            self.message(f"{name} failed to start ({type(error).__name__}: {error}); continuing without it")

    def _forward(self, record):
        if not self._sinks:
            return
        step = _number(record, "global_step")
        step = None if step is None else int(step)
        scalars = {}
        for key, value in record.items():
            if key == "global_step" or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            scalars[key if "/" in key else f"charts/{key}"] = value
        for sink in list(self._sinks):
            try:
                sink.log(scalars, step)
            except Exception as error:
                self._sinks.remove(sink)
                self.message(f"{sink.name} logging failed ({type(error).__name__}: {error}); "
                             "continuing without it")
                try:
                    sink.close()
                except Exception:  # already reported as failed; a second complaint adds nothing
                    pass

    # -- display -----------------------------------------------------------------------------------

    def _show(self, record):
        if self._live is None:
            self.message(self._plain_line(record))
            return
        try:
            now = time.monotonic()
            due = now - self._last_render >= _REFRESH_S
            self._live.update(self._dashboard(record), refresh=due)
            if due:
                self._last_render = now
        except Exception as error:
            self._live.stop()
            self._live = None
            self.message(f"dashboard failed ({type(error).__name__}: {error}); printing plain lines instead")
            self.message(self._plain_line(record))

    def _progress(self, record):
        """(step, fraction of total_timesteps, elapsed seconds, remaining seconds); None where unknown."""
        step = _number(record, "global_step")
        sps = _number(record, "sps")
        # a resumed run or a last rollout can end past total_timesteps; the display stops at 100%
        fraction = None if step is None else min(step / self._total, 1.0)
        remaining = None
        if step is not None and sps is not None and sps > 0:
            remaining = max(self._total - step, 0) / sps
        return step, fraction, _number(record, "time_s"), remaining

    def _plain_line(self, record):
        step, fraction, elapsed, remaining = self._progress(record)
        parts = [f"[{self._env_name}] step {_fmt(step)}/{self._total:,}"
                 + ("" if fraction is None else f" ({100 * fraction:.1f}%)"),
                 f"sps {_fmt(_number(record, 'sps'), ',.0f')}",
                 f"return {_fmt(_number(record, 'episode_return'))}",
                 f"length {_fmt(_number(record, 'episode_length'))}"]
        losses = [f"{label} {_fmt(_number(record, key))}" for label, key in _PLAIN_LOSSES if key in record]
        if losses:
            parts.append(" ".join(losses))
        if elapsed is not None or remaining is not None:
            parts.append(f"{_duration(elapsed)} elapsed, {_duration(remaining)} left")
        return " | ".join(parts)

    def _waiting(self):
        return Panel(Text(f"waiting for the first log of {self._total:,} steps"),
                     title=Text(f"pufferlib · {self._env_name}"), title_align="left", border_style="cyan")

    def _dashboard(self, record):
        step, fraction, elapsed, remaining = self._progress(record)
        bar = Table.grid(expand=True, padding=(0, 1))
        bar.add_column(ratio=1)
        bar.add_column(justify="right", no_wrap=True)
        bar.add_row(ProgressBar(total=self._total, completed=min(step or 0, self._total)),
                    Text(f"{_fmt(step)} / {self._total:,} steps"
                         + ("" if fraction is None else f"  {100 * fraction:5.1f}%")))

        iteration = next((key for key in ("iteration", "epoch") if key in record), "iteration")
        run = [("steps/s", _fmt(_number(record, "sps"), ",.0f")),
               ("elapsed", _duration(elapsed)),
               ("remaining", _duration(remaining)),
               (iteration, _fmt(_number(record, iteration))),
               ("episodes", _fmt(_number(record, "episodes"))),
               ("return", _fmt(_number(record, "episode_return"))),
               ("length", _fmt(_number(record, "episode_length")))]
        losses = [(label, _fmt(_number(record, key))) for label, key in _LOSSES]
        timing = self._timing(record)

        grid = Table.grid(expand=True, padding=(0, 2))
        for _ in range(3):
            grid.add_column(ratio=1)
        grid.add_row(_section("run", run), _section("losses", losses),
                     _section("time (% of interval)", timing))
        parts = [bar, grid]

        stats = [(key[len("env/"):], _fmt(_number(record, key))) for key in record if key.startswith("env/")]
        if stats:
            # Text, not markup strings: message() prints with markup off, and the dashboard is redrawn then.
            shown = [Text.assemble((name, "dim"), " ", value) for name, value in stats[:_MAX_ENV_STATS]]
            if len(stats) > _MAX_ENV_STATS:
                shown.append(Text(f"... {len(stats) - _MAX_ENV_STATS} more in {METRICS_FILE}", style="dim"))
            parts += [Text("env", style="bold"), Columns(shown, padding=(0, 3))]
        return Panel(Group(*parts), title=Text(f"pufferlib · {self._env_name}"), title_align="left",
                     border_style="cyan")

    def _timing(self, record):
        """Rows of env / inference / learn time as a percentage of the interval since the last log."""
        seconds = [(label, _number(record, key)) for label, key in _TIMINGS]
        measured = sum(value for _, value in seconds if value is not None)
        time_s = _number(record, "time_s")
        interval = None
        if time_s is not None and self._last_time_s is not None and time_s > self._last_time_s:
            interval = max(time_s - self._last_time_s, measured)
        elif measured > 0:
            interval = measured
        rows = [(label, "-" if value is None or interval is None else f"{100 * value / interval:.1f}%")
                for label, value in seconds]
        if interval is not None and interval > measured:
            rows.append(("other", f"{100 * (interval - measured) / interval:.1f}%"))
        return rows

    # -- curves.png --------------------------------------------------------------------------------

    def _write_curves(self):
        try:
            records = read_metrics(self._run_dir)
        except (OSError, ValueError) as error:
            self.message(f"{CURVES_FILE} not written: {error}")
            return
        if not records:
            return
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            self.message(f"matplotlib not installed, so no {CURVES_FILE}: pip install matplotlib "
                         "to get one (the numbers are all in metrics.jsonl)")
            return
        try:
            # A Figure on an Agg canvas: headless, and pyplot's global backend is never touched.
            curves = _CURVES
            if any("selfplay/elo" in record for record in records):
                curves = _CURVES + _SELFPLAY_CURVES
            rows = -(-len(curves) // 3)
            figure = Figure(figsize=(13, 3 * rows), dpi=100)
            # fixed margins: matplotlib's constrained layout would triple the time this takes
            figure.subplots_adjust(left=0.05, right=0.98, bottom=0.06, top=0.92, hspace=0.45, wspace=0.22)
            canvas = FigureCanvasAgg(figure)
            figure.suptitle(f"{self._env_name}: {self._run_dir.name}")
            for axes, (key, title) in zip(figure.subplots(rows, 3).flat, curves):
                points = [(record.get("global_step"), record.get(key)) for record in records]
                points = [(x, y) for x, y in points if _is_number(x) and _is_number(y)]
                axes.set_title(title)
                axes.set_xlabel("global step")
                axes.grid(alpha=0.3)
                if points:
                    xs, ys = zip(*points)
                    axes.plot(xs, ys, linewidth=1.2, marker="." if len(points) < 30 else None)
                else:
                    axes.text(0.5, 0.5, "not logged", ha="center", va="center", transform=axes.transAxes,
                              color="grey")
            canvas.print_png(str(self._run_dir / CURVES_FILE))
        except Exception as error:
            self.message(f"{CURVES_FILE} not written ({type(error).__name__}: {error})")


class _TensorBoardSink:
    """Scalars into TensorBoard event files in the run directory."""

    name = "tensorboard"

    def __init__(self, run_dir, config):
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(run_dir))
        text = json.dumps(config, indent=2, default=str)
        self._writer.add_text("config", "    " + text.replace("\n", "\n    "))  # markdown code block

    def log(self, scalars, step):
        for key, value in scalars.items():
            self._writer.add_scalar(key, value, step)

    def close(self):
        self._writer.close()


class _WandbSink:
    """Scalars into a Weights & Biases run; its id is kept in the run directory so a resume continues it."""

    name = "wandb"

    def __init__(self, run_dir, config, project, run_name, resume):
        import wandb

        id_file = run_dir / "wandb_run_id"
        options = {"project": project, "name": run_name, "config": config, "dir": str(run_dir)}
        if resume and id_file.is_file():
            options.update(id=id_file.read_text(encoding="utf-8").strip(), resume="allow")
        self._run = wandb.init(**options)
        id_file.write_text(str(self._run.id), encoding="utf-8")

    def log(self, scalars, step):
        self._run.log(scalars, step=step)

    def close(self):
        self._run.finish()


def _clean(value):
    """One metric made JSON-safe: numbers as int or float, NaN and infinities as None, others as str."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    try:
        value = float(value)  # floats, numpy and torch scalars
    except Exception:
        return str(value)
    return value if math.isfinite(value) else None


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(record, key):
    value = record.get(key)
    return value if _is_number(value) else None


def _fmt(value, spec=".4g"):
    if value is None:
        return "-"
    if isinstance(value, int) or (spec == ".4g" and float(value).is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    return format(value, spec)


def _duration(seconds):
    if seconds is None:
        return "-"
    hours, rest = divmod(int(round(seconds)), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _section(title, rows):
    table = Table(box=None, show_header=False, title=Text(title), title_justify="left", title_style="bold",
                  padding=(0, 1), pad_edge=False, expand=True)
    table.add_column(style="dim", no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    for label, value in rows:
        table.add_row(Text(label), Text(value))
    return table
