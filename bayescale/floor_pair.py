"""The floor pair: a floored power law sampled as its value, floor share and slope at the centre.

A law declares ``Law(floor=("E", "A"))`` when it reads ``y = E + A_c g(x)`` with a floor ``E``,
a pivoted coefficient ``A`` (``A_c`` its value at the centre of the data) and, usually, the
pivot's exponent ``alpha``. :func:`sample_floor_pair` samples ``T = E + A_c``, ``f = E / T`` and
``s = alpha A_c`` instead of ``E``, ``A_c`` and ``alpha``, carrying their priors over with the
Jacobian, so the model is unchanged; :func:`floor_pair_start` gives the sampler the starting
point the plain parameterisation would have. :mod:`bayescale.hierarchy` decides when the pair is
used (:attr:`~bayescale.hierarchy.ModelSpec.floor_pair`: neither ``E`` nor ``A`` grouped).

Measured on 40 real learning curves of ``benchmarks/fit_many.py`` (``power`` law, Student-t,
4 chains x 1,000 draws): 16 met the convergence rule (r_hat <= 1.01, bulk ESS >= 400, no
divergences) sampled as ``(E, A_c, alpha)``; 35 sampled as ``(T, f, s)``.

On all 229 curves of that benchmark (8 to 71 rows), 218 converge with the pair and 158 without
(the pair alone: 64 curves; the plain form alone: 4). On 14 long NSL vision curves (151 to 780
rows, train and test) both forms converge at two seeds each. A curve that once seemed to defeat
the pair, the zoo's NSL language-model curve, held every run four times (an upstream repetition):
with the copies dropped (119 rows) it converges with the pair at four seeds out of four; with the
copies, one chain in four sat at the Student-t's ``nu = 1`` boundary in both forms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from bayescale.prior_medians import prior_median

if TYPE_CHECKING:
    from bayescale.hierarchy import ModelSpec


def sample_floor_pair(spec: ModelSpec, floor: str, term: str) -> dict[str, jnp.ndarray]:
    """Sample a floor ``E``, a pivoted coefficient ``A_c`` and its exponent as the curve's value,
    the floor's share and the slope at the centre of the data.

    Sites ``<E>_plus_<A>_c`` (the total ``T = E + A_c``), ``<E>_share`` (``f = E / T``) and, when
    the exponent ``alpha`` is a parameter that does not vary by group, ``<A>_slope_c``
    (``s = alpha A_c``, minus the slope of ``y`` in ``log x`` at the centre for ``power``) are
    sampled; ``E = f T``, ``A_c = (1 - f) T`` and ``alpha = s / A_c`` are recorded as deterministic
    sites under their usual names. The priors of ``E``, ``alpha`` and (when ``A``'s prior is at the
    centre) ``A_c`` enter as one factor with the Jacobian ``|d(E, A_c, alpha) / d(T, f, s)| = T / A_c``,
    so the posterior is the plain parameterisation's; a prior on the natural ``A`` is added by
    :func:`law_values` as for any pivot.

    Why: the data pin the value and the slope at the centre; ``E``, ``A_c`` and ``alpha`` trade off
    along a curved ridge when the floor is far below the data or the curve has not bent yet.
    """
    flat_positive = dist.ImproperUniform(constraints.positive, (), ())
    total = numpyro.sample(f"{floor}_plus_{term}_c", flat_positive)
    share = numpyro.sample(f"{floor}_share", dist.ImproperUniform(constraints.unit_interval, (), ()))
    values = {floor: numpyro.deterministic(floor, share * total)}
    values[f"{term}_c"] = numpyro.deterministic(f"{term}_c", (1.0 - share) * total)
    log_prior = spec.prior_of[floor].log_prob(values[floor]) + jnp.log(total)
    if spec.law.param(term).prior_at == "centre":
        log_prior = log_prior + spec.prior_of[term].log_prob(values[f"{term}_c"])
    exponent = spec.floor_slope
    if exponent is not None:
        slope = numpyro.sample(f"{term}_slope_c", flat_positive)
        values[exponent] = numpyro.deterministic(exponent, slope / values[f"{term}_c"])
        log_prior = log_prior + spec.prior_of[exponent].log_prob(values[exponent]) - jnp.log(values[f"{term}_c"])
    numpyro.factor(f"{floor}_{term}_prior", log_prior)
    return values


def sample_level_floor_pair(spec: ModelSpec, column: str, sites: dict[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    """Sample each level of ``column`` as a floor pair: the level's curve value, floor share and
    slope at the centre, with the hierarchy's prior on its floor, coefficient and exponent.

    For :attr:`~bayescale.hierarchy.ModelSpec.level_floor_pair`: the floor ``E``, the pivoted
    coefficient ``A`` and its exponent ``alpha`` vary by ``column`` alone; ``sites`` holds their
    spreads. Sites ``<E>_plus_<A>_c_<column>``, ``<E>_share_<column>`` and ``<A>_slope_c_<column>``
    (one per level) are sampled flat, and each population value ``u`` (on the parameter's
    unconstrained scale, ``log`` for ``A_c``) as ``<site>_<column>_gap``: ``u = mean(u_l) + gap sd /
    sqrt(levels)``. The priors of the population values, the levels' offsets ``u_l - u ~ Normal(0,
    sd)`` and the Jacobians enter as one factor, so the model is the plain hierarchy's (tested
    against it); the population values (``E``, ``A_c``, ``alpha``) and the standardised offsets
    ``p_<column>_z`` that the rest of bayescale reads are recorded as deterministic sites.

    Why: grouped, the three trade off along the same curved ridge within each level as ungrouped
    (:func:`sample_floor_pair`), and a centred population value has a funnel with its spread where
    the levels lie close. On the two curves of ``tests/test_crossover.py`` grouped by one column,
    NUTS took 705-760 leapfrog steps per draw with non-centred offsets and takes 28-35 this way,
    without divergences (4 x 500, seeds 0 and 1; centred without the gap: 4-5 divergences).
    """
    from numpyro.distributions.transforms import biject_to

    floor, term, exponent = level_pair_parameters(spec)
    flat_positive = dist.ImproperUniform(constraints.positive, (), ())
    with numpyro.plate(column, spec.levels_of[column]):
        total = numpyro.sample(f"{floor}_plus_{term}_c_{column}", flat_positive)
        share = numpyro.sample(f"{floor}_share_{column}", dist.ImproperUniform(constraints.unit_interval, (), ()))
        slope = numpyro.sample(f"{term}_slope_c_{column}", flat_positive)
    level = {floor: share * total, f"{term}_c": (1.0 - share) * total}
    level[exponent] = slope / level[f"{term}_c"]
    log_density = jnp.sum(jnp.log(total) - jnp.log(level[f"{term}_c"]))  # |d(E, A_c, alpha) / d(T, f, s)|
    out: dict[str, jnp.ndarray] = {}
    n_levels = spec.levels_of[column]
    for name, site in ((floor, floor), (term, f"{term}_c"), (exponent, exponent)):
        bijector = biject_to(constraints.positive if name == term else spec.prior_of[name].support)
        u_level, sd = bijector.inv(level[site]), sites[f"{name}_{column}_sd"]
        # the population value relative to the levels' mean, in units of its width given them
        # (sd / sqrt(levels)): no funnel between the spread and the population value
        gap = numpyro.sample(f"{site}_{column}_gap", dist.ImproperUniform(constraints.real, (), ()))
        scale = sd / jnp.sqrt(n_levels)
        u = jnp.mean(u_level) + scale * gap
        out[site] = numpyro.deterministic(site, bijector(u))
        prior = spec.prior_of[name]  # A's is at the centre (level_floor_pair's condition)
        log_density = log_density + prior.log_prob(out[site]) + bijector.log_abs_det_jacobian(u, out[site]) + jnp.log(scale)
        offset = u_level - u
        log_density = log_density + jnp.sum(dist.Normal(0.0, sd).log_prob(offset))
        log_density = log_density - jnp.sum(bijector.log_abs_det_jacobian(u_level, level[site]))
        out[f"{name}_{column}_z"] = numpyro.deterministic(f"{name}_{column}_z", offset / sd)
    numpyro.factor(f"{floor}_{term}_{column}_levels", log_density)
    return out


def level_pair_parameters(spec: ModelSpec) -> tuple[str, str, str]:
    """The floor, the pivoted coefficient and its exponent of a law's ``floor`` pair sampled by level."""
    assert spec.law.floor is not None, f"{spec.law.name} has no floor pair"
    floor, term = spec.law.floor
    pivot = spec.law.param(term).pivot
    assert pivot is not None and isinstance(pivot[1], str), f"{term} of {spec.law.name} has no exponent parameter"
    return floor, term, pivot[1]


