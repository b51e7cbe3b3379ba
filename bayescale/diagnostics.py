"""Convergence diagnostics: the limits, the warning, and rank-normalised R-hat and bulk ESS.

:data:`RHAT_LIMIT` and :data:`ESS_LIMIT` are the limits every result (``Fit``, ``ManyFits``,
``DownstreamFit``) checks its draws against, and :class:`ConvergenceWarning` is what it warns
with. :func:`rank_rhat` and :func:`bulk_ess` compute the rank-normalised split R-hat and the
bulk effective sample size of Vehtari et al. (2021) vectorised over any leading axes (used by
:class:`~bayescale.many.ManyFits` for thousands of keys at once; they equal ArviZ's values).

References
----------
Vehtari, A. et al. (2021). Rank-normalization, folding, and localization: an improved R-hat for
assessing convergence of MCMC. Bayesian Analysis 16(2), 667-718.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TypeVar

import jax.numpy as jnp
import numpy as np

from bayescale import _arviz

RHAT_LIMIT = 1.01
ESS_LIMIT = 400
T = TypeVar("T")


class ConvergenceWarning(UserWarning):
    """NUTS finished but its diagnostics say the draws may not be trustworthy."""


def quietly(fit_call: Callable[[], T]) -> T:
    """Run ``fit_call()`` (a fit) with its warnings, convergence warnings included, recorded and dropped.

    Used by the refits of leave-future-out checks, which judge the refit by its forecast of the
    held-out runs instead (:func:`forecast_converged`) and report that in their results.

    Parameters
    ----------
    fit_call : callable
        A function of no arguments that fits and returns the result.

    Returns
    -------
    result
        What ``fit_call`` returned.
    """
    with warnings.catch_warnings(record=True):
        return fit_call()


def draws_diagnostics(values: np.ndarray, divergences: int = 0) -> dict[str, float]:
    """``max_rhat``, ``min_ess_bulk`` and ``divergences`` of any quantity's draws, for :func:`convergence_problems`.

    Diagnose the quantity a result is used for (a forecast at some rows, a few population
    parameters) rather than every parameter behind it: a floor and its coefficient may trade off
    and mix slowly while the curve they make at the rows that matter is pinned.

    Parameters
    ----------
    values : ndarray
        Draws shaped ``(..., chains, draws)``: any leading axes (rows, parameters) are diagnosed
        one by one and the worst is reported.
    divergences : int
        Divergent transitions of the run that made the draws.

    Returns
    -------
    dict
        As :attr:`bayescale.Fit.diagnostics`.
    """
    values = np.asarray(values, dtype=np.float64)
    return {
        "max_rhat": float(np.nanmax(rank_rhat(values))),
        "min_ess_bulk": float(np.nanmin(bulk_ess(values))),
        "divergences": int(divergences),
    }


def convergence_problems(diagnostics: dict[str, float], *, target_accept_prob: float = 0.95) -> list[str]:
    """The problems of one posterior's draws in plain words, each with what to do ('' when none).

    Parameters
    ----------
    diagnostics : dict
        ``max_rhat``, ``min_ess_bulk`` and ``divergences`` (as :attr:`bayescale.Fit.diagnostics`).
    target_accept_prob : float
        The NUTS target acceptance the fit used: the advice for divergences raises it only when
        it was below 0.99.

    Returns
    -------
    list of str
        One sentence per limit broken (:data:`RHAT_LIMIT`, :data:`ESS_LIMIT`, any divergence).
    """
    problems = []
    if diagnostics["max_rhat"] > RHAT_LIMIT:
        problems.append(
            f"r_hat reaches {diagnostics['max_rhat']:.3f} (> {RHAT_LIMIT}): the chains disagree. "
            "Run longer (warmup=2000, draws=2000), or check that the law suits the data"
        )
    if diagnostics["min_ess_bulk"] < ESS_LIMIT:
        problems.append(
            f"bulk ESS is only {diagnostics['min_ess_bulk']:.0f} (< {ESS_LIMIT}): intervals are noisy. "
            "Draw more (draws=2000) or use more chains"
        )
    if diagnostics["divergences"]:
        step = ("Try target_accept_prob=0.99, " if target_accept_prob < 0.99
                else f"The fit already used target_accept_prob={target_accept_prob:g}; try ")  # fmt: skip
        problems.append(
            f"{diagnostics['divergences']} divergent transitions: NUTS met geometry it could not follow, so "
            f"the posterior may be biased. {step}tighter priors, or fewer grouped parameters"
        )
    return problems


def forecast_converged(refit, values: np.ndarray) -> bool:
    """Whether a refit's forecast of held-out runs meets the convergence rule.

    The rule (:func:`convergence_problems`) applied to what a forward check uses, a quantity of
    the refit at the held-out rows (its curve there for :func:`bayescale.calibrate`, the
    pointwise log-likelihood for ``compare(..., ic="lfo")``), and to the refit's divergences. Its
    parameters alone may break the rule where the held-out runs were what pinned them (without
    the largest runs a floor ``E`` and its coefficient ``A`` trade off and mix slowly) while the
    curve they make at those runs is well sampled.

    Parameters
    ----------
    refit : Fit
        The fit without the held-out runs.
    values : ndarray
        Its draws of the quantity at the held-out rows, ``(chains * draws, rows)``, chains one
        after another (as :meth:`bayescale.Fit.posterior_draws` returns them).

    Returns
    -------
    bool
    """
    return not convergence_problems(forecast_diagnostics(refit, values))


def forecast_diagnostics(refit, values: np.ndarray) -> dict[str, float]:
    """:func:`draws_diagnostics` of a refit's draws at held-out rows (see :func:`forecast_converged`).

    ``values`` is ``(chains * draws, rows)``, chains one after another; the worst row is reported,
    with the refit's divergences.
    """
    chains, _ = _arviz.chains_and_draws(refit.idata)
    by_row = np.moveaxis(np.asarray(values).reshape(chains, -1, np.shape(values)[-1]), -1, 0)
    return draws_diagnostics(by_row, divergences=refit.diagnostics["divergences"])


# --------------------------------------------------------------------------------------------
# Vectorised over leading axes (rank-normalised split r_hat and bulk ESS)
# --------------------------------------------------------------------------------------------
def _split_chains(x: np.ndarray) -> np.ndarray:
    """``(..., chains, draws)`` -> ``(..., 2 chains, draws // 2)`` (the odd last draw is dropped)."""
    half = x.shape[-1] // 2
    return np.concatenate([x[..., :half], x[..., -half:]], axis=-2)


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Rank-normalise over the last two axes (chains and draws together), Blom's offsets."""
    shape = x.shape
    flat = x.reshape((*shape[:-2], -1))
    ranks = np.argsort(np.argsort(flat, axis=-1, kind="stable"), axis=-1) + 1.0
    size = flat.shape[-1]
    from jax.scipy.special import ndtri

    z = np.asarray(ndtri(jnp.asarray((ranks - 0.375) / (size + 0.25))), dtype=np.float64)
    return z.reshape(shape)


def _rhat(x: np.ndarray) -> np.ndarray:
    n = x.shape[-1]
    between = n * x.mean(axis=-1).var(axis=-1, ddof=1)
    within = x.var(axis=-1, ddof=1).mean(axis=-1)
    return np.sqrt((between / within + n - 1) / n)


def rank_rhat(x: np.ndarray) -> np.ndarray:
    """Rank-normalised split r_hat (Vehtari et al. 2021) of ``x`` shaped ``(..., chains, draws)``."""
    x = np.asarray(x, dtype=np.float64)
    split = _split_chains(x)
    bulk = _rhat(_z_scale(split))
    folded = np.abs(x - np.median(x, axis=(-2, -1), keepdims=True))
    tail = _rhat(_z_scale(_split_chains(folded)))
    return np.maximum(bulk, tail)


def bulk_ess(x: np.ndarray) -> np.ndarray:
    """Bulk effective sample size (Vehtari et al. 2021) of ``x`` shaped ``(..., chains, draws)``."""
    from numpyro.diagnostics import effective_sample_size

    z = _z_scale(_split_chains(np.asarray(x, dtype=np.float64)))
    lead = z.ndim - 2
    moved = np.moveaxis(z, (-2, -1), (0, 1))  # numpyro wants (chains, draws, ...)
    ess = np.asarray(effective_sample_size(moved))
    return ess.reshape(z.shape[:lead]) if lead else ess
