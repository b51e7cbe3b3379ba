"""Downstream metrics: the one catalogue of links from loss to a bounded metric, and ``bleu_log``.

A :class:`Link` maps loss ``L`` to accuracy ``a`` above a chance floor ``c``, with its parameters
stated at a centre loss ``L_c`` (the data's geometric-mean loss), which decorrelates them. Each
link is defined once, in :data:`LINKS`, and used twice under the same name:

* by :func:`bayescale.fit_downstream` (``link="error_from_loss"``) as the second observed stage of
  the joint loss-and-metric model, with ``c`` from ``chance=`` (or the ``floor`` prior);
* as a law of one input ``L`` in the laws catalogue (``bs.laws.get("error_from_loss")``) for fitting
  a metric against measured losses with ``bs.fit(..., likelihood="beta")``. The law has the link's
  parameters plus ``floor`` (the chance accuracy), and states them at ``L_c =``
  :data:`LAW_CENTRE_LOSS` nats (a law sees no data centre), on the link's natural metric (an error
  for ``error_from_loss``, an accuracy for the others).

Links, on the accuracy scale (an error metric is ``1 - a``):

* ``sigmoid_from_loss`` (OLMo ladder, Bhagia et al. 2024; Llama 3, Dubey et al. 2024):
  ``a = c + (top - c) sigmoid(k (L0 - L))`` with ``top = c + (1 - c) h`` and ``L0 = L_c + L0_shift``
  (also accepted as ``"sigmoid"``);
* ``error_from_loss`` (Gadre et al. 2024, eq. 5): ``Err = eps - k exp(-gamma L)`` with ``eps = 1 - c``,
  i.e. ``a = c + gain_c exp(-gamma (L - L_c))`` (``gain_c = k exp(-gamma L_c)``, the gain over
  chance at the centre loss);
* ``passuntil_from_loss`` (Hu et al. 2024, PassUntil ``p = exp(-c N^-alpha)`` written in loss):
  ``a = c + (1 - c) exp(-q_c (L / L_c)^gamma)``. The law ``passuntil`` is PassUntil in model size ``N``.

And two laws of scale that are not links of loss: ``passuntil``, ``PU(N) = exp(-c N^-alpha)`` (Hu et
al. 2024: pass rates of large models are predictable from small ones), and ``bleu_log``,
``BLEU(D) = (alpha log(D / D0))^beta`` (Isik et al. 2024, eq. 2, written with ``A = D0^-alpha`` so
that the break-even data ``D0`` is a location). Fit the bounded ones with ``likelihood="beta"``.

References
----------
Gadre, S. Y. et al. (2024). Language models scale reliably with over-training and on downstream tasks. arXiv:2403.08540.
Bhagia, A. et al. (2024). Establishing Task Scaling Laws via Compute-Efficient Model Ladders. arXiv:2412.04403.
Llama Team (2024). The Llama 3 Herd of Models. arXiv:2407.21783, Sec. 3.2.1.
Hu, S. et al. (2024). Predicting Emergent Abilities with Infinite Resolution Evaluation. ICLR 2024, arXiv:2310.03262.
Isik, B. et al. (2024). Scaling Laws for Downstream Task Performance of Large Language Models. arXiv:2402.04177.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Parameter
from bayescale.laws.registry import register
from bayescale.likelihoods import Beta

#: Centre loss (nats) at which a link's parameters are stated when it is used as a law: the law sees
#: no data, so it cannot centre on them as :func:`bayescale.fit_downstream` does. Typical of language
#: model validation losses (Gadre et al. 2024: 2.4 to 6.1; OLMo ladder task losses: ~0.5 to 2).
LAW_CENTRE_LOSS = 3.0

#: The chance floor ``c``: a parameter of every link's law, and of :func:`bayescale.fit_downstream`
#: when ``chance=None``.
FLOOR = Parameter(
    "floor",
    Beta(1.0, 3.0),
    source="chance accuracy (0.25 for four options, 0 for free-form answers); Beta(1, 3) puts most mass "
    "below 0.5. Set it to the task's chance: priors={'floor': ...}, or chance= in fit_downstream",
    description="accuracy at high loss (random guessing)",
)


@dataclass(frozen=True)
class Link:
    """A link from loss ``L`` to accuracy ``a`` above a chance floor ``c``.

    Parameters
    ----------
    name : str
        Name in :data:`LINKS` and in the laws catalogue.
    params : tuple of Parameter
        The link's parameters with their priors and sources (not the floor).
    function : callable
        ``function(L, c, Lc, **params) -> a`` in ``jax.numpy``; ``Lc`` is the centre loss.
    formula, reference, description : str
    metric : {"accuracy", "error"}
        The metric the link is usually stated for (the law form returns it; an error is ``1 - a``).

    Examples
    --------
    >>> from bayescale.laws.downstream_links import get_link
    >>> link = get_link("error_from_loss")
    >>> float(link.function(3.0, 0.25, 3.0, gain_c=0.1, gamma=1.0))
    0.35
    """

    name: str
    params: tuple[Parameter, ...]
    function: Callable[..., jnp.ndarray]
    formula: str
    reference: str
    metric: Literal["accuracy", "error"] = "accuracy"
    description: str = ""

    @property
    def priors(self) -> dict[str, dist.Distribution]:
        """Parameter name to prior."""
        return {p.name: p.prior for p in self.params}

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def with_priors(self, priors: Mapping[str, dist.Distribution]) -> Link:
        """The same link with some parameters' priors replaced (sources say "user prior")."""
        unknown = sorted(set(priors) - set(self.param_names))
        if unknown:
            raise ValueError(
                f"link {self.name!r} has no parameters {unknown}; its parameters are {list(self.param_names)}"
            )
        params = tuple(
            dataclasses.replace(p, prior=priors[p.name], source="user prior") if p.name in priors else p
            for p in self.params
        )
        return dataclasses.replace(self, params=params)

    def law(self, centre_loss: float = LAW_CENTRE_LOSS) -> Law:
        """The link as a law of the loss ``L``: parameters ``floor`` and the link's, centred at ``centre_loss``."""
        function, error = self.function, self.metric == "error"

        def mean(L, floor, **params):
            a = function(L, floor, centre_loss, **params)
            return 1.0 - a if error else a

        return Law(
            name=self.name,
            inputs=("L",),
            params=(FLOOR, *self.params),
            mean=mean,
            formula=f"{self.formula}  [as a law: c = floor, L_c = {centre_loss:g}]",
            reference=self.reference,
            lower_is_better=error,
            description=self.description,
        )


