"""The study page of ``autoencoders tune``: optimisation history, parameter importances, trials.

One self-contained HTML file (pictures inline), drawn with Optuna's matplotlib
plots: matplotlib is already a dependency, while Optuna's interactive plots need
plotly, another large package for two pictures.
"""

from __future__ import annotations

import base64
import html
import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from autoencoders.files import atomic_path

#: what the page says about the importances before there is enough to measure them
TOO_FEW = "needs two finished trials that differ in a searched option"


def figure_png(draw: Callable[[], Any]) -> str:
    """A base64 PNG of the plot ``draw()`` returns, with its figure closed afterwards."""
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():  # "experimental", and matplotlib's notes on legends
        warnings.simplefilter("ignore")
        ax = draw()
    figure = ax.figure
    figure.set_size_inches(7, 4.2)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)  # Optuna draws through pyplot, which keeps every figure open
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def study_page(study: optuna.Study, monitor: str) -> str:
    """The page's HTML."""
    from optuna.visualization import matplotlib as plots

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>study {html.escape(study.study_name)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;"
        "text-align:left}img{max-width:100%}</style></head><body>",
        f"<h1>Study {html.escape(study.study_name)}</h1>",
    ]
    if complete:
        best = study.best_trial
        parts.append(
            f"<p>{len(study.trials)} trials, {len(complete)} finished. Best: trial "
            f"{best.number}, {html.escape(monitor)} {best.value:.6g}.</p>"
        )
        history = figure_png(lambda: plots.plot_optimization_history(study))
        parts += ["<h2>Optimisation history</h2>", f"<img alt='history' src='data:image/png;base64,{history}'>"]  # fmt: skip
    else:
        parts.append(f"<p>{len(study.trials)} trials, none finished yet.</p>")
    parts.append("<h2>Parameter importances</h2>")
    varied = len({tuple(sorted(t.params.items())) for t in complete}) > 1
    try:
        if not varied:
            raise ValueError(TOO_FEW)
        importance = figure_png(lambda: plots.plot_param_importances(study))
    except (RuntimeError, ValueError, ZeroDivisionError):
        parts.append(f"<p>Not measured: {TOO_FEW}.</p>")
    else:
        parts.append(f"<img alt='importances' src='data:image/png;base64,{importance}'>")
    parts += ["<h2>Trials</h2>", _trial_table(study, monitor), "</body></html>"]
    return "\n".join(parts)


def _trial_table(study: optuna.Study, monitor: str) -> str:
    names = sorted({k for t in study.trials for k in t.params})
    head = ["trial", "state", monitor, *names, "run folder"]
    rows = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for t in study.trials:
        value = "" if t.value is None else f"{t.value:.6g}"
        state = t.state.name.lower() + (" (interrupted)" if t.user_attrs.get("interrupted") else "")
        cells = [str(t.number), state, value]
        cells += [_cell(t.params.get(n, "")) for n in names]
        cells.append(str(t.user_attrs.get("run_dir", "")))
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return "\n".join([*rows, "</table>"])


def _cell(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_study_page(path: Path, study: optuna.Study, monitor: str) -> Path:
    """Writes :func:`study_page` to ``path`` atomically."""
    page = study_page(study, monitor)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
