"""Shape checks on curve draws with known shapes."""

import numpy as np
import pytest

from bayescale.shapes import (
    accelerated_emergence,
    prob_monotone,
    saturation_budget,
    turning_point,
)

GRID = np.geomspace(1e6, 1e10, 120)
RNG = np.random.default_rng(0)


def _draws(fn, n=400, spread=0.02):
    scale = 1 + spread * RNG.standard_normal((n, 1))
    return fn(GRID[None, :] * scale)


def test_monotone_decreasing_and_inverse_scaling():
    decreasing = _draws(lambda x: 2 + 50 * x**-0.3)
    res = prob_monotone(curves=decreasing, grid=GRID).iloc[0]
    assert res.p_decreasing > 0.99 and res.p_increasing < 0.01 and res.change_upper < 0
    increasing = _draws(lambda x: 0.2 + 0.01 * np.log(x))
    res = prob_monotone(curves=increasing, grid=GRID).iloc[0]
    assert res.p_increasing > 0.99 and res.p_decreasing < 0.01


def test_turning_point_of_u_shape_is_located():
    true = 1e8
    curves = _draws(lambda x: 1 + (np.log(x) - np.log(true)) ** 2 / 10, spread=0.1)
    res = turning_point(curves=curves, grid=GRID).iloc[0]
    assert res.probability > 0.99
    assert res.lower < true < res.upper
    assert abs(np.log10(res["median"]) - 8) < 0.05
    monotone = _draws(lambda x: 2 + 50 * x**-0.3)
    assert turning_point(curves=monotone, grid=GRID).iloc[0].probability < 0.01


def test_accelerated_emergence_detects_curvature():
    power = _draws(lambda x: np.exp(-(x / 1e7) ** -0.5))  # log(-log p) linear: neither
    res = accelerated_emergence(curves=power, grid=GRID).iloc[0]
    assert abs(res.curvature_median) < 1e-3 and res.curvature_lower < 1e-3
    # slope steepening with scale: accelerated
    fast = _draws(lambda x: np.exp(-np.exp(1.0 - 0.02 * (np.log(x) - np.log(1e6)) ** 2)))
    res = accelerated_emergence(curves=fast, grid=GRID).iloc[0]
    assert res.p_accelerated > 0.99 and res.curvature_upper < 0


def test_saturation_budget_of_log_saturating_curve():
    # gain per doubling of 1 - exp(-x/1e8) is exp(-x/1e8) - exp(-2x/1e8); below 0.01 from x ~ 4.6e8
    curves = _draws(lambda x: 1 - np.exp(-x / 1e8), spread=0.0)
    res = saturation_budget(curves=curves, grid=GRID, threshold=0.01, higher_is_better=True).iloc[0]
    assert res.probability == 1.0
    assert 4e8 < res["median"] < 5.5e8
    never = _draws(lambda x: 0.05 * np.log2(x), spread=0.0)  # 0.05 per doubling forever
    assert saturation_budget(curves=never, grid=GRID, threshold=0.01, higher_is_better=True).iloc[0].probability == 0.0


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="threshold"):
        saturation_budget(curves=np.ones((2, 120)), grid=GRID, threshold=0, higher_is_better=True)
    with pytest.raises(ValueError, match="grid="):
        prob_monotone(curves=np.ones((2, 3)))
    with pytest.raises(ValueError, match="kind"):
        turning_point(curves=np.ones((2, 120)), grid=GRID, kind="saddle")
    with pytest.raises(ValueError, match="between=None must be"):  # a fit without between=
        saturation_budget(object(), x="N", threshold=0.01, higher_is_better=True)


def test_one_group_of_a_grouped_fit_while_level_stays_the_interval_mass(hierarchical_fit, three_datasets):
    import pandas as pd

    from bayescale.shapes import draws_along

    label = str(sorted(three_datasets["dataset"].unique())[-1])
    along = dict(path="ratio", ratio=20.0, law_error=False)
    grid, curves = draws_along(hierarchical_fit, "C", (1e18, 1e22), n_grid=5, group=("dataset", label), **along)
    params = np.sqrt(grid / (6 * 20.0))  # C = 6 N D along D = 20 N
    rows = pd.DataFrame({"params": params, "tokens": 20 * params, "dataset": label})
    expected = hierarchical_fit.predict(rows, law_error=False)["median"]
    np.testing.assert_allclose(np.median(curves, axis=0), expected, rtol=1e-4)
    # level= is the interval's mass, group= the curve's level: both at once, as a user passes them
    narrow = saturation_budget(hierarchical_fit, x="C", between=(1e18, 1e24), threshold=0.03, level=0.5,
                               group=("dataset", label), **along).iloc[0]
    wide = saturation_budget(hierarchical_fit, x="C", between=(1e18, 1e24), threshold=0.03, level=0.95,
                             group=("dataset", label), **along).iloc[0]
    assert narrow["probability"] == wide["probability"] > 0.5
    assert wide["lower"] < narrow["lower"] <= narrow["upper"] < wide["upper"]
    population = saturation_budget(hierarchical_fit, x="C", between=(1e18, 1e24), threshold=0.03, **along).iloc[0]
    assert population["gain_at_high"] != narrow["gain_at_high"]
    emergence = accelerated_emergence(hierarchical_fit, x="C", between=(1e18, 1e22), level=0.8,
                                      group=("dataset", label), **along)
    assert len(emergence) == 1
