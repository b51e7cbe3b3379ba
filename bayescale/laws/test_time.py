"""Test-time scaling: pass@k with saturation, and long-horizon success.

* ``pass_at_k``: ``F(k) = F_max (1 - (1 - p)^k)`` (the test-time scaling performance model,
  TTSPM: repeated sampling with per-sample success ``p`` saturating at ``F_max``). The *saturation
  budget*, the ``k`` beyond which one more sample gains less than ``epsilon``, is
  :func:`saturation_budget`.
* ``horizon``: ``success(H) = p^H``, the probability of completing a task of ``H`` steps when each
  step succeeds with probability ``p`` (Sinha et al. 2025: small gains in step accuracy compound
  into long gains in horizon length).

Both are fitted with ``likelihood="beta"``.

References
----------
Wang, Z. et al. (2025). Every Sample Matters / TTSPM: Test-time scaling performance model. arXiv:2506.07858.
Brown, B. et al. (2024). Large Language Monkeys: Scaling Inference Compute with Repeated Sampling. arXiv:2407.21787.
Sinha, A. et al. (2025). The Illusion of Diminishing Returns: Measuring Long Horizon Execution in LLMs. arXiv:2509.09677.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Parameter
from bayescale.laws.registry import register


def pass_at_k_mean(k, F_max, p):
    """``F_max (1 - (1 - p)^k)``."""
    return F_max * -jnp.expm1(k * jnp.log1p(-p))


def saturation_budget(F_max: float, p: float, epsilon: float = 1e-3) -> float:
    """The number of samples ``k`` after which one more sample adds less than ``epsilon``.

    The gain of the ``k+1``-th sample is ``F_max p (1 - p)^k``; it drops below ``epsilon`` at
    ``k = log(epsilon / (F_max p)) / log(1 - p)`` (0 when even the first sample gains less).

    Raises
    ------
    ValueError
        If ``p`` or ``F_max`` is outside (0, 1], or ``epsilon`` is not positive.
    """
    if not 0 < p < 1:
        raise ValueError(f"p={p!r} must lie in (0, 1) (per-sample success probability)")
    if not 0 < F_max <= 1:
        raise ValueError(f"F_max={F_max!r} must lie in (0, 1]")
    if not epsilon > 0:
        raise ValueError(f"epsilon={epsilon!r} must be positive, e.g. 1e-3")
    return max(0.0, math.log(epsilon / (F_max * p)) / math.log1p(-p))


PASS_AT_K = register(
    Law(
        name="pass_at_k",
        inputs=("k",),
        params=(
            Parameter(
                "F_max",
                dist.Beta(4.0, 2.0),
                source="coverage ceilings of 0.4-0.95 under repeated sampling (Brown et al. 2024 Fig. 2)",
                description="pass rate at infinite samples",
            ),
            Parameter(
                "p",
                dist.Beta(1.0, 4.0),
                source="per-sample success rates of a few percent to ~0.5 (Brown et al. 2024 Fig. 2)",
                description="per-sample success probability",
            ),
        ),
        mean=pass_at_k_mean,
        formula="pass@k = F_max (1 - (1 - p)^k)",
        reference="Wang et al. 2025, arXiv:2506.07858; Brown et al. 2024, arXiv:2407.21787",
        lower_is_better=False,
        description="Success with k samples per problem, saturating at F_max.",
    )
)


def horizon_mean(H, p):
    """``p^H``."""
    return jnp.exp(H * jnp.log(p))


HORIZON = register(
    Law(
        name="horizon",
        inputs=("H",),
        params=(
            Parameter(
                "p",
                dist.Beta(20.0, 1.0),
                source="per-step accuracies of 0.9-0.999 (Sinha et al. 2025 Fig. 1)",
                description="per-step success probability",
            ),
        ),
        mean=horizon_mean,
        formula="success = p^H",
        reference="Sinha et al. 2025, arXiv:2509.09677",
        lower_is_better=False,
        description="Probability of finishing an H-step task when every step succeeds with probability p.",
    )
)
