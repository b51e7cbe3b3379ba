"""The law error: a drift beyond the fitted runs that grows with the extrapolation distance."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale import law_error, law_error_learning


def test_distance_is_zero_inside_and_counts_decades_per_input():
    law = bs.laws.get("chinchilla")
    fitted = pd.DataFrame({"N": [1e7, 1e8], "D": [1e9, 2e9]})
    new = pd.DataFrame({"N": [5e7, 1e9, 1e9], "D": [1e9, 2e9, 2e10]})
    assert law_error.extrapolation_distance(law, fitted, new) == pytest.approx([0.0, 1.0, 2.0])


def test_an_isoflop_sweep_is_measured_along_compute():
    law = bs.laws.get("chinchilla")
    # two budgets, each a sweep from small N / many tokens to large N / few tokens
    N = np.array([1e7, 1e8, 1e9, 1e8, 1e9, 1e10])
    fitted = pd.DataFrame({"N": N, "D": np.array([1e17, 1e17, 1e17, 1e18, 1e18, 1e18]) / N})
    middle = pd.DataFrame({"N": [1e9], "D": [1e10]})  # inside the box, at 10x the largest budget
    assert law_error.extrapolation_distance(law, fitted, middle) == pytest.approx([1.0])


def test_every_law_of_the_catalogue_can_drift_beyond_its_runs():
    # predict's default law error needs a direction of extrapolation: a law without one would
    # silently give intervals with no law error at any distance
    for name in bs.laws.list()["name"]:
        directions = law_error.scale_inputs(bs.laws.get(name))
        assert directions and set(directions.values()) <= {-1, 1}, (name, directions)


def test_a_loss_input_extrapolates_downwards():
    law = bs.laws.get("error_from_loss")
    assert law_error.scale_inputs(law) == {"L": -1}
    fitted = pd.DataFrame({"L": [3.0, 4.0]})
    assert law_error.extrapolation_distance(law, fitted, pd.DataFrame({"L": [0.3, 3.5, 5.0]})) == pytest.approx(
        [1.0, 0.0, 0.0]
    )


def test_nothing_changes_inside_the_fitted_range(ladder_fit, ladder):
    inside = ladder.head(6)
    on = ladder_fit.predict(inside, seed=3, law_error=bs.LawError.fixed(0.05, 0.1))
    off = ladder_fit.predict(inside, seed=3, law_error=False)
    pd.testing.assert_frame_equal(on, off)


def test_the_band_widens_with_distance_as_the_drift_says(ladder_fit):
    N = np.array([1e10, 1e11, 1e12])
    grid = pd.DataFrame({"N": N, "D": 20 * N})
    d = ladder_fit.extrapolation_distance(grid)
    assert d[0] > 0 and np.diff(d) == pytest.approx([2.0, 2.0])  # 10x N and 10x D: two decades per step
    _, off, _ = ladder_fit.posterior_draws(grid, seed=0, law_error=False)
    sd = 0.03
    _, on, _ = ladder_fit.posterior_draws(grid, seed=0, law_error=bs.LawError.fixed(0.0, sd))
    extra = np.sqrt(np.var(np.log(on), axis=0) - np.var(np.log(off), axis=0))
    assert extra == pytest.approx(sd * d, rel=0.15)


def test_a_positive_gain_lowers_a_loss_and_group_levels_share_part_of_it(hierarchical_fit, three_datasets):
    far = three_datasets.groupby("dataset").head(1).assign(params=1e11, tokens=2e12)
    gain = 0.02
    off = hierarchical_fit.predict(far, seed=0, law_error=False)
    on = hierarchical_fit.predict(far, seed=0, law_error=bs.LawError.fixed(gain, 0.0))
    d = hierarchical_fit.extrapolation_distance(far)
    assert np.log(on["median"] / off["median"]).to_numpy() == pytest.approx(-gain * d, abs=2e-3)
    # levels are ladders of one dataset: they share its part of the drift (here half the variance)
    shifts = law_error.shift(bs.LawError.fixed(0.0, 0.1, sd_dataset=0.1), np.ones(3), np.arange(3), 4000,
                             lower_is_better=True, seed=0)  # fmt: skip
    corr = np.corrcoef(shifts.T)[np.triu_indices(3, 1)]
    assert corr == pytest.approx(0.5, abs=0.06)


def test_a_level_keeps_its_drift_whichever_levels_come_with_it():
    error = bs.LawError.fixed(0.0, 0.1)
    alone = law_error.shift(error, np.ones(1), np.array([2]), 50, lower_is_better=True, seed=7)
    together = law_error.shift(error, np.ones(3), np.array([0, 1, 2]), 50, lower_is_better=True, seed=7)
    np.testing.assert_allclose(alone[:, 0], together[:, 2])


@pytest.mark.long
def test_learn_recovers_a_known_drift():
    rng = np.random.default_rng(0)
    rows = []
    mu, sd = 0.03, 0.02
    for k in range(6):
        m_k = mu + 0.01 * rng.standard_normal()
        for ladder in range(5):
            b = m_k + sd * rng.standard_normal()
            for d in (0.3, 0.7, 1.0):
                rows.append({"dataset": f"d{k}", "ladder": ladder, "distance": d,
                             "residual": b * d + 0.002 * rng.standard_normal(), "spread": 0.002})  # fmt: skip
    learned = law_error_learning.learn(pd.DataFrame(rows), mean=True, chains=1, draws=300, seed=0)
    summary = learned.summary()
    assert summary["mu"] == pytest.approx(mu, abs=0.012)
    assert 0.01 < summary["sd_ladder"] < 0.04
    assert summary["power"] == pytest.approx(1.0, abs=0.25)
    assert (learned.nu > 2).all()  # a drift of finite variance: averages over draws stay meaningful
    with warnings.catch_warnings():  # mean=False leaves mu at 0 whether or not 20 draws converge
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        assert not law_error_learning.learn(pd.DataFrame(rows), chains=1, draws=20, seed=0).mu.any()
    with pytest.raises(ValueError, match=r"columns \['spread'\] are missing"):
        law_error_learning.learn(pd.DataFrame(rows).drop(columns="spread"))


@pytest.mark.long
def test_the_growth_is_learned_by_dataset_not_set_by_the_largest_source():
    # five datasets whose ladders drift linearly with distance, one with 20x the runs whose drift
    # saturates (power 0.3): a new dataset's growth is the majority's, not the large source's
    rng = np.random.default_rng(1)
    rows = []
    for k in range(6):
        power, n_ladders, distances = (0.3, 20, np.linspace(0.1, 2.0, 12)) if k == 0 else (1.0, 2, (0.3, 1.0, 2.0))
        for ladder in range(n_ladders):
            b = 0.02 * rng.standard_normal()
            for d in distances:
                rows.append({"dataset": f"d{k}", "ladder": ladder, "distance": d,
                             "residual": b * d**power + 0.001 * rng.standard_normal(), "spread": 0.001})  # fmt: skip
    learned = law_error_learning.learn(pd.DataFrame(rows), chains=1, draws=300, seed=0)
    assert np.median(learned.power) > 0.75  # one shared power gave 0.55 here
    assert 0.2 < learned.power.min() and learned.power.max() < 1.5
    with pytest.warns(bs.ConvergenceWarning, match="learning the law error: .*bulk ESS"):  # too few draws to trust
        law_error_learning.learn(pd.DataFrame(rows), chains=1, draws=20, seed=0)


def test_the_packaged_default_is_learned_and_finite(tmp_path):
    learned = law_error.default()
    assert learned.mu.size >= 100 and np.isfinite(learned.mu).all()
    assert "calibration.py" in learned.source
    assert (learned.nu > 2).all()  # learned with nu - 2 ~ Gamma: the drift has a finite variance
    for dataset in law_error.learned_from():
        assert (law_error.default(without=dataset).nu > 2).all(), dataset
    path = law_error_learning.save(learned, tmp_path / "copy.json")
    import json

    again = bs.LawError.from_record(json.loads(path.read_text())["law_error"])
    np.testing.assert_allclose(again.mu, learned.mu, atol=1e-6)


def test_the_packaged_error_across_regimes_is_learned_leaving_each_dataset_out():
    across = law_error.off_regime()
    assert across.mu.size >= 100 and np.isfinite(across.sd_dataset).all() and (across.nu > 2).all()
    assert "off_regime.py" in across.source
    import json

    record = json.loads((law_error.packaged_path().parent / law_error.OFF_REGIME_FILE).read_text())
    assert len(record["datasets"]) >= 5 and sorted(record["leave_one_out"]) == record["datasets"]
    for dataset in record["datasets"]:
        assert law_error.off_regime(without=dataset).source == f"all but {dataset}"
    with pytest.raises(KeyError, match=r"without='nope'.*chinchilla"):
        law_error.off_regime(without="nope")


def test_bad_law_error_arguments_are_named(ladder_fit, ladder):
    with pytest.raises(TypeError, match=r"law_error='yes' must be True"):
        ladder_fit.predict(ladder.head(2), law_error="yes")
    with pytest.raises(ValueError, match=r"sd_dataset and sd_ladder must be >= 0"):
        bs.LawError.fixed(0.0, -0.1)


def test_predict_warns_beyond_the_distance_the_law_error_was_learned_at(ladder_fit, ladder):
    reach = law_error.learned_reach()
    assert reach is not None and 1.0 < reach < 2.0  # the calibration splits' furthest held-out run
    top_n, top_d = ladder["params"].max(), ladder["tokens"].max()
    within = pd.DataFrame({"params": [3 * top_n], "tokens": [3 * top_d]})  # 0.95 decades out
    both = pd.DataFrame({"params": [3 * top_n, 10 * top_n], "tokens": [3 * top_d, 10 * top_d]})  # and 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.ExtrapolationWarning)
        ladder_fit.predict(within)
        ladder_fit.predict(both, law_error=False)  # the law alone: nothing learned to extrapolate
    with pytest.warns(bs.ExtrapolationWarning, match=r"1 of 2 rows \(rows 1\) lie up to 2\.0 decades .*\(1\.3 decades\)"):
        ladder_fit.predict(both)


@pytest.mark.long
def test_the_default_covers_ladders_whose_continuation_bends_away():
    """Six ladders of y = E + A x^-alpha whose exponent drifts beyond the fitted decade (by +-3% of
    log y at one decade out): the law alone misses most big runs, the learned law error covers them."""
    x = np.geomspace(1e6, 1e8, 16)
    far = pd.DataFrame({"x": [1e9]})
    rng = np.random.default_rng(5)
    inside = {"law only": 0, "default": 0}
    for i in range(6):
        drift = 0.03 * (1 if i % 2 else -1)
        y = (1.0 + 30.0 * x**-0.3) * np.exp(0.003 * rng.standard_normal(x.size))
        truth = (1.0 + 30.0 * 1e9**-0.3) * np.exp(-drift)
        fit = bs.fit(pd.DataFrame({"x": x, "loss": y}), law="power", y="loss", chains=2, draws=300, warmup=300,
                     seed=i, progress=False)  # fmt: skip
        for name, error in (("law only", False), ("default", True)):
            p = fit.predict(far, level=0.9, law_error=error).iloc[0]
            inside[name] += int(p["pred_lower"] <= truth <= p["pred_upper"])
    assert inside["law only"] <= 2
    assert inside["default"] >= 5


def test_two_fits_share_the_dataset_part_of_their_drift_only():
    error = bs.LawError.fixed(0.0, 0.1, sd_dataset=0.1)
    a, b = (law_error.shift(error, np.ones(1), np.zeros(1), 4000, lower_is_better=True, seed=3, ladder=k)
            for k in (11, 12))  # fmt: skip
    assert np.corrcoef(a[:, 0], b[:, 0])[0, 1] == pytest.approx(0.5, abs=0.06)
    again = law_error.shift(error, np.ones(1), np.zeros(1), 4000, lower_is_better=True, seed=3, ladder=11)
    np.testing.assert_array_equal(a, again)


def test_bad_names_are_refused_with_the_valid_ones():
    assert "loss_to_loss" in law_error.learned_from()
    with pytest.raises(KeyError, match=r"without='nope'.*loss_to_loss"):
        law_error.default(without="nope")
    with pytest.raises(ValueError, match=r"columns \['coverage'\] are missing"):
        bs.plot_calibration(pd.DataFrame({"method": ["a"], "level": [0.9]}))


def test_a_level_of_two_grouping_columns_keeps_its_code_whatever_is_predicted_with_it():
    from bayescale.law_error import level_codes

    a, b = np.array([0, 1, 1, 2]), np.array([1, 0, 1, 1])
    four = level_codes([a, b], 4)
    two = level_codes([a[2:], b[2:]], 2)
    assert (four[2:] == two).all() and len(set(four)) == 4
    assert (level_codes([a], 4) == a).all() and (level_codes([], 3) == 0).all()
