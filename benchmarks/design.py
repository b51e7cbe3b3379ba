"""Replay of run selection on a public ladder: does ``next_runs`` tighten the forecast per FLOP?

On the Chinchilla runs (Hoffmann et al. 2022, digitised by Besiroglu et al. 2024): the runs at the
largest budgets are held out as the forecast target; the rest are the pool one could train.
Every strategy starts from the cheapest few runs of the pool, then repeatedly adds a batch of
runs from what is left, refits (small draw counts), and records, against the cumulative FLOPs of
the runs it has trained, the 90% new-run interval width (on log loss, mean over the held-out
runs), the error of the median and whether the intervals cover the held-out runs.

Strategies: ``next_runs`` (batch of ``--batch`` by gain per FLOP, target = the held-out rows'
inputs), ``random``, ``cheapest`` first, and a fixed ``grid_20tpp`` (pool runs within a factor 2
of 20 tokens per parameter, smallest budget first).

Also times ``next_runs`` ranking 1,000 candidates against a 4,000-draw posterior.

Run::

    BAYESCALE_DATA_DIR=/work/shared/data python benchmarks/design.py [--rounds 5] [--batch 4]
"""

from __future__ import annotations

import bayescale as bs  # noqa: I001  first: configures JAX host devices before JAX starts

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

FIT = {"chains": 2, "draws": 200, "warmup": 200, "progress": False}
LEVEL = 0.9


def load(held_out_c: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = bs.datasets.load("chinchilla")[["N", "D", "C", "loss"]].reset_index(drop=True)
    runs = runs[runs["loss"] < 4.0].reset_index(drop=True)  # the five diverged tiny-D runs (Besiroglu et al.)
    return runs[runs["C"] < held_out_c].reset_index(drop=True), runs[runs["C"] >= held_out_c].reset_index(drop=True)


def fit_runs(runs: pd.DataFrame, seed: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bs.fit(runs, law="chinchilla", y="loss", seed=seed, **FIT)


def score(fit, held: pd.DataFrame) -> dict[str, float]:
    table = fit.predict(held[["N", "D"]], level=LEVEL)
    width = np.log(table["pred_upper"]) - np.log(table["pred_lower"])
    y = held["loss"].to_numpy()
    covered = (y >= table["pred_lower"]) & (y <= table["pred_upper"])
    return {"width": float(width.mean()), "abs_error": float(np.abs(np.log(table["median"] / y)).mean()),
            "coverage": float(covered.mean())}


def choose(strategy: str, fit, pool: pd.DataFrame, taken: list[int], held: pd.DataFrame, batch: int,
           rng: np.random.Generator) -> list[int]:
    left = pool.drop(index=taken)
    if strategy == "next_runs":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = bs.next_runs(fit, left[["N", "D"]], held[["N", "D"]], k=min(batch, len(left)))
        return list(table.index[: min(batch, len(left))])
    if strategy == "random":
        return list(rng.choice(left.index.to_numpy(), size=min(batch, len(left)), replace=False))
    if strategy == "cheapest":
        return list(left.sort_values("C").index[:batch])
    if strategy == "grid_20tpp":
        ratio = left["D"] / left["N"]
        near = left[(ratio > 10) & (ratio < 40)].sort_values("C")
        return list(near.index[:batch])
    raise ValueError(strategy)


def replay(pool, held, *, start: int, rounds: int, batch: int, seed: int) -> pd.DataFrame:
    rows = []
    first = list(pool.sort_values("C").index[:start])
    strategies = ("next_runs", "random", "cheapest", "grid_20tpp")
    start_fit = fit_runs(pool.loc[first], seed)
    start_score = score(start_fit, held)
    for strategy in strategies:
        rng = np.random.default_rng(seed)
        taken, fit = list(first), start_fit
        rows.append({"strategy": strategy, "round": 0, "runs": len(taken), "flops": pool.loc[taken, "C"].sum(),
                     **start_score})
        for r in range(1, rounds + 1):
            started = time.perf_counter()
            new = choose(strategy, fit, pool, taken, held, batch, rng)
            if not new:
                break
            taken += new
            fit = fit_runs(pool.loc[taken], seed)
            rows.append({"strategy": strategy, "round": r, "runs": len(taken), "flops": pool.loc[taken, "C"].sum(),
                         **score(fit, held), "seconds": time.perf_counter() - started})
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def timing(pool: pd.DataFrame, n_candidates: int = 1000) -> dict[str, float]:
    """Seconds to rank ``n_candidates`` against a 4,000-draw posterior (first call, then the next)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bs.fit(pool, law="chinchilla", y="loss", chains=2, draws=2000, warmup=300, seed=0, progress=False)
    rng = np.random.default_rng(0)
    N = 10 ** rng.uniform(7.5, 10.5, n_candidates)
    candidates = pd.DataFrame({"N": N, "D": N * 10 ** rng.uniform(0.5, 2.5, n_candidates)})
    target = pd.DataFrame({"N": [7e10], "D": [1.4e12]})
    out = {}
    for label in ("first", "second", "third"):
        started = time.perf_counter()
        bs.next_runs(fit, candidates, target)
        out[label] = time.perf_counter() - started
    started = time.perf_counter()
    bs.next_runs(fit, candidates, target, k=4)
    out["k=4"] = time.perf_counter() - started
    return out


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for strategy, part in table.groupby("strategy", sort=False):
        ax.plot(part["flops"], part["width"], marker="o", label=strategy)
    ax.set_xscale("log")
    ax.set_xlabel("cumulative training FLOPs of the runs fitted")
    ax.set_ylabel("90% new-run interval width (log loss) at held-out runs")
    ax.set_title("Chinchilla replay: forecast width vs FLOPs spent")
    ax.legend()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out-c", type=float, default=3e21, help="hold out runs at or above this budget")
    parser.add_argument("--start", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--plot", default=str(Path(__file__).with_name("design.png")))
    args = parser.parse_args()
    started = time.perf_counter()
    pool, held = load(args.held_out_c)
    print(f"pool {len(pool)} runs (C {pool.C.min():.2g}-{pool.C.max():.2g}), held out {len(held)} "
          f"(C {held.C.min():.2g}-{held.C.max():.2g})")
    table = replay(pool, held, start=args.start, rounds=args.rounds, batch=args.batch, seed=args.seed)
    with pd.option_context("display.width", 160):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    plot(table, Path(args.plot))
    print(f"wrote {args.plot}")
    if not args.no_timing:
        print("next_runs, 1,000 candidates x 4,000 draws (seconds):", timing(pool))
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
