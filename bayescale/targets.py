"""What an experimental design must make certain: the targets of :func:`bayescale.next_runs`.

A target turns the posterior draws of a fit into draws of one or more quantities, one column
each, on a scale where their variance is meaningful (``log y`` for a loss, ``log N*`` for a
compute-optimal size). :func:`bayescale.next_runs` ranks candidate runs by how much they are
expected to shrink the variance of those draws.

* :func:`predict` (or a plain DataFrame): the curve of new runs at given rows, with the law error
  beyond the fitted runs (:mod:`bayescale.law_error`), on ``log y``.
* :func:`optimum`: the compute-optimal allocation at given budgets (:mod:`bayescale.optimal`),
  ``log N*`` by default.
* :func:`better`: whether the fit's recipe beats another fit's at given rows (the decision a
  crossover is about); its variance is ``p (1 - p)``, largest when the decision is a coin flip.
* :func:`metric`: a downstream metric at given rows, the link of a
  :func:`bayescale.fit_downstream` fit applied to the fit's loss curve.

Examples
--------
>>> import bayescale as bs
>>> bs.targets.optimum(C=1e23)
Optimum(C=(1e+23,), quantity='N', group=None)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

__all__ = ["AtRows", "Better", "Metric", "Optimum", "Prediction", "Target", "as_target", "better", "metric", "optimum", "predict"]


class Target:
    """A quantity (one or more columns of draws) whose posterior variance a design should shrink.

    Subclasses define :meth:`rows` (prediction rows the quantity needs, or None) and
    :meth:`values`; :attr:`units` says on which scale the variance is counted.
    """

    units: str = ""
    #: Whether :meth:`values` is ``location`` itself: then the law error's variance simply adds to
    #: the curve's, and :func:`bayescale.next_runs` counts it exactly instead of by reweighting its draws.
    additive: ClassVar[bool] = False

    def rows(self) -> pd.DataFrame | None:
        """Rows at which :func:`bayescale.next_runs` must draw the curve for this target (or None)."""
        return None

    def values(self, fit, location: np.ndarray | None) -> np.ndarray:
        """Draws ``(draws, quantities)`` of the target, given the curve at :meth:`rows` on ``log y``.

        Parameters
        ----------
        fit : Fit
            The posterior the draws come from.
        location : ndarray or None
            Draws ``(draws, rows)`` of ``log`` of the curve at :meth:`rows`; None when the
            target has no rows.

        Returns
        -------
        ndarray
            ``(draws, quantities)``.

        Raises
        ------
        NotImplementedError
            Always, in the base class; subclasses define it.
        """
        raise NotImplementedError


@dataclass(frozen=True)
class AtRows(Target):
    """A target computed from the curve at the rows of ``frame`` (the law's inputs, as for
    :meth:`~bayescale.Fit.predict`): the base of :class:`Prediction`, :class:`Better` and :class:`Metric`."""

    frame: pd.DataFrame

    def __post_init__(self) -> None:
        if not isinstance(self.frame, pd.DataFrame):
            raise TypeError(f"target rows must be a DataFrame, got {type(self.frame).__name__}")
        if self.frame.empty:
            raise ValueError("target: the DataFrame of target rows is empty; give at least one row, e.g. N=7e9, D=2e12")

    def rows(self) -> pd.DataFrame:
        """The target rows, :attr:`frame`."""
        return self.frame


@dataclass(frozen=True)
class Prediction(AtRows):
    """The curve of a new run at the rows of ``frame`` (the law's inputs, as for :meth:`~bayescale.Fit.predict`).

    Its draws are ``log`` of the curve, law error included when :func:`bayescale.next_runs` is
    asked for it; the variance of several rows is summed.
    """

    units: str = "variance of log y (the curve of a new run, law error included), summed over the target rows"
    additive: ClassVar[bool] = True

    def values(self, fit, location: np.ndarray | None) -> np.ndarray:
        """The curve's draws at :attr:`frame` on ``log y``, ``location`` itself.

        Parameters
        ----------
        fit : Fit
            Not used: the draws are ``location``.
        location : ndarray
            Draws ``(draws, rows)`` of ``log`` of the curve at the rows of :attr:`frame`.

        Returns
        -------
        ndarray
            ``location`` as float64, one column per row.
        """
        return np.asarray(location, dtype=np.float64)

    def __repr__(self) -> str:
        return f"Prediction({len(self.frame)} rows)"


@dataclass(frozen=True)
class Optimum(Target):
    """The compute-optimal ``N*`` (or ``D*``, ``D/N``) at FLOP budgets ``C``, on the log scale.

    Per posterior draw, from :func:`bayescale.optimal.optimal_draws` (population parameters, or
    one level's with ``group``); the law error does not enter (it is a property of prediction,
    not of the parameters the optimum is computed from). Laws of ``N`` and ``D`` only.
    """

    C: tuple[float, ...]
    quantity: str = "N"
    group: Mapping[str, str] | None = None

    @property
    def units(self) -> str:  # type: ignore[override]
        return f"variance of log {self.quantity}* at the budget(s), summed over budgets"

    def values(self, fit, location: np.ndarray | None) -> np.ndarray:
        """Draws of ``log`` of :attr:`quantity` at the optimum of each budget in :attr:`C`.

        Parameters
        ----------
        fit : Fit
            A fit of a law of ``N`` and ``D``; :func:`bayescale.optimal.optimal_draws` finds
            each draw's optimum (one level's with :attr:`group`).
        location : ndarray or None
            Not used (the target has no rows).

        Returns
        -------
        ndarray
            ``(draws, len(C))``.
        """
        from bayescale.optimal import optimal_draws

        return np.log(optimal_draws(fit, list(self.C), group=self.group)[self.quantity])


def _paired(draws: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws of another posterior (rows of ``draws``), cycled or cut to pair with this fit's ``n``."""
    return draws[np.arange(n) % len(draws)]


