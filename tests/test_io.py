"""Save files: every format keeps loading and predicting, priors round-trip, saves are atomic,
bad files are refused in plain words; InferenceData as ArviZ users expect; unseen group levels."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest
from make_save_fixtures import DOWN_GRID, DOWN_PRIORS, GRID, MANY_GRID
from numpyro.distributions import constraints

import bayescale as bs
from bayescale import _arviz, io
from bayescale.inference import sample_stats

DATA = Path(__file__).parent / "data"
CUSTOM_ALPHA = (-1.0, 0.3)  # the LogNormal prior on alpha the fixtures were fitted with


def quiet_load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return bs.load(path)


@pytest.fixture(scope="module")
def saved_fit():
    return quiet_load(DATA / "fit_grouped_format2.nc")


# --- every format keeps loading and predicting ----------------------------------------------
@pytest.mark.parametrize("fmt", [1, 2])
def test_saved_fits_of_every_format_load_and_predict_as_when_written(fmt):
    fit = quiet_load(DATA / f"fit_grouped_format{fmt}.nc")
    assert isinstance(fit, bs.Fit) and fit.meta["save_format"] == fmt
    expected = pd.read_csv(DATA / f"fit_grouped_format{fmt}_predict.csv")
    table = fit.predict(GRID, seed=0, law_error=False)  # the fixtures predate the law error
    for column in ("median", "mean", "lower", "upper", "pred_lower", "pred_upper"):
        np.testing.assert_allclose(table[column].to_numpy(), expected[column].to_numpy(), rtol=1e-6, err_msg=column)


def test_format_1_files_fall_back_to_default_priors_and_format_2_keep_custom_ones():
    old = quiet_load(DATA / "fit_grouped_format1.nc")
    new = quiet_load(DATA / "fit_grouped_format2.nc")
    default = bs.laws.get("chinchilla").params[[p.name for p in bs.laws.get("chinchilla").params].index("alpha")].prior
    assert float(old.priors["alpha"].loc) == pytest.approx(float(default.loc))
    assert isinstance(new.priors["alpha"], dist.LogNormal)
    assert (float(new.priors["alpha"].loc), float(new.priors["alpha"].scale)) == pytest.approx(CUSTOM_ALPHA)
    # The model structure (Fit.spec) uses the fit's own priors, not the defaults.
    assert float(new.spec.prior_of["alpha"].loc) == pytest.approx(CUSTOM_ALPHA[0])


def test_saved_many_fits_load_and_predict_as_when_written():
    many = quiet_load(DATA / "many_format2.nc")
    assert isinstance(many, bs.ManyFits) and many.keys == ["books", "web"]
    expected = pd.read_csv(DATA / "many_format2_predict.csv")
    table = many.predict(MANY_GRID, seed=0, law_error=False)  # the fixtures predate the law error
    np.testing.assert_allclose(table["median"].to_numpy(), expected["median"].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(table["pred_upper"].to_numpy(), expected["pred_upper"].to_numpy(), rtol=1e-6)
    assert float(many.spec.prior_of["alpha"].loc) == pytest.approx(CUSTOM_ALPHA[0])
    one = many["web"]  # a full Fit of one key, rebuilt from the saved rows
    assert one.data.shape[0] == int(many.n_rows[1]) and float(one.priors["alpha"].scale) == pytest.approx(0.3)


def test_saved_downstream_fits_load_and_predict_as_when_written():
    down = quiet_load(DATA / "downstream_format2.nc")
    assert isinstance(down, bs.DownstreamFit) and down.meta["approach"] == "joint"
    assert down.link.name == "sigmoid_from_loss" and down.spec.centered == tuple(down.meta["centered"])
    expected = pd.read_csv(DATA / "downstream_format2_predict.csv")
    table = down.predict(DOWN_GRID, seed=0, law_error=False)
    for column in ("median", "mean", "lower", "upper", "pred_lower", "pred_upper", "loss_median", "loss_upper"):
        np.testing.assert_allclose(table[column].to_numpy(), expected[column].to_numpy(), rtol=1e-6, err_msg=column)
    # custom priors of both stages come back: the loss law's (alpha) and the link's (link_k)
    for name, prior in DOWN_PRIORS.items():
        assert io.prior_to_json(down.priors[name]) == io.prior_to_json(prior), name
    assert float(down.spec.prior_of["alpha"].loc) == pytest.approx(-1.2)
    assert float(down.link.priors["k"].loc) == pytest.approx(0.5)
    assert down.link.priors["h"] is bs.downstream.LINKS["sigmoid"].priors["h"]  # untouched priors stay the catalogue's


def test_downstream_fit_round_trip_predicts_the_same(tmp_path):
    down = quiet_load(DATA / "downstream_format2.nc")
    path = down.save(tmp_path / "down.nc")
    assert io.read(path, kind="DownstreamFit")[1]["kind"] == "DownstreamFit"
    loaded = bs.load(path)
    assert isinstance(loaded, bs.DownstreamFit)
    pd.testing.assert_frame_equal(loaded.data, down.data)
    np.testing.assert_array_equal(loaded.run_codes, down.run_codes)
    for law_error in (True, False):  # with the law error too: the same ladder, the same drifts
        pd.testing.assert_frame_equal(loaded.predict(DOWN_GRID, seed=5, law_error=law_error),
                                      down.predict(DOWN_GRID, seed=5, law_error=law_error))
    assert set(loaded.priors) == set(down.priors) and {"link_k", "kappa", "E_g_sd"} <= set(loaded.priors)
    pd.testing.assert_frame_equal(loaded.summary(), down.summary())
    with pytest.raises(ValueError, match="holds a DownstreamFit, not a Fit"):
        io.read(path, kind="Fit")


@pytest.mark.long
def test_a_fresh_downstream_fit_round_trips(tmp_path):
    from make_save_fixtures import downstream_fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        down = downstream_fit()
        loaded = bs.load(down.save(tmp_path / "fresh.nc"))
    pd.testing.assert_frame_equal(loaded.predict(DOWN_GRID, seed=1), down.predict(DOWN_GRID, seed=1))
    for name, prior in down.priors.items():
        assert io.prior_to_json(loaded.priors[name]) == io.prior_to_json(prior), name


# --- round trips ----------------------------------------------------------------------------
@pytest.mark.long
def test_fit_round_trip_keeps_custom_priors_and_predictions(saved_fit, tmp_path):
    path = saved_fit.save(tmp_path / "again.nc")
    loaded = bs.load(path)
    assert set(loaded.priors) == set(saved_fit.priors)
    for name, prior in saved_fit.priors.items():
        assert type(loaded.priors[name]) is type(prior), name
        assert io.prior_to_json(loaded.priors[name]) == io.prior_to_json(prior), name
    pd.testing.assert_frame_equal(loaded.predict(GRID, seed=4), saved_fit.predict(GRID, seed=4))


@pytest.mark.long
def test_many_fits_round_trip_for_both_poolings(tmp_path):
    df = bs.examples.load("three_datasets")
    tiny = {"chains": 1, "draws": 30, "warmup": 60, "seed": 2, "progress": False}
    rows = df.groupby("dataset").head(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        partial = bs.fit_many(df, "chinchilla", by="dataset", inputs={"N": "params", "D": "tokens"},
                              pooling="partial", priors={"alpha": dist.LogNormal(*CUSTOM_ALPHA)}, **tiny)
        loaded = bs.load(partial.save(tmp_path / "partial.nc"))
    assert isinstance(loaded, bs.ManyFits) and loaded.pooling == "partial" and loaded.keys == partial.keys
    pd.testing.assert_frame_equal(loaded.predict(rows, seed=1), partial.predict(rows, seed=1))
    pd.testing.assert_frame_equal(loaded.summary(), partial.summary())
    assert float(loaded["web"].priors["alpha"].loc) == pytest.approx(CUSTOM_ALPHA[0])
    many = quiet_load(DATA / "many_format2.nc")
    again = bs.load(many.save(tmp_path / "none.nc"))
    pd.testing.assert_frame_equal(again.predict(MANY_GRID, seed=3), many.predict(MANY_GRID, seed=3))
    pd.testing.assert_frame_equal(again.diagnostics, many.diagnostics)


@pytest.mark.parametrize(
    "prior",
    [
        dist.Normal(0.5, 2.0),
        dist.LogNormal(-1.0, 0.3),
        dist.HalfNormal(0.3),
        dist.Beta(2.0, 5.0),
        dist.Gamma(2.0, 0.1),
        dist.StudentT(3.0, 0.0, 1.5),
        dist.Uniform(0.1, 0.9),
        dist.TruncatedNormal(0.3, 0.2, low=0.0),
        dist.Normal(np.array([0.0, 1.0]), 1.0),
        dist.TransformedDistribution(dist.Normal(0.1, 0.2), dist.transforms.SigmoidTransform()),
        dist.TransformedDistribution(dist.Normal(0.0, 1.0), dist.biject_to(constraints.interval(0.0, 2.0))),
    ],
    ids=lambda p: type(p).__name__,
)
def test_priors_round_trip_through_json(prior):
    spec = json.loads(json.dumps(io.prior_to_json(prior)))
    rebuilt = io.prior_from_json(spec)
    assert type(rebuilt) is type(prior) and type(rebuilt.support) is type(prior.support)
    x = np.asarray(prior.sample(__import__("jax").random.PRNGKey(0), (5,)))
    np.testing.assert_allclose(np.asarray(rebuilt.log_prob(x)), np.asarray(prior.log_prob(x)), rtol=1e-6)


def test_priors_from_a_posterior_round_trip(saved_fit):
    as_priors = saved_fit.as_priors()
    for name, prior in as_priors.items():
        rebuilt = io.prior_from_json(io.prior_to_json(prior, name=name))
        assert io.prior_to_json(rebuilt) == io.prior_to_json(prior)


def test_a_prior_that_cannot_be_saved_is_refused_by_name(saved_fit, tmp_path):
    with pytest.raises(ValueError, match=r"priors\['E'\] = ImproperUniform cannot be saved.*dist.LogNormal"):
        io.prior_to_json(dist.ImproperUniform(constraints.positive, (), ()), name="E")
    odd = bs.Fit(saved_fit.idata.copy(), priors={**saved_fit.priors, "alpha": dist.LogNormal(0.0, 1.0).expand([2])})
    with pytest.raises(ValueError, match=r"priors\['alpha'\] = ExpandedDistribution cannot be saved"):
        odd.save(tmp_path / "odd.nc")
    assert not list(tmp_path.iterdir())


# --- atomic saves and bad files -------------------------------------------------------------
def test_a_failed_save_leaves_the_previous_file_intact(saved_fit, tmp_path, monkeypatch):
    path = saved_fit.save(tmp_path / "fit.nc")
    before = path.read_bytes()

    def crash_midway(idata, target):
        Path(target).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(_arviz, "save", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        saved_fit.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["fit.nc"]  # no temporary file left behind
    monkeypatch.undo()
    assert isinstance(bs.load(path), bs.Fit)


def test_save_refuses_a_missing_folder(saved_fit, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        saved_fit.save(tmp_path / "no" / "fit.nc")


def test_corrupted_truncated_and_foreign_files_are_refused_in_plain_words(saved_fit, tmp_path):
    garbage = tmp_path / "garbage.nc"
    garbage.write_bytes(b"this is not an HDF5 file")
    truncated = tmp_path / "truncated.nc"
    truncated.write_bytes((DATA / "fit_grouped_format2.nc").read_bytes()[:5000])
    for path in (garbage, truncated):
        with pytest.raises(ValueError, match=rf"'{path}' is not a bayescale save file .*save format 1 to {io.SAVE_FORMAT}"):
            bs.load(path)
    foreign = tmp_path / "foreign.nc"
    az.from_dict(posterior={"x": np.zeros((1, 5))}).to_netcdf(foreign, engine="h5netcdf")
    with pytest.raises(ValueError, match=r"foreign.nc' is an InferenceData file but was not written by bayescale"):
        bs.load(foreign)


# --- InferenceData as ArviZ users expect ------------------------------------------------------
def test_sample_stats_use_arviz_names():
    shape = (2, 4)
    extra = {
        "potential_energy": np.full(shape, 3.0),
        "energy": np.full(shape, 5.0),
        "accept_prob": np.full(shape, 0.9),
        "step_size": np.full(shape, 0.1),
        "diverging": np.zeros(shape, dtype=bool),
        "num_steps": np.array([[1, 3, 7, 15], [31, 63, 127, 1023]]),
    }
    stats = sample_stats(extra)
    assert set(stats) == {"lp", "energy", "acceptance_rate", "step_size", "tree_depth", "diverging", "n_steps"}
    np.testing.assert_array_equal(stats["lp"], -3.0)
    np.testing.assert_array_equal(stats["tree_depth"], [[1, 2, 3, 4], [5, 6, 7, 10]])


def test_saved_fit_idata_carries_stats_and_library_attrs(saved_fit):
    idata = saved_fit.idata
    assert {"diverging", "n_steps", "tree_depth"} <= set(idata.sample_stats.data_vars)
    assert idata.attrs["inference_library"] == "numpyro" and idata.attrs["inference_library_version"]
    assert idata.observed_data["y"].attrs["column"] == "loss"  # a format-2 file: "y", with its column


def test_observed_variable_is_named_after_the_target_column_unless_that_name_is_taken():
    def build(column):
        return _arviz.to_inference_data(
            {"E": np.ones((1, 3))}, log_likelihood=np.zeros((1, 3, 2)), posterior_predictive=np.ones((1, 3, 2)),
            observed=np.array([2.0, 3.0]), constant_data={"N": np.array([1.0, 2.0])}, sample_stats={},
            coords={}, dims={}, attrs={}, observed_column=column,
        )

    assert _arviz.observed_name(build("loss")) == "loss"
    for taken in ("E", "N", "obs", None):  # a parameter, an input, the dimension, no column: "y"
        idata = build(taken)
        assert _arviz.observed_name(idata) == "y" and list(idata.log_likelihood.data_vars) == ["y"]
    np.testing.assert_array_equal(_arviz.observed(build("loss")), [2.0, 3.0])
    # files of the earlier formats (tests/data) hold "y", and still load
    old = quiet_load(DATA / "fit_format1.nc")
    assert _arviz.observed_name(old.idata) == "y" and old.data["loss"].size == _arviz.observed(old.idata).size


@pytest.mark.long
def test_fit_idata_has_every_nuts_stat_and_bfmi_runs(ladder_fit):
    stats = ladder_fit.idata.sample_stats
    assert {"lp", "energy", "acceptance_rate", "step_size", "tree_depth", "diverging", "n_steps"} <= set(stats.data_vars)
    assert np.all(np.isfinite(az.bfmi(ladder_fit.idata)))


def test_pareto_k_warnings_reach_the_user_in_plain_words():
    rng = np.random.default_rng(0)
    log_lik = rng.normal(-1.0, 0.1, size=(2, 200, 20))
    log_lik[..., 3] = rng.standard_t(1.5, size=(2, 200)) * 20  # one very influential run
    idatas = {
        name: az.from_dict(posterior={"x": rng.normal(size=(2, 200))}, log_likelihood={"y": log_lik + shift})
        for name, shift in (("a", 0.0), ("b", -0.5))
    }
    with pytest.warns(bs.LOOWarning, match=r"LOO for model 'a' is unreliable: 1 of 20 runs \(rows 3\) have a Pareto k"):
        table = _arviz.compare(idatas, ic="loo")
    assert table.index[0] == "a"


# --- leave-future-out refits use the fit's own priors -------------------------------------
def test_leave_future_out_refits_use_the_fits_own_priors(saved_fit, monkeypatch):
    import bayescale.inference

    seen = {}

    class Stop(Exception):
        pass

    def fake_sample(spec, design, settings, priors, **kwargs):
        seen.update(priors=priors, model=dict(spec.priors))
        raise Stop

    monkeypatch.setattr(bayescale.inference, "_sample", fake_sample)
    with pytest.raises(Stop):
        bs.compare({"a": saved_fit, "b": saved_fit}, ic="lfo", order_by="C", n_folds=1)
    for priors in (seen["priors"], seen["model"]):  # recorded with the refit, and sampled from
        assert float(priors["alpha"].loc) == pytest.approx(CUSTOM_ALPHA[0])
    assert set(seen["priors"]) == set(saved_fit.priors)


# --- unseen group levels are said out loud ------------------------------------------------------
@pytest.mark.long
def test_unseen_level_warns_once_naming_the_closest_seen_level(saved_fit):
    rows = GRID.assign(dataset=["books", "bookz", "web", "wikipedia"])
    with pytest.warns(bs.NewGroupWarning) as record:
        table = saved_fit.predict(rows)
    messages = [str(w.message) for w in record if issubclass(w.category, bs.NewGroupWarning)]
    assert len(messages) == 1
    assert "'bookz' (closest seen: 'books')" in messages[0]
    assert "'wikipedia' (no seen level is close)" in messages[0]
    width = table["upper"] - table["lower"]
    assert width.iloc[1] > 2 * width.iloc[0]  # drawn from the population: wider
    with pytest.raises(ValueError, match=r"'bookz' \(closest seen: 'books'\).*new_groups='population'"):
        saved_fit.predict(rows, new_groups="error")
    with pytest.raises(ValueError, match=r"new_groups='new' must be 'population'"):
        saved_fit.predict(GRID, new_groups="new")


def test_seen_levels_do_not_warn(saved_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.NewGroupWarning)
        saved_fit.predict(GRID, new_groups="error")


def test_many_fits_name_the_closest_fitted_key():
    many = quiet_load(DATA / "many_format2.nc")
    with pytest.raises(ValueError, match=r"'webb' \(closest fitted: 'web'\) were not fitted"):
        many.predict(MANY_GRID.assign(dataset="webb"))
