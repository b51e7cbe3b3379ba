"""Crossover detection on curve pairs with and without a known crossing, and on real data."""

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

import bayescale as bs
from bayescale.crossovers import crossover
from bayescale.results import Posterior


def _curve_fit(E, A, alpha, n=400, spread=0.01, seed=0):
    """A fit-like object whose curve draws are y = E + A x^-alpha with small scatter in the parameters."""
    rng = np.random.default_rng(seed)
    e = E * np.exp(spread * rng.standard_normal(n))[:, None]
    a = A * np.exp(spread * rng.standard_normal(n))[:, None]
    al = alpha * np.exp(spread * rng.standard_normal(n))[:, None]

    def posterior_draws(frame, seed=0, law_error=True):
        x = frame["x"].to_numpy()[None, :]
        curve = e + a * x**-al
        return frame, curve, curve

    def predict(frame, level=0.9, seed=0, law_error=True):
        return bs.posterior.prediction_table(*posterior_draws(frame), level)

    runs = pd.DataFrame({"x": [1e3, 1e6]})
    stand_in = SimpleNamespace(law=bs.laws.get("power"), posterior_draws=posterior_draws, predict=predict, y="loss",
                               lower_is_better=True, data=runs, fitted_inputs=runs, columns={"x": "x"}, levels={})
    assert isinstance(stand_in, Posterior)  # the interface crossover relies on, and nothing else
    return stand_in


def test_known_crossing_is_found_and_covered():
    a, b = _curve_fit(1.0, 10.0, 0.5), _curve_fit(1.5, 2.0, 0.3, seed=1)
    truth = brentq(lambda x: (1.0 + 10 * x**-0.5) - (1.5 + 2 * x**-0.3), 1e1, 1e8)
    res = crossover(a, b, x="x", between=(1e1, 1e8))
    s = res.summary().iloc[0]
    assert res.probability > 0.95
    assert s["lower"] < truth < s["upper"]
    # A (steeper, lower floor) is worse at small x and better at large x (lower is better for a loss)
    with pytest.warns(bs.ExtrapolationWarning, match="1 of 2 values of x"):  # 1e8: 2 decades beyond the runs
        pb = res.prob_better([1e1, 1e8])
    assert pb["prob_a_better"].iloc[0] < 0.05 and pb["prob_a_better"].iloc[1] > 0.95


def test_a_crossing_further_out_than_the_law_error_was_measured_is_flagged():
    far = _curve_fit(1.0, 120.0, 0.2), _curve_fit(2.0, 5.0, 0.1, seed=1)  # cross near 2.6e9; the runs end at 1e6
    with pytest.warns(bs.ExtrapolationWarning,
                      match=r"2 of 2 curves at the median crossing \(curves at the median crossing A, B\) lie up to 3\.\d"):
        res = crossover(*far, x="x", between=(1e3, 1e12))
    assert 1e9 < res.summary().iloc[0]["median"] < 1e10
    # asked at a value of its own, further out than the law error was measured: flagged too
    with pytest.warns(bs.ExtrapolationWarning, match=r"1 of 2 values of x \(values of x 1e\+12\) lie up to 6\.0 decades"):
        res.prob_better([1e5, 1e12])
    near = _curve_fit(1.0, 40.0, 0.2), _curve_fit(2.0, 5.0, 0.1, seed=1)  # cross near 2.2e6, 0.3 decades out
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.ExtrapolationWarning)
        crossover(*far, x="x", between=(1e3, 1e12), law_error=False).prob_better(1e12)
        assert 1e6 < crossover(*near, x="x", between=(1e3, 1e12)).summary().iloc[0]["median"] < 1e7


def test_no_crossing_gives_probability_near_zero():
    a, b = _curve_fit(1.0, 10.0, 0.5), _curve_fit(1.5, 12.0, 0.5, seed=1)  # B above A everywhere
    res = crossover(a, b, x="x", between=(1e1, 1e8))
    assert res.probability < 0.05
    assert np.isnan(res.summary().iloc[0]["median"])
    assert res.prob_better(1e4)["prob_a_better"].iloc[0] > 0.95
    ax = res.plot()
    assert ax.get_xscale() == "log" and ax.get_legend() is not None


def test_higher_is_better_flips_the_sign():
    a, b = _curve_fit(1.0, 10.0, 0.5), _curve_fit(1.5, 12.0, 0.5, seed=1)
    res = crossover(a, b, x="x", between=(1e1, 1e8), lower_is_better=False)
    assert res.prob_better(1e4)["prob_a_better"].iloc[0] < 0.05


