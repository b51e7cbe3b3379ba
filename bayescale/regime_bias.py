r"""The law's error away from a target's regime, as a design charges it.

A law fitted across regimes (for ``N`` and ``D``: tokens per parameter) holds in each only up to
its error, and the refit fits it through every run as if it held. A run off the target's regime
therefore moves the refit's forecast of the target by what it teaches *plus* its share of the
law's error there, a bias the refit's intervals do not contain, and the refit reads that error as
scatter, widening its noise. :func:`bayescale.next_runs` (with posterior draws) charges both, and
:func:`bayescale.plan_ladder` (with the linearised prior) the bias, from the same pieces:

* :func:`regime_error`: which error is charged (learned across regimes, the user's, or none);
* :func:`off_regime_at` and :class:`OffRegime`: each candidate's distance from the target's
  regime, its side, and the second moments ``E`` of the errors between candidates;
* :class:`RegimeBias`: the bias's second moment ``K' E K`` in the refit's forecast for a batch of
  runs and for the batch plus each candidate (the integrated mean squared error of Box and
  Draper 1959), and the rise of the refit's noise (:meth:`RegimeBias.noise_rise`).

References
----------
Box, G. E. P. and Draper, N. R. (1959). A basis for the selection of a response surface design.
Journal of the American Statistical Association 54(287), 622-654.
"""

from __future__ import annotations

import numpy as np

from bayescale.law_error import LawError, off_regime

__all__ = ["OffRegime", "RegimeBias", "off_regime_at", "regime_error"]


def regime_error(law_error: bool | LawError, off_regime_error: bool | LawError | None) -> LawError | None:
    """The law's error away from the target's regime that a design charges, or None.

    ``off_regime_error`` as :func:`bayescale.next_runs` takes it (None: as ``law_error`` says); ``True``
    is the error learned across regimes (:func:`bayescale.law_error.off_regime`). None when
    ``law_error`` is False.
    """
    if law_error is False:
        return None
    chosen = law_error if off_regime_error is None else off_regime_error
    return off_regime() if chosen is True else chosen if isinstance(chosen, LawError) else None


def off_regime_at(signed_candidates: np.ndarray, signed_target: np.ndarray, error: LawError) -> OffRegime | None:
    """The law's error at each candidate from its distance to the target's regime (:class:`OffRegime`).

    A row's regime is where it lies *across* the scale direction: its signed ``log10`` inputs
    (:func:`~bayescale.law_error.signed_log_inputs`, ``(rows, inputs)``) minus their mean, which
    for a law of ``N`` and ``D`` is its tokens per parameter. A candidate's distance is the L1
    distance (decades) between its regime and the nearest target row's (for ``N`` and ``D``,
    ``|log10|`` of the ratio of their tokens per parameter); its side, the input furthest from the
    target's and whether it is above or below. The error is a drift of that distance, ``error``
    (learned across regimes, :func:`~bayescale.law_error.off_regime`, or the user's own), with one
    gain for each side of the regime (more tokens per parameter, fewer). None for a law with fewer
    than two scale inputs, and when every candidate is on the target's regime.
    """
    if signed_target.shape[-1] < 2:
        return None

    def across(signed: np.ndarray) -> np.ndarray:
        return signed - signed.mean(axis=-1, keepdims=True)

    n_candidates = len(signed_candidates)
    gap = across(signed_candidates)[:, None, :] - across(signed_target)[None, :, :]
    size = np.abs(gap).sum(axis=-1)  # (candidates, target rows)
    nearest = gap[np.arange(n_candidates), size.argmin(axis=1)]  # (candidates, inputs)
    distance = np.round(size.min(axis=1), 2)  # a hundredth of a decade, as in _Target._at
    if not distance.any():
        return None
    furthest = np.abs(nearest).argmax(axis=1)
    side = np.where(distance > 0, 2 * furthest + (nearest[np.arange(n_candidates), furthest] > 0), -1)
    return OffRegime(side, distance, error)


class OffRegime:
    """The law's error at candidates away from the target's regime: its second moments.

    Candidate ``c`` on side ``k`` of the target's regime (``side``; -1 on it), ``d_c`` decades
    from it, sees the law's curve plus the drift ``g_k d_c ** power``: one gain per side, with
    a part shared by the sides (``mu``, ``sd_dataset`` of the :class:`LawError`) and one of its
    own (``sd_ladder``). Its Student-t part is counted by its scale, not its variance (which is
    infinite, or nearly so, for ``nu`` near 2: a squared error would be ruled by the tail). The
    moments are averaged over the law error's posterior draws (the power is learned).
    """

    def __init__(self, side: np.ndarray, distance: np.ndarray, law_error: LawError) -> None:
        self.side = side
        self.h = np.where(side[:, None] >= 0, distance[:, None] ** law_error.power[None, :], 0.0)  # (candidates, L)
        self.shared = law_error.mu**2 + law_error.sd_dataset**2
        self.own = law_error.sd_ladder**2

    def moment(self, rows: np.ndarray | list[int], columns: np.ndarray | list[int]) -> np.ndarray:
        """``E[e_r e_c]`` between the errors at candidates ``rows`` and ``columns``."""
        h_r, h_c = self.h[rows], self.h[columns]
        same = self.side[rows][:, None] == self.side[columns][None, :]
        return ((h_r * self.shared) @ h_c.T + same * ((h_r * self.own) @ h_c.T)) / self.h.shape[1]

    def sd(self) -> np.ndarray:
        """Root mean square error at each candidate."""
        return np.sqrt((self.h**2 * (self.shared + self.own)).mean(axis=1))


