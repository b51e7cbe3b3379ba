"""Leave-future-out comparison: folds, errors, and an end-to-end ranking that must prefer the true law."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.comparison import _lfo_table, lfo_folds


def test_folds_train_on_smaller_and_score_the_next_larger():
    order = np.array([5.0, 1.0, 2.0, 3.0, 4.0, 6.0, 7.0, 8.0, 8.0, 2.0])
    folds = lfo_folds(order, n_folds=2, min_train=0.5)
    assert len(folds) == 2
    for train, scored in folds:
        assert order[train].max() < order[scored].min()
        assert not np.any(train & scored)
    # the first training set is the smallest 4 of 8 distinct values; the future blocks are {5, 6} and {7, 8}
    assert sorted(order[folds[0][0]]) == [1.0, 2.0, 2.0, 3.0, 4.0]
    assert sorted(order[folds[0][1]]) == [5.0, 6.0]
    assert sorted(order[folds[1][1]]) == [7.0, 8.0, 8.0]
    assert folds[1][0].sum() == 7


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_folds": 0}, "n_folds=0"), ({"min_train": 1.5}, "min_train=1.5"), ({"n_folds": 9}, "cannot give")],
)
def test_fold_errors_name_the_setting(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lfo_folds(np.arange(10.0), **kwargs)


def test_table_ranks_best_first_with_se():
    table = _lfo_table({"a": np.array([-1.0, -2.0]), "b": np.array([-0.5, -0.5])}, {"a": False, "b": True}, 1)
    assert list(table.index) == ["b", "a"]
    assert table.loc["b", "elpd_lfo"] == pytest.approx(-1.0)
    assert table.loc["a", "elpd_diff"] == pytest.approx(2.0)
    assert table.loc["b", "dse"] == 0.0
    assert table["weight"].sum() == pytest.approx(1.0)
    assert bool(table.loc["b", "warning"])


def test_lfo_needs_order_by_and_a_known_ic():
    with pytest.raises(ValueError, match="ic='lfo' needs order_by"):
        bs.compare({"a": object(), "b": object()}, ic="lfo")
    with pytest.raises(ValueError, match="must be 'loo', 'waic' or 'lfo'"):
        bs.compare({"a": object(), "b": object()}, ic="kfold")


@pytest.mark.slow
def test_lfo_prefers_the_law_that_extrapolates():
    rng = np.random.default_rng(0)
    x = np.logspace(0, 4, 40)
    df = pd.DataFrame({"x": x, "y": (0.5 + 3.0 * x**-0.4) * np.exp(0.01 * rng.standard_normal(40))})
    settings = dict(y="y", chains=2, draws=300, warmup=300, seed=0, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = {"power": bs.fit(df, law="power", **settings), "power_pure": bs.fit(df, law="power_pure", **settings)}
        table = bs.compare(fits, ic="lfo", order_by="x", n_folds=2)
    assert list(table.index) == ["power", "power_pure"]
    assert table.loc["power_pure", "elpd_diff"] > 2 * table.loc["power_pure", "dse"]
    assert (table["n_scored"] == 20).all()
    with pytest.raises(ValueError, match="order_by='C' is not a column"):
        bs.compare(fits, ic="lfo", order_by="C")
