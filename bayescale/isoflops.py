"""IsoFLOP sweeps: the runs near each budget's optimum, which a law of N and D describes.

An isoFLOP sweep trains models of many sizes at one compute budget. Its far ends are runs no one
would train: a 900M-parameter model given a few million tokens ends far above the sweep's
minimum (Porian et al. 2024's sweeps reach losses of 9 where the best run of the budget has 5.5).
Additive laws such as Chinchilla's ``E + A/N^alpha + B/D^beta`` (Hoffmann et al. 2022) describe
the runs near the compute-optimal frontier, not those ends, and a fit to every run of a sweep is
pulled by them. Measured (``benchmarks/RESULTS.md``, decisions section): fitted to every run of
Porian et al.'s sweeps, the Chinchilla law ranked their four training settings wrongly at all six
held-out budgets, in the Bayesian fit and the Huber point fit alike; fitted to the runs within 10%
of each budget's best, both ranked all six right. Hoffmann et al.'s second approach likewise reads
each sweep near its minimum (a parabola fitted per budget).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["near_optimal"]


def near_optimal(
    df: pd.DataFrame,
    *,
    y: str = "loss",
    budget: str = "C",
    by: str | Sequence[str] | None = None,
    within: float = 0.1,
) -> pd.DataFrame:
    """The runs of an isoFLOP sweep within ``within`` (relative) of their budget's best loss.

    Parameters
    ----------
    df : DataFrame
        One row per run, with the loss ``y`` and the nominal compute budget ``budget`` of the
        sweep the run belongs to (equal for every run of a sweep; not ``6ND`` recomputed per
        run, which rounding spreads over several values).
    y : str
        The loss column; lower is better, every value positive.
    budget : str
        The column naming each run's isoFLOP budget.
    by : str or sequence of str, optional
        Further columns that separate sweeps (e.g. the dataset or the training recipe): the best
        loss is taken per budget and per level of these.
    within : float
        Keep a run when ``loss <= (1 + within) * best loss of its sweep``. Default 0.1, from
        three public sets of sweeps (``benchmarks/near_optimal.py``; ``benchmarks/RESULTS.md``):
        on Porian et al.'s the Bayesian fits ranked the settings right at 0.05 and 0.1 (6 of 6),
        not at 0.2 (2 of 6) or with every run (0 of 6); on Chinchilla's (fitted below 1e21 FLOPs)
        the error at the larger budgets' best runs fell from 0.79% (every run) to 0.73% (0.1) and
        0.61% (0.05) with the 90% intervals still covering 0.97 and 0.94; Brandfonbrener et al.'s
        loss-to-loss sweeps lie within 10% of their budgets' best, so it keeps all their runs.

    Returns
    -------
    DataFrame
        The kept rows of ``df``, in their order, index unchanged.

    Raises
    ------
    KeyError
        When ``y``, ``budget`` or a ``by`` column is not in ``df``.
    ValueError
        For ``within`` that is not a positive finite number, or a loss that is missing or not
        positive.

    Examples
    --------
    >>> import pandas as pd
    >>> sweep = pd.DataFrame({"C": [1e18] * 4, "N": [5e7, 1e8, 2e8, 8e8], "loss": [3.6, 3.4, 3.5, 4.6]})
    >>> near_optimal(sweep)["N"].tolist()
    [50000000.0, 100000000.0, 200000000.0]
    >>> near_optimal(sweep, within=0.05)["N"].tolist()
    [100000000.0, 200000000.0]
    """
    if not (isinstance(within, (int, float, np.integer, np.floating)) and np.isfinite(within) and within > 0):
        raise ValueError(f"within={within!r} must be a positive number, the relative excess over the best loss "
                         "of a sweep that a run may have, e.g. within=0.1")  # fmt: skip
    keys = [budget] + ([by] if isinstance(by, str) else list(by or []))
    missing = [c for c in [y, *keys] if c not in df.columns]
    if missing:
        raise KeyError(f"near_optimal: no column {missing} in the data (columns: {list(df.columns)}); "
                       "name the loss with y=, the isoFLOP budget with budget= and the sweeps' other columns with by=")  # fmt: skip
    loss = pd.to_numeric(df[y], errors="coerce")
    bad = ~(loss > 0)
    if bad.any():
        row = df.index[bad][0]
        raise ValueError(f"near_optimal: column {y!r} must hold positive losses; row {row} has {df.at[row, y]}. "
                         "Drop or fix such rows first")  # fmt: skip
    best = loss.groupby([df[k] for k in keys], sort=False).transform("min")
    return df[loss <= (1.0 + within) * best]