class RegimeBias:
    """The squared error the law's error away from the target's regime puts into the refit's
    forecast of the target, for a batch of runs and for the batch plus each candidate.

    The refit fits the law through the runs as if it held at each (it does not know the law's
    error off the regime): linearised, its forecast moves by ``K' r`` for residuals ``r`` at the
    runs, with ``K = (S + noise I)^-1 c`` (``S``: the curve's covariance between the runs over the
    posterior draws, ``c``: its covariance with the target), so the law's errors ``e`` there bias
    it by ``K' e``, of second moment ``K' E K`` (``E``: :meth:`OffRegime.moment`). The
    refit's intervals do not contain it; the design adds it to the variance they do contain (the
    integrated mean squared error of Box and Draper 1959). For a batch plus each candidate the
    weights ``K`` come from a block (Schur) update of the batch's, for every candidate at once.

    The same error also enters the refit's *noise*: the refit reads a run's error as scatter, and
    its noise variance is about an average of squared residuals over the runs it fits, so it moves
    from ``F / n`` (``F``: the ``n_fitted`` fitted runs' summed ``E[e^2]``, ``fitted_error``) to
    ``(F + sum_b E[e_b^2]) / (n + |b|)`` with a batch ``b``, and with it the new-run variance at
    each of the target's ``noise_rows`` rows (a prediction; 0 for targets without noise: an
    optimum, a comparison, a metric). This is :meth:`noise_rise`: a run off the regime raises it,
    and a run on the regime dilutes the misfit the fitted runs already put there.
    """

    def __init__(self, location: np.ndarray, off_regime: OffRegime, noise_var: float, *, n_fitted: int = 0,
                 noise_rows: int = 0, fitted_error: float = 0.0) -> None:  # fmt: skip
        self.runs = location - location.mean(axis=1, keepdims=True)  # (candidates, draws)
        self.off, self.noise_var = off_regime, noise_var
        self.n = location.shape[1] - 1
        self.var = np.einsum("cs,cs->c", self.runs, self.runs) / self.n + noise_var
        self.error_var = self.off.sd() ** 2
        self.n_fitted, self.noise_rows, self.fitted_error = n_fitted, noise_rows, fitted_error

    def noise_rise(self, chosen: list[int], *, each: bool = False) -> np.ndarray:
        """The change of the target's new-run variance (summed over its rows) through the refit's
        noise: for the batch ``chosen`` (a scalar array), or (``each``) for the batch plus each
        candidate, ``(candidates,)``; negative where runs on the regime dilute the fitted runs' misfit."""
        if not self.noise_rows:  # a target without noise (or no fitted runs given)
            return np.zeros(len(self.error_var) if each else ())
        total = self.fitted_error + self.error_var[chosen].sum() + (self.error_var if each else 0.0)
        runs = self.n_fitted + len(chosen) + int(each)
        return self.noise_rows * (np.asarray(total) / runs - self.fitted_error / self.n_fitted)

    def batch(self, chosen: list[int], values: np.ndarray) -> float:
        """The bias's second moment (summed over the target's quantities) for the batch ``chosen``
        alone, plus its :meth:`noise_rise` (:meth:`of` gives both with the batch plus each candidate)."""
        target = values - values.mean(axis=0)
        runs = self.runs[chosen]
        weights = np.linalg.solve(runs @ runs.T / self.n + self.noise_var * np.eye(len(chosen)), runs @ target / self.n)
        return float(np.einsum("bq,bd,dq->", weights, self.off.moment(chosen, chosen), weights) + self.noise_rise(chosen))

    def of(self, chosen: list[int], values: np.ndarray) -> tuple[float, np.ndarray]:
        """The bias's second moment (summed over the target's quantities) plus the
        :meth:`noise_rise`, for the batch ``chosen`` and for ``chosen`` plus each candidate,
        ``(candidates,)``; ``values`` are the target's draws ``(draws, quantities)``."""
        target = values - values.mean(axis=0)
        cross = self.runs @ target / self.n  # (candidates, quantities)
        if not chosen:
            weights = cross / self.var[:, None]
            return 0.0, self.error_var * (weights * weights).sum(axis=1) + self.noise_rise(chosen, each=True)
        batch = self.runs[chosen]
        inverse = np.linalg.inv(batch @ batch.T / self.n + self.noise_var * np.eye(len(chosen)))
        with_each = batch @ self.runs.T / self.n  # (batch, candidates)
        u = inverse @ with_each
        schur = np.maximum(self.var - (with_each * u).sum(axis=0), 1e-12 * self.noise_var)
        weights_batch = inverse @ cross[chosen]  # (batch, quantities)
        moments = self.off.moment(chosen, chosen)
        now = float(np.einsum("bq,bd,dq->", weights_batch, moments, weights_batch))
        weights_each = (cross - u.T @ cross[chosen]) / schur[:, None]  # (candidates, quantities)
        weights_rest = weights_batch[None] - u.T[:, :, None] * weights_each[:, None, :]  # (candidates, batch, quantities)
        between = self.off.moment(chosen, np.arange(len(self.var)))  # (batch, candidates)
        each = (np.einsum("cbq,bd,cdq->c", weights_rest, moments, weights_rest)
                + 2 * np.einsum("cbq,bc,cq->c", weights_rest, between, weights_each)
                + self.error_var * (weights_each * weights_each).sum(axis=1))  # fmt: skip
        return now + float(self.noise_rise(chosen)), each + self.noise_rise(chosen, each=True)
