r"""Plan a first ladder: which runs to train when there are none yet.

:func:`~bayescale.plan_ladder` chooses runs from a table of candidates (by default a grid of model sizes and
tokens per parameter within the FLOP budget) so that a target (the loss of a large run, or the
compute-optimal size at a budget; :mod:`bayescale.targets`) is as certain as possible once they
are trained and fitted, for the FLOPs spent.

How
---
With no runs there is no posterior to reweight (what :func:`bayescale.next_runs` does), and the
prior is far too wide for importance weights: one run would leave a handful of prior draws. The
plan uses the linearised (Laplace) posterior instead, averaged over the prior: Bayesian
c-optimal design (Chaloner and Verdinelli 1995, section 2.2). With ``u`` the law's parameters
in the sampler's unconstrained space (log of positive parameters), ``J_i(u)`` the gradient of
``log y`` at run ``i``, ``g(u)`` the target's gradient and ``Sigma_0`` the prior covariance of
``u``, the target's variance after training the runs ``S`` is about

    V(S) = E_prior[ g(u)' (Sigma_0^-1 + sum_{i in S} J_i(u) J_i(u)' / noise^2)^-1 g(u) ] + drift(S)

where the expectation runs over ``n_draws`` draws of the prior and ``drift(S)`` is the variance of
the law error (:mod:`bayescale.law_error`) at the target rows, whose distance is counted beyond
the largest run of ``S`` (beyond the cheapest candidate before any run): a ladder that ends far
below the target leaves the law itself uncertain there, whatever its number of runs. Runs are
added greedily under the budget, once by gain per FLOP and once by gain, and the plan with the
smaller ``V`` is returned (the budgeted greedy of :func:`bayescale.next_runs`).

Runs away from the target's regime (for ``N`` and ``D``: its tokens per parameter) are charged
as :func:`bayescale.next_runs` charges them: the refit fits the law through every run as if it
held, so the law's error at a run off the regime (learned across regimes,
:func:`bayescale.law_error.off_regime`) moves the forecast by ``K' e``, with ``K = J_S Sigma g /
noise^2`` the linearised refit's weights on the runs' residuals (``Sigma``: the posterior
covariance after ``S``). ``V(S)`` then holds, for each prior draw, that bias's second moment
``K' E K`` too (the integrated mean squared error of Box and Draper 1959). Judged by the law alone
the runs at the far ends of the ratio range pin its terms best; with the charge the plan keeps
nearer the target's regime (``benchmarks/plan_ladder.py``).

A plan holds at least as many runs as :func:`bayescale.fit` needs for the law (its parameters,
the noise's two and one more) where the budget buys them: once the law error and the bias leave
nothing to gain, the runs still missing are the ones that lose least, and until they are in, a
run is considered only if the budget left after it still buys them.

What the figure means
---------------------
``sd_after`` is the square root of ``V``: the predicted posterior sd of ``log y`` at the target
(about the relative error of the forecast) or of ``log N*``, with the bias of runs off the
target's regime (a root mean squared error). It assumes the law is the right one up to the
learned drift and its error across regimes, runs scattered by ``noise`` on ``log y``, and a posterior close to
Gaussian in ``u``, which is rough with very few runs: use it to compare plans, then fit the
ladder you train and let :func:`bayescale.next_runs` choose from the posterior.

References
----------
Box, G. E. P. and Draper, N. R. (1959). A basis for the selection of a response surface design.
Journal of the American Statistical Association 54(287), 622-654.
Chaloner, K. and Verdinelli, I. (1995). Bayesian experimental design: a review. Statistical
Science 10(3), 273-304.
"""

from __future__ import annotations

import numbers
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from numpyro.distributions.transforms import biject_to

