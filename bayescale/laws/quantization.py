"""Floating-point quantisation training (Sun et al. 2025).

L(N, D, E_b, M_b, B) = n / N^alpha + d / D^beta + eps
                      + k (D^beta / N^alpha) (log2 B)^gamma / ((E_b + 0.5)^delta_e (M_b + 0.5)^delta_m)

Inputs: parameters ``N``, tokens ``D``, exponent bits ``exp_bits``, mantissa bits ``man_bits``
(may be 0) and ``log2_block`` (log2 of the block size of the scaling factor; ``bs.fit`` derives it
from a ``block_size`` column). The quantisation term grows with data (more tokens "fill" a
low-precision model) and shrinks with model size; a coefficient ``k`` is added so that the term's
units are free (Sun et al. absorb it into their constants).

References
----------
Sun, X. et al. (2025). Scaling Laws for Floating-Point Quantization Training. arXiv:2501.02423.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Parameter
from bayescale.laws.registry import register


def fp_quantization_log_mean(N, D, exp_bits, man_bits, log2_block, n, alpha, d, beta, eps, k, gamma, delta_e, delta_m):
    """``log L`` as a ``logaddexp`` of the four positive terms."""
    log_N, log_D = jnp.log(N), jnp.log(D)
    size = jnp.log(n) - alpha * log_N
    data = jnp.log(d) - beta * log_D
    quant = (
        jnp.log(k)
        + beta * log_D
        - alpha * log_N
        + gamma * jnp.log(log2_block)
        - delta_e * jnp.log(exp_bits + 0.5)
        - delta_m * jnp.log(man_bits + 0.5)
    )
    terms = jnp.broadcast_arrays(size, data, jnp.log(eps), quant)
    return jnp.logaddexp(jnp.logaddexp(terms[0], terms[1]), jnp.logaddexp(terms[2], terms[3]))


def fp_quantization_mean(N, D, exp_bits, man_bits, log2_block, n, alpha, d, beta, eps, k, gamma, delta_e, delta_m):
    """``n/N^alpha + d/D^beta + eps + k D^beta N^-alpha log2(B)^gamma / ((E+0.5)^delta_e (M+0.5)^delta_m)``."""
    return jnp.exp(
        fp_quantization_log_mean(N, D, exp_bits, man_bits, log2_block, n, alpha, d, beta, eps, k, gamma, delta_e, delta_m)
    )


FP_QUANTIZATION = register(
    Law(
        name="fp_quantization",
        inputs=("N", "D", "exp_bits", "man_bits", "log2_block"),
        params=(
            Parameter(
                "n",
                dist.LogNormal(0.0, 2.0),
                source="weakly informative: the size term at the data centre",
                pivot=("N", "alpha"),
                prior_at="centre",
                description="coefficient of the model-size term",
            ),
            Parameter(
                "alpha",
                dist.LogNormal(jnp.log(0.3), 0.5),
                source="Sun et al. 2025 (alpha ~0.24); Chinchilla alpha 0.34 (Hoffmann 2022, Besiroglu 2024)",
                description="model-size exponent",
            ),
            Parameter(
                "d",
                dist.LogNormal(0.0, 2.0),
                source="weakly informative: the data term at the data centre",
                pivot=("D", "beta"),
                prior_at="centre",
                description="coefficient of the data term",
            ),
            Parameter(
                "beta",
                dist.LogNormal(jnp.log(0.3), 0.5),
                source="Sun et al. 2025; Chinchilla beta 0.28-0.37",
                description="data exponent",
            ),
            Parameter(
                "eps",
                dist.LogNormal(jnp.log(1.8), 0.6),
                source="as chinchilla's E (Sun et al. report eps ~1.9)",
                description="irreducible loss",
            ),
            Parameter(
                "k",
                dist.LogNormal(-8.0, 3.0),
                source="weakly informative: a quantisation penalty of 0.01-0.5 nats at D^beta/N^alpha ~1e3-1e5",
                description="scale of the quantisation term",
            ),
            Parameter(
                "gamma",
                dist.LogNormal(jnp.log(1.0), 0.7),
                source="Sun et al. 2025 (larger blocks hurt; gamma of order 1)",
                description="block-size exponent",
            ),
            Parameter(
                "delta_e",
                dist.LogNormal(jnp.log(2.0), 0.7),
                source="Sun et al. 2025 (exponent bits matter slightly more than mantissa bits)",
                description="exponent-bits exponent",
            ),
            Parameter(
                "delta_m",
                dist.LogNormal(jnp.log(1.5), 0.7),
                source="Sun et al. 2025",
                description="mantissa-bits exponent",
            ),
        ),
        mean=fp_quantization_mean,
        log_mean=fp_quantization_log_mean,
        formula="L = n/N^alpha + d/D^beta + eps + k D^beta/N^alpha log2(B)^gamma / ((E+0.5)^delta_e (M+0.5)^delta_m)",
        reference="Sun et al. 2025, arXiv:2501.02423",
        input_domains={"exp_bits": "nonnegative", "man_bits": "nonnegative"},
        description="Loss of low-precision (floating-point) training by size, data, bit split and block size.",
    )
)
