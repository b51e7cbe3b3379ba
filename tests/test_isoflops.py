"""bs.near_optimal: the runs of each isoFLOP sweep near its budget's best loss."""

import numpy as np
import pandas as pd
import pytest

import bayescale as bs


def sweeps() -> pd.DataFrame:
    """Two budgets of two recipes; each sweep's best run and one run within 10% of it, one far off."""
    return pd.DataFrame({
        "C": [1e18, 1e18, 1e18, 1e19, 1e19, 1e19, 1e18, 1e18],
        "recipe": ["a", "a", "a", "a", "a", "a", "b", "b"],
        "N": [5e7, 1e8, 9e8, 1e8, 3e8, 9e8, 1e8, 9e8],
        "loss": [3.6, 3.3, 6.0, 3.0, 2.8, 2.9, 4.0, 4.7],
    }, index=[10, 11, 12, 13, 14, 15, 16, 17])  # fmt: skip


def test_keeps_the_runs_within_the_relative_excess_of_their_budgets_best():
    kept = bs.near_optimal(sweeps(), by="recipe", within=0.1)
    # budget 1e18 of a: best 3.3, limit 3.63 keeps 3.6 and drops 6.0; budget 1e19: best 2.8, limit 3.08
    # keeps all three; recipe b is its own sweep (best 4.0, limit 4.4 drops 4.7)
    assert kept.index.tolist() == [10, 11, 13, 14, 15, 16]
    assert kept.equals(sweeps().loc[kept.index])  # rows and columns unchanged


def test_without_by_the_recipes_of_one_budget_share_a_best():
    kept = bs.near_optimal(sweeps(), within=0.1)
    # budget 1e18 now has best 3.3 over both recipes: b's 4.0 is more than 10% above it
    assert kept.index.tolist() == [10, 11, 13, 14, 15]


def test_a_wider_window_keeps_more():
    assert len(bs.near_optimal(sweeps(), by="recipe", within=1.0)) == len(sweeps())
    assert len(bs.near_optimal(sweeps(), by="recipe", within=0.01)) == 3  # the best run of each sweep


@pytest.mark.parametrize("within", [0, -0.1, np.inf, np.nan, "0.2", None])
def test_bad_within_names_the_value(within):
    with pytest.raises(ValueError, match=r"within=.*positive number"):
        bs.near_optimal(sweeps(), within=within)


def test_missing_column_names_it_and_the_fix():
    with pytest.raises(KeyError, match=r"'budget_flops'.*budget="):
        bs.near_optimal(sweeps(), budget="budget_flops")
    with pytest.raises(KeyError, match=r"'dataset'"):
        bs.near_optimal(sweeps(), by=["recipe", "dataset"])


@pytest.mark.parametrize("value", [0.0, -1.0, np.nan])
def test_a_loss_that_is_not_positive_names_the_row(value):
    df = sweeps()
    df.loc[12, "loss"] = value
    with pytest.raises(ValueError, match=r"'loss' must hold positive losses; row 12"):
        bs.near_optimal(df)
