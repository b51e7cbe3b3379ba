"""Compute-optimal allocation: closed form, numerical optimisation, real Chinchilla data."""

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.optimal import allocation_exponents, compute_optimal, optimal_draws

TRUE = {"E": 1.82, "A": 482.0, "alpha": 0.348, "B": 2085.0, "beta": 0.366}  # Besiroglu et al. 2024


def _posterior(law_name="chinchilla", n=200, spread=0.01, seed=0, fixed=None):
    """An object with the attributes the allocation code reads, with draws scattered around TRUE
    (and the parameters of ``fixed`` at those values in every draw)."""
    rng = np.random.default_rng(seed)
    law = bs.laws.get(law_name)
    draws = {k: v * np.exp(spread * rng.standard_normal(n)) for k, v in TRUE.items()}
    draws |= {k: np.full(n, v) for k, v in (fixed or {}).items()}
    return SimpleNamespace(
        law=law, draws=lambda name: draws[name], levels={}, meta={"levels": {}},
        law_error_option=lambda law_error: law_error,  # as Fit's, without a drift of its own
        spec=SimpleNamespace(groups_of={p: () for p in law.param_names}),
        data=pd.DataFrame({"N": [1e8, 1e9], "D": [2e9, 2e10]}),
    )


def _brute_force(C):
    N = np.geomspace(1e6, 1e14, 400001)
    D = C / (6 * N)
    loss = TRUE["E"] + TRUE["A"] * N ** -TRUE["alpha"] + TRUE["B"] * D ** -TRUE["beta"]
    return N[np.argmin(loss)]


def test_closed_form_matches_brute_force_and_numerical():
    post = _posterior(spread=0.0, n=3)
    C = np.array([1e21, 1e24])
    closed = optimal_draws(post, C, method="closed_form")
    numerical = optimal_draws(post, C, method="numerical")
    for i, c in enumerate(C):
        assert closed["N"][0, i] == pytest.approx(_brute_force(c), rel=1e-3)
    assert np.allclose(np.log(closed["N"]), np.log(numerical["N"]), atol=0.02)
    assert np.allclose(closed["N"] * closed["D"] * 6, C[None, :], rtol=1e-4)
    a = allocation_exponents(post).set_index("exponent")
    assert a.loc["a", "median"] == pytest.approx(TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"]), abs=1e-4)


def test_an_allocation_the_law_does_not_bound_is_warned_of():
    # chinchilla_farseer with zero slopes is the Chinchilla law: its numerical optimum is Chinchilla's
    post = _posterior("chinchilla_farseer", n=2, spread=0.0, fixed={"B_N": 0.0, "beta_N": 0.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.AllocationWarning)
        bounded = optimal_draws(post, [1e21])
    assert bounded["N"][0, 0] == pytest.approx(_brute_force(1e21), rel=0.03)
    # a data coefficient falling as N^-3: along C = 6ND every term falls with N, so no optimum
    post = _posterior("chinchilla_farseer", n=2, spread=0.0, fixed={"B_N": -3.0, "beta_N": 0.0})
    message = r"no compute-optimal allocation between 0.001 and 100000 tokens per parameter .* C = 1e\+21 \(100.0% of"
    with pytest.warns(bs.AllocationWarning, match=message):
        unbounded = optimal_draws(post, [1e21])
    assert unbounded["D_per_N"][0, 0] == pytest.approx(1e-3, rel=1e-3)  # the range's end, as the warning says
    assert unbounded["at_range_end"].all() and not bounded["at_range_end"].any()


def test_compute_optimal_table_shape_and_intervals():
    post = _posterior(spread=0.02)
    table = compute_optimal(post, C=[1e21, 1e22, 1e23], law_error=False)
    assert list(table.columns) == ["C", "quantity", "median", "mean", "lower", "upper"]
    assert set(table["quantity"]) == {"N", "D", "D_per_N", "loss"}
    assert len(table) == 12
    assert (table["lower"] <= table["median"]).all() and (table["median"] <= table["upper"]).all()
    ratio = table[(table.quantity == "D_per_N")]["median"].to_numpy()
    assert np.all((ratio > 10) & (ratio < 40))  # Besiroglu et al.: about 20 tokens per parameter


def test_the_loss_at_a_far_optimum_carries_the_law_error_as_a_prediction_there_does(ladder_fit):
    C = [1e25]  # about 1,000x the ladder's largest run
    with pytest.warns(bs.ExtrapolationWarning, match=r"1 of 1 budgets' optima \(budgets' optima C=1e\+25\)"):
        honest = compute_optimal(ladder_fit, C=C).set_index("quantity")
    plain = compute_optimal(ladder_fit, C=C, law_error=False).set_index("quantity")
    pd.testing.assert_frame_equal(honest.drop(index="loss"), plain.drop(index="loss"))  # the same optimum
    width = {name: t.loc["loss", "upper"] - t.loc["loss", "lower"] for name, t in (("honest", honest), ("plain", plain))}
    assert width["honest"] > 2 * width["plain"], width
    # the same drift as a prediction at the median optimum: its curve interval is about as wide
    at = pd.DataFrame({"params": [honest.loc["N", "median"]], "tokens": [honest.loc["D", "median"]]})
    with pytest.warns(bs.ExtrapolationWarning):  # ~3 decades out, beyond the learned reach
        curve = ladder_fit.predict(at).iloc[0]
    assert 0.7 < width["honest"] / (curve["upper"] - curve["lower"]) < 1.5


def test_a_crossing_on_the_compute_optimal_path_is_measured_at_the_median_optimum(ladder_fit):
    from bayescale.crossovers import _distance_along
    from bayescale.optimal import optimal_draws, optimum_distance

    C = np.array([1e21, 1e25])  # about the ladder's largest run, and 1,000x that
    on_path = _distance_along(ladder_fit, "C", C, "optimal", None, None, None)
    np.testing.assert_allclose(on_path, optimum_distance(ladder_fit, optimal_draws(ladder_fit, C)))
    assert on_path[0] < bs.law_error.learned_reach() < on_path[1]


def test_errors():
    post = _posterior()
    with pytest.raises(ValueError, match="positive FLOP"):
        compute_optimal(post, C=[-1.0])
    with pytest.raises(ValueError, match="level"):
        compute_optimal(post, C=[1e21], level=2)
    with pytest.raises(ValueError, match=r"level=1\.5 must lie in \(0, 1\)"):
        allocation_exponents(post, level=1.5)
    post.law = bs.laws.get("power")
    with pytest.raises(ValueError, match="law of N and D"):
        compute_optimal(post, C=[1e21])


@pytest.mark.slow
def test_chinchilla_data_allocation_exponent(shared_data_dir):
    df = bs.datasets.load("chinchilla")
    fit = bs.fit(df, law="chinchilla", chains=4, draws=500, warmup=500, seed=0, progress=False)
    a = allocation_exponents(fit).set_index("exponent")
    # Besiroglu et al. 2024: a = 0.513 on these data
    assert a.loc["a", "lower"] < 0.513 < a.loc["a", "upper"]
    ratio = compute_optimal(fit, C=[1e21, 1e22, 1e23, 1e24])
    ratio = ratio[ratio.quantity == "D_per_N"]
    assert ((ratio["lower"] < 25) & (ratio["upper"] > 15)).all()
