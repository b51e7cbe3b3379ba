"""Mixture-of-experts efficiency leverage: a dense-equivalent parameter count (Tian et al. 2025).

L(N, D, ratio) = E + A / (N * EL)^alpha + B / D^beta,   EL = ratio^(-lam)

``N`` is the number of *activated* parameters, ``ratio`` the activation ratio (activated /
total parameters, e.g. ``top_k / n_experts`` for the expert layers; 1 for a dense model), and
``EL`` the efficiency leverage: how many dense parameters one activated MoE parameter is worth.
Tian et al. find the leverage grows as a power of the inverse activation ratio; ``lam`` is that
exponent. For a fit by expert count, pass ``ratio = top_k / n_experts``.

References
----------
Tian, C. et al. (2025). Towards Greater Leverage: Scaling Laws for Efficient Mixture-of-Experts
Language Models. arXiv:2507.17702.
Clark, A. et al. (2022). Unified Scaling Laws for Routed Language Models. arXiv:2202.01169.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Parameter
from bayescale.laws.chinchilla import CHINCHILLA
from bayescale.laws.registry import register


def moe_log_mean(N, D, ratio, E, A, alpha, B, beta, lam):
    """``log L`` with the dense-equivalent size ``N ratio^-lam``."""
    log_N_eff = jnp.log(N) - lam * jnp.log(ratio)
    terms = jnp.broadcast_arrays(jnp.log(E), jnp.log(A) - alpha * log_N_eff, jnp.log(B) - beta * jnp.log(D))
    return jnp.logaddexp(jnp.logaddexp(terms[0], terms[1]), terms[2])


def moe_mean(N, D, ratio, E, A, alpha, B, beta, lam):
    """``E + A (N ratio^-lam)^-alpha + B D^-beta``."""
    return jnp.exp(moe_log_mean(N, D, ratio, E, A, alpha, B, beta, lam))


MOE = register(
    Law(
        name="moe",
        inputs=("N", "D", "ratio"),
        params=(
            *(CHINCHILLA.param(name) for name in ("E", "A", "alpha", "B", "beta")),
            Parameter(
                "lam",
                dist.LogNormal(jnp.log(0.5), 0.7),
                source="Tian et al. 2025 (leverage rising as a power of 1/activation ratio, 3-7x at 1/30 "
                "activation, i.e. lam ~0.3-0.6); Clark et al. 2022 (effective-parameter gains of routing)",
                description="efficiency-leverage exponent: EL = ratio^-lam",
            ),
        ),
        mean=moe_mean,
        log_mean=moe_log_mean,
        formula="L = E + A / (N ratio^-lam)^alpha + B / D^beta",
        reference="Tian et al. 2025, arXiv:2507.17702; Clark et al. 2022, arXiv:2202.01169",
        input_domains={"ratio": "positive"},
        description="Loss of MoE models by activated parameters N, tokens D and activation ratio.",
    )
)
