"""Plots for reports and notebooks: the data, the posterior curve, and its uncertainty bands.

Every function takes ``ax=None`` (a new figure is made) and returns the Axes; none calls
``plt.show()``. Font sizes, figure size, legend frame and grid follow your matplotlib rcParams
and style sheets; the plots bring labelled axes with units, a legend, log axes, and bands that
stay readable in greyscale. For paper figures at column width, opt into bayescale's style sheet:

>>> with bs.plots.style():                     # doctest: +SKIP
...     fit.plot().figure.savefig("band.pdf")
>>> plt.style.use(bs.plots.STYLE)               # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from bayescale.data import training_compute
from bayescale.grid import default_x, input_name, path_inputs
from bayescale.law_error import extrapolation_distance, learned_reach
from bayescale.results import Posterior

#: Axis labels with units for the canonical inputs.
AXIS_LABELS = {
    "N": "parameters N",
    "D": "training tokens D",
    "C": "training compute C (FLOPs)",
    "D_per_N": "tokens per parameter D/N",
    "M": "tokens per parameter M",
    "x": "x",
}
BAND_LEVELS = (0.5, 0.9)
#: bayescale's matplotlib style sheet for paper figures (column-sized figure, small fonts, light
#: grid): ``plt.style.use(STYLE)``, or :func:`style` for a with-block. Plots never apply it themselves.
STYLE = Path(__file__).with_name("bayescale.mplstyle")


def style() -> contextlib.AbstractContextManager[None]:
    """Use bayescale's paper style sheet (:data:`STYLE`) inside a ``with`` block.

    Figures made inside the block are 4 x 3 in (a journal column once scaled), with 9 pt labels,
    8 pt ticks, a 7.5 pt legend on a light box and a light grid; outside it, your rcParams rule.
    """
    return plt.style.context(str(STYLE))


def style_axes(ax, *, legend: bool = True, legend_loc: str = "best") -> None:
    """Draw the legend (keeping the handles of a legend already made) at ``legend_loc``.

    Its font size and frame, like the axes' fonts and grid, come from the rcParams: the user's
    own, or bayescale's paper style sheet inside :func:`style`.
    """
    if legend and ax.get_legend() is not None:  # keep the handles of a legend already made
        handles, labels = ax.get_legend().legend_handles, [t.get_text() for t in ax.get_legend().get_texts()]
    else:
        handles, labels = ax.get_legend_handles_labels()
    if legend and handles:
        ax.legend(handles, labels, loc=legend_loc)


def plain_log_ticks(axis) -> None:
    """Label a log axis spanning less than a few decades with plain numbers (3.5, not 3.5x10^0)."""
    low, high = axis.get_view_interval()
    if low > 0 and high / low < 1e3:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(NullFormatter())


def plot_fit(
    fit: Posterior,
    x: str | None = None,
    *,
    ax: matplotlib.axes.Axes | None = None,
    extrapolate: float = 10.0,
    fixed: Mapping[str, float] | None = None,
    group: str | None = None,
    n_grid: int = 120,
    seed: int = 0,
    ylabel: str | None = None,
    law_error=True,
) -> matplotlib.axes.Axes:
    """Draw the data, the posterior median curve and its 50% and 90% credible bands.

    Parameters
    ----------
    fit : Fit
    x : str, optional
        Horizontal axis: an input of the law, or ``"C"`` (compute) for laws of ``N`` and ``D``.
        Default: the only input, or ``C``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.
    extrapolate : float
        The curve runs from the smallest ``x`` in the data to ``extrapolate`` times the largest;
        the region beyond the data is shaded and labelled.
    fixed : mapping, optional
        Values of the other inputs along the curve (see :func:`bayescale.grid.path_inputs`).
    group : str, optional
        Grouping column whose levels get one curve each; default the fit's first grouping column.
    n_grid : int
        Points along the curve.
    seed : int
        Seed for the posterior draws.
    ylabel : str, optional
        Label of the vertical axis, with its unit (e.g. ``"validation loss (nats/token)"``); default the
        name of the fitted column.
    law_error : bool or LawError
        Whether the bands beyond the data carry the law error (as :meth:`Fit.predict`); ``False``
        shows parameter uncertainty alone. With the default, a dotted line marks where the curve
        passes the furthest distance the law error was learned at
        (:func:`bayescale.law_error.learned_reach`): beyond it the bands rest on the error model's
        own extrapolation, and may be too narrow.

    Returns
    -------
    matplotlib.axes.Axes
    """
    x = x or default_x(fit)
    data = fit.data
    if x not in data.columns:
        raise ValueError(f"x={x!r} is not an input or derived feature of this fit; choose from {list(data.columns)}")
    if ax is None:
        _, ax = plt.subplots()
    if extrapolate < 1:
        raise ValueError(f"extrapolate={extrapolate!r} must be >= 1 (1 means no extrapolation)")
    lo, hi = float(data[x].min()), float(data[x].max())
    grid = np.geomspace(lo, hi * extrapolate, n_grid)
    path = path_inputs(fit, x, grid, fixed)

    group = group or next(iter(fit.levels), None)
    if group is not None and group not in fit.levels:
        raise ValueError(f"group={group!r} is not a grouping column of this fit ({list(fit.levels)})")
    series = [(None, None)] if group is None else [(label, label) for label in fit.levels[group]]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    entries: list[tuple[tuple, str]] = []
    for i, (label, level) in enumerate(series):
        color = colors[i % len(colors)]
        frame = path.copy()
        if group is not None:
            frame[group] = level
        _, curve, _ = fit.posterior_draws(frame, seed=seed, law_error=law_error)
        for band, alpha in zip(BAND_LEVELS, (0.35, 0.18), strict=True):
            tail = (1 - band) / 2
            lower, upper = np.quantile(curve, [tail, 1 - tail], axis=0)
            ax.fill_between(grid, lower, upper, color=color, alpha=alpha, linewidth=0)
            if band == max(BAND_LEVELS):  # thin edges keep a narrow band visible at column width
                for edge in (lower, upper):
                    ax.plot(grid, edge, color=color, linewidth=0.5, alpha=0.7)
        (line,) = ax.plot(grid, np.median(curve, axis=0), color=color, linewidth=1.6)
        points = data if group is None else data[data[group] == level]
        dots = ax.scatter(points[x], points[fit.y], s=12, color=color, edgecolor="white", linewidth=0.4, zorder=3)
        # one legend entry per series: its runs and its median curve
        entries.append(((dots, line), str(label) if label is not None else "runs, posterior median"))
    if extrapolate > 1:
        ax.axvspan(hi, grid[-1], color="0.92", zorder=0)
        ax.text(hi * extrapolate**0.5, 0.97, "extrapolation", transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize="small", color="0.35")
        if law_error is True:
            _mark_learned_reach(ax, grid, extrapolation_distance(fit.law, fit.fitted_inputs, path))
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis)
    ax.set_xlabel(AXIS_LABELS.get(x, x))
    ax.set_ylabel(ylabel or fit.y)
    title = f"{fit.law.name}: median, 50% and 90% credible bands"
    if x == "C" and x not in fit.law.inputs:
        ratio = (fixed or {}).get("D_per_N", float(np.median(data["D"] / data["N"])))
        title += f"\n(curve at D/N = {ratio:.3g})"
    ax.set_title(title)
    from matplotlib.legend_handler import HandlerTuple
    from matplotlib.patches import Patch

    handles: list[Any] = [h for h, _ in entries]
    labels = [text for _, text in entries]
    for band, alpha in zip(BAND_LEVELS, (0.35 + 0.18, 0.18), strict=True):
        handles.append(Patch(facecolor="0.4", alpha=alpha, linewidth=0))
        labels.append(f"{band:.0%} credible band")
    style_axes(ax, legend=False)
    # a falling curve leaves the lower left empty, a rising one the lower right
    ordered = data.sort_values(x)[fit.y].to_numpy()
    ax.legend(handles, labels, handler_map={tuple: HandlerTuple(ndivide=None, pad=0.3)},
              loc="lower left" if ordered[-1] <= ordered[0] else "lower right", handlelength=2.4)
    return ax


def _mark_learned_reach(ax: matplotlib.axes.Axes, grid: np.ndarray, distance: np.ndarray) -> None:
    """A dotted line where the curve passes the furthest distance the law error was learned at
    (:func:`bayescale.law_error.learned_reach`): beyond it the bands rest on the error model's own
    extrapolation (where :meth:`Fit.predict` raises an :class:`~bayescale.ExtrapolationWarning`)."""
    reach = learned_reach()
    beyond = np.flatnonzero(distance > reach) if reach is not None else np.array([], dtype=int)
    if not len(beyond):
        return
    at = float(grid[beyond[0]])
    ax.axvline(at, color="0.35", linestyle=":", linewidth=1.0, zorder=1, gid="learned_reach")
    ax.text(at, 0.5, "law error measured up to here ", transform=ax.get_xaxis_transform(), rotation=90,
            ha="right", va="center", fontsize="x-small", color="0.35")


def plot_calibration(
    coverage: pd.DataFrame, *, ax: matplotlib.axes.Axes | None = None, title: str | None = None
) -> matplotlib.axes.Axes:
    """Reliability diagram: nominal against observed coverage of intervals, one line per method.

    Parameters
    ----------
    coverage : DataFrame
        Columns ``method``, ``level`` (nominal coverage in (0, 1)) and ``coverage`` (the share of
        held-out runs inside the interval), one row per method and level; e.g. from
        ``benchmarks/calibration.py``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.
    title : str, optional
        Title of the axes; none by default.

    Returns
    -------
    matplotlib.axes.Axes
        Points on the diagonal are calibrated; below it, intervals are too narrow.
    """
    missing = {"method", "level", "coverage"} - set(coverage.columns)
    if missing:
        raise ValueError(f"plot_calibration(coverage): columns {sorted(missing)} are missing; "
                         "it needs one row per method and level with columns method, level, coverage")  # fmt: skip
    if ax is None:
        _, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], color="0.5", linewidth=0.8, linestyle=":", label="calibrated")
    markers = "osD^vP*X"
    for i, (method, rows) in enumerate(coverage.groupby("method", sort=False)):
        rows = rows.sort_values("level")
        ax.plot(rows["level"], rows["coverage"], marker=markers[i % len(markers)], markersize=4, linewidth=1.2,
                label=str(method))  # fmt: skip
    ax.set_xlim(0.4, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("nominal coverage")
    ax.set_ylabel("observed coverage")
    if title:
        ax.set_title(title)
    style_axes(ax, legend=False)
    # below the axes: the lines of miscalibrated methods fill every corner of the square
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    return ax


def _task_rows(fit, frame: pd.DataFrame, task: str | None) -> pd.DataFrame:
    """The rows of one task of a fit ``by`` task, or the runs' scores averaged over its tasks."""
    if not fit.by:
        return frame
    if task is not None:
        return frame[frame[fit.by].astype(str) == str(task)]
    run = [fit.columns.get(name, name) for name in fit.law.inputs] + [fit.meta["loss"]] + [
        column for columns in fit.meta["grouping"].values() for column in columns]
    keys = list(dict.fromkeys(c for c in run if c is not None and c in frame.columns))
    return frame.groupby(keys, as_index=False, sort=False)[fit.y].mean()


