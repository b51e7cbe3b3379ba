"""The data step: validate a runs table, map its columns onto a law's inputs, derive features.

One row of the input DataFrame is one training run or checkpoint. :func:`prepare_design`
turns it into a :class:`Design`: float arrays named after the law's inputs, the target,
integer codes of the grouping columns, and the centre of each input (used only to make
sampling easier). Nothing is dropped silently: a bad value raises a ``ValueError`` that
names the column, the first offending row and the fix.

Derived inputs (computed when a law or a plot asks for them and the raw columns exist):

* ``C = 6 N D``: training FLOPs of a dense transformer (Kaplan et al. 2020, Sec. 2.1).
* ``D_per_N = D / N``: tokens per parameter (``M`` in Gadre et al. 2024).
* ``N_avg``: the average parameter count over a sparse pre-training run (Jin et al. 2025), from
  ``N``, ``sparsity``, ``prune_start`` and ``prune_end``; see :func:`average_parameter_count`.
* ``log2_block``: ``log2`` of a ``block_size`` column (Sun et al. 2025, floating-point quantisation).
* ``S1`` and ``S2``: the forward area and the annealing area of a learning-rate schedule
  (Tissue et al. 2024), from ``step`` and ``lr`` columns; see :func:`annealing_areas`.

Derived features are computed in this one place; laws only declare them as inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayescale.laws.base import Law
from bayescale.likelihoods import Likelihood
from bayescale.trials import trial_counts

#: Decay factor ``lambda`` of the annealing momentum in :func:`annealing_areas` (Tissue et al. 2024, Sec. 3).
ANNEALING_DECAY = 0.999


def average_parameter_count(
    N: np.ndarray, sparsity: np.ndarray, prune_start: np.ndarray, prune_end: np.ndarray
) -> np.ndarray:
    """Average parameter count over training under a cubic (Zhu & Gupta) pruning schedule.

    The model is dense until ``prune_start`` (a fraction of training), pruned along
    ``s(t) = sparsity (1 - (1 - (t - t0) / (t1 - t0))^3)`` until ``prune_end``, then trained at
    the final ``sparsity``. The time average of ``N (1 - s(t))`` is

    ``N [t0 + (t1 - t0) (1 - 3 sparsity / 4) + (1 - t1) (1 - sparsity)]``.

    Parameters
    ----------
    N : array
        Dense parameter count.
    sparsity : array
        Final fraction of pruned parameters, in [0, 1).
    prune_start, prune_end : array
        Start and end of pruning as fractions of training, ``0 <= start <= end <= 1``.

    Returns
    -------
    ndarray
        ``N_avg``, the input of the ``sparse_average`` law.

    Raises
    ------
    ValueError
        For a sparsity outside [0, 1) or a schedule outside [0, 1] or ending before it starts.

    References
    ----------
    Jin, T. et al. (2025). The Journey Matters: Average Parameter Count over Pre-training Unifies
    Sparse and Dense Scaling Laws. arXiv:2501.12486.
    Zhu, M., Gupta, S. (2017). To prune, or not to prune. arXiv:1710.01878.
    """
    N_in = np.broadcast_shapes(*(np.shape(v) for v in (N, sparsity, prune_start, prune_end)))
    N, s, t0, t1 = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (N, sparsity, prune_start, prune_end)))
    if np.any((s < 0) | (s >= 1)):
        raise ValueError(f"sparsity must lie in [0, 1) (fraction of pruned parameters), got {s[(s < 0) | (s >= 1)][0]:g}")
    bad = (t0 < 0) | (t1 > 1) | (t1 < t0)
    if np.any(bad):
        position = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"prune_start={t0[position]:g}, prune_end={t1[position]:g} at position {position}: need "
            "0 <= prune_start <= prune_end <= 1 (fractions of training)"
        )
    out = N * (t0 + (t1 - t0) * (1.0 - 0.75 * s) + (1.0 - t1) * (1.0 - s))
    return out if len(N_in) else out[0]


def annealing_areas(
    step: np.ndarray, lr: np.ndarray, decay: float = ANNEALING_DECAY
) -> tuple[np.ndarray, np.ndarray]:
    """Forward area ``S1`` and annealing area ``S2`` of a learning-rate schedule at each row.

    ``S1(s) = sum_{i <= s} eta_i`` and ``S2(s) = sum_{i <= s} m_i`` with the momentum
    ``m_i = decay * m_{i-1} + max(eta_{i-1} - eta_i, 0)`` (Tissue et al. 2024, eq. 2; increases of
    the rate, i.e. warm-up, do not count as annealing, so ``S2 >= 0``).

    Rows are checkpoints of one or more runs: each run's rows are consecutive with increasing
    ``step``; a step that does not increase starts a new run. Between rows the rate is
    interpolated linearly on every integer step, before the first row it is held at the first
    row's value.

    Parameters
    ----------
    step : array
        Optimiser step of each row (positive).
    lr : array
        Learning rate at that step.
    decay : float
        Momentum decay ``lambda`` in (0, 1); 0.999 as in Tissue et al. (:data:`ANNEALING_DECAY`).

    Returns
    -------
    S1, S2 : ndarray, ndarray
        The areas at each row, in units of the learning rate times steps.

    Raises
    ------
    ValueError
        For a decay outside (0, 1), non-positive steps or negative learning rates.

    References
    ----------
    Tissue, H. et al. (2024). Scaling Law with Learning Rate Annealing. arXiv:2408.11029.
    """
    from scipy.signal import lfilter

    if not 0 < decay < 1:
        raise ValueError(f"decay={decay!r} must lie in (0, 1); Tissue et al. use 0.999")
    step = np.asarray(step, dtype=np.float64)
    lr = np.asarray(lr, dtype=np.float64)
    if np.any(step <= 0):
        raise ValueError(f"step must be positive (optimiser steps counted from 1), got {step[step <= 0][0]:g}")
    if np.any(lr < 0):
        raise ValueError(f"lr must be >= 0, got {lr[lr < 0][0]:g}")
    S1 = np.empty_like(step)
    S2 = np.empty_like(step)
    starts = [0, *(np.flatnonzero(np.diff(step) <= 0) + 1).tolist(), len(step)]
    for begin, end in zip(starts[:-1], starts[1:], strict=True):
        steps, rates = step[begin:end], lr[begin:end]
        grid = np.arange(1, int(np.ceil(steps.max())) + 1, dtype=np.float64)
        eta = np.interp(grid, steps, rates)
        forward = np.cumsum(eta)
        drops = np.maximum(np.concatenate([[0.0], eta[:-1] - eta[1:]]), 0.0)
        momentum = lfilter([1.0], [1.0, -decay], drops)
        anneal = np.cumsum(momentum)
        index = np.clip(np.rint(steps).astype(int) - 1, 0, len(grid) - 1)
        S1[begin:end] = forward[index]
        S2[begin:end] = anneal[index]
    return S1, S2


#: Training FLOPs per parameter per token: the forward and backward pass of a dense transformer
#: (Kaplan et al. 2020, "Scaling laws for neural language models", sec. 2.1: C ~ 6ND).
FLOPS_PER_PARAMETER_TOKEN = 6.0


def training_compute(N, D):
    """Training compute ``C = 6 N D`` (FLOPs) of a run with ``N`` parameters and ``D`` tokens."""
    return FLOPS_PER_PARAMETER_TOKEN * N * D


def tokens_for_compute(C, N):
    """Tokens ``D = C / (6 N)`` that a budget of ``C`` FLOPs buys a model of ``N`` parameters."""
    return C / (FLOPS_PER_PARAMETER_TOKEN * N)


#: Derived features: name -> (the inputs it is computed from, the function).
DERIVED: dict[str, tuple[tuple[str, ...], Callable[..., np.ndarray]]] = {
    "C": (("N", "D"), training_compute),
    "D_per_N": (("N", "D"), lambda N, D: D / N),
    "M": (("N", "D"), lambda N, D: D / N),
    "N_avg": (("N", "sparsity", "prune_start", "prune_end"), average_parameter_count),
    "log2_block": (("block_size",), lambda block_size: np.log2(block_size)),
    "S1": (("step", "lr"), lambda step, lr: annealing_areas(step, lr)[0]),
    "S2": (("step", "lr"), lambda step, lr: annealing_areas(step, lr)[1]),
}


@dataclass
class Design:
    """Arrays ready for the model, and where they came from.

    Attributes
    ----------
    inputs : dict of str to ndarray
        Law input name to float64 values, one per row.
    y : ndarray or None
        Target values (None for prediction).
    group_index : dict of str to ndarray
        Grouping column to integer level codes; ``-1`` marks a level unseen in the fit.
    levels : dict of str to list of str
        Grouping column to its level labels, in code order.
    columns : dict of str to str
        Law input name to the DataFrame column it was read from.
    frame : DataFrame
        The rows used, with the law's inputs under their own names and derived features added.
    centres : dict of str to float
        Centre of each input (:func:`input_centres`).
    trials : ndarray or None
        Number of trials (questions) of each row, for the count likelihoods; None otherwise.
    """

    inputs: dict[str, np.ndarray]
    y: np.ndarray | None
    group_index: dict[str, np.ndarray]
    levels: dict[str, list[str]]
    columns: dict[str, str]
    frame: pd.DataFrame
    centres: dict[str, float] = field(default_factory=dict)
    trials: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of rows."""
        return len(self.frame)


