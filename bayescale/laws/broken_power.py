"""A smoothly broken power law with one break.

y = E + A * x^(-alpha) * (1 + (x / x_break)^(1/s))^(-delta * s)

Below the break the exponent is ``alpha``, above it ``alpha + delta``; ``s`` sets how
sharp the transition is.

References
----------
Caballero, E. et al. (2023). Broken Neural Scaling Laws. ICLR 2023, arXiv:2210.14891, eq. (1).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Parameter
from bayescale.laws.registry import register


def broken_power_log_term(x, A, alpha, delta, x_break, s):
    """Log of the broken power term ``A x^-alpha (1 + (x/x_break)^(1/s))^(-delta s)``."""
    log_x = jnp.log(x)
    return jnp.log(A) - alpha * log_x - delta * s * jax.nn.softplus((log_x - jnp.log(x_break)) / s)


def broken_power_mean(x, E, A, alpha, delta, x_break, s):
    """``E + A x^-alpha (1 + (x/x_break)^(1/s))^(-delta s)``."""
    return E + jnp.exp(broken_power_log_term(x, A, alpha, delta, x_break, s))


def broken_power_log_mean(x, E, A, alpha, delta, x_break, s):
    """``log y`` as a ``logaddexp`` of the floor and the broken term."""
    return jnp.logaddexp(jnp.log(E), broken_power_log_term(x, A, alpha, delta, x_break, s))


BROKEN_POWER = register(
    Law(
        name="broken_power",
        inputs=("x",),
        params=(
            Parameter(
                "E",
                dist.LogNormal(jnp.log(0.5), 1.5),
                source="weakly informative floor, as for `power`",
                description="irreducible floor of y",
            ),
            Parameter(
                "A",
                dist.LogNormal(0.0, 2.0),
                source="weakly informative on the term at the data centre (units of y)",
                pivot=("x", "alpha"),
                prior_at="centre",
                description="coefficient of the power term",
            ),
            Parameter(
                "alpha",
                dist.LogNormal(jnp.log(0.3), 1.0),
                source="exponent before the break; Caballero et al. 2023 fits span 0.05-1",
                description="exponent below the break",
            ),
            Parameter(
                "delta",
                dist.Normal(0.0, 0.5),
                source="change of exponent at the break; Caballero et al. 2023 fits within +-1",
                description="exponent change at the break (positive: steeper after it)",
            ),
            Parameter(
                "x_break",
                dist.LogNormal(0.0, 1.5),
                source="break location relative to the data centre: within about 20x of it a priori",
                pivot=("x", 1.0),
                prior_at="centre",
                description="location of the break on the x axis",
            ),
            Parameter(
                "s",
                dist.LogNormal(jnp.log(0.5), 0.7),
                source="sharpness of the break in log-x units; Caballero et al. 2023 f_i of 0.1-2",
                description="smoothness of the break (smaller is sharper)",
            ),
        ),
        mean=broken_power_mean,
        log_mean=broken_power_log_mean,
        formula="y = E + A x^-alpha (1 + (x/x_break)^(1/s))^(-delta s)",
        reference="Caballero et al. 2023, arXiv:2210.14891",
        description="A power law whose exponent changes once, smoothly, at x_break.",
    )
)
