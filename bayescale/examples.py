"""Small example datasets that ship with bayescale (made by ``data/make_data.py``).

These are synthetic ladders with known parameters, for the demo, the docs and tests.
Real published measurements are in :mod:`bayescale.datasets`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

#: Example name -> (file, description). True parameters are stated in data/make_data.py.
EXAMPLES = {
    "chinchilla_ladder": (
        "chinchilla_ladder.csv",
        "60 runs from the Chinchilla law with Besiroglu et al. 2024's estimates "
        "(E 1.82, A 482, B 2085, alpha 0.348, beta 0.366), ~1% Student-t noise; columns params, tokens, loss",
    ),
    "three_datasets": (
        "three_datasets.csv",
        "70 runs on three corpora (web 40, books 24, code 6) sharing alpha 0.348, beta 0.366 and B 2085, "
        "with E = 1.82/1.62/1.05 and A = 482/400/560; columns dataset, params, tokens, loss",
    ),
}


def data_dir() -> Path:
    """Folder holding the example CSVs: inside the installed package, else the source tree's ``data/``."""
    packaged = resources.files("bayescale") / "_embedded"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[1] / "data"


def list() -> pd.DataFrame:  # noqa: A001 - mirrors bs.laws.list()
    """Names and descriptions of the example datasets."""
    return pd.DataFrame([{"name": k, "description": v[1]} for k, v in EXAMPLES.items()])


def load(name: str) -> pd.DataFrame:
    """Load an example dataset by name.

    Raises
    ------
    ValueError
        If ``name`` is not an example (the message lists them).
    """
    if name not in EXAMPLES:
        raise ValueError(f"example {name!r} is unknown; examples are {sorted(EXAMPLES)}")
    frame = pd.read_csv(data_dir() / EXAMPLES[name][0])
    frame.attrs["description"] = EXAMPLES[name][1]
    return frame
