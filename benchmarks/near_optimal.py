"""How much of an isoFLOP sweep to fit: ``bs.near_optimal``'s window on three public sets of sweeps.

A law of N and D describes the runs near the compute-optimal frontier; a sweep's far ends (a large
model given few tokens) lie well above it. ``bs.near_optimal(df, within=w)`` keeps the runs within
``w`` (relative) of their budget's best loss. For each window (and for every run), side by side:

* ``porian``: Porian et al. 2024's three experiments, four training settings each, fitted on
  budgets <= 6.4e18 FLOPs; the settings are ranked at 1.28e19 and 2.56e19 FLOPs by the
  compute-optimal loss (``bs.rank``, law error on), as ``benchmarks/decisions.py`` does: accuracy of
  the pick against the best measured run, of the Bayesian fits and of the Huber point fits.
* ``chinchilla``: Hoffmann et al.'s 245 runs (Besiroglu et al.'s extraction), each run assigned to
  the nearest of the paper's nominal budgets (6e18 ... 3e21 FLOPs); fitted below 1e21 FLOPs, scored
  on the best runs of the larger budgets (those within 5% of their budget's best): median absolute
  relative error of the Bayesian median and of the Huber fit, coverage of the 90% new-run interval
  and its median relative width.
* ``loss_to_loss``: Brandfonbrener et al.'s six isoFLOP sweeps (<= 4.84e19 FLOPs), scored on each
  set's held-out 3.3B run at 1e21 FLOPs, the same columns.

Bayesian fits: ``bs.fit`` defaults, 2 chains x 500 draws after 500 warm-up, seed 0.

Run::

    BAYESCALE_DATA_DIR=../shared/data python benchmarks/near_optimal.py
"""

from __future__ import annotations

import bayescale as bs  # isort: skip  (first: configures JAX host devices before JAX starts)

import argparse
import time
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from decisions import evaluate, isoflop_runs, porian_tasks

from extrapolation import Split, chinchilla_budgets, table
from extrapolation import evaluate as forecast

CHINCHILLA_SPLIT = 1e21  # fit the budgets below
WINDOWS = (None, 0.5, 0.2, 0.1, 0.05)  # None: every run
FIT_KWARGS = {"inputs": {"N": "N", "D": "D"}}


def chinchilla_split(within: float | None) -> Split:
    """Runs below 1e21 FLOPs (near their budget's best, or all), and the best runs (within 5% of their
    budget's best) at or above it."""
    df = chinchilla_budgets(bs.datasets.load("chinchilla"))
    train, held = df[df["budget"] < CHINCHILLA_SPLIT], df[df["budget"] >= CHINCHILLA_SPLIT]
    return Split("chinchilla", "chinchilla", isoflop_runs(train, within, "budget"),
                 bs.near_optimal(held, budget="budget", within=0.05), "", FIT_KWARGS)  # fmt: skip


def loss_to_loss_splits(within: float | None) -> list[Split]:
    """Each pretraining set's isoFLOP sweep (near its budgets' best, or all) and its held-out 3.3B run."""
    df = bs.datasets.load("loss_to_loss")
    sweep, big = df[df["split"] == "sweep"], df[df["split"] == "extrapolation"]
    return [Split("loss_to_loss", "chinchilla", isoflop_runs(rows, within), big[big["dataset"] == name], "", FIT_KWARGS,
                  curve=name) for name, rows in sweep.groupby("dataset", sort=True)]  # fmt: skip


def forecast_scores(splits: list[Split], *, draws: int, seed: int) -> dict[str, float]:
    """Fit each split by both methods (``extrapolation.evaluate``); pooled scores over the held-out runs."""
    points = pd.concat([forecast(split, chains=2, draws=draws, warmup=draws, seed=seed) for split in splits])
    pooled = table(points).loc["all (aggregate)"]
    return {"fitted runs": sum(len(split.train) for split in splits), "held-out runs": int(pooled["held_out"]),
            "bayes |err|": pooled["mdape_bayes_%"] / 100, "huber |err|": pooled["mdape_baseline_%"] / 100,
            "coverage 90%": pooled["cover90"], "width 90%": float(np.median(points["hi90"] / points["lo90"] - 1))}  # fmt: skip


def porian_scores(within: float | None, *, draws: int, seed: int) -> dict[str, float]:
    tasks = porian_tasks(within)
    points = pd.concat([evaluate(task, chains=2, draws=draws, warmup=draws, seed=seed) for task in tasks])
    accuracy = points.groupby("method")["correct"].mean()
    return {"fitted runs": sum(len(rows) for task in tasks for rows in task.train.values()),
            "decisions": int((points["method"] == "bayes").sum()),
            "bayes accuracy": accuracy["bayes"], "huber accuracy": accuracy["huber"],
            "bayes Brier (best)": points.loc[points["method"] == "bayes", "brier"].mean()}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        for within in WINDOWS:
            label = "every run" if within is None else f"{within:g}"
            rows.append({"sweeps": "porian", "within": label, **porian_scores(within, draws=args.draws, seed=args.seed)})
            rows.append({"sweeps": "chinchilla", "within": label,
                         **forecast_scores([chinchilla_split(within)], draws=args.draws, seed=args.seed)})  # fmt: skip
            rows.append({"sweeps": "loss_to_loss", "within": label,
                         **forecast_scores(loss_to_loss_splits(within), draws=args.draws, seed=args.seed)})  # fmt: skip
    scores = pd.DataFrame(rows)
    print(f"bs.near_optimal's window (2 chains x {args.draws} draws, {args.draws} warm-up, seed {args.seed}; "
          f"bayescale {bs.__version__}; {time.perf_counter() - start:.0f} s)")  # fmt: skip
    for name, part in scores.groupby("sweeps", sort=False):
        print(f"\n{name}")
        print(part.drop(columns="sweeps").dropna(axis=1, how="all").to_markdown(index=False, floatfmt=".4g"))
    return scores


if __name__ == "__main__":
    main()
