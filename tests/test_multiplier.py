"""Compute multiplier: exact inversion on known curves, a known multiplier recovered from simulated
ladders (two fits, and two levels of one grouped fit), the law error shared between recipes, CLI and report."""

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.cli import main
from bayescale.multiplier import compute_to_reach
from bayescale.results import Posterior

FAST = {"chains": 2, "draws": 300, "warmup": 300, "seed": 1, "progress": False}
TRUTH = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
K = 3.0  # recipe B needs K times recipe A's compute for the same loss


def _curve_fit(E, A, alpha, *, n=400, spread=0.0, seed=0, lower_is_better=True):
    """A fit-like object whose curve draws are ``E + A x^-alpha`` (or ``1 - that`` for an accuracy)."""
    rng = np.random.default_rng(seed)
    e, a, al = (v * np.exp(spread * rng.standard_normal(n))[:, None] for v in (E, A, alpha))
    flip = lower_is_better is False

    def posterior_draws(frame, seed=0, law_error=True):
        x = frame["x"].to_numpy()[None, :]
        curve = e + a * x**-al
        curve = 1 - curve if flip else curve
        return frame, curve, curve

    def predict(frame, level=0.9, seed=0, law_error=True):
        return bs.posterior.prediction_table(*posterior_draws(frame), level)

    runs = pd.DataFrame({"x": [1e3, 1e6]})
    stand_in = SimpleNamespace(law=bs.laws.get("power"), posterior_draws=posterior_draws, predict=predict, y="loss",
                               lower_is_better=lower_is_better, data=runs, fitted_inputs=runs, columns={"x": "x"},
                               levels={})
    assert isinstance(stand_in, Posterior)  # the interface compute_multiplier relies on, and nothing else
    return stand_in


def test_known_multiplier_of_exact_curves():
    # B(x) = A(x / K): B reaches A's loss at exactly K times the compute, at every scale
    a, b = _curve_fit(1.0, 10.0, 0.3), _curve_fit(1.0, 10.0 * K**0.3, 0.3)
    res = bs.compute_multiplier(a, b, x="x", at=[1e2, 1e4, 1e6, 1e9])
    assert np.allclose(res.k, K, rtol=2e-3)
    s = res.summary()
    assert list(s["x"]) == [1e2, 1e4, 1e6, 1e9] and (s["prob_a_better"] == 1).all() and (s["censored"] == 0).all()
    by_loss = bs.compute_multiplier(a, b, x="x", at={"loss": [1.8, 1.3]})
    assert np.allclose(by_loss.k, K, rtol=2e-3)
    # the other way round: A needs K times more than B
    assert np.allclose(bs.compute_multiplier(b, a, x="x", at=[1e4]).k, 1 / K, rtol=2e-3)


def test_higher_is_better_target():
    acc_a, acc_b = _curve_fit(0.1, 2.0, 0.3, lower_is_better=False), _curve_fit(0.1, 2.0 * K**0.3, 0.3, lower_is_better=False)
    res = bs.compute_multiplier(acc_a, acc_b, x="x", at=[1e4, 1e6])
    assert not res.lower_is_better and np.allclose(res.k, K, rtol=2e-3)


def test_unreached_loss_is_censored_not_wrong():
    # B's floor (1.2) lies above A's loss at large compute: B never gets there, k = inf
    a, b = _curve_fit(1.0, 10.0, 0.3), _curve_fit(1.2, 10.0, 0.3)
    s = bs.compute_multiplier(a, b, x="x", at=[1e2, 1e9], max_factor=100).summary()
    assert np.isfinite(s["median"].iloc[0]) and s["median"].iloc[0] > 1
    assert s["median"].iloc[1] == np.inf and s["censored"].iloc[1] == 1 and s["prob_a_better"].iloc[1] == 1