@dataclass(frozen=True)
class Better(AtRows):
    """Whether the fit's curve beats ``other``'s at the rows of ``frame``: draws of the indicator.

    Per draw, 1 where the fit's curve (law error included when :func:`bayescale.next_runs` is asked
    for it) is better than ``other``'s curve at the same row (lower for a loss), else 0; the
    other fit's draws are paired with this fit's by index. The mean is P(better); the variance
    ``p (1 - p)``, which a run can shrink only by moving ``p`` towards 0 or 1, is the uncertainty
    of the decision. Runs of the other recipe are not candidates: plan them with the roles swapped.
    """

    other: Any = None
    law_error: Any = True
    units: str = "variance of the indicator that this fit beats the other (p(1 - p)), summed over the target rows"

    def values(self, fit, location: np.ndarray | None) -> np.ndarray:
        """Draws ``(draws, rows)`` of 1 (this fit better) or 0.

        Parameters
        ----------
        fit : Fit
            The fit whose runs are planned; it must say whether lower is better, as ``other``.
        location : ndarray
            Draws ``(draws, rows)`` of ``log`` of this fit's curve at :attr:`frame`.

        Returns
        -------
        ndarray
            ``(draws, rows)`` of 0.0 and 1.0.
        """
        assert location is not None, "Better has rows; next_runs passes their draws"
        _, other_curve, _ = self.other.posterior_draws(self.frame, law_error=self.law_error)
        other = np.log(_paired(np.asarray(other_curve, dtype=np.float64), len(location)))
        better = location < other if fit.lower_is_better else location > other
        return better.astype(np.float64)

    def __repr__(self) -> str:
        return f"Better(than a fit of {self.other.law.name!r}, {len(self.frame)} rows)"


@dataclass(frozen=True)
class Metric(AtRows):
    """A downstream metric at the rows of ``frame``: ``downstream``'s link applied to the fit's loss curve.

    Per draw, the fit's loss curve at each row (law error included when asked) is mapped to the
    metric by one draw of the link of ``downstream`` (a joint :func:`bayescale.fit_downstream`
    fit; its draws are paired with the fit's by index), interpolated on a fine grid of losses.
    The fit and the link must measure the same loss (e.g. the same validation set).
    """

    downstream: Any = None
    task: str | None = None
    units: str = "variance of the downstream metric (the link of the loss curve), summed over the target rows"

    def values(self, fit, location: np.ndarray | None) -> np.ndarray:
        """Draws ``(draws, rows)`` of the metric at :attr:`frame`.

        Parameters
        ----------
        fit : Fit
            The loss fit whose runs are planned (not used beyond ``location``).
        location : ndarray
            Draws ``(draws, rows)`` of ``log`` of the fit's loss curve at :attr:`frame`.

        Returns
        -------
        ndarray
            ``(draws, rows)``: the metric (an accuracy, or an error for an error metric).
        """
        assert location is not None, "Metric has rows; next_runs passes their draws"
        loss = np.exp(np.asarray(location, dtype=np.float64))
        grid = np.linspace(loss.min(), loss.max(), 256) if loss.max() > loss.min() else loss.reshape(-1)[:1]
        link = _paired(np.asarray(self.downstream.link_draws(grid, task=self.task), dtype=np.float64), len(loss))
        if len(grid) == 1:
            return np.broadcast_to(link, loss.shape).copy()
        return np.stack([np.interp(loss[i], grid, link[i]) for i in range(len(loss))])

    def __repr__(self) -> str:
        task = f", task {self.task!r}" if self.task else ""
        return f"Metric({self.downstream.y!r} by the link {self.downstream.link.name!r}{task}, {len(self.frame)} rows)"


