"""Replay of run selection on public ladders: does ``next_runs`` tighten the forecast per FLOP?

Six ladders from the shared data, each split by scale as in ``benchmarks/calibration.py`` and
``benchmarks/extrapolation.py``: the largest runs are held out as the forecast target, the rest
are the pool one could train.

* ``chinchilla``: Hoffmann et al.'s runs (the five diverged tiny-D runs dropped); hold out >= 3e21 FLOPs;
* ``overtraining``: Gadre et al.; pool N <= 411M, hold out the 1.4B and 6.9B runs (E by dataset);
* ``datablations``: Muennighoff et al., <= 4 epochs; pool N <= 2.8B, hold out 4.2B and 8.7B;
* ``porian``: Porian et al.'s tuned isoFLOP points; pool C <= 6.4e18, hold out 1.28e19 and 2.56e19;
* ``loss_to_loss``: Brandfonbrener et al.'s isoFLOP sweeps on six pretraining sets (C4 loss; E by
  set, A and B too); pool: the 529 sweep runs (<= 4.84e19 FLOPs), hold out the 3.3B, 1e21-FLOP run of each set;
* ``openeurollm``: the best run per (N, D) of OpenEuroLLM's learning-rate x batch-size grid (as
  ``benchmarks/calibration.py`` splits it); pool N <= 1B, hold out the six 1.7B runs (D 30B-300B).

Every strategy starts from the same cheapest runs of the pool (the cheapest 8; with groups, the
cheapest 3 of each), then, round after round, buys runs from what is left of the pool within the
same cumulative FLOP schedule (geometric, from the start's FLOPs to ``--final-share`` of twice
the pool's largest run, in ``--rounds`` rounds; what a strategy leaves unspent carries over),
refits (2 chains x 300 draws) and records, against the cumulative FLOPs of its runs, the mean 90%
new-run interval width on log loss at the held-out runs, the error of the median and the coverage
of the held-out runs.

Strategies:

* ``next_runs``: ``bs.next_runs(fit, pool_left, held_out_rows, budget=round_budget,
  off_regime_error=bs.law_error.off_regime(without=ladder))``: runs off the target's regime are
  charged the error learned across regimes *without* this ladder's dataset (leave-one-dataset-out;
  until stop 44 the replays used the one learned with it);
* ``random`` (``--seeds`` seeds): the pool left in random order, each run bought if it still fits;
* ``cheapest`` first;
* ``largest`` first: the largest runs that still fit (what a team does that buys the biggest
  runs it can afford);
* ``grid_20tpp``: runs within a factor 2 of 20 tokens per parameter, smallest first;
* ``isoflop``: whole isoFLOP sweeps (the pool binned by quarter decades of C), the largest
  sweep that fits first, then the next largest that fits in what is left.

The issue's target, per ladder: the best other strategy (random: mean of its seeds) ends at a
width ``w`` after ``F`` FLOPs; ``next_runs`` must reach ``w`` within ``F / 2`` FLOPs (its first round
at or below ``w``), with the coverage of the held-out runs >= 0.85 (mean over its rounds). The
rounds resolve "half" only when each is less than 2x the FLOPs of the one before (the script
prints the factor; the default 15 rounds do so on every ladder here); the verdict also shows the ratio
interpolated between rounds, and the soonest any strategy reached ``w``.

With ``--until-whole-pool`` the schedule runs up to the whole pool's FLOPs and the target is read
as the issue words it (:func:`whole_pool_verdict`): the width the best other strategy reaches
*with its whole pool* (the start runs and every run it would buy with no budget: all of them for
random, cheapest, largest and isoFLOP sweeps, the runs near 20 tokens per parameter for the grid), and the FLOPs of
that pool; each replayed strategy is then scored by the share of those FLOPs it spent before
reaching that width. The two readings differ in what "its whole pool" is: the default reading
takes the runs a strategy bought by the end of a shared budget (twice the largest run).

Also times ``next_runs`` ranking 1,000 candidates against a 4,000-draw posterior (``--timing``).

Run::

    BAYESCALE_DATA_DIR=/work/shared/data python benchmarks/design.py [--rounds 15] [--seeds 2] [--law chinchilla]
        [--until-whole-pool --rounds 20] [--strategies next_runs random ...]

(the four first ladders: about an hour on a 2-core CPU at 15 rounds; ``--rounds 4``, a few
minutes; ``loss_to_loss`` alone fits 529 runs of six sets, 20-50 s a refit). ``--law`` picks the
law every strategy refits (``chinchilla``, or ``chinchilla_farseer``, which fits the ends of
isoFLOP sweeps that the Chinchilla law misfits). The issue's target as ``benchmarks/RESULTS.md``
reads it (stop 39 on)::

    BAYESCALE_DATA_DIR=/work/shared/data python benchmarks/design.py --law chinchilla_farseer --start 10 \
        --rounds 20 --until-whole-pool [--strategies next_runs] [--ladders ...] [--seed 0]

(``--strategies next_runs`` replays ``next_runs`` alone: the verdict needs only the other
strategies' whole pools, one refit each).
"""

