"""One-variable power law with an irreducible floor.

y = E + A * x^(-alpha)

References
----------
Hestness, J. et al. (2017). Deep Learning Scaling is Predictable, Empirically. arXiv:1712.00409.
Henighan, T. et al. (2020). Scaling Laws for Autoregressive Generative Modeling. arXiv:2010.14701.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Parameter
from bayescale.laws.registry import register


def power_mean(x, E, A, alpha):
    """``E + A * x**-alpha``."""
    return E + A * x ** (-alpha)


def power_log_mean(x, E, A, alpha):
    """``log(E + A x^-alpha)`` as a ``logaddexp`` of the two terms."""
    return jnp.logaddexp(jnp.log(E), jnp.log(A) - alpha * jnp.log(x))


POWER = register(
    Law(
        name="power",
        inputs=("x",),
        params=(
            Parameter(
                "E",
                dist.LogNormal(jnp.log(0.5), 1.5),
                source="weakly informative; irreducible floors of 0.05-10 in Henighan et al. 2020 Table 1",
                description="irreducible floor of y",
            ),
            Parameter(
                "A",
                dist.LogNormal(0.0, 2.0),
                source="weakly informative on the reducible term at the data centre (units of y)",
                pivot=("x", "alpha"),
                prior_at="centre",
                description="coefficient of the power term",
            ),
            Parameter(
                "alpha",
                dist.LogNormal(jnp.log(0.3), 1.0),
                source="exponents 0.07-0.35 (Hestness et al. 2017 Table 1) and 0.1-0.6 (Henighan et al. 2020)",
                description="power-law exponent",
            ),
        ),
        mean=power_mean,
        log_mean=power_log_mean,
        formula="y = E + A * x^-alpha",
        reference="Hestness et al. 2017, arXiv:1712.00409; Henighan et al. 2020, arXiv:2010.14701",
        description="A learning curve or model-size curve that saturates at a floor E.",
        floor=("E", "A"),
        # 229 real learning curves of benchmarks/fit_many.py at 4 x 1,000 draws: 206 converged at
        # 0.95 (15 with divergences), 218 at 0.99 (3), for 1.4x the sampling time
        target_accept_prob=0.99,
    ),
)
