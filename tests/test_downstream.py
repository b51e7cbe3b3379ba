"""The joint loss-to-metric model: recovery on synthetic data, errors, and the Gadre et al. split."""

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.downstream import (
    LINKS,
    compare_downstream,
    fit_downstream,
    gadre_point_fit,
)

E, A, ALPHA = 2.0, 30.0, 0.3
CHANCE, H, K, SHIFT = 0.25, 0.9, 1.5, 0.2


def _truth(x):
    loss = E + A * x**-ALPHA
    lc = np.exp(np.mean(np.log(E + A * np.geomspace(1e3, 1e6, 16) ** -ALPHA)))
    acc = np.asarray(LINKS["sigmoid"].function(loss, CHANCE, lc, h=H, k=K, L0_shift=SHIFT))
    return loss, acc


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(0)
    x = np.repeat(np.geomspace(1e3, 1e6, 16), 2)
    loss, acc = _truth(x)
    df = pd.DataFrame({
        "x": x,
        "loss": loss * np.exp(0.005 * rng.standard_normal(x.size)),
        "accuracy": rng.beta(acc * 1000, (1 - acc) * 1000),
        "chance": CHANCE,
    })
    fit = fit_downstream(df, law="power", loss="loss", metric="accuracy", link="sigmoid", chance="chance",
                         chains=2, draws=300, warmup=300, seed=0)
    return df, fit


def test_joint_fit_predicts_unseen_scale(synthetic):
    df, fit = synthetic
    new = pd.DataFrame({"x": [3e6, 1e7], "chance": CHANCE})
    pred = fit.predict(new)
    loss, acc = _truth(new["x"].to_numpy())
    # A new run's interval covers the truth, and the curve's median is within two accuracy points of it
    # (with this seed the six largest runs lie 0.010 above the true curve on average; the fit follows them).
    assert np.all((pred["pred_lower"] < acc) & (acc < pred["pred_upper"])), (pred, acc)
    assert np.all(np.abs(pred["median"] - acc) < 0.02), (pred, acc)
    assert np.all((pred["loss_lower"] < loss) & (loss < pred["loss_upper"]))
    assert np.all(pred["pred_lower"] <= pred["lower"]) and np.all(pred["pred_upper"] >= pred["upper"])
    assert {"E", "alpha", "link_k", "kappa"} <= set(fit.summary().index)
    # log-likelihood of the metric, one per row, for LOO
    assert fit.idata.log_likelihood["y"].shape[-1] == len(df)
    ax = fit.plot()
    assert ax.get_xlabel().startswith("loss")


def test_direct_alternative_and_comparison(synthetic):
    df, fit = synthetic
    direct = fit_downstream(df, law="power", loss=None, metric="accuracy", link="sigmoid", chance="chance",
                            approach="direct", chains=2, draws=300, warmup=300, seed=0)
    table = compare_downstream({"joint": fit, "direct": direct})
    assert set(table.index) == {"joint", "direct"}
    pred = direct.predict(pd.DataFrame({"x": [1e7], "chance": CHANCE}))
    assert 0 < pred["median"].iloc[0] < 1 and "loss_median" in pred
    assert direct.plot(x="x").get_xscale() == "log"


def test_errors_name_the_fix():
    df = pd.DataFrame({"x": [1e3, 1e4, 1e5, 1e6], "loss": [3.0, 2.8, 2.6, 2.5], "accuracy": [0.3, 0.4, 1.0, 0.6]})
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        fit_downstream(df, law="power", link="sigmoid")
    df["accuracy"] = [0.3, 0.4, 0.5, 0.6]
    with pytest.raises(ValueError, match="link="):
        fit_downstream(df, law="power", link="probit")
    with pytest.raises(ValueError, match="chance="):
        fit_downstream(df, law="power", chance="baseline")
    with pytest.raises(ValueError, match="approach="):
        fit_downstream(df, law="power", approach="two_step")
    with pytest.raises(ValueError, match="loss="):
        fit_downstream(df.drop(columns="loss"), law="power")


GADRE_17 = [  # Gadre et al. 2024's 17-task subset (scaling/constants.py SUBSET in mlfoundations/scaling)
    "bigbench_operators", "pubmed_qa_labeled", "hellaswag_zeroshot", "boolq", "arc_easy", "coqa",
    "bigbench_dyck_languages", "lambada_openai", "bigbench_novel_concepts", "winograd", "bigbench_cs_algorithms",
    "commonsense_qa", "bigbench_qa_wikidata", "hellaswag", "copa", "squad", "piqa",
]


def gadre_runs() -> pd.DataFrame:
    dd = bs.datasets.load("overtraining_downstream")
    sub = dd[dd["task"].isin(GADRE_17)]
    return sub.groupby("run").agg(
        N=("N", "first"), D=("D", "first"), loss=("loss", "first"), dataset=("dataset", "first"),
        error=("error", "mean"), chance=("chance", "mean"),
    ).reset_index()


@pytest.mark.slow
def test_gadre_split_coverage_and_error(shared_data_dir):
    runs = gadre_runs()
    train, test = runs[runs.N < 1e9], runs[runs.N > 1e9]
    fit = fit_downstream(train, law="chinchilla", metric="error", link="error_from_loss", chance=None,
                         hierarchy={"E": "dataset", "A": "dataset", "B": "dataset"},
                         chains=4, draws=500, warmup=500, seed=0)
    pred = fit.predict(test)
    err = np.abs(pred["median"].to_numpy() - test["error"].to_numpy())
    inside = (test["error"].to_numpy() >= pred["pred_lower"]) & (test["error"].to_numpy() <= pred["pred_upper"])
    baseline = []
    for name, rows in train.groupby("dataset"):
        held = test[test.dataset == name]
        baseline += list(np.abs(gadre_point_fit(rows)(held) - held["error"].to_numpy()))
    assert err.mean() < 0.04 and np.mean(baseline) < 0.04
    assert inside.mean() >= 0.5


def test_stored_log_likelihood_is_the_beta_density_of_every_draw(synthetic):
    # numpyro's Beta.log_prob, evaluated for many draws at once, once returned about -200 per row
    # for a block of draws whose density was about +3 (see bayescale.likelihoods.Beta).
    from scipy import stats

    df, fit = synthetic
    _, mean, _ = fit.posterior_draws(df)
    kappa = fit.draws("kappa").reshape(-1, 1)
    expected = stats.beta.logpdf(df["accuracy"].to_numpy(), mean * kappa, (1 - mean) * kappa)
    stored = fit.idata.log_likelihood["y"].values.reshape(expected.shape)
    np.testing.assert_allclose(stored, expected, atol=0.05)