from bayescale import law_error as law_error_module
from bayescale.data import FLOPS_PER_PARAMETER_TOKEN, free_parameters, input_centres, training_compute
from bayescale.design import run_costs
from bayescale.hierarchy import build_spec, parameter_values, prior_sites, resolve_priors
from bayescale.law_error import LawError, signed_log_inputs
from bayescale.laws.base import Law
from bayescale.laws.registry import get
from bayescale.likelihoods import get_likelihood
from bayescale.optimal import differentiable_log_optimum
from bayescale.posterior import natural_values
from bayescale.prediction_rows import with_new_levels
from bayescale.regime_bias import OffRegime, off_regime_at, regime_error
from bayescale.targets import Optimum, Prediction, Target, as_target

__all__ = ["NOISE", "default_candidates", "expected_sd", "plan_ladder"]

#: Default scatter of a run around the law, sd of ``log y``: the median over the seven public
#: ladders of ``benchmarks/calibration.py`` of each fit's Student-t ``sigma`` (per dataset from
#: 0.0006, the NSL language curves, to 0.029, Porian's isoFLOP points; Chinchilla 0.0033).
NOISE = 0.0066

#: Tokens per parameter of the default candidates.
TOKENS_PER_PARAMETER = (5.0, 10.0, 20.0, 40.0, 80.0, 160.0)


def default_candidates(budget: float, *, smallest: float = 1e7) -> pd.DataFrame:
    """Runs of ``N`` parameters (log-spaced from ``smallest``, four per decade) and
    :data:`TOKENS_PER_PARAMETER` tokens per parameter whose compute ``6 N D`` fits in ``budget``.

    Parameters
    ----------
    budget : float
        FLOPs; candidates costing more are left out.
    smallest : float
        The smallest model size (parameters); 40 sizes are tried, up to ``smallest * 10**9.75``.

    Returns
    -------
    DataFrame
        Columns ``N`` and ``D``, one row per candidate run.

    Raises
    ------
    ValueError
        When no candidate fits in ``budget``.
    """
    sizes = smallest * 10 ** (np.arange(0, 40) / 4)
    grid = pd.DataFrame([(n, r * n) for n in sizes for r in TOKENS_PER_PARAMETER], columns=["N", "D"])
    grid = grid[training_compute(grid["N"], grid["D"]) <= budget].reset_index(drop=True)
    if grid.empty:
        raise ValueError(
            f"budget={budget:.3g} FLOPs buys no run of {smallest:.0e} parameters at {TOKENS_PER_PARAMETER[0]:g} "
            "tokens per parameter; raise the budget or pass candidates="
        )
    return grid


