"""Per-task downstream forecasts on Gadre et al.'s split: ``fit_downstream(by="task")`` and ``check_tasks``.

Gadre et al. (2024) fit their runs below 1e9 parameters and forecast the average top-1 error of 17
tasks at the 1.4B and 6.9B runs (9 runs: C4, RedPajama and RefinedWeb), with two least-squares fits:
a loss law per training corpus, then ``Err(L) = eps - k exp(-gamma L)`` on the average error. This
script scores, side by side on the same rows:

* ``per-task``: one joint model of all 17 tasks, ``fit_downstream(..., by="task")`` with its
  defaults otherwise: the Chinchilla loss law with E, A, B by corpus, a ``sigmoid_from_loss`` link
  per task partially pooled over the tasks and fed the law's curve (so the 17 tasks' scores inform
  the loss law too), a Beta likelihood with its own noise per task (scores clipped to
  [0.001, 0.999]: some small runs score exactly 0), each task at its chance accuracy; the
  forecast is :meth:`~bayescale.DownstreamFit.predict_average`;
* ``average``: the joint model of the average error (the downstream notebook's model);
* ``average, one fit per corpus``: that model fitted to each training corpus alone, as Gadre et al.
  fit theirs (a run's C4 loss maps to its error differently by the corpus it was trained on);
* ``per-task, one fit per corpus`` (with ``--per-task-per-corpus``, three more long fits): the
  per-task model fitted to each corpus alone (the Chinchilla law unpooled);
* ``gadre``: their point fits (:func:`bayescale.baselines.gadre_point_fit`), per corpus.

Then, per task, the per-task model's error and 90% new-run coverage at the 9 held-out runs, with
:func:`bayescale.check_tasks` run on the *training* ladder alone (it refits without the top fifth of
the runs below 1e9 and tests whether each task's held-out scores stay inside their intervals): are
the tasks it flags the ones whose forecasts at 1.4B / 6.9B miss?

Run::

    BAYESCALE_DATA_DIR=../shared/data python benchmarks/downstream.py [--link sigmoid] [--draws 500] [--per-task-per-corpus]
"""

from __future__ import annotations

import bayescale as bs  # isort: skip  (first: configures JAX host devices before JAX starts)

import argparse
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayescale.baselines import gadre_point_fit

#: Gadre et al. 2024's 17-task subset (scaling/constants.py SUBSET in github.com/mlfoundations/scaling).
GADRE_17 = [
    "bigbench_operators", "pubmed_qa_labeled", "hellaswag_zeroshot", "boolq", "arc_easy", "coqa",
    "bigbench_dyck_languages", "lambada_openai", "bigbench_novel_concepts", "winograd", "bigbench_cs_algorithms",
    "commonsense_qa", "bigbench_qa_wikidata", "hellaswag", "copa", "squad", "piqa",
]
HIERARCHY = {"E": "dataset", "A": "dataset", "B": "dataset"}


def split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows (run x task) of the 17 tasks, below and above 1e9 parameters; scores clipped for the Beta."""
    rows = bs.datasets.load("overtraining_downstream")
    rows = rows[rows["task"].isin(GADRE_17)].assign(error=lambda d: d["error"].clip(1e-3, 1 - 1e-3))
    return rows[rows["N"] < 1e9].reset_index(drop=True), rows[rows["N"] > 1e9].reset_index(drop=True)


def average_runs(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per run with the mean error over the tasks (Gadre et al.'s target)."""
    return rows.groupby("run").agg(N=("N", "first"), D=("D", "first"), loss=("loss", "first"),
                                   dataset=("dataset", "first"), error=("error", "mean"),
                                   chance=("chance", "mean")).reset_index()


def scores(name: str, observed: np.ndarray, table: pd.DataFrame | None, median: np.ndarray) -> dict:
    out = {"method": name, "runs": len(observed), "MAE": float(np.mean(np.abs(median - observed)))}
    if table is not None:
        out["cov90 curve"] = float(np.mean((observed >= table["lower"]) & (observed <= table["upper"])))
        out["cov90 new run"] = float(np.mean((observed >= table["pred_lower"]) & (observed <= table["pred_upper"])))
    return out


