"""Compute-optimal allocation: how to split a FLOP budget C = 6 N D between parameters and tokens.

For every posterior draw, the allocation minimising the law's loss at fixed compute
``C = 6 N D`` (Kaplan et al. 2020, Sec. 2.1) is found, so ``N*(C)``, ``D*(C)``, the
tokens-per-parameter ratio and the loss at the optimum come with credible intervals.

* Chinchilla ``L = E + A/N^alpha + B/D^beta`` has the closed form of Hoffmann et al. (2022,
  eq. 4): ``N* = G (C/6)^a``, ``D* = G^-1 (C/6)^b`` with ``G = (alpha A / (beta B))^(1/(alpha+beta))``,
  ``a = beta/(alpha+beta)``, ``b = alpha/(alpha+beta)``.
* Any other law with inputs ``N`` and ``D`` is minimised numerically per draw and budget: a
  log-spaced grid over ``N`` (between 1e-3 and 1e5 tokens per parameter) then a finer grid around
  the best point, vectorised in JAX.

References
----------
Hoffmann, J. et al. (2022). Training Compute-Optimal Large Language Models. arXiv:2203.15556.
Besiroglu, T. et al. (2024). Chinchilla Scaling: A replication attempt. arXiv:2404.10102
(a = 0.513 on the Chinchilla data; about 20 tokens per parameter).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bayescale.data import FLOPS_PER_PARAMETER_TOKEN, tokens_for_compute
from bayescale.law_error import extrapolation_distance, warn_beyond_learned_reach

__all__ = [
    "TOKENS_PER_PARAMETER_RANGE",
    "AllocationWarning",
    "allocation_exponents",
    "compute_optimal",
    "differentiable_log_optimum",
    "frontier_draws",
    "optimal_draws",
    "param_draws",
]

QUANTITIES = ("N", "D", "D_per_N", "loss")

#: Tokens per parameter between which the numerical search looks for the optimum: four decades
#: either side of the ratios published optima span (Kaplan et al. ~1-5, Hoffmann et al. ~20,
#: over-trained ~100-2,000). Beyond them a law is extrapolated where no run constrains it, and a
#: law whose data term vanishes with N (``chinchilla_farseer``'s slopes) would run off to N ~ C.
TOKENS_PER_PARAMETER_RANGE = (1e-3, 1e5)


class AllocationWarning(UserWarning):
    """For some posterior draws the loss along ``C = 6 N D`` has no minimum in :data:`~bayescale.optimal.TOKENS_PER_PARAMETER_RANGE`."""


def param_draws(fit, group: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """Draws of the law's parameters, chains flattened: population values, or one level's.

    Parameters
    ----------
    fit : Fit
    group : mapping, optional
        ``{column: label}``: parameters grouped by ``column`` take that level's value (``p_<column>``).
    """
    out = {}
    group = dict(group or {})
    levels = fit.levels
    for column, label in group.items():
        if column not in levels:
            raise ValueError(f"group={{{column!r}: ...}}: {column!r} is not a grouping column ({list(levels)})")
        if str(label) not in levels[column]:
            raise ValueError(f"group={{{column!r}: {label!r}}}: unknown level; levels are {levels[column]}")
    for name in fit.law.param_names:
        value = fit.draws(name)
        for column, label in group.items():
            if column in fit.spec.groups_of[name]:
                value = fit.draws(f"{name}_{column}")[:, levels[column].index(str(label))]
        out[name] = np.asarray(value, dtype=np.float64)
    return out


def _check_law(fit) -> None:
    if not {"N", "D"} <= set(fit.law.inputs):
        raise ValueError(
            f"compute-optimal allocation needs a law of N and D; {fit.law.name!r} has inputs {list(fit.law.inputs)}"
        )


@functools.cache
def _jitted(function):
    """One compiled program per closed-form allocation (a law's ``compute_optimal``)."""
    return jax.jit(function)


def _log_loss_along_budget(law, logN, logc6, params, others):
    """The law's log loss at ``N = exp(logN)`` and ``D = C / (6N)`` (``logc6 = log(C/6)``)."""
    return law.evaluate_log(N=jnp.exp(logN), D=jnp.exp(logc6 - logN), **params, **others)


def _search(law, logc6, params, others, n_grid: int):
    """One draw's grid search at one budget: ``log N*``, the log loss there, and whether the coarse
    grid's best point is an end of :data:`TOKENS_PER_PARAMETER_RANGE`."""
    log_ratios = jnp.log(jnp.geomspace(*TOKENS_PER_PARAMETER_RANGE, n_grid, dtype=jnp.float32))
    coarse = 0.5 * (logc6 - log_ratios)  # log N where D / N = ratio and N D = C / 6
    values = _log_loss_along_budget(law, coarse, logc6, params, others)
    values = jnp.where(jnp.isfinite(values), values, jnp.inf)
    index = jnp.argmin(values)
    step = coarse[1] - coarse[0]
    fine = jnp.clip(coarse[index] + jnp.linspace(-1.5, 1.5, 61) * step, coarse[-1], coarse[0])  # within the range
    fine_values = _log_loss_along_budget(law, fine, logc6, params, others)
    fine_values = jnp.where(jnp.isfinite(fine_values), fine_values, jnp.inf)
    return fine[jnp.argmin(fine_values)], jnp.min(fine_values), (index == 0) | (index == n_grid - 1)


#: Newton steps that polish the grid search's point before the one whose derivative is kept.
POLISH_STEPS = 2


def differentiable_log_optimum(law, logc6, params, others=None, n_grid: int = 256):
    """``log N*`` of one draw at the budgets ``logc6 = log(C/6)``, differentiable in the parameters.

    The value is the grid search's (:func:`optimal_draws`), polished by Newton steps on
    ``d log L / d log N = 0``; the last step is taken with the parameters' gradients and the
    polished point held fixed, so the derivative is the implicit function theorem's,
    ``d log N* / d theta = -(d2 log L / d log N d theta) / (d2 log L / d log N^2)``. Where the
    optimum lies at an end of the range (or the curvature is not positive) the derivative is zero.
    :func:`bayescale.plan_ladder` uses it for an optimum target of a law without a closed form.
    """
    others = others or {}
    frozen = jax.lax.stop_gradient(params)

    def slope(logN, logc6_one, p):
        return jax.grad(lambda x: _log_loss_along_budget(law, x, logc6_one, p, others))(logN)

    def newton_step(point, logc6_one, p, usable):
        curvature = jax.grad(slope)(point, logc6_one, frozen)
        usable = usable & (curvature > 0)
        return jnp.where(usable, slope(point, logc6_one, p) / jnp.where(usable, curvature, 1.0), 0.0), usable

    def one(logc6_one):
        point, _, at_edge = _search(law, logc6_one, frozen, others, n_grid)
        usable = ~at_edge
        for _ in range(POLISH_STEPS):  # onto the optimum, so the last step's derivative is the theorem's
            step, usable = newton_step(point, logc6_one, frozen, usable)
            point = point - step
        point = jax.lax.stop_gradient(point)
        step, _ = newton_step(point, logc6_one, params, usable)
        return point - step

    return jax.vmap(one)(jnp.atleast_1d(logc6))


def _numerical(law, C: np.ndarray, params: Mapping[str, np.ndarray], fixed: Mapping[str, float], n_grid: int):
    """Per-draw, per-budget argmin over log N of the law at D = C / (6N), within :data:`TOKENS_PER_PARAMETER_RANGE`."""
    logC6 = jnp.log(jnp.asarray(np.asarray(C) / FLOPS_PER_PARAMETER_TOKEN, dtype=jnp.float32))
    others = {k: jnp.asarray(v) for k, v in fixed.items()}

    over_c = jax.vmap(lambda p, logc6: _search(law, logc6, p, others, n_grid), in_axes=(None, 0))
    over_draws = jax.jit(jax.vmap(over_c, in_axes=(0, None)))
    logN, log_loss, at_edge = over_draws({k: jnp.asarray(v) for k, v in params.items()}, logC6)
    N = np.exp(np.asarray(logN, dtype=np.float64))
    D = tokens_for_compute(np.asarray(C, dtype=np.float64)[None, :], N)
    return N, D, np.exp(np.asarray(log_loss, dtype=np.float64)), np.asarray(at_edge)


def _warn_unbracketed(law_name: str, C: np.ndarray, at_edge: np.ndarray) -> None:
    """Warn, per budget, of the draws whose loss falls all the way to the search bracket's end."""
    share = at_edge.mean(axis=0)
    if not share.any():
        return
    budgets = ", ".join(f"{c:.3g} ({s:.1%} of draws)" for c, s in zip(C, share, strict=True) if s > 0)
    warnings.warn(
        f"law {law_name!r} has no compute-optimal allocation between {TOKENS_PER_PARAMETER_RANGE[0]:g} and "
        f"{TOKENS_PER_PARAMETER_RANGE[1]:g} tokens per parameter for some posterior draws at C = {budgets}: "
        "along C = 6ND their loss keeps falling to that range's end, so those draws' N and D are set by the "
        "range, not by the law, and they stretch the intervals. The law is extrapolated where its fitted runs "
        "say nothing about the trade-off: add runs nearer these budgets, or use a law whose data term cannot "
        "vanish (chinchilla)",
        AllocationWarning,
        stacklevel=3,
    )


def optimal_draws(
    fit,
    C: Sequence[float] | np.ndarray,
    *,
    group: Mapping[str, str] | None = None,
    method: str = "auto",
    n_grid: int = 256,
) -> dict[str, np.ndarray]:
    """Draws ``(draws, len(C))`` of ``N``, ``D``, ``D_per_N`` and ``loss`` at the optimum of each budget.

    Parameters
    ----------
    fit : Fit
        A fit of a law with inputs ``N`` and ``D``; its other inputs are held at their median
        over the fitted runs.
    C : sequence of float
        FLOP budgets (``C = 6 N D``).
    group : mapping, optional
        ``{column: label}``: use one level's parameters instead of the population's.
    method : {"auto", "closed_form", "numerical"}
        ``auto``: the law's closed form (``Law.compute_optimal``) when it has one, else per-draw
        numerical minimisation over ``log N``.
    n_grid : int
        Points of the coarse grid over ``log N`` of the numerical search.

    Returns
    -------
    dict of str to ndarray
        ``N``, ``D``, ``D_per_N`` and ``loss`` (the law's curve at the optimum, without law error),
        each ``(draws, len(C))``, and ``at_range_end`` (bool, same shape: the numerical optimum lies
        at an end of :data:`TOKENS_PER_PARAMETER_RANGE`; always False for a closed form).

    Warns
    -----
    AllocationWarning
        When the numerical search finds, for some draws and budgets, the loss still falling at the
        end of its range of ``N`` (a law extrapolated to where its data term vanishes): the share
        of draws per budget, which the returned draws include.

    Raises
    ------
    ValueError
        For a law without inputs ``N`` and ``D``, a budget that is not positive, an unknown
        ``method`` or group level, or ``method="closed_form"`` for a law without a closed form.
    """
    _check_law(fit)
    C = np.atleast_1d(np.asarray(C, dtype=np.float64))
    if np.any(~(C > 0)):
        raise ValueError(f"C={C.tolist()!r} must be positive FLOP budgets, e.g. C=[1e21, 1e22]")
    if method not in ("auto", "closed_form", "numerical"):
        raise ValueError(f"method={method!r} must be 'auto', 'closed_form' or 'numerical'")
    params = param_draws(fit, group)
    closed = fit.law.compute_optimal is not None and method in ("auto", "closed_form")
    if method == "closed_form" and fit.law.compute_optimal is None:
        raise ValueError(
            f"method='closed_form': law {fit.law.name!r} has no closed-form allocation (Law.compute_optimal); "
            "use method='numerical'"
        )
    extra_inputs = [name for name in fit.law.inputs if name not in ("N", "D")]
    fixed = {name: float(np.median(fit.data[name])) for name in extra_inputs}
    if closed:
        p = {k: jnp.asarray(v) for k, v in params.items()}
        N, D = (np.asarray(v, dtype=np.float64) for v in _jitted(fit.law.compute_optimal)(jnp.asarray(C), **p))
        loss = np.asarray(fit.law.evaluate(N=N, D=D, **{k: v[:, None] for k, v in params.items()}), dtype=np.float64)
        at_range_end = np.zeros(N.shape, dtype=bool)
    else:
        N, D, loss, at_range_end = _numerical(fit.law, C, params, fixed, n_grid)
        _warn_unbracketed(fit.law.name, C, at_range_end)
    return {"N": N, "D": D, "D_per_N": D / N, "loss": loss, "at_range_end": at_range_end}


def frontier_draws(
    fit,
    C: Sequence[float] | np.ndarray,
    *,
    group: Mapping[str, str] | None = None,
    law_error=True,
    seed: int = 0,
    method: str = "auto",
) -> np.ndarray:
    """Draws ``(draws, len(C))`` of the loss on the compute-optimal frontier, law error included.

    The loss at each draw's own optimum (:func:`optimal_draws`), moved by the law error
    (:mod:`bayescale.law_error`) at that draw's ``(N*, D*)``, as :meth:`Fit.posterior_draws`
    moves a curve at given inputs: the same drift (same ``seed``, same level) as a prediction of
    this fit, zero inside the fitted range. ``law_error`` is as in :meth:`Fit.predict`.

    Parameters
    ----------
    fit : Fit
        A fit of a law with inputs ``N`` and ``D``.
    C : sequence of float
        FLOP budgets (``C = 6 N D``).
    group : mapping, optional
        ``{column: label}``: one level's parameters and drift (else the population's, with the
        drift of a new level).
    law_error : bool or LawError
        As in :meth:`Fit.predict`.
    seed : int
        Seed of the law error's drift.
    method : {"auto", "closed_form", "numerical"}
        As in :func:`optimal_draws`.

    Returns
    -------
    ndarray
        ``(draws, len(C))``.
    """
    return _frontier_loss(fit, optimal_draws(fit, C, group=group, method=method), group, law_error, seed)


def _frontier_loss(fit, draws: Mapping[str, np.ndarray], group: Mapping[str, str] | None, law_error,
                   seed: int) -> np.ndarray:
    """The optimum's loss of :func:`optimal_draws`'s ``draws``, moved by the law error at each draw's (N*, D*)."""
    from bayescale.law_error import shift_for_fit
    from bayescale.posterior import shifted_location

    loss = draws["loss"]
    group = dict(group or {})
    levels = fit.levels
    # the level's code in each grouping column; a column not named is a new level, as in posterior_draws
    group_index = {column: np.full(loss.shape[1], labels.index(str(group[column])) if column in group else len(labels))
                   for column, labels in levels.items()}  # fmt: skip
    inputs = {"N": draws["N"], "D": draws["D"]}
    for name in fit.law.inputs:
        if name not in inputs:
            inputs[name] = np.full(loss.shape, float(np.median(fit.data[name])))
    law_inputs = fit.data[list(fit.law.inputs)]
    shift = shift_for_fit(fit.law_error_option(law_error), fit.law, law_inputs, inputs, group_index, levels,
                          loss.shape[0], seed=seed, data_hash=fit.meta.get("data_hash", ""))  # fmt: skip
    if shift is None:
        return loss
    log_space = fit.spec.likelihood.log_space
    location = shifted_location(fit.spec, np.log(loss) if log_space else loss, shift)
    return np.exp(location) if log_space else location


def optimum_distance(fit, draws: Mapping[str, np.ndarray]) -> np.ndarray:
    """Decades beyond the fitted runs (:func:`bayescale.law_error.extrapolation_distance`) of each
    budget's median optimum (N*, D*) among :func:`optimal_draws`' ``draws``; ``(budgets,)``."""
    optima = pd.DataFrame({"N": np.median(draws["N"], axis=0), "D": np.median(draws["D"], axis=0)})
    for name in fit.law.inputs:
        if name not in optima:
            optima[name] = float(np.median(fit.fitted_inputs[name]))
    return extrapolation_distance(fit.law, fit.fitted_inputs, optima)


def compute_optimal(
    fit,
    C: Sequence[float] | np.ndarray,
    *,
    level: float = 0.9,
    group: Mapping[str, str] | None = None,
    method: str = "auto",
    law_error=True,
    seed: int = 0,
) -> pd.DataFrame:
    """Compute-optimal model size, tokens, their ratio and the loss at each budget, with intervals.

    Parameters
    ----------
    fit : Fit
        A fit of a law with inputs ``N`` and ``D``.
    C : sequence of float
        FLOP budgets (``C = 6 N D``).
    level : float
        Mass of the central credible intervals.
    group : mapping, optional
        ``{column: label}``: use one level's parameters instead of the population's.
    method : {"auto", "closed_form", "numerical"}
        ``auto``: the closed form for chinchilla, else per-draw numerical minimisation.
    law_error : bool or LawError
        As in :meth:`Fit.predict`: the loss at an optimum beyond the fitted runs may drift from the
        law (:func:`frontier_draws`), so its interval holds the law error as a prediction there
        does. False: the law's curve alone. ``N``, ``D`` and their ratio are the law's optimum
        either way.
    seed : int
        Seed of the law error's drift (the same drift as ``fit.predict(..., seed=seed)``).

    Returns
    -------
    DataFrame
        Long format: ``C``, ``quantity`` (``N``, ``D``, ``D_per_N``, ``loss``), ``median``, ``mean``,
        ``lower``, ``upper``. ``loss`` is the curve at the optimum (law error included beyond the
        fitted runs, no run-to-run noise).

    Warns
    -----
    AllocationWarning
        When, for some draws, a numerical allocation runs to the end of the searched range of
        ``N`` (see :func:`optimal_draws`): the intervals then hold allocations the law does not bound.
    ExtrapolationWarning
        With the default ``law_error=True``, once, when the median optimum of some budgets lies
        further beyond the fitted runs than any forecast the law error was learned from
        (:func:`bayescale.law_error.learned_reach`): the loss's interval there may be too narrow.

    Examples
    --------
    >>> bs.compute_optimal(fit, C=[1e21, 1e22, 1e23, 1e24])   # doctest: +SKIP
    """
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must lie in (0, 1)")
    draws = optimal_draws(fit, C, group=group, method=method)
    draws["loss"] = _frontier_loss(fit, draws, group, law_error, seed)
    C = np.atleast_1d(np.asarray(C, dtype=np.float64))
    if law_error is True:  # each budget's median optimum, against the law error's learned reach
        warn_beyond_learned_reach(optimum_distance(fit, draws), pd.Index([f"C={c:.3g}" for c in C]), stacklevel=2,
                                  what="budgets' optima")  # fmt: skip
    tail = (1 - level) / 2
    rows = []
    for quantity in QUANTITIES:
        values = draws[quantity]
        lower, median, upper = np.quantile(values, [tail, 0.5, 1 - tail], axis=0)
        mean = values.mean(axis=0)
        for i, c in enumerate(C):
            rows.append({"C": c, "quantity": quantity, "median": median[i], "mean": mean[i],
                         "lower": lower[i], "upper": upper[i]})
    return pd.DataFrame(rows)


def allocation_exponents(fit, *, level: float = 0.9, C: tuple[float, float] = (1e21, 1e24),
                         group: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Posterior of the exponents ``a`` (N* ~ C^a) and ``b`` (D* ~ C^b) over a range of budgets.

    For chinchilla they are ``beta/(alpha+beta)`` and ``alpha/(alpha+beta)`` exactly; for other laws
    the slope of ``log N*`` against ``log C`` between the two ends of ``C``.

    Parameters
    ----------
    fit : Fit
        A fit of a law with inputs ``N`` and ``D``.
    level : float
        Mass of the central credible intervals.
    C : (float, float)
        The two FLOP budgets between which the slopes are measured.
    group : mapping, optional
        ``{column: label}``: use one level's parameters instead of the population's.

    Returns
    -------
    DataFrame
        Two rows, ``exponent`` ``a`` and ``b``: ``median``, ``mean``, ``lower``, ``upper``.

    Raises
    ------
    ValueError
        For a law without inputs ``N`` and ``D``, a budget that is not positive, an unknown group
        level, or ``level`` outside (0, 1).
    """
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must lie in (0, 1), e.g. 0.9 for a 90% interval")
    draws = optimal_draws(fit, list(C), group=group)
    span = np.log(C[1]) - np.log(C[0])
    a = (np.log(draws["N"][:, 1]) - np.log(draws["N"][:, 0])) / span
    b = (np.log(draws["D"][:, 1]) - np.log(draws["D"][:, 0])) / span
    tail = (1 - level) / 2
    rows = []
    for name, v in (("a", a), ("b", b)):
        lower, median, upper = np.quantile(v, [tail, 0.5, 1 - tail])
        rows.append({"exponent": name, "median": median, "mean": v.mean(), "lower": lower, "upper": upper})
    return pd.DataFrame(rows)