def plan_ladder(
    law: str | Law,
    target: Target | pd.DataFrame,
    budget: float,
    *,
    candidates: pd.DataFrame | None = None,
    prior=None,
    k: int | None = None,
    noise: float | None = None,
    law_error: bool | LawError = True,
    off_regime_error: bool | LawError | None = None,
    cost: str = "C",
    n_draws: int = 64,
    seed: int = 0,
) -> pd.DataFrame:
    """Choose a first ladder of runs within a FLOP budget, from the prior alone.

    Parameters
    ----------
    law : str or Law
        The law the ladder will be fitted with.
    target : DataFrame or Target
        What must become certain: rows of the law's inputs (the loss of new runs there, on
        ``log y``) or ``bs.targets.optimum(C=...)`` (``log N*``, ``log D*`` or ``log D*/N*``,
        for a law of ``N`` and ``D``: its closed form where it has one, else the numerical
        optimum of :func:`~bayescale.optimal.differentiable_log_optimum`).
    budget : float
        Total cost of the ladder, in the units of ``cost`` (FLOPs by default).
    candidates : DataFrame, optional
        Runs one could train (the law's inputs under its own names). Default, for laws of ``N``
        and ``D``: :func:`~bayescale.plan.default_candidates` (sizes from 1e7 parameters, 5 to 160 tokens per
        parameter, within the budget).
    prior : Fit, optional
        A fit of the same law (a zoo posterior, a ladder of another group) whose posterior is the
        prior; its median ``sigma`` is then the default ``noise``. A fit with groups gives the
        parameters of a new group (drawn from its population, spread between groups included).
        Default: the law's priors.
    k : int, optional
        The most runs to choose (default: as many as the budget buys). Without ``k`` the plan
        has at least as many runs as :func:`~bayescale.fit` needs for the law (its parameters, the
        noise's two and one more) where the budget buys them, even when the last of them gain
        nothing by the criterion (they are the ones that lose least); a plan with fewer warns.
    noise : float, optional
        Scatter of a run around the law, sd of ``log y`` (default :data:`~bayescale.plan.NOISE`).
    law_error : bool or LawError
        Count the law error at the target rows beyond the ladder's largest run, and at runs away
        from the target's regime (prediction targets only; see the module notes and
        :mod:`bayescale.law_error`).
    off_regime_error : bool or LawError, optional
        The law's error away from the target's regime alone, as for :func:`~bayescale.next_runs`:
        a :class:`LawError`, ``True`` for the one learned across regimes
        (:func:`bayescale.law_error.off_regime`), ``False`` to charge no run for its regime.
        Default: as ``law_error`` says.
    cost : str
        A column of ``candidates`` or ``"C"`` (``6 N D``).
    n_draws : int
        Prior draws the design criterion is averaged over.
    seed : int
        Seed of the prior draws and the law-error draws.

    Returns
    -------
    DataFrame
        The chosen runs in the order chosen: the candidates' columns, ``pick`` (1, 2, ...),
        ``cost``, ``spent`` (cumulative cost), ``gain`` (reduction of the target's variance by
        that run, less the squared bias its regime adds), ``sd_after`` (the target's predicted
        root mean squared error once the runs up to this one are trained: the posterior sd and
        the bias of runs off the target's regime) and ``off_regime_sd`` (the law's root mean
        square error at the run from its distance to the target's regime; 0 on it). ``attrs``:
        ``sd_prior``, ``units``, ``noise``, ``budget``, ``rule`` (the greedy criterion of the
        returned plan), ``target``, ``draws``.

    Raises
    ------
    ValueError
        For a budget that is not positive or buys no candidate, candidates or target rows without
        the law's inputs, an optimum target of a law with inputs other than ``N`` and ``D``, a prior fit of
        another law (or a zoo entry with groups), or a bad ``k``, ``noise`` or ``n_draws``.

    Examples
    --------
    >>> import bayescale as bs, pandas as pd
    >>> plan = bs.plan_ladder("chinchilla", pd.DataFrame({"N": [7e9], "D": [1.4e11]}), budget=1e20)  # doctest: +SKIP
    >>> plan[["N", "D", "cost", "sd_after"]]                                                      # doctest: +SKIP
    """
    law = get(law) if isinstance(law, str) else law
    goal = as_target(target)
    if isinstance(budget, bool) or not isinstance(budget, numbers.Real) or not 0 < budget < np.inf:
        raise ValueError(f"budget={budget!r} must be a positive number in the units of cost={cost!r} (FLOPs: 1e21)")
    if candidates is None:
        if set(law.inputs) != {"N", "D"}:
            raise ValueError(f"law {law.name!r} has inputs {list(law.inputs)}: pass candidates= (a DataFrame of them)")
        candidates = default_candidates(budget)
    _require_inputs(law, candidates, "candidates")
    costs = run_costs(candidates, cost)
    if costs.min() > budget:
        raise ValueError(f"budget={budget:.4g} is below the cheapest candidate's cost of {costs.min():.4g}")
    if k is not None and (isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1):
        raise ValueError(f"k={k!r} must be a whole number >= 1 (or None: as many runs as the budget buys)")
    problem = _Problem(law, goal, candidates, prior, noise, law_error, n_draws, seed, off_regime_error)

    likelihood = get_likelihood("student_t")  # bs.fit's default
    fittable = free_parameters(law, likelihood) + 1
    plans = [_greedy(problem, costs, budget, k, rule, fittable if k is None else 0) for rule in ("gain_per_cost", "gain")]
    best = min(plans, key=lambda plan: plan["variance"][-1])
    chosen = best["chosen"]
    if k is None and len(chosen) < fittable:
        warnings.warn(
            f"plan_ladder: budget={budget:.3g} buys {len(chosen)} of the candidates, but bs.fit needs at least "
            f"{fittable} runs for law {law.name!r} ({len(law.params)} parameters and the noise's "
            f"{len(likelihood.noise_names)}); raise the "
            "budget or add cheaper candidates",
            UserWarning,
            stacklevel=2,
        )
    out = candidates.iloc[chosen].copy()
    out["pick"] = np.arange(1, len(chosen) + 1)
    out["cost"] = costs[chosen]
    out["spent"] = np.cumsum(costs[chosen])
    variance = np.asarray(best["variance"])
    out["gain"] = -np.diff(variance)
    out["sd_after"] = np.sqrt(variance[1:])
    out["off_regime_sd"] = 0.0 if problem.off is None else problem.off.sd()[chosen]
    out.attrs.update({
        "sd_prior": float(np.sqrt(variance[0])), "units": goal.units, "noise": problem.noise, "budget": float(budget),
        "rule": best["rule"], "target": repr(goal), "draws": int(n_draws), "cost": cost,
        "law_error": problem.drift is not None and problem.drift.active,
    })  # fmt: skip
    return out


