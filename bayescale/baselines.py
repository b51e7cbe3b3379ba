"""Point-fit baselines that the benchmarks and notebooks compare bayescale against."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = ["gadre_point_fit"]


def gadre_point_fit(train: pd.DataFrame, *, loss: str = "loss", metric: str = "error") -> Callable[[pd.DataFrame], np.ndarray]:
    """Gadre et al. (2024)'s two least-squares fits, as a baseline: loss law, then ``Err(L)``.

    Fits ``L(N, M) = a N^b + c 6^(b/2) (M N)^b + E`` (their ``powlaw_ours``; ``M`` tokens per
    parameter) and ``Err(L) = eps - k exp(-gamma L)`` with ``scipy.optimize.curve_fit`` from their
    grid of starting points, and returns a function mapping rows with ``N`` and ``D`` to the
    predicted metric. Fit per training dataset by calling it once per dataset.
    """
    from scipy.optimize import curve_fit

    N = train["N"].to_numpy(float)
    M = (train["D"] / train["N"]).to_numpy(float)
    y = train[loss].to_numpy(float)

    def law(x, a, c, b, E):
        n, m = x
        return a * n**b + c * 6 ** (b / 2) * (m * n) ** b + E

    best, best_res = None, np.inf
    for a0 in (1e2, 3e2, 1e3, 3e3):
        for c0 in (1e2, 3e2, 1e3, 3e3):
            for b0 in (-0.1, -0.3):
                for e0 in (0.0, 1.0, 2.0, 10.0):
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            p, _ = curve_fit(law, (N, M), y, p0=[a0, c0, b0, e0], maxfev=10000)
                    except RuntimeError:
                        continue
                    res = float(np.sum((law((N, M), *p) - y) ** 2))
                    if res < best_res:
                        best, best_res = p, res
    if best is None:
        raise RuntimeError("gadre_point_fit: the loss law's least-squares fit failed from every starting point")

    def decay(L, a, b, e):
        return e - a * np.exp(L) ** (-b)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q, _ = curve_fit(decay, y, train[metric].to_numpy(float), maxfev=10000)

    def predict(rows: pd.DataFrame) -> np.ndarray:
        n = rows["N"].to_numpy(float)
        m = (rows["D"] / rows["N"]).to_numpy(float)
        return decay(law((n, m), *best), *q)

    predict.loss_params = best  # type: ignore[attr-defined]
    predict.link_params = q  # type: ignore[attr-defined]
    return predict
