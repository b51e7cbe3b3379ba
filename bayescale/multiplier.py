"""Effective compute multiplier: how much less compute recipe A needs than recipe B for the same loss.

Labs gate a change on its "compute multiplier": the factor ``k`` such that recipe A at compute
``C`` reaches the loss recipe B reaches only at ``k C``. Read off two point fits it is a bare
number; here every posterior draw gives a pair of curves, and ``k`` is computed draw by draw:

.. math::

    k(C) = \\frac{C_B(L_A(C))}{C}, \\qquad C_B(L) = \\min\\{c : L_B(c) \\le L\\},

so ``k`` comes with credible intervals and ``P(k > 1)`` (A needs less compute than B). As a
function of the loss instead, ``k(L) = C_B(L) / C_A(L)``. For laws of ``N`` and ``D`` (derived
``C = 6ND``) "the compute to reach ``L``" is read on each draw's compute-optimal frontier by
default (``path="optimal"``, :mod:`bayescale.optimal`); ``path="ratio"`` or ``"N"`` follow the
paths of :func:`bayescale.crossovers.curve_draws_along`.

Which uncertainty: the curves are *curve draws* (the law under the posterior, no run-to-run
noise), as in :func:`bayescale.crossovers.crossover`: the multiplier is a property of the two
recipes, not of two single runs. Beyond the fitted runs the curves carry the law error
(:mod:`bayescale.law_error`, ``law_error=True``), drawn with one seed for both recipes, so
they share its dataset part (two recipes measured on one benchmark drift alike) and each has
its own ladder part; ``law_error=False`` gives the laws' curves alone.

Draws of two fits are paired by index (independent posteriors); two levels of one grouped fit
share each draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayescale.crossovers import curve_draws_along, data_range, resolve_pair
from bayescale.grid import input_name

if TYPE_CHECKING:
    import matplotlib.axes

__all__ = ["ComputeMultiplier", "compute_multiplier", "compute_to_reach"]

#: Names accepted in ``at`` for a multiplier as a function of the loss (besides the fit's target column).
LOSS_KEYS = ("loss", "y")


def compute_to_reach(curves: np.ndarray, grid: np.ndarray, targets: np.ndarray, *, lower_is_better: bool = True
                     ) -> np.ndarray:  # fmt: skip
    """The smallest ``x`` at which each draw's curve reaches each target, ``(draws, targets)``.

    Parameters
    ----------
    curves : ndarray
        ``(draws, len(grid))`` curve draws along ``grid``.
    grid : ndarray
        Increasing, positive values of the scale (log-interpolated between grid points).
    targets : ndarray
        ``(draws, m)`` values to reach (one row per draw), or ``(m,)`` for all draws.
    lower_is_better : bool
        Reach means at or below the target (a loss), else at or above (an accuracy).

    Returns
    -------
    ndarray
        ``(draws, m)``: ``inf`` where the curve never reaches the target on the grid, ``0``
        where it is already there at the grid's first point.
    """
    curves = np.asarray(curves, dtype=float)
    grid = np.asarray(grid, dtype=float)
    targets = np.asarray(targets, dtype=float)
    if targets.ndim == 1:
        targets = np.broadcast_to(targets, (curves.shape[0], targets.size))
    sign = 1.0 if lower_is_better else -1.0
    # best value reached so far along the grid: non-increasing "badness" per draw
    best = np.minimum.accumulate(sign * curves, axis=1)
    best = np.where(np.isnan(best), np.inf, best)
    goal = sign * targets
    log_grid = np.log(grid)
    out = np.empty(goal.shape)
    rows = np.arange(curves.shape[0])
    for j in range(goal.shape[1]):
        t = goal[:, j]
        idx = (best > t[:, None]).sum(axis=1)  # first grid index at or below the target
        inside = (idx > 0) & (idx < grid.size)
        i = np.clip(idx, 1, grid.size - 1)
        hi, lo = best[rows, i - 1], best[rows, i]
        frac = np.where(hi > lo, (hi - t) / np.where(hi > lo, hi - lo, 1.0), 1.0)
        value = np.exp(log_grid[i - 1] + np.clip(frac, 0.0, 1.0) * (log_grid[i] - log_grid[i - 1]))
        out[:, j] = np.where(inside, value, np.where(idx == 0, 0.0, np.inf))
    return out


def _quantiles(values: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    """Quantiles along draws that accept ``0`` and ``inf`` (censored multipliers): no interpolation."""
    return np.quantile(values, list(probs), axis=0, method="inverted_cdf")


@dataclass
class ComputeMultiplier:
    """The posterior of the compute multiplier ``k`` of recipe A over recipe B.

    ``k > 1``: A reaches the same loss with ``k`` times less compute than B (A is better);
    ``k < 1``: A needs ``1/k`` times more.

    Attributes
    ----------
    at : ndarray
        Where ``k`` was evaluated: compute values of A (``by="C"``) or losses (``by="loss"``).
    by : str
        ``"C"`` (``k`` as a function of A's compute, the law input named ``x``) or ``"loss"``.
    k : ndarray
        Draws ``(draws, len(at))``; ``inf`` where B does not reach A's loss within
        ``max_factor`` times the compute (``0`` where B reaches it before ``1/max_factor``).
    compute_a, compute_b : ndarray
        Draws of the compute A and B need for the loss compared (``compute_a`` is ``at`` itself
        when ``by="C"``).
    loss : ndarray
        Draws of the loss compared (A's curve at ``at`` when ``by="C"``).
    censored : ndarray
        ``(draws, len(at))``: draws in which a recipe does not reach the loss within the compute
        searched (``k`` is then ``inf`` or ``0``, or ``1`` when neither reaches it).
    """

    at: np.ndarray
    by: str
    k: np.ndarray
    compute_a: np.ndarray
    compute_b: np.ndarray
    loss: np.ndarray
    names: tuple[str, str]
    x: str
    lower_is_better: bool
    level: float = 0.9
    max_factor: float = 1e4
    data_ranges: tuple | None = None
    law_error: bool = True
    ylabel: str | None = None
    censored: np.ndarray | None = None

    @property
    def prob_a_better(self) -> np.ndarray:
        """``P(k > 1)`` at each point of ``at``: A needs less compute than B for the same loss."""
        return (self.k > 1).mean(axis=0)

    def summary(self, level: float | None = None) -> pd.DataFrame:
        """One row per point of ``at``: the multiplier's median and central interval, and ``P(k > 1)``.

        Parameters
        ----------
        level : float, optional
            Mass of the interval; default the one given to :func:`compute_multiplier`.

        Returns
        -------
        DataFrame
            ``a``, ``b``, the evaluation point (a column named ``x``, e.g. ``C``, or ``loss``), ``median``, ``lower``,
            ``upper`` of ``k`` (quantiles without interpolation, so that censored draws stay
            ``0``/``inf``), ``prob_a_better`` (``P(k > 1)``), ``censored`` (share of draws in
            which a recipe does not reach the loss within the compute searched), the medians of the loss compared and of the
            compute each recipe needs for it.
        """
        level = self.level if level is None else float(level)
        if not 0 < level < 1:
            raise ValueError(f"level={level!r} must lie in (0, 1), e.g. 0.9 for a 90% interval")
        tail = (1 - level) / 2
        lower, median, upper = _quantiles(self.k, (tail, 0.5, 1 - tail))
        if self.censored is None:
            censored = ((self.k >= self.max_factor) | (self.k <= 1 / self.max_factor)).mean(axis=0)
        else:
            censored = self.censored.mean(axis=0)
        frame = pd.DataFrame({
            "a": self.names[0], "b": self.names[1], self._column: self.at,
            "median": median, "lower": lower, "upper": upper, "prob_a_better": self.prob_a_better,
            "censored": censored, "loss_median": _quantiles(self.loss, (0.5,))[0],
            "compute_a_median": _quantiles(self.compute_a, (0.5,))[0],
            "compute_b_median": _quantiles(self.compute_b, (0.5,))[0],
        })  # fmt: skip
        return frame

    @property
    def _column(self) -> str:
        return self.x if self.by == "C" else "loss"

    # Any, not Axes: bayescale.cli calls ``ax.figure.savefig``, and matplotlib's stubs type
    # ``Axes.figure`` as ``Figure | SubFigure`` (a SubFigure has no savefig).
    def plot(self, *, ax: matplotlib.axes.Axes | None = None, band: float | None = None) -> Any:
        """``k`` against compute (or loss) with its median and credible band; returns the Axes
        (:func:`bayescale.plots.plot_multiplier`).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.
        band : float, optional
            Mass of the band; default :attr:`level`.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from bayescale.plots import plot_multiplier

        return plot_multiplier(self, ax=ax, band=band)

    def quantiles(self, probs: Sequence[float]) -> np.ndarray:
        """Quantiles of ``k`` over the draws, ``(len(probs), points)``; censored draws (``0``, ``inf``) count
        at their end, without interpolation.

        Parameters
        ----------
        probs : sequence of float
            Probabilities in [0, 1].

        Returns
        -------
        ndarray
            ``(len(probs), len(at))``.
        """
        return _quantiles(self.k, probs)

    def __repr__(self) -> str:
        s = self.summary()
        first, last = s.iloc[0], s.iloc[-1]
        unit = self._column
        return (f"<bayescale.ComputeMultiplier {self.names[0]} over {self.names[1]} at {len(s)} points: "
                f"k = {first['median']:.3g} ({first['lower']:.3g} to {first['upper']:.3g}) at {unit} {first[unit]:.3g}, "
                f"{last['median']:.3g} ({last['lower']:.3g} to {last['upper']:.3g}) at {unit} {last[unit]:.3g}; "
                f"P(k > 1) {first['prob_a_better']:.2f} to {last['prob_a_better']:.2f}>")  # fmt: skip

    def _repr_html_(self) -> str:
        return self.summary().to_html(index=False)


def _parse_at(at, fits, x: str) -> tuple[str, np.ndarray]:
    """``("C", values)`` or ``("loss", values)`` from the ``at`` argument."""
    ys = {str(f.y) for f in fits}
    if at is None:
        lo, hi = data_range(fits, x)
        return "C", np.geomspace(lo, hi * 10.0, 40)
    if isinstance(at, pd.DataFrame):
        at = {column: at[column].to_numpy() for column in at.columns}
    if isinstance(at, Mapping):
        if len(at) != 1:
            raise ValueError(f"at={at!r} must name one quantity, e.g. at={{'C': [1e22, 1e23]}} or at={{'loss': [2.5]}}")
        (key, values), = at.items()
        if key in LOSS_KEYS or key in ys:
            by = "loss"
        elif key == x or input_name(fits[0], key) == input_name(fits[0], x):
            by = "C"
        else:
            raise ValueError(f"at={{{key!r}: ...}}: name the compute ({x!r}) or the loss ('loss' or {sorted(ys)}), "
                             f"e.g. at={{{x!r}: [1e22, 1e23]}}")  # fmt: skip
    else:
        by, values = "C", at
    values = np.atleast_1d(np.asarray(values, dtype=float))
    if values.ndim != 1 or not values.size or not np.all(np.isfinite(values)):
        raise ValueError(f"at={at!r} must hold finite numbers, e.g. at=[1e22, 1e23]")
    if by == "C" and np.any(values <= 0):
        raise ValueError(f"at={values.tolist()!r}: compute values must be positive, e.g. at=[1e22, 1e23]")
    return by, values


def compute_multiplier(
    fit_a,
    fit_b=None,
    *,
    at: float | Sequence[float] | np.ndarray | Mapping[str, Sequence[float]] | pd.DataFrame | None = None,
    x: str = "C",
    groups: Sequence[str] | None = None,
    column: str | None = None,
    names: Sequence[str] | None = None,
    path: str = "optimal",
    ratio: float | None = None,
    N: float | None = None,
    law_error=True,
    max_factor: float = 1e4,
    points_per_decade: int = 24,
    level: float = 0.9,
    lower_is_better: bool | None = None,
    seed: int = 0,
) -> ComputeMultiplier:
    """The compute multiplier of recipe A over recipe B, with credible intervals and ``P(k > 1)``.

    ``k(C) = C_B / C``: recipe B needs ``k`` times the compute for the loss recipe A reaches at
    compute ``C`` (``k > 1``: A is the more compute-efficient recipe). Computed per posterior
    draw from the curves (no run-to-run noise), with the law error beyond the fitted runs.

    Parameters
    ----------
    fit_a, fit_b : Fit
        Fits of recipe A and recipe B (draws paired by index), of a law with a compute input:
        an input ``C`` (or one read from column ``x``), or ``N`` and ``D`` (``C = 6ND``). Or one
        grouped fit and ``groups=(level_a, level_b)``.
    at : float, sequence, or mapping, optional
        Compute values of recipe A at which to evaluate ``k`` (``at=[1e22, 1e23]`` or
        ``at={"C": [...]}``), or losses (``at={"loss": [2.5, 2.4]}``: ``k(L) = C_B(L) / C_A(L)``).
        Default: 40 compute values from the smallest run of either fit to 10 times the largest.
    x : str
        The compute axis: ``"C"``, a law input, or the column it was read from. Other inputs of
        a law with a compute input (e.g. the tokens per parameter ``M`` of ``overtraining``) are
        held at their median in each fit's data.
    groups : (str, str), optional
        Two levels of a grouping column of ``fit_a``: recipe A is the first.
    column : str, optional
        The grouping column of ``groups``; default the one holding both levels.
    names : (str, str), optional
        Labels of A and B; default the ``groups`` levels, or ``("A", "B")``.
    path : {"optimal", "ratio", "N"}
        For laws of ``N`` and ``D``: the compute-optimal frontier of each draw (default), a fixed
        ``D/N = ratio`` (default the data's median), or a fixed ``N``.
    ratio, N : float, optional
        The path's tokens per parameter, or model size.
    law_error : bool or LawError
        Curves beyond the fitted runs carry the law error (default, as :meth:`Fit.predict`),
        with one seed for both recipes so that they share its dataset part; ``False``: the laws'
        curves alone.
    max_factor : float
        How far beyond the range of ``at`` and of the runs the compute is searched; a draw in
        which B does not reach the loss within it gets ``k = inf`` (counted as censored).
    points_per_decade : int
        Density of the log-spaced compute grid on which the curves are inverted.
    level : float
        Mass of the central credible interval in :meth:`ComputeMultiplier.summary`.
    lower_is_better : bool, optional
        Direction of "better"; default the law's.
    seed : int
        Seed of the law error's drift.

    Returns
    -------
    ComputeMultiplier
        ``.summary()`` (median, interval, ``P(k > 1)`` at each point), ``.k`` (the draws),
        ``.plot()``.

    Raises
    ------
    ValueError
        For two fits and ``groups`` both given or both missing, unknown levels, an ``at`` that
        names neither the compute nor the loss, non-positive compute values, ``max_factor <= 1``,
        ``level`` outside (0, 1), or an ``x`` that is not a compute input of the law.

    See Also
    --------
    bayescale.crossover : where two curves cross; bayescale.rank : several recipes at one scale.

    Examples
    --------
    >>> res = bs.compute_multiplier(fit_new, fit_base, at=[1e21, 1e22, 1e23], names=("new", "base"))  # doctest: +SKIP
    >>> res.summary()[["C", "median", "lower", "upper", "prob_a_better"]]                            # doctest: +SKIP
    >>> res.plot()                                                                                    # doctest: +SKIP

    Two corpora of one grouped fit, as a function of the loss:

    >>> bs.compute_multiplier(fit, groups=("web", "books"), at={"loss": [2.6, 2.5]})  # doctest: +SKIP
    """
    fits, where, names, better = resolve_pair(fit_a, fit_b, groups, column, names, lower_is_better)
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must lie in (0, 1), e.g. 0.9 for a 90% interval")
    if not max_factor > 1:
        raise ValueError(f"max_factor={max_factor!r} must be > 1, e.g. 1e4 (search up to 10,000x the compute)")
    if int(points_per_decade) < 2:
        raise ValueError(f"points_per_decade={points_per_decade!r} must be at least 2, e.g. 24")
    for f in fits:
        name = input_name(f, x)
        inputs = set(f.law.inputs)
        if name not in inputs and not (name == "C" and {"N", "D"} <= inputs):
            raise ValueError(f"x={x!r} is not a compute input of law {f.law.name!r} (inputs {list(f.law.inputs)}): "
                             "pass the input or column that holds compute, or fit a law of N and D (C = 6ND)")
    by, at_values = _parse_at(at, fits, x)
    lo, hi = data_range(fits, x)
    if by == "C":
        lo, hi = min(lo, float(at_values.min())), max(hi, float(at_values.max()))
    decades = np.log10(hi * max_factor) - np.log10(lo / max_factor)
    grid = np.geomspace(lo / max_factor, hi * max_factor, int(np.ceil(decades * points_per_decade)) + 1)

    def along(f, w, values):
        return curve_draws_along(f, x, values, path=path, ratio=ratio, N=N, level=w, seed=seed, law_error=law_error)

    curve_b = along(fits[1], where[1], grid)
    if by == "C":
        loss = along(fits[0], where[0], at_values)
        n = min(loss.shape[0], curve_b.shape[0])
        loss, curve_b = loss[:n], curve_b[:n]
        compute_a = np.broadcast_to(at_values, loss.shape).copy()
    else:
        curve_a = along(fits[0], where[0], grid)
        n = min(curve_a.shape[0], curve_b.shape[0])
        curve_a, curve_b = curve_a[:n], curve_b[:n]
        loss = np.broadcast_to(at_values, (n, at_values.size)).copy()
        compute_a = compute_to_reach(curve_a, grid, loss, lower_is_better=better)
    compute_b = compute_to_reach(curve_b, grid, loss, lower_is_better=better)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = compute_b / compute_a
    # neither recipe reaches the loss within the search (or both already at its start): no answer, k = 1
    k = np.where(compute_a == np.inf, np.where(compute_b == np.inf, 1.0, 0.0), k)
    k = np.where(compute_a == 0, np.where(compute_b == 0, 1.0, np.inf), k)
    censored = ~np.isfinite(compute_a) | ~np.isfinite(compute_b) | (compute_a == 0) | (compute_b == 0)
    ranges = tuple(data_range([f], x) for f in fits)
    return ComputeMultiplier(at=at_values, by=by, k=k, compute_a=compute_a, compute_b=compute_b, loss=loss,
                             names=(str(names[0]), str(names[1])), x=x, lower_is_better=better, level=level, max_factor=float(max_factor),
                             data_ranges=ranges, law_error=law_error is not False, ylabel=fits[0].y,
                             censored=censored)  # fmt: skip