def predict(rows: pd.DataFrame) -> Prediction:
    """Target the curve of new runs at ``rows`` (a DataFrame of the law's inputs).

    Parameters
    ----------
    rows : DataFrame
        The law's inputs (and group columns), as for :meth:`~bayescale.Fit.predict`; one or more rows.

    Returns
    -------
    Prediction

    Raises
    ------
    TypeError
        If ``rows`` is not a DataFrame.
    ValueError
        If it has no rows.
    """
    return Prediction(rows)


def optimum(C: float | Sequence[float], *, quantity: str = "N", group: Mapping[str, str] | None = None) -> Optimum:
    """Target the compute-optimal allocation at the budget(s) ``C`` (FLOPs, ``C = 6ND``).

    Parameters
    ----------
    C : float or sequence of float
        FLOP budgets.
    quantity : {"N", "D", "D_per_N"}
        Which side of the allocation must become certain (its log).
    group : mapping, optional
        ``{column: label}``: one level's optimum instead of the population's.

    Raises
    ------
    ValueError
        For a budget that is not positive or an unknown ``quantity``.
    """
    budgets = tuple(float(c) for c in np.atleast_1d(np.asarray(C, dtype=float)))
    if not budgets or any(not c > 0 for c in budgets):
        raise ValueError(f"optimum(C={C!r}): C must be positive FLOP budgets, e.g. C=1e23")
    if quantity not in ("N", "D", "D_per_N"):
        raise ValueError(f"optimum(quantity={quantity!r}): use 'N', 'D' or 'D_per_N'")
    return Optimum(budgets, quantity, dict(group) if group else None)


def better(other, rows: pd.DataFrame, *, law_error=True) -> Better:
    """Target the decision whether the planned fit beats ``other`` at ``rows``.

    Parameters
    ----------
    other : Posterior
        The fit of the other recipe (any result with ``posterior_draws``, e.g. a :class:`~bayescale.Fit`).
    rows : DataFrame
        Where the two are compared: the laws' inputs (both fits must accept them).
    law_error : bool or LawError
        The other fit's law error at ``rows`` (set it as the ``law_error`` of :func:`bayescale.next_runs`).

    Returns
    -------
    Better

    Raises
    ------
    TypeError
        If ``rows`` is not a DataFrame.
    ValueError
        If it has no rows.
    """
    return Better(rows, other, law_error)


def metric(downstream, rows: pd.DataFrame, *, task: str | None = None) -> Metric:
    """Target a downstream metric at ``rows``: ``downstream``'s link of the planned fit's loss curve.

    Parameters
    ----------
    downstream : DownstreamFit
        A joint :func:`bayescale.fit_downstream` fit whose link maps the planned fit's loss to the metric.
    rows : DataFrame
        The planned fit's inputs where the metric must become certain.
    task : str, optional
        For a downstream fit ``by`` task: the task (None: the average over its tasks).

    Returns
    -------
    Metric

    Raises
    ------
    TypeError
        If ``rows`` is not a DataFrame.
    ValueError
        If it has no rows.
    """
    return Metric(rows, downstream, task)


def as_target(target) -> Target:
    """A :class:`Target` from a Target or a DataFrame of rows; anything else is refused.

    Parameters
    ----------
    target : Target or DataFrame
        A target (returned as is), or rows to predict at (:func:`predict`).

    Returns
    -------
    Target

    Raises
    ------
    TypeError
        For anything else.
    """
    if isinstance(target, Target):
        return target
    if isinstance(target, pd.DataFrame):
        return Prediction(target)
    raise TypeError(
        f"target={target!r} must be a DataFrame of rows to predict (e.g. pd.DataFrame({{'N': [7e9], 'D': [2e12]}})) "
        "or a bs.targets target such as bs.targets.optimum(C=1e23)"
    )
