"""The leave-future-out check of a fit's intervals, and split-conformal widening."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayescale as bs

FAST = {"chains": 2, "draws": 300, "warmup": 300, "seed": 2, "progress": False}


def drifting_curve(n: int = 24, seed: int = 0) -> pd.DataFrame:
    """A floored power law whose exponent steepens beyond x = 1e8: the top of the ladder bends away."""
    x = np.geomspace(1e6, 1e9, n)
    alpha = 0.3 + 0.12 * np.clip(np.log10(x / 1e8), 0, None)
    y = (1.0 + 30.0 * x**-alpha) * np.exp(0.002 * np.random.default_rng(seed).standard_normal(n))
    return pd.DataFrame({"x": x, "loss": y})


def drift_size(law_error) -> float:
    """Median sd of a ladder's gain (dataset and ladder parts together)."""
    return float(np.median(np.hypot(law_error.sd_dataset, law_error.sd_ladder)))


# compiles a sampler no quick test shares: every test that uses it is marked long (pyproject.toml)
@pytest.fixture(scope="module")
def drifting_fit():
    return bs.fit(drifting_curve(), law="power", y="loss", **FAST)


@pytest.mark.long
def test_a_drifting_ladder_is_caught_and_the_widened_intervals_cover_it(drifting_fit):
    check = drifting_fit.calibrate(holdout=0.25, law_error=False)
    assert len(check.runs) == 6
    assert check.runs["distance"].iloc[-1] > 0  # the top runs lie beyond the refit's range
    assert check.coverage[0.9] < 0.5  # the law without law error misses the bend
    assert check.factor > 1.5 and not check.guaranteed  # 6 runs are too few for the guarantee at 90%
    held = check.runs[["x", "loss"]]
    assert check.checked_with is False
    widened = check.predict(held)  # the law error the factor was measured with (here none)
    pd.testing.assert_frame_equal(widened, check.predict(held, law_error=False))
    plain = drifting_fit.predict(held, 0.9, law_error=False)
    assert (widened["pred_upper"] - widened["pred_lower"] > plain["pred_upper"] - plain["pred_lower"]).all()
    pd.testing.assert_series_equal(widened["median"], plain["median"])
    assert "held-out runs" in repr(check) and list(check.summary().index) == [0.5, 0.8, 0.9, 0.95]


@pytest.mark.long
def test_a_ladder_that_follows_its_law_needs_no_widening():
    x = np.geomspace(1e6, 1e9, 24)
    y = (1.0 + 30.0 * x**-0.3) * np.exp(0.01 * np.random.default_rng(1).standard_normal(24))
    fit = bs.fit(pd.DataFrame({"x": x, "loss": y}), law="power", y="loss", **FAST)
    check = fit.calibrate(holdout=0.25, law_error=False)
    assert check.coverage[0.9] >= 4 / 6
    assert check.factor < 1.6
    learned = bs.law_error.default()  # top runs on the law: a narrower drift than the learned one
    assert drift_size(check.law_error) < drift_size(learned)


@pytest.mark.long
def test_calibrate_refuses_bad_settings(drifting_fit):
    with pytest.raises(ValueError, match=r"holdout=1.5 must lie in \(0, 1\)"):
        drifting_fit.calibrate(holdout=1.5)
    with pytest.raises(ValueError, match=r"holding out 22 leaves fewer than 5"):
        drifting_fit.calibrate(holdout=0.9)


def test_the_drift_is_updated_with_the_ladders_own_top_runs():
    from bayescale.calibrate import update_drift

    d = np.array([0.2, 0.4, 0.6])
    prior = bs.LawError(np.zeros(400), np.zeros(400), np.full(400, 0.02), np.full(400, 3.0), np.full(400, 1.0))
    bent = update_drift(prior, residual=0.08 * d, spread=np.full(3, 0.002), distance=d, seed=0)
    straight = update_drift(prior, residual=np.zeros(3), spread=np.full(3, 0.002), distance=d, seed=0)
    # the size of the drift follows the ladder's own residuals; its direction stays open
    assert np.median(bent.sd_ladder) > 3 * np.median(straight.sd_ladder)
    assert np.median(straight.sd_ladder) < 0.02 < np.median(bent.sd_ladder)
    assert (bent.mu == 0).all() and np.isinf(bent.nu).all()
    assert "(normal)" in repr(bent) and "(t, nu 3.0)" in repr(prior)  # each draw's ladder part is normal


@pytest.mark.long
def test_calibrate_offers_the_ladders_own_drift(drifting_fit):
    check = drifting_fit.calibrate(holdout=0.25, law_error=False)
    # the steepening exponent takes the top runs off the refit's law: a wider drift than learned
    learned = bs.law_error.default()
    assert drift_size(check.law_error) > drift_size(learned)
    # the dataset part is kept (shared by fits predicted with one seed), the two parts add up as weighed
    assert np.median(check.law_error.sd_dataset) > 0


