"""Downstream metrics from upstream loss or scale: bounded links for accuracies and errors.

* ``error_from_loss``: ``Err(L) = eps - k exp(-gamma L)`` (Gadre et al. 2024, eq. 5): top-1 error
  falls exponentially in the loss towards ``eps - k exp(-gamma L)``; at high loss it approaches ``eps``.
* ``sigmoid_from_loss``: ``acc(L) = floor + (ceiling - floor) / (1 + exp((L - L_mid) / width))``
  (the two-step OLMo / Llama 3 ladder: accuracy is a sigmoid of task loss between chance and a ceiling).
* ``passuntil``: ``PU(N) = exp(-c N^-alpha)`` (Hu et al. 2024, PassUntil: pass rates of large
  models are predictable from small ones).
* ``bleu_log``: ``BLEU(D) = (alpha log(D / D0))^beta`` (Isik et al. 2024, eq. 2, written with
  ``A = D0^-alpha`` so that the break-even data ``D0`` is a location).

The accuracy-type laws (bounded in (0, 1)) are fitted with ``likelihood="beta"``.

References
----------
Gadre, S. Y. et al. (2024). Language models scale reliably with over-training and on downstream tasks. arXiv:2403.08540.
Bhagia, A. et al. (2024). Establishing Task Scaling Laws via Compute-Efficient Model Ladders. arXiv:2412.04403.
Llama Team (2024). The Llama 3 Herd of Models. arXiv:2407.21783, Sec. 3.2.1.
Hu, S. et al. (2024). Predicting Emergent Abilities with Infinite Resolution Evaluation. ICLR 2024, arXiv:2310.03262.
Isik, B. et al. (2024). Scaling Laws for Downstream Task Performance of Large Language Models. arXiv:2402.04177.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Parameter
from bayescale.laws.registry import register


def error_from_loss_mean(L, eps, k, gamma):
    """``eps - k exp(-gamma L)``."""
    return eps - k * jnp.exp(-gamma * L)


ERROR_FROM_LOSS = register(
    Law(
        name="error_from_loss",
        inputs=("L",),
        params=(
            Parameter(
                "eps",
                dist.Beta(8.0, 2.0),
                source="Gadre et al. 2024 Fig. 4 (average top-1 error saturates near 0.7-0.9 at high loss)",
                description="error approached at high loss (roughly the chance error)",
            ),
            Parameter(
                "k",
                dist.LogNormal(jnp.log(5.0), 1.5),
                source="weakly informative; with gamma ~1 and L ~2-4 Gadre's fits reduce the error by 0.1-0.5",
                description="scale of the loss-driven reduction",
            ),
            Parameter(
                "gamma",
                dist.LogNormal(jnp.log(1.0), 0.7),
                source="Gadre et al. 2024 Fig. 4 (error changes over about one nat of loss)",
                description="rate of the exponential in loss",
            ),
        ),
        mean=error_from_loss_mean,
        formula="Err = eps - k exp(-gamma L)",
        reference="Gadre et al. 2024, arXiv:2403.08540",
        description="Average top-1 error on downstream tasks as a function of validation loss L.",
    )
)


def sigmoid_from_loss_mean(L, floor, ceiling_frac, L_mid, width):
    """``floor + (ceiling - floor) sigmoid(-(L - L_mid) / width)``, ceiling = floor + (1 - floor) ceiling_frac."""
    ceiling = floor + (1.0 - floor) * ceiling_frac
    return floor + (ceiling - floor) * jax.nn.sigmoid(-(L - L_mid) / width)


SIGMOID_FROM_LOSS = register(
    Law(
        name="sigmoid_from_loss",
        inputs=("L",),
        params=(
            Parameter(
                "floor",
                dist.Beta(2.0, 6.0),
                source="chance accuracy of multiple-choice tasks (0.25 for four options; OLMo ladder, Llama 3); "
                "set priors={'floor': ...} to the task's chance level",
                description="accuracy at high loss (chance)",
            ),
            Parameter(
                "ceiling_frac",
                dist.Beta(6.0, 2.0),
                source="tasks top out below 1 (label noise); Bhagia et al. 2024 ceilings ~0.8-1",
                description="ceiling as a fraction of the way from floor to 1",
            ),
            Parameter(
                "L_mid",
                dist.LogNormal(0.0, 0.5),
                source="midpoint relative to the centre of the losses in the data",
                pivot=("L", 1.0),
                prior_at="centre",
                description="loss at which accuracy is half-way between floor and ceiling",
            ),
            Parameter(
                "width",
                dist.LogNormal(jnp.log(0.2), 0.8),
                source="Llama 3 Fig. 4 / Bhagia et al. 2024 Fig. 3: the transition spans a few tenths of a nat",
                description="width of the transition in loss units",
            ),
        ),
        mean=sigmoid_from_loss_mean,
        formula="acc = floor + (ceiling - floor) sigmoid(-(L - L_mid) / width), ceiling = floor + (1 - floor) ceiling_frac",
        reference="Bhagia et al. 2024, arXiv:2412.04403; Llama Team 2024, arXiv:2407.21783",
        lower_is_better=False,
        description="Task accuracy from task loss, between a chance floor and a ceiling.",
    )
)


def passuntil_mean(N, c, alpha):
    """``exp(-c N^-alpha)``."""
    return jnp.exp(-c * N ** (-alpha))


PASSUNTIL = register(
    Law(
        name="passuntil",
        inputs=("N",),
        params=(
            Parameter(
                "c",
                dist.LogNormal(0.0, 1.5),
                source="-log pass rate at the data centre: pass rates of 1e-3-0.9 (Hu et al. 2024 Fig. 1)",
                pivot=("N", "alpha"),
                prior_at="centre",
                description="coefficient (the prior is on -log PU at the centre of N)",
            ),
            Parameter(
                "alpha",
                dist.LogNormal(jnp.log(0.5), 0.8),
                source="Hu et al. 2024 (task scaling exponents of order 0.3-1)",
                description="scaling exponent of -log pass rate",
            ),
        ),
        mean=passuntil_mean,
        formula="PU = exp(-c N^-alpha)",
        reference="Hu et al. 2024, arXiv:2310.03262",
        lower_is_better=False,
        description="Pass rate (PassUntil) of a task as a function of model size N.",
    )
)


def bleu_log_log_mean(D, D0, alpha, beta):
    """``beta log(alpha log(D / D0))``."""
    return beta * jnp.log(alpha * jnp.maximum(jnp.log(D) - jnp.log(D0), 1e-6))


def bleu_log_mean(D, D0, alpha, beta):
    """``(alpha log(D / D0))^beta``."""
    return jnp.exp(bleu_log_log_mean(D, D0, alpha, beta))


BLEU_LOG = register(
    Law(
        name="bleu_log",
        inputs=("D",),
        params=(
            Parameter(
                "D0",
                dist.LogNormal(-4.0, 2.0),
                source="break-even pretraining data relative to the data centre: well below the data "
                "(Isik et al. 2024 Fig. 2 curves are positive from the smallest D)",
                pivot=("D", 1.0),
                prior_at="centre",
                description="pretraining size at which the law reaches 0 (A = D0^-alpha)",
            ),
            Parameter(
                "alpha",
                dist.LogNormal(jnp.log(1.0), 1.0),
                source="weakly informative; Isik et al. 2024 Table fits are of order 0.1-10 in BLEU units",
                description="log-law slope",
            ),
            Parameter(
                "beta",
                dist.LogNormal(jnp.log(1.5), 0.7),
                source="Isik et al. 2024 (beta > 1 in their fits: BLEU grows faster than log D)",
                description="power on the log",
            ),
        ),
        mean=bleu_log_mean,
        log_mean=bleu_log_log_mean,
        formula="BLEU = (alpha log(D / D0))^beta  [= (log(A D^alpha))^beta with A = D0^-alpha]",
        reference="Isik et al. 2024, arXiv:2402.04177",
        lower_is_better=False,
        description="Downstream translation BLEU after fine-tuning, by pretraining data D.",
    )
)
