"""Shape checks on a posterior curve: monotonicity, turning points, accelerated emergence, saturation.

Each check evaluates the fitted curve on a log-spaced grid for every posterior draw and
reports the posterior probability of the shape, with intervals of the quantities it names.

* :func:`prob_monotone`: does the curve decrease (or increase) over the whole range? Inverse
  scaling (McKenzie et al. 2023) is a metric that gets worse with scale.
* :func:`turning_point`: where a U-shaped (or inverted-U) curve turns, and how likely an
  interior turning point is (Wei et al. 2023, "Inverse scaling can become U-shaped").
* :func:`accelerated_emergence`: PassUntil's test (Hu et al. 2024): with ``p = exp(-c N^-alpha)``,
  ``log(-log p)`` is linear in ``log N``; concave means faster-than-power-law ("accelerated")
  emergence, convex means slower.
* :func:`saturation_budget`: where the marginal gain per doubling of ``x`` falls below a threshold
  (test-time compute laws saturate, Snell et al. 2024; Brown et al. 2024).

Every function takes a fit (``Fit`` or ``DownstreamFit``) or, through :func:`draws_along`, any
``(draws, len(grid))`` array of curve draws (``curves=`` argument).

References
----------
McKenzie, I. R. et al. (2023). Inverse Scaling: When Bigger Isn't Better. TMLR, arXiv:2306.09479.
Wei, J. et al. (2023). Inverse scaling can become U-shaped. EMNLP, arXiv:2211.02011.
Hu, S. et al. (2024). Predicting Emergent Abilities with Infinite Resolution Evaluation. ICLR, arXiv:2310.03262.
Brown, B. et al. (2024). Large Language Monkeys: Scaling Inference Compute with Repeated Sampling. arXiv:2407.21787.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["accelerated_emergence", "draws_along", "prob_monotone", "saturation_budget", "turning_point"]


def draws_along(fit, x: str, between: tuple[float, float], *, n_grid: int = 200, seed: int = 0,
                group: tuple[str, str] | None = None, **path) -> tuple[np.ndarray, np.ndarray]:
    """The grid and the curve draws of ``fit`` along ``x`` over ``between`` (see :func:`bayescale.crossovers.curve_draws_along`).

    Parameters
    ----------
    fit : Fit or DownstreamFit
    x : str
        Axis (a law input, its column, or ``"C"``).
    between : (float, float)
        Range of ``x``, ``0 < low < high``.
    n_grid : int
        Points of the log-spaced grid.
    seed : int
        Seed of the law error's drift.
    group : (column, label), optional
        The curve of one level of a grouped fit (``level=`` of
        :func:`bayescale.crossovers.curve_draws_along`); default the population's.
    **path
        Further options of :func:`bayescale.crossovers.curve_draws_along` (``path``, ``ratio``,
        ``N``, ``law_error``).

    Returns
    -------
    grid, curves : ndarray
        The grid ``(n_grid,)`` and the curve draws ``(draws, n_grid)``.

    Raises
    ------
    ValueError
        For a ``between`` that is not ``(low, high)`` with ``0 < low < high``.
    """
    from bayescale.crossovers import curve_draws_along

    lo, hi = _range(between)
    grid = np.geomspace(lo, hi, n_grid)
    return grid, curve_draws_along(fit, x, grid, seed=seed, level=group, **path)


def _range(between) -> tuple[float, float]:
    if between is None or len(between) != 2:
        raise ValueError(f"between={between!r} must be (low, high), e.g. between=(1e8, 1e10)")
    lo, hi = float(between[0]), float(between[1])
    if not 0 < lo < hi:
        raise ValueError(f"between={between!r} must satisfy 0 < low < high")
    return lo, hi


def _curves(fit, x, between, curves, grid, n_grid, **path):
    if curves is not None:
        curves = np.asarray(curves, dtype=float)
        if grid is None:
            raise ValueError("curves= needs grid= (the x values of its columns)")
        grid = np.asarray(grid, dtype=float)
        if curves.ndim != 2 or curves.shape[1] != grid.shape[0]:
            raise ValueError(f"curves must be (draws, len(grid)); got {curves.shape} for a grid of {grid.shape[0]}")
        return grid, curves
    if fit is None:
        raise ValueError("pass a fit (with x= and between=) or curves= and grid=")
    return draws_along(fit, x, between, n_grid=n_grid, **path)


def _interval(values: np.ndarray, level: float) -> tuple[float, float, float]:
    values = values[np.isfinite(values)]
    if not values.size:
        return np.nan, np.nan, np.nan
    tail = (1 - level) / 2
    lower, median, upper = np.quantile(values, [tail, 0.5, 1 - tail])
    return float(median), float(lower), float(upper)


def prob_monotone(fit=None, x: str = "N", between=None, *, curves=None, grid=None, tol: float = 0.0,
                  n_grid: int = 200, **path) -> pd.DataFrame:
    """Posterior probability that the curve decreases, or increases, over the whole range.

    Parameters
    ----------
    fit : Fit or DownstreamFit, optional
    x : str
        Axis (a law input, its column, or ``"C"``).
    between : (float, float)
        Range of ``x``.
    curves, grid : array, optional
        Curve draws ``(draws, len(grid))`` instead of a fit.
    tol : float
        Steps smaller than ``tol`` (in units of the curve) are allowed in the wrong direction.
    n_grid : int
        Points of the log-spaced grid (with a fit).
    **path
        Path options of :func:`draws_along` (``path``, ``ratio``, ``N``, ``seed``, ``law_error``,
        and ``group=(column, label)`` for one level of a grouped fit).

    Returns
    -------
    DataFrame
        One row: ``p_decreasing``, ``p_increasing``, ``p_end_lower`` (the curve is lower at the
        high end than at the low end), and the median and 90% interval of the change from low to high end.
    """
    grid, curves = _curves(fit, x, between, curves, grid, n_grid, **path)
    steps = np.diff(curves, axis=1)
    change = curves[:, -1] - curves[:, 0]
    median, lower, upper = _interval(change, 0.9)
    return pd.DataFrame([{
        "x": x, "low": grid[0], "high": grid[-1],
        "p_decreasing": float(np.mean(np.all(steps <= tol, axis=1))),
        "p_increasing": float(np.mean(np.all(steps >= -tol, axis=1))),
        "p_end_lower": float(np.mean(change < 0)),
        "change_median": median, "change_lower": lower, "change_upper": upper,
    }])


def turning_point(fit=None, x: str = "N", between=None, *, curves=None, grid=None, kind: str = "min",
                  level: float = 0.9, n_grid: int = 200, **path) -> pd.DataFrame:
    """The turning point of a U-shaped (``kind="min"``) or inverted-U (``kind="max"``) curve.

    A draw has an interior turning point when its minimum (maximum) lies strictly inside the
    range; the location is refined by a parabola through the three grid points around it (in
    ``log x``).

    Parameters
    ----------
    fit : Fit or DownstreamFit, optional
    x : str
        Axis (a law input, its column, or ``"C"``).
    between : (float, float)
        Range of ``x`` (with a fit).
    curves, grid : array, optional
        Curve draws ``(draws, len(grid))`` instead of a fit.
    kind : {"min", "max"}
        A U-shaped curve (its minimum) or an inverted U (its maximum).
    level : float
        Mass of the interval of the location.
    n_grid : int
        Points of the log-spaced grid (with a fit).
    **path
        Path options of :func:`draws_along` (``path``, ``ratio``, ``N``, ``seed``, ``law_error``,
        and ``group=(column, label)`` for one level of a grouped fit).

    Returns
    -------
    DataFrame
        One row: ``probability`` (of an interior turning point), ``median``, ``lower``, ``upper`` of
        its location among those draws, and ``value_median`` (the curve there).
    """
    if kind not in ("min", "max"):
        raise ValueError(f"kind={kind!r} must be 'min' (U shape) or 'max' (inverted U)")
    grid, curves = _curves(fit, x, between, curves, grid, n_grid, **path)
    signed = curves if kind == "min" else -curves
    idx = np.argmin(signed, axis=1)
    interior = (idx > 0) & (idx < grid.size - 1)
    lx = np.log(grid)
    i = np.clip(idx, 1, grid.size - 2)
    rows = np.arange(curves.shape[0])
    y0, y1, y2 = signed[rows, i - 1], signed[rows, i], signed[rows, i + 1]
    h = lx[1] - lx[0]
    denom = y0 - 2 * y1 + y2
    shift = np.where(np.abs(denom) > 0, 0.5 * h * (y0 - y2) / np.where(denom == 0, 1, denom), 0.0)
    location = np.exp(lx[i] + np.clip(shift, -h, h))
    location = np.where(interior, location, np.nan)
    median, lower, upper = _interval(location, level)
    value = curves[rows, idx][interior]
    return pd.DataFrame([{
        "x": x, "kind": kind, "probability": float(interior.mean()), "median": median, "lower": lower,
        "upper": upper, "value_median": float(np.median(value)) if value.size else np.nan,
    }])


def accelerated_emergence(fit=None, x: str = "N", between=None, *, curves=None, grid=None, level: float = 0.9,
                          n_grid: int = 200, **path) -> pd.DataFrame:
    """PassUntil-style test: curvature of ``log(-log p)`` against ``log x`` for a pass rate ``p``.

    Under ``p = exp(-c x^-alpha)`` (Hu et al. 2024) ``log(-log p) = log c - alpha log x`` is a line.
    Per draw, a quadratic in ``log x`` is fitted to ``log(-log p)`` over the range; its second
    coefficient ``kappa`` is the curvature: ``kappa < 0`` (concave, the slope steepens) is
    accelerated emergence, ``kappa > 0`` decelerated.

    Parameters
    ----------
    fit : Fit or DownstreamFit, optional
        A fit whose curve is a pass rate in (0, 1).
    x : str
        Axis (a law input, its column, or ``"C"``).
    between : (float, float)
        Range of ``x`` (with a fit).
    curves, grid : array, optional
        Draws of the pass rate ``(draws, len(grid))`` instead of a fit.
    level : float
        Mass of the interval of the curvature.
    n_grid : int
        Points of the log-spaced grid (with a fit).
    **path
        Path options of :func:`draws_along` (``path``, ``ratio``, ``N``, ``seed``, ``law_error``,
        and ``group=(column, label)`` for one level of a grouped fit).

    Returns
    -------
    DataFrame
        One row: ``p_accelerated`` (P(kappa < 0)), ``p_decelerated``, ``curvature_median``,
        ``curvature_lower``, ``curvature_upper``, and the median slope at the centre of the range.
    """
    grid, curves = _curves(fit, x, between, curves, grid, n_grid, **path)
    p = np.clip(curves, 1e-12, 1 - 1e-12)
    z = np.log(-np.log(p))
    lx = np.log(grid)
    t = lx - lx.mean()
    design = np.stack([np.ones_like(t), t, t**2], axis=1)
    coef, *_ = np.linalg.lstsq(design, z.T, rcond=None)
    curvature = coef[2]
    median, lower, upper = _interval(curvature, level)
    return pd.DataFrame([{
        "x": x, "low": grid[0], "high": grid[-1],
        "p_accelerated": float(np.mean(curvature < 0)), "p_decelerated": float(np.mean(curvature > 0)),
        "curvature_median": median, "curvature_lower": lower, "curvature_upper": upper,
        "slope_median": float(np.median(coef[1])),
    }])


def saturation_budget(fit=None, x: str = "x", between=None, *, threshold: float, curves=None, grid=None,
                      higher_is_better: bool | None = None, level: float = 0.9, n_grid: int = 200,
                      **path) -> pd.DataFrame:
    """Where the marginal gain per doubling of ``x`` falls below ``threshold``.

    The gain per doubling at ``x`` is ``y(2x) - y(x)`` (or ``y(x) - y(2x)`` when lower is better),
    evaluated on the grid ``[low, high / 2]``. For each draw the saturation budget is the first ``x``
    from which the gain stays below ``threshold``.

    Parameters
    ----------
    fit : Fit or DownstreamFit, optional
    x : str
        Axis (a law input, its column, or ``"C"``).
    between : (float, float)
        Range of ``x``; with a fit it is required and must span more than one doubling.
    threshold : float
        Gain per doubling (units of the curve, e.g. 0.01 = one accuracy point) that counts as saturated.
    curves, grid : array, optional
        Curve draws ``(draws, len(grid))`` instead of a fit; each grid point is paired with the
        first grid point at or above twice its value.
    higher_is_better : bool, optional
        Default: the opposite of the fit's ``lower_is_better``; required with ``curves=``.
    level : float
        Mass of the interval of the budget.
    n_grid : int
        Points of the log-spaced grid over ``[low, high / 2]`` (with a fit).
    **path
        Path options of :func:`draws_along` (``path``, ``ratio``, ``N``, ``seed``, ``law_error``,
        and ``group=(column, label)`` for one level of a grouped fit).

    Returns
    -------
    DataFrame
        One row: ``probability`` (saturated inside the range), ``median``, ``lower``, ``upper`` of the
        budget among draws that saturate, and ``gain_at_high`` (median gain per doubling at ``high / 2``).
    """
    if not threshold > 0:
        raise ValueError(f"threshold={threshold!r} must be a positive gain per doubling, e.g. 0.01")
    if higher_is_better is None:
        if fit is None:
            raise ValueError("with curves= pass higher_is_better=True or False")
        higher_is_better = not fit.lower_is_better
    lo, hi = _range(between) if between is not None else (None, None)
    if curves is None:
        if fit is None:
            raise ValueError("pass a fit (with x= and between=) or curves= and grid=")
        lo, hi = _range(between)  # a fit needs between=
        if hi / lo < 2:
            raise ValueError(f"between={between!r} must span more than one doubling")
        base = np.geomspace(lo, hi / 2, n_grid)
        from bayescale.crossovers import curve_draws_along

        group = path.pop("group", None)
        both = curve_draws_along(fit, x, np.concatenate([base, 2 * base]), level=group, **path)
        y, y2 = both[:, :n_grid], both[:, n_grid:]
    else:
        grid = np.asarray(grid, dtype=float)
        curves = np.asarray(curves, dtype=float)
        # pair each grid point with the one nearest to twice its value (the grid must span > one doubling)
        target = np.searchsorted(np.log(grid), np.log(2 * grid))
        keep = target < grid.size
        if not keep.any():
            raise ValueError("grid must span more than one doubling")
        base = grid[keep]
        y, y2 = curves[:, keep], curves[:, target[keep]]
    gain = (y2 - y) if higher_is_better else (y - y2)
    below = gain < threshold
    # first index from which every later gain is below the threshold
    stays = np.flip(np.cumprod(np.flip(below, axis=1), axis=1), axis=1).astype(bool)
    saturated = stays.any(axis=1)
    first = np.argmax(stays, axis=1)
    budget = np.where(saturated, base[first], np.nan)
    median, lower, upper = _interval(budget, level)
    return pd.DataFrame([{
        "x": x, "threshold": threshold, "probability": float(saturated.mean()),
        "median": median, "lower": lower, "upper": upper, "gain_at_high": float(np.median(gain[:, -1])),
    }])
