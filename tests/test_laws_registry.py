"""The law registry and user-defined laws."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest
from conftest import FAST

import bayescale as bs


def test_builtin_laws_are_listed_with_metadata():
    table = bs.laws.list()
    assert {"power", "chinchilla", "kaplan", "broken_power"} <= set(table["name"])
    for name in ("power", "chinchilla", "kaplan", "broken_power"):
        law = bs.laws.get(name)
        assert law.formula and law.reference and law.lower_is_better
        assert all(p.source for p in law.params), name
    assert "alpha ~ LogNormal" in bs.laws.get("chinchilla").describe()


def test_log_mean_agrees_with_mean():
    for name in ("power", "chinchilla", "kaplan", "broken_power"):
        law = bs.laws.get(name)
        values = {p.name: float(p.prior.mean) if p.prior.support is not dist.constraints.real else 0.2 for p in law.params}
        inputs = {x: jnp.geomspace(1e7, 1e11, 5) for x in law.inputs}
        np.testing.assert_allclose(law.evaluate_log(**inputs, **values), jnp.log(law.evaluate(**inputs, **values)), rtol=1e-5)


def test_unknown_law_lists_registered_names():
    with pytest.raises(KeyError, match=r"law='chinchila' is not registered; registered laws: \[.*'chinchilla'"):
        bs.laws.get("chinchila")


@pytest.mark.long
def test_a_custom_law_in_a_few_lines_fits_and_recovers():
    @bs.law("test_saturating", inputs=["steps"], params={
        "L_inf": dist.LogNormal(0.0, 1.0), "k": dist.LogNormal(0.0, 1.0), "rate": dist.LogNormal(-1.0, 1.0),
    }, overwrite=True)
    def saturating(steps, L_inf, k, rate):
        return L_inf + k * steps**-rate

    assert bs.laws.get("test_saturating") is saturating
    steps = np.geomspace(10, 1e5, 40)
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"steps": steps, "loss": (2.0 + 5.0 * steps**-0.4) * np.exp(0.01 * rng.standard_normal(40))})
    fit = bs.fit(df, law="test_saturating", **FAST)
    summary = fit.summary(level=0.95)
    for name, truth in {"L_inf": 2.0, "k": 5.0, "rate": 0.4}.items():
        assert summary.loc[name, "hdi_2.5%"] <= truth <= summary.loc[name, "hdi_97.5%"], name


def test_custom_law_errors_name_the_problem():
    with pytest.raises(TypeError, match=r"does not accept \['b'\]"):
        bs.law("test_bad", inputs=["x"], params={"a": dist.Normal(), "b": dist.Normal()}, mean=lambda x, a: a * x)
    with pytest.raises(TypeError, match=r"params\['a'\] must be a numpyro distribution"):
        bs.law("test_bad", inputs=["x"], params={"a": 1.0}, mean=lambda x, a: a * x)
    with pytest.raises(ValueError, match="already registered"):
        bs.law("chinchilla", inputs=["x"], params={"a": dist.Normal()}, mean=lambda x, a: a * x)
    with pytest.raises(ValueError, match="both inputs and parameters"):
        bs.law("test_bad2", inputs=["a"], params={"a": dist.Normal()}, mean=lambda a: a)


@pytest.mark.long
def test_beta_likelihood_for_accuracies():
    bs.law("test_accuracy", inputs=["N"], params={
        "ceiling": dist.Beta(8.0, 2.0), "k": dist.LogNormal(3.0, 2.0), "rate": dist.LogNormal(-1.5, 0.7),
    }, mean=lambda N, ceiling, k, rate: ceiling / (1 + k * N**-rate), lower_is_better=False, overwrite=True)
    rng = np.random.default_rng(2)
    N = np.geomspace(1e6, 1e10, 40)
    mu = 0.85 / (1 + 30.0 * N**-0.2)
    df = pd.DataFrame({"N": N, "accuracy": rng.beta(mu * 400, (1 - mu) * 400)})
    fit = bs.fit(df, law="test_accuracy", y="accuracy", likelihood="beta", **FAST)
    table = fit.predict(pd.DataFrame({"N": [1e12]}))
    assert 0 < table["pred_lower"].iloc[0] <= table["pred_upper"].iloc[0] < 1
    assert fit.summary(level=0.95).loc["rate", "hdi_2.5%"] <= 0.2 <= fit.summary(level=0.95).loc["rate", "hdi_97.5%"]


def test_noise_parameter_names_are_reserved():
    with pytest.raises(ValueError, match=r"parameter names \['nu'\] are reserved for the likelihood's noise"):
        bs.law("test_reserved", inputs=["x"], params={"nu": dist.LogNormal()}, mean=lambda x, nu: x**-nu)


def test_prior_text_names_the_distribution_and_a_shift():
    import numpyro.distributions as dist

    from bayescale.laws.base import prior_text
    from bayescale.likelihoods import shifted_gamma

    assert prior_text(dist.LogNormal(-1.05, 0.3)) == "LogNormal(loc=-1.05, scale=0.3)"
    assert prior_text(shifted_gamma(2.0, 0.1, low=1.0)) == "1 + Gamma(concentration=2, rate=0.1)"
