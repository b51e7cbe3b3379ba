"""One-variable laws besides the floored power law: pure power, log-linear, exponential, non-monotone.

* ``power_pure``: ``y = A x^-alpha`` (Kaplan et al. 2020; Hestness et al. 2017, the "power-law region").
* ``log_linear``: ``y = b log(x / x0)`` (a metric linear in log compute, e.g. Owen 2024; Isik et al. 2024).
* ``exponential``: ``y = E + A exp(-x / x_s)`` (data pruning beyond power laws, Sorscher et al. 2022).
* ``non_monotone``: ``log y = log y_opt + curvature (log x - log x_opt)^2`` (U-shaped or inverted-U
  curves in log x; inverse and U-shaped scaling, McKenzie et al. 2023; Wei et al. 2023).

References
----------
Hestness, J. et al. (2017). Deep Learning Scaling is Predictable, Empirically. arXiv:1712.00409.
Kaplan, J. et al. (2020). Scaling Laws for Neural Language Models. arXiv:2001.08361.
Sorscher, B. et al. (2022). Beyond neural scaling laws: beating power law scaling via data pruning. arXiv:2206.14486.
McKenzie, I. et al. (2023). Inverse Scaling: When Bigger Isn't Better. arXiv:2306.09479.
Wei, J. et al. (2023). Inverse scaling can become U-shaped. arXiv:2211.02011.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Parameter
from bayescale.laws.registry import register


def power_pure_mean(x, A, alpha):
    """``A x^-alpha``."""
    return A * x ** (-alpha)


def power_pure_log_mean(x, A, alpha):
    """``log A - alpha log x``."""
    return jnp.log(A) - alpha * jnp.log(x)


POWER_PURE = register(
    Law(
        name="power_pure",
        inputs=("x",),
        params=(
            Parameter(
                "A",
                dist.LogNormal(0.0, 2.0),
                source="weakly informative on y at the data centre (units of y)",
                pivot=("x", "alpha"),
                prior_at="centre",
                description="coefficient (the prior is on A x_c^-alpha, y at the centre of the data)",
            ),
            Parameter(
                "alpha",
                dist.LogNormal(jnp.log(0.3), 1.0),
                source="exponents 0.07-0.35 (Hestness et al. 2017 Table 1), 0.05-0.1 (Kaplan et al. 2020 Table 2), "
                "0.1-0.6 (Henighan et al. 2020 Table 1)",
                description="power-law exponent",
            ),
        ),
        mean=power_pure_mean,
        log_mean=power_pure_log_mean,
        formula="y = A * x^-alpha",
        reference="Kaplan et al. 2020, arXiv:2001.08361; Hestness et al. 2017, arXiv:1712.00409",
        description="A straight line on log-log axes: the power-law region far from any floor.",
    )
)


def log_linear_mean(x, b, x0):
    """``b log(x / x0)``."""
    return b * (jnp.log(x) - jnp.log(x0))


LOG_LINEAR = register(
    Law(
        name="log_linear",
        inputs=("x",),
        params=(
            Parameter(
                "b",
                dist.LogNormal(jnp.log(0.1), 1.5),
                source="weakly informative growth per e-fold of x (units of y); positive, because with a "
                "log-space or Beta likelihood y must stay positive and a sign change of b would cross y = 0",
                description="growth of y per unit of log x",
            ),
            Parameter(
                "x0",
                dist.LogNormal(jnp.log(1e-3), 3.0),
                source="where the line crosses y = 0, relative to the data centre: it lies below the data "
                "(y > 0 there), a priori about 1,000x below the centre, within a factor ~400 either way",
                pivot=("x", 1.0),
                prior_at="centre",
                description="the x at which y = 0",
            ),
        ),
        mean=log_linear_mean,
        formula="y = b * log(x / x0)",
        reference="Owen 2024, arXiv:2401.04757 (benchmark scores linear in log compute); "
        "Isik et al. 2024, arXiv:2402.04177",
        lower_is_better=False,
        description="A metric that grows linearly in log x (x0 lies below the data, where y would reach 0). "
        "For a quantity falling in log x, use power_pure or power.",
    )
)


def exponential_mean(x, E, A, x_s):
    """``E + A exp(-x / x_s)``."""
    return E + A * jnp.exp(-x / x_s)


def exponential_log_mean(x, E, A, x_s):
    """``logaddexp(log E, log A - x / x_s)``."""
    return jnp.logaddexp(jnp.log(E), jnp.log(A) - x / x_s)


EXPONENTIAL = register(
    Law(
        name="exponential",
        inputs=("x",),
        params=(
            Parameter(
                "E",
                dist.LogNormal(jnp.log(0.3), 1.5),
                source="weakly informative floor (units of y)",
                description="floor of y",
            ),
            Parameter(
                "A",
                dist.LogNormal(0.0, 1.5),
                source="weakly informative: the reducible part of y at x = 0",
                description="reducible part of y at x = 0",
            ),
            Parameter(
                "x_s",
                dist.LogNormal(0.0, 1.0),
                source="decay scale relative to the data centre; Sorscher et al. 2022 Fig. 1 shows decay "
                "over about one decade of pruned dataset size",
                pivot=("x", 1.0),
                prior_at="centre",
                description="e-folding scale of x",
            ),
        ),
        mean=exponential_mean,
        log_mean=exponential_log_mean,
        formula="y = E + A * exp(-x / x_s)",
        reference="Sorscher et al. 2022, arXiv:2206.14486",
        description="Exponential (faster than power-law) decay, e.g. error against pruned dataset size.",
    )
)


def non_monotone_log_mean(x, y_opt, x_opt, curvature):
    """``log y_opt + curvature (log x - log x_opt)^2``."""
    return jnp.log(y_opt) + curvature * (jnp.log(x) - jnp.log(x_opt)) ** 2


def non_monotone_mean(x, y_opt, x_opt, curvature):
    """``y_opt exp(curvature (log x - log x_opt)^2)``."""
    return jnp.exp(non_monotone_log_mean(x, y_opt, x_opt, curvature))


NON_MONOTONE = register(
    Law(
        name="non_monotone",
        inputs=("x",),
        params=(
            Parameter(
                "y_opt",
                dist.LogNormal(0.0, 2.0),
                source="weakly informative (units of y)",
                description="y at the turning point",
            ),
            Parameter(
                "x_opt",
                dist.LogNormal(0.0, 1.5),
                source="turning point relative to the data centre: inside or near the data a priori "
                "(McKenzie et al. 2023 Fig. 1, Wei et al. 2023 Fig. 1 turn within the measured range)",
                pivot=("x", 1.0),
                prior_at="centre",
                description="location of the minimum (U) or maximum (inverted U)",
            ),
            Parameter(
                "curvature",
                dist.Normal(0.0, 0.3),
                source="weakly informative curvature of log y per (log x)^2; either sign",
                description="positive: U shape (minimum at x_opt); negative: inverted U",
            ),
        ),
        mean=non_monotone_mean,
        log_mean=non_monotone_log_mean,
        formula="log y = log y_opt + curvature * (log x - log x_opt)^2",
        reference="McKenzie et al. 2023, arXiv:2306.09479; Wei et al. 2023, arXiv:2211.02011",
        description="A U-shaped or inverted-U curve in log x (inverse scaling that turns around).",
    )
)
