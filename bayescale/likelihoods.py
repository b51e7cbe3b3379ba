"""Observation models: how a measured ``y`` scatters around the law's curve.

* ``student_t`` (default for losses): ``log y ~ StudentT(nu, log mu, sigma)``. Robust to
  the occasional diverged or mis-logged run; on the Chinchilla data it reproduces
  Besiroglu et al.'s robust estimates where a Gaussian does not.
* ``normal``: ``log y ~ Normal(log mu, sigma)``.
* ``beta``: ``y ~ Beta(mu kappa, (1 - mu) kappa)`` for metrics in (0, 1) such as accuracies.

Every density is on the natural scale of ``y`` (the log-space ones carry the Jacobian
``1/y``), so pointwise log-likelihoods, LOO and WAIC compare across likelihoods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.scipy.special import betaln, xlogy
from numpyro.distributions.transforms import ExpTransform


class Beta(dist.Beta):
    """NumPyro's Beta with its log-density written out as ``xlogy`` terms minus ``betaln``.

    ``numpyro.distributions.Beta.log_prob`` (numpyro 0.22, jax 0.10 on the CPU) goes through a
    two-component Dirichlet; evaluated for 400 posterior draws x 95 rows of the over-training
    runs at once it returned about -200 per row for a block of draws whose density, evaluated
    alone or in a batch of 10, was about +3, which made LOO meaningless. This form gave the
    right values in the same batch. Values are inside (0, 1) here (the data are checked).
    """

    def log_prob(self, value):
        a, b = self.concentration1, self.concentration0
        return xlogy(a - 1.0, value) + xlogy(b - 1.0, 1.0 - value) - betaln(a, b)


@dataclass(frozen=True)
class Likelihood:
    """A named observation model with its noise parameters and default priors.

    Parameters
    ----------
    name : str
        ``"student_t"``, ``"normal"`` or ``"beta"``.
    noise_priors : mapping of str to Distribution
        Priors of the noise parameters (``sigma``, ``nu``, ``kappa``).
    support : {"positive", "unit_interval"}
        Values ``y`` may take.
    """

    name: str
    noise_priors: Mapping[str, dist.Distribution] = field(default_factory=dict)
    support: str = "positive"

    @property
    def noise_names(self) -> tuple[str, ...]:
        """Names of the noise parameters."""
        return tuple(self.noise_priors)

    @property
    def log_space(self) -> bool:
        """True when the law's curve is compared to ``log y``."""
        return self.support == "positive"

    def distribution(self, location: jnp.ndarray, noise: Mapping[str, jnp.ndarray]) -> dist.Distribution:
        """The distribution of ``y`` given the curve (``log mu`` or ``mu``) and noise values."""
        if self.name == "student_t":
            base = dist.StudentT(noise["nu"], location, noise["sigma"])
            return dist.TransformedDistribution(base, ExpTransform())
        if self.name == "normal":
            return dist.LogNormal(location, noise["sigma"])
        if self.name == "beta":
            mu = jnp.clip(location, 1e-6, 1 - 1e-6)
            return Beta(mu * noise["kappa"], (1 - mu) * noise["kappa"])
        raise ValueError(f"unknown likelihood {self.name!r}")

    def sample(
        self, rng: np.random.Generator, location: np.ndarray, noise: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        """Draws of ``y`` (natural scale), one per entry of ``location`` (``(draws, rows)``).

        The same distributions as :meth:`distribution`, sampled with NumPy: JAX's Student-t
        sampler draws gammas by rejection in a loop and took ~1.8 s for 4,000 x 245 draws on
        the CPU, NumPy 0.03 s. ``noise`` holds one value per draw (shape ``(draws,)``).
        """
        location = np.asarray(location, dtype=np.float64)
        per_draw = {k: np.asarray(v, dtype=np.float64).reshape((-1,) + (1,) * (location.ndim - 1))
                    for k, v in noise.items()}  # fmt: skip
        if self.name == "student_t":
            shape = np.broadcast_shapes(location.shape, per_draw["nu"].shape)
            return np.exp(location + per_draw["sigma"] * rng.standard_t(np.broadcast_to(per_draw["nu"], shape)))
        if self.name == "normal":
            return np.exp(location + per_draw["sigma"] * rng.standard_normal(location.shape))
        if self.name == "beta":
            mu = np.clip(location, 1e-6, 1 - 1e-6)
            return rng.beta(mu * per_draw["kappa"], (1 - mu) * per_draw["kappa"])
        raise ValueError(f"unknown likelihood {self.name!r}")

    def check_support(self, y: np.ndarray) -> int | None:
        """Position of the first ``y`` outside the support, or None when all are inside."""
        bad = ~(y > 0) if self.support == "positive" else ~((y > 0) & (y < 1))
        positions = np.flatnonzero(bad)
        return int(positions[0]) if positions.size else None

    @property
    def support_text(self) -> str:
        """The support in words, for error messages."""
        return "y > 0" if self.support == "positive" else "0 < y < 1"


LIKELIHOODS: dict[str, Likelihood] = {
    "student_t": Likelihood(
        "student_t",
        {
            # Relative scatter of a few percent around a scaling curve is typical of final losses.
            "sigma": dist.HalfNormal(0.1),
            # Juarez & Steel (2010) prior on the degrees of freedom: mode 10, mass on heavy tails.
            "nu": dist.Gamma(2.0, 0.1),
        },
    ),
    "normal": Likelihood("normal", {"sigma": dist.HalfNormal(0.1)}),
    "beta": Likelihood("beta", {"kappa": dist.LogNormal(np.log(100.0), 1.5)}, support="unit_interval"),
}


def get_likelihood(name: str | Likelihood) -> Likelihood:
    """The likelihood called ``name``; a :class:`Likelihood` is returned unchanged."""
    if isinstance(name, Likelihood):
        return name
    try:
        return LIKELIHOODS[name]
    except KeyError:
        raise ValueError(
            f"likelihood={name!r} is not known; use one of {sorted(LIKELIHOODS)} "
            "(student_t for losses, beta for metrics in (0, 1))"
        ) from None
