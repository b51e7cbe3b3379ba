"""Observation models: densities on the natural scale of y, NumPy draws, and the Beta work-around."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from bayescale.likelihoods import LIKELIHOODS, Beta


def test_beta_log_density_is_right_for_a_large_batch():
    # numpyro 0.22's Beta.log_prob (via a Dirichlet), jit-compiled on the CPU for 400 x 95 values
    # like these, returned wrong values for 56 of the 400 rows; bayescale's Beta must not.
    rng = np.random.default_rng(1)
    mean = rng.uniform(0.55, 0.8, size=(400, 95)).astype(np.float32)
    kappa = rng.uniform(500, 1200, size=(400, 1)).astype(np.float32)
    y = rng.uniform(0.55, 0.8, size=95).astype(np.float32)
    a, b = mean * kappa, (1 - mean) * kappa
    ours = np.asarray(jax.jit(lambda a, b, y: Beta(a, b).log_prob(y))(a, b, y))
    expected = stats.beta.logpdf(y.astype(float), a.astype(float), b.astype(float))
    np.testing.assert_allclose(ours, expected, atol=0.02)


def test_numpy_draws_follow_each_likelihood():
    rng = np.random.default_rng(0)
    location = np.full((4000, 3), np.log(2.0))
    noise = {"sigma": np.full(4000, 0.1), "nu": np.full(4000, 5.0)}
    draws = LIKELIHOODS["student_t"].sample(rng, location, noise)
    # log y - log 2 is Student-t(5) scaled by 0.1: its quartiles are +-0.0727
    q = np.quantile(np.log(draws) - np.log(2.0), [0.25, 0.75])
    np.testing.assert_allclose(q, [-0.0727, 0.0727], atol=0.006)
    unit = LIKELIHOODS["beta"].sample(rng, np.full((4000, 2), 0.3), {"kappa": np.full(4000, 50.0)})
    assert np.all((unit > 0) & (unit < 1)) and abs(unit.mean() - 0.3) < 0.005


def test_log_density_matches_the_numpy_sampler():
    # The density (JAX) is that of the distribution the NumPy draws come from (log-normal here).
    likelihood = LIKELIHOODS["normal"]
    rng = np.random.default_rng(2)
    draws = likelihood.sample(rng, np.zeros((20000, 1)), {"sigma": np.full(20000, 0.2)})[:, 0]
    log_density = np.asarray(likelihood.distribution(jnp.zeros(()), {"sigma": jnp.asarray(0.2)}).log_prob(draws))
    expected = stats.lognorm(s=0.2).logpdf(draws)
    np.testing.assert_allclose(log_density, expected, rtol=1e-4, atol=1e-4)