def test_compute_to_reach_interpolates_and_marks_the_ends():
    grid = np.geomspace(1, 1e4, 41)
    curves = np.vstack([10 * grid**-0.5, 10 * grid**-0.5 + 5])  # second never goes below 5
    out = compute_to_reach(curves, grid, np.array([1.0, 20.0]))
    assert out[0, 0] == pytest.approx(100, rel=1e-2) and out[0, 1] == 0 and out[1, 0] == np.inf


def test_argument_errors_name_the_parameter():
    a = _curve_fit(1.0, 10.0, 0.3)
    with pytest.raises(ValueError, match="either two fits"):
        bs.compute_multiplier(a)
    with pytest.raises(ValueError, match=r"at=\{'tokens': \.\.\.\}: name the compute"):
        bs.compute_multiplier(a, a, x="x", at={"tokens": [1.0]})
    with pytest.raises(ValueError, match="compute values must be positive"):
        bs.compute_multiplier(a, a, x="x", at=[-1.0])
    with pytest.raises(ValueError, match="max_factor=1 must be > 1"):
        bs.compute_multiplier(a, a, x="x", max_factor=1)
    with pytest.raises(ValueError, match="x='N' is not a compute input"):
        bs.compute_multiplier(a, a, x="N")


# --- simulated ladders with a known multiplier -------------------------------------------------
def _ladder(k: float, seed: int) -> pd.DataFrame:
    """Chinchilla runs of a recipe whose N and D are each worth 1/sqrt(k) of recipe A's: on the
    compute-optimal frontier (and at any fixed D/N) it needs exactly k times A's compute."""
    rng = np.random.default_rng(seed)
    s = np.sqrt(k)
    rows = []
    for N in np.geomspace(2e7, 1e9, 6):
        for ratio in (5, 10, 20, 40, 80):
            D = ratio * N
            loss = TRUTH["E"] + TRUTH["A"] * (N / s) ** -TRUTH["alpha"] + TRUTH["B"] * (D / s) ** -TRUTH["beta"]
            rows.append({"params": N, "tokens": D, "loss": loss * np.exp(0.005 * rng.standard_normal())})
    return pd.DataFrame(rows)


