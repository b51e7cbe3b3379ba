"""The floor pair against the plain (E, A, alpha) form of the ``power`` law, curve by curve.

``power`` samples its floor and coefficient as the floor pair (:mod:`bayescale.floor_pair`). This
script fits the same curves with the pair and with a copy of the law without it (``floor=None``),
with ``fit_many`` (4 chains x 1,000 draws after 1,000 warm-up, the law's target acceptance 0.99),
and counts the curves that meet the convergence rule (r_hat <= 1.01, bulk ESS >= 400, no
divergences) each way:

* ``--set short``: the 229 real curves of ``benchmarks/fit_many.py`` (8 to 71 rows), seed 0;
* ``--set long``: 14 NSL vision curves of more than 100 rows (train and test rows, a fixed random
  choice) and the zoo's NSL language-model curve, seeds 0 and 1.

Run::

    BAYESCALE_DATA_DIR=../shared/data python benchmarks/floor_pair.py --set short --csv short.csv
    BAYESCALE_DATA_DIR=../shared/data python benchmarks/floor_pair.py --set long --csv long.csv
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings

import bayescale as bs  # isort: skip  (first: sets the XLA host devices before JAX starts)

import numpy as np
import pandas as pd
from fit_many import curves

from bayescale.many import fit_many
from bayescale.zoo_entries import nsl_lm_16m


def long_curves() -> pd.DataFrame:
    """14 NSL vision curves of more than 100 rows (train and test) and the zoo's NSL LM curve."""
    vision = bs.datasets.load("nsl_vision")
    vision = vision[vision.loss > 0]
    vision = pd.DataFrame({"curve": "nslv/" + vision["task"] + "/" + vision["model"], "x": vision["D"],
                           "y": vision["loss"]})  # fmt: skip
    sizes = vision.groupby("curve").size()
    chosen = np.random.default_rng(0).choice(sizes[sizes > 100].index.to_numpy(), size=14, replace=False)
    lm = nsl_lm_16m(bs.datasets.load("nsl_lang"))
    lm = pd.DataFrame({"curve": "zoo/nsl_lang", "x": lm["D"], "y": lm["loss"]})
    return pd.concat([vision[vision.curve.isin(chosen)], lm], ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=["short", "long"], default="short")
    parser.add_argument("--csv", default=None, help="write the per-curve diagnostics here")
    args = parser.parse_args()
    table = curves() if args.set == "short" else long_curves()
    seeds = (0,) if args.set == "short" else (0, 1)
    power = bs.laws.get("power")
    forms = {"pair": power, "plain": dataclasses.replace(power, floor=None)}
    rows = []
    for label, law in forms.items():
        for seed in seeds:
            start = time.time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                many = fit_many(table, law, by="curve", y="y", inputs={"x": "x"}, chains=4, draws=1000, warmup=1000,
                                seed=seed, progress=False)
            d = many.diagnostics.copy()
            d["form"], d["seed"] = label, seed
            rows.append(d)
            print(f"{label:5s} seed {seed}: {int(d['converged'].sum())} of {len(d)} curves converged "
                  f"({time.time() - start:.0f} s)", flush=True)  # fmt: skip
    out = pd.concat(rows)
    wide = out.reset_index().pivot_table(index="curve", columns=["form", "seed"], values="converged", aggfunc="first")
    pair, plain = wide["pair"].all(axis=1), wide["plain"].all(axis=1)
    print(f"every seed: both {int((pair & plain).sum())}, pair only {int((pair & ~plain).sum())}, "
          f"plain only {int((~pair & plain).sum())}, neither {int((~pair & ~plain).sum())}")
    if args.csv:
        out.to_csv(args.csv)


if __name__ == "__main__":
    main()
