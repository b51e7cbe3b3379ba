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

import jax.numpy as jnp
import numpy as np

RHAT_LIMIT = 1.01
ESS_LIMIT = 400


class ConvergenceWarning(UserWarning):
    """NUTS finished but its diagnostics say the draws may not be trustworthy."""


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
