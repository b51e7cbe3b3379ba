"""The Chinchilla law: loss as a function of parameters N and training tokens D.

L(N, D) = E + A / N^alpha + B / D^beta

References
----------
Hoffmann, J. et al. (2022). Training Compute-Optimal Large Language Models. arXiv:2203.15556.
Besiroglu, T. et al. (2024). Chinchilla Scaling: A replication attempt. arXiv:2404.10102.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Parameter
from bayescale.laws.registry import register


def chinchilla_mean(N, D, E, A, alpha, B, beta):
    """``E + A N^-alpha + B D^-beta``."""
    return E + A * N ** (-alpha) + B * D ** (-beta)


def chinchilla_log_mean(N, D, E, A, alpha, B, beta):
    """``log L`` as a ``logaddexp`` of the three terms."""
    terms = jnp.stack(
        jnp.broadcast_arrays(jnp.log(E), jnp.log(A) - alpha * jnp.log(N), jnp.log(B) - beta * jnp.log(D))
    )
    return jnp.logaddexp(jnp.logaddexp(terms[0], terms[1]), terms[2])


def chinchilla_compute_optimal(C, E, A, alpha, B, beta):
    """The compute-optimal ``N*, D*`` at budgets ``C = 6ND`` (Hoffmann et al. 2022, eq. 4).

    ``N* = G (C/6)^a``, ``D* = G^-1 (C/6)^b`` with ``G = (alpha A / (beta B))^(1/(alpha+beta))``,
    ``a = beta/(alpha+beta)``, ``b = alpha/(alpha+beta)``; per draw (rows) and budget (columns).
    """
    from bayescale.data import FLOPS_PER_PARAMETER_TOKEN  # data imports the laws: here, not at the top

    G = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
    a = beta / (alpha + beta)
    b = alpha / (alpha + beta)
    scaled = C[None, :] / FLOPS_PER_PARAMETER_TOKEN
    return G[:, None] * scaled ** a[:, None], scaled ** b[:, None] / G[:, None]


CHINCHILLA = register(
    Law(
        name="chinchilla",
        inputs=("N", "D"),
        params=(
            Parameter(
                "E",
                dist.LogNormal(jnp.log(1.8), 0.6),
                source="Hoffmann et al. 2022 (E=1.69); Besiroglu et al. 2024 (E=1.82), widened for other corpora",
                description="irreducible loss of the data distribution (nats/token)",
            ),
            Parameter(
                "A",
                dist.LogNormal(jnp.log(450.0), 2.5),
                source="Hoffmann et al. 2022 (A=406.4); Besiroglu et al. 2024 (A=482), widened for other tokenizers",
                pivot=("N", "alpha"),
                description="coefficient of the model-size term",
            ),
            Parameter(
                "alpha",
                dist.LogNormal(jnp.log(0.34), 0.5),
                source="Hoffmann et al. 2022 (0.34); Besiroglu et al. 2024 (0.348, 95% CI 0.317-0.373); "
                "Muennighoff et al. 2023 (0.353)",
                description="model-size exponent",
            ),
            Parameter(
                "B",
                dist.LogNormal(jnp.log(1000.0), 2.5),
                source="Hoffmann et al. 2022 (B=410.7); Besiroglu et al. 2024 (B=2085), widened",
                pivot=("D", "beta"),
                description="coefficient of the data term",
            ),
            Parameter(
                "beta",
                dist.LogNormal(jnp.log(0.33), 0.5),
                source="Hoffmann et al. 2022 (0.28); Besiroglu et al. 2024 (0.366, 95% CI 0.331-0.415); "
                "Muennighoff et al. 2023 (0.353)",
                description="data exponent",
            ),
        ),
        mean=chinchilla_mean,
        log_mean=chinchilla_log_mean,
        formula="L = E + A / N^alpha + B / D^beta",
        reference="Hoffmann et al. 2022, arXiv:2203.15556; Besiroglu et al. 2024, arXiv:2404.10102",
        description="Pre-training loss of a language model with N parameters trained on D tokens.",
        compute_optimal=chinchilla_compute_optimal,
    )
)