def plot_downstream(fit, x: str = "loss", *, ax=None, data: pd.DataFrame | None = None,
                    level: float = 0.9, n_grid: int = 100, law_error=True, task: str | None = None):
    """Observed metric of a :class:`~bayescale.DownstreamFit` against loss or an input, with the
    posterior median and band of the link (what ``DownstreamFit.plot`` draws).

    With ``x="loss"`` the band is the link alone over a loss grid at the median chance floor;
    with ``x`` an input (or ``"C"``) it is the full joint prediction along the data's path.
    ``data`` adds held-out rows (drawn as open markers). ``law_error`` (as in
    :meth:`DownstreamFit.predict`) widens the band of an input path beyond the fitted runs. For a
    fit ``by`` task, ``task`` draws one task's link and runs; without it (``x="loss"`` only) the
    band is the tasks' average link and each run is drawn at its score averaged over the tasks.
    """
    if task is not None and not fit.by:
        raise ValueError(f"task={task!r}: this fit has no tasks; fit with fit_downstream(..., by='task')")
    if fit.by and task is None and x != "loss":
        raise ValueError(f"x={x!r} with a fit by task draws one task: give task=, one of {fit.tasks[:5]}...")
    if ax is None:
        _, ax = plt.subplots()
    metric = fit.y
    train = _task_rows(fit, fit.data, task)
    data = None if data is None else _task_rows(fit, data, task)
    tail = (1 - level) / 2
    if x == "loss":
        if fit.meta["approach"] != "joint":
            raise ValueError("x='loss' needs a joint fit (the direct approach has no loss); use x='C' or an input")
        lo, hi = float(train[fit.meta["loss"]].min()), float(train[fit.meta["loss"]].max())
        if data is not None:
            lo = min(lo, float(data[fit.meta["loss"]].min()))
        grid = np.linspace(lo * 0.95, hi * 1.02, n_grid)
        curve = fit.link_draws(grid, task=task)
        xs_train, xs_data = train[fit.meta["loss"]], None if data is None else data[fit.meta["loss"]]
        label = f"loss ({fit.meta['loss']})"
    else:
        source = pd.concat([train, data]) if data is not None else train
        values = source[x] if x in source else training_compute(source["N"], source["D"])
        grid = np.geomspace(float(values.min()), float(values.max()), n_grid)
        frame = path_inputs(fit, input_name(fit, x), grid)
        if isinstance(fit.meta["chance"], str):  # the path runs at the median chance floor of the data
            frame[fit.meta["chance"]] = float(np.median(train[fit.meta["chance"]]))
        if fit.by:
            frame[fit.by] = task
        _, curve, _ = fit.posterior_draws(frame, law_error=law_error)
        xs_train = train[x] if x in train else training_compute(train["N"], train["D"])
        xs_data = None if data is None else (data[x] if x in data else training_compute(data["N"], data["D"]))
        ax.set_xscale("log")
        label = AXIS_LABELS.get(x, x)
    lower, upper = np.quantile(curve, [tail, 1 - tail], axis=0)
    ax.fill_between(grid, lower, upper, color="C0", alpha=0.25, linewidth=0, label=f"{level:.0%} credible band")
    ax.plot(grid, np.median(curve, axis=0), color="C0", linewidth=1.6, label="posterior median")
    ax.scatter(xs_train, train[metric], s=12, color="C0", edgecolor="white", linewidth=0.4, zorder=3, label="fitted runs")
    if data is not None:
        ax.scatter(xs_data, data[metric], s=30, facecolor="none", edgecolor="C3", zorder=4, label="held-out runs")
    ax.set_xlabel(label)
    ax.set_ylabel(metric)
    which = "" if not fit.by else f", {task}" if task is not None else f", average of {len(fit.tasks)} tasks"
    ax.set_title(f"{fit.link.name} link, {fit.meta['approach']} model{which}")
    style_axes(ax)
    return ax


