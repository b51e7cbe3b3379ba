"""Compile time of the NUTS program behind representative fits (issue 15, parts 3 and 4).

Every distinct (law, likelihood, grouping, data shape, settings) compiles its own XLA program
once; in a fresh environment that is most of a first fit's wall time and most of the test
suite's. This script fits one small case of each kind the package and its tests use, in this
process, with JAX's persistent compilation cache off, and prints the seconds each program took
to compile (``sampler.Result.compile_s``: tracing, lowering and XLA's compile) and to sample.
A warm-up fit first pays the process's one-off costs, so the table holds per-program costs.

Compare two versions of the package side by side, in one session::

    git worktree add /tmp/before <commit>
    PYTHONPATH=/tmp/before python benchmarks/compile_time.py
    python benchmarks/compile_time.py

Run from the repository root or ``benchmarks/``; needs nothing from ``../shared/data``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable

os.environ["BAYESCALE_JAX_CACHE"] = "off"  # before bayescale configures JAX

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import bayescale as bs  # noqa: E402
from bayescale import sampler  # noqa: E402

SMALL = {"chains": 2, "draws": 300, "warmup": 300, "seed": 1, "progress": False}


def _curves(n_curves: int, n_rows: int, seed: int = 0) -> pd.DataFrame:
    """``n_curves`` floored power-law curves of ``n_rows`` runs with 2% log-normal noise."""
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e6, 1e9, n_rows)
    rows = []
    for curve in range(n_curves):
        E, A, alpha = rng.uniform(1.5, 2.5), rng.uniform(50, 500), rng.uniform(0.2, 0.5)
        loss = (E + A * x**-alpha) * np.exp(rng.normal(0, 0.02, n_rows))
        rows.append(pd.DataFrame({"curve": curve, "x": x, "loss": loss}))
    return pd.concat(rows, ignore_index=True)


def _downstream() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = np.repeat(np.geomspace(1e3, 1e6, 16), 2)
    loss = (2.0 + 30.0 * x**-0.3) * np.exp(rng.normal(0, 0.01, x.size))
    accuracy = np.clip(0.25 + 0.65 / (1 + np.exp(-8 * (2.6 - loss))) + rng.normal(0, 0.01, x.size), 0.01, 0.99)
    return pd.DataFrame({"x": x, "loss": loss, "accuracy": accuracy, "chance": 0.25})


def cases() -> dict[str, Callable[[], object]]:
    ladder = bs.examples.load("chinchilla_ladder")
    three = bs.examples.load("three_datasets")
    chinchilla = {"law": "chinchilla", "y": "loss", "inputs": {"N": "params", "D": "tokens"}}
    curve = _curves(1, 12)
    return {
        "power, Student-t, 12 runs, 2 chains": lambda: bs.fit(curve, law="power", y="loss", **SMALL),
        "power, normal, 12 runs, 2 chains": lambda: bs.fit(curve, law="power", y="loss", likelihood="normal", **SMALL),
        "chinchilla, Student-t, ladder, 2 chains": lambda: bs.fit(ladder, **chinchilla, **SMALL),
        "chinchilla, Student-t, ladder, 4 chains": lambda: bs.fit(ladder, **chinchilla, **{**SMALL, "chains": 4}),
        "chinchilla, E and A by dataset, 2 chains": lambda: bs.fit(
            three, **chinchilla, hierarchy={"E": "dataset", "A": "dataset"}, **SMALL
        ),
        "chinchilla, frontier likelihood, 2 chains": lambda: bs.fit(ladder, **chinchilla, likelihood="frontier", **SMALL),
        "fit_many power, 8 curves of 12 runs": lambda: bs.fit_many(
            _curves(8, 12), "power", by="curve", y="loss", inputs={"x": "x"}, retries=0, **SMALL
        ),
        "fit_downstream power + sigmoid link": lambda: bs.fit_downstream(
            _downstream(), law="power", loss="loss", metric="accuracy", link="sigmoid", chance="chance", **SMALL
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the cases whose name contains this text")
    args = parser.parse_args()

    timings: list[tuple[float, float]] = []
    real_run = sampler.run

    def timed_run(*a, **k):
        result = real_run(*a, **k)
        timings.append((result.compile_s, result.run_s))
        return result

    sampler.run = timed_run
    warnings.simplefilter("ignore", bs.ConvergenceWarning)  # short runs: the table is about compiling
    print(f"bayescale {bs.__version__} from {os.path.dirname(bs.__file__)}", flush=True)
    bs.fit(_curves(1, 10, seed=1), law="power_pure", y="loss", **SMALL)  # the process's one-off costs
    print(f"{'case':<45} {'compile s':>10} {'sampling s':>11}")
    total = 0.0
    for name, run_case in cases().items():
        if args.only and args.only not in name:
            continue
        timings.clear()
        start = time.perf_counter()
        run_case()
        wall = time.perf_counter() - start
        compile_s, run_s = (sum(t[i] for t in timings) for i in (0, 1))
        total += compile_s
        print(f"{name:<45} {compile_s:>10.1f} {run_s:>11.1f}   (wall {wall:.1f} s)", flush=True)
    print(f"{'total compile':<45} {total:>10.1f}")


if __name__ == "__main__":
    main()
