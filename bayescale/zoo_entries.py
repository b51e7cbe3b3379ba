"""The declared entries of the reference-posterior zoo (:mod:`bayescale.zoo`).

Each :class:`ZooEntry` says which registered law is fitted to which rows of which public
dataset (:mod:`bayescale.datasets`), with which column mapping, grouping and likelihood;
:data:`ENTRIES` lists them and :data:`SAMPLER_SETTINGS` holds the NUTS settings of a rebuild.
Add a row to :data:`ENTRIES` and run ``bayescale zoo rebuild <law>/<key>`` to add an
entry. The row selections below document, in their docstrings, which runs each entry uses
(the docstring is stored with the entry as its selection text).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from bayescale.isoflops import near_optimal

__all__ = ["ENTRIES", "SAMPLER_SETTINGS", "ZooEntry"]

#: Sampler settings of a rebuild (bs.fit keyword arguments). The target acceptance is the entry's
#: own (:attr:`ZooEntry.target_accept_prob`), else the law's default (0.99 for ``power``, else
#: 0.95); each file records the one used.
SAMPLER_SETTINGS: dict[str, Any] = {
    "chains": 4,
    "draws": 1000,
    "warmup": 1000,
    "seed": 0,
}


# --- row selections used by the declared entries ---------------------------------------------
def besiroglu_240(df: pd.DataFrame) -> pd.DataFrame:
    """Chinchilla runs without the five highest losses, as in Besiroglu et al. 2024 (240 rows)."""
    return df.drop(df["loss"].nlargest(5).index)


def up_to_four_epochs(df: pd.DataFrame) -> pd.DataFrame:
    """Datablations runs with at most 4 epochs over their unique data.

    Muennighoff et al. 2023 (Fig. 3) find up to ~4 epochs of repetition worth almost as much as
    unique data, so the Chinchilla law, which knows nothing of repetition, applies there.
    """
    return df[df["epochs"] <= 4.0]


def nsl_lm_16m(df: pd.DataFrame) -> pd.DataFrame:
    """The language-model learning curve of the 16.8M-parameter model in the NSL benchmark (train and test),
    each run once: the upstream file lists every row four times."""
    return df[(df["domain"] == "LM") & (df["model"] == "1.68e+07")].drop_duplicates()


def gadre_multiplier(df: pd.DataFrame) -> pd.DataFrame:
    """All over-training runs; Gadre et al.'s token multiplier M = D / N is derived from N and D
    (the dataset's ``chinchilla_multiplier`` is D / N relative to Chinchilla's 20: not M)."""
    return df


def porian_tuned(df: pd.DataFrame) -> pd.DataFrame:
    """Porian et al.'s fully corrected setting: RefinedWeb, standard parameter count, tuned
    hyper-parameters, short warm-up, constant learning rate, validation loss."""
    return df[
        (df["experiment"] == "summary_df")
        & (df["param_count"] == "standard")
        & (df["hparams"] == "tuned")
        & (df["decay"] == "const")
    ]


def porian_tuned_near_optimal(df: pd.DataFrame) -> pd.DataFrame:
    """Porian et al.'s fully corrected setting (as porian_tuned), only the runs within 10% of their
    isoFLOP budget's best loss (bs.near_optimal): the Chinchilla law describes the runs near the
    frontier, and a sweep's far ends (up to loss 8.8 where the budget's best is 4.0) pull a fit of
    every run."""
    return near_optimal(porian_tuned(df), budget="C")


@dataclass(frozen=True)
class ZooEntry:
    """One declared zoo entry: which law is fitted to which rows of which dataset, and how.

    Parameters
    ----------
    law : str
        Registered law name.
    dataset : str
        Name in :mod:`bayescale.datasets`.
    key : str
        File stem under ``models/<law>/``; the entry's name is ``"<law>/<key>"``.
    inputs : mapping
        Law input to column (``bs.fit``'s ``inputs=``).
    y : str
        Target column.
    select : callable, optional
        Row selection ``DataFrame -> DataFrame``; its docstring is stored as the selection text.
    hierarchy : mapping, optional
        ``bs.fit``'s ``hierarchy=``.
    likelihood : str
        ``bs.fit``'s ``likelihood=``.
    target_accept_prob : float, optional
        NUTS target acceptance of this entry (default: the law's own).
    """

    law: str
    dataset: str
    key: str
    inputs: Mapping[str, str] = field(default_factory=dict)
    y: str = "loss"
    select: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    hierarchy: Mapping[str, str] | None = None
    likelihood: str = "student_t"
    target_accept_prob: float | None = None

    @property
    def name(self) -> str:
        """``"<law>/<key>"``, the name :func:`load` takes."""
        return f"{self.law}/{self.key}"

    @property
    def selection(self) -> str:
        """The row selection in words."""
        if self.select is None:
            return "all rows"
        return " ".join((self.select.__doc__ or self.select.__name__).split())


#: The declared zoo. Add a row and run ``bayescale zoo rebuild <law>/<key>``.
ENTRIES: tuple[ZooEntry, ...] = (
    ZooEntry("chinchilla", "chinchilla", "chinchilla", {"N": "N", "D": "D"}, select=besiroglu_240),
    ZooEntry("kaplan", "chinchilla", "chinchilla", {"N": "N", "D": "D"}, select=besiroglu_240),
    ZooEntry("chinchilla", "overtraining", "overtraining", {"N": "N", "D": "D"}, hierarchy={"E": "dataset"}),
    ZooEntry("chinchilla", "datablations", "datablations", {"N": "N", "D": "D"}, select=up_to_four_epochs),
    ZooEntry("chinchilla", "porian_isoflops", "porian_isoflops", {"N": "N", "D": "D"},
             select=porian_tuned_near_optimal),
    ZooEntry("power", "nsl_lang", "nsl_lang", {"x": "D"}, select=nsl_lm_16m),
    ZooEntry("data_constrained", "datablations", "datablations", {"N": "N", "D": "D", "U": "U"}),
    # 3 divergences at 0.95 (r_hat 1.004): the grouped floor's funnel needs the smaller steps of 0.99
    ZooEntry("overtraining", "overtraining", "overtraining", {}, select=gadre_multiplier, hierarchy={"E": "dataset"},
             target_accept_prob=0.99),
)
