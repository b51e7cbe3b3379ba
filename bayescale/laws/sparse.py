"""Sparse pre-training: the Chinchilla law on the average parameter count over training (Jin et al. 2025).

L(N_avg, D) = E + A / N_avg^alpha + B / D^beta

``N_avg`` is the parameter count averaged over the training steps, which a pruning
schedule lowers below the dense ``N``; :func:`bayescale.data.average_parameter_count`
computes it from ``N``, ``sparsity``, ``prune_start`` and ``prune_end`` columns (fractions of
training), and ``bs.fit`` derives the ``N_avg`` input from those columns when they exist.

References
----------
Jin, T. et al. (2025). The Journey Matters: Average Parameter Count over Pre-training Unifies
Sparse and Dense Scaling Laws. ICLR 2025, arXiv:2501.12486.
"""

from __future__ import annotations

from bayescale.laws.base import Law
from bayescale.laws.chinchilla import CHINCHILLA, chinchilla_log_mean, chinchilla_mean
from bayescale.laws.registry import register


def sparse_average_mean(N_avg, D, E, A, alpha, B, beta):
    """``E + A N_avg^-alpha + B D^-beta``."""
    return chinchilla_mean(N_avg, D, E, A, alpha, B, beta)


def sparse_average_log_mean(N_avg, D, E, A, alpha, B, beta):
    """``log L`` as a ``logaddexp`` of the three terms."""
    return chinchilla_log_mean(N_avg, D, E, A, alpha, B, beta)


_A = CHINCHILLA.param("A")

SPARSE_AVERAGE = register(
    Law(
        name="sparse_average",
        inputs=("N_avg", "D"),
        params=(
            CHINCHILLA.param("E"),
            type(_A)(_A.name, _A.prior, _A.source, ("N_avg", "alpha"), _A.prior_at, _A.description),
            CHINCHILLA.param("alpha"),
            CHINCHILLA.param("B"),
            CHINCHILLA.param("beta"),
        ),
        mean=sparse_average_mean,
        log_mean=sparse_average_log_mean,
        formula="L = E + A / N_avg^alpha + B / D^beta",
        reference="Jin et al. 2025, arXiv:2501.12486",
        description="Chinchilla on the average parameter count over (sparse) pre-training; "
        "same priors as chinchilla (Jin et al. report Chinchilla-like exponents).",
    )
)
