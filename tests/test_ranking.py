"""Ranking recipes: probabilities that sum to 1, non-negative regret, a winner that changes with scale
(separate fits and levels of one grouped fit), settings of one fit, errors, CLI."""

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.cli import main
from bayescale.ranking import Ranking

FAST = {"chains": 2, "draws": 300, "warmup": 300, "seed": 2, "progress": False}

#: Three recipes of y = E + A x^-alpha: "quick" is best at small x, "deep" at large x, "mid" never.
RECIPES = {"quick": (1.0, 5.0, 0.3), "mid": (0.9, 12.0, 0.35), "deep": (0.5, 40.0, 0.45)}
SMALL, LARGE = 1e2, 1e6  # both inside the runs (30 to 3e6)


def _truth(name, x):
    E, A, alpha = RECIPES[name]
    return E + A * x**-alpha


def test_truth_has_the_winner_changing_with_scale():
    at_small = {name: _truth(name, SMALL) for name in RECIPES}
    at_large = {name: _truth(name, LARGE) for name in RECIPES}
    assert min(at_small, key=at_small.get) == "quick" and min(at_large, key=at_large.get) == "deep"
    assert sorted(at_small.values())[1] - sorted(at_small.values())[0] > 0.05  # clear margins
    assert sorted(at_large.values())[1] - sorted(at_large.values())[0] > 0.05


@pytest.fixture(scope="module")
def runs():
    rng = np.random.default_rng(5)
    x = np.geomspace(30, 3e6, 14)
    frames = [pd.DataFrame({"x": x, "loss": _truth(name, x) * np.exp(0.01 * rng.standard_normal(x.size)), "recipe": name})
              for name in RECIPES]  # fmt: skip
    return pd.concat(frames, ignore_index=True)


