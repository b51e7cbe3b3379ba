"""Ranking several recipes at a target scale: P(each is best), pairwise probabilities, expected regret.

Every posterior draw gives each recipe's curve at the target scale; across draws that is the
joint posterior of the recipes' losses there. From it:

* ``P(best)``: the share of draws in which a recipe is the best (ties split evenly), summing to 1;
* the pairwise matrix ``P(row better than column)``;
* the expected regret of picking a recipe: ``E[loss(picked) - loss(best)]`` in the target's own
  units (loss, or accuracy for a higher-is-better target), never negative. The Bayes choice
  under a loss measured in those units is the recipe of least expected regret.

As in :func:`bayescale.crossovers.crossover` and :func:`bayescale.compute_multiplier`, the
values are curve draws (the law under the posterior, no run-to-run noise) with the law error
beyond the fitted runs, drawn with one seed for every recipe: they share its dataset part (one
benchmark) and each has its own ladder part. Draws of separate fits are paired by index; levels
of one grouped fit share each draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bayescale.crossovers import curve_draws_along, grouping_column, is_lower_better
from bayescale.grid import input_name
from bayescale.results import Posterior

if TYPE_CHECKING:
    import matplotlib.axes

__all__ = ["Ranking", "rank"]


@dataclass
class Ranking:
    """The posterior ranking of several recipes at one target scale.

    Attributes
    ----------
    names : list of str
        The recipes, in the order given.
    values : ndarray
        Paired draws ``(draws, recipes)`` of each recipe's curve at the target.
    lower_is_better : bool
    at : dict
        The target scale (inputs, or ``{x: value}`` along a path).
    level : float
        Mass of the intervals in :meth:`summary`.
    """

    names: list[str]
    values: np.ndarray
    lower_is_better: bool
    at: dict
    level: float = 0.9
    ylabel: str | None = None

    @property
    def _badness(self) -> np.ndarray:
        return self.values if self.lower_is_better else -self.values

    @property
    def p_best(self) -> pd.Series:
        """P(each recipe is the best at the target); ties split evenly, so the values sum to 1."""
        bad = self._badness
        winners = bad == bad.min(axis=1, keepdims=True)
        share = winners / winners.sum(axis=1, keepdims=True)
        return pd.Series(share.mean(axis=0), index=self.names, name="p_best")

    def pairwise(self) -> pd.DataFrame:
        """``P(row better than column)``; ties count half, so ``P[a, b] + P[b, a] = 1``; NaN on the diagonal."""
        bad = self._badness
        better = (bad[:, :, None] < bad[:, None, :]).mean(axis=0)
        tie = (bad[:, :, None] == bad[:, None, :]).mean(axis=0)
        matrix = better + 0.5 * tie
        np.fill_diagonal(matrix, np.nan)
        return pd.DataFrame(matrix, index=pd.Index(self.names, name="better"), columns=pd.Index(self.names, name="than"))

    @property
    def regret(self) -> np.ndarray:
        """Draws ``(draws, recipes)`` of the regret of picking each recipe (target units, >= 0)."""
        bad = self._badness
        return bad - bad.min(axis=1, keepdims=True)

    @property
    def expected_regret(self) -> pd.Series:
        """E[regret] of picking each recipe, in the target's units."""
        return pd.Series(self.regret.mean(axis=0), index=self.names, name="expected_regret")

    @property
    def best(self) -> str:
        """The recipe of least expected regret (the Bayes choice)."""
        return str(self.expected_regret.idxmin())

    def summary(self, level: float | None = None) -> pd.DataFrame:
        """One row per recipe, best first (least expected regret).

        Parameters
        ----------
        level : float, optional
            Mass of the intervals; default the one given to :func:`rank`.

        Returns
        -------
        DataFrame
            Indexed by recipe: ``rank``, ``median``, ``lower``, ``upper`` (the curve at the
            target), ``p_best``, ``expected_regret`` and ``regret_upper`` (the regret's
            ``level`` quantile: how much picking it may cost).
        """
        level = self.level if level is None else float(level)
        if not 0 < level < 1:
            raise ValueError(f"level={level!r} must lie in (0, 1), e.g. 0.9 for a 90% interval")
        tail = (1 - level) / 2
        lower, median, upper = np.quantile(self.values, [tail, 0.5, 1 - tail], axis=0)
        frame = pd.DataFrame({
            "median": median, "lower": lower, "upper": upper, "p_best": self.p_best.to_numpy(),
            "expected_regret": self.expected_regret.to_numpy(),
            "regret_upper": np.quantile(self.regret, level, axis=0),
        }, index=pd.Index(self.names, name="recipe"))  # fmt: skip
        frame = frame.sort_values(["expected_regret", "p_best"], ascending=[True, False], kind="stable")
        frame.insert(0, "rank", np.arange(1, len(frame) + 1))
        return frame

    def at_text(self) -> str:
        """The target scale in words, e.g. ``\"C=1e+23\"``."""
        return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.at.items())

    def __repr__(self) -> str:
        s = self.summary()
        with pd.option_context("display.width", 120, "display.max_columns", 10):
            table = s.to_string(float_format=lambda v: f"{v:.4g}")
        better = "lower" if self.lower_is_better else "higher"
        return (f"<bayescale.Ranking of {len(self.names)} recipes at {self.at_text()} ({better} is better; "
                f"{self.values.shape[0]} draws); best: {self.best}\n{table}>")

    def _repr_html_(self) -> str:
        return (f"<div><b>bayescale.Ranking</b> at {self.at_text()}: best <b>{self.best}</b>"
                f"{self.summary().to_html()}<p>P(row better than column)</p>{self.pairwise().to_html()}</div>")

    def plot(self, *, ax: matplotlib.axes.Axes | None = None) -> matplotlib.axes.Axes:
        """Each recipe's median and interval at the target, labelled with P(best); returns the Axes
        (:func:`bayescale.plots.plot_ranking`).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from bayescale.plots import plot_ranking

        return plot_ranking(self, ax=ax)

def _candidates(fits, groups, column) -> tuple[list[str], list[tuple[Posterior, dict]]]:
    """Names and ``(fit, overrides)`` of each recipe."""
    if groups is not None:
        if isinstance(fits, Mapping):
            raise ValueError("groups= ranks the levels of one fit; pass the fit itself, e.g. rank(fit, groups=[...])")
        if isinstance(groups, str) or len(groups) < 2:
            raise ValueError(f"groups={groups!r} must name two or more levels, e.g. groups=['C4', 'RedPajama']")
        column = grouping_column(fits, groups, column)
        return [str(g) for g in groups], [(fits, {column: str(g)}) for g in groups]
    if not isinstance(fits, Mapping):
        raise TypeError(f"rank() takes a mapping {{name: fit}} (or one fit with groups=[...]), got {type(fits).__name__}")
    if len(fits) < 2:
        raise ValueError(f"rank() needs two or more recipes, got {len(fits)}: {list(fits)}")
    names, out = [], []
    for name, value in fits.items():
        if isinstance(value, tuple):
            if len(value) != 2 or not isinstance(value[1], Mapping):
                raise ValueError(f"recipe {name!r}: give a fit or (fit, {{input or group column: value}}), got {value!r}")
            out.append((value[0], dict(value[1])))
        else:
            out.append((value, {}))
        names.append(str(name))
    return names, out


def _parse_at(at, x: str) -> dict:
    if isinstance(at, pd.DataFrame):
        if len(at) != 1:
            raise ValueError(f"at= has {len(at)} rows; rank() ranks at one target scale: pass one row")
        return at.iloc[0].to_dict()
    if isinstance(at, Mapping):
        if not at:
            raise ValueError("at={} is empty; give the target, e.g. at={'C': 1e23} or at={'N': 7e9, 'D': 1.4e11}")
        return dict(at)
    if isinstance(at, (int, float, np.floating, np.integer)) and not isinstance(at, bool):
        return {x: float(at)}
    raise TypeError(f"at={at!r} must be a number (the {x!r} value), a mapping of inputs, or a one-row DataFrame; "
                    "e.g. at=1e23 or at={'N': 7e9, 'D': 1.4e11}")  # fmt: skip


def _values_at(fit, point: dict, *, x, path, ratio, N, seed, law_error) -> np.ndarray:
    """Draws ``(draws,)`` of one recipe's curve at the target ``point``.

    Every law input given: the curve at that point (group labels included). One input given
    (e.g. the compute ``C`` of a law of N and D): the curve along ``path`` at that value.
    """
    levels = fit.levels
    group = {k: str(v) for k, v in point.items() if k in levels}
    inputs = {k: v for k, v in point.items() if k not in levels}
    given = {input_name(fit, k) for k in inputs}
    law_inputs = set(fit.law.inputs)
    if law_inputs <= given:
        _, curve, _ = fit.posterior_draws(pd.DataFrame([{**inputs, **group}]), seed=seed, law_error=law_error)
        return curve[:, 0]
    if len(inputs) == 1 and len(group) <= 1:
        (key, value), = inputs.items()
        curve = curve_draws_along(fit, key, np.array([float(value)]), path=path, ratio=ratio, N=N,
                                  level=next(iter(group.items()), None), seed=seed, law_error=law_error)  # fmt: skip
        return curve[:, 0]
    raise ValueError(
        f"at={point!r}: law {fit.law.name!r} needs every input {list(fit.law.inputs)} (missing "
        f"{sorted(law_inputs - given)}), or a single one (e.g. 'C' for a law of N and D) to follow a path; "
        "for a path, name at most one group level"
    )


def rank(
    fits,
    *,
    at: float | Mapping[str, float] | pd.DataFrame,
    groups: Sequence[str] | None = None,
    column: str | None = None,
    x: str = "C",
    path: str = "optimal",
    ratio: float | None = None,
    N: float | None = None,
    law_error=True,
    level: float = 0.9,
    lower_is_better: bool | None = None,
    seed: int = 0,
) -> Ranking:
    """Rank recipes at a target scale: P(each is best), pairwise probabilities, expected regret.

    Parameters
    ----------
    fits : mapping of str to Fit, or Fit
        ``{name: fit}``, one fit per recipe; a value may be ``(fit, {input or group column:
        value})`` to rank settings of one fit (a level of a grouped fit, or an input such as the
        unique tokens ``U`` of the data-constrained law). Or one grouped fit with ``groups=``.
    at : float, mapping, or one-row DataFrame
        The target scale. A number, or ``{x: value}`` (e.g. ``{"C": 1e23}``), follows the path
        (``path``) at that compute (or other single input); a mapping of every input (e.g.
        ``{"N": 7e9, "D": 1.4e11}``) evaluates each recipe there. Inputs by the law's names or by
        the columns the fits read them from.
    groups : sequence of str, optional
        Levels of a grouping column of ``fits`` (one fit) to rank.
    column : str, optional
        The grouping column of ``groups``; default the one holding all of them.
    x : str
        The input a bare number in ``at`` refers to (default ``"C"``).
    path : {"optimal", "ratio", "N"}
        For ``at`` given as compute with laws of N and D: each recipe's compute-optimal
        allocation (default), a fixed ``D/N = ratio``, or a fixed ``N`` (see
        :func:`bayescale.crossovers.curve_draws_along`).
    ratio, N : float, optional
        The path's tokens per parameter, or model size.
    law_error : bool or LawError
        Curves beyond the fitted runs carry the law error (default, as :meth:`Fit.predict`),
        drawn with one seed for every recipe so that they share its dataset part; ``False``:
        the laws' curves alone.
    level : float
        Mass of the intervals in :meth:`Ranking.summary`.
    lower_is_better : bool, optional
        Direction of "better"; default the laws' (``Law.lower_is_better``), which must agree.
    seed : int
        Seed of the law error's drift.

    Returns
    -------
    Ranking
        ``.summary()`` (best first: median and interval, ``p_best``, ``expected_regret``),
        ``.pairwise()``, ``.p_best``, ``.expected_regret``, ``.best``, ``.values`` (draws).

    Raises
    ------
    ValueError
        For fewer than two recipes, fits that disagree on the direction of "better", unknown
        group levels, ``level`` outside (0, 1), or an ``at`` the fits cannot be evaluated at.
    TypeError
        For ``fits`` that is neither a mapping nor a fit with ``groups``, or an ``at`` of
        another type.

    Examples
    --------
    >>> res = bs.rank({"c4": fit_c4, "rpj": fit_rpj, "rw": fit_rw}, at={"C": 1e23})  # doctest: +SKIP
    >>> res.summary()[["p_best", "expected_regret"]]                                 # doctest: +SKIP
    >>> res.pairwise()                                                               # doctest: +SKIP

    Settings of one fit (the data-constrained law's unique tokens) at one model and data size:

    >>> bs.rank({f"{e} epochs": (fit, {"U": 84e9 / e}) for e in (1, 2, 4)}, at={"N": 4.2e9, "D": 84e9})  # doctest: +SKIP
    """
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must lie in (0, 1), e.g. 0.9 for a 90% interval")
    names, candidates = _candidates(fits, groups, column)
    if len(set(names)) != len(names):
        raise ValueError(f"recipe names must differ, got {names}")
    directions = {is_lower_better(f, lower_is_better) for f, _ in candidates}
    if len(directions) > 1:
        raise ValueError("the fits disagree on whether lower is better; pass lower_is_better=")
    target = _parse_at(at, x)
    columns = []
    for fit, overrides in candidates:
        columns.append(_values_at(fit, {**target, **overrides}, x=x, path=path, ratio=ratio, N=N, seed=seed,
                                  law_error=law_error))  # fmt: skip
    n = min(c.shape[0] for c in columns)
    values = np.stack([c[:n] for c in columns], axis=1)
    ylabel = candidates[0][0].y
    return Ranking(names=names, values=values, lower_is_better=directions.pop(), at=target, level=level,
                   ylabel=ylabel if isinstance(ylabel, str) else None)  # fmt: skip
