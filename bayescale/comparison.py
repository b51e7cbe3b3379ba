"""Model comparison by expected log predictive density: LOO or WAIC (through ArviZ) and leave-future-out.

For scaling laws the question is usually extrapolation, not interpolation: ``ic="lfo"`` refits
each model on the smaller runs and scores the log predictive density of the next larger ones.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayescale import _arviz
from bayescale._arviz import LOOWarning
from bayescale.diagnostics import ConvergenceWarning

if TYPE_CHECKING:
    from bayescale.fit_result import Fit

__all__ = ["LOOWarning", "compare", "lfo_folds"]


def compare(
    fits: Mapping[str, Fit],
    ic: str = "loo",
    *,
    order_by: str | None = None,
    n_folds: int = 3,
    min_train: float = 0.5,
    refit_kwargs: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Rank fits of the same data by estimated out-of-sample predictive accuracy.

    Parameters
    ----------
    fits : mapping of str to Fit
        Name to fit; every fit must have been made on the same rows and target.
    ic : {"loo", "waic", "lfo"}
        PSIS leave-one-out cross-validation (recommended for interpolation), WAIC, or
        leave-future-out (for extrapolation; needs ``order_by``).
    order_by : str, optional
        For ``ic="lfo"``: the column that orders runs from small to large, e.g. ``"C"``, ``"N"``
        or ``"D"``. It is looked up in each fit's rows (:attr:`Fit.data`: the law's inputs under
        their own names, derived features such as ``C = 6ND``, groups and ``y``).
    n_folds : int
        For ``ic="lfo"``: number of future blocks scored (one refit per block and model).
    min_train : float
        For ``ic="lfo"``: fraction of the distinct ``order_by`` values in the first training set.
    refit_kwargs : mapping, optional
        For ``ic="lfo"``: sampler settings of the refits that differ from the original fit's
        (e.g. ``{"draws": 500}``; the names in :data:`bayescale.inference.REFIT_SETTINGS`). The
        refits keep the fit's priors and, with its settings, run its compiled program with the
        later runs masked out (:func:`bayescale.inference.refit`).

    Returns
    -------
    DataFrame
        Best first. For LOO/WAIC, ArviZ's comparison table: ``rank``, ``elpd_loo`` (or
        ``elpd_waic``), ``p_loo``, ``elpd_diff`` (to the best), ``weight``, ``se``, ``dse``,
        ``warning`` (ArviZ's flag: PSIS or WAIC unreliable for some runs), then ``converged``
        (whether the fit meets the convergence rule, :meth:`bayescale.Fit.convergence_problems`).
        For LFO: ``rank``, ``elpd_lfo`` (sum over the scored runs of the log posterior-predictive
        density), ``elpd_diff``, ``weight`` (pseudo-BMA, ``exp(elpd_lfo)`` normalised), ``se``,
        ``dse`` (se of the pointwise difference to the best), ``n_scored``, ``n_folds``,
        ``warning`` (True when a refit's scores of its future block broke the convergence rule,
        :func:`bayescale.diagnostics.forecast_converged`).
        A difference of less than about two ``dse`` is not a clear preference.

    Warns
    -----
    LOOWarning
        For LOO/WAIC, once per model ArviZ flags (its ``warning`` column): which runs have a
        Pareto k too large for PSIS (or, for WAIC, that its approximation breaks down) and what to do.
    ConvergenceWarning
        For LOO/WAIC, once per fit whose draws break the convergence rule (r_hat, bulk ESS,
        divergences): an unconverged fit's elpd, rank and weight are not to be trusted.

    Raises
    ------
    ValueError
        If fewer than two fits are given, ``ic`` is unknown, the fits saw different data, or
        (LFO) ``order_by`` is missing or the folds cannot be formed.

    Notes
    -----
    Leave-future-out: the distinct values of ``order_by`` are sorted; the smallest
    ``ceil(min_train * n)`` form the first training set, the rest are cut into ``n_folds``
    consecutive blocks. For each block every model is refitted (:func:`bayescale.fit`) on all
    rows before it and scores each row of the block by
    ``log mean_s p(y_i | theta_s)`` over posterior draws ``theta_s`` of the refit. Refits use
    the original fit's own priors (:attr:`Fit.priors`, custom ones included).
    A group (``hierarchy=``) level absent from a training set is predicted as a new group.

    References
    ----------
    Vehtari, A., Gelman, A., Gabry, J. (2017). Practical Bayesian model evaluation using
    leave-one-out cross-validation and WAIC. Statistics and Computing 27, 1413-1432.
    Bürkner, P.-C., Gabry, J., Vehtari, A. (2020). Approximate leave-future-out cross-validation
    for Bayesian time series models. J. Stat. Comput. Simul. 90(14), 2499-2523.

    Examples
    --------
    >>> table = bs.compare({"chinchilla": f1, "kaplan": f2}, ic="lfo", order_by="C")  # doctest: +SKIP
    """
    if ic not in ("loo", "waic", "lfo"):
        raise ValueError(f"ic={ic!r} must be 'loo', 'waic' or 'lfo' (leave-future-out, with order_by=)")
    if len(fits) < 2:
        raise ValueError(f"compare() needs two or more fits, got {len(fits)}: pass {{'name': fit, ...}}")
    if ic == "lfo":
        return _compare_lfo(fits, order_by, n_folds=n_folds, min_train=min_train, refit_kwargs=refit_kwargs)
    if order_by is not None:
        raise ValueError(f"order_by={order_by!r} is only used with ic='lfo'")
    _check_same_data(fits)
    table = _arviz.compare({name: fit.idata for name, fit in fits.items()}, ic=ic)
    return with_convergence(table, fits, ic)