def expected_sd(
    law: str | Law,
    ladder: pd.DataFrame,
    target: Target | pd.DataFrame,
    *,
    prior=None,
    noise: float | None = None,
    law_error: bool | LawError = True,
    off_regime_error: bool | LawError | None = None,
    n_draws: int = 64,
    seed: int = 0,
) -> float:
    """The target's predicted posterior sd once the runs of ``ladder`` are trained and fitted.

    The criterion :func:`~bayescale.plan_ladder` minimises (see the module notes), for a ladder of one's own
    choosing: compare a habitual ladder with a plan at the same cost. Arguments as for
    :func:`~bayescale.plan_ladder`; ``ladder`` holds the law's inputs, one row per run.

    Parameters
    ----------
    law : str or Law
        The law the ladder will be fitted with.
    ladder : DataFrame
        The runs (the law's inputs under its own names), one row per run.
    target : DataFrame or Target
        What must become certain, as for :func:`~bayescale.plan_ladder`.
    prior : Fit, optional
        A fit of the same law whose posterior is the prior (default: the law's priors).
    noise : float, optional
        Scatter of a run around the law, sd of ``log y`` (default :data:`~bayescale.plan.NOISE`,
        or the median ``sigma`` of ``prior``).
    law_error : bool or LawError
        Count the law error at the target rows beyond the ladder's largest run and at runs away
        from the target's regime (prediction targets only).
    off_regime_error : bool or LawError, optional
        The law's error away from the target's regime alone (default: as ``law_error`` says).
    n_draws : int
        Prior draws the criterion is averaged over.
    seed : int
        Seed of the prior draws and the law-error draws.

    Returns
    -------
    float
        The predicted posterior sd of the target (``log y``, or ``log N*``), with the bias of
        the ladder's runs off the target's regime (a root mean squared error).

    Raises
    ------
    ValueError
        For a ladder or target rows without the law's inputs, a bad ``noise`` or ``n_draws``, or
        an unsuitable ``prior`` or optimum target (as for :func:`~bayescale.plan_ladder`).
    """
    law = get(law) if isinstance(law, str) else law
    problem = _Problem(law, as_target(target), ladder, prior, noise, law_error, n_draws, seed, off_regime_error)
    jac = problem.jac
    n_draws_used = jac.shape[0]
    information = np.linalg.inv(problem.covariance)[None] + np.einsum("mcp,mcq->mpq", jac, jac) / problem.noise**2
    inverse = np.linalg.inv(information)
    variance = np.einsum("mrp,mpq,mrq->", problem.grad, inverse, problem.grad) / n_draws_used
    runs = list(range(len(ladder)))
    drift = problem.drift.variance(runs) if problem.drift is not None else 0.0
    return float(np.sqrt(variance + drift + problem.bias(inverse, runs)))


