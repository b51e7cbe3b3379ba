"""The reference-posterior zoo: fitted posteriors of built-in laws on public datasets.

Each entry is one small JSON file ``models/<law>/<key>.json`` holding a few hundred
thinned posterior draws of the law's population parameters (and of the group-level
values and noise parameters), a summary, and metadata: law, dataset and its pinned
commit, the rows used, bayescale version, sampler settings and convergence diagnostics.
The files are committed, so loading the zoo never needs the public data; rebuilding it
does (``bayescale zoo rebuild`` or :func:`rebuild`).

An entry is an informative prior for a new fit ("priors shared across model families and
datasets", DESIGN.md):

>>> import bayescale as bs
>>> bs.zoo.list()[["name", "rows"]]                                        # doctest: +SKIP
>>> prior = bs.zoo.load("chinchilla/chinchilla")
>>> fit = bs.fit(df, law="chinchilla", priors=prior)                       # doctest: +SKIP
>>> fit = bs.fit(df, law="chinchilla", priors=prior.as_priors(params=["alpha", "beta"]))  # doctest: +SKIP

Each parameter's prior is a normal distribution in its unconstrained space (log for
positive parameters) matched to the entry's draws; see :func:`bayescale.priors.posterior_as_prior`.
Which entries exist is declared in :data:`bayescale.zoo_entries.ENTRIES`; add a row there (law, dataset, column
mapping, row selection, grouping) and run :func:`rebuild` to add one.

References
----------
Hoffmann, J. et al. (2022). Training Compute-Optimal Large Language Models. arXiv:2203.15556.
Besiroglu, T. et al. (2024). Chinchilla Scaling: A replication attempt. arXiv:2404.10102.
Gadre, S. Y. et al. (2024). Language models scale reliably with over-training and on downstream tasks.
arXiv:2403.08540.
Muennighoff, N. et al. (2023). Scaling Data-Constrained Language Models. arXiv:2305.16264.
Porian, T. et al. (2024). Resolving Discrepancies in Compute-Optimal Scaling of Language Models.
arXiv:2406.19146.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale._runtime import MODELS_ENV_VAR, models_dir
from bayescale._version import __version__
from bayescale.zoo_entries import ENTRIES, SAMPLER_SETTINGS, ZooEntry

__all__ = ["ENTRIES", "ZOO_FORMAT", "ZooEntry", "ZooPosterior", "list", "load", "rebuild", "zoo_dir"]

logger = logging.getLogger("bayescale")

#: Version of the zoo file layout; :func:`load` refuses files written by a newer one.
ZOO_FORMAT = 1

#: Environment variable naming another zoo folder (e.g. one rebuilt elsewhere).
ENV_VAR = MODELS_ENV_VAR

#: Posterior draws kept per entry (thinned evenly from all chains).
KEPT_DRAWS = 400

def _entries_by_name() -> dict[str, ZooEntry]:
    return {entry.name: entry for entry in ENTRIES}


def zoo_dir() -> Path:
    """The folder holding the zoo: ``$BAYESCALE_ZOO_DIR``, else the packaged copy, else ``models/``."""
    return models_dir()


# --- loading ---------------------------------------------------------------------------------
class ZooPosterior:
    """A reference posterior from the zoo: thinned draws, summary and metadata.

    Made by :func:`load`. Pass it as ``priors=`` to :func:`bayescale.fit`, or call
    :meth:`as_priors` to pick parameters.

    Attributes
    ----------
    name : str
        ``"<law>/<key>"``.
    metadata : dict
        Law, dataset (name, pinned commit, citation), selection, columns, grouping, rows,
        bayescale version, sampler settings and diagnostics.
    draws : DataFrame
        One column per population parameter (and noise parameter), one row per kept draw.
    group_draws : dict of str to DataFrame
        ``"<param>_<column>"`` to draws of each level's value (columns are the levels).
    """

    def __init__(self, name: str, record: Mapping[str, Any]) -> None:
        self.name = name
        self.metadata: dict[str, Any] = {k: v for k, v in record.items() if k not in ("draws", "group_draws")}
        self.draws = pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in record["draws"].items()})
        self.group_draws = {
            site: pd.DataFrame({level: np.asarray(v, dtype=float) for level, v in levels.items()})
            for site, levels in record.get("group_draws", {}).items()
        }

    @property
    def law_name(self) -> str:
        """Name of the fitted law."""
        return self.metadata["law"]

    @property
    def law(self):
        """The fitted :class:`~bayescale.laws.Law` (from the registry)."""
        from bayescale.laws import get

        return get(self.law_name)

    @property
    def dataset(self) -> str:
        """Name of the dataset in :mod:`bayescale.datasets`."""
        return self.metadata["dataset"]

    @property
    def param_names(self) -> builtins.list[str]:
        """Parameters with draws (law parameters first, then noise parameters)."""
        return builtins.list(self.draws.columns)

    def summary(self, level: float = 0.9) -> pd.DataFrame:
        """Mean, sd, median and central ``level`` interval of each parameter's draws.

        Parameters
        ----------
        level : float
            Mass of the central interval.

        Returns
        -------
        DataFrame
            One row per parameter: ``mean``, ``sd``, ``median`` and the interval's quantiles in
            columns named after them (``q5`` and ``q95`` for ``level=0.9``).

        Raises
        ------
        ValueError
            For ``level`` outside (0, 1).
        """
        if not 0 < level < 1:
            raise ValueError(f"level={level!r} must lie in (0, 1), e.g. 0.9")
        tail = (1 - level) / 2
        values = self.draws
        return pd.DataFrame(
            {
                "mean": values.mean(),
                "sd": values.std(ddof=1),
                "median": values.median(),
                f"q{tail * 100:g}": values.quantile(tail),
                f"q{(1 - tail) * 100:g}": values.quantile(1 - tail),
            }
        )

    def as_priors(self, law=None, *, params: Sequence[str] | None = None) -> dict:
        """These draws as priors for a new fit of ``law`` (default: the entry's own law).

        Parameters
        ----------
        law : Law or str, optional
            The law of the new fit; parameters are matched by name.
        params : sequence of str, optional
            Only these parameters get informative priors (e.g. ``["alpha", "beta"]`` to share the
            exponents but not the corpus-specific floor ``E``); the rest keep their defaults.

        Returns
        -------
        dict of str to numpyro Distribution
            Independent priors, normal in each parameter's unconstrained space. Parameters whose
            default prior is stated at the data centre keep their defaults.

        Raises
        ------
        ValueError
            If ``params`` names a parameter without draws, or the law shares no parameter with the entry.
        """
        from bayescale.laws import get
        from bayescale.priors import posterior_as_prior

        target = get(law if law is not None else self.law_name)
        names = builtins.list(params) if params is not None else builtins.list(self.draws.columns)
        unknown = [p for p in names if p not in self.draws.columns]
        if unknown:
            raise ValueError(
                f"params={names!r}: {unknown} have no draws in zoo entry {self.name!r}; "
                f"it has {builtins.list(self.draws.columns)}"
            )
        shared = [p for p in names if p in target.param_names]
        if not shared:
            raise ValueError(
                f"zoo entry {self.name!r} (law {self.law_name!r}) shares no parameter with law {target.name!r} "
                f"({builtins.list(target.param_names)}); pick an entry of a law with these parameters"
            )
        return posterior_as_prior({p: self.draws[p].to_numpy() for p in shared}, target)

    def __repr__(self) -> str:
        d = self.metadata.get("diagnostics", {})
        return (
            f"<bayescale.zoo {self.name!r}: law {self.law_name}, {self.metadata.get('rows')} rows of "
            f"{self.dataset}, {len(self.draws)} draws, max r_hat {d.get('max_rhat', float('nan')):.3f}, "
            f"bayescale {self.metadata.get('bayescale_version')}>"
        )

    def _repr_html_(self) -> str:
        from html import escape

        selection = escape(str(self.metadata.get("selection", "")))
        return f"<div><b>{escape(self.name)}</b>: {selection}{self.summary().round(4).to_html()}</div>"


def _path_of(name: str, root: Path) -> Path:
    law, _, key = name.partition("/")
    return root / law / f"{key}.json"


def _stored_names(root: Path) -> builtins.list[str]:
    if not root.is_dir():
        return []
    return sorted(f"{p.parent.name}/{p.stem}" for p in root.glob("*/*.json"))


def load(name: str, *, zoo: str | os.PathLike[str] | None = None) -> ZooPosterior:
    """Load the zoo entry ``name`` (``"<law>/<dataset>"``, see :func:`list`).

    Parameters
    ----------
    name : str
        Entry name, e.g. ``"chinchilla/chinchilla"``.
    zoo : path, optional
        Zoo folder; default :func:`zoo_dir`.

    Raises
    ------
    KeyError
        If there is no such entry (the message lists the entries there are).
    ValueError
        If the file was written by a newer zoo format.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string like 'chinchilla/chinchilla', got {type(name).__name__}")
    root = Path(zoo) if zoo is not None else zoo_dir()
    path = _path_of(name, root)
    if "/" not in name or not path.is_file():
        raise KeyError(
            f"no zoo entry {name!r} in {str(root)!r}; entries: {_stored_names(root)}. "
            "Rebuild declared entries with `bayescale zoo rebuild` (needs the public data)"
        )
    record = json.loads(path.read_text())
    if record.get("zoo_format", 0) > ZOO_FORMAT:
        raise ValueError(
            f"{str(path)!r} uses zoo format {record['zoo_format']}, newer than this bayescale's "
            f"({ZOO_FORMAT}); upgrade bayescale"
        )
    return ZooPosterior(name, record)


def list(*, zoo: str | os.PathLike[str] | None = None) -> pd.DataFrame:  # noqa: A001 - mirrors bs.laws.list()
    """The entries in the zoo: name, law, dataset, rows, draws, selection, version, diagnostics.

    Parameters
    ----------
    zoo : path, optional
        Zoo folder; default :func:`zoo_dir`.

    Returns
    -------
    DataFrame
        One row per entry file, sorted by name: ``name``, ``law``, ``dataset``, ``rows``,
        ``draws`` (kept), ``selection``, ``bayescale_version``, ``max_rhat``, ``min_ess_bulk``,
        ``divergences``; no rows when the folder is missing or empty.
    """
    root = Path(zoo) if zoo is not None else zoo_dir()
    rows = []
    for name in _stored_names(root):
        meta = json.loads(_path_of(name, root).read_text())
        d = meta.get("diagnostics", {})
        rows.append(
            {
                "name": name,
                "law": meta["law"],
                "dataset": meta["dataset"],
                "rows": meta["rows"],
                "draws": meta["kept_draws"],
                "selection": meta["selection"],
                "bayescale_version": meta["bayescale_version"],
                "max_rhat": d.get("max_rhat"),
                "min_ess_bulk": d.get("min_ess_bulk"),
                "divergences": d.get("divergences"),
            }
        )
    columns = ["name", "law", "dataset", "rows", "draws", "selection", "bayescale_version",
               "max_rhat", "min_ess_bulk", "divergences"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


# --- rebuilding ------------------------------------------------------------------------------
def _round(values: np.ndarray, digits: int = 6) -> builtins.list[float]:
    return [float(f"{v:.{digits}g}") for v in np.asarray(values, dtype=float).ravel()]


def _thin(values: np.ndarray, kept: int) -> np.ndarray:
    index = np.linspace(0, values.shape[0] - 1, min(kept, values.shape[0])).round().astype(int)
    return values[index]


def build_record(entry: ZooEntry, fit, data: pd.DataFrame, *, kept: int = KEPT_DRAWS) -> dict[str, Any]:
    """The JSON record of a zoo entry from its fit (thinned draws, summary, metadata)."""
    draws = {name: _round(_thin(fit.draws(name), kept)) for name in fit.param_names}
    group_draws: dict[str, dict[str, builtins.list[float]]] = {}
    for name, columns in fit.spec.groups_of.items():
        for column in columns:
            values = _thin(fit.draws(f"{name}_{column}"), kept)
            group_draws[f"{name}_{column}"] = {
                level: _round(values[:, i]) for i, level in enumerate(fit.levels[column])
            }
    summary = fit.summary(level=0.9)
    d = fit.diagnostics
    return {
        "zoo_format": ZOO_FORMAT,
        "name": entry.name,
        "law": entry.law,
        "formula": fit.law.formula,
        "dataset": entry.dataset,
        "dataset_commit": data.attrs.get("commit"),
        "dataset_citation": data.attrs.get("citation"),
        "selection": entry.selection,
        "rows": int(len(data)),
        "y": entry.y,
        "columns": dict(fit.columns),
        "hierarchy": dict(entry.hierarchy or {}),
        "likelihood": entry.likelihood,
        "centres": fit.meta["centres"],
        "bayescale_version": __version__,
        "sampler": {**SAMPLER_SETTINGS, "target_accept_prob": fit.meta["settings"]["target_accept_prob"],
                    "sampler": "NUTS (numpyro)", "dense_mass": True},
        "kept_draws": len(next(iter(draws.values()))),
        "diagnostics": {
            "max_rhat": round(float(d["max_rhat"]), 4),
            "min_ess_bulk": round(float(d["min_ess_bulk"]), 1),
            "divergences": int(d["divergences"]),
        },
        "summary": {
            name: {col: round(float(summary.loc[name, col]), 6) for col in summary.columns}
            for name in summary.index
        },
        "draws": draws,
        "group_draws": group_draws,
    }


def rebuild(
    out_dir: str | os.PathLike[str] | None = None,
    names: Sequence[str] | None = None,
    *,
    progress: bool = False,
) -> builtins.list[Path]:
    """Refit the declared zoo entries on the public data and write their files.

    Parameters
    ----------
    out_dir : path, optional
        Folder to write ``<law>/<key>.json`` into; default :func:`zoo_dir` (``models/``).
    names : sequence of str, optional
        Entries to rebuild (``"<law>/<key>"``); default every entry in :data:`ENTRIES` whose law
        is registered.
    progress : bool
        Show the sampler's progress bars and log each entry.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    ValueError
        For a name that is not a declared entry (the message lists them).
    bayescale.datasets.DataUnavailableError
        When the public data are neither cached nor downloadable (set ``BAYESCALE_DATA_DIR``).
    """
    from bayescale.datasets import load as load_dataset
    from bayescale.inference import fit as fit_law
    from bayescale.laws import list as list_laws

    declared = _entries_by_name()
    if isinstance(names, str):
        names = [names]
    if names is None:
        registered = set(list_laws()["name"])
        chosen = [entry for entry in ENTRIES if entry.law in registered]
    else:
        unknown = [n for n in names if n not in declared]
        if unknown:
            raise ValueError(f"names={builtins.list(names)!r}: {unknown} are not declared zoo entries; "
                             f"declared: {sorted(declared)}")
        chosen = [declared[n] for n in names]
    root = Path(out_dir) if out_dir is not None else zoo_dir()
    written = []
    for entry in chosen:
        data = load_dataset(entry.dataset)
        rows = entry.select(data) if entry.select is not None else data
        rows = rows.reset_index(drop=True)
        rows.attrs = dict(data.attrs)
        if progress:
            logger.info("zoo: fitting %s on %d rows", entry.name, len(rows))
        fit = fit_law(
            rows,
            law=entry.law,
            y=entry.y,
            inputs=dict(entry.inputs),
            hierarchy=dict(entry.hierarchy) if entry.hierarchy else None,
            likelihood=entry.likelihood,
            progress=progress,
            target_accept_prob=entry.target_accept_prob,  # None: the law's own
            **SAMPLER_SETTINGS,
        )
        record = build_record(entry, fit, rows)
        path = _path_of(entry.name, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
            json.dump(record, handle, indent=1)
            handle.write("\n")
        os.chmod(handle.name, 0o644)
        os.replace(handle.name, path)
        written.append(path)
        if progress:
            logger.info("zoo: wrote %s (max r_hat %.3f)", path, record["diagnostics"]["max_rhat"])
    return written