def test_argument_errors():
    a = _curve_fit(1.0, 10.0, 0.5)
    with pytest.raises(ValueError, match="either two fits"):
        crossover(a)
    with pytest.raises(ValueError, match="between"):
        crossover(a, a, x="x", between=(10, 1))
    with pytest.raises(ValueError, match="not an input"):
        crossover(a, a, x="tokens", between=(1, 10))
    with pytest.raises(ValueError, match=r"x='tokens' is neither an input nor a column.*between="):
        crossover(a, a, x="tokens")  # no range to read from the runs
    assert crossover(a, a, x="x").grid[[0, -1]].tolist() == pytest.approx([1e3, 1e6])  # the runs' range


@pytest.mark.long
def test_groups_of_one_fit_synthetic():
    rng = np.random.default_rng(3)
    x = np.geomspace(1e2, 1e6, 12)
    rows = []
    for family, (E, A, alpha) in {"a": (0.5, 20.0, 0.5), "b": (1.0, 4.0, 0.3)}.items():
        y = (E + A * x**-alpha) * np.exp(0.01 * rng.standard_normal(x.size))
        rows.append(pd.DataFrame({"x": x, "y": y, "family": family}))
    df = pd.concat(rows, ignore_index=True)
    truth = brentq(lambda v: (0.5 + 20 * v**-0.5) - (1.0 + 4 * v**-0.3), 1e1, 1e8)
    fit = bs.fit(df, law="power", y="y", groups="family", chains=2, draws=300, warmup=300, seed=0, progress=False)
    res = crossover(fit, groups=("a", "b"), x="x", between=(1e2, 1e7))
    s = res.summary().iloc[0]
    assert res.probability > 0.9
    assert s["lower"] < truth < s["upper"]


def test_names_label_the_summary_and_the_plot_with_the_runs():
    a, b = _curve_fit(1.0, 10.0, 0.5), _curve_fit(1.5, 2.0, 0.3, seed=1)
    for fit, (E, A, alpha) in ((a, (1.0, 10.0, 0.5)), (b, (1.5, 2.0, 0.3))):
        x = np.geomspace(1e1, 1e8, 6)
        fit.data, fit.y = pd.DataFrame({"x": x, "y": E + A * x**-alpha}), "y"
    res = crossover(a, b, x="x", names=("CLIP", "MaMMUT"))
    assert tuple(res.summary().iloc[0][["a", "b"]]) == ("CLIP", "MaMMUT")
    ax = res.plot()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"CLIP runs", "MaMMUT runs", "CLIP: median, 90% band"} <= set(labels)
    from matplotlib.collections import PathCollection

    assert sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection)) == 12
    assert ax.get_ylabel() == "y (lower is better)"
    with pytest.raises(ValueError, match="names='AB' must be two labels"):
        crossover(a, b, x="x", names="AB")


@pytest.mark.slow
def test_clip_vs_mammut_segmentation(shared_data_dir):
    df = bs.datasets.load("clip_mammut_segmentation")
    df = df.assign(err=1 - df["miou"])
    # the best run per family at each compute level (the Pareto front), as in Nezhurina et al.
    df = df.sort_values("C")
    front = df.groupby(["family", pd.cut(np.log10(df["C"]), 20)], observed=True)["err"].idxmin()
    front = df.loc[front.to_numpy()]
    # one fit per family: a two-level hierarchy cannot identify its group sd (divergences) and would
    # shrink the curves toward each other
    fits = [bs.fit(front[front.family == family], law="power", y="err", inputs={"x": "C"}, likelihood="normal",
                   chains=4, draws=500, warmup=1000, seed=0, progress=False) for family in ("clip", "mammut")]
    assert sum(f.diagnostics["divergences"] for f in fits) <= 5
    assert all(f.diagnostics["max_rhat"] < 1.05 for f in fits)
    ranges = front.groupby("family")["C"].agg(["min", "max"])
    res = crossover(*fits, x="C", between=(ranges["min"].max(), ranges["max"].min()), names=("clip", "mammut"))
    s = res.summary().iloc[0]
    assert s["probability"] > 0.9 and 1e17 < s["median"] < 1e19
    assert s["p_a_better_low"] > 0.9 and s["p_a_better_high"] < 0.1  # MaMMUT is ahead at large compute
