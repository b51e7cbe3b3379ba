"""The link stage of :func:`bayescale.fit_downstream`: the link's parameters, shared or by task.

The link's parameters (``link_<p>``) are sampled by the one builder every law uses
(:func:`bayescale.hierarchy.sample_law`, :func:`~bayescale.hierarchy.parameter_values`), from a
:class:`~bayescale.hierarchy.ModelSpec` of the link written as a law of the loss ``L``, the chance
accuracy ``chance`` and the centre loss ``L_c`` (:func:`stage_law`). Without ``by`` every row shares
one value of each. With ``by="task"`` every link parameter varies by task, partially pooled over the
tasks in the parameter's unconstrained space (log for positive parameters)::

    u_t = u + sd * z_t,   z_t ~ Normal(0, 1),   sd ~ HalfNormal(1)          (TASK_SD)

so a task with few or noisy runs borrows the others' shape, and one that scales differently keeps
its own. The spread's prior is wider than a loss law's group spread (``HalfNormal(0.3)``): tasks
differ by factors, not percent (Gadre et al. 2024, Fig. 8: the gain over chance at a given loss
ranges from about 0 to 0.4 across their 46 tasks). The metric's noise (``kappa``) and an estimated
chance floor are then per task, unpooled: each task has many runs to pin them, and their sizes differ
by task (a 100-question task is noisier than a 10,000-question one).

References
----------
Gadre, S. Y. et al. (2024). Language models scale reliably with over-training and on downstream
tasks. arXiv:2403.08540.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from bayescale.hierarchy import ModelSpec, build_spec, law_values, parameter_values, resolve_priors
from bayescale.laws.base import Law
from bayescale.laws.downstream_links import Link
from bayescale.likelihoods import Likelihood

__all__ = [
    "LINK_SITE_PREFIX", "TASK_SD", "link_spec", "row_parameters", "sample_noise_and_floor", "stage_law", "task_value",
]

#: Prefix of the link's parameter sites in the posterior (``link_<parameter>``).
LINK_SITE_PREFIX = "link_"

#: Prior of the spread of each link parameter across tasks (``link_<p>_<by>_sd``), unconstrained scale.
TASK_SD = dist.HalfNormal(1.0)


@functools.cache
def stage_law(link: Link) -> Law:
    """The link as a law of ``L``, ``chance`` and ``L_c`` with parameters named ``link_<p>``.

    One object per link (cached), so that compiled samplers of the same structure are reused.

    Parameters
    ----------
    link : Link
        A link of :data:`bayescale.laws.downstream_links.LINKS`.

    Returns
    -------
    Law
        Its mean is the link's accuracy ``a(L; chance, L_c, params)``.
    """
    function = link.function

    def mean(L, chance, L_c, **params):
        return function(L, chance, L_c, **{name.removeprefix(LINK_SITE_PREFIX): v for name, v in params.items()})

    params = tuple(dataclasses.replace(p, name=f"{LINK_SITE_PREFIX}{p.name}") for p in link.params)
    return Law(
        name=f"{link.name}_stage", inputs=("L", "chance", "L_c"), params=params, mean=mean,
        formula=link.formula, reference=link.reference, lower_is_better=False,
        input_domains={"chance": "nonnegative"}, description=link.description,
    )


def link_spec(
    link: Link,
    metric_likelihood: Likelihood,
    by: str | None,
    n_tasks: int,
    overrides: Mapping[str, dist.Distribution],
    centered: bool = False,
) -> ModelSpec:
    """The structure of the link stage.

    Parameters
    ----------
    link : Link
    metric_likelihood : Likelihood
        How the metric scatters (its noise is sampled by :func:`sample_noise_and_floor`, not here).
    by : str, optional
        The column whose levels (tasks) each have their own link parameters; None shares them.
    n_tasks : int
        Number of levels of ``by`` (ignored without ``by``).
    overrides : mapping
        Priors replacing the defaults, by site name: ``link_<p>`` or ``link_<p>_<by>_sd``.
    centered : bool
        Sample the task offsets centred (see :func:`bayescale.hierarchy.centered_columns`).

    Returns
    -------
    ModelSpec

    Raises
    ------
    ValueError
        For an override that is not a site of the link stage (the message lists them).
    """
    law = stage_law(link)
    grouping = {name: (by,) for name in law.param_names} if by else {}
    defaults = {f"{name}_{by}_sd": TASK_SD for name in grouping}
    priors = resolve_priors(law, metric_likelihood, grouping, {**defaults, **overrides})
    priors = {name: prior for name, prior in priors.items() if name not in metric_likelihood.noise_names}
    levels = {by: [str(i) for i in range(n_tasks)]} if by else {}
    return build_spec(law, metric_likelihood, grouping, levels, priors, centered=(by,) if by and centered else ())


def row_parameters(
    spec: ModelSpec, sites: Mapping[str, jnp.ndarray], task_of_row, *, record: bool = False
) -> dict[str, jnp.ndarray]:
    """The link's parameters (``link_<p>``) of every row; ``spec.law.mean(L, chance, L_c, **them)`` is the accuracy.

    Parameters
    ----------
    spec : ModelSpec
        From :func:`link_spec`.
    sites : mapping
        Sampled sites of one draw (``link_<p>``, and ``link_<p>_<by>_sd`` / ``_z`` by task).
    task_of_row : array
        The task code of each row (unused without ``by``).
    record : bool
        Inside the model: also record each task's values as deterministic sites
        (``link_<p>_<by>``; :func:`bayescale.hierarchy.law_values`).

    Returns
    -------
    dict
        Site name to its value per row, or a scalar when shared.
    """
    group_index = {column: task_of_row for column in spec.group_columns}
    if record:
        return law_values(spec, sites, group_index, {})
    return parameter_values(spec, sites, group_index, {})[0]


def sample_noise_and_floor(
    by: str | None, n_tasks: int, noise_priors: Mapping[str, dist.Distribution], floor_prior: dist.Distribution | None
) -> tuple[dict[str, jnp.ndarray], jnp.ndarray | None]:
    """Inside the model: the metric's noise (``kappa``) and the estimated floor, one per task with ``by``.

    Returns the noise sites and the floor (None when the chance floor is given), each a scalar
    or ``(n_tasks,)``; :func:`task_value` picks each row's value.
    """
    def sample():
        floor = numpyro.sample("floor", floor_prior) if floor_prior is not None else None
        return {name: numpyro.sample(name, prior) for name, prior in noise_priors.items()}, floor

    if not by:
        return sample()
    with numpyro.plate(by, n_tasks):
        return sample()


def task_value(value, task_of_row):
    """A per-task value (``(n_tasks,)``) at each row, or a shared scalar as it is."""
    value = jnp.asarray(value)
    return value[task_of_row] if value.ndim else value

