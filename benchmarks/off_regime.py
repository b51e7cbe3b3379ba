"""How far a law fitted in one regime of tokens per parameter errs at runs in another.

``bs.next_runs`` discounts a candidate run away from the target's regime (its tokens per
parameter far from the target's) by the law's error there: the refit fits the law through that
run, and where the law misfits, the run pulls the forecast instead of pinning it (docs/design.md,
"Runs away from the target's regime"). It borrows the drift beyond the fitted scale
(``models/law_error.json``) for that error; this script measures it on public ladders.

For every ladder of ``N`` and ``D`` in the shared data (below) it makes forward splits across
regimes, as ``benchmarks/calibration.py`` makes them along scale: at every half decade of tokens
per parameter, fit the Chinchilla law (2 chains x 500 draws) to the runs on one side of the cut
(at least 8 runs over at least a decade of compute and a decade of tokens per parameter) and
predict the runs on the other side within the fitted runs' compute range. Each such run gives a
row: its distance beyond the fitted runs' edge in decades of tokens per parameter, the residual of
its log loss from the fit's median (signed so that positive is better than predicted) and the
spread of the fit's own new-run prediction there (half the 68% interval). The table is the input
of :func:`bayescale.law_error_learning.learn`, the model of the scale drift, here read across
regimes (one slope per split, that is per side of the fitted runs). It prints the residuals by
distance and the learned error beside the scale drift, learned from all datasets and leaving
each one out, and with ``--learn`` writes it to ``models/off_regime_error.json``
(``bs.law_error.off_regime()``). ``--split bands`` fits bands one decade wide instead (centres half a decade
apart) and holds out both sides.

Ladders (each curve is its own; the splits of a dataset's curves share its dataset part):

* ``chinchilla``: Hoffmann et al.'s runs (the five diverged tiny-D runs dropped);
* ``overtraining``: Gadre et al., one curve per training set;
* ``datablations``: Muennighoff et al., runs with <= 4 epochs;
* ``porian_isoflops``: Porian et al.'s tuned setting, the isoFLOP points within 10% of their budget's
  best (as the zoo and ``benchmarks/design.py`` fit them: a sweep's far ends are runs whose
  training failed, up to loss 8.8 where the budget's best is 4.0);
* ``openeurollm``: the best run per (N, D) of the learning-rate x batch-size grid;
* ``loss_to_loss``: each pretraining set's isoFLOP sweep and its held-out run.

Run::

    BAYESCALE_DATA_DIR=../shared/data python benchmarks/off_regime.py [--learn] [--table out.csv] [--split bands]

(about 27 minutes on 2 CPU cores, 4 of them fitting; ``--from-table out.csv`` relearns without fitting).
"""

from __future__ import annotations

import bayescale as bs  # isort: skip  (first: configures JAX host devices before JAX starts)

import argparse
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from bayescale import law_error, law_error_learning
from bayescale.zoo_entries import porian_tuned_near_optimal

ROOT = Path(__file__).resolve().parents[1]
HALF_WIDTH = 0.5  # decades of tokens per parameter either side of a band's centre
MIN_REGIME_DECADES = 1.0  # the fitted runs of a one-sided split span at least this much
STEP = 0.5  # decades between band centres
MIN_RUNS, MIN_COMPUTE_DECADES, MIN_HELD_OUT = 8, 1.0, 3
FIT = {"chains": 2, "draws": 500, "warmup": 500, "progress": False, "seed": 0}
DISTANCES = (0.25, 0.5, 1.0, 2.0)  # where the printed comparison reads the errors' sd


def curves() -> Iterator[tuple[str, str, pd.DataFrame]]:
    """``(dataset, curve, runs)`` with columns N, D, C, loss."""
    keep = ["N", "D", "C", "loss"]
    runs = bs.datasets.load("chinchilla")
    yield "chinchilla", "all", runs[runs["loss"] < 4.0][keep]
    runs = bs.datasets.load("overtraining")
    for name, rows in runs.groupby("dataset", sort=True):
        yield "overtraining", str(name), rows[keep]
    runs = bs.datasets.load("datablations")
    yield "datablations", "all", runs[runs["epochs"] <= 4.0][keep]
    yield "porian_isoflops", "tuned", porian_tuned_near_optimal(bs.datasets.load("porian_isoflops"))[keep]
    runs = bs.datasets.load("openeurollm")
    yield "openeurollm", "best", runs.loc[runs.groupby(["N_approx", "D"])["loss"].idxmin()][keep]
    for name, rows in bs.datasets.load("loss_to_loss").groupby("dataset", sort=True):
        yield "loss_to_loss", str(name), rows[keep]


def bands(runs: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame, pd.DataFrame, np.ndarray]]:
    """``(label, fitted, held_out, distance)``: a band's runs, the runs outside it within its
    compute range, and their distance from the band's edge (decades of tokens per parameter)."""
    regime = np.log10(runs["D"] / runs["N"])
    for centre in np.arange(regime.min() + HALF_WIDTH, regime.max() - HALF_WIDTH + 1e-9, STEP):
        inside = (regime - centre).abs() <= HALF_WIDTH
        held_out = _held_out(runs, inside)
        if held_out is not None:
            yield f"band{centre:+.2f}", runs[inside], runs[held_out], (regime[held_out] - centre).abs().to_numpy() - HALF_WIDTH


