r"""Which run to train next: rank candidate runs by how much they would tighten a target.

For a fitted law, a table of runs one could train (``candidates``) and a quantity that must
become certain (``target``: the prediction at some rows, or the compute-optimal ``N*`` at a
budget; :mod:`bayescale.targets`), :func:`~bayescale.next_runs` computes for each candidate the expected
reduction of the target's posterior variance if that run were trained, and ranks the candidates
by gain per FLOP.

How
---
No refit. One call of :meth:`~bayescale.Fit.posterior_draws` gives, per posterior draw ``s``, the
law's curve ``m_sc`` at every candidate ``c`` (on ``log y``) and a draw of the run's outcome. A
fantasised outcome ``z`` at ``c`` reweights the draws by the likelihood of the fit,
``w_s \propto p(z | m_sc, noise_s)`` (Student-t or normal on ``log y``, with each draw's own
``sigma`` and ``nu``): importance sampling of the posterior that would follow from that run.
The expected posterior variance of the target after the run is the average, over ``F``
quantile-spaced fantasies ``z`` from the current predictive at ``c``, of the target's
reweighted variance. The gain is the current variance minus that.

What the gain counts
--------------------
The gain is the expected reduction of the **predictive variance of the target on the log
scale** (``log y`` for a prediction; ``log N*`` for an optimum; summed over the target's rows or
budgets). For a prediction target, the new-run predictive variance is the curve's variance plus
the mean noise variance; in expectation over the fantasies the mean noise variance does not
change (its posterior mean is a martingale), so the gain equals the expected reduction of the
curve's variance, which is what is computed.

The law error (:mod:`bayescale.law_error`) is on by default, as the refit after the run would
report it: the target's draws hold the drift beyond the fitted runs, measured from the fitted
runs *plus* the run (or batch) assumed trained. A run beyond the fitted range moves that edge
towards a far target and so shrinks the law-error part of its variance (a run at the target's
own inputs removes it); a run inside the range cannot. The candidate's own outcome is fantasised
from the law's curve: the refit fits the law through the run, and the drift beyond the new edge
starts afresh, with the size it has now (its resizing by the refit's own top runs is not
anticipated). (Treating a run beyond the edge as a measurement of the
drift's slope instead would promise that many cheap runs just beyond the ladder pin the drift
far out, which the refit's intervals then do not show.) For a prediction target the drift's
variance simply adds to the curve's and is counted exactly; only the curve's draws are reweighted.

Runs away from the target's regime
----------------------------------
A law fitted across regimes (for ``N`` and ``D``: tokens per parameter) holds in each only up to
its error, and a run teaches the target only what the law carries from the run's regime to the
target's. Judged by the law alone, runs at the far ends of the ratio range are the most
informative per FLOP (they pin one term of the law each), and a design that buys them leaves the
refit pulled by the regime the law misfits: in the replay of ``benchmarks/design.py`` on
Hoffmann et al.'s runs, ladders chosen that way put the forecast of the held-out runs 3% off with
intervals covering one in four. The refit does not know the law's error there: it fits the law
through every run as if it held, so a run off the regime moves the forecast of the target by what
it teaches *plus* its share of the law's error at the run, a bias the refit's intervals do not
contain. So with the law error on, each candidate carries the law's error at its distance
(decades) from the nearest target row's regime (:class:`OffRegime`): a drift learned across
regimes on public ladders (:func:`~bayescale.law_error.off_regime`, ``benchmarks/off_regime.py``:
the law fitted to the runs on one side of a cut in tokens per parameter, its residuals at the
runs on the other side; or the user's ``law_error=LawError(...)``), one gain for each side of the
regime (runs on one side share it, so more of them cannot average it away). The expected squared
error of the target after a run is the variance the refit will report plus the second moment of
that bias, ``K' E K`` (:class:`RegimeBias`: ``K``, the linearised refit's weights on the runs' residuals;
``E``, the errors' second moments): the integrated mean squared error of Box and Draper (1959).
A run whose bias outweighs what it teaches gains less than nothing, and a budget is not spent on
it. The refit also reads the law's error at a run as scatter: its noise variance, an average of
squared residuals over the runs it fits, rises by ``E[e_c^2] / n`` (``n``: the runs refitted), and
so does the variance of a new run at each target row of a prediction (:meth:`RegimeBias.noise_rise`);
a run on the regime dilutes what the fitted runs off it already put there, and gains by that.
In the replay on Hoffmann et al.'s runs, a ladder that had bought 13 runs below 2 tokens per
parameter (residuals up to 55 times the noise) fitted a Student-t noise of 1.4 degrees of freedom
(19 with its runs at 5-80 tokens per parameter alone) and an interval at the held-out runs half as
wide again. A run on the target's regime (the same tokens per parameter) carries no error of its
own; the ``off_regime_sd`` column gives each candidate's root mean square error. (Counting the error as
what the run measures instead, integrated into its likelihood, promised an idealised refit that
discounts such runs; the real refit does not, and in the replay runs at 0.2-0.6 tokens per
parameter were bought and the coverage of the held-out runs fell to 0.25.) The bias is charged
one-sided: the bias the fitted runs off the regime already put into the forecast, which a run
near the target's regime would dilute, is not counted (``docs/design.md`` says why), so late in a
ladder a budget may be left unspent where more runs near the target would still help.

Batches (``k > 1``) are chosen greedily with fantasised outcomes: after the best candidate is
picked, each of the ``F`` fantasy scenarios is conditioned on its fantasised outcome there
(reweighted), and the next candidate is the one with the largest expected gain under those
scenarios (fantasies of it drawn from each scenario's reweighted predictive). A near-duplicate
of a chosen run then gains little, so a batch spreads out where the top ``k`` of one ranking
would not.

Budgets (``budget=``) use the same greedy: each step considers only the candidates whose cost
still fits in what is left of the budget, and stops when none fits (or after ``k`` picks), or
when the best remaining candidate is expected to gain nothing (``gain <= 0`` given the earlier
picks, as :func:`~bayescale.plan_ladder` does): a budget is a limit, not an amount to spend on
runs that teach nothing about the target. Without a budget the batch has the ``k`` runs asked for.
Greedy by gain per cost alone is not enough under a budget: it fills the budget with cheap runs
whose first one teaches a lot per FLOP, although one expensive run next to the target can teach
more than all of them together. So the greedy runs twice, once by gain per cost and once by gain,
and the batch with the larger *joint* expected gain is returned: the standard rule for budgeted
greedy selection (Khuller, Moss and Naor 1999; Leskovec et al. 2007), which keeps a
constant-factor guarantee that either greedy alone lacks. The joint gain of a whole batch is
computed by the linearised (Gaussian) update from the draws' covariance of the target and the
batch's curves, with the mean noise variance: importance weights conditioned on tens of
fantasised runs collapse onto a few draws and then promise nearly all of the variance.

Importance weights lose accuracy when a run would teach a lot (the weights concentrate on few
draws): the ``ess`` column gives the mean effective number of draws behind each gain; below
about 50 the gain is rough (fit with more draws, or fewer candidates far out).

References
----------
Box, G. E. P. and Draper, N. R. (1959). A basis for the selection of a response surface design.
Journal of the American Statistical Association 54(287), 622-654 (a design chosen for the
model's variance alone is led astray by the model's bias).
Chaloner, K. and Verdinelli, I. (1995). Bayesian experimental design: a review. Statistical
Science 10(3), 273-304.
Hoffmann, J. et al. (2022). Training compute-optimal large language models. NeurIPS (the runs
of the replay above).
Ginsbourger, D., Le Riche, R. and Carraro, L. (2010). Kriging is well-suited to parallelize
optimization (the "kriging believer" / fantasy approach to greedy batches).
Khuller, S., Moss, A. and Naor, J. (1999). The budgeted maximum coverage problem. Information
Processing Letters 70(1), 39-45.
Leskovec, J., Krause, A., Guestrin, C., Faloutsos, C., VanBriesen, J. and Glance, N. (2007).
Cost-effective outbreak detection in networks. KDD (the better of the cost-ratio and the plain
greedy under a budget).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.special import gammaln

from bayescale.data import DERIVED
from bayescale.law_error import (
    LawError,
    distance_beyond,
    fitted_edges,
    ladder_id,
    level_codes,
    resolve,
    shift,
    signed_log_inputs,
)
from bayescale.prediction_rows import prediction_inputs
from bayescale.regime_bias import OffRegime, RegimeBias, off_regime_at, regime_error
from bayescale.targets import Target, as_target

__all__ = ["next_runs"]

#: Ranking criteria of :func:`next_runs`.
RANK_BY = ("gain_per_cost", "gain")

#: Elements (fantasies x candidates x draws) handled at once: bounds memory to ~100 MB.
_BLOCK = 4_000_000


def next_runs(
    fit,
    candidates: pd.DataFrame,
    target: Target | pd.DataFrame,
    *,
    cost: str = "C",
    k: int | None = None,
    budget: float | None = None,
    n_fantasies: int = 16,
    rank_by: str = "gain_per_cost",
    law_error: bool | LawError = True,
    off_regime_error: bool | LawError | None = None,
    seed: int = 0,
    new_groups: str = "population",
) -> pd.DataFrame:
    """Rank candidate runs by the expected reduction of a target's variance per unit cost.

    Parameters
    ----------
    fit : Fit
        A fit whose likelihood is on ``log y`` (``student_t`` or ``normal``).
    candidates : DataFrame
        Runs one could train: the law's inputs (under the fit's column names or the law's own,
        as for :meth:`Fit.predict`), plus the grouping columns of a grouped fit.
    target : DataFrame or Target
        What must become certain: a DataFrame of rows (the new-run prediction there; the variance
        of ``log y`` summed over rows), or a :mod:`bayescale.targets` target such as
        ``bs.targets.optimum(C=1e23)`` (``log N*`` at that budget),
        ``bs.targets.better(other_fit, rows)`` (whether this recipe beats another at ``rows``) or
        ``bs.targets.metric(downstream_fit, rows)`` (a downstream metric through its link).
    cost : str
        The cost of a run: a column of ``candidates``, or a feature bayescale derives from the
        inputs (``"C"``, FLOPs ``6 N D``, the default).
    k : int, optional
        Number of runs to choose (the most, with a ``budget``). ``k > 1`` chooses a batch greedily
        with fantasised outcomes (each pick conditioned on the earlier picks' fantasies), not the
        top ``k`` of one ranking. Default: 1 without a budget, no limit with one.
    budget : float, optional
        Total cost the batch may spend at most, in the units of ``cost`` (FLOPs by default); it
        leaves the rest unspent when no candidate left would gain anything. The batch is
        the better, by joint expected gain, of two greedy batches within the budget: by gain per
        cost and by gain (see the module notes). ``attrs["rule"]`` says which won, and
        ``attrs["batch_gain"]`` / ``attrs["batch_cost"]`` give the batch's joint gain and cost.
    n_fantasies : int
        Quantile-spaced fantasised outcomes per candidate (more: smoother gains, slower).
    rank_by : {"gain_per_cost", "gain"}
        What "best" means (without a budget); with a budget, how the candidates not picked are
        ordered. Either way the runs expected to make the forecast worse (gain <= 0) come after
        every run expected to gain, in the order of their gain.
    law_error : bool or LawError
        As in :meth:`Fit.predict`: the drift of the target beyond the fitted runs, measured from
        the fitted runs plus the runs chosen; and at candidates away from the target's regime
        the law's error learned across regimes (:func:`bayescale.law_error.off_regime`; a
        :class:`LawError` given here is used for both), whose share in the refit's forecast
        counts against a run (see the module notes). ``False`` ranks the candidates by the law
        alone.
    off_regime_error : bool or LawError, optional
        The law's error away from the target's regime alone, when it should differ from
        ``law_error``'s: a :class:`LawError` (e.g. ``bs.law_error.off_regime(without="chinchilla")``,
        learned without the ladder one plans, as ``benchmarks/design.py`` does), ``True`` for the
        learned one, ``False`` to charge no run for its regime. Default: as ``law_error`` says
        (no effect with ``law_error=False``).
    seed : int
        Seed of the posterior-predictive draws (law error, new groups, noise) and of the pairing
        of fantasies in a batch.
    new_groups : {"population", "error"}
        As in :meth:`Fit.predict`, for candidates or target rows of unseen group levels.

    Returns
    -------
    DataFrame
        The candidates (their own columns and index) ranked best first, with

        * ``pick``: 1..k for the chosen batch (in the order chosen), 0 for the others;
        * ``gain``: expected reduction of the target's variance (:attr:`DataFrame.attrs`
          ``["units"]`` says of what), less the squared bias the law's error off the target's
          regime would put into the refit and the rise of the refit's noise it would cause
          (negative: the run would make the forecast worse);
          for the batch, given the earlier picks; for the others, as the next pick after the
          first ``k - 1``;
        * ``var_after``: expected variance of the target after that run (and the earlier picks),
          plus that bias and noise rise;
        * ``cost`` and ``gain_per_cost``;
        * ``ess``: mean effective number of posterior draws behind the gain;
        * ``off_regime_sd``: root mean square of the law's error at the candidate from its
          distance to the target's regime (0 on it; see the module notes), on ``log y``.

        ``attrs`` holds ``target``, ``units``, ``var_now`` (the current variance), ``draws``,
        ``batch_gain`` (expected reduction of the target's variance by the whole batch, less
        its bias off the regime),
        ``batch_cost``, ``budget``, ``rule`` (the greedy criterion that chose the batch) and
        ``stopped`` (why the batch ended: ``"k"`` picks made, nothing else fits the ``"budget"``,
        or ``"no gain"``: the best remaining candidate is expected to teach nothing more).

    Raises
    ------
    TypeError
        If ``candidates`` is not a DataFrame, or ``target`` is neither a DataFrame nor a Target.
    ValueError
        For empty candidates, missing input or cost columns, a non-positive cost, a bad ``k``,
        ``budget`` (not positive, or below the cheapest candidate), ``n_fantasies`` or
        ``rank_by``, or a likelihood not on ``log y``.

    Examples
    --------
    >>> cands = pd.DataFrame({"N": [4e8, 1e9, 2e9], "D": [8e9, 2e10, 4e10]})      # doctest: +SKIP
    >>> bs.next_runs(fit, cands, pd.DataFrame({"N": [7e9], "D": [2e12]}), k=2)   # doctest: +SKIP
    >>> bs.next_runs(fit, cands, target, budget=1e21)   # runs worth at most 1e21 FLOPs # doctest: +SKIP
    """
    if not isinstance(candidates, pd.DataFrame):
        raise TypeError(f"candidates must be a DataFrame of runs (the law's inputs), got {type(candidates).__name__}")
    if candidates.empty:
        raise ValueError("candidates is empty: give at least one run one could train (a row of the law's inputs)")
    if k is None:
        k = 1 if budget is None else len(candidates)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= len(candidates):
        raise ValueError(f"k={k!r} must be a whole number from 1 to the number of candidates ({len(candidates)})")
    if isinstance(n_fantasies, bool) or not isinstance(n_fantasies, numbers.Integral) or n_fantasies < 2:
        raise ValueError(f"n_fantasies={n_fantasies!r} must be a whole number >= 2 (16 to 32 is plenty)")
    if rank_by not in RANK_BY:
        raise ValueError(f"rank_by={rank_by!r} must be one of {list(RANK_BY)}")
    if off_regime_error is not None and not isinstance(off_regime_error, (bool, LawError)):
        raise TypeError(
            f"off_regime_error={off_regime_error!r} must be True, False or a LawError "
            "(e.g. bs.law_error.off_regime(without='chinchilla')), or None to follow law_error"
        )
    likelihood = fit.spec.likelihood
    if likelihood.name not in ("student_t", "normal"):
        raise ValueError(
            f"next_runs works with the symmetric likelihoods on log y (student_t, normal); this fit uses "
            f"{likelihood.name!r}" + (": refit the tuned runs with student_t to plan the next ones"
                                      if likelihood.name == "frontier" else "")
        )
    goal = as_target(target)
    costs = run_costs(candidates, cost, columns=fit.columns)
    if budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, numbers.Real) or not 0 < budget < np.inf:
            raise ValueError(f"budget={budget!r} must be a positive number in the units of cost={cost!r}")
        if budget < costs.min():
            raise ValueError(
                f"budget={budget:.4g} is below the cheapest candidate's cost={cost!r} of {costs.min():.4g}: "
                "no run fits; raise the budget or add cheaper candidates"
            )

    # The candidates' curves are the law's (the refit after a run fits the law through it); the
    # target's law error is measured from the fitted runs plus the runs assumed trained (_Target).
    # One seed for both calls: the draws share their new-group offsets, as rows of one call would.
    _, curve_c, predictive_c = _draws(fit, candidates, "candidates", seed=seed, new_groups=new_groups,
                                      law_error=False)
    goal_draws = _Target(fit, goal, candidates, law_error=law_error, off_regime_error=off_regime_error, seed=seed,
                         new_groups=new_groups)

    noise = {name: fit.draws(name).astype(np.float64) for name in likelihood.noise_names}
    kernel = _Kernel(likelihood.name, noise)
    location, predictive = np.log(curve_c).T.copy(), np.log(predictive_c).T.copy()
    # a run away from the target's regime puts the law's error there into the refit (RegimeBias)
    noise_var = float(np.mean(noise["sigma"] ** 2))
    off = goal_draws.off_regime()
    bias = None if off is None else RegimeBias(location, off, noise_var, n_fitted=len(fit.data),
                                               noise_rows=goal_draws.values([])[0].shape[1] if goal.additive else 0,
                                               fitted_error=goal_draws.fitted_error)
    rules = [rank_by] if budget is None else ["gain_per_cost", "gain"]
    batches = [_greedy(location, predictive, goal_draws, kernel, k=k, n_fantasies=n_fantasies, costs=costs,
                       rank_by=rule, seed=seed, budget=budget, bias=bias) for rule in rules]  # fmt: skip
    # the joint gain of a whole batch by the linearised (Gaussian) update: importance weights
    # conditioned on many fantasised runs collapse onto a few draws and then promise ~all the variance
    joint = [_linear_variance(location, *goal_draws.values(batch.chosen), noise_var, batch.chosen)
             + (0.0 if bias is None else bias.batch(batch.chosen, goal_draws.values(batch.chosen)[0]))
             for batch in batches]  # fmt: skip
    best = int(np.argmin(joint))  # ties: gain per cost (cheaper)
    rule = rules[best]
    chosen, gains, after, ess, var_now = batches[best][:5]

    out = candidates.copy()
    out["pick"] = 0
    out["gain"] = gains
    out["var_after"] = after
    out["cost"] = costs
    out["gain_per_cost"] = gains / costs
    out["ess"] = ess
    out["off_regime_sd"] = 0.0 if off is None else off.sd()
    picks = out.iloc[chosen].copy()
    picks["pick"] = np.arange(1, len(chosen) + 1)
    rest = out.drop(out.index[chosen])
    rest = rest.iloc[np.argsort(-preference(rest["gain"].to_numpy(), rest["cost"].to_numpy(), rank_by), kind="stable")]
    result = pd.concat([picks, rest])
    result.attrs.update(
        {"target": repr(goal), "units": goal.units, "var_now": float(var_now), "draws": int(location.shape[1]),
         "cost": cost, "law_error": law_error is not False, "budget": budget, "rule": rule,
         "batch_gain": float(var_now - joint[best]), "batch_cost": float(costs[chosen].sum()),
         "stopped": batches[best].stopped}  # fmt: skip
    )
    return result


class _Target:
    """Draws of the target as the refit after some of the candidates would report them.

    The curve at the target rows is the law's; the law error is added at the target rows'
    distance from the fitted runs *and the runs assumed trained* (the refit measures it from
    there), with the drifts :meth:`Fit.predict` draws for this seed. A run beyond the fitted
    range thus shrinks the law error of a far target by moving the edge towards it, as the refit
    will; a run inside the range cannot. Without law error, or for a target without rows (an
    optimum), the draws do not depend on the runs.

    For an additive target (a prediction: its values are the curve itself) the drift is
    independent of the posterior draws, so its variance simply adds to the curve's: the draws
    returned are the curve's alone and the drift's variance comes separately, counted once over
    all its draws (Rao-Blackwellised). Reweighting the drift's draws with the curve's importance
    weights would leave the expected variance unchanged but add noise to every gain, enough to
    drown the differences between candidates.
    """

    def __init__(self, fit, goal: Target, candidates: pd.DataFrame, *, law_error, off_regime_error=None, seed: int,
                 new_groups: str) -> None:
        self.fit, self.goal, self.seed, self.n_candidates = fit, goal, seed, len(candidates)
        rows = goal.rows()
        self.location = None
        if rows is not None:
            _, curve, _ = _draws(fit, rows, "target", seed=seed, new_groups=new_groups, law_error=False)
            self.location = np.log(curve)
        # the fit's own drift (a callable, which costs a refit) is resolved only at a distance > 0 (_at)
        option = fit.law_error_option(law_error) if rows is not None else False
        self.law_error = option if callable(option) else resolve(option)
        # away from the target's regime: the error learned across regimes, or the user's own
        self.across = regime_error(law_error, off_regime_error) if rows is not None else None
        self.cache: dict[tuple[float, ...], tuple[np.ndarray, float]] = {}
        if self.law_error is None or rows is None:
            return
        law = fit.law
        target_inputs, group_index, _ = prediction_inputs(law, rows, fit.columns, fit.levels)
        candidate_inputs, _, _ = prediction_inputs(law, candidates, fit.columns, fit.levels)
        self.signed_target = signed_log_inputs(law, pd.DataFrame(target_inputs))
        self.signed_candidates = signed_log_inputs(law, pd.DataFrame(candidate_inputs))
        self.signed_fitted = signed_log_inputs(law, fit.data)
        self.edges, self.top = fitted_edges(self.signed_fitted)
        self.codes = level_codes([np.asarray(group_index[column], dtype=np.int64) for column in fit.levels], len(rows))
        self.ladder = ladder_id(fit.meta.get("data_hash", ""))

    def off_regime(self) -> OffRegime | None:
        """The law's error at each candidate from its distance to the target's regime
        (:func:`off_regime_at`; all zero where every candidate is on the regime but fitted runs
        are not, whose misfit the candidates dilute), or None where there is none to count (also
        without law error, and for a target without rows: an optimum)."""
        if self.across is None or self.law_error is None:
            return None
        off = off_regime_at(self.signed_candidates, self.signed_target, self.across)
        on_regime = (np.full(self.n_candidates, -1), np.zeros(self.n_candidates))  # no error of their own
        return off if off is not None or not self.fitted_error else OffRegime(*on_regime, self.across)

    @functools.cached_property
    def fitted_error(self) -> float:
        """The fitted runs' summed mean squared law error from their distance to the target's
        regime (:func:`off_regime_at`): what they already put into the refit's noise (0 where
        :meth:`off_regime` counts nothing). Computed once per target."""
        error = self.across if self.law_error is not None else None
        off = None if error is None else off_regime_at(self.signed_fitted, self.signed_target, error)
        return 0.0 if off is None else float((off.sd() ** 2).sum())

    def _at(self, distance: np.ndarray) -> tuple[np.ndarray, float]:
        """Centred target draws ``(draws, quantities)`` with the law error at ``distance`` (decades,
        per row), and the variance to add to theirs: the drift's, for an additive target (else 0)."""
        key = tuple(np.round(distance, 2).tolist())  # a hundredth of a decade: far below the drift's resolution
        if key not in self.cache:
            location, extra = self.location, 0.0
            if self.law_error is not None and location is not None and any(key):
                chosen = resolve(self.law_error)
                assert chosen is not None
                drift = shift(chosen, np.array(key), self.codes, len(location),
                              lower_is_better=self.fit.law.lower_is_better, seed=self.seed, ladder=self.ladder)
                if self.goal.additive:
                    extra = float(np.var(drift, axis=0, ddof=1).sum())
                else:
                    location = location + drift
            values = np.asarray(self.goal.values(self.fit, location), dtype=np.float64)
            self.cache[key] = (values - values.mean(axis=0), extra)
        return self.cache[key]

    def _edges(self, trained: list[int]) -> tuple[np.ndarray, np.ndarray]:
        if not trained:
            return self.edges, self.top
        runs = self.signed_candidates[trained]
        return np.maximum(self.edges, runs.max(axis=0)), np.maximum(self.top, runs.sum(axis=-1).max())

    def values(self, trained: list[int]) -> tuple[np.ndarray, float]:
        """Centred draws ``(draws, quantities)`` after the candidates ``trained``, and the variance
        to add to theirs (:meth:`_at`)."""
        if self.law_error is None:
            return self._at(np.zeros(0))
        edges, top = self._edges(trained)
        return self._at(distance_beyond(self.signed_target, edges, top))

    def after_each(self, trained: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draws after ``trained`` plus each candidate: ``(patterns, draws, quantities)``, each
        candidate's pattern (candidates that leave the target's distances alone share one) and
        each pattern's variance to add (:meth:`_at`)."""
        if self.law_error is None:
            values, extra = self.values(trained)
            return values[None], np.zeros(self.n_candidates, dtype=np.int64), np.array([extra])
        edges, top = self._edges(trained)
        each_edges = np.maximum(edges, self.signed_candidates)[:, None, :]
        each_top = np.maximum(top, self.signed_candidates.sum(axis=-1))[:, None]
        distance = np.round(distance_beyond(self.signed_target[None], each_edges, each_top), 2)
        patterns, index = np.unique(distance, axis=0, return_inverse=True)
        drawn = [self._at(d) for d in patterns]
        return np.stack([values for values, _ in drawn]), index.reshape(-1), np.array([extra for _, extra in drawn])