def with_convergence(table: pd.DataFrame, fits: Mapping[str, Any], ic: str) -> pd.DataFrame:
    """Add ``converged`` to a LOO/WAIC table and warn once per fit that breaks the convergence rule.

    ``fits`` maps the table's model names to objects with a ``convergence_problems()`` method
    (:class:`bayescale.Fit`, :class:`bayescale.DownstreamFit`).
    """
    problems = {name: fits[name].convergence_problems() for name in table.index}
    table["converged"] = [not problems[name] for name in table.index]
    for name in table.index[~table["converged"]]:
        warnings.warn(
            f"model {name!r} did not converge: {'; '.join(problems[name])}. Its elpd_{ic}, and so its rank and "
            "weight, describe draws that are not yet its posterior: refit it until it converges before "
            "trusting this comparison",
            ConvergenceWarning,
            stacklevel=3,
        )
    return table


def _check_same_data(fits: Mapping[str, Fit]) -> None:
    hashes = {name: fit.meta["data_hash"] for name, fit in fits.items()}
    reference_name, reference = next(iter(hashes.items()))
    different = [name for name, value in hashes.items() if value != reference]
    if different:
        raise ValueError(
            f"fits {different} were made on different data than {reference_name!r}; LOO and WAIC only "
            "compare models of the same rows and target. Refit them on one DataFrame"
        )


def lfo_folds(order: np.ndarray, n_folds: int = 3, min_train: float = 0.5) -> list[tuple[np.ndarray, np.ndarray]]:
    """Leave-future-out splits: ``(train rows, scored rows)`` as boolean masks, small to large.

    Raises
    ------
    ValueError
        If ``n_folds`` or ``min_train`` is out of range or there are too few distinct values.
    """
    if not isinstance(n_folds, (int, np.integer)) or n_folds < 1:
        raise ValueError(f"n_folds={n_folds!r} must be a positive integer")
    if not 0 < min_train < 1:
        raise ValueError(f"min_train={min_train!r} must lie in (0, 1), e.g. 0.5")
    values = np.unique(order)
    first = int(np.ceil(min_train * len(values)))
    future = values[first:]
    if first < 2 or len(future) < n_folds:
        raise ValueError(
            f"{len(values)} distinct values of the ordering column cannot give a training set of "
            f"{first} and {n_folds} future blocks; lower n_folds or min_train, or add runs"
        )
    folds = []
    for block in np.array_split(future, n_folds):
        train = order < block[0]
        scored = (order >= block[0]) & (order <= block[-1])
        folds.append((train, scored))
    return folds


def _lfo_pointwise(fits, order_by, *, n_folds, min_train, refit_kwargs):
    if order_by is None:
        raise ValueError("ic='lfo' needs order_by=, the column that orders runs from small to large (e.g. 'C')")
    frames = {}
    for name, fit in fits.items():
        frame = fit.data
        if order_by not in frame.columns:
            raise ValueError(
                f"order_by={order_by!r} is not a column of fit {name!r}'s rows; it has {list(frame.columns)}"
            )
        frames[name] = frame
    reference_name, reference = next(iter(frames.items()))
    ref_fit = fits[reference_name]
    for name, frame in frames.items():
        same = (
            len(frame) == len(reference)
            and np.allclose(frame[fits[name].y].to_numpy(), reference[ref_fit.y].to_numpy())
            and np.allclose(frame[order_by].to_numpy(), reference[order_by].to_numpy(), rtol=1e-6)
        )
        if not same:
            raise ValueError(
                f"fit {name!r} was made on other rows than {reference_name!r} (its y or {order_by!r} differ); "
                "leave-future-out compares models of the same runs. Refit them on one DataFrame"
            )
    folds = lfo_folds(reference[order_by].to_numpy(dtype=float), n_folds=n_folds, min_train=min_train)
    pointwise: dict[str, np.ndarray] = {}
    warned: dict[str, bool] = {}
    for name, fit in fits.items():
        scores, warning = [], False
        for train, scored in folds:
            lpd, converged = _refit_and_score(fit, frames[name], train, scored, refit_kwargs)
            scores.append(lpd)
            warning = warning or not converged
        pointwise[name] = np.concatenate(scores)
        warned[name] = warning
    return pointwise, warned, len(folds)


