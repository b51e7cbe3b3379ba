"""Data-constrained scaling (Muennighoff et al. 2023): repeated tokens and excess parameters decay in value.

L(N, D, U) = E + A / N'^alpha + B / D'^beta, with

* ``U_D = min(U, D)`` the unique tokens actually seen (a run of ``D`` tokens drawn from a larger
  pool of ``U`` sees at most ``D`` of them), ``R_D = D / U_D - 1`` repetitions and
  ``D' = U_D + U_D R_D* (1 - exp(-R_D / R_D*))`` the effective data;
* ``U_N = min(N_opt(U_D), N)`` the parameters that ``U_D`` unique tokens can use compute-optimally
  (Chinchilla allocation at the compute where ``D_opt = U_D``: ``N_opt = G (G U_D)^(beta/alpha)``
  with ``G = (alpha A / (beta B))^(1/(alpha+beta))``, as in the authors' code), ``R_N = N / U_N - 1``
  and ``N' = U_N + U_N R_N* (1 - exp(-R_N / R_N*))`` the effective parameters.

``R_D*`` and ``R_N*`` are the repetition "half-lives" (strictly 1/e-lives): Muennighoff et al. fit
``R_D* = 15.4`` and ``R_N* = 5.3`` on their C4 runs (Sec. 3.1, eq. 5-6, Figure 3).

References
----------
Muennighoff, N. et al. (2023). Scaling Data-Constrained Language Models. NeurIPS 2023, arXiv:2305.16264.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Parameter
from bayescale.laws.chinchilla import CHINCHILLA
from bayescale.laws.registry import register


def _effective(N, D, U, A, alpha, B, beta, R_D_star, R_N_star):
    """``(log N', log D')``: effective parameters and tokens after repetition decay."""
    U = jnp.minimum(U, D)  # U_D: no more unique tokens than tokens seen
    R_D = jnp.maximum(D / U - 1.0, 0.0)
    log_D_eff = jnp.log(U) + jnp.log1p(R_D_star * -jnp.expm1(-R_D / R_D_star))
    # Chinchilla allocation: N_opt = G (C/6)^a, D_opt = (C/6)^b / G with G = (alpha A / (beta B))^(1/(alpha+beta)),
    # a = beta/(alpha+beta), b = alpha/(alpha+beta). Solving D_opt = U_D: log N_opt = (1 + a/b) log G + (a/b) log U_D.
    log_G = (jnp.log(alpha) + jnp.log(A) - jnp.log(beta) - jnp.log(B)) / (alpha + beta)
    ratio = beta / alpha
    log_N_opt = (1.0 + ratio) * log_G + ratio * jnp.log(U)
    log_U_N = jnp.minimum(log_N_opt, jnp.log(N))
    R_N = jnp.maximum(jnp.exp(jnp.log(N) - log_U_N) - 1.0, 0.0)
    log_N_eff = log_U_N + jnp.log1p(R_N_star * -jnp.expm1(-R_N / R_N_star))
    return log_N_eff, log_D_eff


def data_constrained_log_mean(N, D, U, E, A, alpha, B, beta, R_D_star, R_N_star):
    """``log L`` as a ``logaddexp`` of ``E``, ``A N'^-alpha`` and ``B D'^-beta``."""
    log_N_eff, log_D_eff = _effective(N, D, U, A, alpha, B, beta, R_D_star, R_N_star)
    size = jnp.log(A) - alpha * log_N_eff
    data = jnp.log(B) - beta * log_D_eff
    return jnp.logaddexp(jnp.logaddexp(jnp.log(E), size), data)


def data_constrained_mean(N, D, U, E, A, alpha, B, beta, R_D_star, R_N_star):
    """``E + A / N'^alpha + B / D'^beta``."""
    return jnp.exp(data_constrained_log_mean(N, D, U, E, A, alpha, B, beta, R_D_star, R_N_star))


DATA_CONSTRAINED = register(
    Law(
        name="data_constrained",
        inputs=("N", "D", "U"),
        params=(
            *(CHINCHILLA.param(name) for name in ("E", "A", "alpha", "B", "beta")),
            Parameter(
                "R_D_star",
                dist.LogNormal(jnp.log(15.4), 0.8),
                source="Muennighoff et al. 2023 Sec. 3.1 / Fig. 3 (R_D* = 15.4 on C4); "
                "sd 0.8 in log covers 3-70 repetitions",
                description="repetitions of the unique data after which their value has decayed by 1/e",
            ),
            Parameter(
                "R_N_star",
                dist.LogNormal(jnp.log(5.3), 0.8),
                source="Muennighoff et al. 2023 Sec. 3.1 / Fig. 3 (R_N* = 5.3 on C4)",
                description="excess-parameter multiple after which extra parameters have decayed by 1/e",
            ),
        ),
        mean=data_constrained_mean,
        log_mean=data_constrained_log_mean,
        formula="L = E + A / N'^alpha + B / D'^beta; D' = U_D + U_D R_D* (1 - exp(-(D/U_D - 1)/R_D*)), "
        "N' = U_N + U_N R_N* (1 - exp(-(N/U_N - 1)/R_N*)), U_N = min(N_opt(U_D), N), U_D = min(U, D)",
        reference="Muennighoff et al. 2023, arXiv:2305.16264",
        description="Loss when the D training tokens repeat U unique tokens (D/U epochs).",
    )
)
