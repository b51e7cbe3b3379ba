"""Replay of ``bs.plan_ladder`` on public ladders: is a first ladder planned from the prior better
than the habits at the same FLOPs?

The ladders without groups of ``benchmarks/design.py`` (the same splits: the largest runs held out
as the target, the rest the pool one could train). For each ladder and budget (a share of the
pool's FLOPs), each strategy picks a first ladder from the pool with no run trained yet; the
chosen runs are fitted (2 chains x 500 draws) and scored at the held-out runs: mean 90% new-run
interval width on log loss, error of the median, coverage. Strategies:

* ``plan``: ``bs.plan_ladder(law, held_out_rows, budget, candidates=pool)`` with the law error
  learned without the ladder's dataset (leave-one-dataset-out: ``default(without=...)`` beyond the
  ladder, ``off_regime(without=...)`` away from the target's regime);
* ``plan_no_regime``: the same without the charge for runs off the target's regime
  (``off_regime_error=False``: what ``plan_ladder`` did before it charged them);
* ``plan_law_only``: ``law_error=False`` (the law's parameters alone);
* the habits of ``benchmarks/design.py``: ``random`` (two seeds), ``cheapest`` first, ``largest``
  first, ``grid_20tpp`` (runs near 20 tokens per parameter, smallest first), ``isoflop`` (whole
  sweeps, the largest that fits first).

The plan sees the law's default priors and the default noise (``bs.plan.NOISE``), nothing of the
ladder but its candidates' inputs and the target's.

Run::

    cd benchmarks && BAYESCALE_DATA_DIR=../../shared/data python plan_ladder.py [--shares 0.02 0.1]
        [--ladders chinchilla porian openeurollm datablations] [--law chinchilla_farseer] [--csv out.csv]
"""

from __future__ import annotations

import bayescale as bs  # isort: skip  (first: configures JAX host devices before JAX starts)

import argparse
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from design import ERROR_LEARNED_AS, Ladder, choose, fit_runs, load, score  # noqa: E402

#: Ladders without groups (``plan_ladder`` plans one ladder; a grouped fit needs runs in every group).
UNGROUPED = ("chinchilla", "porian", "openeurollm", "datablations")
PLANS = ("plan", "plan_no_regime", "plan_law_only")
HABITS = ("random0", "random1", "cheapest", "largest", "grid_20tpp", "isoflop")


def planned(strategy: str, ladder: Ladder, budget: float, seed: int) -> tuple[list, float]:
    """The runs ``plan_ladder`` picks from the pool, and its predicted sd of the target."""
    without = ERROR_LEARNED_AS[ladder.name]
    options = {
        "plan": {"law_error": bs.law_error.default(without=without),
                 "off_regime_error": bs.law_error.off_regime(without=without)},
        "plan_no_regime": {"law_error": bs.law_error.default(without=without), "off_regime_error": False},
        "plan_law_only": {"law_error": False},
    }[strategy]  # fmt: skip
    pool = ladder.pool
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = bs.plan_ladder(ladder.law, ladder.held[["N", "D"]], budget, candidates=pool[["N", "D"]], seed=seed,
                              **options)  # fmt: skip
    return list(plan.index), float(plan["sd_after"].iloc[-1])


def replay(ladder: Ladder, shares: list[float], seed: int, strategies: tuple[str, ...]) -> pd.DataFrame:
    rows = []
    total = ladder.pool["C"].sum()
    for share in shares:
        budget = share * total
        for strategy in strategies:
            started = time.perf_counter()
            predicted = np.nan
            if strategy in PLANS:
                taken, predicted = planned(strategy, ladder, budget, seed)
            else:
                rng = np.random.default_rng([seed, HABITS.index(strategy)])
                taken = choose(strategy, None, ladder, [], budget, rng)
            runs = ladder.pool.loc[taken]
            try:
                scored = score(fit_runs(ladder, runs, seed), ladder)
            except ValueError as error:  # too few runs for the law: the habit bought a ladder it cannot fit
                print(f"  {ladder.name} {share:g} {strategy}: not fitted ({error})", flush=True)
                scored = {"width": np.nan, "abs_error": np.nan, "coverage": np.nan}
            ratio = runs["D"] / runs["N"]
            rows.append({"ladder": ladder.name, "share": share, "budget": budget, "strategy": strategy,
                         "runs": len(runs), "flops": runs["C"].sum(), "largest_C": runs["C"].max(),
                         "tpp_min": ratio.min(), "tpp_max": ratio.max(), "predicted_sd": predicted,
                         **scored, "seconds": time.perf_counter() - started})  # fmt: skip
            row = rows[-1]
            print(f"  {ladder.name} {share:g} {strategy}: {row['runs']} runs, {row['flops']:.2g} FLOPs, "
                  f"width {row['width']:.3f}, error {row['abs_error']:.3f}, coverage {row['coverage']:.2f}", flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ladders", nargs="*", default=list(UNGROUPED), choices=UNGROUPED)
    parser.add_argument("--shares", nargs="*", type=float, default=[0.02, 0.1],
                        help="budgets, as shares of the pool's FLOPs")
    parser.add_argument("--strategies", nargs="*", default=list(PLANS + HABITS), choices=PLANS + HABITS)
    parser.add_argument("--law", default="chinchilla_farseer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", help="write the table here")
    args = parser.parse_args()
    started = time.perf_counter()
    tables = []
    for name in args.ladders:
        ladder = replace(load(name), law=args.law)
        if ladder.group:
            raise SystemExit(f"{name} groups its fit by {ladder.group!r}: plan_ladder plans a ladder without groups")
        print(f"{name}: pool {len(ladder.pool)} runs ({ladder.pool['C'].sum():.3g} FLOPs), held out {len(ladder.held)}",
              flush=True)
        tables.append(replay(ladder, args.shares, args.seed, tuple(args.strategies)))
    table = pd.concat(tables, ignore_index=True)
    if args.csv:
        table.to_csv(args.csv, index=False)
    with pd.option_context("display.width", 220, "display.max_rows", 500):
        print(table.drop(columns=["seconds", "budget"]).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
