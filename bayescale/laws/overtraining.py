"""Over-training (Gadre et al. 2024): loss as a function of compute C and token multiplier M.

L(C, M) = E + (a M^eta + b M^-eta) C^-eta

With ``C = 6 N D`` and ``M = D / N`` (both derived from ``N`` and ``D`` columns when those are given).
The form follows from the Chinchilla law with equal exponents (alpha = beta = 2 eta), so ``eta`` is
about half the Chinchilla exponents.

References
----------
Gadre, S. Y. et al. (2024). Language models scale reliably with over-training and on downstream
tasks. arXiv:2403.08540, eq. (4).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Parameter
from bayescale.laws.registry import register


def overtraining_log_mean(C, M, E, a, b, eta):
    """``logaddexp(log E, log(a M^eta + b M^-eta) - eta log C)``."""
    log_M = jnp.log(M)
    reducible = jnp.logaddexp(jnp.log(a) + eta * log_M, jnp.log(b) - eta * log_M) - eta * jnp.log(C)
    return jnp.logaddexp(jnp.log(E), reducible)


def overtraining_mean(C, M, E, a, b, eta):
    """``E + (a M^eta + b M^-eta) C^-eta``."""
    return E + (a * M**eta + b * M ** (-eta)) * C ** (-eta)


OVERTRAINING = register(
    Law(
        name="overtraining",
        inputs=("C", "M"),
        params=(
            Parameter(
                "E",
                dist.LogNormal(jnp.log(1.8), 0.6),
                source="as chinchilla's E: Hoffmann et al. 2022 (1.69), Besiroglu et al. 2024 (1.82), widened",
                description="irreducible loss",
            ),
            Parameter(
                "a",
                dist.LogNormal(jnp.log(0.5), 1.5),
                source="weakly informative: half the reducible loss at the data centre (M = 1)",
                pivot=("C", "eta"),
                prior_at="centre",
                description="coefficient of the over-training (M^eta) term",
            ),
            Parameter(
                "b",
                dist.LogNormal(jnp.log(0.5), 1.5),
                source="weakly informative: half the reducible loss at the data centre (M = 1)",
                pivot=("C", "eta"),
                prior_at="centre",
                description="coefficient of the under-training (M^-eta) term",
            ),
            Parameter(
                "eta",
                dist.LogNormal(jnp.log(0.17), 0.5),
                source="eta = alpha/2 under alpha = beta (Gadre et al. 2024 Sec. 3); Chinchilla exponents 0.28-0.37 "
                "(Hoffmann 2022, Besiroglu 2024, Muennighoff 2023) give 0.14-0.18",
                description="compute exponent",
            ),
        ),
        mean=overtraining_mean,
        log_mean=overtraining_log_mean,
        formula="L = E + (a M^eta + b M^-eta) C^-eta",
        reference="Gadre et al. 2024, arXiv:2403.08540",
        description="Loss of runs trained with M tokens per parameter at compute C = 6ND.",
    )
)
