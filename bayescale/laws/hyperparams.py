"""Optimal hyper-parameters as power laws (Step Law, Li et al. 2025).

* ``optimal_lr``:    lr* = c N^-a D^b    (Li et al.: lr* = 1.79 N^-0.713 D^0.307)
* ``optimal_batch``: B*  = c D^d         (Li et al.: B* = 0.58 D^0.571, batch in tokens)

``y`` is the optimal value measured on a grid (one row per (N, D) cell).

References
----------
Li, H. et al. (2025). Predictable Scale: Part I -- Optimal Hyperparameter Scaling Law in Large
Language Model Pretraining (Step Law). arXiv:2503.04715, eq. (1)-(2).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Parameter
from bayescale.laws.registry import register


def optimal_lr_log_mean(N, D, c, a, b):
    """``log c - a log N + b log D``."""
    return jnp.log(c) - a * jnp.log(N) + b * jnp.log(D)


def optimal_lr_mean(N, D, c, a, b):
    """``c N^-a D^b``."""
    return jnp.exp(optimal_lr_log_mean(N, D, c, a, b))


OPTIMAL_LR = register(
    Law(
        name="optimal_lr",
        inputs=("N", "D"),
        params=(
            Parameter(
                "c",
                dist.LogNormal(jnp.log(1e-3), 1.5),
                source="optimal learning rates of 1e-4-1e-2 at the data centre (Li et al. 2025 Fig. 1; "
                "DeepSeek 2024 Fig. 3)",
                pivot=("N", "a"),
                prior_at="centre",
                description="optimal learning rate at the centre of N (D factor not included)",
            ),
            Parameter(
                "a",
                dist.Normal(0.713, 0.3),
                source="Li et al. 2025 (0.713); DeepSeek LLM 2024 (lr* ~ C^-0.125, i.e. weaker in N)",
                description="model-size exponent (lr* falls with N)",
            ),
            Parameter(
                "b",
                dist.Normal(0.307, 0.3),
                source="Li et al. 2025 (0.307)",
                description="data exponent (lr* rises with D)",
            ),
        ),
        mean=optimal_lr_mean,
        log_mean=optimal_lr_log_mean,
        formula="lr* = c N^-a D^b",
        reference="Li et al. 2025, arXiv:2503.04715",
        lower_is_better=False,
        input_domains={},
        description="The loss-minimising peak learning rate by model size and tokens. 'Better' has no "
        "meaning for a hyper-parameter; lower_is_better=False only marks it is not a loss.",
    )
)


def optimal_batch_log_mean(D, c, d):
    """``log c + d log D``."""
    return jnp.log(c) + d * jnp.log(D)


def optimal_batch_mean(D, c, d):
    """``c D^d``."""
    return jnp.exp(optimal_batch_log_mean(D, c, d))


OPTIMAL_BATCH = register(
    Law(
        name="optimal_batch",
        inputs=("D",),
        params=(
            Parameter(
                "c",
                dist.LogNormal(jnp.log(0.58), 2.0),
                source="Li et al. 2025 (c = 0.58, batch in tokens), wide because c trades off against d",
                description="coefficient",
            ),
            Parameter(
                "d",
                dist.LogNormal(jnp.log(0.571), 0.3),
                source="Li et al. 2025 (0.571); Kaplan et al. 2020 critical batch ~ L^-4.8 (rising with data)",
                description="data exponent",
            ),
        ),
        mean=optimal_batch_mean,
        log_mean=optimal_batch_log_mean,
        formula="B* = c D^d",
        reference="Li et al. 2025, arXiv:2503.04715",
        lower_is_better=False,
        description="The loss-minimising batch size (tokens) by training tokens.",
    )
)
