"""Medians of prior distributions, computed on the host, and the starting values the sampler takes from them.

The sampler starts each chain at the prior medians (NumPyro's ``init_to_median``: the median of
31 prior draws, inside the compiled program). For a prior whose sampler is a rejection loop
(Gamma and what is built on it: Beta, Student-t, chi-square, inverse gamma) that puts the loop in
the program: the Student-t likelihood's ``nu ~ 1 + Gamma(2, 0.1)`` alone made the compiled NUTS
program of the ``power`` law take 5.5 s to compile instead of 4.0 s (XLA, 2-core CPU). Such sites
start at their median computed here instead (:func:`loop_sampled_starts`), passed to the program
as data like the floor pair's starting values (:func:`bayescale.floor_pair.floor_pair_start`).

A pivoted parameter whose prior is on its natural scale is sampled as a flat site ``p_c`` (its
value at the centre of the data), which ``init_to_median`` cannot draw from: it started at a
random point of ``(e^-2, e^2)``, decades from the data when ``p`` is, say, a critical model size.
It starts at its prior median moved to the centre instead (:func:`pivot_start_parts`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions.transforms import AffineTransform
from scipy import special

if TYPE_CHECKING:
    from bayescale.hierarchy import ModelSpec

#: Medians in closed form, from a distribution's parameters with NumPy and SciPy. Evaluated
#: eagerly, a distribution's ``icdf`` compiles its JAX operations one by one (~1.4 s in each new
#: Python process for a log-normal) and a Gamma has none (its sample's median compiles the gamma
#: sampler, ~1.5 s).
_CLOSED_FORM: dict[type, Callable[[Any], np.ndarray]] = {
    dist.LogNormal: lambda d: np.exp(np.asarray(d.loc, float)),
    dist.Normal: lambda d: np.asarray(d.loc, float),
    dist.HalfNormal: lambda d: np.asarray(d.scale, float) * 0.6744897501960817,  # the normal's 75% quantile
    dist.Exponential: lambda d: np.log(2.0) / np.asarray(d.rate, float),
    dist.Uniform: lambda d: (np.asarray(d.low, float) + np.asarray(d.high, float)) / 2,
    dist.Gamma: lambda d: special.gammaincinv(np.asarray(d.concentration, float), 0.5) / np.asarray(d.rate, float),
    dist.Beta: lambda d: special.betaincinv(
        np.asarray(d.concentration1, float), np.asarray(d.concentration0, float), 0.5
    ),
    dist.StudentT: lambda d: np.asarray(d.loc, float),
    dist.Chi2: lambda d: 2.0 * special.gammaincinv(np.asarray(d.df, float) / 2.0, 0.5),
    dist.InverseGamma: lambda d: np.asarray(d.rate, float) / special.gammaincinv(np.asarray(d.concentration, float), 0.5),
}

#: Families whose NumPyro sampler is a rejection loop (through ``jax.random.gamma``); each has a
#: closed-form median above.
_LOOP_SAMPLED = (dist.Gamma, dist.Beta, dist.StudentT, dist.Chi2, dist.InverseGamma)


def _closed_form(prior: dist.Distribution) -> Callable[[Any], np.ndarray] | None:
    """The closed-form median of ``prior``'s family or of the nearest family it derives from."""
    return next((_CLOSED_FORM[family] for family in type(prior).__mro__ if family in _CLOSED_FORM), None)


def _increasing_affine(prior: dist.Distribution) -> tuple[dist.Distribution, float, float] | None:
    """``(base, loc, scale)`` where ``prior`` is ``loc + scale * base`` with ``scale > 0`` (a
    ``TransformedDistribution`` of affine maps with constant parameters), else None."""
    if not isinstance(prior, dist.TransformedDistribution):
        return None
    loc, scale = 0.0, 1.0
    for transform in prior.transforms:
        if not isinstance(transform, AffineTransform) or np.ndim(transform.loc) or np.ndim(transform.scale):
            return None
        t_loc, t_scale = float(transform.loc), float(transform.scale)
        if t_scale <= 0:
            return None
        loc, scale = t_loc + t_scale * loc, t_scale * scale
    return prior.base_dist, loc, scale


def prior_median(prior: dist.Distribution) -> float:
    """The median of a scalar prior: in closed form where :data:`_CLOSED_FORM` has its family
    (also under increasing affine maps, e.g. ``1 + Gamma(2, 0.1)``), else its ``icdf(0.5)``, else
    the median of 10,001 draws."""
    closed_form = _closed_form(prior)
    if closed_form is not None:
        return float(closed_form(prior))
    affine = _increasing_affine(prior)
    if affine is not None and _closed_form(affine[0]) is not None:
        base, loc, scale = affine
        return loc + scale * prior_median(base)
    try:
        return float(prior.icdf(0.5))
    except (NotImplementedError, ImportError):  # Gamma's icdf needs tensorflow_probability
        return float(np.median(np.asarray(prior.sample(jax.random.PRNGKey(0), (10001,)))))


def is_loop_sampled(prior: dist.Distribution) -> bool:
    """Whether drawing from ``prior`` runs a rejection loop (also under increasing affine maps)."""
    affine = _increasing_affine(prior)
    base = prior if affine is None else affine[0]
    return isinstance(base, _LOOP_SAMPLED)


def pivot_start_parts(spec: ModelSpec) -> dict[str, float]:
    """For each pivoted parameter ``p`` whose prior is on its natural scale (its sampled site
    ``p_c`` is flat, so NumPyro's ``init_to_median`` would start it at a random point of
    ``(e^-2, e^2)``): ``"p_c:log_median"``, the log of the prior median of ``p``, and
    ``"p_c:exponent"``, the pivot's exponent ``k`` (a number, or the prior median of the parameter
    it names). The sampler starts ``p_c`` at ``exp(log_median - k * centre)``, the prior median
    moved to the centre of each curve's data (:func:`bayescale.sampler.starting_values`).

    On the ``kaplan_steps`` recovery case the random start put ``N_c_c`` five decades from its
    value (2.8e5): 2 chains settled in a mode 66 units of log density below the true one at
    three seeds of four; started at the median, all 8 chains of four seeds found the true mode.
    """
    parts: dict[str, float] = {}
    for parameter in spec.law.params:
        if parameter.pivot is None or parameter.prior_at != "natural":
            continue
        exponent = parameter.pivot[1]
        k = prior_median(spec.prior_of[exponent]) if isinstance(exponent, str) else float(exponent)
        median = prior_median(spec.prior_of[parameter.name])
        if median > 0 and np.isfinite(k):
            parts[f"{parameter.name}_c:log_median"] = float(np.log(median))
            parts[f"{parameter.name}_c:exponent"] = k
    return parts


def loop_sampled_starts(spec: ModelSpec) -> dict[str, float]:
    """Starting values, their prior medians, of the sites of ``spec`` sampled under their own
    name whose scalar prior is drawn by a rejection loop (the Student-t's ``nu``, a Beta prior)."""
    pivoted = {p.name for p in spec.law.params if p.pivot is not None}  # sampled as p_c, not p
    return {
        name: prior_median(prior)
        for name, prior in spec.priors
        if name not in pivoted and not prior.batch_shape and not prior.event_shape and is_loop_sampled(prior)
    }
