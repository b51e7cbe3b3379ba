"""Which law of model size and tokens extrapolates: ``chinchilla``, ``chinchilla_farseer``, ``farseer``, others.

Every ladder of ``benchmarks/calibration.py`` with inputs ``N`` and ``D`` (Hoffmann et al.'s runs,
Porian et al.'s isoFLOP points, Gadre et al.'s over-training runs, datablations, the five
loss-to-loss sweeps with their held-out 3.3B run, OpenEuroLLM's tuned lr x batch frontier), split
by scale as there, fitted with each law of ``--laws`` (the same sampler settings, seed and
likelihood), and scored at the held-out runs:

* ``error``: mean absolute log ratio of the posterior-predictive median to the held-out loss;
  ``bias``: mean log ratio (positive: the runs came out worse than the median);
* ``cov90``/``width90``: coverage of the held-out runs by the 90% new-run intervals and their mean
  width in log loss, with the learned law error (``predict``'s default); ``cov90_no_le``: the same
  without it;
* in sample, the fit's residuals (log loss over the posterior median, law error off): their sd and
  their correlation with ``(log10(D/N) - 1.3)**2``, the squared distance from 20 tokens per
  parameter (``u_corr``; positive: the runs far from the optimum sit above the law, the law's
  isoFLOP profile is too flat);
* ``loo_rank``: the law's rank by PSIS-LOO among the laws of the run, on the training runs only
  (what a user comparing laws with :func:`bayescale.compare` would see before the big run);
* ``opt_tpp`` (``_lo``, ``_hi``): tokens per parameter of the compute-optimal allocation at 100x the
  largest training run's FLOPs (median and 90% interval over the posterior draws, the loss's own
  curve); ``opt_unbounded``: the share of draws whose optimum lies at the end of the searched range
  (:data:`bayescale.optimal.TOKENS_PER_PARAMETER_RANGE`, what ``bs.AllocationWarning`` reports);
* ``max_rhat``, ``min_ess``, ``divergences`` and ``converged`` (the fit's own convergence rule).

A grouped split (over-training: the floor by corpus) groups each law's floor parameter
(``FLOOR``); a law without one there skips that split.

Run::

    BAYESCALE_DATA_DIR=/work/shared/data python benchmarks/law_choice.py [--laws chinchilla farseer]

(about 15 minutes on a 2-core CPU for the three default laws; RESULTS.md has the table).
"""

from __future__ import annotations

import bayescale as bs  # isort: skip  (first: configures JAX host devices before JAX starts)

import argparse
import time
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from calibration import SPLITS

from bayescale.data import training_compute
from bayescale.optimal import optimal_draws

from extrapolation import Split

DATASETS = ("chinchilla", "porian_isoflops", "overtraining", "datablations", "loss_to_loss", "openeurollm")

#: Budget of the compute-optimal allocation reported, as a multiple of the largest training run's FLOPs.
OPTIMUM_FACTOR = 100.0

#: Each law's parameter that holds the loss floor, grouped where a split groups ``E``.
FLOOR = {"chinchilla": "E", "chinchilla_farseer": "E", "farseer": "b3", "data_constrained": "E"}


def fit_kwargs(split: Split, law: str) -> dict | None:
    """The split's fit options for ``law``: its grouped floor renamed; None when ``law`` has no floor to group."""
    kwargs = dict(split.fit_kwargs)
    hierarchy = kwargs.get("hierarchy")
    if hierarchy:
        if law not in FLOOR:
            return None
        kwargs["hierarchy"] = {FLOOR[law]: hierarchy["E"]}
    return kwargs


def in_sample_residuals(fit, split: Split) -> tuple[float, float]:
    """Sd of the training runs' log residuals and their correlation with the squared log distance from 20 D/N."""
    train = split.train
    median = fit.predict(train, law_error=False)["median"].to_numpy()
    residual = np.log(train["loss"].to_numpy(float) / median)
    off_optimum = (np.log10(train["D"].to_numpy(float) / train["N"].to_numpy(float)) - 1.3) ** 2
    return float(np.std(residual)), float(np.corrcoef(residual, off_optimum)[0, 1])


