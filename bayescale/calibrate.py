"""A leave-future-out check on the user's own ladder, and split-conformal widening.

:func:`calibrate` refits a fit without its largest runs, predicts them, and reports how often
the intervals would have covered them: the coverage this fit's extrapolations may have. When
asked (:meth:`Calibration.predict`), it widens the new-run intervals so that they would have
reached the nominal level on those runs (split-conformal on the held-out runs' scores).

A ladder has few runs at its top, so the check is coarse: with ``n`` held-out runs a coverage is
known to about ``1/n``, and the conformal guarantee holds only when ``ceil((n + 1) level) <= n``
(e.g. 19 runs for 90%); below that the largest score is used and :attr:`Calibration.guaranteed`
is False.

References
----------
Vovk, V., Gammerman, A., Shafer, G. (2005). Algorithmic Learning in a Random World. Springer.
Bürkner, P.-C., Gabry, J., Vehtari, A. (2020). Approximate leave-future-out cross-validation
for Bayesian time series models. J. Stat. Comput. Simul. 90(14), 2499-2523.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayescale.diagnostics import ConvergenceWarning
from bayescale.law_error import LawError, scale_inputs
from bayescale.law_error import default as default_law_error

__all__ = ["Calibration", "calibrate", "own_drift", "update_drift"]

LEVELS = (0.5, 0.8, 0.9, 0.95)


def _to_scale(fit, values: np.ndarray) -> np.ndarray:
    """Values of ``y`` on the likelihood's scale (log, or logit for metrics in (0, 1))."""
    values = np.asarray(values, dtype=float)
    if fit.spec.likelihood.log_space:
        return np.log(values)
    values = np.clip(values, 1e-9, 1 - 1e-9)
    return np.log(values) - np.log1p(-values)


def _from_scale(fit, values: np.ndarray) -> np.ndarray:
    if fit.spec.likelihood.log_space:
        return np.exp(values)
    return 1.0 / (1.0 + np.exp(-values))


def scale_order(fit, frame: pd.DataFrame) -> np.ndarray:
    """How far out each row is: the sum of ``log10`` of the law's scale inputs (signed by direction)."""
    return sum(direction * np.log10(frame[name].to_numpy(float)) for name, direction in scale_inputs(fit.law).items())


@dataclass
class Calibration:
    """The result of :func:`calibrate`.

    Attributes
    ----------
    fit : Fit
        The fit that was checked (its predictions are what :meth:`predict` widens).
    runs : DataFrame
        One row per held-out run: its inputs, ``y``, the refit's ``median``, ``pred_lower`` and
        ``pred_upper`` at ``level``, ``inside``, the extrapolation ``distance`` (decades) and the
        conformity ``score`` (distance from the median in units of the interval's half-width).
    coverage : Series
        Observed coverage of the refit's new-run intervals at 50/80/90/95%.
    level : float
        The level the widening is calibrated for.
    factor : float
        How much the new-run interval's half-widths (on the likelihood's scale) are multiplied by
        in :meth:`predict`; at least 1.
    guaranteed : bool
        Whether enough runs were held out for the split-conformal guarantee at ``level``.
    converged : bool
        Whether the refit's forecast of the held-out runs met the convergence rule
        (:func:`bayescale.diagnostics.forecast_converged`: its curve there, and its divergences).
    law_error : LawError
        The learned law error updated with the held-out runs' residuals from the refit's law
        (:func:`update_drift`): this ladder's own drift, to pass as ``predict(..., law_error=)``.
        It learns from runs only ``holdout`` of the ladder beyond the rest, so it speaks for a
        continuation of the same kind; a ladder whose top runs follow its law gets a narrower drift.
    checked_with : bool or LawError
        The law error of the intervals whose coverage was checked (``False``, or the learned
        drift for ``law_error=True``): :meth:`predict` uses it, so that :attr:`factor` widens the
        intervals it was measured on (not those of :meth:`Fit.predict`'s default, which sizes the
        drift by these very runs).
    """

    fit: Any
    runs: pd.DataFrame
    coverage: pd.Series
    level: float
    factor: float
    guaranteed: bool
    converged: bool
    law_error: LawError | None = None
    checked_with: bool | LawError = False

    def predict(self, data: pd.DataFrame, *, seed: int = 0, **options: Any) -> pd.DataFrame:
        """:meth:`Fit.predict` at this calibration's level, new-run intervals widened by :attr:`factor`.

        The curve columns (``median``, ``lower``, ``upper``) are unchanged; ``pred_lower`` and
        ``pred_upper`` move away from the median by ``factor`` times their distance on the
        likelihood's scale. The law error is by default the one the check used
        (:attr:`checked_with`), and with ``likelihood="frontier"`` the new run is one like the
        held-out runs the factor was measured on (``new_run="any"``, untuned excess included).

        Parameters
        ----------
        data : DataFrame
            Rows at which to predict, as for :meth:`bayescale.Fit.predict`.
        seed : int
            Seed of the draws.
        **options
            Further options of :meth:`bayescale.Fit.predict` (``new_groups``, ``law_error``,
            ``new_run``; ``law_error`` defaults to :attr:`checked_with`, ``new_run`` to ``"any"`` here).

        Returns
        -------
        DataFrame
            The columns of :meth:`bayescale.Fit.predict` at :attr:`level`, ``pred_lower`` and
            ``pred_upper`` widened.
        """
        options.setdefault("new_run", "any")
        options.setdefault("law_error", self.checked_with)
        table = self.fit.predict(data, self.level, seed=seed, **options)
        centre = _to_scale(self.fit, table["median"])
        for column in ("pred_lower", "pred_upper"):
            edge = _to_scale(self.fit, table[column])
            table[column] = _from_scale(self.fit, centre + self.factor * (edge - centre))
        return table

    def summary(self) -> pd.DataFrame:
        """Nominal against observed coverage on the held-out runs, with their count."""
        return pd.DataFrame(
            {"nominal": self.coverage.index, "observed": self.coverage.to_numpy(), "runs": len(self.runs)}
        ).set_index("nominal")

    def __repr__(self) -> str:
        cover = ", ".join(f"{int(100 * k)}%: {v:.2f}" for k, v in self.coverage.items())
        note = "" if self.guaranteed else " (too few runs for the conformal guarantee)"
        return (
            f"<bayescale.Calibration {len(self.runs)} held-out runs; coverage {cover}; "
            f"widening x{self.factor:.2f} at {self.level:.0%}{note}>"
        )


