"""Averaging several laws: stacking weights and the mixture's predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.averaging import stacking_weights
from bayescale.results import Posterior

FAST = {"chains": 2, "draws": 300, "warmup": 300, "seed": 1, "progress": False}


def test_stacking_weights_of_known_densities():
    rng = np.random.default_rng(0)
    better = rng.normal(-1.0, 0.1, (40, 1))
    dominated = np.hstack([better, better - 3.0])
    assert stacking_weights(dominated)[0] > 0.99
    # each model right on half of the runs: the mixture needs both
    half = np.vstack([np.hstack([better[:20], better[:20] - 5]), np.hstack([better[20:] - 5, better[20:]])])
    w = stacking_weights(half)
    assert w == pytest.approx([0.5, 0.5], abs=0.05)
    with pytest.raises(ValueError, match=r"shape \(runs, models\)"):
        stacking_weights(np.zeros(5))


@pytest.fixture(scope="module")
def floored_curve():
    x = np.geomspace(1e6, 1e9, 14)
    rng = np.random.default_rng(3)
    y = (1.5 + 40.0 * x**-0.3) * np.exp(0.005 * rng.standard_normal(x.size))
    return pd.DataFrame({"x": x, "loss": y})


@pytest.mark.long
def test_stacking_puts_the_weight_on_the_law_that_made_the_data(floored_curve):
    fits = {
        "power": bs.fit(floored_curve, law="power", y="loss", **FAST),
        "power_pure": bs.fit(floored_curve, law="power_pure", y="loss", **FAST),
    }
    both = bs.average(fits)
    assert both.weights["power"] > 0.9
    assert list(both.summary().index) == ["power", "power_pure"]
    far = pd.DataFrame({"x": [1e10, 1e11]})
    table = both.predict(far, law_error=False)
    alone = fits["power"].predict(far, law_error=False)
    assert set(bs.PREDICTION_COLUMNS) <= set(table.columns)
    assert table["median"].to_numpy() == pytest.approx(alone["median"].to_numpy(), rel=0.02)
    assert (table["pred_lower"] <= table["lower"]).all() and (table["upper"] <= table["pred_upper"]).all()
    assert isinstance(both, Posterior) and both.fitted_inputs.equals(fits["power"].fitted_inputs)
    # 1e10 is one decade past the runs, 1e11 two: past the reach the law error was learned at
    with pytest.warns(bs.ExtrapolationWarning, match=r"1 of 2 rows \(rows 1\) lie up to 2\.0 decades"):
        both.predict(far)
    pseudo = bs.average(fits, method="pseudo-bma")
    assert pseudo.weights["power"] > 0.9
    ax = both.plot()
    assert "stacking average" in ax.get_title()
    with pytest.raises(ValueError, match=r"method='bma' must be one of"):
        bs.average(fits, method="bma")


def test_average_refuses_an_unknown_criterion():
    with pytest.raises(ValueError, match=r"ic='waic' must be 'loo' or 'lfo'"):
        bs.average({"a": None, "b": None}, ic="waic")
