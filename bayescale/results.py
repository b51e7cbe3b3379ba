"""The one interface every fitted result offers to the analysis code built on it.

:class:`~bayescale.Fit` (from :func:`bayescale.fit`, and each curve of a
:class:`~bayescale.ManyFits`: ``many[key]``), :class:`~bayescale.DownstreamFit` and
:class:`~bayescale.AveragedFit` all satisfy :class:`Posterior`. The decision tools
(:func:`bayescale.crossover`, :func:`bayescale.compute_multiplier`, :func:`bayescale.rank`,
:func:`bayescale.compute_optimal`, :mod:`bayescale.shapes`), the plots and the report take any
:class:`Posterior` and use nothing else, so a new result class joins them by offering these
members; none of them tells the classes apart.

>>> import bayescale as bs
>>> isinstance(fit, bs.results.Posterior)        # doctest: +SKIP
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from bayescale.laws import Law

__all__ = ["Posterior"]


@runtime_checkable
class Posterior(Protocol):
    """A posterior over a law's curve that can predict at new inputs.

    Attributes
    ----------
    law : Law
        The law whose inputs define prediction paths (for a downstream fit, the loss law; for an
        averaged fit, the law of the fit with the largest weight).
    y : str
        Name of the target column.
    data : DataFrame
        The fitted rows: the target column, the grouping columns and the inputs (under their
        own names or under the columns they were read from, see :attr:`columns`).
    columns : mapping of str to str
        Law input name to the column of the user's data it was read from.
    levels : mapping of str to list of str
        Levels of each grouping column, in the order of the posterior's group dimension.
    lower_is_better : bool
        Whether lower values of the target are better (a loss or an error rate).
    fitted_inputs : DataFrame
        The law's inputs of the fitted rows, one column per input under the law's own name.

    Methods
    -------
    posterior_draws(data, *, seed=0, law_error=True)
        ``(rows, curve, new_run)``: the rows kept from ``data`` and draws ``(draws, rows)`` of
        the curve and of a new run's value.
    predict(data, level=0.9, *, seed=0, law_error=True)
        The prediction columns (:data:`bayescale.PREDICTION_COLUMNS`) at ``data``.
    """

    @property
    def law(self) -> Law: ...

    @property
    def y(self) -> str: ...

    @property
    def data(self) -> pd.DataFrame: ...

    @property
    def columns(self) -> Mapping[str, str]: ...

    @property
    def levels(self) -> Mapping[str, Sequence[str]]: ...

    @property
    def lower_is_better(self) -> bool: ...

    @property
    def fitted_inputs(self) -> pd.DataFrame: ...

    def posterior_draws(
        self, data: pd.DataFrame, *, seed: int = 0, law_error: Any = True
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Draws of the curve and of a new run's value at the rows of ``data``.

        Parameters
        ----------
        data : DataFrame
            Rows with the law's inputs (under their own names or the columns they were read
            from), and grouping columns where the result has them.
        seed : int
            Seed of the draws (law error, run-to-run noise, offsets of unseen group levels).
        law_error : bool or LawError
            Whether the curve carries the law error beyond the fitted runs
            (:mod:`bayescale.law_error`): True the result's default (for a
            :class:`~bayescale.Fit` the learned drift sized by its own top runs,
            :meth:`~bayescale.Fit.own_law_error`; for the others the learned drift), False none,
            or a :class:`~bayescale.law_error.LawError`.

        Returns
        -------
        rows, curve, new_run
            The columns kept from ``data`` (inputs and groups); draws ``(draws, rows)`` of the
            curve and of a new run's value.
        """
        ...

    def predict(self, data: pd.DataFrame, level: float = 0.9, *, seed: int = 0, law_error: Any = True) -> pd.DataFrame:
        """The prediction columns (:data:`bayescale.PREDICTION_COLUMNS`) at the rows of ``data``.

        Parameters
        ----------
        data : DataFrame
            Rows at which to predict, as for :meth:`posterior_draws`.
        level : float
            Probability mass of the central intervals.
        seed : int
            Seed of the draws.
        law_error : bool or LawError
            As for :meth:`posterior_draws`.

        Returns
        -------
        DataFrame
            The input (and grouping) columns, then ``median``, ``mean``, ``lower``, ``upper`` (the
            curve) and ``pred_lower``, ``pred_upper`` (a new run); a result may add columns.
        """
        ...
