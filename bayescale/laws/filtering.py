"""Data filtering with repetition (Goyal et al. 2024): a pool's utility halves every tau repetitions.

Within the k-th pass over a pool of ``P`` samples the error follows a power law whose exponent
(the pool's *utility*) decays with repetition, ``u_k = u 2^{-(k-1)/tau}``; the curve is
continuous at the epoch boundaries:

log y(n) = log a - u_1 log min(n, P) - sum_{k >= 2} u_k [log clip(n, (k-1)P, kP) - log((k-1)P)]

``n`` is the number of samples seen, ``P`` the pool size (unique samples after filtering).
Up to :data:`MAX_EPOCHS` passes are modelled; beyond that the curve is flat (utility ~0).

References
----------
Goyal, S. et al. (2024). Scaling Laws for Data Filtering -- Data Curation cannot be Compute
Agnostic. CVPR 2024, arXiv:2404.07177, Sec. 3.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Parameter
from bayescale.laws.registry import register

#: Largest number of passes over a pool that the law models.
MAX_EPOCHS = 64


def data_filtering_log_mean(n, P, a, u, tau):
    """``log y`` summed over passes with decaying utility."""
    n, P = jnp.broadcast_arrays(n, P)
    k = jnp.arange(1, MAX_EPOCHS + 1, dtype=n.dtype).reshape((-1,) + (1,) * n.ndim)
    lower = jnp.maximum((k - 1.0) * P, 1.0)
    upper = k * P
    first = k == 1
    start = jnp.where(first, 1.0, lower)
    covered = jnp.log(jnp.clip(n, start, upper)) - jnp.log(start)
    utility = u * 2.0 ** (-(k - 1.0) / tau)
    return jnp.log(a) - jnp.sum(utility * covered, axis=0)


def data_filtering_mean(n, P, a, u, tau):
    """``y(n)`` (see the module docstring)."""
    return jnp.exp(data_filtering_log_mean(n, P, a, u, tau))


DATA_FILTERING = register(
    Law(
        name="data_filtering",
        inputs=("n", "P"),
        params=(
            Parameter(
                "a",
                dist.LogNormal(0.0, 2.0),
                source="weakly informative (units of y, the value at n = 1)",
                pivot=("n", "u"),
                prior_at="centre",
                description="scale (the prior is on y at the centre of n for a pool never repeated)",
            ),
            Parameter(
                "u",
                dist.LogNormal(jnp.log(0.1), 1.0),
                source="Goyal et al. 2024 Fig. 3 (pool utilities of a few hundredths to ~0.2 for CLIP error)",
                description="utility (power-law exponent) of the first pass over the pool",
            ),
            Parameter(
                "tau",
                dist.LogNormal(jnp.log(4.0), 0.8),
                source="Goyal et al. 2024 (CLIP pools lose half their utility within a few repetitions); "
                "Muennighoff et al. 2023's R_D* = 15.4 for LM tokens is a half-life of ~10.7, 1.2 sd above the centre",
                description="repetitions after which the utility has halved",
            ),
        ),
        mean=data_filtering_mean,
        log_mean=data_filtering_log_mean,
        formula="y = a n^-u_eff(n, P), u_k = u 2^-((k-1)/tau) in the k-th pass over a pool of P samples",
        reference="Goyal et al. 2024, arXiv:2404.07177",
        description="Error of training on n samples drawn from a pool of P unique samples (repeated n/P times).",
    )
)
