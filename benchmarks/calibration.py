"""Calibration of extrapolation intervals on public ladders, side by side with the field's baselines.

Every dataset with a natural forward split in ``../shared/data`` is cut by scale: fit the small
runs, predict the largest (one "ladder" per fit; several per dataset where it has them). For each
held-out run it records what each method predicts:

* ``bayes``: ``bs.fit`` with default settings, ``predict(law_error=False)`` (parameter uncertainty
  and run-to-run noise only: the behaviour before the law error);
* ``bayes+law_error``: the same fit, ``predict`` with the law error learned *leave-one-dataset-out*
  (:func:`bayescale.law_error_learning.learn` on the residuals of every other dataset), so no dataset is
  scored with a drift learned from itself (the default of ``predict`` until stop 22);
* ``bayes+own_drift``: that law error updated with the ladder's own top fifth (``fit.calibrate``:
  a refit without it, the residuals there; :func:`bayescale.calibrate.update_drift`): what
  ``predict`` does by default since stop 23 (``Fit.own_law_error``, which starts from the drift
  learned on all datasets; here from the one learned without the dataset scored);
* ``huber``: the Hoffmann / Besiroglu point fit (Huber loss, delta 1e-3, on log loss, L-BFGS-B
  from the best points of a grid): a median, no interval;
* ``bootstrap``: that point fit on runs resampled with replacement (Epoch style), percentile intervals;
* ``conformal``: split-conformal intervals around the point fit, calibrated leave-future-out
  (refit without the largest fifth of the training runs by scale, absolute log residuals on them),
  as in conformalized scaling laws.

It prints, per dataset and in aggregate, the coverage of the 50/80/90/95% intervals of a new run,
the interval score of the 90% interval (Gneiting & Raftery 2007) and the CRPS, both on log loss,
the median absolute relative error of the median and the median relative width of the 90%
interval; a synthetic section (ladders drawn from the ``chinchilla`` law itself) checks that the
law error does not widen needlessly where the law is right; and it writes the reliability diagram.
With ``--learn`` it also learns the law error from *all* datasets and writes ``models/law_error.json``,
the default of ``Fit.predict``.

Run::

    BAYESCALE_DATA_DIR=../shared/data python benchmarks/calibration.py --learn --png benchmarks/calibration.png

References
----------
Gneiting, T. and Raftery, A. E. (2007). Strictly proper scoring rules, prediction, and estimation. JASA 102(477).
"""

from __future__ import annotations

import bayescale as bs  # isort: skip  (first: configures JAX host devices before JAX starts)

import argparse
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bayescale import law_error, law_error_learning

from extrapolation import (
    Split,
    chinchilla_budgets,
    datablations_split,
    fit_chinchilla_baseline,
    fit_power_baseline,
    nsl_splits,
    overtraining_split,
    porian_split,
    predict_chinchilla_baseline,
    predict_power_baseline,
)

LEVELS = (0.5, 0.8, 0.9, 0.95)
METHODS = ("bayes", "bayes+law_error", "bayes+own_drift", "huber", "bootstrap", "conformal")
N_BOOTSTRAP = 20
CALIBRATION_SHARE = 0.2
ROOT = Path(__file__).resolve().parents[1]


# --- splits not in extrapolation.py -------------------------------------------------------------
def chinchilla_split() -> Split:
    df = chinchilla_budgets(bs.datasets.load("chinchilla"))
    train = bs.near_optimal(df[df["C"] < 1e21], budget="budget")
    return Split("chinchilla", "chinchilla", train, df[df["C"] >= 1e21],
                 "Hoffmann et al.'s runs below 1e21 FLOPs (within 10% of their budget's best); "
                 "predict the 23 runs at 1e21-1.3e22",
                 {"inputs": {"N": "N", "D": "D"}})  # fmt: skip


