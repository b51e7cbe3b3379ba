"""Crossover detection: will method A still beat method B at the scale we cannot afford twice?

Claims that two scaling curves cross are usually read off a plot of two point fits. Here
every posterior draw gives a pair of curves over a range of scale ``x``; the draw crosses
when the sign of ``A - B`` changes inside the range. The fraction of crossing draws is the
posterior probability of a crossover, and the crossing points of those draws give its
distribution. Draws of two independent fits are paired by index (their posteriors are
independent, so any pairing is a draw of the joint posterior); two levels of one grouping
column of a single fit share each draw (the pairing is the joint posterior itself).

For laws of ``N`` and ``D`` the comparison follows a path through the (N, D) plane: the
compute-optimal allocation of each draw (``path="optimal"``), a fixed tokens-per-parameter ratio
(``path="ratio"``), or a fixed model size (``path="N"``).

References
----------
Nezhurina, M. et al. (2025). Scaling laws for robust comparison of open foundation
language-vision models and datasets. arXiv:2506.04598.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bayescale.data import tokens_for_compute
from bayescale.grid import input_name, path_inputs, x_values
from bayescale.law_error import extrapolation_distance, warn_beyond_learned_reach
from bayescale.results import Posterior

if TYPE_CHECKING:
    import matplotlib.axes

__all__ = ["Crossover", "crossover", "curve_draws_along"]


def curve_draws_along(
    fit: Posterior,
    x: str,
    grid: np.ndarray,
    *,
    path: str = "ratio",
    ratio: float | None = None,
    N: float | None = None,
    level: tuple[str, str] | None = None,
    seed: int = 0,
    law_error=True,
) -> np.ndarray:
    """Draws ``(draws, len(grid))`` of a fit's curve along a path on which ``x`` takes ``grid``.

    Curve draws: the law's curve under the posterior, with the law error beyond the fitted runs
    (:mod:`bayescale.law_error`), without run-to-run noise.

    Parameters
    ----------
    fit : Fit or DownstreamFit
    x : str
        An input of the law (or the column it was read from), or ``"C"`` for laws of N and D.
    grid : ndarray
        Values of ``x`` along the path.
    path : {"ratio", "optimal", "N"}
        For ``x="C"`` with a law of N and D: fixed ``D/N = ratio`` (default the data's median),
        the compute-optimal allocation of every draw, or fixed ``N``.
    ratio, N : float, optional
        The tokens per parameter of ``path="ratio"``, the model size of ``path="N"`` (required there).
    level : (column, label), optional
        Evaluate the curve of one level of a grouping column.
    seed : int
        Seed of the law error's drift. Curves drawn with one seed share the drift's dataset part
        (:meth:`bayescale.law_error.LawError.slopes`): pass the same seed for recipes compared on
        one benchmark.
    law_error : bool or LawError
        As in :meth:`Fit.predict`; on every path, the compute-optimal one included.

    Returns
    -------
    ndarray
        ``(draws, len(grid))``.

    Raises
    ------
    ValueError
        For an ``x`` that is neither an input, its column nor ``"C"`` of a law of N and D, an
        unknown ``path``, or ``path="N"`` without ``N``.
    """
    grid = np.asarray(grid, dtype=float)
    frame = _path_frame(fit, x, grid, path, ratio, N)
    if frame is None:  # the compute-optimal path: each draw's own optimum
        from bayescale.optimal import frontier_draws

        group = None if level is None else {level[0]: level[1]}
        return frontier_draws(fit, grid, group=group, law_error=law_error, seed=seed)
    if level is not None:
        frame[level[0]] = level[1]
    _, curve, _ = fit.posterior_draws(frame, seed=seed, law_error=law_error)
    return curve


def _path_frame(fit: Posterior, x: str, grid: np.ndarray, path: str, ratio: float | None,
                N: float | None) -> pd.DataFrame | None:
    """The law's inputs along the path on which ``x`` takes ``grid`` (:func:`curve_draws_along`);
    None for the compute-optimal path, whose inputs differ from draw to draw."""
    name = input_name(fit, x)
    inputs = set(fit.law.inputs)
    if name == "C" and {"N", "D"} <= inputs and "C" not in inputs:
        if path == "optimal":
            return None
        if path == "N":
            if N is None:
                raise ValueError("path='N' needs N=<model size>, e.g. N=1e9")
            return pd.DataFrame({"N": np.full_like(grid, float(N)), "D": tokens_for_compute(grid, float(N))})
        if path == "ratio":
            return path_inputs(fit, "C", grid, None if ratio is None else {"D_per_N": float(ratio)})
        raise ValueError(f"path={path!r} must be 'optimal', 'ratio' or 'N'")
    if name in inputs:
        return path_inputs(fit, name, grid)
    raise ValueError(
        f"x={x!r} is not an input of law {fit.law.name!r} ({list(fit.law.inputs)}), the column one was "
        "read from, or 'C' for a law of N and D"
    )


def _distance_along(fit: Posterior, x: str, values: np.ndarray, path: str, ratio: float | None, N: float | None,
                    level: tuple[str, str] | None) -> np.ndarray:
    """Decades beyond the fit's runs at ``values`` of ``x`` along the path (on the compute-optimal
    path, at the median optimum), as :func:`bayescale.law_error.extrapolation_distance` measures them."""
    frame = _path_frame(fit, x, values, path, ratio, N)
    if frame is None:
        from bayescale.optimal import optimal_draws, optimum_distance

        return optimum_distance(fit, optimal_draws(fit, values, group=None if level is None else {level[0]: level[1]}))
    return extrapolation_distance(fit.law, fit.fitted_inputs, frame)


def grouping_column(fit: Posterior, groups, column: str | None) -> str:
    """The grouping column of ``fit`` whose levels include all of ``groups`` (``column`` if given, checked)."""
    levels = fit.levels
    found = [c for c, labels in levels.items() if all(str(g) in labels for g in groups)]
    if column is None:
        if not found:
            raise ValueError(f"groups={list(groups)!r}: no grouping column of the fit has all of them ({levels})")
        return found[0]
    if column not in found:
        raise ValueError(f"column={column!r} is not a grouping column with levels {list(groups)!r}; columns: {levels}")
    return column


def resolve_pair(fit_a, fit_b, groups, column, names, lower_is_better):
    """The two curves of a pairwise comparison: ``(fits, where, names, lower_is_better)``.

    Two fits, or one fit and ``groups=(level_a, level_b)`` of a grouping ``column`` (found when
    not given). ``where`` holds ``(column, label)`` or None for each curve.
    """
    if (fit_b is None) == (groups is None):
        raise ValueError("pass either two fits (fit_a, fit_b) or one fit and groups=(level_a, level_b)")
    if groups is not None:
        if isinstance(groups, str) or len(groups) != 2:
            raise ValueError(f"groups={groups!r} must name two levels, e.g. groups=('clip', 'mammut')")
        column = grouping_column(fit_a, groups, column)
        fits = (fit_a, fit_a)
        where = ((column, str(groups[0])), (column, str(groups[1])))
        names = names or (str(groups[0]), str(groups[1]))
    else:
        fits = (fit_a, fit_b)
        where = (None, None)
        names = names or ("A", "B")
        if is_lower_better(fit_a, lower_is_better) != is_lower_better(fit_b, lower_is_better):
            raise ValueError("the two fits disagree on whether lower is better; pass lower_is_better=")
    if isinstance(names, str) or len(names) != 2:
        raise ValueError(f"names={names!r} must be two labels, e.g. names=('CLIP', 'MaMMUT')")
    return fits, where, (str(names[0]), str(names[1])), is_lower_better(fit_a, lower_is_better)


def data_range(fits, x: str) -> tuple[float, float]:
    """Smallest and largest ``x`` over the runs of ``fits`` (``C = 6ND`` for laws of N and D)."""
    lows, highs = [], []
    for f in fits:
        values = x_values(f, f.data, x)
        if values is None:
            raise ValueError(f"x={x!r} is neither an input nor a column of the fitted runs; pass between=(low, high)")
        lows.append(float(values.min()))
        highs.append(float(values.max()))
    return min(lows), max(highs)


def is_lower_better(fit: Posterior, override: bool | None) -> bool:
    """Whether lower values are better for ``fit``: ``override`` when given, else the fit's own
    ``lower_is_better`` (an averaged or downstream fit) or its law's."""
    if override is not None:
        return bool(override)
    return bool(fit.lower_is_better)