class _Problem:
    """The design problem: gradients of the runs and of the target per prior draw, the prior
    covariance, the noise and the law error at the target."""

    def __init__(self, law: Law, goal: Target, candidates: pd.DataFrame, prior, noise, law_error, n_draws, seed,
                 off_regime_error=None):  # fmt: skip
        if isinstance(n_draws, bool) or not isinstance(n_draws, numbers.Integral) or n_draws < 8:
            raise ValueError(f"n_draws={n_draws!r} must be a whole number >= 8 (64 is plenty)")
        _require_inputs(law, candidates, "candidates")
        inputs = {name: candidates[name].to_numpy(dtype=np.float64) for name in law.inputs}
        draws, default_noise = _parameter_draws(law, prior, input_centres(law, inputs), seed)
        noise = default_noise if noise is None else noise
        if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not float(noise) > 0:
            raise ValueError(f"noise={noise!r} must be a positive sd of log y, e.g. 0.01 (1% scatter)")
        self.noise = float(noise)
        space = _Space(law, draws)
        u = space.u[np.linspace(0, len(space.u) - 1, n_draws).round().astype(int)]
        self.covariance = space.covariance
        self.jac = space.gradients(u, lambda params: law.evaluate_log(**_jax(inputs), **params))  # (M, C, P)
        self.grad = space.gradients(u, _target_function(law, goal))  # (M, R, P)
        self.drift = _Drift(law, goal, candidates, law_error, seed) if isinstance(goal, Prediction) else None
        self.off: OffRegime | None = None
        error = regime_error(law_error, off_regime_error)
        if isinstance(goal, Prediction) and error is not None:  # an optimum has no regime of its own
            self.off = off_regime_at(signed_log_inputs(law, candidates), signed_log_inputs(law, goal.frame), error)

    def bias(self, inverse: np.ndarray, runs: list[int]) -> float:
        """Second moment of the bias the law's error off the target's regime puts into the
        refit's forecast, summed over the target rows and averaged over the draws, for the
        ladder ``runs`` with posterior covariances ``inverse`` ``(draws, P, P)``.

        Linearised, the refit moves the target by ``K' r`` for residuals ``r`` at the runs, with
        weights ``K = J Sigma g / noise**2`` (``Sigma``: the posterior covariance after the
        runs); the law's errors ``e`` at the runs bias it by ``K' e``, of second moment
        ``K' E K`` (``E``: :meth:`~bayescale.regime_bias.OffRegime.moment`), as in
        :func:`~bayescale.next_runs`.
        """
        if self.off is None or not runs:
            return 0.0
        weights = np.einsum("msp,mpq,mrq->msr", self.jac[:, runs], inverse, self.grad) / self.noise**2
        return float(np.einsum("msr,st,mtr->", weights, self.off.moment(runs, runs), weights) / len(weights))

    def bias_with_each(self, inverse: np.ndarray, runs: list[int], open_: np.ndarray, a: np.ndarray,
                       denominator: np.ndarray) -> np.ndarray:  # fmt: skip
        """:meth:`bias` for the ladder ``runs`` plus each candidate of ``open_``, ``(len(open_),)``,
        from the Sherman-Morrison update of ``inverse``: ``a = Sigma J_c`` ``(draws, C, P)`` and
        ``denominator = noise**2 + J_c' a``."""
        if self.off is None:
            return np.zeros(len(open_))
        b = np.einsum("mpq,mrq->mrp", inverse, self.grad)  # Sigma g: (M, R, P)
        t = np.einsum("mcp,mrp->mcr", self.jac[:, open_], b)  # J_c Sigma g: (M, C, R)
        own = t / denominator[..., None]  # the candidate's weight, J_c Sigma_new g / noise**2
        bias = self.off.sd()[open_] ** 2 * (own**2).sum(axis=2).mean(axis=0)
        if runs:
            noise_var = self.noise**2
            # the ladder's weights after each candidate: J_s (Sigma g - a (J_c Sigma g) / denominator) / noise**2
            before = np.einsum("msp,mrp->msr", self.jac[:, runs], b) / noise_var  # (M, S, R)
            shrink = np.einsum("msp,mcp->mcs", self.jac[:, runs], a) / noise_var  # (M, C, S)
            weights = before[:, None] - shrink[..., None] * own[:, :, None, :]  # (M, C, S, R)
            moments = self.off.moment(runs, runs)
            between = self.off.moment(runs, open_)  # (S, C)
            bias = bias + (np.einsum("mcsr,st,mctr->c", weights, moments, weights)
                           + 2 * np.einsum("mcsr,sc,mcr->c", weights, between, own)) / len(weights)  # fmt: skip
        return bias