def loss_to_loss_splits() -> list[Split]:
    df = bs.datasets.load("loss_to_loss")
    out = []
    for name, rows in df.groupby("dataset", sort=True):
        sweep = bs.near_optimal(rows[rows["split"] == "sweep"], budget="C")  # all of them
        out.append(Split("loss_to_loss", "chinchilla", sweep, rows[rows["split"] == "extrapolation"],
                         "isoFLOP sweep up to 4.84e19 FLOPs; predict the 3.3B, 1e21-FLOP run (C4 loss)",
                         {"inputs": {"N": "N", "D": "D"}}, curve=name))  # fmt: skip
    return out


def openeurollm_split() -> Split:
    df = bs.datasets.load("openeurollm")
    best = df.loc[df.groupby(["N_approx", "D"])["loss"].idxmin()]  # the tuned frontier of the lr x batch grid
    return Split("openeurollm", "chinchilla", best[best["N_approx"] <= 1e9], best[best["N_approx"] > 1e9],
                 "best run per (N, D) of the lr x batch-size grid; fit N <= 1B, predict 1.7B (D 30B-300B)",
                 {"inputs": {"N": "N", "D": "D"}})  # fmt: skip


SPLITS = {
    "chinchilla": lambda: [chinchilla_split()],
    "overtraining": lambda: [overtraining_split()],
    "datablations": lambda: [datablations_split()],
    "porian_isoflops": lambda: [porian_split()],
    "loss_to_loss": loss_to_loss_splits,
    "openeurollm": lambda: [openeurollm_split()],
    "nsl_lang": nsl_splits,
}


# --- point-fit baselines ------------------------------------------------------------------------
def _groups(split: Split, frame: pd.DataFrame) -> np.ndarray | None:
    column = (split.fit_kwargs.get("hierarchy") or {}).get("E")
    if not column:
        return None
    levels = sorted(split.train[column].astype(str).unique())
    return frame[column].astype(str).map({lvl: i for i, lvl in enumerate(levels)}).to_numpy()


class PointFit:
    """The Huber point fit of a split's law on ``train`` (from ``start`` only, when given)."""

    def __init__(self, split: Split, train: pd.DataFrame, start: dict | None = None) -> None:
        self.split = split
        if split.law == "power":
            self.params = fit_power_baseline(train["D"].to_numpy(), train["loss"].to_numpy(), start)
        else:
            self.params = fit_chinchilla_baseline(train["N"].to_numpy(), train["D"].to_numpy(),
                                                  train["loss"].to_numpy(), _groups(split, train), start)  # fmt: skip

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        if self.split.law == "power":
            return predict_power_baseline(self.params, frame["D"].to_numpy())
        return predict_chinchilla_baseline(self.params, frame["N"].to_numpy(), frame["D"].to_numpy(),
                                           _groups(self.split, frame))  # fmt: skip


def _scale(split: Split, frame: pd.DataFrame) -> np.ndarray:
    """log10 scale of each run along the split's extrapolation direction (compute, or data for curves)."""
    if split.law == "power":
        return np.log10(frame["D"].to_numpy(float))
    return np.log10(6.0 * frame["N"].to_numpy(float) * frame["D"].to_numpy(float))


def bootstrap_draws(split: Split, full: PointFit, rng: np.random.Generator) -> np.ndarray:
    """Log-loss predictions of the held-out runs from point fits on resampled training runs.

    Each resample's L-BFGS-B starts from the full-data fit (a grid search per resample would
    cost ten L-BFGS-B runs and a grid scan per resample and lands on the same optimum but for
    degenerate resamples)."""
    out = []
    for _ in range(N_BOOTSTRAP):
        sample = split.train.iloc[rng.integers(0, len(split.train), len(split.train))]
        if split.law != "power" and _groups(split, sample) is not None and sample[
                split.fit_kwargs["hierarchy"]["E"]].nunique() < split.train[split.fit_kwargs["hierarchy"]["E"]].nunique():
            continue  # a resample that lost a corpus cannot predict it
        try:
            out.append(np.log(PointFit(split, sample, full.params)(split.test)))
        except (ValueError, FloatingPointError):
            continue
    return np.array(out)


