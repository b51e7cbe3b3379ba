"""The Kaplan et al. joint law of parameters N and tokens D (no irreducible term).

L(N, D) = [ (N_c / N)^(alpha_N / alpha_D) + D_c / D ]^alpha_D

References
----------
Kaplan, J. et al. (2020). Scaling Laws for Neural Language Models. arXiv:2001.08361, eq. (1.5), Table 2.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Parameter
from bayescale.laws.registry import register


def kaplan_mean(N, D, N_c, D_c, alpha_N, alpha_D):
    """``[(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D``."""
    return ((N_c / N) ** (alpha_N / alpha_D) + D_c / D) ** alpha_D


def kaplan_log_mean(N, D, N_c, D_c, alpha_N, alpha_D):
    """``log L = alpha_D * logaddexp(ratio * log(N_c/N), log(D_c/D))``."""
    size_term = (alpha_N / alpha_D) * (jnp.log(N_c) - jnp.log(N))
    data_term = jnp.log(D_c) - jnp.log(D)
    return alpha_D * jnp.logaddexp(size_term, data_term)


KAPLAN = register(
    Law(
        name="kaplan",
        inputs=("N", "D"),
        params=(
            Parameter(
                "N_c",
                dist.LogNormal(jnp.log(8.8e13), 3.0),
                source="Kaplan et al. 2020 Table 2 (N_c = 8.8e13 non-embedding parameters), wide",
                description="critical model size",
            ),
            Parameter(
                "D_c",
                dist.LogNormal(jnp.log(5.4e13), 3.0),
                source="Kaplan et al. 2020 Table 2 (D_c = 5.4e13 tokens), wide",
                description="critical dataset size",
            ),
            Parameter(
                "alpha_N",
                dist.LogNormal(jnp.log(0.076), 0.7),
                source="Kaplan et al. 2020 Table 2 (alpha_N = 0.076)",
                description="model-size exponent",
            ),
            Parameter(
                "alpha_D",
                dist.LogNormal(jnp.log(0.095), 0.7),
                source="Kaplan et al. 2020 Table 2 (alpha_D = 0.095)",
                description="data exponent",
            ),
        ),
        mean=kaplan_mean,
        log_mean=kaplan_log_mean,
        formula="L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D",
        reference="Kaplan et al. 2020, arXiv:2001.08361",
        description="Kaplan's L(N, D): a pure power law in both variables with no irreducible loss.",
    )
)
