"""Count likelihoods: accuracies as proportions of a known number of questions (issue 14, part 4)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayescale as bs
from bayescale.likelihoods import get_likelihood

TRUTH = {"floor": 0.25, "h": 0.8, "k": 5.0, "L0_shift": -0.5}
FAST = {"chains": 2, "draws": 300, "warmup": 300, "seed": 0, "progress": False}
LAW = bs.laws.get("sigmoid_from_loss")


def _runs(seed: int, *, scatter: float = 0.0, n_runs: int = 40) -> pd.DataFrame:
    """Accuracies k / n of runs on benchmarks of 100, 300 or 1,000 questions; ``scatter`` adds
    run-to-run spread of the true accuracy on the logit scale (overdispersion)."""
    rng = np.random.default_rng(seed)
    loss = np.linspace(1.5, 4.0, n_runs)
    questions = rng.choice([100, 300, 1000], size=n_runs)
    p = np.asarray(LAW.evaluate(L=loss, **TRUTH), dtype=float)
    if scatter:
        p = 1 / (1 + np.exp(-(np.log(p / (1 - p)) + scatter * rng.standard_normal(n_runs))))
    return pd.DataFrame({"L": loss, "acc": rng.binomial(questions, p) / questions, "n_q": questions})


@pytest.mark.parametrize("name", ["binomial", "beta_binomial"])
def test_count_densities_are_the_pmf_of_the_count(name):
    likelihood = get_likelihood(name)
    n = np.array([10.0, 300.0, 300.0])
    y = np.array([0.0, 0.5, 1.0])  # zeros and ones are counts too
    mu, kappa = np.array([0.3, 0.45, 0.9]), 20.0
    density = likelihood.distribution(mu, {"kappa": kappa}, n)
    k = y * n
    expected = (stats.binom.logpmf(k, n, mu) if name == "binomial"
                else stats.betabinom.logpmf(k, n, mu * kappa, (1 - mu) * kappa))  # fmt: skip
    np.testing.assert_allclose(np.asarray(density.log_prob(y)), expected, rtol=2e-4)
    draws = likelihood.sample(np.random.default_rng(0), np.tile(mu, (4000, 1)), {"kappa": np.full(4000, kappa)},
                              trials=n)  # fmt: skip
    np.testing.assert_allclose(draws * n, np.round(draws * n), atol=1e-9)  # proportions of whole counts
    np.testing.assert_allclose(draws.mean(axis=0), mu, atol=0.02)
    sd = np.sqrt(mu * (1 - mu) / n) * (1 if name == "binomial" else np.sqrt(1 + (n - 1) / (kappa + 1)))
    np.testing.assert_allclose(draws.std(axis=0), sd, rtol=0.1)


@pytest.fixture(scope="module")
def binomial_fit():
    runs = _runs(0)
    runs.loc[0, ["acc", "n_q"]] = [1.0, 5]  # 5 of 5 at accuracy ~0.85: a perfect score is data, not an error
    return runs, bs.fit(runs, law=LAW, y="acc", likelihood="binomial", trials="n_q", **FAST)


@pytest.mark.long
def test_binomial_fit_recovers_the_law_and_predicts_a_run_of_n_questions(binomial_fit, tmp_path):
    runs, fit = binomial_fit
    summary = fit.summary(level=0.98)
    for name, true in TRUTH.items():
        assert summary.loc[name, "hdi_1%"] <= true <= summary.loc[name, "hdi_99%"], (name, summary.loc[name])
    assert fit.data["acc"].max() == 1.0 and fit.data["n_q"].tolist() == runs["n_q"].tolist()
    assert list(fit.idata.observed_data.data_vars) == ["acc"]
    # a new run's interval is the curve's plus binomial noise of its own number of questions
    new = pd.DataFrame({"L": [2.0, 2.0], "n_q": [100, 10000]})
    table = fit.predict(new, law_error=False)
    mu = float(table["median"].iloc[0])
    width = (table["pred_upper"] - table["pred_lower"]).to_numpy()
    assert width[0] == pytest.approx(2 * 1.645 * np.sqrt(mu * (1 - mu) / 100), rel=0.25)
    assert width[1] < width[0] / 3
    # the fitted runs have 5 to 1,000 questions: a new run must say how many it has
    with pytest.raises(ValueError, match="add a 'n_q' column"):
        fit.predict(new[["L"]])
    path = fit.save(tmp_path / "counts.nc")
    again = bs.load(path)
    pd.testing.assert_frame_equal(again.predict(new, seed=3), fit.predict(new, seed=3))
    assert again.meta["trials"] == "n_q" and again.data["n_q"].tolist() == runs["n_q"].tolist()


@pytest.mark.long
def test_beta_binomial_covers_runs_that_scatter_beyond_the_binomial():
    train, held_out = _runs(1, scatter=0.3), _runs(2, scatter=0.3)
    fits = {name: bs.fit(train, law=LAW, y="acc", likelihood=name, trials="n_q", **FAST)
            for name in ("binomial", "beta_binomial")}  # fmt: skip
    coverage = {}
    for name, fit in fits.items():
        table = fit.predict(held_out, law_error=False)
        inside = (table["pred_lower"] <= held_out["acc"]) & (held_out["acc"] <= table["pred_upper"])
        coverage[name] = float(inside.mean())
    assert coverage["beta_binomial"] >= 0.8 and coverage["binomial"] < 0.7, coverage
    with warnings.catch_warnings():  # a few runs far off the binomial's curve are influential (Pareto k)
        warnings.simplefilter("ignore", bs.LOOWarning)
        table = bs.compare(fits, ic="loo")
    assert table.index[0] == "beta_binomial"


def test_count_likelihoods_say_what_they_need():
    runs = _runs(0, n_runs=12)
    with pytest.raises(ValueError, match="needs the number of questions behind each accuracy"):
        bs.fit(runs, law=LAW, y="acc", likelihood="binomial", **FAST)
    with pytest.raises(ValueError, match="trials='n_q' is for the count likelihoods"):
        bs.fit(runs, law=LAW, y="acc", likelihood="beta", trials="n_q", **FAST)
    with pytest.raises(ValueError, match="not a whole number of questions"):
        bs.fit(runs.assign(n_q=runs["n_q"] + 0.5), law=LAW, y="acc", likelihood="binomial", trials="n_q", **FAST)
    with pytest.raises(ValueError, match="trials='questions' is not a column"):
        bs.fit(runs, law=LAW, y="acc", likelihood="binomial", trials="questions", **FAST)
    # the beta's error for a perfect score now points to something real
    with pytest.raises(ValueError, match="likelihood='binomial'.*trials="):
        bs.fit(runs.assign(acc=1.0), law=LAW, y="acc", likelihood="beta", **FAST)
    with pytest.raises(ValueError, match="fit_many does not take the count likelihood"):
        bs.fit_many(runs.assign(task="a"), LAW, by="task", y="acc", likelihood="binomial")
