"""The ``frontier`` likelihood: runs lie on or above the law (under-tuned runs are worse, never better)."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayescale as bs
from bayescale.likelihoods import LIKELIHOODS, ExpModifiedNormal

TRUTH = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
SETTINGS = {"chains": 2, "draws": 300, "warmup": 300, "seed": 1, "progress": False}
INPUTS = {"N": "N", "D": "D"}
CHECK = pd.DataFrame({"N": [1e8, 1e10], "D": [4e9, 2e11]})  # inside the ladder, and 10x beyond it


def truth(N, D):
    return TRUTH["E"] + TRUTH["A"] / np.asarray(N) ** TRUTH["alpha"] + TRUTH["B"] / np.asarray(D) ** TRUTH["beta"]


def ladder(seed: int = 0, mistuned: float = 0.5, mean_excess: float = 0.06, sigma: float = 0.01) -> pd.DataFrame:
    """36 (N, D) rungs, two runs each; a fraction ``mistuned`` of the runs gets an exponential excess."""
    rng = np.random.default_rng(seed)
    N = np.repeat(np.repeat(np.geomspace(2e7, 1e9, 6), 6), 2)
    D = np.repeat(np.tile(np.geomspace(4e8, 4e10, 6), 6), 2)
    excess = np.where(rng.random(N.size) < mistuned, rng.exponential(mean_excess, N.size), 0.0)
    log_y = np.log(truth(N, D)) + sigma * rng.standard_normal(N.size) + excess
    return pd.DataFrame({"N": N, "D": D, "loss": np.exp(log_y)})


def _fit(data, likelihood):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        return bs.fit(data, law="chinchilla", y="loss", inputs=INPUTS, likelihood=likelihood, **SETTINGS)


@pytest.fixture(scope="module")
def mistuned():
    return ladder()


@pytest.fixture(scope="module")
def frontier_fit(mistuned):
    return _fit(mistuned, "frontier")


def test_log_density_is_the_ex_gaussian_on_log_y():
    # closed form against SciPy's exponnorm (K = excess / sigma), from excess << sigma to excess >> sigma,
    # runs far below and far above the frontier included (float32: relative error ~1e-6)
    for sigma, excess in [(0.01, 0.02), (0.02, 0.001), (0.05, 1e-6), (0.001, 0.1), (0.066, 0.076)]:
        x = np.linspace(-1.5, 0.5, 2001)
        ours = np.asarray(ExpModifiedNormal(0.0, sigma, excess).log_prob(jnp.asarray(x, jnp.float32)))
        expected = stats.exponnorm(K=excess / sigma, scale=sigma).logpdf(x)
        np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-4)
    # on y: the Jacobian 1/y, as for the other log-space likelihoods
    y = np.array([1.9, 2.0, 2.3])
    noise = {"sigma": jnp.asarray(0.02), "excess": jnp.asarray(0.05), "tuned": jnp.asarray(0.3)}
    density = LIKELIHOODS["frontier"].distribution(jnp.log(2.0), noise)
    mixture = 0.3 * stats.norm(np.log(2.0), 0.02).pdf(np.log(y)) + 0.7 * stats.exponnorm(
        K=2.5, loc=np.log(2.0), scale=0.02
    ).pdf(np.log(y))
    np.testing.assert_allclose(np.asarray(density.log_prob(y)), np.log(mixture) - np.log(y), rtol=1e-5)


def test_new_runs_are_tuned_by_default_and_any_adds_the_excess():
    rng = np.random.default_rng(0)
    location = np.zeros((20000, 1))
    noise = {"sigma": np.full(20000, 0.01), "excess": np.full(20000, 0.05), "tuned": np.zeros(20000)}
    tuned = np.log(LIKELIHOODS["frontier"].sample(rng, location, noise))
    whole = np.log(LIKELIHOODS["frontier"].sample(rng, location, noise, new_run="any"))
    assert abs(tuned.mean()) < 0.001 and tuned.std() == pytest.approx(0.01, rel=0.03)
    assert whole.mean() == pytest.approx(0.05, abs=0.002)  # E[excess]
    assert stats.kstest(whole[:, 0], stats.exponnorm(K=5.0, scale=0.01).cdf).pvalue > 0.01
    half = np.log(LIKELIHOODS["frontier"].sample(rng, location, {**noise, "tuned": np.full(20000, 0.5)}, new_run="any"))
    assert half.mean() == pytest.approx(0.025, abs=0.002)  # half the runs have no excess
    with pytest.raises(ValueError, match="new_run"):
        LIKELIHOODS["frontier"].sample(rng, location, noise, new_run="best")


@pytest.mark.long
def test_frontier_recovers_the_law_where_student_t_is_biased_up(frontier_fit, mistuned):
    # half the runs of every rung are mistuned (exponential excess, mean 6% in log loss)
    summary = frontier_fit.summary(level=0.9)
    for name in ("E", "alpha", "beta"):
        assert summary.loc[name, "hdi_5%"] <= TRUTH[name] <= summary.loc[name, "hdi_95%"], name
    assert frontier_fit.diagnostics["max_rhat"] < 1.1
    true_curve = truth(CHECK["N"], CHECK["D"])
    ours = frontier_fit.predict(CHECK, law_error=False)
    student = _fit(mistuned, "student_t").predict(CHECK, law_error=False)
    bias_ours = ours["median"].to_numpy() / true_curve - 1
    bias_student = student["median"].to_numpy() / true_curve - 1
    assert np.all(np.abs(bias_ours) < 0.01), bias_ours  # measured: -0.3% inside, +0.1% 10x out
    # Student-t sits between the tuned runs and the mistuned ones: measured +0.8% inside, +4.6% 10x out
    assert np.all(bias_student > bias_ours + 0.005) and bias_student[1] > 0.025, bias_student
    assert (ours["lower"] <= true_curve).all() and (true_curve <= ours["upper"]).all()


@pytest.mark.long
def test_without_excess_frontier_agrees_with_normal():
    clean = ladder(seed=3, mistuned=0.0)
    ours, normal = _fit(clean, "frontier"), _fit(clean, "normal")
    a, b = ours.predict(CHECK, law_error=False), normal.predict(CHECK, law_error=False)
    np.testing.assert_allclose(a["median"], b["median"], rtol=0.01)
    untuned_excess = (1 - ours.draws("tuned")) * ours.draws("excess")
    assert untuned_excess.mean() < 0.01  # the mean excess shrinks towards 0 (prior mean 0.04)
    for name in ("E", "alpha", "beta"):
        assert abs(ours.draws(name).mean() - normal.draws(name).mean()) < normal.draws(name).std(), name


@pytest.mark.long
def test_predict_save_load_loo_and_law_error_work(frontier_fit, tmp_path):
    tuned = frontier_fit.predict(CHECK, seed=2)
    whole = frontier_fit.predict(CHECK, seed=2, new_run="any")
    np.testing.assert_allclose(tuned["median"], whole["median"])  # the curve is the frontier either way
    assert (whole["pred_upper"] > tuned["pred_upper"]).all()  # an untuned run may land well above it
    # law error beyond the ladder widens the curve's interval 10x out, not inside
    plain = frontier_fit.predict(CHECK, seed=2, law_error=False)
    width, plain_width = tuned["upper"] - tuned["lower"], plain["upper"] - plain["lower"]
    assert width[1] > plain_width[1] and width[0] == pytest.approx(plain_width[0])
    # the pointwise log-likelihood is finite, and LOO ranks the frontier above the normal on this ladder
    assert np.isfinite(frontier_fit.idata.log_likelihood["loss"].values).all()
    normal = _fit(frontier_fit.data, "normal")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = bs.compare({"frontier": frontier_fit, "normal": normal}, ic="loo")
    assert table.index[0] == "frontier"
    # replicated data follow the whole model (excess included), so on average they match the observed runs
    replicated = np.log(frontier_fit.idata.posterior_predictive["loss"].values).mean()
    assert replicated == pytest.approx(np.log(frontier_fit.data["loss"]).mean(), abs=0.005)
    path = frontier_fit.save(tmp_path / "frontier.nc")
    again = bs.load(path)
    assert again.spec.likelihood.name == "frontier"
    pd.testing.assert_frame_equal(again.predict(CHECK, seed=2), tuned)