def _require_inputs(law: Law, frame: pd.DataFrame, role: str) -> None:
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise ValueError(f"{role} must be a non-empty DataFrame of the law's inputs {list(law.inputs)}")
    missing = [name for name in law.inputs if name not in frame.columns]
    if missing:
        raise ValueError(f"{role} lack the law's inputs {missing} (columns: {list(frame.columns)})")
    values = frame[list(law.inputs)].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"{role}: every input must be a finite number")


def _jax(values: dict[str, np.ndarray]) -> dict[str, jnp.ndarray]:
    return {name: jnp.asarray(v, dtype=jnp.float32) for name, v in values.items()}


def _parameter_draws(law: Law, prior, centres: dict[str, float], seed: int) -> tuple[dict[str, np.ndarray], float]:
    """Draws of the law's parameters on their natural scale, and the default noise."""
    if prior is None:
        likelihood = get_likelihood("student_t")
        spec = build_spec(law, likelihood, {}, {}, resolve_priors(law, likelihood, {}, None))
        return natural_values(spec, prior_sites(spec, centres, 4000, seed), {}, centres), NOISE
    if getattr(prior, "law", None) is None or prior.law.name != law.name:
        raise ValueError(f"prior must be a Fit of law {law.name!r}, got {type(prior).__name__}")
    noise = float(np.median(prior.draws("sigma"))) if "sigma" in prior.spec.likelihood.noise_names else NOISE
    if not prior.spec.grouping:
        return {name: prior.draws(name).astype(np.float64) for name in law.param_names}, noise
    if not hasattr(prior, "posterior_sites"):
        raise ValueError("prior: a zoo entry with groups cannot give a new group's parameters; pass the Fit itself")
    # The ladder to plan is a new group of every grouping column: its parameters are drawn from the
    # population (each draw's mean and spread, a fresh standard-normal offset), as predict() does.
    new_group = {column: np.array([len(labels)], dtype=np.int32) for column, labels in prior.levels.items()}
    sites = with_new_levels(prior.spec, prior.posterior_sites(), new_group, seed)
    fitted_centres = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in prior.meta["centres"].items()}
    codes = {k: jnp.asarray(v) for k, v in new_group.items()}
    per_row = jax.vmap(lambda s: parameter_values(prior.spec, s, codes, fitted_centres)[0])(
        {k: jnp.asarray(v, dtype=jnp.float32) for k, v in sites.items()}
    )
    return {name: np.asarray(per_row[name], dtype=np.float64).reshape(-1) for name in law.param_names}, noise


