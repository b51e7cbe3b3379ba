"""Many curves at once: ``bs.fit_many`` against a Python loop of ``bs.fit`` calls.

Curves (real public data, from ``bs.datasets``):

* over-training downstream (Gadre et al. 2024): 46 tasks x 3 training corpora = 138 curves,
  top-1 error against training compute C, ~35 runs each;
* the NSL benchmark (Alabdulmohsin et al. 2022, via nslpfn): ``nsl_vision`` (task x model) and
  ``nsl_lang`` (task x domain x model) learning curves, loss against examples seen D
  (rows with ``train=True``; duplicate LM rows dropped).

Every curve is fitted with the ``power`` law (y = E + A x^-alpha, Student-t likelihood in log
space; ``--likelihood`` for another). ``fit_many`` fits all curves in one vectorised run; the
loop fits a random subset of them one ``bs.fit`` call at a time (a different number of rows
means a new compilation, as a user's loop would meet it), and throughput is curves per second
of wall time. Both use the same sampler settings; ``fit_many`` also samples again, with twice
the warm-up, the curves that miss the convergence rule (its default ``retries=1``, counted in the
output and included in its time), while the loop's ``bs.fit`` calls are each run once. Run::

    BAYESCALE_DATA_DIR=../shared/data python benchmarks/fit_many.py [--loop 12] [--draws 500] [--curves 40] \
        [--likelihood normal] [--target-accept 0.95] [--max-tree-depth 7]

``--curves N`` keeps a fixed random subset of N curves (the same N curves on every run), for a
before/after measurement that takes a few minutes.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import bayescale as bs  # isort: skip  (first: sets the XLA host devices before JAX starts)

import jax
import numpy as np
import pandas as pd

from bayescale.many import fit_many


def curves() -> pd.DataFrame:
    """One table of every curve: columns curve, x, y."""
    down = bs.datasets.load("overtraining_downstream")
    down = down[(down["error"] > 0) & (down["error"] < 1)]
    a = pd.DataFrame({"curve": "ot/" + down["dataset"] + "/" + down["task"], "x": down["C"], "y": down["error"]})
    vision = bs.datasets.load("nsl_vision")
    vision = vision[vision["train"] & (vision["loss"] > 0)]
    b = pd.DataFrame({"curve": "nslv/" + vision["task"] + "/" + vision["model"], "x": vision["D"], "y": vision["loss"]})
    lang = bs.datasets.load("nsl_lang").drop_duplicates()
    lang = lang[lang["train"] & (lang["loss"] > 0)]
    c = pd.DataFrame({"curve": "nsll/" + lang["task"] + "/" + lang["domain"] + "/" + lang["model"],
                      "x": lang["D"], "y": lang["loss"]})  # fmt: skip
    table = pd.concat([a, b, c], ignore_index=True)
    counts = table.groupby("curve")["x"].transform("size")
    return table[counts > 6].reset_index(drop=True)  # power + Student-t: 5 free parameters


def depths(text: str) -> int | tuple[int, int]:
    """``--max-tree-depth``: ``7`` or ``5,7`` (warm-up, draws), as ``fit_many`` takes it."""
    return tuple(int(part) for part in text.split(",")) if "," in text else int(text)  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop", type=int, default=12, help="curves fitted by the bs.fit loop (random subset)")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--curves", type=int, default=None, help="a fixed random subset of this many curves")
    parser.add_argument("--likelihood", default="student_t", help="likelihood of both sides (default: student_t)")
    parser.add_argument("--max-tree-depth", type=depths, default=None,
                        help="fit_many's NUTS tree depth limits, one number or 'warm-up,draws' (default: fit_many's "
                             "(5, 7)); the loop keeps bs.fit's default (7, 10)")
    parser.add_argument("--target-accept", type=float, default=None,
                        help="NUTS target acceptance for both sides (default: the law's default)")
    args = parser.parse_args()
    sampler = dict(chains=args.chains, draws=args.draws, warmup=args.warmup, seed=0, likelihood=args.likelihood)
    if args.target_accept is not None:
        sampler["target_accept_prob"] = args.target_accept
    if args.max_tree_depth is not None:
        sampler["max_tree_depth"] = args.max_tree_depth
    table = curves()
    if args.curves is not None:
        names = np.array(sorted(table["curve"].unique()))
        keep = np.random.default_rng(0).choice(names, size=min(args.curves, len(names)), replace=False)
        table = table[table["curve"].isin(keep)].reset_index(drop=True)
    n_curves = table["curve"].nunique()
    sizes = table.groupby("curve").size()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()}; jax devices {jax.devices()}")
    print(f"{n_curves} curves (rows per curve: min {sizes.min()}, median {int(sizes.median())}, max {sizes.max()}); "
          f"sampler {sampler}")  # fmt: skip

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        start = time.perf_counter()
        many = fit_many(table, "power", by="curve", inputs={"x": "x"}, y="y", **sampler)
        many_s = time.perf_counter() - start
        diag = many.diagnostics
        print(f"fit_many, first call: {many_s:.1f} s wall ({many.meta['compile_s']:.1f} s compile, "
              f"{many.meta['sampling_s']:.1f} s sampling): {n_curves / many_s:.2f} curves/s")  # fmt: skip
        start = time.perf_counter()
        again = fit_many(table, "power", by="curve", inputs={"x": "x"}, y="y", **{**sampler, "seed": 1})
        again_s = time.perf_counter() - start
        print(f"fit_many, second call (first pass's sampler cached): {again_s:.1f} s wall "
              f"({again.meta['compile_s']:.1f} s compile; {again.meta['retried']} curve(s) sampled again, "
              f"{again.meta['retry_converged']} then converged): {n_curves / again_s:.2f} curves/s")  # fmt: skip
        print(f"fit_many retries: {many.meta['retried']} curve(s) missed the rule and were sampled again with twice "
              f"the warm-up; {many.meta['retry_converged']} then met it")  # fmt: skip
        print(f"fit_many diagnostics: {int(diag['converged'].sum())}/{n_curves} converged (r_hat <= 1.01, "
              f"ESS >= 400, no divergences); median max r_hat {diag['max_rhat'].median():.3f}, "
              f"median min ESS {diag['min_ess_bulk'].median():.0f}, curves with divergences "
              f"{int((diag['divergences'] > 0).sum())}")  # fmt: skip
        steps = many.num_steps.reshape(n_curves, -1).mean(axis=1)  # leapfrog steps per draw, by curve
        print(f"leapfrog steps per draw: mean {steps.mean():.1f}; by curve median {np.median(steps):.1f}, "
              f"90th percentile {np.quantile(steps, 0.9):.1f}, max {steps.max():.1f}")  # fmt: skip

        rng = np.random.default_rng(0)
        subset = list(rng.choice(np.asarray(many.keys, dtype=object), size=min(args.loop, n_curves), replace=False))
        start = time.perf_counter()
        loop_fits = {}
        for key in subset:
            rows = table[table["curve"] == key]
            loop_fits[key] = bs.fit(rows, "power", y="y", inputs={"x": "x"}, progress=False,
                                    **{k: v for k, v in sampler.items() if k != "max_tree_depth"})  # fmt: skip
        loop_s = time.perf_counter() - start
    loop_rate = len(subset) / loop_s
    print(f"bs.fit loop over {len(subset)} random curves ({sizes[subset].nunique()} distinct row counts): "
          f"{loop_s:.1f} s wall: {loop_rate:.3f} curves/s")  # fmt: skip
    print(f"throughput ratio fit_many / loop: first call {n_curves / many_s / loop_rate:.1f}x, "
          f"second call {n_curves / again_s / loop_rate:.1f}x")  # fmt: skip
    # the two fits of the same curve agree (same model, different random numbers)
    summary = many.summary()
    gaps = []
    for key, fit in loop_fits.items():
        for name in ("E", "alpha"):
            a, b = summary.loc[(key, name), "mean"], float(np.mean(fit.draws(name)))
            sd = summary.loc[(key, name), "sd"]
            gaps.append(abs(a - b) / sd)
    print(f"agreement with the loop on its {len(subset)} curves: |mean difference| / posterior sd for E and alpha: "
          f"median {np.median(gaps):.2f}, max {np.max(gaps):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
