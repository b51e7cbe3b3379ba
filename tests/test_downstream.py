"""The joint loss-to-metric model: recovery on synthetic data, errors, and the Gadre et al. split."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.baselines import gadre_point_fit
from bayescale.downstream import (
    LINKS,
    compare_downstream,
    fit_downstream,
)
from bayescale.results import Posterior

E, A, ALPHA = 2.0, 30.0, 0.3
CHANCE, H, K, SHIFT = 0.25, 0.9, 1.5, 0.2


def _truth(x):
    loss = E + A * x**-ALPHA
    lc = np.exp(np.mean(np.log(E + A * np.geomspace(1e3, 1e6, 16) ** -ALPHA)))
    acc = np.asarray(LINKS["sigmoid"].function(loss, CHANCE, lc, h=H, k=K, L0_shift=SHIFT))
    return loss, acc


# compiles a sampler no quick test shares: every test that uses it is marked long (pyproject.toml)
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


@pytest.mark.long
def test_joint_fit_predicts_unseen_scale(synthetic):
    df, fit = synthetic
    new = pd.DataFrame({"x": [3e6, 1e7], "chance": CHANCE})
    pred = fit.predict(new)
    # the distance beyond the fitted runs needs the inputs only (not the chance column)
    np.testing.assert_allclose(fit.extrapolation_distance(new[["x"]]), np.log10(new["x"] / 1e6), rtol=1e-6)
    loss, acc = _truth(new["x"].to_numpy())
    # A new run's interval covers the truth, and the curve's median is within two accuracy points of it
    # (with this seed the six largest runs lie 0.010 above the true curve on average; the fit follows them).
    assert np.all((pred["pred_lower"] < acc) & (acc < pred["pred_upper"])), (pred, acc)
    assert np.all(np.abs(pred["median"] - acc) < 0.02), (pred, acc)
    assert np.all((pred["loss_lower"] < loss) & (loss < pred["loss_upper"]))
    assert np.all(pred["pred_lower"] <= pred["lower"]) and np.all(pred["pred_upper"] >= pred["upper"])
    assert {"E", "alpha", "link_k", "kappa"} <= set(fit.summary().index)
    # log-likelihood of the metric, one per row, for LOO
    assert fit.idata.log_likelihood["accuracy"].shape[-1] == len(df)
    ax = fit.plot()
    assert ax.get_xlabel().startswith("loss")
    # the result interface the decision tools use
    assert isinstance(fit, Posterior)
    assert list(fit.fitted_inputs.columns) == ["x"] and fit.fitted_inputs["x"].tolist() == df["x"].tolist()
    assert fit.columns == {"x": "x"} and fit.levels == {} and not fit.lower_is_better
    curve = fit.link_draws(np.array([3.0, 4.0]))
    assert curve.shape[1] == 2 and np.all((0 < curve) & (curve < 1))


@pytest.mark.long
def test_direct_alternative_and_comparison(synthetic, tmp_path):
    df, fit = synthetic
    direct = fit_downstream(df, law="power", loss=None, metric="accuracy", link="sigmoid", chance="chance",
                            approach="direct", chains=2, draws=300, warmup=300, seed=0)
    fits = {"joint": fit, "direct": direct}
    table = compare_downstream(fits)
    assert set(table.index) == {"joint", "direct"}
    assert all(table.loc[name, "converged"] == (not f.convergence_problems()) for name, f in fits.items())
    with pytest.raises(ValueError, match="ic='lfo' must be 'loo' or 'waic'"):
        compare_downstream({"joint": fit, "direct": direct}, ic="lfo")
    pred = direct.predict(pd.DataFrame({"x": [1e7], "chance": CHANCE}))
    assert 0 < pred["median"].iloc[0] < 1 and "loss_median" in pred
    assert direct.plot(x="x").get_xscale() == "log"
    # its report draws the metric along the law's only input (no loss, no N and D)
    page = direct.report(tmp_path / "direct.html", at="x=1e7,chance=0.25").read_text()
    assert "The metric against x" in page and "Forecasts" in page
    with pytest.raises(ValueError, match="needs a fit by task"):
        direct.report(tmp_path / "checked.html", check=True)


def test_errors_name_the_fix():
    df = pd.DataFrame({"x": [1e3, 1e4, 1e5, 1e6], "loss": [3.0, 2.8, 2.6, 2.5], "accuracy": [0.3, 0.4, 1.0, 0.6]})
    with pytest.raises(ValueError, match=r"outside the support of metric_likelihood=.beta. \(0 < y < 1\)"):
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


@pytest.mark.long
def test_stored_log_likelihood_is_the_beta_density_of_every_draw(synthetic):
    # numpyro's Beta.log_prob, evaluated for many draws at once, once returned about -200 per row
    # for a block of draws whose density was about +3 (see bayescale.likelihoods.Beta).
    from scipy import stats

    df, fit = synthetic
    _, mean, _ = fit.posterior_draws(df)
    kappa = fit.draws("kappa").reshape(-1, 1)
    expected = stats.beta.logpdf(df["accuracy"].to_numpy(), mean * kappa, (1 - mean) * kappa)
    stored = fit.idata.log_likelihood["accuracy"].values.reshape(expected.shape)
    np.testing.assert_allclose(stored, expected, atol=0.05)


# --- one builder, one sampler driver, one catalogue of links (issue 11) ----------------------------
@pytest.mark.long
def test_fit_downstream_samples_through_sampler_run(synthetic, monkeypatch):
    from bayescale import sampler

    calls = []
    real_run = sampler.run

    def spy(spec, settings, batch, **kwargs):
        calls.append((spec, settings, batch, kwargs))
        return real_run(spec, settings, batch, **kwargs)

    monkeypatch.setattr(sampler, "run", spy)
    df, _ = synthetic  # the fixture's settings: its compiled program serves this fit (cold, ~25 s saved)
    fit = fit_downstream(df, law="power", loss="loss", metric="accuracy", link="sigmoid", chance="chance",
                         chains=2, draws=300, warmup=300, seed=1)
    assert len(calls) == 1
    spec, settings, batch, kwargs = calls[0]
    assert (settings.chains, settings.draws, settings.warmup) == (2, 300, 300) and settings.dense_mass
    assert kwargs["model"] is not None and kwargs["model_key"][:2] == ("downstream", "sigmoid_from_loss")
    assert batch.extra["metric"].shape == (2, len(df))
    assert fit.samples["kappa"].shape == (2, 300) and fit.diverging.shape == (2, 300)


@pytest.mark.long
def test_the_same_seed_gives_the_same_draws(synthetic):
    df, _ = synthetic  # the fixture's settings, so its compiled program runs both fits
    fits = [fit_downstream(df, law="power", loss="loss", metric="accuracy", link="sigmoid", chance="chance",
                           chains=2, draws=300, warmup=300, seed=3)
            for _ in range(2)]
    for name in ("E", "alpha", "link_k", "kappa"):
        np.testing.assert_array_equal(fits[0].samples[name], fits[1].samples[name])
    assert fits[1].meta["timing"]["compile_s"] == 0.0  # sampler.run's compile cache serves the repeat


@pytest.mark.long
def test_centred_parameterisation_reaches_downstream_fits():
    rng = np.random.default_rng(1)
    x = np.tile(np.geomspace(1e3, 1e6, 6), 3)
    group = np.repeat(["a", "b", "c"], 6)
    loss = (np.repeat([1.9, 2.0, 2.1], 6) + 30.0 * x**-0.3) * np.exp(0.005 * rng.standard_normal(x.size))
    df = pd.DataFrame({"x": x, "g": group, "loss": loss, "accuracy": np.clip(1.5 - 0.4 * loss, 0.05, 0.95)})
    options = dict(law="power", link="error_from_loss", chance=0.25, hierarchy={"E": "g"}, chains=1, draws=30,
                   warmup=30, seed=0)
    centred = fit_downstream(df, parameterization="centered", **options)
    plain = fit_downstream(df, parameterization="noncentered", **options)
    assert centred.spec.centered == ("g",) and centred.meta["centered"] == ["g"]
    assert "E_g_offset" in centred.samples and "E_g_offset" not in plain.samples
    # the z offsets are recorded either way, so predictions work the same
    assert centred.samples["E_g_z"].shape == plain.samples["E_g_z"].shape == (1, 30, 3)
    assert "E_g" in centred.idata.posterior and centred.idata.posterior["E_g"].dims[-1] == "g"
    assert np.isfinite(centred.predict(df.head(3))["median"]).all()
    with pytest.raises(ValueError, match="parameterization="):
        fit_downstream(df, parameterization="centred", **options)


def test_one_definition_per_link():
    import bayescale.downstream as downstream
    from bayescale.laws.downstream_links import ALIASES, get_link
    from bayescale.laws.downstream_links import LINKS as CATALOGUE

    assert downstream.LINKS is CATALOGUE
    names = {name for name in CATALOGUE if name not in ALIASES}
    assert names == {"sigmoid_from_loss", "error_from_loss", "passuntil_from_loss"}
    for name in names:
        link, law = CATALOGUE[name], bs.laws.get(name)
        # the law of the same name is this link: its parameters, priors and sources, plus the chance floor
        assert link.name == name and law.param_names == ("floor", *link.param_names)
        assert all(law.param(p.name) is p for p in link.params)
        assert law.reference == link.reference and "arXiv" in link.reference and all(p.source for p in link.params)
        assert law.lower_is_better is (link.metric == "error")
        params = {p.name: float(p.prior.mean) for p in link.params}
        L = np.array([2.5, 3.0, 4.0])
        acc = np.asarray(link.function(L, 0.25, 3.0, **params))
        value = np.asarray(law.evaluate(L=L, floor=0.25, **params))
        np.testing.assert_allclose(value, 1 - acc if link.metric == "error" else acc, rtol=1e-6)
    # every alias is another name of the same object, not a second definition
    assert all(CATALOGUE[alias] is CATALOGUE[target] for alias, target in ALIASES.items())
    assert get_link("sigmoid") is get_link("sigmoid_from_loss")
    # 'passuntil' is the law of model size N; as a link the old name warns and means passuntil_from_loss
    assert bs.laws.get("passuntil").inputs == ("N",)
    with pytest.warns(FutureWarning, match="passuntil_from_loss"):
        assert get_link("passuntil") is CATALOGUE["passuntil_from_loss"]


def test_link_priors_are_overridden_and_unknown_names_refused():
    import numpyro.distributions as dist

    from bayescale.laws.downstream_links import get_link
    from bayescale.likelihoods import get_likelihood
    from bayescale.link_stage import link_spec

    link = get_link("error_from_loss")
    beta = get_likelihood("beta")
    tight = link_spec(link, beta, None, 0, {"link_gamma": dist.LogNormal(0.0, 0.1)})
    assert tight.prior_of["link_gamma"].scale == 0.1 and tight.prior_of["link_gain_c"] is link.priors["gain_c"]
    assert "kappa" not in tight.prior_of  # the metric's noise is sampled beside the stage
    assert link.priors["gamma"].scale == 1.0  # the catalogue's definition is untouched
    with pytest.raises(ValueError, match="link_gain_c"):
        link_spec(link, beta, None, 0, {"link_k": dist.LogNormal(0.0, 1.0)})
    by_task = link_spec(link, beta, "task", 4, {"link_gamma_task_sd": dist.HalfNormal(0.1)})
    assert by_task.groups_of == {"link_gain_c": ("task",), "link_gamma": ("task",)}
    assert by_task.prior_of["link_gamma_task_sd"].scale == 0.1 and by_task.prior_of["link_gain_c_task_sd"].scale == 1.0


@pytest.mark.long
def test_law_error_widens_the_metric_beyond_the_fitted_runs_only(synthetic):
    _, fit = synthetic  # fitted on x in [1e3, 1e6]
    with pytest.raises(ValueError, match="by task"):
        bs.check_tasks(fit)  # one link for all rows: nothing to check task by task
    with pytest.raises(ValueError, match="by='task'"):
        fit.predict_average(pd.DataFrame({"x": [1e7]}))
    inside = pd.DataFrame({"x": [1e3, 3e4, 1e6], "chance": CHANCE})
    assert not fit.extrapolation_distance(inside).any()
    for law_error in (True, bs.LawError.fixed(0.0, 0.05)):
        pd.testing.assert_frame_equal(fit.predict(inside, seed=2, law_error=law_error),
                                      fit.predict(inside, seed=2, law_error=False))
        np.testing.assert_array_equal(fit.loss_draws(inside, seed=2, law_error=law_error),
                                      fit.loss_draws(inside, seed=2, law_error=False))
    beyond = pd.DataFrame({"x": [1e7], "chance": CHANCE})  # one decade out
    np.testing.assert_allclose(fit.extrapolation_distance(beyond), 1.0)
    plain = fit.predict(beyond, seed=2, law_error=False)
    drifted = fit.predict(beyond, seed=2, law_error=bs.LawError.fixed(0.0, 0.05))
    # the drift acts on the loss stage, and the link carries it to the metric's curve and a new run
    width = lambda t, lo, hi: (t[hi] - t[lo]).to_numpy()  # noqa: E731
    assert np.all(width(drifted, "loss_lower", "loss_upper") > 2 * width(plain, "loss_lower", "loss_upper"))
    assert np.all(width(drifted, "lower", "upper") > 1.5 * width(plain, "lower", "upper")), (drifted, plain)
    assert np.all(width(drifted, "pred_lower", "pred_upper") > width(plain, "pred_lower", "pred_upper"))
    # the metric's draws are the link of the drifted loss: a lower loss gives a higher accuracy
    loss = fit.loss_draws(beyond, seed=2, law_error=bs.LawError.fixed(0.0, 0.05))
    _, metric, _ = fit.posterior_draws(beyond, seed=2, law_error=bs.LawError.fixed(0.0, 0.05))
    assert np.corrcoef(loss[:, 0], metric[:, 0])[0, 1] < -0.5
    # further out than the law error was learned: the default says so, as Fit.predict does
    far = pd.DataFrame({"x": [1e7, 1e8], "chance": CHANCE}, index=["near", "far"])  # 1 and 2 decades out
    with pytest.warns(bs.ExtrapolationWarning, match=r"1 of 2 rows \(rows far\) lie up to 2\.0 decades"):
        fit.predict(far, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.ExtrapolationWarning)
        fit.predict(far, seed=2, law_error=False)
        fit.predict(far.loc[["near"]], seed=2)


@pytest.mark.long
def test_binomial_counts_of_questions_in_the_joint_model(tmp_path):
    """Accuracies as counts of n questions (0 and 1 allowed): the metric stage's likelihood is a choice."""
    rng = np.random.default_rng(4)
    x = np.repeat(np.geomspace(1e3, 1e6, 16), 2)
    loss, acc = _truth(x)
    questions = rng.choice([40, 200, 1000], size=x.size)
    df = pd.DataFrame({"x": x, "loss": loss * np.exp(0.005 * rng.standard_normal(x.size)),
                       "accuracy": rng.binomial(questions, acc) / questions, "n_q": questions, "chance": CHANCE})
    df.loc[0, ["accuracy", "n_q"]] = [0.0, 3]  # 0 of 3 near chance: a score of 0 is a count, not an error
    with pytest.raises(ValueError, match="metric_likelihood='binomial' and trials="):
        fit_downstream(df, law="power", metric="accuracy", link="sigmoid", chance="chance")
    fit = fit_downstream(df, law="power", loss="loss", metric="accuracy", link="sigmoid", chance="chance",
                         metric_likelihood="binomial", trials="n_q", chains=2, draws=300, warmup=300, seed=0)
    assert "kappa" not in fit.samples and "kappa" not in fit.summary().index
    new = pd.DataFrame({"x": [3e6, 3e6], "chance": CHANCE, "n_q": [100, 10000]})
    pred = fit.predict(new, law_error=False)
    _, true_acc = _truth(new["x"].to_numpy())
    assert np.all((pred["lower"] < true_acc) & (true_acc < pred["upper"])), (pred, true_acc)
    width = (pred["pred_upper"] - pred["pred_lower"]).to_numpy()
    assert width[0] > 2 * width[1]  # binomial noise of 100 questions against 10,000
    with pytest.raises(ValueError, match="add a 'n_q' column"):
        fit.predict(new.drop(columns="n_q"))
    path = fit.save(tmp_path / "counts.nc")
    again = bs.load(path)
    pd.testing.assert_frame_equal(again.predict(new, seed=2), fit.predict(new, seed=2))
    assert fit.idata.log_likelihood["accuracy"].shape[-1] == len(df)


@pytest.mark.long
def test_next_runs_targets_the_metric_through_a_real_link(synthetic):
    # issue 13: a downstream metric as the design target; the loss fit and the link see the same loss
    df, down = synthetic
    loss_fit = bs.fit(df, law="power", y="loss", chains=2, draws=200, warmup=200, seed=0, progress=False)
    candidates = pd.DataFrame({"x": [2e3, 3e6]}).assign(cost=lambda d: d.x)
    target = bs.targets.metric(down, pd.DataFrame({"x": [1e8]}))
    table = bs.next_runs(loss_fit, candidates, target, cost="cost", rank_by="gain")
    assert table["x"].iloc[0] == 3e6 and table["gain"].iloc[0] > table["gain"].iloc[1] >= -1e-6
    assert "Metric('accuracy' by the link 'sigmoid_from_loss'" in table.attrs["target"]
    assert 0 < table.attrs["var_now"] < 0.25  # the variance of an accuracy