# compiles a sampler no quick test shares: every test that uses it is marked long (pyproject.toml)
@pytest.fixture(scope="module")
def fits(runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        separate = {name: bs.fit(rows, law="power", y="loss", **FAST) for name, rows in runs.groupby("recipe", sort=False)}
        grouped = bs.fit(runs, law="power", y="loss", groups="recipe", **FAST)
    return separate, grouped


def _draws(values, lower_is_better=True):
    return Ranking(names=[f"r{i}" for i in range(values.shape[1])], values=values, lower_is_better=lower_is_better,
                   at={"C": 1e23})  # fmt: skip


def test_probabilities_sum_to_one_and_regret_is_not_negative():
    rng = np.random.default_rng(0)
    res = _draws(rng.normal([2.0, 2.05, 2.3], 0.05, size=(500, 3)))
    assert res.p_best.sum() == pytest.approx(1.0)
    assert (res.regret >= 0).all() and (res.expected_regret >= 0).all()
    pair = res.pairwise().to_numpy()
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_allclose((pair + pair.T)[off], 1.0)
    assert np.isnan(np.diag(pair)).all()
    s = res.summary()
    assert list(s.index) == ["r0", "r1", "r2"] and list(s["rank"]) == [1, 2, 3] and res.best == "r0"
    assert s.loc["r0", "expected_regret"] < s.loc["r1", "expected_regret"] < s.loc["r2", "expected_regret"]
    assert s.loc["r2", "p_best"] < 0.01 and s.loc["r2", "expected_regret"] == pytest.approx(0.3, abs=0.03)
    # higher is better: the order reverses
    assert _draws(rng.normal([2.0, 2.05, 2.3], 0.05, size=(500, 3)), lower_is_better=False).best == "r2"


def test_ties_are_split_evenly():
    values = np.tile([[1.0, 1.0, 2.0]], (10, 1))
    res = _draws(values)
    assert list(res.p_best) == [0.5, 0.5, 0.0]
    assert res.pairwise().loc["r0", "r1"] == 0.5 and res.expected_regret["r0"] == 0.0


@pytest.mark.long
def test_winner_changes_with_scale_separate_fits(fits):
    separate, _ = fits
    small = bs.rank(separate, at={"x": SMALL})
    large = bs.rank(separate, at={"x": LARGE})
    assert small.best == "quick" and small.p_best["quick"] > 0.9
    assert large.best == "deep" and large.p_best["deep"] > 0.9
    for res in (small, large):
        assert res.p_best.sum() == pytest.approx(1.0) and (res.regret >= 0).all()
    assert large.pairwise().loc["deep", "quick"] > 0.95 and small.pairwise().loc["deep", "quick"] < 0.05
    # the regret of the wrong pick is the true loss gap, roughly
    gap = _truth("quick", LARGE) - _truth("deep", LARGE)
    assert large.expected_regret["quick"] == pytest.approx(gap, rel=0.25)


@pytest.mark.long
def test_levels_of_one_grouped_fit_and_settings_of_one_fit(fits):
    _, grouped = fits
    by_groups = bs.rank(grouped, groups=["quick", "mid", "deep"], at=LARGE, x="x")
    assert by_groups.best == "deep" and by_groups.p_best["deep"] > 0.9
    assert bs.rank(grouped, groups=["quick", "mid", "deep"], at=SMALL, x="x").best == "quick"
    # the same ranking, with each recipe given as (fit, {group column: level})
    explicit = bs.rank({name: (grouped, {"recipe": name}) for name in ("quick", "mid", "deep")}, at={"x": LARGE})
    np.testing.assert_allclose(explicit.values, by_groups.values)


@pytest.mark.long
def test_law_error_makes_a_far_extrapolation_less_certain(fits):
    separate, _ = fits
    far = 3e9  # three decades beyond the runs
    honest = bs.rank(separate, at={"x": far})
    law_only = bs.rank(separate, at={"x": far}, law_error=False)
    assert honest.best == law_only.best == "deep"

    def spread(r):
        return (r.summary()["upper"] - r.summary()["lower"]).mean()

    assert spread(honest) > 1.5 * spread(law_only)
    assert honest.p_best["deep"] <= law_only.p_best["deep"] + 0.01


@pytest.mark.long
def test_argument_errors(fits):
    separate, grouped = fits
    with pytest.raises(ValueError, match="two or more recipes"):
        bs.rank({"quick": separate["quick"]}, at={"x": 1e3})
    with pytest.raises(TypeError, match="must be a number"):
        bs.rank(separate, at="1e3")
    with pytest.raises(ValueError, match="no grouping column of the fit has all of them"):
        bs.rank(grouped, groups=["quick", "slow"], at=1e3, x="x")
    with pytest.raises(ValueError, match="disagree on whether lower is better"):
        accuracy = SimpleNamespace(law=bs.laws.get("power"), lower_is_better=False)
        bs.rank({"a": separate["quick"], "b": accuracy}, at={"x": 1e3})
    with pytest.raises(ValueError, match="level=1.5 must lie in"):
        bs.rank(separate, at={"x": 1e3}, level=1.5)


def test_inputs_of_a_law_of_N_and_D(ladder_fit):
    # every input given: the curve there; only C: along the compute-optimal path
    point = bs.rank({"a": ladder_fit, "b": ladder_fit}, at={"N": 1e9, "D": 2e10})
    assert point.p_best.sum() == pytest.approx(1.0) and point.expected_regret.max() == 0  # the same curve twice
    along = bs.rank({"a": ladder_fit, "b": ladder_fit}, at={"C": 1.2e20})
    assert along.values.shape[1] == 2
    with pytest.raises(ValueError, match=r"needs every input \['N', 'D'\] \(missing \['D'\]\)"):
        bs.rank({"a": ladder_fit, "b": ladder_fit}, at={"N": 1e9, "tokens_per_param": 20})


@pytest.mark.long
def test_repr_plot_cli_and_report(fits, tmp_path, capsys):
    separate, grouped = fits
    res = bs.rank(separate, at={"x": LARGE})
    assert "best: deep" in repr(res) and "P(row better than column)" in res._repr_html_()
    ax = res.plot()
    assert "P best" in ax.get_yticklabels()[0].get_text()
    paths = [separate[name].save(tmp_path / f"{name}.nc") for name in separate]
    assert main(["rank", *map(str, paths), "--at", f"x={LARGE}"]) == 0
    out = capsys.readouterr().out
    assert "best (least expected regret): deep" in out and "P(row better than column)" in out
    grouped_path = grouped.save(tmp_path / "grouped.nc")
    assert main(["rank", str(grouped_path), "--groups", "quick,deep", "--at", f"x={SMALL}"]) == 0
    assert "best (least expected regret): quick" in capsys.readouterr().out
    page = grouped.report(tmp_path / "r.html", ranking=res).read_text()
    assert "<h2>Ranking of recipes</h2>" in page