def _linear_variance(location: np.ndarray, values: np.ndarray, extra: float, noise_var: float, chosen: list[int]) -> float:
    """Expected variance of the target after observing the runs ``chosen``, linearised.

    Treats the curve at the chosen runs (``location[chosen]``, draws last) and the target draws
    ``values`` as jointly Gaussian with their covariance over the posterior draws, each run
    observed with noise variance ``noise_var`` on ``log y``: the target's variance minus
    ``c' (S + noise I)^-1 c``, plus ``extra`` (a variance no run reduces: the drift's, for an
    additive target). Unlike importance weights it does not degrade with the batch's size.
    """
    n_draws = values.shape[0]
    runs = location[chosen] - location[chosen].mean(axis=1, keepdims=True)
    target = values - values.mean(axis=0)
    cov = runs @ runs.T / (n_draws - 1) + noise_var * np.eye(len(chosen))
    cross = runs @ target / (n_draws - 1)
    return float((target * target).sum() / (n_draws - 1) - np.trace(cross.T @ np.linalg.solve(cov, cross))) + extra


def _draws(fit, rows: pd.DataFrame, role: str, **options):
    """``fit.posterior_draws(rows)``, with a bad input column reported as a problem of ``role``."""
    try:
        return fit.posterior_draws(rows, **options)
    except ValueError as error:
        raise ValueError(f"{role}: {error}") from None


