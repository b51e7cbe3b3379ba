"""benchmarks/extrapolation.py: the point-estimate baseline, the splits and the table."""

from __future__ import annotations

import importlib.util
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import REPO_ROOT

import bayescale as bs

_spec = importlib.util.spec_from_file_location("extrapolation", REPO_ROOT / "benchmarks" / "extrapolation.py")
extrapolation = importlib.util.module_from_spec(_spec)
sys.modules["extrapolation"] = extrapolation
_spec.loader.exec_module(extrapolation)


def test_chinchilla_baseline_recovers_known_parameters():
    rng = np.random.default_rng(0)
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), 80))
    D = np.exp(rng.uniform(np.log(1e8), np.log(1e11), 80))
    group = rng.integers(0, 2, 80)
    E = np.array([1.8, 1.5])[group]
    y = (E + 482.0 * N**-0.348 + 2085.0 * D**-0.366) * np.exp(rng.normal(0, 0.002, 80))
    params = extrapolation.fit_chinchilla_baseline(N, D, y, group)
    assert np.exp(params["e"]) == pytest.approx([1.8, 1.5], rel=0.03)
    assert params["alpha"] == pytest.approx(0.348, abs=0.03)
    assert params["beta"] == pytest.approx(0.366, abs=0.03)
    predicted = extrapolation.predict_chinchilla_baseline(params, N, D, group)
    assert np.median(np.abs(predicted / y - 1)) < 0.005


def test_chinchilla_baseline_converges_on_a_noisy_ladder():
    """With 1% noise the Huber sum is ~1e-4, below SciPy's default absolute ftol floor; the fit
    must still reach the minimum, at least as low as the objective at the true parameters."""
    rng = np.random.default_rng(1)
    N = np.repeat(np.geomspace(2e7, 5e8, 5), 5)
    D = N * np.tile([5.0, 10.0, 20.0, 40.0, 80.0], 5)
    y = (1.82 + 482.0 * N**-0.348 + 2085.0 * D**-0.366) * np.exp(0.01 * rng.standard_t(5, 25))

    def objective(e, a, alpha, b, beta):
        log_mean = np.logaddexp(np.logaddexp(e, a - alpha * np.log(N)), b - beta * np.log(D))
        return extrapolation.huber(log_mean - np.log(y))[0].sum()

    p = extrapolation.fit_chinchilla_baseline(N, D, y)
    fitted = objective(p["e"][0], p["a"], p["alpha"], p["b"], p["beta"])
    assert fitted <= objective(np.log(1.82), np.log(482.0), 0.348, np.log(2085.0), 0.366)


def test_power_baseline_recovers_known_parameters():
    x = np.geomspace(1e5, 1e9, 30)
    y = 0.9 + 600.0 * x**-0.41
    params = extrapolation.fit_power_baseline(x, y)
    assert np.exp(params["e"]) == pytest.approx(0.9, rel=0.01)
    assert params["alpha"] == pytest.approx(0.41, rel=0.05)
    assert np.exp(params["a"]) == pytest.approx(600.0, rel=0.3)
    assert np.allclose(extrapolation.predict_power_baseline(params, x), y, rtol=1e-3)


def test_table_counts_coverage_and_errors():
    points = pd.DataFrame({
        "dataset": ["a", "a", "b", "b"], "y": [1.0, 2.0, 3.0, 4.0], "median": [1.1, 2.0, 3.0, 4.4],
        "lo50": [0.9, 2.5, 2.9, 3.0], "hi50": [1.2, 2.6, 3.1, 3.5], "lo90": [0.8, 1.5, 2.5, 3.0],
        "hi90": [1.3, 2.6, 3.5, 3.9], "baseline": [1.0, 2.2, 3.3, 4.0],
    })  # fmt: skip
    summary = extrapolation.table(points)
    assert summary.loc["a", "cover50"] == 0.5 and summary.loc["b", "cover90"] == 0.5
    assert summary.loc["all (aggregate)", "cover90"] == 0.75
    assert summary.loc["a", "mdape_bayes_%"] == pytest.approx(5.0)
    assert summary.loc["b", "mdape_baseline_%"] == pytest.approx(5.0)
    assert "| all (aggregate) | 4 |" in extrapolation.markdown(summary)


def test_splits_follow_the_issue(shared_data_dir):
    ot = extrapolation.overtraining_split()
    assert ot.train["N"].max() < 4.2e8 and sorted(ot.test["N"].unique().round(-8)) == [1.4e9, 6.9e9]
    assert set(ot.train["dataset"]) == {"C4", "RedPajama", "RefinedWeb"}
    db = extrapolation.datablations_split()
    assert db.train["N"].max() == pytest.approx(2.81e9) and set(db.test["N"].round(-8)) == {4.2e9, 8.7e9}
    po = extrapolation.porian_split()
    assert po.test["C"].min() > po.train["C"].max()
    # isoFLOP sweeps are fitted near their optimum: every training run within 10% of its budget's best
    best = po.train.groupby("C")["loss"].transform("min")
    assert (po.train["loss"] <= 1.1 * best).all() and po.train["loss"].max() < 5.0
    nsl = extrapolation.nsl_splits()
    assert len(nsl) == 20 and all(len(s.train) <= extrapolation.MAX_TRAIN_POINTS for s in nsl)


@pytest.mark.slow
def test_overtraining_extrapolation_covers_the_large_runs(shared_data_dir):
    """The hierarchical fit of the over-training ladder (runs <= 411M) predicts the 1.4B and 6.9B runs.

    Whether it also beats the Huber baseline is reported by the benchmark, not asserted here: at
    these small draw counts the two errors are within 0.2 percentage points of each other.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        points = extrapolation.evaluate(extrapolation.overtraining_split(), chains=2, draws=300, warmup=300)
    row = extrapolation.table(points).loc["overtraining"]
    assert row["held_out"] == 9
    assert row["cover90"] >= 7 / 9, row
    assert row["mdape_bayes_%"] < 3.0, row