def plot_crossover(result, *, ax=None, band: float = 0.9):
    """Median and ``band`` credible band of both curves of a :class:`~bayescale.Crossover`, with the
    crossing interval shaded (what ``Crossover.plot`` draws); returns the Axes."""
    if ax is None:
        _, ax = plt.subplots()
    tail = (1 - band) / 2
    observed = result.observed or (None, None)
    styles = (("C0", "-", "o"), ("C1", "--", "s"))
    curves_ab = (result.curves_a, result.curves_b)
    for curves, name, (color, line, marker), runs in zip(curves_ab, result.names, styles, observed, strict=True):
        lower, upper = np.quantile(curves, [tail, 1 - tail], axis=0)
        ax.fill_between(result.grid, lower, upper, color=color, alpha=0.25, linewidth=0)
        for edge in (lower, upper):  # thin band edges keep overlapping bands apart in greyscale
            ax.plot(result.grid, edge, color=color, linestyle=line, linewidth=0.5, alpha=0.8)
        ax.plot(result.grid, np.median(curves, axis=0), color=color, linestyle=line, linewidth=1.6,
                label=f"{name}: median, {band:.0%} band")
        if runs is not None:
            ax.scatter(runs[0], runs[1], s=12, marker=marker, color=color, edgecolor="white", linewidth=0.4,
                       zorder=3, label=f"{name} runs")
    s = result.summary().iloc[0]
    if np.isfinite(s["lower"]):
        ax.axvspan(s["lower"], s["upper"], color="0.5", alpha=0.15, zorder=0,
                   label=f"crossing {result.level:.0%} interval (P = {s['probability']:.2f})")
        ax.axvline(s["median"], color="0.3", linestyle="--", linewidth=0.8)
    else:
        ax.plot([], [], " ", label=f"P(cross in range) = {s['probability']:.2f}")
    ax.set_xscale("log")
    ax.set_xlabel(AXIS_LABELS.get(result.x, result.x))
    better = "lower is better" if result.lower_is_better else "higher is better"
    ax.set_ylabel(f"{result.ylabel} ({better})" if result.ylabel else f"curve ({better})")
    ax.set_title(f"crossover of {result.names[0]} and {result.names[1]}")
    style_axes(ax)
    return ax


