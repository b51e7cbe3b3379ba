"""Write the save-format fixtures of tests/data (run by hand when the save format changes).

``python tests/make_save_fixtures.py`` writes, for the current save format N,

* ``tests/data/fit_grouped_format<N>.nc``: a tiny grouped fit with a custom prior;
* ``tests/data/fit_grouped_format<N>_predict.csv``: its predictions at fixed rows, which the
  loaded file must reproduce (tests/test_io.py);
* from format 2 on, ``tests/data/many_format<N>.nc`` and its ``_predict.csv`` likewise for
  :class:`bayescale.ManyFits`.

Keep old files: they check that saves of every earlier format keep loading.
"""

from __future__ import annotations

import json
from pathlib import Path

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


def grouped_fit():
    df = bs.examples.load("three_datasets")
    return bs.fit(df, law="chinchilla", inputs={"N": "params", "D": "tokens"}, hierarchy={"E": "dataset"},
                  priors={"alpha": dist.LogNormal(-1.0, 0.3)}, **TINY)


def main() -> None:
    import warnings

    warnings.simplefilter("ignore")
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
    print(json.dumps({"save_format": fmt}))  # a script, not library code


if __name__ == "__main__":
    main()
