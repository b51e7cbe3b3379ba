"""Smoothly broken power laws, with one break (``broken_power``) or any number of them.

y = E + A * x^(-alpha) * (1 + (x / x_break)^(1/s))^(-delta * s)

Below the break the exponent is ``alpha``, above it ``alpha + delta``; ``s`` sets how
sharp the transition is. :func:`broken_power_law` builds the law with ``n`` breaks,

y = E + A x^-alpha prod_i (1 + (x / x_break_i)^(1/s_i))^(-delta_i s_i),

registered as ``broken_power_<n>`` (``broken_power_2`` and ``broken_power_3`` are built in).
Breaks are ordered by construction: ``x_break_1 = x_break`` and
``x_break_i = x_break_{i-1} * exp(gap_i)`` with ``gap_i > 0``, so the posterior has no
label-switching modes.

References
----------
Caballero, E. et al. (2023). Broken Neural Scaling Laws. ICLR 2023, arXiv:2210.14891, eq. (1).
"""

from __future__ import annotations

from collections.abc import Mapping

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


def _multi_break_log_term(x, params: Mapping[str, jnp.ndarray], n_breaks: int):
    log_x = jnp.log(x)
    out = jnp.log(params["A"]) - params["alpha"] * log_x
    log_break = jnp.log(params["x_break"])
    for i in range(1, n_breaks + 1):
        if i > 1:
            log_break = log_break + params[f"gap_{i}"]
        s = params[f"s_{i}"]
        out = out - params[f"delta_{i}"] * s * jax.nn.softplus((log_x - log_break) / s)
    return out


def broken_power_law(n_breaks: int, *, register_it: bool = True) -> Law:
    """The smoothly broken power law with ``n_breaks`` breaks (Caballero et al. 2023, eq. 1).

    Parameters
    ----------
    n_breaks : int
        Number of breaks, 1 or more. ``1`` returns the registered ``broken_power`` law
        (parameters ``delta``, ``x_break``, ``s``); ``n >= 2`` builds ``broken_power_<n>`` with
        ``delta_i``, ``s_i`` for each break, the first break ``x_break`` and the log-gaps
        ``gap_i > 0`` between consecutive breaks.
    register_it : bool
        Register the new law (re-registering the same ``n`` returns the registered one).

    Returns
    -------
    Law

    Raises
    ------
    ValueError
        If ``n_breaks`` is not a positive integer.

    References
    ----------
    Caballero, E., Gupta, K., Rish, I., Krueger, D. (2023). Broken Neural Scaling Laws.
    ICLR 2023, arXiv:2210.14891.
    """
    if not isinstance(n_breaks, int) or isinstance(n_breaks, bool) or n_breaks < 1:
        raise ValueError(f"n_breaks={n_breaks!r} must be a positive integer, e.g. broken_power_law(2)")
    if n_breaks == 1:
        return BROKEN_POWER
    name = f"broken_power_{n_breaks}"
    from bayescale.laws.registry import _REGISTRY

    if register_it and name in _REGISTRY:
        return _REGISTRY[name]
    params = [BROKEN_POWER.param("E"), BROKEN_POWER.param("A"), BROKEN_POWER.param("alpha")]
    for i in range(1, n_breaks + 1):
        params.append(
            Parameter(
                f"delta_{i}",
                dist.Normal(0.0, 0.5),
                source="exponent change at a break; Caballero et al. 2023 fits within +-1",
                description=f"exponent change at break {i}",
            )
        )
    params.append(
        Parameter(
            "x_break",
            dist.LogNormal(-1.0, 1.5),
            source="first break relative to the data centre (placed below it a priori)",
            pivot=("x", 1.0),
            prior_at="centre",
            description="location of the first break",
        )
    )
    for i in range(2, n_breaks + 1):
        params.append(
            Parameter(
                f"gap_{i}",
                dist.LogNormal(jnp.log(1.0), 0.7),
                source="log-distance from the previous break (natural-log units of x); about an e-fold a priori",
                description=f"log(x_break_{i} / x_break_{i - 1})",
            )
        )
    for i in range(1, n_breaks + 1):
        params.append(
            Parameter(
                f"s_{i}",
                dist.LogNormal(jnp.log(0.5), 0.7),
                source="sharpness of a break in log-x units; Caballero et al. 2023 f_i of 0.1-2",
                description=f"smoothness of break {i}",
            )
        )
    names = [p.name for p in params]

    def mean(x, **values):
        return values["E"] + jnp.exp(_multi_break_log_term(x, values, n_breaks))

    def log_mean(x, **values):
        return jnp.logaddexp(jnp.log(values["E"]), _multi_break_log_term(x, values, n_breaks))

    law = Law(
        name=name,
        inputs=("x",),
        params=tuple(params),
        mean=mean,
        log_mean=log_mean,
        formula="y = E + A x^-alpha prod_i (1 + (x/x_break_i)^(1/s_i))^(-delta_i s_i), "
        "x_break_i = x_break_{i-1} exp(gap_i)",
        reference="Caballero et al. 2023, arXiv:2210.14891",
        description=f"A power law whose exponent changes smoothly at {n_breaks} ordered breaks ({', '.join(names)}).",
    )
    return register(law) if register_it else law


BROKEN_POWER_2 = broken_power_law(2)
BROKEN_POWER_3 = broken_power_law(3)
