"""The number of trials (questions) behind each accuracy, for the count likelihoods.

With ``likelihood="binomial"`` or ``"beta_binomial"`` (:mod:`bayescale.likelihoods`) an accuracy
``y`` is a proportion ``k / n`` of ``n`` questions; ``trials=`` names the column holding ``n``
(or gives one number for every run). These functions read and check it, for fitting and for the
new runs of a prediction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayescale.likelihoods import Likelihood

__all__ = ["prediction_trials", "trial_counts"]


def prediction_trials(
    data: pd.DataFrame, trials: str | int, fitted: np.ndarray, likelihood: Likelihood
) -> np.ndarray:
    """Each row's number of trials (questions) for a new run of a count likelihood.

    The fit's ``trials`` column in ``data``, else the one number every fitted run shares.

    Raises
    ------
    ValueError
        When the fitted runs had different numbers of trials and ``data`` lacks the column.
    """
    if isinstance(trials, str) and trials in data.columns:
        counts = trial_counts(data, trials, likelihood)
        assert counts is not None
        return counts
    if np.all(fitted == fitted[0]):
        return np.full(len(data), float(fitted[0]))
    raise ValueError(
        f"predict(): the fitted runs have different numbers of trials (column {trials!r}, from "
        f"{fitted.min():g} to {fitted.max():g}); add a {trials!r} column to the rows to say how many "
        "questions the new runs are scored on"
    )


def trial_counts(df: pd.DataFrame, trials: str | int | None, likelihood: Likelihood | None) -> np.ndarray | None:
    """The number of trials of each row of ``df`` for a count likelihood (None for the others).

    Raises
    ------
    ValueError
        When a count likelihood has no ``trials``, when ``trials`` is given to another
        likelihood, or when a count is missing, not a whole number or below 1.
    """
    if likelihood is None:
        return None
    if trials is None:
        if likelihood.counts:
            raise ValueError(
                f"likelihood={likelihood.name!r} needs the number of questions behind each accuracy: pass "
                "trials='<column>' (e.g. trials='n_questions') or trials=<one number for every run>"
            )
        return None
    if not likelihood.counts:
        raise ValueError(
            f"trials={trials!r} is for the count likelihoods ('binomial', 'beta_binomial'); "
            f"likelihood={likelihood.name!r} does not use it"
        )
    if isinstance(trials, str):
        if trials not in df.columns:
            raise ValueError(f"trials={trials!r} is not a column; the DataFrame has {list(df.columns)}")
        values = pd.to_numeric(df[trials], errors="coerce").to_numpy(dtype=float)  # text -> NaN, refused below
    else:
        values = np.full(len(df), trials, dtype=float)
    bad = np.flatnonzero(~(np.isfinite(values) & (values >= 1) & (values == np.round(values))))
    if bad.size:
        raise ValueError(
            f"trials={trials!r}: {values[bad[0]]!r} at row {df.index[bad[0]]!r} is not a whole number of "
            "questions >= 1"
        )
    return values