def pointwise_elpd(
    fits: Mapping[str, Fit],
    ic: str = "loo",
    *,
    order_by: str | None = None,
    n_folds: int = 3,
    min_train: float = 0.5,
    refit_kwargs: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Pointwise log predictive density of each fit: PSIS-LOO, or leave-future-out refits.

    The numbers :func:`compare` sums; one column per fit, one row per scored run (all runs for
    LOO, the future blocks for LFO). Arguments as in :func:`compare`; used by
    :func:`bayescale.average` for stacking weights.
    """
    if ic not in ("loo", "lfo"):
        raise ValueError(f"ic={ic!r} must be 'loo' or 'lfo' (leave-future-out, with order_by=)")
    if len(fits) < 2:
        raise ValueError(f"two or more fits are needed, got {len(fits)}: pass {{'name': fit, ...}}")
    if ic == "lfo":
        pointwise, _, _ = _lfo_pointwise(fits, order_by, n_folds=n_folds, min_train=min_train, refit_kwargs=refit_kwargs)
        return pd.DataFrame(pointwise)
    _check_same_data(fits)
    return pd.DataFrame(
        {name: np.asarray(_arviz.information_criterion(fit.idata, "loo").loo_i).reshape(-1) for name, fit in fits.items()}
    )


def _compare_lfo(fits, order_by, *, n_folds, min_train, refit_kwargs) -> pd.DataFrame:
    pointwise, warned, n = _lfo_pointwise(fits, order_by, n_folds=n_folds, min_train=min_train, refit_kwargs=refit_kwargs)
    return _lfo_table(pointwise, warned, n)


def _refit_and_score(fit, frame: pd.DataFrame, train: np.ndarray, scored: np.ndarray, refit_kwargs) -> tuple[np.ndarray, bool]:
    """Refit ``fit``'s model on ``frame[train]``; log predictive density of each row of ``frame[scored]``."""
    from bayescale.diagnostics import forecast_converged, quietly
    from bayescale.inference import refit
    from bayescale.posterior import pointwise_log_likelihood
    from bayescale.prediction_rows import prediction_inputs, with_new_levels

    again = quietly(lambda: refit(fit, train, refit_kwargs))  # judged by its scores (below), not its parameters
    seed = int(again.meta["settings"].get("seed", 0))
    test = frame.loc[scored].reset_index(drop=True)
    inputs, group_index, _ = prediction_inputs(again.law, test, again.columns, again.levels)
    sites = with_new_levels(again.spec, again.posterior_sites(), group_index, seed)
    _, log_lik = pointwise_log_likelihood(
        again.spec, sites, inputs, group_index, again.meta["centres"], test[fit.y].to_numpy(dtype=float),
        seed=seed + 2, trials=again.prediction_trials(test),
    )
    n_draws = log_lik.shape[0]
    lpd = np.logaddexp.reduce(log_lik, axis=0) - np.log(n_draws)
    return lpd, forecast_converged(again, np.asarray(log_lik))


def _lfo_table(pointwise: Mapping[str, np.ndarray], warned: Mapping[str, bool], n_folds: int) -> pd.DataFrame:
    elpd = {name: float(values.sum()) for name, values in pointwise.items()}
    best = max(elpd, key=elpd.__getitem__)
    order = sorted(elpd, key=elpd.__getitem__, reverse=True)
    top = max(elpd.values())
    raw = {name: np.exp(value - top) for name, value in elpd.items()}
    total = sum(raw.values())
    rows = []
    for rank, name in enumerate(order):
        values = pointwise[name]
        n = values.size
        diff = values - pointwise[best]
        rows.append(
            {
                "rank": rank,
                "elpd_lfo": elpd[name],
                "elpd_diff": elpd[best] - elpd[name],
                "weight": raw[name] / total,
                "se": float(np.sqrt(n * np.var(values))),
                "dse": float(np.sqrt(n * np.var(diff))),
                "n_scored": n,
                "n_folds": n_folds,
                "warning": warned[name],
            }
        )
    return pd.DataFrame(rows, index=pd.Index(order, name="model"))