class _Space:
    """The law's parameters in the sampler's unconstrained space: draws, covariance, gradients."""

    def __init__(self, law: Law, draws: dict[str, np.ndarray]) -> None:
        self.names = law.param_names
        self.bijectors = [biject_to(law.param(name).prior.support) for name in self.names]
        columns = [np.asarray(b.inv(jnp.asarray(draws[name])), dtype=np.float64)
                   for name, b in zip(self.names, self.bijectors, strict=True)]  # fmt: skip
        self.u = np.stack(columns, axis=1)
        self.u = self.u[np.isfinite(self.u).all(axis=1)]
        self.covariance = np.cov(self.u, rowvar=False) + 1e-9 * np.eye(len(self.names))

    def natural(self, u: jnp.ndarray) -> dict[str, jnp.ndarray]:
        return {name: b(u[i]) for i, (name, b) in enumerate(zip(self.names, self.bijectors, strict=True))}

    def gradients(self, u: np.ndarray, function) -> np.ndarray:
        """``d function / d u`` per draw: ``(draws, outputs, parameters)``."""

        def one(u_draw):
            return jnp.atleast_1d(function(self.natural(u_draw)))

        out = np.asarray(jax.jit(jax.vmap(jax.jacfwd(one)))(jnp.asarray(u, dtype=jnp.float32)), dtype=np.float64)
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def _target_function(law: Law, goal: Target):
    """The target as a function of the law's parameters (natural scale)."""
    if isinstance(goal, Prediction):
        _require_inputs(law, goal.frame, "target rows")
        rows = _jax({name: goal.frame[name].to_numpy(dtype=np.float64) for name in law.inputs})
        return lambda params: law.evaluate_log(**rows, **params)
    if isinstance(goal, Optimum):
        if set(law.inputs) != {"N", "D"}:
            raise ValueError(
                f"an optimum target needs a law of N and D alone; {law.name!r} has inputs {list(law.inputs)}: "
                "target the loss at rows of them instead (a DataFrame)"
            )
        if goal.group:
            raise ValueError("an optimum target with group= is not supported by plan_ladder (the ladder has no groups)")
        budgets = jnp.asarray(goal.C, dtype=jnp.float32)
        log_c6 = jnp.log(budgets / FLOPS_PER_PARAMETER_TOKEN)
        compute_optimal = law.compute_optimal

        def log_n(params):
            if compute_optimal is None:  # numerical, with the implicit function theorem's derivative
                return differentiable_log_optimum(law, log_c6, params)
            N, _ = compute_optimal(budgets, **{k: jnp.reshape(v, (1,)) for k, v in params.items()})
            return jnp.log(N[0])

        def optimum(params):
            logN = log_n(params)
            return {"N": logN, "D": log_c6 - logN, "D_per_N": log_c6 - 2 * logN}[goal.quantity]

        return optimum
    raise TypeError(f"plan_ladder supports prediction and optimum targets, got {type(goal).__name__}")


class _Drift:
    """Variance of the law error at the target rows, by the ladder's extent (largest run)."""

    def __init__(self, law: Law, goal: Prediction, candidates: pd.DataFrame, law_error, seed: int) -> None:
        chosen = law_error_module.resolve(law_error)
        self.active = chosen is not None
        self.law, self.rows, self.candidates = law, goal.frame, candidates
        if chosen is not None:
            gain, power = chosen.slopes(4000, np.zeros(1, dtype=np.int64), seed=seed)
            self.gain, self.power = gain[:, 0], power

    def variance(self, runs: list[int]) -> float:
        """Summed variance of the drift over the target rows, for a ladder of the candidates ``runs``."""
        if not self.active:
            return 0.0
        ladder = self.candidates.iloc[runs] if runs else self.candidates.iloc[[int(self._cheapest())]]
        distance = law_error_module.extrapolation_distance(self.law, ladder, self.rows)
        shift = self.gain[:, None] * distance[None, :] ** self.power[:, None]
        return float(shift.var(axis=0).sum())

    def _cheapest(self) -> int:
        scale = sum(np.log(self.candidates[name].to_numpy(dtype=float)) for name in law_error_module.scale_inputs(self.law))
        return int(np.argmin(scale))