def resolve_columns(law: Law, df: pd.DataFrame, inputs: Mapping[str, str] | None) -> dict[str, str]:
    """Map every law input to a DataFrame column (or to a derivable feature, marked by its own name).

    Raises
    ------
    ValueError
        For a mapping key that is not an input of the law, or a column that is missing.
    """
    inputs = dict(inputs or {})
    unknown = [key for key in inputs if key not in law.inputs]
    if unknown:
        raise ValueError(
            f"inputs={inputs!r}: {unknown} are not inputs of law {law.name!r}; its inputs are "
            f"{list(law.inputs)}. Map each of those to a column, e.g. inputs={{'{law.inputs[0]}': 'my_column'}}"
        )
    columns: dict[str, str] = {}
    for name in law.inputs:
        column = inputs.get(name, name)
        if column in df.columns:
            columns[name] = column
        elif name not in inputs and name in DERIVED and all(
            source in inputs or source in df.columns for source in DERIVED[name][0]
        ):
            columns[name] = name  # derived below from its sources
        else:
            raise ValueError(
                f"column {column!r} for input {name!r} of law {law.name!r} is missing; the DataFrame has "
                f"{list(df.columns)}. Pass inputs={{'{name}': '<column>'}} to name the right column"
            )
    return columns


def _numeric_column(df: pd.DataFrame, column: str, role: str) -> np.ndarray:
    """``df[column]`` as float64, refusing non-numbers, NaN and inf with the first bad row."""
    series = df[column]
    if not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)):
        converted = pd.to_numeric(series, errors="coerce")
        bad = converted.isna() & series.notna()
        if bad.any():
            row = series.index[bad.to_numpy().argmax()]
            raise ValueError(
                f"column {column!r} ({role}) is not numeric: row {row!r} holds {series.loc[row]!r}. "
                "Convert it to numbers (e.g. '7B' -> 7e9) before fitting"
            )
        series = converted
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"column {column!r} ({role}) has {values[position]} at row {df.index[position]!r}; "
            "NaN and inf are not dropped silently: remove or fill those rows first "
            f"(e.g. df.dropna(subset=[{column!r}]))"
        )
    return values


