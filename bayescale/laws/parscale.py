"""Parallel scaling (ParScale, Chen et al. 2025): P parallel streams act like more parameters.

L(N, P) = (A / (N (k log P + 1)))^alpha + E

References
----------
Chen, M. et al. (2025). Parallel Scaling Law for Language Models. arXiv:2505.10475, eq. (5).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Parameter
from bayescale.laws.registry import register


def parscale_log_mean(N, P, A, alpha, k, E):
    """``logaddexp(alpha (log A - log N - log(1 + k log P)), log E)``."""
    reducible = alpha * (jnp.log(A) - jnp.log(N) - jnp.log1p(k * jnp.log(P)))
    return jnp.logaddexp(reducible, jnp.log(E))


def parscale_mean(N, P, A, alpha, k, E):
    """``(A / (N (k log P + 1)))^alpha + E``."""
    return (A / (N * (k * jnp.log(P) + 1.0))) ** alpha + E


PARSCALE = register(
    Law(
        name="parscale",
        inputs=("N", "P"),
        params=(
            Parameter(
                "A",
                dist.LogNormal(-4.0, 2.5),
                source="A / N_c at the data centre: (A/N)^alpha of 0.2-1 nats with alpha 0.1-0.3 "
                "puts log(A/N) near -10..-1",
                pivot=("N", 1.0),
                prior_at="centre",
                description="scale of the model-size term (the prior is on A / N at the data centre)",
            ),
            Parameter(
                "alpha",
                dist.LogNormal(jnp.log(0.15), 0.6),
                source="Chen et al. 2025 fits (alpha ~0.1-0.2 on Stack-V2 and Pile); Kaplan alpha_N 0.076",
                description="model-size exponent",
            ),
            Parameter(
                "k",
                dist.LogNormal(jnp.log(0.4), 0.8),
                source="Chen et al. 2025 (k ~0.3-0.4: P streams are worth about N (1 + k log P))",
                description="gain of each e-fold of parallel streams",
            ),
            Parameter(
                "E",
                dist.LogNormal(jnp.log(1.5), 0.7),
                source="irreducible loss, wide around chinchilla's E (the code corpus of Chen et al. sits lower)",
                description="irreducible loss",
            ),
        ),
        mean=parscale_mean,
        log_mean=parscale_log_mean,
        formula="L = (A / (N (k log P + 1)))^alpha + E",
        reference="Chen et al. 2025, arXiv:2505.10475",
        description="Loss of a model with N parameters run as P parallel streams (P = 1 is the plain model).",
    )
)
