"""next_runs: candidate runs ranked by expected variance reduction, in cases with a known answer."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.cli import main

TRUTH = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
TARGET = pd.DataFrame({"N": [7e10], "D": [1.4e12]})  # ~3 decades beyond the runs in N


@pytest.fixture(scope="module")
def small_ladder():
    """24 runs with N in 1e7..1e8 (10, 20, 40 tokens per parameter), 1% noise: the floor E is
    poorly pinned (posterior sd ~0.25) and a 7e10-parameter target is far out."""
    rng = np.random.default_rng(3)
    N = np.repeat(np.geomspace(1e7, 1e8, 8), 3)
    D = N * np.tile([10.0, 20.0, 40.0], 8)
    mean = TRUTH["E"] + TRUTH["A"] * N ** -TRUTH["alpha"] + TRUTH["B"] * D ** -TRUTH["beta"]
    return pd.DataFrame({"params": N, "tokens": D, "loss": mean * np.exp(0.01 * rng.standard_normal(N.size))})


@pytest.fixture(scope="module")
def fit(small_ladder):
    with warnings.catch_warnings():  # 600 draws of a weakly identified floor: r_hat/ESS warnings expected
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        return bs.fit(small_ladder, law="chinchilla", y="loss", inputs={"N": "params", "D": "tokens"},
                      chains=2, draws=300, warmup=300, seed=1, progress=False)


@pytest.mark.long
def test_a_run_that_duplicates_a_fitted_one_gains_about_nothing(fit, small_ladder):
    candidates = pd.concat(
        [small_ladder.iloc[[10]][["params", "tokens"]], pd.DataFrame({"params": [3e8], "tokens": [6e9]})],
        ignore_index=True,
    )
    table = bs.next_runs(fit, candidates, TARGET, rank_by="gain")
    gain = table.set_index("params")["gain"]
    duplicate, far = gain[small_ladder["params"].iloc[10]], gain[3e8]
    assert table["pick"].iloc[0] == 1 and table["params"].iloc[0] == 3e8
    assert duplicate < 0.05 * far
    assert abs(duplicate) < 0.05 * table.attrs["var_now"]
    assert far > 0.3 * table.attrs["var_now"]  # a run 0.5 decade out pins much of the far target
    assert list(table.columns[-7:]) == ["pick", "gain", "var_after", "cost", "gain_per_cost", "ess", "off_regime_sd"]
    np.testing.assert_allclose(table["cost"], 6 * table["params"] * table["tokens"])
    np.testing.assert_allclose(table["gain"] + table["var_after"], table.attrs["var_now"])


@pytest.mark.long
def test_with_the_floor_unknown_a_larger_run_beats_a_denser_small_grid_per_flop(fit):
    # With the law error (the default) the larger run also moves the edge of the fitted runs towards
    # the target (0.18 of 2.85 decades): its gain per FLOP was 1.36-2.68x the grid's in 16 fits of
    # this ladder (seeds 1-4, 300 and 1,000 draws, two versions of the sampler's start). Without the
    # law error the two are near parity (0.97-1.52x in the same fits), too close to assert at any seed.
    law_error, margin = True, 1.0
    small = np.geomspace(1.2e7, 9e7, 10)  # ten more runs inside the fitted range, 20 tokens per parameter
    grid = pd.DataFrame({"params": small, "tokens": 20 * small})
    batch = bs.next_runs(fit, grid, TARGET, k=len(grid), law_error=law_error)
    grid_gain = batch.attrs["var_now"] - batch["var_after"].iloc[-1]
    one = pd.DataFrame({"params": [1.5e8], "tokens": [3e9]})  # one run of about the grid's total FLOPs
    larger = bs.next_runs(fit, one, TARGET, law_error=law_error)
    assert larger["cost"].iloc[0] == pytest.approx(batch["cost"].sum(), rel=0.05)
    assert larger["gain_per_cost"].iloc[0] > margin * grid_gain / batch["cost"].sum()
    assert (batch["pick"] == np.arange(1, 11)).all()


def test_a_run_moves_the_edge_the_law_error_is_measured_from(fit):
    # The refit after a run measures the target's law error from the fitted runs plus that run.
    # A run at the target's own inputs leaves no distance: its gain with the law error exceeds its
    # gain without by the whole law-error part of the target's variance. A run inside the fitted
    # range leaves the distance, and the law-error part, as they are.
    inside = pd.DataFrame({"params": [5e7], "tokens": [1e9]})
    with_error = bs.next_runs(fit, pd.concat([TARGET.rename(columns={"N": "params", "D": "tokens"}), inside],
                                             ignore_index=True), TARGET, rank_by="gain")
    without = bs.next_runs(fit, pd.concat([TARGET.rename(columns={"N": "params", "D": "tokens"}), inside],
                                          ignore_index=True), TARGET, rank_by="gain", law_error=False)
    law_error_part = with_error.attrs["var_now"] - without.attrs["var_now"]
    assert law_error_part > 0.2 * with_error.attrs["var_now"]  # ~2.85 decades out: a large share
    at_target = with_error.set_index("params")["gain"][7e10] - without.set_index("params")["gain"][7e10]
    assert at_target == pytest.approx(law_error_part, rel=0.1)
    at_inside = with_error.set_index("params")["gain"][5e7] - without.set_index("params")["gain"][5e7]
    # exactly: the drift's variance is counted once, not reweighted with the curve's draws (whose
    # importance weights would add noise of the size of the gains themselves); what is left is the
    # run's dilution of the misfit the 16 fitted runs off the target's regime put into the noise
    from bayescale.law_error import signed_log_inputs
    from bayescale.regime_bias import off_regime_at

    misfit = off_regime_at(signed_log_inputs(fit.law, fit.data), signed_log_inputs(fit.law, TARGET), bs.law_error.off_regime())
    fitted_error = float((misfit.sd() ** 2).sum())
    assert fitted_error > 0
    assert abs(at_inside - (fitted_error / 24 - fitted_error / 25)) < 1e-9 * law_error_part


def test_a_batch_is_not_the_top_two_of_one_ranking(fit):
    candidates = pd.DataFrame(
        {"params": [1e9, 1.03e9, 3e7, 1e8], "tokens": [2e9, 2.06e9, 6e10, 2e10]},
        index=["big", "big_again", "long", "mid"],
    )
    # without the law error: with it, "long" and "mid" lie 2 and 1 decades from the target's 20
    # tokens per parameter, and what they teach the target is discounted by the law's error over
    # that gap (the next test), so after "big" no candidate is worth much
    ranking = bs.next_runs(fit, candidates, TARGET, law_error=False)
    assert set(ranking.index[:2]) == {"big", "big_again"}  # the two near-duplicates rank first alone
    batch = bs.next_runs(fit, candidates, TARGET, k=2, law_error=False)
    chosen = list(batch.index[:2])
    assert chosen[0] in {"big", "big_again"} and chosen[1] in {"long", "mid"}
    assert list(batch["pick"]) == [1, 2, 0, 0]
    # the near-duplicate, once the first is chosen, is worth a fraction of what it was alone
    assert batch.loc[chosen[0], "gain"] == pytest.approx(ranking.loc[chosen[0], "gain"])
    other = ({"big", "big_again"} - {chosen[0]}).pop()
    assert batch.loc[other, "gain"] < 0.2 * ranking.loc[other, "gain"]


def test_a_run_away_from_the_target_s_regime_carries_the_law_s_error_over_the_gap(fit):
    # the drift of the law error at the distance (decades of tokens per parameter) from the nearest
    # target row's regime: 0 on it, sd x decades for a fixed drift of power 1
    candidates = pd.DataFrame({"params": [1e8] * 4, "tokens": [2e9, 2e8, 2e10, 2e11]}, index=["on", "low", "high", "higher"])
    table = bs.next_runs(fit, candidates, TARGET, law_error=bs.LawError.fixed(sd=0.02))
    np.testing.assert_allclose(table.loc[["on", "low", "high", "higher"], "off_regime_sd"], [0.0, 0.02, 0.02, 0.04],
                               rtol=0.1, atol=1e-12)  # fmt: skip
    # a target inside the fitted runs (no drift of its own): a run on its regime teaches it as much
    # with the law error as without, and dilutes the misfit that the 16 fitted runs 0.3 decades off
    # its regime (10 and 40 tokens per parameter) put into the refit's noise; one ~1.4 decades off
    # teaches it less the larger the law's error
    inside = pd.DataFrame({"N": [5e7], "D": [1e9]})
    gains = {}
    for name, (params, tokens) in {"on": (3e7, 6e8), "off": (1.34e8, 1.34e8)}.items():
        run = pd.DataFrame({"params": [params], "tokens": [tokens]})
        for size in (0.0, 0.02, 0.05):
            table = bs.next_runs(fit, run, inside, law_error=bs.LawError.fixed(sd=size) if size else False)
            gains[name, size] = (table["gain"].iloc[0], table.attrs["batch_gain"], table["off_regime_sd"].iloc[0])
    for size in (0.02, 0.05):
        fitted_error = 16 * (size * 0.30) ** 2
        assert gains["on", size][0] - gains["on", 0.0][0] == pytest.approx(fitted_error / 24 - fitted_error / 25)
    for gain, linear, error_sd in (gains["off", 0.02], gains["off", 0.05]):
        assert gain < 0.5 * gains["off", 0.0][0] and linear < 0.5 * gains["off", 0.0][1]
        # at least the rise of the refit's noise: the run's squared error over the 24 + 1 runs refitted
        assert gains["off", 0.0][0] - gain >= error_sd**2 / 25 - gains["on", 0.05][0] + gains["on", 0.0][0]
    assert gains["off", 0.05][1] < gains["off", 0.02][1]


def test_the_error_off_the_regime_can_be_given_apart_from_the_scale_drift(fit):
    # off_regime_error sizes the charge off the regime alone (a replay passes the one learned
    # without its own ladder); the target's drift beyond the runs stays law_error's
    candidates = pd.DataFrame({"params": [1e8] * 3, "tokens": [2e9, 2e10, 2e11]}, index=["on", "high", "higher"])
    drift = bs.LawError.fixed(sd=0.02)
    both = bs.next_runs(fit, candidates, TARGET, law_error=drift, rank_by="gain")
    larger = bs.next_runs(fit, candidates, TARGET, law_error=drift, off_regime_error=bs.LawError.fixed(sd=0.05),
                          rank_by="gain")  # fmt: skip
    uncharged = bs.next_runs(fit, candidates, TARGET, law_error=drift, off_regime_error=False, rank_by="gain")
    np.testing.assert_allclose(larger.loc[["on", "high", "higher"], "off_regime_sd"], [0.0, 0.05, 0.10], rtol=0.1)
    assert (uncharged["off_regime_sd"] == 0).all()
    assert larger.attrs["var_now"] == both.attrs["var_now"] == uncharged.attrs["var_now"]
    # the run on the regime carries no error, and dilutes the fitted runs' (at 10 and 40 tokens per
    # parameter) in the refit's noise by more, the larger their error
    assert larger.loc["on", "gain"] > both.loc["on", "gain"] > uncharged.loc["on", "gain"]
    assert larger.loc["on", "gain"] - uncharged.loc["on", "gain"] == pytest.approx(
        (both.loc["on", "gain"] - uncharged.loc["on", "gain"]) * (0.05 / 0.02) ** 2)
    for run in ("high", "higher"):
        assert larger.loc[run, "gain"] < both.loc[run, "gain"] < uncharged.loc[run, "gain"]
    with pytest.raises(TypeError, match="off_regime_error=0.05 must be True, False or a LawError"):
        bs.next_runs(fit, candidates, TARGET, off_regime_error=0.05)


def test_the_bias_of_the_refit_off_the_regime_is_k_e_k_for_every_candidate_at_once():
    # the refit fits the law through the runs: linearised, the law's errors e off the regime move
    # its forecast by K'e; the block update for a batch plus each candidate gives K'EK exactly; and
    # the refit reads those errors as noise, whose variance rises by their mean square
    from bayescale.regime_bias import OffRegime, RegimeBias

    rng = np.random.default_rng(0)
    location = rng.standard_normal((7, 3)) @ rng.standard_normal((3, 400)) * 0.05
    values = location[:2].T @ np.array([[1.0, 0.3], [0.5, 2.0]]) + 0.01 * rng.standard_normal((400, 2))
    side, distance = np.array([0, 0, 1, -1, 1, 0, -1]), np.array([0.5, 1.0, 0.3, 0.0, 0.8, 0.2, 0.0])
    off = OffRegime(side, distance, bs.LawError.fixed(sd=0.03, sd_dataset=0.02, power=1.2))
    # runs on one side share the gain: E = (0.02^2 + 0.03^2) d_i^1.2 d_j^1.2, across sides 0.02^2 d_i^1.2 d_j^1.2
    np.testing.assert_allclose(off.moment([0], [1, 2, 3]), [[0.0013 * 0.5**1.2, 0.0004 * 0.5**1.2 * 0.3**1.2, 0.0]])
    np.testing.assert_allclose(off.sd(), np.sqrt(0.0013) * distance**1.2)
    bias = RegimeBias(location, off, 0.01**2)

    def direct(chosen):
        runs, target = bias.runs[chosen], values - values.mean(axis=0)
        gain = np.linalg.solve(runs @ runs.T / 399 + 1e-4 * np.eye(len(chosen)), runs @ target / 399)
        return float(np.trace(gain.T @ off.moment(chosen, chosen) @ gain))

    for chosen in ([], [1], [1, 2], [0, 4, 5]):
        now, each = bias.of(chosen, values)
        assert now == pytest.approx(direct(chosen) if chosen else 0.0, abs=1e-15)
        if chosen:
            assert bias.batch(chosen, values) == pytest.approx(now, rel=1e-9)
        np.testing.assert_allclose(each, [direct([*chosen, c]) for c in range(7)], rtol=1e-9, atol=1e-15)
    # a run on the regime adds no bias of its own
    assert bias.of([], values)[1][[3, 6]].tolist() == [0.0, 0.0]
    # through the refit's noise, at each of the target's 2 rows: the mean squared error over the runs
    # refitted, from the 20 fitted runs' summed 0.004 to that plus the batch's
    noisy = RegimeBias(location, off, 0.01**2, n_fitted=20, noise_rows=2, fitted_error=0.004)
    error_var = 0.0013 * distance**2.4
    for chosen in ([], [1], [0, 4, 5]):
        now, each = noisy.of(chosen, values)
        batch_rise = 2 * ((0.004 + error_var[chosen].sum()) / (20 + len(chosen)) - 0.004 / 20)
        assert now == pytest.approx(bias.of(chosen, values)[0] + batch_rise, abs=1e-15)
        rise = 2 * ((0.004 + error_var[chosen].sum() + error_var) / (20 + len(chosen) + 1) - 0.004 / 20)
        np.testing.assert_allclose(each, bias.of(chosen, values)[1] + rise, rtol=1e-9, atol=1e-15)
        if chosen:
            assert noisy.batch(chosen, values) == pytest.approx(now, rel=1e-9)


def test_a_budget_is_not_spent_on_runs_whose_bias_off_the_regime_outweighs_what_they_teach(fit):
    # a target inside the fitted runs at 20 tokens per parameter; a budget that buys every candidate.
    # By the law alone the runs at 100-200 tokens per parameter teach it something and are bought;
    # with the law's error there (5% a decade), the refit they would pull is worse, not better
    inside = pd.DataFrame({"N": [5e7], "D": [1e9]})
    candidates = pd.DataFrame({"params": [3e7, 1.34e8, 2e8, 1e7, 6e6], "tokens": [6e8, 1.34e8, 1e8, 1e9, 1.2e9]},
                              index=["on", "low", "lower", "high", "higher"])  # fmt: skip
    law_only = bs.next_runs(fit, candidates, inside, law_error=False, budget=1e19)
    assert {"high", "higher"} <= set(law_only.index[law_only["pick"] > 0])
    table = bs.next_runs(fit, candidates, inside, law_error=bs.LawError.fixed(sd=0.05), budget=1e19)
    assert list(table.index[table["pick"] > 0]) == ["on"] and table.attrs["stopped"] == "no gain"
    assert (table.loc[["low", "lower", "high", "higher"], "gain"] < 0).all()
    assert table.attrs["batch_gain"] == pytest.approx(table.loc["on", "gain"], rel=0.25)


def test_runs_expected_to_lose_rank_below_every_gain_by_their_loss_not_per_cost():
    from bayescale.design import preference

    gain = np.array([-0.1, -0.01, 0.02, 0.01, -0.05])
    cost = np.array([100.0, 1.0, 10.0, 1.0, 1000.0])
    # per cost the costliest loser (-0.05 / 1000) would come first of all the losers
    assert list(np.argsort(-preference(gain, cost, "gain_per_cost"), kind="stable")) == [3, 2, 1, 4, 0]
    assert list(np.argsort(-preference(gain, cost, "gain"), kind="stable")) == [2, 3, 1, 4, 0]
    losers = np.array([-0.3, -0.2, -0.2])
    assert list(np.argsort(-preference(losers, np.array([1.0, 5.0, 2.0]), "gain_per_cost"), kind="stable")) == [1, 2, 0]


def test_when_every_run_would_make_the_forecast_worse_the_budget_buys_the_least_harm(fit):
    # the case above without the run on the regime: every candidate loses, the costliest most slowly per FLOP
    inside = pd.DataFrame({"N": [5e7], "D": [1e9]})
    candidates = pd.DataFrame({"params": [1.34e8, 2e8, 1e7, 6e6], "tokens": [1.34e8, 1e8, 1e9, 1.2e9]},
                              index=["low", "lower", "high", "higher"])  # fmt: skip
    table = bs.next_runs(fit, candidates, inside, law_error=bs.LawError.fixed(sd=0.05), budget=1e19)
    assert (table["gain"] < 0).all() and table.attrs["stopped"] == "no gain"
    picked = table.index[table["pick"] > 0]
    assert len(picked) == 1 and picked[0] == table["gain"].idxmax()
    assert list(table["gain"].iloc[1:]) == sorted(table["gain"].iloc[1:], reverse=True)


@pytest.mark.parametrize("law_error", [True, False])
def test_with_the_floor_unknown_a_budget_goes_to_the_larger_run(fit, law_error):
    # ten small runs inside the fitted range and one larger run of about their total FLOPs; the budget
    # buys either. The first small run alone gains the most per FLOP, so greedy by gain per cost
    # alone would spend the budget on the grid; the joint comparison gives it to the larger run.
    small = np.geomspace(1.2e7, 9e7, 10)
    candidates = pd.DataFrame({"params": [*small, 1.5e8], "tokens": [*(20 * small), 3e9]},
                              index=[*(f"small{i}" for i in range(10)), "larger"])
    budget = 6 * 1.5e8 * 3e9
    ranking = bs.next_runs(fit, candidates, TARGET, law_error=law_error)
    assert ranking.index[0].startswith("small")  # the trap: best gain per FLOP is a small run
    table = bs.next_runs(fit, candidates, TARGET, budget=budget, law_error=law_error)
    assert list(table.index[table["pick"] > 0]) == ["larger"]
    assert table.attrs["rule"] == "gain" and table.attrs["batch_cost"] == pytest.approx(budget)
    # the batch's joint gain (linearised update) agrees with the importance-weighted gain of one run
    assert table.attrs["batch_gain"] == pytest.approx(table.loc["larger", "gain"], rel=0.25)
    # with half that budget the larger run does not fit, and the small runs are bought instead
    half = bs.next_runs(fit, candidates, TARGET, budget=budget / 2, law_error=law_error)
    assert half.loc["larger", "pick"] == 0 and (half["pick"] > 0).sum() >= 3
    assert half.attrs["batch_gain"] < table.attrs["batch_gain"]


@pytest.mark.parametrize("budget", [3e16, 4e17, 2e18])
def test_a_budget_is_respected_and_filled(fit, budget):
    rng = np.random.default_rng(7)
    params = 10 ** rng.uniform(7, 8.5, 12)
    candidates = pd.DataFrame({"params": params, "tokens": params * 10 ** rng.uniform(1, 2, 12)})
    table = bs.next_runs(fit, candidates, TARGET, budget=budget)
    picked = table[table["pick"] > 0]
    assert list(picked["pick"]) == list(range(1, len(picked) + 1))
    assert picked["cost"].sum() <= budget and table.attrs["batch_cost"] == pytest.approx(picked["cost"].sum())
    left = budget - picked["cost"].sum()
    stopped = table.attrs["stopped"]
    assert stopped in ("budget", "no gain", "k")
    if stopped == "budget":  # greedy stops only when nothing fits, or nothing left would gain
        assert (table.loc[table["pick"] == 0, "cost"] > left).all()
    else:
        assert (table.loc[table["pick"] == 0, "cost"] <= left).any()
    assert table.attrs["rule"] in ("gain_per_cost", "gain") and table.attrs["budget"] == budget
    capped = bs.next_runs(fit, candidates, TARGET, budget=budget, k=1)
    assert (capped["pick"] > 0).sum() == 1 and capped["cost"].iloc[0] <= budget


def test_a_budget_is_not_spent_on_runs_that_teach_nothing():
    # a target that is already certain: after the first pick (the ranking's head) nothing gains
    from bayescale.design import _greedy, _Kernel

    class CertainTarget:
        n_candidates = 4

        def values(self, trained):
            return np.zeros((200, 1)), 0.0

        def after_each(self, trained):
            return self.values(trained)[0][None], np.zeros(self.n_candidates, dtype=np.int64), np.zeros(1)

    rng = np.random.default_rng(0)
    location = rng.normal(0.0, 0.01, (4, 200))
    kernel = _Kernel("normal", {"sigma": np.full(200, 0.01)})
    batch = _greedy(location, location + 0.01 * rng.standard_normal((4, 200)), CertainTarget(), kernel, k=4,
                    n_fantasies=8, costs=np.ones(4), rank_by="gain", seed=0, budget=10.0)  # fmt: skip
    assert batch.chosen == [0] and batch.stopped == "no gain"


def test_optimum_target_and_a_cost_column(fit):
    from bayescale.optimal import optimal_draws

    candidates = pd.DataFrame({"params": [2e7, 1e9], "tokens": [4e8, 2e10], "gpu_hours": [1.0, 1.0]})
    table = bs.next_runs(fit, candidates, bs.targets.optimum(C=1e23), cost="gpu_hours", rank_by="gain")
    assert table.attrs["var_now"] == pytest.approx(np.log(optimal_draws(fit, [1e23])["N"]).var(ddof=1))
    assert "log N*" in table.attrs["units"]
    assert table["params"].iloc[0] == 1e9 and table["gain"].iloc[0] > 0
    np.testing.assert_allclose(table["cost"], 1.0)
    np.testing.assert_allclose(table["gain_per_cost"], table["gain"])


class _FixedCurve:
    """Another recipe whose curve is known exactly: the same value in every draw."""

    law = bs.laws.get("chinchilla")

    def __init__(self, loss: float):
        self.loss = loss

    def posterior_draws(self, rows, *, law_error=True):
        curve = np.full((50, len(rows)), self.loss)
        return rows, curve, curve


def test_better_target_is_the_decision_and_runs_settle_it_only_when_it_is_open(fit, small_ladder):
    candidates = pd.concat(
        [small_ladder.iloc[[10]][["params", "tokens"]], pd.DataFrame({"params": [3e8], "tokens": [6e9]})],
        ignore_index=True,
    )
    _, curve, _ = fit.posterior_draws(TARGET.rename(columns={"N": "params", "D": "tokens"}))
    median = float(np.median(curve))
    # the other recipe lands at this fit's median: a coin flip that the far run settles best
    open_call = bs.next_runs(fit, candidates, bs.targets.better(_FixedCurve(median), TARGET), rank_by="gain")
    assert open_call.attrs["var_now"] == pytest.approx(0.25, abs=0.01)
    assert "p(1 - p)" in open_call.attrs["units"] and "Better" in open_call.attrs["target"]
    gain = open_call.set_index("params")["gain"]
    # (0.033 of 0.25 measured: most of what stays open is the target's law error, decades beyond
    # the far run, which no run below the target settles)
    assert gain[3e8] > 0.02 and gain[3e8] > 10 * abs(gain[small_ladder["params"].iloc[10]])
    # far behind at the target in every draw: nothing is left to decide, nothing to gain
    settled = bs.next_runs(fit, candidates, bs.targets.better(_FixedCurve(100 * median), TARGET), rank_by="gain")
    assert settled.attrs["var_now"] == 0 and np.allclose(settled["gain"], 0)


class _LinearLink:
    """A downstream fit whose link is known: accuracy = 1.5 - slope * loss in every draw."""

    y, link = "accuracy", bs.downstream.LINKS["sigmoid"]

    def __init__(self, slope: float):
        self.slope = slope

    def link_draws(self, loss, task=None):
        return np.tile(1.5 - self.slope * np.asarray(loss), (40, 1))


def test_metric_target_is_the_link_of_the_loss(fit, small_ladder):
    candidates = pd.DataFrame({"params": [2e7, 3e8], "tokens": [4e8, 6e9]})
    _, curve, _ = fit.posterior_draws(TARGET.rename(columns={"N": "params", "D": "tokens"}))
    table = bs.next_runs(fit, candidates, bs.targets.metric(_LinearLink(0.2), TARGET), rank_by="gain")
    # a linear link scales the loss's variance by slope^2
    assert table.attrs["var_now"] == pytest.approx(0.04 * np.var(curve[:, 0], ddof=1), rel=0.02)
    assert table["params"].iloc[0] == 3e8 and table["gain"].iloc[0] > 0
    assert "downstream metric" in table.attrs["units"]
    flat = bs.next_runs(fit, candidates, bs.targets.metric(_LinearLink(0.0), TARGET))
    assert flat.attrs["var_now"] == 0 and np.allclose(flat["gain"], 0)  # a saturated metric: nothing to learn
    with pytest.raises(ValueError, match="target rows is empty"):
        bs.targets.metric(_LinearLink(0.2), TARGET.iloc[:0])


def test_errors_name_the_parameter(fit):
    good = pd.DataFrame({"params": [1e9], "tokens": [2e10]})
    with pytest.raises(ValueError, match="candidates is empty"):
        bs.next_runs(fit, good.iloc[:0], TARGET)
    with pytest.raises(TypeError, match="candidates must be a DataFrame"):
        bs.next_runs(fit, [1e9, 2e10], TARGET)
    for k in (0, 2, 1.5, True):
        with pytest.raises(ValueError, match=r"k=.* must be a whole number from 1 to .* \(1\)"):
            bs.next_runs(fit, good, TARGET, k=k)
    with pytest.raises(ValueError, match=r"cost='C' is computed from \['N', 'D'\].*lack \['D'\]"):
        bs.next_runs(fit, good[["params"]], TARGET)
    with pytest.raises(ValueError, match="candidates: column 'D' for input 'D'"):
        bs.next_runs(fit, good[["params"]].assign(gpu=1.0), TARGET, cost="gpu")
    with pytest.raises(ValueError, match="cost='gpu_hours' is neither a column"):
        bs.next_runs(fit, good, TARGET, cost="gpu_hours")
    with pytest.raises(ValueError, match="costs must be positive"):
        bs.next_runs(fit, good.assign(gpu=0.0), TARGET, cost="gpu")
    for budget in (0.0, -1.0, np.inf, "1e21", True):
        with pytest.raises(ValueError, match=r"budget=.* must be a positive number in the units of cost='C'"):
            bs.next_runs(fit, good, TARGET, budget=budget)
    with pytest.raises(ValueError, match=r"budget=1e\+10 is below the cheapest candidate's cost='C' of 1\.2e\+20"):
        bs.next_runs(fit, good, TARGET, budget=1e10)
    with pytest.raises(ValueError, match="n_fantasies=1"):
        bs.next_runs(fit, good, TARGET, n_fantasies=1)
    with pytest.raises(ValueError, match="rank_by='cheap'"):
        bs.next_runs(fit, good, TARGET, rank_by="cheap")
    with pytest.raises(TypeError, match="target=42 must be a DataFrame"):
        bs.next_runs(fit, good, 42)
    with pytest.raises(ValueError, match="target: column 'D' for input 'D'"):
        bs.next_runs(fit, good, TARGET[["N"]])
    with pytest.raises(ValueError, match="target rows is empty"):
        bs.next_runs(fit, good, TARGET.iloc[:0])
    with pytest.raises(ValueError, match=r"optimum\(C=-1\)"):
        bs.targets.optimum(C=-1)


@pytest.mark.long
def test_cli_design_prints_the_batch(fit, tmp_path, capsys):
    path = fit.save(tmp_path / "fit.nc")
    csv = tmp_path / "runs.csv"
    pd.DataFrame({"params": [1e9, 1.03e9, 3e7, 1e8], "tokens": [2e9, 2.06e9, 6e10, 2e10]}).to_csv(csv, index=False)
    out_csv = tmp_path / "ranked.csv"
    assert main(["design", str(path), "--candidates", str(csv), "--target", "N=7e10,D=1.4e12", "-k", "2",
                 "--out", str(out_csv)]) == 0
    printed = capsys.readouterr().out
    assert "gain_per_cost" in printed and "pick 1..2" in printed
    ranked = pd.read_csv(out_csv)
    assert list(ranked["pick"]) == [1, 2, 0, 0]
    assert main(["design", str(path), "--candidates", str(csv), "--target", "N=7e10,D=1.4e12",
                 "--budget", "2e19"]) == 0
    printed = capsys.readouterr().out
    assert "budget 2e+19: the batch costs" in printed and "greedy by gain" in printed
    assert main(["design", str(path), "--candidates", str(csv), "--optimum", "1e23"]) == 0
    assert "log N*" in capsys.readouterr().out
    assert main(["design", str(path), "--candidates", str(csv), "--target", "N=7e10,D=1.4e12", "-k", "9"]) == 1
    assert "k=9" in capsys.readouterr().err
    # whether this recipe beats another (here itself: paired draws are equal, never better, nothing to decide)
    assert main(["design", str(path), "--candidates", str(csv), "--target", "N=7e10,D=1.4e12",
                 "--versus", str(path)]) == 0
    assert "p(1 - p)" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="need the rows"):
        main(["design", str(path), "--candidates", str(csv), "--optimum", "1e23", "--versus", str(path)])


def test_cli_report_adds_the_next_runs_section(fit, tmp_path, capsys):
    path = fit.save(tmp_path / "fit.nc")
    csv = tmp_path / "runs.csv"
    pd.DataFrame({"params": [1e9, 1.03e9, 3e7, 1e8], "tokens": [2e9, 2.06e9, 6e10, 2e10]}).to_csv(csv, index=False)
    page = tmp_path / "report.html"
    assert main(["report", str(path), "--out", str(page), "--candidates", str(csv), "--target", "N=7e10,D=1.4e12",
                 "-k", "2"]) == 0
    section = page.read_text().split("The next runs that would help most", 1)[1]
    assert "The 2 run(s) marked" in section
    # choosing runs needs the candidates; the report says so instead of ignoring --target
    with pytest.raises(SystemExit, match="give --candidates"):
        main(["report", str(path), "--out", str(page), "--target", "N=7e10,D=1.4e12"])


@pytest.mark.parametrize("name", ["student_t", "normal"])
def test_the_design_kernel_is_the_likelihood_s_own_density(name):
    """next_runs reweights draws with a numpy copy of the log-density (no compilation per shape in
    the hot path); it must equal ``Likelihood.distribution``'s, up to the Jacobian -log y, which
    is the same for every draw."""
    import jax.numpy as jnp

    from bayescale.design import _Kernel
    from bayescale.likelihoods import get_likelihood

    rng = np.random.default_rng(0)
    noise = {"sigma": rng.uniform(0.005, 0.2, 50), "nu": 1.0 + rng.gamma(2.0, 10.0, 50)}
    location = rng.normal(0.5, 0.1, 50)
    log_y = 0.5 + rng.normal(0.0, 0.1, (7, 1))
    got = _Kernel(name, noise)(log_y - location)
    want = get_likelihood(name).distribution(jnp.asarray(location), {k: jnp.asarray(v) for k, v in noise.items()})
    want = np.asarray(want.log_prob(jnp.exp(jnp.asarray(log_y)))) + log_y
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)


@pytest.mark.long
def test_cli_design_of_a_grouped_fit_takes_the_target_s_group_label(hierarchical_fit, tmp_path, capsys):
    path = hierarchical_fit.save(tmp_path / "grouped.nc")
    csv = tmp_path / "runs.csv"
    pd.DataFrame({"params": [1e9, 3e8], "tokens": [2e10, 6e9], "dataset": ["web", "web"]}).to_csv(csv, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.NewGroupWarning)  # the label is read as the seen level, not a new one
        assert main(["design", str(path), "--candidates", str(csv), "--target", "N=7e9,D=1.4e11,dataset=web"]) == 0
    assert "pick 1: the best run" in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"D='lots' is not a number .*group labels go in \['dataset'\]"):
        main(["design", str(path), "--candidates", str(csv), "--target", "N=7e9,D=lots,dataset=web"])