from __future__ import annotations

import bayescale as bs  # isort: skip  (first: configures JAX host devices before JAX starts)

import argparse
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibration import openeurollm_split  # noqa: E402

from extrapolation import datablations_split, overtraining_split, porian_split  # noqa: E402

FIT = {"chains": 2, "draws": 300, "warmup": 300, "progress": False}
LEVEL = 0.9


@dataclass
class Ladder:
    name: str
    pool: pd.DataFrame
    held: pd.DataFrame
    fit_kwargs: dict = field(default_factory=dict)
    group: str | None = None
    law: str = "chinchilla"  # a law of N and D with a floor E (grouped where the ladder groups it)

    @property
    def columns(self) -> list[str]:
        return ["N", "D"] + ([self.group] if self.group else [])


def _ladder(name, train, test, fit_kwargs) -> Ladder:
    group = (fit_kwargs.get("hierarchy") or {}).get("E")
    keep = ["N", "D", "C", "loss"] + ([group] if group else [])
    return Ladder(name, train[keep].reset_index(drop=True), test[keep].reset_index(drop=True),
                  {"hierarchy": fit_kwargs["hierarchy"]} if group else {}, group)  # fmt: skip


LADDERS = ("chinchilla", "overtraining", "datablations", "porian", "loss_to_loss", "openeurollm")
#: each ladder's dataset in ``bs.law_error.off_regime()``: the replay charges runs off the regime the
#: error learned without it (leave-one-dataset-out), as on a ladder the package has never seen
ERROR_LEARNED_AS = {"chinchilla": "chinchilla", "overtraining": "overtraining", "datablations": "datablations",
                    "porian": "porian_isoflops", "loss_to_loss": "loss_to_loss", "openeurollm": "openeurollm"}


def load(name: str) -> Ladder:
    if name == "chinchilla":
        runs = bs.datasets.load("chinchilla")
        runs = runs[runs["loss"] < 4.0]  # the five diverged tiny-D runs (Besiroglu et al.)
        return _ladder(name, runs[runs["C"] < 3e21], runs[runs["C"] >= 3e21], {})
    if name == "loss_to_loss":
        runs = bs.datasets.load("loss_to_loss")
        # E, A and B by set: the sets differ in more than the floor (the whole sweep, chinchilla_farseer:
        # error 1.9% at the 3.3B runs against 3.4% with E alone by set)
        return _ladder(name, runs[runs["split"] == "sweep"], runs[runs["split"] == "extrapolation"],
                       {"hierarchy": {"E": "dataset", "A": "dataset", "B": "dataset"}})  # fmt: skip
    if name == "openeurollm":
        split = openeurollm_split()
        return _ladder(name, split.train, split.test, {})
    split = {"overtraining": overtraining_split, "datablations": datablations_split, "porian": porian_split}[name]()
    return _ladder(name, split.train, split.test, split.fit_kwargs)