# compiles a sampler no quick test shares: every test that uses it is marked long (pyproject.toml)
@pytest.fixture(scope="module")
def recipes():
    inputs = {"N": "params", "D": "tokens"}
    a, b = _ladder(1.0, 0), _ladder(K, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        fit_a = bs.fit(a, law="chinchilla", y="loss", inputs=inputs, **FAST)
        fit_b = bs.fit(b, law="chinchilla", y="loss", inputs=inputs, **FAST)
        both = pd.concat([a.assign(recipe="a"), b.assign(recipe="b")], ignore_index=True)
        grouped = bs.fit(both, law="chinchilla", y="loss", inputs=inputs, hierarchy={"A": "recipe", "B": "recipe"}, **FAST)
    return fit_a, fit_b, grouped


@pytest.mark.long
def test_known_multiplier_from_two_fits(recipes):
    fit_a, fit_b, _ = recipes
    inside = [1e17, 1e18, 1e19]  # the runs span 1.2e16 to 4.8e20 FLOPs
    s = bs.compute_multiplier(fit_a, fit_b, at=inside, law_error=False).summary()
    assert ((s["lower"] < K) & (K < s["upper"])).all(), s
    assert (abs(s["median"] / K - 1) < 0.05).all() and (s["prob_a_better"] > 0.99).all()
    by_loss = bs.compute_multiplier(fit_a, fit_b, at={"loss": [3.0, 2.6]}, law_error=False).summary()
    assert ((by_loss["lower"] < K) & (K < by_loss["upper"])).all(), by_loss
    ratio = bs.compute_multiplier(fit_a, fit_b, at=inside, path="ratio", law_error=False).summary()
    assert ((ratio["lower"] < K) & (K < ratio["upper"])).all(), ratio


@pytest.mark.long
def test_law_error_widens_the_multiplier_only_beyond_the_runs(recipes):
    fit_a, fit_b, _ = recipes
    at = [1e18, 1e23]
    law_only = bs.compute_multiplier(fit_a, fit_b, at=at, law_error=False).summary()
    honest = bs.compute_multiplier(fit_a, fit_b, at=at).summary()

    def width(s):
        return np.log(s["upper"] / s["lower"]).to_numpy()

    assert width(honest)[0] == pytest.approx(width(law_only)[0], rel=0.05)  # inside: (almost) unchanged
    assert width(honest)[1] > 1.5 * width(law_only)[1]
    assert honest["lower"].iloc[1] < K < honest["upper"].iloc[1]


@pytest.mark.long
def test_two_levels_of_one_grouped_fit(recipes):
    _, _, grouped = recipes
    res = bs.compute_multiplier(grouped, groups=("a", "b"), at=[1e18, 1e19], law_error=False)
    s = res.summary()
    assert tuple(s[["a", "b"]].iloc[0]) == ("a", "b")
    assert ((s["lower"] < K) & (K < s["upper"])).all() and (s["prob_a_better"] > 0.99).all(), s
    assert np.all(bs.compute_multiplier(grouped, groups=("b", "a"), at=[1e18], law_error=False).summary()["median"] < 1)


@pytest.mark.long
def test_two_recipes_share_the_dataset_part_of_the_drift(recipes):
    # ladders on the same (N, D) grid lie at the same distance from their runs: with the drift's
    # ladder part off, one seed gives both recipes the same drift (the crossover did not, before)
    fit_a, fit_b, _ = recipes
    shared = bs.LawError.fixed(0.0, 0.0, sd_dataset=0.05)
    kwargs = {"path": "ratio", "between": (1e21, 1e24), "n_grid": 5}
    drifted = bs.crossover(fit_a, fit_b, law_error=shared, **kwargs)
    plain = bs.crossover(fit_a, fit_b, law_error=False, **kwargs)
    shift_a = np.log(drifted.curves_a / plain.curves_a)
    shift_b = np.log(drifted.curves_b / plain.curves_b)
    assert np.abs(shift_a).max() > 1e-3
    np.testing.assert_allclose(shift_a, shift_b, atol=1e-6)


@pytest.mark.long
def test_frontier_carries_the_same_law_error_as_a_prediction(recipes):
    from bayescale.optimal import frontier_draws, optimal_draws

    fit_a, _, _ = recipes
    drift = bs.LawError.fixed(0.0, 0.05)
    C = np.array([1e23])
    optimum = optimal_draws(fit_a, C)
    frontier = frontier_draws(fit_a, C, law_error=drift, seed=3)
    assert not np.allclose(frontier, optimum["loss"])
    for i in (0, 17, 401):  # the frontier draw equals the prediction at that draw's own optimum
        point = pd.DataFrame({"N": [optimum["N"][i, 0]], "D": [optimum["D"][i, 0]]})
        _, curve, _ = fit_a.posterior_draws(point, seed=3, law_error=drift)
        assert frontier[i, 0] == pytest.approx(curve[i, 0], rel=1e-5)


@pytest.mark.long
def test_plot_cli_and_report(recipes, tmp_path, capsys):
    fit_a, fit_b, _ = recipes
    res = bs.compute_multiplier(fit_a, fit_b, names=("new", "base"))
    ax = res.plot()
    assert ax.get_yscale() == "log" and ax.get_legend() is not None and "C_base / C_new" in ax.get_ylabel()
    assert "new over base" in repr(res)
    paths = [fit_a.save(tmp_path / "new.nc"), fit_b.save(tmp_path / "base.nc")]
    png = tmp_path / "k.png"
    assert main(["multiplier", *map(str, paths), "--at", "C=1e18", "--at", "C=1e22", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "prob_a_better" in out and "1e+22" in out and png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit, match="give two saved fits"):
        main(["multiplier", str(paths[0]), "--at", "C=1e18"])
    page = fit_a.report(tmp_path / "r.html", multiplier=res).read_text()
    assert "<h2>Compute multiplier</h2>" in page and "data:image/png;base64" in page
