"""Write the save-format fixtures of tests/data (run by hand when the save format changes).

``python tests/make_save_fixtures.py`` writes, for the current save format N,

* ``tests/data/fit_grouped_format<N>.nc``: a tiny grouped fit with a custom prior;
* ``tests/data/fit_grouped_format<N>_predict.csv``: its predictions at fixed rows, which the
  loaded file must reproduce (tests/test_io.py);
* from format 2 on, ``tests/data/many_format<N>.nc`` and its ``_predict.csv`` likewise for
  :class:`bayescale.ManyFits`, and ``tests/data/downstream_format<N>.nc`` and its
  ``_predict.csv`` for :class:`bayescale.DownstreamFit` (a tiny grouped joint fit of a
  loss law and a sigmoid link, with custom priors on both stages).

``python tests/make_save_fixtures.py downstream`` writes only the downstream files.

Keep old files: they check that saves of every earlier format keep loading.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import numpyro.distributions as dist
import pandas as pd

import bayescale as bs

HERE = Path(__file__).parent / "data"
GRID = pd.DataFrame(
    {
        "dataset": ["books", "code", "web", "web"],
        "params": [1e8, 1e9, 1e9, 1e10],
        "tokens": [2e9, 2e10, 2e10, 2e11],
    }
)
MANY_GRID = GRID[GRID["dataset"] != "code"]  # "code" has too few rows for a curve of its own
TINY = {"chains": 1, "draws": 40, "warmup": 100, "seed": 0, "progress": False}
DOWN_GRID = pd.DataFrame({"x": [1e4, 1e6, 1e7, 1e7], "g": ["a", "b", "a", "c"], "chance": 0.25})
DOWN_PRIORS = {"alpha": dist.LogNormal(-1.2, 0.3), "link_k": dist.LogNormal(0.5, 0.5)}


def downstream_runs() -> pd.DataFrame:
    """Eight runs of two groups: a power law in ``x`` with E by group, accuracy linear in loss."""
    rng = np.random.default_rng(0)
    x = np.tile(np.geomspace(1e3, 1e6, 4), 2)
    loss = (np.repeat([1.9, 2.0], 4) + 30.0 * x**-0.3) * np.exp(0.005 * rng.standard_normal(x.size))
    accuracy = np.clip(1.5 - 0.4 * loss + 0.01 * rng.standard_normal(x.size), 0.05, 0.95)
    return pd.DataFrame({"x": x, "g": np.repeat(["a", "b"], 4), "loss": loss, "accuracy": accuracy, "chance": 0.25})


def downstream_fit():
    return bs.fit_downstream(downstream_runs(), law="power", link="sigmoid", chance="chance", hierarchy={"E": "g"},
                             priors=DOWN_PRIORS, chains=1, draws=40, warmup=100, seed=0)


def write_downstream(fmt: int) -> None:
    down = downstream_fit()
    down.save(HERE / f"downstream_format{fmt}.nc")
    down.predict(DOWN_GRID, seed=0, law_error=False).to_csv(HERE / f"downstream_format{fmt}_predict.csv", index=False)


def grouped_fit():
    df = bs.examples.load("three_datasets")
    return bs.fit(df, law="chinchilla", inputs={"N": "params", "D": "tokens"}, hierarchy={"E": "dataset"},
                  priors={"alpha": dist.LogNormal(-1.0, 0.3)}, **TINY)


def main() -> None:
    import warnings

    warnings.simplefilter("ignore")
    if sys.argv[1:] == ["downstream"]:
        write_downstream(bs.io.SAVE_FORMAT)
        print(json.dumps({"save_format": bs.io.SAVE_FORMAT, "written": "downstream"}))
        return
    fit = grouped_fit()
    fmt = fit.meta["save_format"]
    fit.save(HERE / f"fit_grouped_format{fmt}.nc")
    fit.predict(GRID, seed=0).to_csv(HERE / f"fit_grouped_format{fmt}_predict.csv", index=False)
    if fmt >= 2:
        df = bs.examples.load("three_datasets")
        many = bs.fit_many(df[df["dataset"] != "code"], "chinchilla", by="dataset", inputs={"N": "params", "D": "tokens"},
                           priors={"alpha": dist.LogNormal(-1.0, 0.3)}, **TINY)
        many.save(HERE / f"many_format{fmt}.nc")
        many.predict(MANY_GRID, seed=0).to_csv(HERE / f"many_format{fmt}_predict.csv", index=False)
        write_downstream(fmt)
    print(json.dumps({"save_format": fmt}))  # a script, not library code


if __name__ == "__main__":
    main()
