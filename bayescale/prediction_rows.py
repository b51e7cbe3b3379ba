"""The rows a prediction is asked for: the law's inputs, the codes of seen and unseen group levels,
and the plain words that name unseen levels (a typo check).

Shared by every result that predicts from a hierarchical posterior (:class:`~bayescale.Fit`,
:class:`~bayescale.DownstreamFit` and the leave-future-out refits of :func:`bayescale.compare`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bayescale.data import group_codes, input_values, resolve_columns
from bayescale.hierarchy import ModelSpec
from bayescale.laws import Law

__all__ = ["prediction_inputs", "unseen_levels_message", "with_new_levels"]


def prediction_inputs(
    law: Law, data: pd.DataFrame, columns: Mapping[str, str], levels: Mapping[str, Sequence[str]]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[str]]:
    """The law's inputs, the group codes and the kept columns of the rows ``data``.

    Parameters
    ----------
    law : Law
        The fitted law.
    data : DataFrame
        Rows to predict, with the law's inputs under the columns used in the fit (``columns``) or
        under the law's own names; derived inputs (``C = 6ND``, ...) are computed as when fitting.
    columns : mapping
        Law input name to the column the fit read it from.
    levels : mapping
        Each grouping column's fitted levels, in code order.

    Returns
    -------
    inputs : dict
        Law input name to float64 values.
    group_index : dict
        Grouping column to integer codes: a seen level keeps its code, each unseen level gets the
        next free code (in sorted order), and a missing grouping column makes every row one new group.
    kept : list of str
        The input and grouping columns of ``data`` to return with the predictions.

    Raises
    ------
    TypeError
        When ``data`` is not a DataFrame.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"predict() takes a DataFrame of inputs, got {type(data).__name__}")
    mapping = {name: col for name, col in columns.items() if col in data.columns and col != name}
    used = resolve_columns(law, data, mapping)
    inputs = input_values(law, data, used)
    group_index: dict[str, np.ndarray] = {}
    for column, labels in levels.items():
        if column in data.columns:
            codes, _ = group_codes(data, column, list(labels))
            text = data[column].astype(str).to_numpy()
            for offset, label in enumerate(sorted({t for t, c in zip(text, codes, strict=True) if c < 0})):
                codes[text == label] = len(labels) + offset
        else:
            codes = np.full(len(data), len(labels), dtype=np.int32)  # one new group
        group_index[column] = codes
    kept = [c for c in dict.fromkeys([*used.values(), *levels]) if c in data.columns]
    return inputs, group_index, kept


def with_new_levels(
    spec: ModelSpec, sites: Mapping[str, np.ndarray], group_index: Mapping[str, np.ndarray], seed: int
) -> dict[str, np.ndarray]:
    """``sites`` (``(draws, ...)``) with standard-normal offsets drawn for the unseen levels of ``group_index``.

    Parameters
    ----------
    spec : ModelSpec
        The model's structure (which parameters are grouped by which column).
    sites : mapping
        The sampled sites of every draw, chains flattened.
    group_index : mapping
        Codes from :func:`prediction_inputs`; codes beyond the fitted levels are new groups.
    seed : int
        Seed of the new offsets.

    Returns
    -------
    dict
        The sites, each ``<p>_<column>_z`` widened to cover every code.
    """
    out = dict(sites)
    rng = np.random.default_rng(seed)
    for name, cols in spec.groups_of.items():
        for column in cols:
            z = out[f"{name}_{column}_z"]
            extra = int(group_index[column].max()) + 1 - z.shape[1] if len(group_index[column]) else 0
            if extra > 0:
                out[f"{name}_{column}_z"] = np.concatenate([z, rng.standard_normal((z.shape[0], extra))], axis=1)
    return out


def unseen_levels_message(levels: Mapping[str, Sequence[str]], data: pd.DataFrame) -> str:
    """Plain words naming the group levels of ``data`` that ``levels`` lacks ('' when none).

    Each unseen level is given with the closest seen level (:func:`difflib.get_close_matches`),
    so that a typo shows; a missing grouping column is named too.
    """
    parts = []
    for column, labels in levels.items():
        if column not in data.columns:
            parts.append(f"column {column!r} is missing, so every row is a new {column} level")
            continue
        seen = [str(label) for label in labels]
        unseen = [v for v in dict.fromkeys(data[column].astype(str)) if v not in set(seen)]
        if not unseen:
            continue
        described = []
        for value in unseen:
            close = difflib.get_close_matches(value, seen, n=1, cutoff=0.6)
            described.append(f"{value!r} (closest seen: {close[0]!r})" if close else f"{value!r} (no seen level is close)")
        parts.append(f"{column} level(s) {', '.join(described)} were not in the fit, which saw {seen[:10]}")
    return "predict(): " + "; ".join(parts) if parts else ""
