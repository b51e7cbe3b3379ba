"""Farseer (2025): a loss surface whose data term's coefficient and exponent depend on N.

L(N, D) = U(N) + B(N) D^-A(N), with
U(N) = exp(a3 n^gamma + b3), B(N) = exp(a2 n^beta + b2), A(N) = exp(a1 n^alpha + b1)

where ``n = N / 1e9`` (parameters in billions, a fixed unit so that the prior on the ``b``'s
means the same for every dataset). Farseer fits 9 parameters on hundreds of runs; with a few
dozen runs the posterior of the ``a``/exponent pairs stays wide and the priors matter, and on
isoFLOP ladders NUTS's chains often land in different modes (``benchmarks/law_choice.py``).

``chinchilla_farseer`` keeps Farseer's idea, a data term whose coefficient and exponent move with
N, to first order in ``log n`` on top of Chinchilla's model-size term:

L(N, D) = E + A / N^alpha + B D0^-beta n^B_N (D / D0)^-(beta n^beta_N),   D0 = 1e10 tokens

With ``B_N = beta_N = 0`` it is the Chinchilla law, so no parameter is left unidentified when the
data show no interaction (Farseer's ``alpha`` is free whenever ``a1 = 0``), and the two slopes
carry what the Chinchilla law misfits along isoFLOP sweeps: runs far from the compute-optimal
ratio lying above its flatter profile. ``B_N`` is the slope in ``log n`` of the data term at
``D0`` tokens, near the runs, rather than at one token: there it trades off with ``beta_N``
(``B_N - beta beta_N log D`` is what the runs pin), and on Porian et al.'s and OpenEuroLLM's
ladders the chains of that form split between two modes (``B_N`` near +0.6 and -0.6; r_hat
1.3-1.7 at 4 x 1,000 draws), which this pivot joins (r_hat <= 1.016).

References
----------
Li, H. et al. (2025). Farseer: A Refined Scaling Law in Large Language Models. arXiv:2506.10972.
Hoffmann, J. et al. (2022). Training Compute-Optimal Large Language Models. arXiv:2203.15556.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Parameter
from bayescale.laws.chinchilla import CHINCHILLA, chinchilla_log_mean
from bayescale.laws.registry import register

N_UNIT = 1e9
#: Tokens at which ``chinchilla_farseer``'s ``B_N`` is the data term's slope in log N (near the runs of every ladder).
D_UNIT = 1e10


def _n_power(N, exponent):
    return jnp.exp(exponent * (jnp.log(N) - jnp.log(N_UNIT)))


def farseer_log_mean(N, D, a1, b1, alpha, a2, b2, beta, a3, b3, gamma):
    """``logaddexp(log U(N), log B(N) - A(N) log D)``."""
    log_U = a3 * _n_power(N, gamma) + b3
    log_B = a2 * _n_power(N, beta) + b2
    exponent = jnp.exp(a1 * _n_power(N, alpha) + b1)
    return jnp.logaddexp(log_U, log_B - exponent * jnp.log(D))


def farseer_mean(N, D, a1, b1, alpha, a2, b2, beta, a3, b3, gamma):
    """``U(N) + B(N) D^-A(N)``."""
    return jnp.exp(farseer_log_mean(N, D, a1, b1, alpha, a2, b2, beta, a3, b3, gamma))


_SRC = "weakly informative; Li et al. 2025 fit small N-dependence of each term"

FARSEER = register(
    Law(
        name="farseer",
        inputs=("N", "D"),
        params=(
            Parameter("a1", dist.Normal(0.0, 0.5), source=_SRC, description="N-dependence of the data exponent"),
            Parameter(
                "b1",
                dist.Normal(jnp.log(0.3), 0.5),
                source="data exponent A(N) near 0.3 (Chinchilla beta 0.28-0.37)",
                description="log data exponent at n = 1 when a1 = 0",
            ),
            Parameter("alpha", dist.Normal(0.0, 0.5), source=_SRC, description="power of n in log A(N)"),
            Parameter("a2", dist.Normal(0.0, 1.0), source=_SRC, description="N-dependence of log B(N)"),
            Parameter(
                "b2",
                dist.Normal(jnp.log(1000.0), 3.0),
                source="log of chinchilla's B (410-2085, Hoffmann 2022, Besiroglu 2024), wide",
                description="log data coefficient at n = 1 when a2 = 0",
            ),
            Parameter("beta", dist.Normal(0.0, 0.5), source=_SRC, description="power of n in log B(N)"),
            Parameter("a3", dist.Normal(0.0, 0.5), source=_SRC, description="N-dependence of log U(N)"),
            Parameter(
                "b3",
                dist.Normal(jnp.log(2.0), 0.5),
                source="U(N) ~ E + A/N^alpha of chinchilla at 1B: about 2 nats",
                description="log of the N-only floor at n = 1 when a3 = 0",
            ),
            Parameter("gamma", dist.Normal(-0.3, 0.3), source=_SRC, description="power of n in log U(N)"),
        ),
        mean=farseer_mean,
        log_mean=farseer_log_mean,
        formula="L = exp(a3 n^gamma + b3) + exp(a2 n^beta + b2) D^-exp(a1 n^alpha + b1), n = N / 1e9",
        reference="Li et al. 2025, arXiv:2506.10972",
        description="A refined L(N, D) in which the data term's coefficient and exponent vary with N.",
    )
)


def chinchilla_farseer_log_mean(N, D, E, A, alpha, B, beta, B_N, beta_N):
    """``log L``: the Chinchilla law's, with the data exponent ``beta n^beta_N`` and the coefficient
    ``B n^B_N D0^(beta n^beta_N - beta)`` that makes the data term ``B D0^-beta n^B_N (D/D0)^-(beta n^beta_N)``."""
    log_n = jnp.log(N) - jnp.log(N_UNIT)
    exponent = beta * jnp.exp(beta_N * log_n)
    coefficient = B * jnp.exp(B_N * log_n + (exponent - beta) * jnp.log(D_UNIT))
    return chinchilla_log_mean(N, D, E, A, alpha, coefficient, exponent)


def chinchilla_farseer_mean(N, D, E, A, alpha, B, beta, B_N, beta_N):
    """``E + A N^-alpha + B D0^-beta n^B_N (D/D0)^-(beta n^beta_N)``, ``n = N / 1e9``, ``D0 = 1e10``."""
    return jnp.exp(chinchilla_farseer_log_mean(N, D, E, A, alpha, B, beta, B_N, beta_N))


_SLOPE_SRC = (
    "weakly informative, centred on no interaction (the Chinchilla law); Li et al. 2025 find the data "
    "term's coefficient and exponent change slowly with N"
)

CHINCHILLA_FARSEER = register(
    Law(
        name="chinchilla_farseer",
        inputs=("N", "D"),
        params=(
            *CHINCHILLA.params,
            Parameter(
                "B_N",
                dist.Normal(0.0, 0.5),
                source=_SLOPE_SRC,
                description="slope in log N of the log data term at D0 = 1e10 tokens: B D0^-beta (N / 1e9)^B_N",
            ),
            Parameter(
                "beta_N",
                dist.Normal(0.0, 0.1),
                source=_SLOPE_SRC,
                description="slope of log beta in log N: the data exponent is beta (N / 1e9)^beta_N",
            ),
        ),
        mean=chinchilla_farseer_mean,
        log_mean=chinchilla_farseer_log_mean,
        formula="L = E + A / N^alpha + B D0^-beta n^B_N (D / D0)^-(beta n^beta_N), n = N / 1e9, D0 = 1e10",
        reference="Hoffmann et al. 2022, arXiv:2203.15556; Li et al. 2025 (Farseer), arXiv:2506.10972",
        description=(
            "The Chinchilla law with Farseer's N-dependent data term, to first order in log N: "
            "fits isoFLOP sweeps whose ends the Chinchilla law misfits."
        ),
    )
)
