"""Model comparison by expected log predictive density (LOO or WAIC, through ArviZ)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from bayescale import _arviz


def compare(fits: Mapping[str, object], ic: str = "loo") -> pd.DataFrame:
    """Rank fits of the same data by estimated out-of-sample predictive accuracy.

    Parameters
    ----------
    fits : mapping of str to Fit
        Name to fit; every fit must have been made on the same rows and target.
    ic : {"loo", "waic"}
        PSIS leave-one-out cross-validation (recommended) or WAIC.

    Returns
    -------
    DataFrame
        ArviZ's comparison table, best first: ``rank``, ``elpd_loo`` (or ``elpd_waic``),
        ``p_loo``, ``elpd_diff`` (to the best), ``weight``, ``se``, ``dse``, ``warning``.
        A difference of less than about two ``dse`` is not a clear preference.

    Raises
    ------
    ValueError
        If fewer than two fits are given, ``ic`` is unknown, or the fits saw different data.

    References
    ----------
    Vehtari, A., Gelman, A., Gabry, J. (2017). Practical Bayesian model evaluation using
    leave-one-out cross-validation and WAIC. Statistics and Computing 27, 1413-1432.
    """
    if ic not in ("loo", "waic"):
        raise ValueError(f"ic={ic!r} must be 'loo' or 'waic'")
    if len(fits) < 2:
        raise ValueError(f"compare() needs two or more fits, got {len(fits)}: pass {{'name': fit, ...}}")
    hashes = {name: fit.meta["data_hash"] for name, fit in fits.items()}
    reference_name, reference = next(iter(hashes.items()))
    different = [name for name, value in hashes.items() if value != reference]
    if different:
        raise ValueError(
            f"fits {different} were made on different data than {reference_name!r}; LOO and WAIC only "
            "compare models of the same rows and target. Refit them on one DataFrame"
        )
    return _arviz.compare({name: fit.idata for name, fit in fits.items()}, ic=ic)
