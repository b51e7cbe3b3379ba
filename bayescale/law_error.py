r"""Law error: how far real ladders wander from their law beyond the fitted runs.

A posterior over a law's parameters says how well the *law* is pinned by the runs; it says
nothing about whether the law itself still holds ten times further out. On public ladders it
often does not: curves bend, and the runs beyond a ladder land off the law fitted to it by more
than its parameter uncertainty and run-to-run noise allow (DESIGN.md, issue 10). This module adds
that uncertainty as a drift of the curve that is zero inside the fitted range and grows with the
extrapolation distance ``d`` (decades beyond the fitted runs, :func:`extrapolation_distance`):

.. math::

    \eta_\text{true}(x) = \eta_\text{law}(x) \mp b\, d(x)^p, \qquad
    b = \mu + s_\text{dataset} z + s_\text{ladder} t_\nu

where :math:`\eta` is the curve on the likelihood's scale (``log y`` for positive targets,
``logit y`` for metrics in (0, 1)), the sign makes a positive ``b`` a gain in the direction of
"better" (lower loss, higher accuracy), :math:`z` is standard normal and :math:`t_\nu` a
Student-t variate (most ladders stay close to their law, a few wander far). ``b`` is one random
slope per posterior draw, shared by every row of a prediction: one fit is one ladder, whose
continuation bends as a whole. Levels of a grouped fit are ladders of one dataset: they share
the dataset part and each has its own ladder part.

None of ``mu``, ``s_dataset``, ``s_ladder``, ``nu``, ``p`` is guessed: :func:`learn` fits them
hierarchically (ladders within datasets) to forward splits of the public ladders (fit the small
runs, predict the largest), and the result, posterior draws included, is stored in
``models/law_error.json`` (rebuilt by ``benchmarks/calibration.py --learn``), with one version
learned without each dataset for honest evaluation (:func:`default` ``(without=...)``).

The same model, learned from residuals *across* regimes (runs at other tokens per parameter than
the fitted ones, within their compute range; ``benchmarks/off_regime.py``), is stored in
``models/off_regime_error.json`` (:func:`off_regime`): how far the law errs at runs away from
the fitted regime, which :func:`bayescale.next_runs` charges a candidate away from the target's
regime for the bias it would put into the refit.

References
----------
Kennedy, M. C. and O'Hagan, A. (2001). Bayesian calibration of computer models. JRSS B 63(3),
425-464 (a model-discrepancy term beside the parameters).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale.laws.base import Law

__all__ = [
    "LawError",
    "default",
    "distance_beyond",
    "extrapolation_distance",
    "fitted_edges",
    "learned_from",
    "learned_reach",
    "off_regime",
    "resolve",
    "scale_inputs",
    "shift",
    "shift_for_fit",
    "signed_log_inputs",
]

#: File name of the learned law error inside the zoo folder (``models/``).
FILE_NAME = "law_error.json"

#: File name of the law's error away from the fitted regime of tokens per parameter (:func:`off_regime`).
OFF_REGIME_FILE = "off_regime_error.json"

#: Inputs whose extrapolation runs towards *lower* values: a loss fed to a downstream link.
DECREASING_INPUTS = frozenset({"L"})


FIELDS = ("mu", "sd_dataset", "sd_ladder", "nu", "power")


@dataclass(frozen=True)
class LawError:
    """The distribution of the drift ``b`` (gain per decade**power) beyond the fitted runs.

    Each field holds posterior draws (1-d arrays of one length, paired by position), so the
    uncertainty of the learned values is carried into predictions.

    Parameters
    ----------
    mu : ndarray
        Mean gain (on the likelihood's scale; positive: runs beyond the ladder do better than the law).
    sd_dataset : ndarray
        Sd of the gain between datasets (shared by the levels of a grouped fit).
    sd_ladder : ndarray
        Scale of the gain between ladders of one dataset (each level of a grouped fit has its own).
    nu : ndarray
        Degrees of freedom of the ladder part (``inf``: normal).
    power : ndarray
        How the drift grows with the distance ``d``: ``b d**power`` (1: a random slope, an
        exponent drift; 0.5: a random walk). Learned by dataset; each draw holds the power of
        a dataset not seen (drawn from their population), shared by all ladders of that draw.
    source : str
        Where the numbers come from (datasets and command).
    """

    mu: np.ndarray
    sd_dataset: np.ndarray
    sd_ladder: np.ndarray
    nu: np.ndarray
    power: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        values = {name: np.atleast_1d(np.asarray(getattr(self, name), float)) for name in FIELDS}
        sizes = {v.shape for v in values.values()}
        if len(sizes) != 1 or values["mu"].ndim != 1:
            raise ValueError(f"LawError: {list(FIELDS)} must be 1-d arrays of one length, got {sorted(sizes)}")
        if (values["sd_dataset"] < 0).any() or (values["sd_ladder"] < 0).any() or (values["power"] <= 0).any():
            raise ValueError("LawError: sd_dataset and sd_ladder must be >= 0 and power > 0")
        if (values["nu"] <= 0).any() or np.isnan(np.concatenate(list(values.values()))).any():
            raise ValueError("LawError: nu must be > 0 and no draw may be NaN")
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @classmethod
    def fixed(
        cls, mu: float = 0.0, sd: float = 0.0, *, sd_dataset: float = 0.0, nu: float = np.inf, power: float = 1.0
    ) -> LawError:
        """A law error with known values: gain per decade ``mu``, ladder sd ``sd`` (normal unless ``nu``)."""
        mu_, sd_dataset_, sd_ladder_, nu_, power_ = (np.array([float(v)]) for v in (mu, sd_dataset, sd, nu, power))
        return cls(mu_, sd_dataset_, sd_ladder_, nu_, power_, source="fixed by the user")

    def slopes(self, n_draws: int, levels: np.ndarray, seed: int, ladder: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Draws of the gain, ``(n_draws, len(levels))``, and the power of each draw, ``(n_draws,)``.

        The dataset part comes from a stream seeded by ``seed`` alone: fits predicted with one
        seed share it, as ladders of one dataset do (two recipes compared on one benchmark). Each
        level's own part comes from a stream seeded by ``(seed, ladder, level)``, with ``ladder``
        identifying the fit, so a level gets the same drift whichever other levels are predicted
        with it, and two fits get independent ones.

        Parameters
        ----------
        n_draws : int
            Number of draws.
        levels : ndarray
            Stable non-negative integer codes of the group levels (one column each).
        seed : int
            Seed of the shared dataset part (and, with ``ladder`` and the level, of each level's own part).
        ladder : int
            Identifies the fit (:func:`ladder_id` of its data hash).

        Returns
        -------
        gain, power : ndarray
            The gain per level, ``(n_draws, len(levels))``, and the power of each draw, ``(n_draws,)``.
        """
        rng = np.random.default_rng([seed, 0x1A3])
        pick = rng.integers(0, self.mu.size, n_draws)
        shared = self.mu[pick] + self.sd_dataset[pick] * rng.standard_normal(n_draws)
        nu = self.nu[pick]
        out = np.empty((n_draws, len(levels)))
        for i, level in enumerate(levels):
            # a stream of its own: [seed, tag, 1, ladder, level] (SeedSequence ignores trailing
            # zeros, so [seed, tag, 0] would repeat the shared stream)
            own = np.random.default_rng([seed, 0x1A3, 1, int(ladder), int(level)])
            t = np.where(np.isinf(nu), own.standard_normal(n_draws), own.standard_t(np.where(np.isinf(nu), 1.0, nu)))
            out[:, i] = shared + self.sd_ladder[pick] * t
        return out, self.power[pick]

    def summary(self) -> dict[str, float]:
        """Posterior medians of the five values."""
        return {name: float(np.median(getattr(self, name))) for name in FIELDS}

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready record (see :func:`from_record`)."""
        record: dict[str, Any] = {name: [round(float(v), 6) for v in getattr(self, name)] for name in FIELDS}
        record["nu"] = [None if np.isinf(v) else round(float(v), 6) for v in self.nu]
        record["source"] = self.source
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> LawError:
        """The inverse of :meth:`to_record`."""
        nu = np.array([np.inf if v is None else v for v in record["nu"]], dtype=float)
        mu, sd_dataset, sd_ladder, power = (np.asarray(record[name], float) for name in ("mu", "sd_dataset", "sd_ladder", "power"))
        return cls(mu, sd_dataset, sd_ladder, nu, power, source=record["source"])

    def __repr__(self) -> str:
        s = self.summary()
        ladder_part = "normal" if np.isinf(self.nu).all() else f"t, nu {s['nu']:.1f}"
        return (
            f"LawError(gain {s['mu']:+.4f} per decade^{s['power']:.2f}, sd between datasets "
            f"{s['sd_dataset']:.4f}, between ladders {s['sd_ladder']:.4f} ({ladder_part}); "
            f"{self.mu.size} draws)"
        )


def _zoo_file(name: str = FILE_NAME) -> Path:
    from bayescale._runtime import models_dir

    return models_dir() / name


_RECORDS: dict[str, dict] = {}
_PARSED: dict[tuple[str, str | None], LawError] = {}
_REBUILT_BY = {FILE_NAME: "python benchmarks/calibration.py --learn", OFF_REGIME_FILE: "python benchmarks/off_regime.py --learn"}


def _record(name: str = FILE_NAME) -> dict:
    if name not in _RECORDS:
        path = _zoo_file(name)
        if not path.exists():
            raise FileNotFoundError(
                f"the learned law error {str(path)!r} is missing; reinstall bayescale, rebuild it with "
                f"`{_REBUILT_BY[name]}`, or pass law_error=False"
            )
        _RECORDS[name] = json.loads(path.read_text())
    return _RECORDS[name]


def _learned(name: str, without: str | None) -> LawError:
    if (name, without) not in _PARSED:
        record = _record(name)
        held_out = record.get("leave_one_out", {})
        if without is not None and without not in held_out:
            raise KeyError(f"without={without!r}: the law error was learned from {sorted(held_out)}; name one of them")
        _PARSED[name, without] = LawError.from_record(record["law_error"] if without is None else held_out[without])
    return _PARSED[name, without]


def default(*, without: str | None = None) -> LawError:
    """The law error learned from the public ladders (``models/law_error.json``).

    Parameters
    ----------
    without : str, optional
        A dataset the drift was learned without (leave-one-dataset-out), e.g. ``"loss_to_loss"``:
        to judge the law error on a ladder of that dataset without having learned from it.
        :func:`learned_from` lists the names.

    Raises
    ------
    FileNotFoundError
        When the file is missing (a broken install); pass ``law_error=False`` to predict without it.
    KeyError
        For a ``without`` that is not one of the datasets.
    """
    return _learned(FILE_NAME, without)


def off_regime(*, without: str | None = None) -> LawError:
    """The law's error away from the fitted regime of tokens per parameter (``models/off_regime_error.json``).

    The same model as :func:`default`, learned by ``benchmarks/off_regime.py`` from other
    residuals: a law of ``N`` and ``D`` fitted to the runs on one side of a cut in tokens per
    parameter of a public ladder, at the runs on the other side within the fitted runs' compute
    range, with the distance in decades of tokens per parameter beyond the fitted runs' edge.
    About twice the scale drift of :func:`default` half a decade out (``docs/law_error.md``).

    Parameters
    ----------
    without : str, optional
        A dataset it was learned without (leave-one-dataset-out).

    Raises
    ------
    FileNotFoundError
        When the file is missing (a broken install).
    KeyError
        For a ``without`` that is not one of the datasets.
    """
    return _learned(OFF_REGIME_FILE, without)


def ladder_id(text: str) -> int:
    """A stable 32-bit number for a fit's data hash (the ``ladder`` of :func:`shift`)."""
    import zlib

    return zlib.crc32(text.encode())


def learned_from() -> list[str]:
    """The datasets the default law error was learned from."""
    return list(_record(FILE_NAME).get("datasets", []))


def learned_reach() -> float | None:
    """How far out the default law error was measured: the largest extrapolation distance
    (decades beyond the fitted runs, :func:`extrapolation_distance`) of the held-out runs it was
    learned from; None when the file does not record it.

    Beyond it the drift's growth with distance is the learned model's own extrapolation, which
    no held-out run has checked; :meth:`bayescale.Fit.predict` warns there
    (:class:`bayescale.ExtrapolationWarning`).
    """
    reach = _record(FILE_NAME).get("max_distance")
    return None if reach is None else float(reach)


def resolve(law_error: bool | LawError | Callable[[], LawError] | None) -> LawError | None:
    """``True`` -> :func:`default`, ``False``/``None`` -> no law error, a :class:`LawError` as is.

    Parameters
    ----------
    law_error : bool, LawError, callable or None
        What a ``law_error=`` argument was given; a function of no arguments is called (a
        fit's own drift, :meth:`bayescale.Fit.own_law_error`, computed when first needed).

    Returns
    -------
    LawError or None
        None when there is no law error.

    Raises
    ------
    TypeError
        For anything else.
    """
    if law_error is True:
        return default()
    if law_error is False or law_error is None:
        return None
    if isinstance(law_error, LawError):
        return law_error
    if callable(law_error):
        return law_error()
    raise TypeError(
        f"law_error={law_error!r} must be True (the default drift), False (none) or a bs.LawError, "
        f"got {type(law_error).__name__}"
    )


class ExtrapolationWarning(UserWarning):
    """Prediction rows lie further beyond the fitted runs than any forecast the law error was
    learned from (:func:`bayescale.law_error.learned_reach`): their intervals rest on the error
    model's own extrapolation."""


def warn_beyond_learned_reach(distance: np.ndarray, labels: pd.Index, *, stacklevel: int, what: str = "rows") -> None:
    """One :class:`ExtrapolationWarning` when some of ``distance`` (decades beyond the fitted
    runs, one per row labelled by ``labels``) exceed :func:`bayescale.law_error.learned_reach`.
    ``what`` names the rows in the message (e.g. ``"budgets' optima"``). ``stacklevel`` counts
    from the caller of this function, as :func:`warnings.warn` does."""
    reach = learned_reach()
    distance = np.asarray(distance, dtype=float)
    if reach is None or not (distance > reach).any():
        return
    beyond = np.flatnonzero(distance > reach)
    rows = ", ".join(str(label) for label in labels[beyond][:10]) + (", ..." if len(beyond) > 10 else "")
    warnings.warn(
        f"{len(beyond)} of {len(distance)} {what} ({what} {rows}) lie up to {distance.max():.1f} decades beyond the "
        f"fitted runs, further than any forecast the law error was learned from ({reach:.1f} decades): their "
        "intervals extrapolate the error model too and may be too narrow. Train runs closer to those rows, "
        "or read these intervals as a lower bound on the uncertainty (docs: guide/intervals)",
        ExtrapolationWarning,
        stacklevel=stacklevel + 1,
    )


def beyond_reach_notes(compute: Callable[[], Any], *, stacklevel: int) -> tuple[Any, list[str]]:
    """``compute()`` and the messages of the :class:`ExtrapolationWarning` it raised, for a page or a
    console to print beside its table instead of a warning; other warnings pass on to the caller
    (``stacklevel`` counts from the caller of this function, as :func:`warnings.warn` does)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExtrapolationWarning)
        value = compute()
    notes = []
    for warning in caught:
        if issubclass(warning.category, ExtrapolationWarning):
            notes.append(str(warning.message))
        else:
            warnings.warn(warning.message, warning.category, stacklevel=stacklevel + 1)
    return value, notes


# --- distance ------------------------------------------------------------------------------
def scale_inputs(law: Law) -> dict[str, int]:
    """The inputs along which a law extrapolates, with the direction (+1 up, -1 down).

    Every positive input, upwards, except a loss input (``L`` of a downstream link), which
    extrapolates downwards. Each input counts on its own: the law's exponent of ``N`` is pinned
    only up to the largest ``N`` fitted, whatever the compute of the runs there.

    Parameters
    ----------
    law : Law
        Its inputs whose domain is ``"positive"`` count.

    Returns
    -------
    dict of str to int
        Input name to ``+1`` (extrapolates upwards) or ``-1`` (downwards), in the law's order.
    """
    return {
        name: (-1 if name in DECREASING_INPUTS else 1)
        for name in law.inputs
        if law.domain(name) == "positive"
    }


def _scale_columns(law: Law, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    missing = [name for name in scale_inputs(law) if name not in frame.columns]
    if missing:
        raise ValueError(f"cannot measure the extrapolation distance: inputs {missing} are missing from the rows")
    return {name: frame[name].to_numpy(dtype=float) for name in scale_inputs(law)}


def extrapolation_distance(law: Law, fitted: pd.DataFrame, new: pd.DataFrame) -> np.ndarray:
    """Decades beyond the fitted runs, per row of ``new`` (0 inside the fitted range).

    The larger of two measures on the ``log10`` of the law's scale inputs (:func:`scale_inputs`),
    each an outer bound of the fitted region:

    * the box: for each input, how far the row lies beyond the largest fitted value (the smallest
      for a decreasing input), summed over the inputs; a run with 10x the parameters and 10x the
      tokens of the largest fitted ones is 2 decades out;
    * the diagonal: how far the sum of the row's ``log10`` inputs lies beyond the largest sum of a
      fitted run. For an isoFLOP sweep this is the compute beyond the largest budget, even where
      the run's ``N`` and ``D`` each stay inside the box.

    Both frames hold the law's inputs under their own names.

    Parameters
    ----------
    law : Law
        Its scale inputs (:func:`scale_inputs`) are measured.
    fitted : DataFrame
        The fitted runs' inputs.
    new : DataFrame
        The rows to measure.

    Returns
    -------
    ndarray
        ``(len(new),)`` decades, 0 inside the fitted range.

    Raises
    ------
    ValueError
        When a frame lacks one of the law's scale inputs.
    """
    rows = signed_log_inputs(law, new)
    if not len(fitted):
        return np.zeros(len(new))
    edges, top = fitted_edges(signed_log_inputs(law, fitted))
    return distance_beyond(rows, edges, top)


def signed_log_inputs(law: Law, frame: pd.DataFrame) -> np.ndarray:
    """``direction * log10`` of each scale input (:func:`scale_inputs`): larger is further out.

    Parameters
    ----------
    law : Law
        Its scale inputs and their directions count.
    frame : DataFrame
        Rows with the law's scale inputs under their own names.

    Returns
    -------
    ndarray
        ``(rows, inputs)``; ``(rows, 0)`` for a law without a positive input.
    """
    columns = _scale_columns(law, frame)
    directions = scale_inputs(law)
    if not directions:  # a law without a positive input never extrapolates in scale
        return np.zeros((len(frame), 0))
    return np.stack([directions[name] * np.log10(columns[name]) for name in directions], axis=-1).reshape(len(frame), -1)


def fitted_edges(signed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The outer edges of fitted runs: per input the furthest value, and the largest sum (the diagonal).

    Parameters
    ----------
    signed : ndarray
        The fitted runs' :func:`signed_log_inputs`, ``(runs, inputs)`` with at least one run.

    Returns
    -------
    edges, top : ndarray
        ``(inputs,)`` and a scalar array, as :func:`distance_beyond` takes them.
    """
    return signed.max(axis=0), signed.sum(axis=-1).max()


def distance_beyond(signed: np.ndarray, edges: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Decades beyond a fitted region (:func:`extrapolation_distance`'s measure), broadcasting.

    Several regions can be measured at once, e.g. the fitted runs plus each of several candidate
    runs (:func:`bayescale.next_runs`).

    Parameters
    ----------
    signed : ndarray
        The rows' :func:`signed_log_inputs`, ``(..., rows, inputs)``.
    edges : ndarray
        Each region's furthest value per input (:func:`fitted_edges`), ``(inputs,)`` or ``(..., 1, inputs)``.
    top : ndarray
        Each region's largest sum over the inputs, a scalar or ``(..., 1)``.

    Returns
    -------
    ndarray
        ``(..., rows)`` decades, 0 inside the region.
    """
    box = np.maximum(0.0, signed - edges).sum(axis=-1)
    diagonal = np.maximum(0.0, signed.sum(axis=-1) - top)
    return np.maximum(box, diagonal)


def shift(
    law_error: LawError,
    distance: np.ndarray,
    level_codes: np.ndarray,
    n_draws: int,
    *,
    lower_is_better: bool,
    seed: int,
    ladder: int = 0,
) -> np.ndarray:
    """Draws of the curve's shift on the likelihood's scale, ``(n_draws, rows)``.

    ``distance`` is ``(rows,)``, or ``(n_draws, rows)`` where each draw is evaluated at its own
    inputs (a compute-optimal frontier). ``level_codes`` gives each row's group level
    (non-negative integers, stable across calls; all 0 for an ungrouped fit); rows of a level
    share its drift. ``ladder`` identifies the fit (see :meth:`~bayescale.LawError.slopes`). Positive gains
    move the curve towards "better".

    Parameters
    ----------
    law_error : LawError
        The drift's distribution.
    distance : ndarray
        Decades beyond the fitted runs, ``(rows,)`` or ``(n_draws, rows)``.
    level_codes : ndarray
        ``(rows,)`` group-level codes.
    n_draws : int
        Number of draws.
    lower_is_better : bool
        Direction of "better" (a positive gain lowers the curve when True).
    seed : int
        Seed of the gains (:meth:`LawError.slopes`).
    ladder : int
        Identifies the fit.

    Returns
    -------
    ndarray
        ``(n_draws, rows)``: ``sign * gain * distance**power``.
    """
    levels, index = np.unique(np.asarray(level_codes, dtype=np.int64), return_inverse=True)
    gain, power = law_error.slopes(n_draws, levels, seed, ladder)
    distance = np.asarray(distance, dtype=float)
    distance = distance[None, :] if distance.ndim == 1 else distance
    sign = -1.0 if lower_is_better else 1.0
    return sign * gain[:, index.reshape(-1)] * distance ** power[:, None]


def level_codes(columns: list[np.ndarray], rows: int) -> np.ndarray:
    """One stable code per combination of group labels: a level's own drift stream.

    ``columns`` holds each grouping column's label codes per row. One column: its codes. More:
    a 32-bit hash of the codes, so that a level's code depends on its labels alone, never on which
    or how many rows are predicted with it.
    """
    import zlib

    if not columns:
        return np.zeros(rows, dtype=np.int64)
    if len(columns) == 1:
        return columns[0]
    keys = ["/".join(str(int(c)) for c in combo) for combo in zip(*columns, strict=True)]
    return np.array([zlib.crc32(key.encode()) for key in keys], dtype=np.int64)


def shift_for_fit(
    law_error: bool | LawError | Callable[[], LawError] | None,
    law: Law,
    fitted: pd.DataFrame,
    inputs: Mapping[str, np.ndarray],
    group_index: Mapping[str, np.ndarray],
    levels: Mapping[str, Any],
    n_draws: int,
    *,
    seed: int,
    data_hash: str = "",
) -> np.ndarray | None:
    """The law-error shift of one fit's predictions, ``(n_draws, rows)``, or None when there is none.

    ``fitted`` holds the fitted runs' law inputs, ``inputs`` the new rows' ones: arrays of shape
    ``(rows,)``, or ``(n_draws, rows)`` where each posterior draw has its own inputs (the
    compute-optimal allocation of each draw). ``group_index`` gives each row's code in every
    grouping column of ``levels`` (unseen levels numbered after the seen ones), and each
    combination of labels is one level with its own drift. ``data_hash`` names the ladder
    (:func:`ladder_id`). None when ``law_error`` is off or every row lies inside the fitted range.

    Parameters
    ----------
    law_error : bool, LawError, callable or None
        As ``law_error=`` of :meth:`bayescale.Fit.predict` (see :func:`resolve`); a function of
        no arguments returning a LawError is called only when some row lies beyond the fitted runs.
    law : Law
        The fit's law: its scale inputs and direction of "better".
    fitted : DataFrame
        The fitted runs' law inputs.
    inputs : mapping of str to ndarray
        The new rows' law inputs, ``(rows,)`` or ``(n_draws, rows)`` each.
    group_index : mapping of str to ndarray
        Each grouping column's code per row.
    levels : mapping
        The fit's grouping columns (their labels are not read).
    n_draws : int
        Number of draws.
    seed : int
        Seed of the drift.
    data_hash : str
        The fit's data hash, naming the ladder.

    Returns
    -------
    ndarray or None
        ``(n_draws, rows)`` on the likelihood's scale, or None.
    """
    # a bad value is refused whether or not a row lies beyond the fitted runs; a callable (a fit's
    # own drift, which costs a refit: Fit.own_law_error) is called only when one does
    chosen = None if callable(law_error) else resolve(law_error)
    if chosen is None and not callable(law_error):
        return None
    arrays = {name: np.asarray(value, dtype=float) for name, value in inputs.items()}
    shape = np.broadcast_shapes(*(value.shape for value in arrays.values()))
    flat = pd.DataFrame({name: np.broadcast_to(value, shape).reshape(-1) for name, value in arrays.items()})
    distance = extrapolation_distance(law, fitted, flat).reshape(shape)
    if not distance.any():
        return None
    chosen = chosen if chosen is not None else resolve(law_error)
    assert chosen is not None
    codes = level_codes([np.asarray(group_index[column], dtype=np.int64) for column in levels], shape[-1])
    return shift(chosen, distance, codes, n_draws, lower_is_better=law.lower_is_better, seed=seed,
                 ladder=ladder_id(data_hash))  # fmt: skip


def packaged_path() -> Path:
    """Where :func:`default` reads the learned file (the zoo folder; :func:`off_regime` reads
    ``OFF_REGIME_FILE`` beside it)."""
    return _zoo_file()