def _greedy(problem: _Problem, costs: np.ndarray, budget: float, k: int | None, rule: str, minimum: int = 0) -> dict:
    """Add runs one at a time by ``rule``; the target variance after each (index 0: before any).

    Stops when nothing else fits, after ``k`` runs, or when the best run gains nothing, unless
    there are fewer than ``minimum`` runs: those are then added by the largest gain (the least
    loss). Until there are ``minimum`` runs, a run is open only if the budget left after it still
    buys the runs missing (the cheapest others)."""
    jac, grad, covariance, drift = problem.jac, problem.grad, problem.covariance, problem.drift
    noise_var = problem.noise**2
    n_draws, n_candidates, _ = jac.shape
    inverse = np.broadcast_to(covariance, (n_draws, *covariance.shape)).copy()
    chosen: list[int] = []
    drift_now = drift.variance([]) if drift is not None else 0.0
    bias_now = 0.0
    variance = [float(np.einsum("mrp,mpq,mrq->", grad, inverse, grad) / n_draws) + drift_now]
    left = budget
    while k is None or len(chosen) < k:
        open_ = np.flatnonzero((costs <= left * (1 + 1e-9)) & ~np.isin(np.arange(n_candidates), chosen))
        if len(chosen) < minimum and open_.size:
            open_ = open_[_leaves_room(costs[open_], left, minimum - len(chosen) - 1)]
        if not open_.size:
            break
        a = np.einsum("mpq,mcq->mcp", inverse, jac[:, open_])  # (M, C, P): Sigma J
        denominator = noise_var + np.einsum("mcp,mcp->mc", jac[:, open_], a)
        reduction = (np.einsum("mrp,mcp->mcr", grad, a) ** 2).sum(axis=2) / denominator
        drift_after = (np.array([drift.variance([*chosen, int(c)]) for c in open_]) if drift is not None
                       else np.zeros(open_.size))  # fmt: skip
        bias_after = problem.bias_with_each(inverse, chosen, open_, a, denominator)
        gain = reduction.mean(axis=0) + (drift_now - drift_after) + (bias_now - bias_after)
        score = gain / costs[open_] if rule == "gain_per_cost" else gain
        best = int(np.argmax(score))
        if gain[best] <= 0:
            if len(chosen) >= minimum:
                break
            best = int(np.argmax(gain))  # a run the fit needs: the one that loses least
        c = int(open_[best])
        a_c = a[:, best]  # Sherman-Morrison: (S^-1 + J J' / s2)^-1 = S - a a' / (s2 + J' a)
        inverse -= np.einsum("mp,mq->mpq", a_c, a_c) / denominator[:, best, None, None]
        chosen.append(c)
        left -= costs[c]
        drift_now, bias_now = float(drift_after[best]), float(bias_after[best])
        variance.append(float(np.einsum("mrp,mpq,mrq->", grad, inverse, grad) / n_draws) + drift_now + bias_now)
    return {"chosen": chosen, "variance": variance, "rule": rule}


def _leaves_room(costs: np.ndarray, left: float, others: int) -> np.ndarray:
    """Which runs of ``costs`` leave, within ``left``, room for ``others`` more (the cheapest of
    the rest); where none does, the cheapest run alone (the plan then stays short)."""
    if others <= 0:
        return np.ones(len(costs), dtype=bool)
    order = np.sort(costs)
    cheapest = order[:others].sum()
    # a run among the cheapest ``others`` is replaced in the reserve by the next cheapest
    reserve = np.where(costs <= order[min(others, len(order)) - 1], cheapest - costs + order[min(others, len(order) - 1)],
                       cheapest)  # fmt: skip
    room = costs + reserve <= left * (1 + 1e-9)
    return room if room.any() else costs == costs.min()
