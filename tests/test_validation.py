"""Bad input raises a ValueError naming the column, the first offending row and the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayescale as bs

INPUTS = {"N": "params", "D": "tokens"}


@pytest.fixture
def runs() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    N = np.geomspace(1e7, 1e9, 12)
    return pd.DataFrame(
        {"params": N, "tokens": 20 * N, "loss": 2 + rng.uniform(0, 1, 12), "dataset": ["a", "b"] * 6}
    )


def fit(df, **kwargs):
    options = {"law": "chinchilla", "y": "loss", "inputs": INPUTS, "chains": 1, "draws": 5, "warmup": 5}
    return bs.fit(df, **{**options, **kwargs})


def test_missing_input_column_names_it_and_the_fix(runs):
    with pytest.raises(ValueError, match=r"column 'tokens' for input 'D'.*missing.*inputs=\{'D'"):
        fit(runs.drop(columns="tokens"))


def test_missing_target_column(runs):
    with pytest.raises(ValueError, match=r"target column y='val_loss' is missing"):
        fit(runs, y="val_loss")


def test_unknown_input_name_lists_the_law_inputs(runs):
    with pytest.raises(ValueError, match=r"\['P'\] are not inputs of law 'chinchilla'.*\['N', 'D'\]"):
        fit(runs, inputs={"P": "params", "D": "tokens"})


def test_non_numeric_column_names_row_and_value(runs):
    runs["params"] = runs["params"].astype(object)
    runs.loc[3, "params"] = "7B"
    with pytest.raises(ValueError, match=r"column 'params' \(input N\) is not numeric: row 3 holds '7B'"):
        fit(runs)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_are_refused_not_dropped(runs, bad):
    runs.loc[5, "loss"] = bad
    with pytest.raises(ValueError, match=r"column 'loss' \(target y\) has (nan|inf) at row 5.*dropna"):
        fit(runs)


def test_non_positive_input_where_the_law_takes_logs(runs):
    runs.loc[7, "tokens"] = 0.0
    with pytest.raises(ValueError, match=r"column 'tokens' \(input D\) has 0 at row 7; D must be > 0"):
        fit(runs)


def test_target_outside_beta_support(runs):
    bs.law(
        "accuracy_test_law",
        inputs=["x"],
        params={"k": bs.laws.get("power").param("alpha").prior},
        mean=lambda x, k: 1 - 0.5 * x**-k,
        lower_is_better=False,
        overwrite=True,
    )
    df = pd.DataFrame({"x": np.geomspace(1, 100, 12), "accuracy": np.linspace(0.5, 1.0, 12)})
    with pytest.raises(ValueError, match=r"column 'accuracy' has 1 at row 11, outside the support of likelihood='beta'"):
        bs.fit(df, law="accuracy_test_law", y="accuracy", likelihood="beta", chains=1, draws=5, warmup=5)


def test_non_positive_loss_under_log_likelihood(runs):
    runs.loc[2, "loss"] = -0.1
    with pytest.raises(ValueError, match=r"column 'loss' has -0.1 at row 2, outside the support.*y > 0"):
        fit(runs)


def test_fewer_rows_than_parameters(runs):
    with pytest.raises(ValueError, match=r"only 5 rows for a model with 7 free parameters"):
        fit(runs.head(5))


def test_grouping_column_with_one_level(runs):
    runs["dataset"] = "only"
    with pytest.raises(ValueError, match=r"grouping column 'dataset' has a single level \('only'\)"):
        fit(runs, groups="dataset")


def test_missing_grouping_column(runs):
    with pytest.raises(ValueError, match=r"grouping column 'family' is missing"):
        fit(runs, hierarchy={"E": "family"})


def test_hierarchy_key_must_be_a_parameter(runs):
    with pytest.raises(ValueError, match=r"'gamma' is not a parameter of law 'chinchilla'.*\['E', 'A', 'alpha', 'B', 'beta'\]"):
        fit(runs, hierarchy={"gamma": "dataset"})


def test_unknown_prior_name_lists_valid_names(runs):
    with pytest.raises(ValueError, match=r"priors=\{'alpha_N': \.\.\.\}.*valid names are \['A', 'B', 'E'"):
        fit(runs, priors={"alpha_N": bs.laws.get("chinchilla").param("alpha").prior})


def test_prior_must_be_a_distribution(runs):
    with pytest.raises(TypeError, match=r"priors\['alpha'\] must be a numpyro distribution, got float"):
        fit(runs, priors={"alpha": 0.3})


def test_prior_on_wrong_support(runs):
    import numpyro.distributions as dist

    with pytest.raises(ValueError, match=r"priors\['alpha'\] has support .*Real.*same support"):
        fit(runs, priors={"alpha": dist.Normal(0.3, 0.1)})


def test_unknown_law_and_likelihood(runs):
    with pytest.raises(KeyError, match=r"law='chinchila' is not registered"):
        fit(runs, law="chinchila")
    with pytest.raises(ValueError, match=r"likelihood='gauss' is not known"):
        fit(runs, likelihood="gauss")


@pytest.mark.parametrize("option", [{"chains": 0}, {"draws": -1}, {"target_accept_prob": 1.5}, {"device": "tpu"},
                                    {"max_tree_depth": 0}, {"max_tree_depth": (5, 10, 12)}, {"max_tree_depth": "10"}])
def test_bad_sampler_settings(runs, option):
    with pytest.raises(ValueError, match=next(iter(option))):
        fit(runs, **option)


def test_input_dataframe_is_not_modified(runs):
    before = runs.copy()
    with pytest.raises(ValueError):
        fit(runs.assign(loss=-1.0))
    pd.testing.assert_frame_equal(runs, before)