def conformal_radius(split: Split) -> dict[float, float]:
    """Split-conformal radius (log loss) per level: refit without the largest runs, residuals on them.

    With ``n`` calibration runs the finite-sample quantile ``ceil((n + 1) level) / n`` exceeds 1 for small
    ``n``; then the largest residual is used (the interval's guarantee is then lost; noted in RESULTS.md).
    """
    scale = _scale(split, split.train)
    n_cal = max(2, int(round(CALIBRATION_SHARE * len(split.train))))
    order = np.argsort(scale)
    cal, fit_rows = split.train.iloc[order[-n_cal:]], split.train.iloc[order[:-n_cal]]
    residual = np.abs(np.log(PointFit(split, fit_rows)(cal)) - np.log(cal["loss"].to_numpy()))
    radius = {}
    for level in LEVELS:
        q = min(1.0, np.ceil((n_cal + 1) * level) / n_cal)
        radius[level] = float(np.quantile(residual, q, method="higher"))
    return radius


# --- per-ladder evaluation ----------------------------------------------------------------------
@dataclass
class Ladder:
    """One forward split, fitted: what every method predicts at its held-out runs."""

    split: Split
    fit: object
    distance: np.ndarray
    draws: dict[str, np.ndarray] = field(default_factory=dict)  # method -> (draws, rows) of log loss
    medians: dict[str, np.ndarray] = field(default_factory=dict)  # method -> log-loss median
    radius: dict[float, float] = field(default_factory=dict)
    check: pd.DataFrame | None = None  # fit.calibrate()'s held-out top fifth (law error off)

    @property
    def y(self) -> np.ndarray:
        return np.log(self.split.test["loss"].to_numpy(float))


def fit_ladder(split: Split, *, chains: int, draws: int, warmup: int, seed: int) -> Ladder:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        fit = bs.fit(split.train, law=split.law, y="loss", chains=chains, draws=draws, warmup=warmup, seed=seed,
                     progress=False, **split.fit_kwargs)  # fmt: skip
    ladder = Ladder(split, fit, fit.extrapolation_distance(split.test))
    _, _, predictive = fit.posterior_draws(split.test, seed=seed, law_error=False)
    ladder.draws["bayes"] = np.log(predictive)
    full = PointFit(split, split.train)
    ladder.medians["huber"] = np.log(full(split.test))
    boot = bootstrap_draws(split, full, np.random.default_rng(seed))
    if len(boot):
        ladder.draws["bootstrap"] = boot
    ladder.radius = conformal_radius(split)
    return ladder


def noise_scale(fit) -> float:
    """Posterior median of the fit's noise scale ``sigma`` (NaN for likelihoods without one)."""
    posterior = fit.idata.posterior
    return float(np.median(posterior["sigma"].values)) if "sigma" in posterior else np.nan


def residual_table(ladders: Sequence[Ladder]) -> pd.DataFrame:
    """The input of :func:`bayescale.law_error_learning.learn`: held-out residuals signed towards "better"."""
    rows = []
    for i, ladder in enumerate(ladders):
        draws = ladder.draws["bayes"]
        median = np.median(draws, axis=0)
        lo, hi = np.quantile(draws, [0.16, 0.84], axis=0)
        better = -1.0 if ladder.fit.law.lower_is_better else 1.0
        sigma = noise_scale(ladder.fit)
        for j in range(len(ladder.y)):
            rows.append({"dataset": ladder.split.dataset, "ladder": f"{ladder.split.curve or i}",
                         "distance": ladder.distance[j], "residual": better * (ladder.y[j] - median[j]),
                         "spread": max((hi[j] - lo[j]) / 2, 1e-4), "sigma": sigma})  # fmt: skip
    return pd.DataFrame(rows)