def _sigmoid(L, c, Lc, h, k, L0_shift):
    top = c + (1.0 - c) * h
    return c + (top - c) * jax.nn.sigmoid(k * (Lc + L0_shift - L))


def _error_from_loss(L, c, Lc, gain_c, gamma):
    return c + gain_c * jnp.exp(-gamma * (L - Lc))


def _passuntil(L, c, Lc, q_c, gamma):
    return c + (1.0 - c) * jnp.exp(-q_c * jnp.exp(gamma * (jnp.log(L) - jnp.log(Lc))))


SIGMOID_FROM_LOSS = Link(
    "sigmoid_from_loss",
    (
        Parameter("h", Beta(5.0, 1.5),
                  source="tasks top out below 1 (label noise); OLMo ladder ceilings ~0.8-1 (Bhagia et al. 2024 Fig. 3)",
                  description="fraction of the headroom above chance reached at very low loss"),
        Parameter("k", dist.LogNormal(jnp.log(2.0), 1.0),
                  source="Llama 3 Fig. 4, Bhagia et al. 2024 Fig. 3: the rise spans a few tenths of a nat to ~1 nat",
                  description="steepness of the sigmoid per nat of loss"),
        Parameter("L0_shift", dist.Normal(0.0, 2.0),
                  source="weakly informative: the midpoint lies within a few nats of the data's centre loss",
                  description="midpoint loss L0 minus the centre loss L_c"),
    ),
    _sigmoid,
    "a = c + (top - c) sigmoid(k (L0 - L)), top = c + (1 - c) h, L0 = L_c + L0_shift",
    "Bhagia et al. 2024, arXiv:2412.04403; Llama Team 2024 (Llama 3), arXiv:2407.21783",
    description="Task accuracy from (task) loss: a sigmoid between the chance floor and a ceiling.",
)