def run_costs(candidates: pd.DataFrame, cost: str, columns: Mapping[str, str] | None = None) -> np.ndarray:
    """The cost of each candidate: the column ``cost``, or the derived feature of that name (``C = 6ND``).

    ``columns`` maps a law input to the column a fit read it from (:attr:`Fit.columns`); inputs
    not in it are looked up under their own names.
    """
    if not isinstance(cost, str):
        raise TypeError(f"cost={cost!r} must be a column name of candidates or 'C' (FLOPs, 6ND)")
    if cost in candidates.columns:
        values = pd.to_numeric(candidates[cost], errors="coerce").to_numpy(dtype=np.float64)
    elif cost in DERIVED:
        sources, function = DERIVED[cost]
        read_from = {name: (columns or {}).get(name, name) for name in sources}
        read_from = {name: col if col in candidates.columns else name for name, col in read_from.items()}
        missing = [name for name, col in read_from.items() if col not in candidates.columns]
        if missing:
            raise ValueError(
                f"cost={cost!r} is computed from {list(sources)}, but candidates lack {missing} "
                f"(columns: {list(candidates.columns)}); add them or name a cost column with cost='<column>'"
            )
        raw = {name: pd.to_numeric(candidates[col], errors="coerce").to_numpy(dtype=np.float64)
               for name, col in read_from.items()}  # fmt: skip
        values = np.asarray(function(**raw), dtype=np.float64)
    else:
        raise ValueError(
            f"cost={cost!r} is neither a column of candidates ({list(candidates.columns)}) nor a derived "
            f"feature ({sorted(DERIVED)}); use cost='C' for FLOPs (6ND) or name your cost column"
        )
    bad = ~(values > 0) | ~np.isfinite(values)
    if bad.any():
        row = candidates.index[int(np.flatnonzero(bad)[0])]
        raise ValueError(f"cost={cost!r}: candidate row {row!r} has cost {values[bad][0]!r}; costs must be positive numbers")
    return values


