"""Self-contained HTML reports of a fit: law, data, diagnostics, parameters, bands, predictions.

``write_report(fit, "report.html")`` writes one HTML file with every figure embedded as a
base64 PNG (no external files, no JavaScript), ready to open in a browser or paste into a
write-up. Optional sections: predictions at requested scales, a model-comparison table, a
crossover result, a compute multiplier, a ranking of recipes and a compute-optimal table.
``write_downstream_report(downstream_fit, "report.html")`` does the same for a
:func:`bayescale.fit_downstream` fit: loss law and link, diagnostics, the metric against loss,
forecasts per task and averaged over tasks, and the leave-future-out check of each task.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale import _arviz
from bayescale.law_error import beyond_reach_notes

__all__ = ["figure_to_data_uri", "parse_at", "write_downstream_report", "write_report"]

_STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; max-width: 60rem; margin: 2rem auto;
       color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
code { background: #f4f4f4; padding: 0 .2rem; } .ok { color: #1a7f37; } .bad { color: #b35900; }
figure { margin: 1rem 0; } figure img { max-width: 100%; } figcaption { font-size: .85rem; color: #555; }
.note { font-size: .85rem; color: #555; }
"""


def figure_to_data_uri(fig, dpi: int = 150) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI (the figure is closed).

    Parameters
    ----------
    fig : matplotlib Figure
        The figure to render (tight bounding box); it is closed afterwards.
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    str
        ``"data:image/png;base64,"`` followed by the PNG, for an ``<img src=...>``.
    """
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def parse_at(text: str | Sequence[str] | None) -> pd.DataFrame | None:
    """Scales to predict at from text: ``"N=7e9,D=2e12"``; several rows separated by ``;``.

    Parameters
    ----------
    text : str, sequence of str, or None
        ``name=value`` pairs separated by ``,``, rows separated by ``;``; a sequence (e.g. repeated
        ``--at`` options of the command line) adds the rows of each item. A value that is not a
        number is kept as text (a group label).

    Returns
    -------
    DataFrame or None
        One row per scale, one column per name; None for ``None`` or text without rows.

    Raises
    ------
    ValueError
        For an item that is not ``name=number``.
    """
    if text is None:
        return None
    items = [text] if isinstance(text, str) else list(text)
    rows = []
    for item in items:
        for row_text in item.split(";"):
            if not row_text.strip():
                continue
            row: dict[str, Any] = {}
            for pair in row_text.split(","):
                if "=" not in pair:
                    raise ValueError(f"at={row_text!r}: {pair!r} is not name=value; write e.g. --at N=7e9,D=2e12")
                key, value = (s.strip() for s in pair.split("=", 1))
                try:
                    row[key] = float(value)
                except ValueError:
                    row[key] = value  # a group label
            rows.append(row)
    return pd.DataFrame(rows) if rows else None


def _table(frame: pd.DataFrame, *, index: bool = False, digits: int = 4) -> str:
    formatted = frame.copy()
    for column in formatted.columns:
        if pd.api.types.is_float_dtype(formatted[column]):
            formatted[column] = formatted[column].map(lambda v: f"{v:.{digits}g}" if np.isfinite(v) else "")
    return formatted.to_html(index=index, escape=True, border=0)


def _figure(uri: str, caption: str) -> str:
    return f'<figure><img alt="{html.escape(caption)}" src="{uri}"><figcaption>{html.escape(caption)}</figcaption></figure>'


def _data_section(fit) -> str:
    data = fit.data
    y = fit.y
    parts = [
        (f"<p>{len(data)} rows; target <code>{html.escape(str(y))}</code> from "
         f"{data[y].min():.4g} to {data[y].max():.4g}.</p>")
    ]
    rows = []
    for name in fit.law.inputs:
        if name in data:
            rows.append({"input": name, "column": fit.columns.get(name, name),
                         "min": float(data[name].min()), "median": float(data[name].median()),
                         "max": float(data[name].max())})
    if rows:
        parts.append(_table(pd.DataFrame(rows)))
    levels = fit.levels
    for column, labels in levels.items():
        parts.append(f"<p>groups <code>{html.escape(column)}</code>: {html.escape(', '.join(map(str, labels)))}</p>")
    return "".join(parts)


def _diagnostics_section(fit) -> str:
    d = fit.diagnostics
    from bayescale.diagnostics import ESS_LIMIT, RHAT_LIMIT

    ok = d["max_rhat"] <= RHAT_LIMIT and d["min_ess_bulk"] >= ESS_LIMIT and not d["divergences"]
    status = '<span class="ok">converged</span>' if ok else '<span class="bad">check diagnostics</span>'
    meta = fit.meta
    settings = meta.get("settings")
    if settings is None:  # a DownstreamFit: its draws' shape and its meta hold the settings
        chains, draws = _arviz.chains_and_draws(fit.idata)
        settings = {"chains": chains, "draws": draws, "warmup": meta.get("warmup"),
                    "seed": meta.get("seed")}
    sampler = ", ".join(f"{k}={v}" for k, v in settings.items() if k in ("chains", "draws", "warmup", "seed"))
    likelihood = meta.get("likelihood") or meta.get("metric_likelihood", "")
    return (f"<p>{status}: max r_hat {d['max_rhat']:.3f} (limit {RHAT_LIMIT}), min bulk ESS "
            f"{d['min_ess_bulk']:.0f} (limit {ESS_LIMIT}), {d['divergences']} divergent transitions. "
            f"NUTS {html.escape(sampler)}; likelihood {html.escape(str(likelihood))}.</p>")


def _next_runs_section(table: pd.DataFrame) -> str:
    """What :func:`bayescale.next_runs` chose, in words and a table (the batch and the 10 best others)."""
    attrs = table.attrs
    if "var_now" not in attrs:
        raise ValueError("next_runs= must be the DataFrame bayescale.next_runs returned (its attrs hold the target)")
    picked = int((table["pick"] > 0).sum())
    budget = attrs.get("budget")
    spend = (f" within a budget of {budget:.3g} ({attrs['batch_cost']:.3g} spent)" if budget is not None
             else f" ({attrs['batch_cost']:.3g} in all)")  # fmt: skip
    text = (f"<p class='note'>Target: {html.escape(str(attrs['target']))}; the gain is the expected reduction of the "
            f"{html.escape(str(attrs['units']))}, now {attrs['var_now']:.4g}. The {picked} run(s) marked "
            f"<code>pick</code> 1.. are expected to remove {attrs['batch_gain']:.4g} of it together, at a cost of "
            f"{html.escape(str(attrs['cost']))}{spend}; importance-reweighted posterior draws, no refit "
            "(<code>ess</code>: draws behind each gain).</p>")
    return text + _table(table.head(picked + 10))


def write_report(
    fit,
    path: str | Path,
    *,
    at: pd.DataFrame | str | Sequence[str] | None = None,
    x: str | None = None,
    title: str | None = None,
    level: float = 0.9,
    comparison: pd.DataFrame | Mapping[str, Any] | None = None,
    crossover=None,
    compute_optimal: pd.DataFrame | Sequence[float] | None = None,
    extrapolate: float = 10.0,
    calibration=None,
    notes: str | None = None,
    multiplier=None,
    ranking=None,
    next_runs: pd.DataFrame | None = None,
) -> Path:
    """Write a self-contained HTML report of ``fit``.

    Parameters
    ----------
    fit : Fit
    path : str or Path
        Output ``.html`` file (parent folders are created).
    at : DataFrame or str, optional
        Scales to predict at: a DataFrame of inputs, or text ``"N=7e9,D=2e12;N=7e10,D=2e13"``.
    x : str, optional
        Horizontal axis of the band plot (default: the only input, or ``C``).
    title : str, optional
    level : float
        Mass of the prediction intervals in the table.
    comparison : DataFrame or mapping of str to Fit, optional
        A :func:`bayescale.compare` table, or fits to compare with ``fit`` by LOO.
    crossover : Crossover, optional
        A :func:`bayescale.crossovers.crossover` result: its summary and plot are added.
    compute_optimal : DataFrame or sequence of float, optional
        A :func:`bayescale.optimal.compute_optimal` table, or FLOP budgets to compute one at
        (laws of N and D): table and N*(C), D*(C) plot.
    extrapolate : float
        The band plot runs to this multiple of the largest ``x`` in the data.
    calibration : Calibration or True, optional
        A :meth:`Fit.calibrate` result, or True to run it (a refit without the top fifth of the
        runs, the one that sized the predictions' law error, reused): how often the intervals
        would have covered the largest runs.
    notes : str, optional
        Free text placed under the title (escaped).
    multiplier : ComputeMultiplier, optional
        A :func:`bayescale.compute_multiplier` result: its table and its plot of ``k`` against compute.
    ranking : Ranking, optional
        A :func:`bayescale.rank` result: the ranking table and the pairwise probabilities.
    next_runs : DataFrame, optional
        A :func:`bayescale.next_runs` result: the chosen runs and the best others, with the
        target, its variance now and after.

    Returns
    -------
    Path
        The written file.
    """
    import matplotlib.pyplot as plt  # any backend: figures are rendered to PNG and closed, never shown

    from bayescale.plots import style  # the report's figures use bayescale's column-width style sheet

    path = Path(path)
    law = fit.law
    heading = title or f"Scaling-law fit: {law.name}"
    sections: list[str] = [f"<h1>{html.escape(heading)}</h1>"]
    if notes:
        sections.append(f"<p>{html.escape(notes)}</p>")
    sections.append(
        "<h2>Law</h2>"
        f"<p><code>{html.escape(law.formula)}</code></p>"
        f"<p>{html.escape(law.description)}</p>"
        f"<p class='note'>Reference: {html.escape(law.reference)}. Better: {'lower' if law.lower_is_better else 'higher'}.</p>"
    )
    sections.append("<h2>Data</h2>" + _data_section(fit))
    sections.append("<h2>Diagnostics</h2>" + _diagnostics_section(fit))
    summary = fit.summary(level)
    sections.append(f"<h2>Parameters</h2><p class='note'>Posterior mean, sd and {level:.0%} highest-density "
                    "interval of each population parameter.</p>" + _table(summary, index=True))

    with style():
        band_plot = figure_to_data_uri(fit.plot(x=x, extrapolate=extrapolate).figure)
    sections.append("<h2>Fit and uncertainty bands</h2>" + _figure(
        band_plot,
        "Runs, posterior median and 50% / 90% credible bands of the curve; the shaded region is extrapolation."))

    rows = parse_at(at) if not isinstance(at, pd.DataFrame) else at
    if rows is not None and len(rows):
        prediction, beyond = _notes_beyond_reach(lambda: fit.predict(rows, level=level))
        sections.append(
            f"<h2>Predictions</h2><p class='note'><code>lower</code>/<code>upper</code>: {level:.0%} credible interval "
            "of the curve (parameter uncertainty, plus the law error beyond the fitted runs, sized by "
            "how far the ladder's top fifth lands from a refit without it); "
            "<code>pred_lower</code>/<code>pred_upper</code>: a new single run (plus run-to-run noise).</p>"
            + _table(prediction) + beyond
        )

    if calibration is not None:
        check = fit.calibrate() if calibration is True else calibration
        note = "" if check.guaranteed else " Too few runs were held out for the conformal guarantee at this level."
        sections.append(
            f"<h2>Leave-future-out check</h2><p class='note'>Refit without the {len(check.runs)} largest runs, "
            + ("then predicted them without the law error. " if check.checked_with is False else
               "then predicted them with the learned law error (not sized by those runs, as the predictions "
               "above are). ")
            + f"Those intervals would widen to the nominal {check.level:.0%}: "
            f"x{check.factor:.2f} (<code>calibration.predict</code>).{note}</p>"
            + _table(check.summary(), index=True) + _table(check.runs)
        )

    if comparison is not None:
        if isinstance(comparison, Mapping):
            from bayescale.comparison import compare

            table = compare(dict(comparison))
        else:
            table = comparison
        sections.append("<h2>Model comparison</h2><p class='note'>Best first; differences under about two "
                        "<code>dse</code> are not a clear preference.</p>" + _table(table, index=True))

    if crossover is not None:
        with style():
            crossover_plot = figure_to_data_uri(crossover.plot().figure)
        sections.append("<h2>Crossover</h2>" + _table(crossover.summary()) + _figure(
            crossover_plot,
            "Both curves with 90% credible bands; the grey span is the interval of the first crossing."))

    if multiplier is not None:
        a, b = multiplier.names
        ax = multiplier.plot()
        sections.append(
            f"<h2>Compute multiplier</h2><p class='note'>k = compute {html.escape(b)} needs / compute "
            f"{html.escape(a)} needs for the same {html.escape(str(multiplier.ylabel or 'loss'))} (k &gt; 1: "
            f"{html.escape(a)} needs less); median and {multiplier.level:.0%} credible interval of the curves"
            f"{', law error beyond the fitted runs included' if multiplier.law_error else ''}; "
            "<code>prob_a_better</code> = P(k &gt; 1).</p>" + _table(multiplier.summary()) + _figure(
                figure_to_data_uri(ax.figure), "Compute multiplier k against compute: median and credible band."))

    if ranking is not None:
        sections.append(
            f"<h2>Ranking of recipes</h2><p class='note'>At {html.escape(ranking.at_text())}; best first (least "
            "expected regret, in the target's units); <code>p_best</code>: probability of being the best.</p>"
            + _table(ranking.summary(), index=True) + "<p class='note'>P(row better than column):</p>"
            + _table(ranking.pairwise(), index=True))

    if next_runs is not None:
        sections.append("<h2>The next runs that would help most</h2>" + _next_runs_section(next_runs))

    if compute_optimal is not None:
        from bayescale.optimal import compute_optimal as _compute_optimal
        from bayescale.plots import plot_compute_optimal

        if isinstance(compute_optimal, pd.DataFrame):
            table = compute_optimal
            beyond = ""
        else:
            table, beyond = _notes_beyond_reach(lambda: _compute_optimal(fit, list(compute_optimal), level=level))
        wide = table.pivot(index="C", columns="quantity", values="median").reset_index()
        budgets = np.sort(table["C"].unique())
        with style():
            ax = plot_compute_optimal(fit, np.geomspace(budgets.min() / 10, budgets.max() * 10, 60))
            allocation_plot = figure_to_data_uri(ax.figure)
        sections.append("<h2>Compute-optimal allocation</h2>" + _table(table) +
                        "<p class='note'>Medians:</p>" + _table(wide) + _figure(
                            allocation_plot,
                            "Compute-optimal parameters N*(C) and tokens D*(C): median and 90% band.") + beyond)
    plt.close("all")
    return _write_page(path, heading, sections)


def _notes_beyond_reach(compute: Callable[[], Any]) -> tuple[Any, str]:
    """``compute()`` with its :class:`~bayescale.ExtrapolationWarning` as notes of the page, where the
    intervals are read (:func:`bayescale.law_error.beyond_reach_notes`)."""
    value, notes = beyond_reach_notes(compute, stacklevel=3)
    return value, "".join(f"<p class='note'><b>Beyond the measured law error:</b> {html.escape(note)}</p>" for note in notes)


def _write_page(path: Path, heading: str, sections: list[str]) -> Path:
    """The sections as one HTML page with a stamp of the version and time; written to ``path``."""
    from bayescale._version import __version__

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sections = [*sections, f"<p class='note'>Made by bayescale {__version__} on {stamp}.</p>"]
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(heading)}</title><style>{_STYLE}</style></head><body>"
            + "\n".join(sections) + "</body></html>\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _downstream_model_section(fit) -> str:
    law, link, meta = fit.law, fit.link, fit.meta
    approach = ("joint: the loss law is fitted to the runs' losses and the link maps it to the metric"
                if meta["approach"] == "joint" else "direct: the metric is a function of the inputs alone")
    tasks = (f" Every link parameter varies by <code>{html.escape(str(fit.by))}</code>, partially pooled over "
             f"the {len(fit.tasks)} tasks; each task has its own metric noise." if fit.by else "")
    return (f"<p>Loss law <code>{html.escape(law.formula)}</code> ({html.escape(law.name)}; "
            f"{html.escape(law.reference)}).</p>"
            f"<p>Link <code>{html.escape(link.formula)}</code> ({html.escape(link.name)}; "
            f"{html.escape(link.reference)}). {html.escape(link.description)}</p>"
            f"<p class='note'>Approach {html.escape(approach)}. Metric <code>{html.escape(fit.y)}</code> "
            f"({html.escape(meta['metric_kind'])}), likelihood {html.escape(fit.metric_likelihood.name)}.{tasks}</p>")


def _downstream_data_section(fit) -> str:
    data, metric = fit.data, fit.y
    runs = len(np.unique(np.asarray(fit.run_codes)))
    text = (f"<p>{len(data)} rows from {runs} runs; <code>{html.escape(metric)}</code> from "
            f"{data[metric].min():.4g} to {data[metric].max():.4g}.</p>")
    if fit.by:
        text += f"<p>Tasks (<code>{html.escape(str(fit.by))}</code>): {html.escape(', '.join(fit.tasks))}</p>"
    return text


def _downstream_predictions(fit, rows: pd.DataFrame, level: float) -> str:
    from bayescale.downstream_fit import cross_tasks

    note = (f"<p class='note'><code>lower</code>/<code>upper</code>: {level:.0%} credible interval of the "
            "metric's curve (loss law and link, plus the law error beyond the fitted runs); "
            "<code>pred_lower</code>/<code>pred_upper</code>: a new run (plus the metric's noise); "
            "<code>loss_*</code>: the loss law's curve.</p>")
    if not fit.by:
        return note + _table(fit.predict(rows, level=level))
    runs = rows.drop(columns=[fit.by], errors="ignore").drop_duplicates().reset_index(drop=True)
    average = fit.predict_average(runs, level=level)
    per_task = fit.predict(cross_tasks(runs, fit.by, fit.tasks), level=level)
    per_task = per_task.drop(columns=["loss_median", "loss_lower", "loss_upper"])  # as in the average's table
    return (note + f"<p>Averaged over the {len(fit.tasks)} tasks, draw by draw:</p>" + _table(average)
            + "<p>Task by task:</p>" + _table(per_task))


def write_downstream_report(
    fit,
    path: str | Path,
    *,
    at: pd.DataFrame | str | Sequence[str] | None = None,
    title: str | None = None,
    level: float = 0.9,
    check: pd.DataFrame | bool | None = None,
    notes: str | None = None,
) -> Path:
    """Write a self-contained HTML report of a :func:`bayescale.fit_downstream` fit.

    Sections: the loss law and the link, the data (runs, tasks), diagnostics, the parameters, the
    metric against loss (for a fit by task: the tasks' average, and each task that the check flags),
    forecasts at ``at`` (per task and averaged over tasks), and the leave-future-out check of each
    task (:func:`bayescale.check_tasks`).

    Parameters
    ----------
    fit : DownstreamFit
    path : str or Path
        Output ``.html`` file (parent folders are created).
    at : DataFrame or str, optional
        Runs to forecast: the loss law's inputs (``"N=6.9e9,D=1.4e11"``; ``;`` separates runs) and,
        for a fit without tasks, the chance column where the fit has one. A fit by task forecasts
        every task at each run.
    title : str, optional
    level : float
        Mass of the intervals.
    check : DataFrame or True, optional
        A :func:`bayescale.check_tasks` table, or True to run it (a refit without the top fifth of
        the runs); a fit by task only.
    notes : str, optional
        Free text placed under the title (escaped).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        For ``check`` with a fit that has no tasks.
    """
    import matplotlib.pyplot as plt

    from bayescale.grid import default_x
    from bayescale.plots import style

    checked = check is not None and check is not False
    if checked and not fit.by:
        raise ValueError("check= tests each task's forecasts: it needs a fit by task, fit_downstream(..., by='task')")
    path = Path(path)
    heading = title or f"Downstream forecast: {fit.y} from {fit.law.name} loss and the {fit.link.name} link"
    sections: list[str] = [f"<h1>{html.escape(heading)}</h1>"]
    if notes:
        sections.append(f"<p>{html.escape(notes)}</p>")
    sections.append("<h2>Model</h2>" + _downstream_model_section(fit))
    sections.append("<h2>Data</h2>" + _downstream_data_section(fit))
    sections.append("<h2>Diagnostics</h2>" + _diagnostics_section(fit))
    sections.append(f"<h2>Parameters</h2><p class='note'>Posterior mean, sd and {level:.0%} highest-density "
                    "interval; <code>link_*</code> are the link's (for a fit by task, their values "
                    "across tasks).</p>" + _table(fit.summary(level), index=True))
    table: pd.DataFrame | None = None
    if checked:
        from bayescale.task_check import check_tasks

        table = check_tasks(fit, level=level) if isinstance(check, bool) else check
    x = "loss" if fit.meta["approach"] == "joint" else default_x(fit)
    figures = []
    with style():
        if x == "loss" or not fit.by:
            figures.append(_figure(figure_to_data_uri(fit.plot(x=x, level=level).figure),
                                   f"The metric against {x}: posterior median and {level:.0%} band"
                                   + (" (the tasks' average link; each run at its average score)." if fit.by else ".")))
        flagged = [] if table is None else [str(t) for t in table.index[~table["follows_link"].astype(bool)]]
        for task in flagged[:6]:
            figures.append(_figure(figure_to_data_uri(fit.plot(x=x, level=level, task=task).figure),
                                   f"{task}: flagged by the leave-future-out check."))
    sections.append("<h2>Metric and uncertainty bands</h2>" + "".join(figures))
    rows = parse_at(at) if not isinstance(at, pd.DataFrame) else at
    if rows is not None and len(rows):
        sections.append("<h2>Forecasts</h2>" + _downstream_predictions(fit, rows, level))
    if table is not None:
        attrs = table.attrs
        unmixed = ([str(t) for t in table.index[~table["converged"].astype(bool)]]
                   if "converged" in table else [])  # a table from before the column
        converged = ("" if attrs.get("converged", True)
                     else " The refit's forecast of the held-out runs did not meet the convergence rule"
                     + (f" (tasks: {', '.join(unmixed)}; column <code>converged</code>)." if unmixed else "."))
        sections.append(
            f"<h2>Which tasks to trust</h2><p class='note'>Refit without the {attrs.get('holdout_runs', '?')} "
            f"largest runs, then predicted every task there: a task is flagged (<code>follows_link</code> False) "
            f"when its {attrs.get('level', level):.0%} intervals covered its held-out scores less often than a "
            f"binomial test allows. Do not trust the forecasts of a flagged task.{converged}</p>"
            + _table(table.reset_index()))
    plt.close("all")
    return _write_page(path, heading, sections)
