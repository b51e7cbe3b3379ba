"""Prior medians on the host, and the starting values the sampler takes from them."""

from __future__ import annotations

import numpy as np
import numpyro.distributions as dist
import pytest
from scipy import stats

import bayescale as bs
from bayescale.hierarchy import build_spec, resolve_priors
from bayescale.likelihoods import Beta, get_likelihood, shifted_gamma
from bayescale.prior_medians import is_loop_sampled, loop_sampled_starts, prior_median
from bayescale.sampler import starting_values


@pytest.mark.parametrize(
    ("prior", "median"),
    [
        (dist.LogNormal(0.3, 1.5), stats.lognorm(1.5, scale=1.3498588075760032).median()),
        (dist.Normal(-0.2, 2.0), -0.2),
        (dist.HalfNormal(0.7), stats.halfnorm(scale=0.7).median()),
        (dist.Exponential(3.0), stats.expon(scale=1 / 3).median()),
        (dist.Uniform(0.1, 0.9), 0.5),
        (dist.Gamma(2.0, 0.5), stats.gamma(2.0, scale=2.0).median()),
        (shifted_gamma(2.0, 0.1, low=1.0), 1.0 + stats.gamma(2.0, scale=10.0).median()),
        (dist.Beta(4.0, 2.0), stats.beta(4.0, 2.0).median()),
        (Beta(1.0, 4.0), stats.beta(1.0, 4.0).median()),  # the likelihoods' subclass
        (dist.StudentT(3.0, 0.4, 2.0), 0.4),
        (dist.InverseGamma(3.0, 2.0), stats.invgamma(3.0, scale=2.0).median()),
    ],
)
def test_a_prior_s_median_is_its_quantile(prior, median):
    assert prior_median(prior) == pytest.approx(median, rel=1e-5)


def test_only_priors_drawn_by_a_rejection_loop_count_as_loop_sampled():
    assert is_loop_sampled(shifted_gamma(2.0, 0.1, low=1.0))
    assert is_loop_sampled(dist.Beta(1.0, 1.0)) and is_loop_sampled(dist.Gamma(2.0, 1.0))
    assert not is_loop_sampled(dist.LogNormal(0.0, 1.0)) and not is_loop_sampled(dist.HalfNormal(0.1))


def _spec(likelihood: str, law: str = "power"):
    law_ = bs.laws.get(law)
    likelihood_ = get_likelihood(likelihood)
    return build_spec(law_, likelihood_, {}, {}, resolve_priors(law_, likelihood_, {}, None))


def test_the_student_t_s_degrees_of_freedom_start_at_their_prior_median():
    """nu's prior (1 + Gamma(2, 0.1)) starts at its median computed on the host, so the compiled
    sampler holds no gamma sampler; the normal likelihood has no such site."""
    starts = starting_values(_spec("student_t"))
    assert starts["nu"] == pytest.approx(1.0 + stats.gamma(2.0, scale=10.0).median(), rel=1e-5)
    assert "E_plus_A_c" in starts  # the floor pair's starting values stay
    assert loop_sampled_starts(_spec("normal")) == {}
    assert set(loop_sampled_starts(_spec("frontier"))) == {"tuned"}


def test_a_user_prior_drawn_by_a_loop_starts_at_its_median():
    law = bs.laws.get("power")
    likelihood = get_likelihood("normal")
    priors = resolve_priors(law, likelihood, {}, {"alpha": dist.Gamma(4.0, 10.0)})
    starts = loop_sampled_starts(build_spec(law, likelihood, {}, {}, priors))
    assert starts == {"alpha": pytest.approx(stats.gamma(4.0, scale=0.1).median(), rel=1e-5)}


def test_a_pivoted_parameter_with_a_natural_scale_prior_starts_at_its_median_moved_to_the_centre():
    """kaplan_steps' N_c (prior median 8.8e13, pivot (N, 1)) and chinchilla's A (pivot (N, alpha)):
    the parts of the start of the flat site p_c, completed by each curve's centre in the program."""
    import jax.numpy as jnp

    from bayescale.prior_medians import pivot_start_parts
    from bayescale.sampler import _with_pivot_starts

    kaplan = _spec("student_t", "kaplan_steps")
    parts = pivot_start_parts(kaplan)
    assert parts["N_c_c:log_median"] == pytest.approx(np.log(8.8e13)) and parts["N_c_c:exponent"] == 1.0
    centres = {"N": jnp.log(3e8), "S": jnp.log(1e4), "B": jnp.log(5e5)}
    starts = _with_pivot_starts(kaplan, parts, centres)
    assert float(starts["N_c_c"]) == pytest.approx(8.8e13 / 3e8, rel=1e-4)  # N_c = N_c_c * centre
    assert float(starts["S_c_c"]) == pytest.approx(2.1e3 / 1e4, rel=1e-4)
    chinchilla = pivot_start_parts(_spec("student_t", "chinchilla"))
    assert chinchilla["A_c:exponent"] == pytest.approx(0.34, rel=1e-5)  # alpha's prior median
    assert pivot_start_parts(_spec("student_t", "power")) == {}  # power's A has its prior at the centre
