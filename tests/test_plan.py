"""plan_ladder: a first ladder from the prior alone (linearised Bayesian c-optimal design)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from conftest import CHINCHILLA_TRUTH

import bayescale as bs
from bayescale.optimal import differentiable_log_optimum
from bayescale.plan import default_candidates, expected_sd

TARGET = pd.DataFrame({"N": [7e9], "D": [1.4e11]})  # a 7B model at 20 tokens per parameter: 5.9e21 FLOPs


@pytest.mark.long
def test_the_plan_is_no_worse_than_the_habitual_ladder_of_the_same_cost():
    """A habit: sizes four per decade at 20 tokens per parameter, as many as 1e20 FLOPs buy.
    The plan for the same FLOPs must leave the 7B target no more uncertain."""
    sizes = 1e7 * 10 ** (np.arange(0, 40) / 4)
    habit = pd.DataFrame({"N": sizes, "D": 20 * sizes})
    habit = habit[np.cumsum(6 * habit["N"] * habit["D"]) <= 1e20]
    budget = float((6 * habit["N"] * habit["D"]).sum())
    plan = bs.plan_ladder("chinchilla", TARGET, budget=budget)
    assert plan["spent"].iloc[-1] <= budget * (1 + 1e-9)
    assert plan["sd_after"].iloc[-1] <= expected_sd("chinchilla", habit, TARGET)
    # the plan's own figure is the criterion evaluated on its runs
    plan_sd = expected_sd("chinchilla", plan[["N", "D"]], TARGET)
    assert plan_sd == pytest.approx(plan["sd_after"].iloc[-1], rel=1e-3)
    # a far target: the largest run is worth most (the law error is counted from it)
    assert plan["cost"].iloc[0] == plan["cost"].max() > budget / 4


def test_a_dense_grid_of_small_runs_loses_to_the_plan():
    """Thirty runs below 1e8 parameters at 20 tokens per parameter, against the plan for the same
    FLOPs (8e18): the target is three decades of compute out."""
    sizes = np.geomspace(1e7, 1e8, 30)
    dense = pd.DataFrame({"N": sizes, "D": 20 * sizes})
    budget = float((6 * dense["N"] * dense["D"]).sum())
    plan = bs.plan_ladder("chinchilla", TARGET, budget=budget)
    assert plan["sd_after"].iloc[-1] < expected_sd("chinchilla", dense, TARGET)
    assert plan["N"].max() > 1e8  # the law error is counted from the largest run: it goes further out
    # without the law error the parameters alone: spreading the runs beats crowding them
    # (measured 0.024 against 0.043)
    plan = bs.plan_ladder("chinchilla", TARGET, budget=budget, law_error=False)
    assert plan["sd_after"].iloc[-1] < 0.7 * expected_sd("chinchilla", dense, TARGET, law_error=False)


def test_a_duplicate_run_teaches_less_than_a_new_scale():
    base = pd.DataFrame({"N": [1e8, 3e8, 1e9], "D": [2e9, 6e9, 2e10]})
    duplicate = pd.concat([base, base.iloc[[2]]], ignore_index=True)
    larger = pd.concat([base, pd.DataFrame({"N": [2e9], "D": [4e10]})], ignore_index=True)
    kwargs = {"law_error": False}
    assert expected_sd("chinchilla", larger, TARGET, **kwargs) < expected_sd("chinchilla", duplicate, TARGET, **kwargs)
    assert expected_sd("chinchilla", duplicate, TARGET, **kwargs) < expected_sd("chinchilla", base, TARGET, **kwargs)


def test_k_budget_and_a_posterior_as_prior(ladder_fit):
    plan = bs.plan_ladder("chinchilla", TARGET, budget=1e20, k=3)
    assert list(plan["pick"]) == [1, 2, 3]
    assert (plan["sd_after"].diff().dropna() <= 0).all()
    assert plan.attrs["sd_prior"] > plan["sd_after"].iloc[0]
    informed = bs.plan_ladder("chinchilla", TARGET, budget=1e20, k=3, prior=ladder_fit)
    assert informed.attrs["sd_prior"] < plan.attrs["sd_prior"] / 3
    assert informed.attrs["noise"] == pytest.approx(float(np.median(ladder_fit.draws("sigma"))))


def test_an_optimum_target_is_planned_too():
    plan = bs.plan_ladder("chinchilla", bs.targets.optimum(C=1e23), budget=1e20, k=4)
    assert len(plan) == 4
    assert plan["sd_after"].iloc[-1] < plan.attrs["sd_prior"]
    assert "log N*" in plan.attrs["units"]


@pytest.mark.long
def test_a_law_without_a_closed_form_optimum_is_planned_for_its_numerical_one():
    # the numerical optimum's derivative (implicit function theorem) is the closed form's, for chinchilla
    law = bs.laws.get("chinchilla")
    log_c6 = jnp.log(jnp.array([1e21, 1e24]) / 6)

    def closed(params):
        N, _ = law.compute_optimal(jnp.exp(log_c6) * 6, **{k: jnp.reshape(v, (1,)) for k, v in params.items()})
        return jnp.log(N[0])

    params = {k: jnp.asarray(v) for k, v in CHINCHILLA_TRUTH.items()}
    numerical = jax.jit(jax.jacfwd(lambda p: differentiable_log_optimum(law, log_c6, p)))(params)
    for name, derivative in jax.jacfwd(closed)(params).items():
        assert np.allclose(numerical[name], derivative, rtol=0.02, atol=1e-5), name
    assert np.allclose(differentiable_log_optimum(law, log_c6, params), closed(params), atol=1e-3)
    # so a law without one (kaplan) plans for its optimum as chinchilla does
    plan = bs.plan_ladder("kaplan", bs.targets.optimum(C=1e23), budget=1e20, k=3)
    assert len(plan) == 3 and plan["sd_after"].iloc[-1] < plan.attrs["sd_prior"]


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="budget=-1"):
        bs.plan_ladder("chinchilla", TARGET, budget=-1)
    with pytest.raises(ValueError, match="pass candidates="):
        bs.plan_ladder("power", pd.DataFrame({"x": [1e9]}), budget=1e20)
    with pytest.raises(ValueError, match=r"optimum target needs a law of N and D alone; 'moe' has inputs"):
        bs.plan_ladder("moe", bs.targets.optimum(C=1e23), budget=1e20, candidates=pd.DataFrame(
            {"N": [1e8], "D": [2e9], "ratio": [8.0]}))
    with pytest.raises(ValueError, match="lack the law's inputs"):
        bs.plan_ladder("chinchilla", TARGET, budget=1e20, candidates=pd.DataFrame({"N": [1e8]}))
    with pytest.raises(ValueError, match="buys no run"):
        default_candidates(1e10)


def test_the_command_line_prints_and_writes_the_plan(tmp_path, capsys):
    from bayescale.cli import main

    out = tmp_path / "plan.csv"
    assert main(["plan", "--budget", "1e20", "--target", "N=7e9,D=1.4e11", "-k", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "sd_after" in printed and "before any run" in printed
    table = pd.read_csv(out)
    assert list(table["pick"]) == [1, 2, 3] and table["spent"].iloc[-1] <= 1e20


def test_a_grouped_fit_as_prior_gives_a_new_group(hierarchical_fit):
    from bayescale.data import input_centres
    from bayescale.plan import _parameter_draws

    law = hierarchical_fit.law
    draws, noise = _parameter_draws(law, hierarchical_fit, input_centres(law, {"N": np.array([1e8]), "D": np.array([2e9])}), 0)
    # the new ladder's floor is one more draw from the population: the spread between corpora is in it
    assert np.std(np.log(draws["E"])) > 2 * np.std(np.log(hierarchical_fit.draws("E")))
    assert np.std(np.log(draws["alpha"])) == pytest.approx(np.std(np.log(hierarchical_fit.draws("alpha"))), rel=0.05)
    plan = bs.plan_ladder("chinchilla", TARGET, budget=1e20, k=3, prior=hierarchical_fit)
    default = bs.plan_ladder("chinchilla", TARGET, budget=1e20, k=3)
    assert np.isfinite(plan["sd_after"]).all() and plan.attrs["sd_prior"] < default.attrs["sd_prior"]
    assert noise == pytest.approx(float(np.median(hierarchical_fit.draws("sigma"))))


#: runs of 3e7 to 1e9 parameters at 2, 20 and 200 tokens per parameter (the target's regime is 20)
REGIMES = pd.DataFrame([(n, r * n) for n in np.geomspace(3e7, 1e9, 7) for r in (2.0, 20.0, 200.0)], columns=["N", "D"])


def _tokens_per_parameter(frame: pd.DataFrame) -> np.ndarray:
    return (frame["D"] / frame["N"]).round(3).to_numpy()


def test_a_run_off_the_targets_regime_is_charged_the_bias_it_puts_into_the_refit():
    """Judged by the law alone, runs at 2 and 200 tokens per parameter pin its terms best; with the
    law's error across regimes charged (the default), the plan keeps nearer the target's 20."""
    charged = bs.plan_ladder("chinchilla", TARGET, budget=1e21, candidates=REGIMES)
    free = bs.plan_ladder("chinchilla", TARGET, budget=1e21, candidates=REGIMES, off_regime_error=False)

    def distance(plan):
        return np.abs(np.log10(_tokens_per_parameter(plan) / 20)).mean()

    assert distance(charged) < 0.6 * distance(free)  # measured 0.25 against 0.65
    assert (charged["off_regime_sd"][_tokens_per_parameter(charged) == 20] == 0).all()
    assert (charged["off_regime_sd"][_tokens_per_parameter(charged) != 20] > 0.01).all()
    assert (free["off_regime_sd"] == 0).all()
    # a ladder on the target's regime carries no bias; one off it carries some
    on = REGIMES[_tokens_per_parameter(REGIMES) == 20]
    off = REGIMES[_tokens_per_parameter(REGIMES) == 2]
    assert expected_sd("chinchilla", on, TARGET) == pytest.approx(expected_sd("chinchilla", on, TARGET, off_regime_error=False))
    assert expected_sd("chinchilla", off, TARGET) > 1.05 * expected_sd("chinchilla", off, TARGET, off_regime_error=False)


def test_the_bias_with_each_candidate_is_the_bias_of_each_longer_ladder():
    """The greedy's rank-one (Sherman-Morrison) update of the refit's weights for every candidate at
    once gives what the ladder plus that candidate gives when computed directly."""
    from bayescale.plan import _Problem

    problem = _Problem(bs.laws.get("chinchilla"), bs.targets.as_target(TARGET), REGIMES, None, None, True, 16, 0)
    jac, noise_var = problem.jac, problem.noise**2
    ladder, open_ = [0, 4, 10], np.array([1, 2, 5, 20])
    information = np.linalg.inv(problem.covariance)[None] + np.einsum("msp,msq->mpq", jac[:, ladder], jac[:, ladder]) / noise_var
    inverse = np.linalg.inv(information)
    a = np.einsum("mpq,mcq->mcp", inverse, jac[:, open_])
    each = problem.bias_with_each(inverse, ladder, open_, a, noise_var + np.einsum("mcp,mcp->mc", jac[:, open_], a))
    direct = [problem.bias(np.linalg.inv(information + np.einsum("mp,mq->mpq", jac[:, c], jac[:, c]) / noise_var),
                           [*ladder, int(c)]) for c in open_]  # fmt: skip
    assert each == pytest.approx(direct, rel=1e-6)
    assert each.min() > 0


def test_a_plan_has_the_runs_the_fit_needs():
    """The law error and the bias leave little to gain after a few runs; the plan still holds as
    many as bs.fit needs (5 parameters, the noise's 2, one more), or warns when the budget is short."""
    plan = bs.plan_ladder("chinchilla", TARGET, budget=1e21, candidates=REGIMES)
    assert len(plan) >= 8
    cheapest = float(np.sort(6 * REGIMES["N"] * REGIMES["D"])[:3].sum())
    with pytest.warns(UserWarning, match="bs.fit needs at least 8 runs"):
        short = bs.plan_ladder("chinchilla", TARGET, budget=cheapest, candidates=REGIMES)
    assert len(short) == 3
