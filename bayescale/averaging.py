"""Several laws at once: stacking or pseudo-BMA weights, and one band from their mixture.

A user unsure whether Chinchilla's or Kaplan's form will hold at 10x does not have to pick one:
:func:`average` weighs the fits by how well each predicts held-out runs and returns an
:class:`AveragedFit` whose draws are the weighted mixture of the fits' posterior predictive
draws. It has ``predict``, ``posterior_draws``, ``plot`` and ``summary`` like a :class:`~bayescale.Fit`.

Weights:

* ``"stacking"`` (default): the weights that maximise the summed log score of the *mixture*
  on the held-out runs (Yao et al. 2018), from pointwise PSIS-LOO (``ic="loo"``) or
  leave-future-out (``ic="lfo"``, the extrapolation question) log predictive densities;
* ``"pseudo-bma"``: ``exp(elpd_k)`` normalised.

Stacking favours a combination that predicts well together, so two laws that agree share
weight instead of one taking it all, and a law that is never better gets close to zero.

References
----------
Yao, Y., Vehtari, A., Simpson, D., Gelman, A. (2018). Using stacking to average Bayesian
predictive distributions. Bayesian Analysis 13(3), 917-1007.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayescale.comparison import pointwise_elpd
from bayescale.law_error import LawError, warn_beyond_learned_reach
from bayescale.posterior import prediction_table

if TYPE_CHECKING:
    import matplotlib.axes

__all__ = ["AveragedFit", "average", "stacking_weights"]

METHODS = ("stacking", "pseudo-bma")


def stacking_weights(lpd: np.ndarray, *, max_iter: int = 10_000, tol: float = 1e-10) -> np.ndarray:
    """Stacking weights from pointwise log predictive densities ``lpd`` of shape ``(runs, models)``.

    Maximises ``sum_i log sum_k w_k exp(lpd[i, k])`` over the simplex by the EM fixed point of a
    mixture's weights (each step cannot lower the objective).

    Parameters
    ----------
    lpd : ndarray
        Pointwise log predictive densities, ``(runs, models)``, two or more models.
    max_iter : int
        Most EM steps.
    tol : float
        Stop when no weight moves by more than this in one step.

    Returns
    -------
    ndarray
        ``(models,)`` weights summing to one.

    Raises
    ------
    ValueError
        When ``lpd`` is not 2-d with two or more columns.
    """
    lpd = np.asarray(lpd, dtype=float)
    if lpd.ndim != 2 or lpd.shape[1] < 2:
        raise ValueError(f"lpd must have shape (runs, models) with two or more models, got {lpd.shape}")
    density = np.exp(lpd - lpd.max(axis=1, keepdims=True))  # a common factor per run does not change w
    weights = np.full(lpd.shape[1], 1.0 / lpd.shape[1])
    for _ in range(max_iter):
        mixture = density @ weights
        updated = weights * (density / mixture[:, None]).mean(axis=0)
        if np.abs(updated - weights).max() < tol:
            weights = updated
            break
        weights = updated
    return weights / weights.sum()


class AveragedFit:
    """The weighted mixture of several fits of the same runs; made by :func:`average`.

    Attributes
    ----------
    fits : dict of str to Fit
    weights : Series
        Weight of each fit, summing to one.
    method, ic : str
        How the weights were found.
    elpd : DataFrame
        Pointwise log predictive densities the weights came from (runs x fits).
    """

    def __init__(self, fits: Mapping[str, Any], weights: pd.Series, *, method: str, ic: str, elpd: pd.DataFrame):
        self.fits = dict(fits)
        self.weights = weights
        self.method = method
        self.ic = ic
        self.elpd = elpd

    @property
    def _reference(self):
        return self.fits[self.weights.idxmax()]

    @property
    def law(self):
        """The law of the fit with the largest weight (its inputs define prediction paths)."""
        return self._reference.law

    @property
    def data(self) -> pd.DataFrame:
        """The fitted rows (the same for every fit)."""
        return self._reference.data

    @property
    def y(self) -> str:
        """Name of the target column."""
        return self._reference.y

    @property
    def levels(self) -> dict[str, list[str]]:
        """Levels of each grouping column (the same for every fit)."""
        return self._reference.levels

    @property
    def columns(self) -> dict[str, str]:
        """Input name to column, of the fit with the largest weight."""
        return self._reference.columns

    @property
    def lower_is_better(self) -> bool:
        """Whether lower values of the target are better (as for the fit with the largest weight)."""
        return self._reference.lower_is_better

    @property
    def fitted_inputs(self) -> pd.DataFrame:
        """The inputs of the fitted rows, under the input names of the fit with the largest weight."""
        return self._reference.fitted_inputs

    def posterior_draws(
        self, data: pd.DataFrame, *, seed: int = 0, law_error: bool | LawError = True
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Draws of the curve and of a new run from the mixture, each ``(draws, rows)``.

        Each fit contributes a share of the draws equal to its weight (largest-remainder rounding
        of the smallest fit's draw count), chosen at random with ``seed``.

        Parameters
        ----------
        data : DataFrame
            Rows at which to draw, with the inputs of every fit's law.
        seed : int
            Seed of each fit's draws (:meth:`bayescale.Fit.posterior_draws`) and of the choice of
            draws kept from each fit.
        law_error : bool or LawError
            As in :meth:`bayescale.Fit.predict`; passed to every fit.

        Returns
        -------
        frame, curve, predictive
            The input and grouping columns of ``data`` (as kept by the fit with the largest
            weight); the mixture's curve draws and new-run draws, each ``(draws, rows)``.
        """
        rng = np.random.default_rng(seed)
        parts = {name: fit.posterior_draws(data, seed=seed, law_error=law_error) for name, fit in self.fits.items()}
        total = min(curve.shape[0] for _, curve, _ in parts.values())
        counts = _allocate(self.weights.to_numpy(), total)
        curves, predictives = [], []
        for (_, curve, predictive), count in zip(parts.values(), counts, strict=True):
            pick = rng.choice(curve.shape[0], size=count, replace=False)
            curves.append(curve[pick])
            predictives.append(predictive[pick])
        frame = parts[self.weights.idxmax()][0]
        return frame, np.concatenate(curves), np.concatenate(predictives)

    def predict(
        self, data: pd.DataFrame, level: float = 0.9, *, seed: int = 0, law_error: bool | LawError = True
    ) -> pd.DataFrame:
        """The prediction columns of :meth:`bayescale.Fit.predict`, from the mixture's draws.

        Parameters
        ----------
        data : DataFrame
            Rows at which to predict, with the inputs of every fit's law.
        level : float
            Probability mass of the central intervals.
        seed : int
            Seed of the draws (see :meth:`posterior_draws`).
        law_error : bool or LawError
            As in :meth:`bayescale.Fit.predict`; passed to every fit.

        Returns
        -------
        DataFrame
            The input (and grouping) columns, then ``median``, ``mean``, ``lower``, ``upper`` (the
            mixture's curve) and ``pred_lower``, ``pred_upper`` (a new run), as in
            :meth:`bayescale.Fit.predict`.

        Warns
        -----
        ExtrapolationWarning
            With ``law_error=True``, once, when rows lie further beyond some fit's runs than any
            forecast the law error was learned from, as in :meth:`bayescale.Fit.predict`.
        """
        frame, curve, predictive = self.posterior_draws(data, seed=seed, law_error=law_error)
        if law_error is True:
            furthest = np.max([fit.extrapolation_distance(data) for fit in self.fits.values()], axis=0)
            warn_beyond_learned_reach(furthest, data.index, stacklevel=2)
        return prediction_table(frame, curve, predictive, level)

    def summary(self) -> pd.DataFrame:
        """One row per fit, best weight first: ``weight``, the summed ``elpd`` and its ``n`` runs."""
        table = pd.DataFrame(
            {"law": [fit.law.name for fit in self.fits.values()], "weight": self.weights.to_numpy(),
             f"elpd_{self.ic}": self.elpd.sum().to_numpy(), "n": len(self.elpd)},
            index=pd.Index(list(self.fits), name="model"),
        )  # fmt: skip
        return table.sort_values("weight", ascending=False)

    def plot(
        self, x: str | None = None, *, ax: matplotlib.axes.Axes | None = None, **kwargs: Any
    ) -> matplotlib.axes.Axes:
        """Data, the mixture's median and 50% and 90% bands; see :func:`bayescale.plots.plot_fit`.

        Parameters
        ----------
        x : str, optional
            Horizontal axis: an input of the law of the fit with the largest weight, or ``"C"``
            for a law of ``N`` and ``D``. Default: the only input, or ``C``.
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.
        **kwargs
            Further options of :func:`bayescale.plots.plot_fit` (``extrapolate``, ``fixed``,
            ``group``, ``n_grid``, ``seed``, ``ylabel``, ``law_error``).

        Returns
        -------
        matplotlib.axes.Axes
            Titled with the method and each fit's weight.
        """
        from bayescale.plots import plot_fit

        ax = plot_fit(self, x=x, ax=ax, **kwargs)
        parts = ", ".join(f"{name} {w:.2f}" for name, w in self.weights.sort_values(ascending=False).items())
        ax.set_title(f"{self.method} average ({parts})")
        return ax

    def __repr__(self) -> str:
        parts = ", ".join(f"{name}: {w:.3f}" for name, w in self.weights.items())
        return f"<bayescale.AveragedFit {self.method} on {self.ic}, weights {{{parts}}}>"