ERROR_FROM_LOSS = Link(
    "error_from_loss",
    (
        Parameter("gain_c", dist.LogNormal(jnp.log(0.1), 1.5),
                  source="Gadre et al. 2024 Fig. 4: averaged top-1 error lies 0.05-0.3 below chance over the ladder",
                  description="gain of accuracy over chance at the centre loss (k exp(-gamma L_c))"),
        Parameter("gamma", dist.LogNormal(0.0, 1.0),
                  source="Gadre et al. 2024 Fig. 4: the error changes over about one nat of loss",
                  description="rate of the exponential in loss"),
    ),
    _error_from_loss,
    "Err = eps - k exp(-gamma L), eps = 1 - c; a = c + gain_c exp(-gamma (L - L_c))",
    "Gadre et al. 2024, arXiv:2403.08540, eq. (5)",
    metric="error",
    description="Average top-1 error on downstream tasks as a function of validation loss L.",
)

PASSUNTIL_FROM_LOSS = Link(
    "passuntil_from_loss",
    (
        Parameter("q_c", dist.LogNormal(0.0, 1.5),
                  source="-log of the share of the headroom reached at the centre loss; pass rates 1e-3-0.9 "
                  "(Hu et al. 2024 Fig. 1)",
                  description="-log((a - c) / (1 - c)) at the centre loss"),
        Parameter("gamma", dist.LogNormal(jnp.log(3.0), 1.0),
                  source="Hu et al. 2024: PassUntil exponents 0.3-1 in N with loss ~ N^-0.1 give gamma ~3-10",
                  description="power of the loss ratio L / L_c"),
    ),
    _passuntil,
    "a = c + (1 - c) exp(-q_c (L / L_c)^gamma)",
    "Hu et al. 2024, arXiv:2310.03262 (PassUntil p = exp(-c N^-alpha), written in loss)",
    description="Pass rate of a task as a function of loss (PassUntil in loss rather than model size).",
)

#: Every link, by name: one definition each. ``"sigmoid"`` is another name of ``"sigmoid_from_loss"``.
LINKS: dict[str, Link] = {link.name: link for link in (SIGMOID_FROM_LOSS, ERROR_FROM_LOSS, PASSUNTIL_FROM_LOSS)}
ALIASES: dict[str, str] = {"sigmoid": "sigmoid_from_loss"}
LINKS.update({alias: LINKS[name] for alias, name in ALIASES.items()})

for _link in (SIGMOID_FROM_LOSS, ERROR_FROM_LOSS, PASSUNTIL_FROM_LOSS):
    register(_link.law())


def get_link(link: str | Link) -> Link:
    """The link called ``link`` (a :class:`Link` is returned unchanged).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the links.
    """
    if isinstance(link, Link):
        return link
    if link == "passuntil":
        warnings.warn(
            "link='passuntil' is now called 'passuntil_from_loss' (the law 'passuntil' is PassUntil in model "
            "size N); the old name will be refused in a later version",
            FutureWarning,
            stacklevel=3,
        )
        link = "passuntil_from_loss"
    try:
        return LINKS[link]
    except KeyError:
        names = sorted(n for n in LINKS if n not in ALIASES)
        raise ValueError(f"link={link!r} is not known; use one of {names} (or 'sigmoid')") from None


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
