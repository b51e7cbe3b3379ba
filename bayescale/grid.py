"""Prediction paths: the inputs along which a curve is drawn, plotted and compared.

A plot or a comparison of a law with several inputs follows a path through input space on
which one quantity ``x`` takes a grid of values: an input with the others held fixed, or, for a
law of ``N`` and ``D``, training compute ``C = 6ND`` at a fixed number of tokens per parameter.
Every function takes a :class:`~bayescale.results.Posterior`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from bayescale.data import FLOPS_PER_PARAMETER_TOKEN, training_compute
from bayescale.results import Posterior

__all__ = ["default_x", "input_name", "path_inputs", "x_values"]


def default_x(fit: Posterior) -> str:
    """The quantity a plot of ``fit`` runs along by default: the only input, ``"C"`` for a law of
    ``N`` and ``D``, else the law's first input.

    Parameters
    ----------
    fit : Posterior
        Its law's inputs decide.

    Returns
    -------
    str
        A law input, or ``"C"``.
    """
    inputs = fit.law.inputs
    if len(inputs) == 1:
        return inputs[0]
    if {"N", "D"} <= set(inputs):
        return "C"
    return inputs[0]


def input_name(fit: Posterior, x: str) -> str:
    """The law input meant by ``x``: ``x`` itself, or the input read from column ``x``.

    Parameters
    ----------
    fit : Posterior
        Its law's inputs and :attr:`~bayescale.results.Posterior.columns` are looked up.
    x : str
        An input of the law, or a column of the user's data.

    Returns
    -------
    str
        The law input read from column ``x``; ``x`` itself when it is an input or no input was
        read from it.
    """
    if x in fit.law.inputs:
        return x
    for name, column in fit.columns.items():
        if column == x:
            return name
    return x


def x_values(fit: Posterior, data: pd.DataFrame, x: str) -> pd.Series | None:
    """The values of ``x`` in ``data`` (the input, the column, or ``C = 6ND``); None when absent.

    Parameters
    ----------
    fit : Posterior
        Names the input meant by ``x`` (:func:`input_name`).
    data : DataFrame
        Rows holding the input under the law's name or the column ``x``, or ``N`` and ``D``.
    x : str
        An input of the law, the column it was read from, or ``"C"``.

    Returns
    -------
    Series or None
        The input's column of ``data``, else column ``x``, else (for ``x="C"``) ``6 N D``;
        None when ``data`` holds none of them.
    """
    name = input_name(fit, x)
    if name in data:
        return data[name]
    if x in data:
        return data[x]
    if x == "C" and {"N", "D"} <= set(data.columns):
        return training_compute(data["N"], data["D"])
    return None


def path_inputs(fit: Posterior, x: str, grid: np.ndarray, fixed: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The law's inputs along a path on which ``x`` takes the values ``grid``.

    Parameters
    ----------
    fit : Posterior
        Its law names the inputs; its fitted runs give the values held fixed.
    x : str
        An input of the law, or ``"C"`` for a law of ``N`` and ``D``.
    grid : array_like
        Values of ``x`` along the path.
    fixed : mapping, optional
        Values of the other inputs (default: their median over the fitted runs). For ``x="C"``,
        ``{"D_per_N": r}`` sets the tokens per parameter (default the median ratio of the runs):
        ``N = sqrt(C / 6r)``, ``D = rN``.

    Returns
    -------
    DataFrame
        One row per grid value, one column per law input.

    Raises
    ------
    ValueError
        When ``x`` is neither an input of the law nor ``"C"`` for a law of ``N`` and ``D``.
    """
    data = fit.fitted_inputs
    fixed = dict(fixed or {})
    grid = np.asarray(grid, dtype=float)
    law_inputs = fit.law.inputs
    if x in law_inputs:
        frame = pd.DataFrame({x: grid})
        for name in law_inputs:
            if name != x:
                frame[name] = fixed.get(name, float(np.median(data[name])))
        return frame
    if x == "C" and {"N", "D"} <= set(law_inputs):
        ratio = fixed.get("D_per_N", float(np.median(data["D"] / data["N"])))
        N = np.sqrt(grid / (FLOPS_PER_PARAMETER_TOKEN * ratio))  # C = 6 N D, D = ratio N
        frame = pd.DataFrame({"N": N, "D": ratio * N})
        for name in law_inputs:
            if name not in frame:
                frame[name] = fixed.get(name, float(np.median(data[name])))
        return frame
    raise ValueError(
        f"x={x!r} is neither an input of law {fit.law.name!r} ({list(law_inputs)}) nor 'C' for a law of N and D"
    )
