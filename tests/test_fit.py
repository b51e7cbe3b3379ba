"""Fit: parameter recovery, summaries, prediction intervals, save/load, priors from a posterior."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import CHINCHILLA_TRUTH, FAST

import bayescale as bs
from bayescale import sampler
from bayescale.inference import refit

HERE = Path(__file__).parent


@pytest.mark.long
def test_chinchilla_recovers_the_generating_parameters(ladder_fit):
    summary = ladder_fit.summary(level=0.9)
    for name, truth in CHINCHILLA_TRUTH.items():
        lower, upper = summary.loc[name, "hdi_5%"], summary.loc[name, "hdi_95%"]
        assert lower <= truth <= upper, f"{name}: truth {truth} outside the 90% interval [{lower}, {upper}]"
    assert summary.loc["alpha", "sd"] < 0.1 and summary.loc["beta", "sd"] < 0.05


def test_idata_has_every_group_and_the_law_names(ladder_fit, ladder):
    idata = ladder_fit.idata
    for group in ("posterior", "log_likelihood", "posterior_predictive", "observed_data", "constant_data", "sample_stats"):
        assert group in idata.groups()
    for name in ("E", "A", "alpha", "B", "beta", "sigma", "nu"):
        assert name in idata.posterior
    assert idata.log_likelihood["loss"].shape == (2, 300, len(ladder))
    np.testing.assert_allclose(idata.observed_data["loss"].values, ladder["loss"].to_numpy())
    np.testing.assert_allclose(idata.constant_data["N"].values, ladder["params"].to_numpy())


def test_summary_and_diagnostics(ladder_fit):
    summary = ladder_fit.summary()
    assert list(summary.index) == ["E", "A", "alpha", "B", "beta", "sigma", "nu"]
    assert {"mean", "sd", "hdi_5%", "hdi_95%", "ess_bulk", "r_hat"} <= set(summary.columns)
    d = ladder_fit.diagnostics
    assert set(d) == {"max_rhat", "min_ess_bulk", "divergences"}
    assert d["max_rhat"] < 1.05
    html = ladder_fit._repr_html_()
    assert "chinchilla" in html and "r_hat" in html and "<table" in html
    assert "law='chinchilla'" in repr(ladder_fit)


def test_predict_columns_and_interval_ordering(ladder_fit, ladder):
    table = ladder_fit.predict(ladder, level=0.9)
    assert list(table.columns) == ["params", "tokens", "median", "mean", "lower", "upper", "pred_lower", "pred_upper"]
    assert (table["lower"] <= table["median"]).all() and (table["median"] <= table["upper"]).all()
    assert (table["pred_lower"] <= table["lower"]).all() and (table["upper"] <= table["pred_upper"]).all()
    # The noise interval is wider than the curve interval inside the data.
    assert ((table["pred_upper"] - table["pred_lower"]) > (table["upper"] - table["lower"])).mean() > 0.9
    narrow = ladder_fit.predict(ladder.head(5), level=0.5)
    assert (narrow["upper"] - narrow["lower"] < table["upper"].head(5) - table["lower"].head(5)).all()


def test_extrapolation_intervals_widen_and_cover_the_truth(ladder_fit):
    from data_truth import chinchilla_loss

    N = np.array([1e9, 1e10, 1e11])
    grid = pd.DataFrame({"N": N, "D": 20 * N})  # the law's own input names work too
    with pytest.warns(bs.ExtrapolationWarning, match="beyond the fitted runs"):  # 1e11 is ~3 decades out
        table = ladder_fit.predict(grid, level=0.9)
    width = (table["upper"] - table["lower"]).to_numpy()
    assert width[0] < width[1] < width[2]
    truth = chinchilla_loss(N, 20 * N)
    assert ((table["lower"] <= truth) & (truth <= table["upper"])).all()


def test_predict_rejects_bad_level_and_missing_inputs(ladder_fit, ladder):
    with pytest.raises(ValueError, match=r"level=1.5 must lie in \(0, 1\)"):
        ladder_fit.predict(ladder, level=1.5)
    with pytest.raises(ValueError, match=r"input 'D'"):
        ladder_fit.predict(ladder[["params"]])


def test_predict_is_reproducible_for_a_seed(ladder_fit, ladder):
    a = ladder_fit.predict(ladder.head(4), seed=3)
    b = ladder_fit.predict(ladder.head(4), seed=3)
    pd.testing.assert_frame_equal(a, b)


def test_save_and_load_round_trip(ladder_fit, ladder, tmp_path):
    path = ladder_fit.save(tmp_path / "fit.nc")
    loaded = bs.load(path)
    for name in ("E", "A", "alpha", "B", "beta", "sigma", "nu", "A_c", "B_c"):
        np.testing.assert_array_equal(loaded.idata.posterior[name].values, ladder_fit.idata.posterior[name].values)
    np.testing.assert_array_equal(loaded.idata.log_likelihood["loss"].values, ladder_fit.idata.log_likelihood["loss"].values)
    assert loaded.meta == ladder_fit.meta
    pd.testing.assert_frame_equal(loaded.predict(ladder.head(6)), ladder_fit.predict(ladder.head(6)))


def test_saves_of_format_1_keep_loading():
    # tests/data/fit_format1.nc was written by bayescale 0.1.0 (save format 1); see make_fixture below.
    fit = bs.load(HERE / "data" / "fit_format1.nc")
    assert fit.meta["save_format"] == 1 and fit.law.name == "chinchilla"
    table = fit.predict(pd.DataFrame({"N": [1e9], "D": [2e10]}))
    assert 2.0 < table["median"].iloc[0] < 3.0


def test_load_refuses_foreign_and_newer_files(ladder_fit, tmp_path):
    with pytest.raises(FileNotFoundError, match="no fit file"):
        bs.load(tmp_path / "missing.nc")
    newer = ladder_fit.idata.copy()
    meta = json.loads(newer.attrs["bayescale"])
    newer.attrs["bayescale"] = json.dumps({**meta, "save_format": 99})
    newer.to_netcdf(tmp_path / "newer.nc", engine="h5netcdf")
    with pytest.raises(ValueError, match="save format 99, newer than this bayescale"):
        bs.load(tmp_path / "newer.nc")


@pytest.mark.long
def test_posterior_as_prior_narrows_a_small_fit(ladder_fit, ladder):
    subset = ladder.sample(15, random_state=0)
    default = bs.fit(subset, law="chinchilla", inputs={"N": "params", "D": "tokens"}, **FAST)
    informed = bs.fit(subset, law="chinchilla", inputs={"N": "params", "D": "tokens"}, priors=ladder_fit, **FAST)
    for name in ("alpha", "beta", "E"):
        assert informed.draws(name).std() < 0.8 * default.draws(name).std()


def make_fixture() -> None:  # pragma: no cover - run by hand when the save format changes
    """Write tests/data/fit_format<N>.nc: a tiny fit kept to check that old saves load.

    tests/make_save_fixtures.py writes the grouped Fit and ManyFits fixtures of each format.
    """
    df = bs.examples.load("chinchilla_ladder")
    fit = bs.fit(df, law="chinchilla", inputs={"N": "params", "D": "tokens"}, chains=1, draws=40, warmup=100,
                 seed=0, progress=False)
    fit.save(HERE / "data" / f"fit_format{fit.meta['save_format']}.nc")


if __name__ == "__main__":  # pragma: no cover
    make_fixture()


@pytest.mark.long
def test_predict_derives_inputs_as_the_fit_did():
    import jax.numpy as jnp

    import bayescale as bs

    law = bs.law(
        "test_compute_law",
        inputs=["C"],
        params={"E": bs.laws.get("power").param("E").prior, "alpha": bs.laws.get("power").param("alpha").prior},
        mean=lambda C, E, alpha: E + 1e3 * C ** -alpha,
        overwrite=True,
    )
    rng = np.random.default_rng(0)
    N = np.geomspace(1e7, 1e9, 20)
    runs = pd.DataFrame({"N": N, "D": 20 * N})
    runs["loss"] = (1.5 + 1e3 * (6 * runs.N * runs.D) ** -0.15) * np.exp(0.01 * rng.standard_normal(20))
    fit = bs.fit(runs, law=law, **FAST)  # C = 6ND derived from N and D
    table = fit.predict(pd.DataFrame({"N": [1e10], "D": [2e11]}))
    expected = 1.5 + 1e3 * (6 * 1e10 * 2e11) ** -0.15
    assert table["lower"].iloc[0] < expected < table["upper"].iloc[0]
    assert jnp.isfinite(table["median"].iloc[0])


def test_html_display_escapes_the_users_text(ladder_fit):
    import copy
    import dataclasses

    shown = copy.copy(ladder_fit)  # the same posterior under a law whose formula carries markup
    shown.law = dataclasses.replace(ladder_fit.law, formula="E + A/N^a <script>alert(1)</script> & more")
    page = shown._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page



def test_fit_offers_the_result_interface(ladder_fit, ladder):
    from bayescale.results import Posterior

    assert isinstance(ladder_fit, Posterior)
    assert list(ladder_fit.fitted_inputs.columns) == ["N", "D"]
    assert ladder_fit.fitted_inputs["N"].tolist() == ladder["params"].tolist()
    assert ladder_fit.columns == {"N": "params", "D": "tokens"} and ladder_fit.lower_is_better

    class NoInputs:  # a result without the fitted inputs is not one
        law, y, data, columns, levels, lower_is_better = ladder_fit.law, "loss", ladder, {}, {}, True

        def posterior_draws(self, data, *, seed=0, law_error=True): ...

        def predict(self, data, level=0.9, *, seed=0, law_error=True): ...

    assert not isinstance(NoInputs(), Posterior)


@pytest.mark.long
def test_tree_depths_reach_the_sampler_and_a_refit(ladder, ladder_fit):
    # warm-up capped at 127 leapfrog steps, the draws at NUTS's usual 1,023
    assert ladder_fit.meta["settings"]["max_tree_depth"] == [sampler.WARMUP_TREE_DEPTH, 10] == [7, 10]
    options = {**FAST, "law": "chinchilla", "y": "loss", "inputs": {"N": "params", "D": "tokens"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        capped = bs.fit(ladder, **options, max_tree_depth=(3, 4))
        again = refit(capped, np.ones(len(ladder), dtype=bool), {"max_tree_depth": 2})
    assert capped.meta["settings"]["max_tree_depth"] == [3, 4]
    assert int(capped.idata.sample_stats["n_steps"].max()) <= 2**4 - 1
    assert again.meta["settings"]["max_tree_depth"] == [2, 2]
    assert int(again.idata.sample_stats["n_steps"].max()) <= 2**2 - 1


def test_divergence_advice_depends_on_the_target_acceptance_used(ladder_fit):
    import copy
    import warnings

    for used, advice in ((0.95, "Try target_accept_prob=0.99, tighter priors"),
                         (0.99, "already used target_accept_prob=0.99; try tighter priors")):
        fit = copy.copy(ladder_fit)
        fit.meta = {**ladder_fit.meta, "settings": {**ladder_fit.meta["settings"], "target_accept_prob": used}}
        fit.__dict__["diagnostics"] = {"max_rhat": 1.0, "min_ess_bulk": 1000.0, "divergences": 3}
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            (problem,) = fit.check_convergence()
        assert problem.startswith("3 divergent transitions") and advice in problem, problem