def calibrate(
    fit,
    *,
    holdout: float = 0.2,
    level: float = 0.9,
    law_error: bool | LawError = True,
    refit_kwargs: Mapping[str, Any] | None = None,
    seed: int = 0,
    drift_prior: LawError | None = None,
) -> Calibration:
    """Refit without the largest runs, predict them, and measure the intervals' coverage.

    Parameters
    ----------
    fit : Fit
    holdout : float
        Share of the runs held out, taken from the top of the ladder: the runs furthest out along
        the law's scale inputs (sum of their ``log10``; see :func:`bayescale.law_error.scale_inputs`).
        At least one run is held out and at least ``2 + number of law parameters`` are kept.
    level : float
        The interval checked and calibrated.
    law_error : bool or LawError
        Whether the refit's predictions carry the law error. ``True``: the learned one
        (``drift_prior``), not the refit's own drift (which would need yet another refit); so
        the coverage checked is that of intervals with the learned drift, which
        :meth:`Calibration.predict` widens, not that of :meth:`Fit.predict`'s default.
    refit_kwargs : mapping, optional
        Sampler settings of the refit that differ from the fit's (e.g. ``{"draws": 500}``; the
        names in :data:`bayescale.inference.REFIT_SETTINGS`). With the fit's own, the refit runs
        the fit's compiled program with the held-out runs masked out: no compile.
    seed : int
        Seed of the predictions.
    drift_prior : LawError, optional
        The law error that :attr:`Calibration.law_error` updates with this ladder's own held-out
        residuals; default the learned one (:func:`bayescale.law_error.default`).

    Returns
    -------
    Calibration

    Raises
    ------
    ValueError
        When ``holdout`` or ``level`` is outside (0, 1), or the ladder is too short to hold out a run.
    """
    if not 0 < holdout < 1:
        raise ValueError(f"holdout={holdout!r} must lie in (0, 1), e.g. 0.2 to hold out the top fifth of the runs")
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must lie in (0, 1), e.g. 0.9")
    from bayescale.diagnostics import forecast_converged, quietly
    from bayescale.inference import refit

    frame = fit.data.reset_index(drop=True)
    order = np.argsort(scale_order(fit, frame), kind="stable")
    n_out = _n_held_out(len(frame), holdout)
    if not can_hold_out(fit, holdout):
        raise ValueError(
            f"the fit has {len(frame)} runs; holding out {n_out} leaves fewer than {2 + len(fit.law.params)} to "
            f"refit law {fit.law.name!r}. Use a smaller holdout= or a longer ladder"
        )
    prior = drift_prior if drift_prior is not None else default_law_error()
    if law_error is True:
        law_error = prior
    held = frame.iloc[order[-n_out:]].reset_index(drop=True)
    keep = np.ones(len(frame), dtype=bool)
    keep[order[-n_out:]] = False
    # judged by its forecast (below), not its parameters; one refit per fit and settings (a seeded
    # refit of the same runs is the same), shared by own_law_error() and calibrate()
    # (values by repr: an unhashable bad value reaches refit's own error naming the setting)
    refit_key = (keep.tobytes(), tuple(sorted((name, repr(v)) for name, v in dict(refit_kwargs or {}).items())))
    again = fit._held_out_refits.get(refit_key)
    if again is None:
        again = fit._held_out_refits[refit_key] = quietly(lambda: refit(fit, keep, refit_kwargs))
    # held-out rows are runs like the fitted ones (for ``frontier``: untuned ones too)
    _, law_curve, law_predictive = again.posterior_draws(held, seed=seed, law_error=False, new_run="any")
    predictive = (law_predictive if law_error is False
                  else again.posterior_draws(held, seed=seed, law_error=law_error, new_run="any")[2])  # fmt: skip
    converged = forecast_converged(again, law_curve)
    y = _to_scale(fit, held[fit.y].to_numpy(float))
    draws = _to_scale(fit, predictive)
    median = np.median(draws, axis=0)
    coverage = {}
    for nominal in sorted({*LEVELS, level}):
        lo, hi = np.quantile(draws, [(1 - nominal) / 2, (1 + nominal) / 2], axis=0)
        coverage[nominal] = float(np.mean((y >= lo) & (y <= hi)))
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    half = np.where(y >= median, hi - median, median - lo)
    score = np.abs(y - median) / np.maximum(half, 1e-12)
    n = len(score)
    rank = int(np.ceil((n + 1) * level))
    guaranteed = rank <= n
    q = np.sort(score)[min(rank, n) - 1]
    runs = held[[*fit.law.inputs, *fit.levels, fit.y]].copy()
    runs["median"] = _from_scale(fit, median)
    runs["pred_lower"], runs["pred_upper"] = _from_scale(fit, lo), _from_scale(fit, hi)
    runs["inside"] = (y >= lo) & (y <= hi)
    runs["distance"] = again.extrapolation_distance(held)
    runs["score"] = score
    plain = _to_scale(fit, law_predictive)
    lo16, hi84 = np.quantile(plain, [0.16, 0.84], axis=0)
    better = -1.0 if fit.law.lower_is_better else 1.0
    own = update_drift(
        prior,
        residual=better * (y - np.median(plain, axis=0)),
        spread=np.maximum((hi84 - lo16) / 2, 1e-6),
        distance=runs["distance"].to_numpy(float),
        seed=seed,
    )
    return Calibration(
        fit=fit,
        runs=runs,
        coverage=pd.Series(coverage, name="coverage"),
        level=level,
        factor=float(max(1.0, q)),
        guaranteed=guaranteed,
        converged=converged,
        law_error=own,
        checked_with=law_error,
    )


