"""The ``frontier`` likelihood on a ladder with under-tuned runs: OpenEuroLLM's lr x batch-size grid.

The OpenEuroLLM dense English runs (``bs.datasets.load("openeurollm")``) train every (N, D) cell
at several learning rates and batch sizes; most runs of a cell are worse than its best. Fit the
runs with N <= 1B, predict the best run of each (N, D) cell at 1.7B (6 cells, D 30B-300B), as
``benchmarks/calibration.py``'s ``openeurollm_split`` does. Three ways to fit, all the
``chinchilla`` law:

* ``frontier (all runs)``: every run of the grid, ``likelihood="frontier"``; the prediction is
  a tuned run (the default ``new_run="tuned"``);
* ``best per (N, D)``: only each cell's best run, the default Student-t (the usual practice);
* ``student_t (all runs)``: every run, the symmetric Student-t: the average run, not the best.

Columns: median absolute relative error of the curve's median against the held-out best runs,
mean signed error (positive: predicted too high), coverage of the 90% new-run interval (law error
on, the default) and its median relative width, and the fit's wall time.

Run::

    BAYESCALE_DATA_DIR=../shared/data python benchmarks/frontier.py
"""

from __future__ import annotations

import bayescale as bs  # isort: skip  (first: configures JAX host devices before JAX starts)

import argparse
import time
import warnings

import numpy as np
import pandas as pd

FIT = {"law": "chinchilla", "y": "loss", "inputs": {"N": "N", "D": "D"}}


def split() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """All runs with N <= 1B, their best run per (N, D), and the best run per (N, D) at 1.7B."""
    df = bs.datasets.load("openeurollm")
    best = df.loc[df.groupby(["N_approx", "D"])["loss"].idxmin()]  # the tuned frontier of the grid
    small = df["N_approx"] <= 1e9
    return df[small], best[best["N_approx"] <= 1e9], best[best["N_approx"] > 1e9]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = {"chains": args.chains, "draws": args.draws, "warmup": args.warmup, "seed": args.seed, "progress": False}

    runs, best, held = split()
    y = held["loss"].to_numpy()
    methods = {
        "frontier (all runs)": (runs, "frontier"),
        "best per (N, D)": (best, "student_t"),
        "student_t (all runs)": (runs, "student_t"),
    }
    rows, started = [], time.perf_counter()
    for name, (data, likelihood) in methods.items():
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.ConvergenceWarning)
            fit = bs.fit(data, likelihood=likelihood, **FIT, **settings)
        seconds = time.perf_counter() - t0
        table = fit.predict(held, level=0.9, seed=args.seed)
        median = table["median"].to_numpy()
        d = fit.diagnostics
        rows.append({
            "method": name,
            "runs": len(data),
            "median abs rel err": float(np.median(np.abs(median / y - 1))),
            "mean signed err": float(np.mean(median / y - 1)),
            "90% coverage": f"{int(((table['pred_lower'] <= y) & (y <= table['pred_upper'])).sum())}/{len(y)}",
            "90% width": float(np.median((table["pred_upper"] - table["pred_lower"]) / median)),
            "max r_hat": f"{d['max_rhat']:.3f}",
            "divergences": d["divergences"],
            "fit s": f"{seconds:.1f}",
        })
        noise = {k: round(float(fit.draws(k).mean()), 4) for k in fit.spec.likelihood.noise_names}
        print(f"{name}: E {fit.draws('E').mean():.3f}, alpha {fit.draws('alpha').mean():.3f}, "
              f"beta {fit.draws('beta').mean():.3f}, noise {noise}", flush=True)  # fmt: skip
    out = pd.DataFrame(rows)
    print(f"\nOpenEuroLLM: fit N <= 1B ({len(runs)} runs, {len(best)} best per (N, D)), predict the best run of "
          f"each of the {len(held)} (N, D) cells at 1.7B (NUTS {args.chains} chains x {args.draws} draws, "
          f"{args.warmup} warm-up; {time.perf_counter() - started:.0f} s)")  # fmt: skip
    print(markdown(out))


def markdown(frame: pd.DataFrame) -> str:
    """A Markdown table (without the optional ``tabulate``)."""
    cells = [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "|".join("---" for _ in frame.columns) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


if __name__ == "__main__":
    main()