def floor_pair_start(spec: ModelSpec) -> dict[str, float]:
    """Starting values of the floor pair's sites, matching the prior medians of ``E``, ``A_c``
    and the exponent (where the plain parameterisation starts); empty when ``A``'s prior is on
    its natural scale (its centre value then depends on the exponent).

    Their flat sites would otherwise start at random points of the unconstrained space; on one
    of 40 curves of ``benchmarks/fit_many.py`` such a start (exponent 2 on a curve whose posterior
    exponent is 0.06) left one chain of four at the tree-depth limit for the whole run.
    """
    column = spec.level_floor_pair
    pair = spec.floor_pair if column is None else spec.law.floor
    if pair is None or spec.law.param(pair[1]).prior_at != "centre":
        return {}
    floor, term = pair
    exponent = spec.floor_slope if column is None else level_pair_parameters(spec)[2]
    median = {name: prior_median(spec.prior_of[name]) for name in (floor, term)}
    total = median[floor] + median[term]
    start = {f"{floor}_plus_{term}_c": total, f"{floor}_share": median[floor] / total}
    if exponent is not None:
        start[f"{term}_slope_c"] = prior_median(spec.prior_of[exponent]) * median[term]
    # a level pair starts every level there (the sampler broadcasts a value over its site's plate)
    return start if column is None else {f"{name}_{column}": value for name, value in start.items()}


def floor_pair_sites(spec: ModelSpec, sites: dict) -> dict:
    """The values of the floor pair's sampled sites (total, share, slope) that correspond to values
    of the plain sites ``E``, ``A_c`` and the exponent (arrays of draws); empty without a pair.

    For drawing from the model forward (simulation-based calibration): :func:`bayescale.hierarchy.prior_sites`
    draws the plain sites from their priors, and these are what the model then conditions on.
    """
    pair = spec.floor_pair
    if pair is None:
        return {}
    floor, term = pair
    total = sites[floor] + sites[f"{term}_c"]
    out = {f"{floor}_plus_{term}_c": total, f"{floor}_share": sites[floor] / total}
    if spec.floor_slope is not None:
        out[f"{term}_slope_c"] = sites[spec.floor_slope] * sites[f"{term}_c"]
    return out