def can_hold_out(fit, holdout: float = 0.2) -> bool:
    """Whether :func:`calibrate` can hold out ``holdout`` of the fit's runs and refit the rest
    (at least ``2 +`` the number of the law's parameters must be kept)."""
    n = len(fit.data)
    return n - _n_held_out(n, holdout) >= 2 + len(fit.law.params)


def _n_held_out(n: int, holdout: float) -> int:
    """How many of ``n`` runs :func:`calibrate` holds out: the share ``holdout``, at least one."""
    return max(1, int(round(holdout * n)))


def own_drift(fit, *, seed: int = 0) -> LawError:
    """The law error a fit's predictions carry by default: the learned one, sized by its own top runs.

    :func:`calibrate` (its top fifth held out, no law error on the refit's predictions) and its
    :attr:`Calibration.law_error`: the learned drift's size updated with how far the top fifth
    landed from the refit (:func:`update_drift`). One more sampling run of the fit's compiled
    program (:func:`bayescale.inference.refit`), no compile. A ladder too short to hold out a
    fifth keeps the learned drift (:func:`bayescale.law_error.default`).

    On the 31 forward splits of ``benchmarks/calibration.py`` (learned leave-one-dataset-out) this
    drift's 90% intervals covered 0.96 of the held-out runs (0.87-1.00 per dataset) at a median
    width of 2.0%, against 0.98 at 3.4% for the learned drift alone; its interval score was lower
    on 5 of 7 datasets and on the synthetic ladders (``benchmarks/RESULTS.md``, stop 25).

    Parameters
    ----------
    fit : Fit
    seed : int
        Seed of the refit's predictions and of the drift's draws.

    Returns
    -------
    LawError
    """
    prior = default_law_error()
    if not can_hold_out(fit):
        return prior
    check = calibrate(fit, law_error=False, seed=seed, drift_prior=prior)
    assert check.law_error is not None
    if check.converged:
        return check.law_error
    warnings.warn(
        "sizing the law error by the ladder's top fifth: the refit's forecast of those runs broke the convergence rule, so "
        "the drift's size is rough. Fit with more draws, or pass law_error=bs.law_error.default() (the learned "
        "drift, not sized by the ladder)",
        ConvergenceWarning,
        stacklevel=4,
    )
    return dataclasses.replace(check.law_error, source=check.law_error.source + " (its refit broke the convergence rule)")


