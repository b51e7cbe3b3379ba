"""Kaplan et al.'s L(N, S): model size and optimisation steps, with the critical batch size.

L(N, S) = (N_c / N)^alpha_N + (S_c / S_min)^alpha_S,
S_min = S / (1 + B_crit(L) / B),   B_crit(L) = B_star / L^(1 / alpha_B)

``S`` is the number of steps taken at batch size ``B`` (tokens); ``S_min`` the steps that
would have been needed at a very large batch. ``B_crit`` depends on the loss itself; the law
solves that by two fixed-point iterations (start from ``S_min = S``), which converge to
well below the noise of a loss curve for the published constants.

References
----------
Kaplan, J. et al. (2020). Scaling Laws for Neural Language Models. arXiv:2001.08361, eq. (1.6),
(5.6) and Table 2/3 (alpha_N = 0.076, N_c = 8.8e13, alpha_S = 0.76, S_c = 2.1e3,
B_* = 2e8 tokens, alpha_B = 0.21).
Su, H. et al. (2024). Unraveling the Mystery of Scaling Laws: Part I. arXiv:2403.06563.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Parameter
from bayescale.laws.registry import register

_ITERATIONS = 2


def kaplan_steps_log_mean(N, S, B, N_c, alpha_N, S_c, alpha_S, B_star, alpha_B):
    """``log L`` with the critical-batch correction of the step count."""
    size = alpha_N * (jnp.log(N_c) - jnp.log(N))
    log_S_min = jnp.log(S)
    log_L = jnp.logaddexp(size, alpha_S * (jnp.log(S_c) - log_S_min))
    for _ in range(_ITERATIONS):
        log_B_crit = jnp.log(B_star) - log_L / alpha_B
        log_S_min = jnp.log(S) - jnp.logaddexp(0.0, log_B_crit - jnp.log(B))
        log_L = jnp.logaddexp(size, alpha_S * (jnp.log(S_c) - log_S_min))
    return log_L


def kaplan_steps_mean(N, S, B, N_c, alpha_N, S_c, alpha_S, B_star, alpha_B):
    """``(N_c/N)^alpha_N + (S_c/S_min)^alpha_S``."""
    return jnp.exp(kaplan_steps_log_mean(N, S, B, N_c, alpha_N, S_c, alpha_S, B_star, alpha_B))


KAPLAN_STEPS = register(
    Law(
        name="kaplan_steps",
        inputs=("N", "S", "B"),
        params=(
            Parameter(
                "N_c",
                dist.LogNormal(jnp.log(8.8e13), 3.0),
                source="Kaplan et al. 2020 Table 3 (N_c = 6.5e13 for L(N,S)) and Table 2 (8.8e13), wide",
                pivot=("N", 1.0),
                description="critical model size",
            ),
            Parameter(
                "alpha_N",
                dist.LogNormal(jnp.log(0.077), 0.6),
                source="Kaplan et al. 2020 Table 3 (alpha_N = 0.077) and Table 2 (0.076)",
                description="model-size exponent",
            ),
            Parameter(
                "S_c",
                dist.LogNormal(jnp.log(2.1e3), 2.0),
                source="Kaplan et al. 2020 Table 3 (S_c = 2.1e3 steps)",
                pivot=("S", 1.0),
                description="critical step count",
            ),
            Parameter(
                "alpha_S",
                dist.LogNormal(jnp.log(0.76), 0.5),
                source="Kaplan et al. 2020 Table 3 (alpha_S = 0.76)",
                description="step exponent",
            ),
            Parameter(
                "B_star",
                dist.LogNormal(jnp.log(2e8), 1.0),
                source="Kaplan et al. 2020 eq. (5.6) / Fig. 10 (B_* = 2e8 tokens); McCandlish et al. 2018",
                description="critical batch size at loss 1 (tokens)",
            ),
            Parameter(
                "alpha_B",
                dist.LogNormal(jnp.log(0.21), 0.3),
                source="Kaplan et al. 2020 eq. (5.6) (alpha_B = 0.21)",
                description="critical-batch exponent",
            ),
        ),
        mean=kaplan_steps_mean,
        log_mean=kaplan_steps_log_mean,
        formula="L = (N_c/N)^alpha_N + (S_c/S_min)^alpha_S, S_min = S / (1 + B_star L^(-1/alpha_B) / B)",
        reference="Kaplan et al. 2020, arXiv:2001.08361; Su et al. 2024, arXiv:2403.06563",
        description="Loss after S steps at batch size B (tokens) of a model with N parameters.",
    )
)
