"""Priors from earlier posteriors: "priors shared across model families and datasets".

A posterior (a :class:`~bayescale.Fit`, or draws from the reference zoo) becomes an
informative prior by matching, for each law parameter, a normal distribution in the
parameter's unconstrained space (log for positive parameters) to the posterior draws,
mapped back through the same bijection. Correlations between parameters are not kept,
which makes the prior a little wider than the posterior it came from: on the safe side.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.transforms import biject_to

from bayescale.laws.base import Law


def posterior_as_prior(draws: Mapping[str, np.ndarray], law: Law) -> dict[str, dist.Distribution]:
    """Independent priors for ``law`` matched to posterior ``draws`` (parameter name -> 1-D draws).

    Parameters whose default prior is stated at the data centre (``prior_at="centre"``) and
    names the law does not have are skipped.
    """
    priors: dict[str, dist.Distribution] = {}
    for parameter in law.params:
        if parameter.name not in draws or parameter.prior_at == "centre":
            continue
        support = parameter.prior.support
        bijector = biject_to(support)
        u = np.asarray(bijector.inv(np.asarray(draws[parameter.name], dtype=np.float64)))
        u = u[np.isfinite(u)]
        loc, scale = float(u.mean()), float(max(u.std(ddof=1), 1e-6))
        if support is constraints.real:
            priors[parameter.name] = dist.Normal(loc, scale)
        elif support is constraints.positive:
            priors[parameter.name] = dist.LogNormal(loc, scale)
        else:
            priors[parameter.name] = dist.TransformedDistribution(dist.Normal(loc, scale), bijector)
    return priors