def update_drift(
    prior: LawError, residual: np.ndarray, spread: np.ndarray, distance: np.ndarray, *, seed: int, draws: int = 20_000
) -> LawError:
    """How far this ladder may drift, given its own held-out residuals: update the drift's *size*.

    The learned drift is a scale mixture: a ladder's gain ``b`` is normal with sd
    ``tau = sqrt(sd_dataset**2 + sd_ladder**2 / w)``, ``w ~ Gamma(nu/2, nu/2)`` (which makes the
    ladder part Student-t). Each of ``draws`` prior draws of ``(tau, power)`` is weighted by the
    likelihood of the residuals, ``prod_j Normal(residual_j; mu d_j**power, sqrt(spread_j**2 + tau**2 d_j**(2 power)))``
    (each run weighed on its own: a composite likelihood, the form that was measured), and 1,000
    are resampled; the result draws a fresh normal gain with each resampled ``tau``.

    Only the size is updated, not the direction: across the 31 forward splits of
    ``benchmarks/calibration.py`` the sign of a ladder's top-fifth residuals often flips further out
    (the full fit bends towards those runs), so pinning the gain itself was over-confident
    (``benchmarks/RESULTS.md``, calibration section, method ``bayes+own_drift``). A ladder
    whose top runs follow its law gets a narrower drift; one whose top runs wander, a wider one.

    Parameters
    ----------
    prior : LawError
        The drift to update (e.g. :func:`bayescale.law_error.default`).
    residual : ndarray
        Each held-out run's residual from the refit's median on the likelihood's scale, signed
        so that positive is *better* than predicted.
    spread : ndarray
        Sd of the refit's prediction of each held-out run, same scale.
    distance : ndarray
        Decades of each held-out run beyond the refit's runs
        (:func:`bayescale.law_error.extrapolation_distance`).
    seed : int
        Seed of the prior draws, the mixing weights and the resampling.
    draws : int
        Number of prior draws weighed.

    Returns
    -------
    LawError
        1,000 resampled draws, each with its prior draw's ``mu``, ``power`` and ``sd_dataset``,
        ``sd_ladder`` its ladder part at the drawn mixing weight (so that the two parts add up to
        ``tau``) and ``nu`` infinite (a normal gain).
    """
    rng = np.random.default_rng([seed, 0xCA1])
    pick = rng.integers(0, prior.mu.size, draws)
    nu = prior.nu[pick]
    mixing = np.ones(draws)  # w of the Student-t ladder part (1 where it is normal)
    finite = np.isfinite(nu)
    mixing[finite] = rng.gamma(nu[finite] / 2, 2 / nu[finite])
    tau = np.sqrt(prior.sd_dataset[pick] ** 2 + prior.sd_ladder[pick] ** 2 / mixing)
    power = prior.power[pick]
    distance = np.asarray(distance, float)
    reach = np.where(distance[None, :] > 0, distance[None, :] ** power[:, None], 0.0)
    centre = prior.mu[pick][:, None] * reach
    variance = np.asarray(spread, float)[None, :] ** 2 + (tau[:, None] * reach) ** 2
    log_w = -0.5 * (((np.asarray(residual, float)[None, :] - centre) ** 2) / variance + np.log(variance)).sum(axis=1)
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    chosen = rng.choice(draws, size=1000, p=w)
    # each resampled draw keeps its dataset and ladder parts (the ladder part's mixing weight fixed):
    # the same normal gain of sd tau, and fits predicted with one seed still share the dataset part,
    # which cancels in the difference of two recipes extrapolated equally far
    return LawError(prior.mu[pick][chosen], prior.sd_dataset[pick][chosen],
                    prior.sd_ladder[pick][chosen] / np.sqrt(mixing[chosen]), np.full(1000, np.inf), power[chosen],
                    source=f"{prior.source}; its size updated with {len(residual)} held-out runs of this ladder")  # fmt: skip