def _check_domain(values: np.ndarray, column: str, name: str, domain: str, index: pd.Index) -> None:
    if domain == "positive":
        bad = values <= 0
        need = "> 0 (the law takes its log)"
    elif domain == "nonnegative":
        bad = values < 0
        need = ">= 0"
    else:
        return
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"column {column!r} (input {name}) has {values[position]:g} at row {index[position]!r}; "
            f"{name} must be {need}. Fix or drop that row"
        )


def input_values(law: Law, df: pd.DataFrame, columns: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Validated float arrays of the law's inputs, deriving features where needed."""
    values: dict[str, np.ndarray] = {}
    pending = []
    for name in law.inputs:
        column = columns[name]
        if column in df.columns:
            values[name] = _numeric_column(df, column, f"input {name}")
            _check_domain(values[name], column, name, law.domain(name), df.index)
        else:
            pending.append(name)
    for name in pending:
        sources, function = DERIVED[name]
        raw = {s: values[s] if s in values else _numeric_column(df, columns.get(s, s), f"input {s}") for s in sources}
        values[name] = function(**raw)
    return values


def add_derived(frame: pd.DataFrame) -> pd.DataFrame:
    """Add every derivable feature (``C``, ``D_per_N``, ...) whose sources are columns of ``frame``."""
    frame = frame.copy()
    for name, (sources, function) in DERIVED.items():
        if name not in frame.columns and all(s in frame.columns for s in sources):
            frame[name] = function(**{s: frame[s].to_numpy(dtype=float) for s in sources})
    return frame


def group_codes(
    df: pd.DataFrame, column: str, levels: Sequence[str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Integer codes of a grouping column; with ``levels`` given, unseen labels get ``-1``.

    Raises
    ------
    ValueError
        If the column is missing or has missing values.
    """
    if column not in df.columns:
        raise ValueError(
            f"grouping column {column!r} is missing; the DataFrame has {list(df.columns)}. "
            "Name an existing column in groups= or hierarchy="
        )
    labels = df[column]
    if labels.isna().any():
        row = labels.index[labels.isna().to_numpy().argmax()]
        raise ValueError(
            f"grouping column {column!r} is empty at row {row!r}; give every row a group label "
            f"(e.g. df[{column!r}] = df[{column!r}].fillna('unknown'))"
        )
    text = labels.astype(str).to_numpy()
    if levels is None:
        levels = sorted(set(text), key=lambda s: (len(s), s)) if _looks_numeric(text) else sorted(set(text))
    lookup = {label: code for code, label in enumerate(levels)}
    codes = np.array([lookup.get(t, -1) for t in text], dtype=np.int32)
    return codes, list(levels)


def _looks_numeric(text: np.ndarray) -> bool:
    return all(t.replace(".", "", 1).lstrip("-").isdigit() for t in text)


def free_parameters(law: Law, likelihood: Likelihood) -> int:
    """The law's parameters and the likelihood's noise parameters (e.g. ``sigma`` and ``nu``):
    :func:`bayescale.fit` needs more runs than that (:func:`prepare_design` refuses fewer)."""
    return len(law.params) + len(likelihood.noise_names)


def prepare_design(
    df: pd.DataFrame,
    law: Law,
    *,
    y: str | None,
    inputs: Mapping[str, str] | None,
    group_columns: Sequence[str],
    likelihood: Likelihood | None = None,
    levels: Mapping[str, Sequence[str]] | None = None,
    n_params: int = 0,
    trials: str | int | None = None,
) -> Design:
    """Validate ``df`` and build the :class:`Design` for ``law``.

    Parameters
    ----------
    df : DataFrame
        One row per run.
    law : Law
        The law whose inputs are read.
    y : str or None
        Target column; None when preparing inputs for prediction.
    inputs : mapping, optional
        Law input name to column name; inputs not named are read from same-named columns.
    group_columns : sequence of str
        Grouping columns used by the hierarchy.
    likelihood : Likelihood, optional
        Checks that ``y`` lies in its support.
    levels : mapping, optional
        Known levels per grouping column (prediction); new labels are coded ``-1``.
    n_params : int
        Number of free parameters; fitting needs more rows than that.
    trials : str or int, optional
        For a count likelihood (``binomial``, ``beta_binomial``): the column holding each run's
        number of trials (questions), or one number for every run.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame (one row per run), got {type(df).__name__}")
    if len(df) == 0:
        raise ValueError("the DataFrame is empty; pass one row per training run")
    columns = resolve_columns(law, df, inputs)
    values = input_values(law, df, columns)

    target = None
    if y is not None:
        if y not in df.columns:
            raise ValueError(
                f"target column y={y!r} is missing; the DataFrame has {list(df.columns)}. "
                "Pass y='<the measured column>'"
            )
        target = _numeric_column(df, y, "target y")
        if likelihood is not None:
            position = likelihood.check_support(target)
            if position is not None:
                raise ValueError(
                    f"column {y!r} has {target[position]:g} at row {df.index[position]!r}, outside the "
                    f"support of likelihood={likelihood.name!r} ({likelihood.support_text}). "
                    + (
                        "Losses must be positive; fix or drop that row"
                        if likelihood.support == "positive"
                        else "An accuracy must be a proportion between 0 and 1"
                        if likelihood.counts
                        else "For accuracies of exactly 0 or 1 with a known number of questions, use "
                        "likelihood='binomial' (or 'beta_binomial') with trials='<questions column>'; "
                        "else clip to (0, 1)"
                    )
                )
        if n_params and len(df) <= n_params:
            raise ValueError(
                f"only {len(df)} rows for a model with {n_params} free parameters; add runs, "
                "group fewer parameters (hierarchy=), or use a law with fewer parameters"
            )

    group_index: dict[str, np.ndarray] = {}
    group_levels: dict[str, list[str]] = {}
    for column in group_columns:
        codes, labels = group_codes(df, column, None if levels is None else levels.get(column))
        if levels is None and len(labels) < 2:
            raise ValueError(
                f"grouping column {column!r} has a single level ({labels[0]!r}); partial pooling needs "
                "two or more. Drop it from groups=/hierarchy= or add runs from other groups"
            )
        group_index[column] = codes
        group_levels[column] = labels

    counts = trial_counts(df, trials, likelihood)
    frame = pd.DataFrame(values, index=df.index)
    for column in group_columns:
        frame[column] = df[column].astype(str).to_numpy()
    if y is not None:
        frame[y] = target
    if isinstance(trials, str):
        frame[trials] = counts
    frame = add_derived(frame)
    return Design(
        inputs=values,
        y=target,
        group_index=group_index,
        levels=group_levels,
        columns=columns,
        frame=frame,
        centres=input_centres(law, values),
        trials=counts,
    )


def input_centres(law: Law, values: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Centre of each input: the mean of ``log x`` for positive inputs, else the mean of ``x``."""
    return {
        name: float(np.mean(np.log(x))) if law.domain(name) == "positive" else float(np.mean(x))
        for name, x in values.items()
    }
