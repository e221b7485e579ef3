"""`puffer sweep ENV --report`: the best trials, the Pareto front of score and cost, the best config, plots.

Read from the study alone (its storage holds the plan, every trial's settings, score and cost), so a
report can be made on any machine that reaches the storage, while the sweep runs or after it.

Files written to the report folder (default: the study's folder/report):
- best.toml: the whole configuration of the best trial, which `puffer train ENV --config best.toml`
  takes as is;
- score_vs_cost.png: every completed trial's score against its cost, the Pareto front drawn through;
- history.png: each trial's objective value in order, with the best so far;
- importances.png: how much each setting mattered (Optuna's fANOVA importances), from 2 trials on.
"""
import math
import sys
from pathlib import Path

from pufferlib.sweep import study as studies
from pufferlib.sweep.runner import best_trial, default_study_name, short_text, study_dir
from pufferlib.train.config import Config, ConfigError, config_to_toml

__all__ = ["pareto_front", "report"]

_TOP = 10


def pareto_front(points):
    """The indices of the points (score, cost) no other point beats on both: higher score, lower cost.

    Ties on both keep one of them. The front is returned by ascending cost (and so ascending score).

    >>> pareto_front([(1.0, 3.0), (2.0, 6.0), (0.5, 7.0), (2.0, 4.0)])
    [0, 3]
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][1], -points[i][0]))
    front, best = [], -math.inf
    for i in order:
        if points[i][0] > best:
            front.append(i)
            best = points[i][0]
    return front


def report(env=None, *, storage=None, study=None, data_dir="runs", output=None, stream=None, plots=True):
    """Prints a study's best trials and Pareto front, and writes best.toml and the plots.

    Args:
        env: the ENV spec the study swept (names the default study); or None with `study`.
        storage: the storage as `puffer sweep` took it (None: the study folder's study.db).
        study: the study's name (default: the environment's).
        data_dir: the data directory the sweep used.
        output: the folder to write to (default: data_dir/sweeps/STUDY/report).
        stream: where the tables go (default sys.stdout).
        plots: draw the PNG files (needs matplotlib).

    Returns:
        dict: counts, best (as `best_trial`), front (dicts of number, score, cost, settings), files
        (name -> path written).

    Raises:
        ConfigError: no such study, or a study without completed trials to report on.
    """
    stream = stream or sys.stdout
    studies.require_optuna()
    if env is None and study is None:
        raise ConfigError("a report needs the environment or --study NAME")
    name = study or default_study_name(env)
    folder = study_dir(data_dir, name)
    if storage is None and not (folder / "study.db").is_file():
        raise ConfigError(f"no sweep {name!r} in {folder} (no study.db there): run `puffer sweep "
                          f"{env or 'ENV'}` first, or give the --study, --storage or --data-dir it used")
    store = studies.open_storage(studies.storage_url(storage, folder))
    the_study = studies.load_study(name, store, None)
    plan = the_study.user_attrs["pufferlib"]
    found = studies.counts(the_study)
    rows = _completed(the_study)
    print(f"study {name!r} ({plan['env']}): objective {plan['objective']}, metric {plan['metric']}, cost "
          f"{plan['cost']}; {found['ended']} trials ended: {studies.counts_text(found)} "
          f"({found['interrupted']} interrupted, {found['running']} running)", file=stream)
    if not rows:
        raise ConfigError(f"study {name!r} has no completed trial yet: nothing to report")
    best = best_trial(the_study, plan)
    ranked = _ranked(rows, plan)
    print(f"\nbest trials ({plan['objective']}):", file=stream)
    print(_table(ranked[:_TOP], plan), file=stream)
    front = [rows[i] for i in pareto_front([(r["score"], r["cost"]) for r in rows])]
    print(f"\nPareto front of score and cost ({len(front)} of {len(rows)} completed trials):", file=stream)
    print(_table(front, plan), file=stream)
    out = Path(output) if output is not None else folder / "report"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot write the report to {out}: {error.strerror or error}") from None
    files = {"best.toml": _write_best(out / "best.toml", plan, best, name)}
    if plots:
        files.update(_plots(out, the_study, plan, rows, front, best, stream))
    print(f"\nbest: trial {best['number']}; train it with: puffer train {plan['env']} --config "
          f"{files['best.toml']}", file=stream)
    print("wrote " + ", ".join(str(path) for path in files.values()), file=stream)
    return {"counts": found, "best": best, "front": front, "files": files}


def _completed(study):
    """The completed trials as rows: number, value(s), score, cost, seconds, steps, settings."""
    from optuna.trial import TrialState

    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        a = t.user_attrs
        if a.get("score") is None or a.get("cost") is None:
            continue
        rows.append({"number": t.number, "values": list(t.values), "score": a["score"], "cost": a["cost"],
                     "seconds": a.get("seconds"), "steps": a.get("steps"), "settings": a.get("settings", {}),
                     "run_dir": a.get("run_dir")})
    return rows


def _ranked(rows, plan):
    if plan["objective"] == "pareto":
        return sorted(rows, key=lambda r: (-r["score"], r["cost"]))
    sign = 1 if plan["objective"] == "time" else -1
    return sorted(rows, key=lambda r: sign * r["values"][0])


def _table(rows, plan):
    """Rows as an aligned text table: trial, value, score, cost, then one column per setting."""
    names = sorted({key for r in rows for key in r["settings"]})
    value_head = None  # 'pareto': its values are the score and cost columns
    if plan["objective"] == "time":  # the only objective sure to have a threshold
        value_head = f"s to {plan['threshold']:g}"
    elif plan["objective"] == "penalized":
        value_head = "value"
    heads = ["trial"] + ([value_head] if value_head else []) + \
        ["score", "seconds", "M steps"] + [n.partition(".")[2] for n in names]
    body = []
    for r in rows:
        cells = [str(r["number"])] + ([_fmt(r["values"][0])] if value_head else [])
        steps = None if r["steps"] is None else r["steps"] / 1e6
        cells += [_fmt(r["score"]), _fmt(r["seconds"]), _fmt(steps)]
        cells += [_fmt(r["settings"].get(n)) for n in names]
        body.append(cells)
    widths = [max(len(row[i]) for row in [heads] + body) for i in range(len(heads))]
    return "\n".join("  " + "  ".join(cell.rjust(w) for cell, w in zip(row, widths))
                     for row in [heads] + body)


def _fmt(value):
    return short_text(value, missing="-")


def _write_best(path, plan, best, name):
    config = Config.from_dict(plan["base"], source=f"the base configuration of study {name!r}")
    nested = {}
    for key, value in best["settings"].items():
        section, _, field = key.partition(".")
        nested.setdefault(section, {})[field] = value
    config.update(nested, source=f"trial {best['number']} of study {name!r}")
    header = (f"The best trial ({best['number']}) of the sweep {name!r} of {plan['env']}: score "
              f"{_fmt(best['score'])}, cost {_fmt(best['cost'])} ({plan['cost']}).\n"
              f"Train it: puffer train {plan['env']} --config {path.name}")
    path.write_text(config_to_toml(config, header=header))
    return path


def _plots(out, study, plan, rows, front, best, stream):
    """Draws the three PNG files on Agg canvases (pyplot's global state is never touched)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib is not installed, so no plots: pip install matplotlib", file=stream)
        return {}
    files = {}
    cost_label = "seconds of training" if plan["cost"] == "time" else "millions of env steps"
    score_label = "mean episode return" if plan["metric"] in ("return", "eval") else plan["metric"]

    figure = Figure(figsize=(7, 5), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.scatter([r["cost"] for r in rows], [r["score"] for r in rows], s=18, color="tab:blue", alpha=0.6,
               label="completed trials")
    ax.step([r["cost"] for r in front], [r["score"] for r in front], where="post", color="tab:orange",
            label="Pareto front")
    ax.scatter([best["cost"]], [best["score"]], s=90, marker="*", color="tab:red", zorder=3,
               label=f"best (trial {best['number']})")
    if plan.get("threshold") is not None:
        ax.axhline(plan["threshold"], color="grey", linestyle=":", label=f"threshold {plan['threshold']:g}")
    if min(r["cost"] for r in rows) > 0 and max(r["cost"] for r in rows) > 10 * min(r["cost"] for r in rows):
        ax.set_xscale("log")
    ax.set_xlabel(f"cost: {cost_label}")
    ax.set_ylabel(f"score: {score_label}")
    ax.set_title(f"{plan['env']}: score vs cost ({len(rows)} trials)")
    ax.legend(loc="best", fontsize=8)
    figure.tight_layout()
    files["score_vs_cost.png"] = _save(figure, out / "score_vs_cost.png")

    values = [(r["number"], r["values"][0]) for r in sorted(rows, key=lambda r: r["number"])]
    figure = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    pick = min if plan["objective"] == "time" else max
    running, best_so_far = [], None
    for _, v in values:
        best_so_far = v if best_so_far is None else pick(best_so_far, v)
        running.append(best_so_far)
    ax.scatter([n for n, _ in values], [v for _, v in values], s=14, color="tab:blue", label="trial")
    ax.plot([n for n, _ in values], running, color="tab:red", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel({"time": f"seconds to {plan.get('threshold')}", "penalized": "score - cost penalty",
                   "pareto": "score"}[plan["objective"]])
    ax.set_title(f"{plan['env']}: optimisation history")
    ax.legend(loc="best", fontsize=8)
    figure.tight_layout()
    files["history.png"] = _save(figure, out / "history.png")

    importances = _importances(study, plan)
    if importances:
        figure = Figure(figsize=(7, 0.5 + 0.4 * len(importances)), dpi=100)
        FigureCanvasAgg(figure)
        ax = figure.add_subplot()
        names = list(importances)[::-1]
        ax.barh(names, [importances[n] for n in names], color="tab:green")
        ax.set_xlabel("importance (fANOVA)")
        ax.set_title(f"{plan['env']}: which settings mattered")
        figure.tight_layout()
        files["importances.png"] = _save(figure, out / "importances.png")
    return files


def _importances(study, plan):
    """Optuna's parameter importances for the (first) objective, or {} when they cannot be computed."""
    import optuna

    try:
        target = (lambda t: t.values[0]) if plan["objective"] == "pareto" else None
        return optuna.importance.get_param_importances(study, target=target)
    except (ValueError, RuntimeError, ZeroDivisionError):  # fewer than 2 trials, or one setting only
        return {}


def _save(figure, path):
    figure.savefig(path)
    return path