class _Kernel:
    """Log-likelihood of an outcome ``z`` (on ``log y``) under each posterior draw, vectorised.

    ``noise`` holds one value per draw of each noise parameter. The Jacobian ``-z`` of ``log y``
    is left out: it is the same for every draw, so it cancels in the weights.
    """

    def __init__(self, name: str, noise: dict[str, np.ndarray]) -> None:
        sigma = noise["sigma"]
        self.name = name
        if name == "student_t":
            nu = noise["nu"]
            self.const = gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi) - np.log(sigma)
            self.power = (nu + 1) / 2
            self.scale = 1.0 / (nu * sigma**2)
        elif name == "normal":
            self.const = -np.log(sigma) - 0.5 * np.log(2 * np.pi)
            self.scale = 0.5 / sigma**2
        else:  # pragma: no cover - refused by next_runs
            raise ValueError(f"no design kernel for likelihood {name!r}")

    def __call__(self, residual: np.ndarray) -> np.ndarray:
        """Log-density of ``residual = z - m`` with draws on the last axis."""
        r2 = residual * residual
        r2 *= self.scale
        if self.name == "student_t":
            np.log1p(r2, out=r2)
            r2 *= self.power
        r2 -= self.const
        return np.negative(r2, out=r2)


def _weights(log_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised weights over the last axis, and their sum of squares."""
    log_w = log_w - log_w.max(axis=-1, keepdims=True)
    w = np.exp(log_w, out=log_w)
    w /= w.sum(axis=-1, keepdims=True)
    return w, np.einsum("...s,...s->...", w, w)


def _weighted_variance(w: np.ndarray, w2: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Summed variance of the columns of ``values`` under weights ``w`` (draws last), corrected for
    the weights' effective sample size (reliability weights: divide by ``1 - sum w**2``).

    ``values`` is ``(draws, quantities)``, shared by every weight vector, or ``(candidates, draws,
    quantities)`` with ``w`` ``(scenarios, candidates, draws)``: each candidate's own target draws.
    """
    mean = (w[..., None, :] @ values)[..., 0, :]
    second = (w[..., None, :] @ (values * values))[..., 0, :]
    spread = (second - mean * mean).sum(axis=-1)
    return np.maximum(spread, 0.0) / np.maximum(1.0 - w2, 1.0 / w.shape[-1])


def _fantasies(sorted_z: np.ndarray, order: np.ndarray, w: np.ndarray | None, levels: np.ndarray) -> np.ndarray:
    """Outcome at quantile ``levels[j]`` of each candidate's predictive under scenario ``j``.

    ``sorted_z`` (candidates, draws) is each candidate's predictive draws sorted, ``order`` the
    sorting permutation; ``w`` (scenarios, draws) the scenario weights, or None for equal weights.
    Returns ``(scenarios, candidates)``.
    """
    n_draws = sorted_z.shape[1]
    if w is None:
        index = np.minimum((levels * n_draws).astype(np.int64), n_draws - 1)
        return sorted_z[:, index].T
    cumulative = np.cumsum(w[:, order], axis=-1)  # (scenarios, candidates, draws)
    index = np.minimum((cumulative < levels[:, None, None]).sum(axis=-1), n_draws - 1)
    return np.take_along_axis(sorted_z[None, :, :], index[:, :, None], axis=-1)[:, :, 0]


def _score(location, sorted_z, order, patterns, pattern_of, extra, kernel, log_w, levels, uniform):
    """Expected variance after each candidate, the fantasies used, and the mean ESS.

    ``patterns[pattern_of[c]]`` holds the target's draws after candidate ``c``, and
    ``extra[pattern_of[c]]`` the variance to add to theirs (:meth:`_Target.after_each`)."""
    n_scen, n_draws = log_w.shape
    n_cand = location.shape[0]
    w_now = None if uniform else _weights(log_w.copy())[0]
    after = np.empty(n_cand)
    ess = np.empty(n_cand)
    fantasies = np.empty((n_scen, n_cand))
    step = max(1, _BLOCK // (n_scen * n_draws))
    for start in range(0, n_cand, step):
        block = slice(start, min(start + step, n_cand))
        z = _fantasies(sorted_z[block], order[block], w_now, levels)  # (scenarios, m)
        fantasies[:, block] = z
        log_lik = kernel(z[:, :, None] - location[None, block, :])  # (scenarios, m, draws)
        log_lik += log_w[:, None, :]
        w, w2 = _weights(log_lik)
        after[block] = _weighted_variance(w, w2, patterns[pattern_of[block]]).mean(axis=0) + extra[pattern_of[block]]
        ess[block] = (1.0 / w2).mean(axis=0)
    return after, fantasies, ess


class _Batch(NamedTuple):
    chosen: list[int]
    gains: np.ndarray
    after: np.ndarray
    ess: np.ndarray
    var_now: float
    var_batch: float  # expected variance of the target after the whole batch
    stopped: str  # why the greedy stopped: "k", "budget" or "no gain"


def preference(gain: np.ndarray, costs: np.ndarray, rank_by: str) -> np.ndarray:
    """One score per candidate, higher first: ``rank_by`` among the runs expected to gain, and
    every run expected to lose below all of those, in the order of its loss alone.

    Per cost, the costliest of the losing runs would rank first (its loss over a large cost is
    nearest zero), so a loss is never divided by the cost.
    """
    gain = np.asarray(gain, dtype=float)
    if rank_by == "gain":
        return gain.copy()
    gaining = gain > 0
    score = np.divide(gain, costs, out=np.zeros_like(gain), where=gaining)
    if (~gaining).any():
        lowest = score[gaining].min() if gaining.any() else 0.0
        losses = gain[~gaining]
        # in [lowest - 2, lowest - 1], increasing with the gain
        score[~gaining] = lowest - 2.0 + (losses - losses.min()) / max(np.ptp(losses), 1e-300)
    return score


def _greedy(location, predictive, target: _Target, kernel, *, k, n_fantasies, costs, rank_by, seed, budget=None,
            bias: RegimeBias | None = None):  # fmt: skip
    """Greedy batch of at most ``k`` picks whose costs sum to at most ``budget`` (None: no limit).

    ``location`` and ``predictive`` are ``(candidates, draws)`` on ``log y``; ``target`` gives
    the target's draws after any runs; ``bias`` the squared error the law's error away from the
    target's regime would add to the refit's forecast (added to the variance after each
    candidate, so a run whose bias outweighs what it teaches gains less than nothing). Each
    step picks, among the candidates not yet chosen that still fit in the budget, the best by
    ``rank_by`` given the fantasies of the earlier picks; it stops after ``k`` picks, when
    nothing fits (``stopped="budget"``) or, under a budget, when the best pick would gain
    nothing (``stopped="no gain"``; the first pick is always made: when every run is expected
    to make the forecast worse, the one expected to do least harm, :func:`preference`).
    """
    n_cand, n_draws = location.shape
    order = np.argsort(predictive, axis=1)
    sorted_z = np.take_along_axis(predictive, order, axis=1)
    levels = (np.arange(n_fantasies) + 0.5) / n_fantasies
    rng = np.random.default_rng([seed, 0xD5])
    log_w = np.zeros((n_fantasies, n_draws))
    uniform = np.full(n_draws, 1.0 / n_draws)
    values, extra = target.values([])
    var_now = float(_weighted_variance(uniform[None], np.array([1.0 / n_draws]), values)[0]) + extra
    baseline = var_now
    chosen: list[int] = []
    gains = np.zeros(n_cand)
    after = np.zeros(n_cand)
    ess = np.zeros(n_cand)
    left = np.inf if budget is None else float(budget)
    stopped = "k"
    for step in range(k):
        patterns, pattern_of, extras = target.after_each(chosen)
        var_after, fantasies, step_ess = _score(
            location, sorted_z, order, patterns, pattern_of, extras, kernel, log_w, levels, uniform=step == 0
        )
        if bias is not None:  # the bias of the batch with each candidate, against the batch's own
            bias_now, bias_each = bias.of(chosen, target.values(chosen)[0])
            var_after = var_after + bias_each
            gain = baseline + bias_now - var_after
        else:
            gain = baseline - var_after
        score = preference(gain, costs, rank_by)
        score[chosen] = -np.inf
        score[costs > left * (1 + 1e-12)] = -np.inf
        if step > 0 and not np.isfinite(score).any():
            stopped = "budget"  # nothing else fits
            break
        best = int(np.argmax(score))
        if budget is not None and step > 0 and gain[best] <= 0:
            stopped = "no gain"
            break
        remaining = np.ones(n_cand, dtype=bool)
        remaining[chosen] = False
        # the last step's gains stand for every candidate not chosen; each pick keeps its own
        gains[remaining], after[remaining], ess[remaining] = gain[remaining], var_after[remaining], step_ess[remaining]
        chosen.append(best)
        left -= costs[best]
        # condition every scenario on its fantasised outcome of the pick
        log_w += kernel(fantasies[:, best][:, None] - location[best][None, :])
        w, w2 = _weights(log_w.copy())
        values, extra = target.values(chosen)
        baseline = float(_weighted_variance(w, w2, values).mean()) + extra
        levels = levels[rng.permutation(n_fantasies)]  # pair the next fantasies with other quantiles
    return _Batch(chosen, gains, after, ess, var_now, baseline, stopped)