def score(fit, split: Split) -> dict[str, float]:
    y = split.test["loss"].to_numpy(float)
    out: dict[str, float] = {}
    for suffix, law_error in (("", True), ("_no_le", False)):
        table = fit.predict(split.test, level=0.9, law_error=law_error)
        lower, upper = table["pred_lower"].to_numpy(), table["pred_upper"].to_numpy()
        out[f"cov90{suffix}"] = float(((y >= lower) & (y <= upper)).mean())
        out[f"width90{suffix}"] = float(np.log(upper / lower).mean())
        if law_error:
            log_ratio = np.log(y / table["median"].to_numpy())
            out["error"], out["bias"] = float(np.abs(log_ratio).mean()), float(log_ratio.mean())
    return out


def allocation(fit, split: Split, factor: float = OPTIMUM_FACTOR) -> dict[str, float]:
    """Tokens per parameter at the compute-optimal allocation of ``factor`` x the largest training run's
    FLOPs: median, 90% interval, and the share of draws whose optimum lies at the end of the searched range."""
    budget = factor * float(training_compute(split.train["N"], split.train["D"]).max())
    draws = optimal_draws(fit, [budget])
    lower, median, upper = np.quantile(draws["D_per_N"][:, 0], [0.05, 0.5, 0.95])
    unbounded = float(draws["at_range_end"].mean())
    return {"opt_tpp": median, "opt_tpp_lo": lower, "opt_tpp_hi": upper, "opt_unbounded": unbounded}


def run_split(split: Split, laws: Sequence[str], *, chains: int, draws: int, seed: int) -> pd.DataFrame:
    rows, fits = [], {}
    for law in laws:
        kwargs = fit_kwargs(split, law)
        if kwargs is None:
            print(f"  {law}: skipped (no floor parameter to group as the split does)")
            continue
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = bs.fit(split.train, law=law, y="loss", chains=chains, draws=draws, warmup=draws, seed=seed,
                         progress=False, **kwargs)  # fmt: skip
            row = {"ladder": f"{split.dataset}{'/' + split.curve if split.curve else ''}", "law": law,
                   "n_train": len(split.train), "n_held": len(split.test), **score(fit, split)}  # fmt: skip
            row["resid_sd"], row["u_corr"] = in_sample_residuals(fit, split)
            row.update(allocation(fit, split))
            diagnostics = fit.diagnostics
            row.update(max_rhat=diagnostics["max_rhat"], min_ess=diagnostics["min_ess_bulk"],
                       divergences=int(diagnostics["divergences"]), converged=not fit.convergence_problems(),
                       seconds=time.perf_counter() - start)  # fmt: skip
        fits[law] = fit
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(fits) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ranks = bs.compare(fits)["rank"]
        table["loo_rank"] = table["law"].map(ranks) + 1
    return table


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    best = table.loc[table.groupby("ladder")["error"].idxmin(), "law"].value_counts()
    summary = table.groupby("law").agg(
        ladders=("ladder", "size"), mean_error=("error", "mean"), median_error=("error", "median"),
        mean_cov90=("cov90", "mean"), mean_width90=("width90", "mean"), mean_resid_sd=("resid_sd", "mean"),
        mean_u_corr=("u_corr", "mean"), converged=("converged", "sum"),
    )  # fmt: skip
    summary["lowest_error"] = best.reindex(summary.index).fillna(0).astype(int)
    if "loo_rank" in table:
        summary["loo_first"] = table[table["loo_rank"] == 1]["law"].value_counts().reindex(summary.index).fillna(0).astype(int)
    return summary


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--laws", nargs="+", default=["chinchilla", "chinchilla_farseer", "farseer"])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--draws", type=int, default=500, help="draws and warmup steps per chain")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", default=None, help="write the per-ladder table here")
    args = parser.parse_args(argv)

    tables = []
    for dataset in args.datasets:
        for split in SPLITS[dataset]():
            table = run_split(split, args.laws, chains=args.chains, draws=args.draws, seed=args.seed)
            print(table.round(4).to_string(index=False), flush=True)
            tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    if args.csv:
        table.to_csv(args.csv, index=False)
    print("\nPer law, over the ladders:")
    print(summarise(table).round(4).to_string())
    return table


if __name__ == "__main__":
    main()