def per_corpus(train: pd.DataFrame, test_runs: pd.DataFrame, fit_one, forecast_of) -> pd.DataFrame:
    """Forecasts at ``test_runs`` of one fit per training corpus: ``fit_one(rows)`` fits a corpus's
    rows, ``forecast_of(fit, held_runs)`` forecasts its held-out runs."""
    parts = []
    for corpus, rows in train.groupby("dataset"):
        held = test_runs[test_runs["dataset"] == corpus]
        parts.append(forecast_of(fit_one(rows.reset_index(drop=True)), held).set_index(held.index))
    return pd.concat(parts).loc[test_runs.index]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--link", default="sigmoid", help="link of the per-task model (default sigmoid)")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-check", action="store_true", help="skip check_tasks (one refit fewer)")
    parser.add_argument("--per-task-per-corpus", action="store_true",
                        help="also fit the per-task model to each corpus alone (three more long fits)")
    args = parser.parse_args(argv)
    sampler = dict(chains=args.chains, draws=args.draws, warmup=args.draws, seed=args.seed, progress=False)
    train, test = split()
    train_runs, test_runs = average_runs(train), average_runs(test)
    observed = test_runs["error"].to_numpy()

    started = time.perf_counter()
    per_task = bs.fit_downstream(train, law="chinchilla", metric="error", link=args.link, chance="chance",
                                 hierarchy=HIERARCHY, by="task", **sampler)
    per_task_s = time.perf_counter() - started
    forecast = per_task.predict_average(test_runs[["N", "D", "dataset"]])
    started = time.perf_counter()
    average = bs.fit_downstream(train_runs, law="chinchilla", metric="error", link="error_from_loss", chance=None,
                                hierarchy=HIERARCHY, **sampler)
    average_s = time.perf_counter() - started
    average_forecast = average.predict(test_runs)
    # as Gadre et al. fit: one model per training corpus (loss law and link both unpooled), since a
    # run's C4 loss maps to its task error differently by the corpus it was trained on
    started = time.perf_counter()
    per_corpus_forecast = per_corpus(
        train_runs, test_runs,
        lambda rows: bs.fit_downstream(rows, law="chinchilla", metric="error", link="error_from_loss", chance=None,
                                       **sampler),
        lambda fit, held: fit.predict(held),
    )
    per_corpus_s = time.perf_counter() - started
    extra_rows, timings = [], ""
    if args.per_task_per_corpus:
        started = time.perf_counter()
        fits = []

        def fit_tasks(rows: pd.DataFrame) -> bs.DownstreamFit:
            fits.append(bs.fit_downstream(rows, law="chinchilla", metric="error", link=args.link, chance="chance",
                                          by="task", **sampler))
            return fits[-1]

        tasks_forecast = per_corpus(train, test_runs, fit_tasks,
                                    lambda fit, held: fit.predict_average(held[["N", "D", "dataset"]]))
        extra_rows.append(scores(f"bayescale per-task ({args.link}), one fit per corpus", observed, tasks_forecast,
                                 tasks_forecast["median"].to_numpy()))
        r_hats = ", ".join(f"{fit.diagnostics['max_rhat']:.3f}" for fit in fits)
        timings = f", per-task per corpus {time.perf_counter() - started:.0f} s (max r_hat {r_hats})"
    gadre = np.empty(len(test_runs))
    for corpus, rows in train_runs.groupby("dataset"):
        held = (test_runs["dataset"] == corpus).to_numpy()
        gadre[held] = gadre_point_fit(rows)(test_runs[held])
    summary = pd.DataFrame([
        scores(f"bayescale per-task ({args.link}, 17 tasks)", observed, forecast, forecast["median"].to_numpy()),
        scores("bayescale average (error_from_loss)", observed, average_forecast, average_forecast["median"].to_numpy()),
        scores("bayescale average, one fit per corpus", observed, per_corpus_forecast,
               per_corpus_forecast["median"].to_numpy()),
        *extra_rows,
        scores("Gadre et al. point fit", observed, None, gadre),
    ])
    print(f"Average top-1 error of {len(GADRE_17)} tasks at the {len(test_runs)} held-out runs (N > 1e9); "
          f"per-task fit {per_task_s:.0f} s ({per_task.diagnostics}), average fit {average_s:.0f} s, "
          f"three fits per corpus {per_corpus_s:.0f} s{timings}")
    print(summary.to_markdown(index=False, floatfmt=".4f"))

    per_row = per_task.predict(test)
    held = pd.DataFrame({
        "task": test["task"], "error": np.abs(per_row["median"] - test["error"]),
        "inside": (test["error"] >= per_row["pred_lower"]) & (test["error"] <= per_row["pred_upper"]),
    })
    table = held.groupby("task").agg(MAE=("error", "mean"), cov90=("inside", "mean"))
    if not args.no_check:
        check = bs.check_tasks(per_task, refit_kwargs={"progress": False})
        table = table.join(check[["coverage", "follows_link", "rhat", "converged"]].rename(columns={"coverage": "check cov90"}))
        flagged = ~table["follows_link"].astype(bool)
        print(f"\ncheck_tasks on the training ladder (refit without its top {check.attrs['holdout_runs']} runs, "
              f"converged: {check.attrs['converged']}): {int(flagged.sum())} of {len(table)} tasks flagged; "
              f"at N > 1e9 their MAE {table.loc[flagged, 'MAE'].mean():.4f} and 90% coverage "
              f"{table.loc[flagged, 'cov90'].mean():.2f}, the others' {table.loc[~flagged, 'MAE'].mean():.4f} "
              f"and {table.loc[~flagged, 'cov90'].mean():.2f}")
    print("\nPer task at the 9 held-out runs (per-task model):")
    print(table.sort_values("MAE").to_markdown(floatfmt=".3f"))


if __name__ == "__main__":
    main()