def plot_multiplier(result, *, ax=None, band: float | None = None):
    """The multiplier's median and credible band against compute (or loss), ``k = 1`` marked.

    Parameters
    ----------
    result : ComputeMultiplier
        From :func:`bayescale.compute_multiplier`.
    ax : matplotlib Axes, optional
        Where to draw; a new column-width figure when None.
    band : float, optional
        Mass of the band; default the result's ``level``.

    Returns
    -------
    matplotlib Axes
    """
    band = result.level if band is None else float(band)
    if ax is None:
        _, ax = plt.subplots()
    tail = (1 - band) / 2
    lower, median, upper = result.quantiles((tail, 0.5, 1 - tail))
    finite = np.isfinite(np.log(np.where(result.k > 0, result.k, np.nan)))
    span = result.k[finite]
    top = float(np.max(span)) * 2 if span.size else result.max_factor
    bottom = float(np.min(span)) / 2 if span.size else 1 / result.max_factor

    def clip(v):  # censored draws (0, inf) drawn at the axis edge
        return np.clip(v, bottom, top)

    order = np.argsort(result.at)
    xs = result.at[order]
    ax.fill_between(xs, clip(lower[order]), clip(upper[order]), color="C0", alpha=0.25, linewidth=0,
                    label=f"{band:.0%} credible band")
    for edge in (lower, upper):
        ax.plot(xs, clip(edge[order]), color="C0", linewidth=0.5, alpha=0.8)
    ax.plot(xs, clip(median[order]), color="C0", linewidth=1.6, label="posterior median")
    ax.axhline(1.0, color="0.3", linestyle="--", linewidth=0.8, label="k = 1 (equal)")
    if result.by == "C" and result.data_ranges:
        edge = min(r[1] for r in result.data_ranges)  # beyond it, at least one recipe's runs end
        if xs[-1] > edge:
            ax.axvspan(max(edge, xs[0]), xs[-1], color="0.92", zorder=0)
            ax.text(np.sqrt(max(edge, xs[0]) * xs[-1]), 0.97, "extrapolation", transform=ax.get_xaxis_transform(),
                    ha="center", va="top", fontsize="small", color="0.35")  # fmt: skip
    ax.set_yscale("log")
    if result.by == "C":
        ax.set_xscale("log")
        ax.set_xlabel(AXIS_LABELS.get(result.x, result.x) + f" of {result.names[0]}")
    else:
        ax.set_xlabel(f"{result.ylabel or 'loss'} reached")
        if result.lower_is_better:
            ax.invert_xaxis()  # lower loss to the right: further along the ladder
    a, b = result.names
    ax.set_ylabel(f"compute multiplier k = C_{b} / C_{a}")
    p = result.prob_a_better
    ax.set_title(f"{a} over {b}: k > 1 means {a} needs less compute\n"
                 f"P(k > 1) from {p[order][0]:.2f} to {p[order][-1]:.2f}")  # fmt: skip
    style_axes(ax)
    return ax


