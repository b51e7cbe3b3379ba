"""Which tasks follow their link at larger scales: a leave-future-out check of a fit by task.

Many downstream tasks do not scale predictably: one study found that only 39% of 46 tasks follow a
smooth law well enough to extrapolate (Lourie et al. 2025), and a per-task forecast of such a task
should not be trusted however narrow its band. :func:`check_tasks` refits a
:func:`bayescale.fit_downstream` fit ``by`` task without its largest runs, predicts every task at
those runs, and asks of each task whether the held-out scores fall inside their intervals as often as
the intervals promise. A task whose held-out runs are covered less often than a binomial test at
``alpha`` allows is flagged: its metric left its link (or its noise) beyond the fitted runs.

References
----------
Lourie, N., Hu, M. Y., Cho, K. (2025). Scaling Laws Are Unreliable for Downstream Tasks: A Reality
Check. arXiv preprint (2025).
Gadre, S. Y. et al. (2024). Language models scale reliably with over-training and on downstream
tasks. arXiv:2403.08540.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bayescale.calibrate import scale_order
from bayescale.diagnostics import convergence_problems, forecast_diagnostics
from bayescale.downstream import refit_downstream
from bayescale.downstream_fit import DownstreamFit

__all__ = ["check_tasks"]


def check_tasks(
    fit: DownstreamFit,
    *,
    holdout: float = 0.2,
    level: float = 0.9,
    alpha: float = 0.05,
    refit_kwargs: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Refit without the largest runs and test, task by task, whether the held-out runs are covered.

    Parameters
    ----------
    fit : DownstreamFit
        A fit ``by`` task (``fit_downstream(..., by="task")``).
    holdout : float
        Share of the *runs* held out, from the top of the ladder (furthest out along the loss law's
        scale inputs, as :func:`bayescale.calibrate`); every task is scored on those runs.
    level : float
        The new-run interval checked.
    alpha : float
        Level of the one-sided binomial test: a task is flagged when covering as few of its
        held-out rows as it did has probability below ``alpha`` under intervals that keep ``level``.
    refit_kwargs : mapping, optional
        Settings of the refit (e.g. ``{"draws": 500}``); default the fit's own.
    seed : int
        Seed of the predictions.

    Returns
    -------
    DataFrame
        One row per task: ``held_out`` (rows scored), ``covered``, ``coverage``, ``mae`` (of the
        median), ``width`` (mean width of the interval), ``p_value`` (of the binomial test) and
        ``follows_link`` (False: do not trust this task's forecasts); then the refit's forecast of
        the task's held-out rows diagnosed: ``rhat`` (worst row), ``ess_bulk`` (smallest) and
        ``converged`` (the convergence rule, :func:`bayescale.diagnostics.forecast_converged`, which
        any divergence of the refit also breaks): a task whose link the refit cannot pin, two modes
        say, shows here alone. ``attrs`` holds ``level``, ``holdout_runs``, ``divergences`` (of the
        refit) and ``converged`` (every task's forecast met the rule).

    Raises
    ------
    ValueError
        For a fit without ``by``, arguments outside (0, 1), or a ladder too short to hold runs out.
    """
    if not fit.by:
        raise ValueError("check_tasks() needs a fit by task: fit_downstream(..., by='task')")
    for name, value in (("holdout", holdout), ("level", level), ("alpha", alpha)):
        if not 0 < value < 1:
            raise ValueError(f"{name}={value!r} must lie in (0, 1)")
    data = fit.data.reset_index(drop=True)
    run = np.asarray(fit.run_codes)
    order_of_row = scale_order(fit, fit.fitted_inputs.reset_index(drop=True))
    run_order = pd.Series(order_of_row).groupby(run).max()
    n_runs = len(run_order)
    n_out = max(1, int(round(holdout * n_runs)))
    if n_runs - n_out < 2 + len(fit.law.params):
        raise ValueError(
            f"the fit has {n_runs} runs; holding out {n_out} leaves too few to refit law {fit.law.name!r}. "
            "Use a smaller holdout= or a longer ladder"
        )
    held_runs = run_order.sort_values(kind="stable").index[-n_out:]
    is_held = np.isin(run, held_runs)
    again = refit_downstream(fit, data[~is_held], refit_kwargs)  # judged by its forecast, not its parameters
    held = data[is_held].reset_index(drop=True)
    forecast = again.posterior_draws(held, seed=seed, law_error=False)[1]
    task_of_row = held[fit.by].astype(str).to_numpy()
    pred = again.predict(held, level, seed=seed)
    observed = held[fit.y].to_numpy(float)
    scored = pd.DataFrame({
        "task": task_of_row,
        "inside": (observed >= pred["pred_lower"].to_numpy()) & (observed <= pred["pred_upper"].to_numpy()),
        "error": np.abs(pred["median"].to_numpy() - observed),
        "width": (pred["pred_upper"] - pred["pred_lower"]).to_numpy(),
    })
    table = scored.groupby("task", sort=False).agg(
        held_out=("inside", "size"), covered=("inside", "sum"), mae=("error", "mean"), width=("width", "mean"))
    table = table.reindex([t for t in fit.tasks if t in table.index])
    table.insert(2, "coverage", table["covered"] / table["held_out"])
    table["p_value"] = stats.binom.cdf(table["covered"], table["held_out"], level)
    table["follows_link"] = table["p_value"] >= alpha
    by_task = [forecast_diagnostics(again, forecast[:, task_of_row == task]) for task in table.index]
    table["rhat"] = [d["max_rhat"] for d in by_task]
    table["ess_bulk"] = [d["min_ess_bulk"] for d in by_task]
    table["converged"] = [not convergence_problems(d) for d in by_task]
    table.index.name = fit.by
    table.attrs.update(level=level, holdout_runs=int(n_out), converged=bool(table["converged"].all()),
                       divergences=int(again.diagnostics["divergences"]))
    return table