def add_law_error(ladders: Sequence[Ladder], table: pd.DataFrame, *, seed: int, learn_draws: int) -> dict[str, object]:
    """Predict every ladder with the law error learned from the *other* datasets."""
    learned = {}
    for dataset in table["dataset"].unique():
        others = table[table["dataset"] != dataset]
        learned[dataset] = law_error_learning.learn(others, draws=learn_draws, seed=seed, source=f"all but {dataset}")
    for ladder in ladders:
        prior = learned[ladder.split.dataset]
        _, _, predictive = ladder.fit.posterior_draws(ladder.split.test, seed=seed, law_error=prior)
        ladder.draws["bayes+law_error"] = np.log(predictive)
        # the same drift, updated with the ladder's own top fifth (a refit without it: fit.calibrate)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.ConvergenceWarning)
            check = ladder.fit.calibrate(law_error=False, drift_prior=prior, seed=seed)
        ladder.check = check.runs
        _, _, predictive = ladder.fit.posterior_draws(ladder.split.test, seed=seed, law_error=check.law_error)
        ladder.draws["bayes+own_drift"] = np.log(predictive)
    return learned


# --- scores ---------------------------------------------------------------------------------
def interval(ladder: Ladder, method: str, level: float) -> tuple[np.ndarray, np.ndarray] | None:
    if method == "conformal":
        centre = ladder.medians["huber"]
        return centre - ladder.radius[level], centre + ladder.radius[level]
    if method not in ladder.draws:
        return None
    tail = (1 - level) / 2
    lo, hi = np.quantile(ladder.draws[method], [tail, 1 - tail], axis=0)
    return lo, hi


def median_of(ladder: Ladder, method: str) -> np.ndarray | None:
    if method in ("huber", "conformal"):
        return ladder.medians["huber"]
    return np.median(ladder.draws[method], axis=0) if method in ladder.draws else None