def plot_compute_optimal(fit: Posterior, C: Sequence[float] | np.ndarray | None = None, *, ax=None, level: float = 0.9,
                         group: Mapping[str, str] | None = None):
    """``N*(C)`` and ``D*(C)`` with their median and ``level`` bands on log axes; returns the Axes."""
    if C is None:
        C_data = training_compute(fit.data["N"], fit.data["D"])
        C = np.geomspace(float(C_data.min()), float(C_data.max()) * 1e3, 60)
    C = np.asarray(C, dtype=float)
    if ax is None:
        _, ax = plt.subplots()
    from bayescale.optimal import optimal_draws

    draws = optimal_draws(fit, C, group=group)
    tail = (1 - level) / 2
    for quantity, color, label in (("N", "C0", "parameters N*"), ("D", "C1", "tokens D*")):
        lower, median, upper = np.quantile(draws[quantity], [tail, 0.5, 1 - tail], axis=0)
        ax.fill_between(C, lower, upper, color=color, alpha=0.25, linewidth=0)
        ax.plot(C, median, color=color, linewidth=1.6, label=f"{label} (median, {level:.0%} band)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(AXIS_LABELS["C"])
    ax.set_ylabel("parameters N* or tokens D*")
    ax.set_title(f"{fit.law.name}: compute-optimal allocation")
    style_axes(ax, legend_loc="upper left")
    return ax


def plot_ranking(result, *, ax=None):
    """Each recipe's median and interval at the target of a :class:`~bayescale.Ranking`, labelled with
    P(best) (what ``Ranking.plot`` draws); returns the Axes."""
    if ax is None:
        _, ax = plt.subplots()
    s = result.summary()
    ys = np.arange(len(s))[::-1]
    ax.errorbar(s["median"], ys, xerr=[s["median"] - s["lower"], s["upper"] - s["median"]], fmt="o", color="C0",
                markersize=4, capsize=2, linewidth=1.2, label=f"median, {result.level:.0%} interval")  # fmt: skip
    ax.set_yticks(ys, [f"{name}  (P best {p:.2f})" for name, p in zip(s.index, s["p_best"], strict=True)])
    better = "lower" if result.lower_is_better else "higher"
    ax.set_xlabel(f"{result.ylabel or 'curve'} at {result.at_text()} ({better} is better)")
    ax.set_title(f"ranking: best {result.best}")
    style_axes(ax)
    return ax
