"""Observation models: how a measured ``y`` scatters around the law's curve.

* ``student_t`` (default for losses): ``log y ~ StudentT(nu, log mu, sigma)``. Robust to
  the occasional diverged or mis-logged run; on the Chinchilla data it reproduces
  Besiroglu et al.'s robust estimates where a Gaussian does not.
* ``normal``: ``log y ~ Normal(log mu, sigma)``.
* ``beta``: ``y ~ Beta(mu kappa, (1 - mu) kappa)`` for metrics in (0, 1) such as accuracies.
* ``binomial``: ``y = k / n`` with ``k ~ Binomial(n, mu)``, for an accuracy on a benchmark of
  ``n`` questions (the ``trials`` column); zeros and ones are allowed.
* ``beta_binomial``: ``k ~ BetaBinomial(mu kappa, (1 - mu) kappa, n)``: the binomial with
  extra run-to-run scatter (seeds, prompts), ``kappa -> inf`` is the binomial.
* ``frontier``: ``log y = log mu + u + e`` with ``e ~ Normal(0, sigma)`` and a one-sided excess
  ``u``: 0 for a tuned run (probability ``tuned``), ``Exponential(mean excess)`` for an untuned
  one; for ladders with under-tuned runs (learning rate or batch size not tuned): the law is the
  frontier of the tuned runs, every run lies on or above it. See :class:`ExpModifiedNormal`.

Every density is on the natural scale of ``y`` (the log-space ones carry the Jacobian
``1/y``), so pointwise log-likelihoods, LOO and WAIC compare across the continuous likelihoods.
The count likelihoods give probabilities of the count ``k = y n`` (a probability mass, not a
density): compare them with each other, not with ``beta``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.scipy.special import betaln, log_ndtr, xlogy
from numpyro.distributions import constraints
from numpyro.distributions.transforms import AffineTransform, ExpTransform


def shifted_gamma(concentration: float, rate: float, *, low: float) -> dist.Distribution:
    """``low + Gamma(concentration, rate)``, a distribution on ``(low, inf)``."""
    shift = AffineTransform(low, 1.0, domain=constraints.positive)
    return dist.TransformedDistribution(dist.Gamma(concentration, rate), shift)


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


class CountProportion(dist.Distribution):
    """A proportion ``y = k / n`` whose count ``k`` follows ``counts`` (a distribution over
    ``0..n``): the observation model of an accuracy on a benchmark of ``n`` questions.

    ``log_prob(y)`` is the probability of the count ``round(y n)``; ``sample`` returns ``k / n``.
    Observed values stay proportions (as the user's column holds them), so posterior predictive
    draws, plots and intervals are on the scale of ``y``.
    """

    arg_constraints = {"trials": dist.constraints.positive}
    support = dist.constraints.unit_interval

    def __init__(self, counts: dist.Distribution, trials, *, validate_args=None):
        self.counts = counts
        self.trials = jnp.asarray(trials)
        super().__init__(batch_shape=counts.batch_shape, validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        return self.counts.sample(key, sample_shape) / self.trials

    def log_prob(self, value):
        return self.counts.log_prob(jnp.round(value * self.trials))

    @property
    def mean(self):
        return self.counts.mean / self.trials


def _log_ndtr_plus_half_square(z):
    """``log Phi(z) + z^2 / 2`` for ``z <= 0``, accurate in float32 however negative ``z`` is.

    Not through ``jax.scipy.special.erfcx`` (``log(erfcx(-z / sqrt 2) / 2)``): in float32 (jax
    0.10, CPU) it returns 0 for arguments between 9.19 and 9.42, which sent NUTS chains to an
    infinite log-density. Down to z = -10 the direct sum loses at most ~4e-6 to rounding; below,
    the asymptotic series of Mills' ratio, whose first left-out term is < 1e-7 there.
    """
    near = jnp.maximum(z, -10.0)
    far = jnp.minimum(z, -10.0)
    inv = 1.0 / (far * far)
    series = jnp.log1p(inv * (-1.0 + inv * (3.0 + inv * (-15.0 + inv * 105.0))))
    asymptotic = -jnp.log(-far) - 0.5 * np.log(2 * np.pi) + series
    return jnp.where(z >= -10.0, log_ndtr(near) + 0.5 * near**2, asymptotic)


class ExpModifiedNormal(dist.Distribution):
    r"""Normal plus an independent exponential excess: ``x = loc + sigma e + u``, ``u ~ Exp(mean excess)``.

    The exponentially modified Gaussian (ex-Gaussian), the normal-exponential model of stochastic
    frontier analysis (Meeusen and van den Broeck 1977; Aigner, Lovell and Schmidt 1977 use a
    half-normal excess): ``loc`` is the frontier, ``sigma`` the two-sided run-to-run noise of a
    tuned run and ``excess`` the mean one-sided loss of an untuned one. It is used on ``log y``
    by the ``frontier`` likelihood. Why this one:

    * its log-density is closed-form, ``-log b + sigma^2/(2 b^2) - r/b + log Phi(r/sigma - sigma/b)``
      with ``r = x - loc`` and ``b = excess``, written here so that it stays exact in float32
      from ``excess << sigma`` (where it becomes the normal density) to runs far above the
      frontier;
    * the exponential has its mode at 0 (most runs of a hyper-parameter grid are near the
      frontier, fewer far above it; on the OpenEuroLLM lr x batch grid the excess over the best
      run at each (N, D) has mean 0.0078 and sd 0.0085 in log loss, as an exponential's are
      equal), and its log-density falls linearly, so a badly mistuned run pulls the frontier
      with a bounded force (a robust upper side), while a run *below* the frontier is penalised
      quadratically: runs are worse than the law, never better;
    * the skew-normal (the half-normal excess) would tie the excess's shape to ``sigma`` through
      one skewness parameter whose posterior is notoriously flat near symmetry; here ``sigma``
      and ``excess`` are two scales with separate priors, and ``excess -> 0`` is the normal model.

    ``tuned`` (default 0) is the probability that a run has no excess at all (a point mass at 0
    mixed with the exponential: a zero-inflated excess), for ladders where some runs are tuned and
    others are not; the density is then ``tuned Normal(loc, sigma) + (1 - tuned) ex-Gaussian``.
    Without it, a ladder of half tuned, half mistuned runs puts the frontier ~2% *below* the
    tuned runs (an ex-Gaussian explains exactly-tuned runs only as lucky draws of its noise).
    """

    arg_constraints = {
        "loc": dist.constraints.real,
        "sigma": dist.constraints.positive,
        "excess": dist.constraints.positive,
        "tuned": dist.constraints.unit_interval,
    }
    support = dist.constraints.real
    reparametrized_params = ["loc", "sigma", "excess"]

    def __init__(self, loc, sigma, excess, tuned=0.0, *, validate_args=None):
        self.loc, self.sigma, self.excess, self.tuned = dist.util.promote_shapes(loc, sigma, excess, tuned)
        batch_shape = jnp.broadcast_shapes(jnp.shape(loc), jnp.shape(sigma), jnp.shape(excess), jnp.shape(tuned))
        super().__init__(batch_shape=batch_shape, validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        shape = sample_shape + self.batch_shape
        key_normal, key_excess, key_tuned = jax.random.split(key, 3)
        normal = jax.random.normal(key_normal, shape)
        excess = jax.random.exponential(key_excess, shape) * (jax.random.uniform(key_tuned, shape) >= self.tuned)
        return self.loc + self.sigma * normal + self.excess * excess

    def log_prob(self, value):
        untuned = self._untuned_log_prob(value)
        normal = dist.Normal(self.loc, self.sigma).log_prob(value)
        return jnp.logaddexp(jnp.log(self.tuned) + normal, jnp.log1p(-self.tuned) + untuned)

    def _untuned_log_prob(self, value):
        r = value - self.loc
        a = self.sigma / self.excess
        z = r / self.sigma - a
        # z < 0: -r^2/(2 sigma^2) + log Phi(z) + z^2/2 (no overflow); z >= 0: sigma^2/(2 b^2) - r/b
        # = -a (z + a/2), a product of two non-negative terms (no cancellation). Each branch gets
        # a clipped z, so the branch not taken has finite gradients.
        z_neg, z_pos = jnp.minimum(z, 0.0), jnp.maximum(z, 0.0)
        r_neg = jnp.where(z < 0, r / self.sigma, 0.0)
        below = -0.5 * r_neg**2 + _log_ndtr_plus_half_square(z_neg)
        above = -a * (z_pos + 0.5 * a) + log_ndtr(z_pos)
        return -jnp.log(self.excess) + jnp.where(z < 0, below, above)

    @property
    def mean(self):
        return jnp.broadcast_to(self.loc + (1 - self.tuned) * self.excess, self.batch_shape)

    @property
    def variance(self):
        untuned = 1 - self.tuned
        return jnp.broadcast_to(self.sigma**2 + untuned * (1 + self.tuned) * self.excess**2, self.batch_shape)


@dataclass(frozen=True)
class Likelihood:
    """A named observation model with its noise parameters and default priors.

    Parameters
    ----------
    name : str
        ``"student_t"``, ``"normal"``, ``"beta"``, ``"binomial"``, ``"beta_binomial"`` or ``"frontier"``.
    noise_priors : mapping of str to Distribution
        Priors of the noise parameters (``sigma``, ``nu``, ``kappa``, ``excess``, ``tuned``).
    support : {"positive", "unit_interval"}
        Values ``y`` may take.
    counts : bool
        Whether ``y`` is a proportion of ``trials`` (a count likelihood): each run needs its number
        of trials (questions), and ``y`` may be exactly 0 or 1.
    """

    name: str
    noise_priors: Mapping[str, dist.Distribution] = field(default_factory=dict)
    support: str = "positive"
    counts: bool = False

    @property
    def noise_names(self) -> tuple[str, ...]:
        """Names of the noise parameters."""
        return tuple(self.noise_priors)

    @property
    def log_space(self) -> bool:
        """True when the law's curve is compared to ``log y``."""
        return self.support == "positive"

    def distribution(self, location: jnp.ndarray, noise: Mapping[str, jnp.ndarray], trials=None) -> dist.Distribution:
        """The distribution of ``y`` given the curve (``log mu`` or ``mu``) and noise values;
        ``trials`` (one per row) for the count likelihoods."""
        if self.counts:
            if trials is None:
                raise ValueError(f"likelihood={self.name!r} needs the number of trials of each run (trials=)")
            mu = jnp.clip(location, 1e-6, 1 - 1e-6)
            if self.name == "binomial":
                return CountProportion(dist.Binomial(total_count=trials, probs=mu), trials)
            return CountProportion(
                dist.BetaBinomial(mu * noise["kappa"], (1 - mu) * noise["kappa"], total_count=trials), trials
            )
        if self.name == "student_t":
            base = dist.StudentT(noise["nu"], location, noise["sigma"])
            return dist.TransformedDistribution(base, ExpTransform())
        if self.name == "normal":
            return dist.LogNormal(location, noise["sigma"])
        if self.name == "beta":
            mu = jnp.clip(location, 1e-6, 1 - 1e-6)
            return Beta(mu * noise["kappa"], (1 - mu) * noise["kappa"])
        if self.name == "frontier":
            base = ExpModifiedNormal(location, noise["sigma"], noise["excess"], noise["tuned"])
            return dist.TransformedDistribution(base, ExpTransform())
        raise ValueError(f"unknown likelihood {self.name!r}")

    def sample(
        self,
        rng: np.random.Generator,
        location: np.ndarray,
        noise: Mapping[str, np.ndarray],
        *,
        new_run: str = "tuned",
        trials: np.ndarray | None = None,
    ) -> np.ndarray:
        """Draws of ``y`` (natural scale), one per entry of ``location`` (``(draws, rows)``).

        The same distributions as :meth:`distribution`, sampled with NumPy: JAX's Student-t
        sampler draws gammas by rejection in a loop and took ~1.8 s for 4,000 x 245 draws on
        the CPU, NumPy 0.03 s. ``noise`` holds one value per draw (shape ``(draws,)``) or one per draw
        and row (the shape of ``location``, e.g. a metric's noise per task).

        ``new_run`` matters for ``frontier`` only: ``"tuned"`` (default) draws a run on the
        frontier (the law plus the normal noise, no excess), the run one would train for a
        prediction; ``"any"`` draws from the whole distribution (excess included), a run as
        tuned as the fitted ones (replicated data for posterior predictive checks).

        ``trials`` (one per row of ``location``'s last axis) is needed by the count likelihoods:
        a new run's accuracy on a benchmark of that many questions.
        """
        if new_run not in NEW_RUNS:
            raise ValueError(f"new_run={new_run!r} must be 'tuned' (a run on the frontier) or 'any' (excess included)")
        location = np.asarray(location, dtype=np.float64)
        values = {k: np.asarray(v, dtype=np.float64) for k, v in noise.items()}
        per_draw = {k: v if v.ndim == location.ndim else v.reshape((-1,) + (1,) * (location.ndim - 1))
                    for k, v in values.items()}  # fmt: skip
        if self.counts:
            if trials is None:
                raise ValueError(f"likelihood={self.name!r} needs the number of trials of each row (trials=)")
            n = np.broadcast_to(np.asarray(trials, dtype=np.int64), location.shape)
            p = np.clip(location, 1e-6, 1 - 1e-6)
            if self.name == "beta_binomial":
                p = rng.beta(p * per_draw["kappa"], (1 - p) * per_draw["kappa"])
            return rng.binomial(n, p) / n
        if self.name == "student_t":
            shape = np.broadcast_shapes(location.shape, per_draw["nu"].shape)
            log_y = location + per_draw["sigma"] * rng.standard_t(np.broadcast_to(per_draw["nu"], shape))
            # with nu near 1 a rare draw lies beyond the float range of y: it is inf, quietly
            # (quantile intervals ignore it; a RuntimeWarning on each PPC would only alarm)
            with np.errstate(over="ignore"):
                return np.exp(log_y)
        if self.name == "normal":
            return np.exp(location + per_draw["sigma"] * rng.standard_normal(location.shape))
        if self.name == "beta":
            mu = np.clip(location, 1e-6, 1 - 1e-6)
            return rng.beta(mu * per_draw["kappa"], (1 - mu) * per_draw["kappa"])
        if self.name == "frontier":
            log_y = location + per_draw["sigma"] * rng.standard_normal(location.shape)
            if new_run == "any":
                untuned = rng.random(location.shape) >= per_draw["tuned"]
                log_y = log_y + untuned * per_draw["excess"] * rng.standard_exponential(location.shape)
            return np.exp(log_y)
        raise ValueError(f"unknown likelihood {self.name!r}")

    def check_support(self, y: np.ndarray) -> int | None:
        """Position of the first ``y`` outside the support, or None when all are inside."""
        if self.counts:
            bad = ~((y >= 0) & (y <= 1))
        else:
            bad = ~(y > 0) if self.support == "positive" else ~((y > 0) & (y < 1))
        positions = np.flatnonzero(bad)
        return int(positions[0]) if positions.size else None

    @property
    def support_text(self) -> str:
        """The support in words, for error messages."""
        if self.counts:
            return "0 <= y <= 1, a proportion of the trials"
        return "y > 0" if self.support == "positive" else "0 < y < 1"


#: What a "new run" drawn by :meth:`Likelihood.sample` means (``frontier`` only; see there).
NEW_RUNS = ("tuned", "any")

LIKELIHOODS: dict[str, Likelihood] = {
    "student_t": Likelihood(
        "student_t",
        {
            # Relative scatter of a few percent around a scaling curve is typical of final losses.
            "sigma": dist.HalfNormal(0.1),
            # Juarez & Steel (2010) prior on the degrees of freedom (mode 10, mass on heavy tails),
            # kept above 1 as brms does: below 1 the density is unbounded where the curve passes
            # through a few runs with sigma -> 0, and a chain that wanders there stays (on 3 of 40
            # curves of benchmarks/fit_many.py one chain in four sat at nu ~ 0.06, sigma ~ 0).
            "nu": shifted_gamma(2.0, 0.1, low=1.0),
        },
    ),
    "normal": Likelihood("normal", {"sigma": dist.HalfNormal(0.1)}),
    "beta": Likelihood("beta", {"kappa": dist.LogNormal(np.log(100.0), 1.5)}, support="unit_interval"),
    # Counts of correct answers: the binomial is sampling noise alone (which questions a model
    # happens to get right); the beta-binomial adds run-to-run scatter with the beta's kappa prior.
    "binomial": Likelihood("binomial", {}, support="unit_interval", counts=True),
    "beta_binomial": Likelihood(
        "beta_binomial", {"kappa": dist.LogNormal(np.log(100.0), 1.5)}, support="unit_interval", counts=True
    ),
    "frontier": Likelihood(
        "frontier",
        {
            # Noise of a tuned run around the frontier (seed to seed), as for the other losses.
            "sigma": dist.HalfNormal(0.1),
            # Mean excess log loss of the runs off the frontier: a run 10% worse is plausible,
            # 30% rare; excess -> 0 is the normal likelihood.
            "excess": dist.HalfNormal(0.1),
            # Fraction of runs exactly on the frontier (tuned); flat: grids range from a few
            # tuned runs among many to ladders of tuned runs with a few mistuned rungs.
            "tuned": dist.Beta(1.0, 1.0),
        },
    ),
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
            "(student_t for losses, frontier for ladders with under-tuned runs, beta for metrics in (0, 1), "
            "binomial or beta_binomial for accuracies with their number of questions, trials=)"
        ) from None