def fit_runs(ladder: Ladder, runs: pd.DataFrame, seed: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bs.fit(runs, law=ladder.law, y="loss", seed=seed, **ladder.fit_kwargs, **FIT)


def score(fit, ladder: Ladder) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = fit.predict(ladder.held[ladder.columns], level=LEVEL)
    width = np.log(table["pred_upper"]) - np.log(table["pred_lower"])
    y = ladder.held["loss"].to_numpy()
    covered = (y >= table["pred_lower"].to_numpy()) & (y <= table["pred_upper"].to_numpy())
    return {"width": float(width.mean()), "abs_error": float(np.abs(np.log(table["median"].to_numpy() / y)).mean()),
            "coverage": float(covered.mean())}


def _fill(order: pd.Index, cost: pd.Series, budget: float) -> list:
    """Runs of ``order``, in that order, each bought while it still fits in ``budget``."""
    out = []
    for i in order:
        if cost[i] <= budget:
            out.append(i)
            budget -= cost[i]
    return out


def near_20tpp(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs within a factor 2 of 20 tokens per parameter (the ``grid_20tpp`` strategy's pool)."""
    ratio = runs["D"] / runs["N"]
    return runs[(ratio > 10) & (ratio < 40)]


def whole_pool(strategy: str, ladder: Ladder) -> pd.Index:
    """Every run ``strategy`` would buy with no budget: the grid's runs near 20 tokens per
    parameter; the whole pool for the others (every sweep, every run in some order)."""
    return near_20tpp(ladder.pool).index if strategy == "grid_20tpp" else ladder.pool.index


def choose(strategy: str, fit, ladder: Ladder, taken: list, budget: float, rng: np.random.Generator) -> list:
    left = ladder.pool.drop(index=taken)
    left = left[left["C"] <= budget]
    if left.empty:
        return []
    if strategy == "next_runs":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = bs.next_runs(fit, left[ladder.columns], ladder.held[ladder.columns], budget=budget,
                                 off_regime_error=bs.law_error.off_regime(without=ERROR_LEARNED_AS[ladder.name]))
        print(f"    next_runs: {int((table['pick'] > 0).sum())} runs, greedy by {table.attrs['rule']}, "
              f"expected gain {table.attrs['batch_gain']:.3g} of {table.attrs['var_now']:.3g}, "
              f"stopped: {table.attrs['stopped']}", flush=True)
        picks = table[table["pick"] > 0].sort_values("pick")
        ratio = {"N", "D"} <= set(ladder.columns)  # the picks' tokens per parameter too
        print("      picks: " + "; ".join(", ".join(f"{c}={row[c]:.2g}" for c in ladder.columns)
                                          + (f", D/N={row['D'] / row['N']:.2g}" if ratio else "")
                                          + f" (gain {row['gain']:.2g})" for _, row in picks.iterrows()), flush=True)  # fmt: skip
        return list(table.index[table["pick"] > 0])
    if strategy.startswith("random"):
        return _fill(pd.Index(rng.permutation(left.index.to_numpy())), left["C"], budget)
    if strategy == "cheapest":
        return _fill(left.sort_values("C").index, left["C"], budget)
    if strategy == "largest":
        return _fill(left.sort_values("C", ascending=False).index, left["C"], budget)
    if strategy == "grid_20tpp":
        return _fill(near_20tpp(left).sort_values("C").index, left["C"], budget)
    if strategy == "isoflop":
        level = (4 * np.log10(left["C"])).round()
        out = []
        for lvl in sorted(level.unique(), reverse=True):  # the largest whole sweep that fits, then the next
            sweep = left.index[level == lvl]
            if left.loc[sweep, "C"].sum() <= budget:
                out += list(sweep)
                budget -= left.loc[sweep, "C"].sum()
        if not out:  # no whole sweep fits: as much of the largest affordable one as fits
            top = level[left["C"].idxmax()]
            out = _fill(left.index[level == top], left["C"], budget)
        return out
    raise ValueError(strategy)


def schedule(ladder: Ladder, start_flops: float, rounds: int, final_share: float | None) -> np.ndarray:
    """Cumulative FLOPs allowed after each round: geometric up to ``final_share`` x twice the
    largest pool run, or (``final_share=None``) up to the whole pool's FLOPs."""
    total = ladder.pool["C"].sum()
    final = total if final_share is None else min(final_share * 2 * ladder.pool["C"].max(), total)
    return start_flops * (final / start_flops) ** (np.arange(1, rounds + 1) / rounds)


def start_runs(ladder: Ladder, start: int) -> list:
    """The runs every strategy starts from: the ``start`` cheapest of the pool (with groups, the
    cheapest ``start / groups`` of each group, rounded up)."""
    pool = ladder.pool
    if ladder.group:
        per = int(np.ceil(start / pool[ladder.group].nunique()))
        return list(pool.sort_values("C").groupby(ladder.group, sort=False).head(per).index)
    return list(pool.sort_values("C").index[:start])


STRATEGIES = ("next_runs", "random", "cheapest", "largest", "grid_20tpp", "isoflop")


def replay(ladder: Ladder, *, start: int, rounds: int, seeds: int, final_share: float | None, seed: int,
           strategies: tuple[str, ...] = STRATEGIES) -> pd.DataFrame:
    pool = ladder.pool
    first = start_runs(ladder, start)
    start_fit = fit_runs(ladder, pool.loc[first], seed)
    start_score = score(start_fit, ladder)
    start_flops = pool.loc[first, "C"].sum()
    plan = schedule(ladder, start_flops, rounds, final_share)
    # the verdict reads "half the FLOPs" off the rounds: it resolves it only where a round is < 2x the last
    print(f"  schedule: {rounds} rounds of x{(plan[-1] / start_flops) ** (1 / rounds):.2g} FLOPs each", flush=True)
    def expand(bases) -> list[str]:
        return [name for base in bases for name in ([f"random{s}" for s in range(seeds)] if base == "random" else [base])]

    every = expand(STRATEGIES)  # random numbers by the strategy's place in the full list: a subset draws the same
    strategies = expand(strategies)
    rows = []
    for strategy in strategies:
        rng = np.random.default_rng([seed, every.index(strategy)])
        taken, fit, now = list(first), start_fit, dict(start_score)
        rows.append({"ladder": ladder.name, "strategy": strategy, "round": 0, "runs": len(taken),
                     "flops": pool.loc[taken, "C"].sum(), "allowed": pool.loc[taken, "C"].sum(), **now})
        for r, allowed in enumerate(plan, start=1):
            started = time.perf_counter()
            new = choose(strategy, fit, ladder, taken, allowed - pool.loc[taken, "C"].sum(), rng)
            if new:
                taken += new
                fit = fit_runs(ladder, pool.loc[taken], seed)
                now = score(fit, ladder)
            rows.append({"ladder": ladder.name, "strategy": strategy, "round": r, "runs": len(taken),
                         "flops": pool.loc[taken, "C"].sum(), "allowed": allowed, **now,
                         "seconds": time.perf_counter() - started})
        print(f"  {ladder.name} {strategy}: " + ", ".join(f"{row['flops']:.2g}:{row['width']:.3f}"
              for row in rows if row["strategy"] == strategy), flush=True)
    return pd.DataFrame(rows)


def by_round(part: pd.DataFrame) -> pd.DataFrame:
    """FLOPs, width and coverage of one ladder's replay by strategy (``base``: the random seeds
    averaged as ``random``) and round."""
    part = part.assign(base=part["strategy"].str.replace(r"random\d+", "random", regex=True))
    return part.groupby(["base", "round"], sort=False)[["flops", "width", "coverage"]].mean().reset_index()


def verdict(table: pd.DataFrame) -> pd.DataFrame:
    """Per ladder: the issue's target (reach the best other strategy's final width with <= half its FLOPs)."""
    out = []
    for name, part in table.groupby("ladder", sort=False):
        mean = by_round(part)
        final = mean[mean["round"] == mean["round"].max()].set_index("base")
        others = final.drop(index="next_runs")
        best = others["width"].idxmin()
        w, flops = others.loc[best, "width"], others.loc[best, "flops"]
        mine = mean[mean["base"] == "next_runs"]
        first = _flops_to_reach(mine, w)
        coverage = mine.loc[mine["round"] > 0, "coverage"].mean()
        ratio = first / flops
        # how early any strategy got there: whether the target is within reach of the strategies tried
        soonest = np.nanmin([_flops_to_reach(group, w) for _, group in mean.groupby("base", sort=False)])
        out.append({"ladder": name, "best_other": best, "its_width": w, "its_flops": flops,
                    "next_runs_final_width": final.loc["next_runs", "width"],
                    "next_runs_flops_to_reach": first, "flops_ratio": ratio,
                    "interpolated_ratio": _flops_to_reach(mine, w, interpolate=True) / flops,
                    "any_strategy_ratio": soonest / flops, "next_runs_coverage": coverage,
                    "met": bool(ratio <= 0.5 and coverage >= 0.85)})  # fmt: skip
    return pd.DataFrame(out)


def whole_pool_verdict(ladder: Ladder, table: pd.DataFrame, start: int, seed: int) -> pd.DataFrame:
    """The issue's target read literally: the best other strategy's width *with its whole pool*
    (the start runs and every run it would buy with no budget, :func:`whole_pool`; one refit per
    distinct pool) and the FLOPs of that pool; then, for every strategy replayed in ``table`` (on
    a schedule that reaches the whole pool: ``--until-whole-pool``), the share of those FLOPs it
    spent before its width first reached that width (interpolated between rounds as in
    :func:`verdict`)."""
    pools: dict[tuple, dict] = {}
    for strategy in STRATEGIES[1:]:
        index = pd.Index(start_runs(ladder, start)).union(whole_pool(strategy, ladder))
        key = tuple(index)
        if key not in pools:
            runs = ladder.pool.loc[index]
            pools[key] = {"strategies": [], "runs": len(runs), "flops": runs["C"].sum(),
                          **score(fit_runs(ladder, runs, seed), ladder)}  # fmt: skip
        pools[key]["strategies"].append(strategy)
    best = min(pools.values(), key=lambda pool: pool["width"])
    mean = by_round(table[table["ladder"] == ladder.name])
    out = []
    for base, rounds in mean.groupby("base", sort=False):
        first = _flops_to_reach(rounds, best["width"])
        coverage = rounds.loc[rounds["round"] > 0, "coverage"].mean()
        out.append({"ladder": ladder.name, "strategy": base, "best_whole_pool": "/".join(best["strategies"]),
                    "its_runs": best["runs"], "its_width": best["width"], "its_coverage": best["coverage"],
                    "its_flops": best["flops"], "flops_to_reach": first, "flops_ratio": first / best["flops"],
                    "interpolated_ratio": _flops_to_reach(rounds, best["width"], interpolate=True) / best["flops"],
                    "coverage_over_rounds": coverage,
                    "met": bool(first / best["flops"] <= 0.5 and coverage >= 0.85)})  # fmt: skip
    for pool in pools.values():
        print(f"  {ladder.name}, whole pool of {'/'.join(pool['strategies'])}: {pool['runs']} runs, "
              f"{pool['flops']:.3g} FLOPs, width {pool['width']:.3f}, error {pool['abs_error']:.3f}, "
              f"coverage {pool['coverage']:.2f}", flush=True)
    return pd.DataFrame(out)


def _flops_to_reach(rounds: pd.DataFrame, width: float, *, interpolate: bool = False) -> float:
    """The cumulative FLOPs of the first round at or below ``width`` (NaN if none); with
    ``interpolate``, log-linearly between that round and the one before (an estimate of where
    between two rounds the width was reached)."""
    flops, widths = rounds["flops"].to_numpy(float), rounds["width"].to_numpy(float)
    hits = np.flatnonzero(widths <= width)
    if not hits.size:
        return np.nan
    j = hits[0]
    if not interpolate or j == 0 or widths[j - 1] == widths[j]:
        return float(flops[j])
    share = np.log(widths[j - 1] / width) / np.log(widths[j - 1] / widths[j])
    return float(np.exp(np.log(flops[j - 1]) + share * np.log(flops[j] / flops[j - 1])))


def timing(ladder: Ladder, n_candidates: int = 1000) -> dict[str, float]:
    """Seconds to rank ``n_candidates`` against a 4,000-draw posterior (first call, then the next)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bs.fit(ladder.pool, law="chinchilla", y="loss", chains=2, draws=2000, warmup=300, seed=0, progress=False)
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


def plot(table: pd.DataFrame, path: Path, whole: pd.DataFrame | None = None) -> None:
    """Width against FLOPs per strategy, a panel per ladder (three to a row); with ``whole`` (the
    :func:`whole_pool_verdict` rows), the best other strategy's whole-pool width (dashed) and half
    its FLOPs (dotted): the issue's target is the lower-left corner they mark."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ladders = list(dict.fromkeys(table["ladder"]))
    columns = min(3, len(ladders))
    rows = -(-len(ladders) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), constrained_layout=True, squeeze=False)
    for ax in axes.flat[len(ladders):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat[: len(ladders)], ladders, strict=True):
        for strategy, part in table[table["ladder"] == name].groupby("strategy", sort=False):
            style = {"lw": 2.5, "color": "k", "zorder": 3} if strategy == "next_runs" else {"lw": 1, "alpha": 0.8}
            ax.plot(part["flops"], part["width"], marker="o", ms=3, label=strategy, **style)
        if whole is not None and (whole["ladder"] == name).any():
            reference = whole[whole["ladder"] == name].iloc[0]
            ax.axhline(reference["its_width"], color="grey", ls="--", lw=1, label="best whole pool's width")
            ax.axvline(reference["its_flops"] / 2, color="grey", ls=":", lw=1, label="half its FLOPs")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("cumulative FLOPs of the runs fitted")
    for row in axes:
        row[0].set_ylabel("90% width (log loss), held-out runs")
    axes.flat[len(ladders) - 1].legend(fontsize=7)
    fig.savefig(path, dpi=130)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ladders", nargs="*", default=list(LADDERS), choices=LADDERS)
    parser.add_argument("--start", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=15, help="rounds of the FLOP schedule (< 2x FLOPs each at 15)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds of the random strategy")
    parser.add_argument("--final-share", type=float, default=1.0,
                        help="the schedule ends at this share of twice the pool's largest run")
    parser.add_argument("--until-whole-pool", action="store_true",
                        help="run the schedule up to the whole pool's FLOPs and judge the target as worded: the "
                             "width the best other strategy reaches with its whole pool (whole_pool_verdict)")
    parser.add_argument("--strategies", nargs="*", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--law", default="chinchilla", help="the law every strategy refits (inputs N, D; a floor E)")
    parser.add_argument("--timing", action="store_true", help="also time 1,000 candidates x 4,000 draws")
    parser.add_argument("--plot", default=str(Path(__file__).with_name("design.png")))
    parser.add_argument("--csv", help="write the full table here")
    parser.add_argument("--table", help="judge the replay saved here by --csv instead of running it again")
    args = parser.parse_args()
    started = time.perf_counter()
    tables, whole = [], []
    final_share = None if args.until_whole_pool else args.final_share
    for name in args.ladders:
        ladder = replace(load(name), law=args.law)
        print(f"{name}: pool {len(ladder.pool)} runs (C {ladder.pool.C.min():.2g}-{ladder.pool.C.max():.2g}), "
              f"held out {len(ladder.held)} (C {ladder.held.C.min():.2g}-{ladder.held.C.max():.2g})", flush=True)
        if args.table:
            saved = pd.read_csv(args.table)
            if not (saved["ladder"] == name).any():
                raise SystemExit(f"--table {args.table} holds no replay of ladder {name!r} "
                                 f"(it has {sorted(saved['ladder'].unique())}); pass --ladders of those")
            tables.append(saved[saved["ladder"] == name])
        else:
            tables.append(replay(ladder, start=args.start, rounds=args.rounds, seeds=args.seeds,
                                 final_share=final_share, seed=args.seed, strategies=tuple(args.strategies)))  # fmt: skip
        if args.until_whole_pool:
            whole.append(whole_pool_verdict(ladder, tables[-1], args.start, args.seed))
    table = pd.concat(tables, ignore_index=True)
    if args.csv:
        table.to_csv(args.csv, index=False)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(table.drop(columns=["seconds"]).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        if whole:
            print("\nThe issue's target as worded (each strategy: the share of the FLOPs of the best other strategy's "
                  "whole pool it spent to reach that pool's width; met: <= 0.5 with coverage >= 0.85):")
            print(pd.concat(whole).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        elif "next_runs" in args.strategies and len(args.strategies) > 1:
            print("\nThe issue's target (next_runs reaches the best other final width with <= half its FLOPs, "
                  "coverage >= 0.85):")
            print(verdict(table).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    plot(table, Path(args.plot), pd.concat(whole) if whole else None)
    print(f"wrote {args.plot}")
    if args.timing:
        print("next_runs, 1,000 candidates x 4,000 draws (seconds):", timing(load("chinchilla")))
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
