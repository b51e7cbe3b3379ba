"""Loss curves under learning-rate schedules (Tissue et al. 2024).

L(s) = L0 + A S1^-alpha - C S2

``S1`` (forward area) is the sum of the learning rate over the steps so far, ``S2`` (annealing
area) the sum over steps of the momentum of learning-rate decreases,
``m_i = lam m_{i-1} + (eta_{i-1} - eta_i)``, ``S2 = sum_i m_i``, with the decay factor ``lam``
a documented constant (0.999, Tissue et al. Sec. 3). :func:`bayescale.data.annealing_areas`
computes both from ``step`` and ``lr`` columns, and ``bs.fit`` derives the ``S1``/``S2`` inputs
from those columns when they exist. ``S2`` is 0 for a constant schedule (its domain is
non-negative).

References
----------
Tissue, H. et al. (2024). Scaling Law with Learning Rate Annealing. arXiv:2408.11029, eq. (1)-(2).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Parameter
from bayescale.laws.registry import register


def lr_annealing_mean(S1, S2, L0, A, alpha, C):
    """``L0 + A S1^-alpha - C S2``."""
    return L0 + A * S1 ** (-alpha) - C * S2


def lr_annealing_log_mean(S1, S2, L0, A, alpha, C):
    """``log(L0 + A S1^-alpha - C S2)``, floored at a tiny positive value."""
    return jnp.log(jnp.maximum(lr_annealing_mean(S1, S2, L0, A, alpha, C), 1e-6))


LR_ANNEALING = register(
    Law(
        name="lr_annealing",
        inputs=("S1", "S2"),
        params=(
            Parameter(
                "L0",
                dist.LogNormal(jnp.log(2.0), 0.6),
                source="Tissue et al. 2024 fits (L0 ~2-3 nats on their corpora); chinchilla E 1.69-1.82",
                description="loss reached at infinite forward area",
            ),
            Parameter(
                "A",
                dist.LogNormal(jnp.log(0.5), 1.2),
                source="weakly informative: the reducible loss at the data centre of S1",
                pivot=("S1", "alpha"),
                prior_at="centre",
                description="coefficient of the forward-area term",
            ),
            Parameter(
                "alpha",
                dist.LogNormal(jnp.log(0.5), 0.6),
                source="Tissue et al. 2024 fits (alpha ~0.4-0.6)",
                description="forward-area exponent",
            ),
            Parameter(
                "C",
                dist.LogNormal(jnp.log(1.0), 1.5),
                source="weakly informative: the loss drop if S2 equalled S1 at the centre "
                "(annealing drops of 0.05-0.3 nats in Tissue et al. Fig. 1)",
                pivot=("S1", -1.0),
                prior_at="centre",
                description="loss drop per unit of annealing area",
            ),
        ),
        mean=lr_annealing_mean,
        log_mean=lr_annealing_log_mean,
        formula="L(s) = L0 + A S1^-alpha - C S2",
        reference="Tissue et al. 2024, arXiv:2408.11029",
        input_domains={"S2": "nonnegative"},
        description="Whole loss curves under any learning-rate schedule from forward and annealing areas.",
    )
)