@pytest.mark.long
def test_the_refit_masks_the_held_out_runs_and_compiles_nothing(drifting_fit):
    from bayescale.inference import refit

    keep = np.arange(24) < 18
    again = refit(drifting_fit, keep)
    assert again.meta["settings"]["timing"]["compile_s"] == 0.0  # the fit's own program, rows masked
    pd.testing.assert_frame_equal(again.data, drifting_fit.data[keep].reset_index(drop=True))
    assert again.columns == drifting_fit.columns
    for name in ("chain_method", "device", "progress", "parameterization"):  # parts of the compiled program's key
        assert again.meta["settings"][name] == drifting_fit.meta["settings"][name], name
    top = drifting_fit.data.iloc[[-1]]
    assert again.extrapolation_distance(top)[0] > 0 == drifting_fit.extrapolation_distance(top)[0]
    # the same posterior as a fit of those rows alone (which compiles its own program)
    alone = bs.fit(drifting_curve().iloc[:18], law="power", y="loss", **FAST)
    for name in drifting_fit.param_names:
        masked, fresh = again.draws(name), alone.draws(name)
        assert abs(np.median(masked) - np.median(fresh)) < 0.5 * np.std(fresh), name
    with pytest.raises(ValueError, match="one value per fitted run"):
        refit(drifting_fit, keep[:5])
    with pytest.raises(ValueError, match=r"refit settings \['progress'\] are not known"):
        refit(drifting_fit, keep, {"progress": True})
    with pytest.raises(ValueError, match="keep holds no run"):
        refit(drifting_fit, np.zeros(24, dtype=bool))


@pytest.mark.long
def test_predict_sizes_the_drift_by_the_ladders_top_runs_when_it_first_extrapolates(drifting_fit):
    from bayescale.calibrate import can_hold_out

    fresh = bs.Fit(drifting_fit.idata, priors=drifting_fit.priors)  # the same posterior, nothing cached
    fresh.predict(drifting_curve().head(3))
    assert fresh._own_law_error is None  # inside the fitted range: no drift, no refit
    far = pd.DataFrame({"x": [1e10]})
    default = fresh.predict(far)
    assert fresh._own_law_error is not None and fresh.own_law_error() is fresh.own_law_error()
    # the drift that calibrate() sizes by the top fifth (same seeds), not the learned one as it is
    sized = fresh.calibrate(law_error=False).law_error
    pd.testing.assert_frame_equal(default, fresh.predict(far, law_error=sized))
    learned = fresh.predict(far, law_error=bs.law_error.default())
    assert not np.allclose(default["pred_upper"], learned["pred_upper"])
    assert can_hold_out(fresh) and not can_hold_out(fresh, holdout=0.9)  # 24 runs; 2 left would be too few


@pytest.mark.long
def test_the_drift_and_the_check_share_one_refit(drifting_fit, monkeypatch):
    from bayescale import inference

    fresh = bs.Fit(drifting_fit.idata, priors=drifting_fit.priors)
    calls = []
    real = inference.refit
    monkeypatch.setattr(inference, "refit", lambda *a, **k: calls.append(a[1].sum()) or real(*a, **k))
    fresh.own_law_error()
    check = fresh.calibrate()  # the learned drift on the intervals; the same top fifth held out
    assert calls == [19] and check.checked_with is not False
    fresh.calibrate(refit_kwargs={"seed": 5})  # other settings: a refit of their own
    fresh.calibrate(holdout=0.25)  # other runs held out
    assert calls == [19, 19, 18]
    with pytest.raises(ValueError, match=r"draws=\[500\] must be a positive integer"):
        fresh.calibrate(refit_kwargs={"draws": [500]})


@pytest.mark.long
def test_a_drift_sized_by_a_refit_that_did_not_converge_says_so(drifting_fit, monkeypatch):
    import dataclasses

    from bayescale import calibrate as calibrate_module

    checked = calibrate_module.calibrate(drifting_fit, law_error=False)
    monkeypatch.setattr(calibrate_module, "calibrate", lambda *a, **k: dataclasses.replace(checked, converged=False))
    with pytest.warns(bs.ConvergenceWarning, match="the drift's size is rough"):
        rough = calibrate_module.own_drift(drifting_fit)
    assert rough.source.endswith("(its refit broke the convergence rule)")
    np.testing.assert_allclose(rough.sd_ladder, checked.law_error.sd_ladder)


@pytest.mark.long
def test_a_check_is_judged_by_its_forecast_of_the_held_out_runs(drifting_fit):
    import arviz as az

    from bayescale.diagnostics import ESS_LIMIT, RHAT_LIMIT, draws_diagnostics, forecast_converged, quietly

    check = drifting_fit.calibrate(law_error=False)
    keep = ~drifting_fit.data.index.isin(drifting_fit.data.nlargest(len(check.runs), "x").index)
    again = quietly(lambda: bs.inference.refit(drifting_fit, keep))
    _, curve, _ = again.posterior_draws(check.runs, law_error=False)
    chains = again.idata.posterior.sizes["chain"]
    by_chain = curve.reshape(chains, -1, curve.shape[1])
    # the rule applied to the curve at the held-out runs, with ArviZ's R-hat and ESS as the reference
    rhat = max(float(az.rhat(by_chain[..., j], method="rank")) for j in range(curve.shape[1]))
    ess = min(float(az.ess(by_chain[..., j], method="bulk")) for j in range(curve.shape[1]))
    expected = rhat <= RHAT_LIMIT and ess >= ESS_LIMIT and again.diagnostics["divergences"] == 0
    assert check.converged == forecast_converged(again, curve) == expected
    # chains that sample different curves break the rule, however well each mixes on its own
    rng = np.random.default_rng(0)
    apart = rng.standard_normal((3, 2, 500)) + np.array([0.0, 1.0])[None, :, None]
    assert draws_diagnostics(apart)["max_rhat"] > 1.1
    alike = draws_diagnostics(rng.standard_normal((3, 2, 500)), divergences=2)
    assert alike["max_rhat"] < RHAT_LIMIT and alike["min_ess_bulk"] > ESS_LIMIT and alike["divergences"] == 2