@dataclass
class Crossover:
    """The posterior of a crossover between curve A and curve B over a range of ``x``.

    Attributes
    ----------
    grid : ndarray
        Values of ``x`` on which the curves were compared.
    curves_a, curves_b : ndarray
        Paired draws ``(draws, len(grid))``.
    crossing : ndarray
        First crossing point of each draw (NaN for draws that do not cross).
    probability : float
        Posterior probability that the curves cross within the range.
    observed : tuple of two (x, y) array pairs, optional
        The runs behind curve A and curve B, drawn by :meth:`plot`.
    """

    x: str
    grid: np.ndarray
    curves_a: np.ndarray
    curves_b: np.ndarray
    lower_is_better: bool
    names: tuple[str, str]
    level: float = 0.9
    _evaluate: object = None
    ylabel: str | None = None
    observed: tuple | None = None
    _beyond: object = None  # values -> decades beyond the runs, per fit (None: no law error)

    @property
    def margin(self) -> np.ndarray:
        """How much A beats B at each grid point, per draw (positive: A is better)."""
        diff = self.curves_b - self.curves_a
        return diff if self.lower_is_better else -diff

    @property
    def crossing(self) -> np.ndarray:
        m = self.margin
        sign = np.sign(m)
        change = sign[:, 1:] * sign[:, :-1] < 0
        has = change.any(axis=1)
        idx = np.argmax(change, axis=1)
        rows = np.arange(m.shape[0])
        m0, m1 = m[rows, idx], m[rows, idx + 1]
        lx = np.log(self.grid)
        t = m0 / (m0 - m1 + 1e-300)
        point = np.exp(lx[idx] + t * (lx[idx + 1] - lx[idx]))
        return np.where(has, point, np.nan)

    @property
    def probability(self) -> float:
        """Posterior probability that A and B cross inside the range."""
        return float(np.mean(~np.isnan(self.crossing)))

    def summary(self) -> pd.DataFrame:
        """One row: ``median``, ``lower``, ``upper`` of the first crossing (among crossing draws), ``probability``.

        Also ``p_a_better_low`` and ``p_a_better_high``: probability that A beats B at each end of the range.
        """
        c = self.crossing
        c = c[~np.isnan(c)]
        tail = (1 - self.level) / 2
        if c.size:
            median, lower, upper = np.quantile(c, [0.5, tail, 1 - tail])
        else:
            median = lower = upper = np.nan
        better = self.margin > 0
        return pd.DataFrame(
            [{
                "a": self.names[0], "b": self.names[1], "x": self.x,
                "median": median, "lower": lower, "upper": upper, "probability": self.probability,
                "p_a_better_low": float(better[:, 0].mean()), "p_a_better_high": float(better[:, -1].mean()),
                "range_low": float(self.grid[0]), "range_high": float(self.grid[-1]),
            }]
        )

    def prob_better(self, x: float | Sequence[float] | np.ndarray | None = None) -> pd.DataFrame:
        """Probability that A beats B at each ``x`` (default: the comparison grid).

        Parameters
        ----------
        x : float or sequence of float, optional
            Values of the scale at which to compare; the curves are drawn there anew, with the
            settings of :func:`crossover`. Default: the comparison grid.

        Returns
        -------
        DataFrame
            One row per value: the value (in a column named after the scale, e.g. ``C``) and
            ``prob_a_better``.

        Warns
        -----
        ExtrapolationWarning
            When :func:`crossover` ran with the default ``law_error=True`` and some ``x`` lies
            further beyond a fit's runs than any forecast the law error was learned from
            (:func:`bayescale.law_error.learned_reach`): the probability there rests on the error
            model's own extrapolation.
        """
        if x is None:
            values, margin = self.grid, self.margin
        else:
            values = np.atleast_1d(np.asarray(x, dtype=float))
            if self._beyond is not None:
                distance = self._beyond(values).max(axis=0)  # type: ignore[operator]
                labels = pd.Index([f"{v:.3g}" for v in values])
                warn_beyond_learned_reach(distance, labels, stacklevel=2, what=f"values of {self.x}")
            a, b = self._evaluate(values)  # type: ignore[operator]
            diff = b - a
            margin = diff if self.lower_is_better else -diff
        return pd.DataFrame({self.x: values, "prob_a_better": (margin > 0).mean(axis=0)})

    def plot(self, *, ax: matplotlib.axes.Axes | None = None) -> matplotlib.axes.Axes:
        """Both curves with 90% bands and the crossing region; returns the Axes
        (:func:`bayescale.plots.plot_crossover`).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from bayescale.plots import plot_crossover

        return plot_crossover(self, ax=ax)

    def _repr_html_(self) -> str:
        return self.summary().to_html(index=False)  # pandas escapes the curve names


def crossover(
    fit_a,
    fit_b=None,
    *,
    x: str = "C",
    between: tuple[float, float] | None = None,
    groups: tuple[str, str] | None = None,
    column: str | None = None,
    names: tuple[str, str] | None = None,
    path: str = "ratio",
    ratio: float | None = None,
    N: float | None = None,
    n_grid: int = 200,
    level: float = 0.9,
    lower_is_better: bool | None = None,
    seed: int = 0,
    law_error=True,
) -> Crossover:
    """Posterior probability and location of a crossover between two scaling curves.

    Parameters
    ----------
    fit_a, fit_b : Fit or DownstreamFit
        Two fits (draws paired by index), or one fit with ``groups=(level_a, level_b)``.
    x : str
        The scale axis: a law input, the column it was read from, or ``"C"``.
    between : (float, float), optional
        Range of ``x`` searched; default the range of both fits' data.
    groups : (str, str), optional
        Two levels of a grouping column of ``fit_a`` (one fit): curve A is the first.
    column : str, optional
        The grouping column of ``groups``; default the fit's grouping column holding both levels.
    names : (str, str), optional
        Labels of curve A and curve B in the summary and the plot; default the two ``groups``
        levels, or ``("A", "B")`` for two fits.
    path, ratio, N
        Path through (N, D) for laws of both (see :func:`curve_draws_along`).
    n_grid : int
        Log-spaced grid points in the range.
    level : float
        Mass of the interval of the crossing point.
    lower_is_better : bool, optional
        Direction of "better"; default the law's (``Law.lower_is_better``) or the downstream fit's.
    seed : int
        Seed of the law error's drift, the same for both curves, so that they share its dataset
        part (two recipes measured on one benchmark; :meth:`bayescale.law_error.LawError.slopes`).
    law_error : bool or LawError
        Curves beyond the fitted runs carry the law error (default; as :meth:`Fit.predict`),
        on every ``path``; ``False`` compares the laws' curves alone.

    Returns
    -------
    Crossover
        ``.probability``, ``.summary()``, ``.prob_better(x)``, ``.plot()``.

    Warns
    -----
    ExtrapolationWarning
        With the default ``law_error=True``, when the median crossing lies further beyond a
        fit's runs than any forecast the law error was learned from
        (:func:`bayescale.law_error.learned_reach`): the crossing rests on the error model's own
        extrapolation there.

    Examples
    --------
    Two families fitted separately (no pooling shrinks one curve toward the other):

    >>> clip = bs.fit(front[front.family == "clip"], law="power", y="err", inputs={"x": "C"})      # doctest: +SKIP
    >>> mammut = bs.fit(front[front.family == "mammut"], law="power", y="err", inputs={"x": "C"})  # doctest: +SKIP
    >>> res = bs.crossover(clip, mammut, x="C", names=("CLIP", "MaMMUT"))                        # doctest: +SKIP
    >>> res.summary()                                                                            # doctest: +SKIP

    Two levels of one grouped fit:

    >>> res = bs.crossover(fit, groups=("clip", "mammut"), x="C", between=(1e17, 1e22))  # doctest: +SKIP
    """
    fits, where, names, better = resolve_pair(fit_a, fit_b, groups, column, names, lower_is_better)
    if between is None:
        between = data_range(fits, x)
    lo, hi = float(between[0]), float(between[1])
    if not 0 < lo < hi:
        raise ValueError(f"between={between!r} must be (low, high) with 0 < low < high")
    grid = np.geomspace(lo, hi, n_grid)

    def evaluate(values):
        # one seed for both curves: they share the dataset part of the law error (one benchmark)
        a, b = (curve_draws_along(f, x, values, path=path, ratio=ratio, N=N, level=w, seed=seed, law_error=law_error)
                for f, w in zip(fits, where, strict=True))  # fmt: skip
        n = min(a.shape[0], b.shape[0])
        return a[:n], b[:n]

    def beyond(values):  # decades beyond each fit's runs: (fits, values)
        return np.stack([_distance_along(f, x, values, path, ratio, N, w) for f, w in zip(fits, where, strict=True)])

    a, b = evaluate(grid)
    observed = tuple(_observed(f, x, w) for f, w in zip(fits, where, strict=True))
    result = Crossover(x=x, grid=grid, curves_a=a, curves_b=b, lower_is_better=better,
                       names=names, level=level, _evaluate=evaluate, ylabel=fit_a.y,
                       observed=None if any(o is None for o in observed) else observed,
                       _beyond=beyond if law_error is True else None)  # fmt: skip
    median = float(result.summary()["median"].iloc[0])
    if law_error is True and np.isfinite(median):  # a crossing further out than the law error was measured
        distance = beyond(np.array([median]))[:, 0]
        warn_beyond_learned_reach(distance, pd.Index(names), stacklevel=2, what="curves at the median crossing")
    return result


def _observed(fit, x: str, where: tuple[str, str] | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The (x, y) values of the runs behind one curve, or None when the fit does not hold them."""
    data, y = fit.data, fit.y
    if y not in data:
        return None
    values = x_values(fit, data, x)
    if values is None:
        return None
    rows = np.ones(len(data), dtype=bool)
    if where is not None:
        if where[0] not in data:
            return None
        rows = (data[where[0]].astype(str) == where[1]).to_numpy()
    return values.to_numpy(dtype=float)[rows], data[y].to_numpy(dtype=float)[rows]