def _allocate(weights: np.ndarray, total: int) -> np.ndarray:
    raw = weights * total
    counts = np.floor(raw).astype(int)
    counts[np.argsort(raw - counts)[::-1][: total - counts.sum()]] += 1
    return counts


def average(
    fits: Mapping[str, Any],
    method: str = "stacking",
    *,
    ic: str = "loo",
    order_by: str | None = None,
    **lfo_options: Any,
) -> AveragedFit:
    """Weigh several fits of the same runs and return their mixture.

    Parameters
    ----------
    fits : mapping of str to Fit
        Two or more fits of the same rows and target (e.g. different laws).
    method : {"stacking", "pseudo-bma"}
        Stacking of predictive distributions (Yao et al. 2018), or weights ``exp(elpd)`` normalised.
    ic : {"loo", "lfo"}
        Where the pointwise log predictive densities come from: PSIS-LOO, or leave-future-out
        refits (``order_by=`` the column ordering runs by scale; see :func:`bayescale.compare`).
    order_by : str, optional
        For ``ic="lfo"``.
    **lfo_options
        ``n_folds``, ``min_train``, ``refit_kwargs`` for ``ic="lfo"``.

    Returns
    -------
    AveragedFit

    Raises
    ------
    ValueError
        For an unknown ``method`` or ``ic``, fewer than two fits, or fits of different runs.

    Examples
    --------
    >>> both = bs.average({"chinchilla": f1, "kaplan": f2})          # doctest: +SKIP
    >>> both.summary(); both.predict(big_runs, level=0.9)            # doctest: +SKIP
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} must be one of {list(METHODS)}")
    if ic not in ("loo", "lfo"):
        raise ValueError(f"ic={ic!r} must be 'loo' or 'lfo' (leave-future-out, with order_by=)")
    lpd = pointwise_elpd(fits, ic, order_by=order_by, **lfo_options)
    if method == "stacking":
        weights = stacking_weights(lpd.to_numpy())
    else:
        elpd = lpd.sum().to_numpy()
        weights = np.exp(elpd - elpd.max())
        weights /= weights.sum()
    return AveragedFit(fits, pd.Series(weights, index=list(fits), name="weight"), method=method, ic=ic, elpd=lpd)