def crps(draws: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CRPS of an ensemble per column: E|X - y| - E|X - X'| / 2 (sorted-sample formula)."""
    x = np.sort(draws, axis=0)
    m = x.shape[0]
    weights = (2 * np.arange(1, m + 1) - m - 1)[:, None]
    return np.abs(x - y[None, :]).mean(axis=0) - (weights * x).sum(axis=0) / m**2


def points(ladders: Sequence[Ladder]) -> pd.DataFrame:
    """One row per (held-out run, method): coverage flags, scores, errors, widths."""
    rows = []
    for ladder in ladders:
        y = ladder.y
        for method in METHODS:
            median = median_of(ladder, method)
            if median is None:
                continue
            record = {"dataset": ladder.split.dataset, "ladder": ladder.split.curve or "", "method": method,
                      "distance": ladder.distance, "y": y,
                      "abs_rel_err": np.abs(np.exp(median - y) - 1)}  # fmt: skip
            for level in LEVELS:
                bounds = interval(ladder, method, level)
                if bounds is None:
                    continue
                lo, hi = bounds
                record[f"cover{int(level * 100)}"] = (y >= lo) & (y <= hi)
                if level == 0.9:
                    alpha = 1 - level
                    record["interval_score"] = (hi - lo) + 2 / alpha * (np.maximum(lo - y, 0) + np.maximum(y - hi, 0))
                    record["rel_width"] = np.exp(hi - lo) - 1
            if method in ladder.draws:
                record["crps"] = crps(ladder.draws[method], y)
            n = len(y)
            rows.append(pd.DataFrame({k: (v if np.ndim(v) else [v] * n) for k, v in record.items()}))
    return pd.concat(rows, ignore_index=True)


SCORE_COLUMNS = ["cover50", "cover80", "cover90", "cover95", "interval_score", "crps", "abs_rel_err", "rel_width"]


def summary(pts: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and method (and in aggregate): mean coverage and scores, median error and width."""
    def row(g: pd.DataFrame) -> pd.Series:
        out = {"held_out": len(g)}
        for c in SCORE_COLUMNS:
            if c not in g or g[c].isna().all():
                out[c] = np.nan
            elif c in ("abs_rel_err", "rel_width"):
                out[c] = 100 * g[c].median()
            elif c in ("interval_score", "crps"):
                out[c] = 100 * g[c].mean()
            else:
                out[c] = g[c].mean()
        return pd.Series(out)

    table = pts.groupby(["dataset", "method"], sort=False).apply(row, include_groups=False)
    total = pts.groupby("method", sort=False).apply(row, include_groups=False)
    total.index = pd.MultiIndex.from_product([["all"], total.index])
    return pd.concat([table, total])


def summary_markdown(table: pd.DataFrame) -> str:
    header = ["dataset", "method", "n", "cov50", "cov80", "cov90", "cov95", "IS90 x100", "CRPS x100", "MdAPE %", "width90 %"]
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    for (dataset, method), r in table.iterrows():
        cells = [f"{int(r['held_out'])}"] + ["" if pd.isna(r[c]) else f"{r[c]:.2f}" for c in SCORE_COLUMNS]
        lines.append("| " + " | ".join([dataset, method, *cells]) + " |")
    return "\n".join(lines)


# --- synthetic ladders from the law itself ------------------------------------------------------
TRUE = {"E": 1.82, "A": 482.0, "alpha": 0.348, "B": 2085.0, "beta": 0.366}


def synthetic_splits(n: int, seed: int) -> list[Split]:
    """Ladders drawn from the ``chinchilla`` law with Student-t noise (nu 5, 1% scale): 25 runs at
    N 20M-500M x 5-80 tokens per parameter; held out: 5 runs at 10x the largest N (20 tokens/param)."""
    rng = np.random.default_rng(seed)
    out = []

    def loss(N, D):
        return TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]

    for i in range(n):
        N = np.repeat(np.geomspace(2e7, 5e8, 5), 5)
        D = N * np.tile([5.0, 10.0, 20.0, 40.0, 80.0], 5)
        Nt = np.geomspace(2e9, 5e9, 5)
        Dt = 20.0 * Nt
        noisy = [loss(a, b) * np.exp(0.01 * rng.standard_t(5, len(a))) for a, b in ((N, D), (Nt, Dt))]
        out.append(Split("synthetic", "chinchilla", pd.DataFrame({"N": N, "D": D, "loss": noisy[0]}),
                         pd.DataFrame({"N": Nt, "D": Dt, "loss": noisy[1]}), "chinchilla law itself",
                         {"inputs": {"N": "N", "D": "D"}}, curve=f"synthetic-{i}"))  # fmt: skip
    return out


# --- the reliability diagram --------------------------------------------------------------------
def coverage_table(pts: pd.DataFrame) -> pd.DataFrame:
    """Long table (method, level, coverage) for :func:`bayescale.plot_calibration`: the mean over
    datasets of each dataset's coverage, so the 633 NSL points do not outweigh six ladders of 6."""
    rows = []
    for method, g in pts.groupby("method", sort=False):
        for level in LEVELS:
            column = f"cover{int(level * 100)}"
            if column in g and not g[column].isna().all():
                per_dataset = g.groupby("dataset")[column].mean()
                rows.append({"method": method, "level": level, "coverage": per_dataset.mean(), "n": len(g)})
    return pd.DataFrame(rows)


def draw(pts: pd.DataFrame, png: str) -> None:
    """Write the reliability diagram of the per-run table ``pts``."""
    import matplotlib

    matplotlib.use("Agg")
    title = f"held-out largest runs, mean over {pts['dataset'].nunique()} datasets"
    with bs.plots.style():  # the paper figure: bayescale's column-width style sheet
        ax = bs.plot_calibration(coverage_table(pts), title=title)
        ax.figure.savefig(png, dpi=200, bbox_inches="tight")
    print(f"reliability diagram: {png}")


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="*", default=None, help=f"subset of {list(SPLITS)}")
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--synthetic", type=int, default=8, help="number of synthetic ladders (0: none)")
    parser.add_argument("--learn", action="store_true", help="learn the law error from all datasets; write models/law_error.json")
    parser.add_argument("--png", default=None, help="write the reliability diagram here")
    parser.add_argument("--points", default=None, help="write the per-run table to this CSV")
    parser.add_argument("--residuals", default=None, help="write the residual table (input of law_error_learning.learn) to this CSV")
    parser.add_argument("--check-runs", default=None,
                        help="write each ladder's leave-future-out check (fit.calibrate on its top fifth) to this CSV")
    parser.add_argument("--from-points", default=None,
                        help="redraw the table and the diagram from a per-run CSV written by --points (no fitting)")
    args = parser.parse_args(argv)
    if args.from_points:
        pts = pd.read_csv(args.from_points)
        print(summary_markdown(summary(pts)))
        if args.png:
            draw(pts, args.png)
        return summary(pts)
    sampler = {"chains": args.chains, "draws": args.draws, "warmup": args.warmup, "seed": 0}
    start = time.perf_counter()

    ladders = [fit_ladder(s, **sampler) for name in (args.datasets or list(SPLITS)) for s in SPLITS[name]()]
    table = residual_table(ladders)
    if args.residuals:
        table.to_csv(args.residuals, index=False)
    learned = add_law_error(ladders, table, seed=0, learn_draws=1000)
    pts = points(ladders)
    if args.check_runs:
        pd.concat([ladder.check.assign(dataset=ladder.split.dataset, ladder=f"{ladder.split.curve or i}",
                                       sigma=noise_scale(ladder.fit))
                   for i, ladder in enumerate(ladders)], ignore_index=True).to_csv(args.check_runs, index=False)  # fmt: skip
    if args.points:
        pts.to_csv(args.points, index=False)
    real = summary(pts)

    print(f"Calibration at held-out largest scales ({len(ladders)} ladders; NUTS {args.chains} chains x {args.draws} "
          f"draws, {args.warmup} warm-up; bayescale {bs.__version__}; law error learned leave-one-dataset-out)")  # fmt: skip
    print(summary_markdown(real))
    print("\nLaw error learned without each dataset (posterior medians):")
    for dataset, value in learned.items():
        print(f"  without {dataset}: {value!r}")

    if args.synthetic:
        synth = [fit_ladder(s, **sampler) for s in synthetic_splits(args.synthetic, seed=1)]
        everything = law_error_learning.learn(table, seed=0, source="all datasets")
        for ladder in synth:
            _, _, predictive = ladder.fit.posterior_draws(ladder.split.test, seed=0, law_error=everything)
            ladder.draws["bayes+law_error"] = np.log(predictive)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", bs.ConvergenceWarning)
                check = ladder.fit.calibrate(law_error=False, drift_prior=everything, seed=0)
            _, _, predictive = ladder.fit.posterior_draws(ladder.split.test, seed=0, law_error=check.law_error)
            ladder.draws["bayes+own_drift"] = np.log(predictive)
        synth_table = summary(points(synth))
        print("\nSynthetic ladders from the chinchilla law itself (law error learned on all real datasets):")
        print(summary_markdown(synth_table.loc[["all"]]))

    if args.learn:
        final = law_error_learning.learn(table, seed=0, source=(
            "benchmarks/calibration.py --learn: forward splits of " + ", ".join(sorted(table["dataset"].unique()))))
        path = law_error_learning.save(final, ROOT / "models" / law_error.FILE_NAME, leave_one_out=learned,
                              datasets=sorted(table["dataset"].unique()),
                              ladders=int(table["ladder"].nunique()), runs=len(table),
                              max_distance=round(float(table["distance"].max()), 4), bayescale=bs.__version__,
                              sampler=sampler)  # fmt: skip
        print(f"\nlearned on all datasets: {final!r}; written to {path}")
    if args.png:
        draw(pts, args.png)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return real


if __name__ == "__main__":
    main()