def tails(runs: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame, pd.DataFrame, np.ndarray]]:
    """``(label, fitted, held_out, distance)``: the runs on one side of a cut in tokens per
    parameter (spanning at least a decade of it), the runs on the other side within their compute
    range, and their distance beyond the fitted runs' edge."""
    regime = np.log10(runs["D"] / runs["N"])
    for cut in np.arange(np.ceil(regime.min() / STEP) * STEP, regime.max(), STEP):
        for side, inside in (("above", regime >= cut), ("below", regime < cut)):
            if inside.sum() == 0 or np.ptp(regime[inside]) < MIN_REGIME_DECADES:
                continue
            held_out = _held_out(runs, inside)
            if held_out is not None:
                edge = regime[inside].min() if side == "above" else regime[inside].max()
                yield f"{side}{cut:+.2f}", runs[inside], runs[held_out], (regime[held_out] - edge).abs().to_numpy()


def _held_out(runs: pd.DataFrame, inside: pd.Series) -> pd.Series | None:
    compute = np.log10(runs["C"])
    span = compute[inside]
    if inside.sum() < MIN_RUNS or span.max() - span.min() < MIN_COMPUTE_DECADES:
        return None
    held_out = ~inside & compute.between(span.min(), span.max())
    return held_out if held_out.sum() >= MIN_HELD_OUT else None


def residual_rows(dataset: str, ladder: str, fitted: pd.DataFrame, held_out: pd.DataFrame, distance: np.ndarray) -> pd.DataFrame:
    """One row per held-out run: distance beyond the fitted regime, signed residual, the fit's spread."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        fit = bs.fit(fitted, law="chinchilla", y="loss", **FIT)
    _, _, predictive = fit.posterior_draws(held_out, seed=0, law_error=False)
    draws = np.log(predictive)
    lo, median, hi = np.quantile(draws, [0.16, 0.5, 0.84], axis=0)
    regime = np.log10(held_out["D"] / held_out["N"]).to_numpy()
    return pd.DataFrame({
        "dataset": dataset, "ladder": ladder, "distance": distance,
        "residual": median - np.log(held_out["loss"].to_numpy(float)),  # lower loss is better
        "spread": np.maximum((hi - lo) / 2, 1e-4),
        "regime": regime,
        "scale_distance": fit.extrapolation_distance(held_out),
        "sigma": float(np.median(fit.draws("sigma"))),
    })  # fmt: skip


SPLITS = {"bands": bands, "tails": tails}


def error_sd(error: law_error.LawError, distance: float, n_draws: int = 20_000) -> float:
    """Sd of the error's drift at ``distance`` decades (one ladder of a dataset not seen)."""
    drift = law_error.shift(error, np.array([distance]), np.zeros(1, dtype=np.int64), n_draws, lower_is_better=True, seed=0)
    return float(np.std(drift))


def describe(name: str, error: law_error.LawError) -> str:
    sds = ", ".join(f"{error_sd(error, d):.4f} at {d:g}" for d in DISTANCES)
    return f"{name}: {error!r}\n    sd of log loss: {sds} decades"


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default=None, help="write the residual table to this CSV")
    parser.add_argument("--from-table", default=None, help="learn from a table written by --table (no fitting)")
    parser.add_argument("--split", choices=list(SPLITS), default="tails", help="how a ladder is cut across regimes")
    parser.add_argument("--learn", action="store_true", help="write the error learned from all datasets to models/")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.from_table:
        table = pd.read_csv(args.from_table)
    else:
        parts = []
        for dataset, curve, runs in curves():
            for label, fitted, held_out, distance in SPLITS[args.split](runs):
                parts.append(residual_rows(dataset, f"{curve}/{label}", fitted, held_out, distance))
                print(f"  {dataset}/{curve}/{label}: {len(fitted)} runs fitted, {len(held_out)} held out, "
                      f"|residual| median {parts[-1]['residual'].abs().median():.4f}", flush=True)  # fmt: skip
        table = pd.concat(parts, ignore_index=True)
        if args.table:
            table.to_csv(args.table, index=False)

    table = table.assign(bin=pd.cut(table["distance"], [0, 0.25, 0.5, 1.0, 2.0, 10.0]))
    by_bin = table.groupby(["dataset", "bin"], observed=True).agg(
        runs=("residual", "size"), rms_residual=("residual", lambda r: float(np.sqrt(np.mean(r**2)))),
        median_spread=("spread", "median"))  # fmt: skip
    splits = int(table.groupby(["dataset", "ladder"]).ngroups)
    print(f"\nResiduals across regimes ({splits} splits, {len(table)} held-out runs; "
          f"bayescale {bs.__version__}):")  # fmt: skip
    print(by_bin.round(4).to_markdown())

    datasets = sorted(table["dataset"].unique())
    source = f"benchmarks/off_regime.py --split {args.split}: forward splits across tokens per parameter of " + ", ".join(datasets)
    everything = law_error_learning.learn(table, seed=0, source=source)
    left_out = {name: law_error_learning.learn(table[table["dataset"] != name], seed=0, source=f"all but {name}")
                for name in datasets}  # fmt: skip
    print("\nError away from the fitted regime, per decade of tokens per parameter beyond the fitted runs:")
    print(describe("learned from all datasets", everything))
    for name, error in left_out.items():
        print(describe(f"without {name}", error))
    print(describe("the scale drift (models/law_error.json), for comparison", law_error.default()))
    if args.learn:
        path = law_error_learning.save(everything, ROOT / "models" / law_error.OFF_REGIME_FILE, leave_one_out=left_out,
                                       datasets=datasets, ladders=splits, runs=len(table),
                                       bayescale=bs.__version__, sampler=FIT, split=args.split)  # fmt: skip
        print(f"written to {path}")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return table


if __name__ == "__main__":
    main()
