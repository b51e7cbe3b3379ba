"""Public scaling-law measurements as tidy DataFrames.

Every dataset is pinned: its files are read from a GitHub repository at a fixed
commit, and the sha256 of every file is checked before a value is parsed. Files
live in a local cache with the layout ``<owner>__<repo>/<path-in-repository>``;
a missing file is downloaded from its pinned URL into the cache by `pooch
<https://www.fatiando.org/pooch>`_ (hash-checked, written atomically, retried, with a
progress bar at a terminal). A cached file whose hash is wrong is refused, never
silently replaced.

The cache directory is, in order: the ``data_dir`` argument, the environment
variable ``BAYESCALE_DATA_DIR``, the platform's user cache directory for
``bayescale`` (``platformdirs``: ``$XDG_CACHE_HOME/bayescale`` or
``~/.cache/bayescale`` on Linux).

Canonical columns, where a dataset has them: ``N`` (parameters), ``D`` (tokens
or samples seen), ``C`` (FLOPs), ``chinchilla_multiplier`` (tokens per parameter
relative to Chinchilla's 20, ``D / (20 N)``), ``loss``, a metric (``accuracy``, ``error``, ``miou``),
``family``, ``dataset``, ``task``. Dataset-specific columns follow them.

Examples
--------
>>> from bayescale import datasets
>>> datasets.list()[["name", "rows"]].head(3)  # doctest: +SKIP
>>> df = datasets.load("chinchilla")  # doctest: +SKIP
>>> df.attrs["citation"]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import pandas as pd
import pooch

from bayescale.dataset_registry import ENTRIES, GITHUB_RAW, Dataset

__all__ = [
    "ENV_VAR",
    "GITHUB_RAW",
    "ChecksumError",
    "DataUnavailableError",
    "Dataset",
    "REGISTRY",
    "cache_dir",
    "fetch",
    "get",
    "list",
    "load",
]

logger = logging.getLogger(__name__)

ENV_VAR = "BAYESCALE_DATA_DIR"



class ChecksumError(ValueError):
    """A cached or downloaded file does not have the pinned sha256."""


class DataUnavailableError(FileNotFoundError):
    """A dataset file is not in the cache and could not be downloaded."""


# --------------------------------------------------------------------------- cache


def cache_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Directory holding the downloaded files.

    Parameters
    ----------
    data_dir : path-like, optional
        Explicit directory; wins over everything else.

    Returns
    -------
    pathlib.Path
        ``data_dir``, else ``$BAYESCALE_DATA_DIR``, else the platform's user cache directory
        for ``bayescale`` (``platformdirs``; on Linux ``$XDG_CACHE_HOME/bayescale`` or
        ``~/.cache/bayescale``). The directory need not exist yet.

    Examples
    --------
    >>> from bayescale import datasets
    >>> datasets.cache_dir("/tmp/scaling-data")
    PosixPath('/tmp/scaling-data')
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    from bayescale._runtime import user_cache_dir

    return user_cache_dir()


#: Download attempts after the first that fail (pooch's ``retry_if_failed``; it waits 1 s, 2 s, ...).
RETRIES = 2


def _download(url: str, dest: Path) -> None:
    """Write the bytes at ``url`` to ``dest`` (pooch's HTTP downloader, with a progress bar at a
    terminal; ``file://`` URLs of a local mirror are copied). Replaced by tests to stay offline."""
    if url.startswith("file:"):
        shutil.copyfile(urllib.request.url2pathname(urllib.parse.urlparse(url).path), dest)
        return
    pooch.HTTPDownloader(progressbar=sys.stderr.isatty(), timeout=60)(url, str(dest), None)


def _sha256(path: Path) -> str:
    return pooch.file_hash(str(path), alg="sha256")


# (resolved path, size, mtime_ns) -> sha256, so repeated loads hash each file once.
_HASHED: dict[tuple[str, int, int], str] = {}


def _verified_sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHED:
        _HASHED[key] = _sha256(path)
    return _HASHED[key]


def _checksum_error(what: str, expected: str, actual: str, fix: str) -> ChecksumError:
    return ChecksumError(f"sha256 mismatch for {what}: expected {expected}, got {actual}. {fix}")


def _ensure_file(entry: Dataset, path: str, root: Path, *, download: bool) -> Path:
    """Return the local copy of ``path``, downloading and verifying it if needed."""
    expected = entry.files[path]
    local = root / entry.folder / path
    if local.is_file():
        actual = _verified_sha256(local)
        if actual != expected:
            raise _checksum_error(
                f"cached file {local}",
                expected,
                actual,
                "The file is corrupt, truncated or from another commit; delete it and call "
                "load() again to download the pinned version.",
            )
        return local
    url = entry.url(path)
    hint = (
        f"Download it by hand to {local}, or set the environment variable {ENV_VAR} "
        f"to a directory holding {entry.folder}/{path}."
    )
    if not download:
        raise DataUnavailableError(
            f"dataset {entry.name!r}: file {path} is not in the cache {root} and "
            f"download=False. {hint} Its pinned URL is {url}"
        )
    fetcher = pooch.create(
        path=root / entry.folder,
        base_url=f"{entry.base_url}/{entry.repo}/{entry.commit}/",
        registry={path: f"sha256:{expected}"},
        retry_if_failed=RETRIES,
    )
    logger.info("downloading %s -> %s", url, local)
    try:  # pooch downloads to a temporary file beside ``local``, checks its hash, then renames it
        fetcher.fetch(path, downloader=lambda url_, output, _: _download(url_, Path(output)))
    except ValueError as exc:  # the hash of the download is not the pinned one (pooch deleted it)
        raise ChecksumError(
            f"sha256 mismatch for file {path} downloaded from {url}: {exc} The download was discarded; "
            "retry, or check that the URL serves the pinned commit."
        ) from exc
    except OSError as exc:  # URLError, requests' connection errors, timeouts and socket errors
        raise DataUnavailableError(
            f"dataset {entry.name!r}: file {path} is not in the cache {root} and "
            f"downloading {url} failed ({exc}). {hint}"
        ) from exc
    return local




_REGISTRY: dict[str, Dataset] = {entry.name: entry for entry in ENTRIES}
REGISTRY: Mapping[str, Dataset] = MappingProxyType(_REGISTRY)


# ----------------------------------------------------------------------- public API


def get(name: str) -> Dataset:
    """The registry entry of a dataset.

    Parameters
    ----------
    name : str
        A name from :func:`list`.

    Returns
    -------
    Dataset
        Its pinned repository, commit, per-file sha256, citation and licence.

    Raises
    ------
    ValueError
        If ``name`` is not registered; the message lists the valid names.

    Examples
    --------
    >>> from bayescale import datasets
    >>> datasets.get("chinchilla").licence
    'none stated'
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(_REGISTRY))
        raise ValueError(
            f"name={name!r} is not a bayescale dataset; use one of: {valid} "
            "(see bayescale.datasets.list())."
        ) from None


def list() -> pd.DataFrame:  # noqa: A001 - public name required by the API
    """The registered datasets.

    Returns
    -------
    pandas.DataFrame
        One row per dataset with columns ``name``, ``description``, ``rows`` (rows
        :func:`load` returns), ``citation``, ``licence`` and ``source`` (the upstream
        repository at its pinned commit).

    Examples
    --------
    >>> from bayescale import datasets
    >>> "chinchilla" in set(datasets.list()["name"])
    True

    References
    ----------
    Each row's ``citation`` names the paper that produced the data.
    """
    return pd.DataFrame(
        [
            {
                "name": e.name,
                "description": e.description,
                "rows": e.rows,
                "citation": e.citation,
                "licence": e.licence,
                "source": f"https://github.com/{e.repo}/tree/{e.commit}",
            }
            for e in _REGISTRY.values()
        ]
    )


def fetch(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> dict[str, Path]:
    """Make sure every file of a dataset is in the cache and has its pinned sha256.

    Parameters
    ----------
    name : str
        A name from :func:`list`.
    data_dir : path-like, optional
        Cache directory; default :func:`cache_dir`.
    download : bool, default True
        Download missing files from their pinned URLs. With ``False`` a missing
        file raises :class:`DataUnavailableError`.

    Returns
    -------
    dict of str to pathlib.Path
        Path inside the upstream repository -> local file.

    Raises
    ------
    ValueError
        Unknown ``name``.
    ChecksumError
        A cached or downloaded file does not match its pinned sha256.
    DataUnavailableError
        A file is missing and could not be downloaded (offline); a
        ``FileNotFoundError``.

    Examples
    --------
    >>> from bayescale import datasets
    >>> paths = datasets.fetch("datablations")  # doctest: +SKIP
    """
    entry = get(name)
    root = cache_dir(data_dir)
    return {p: _ensure_file(entry, p, root, download=download) for p in sorted(entry.files)}


def load(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> pd.DataFrame:
    """Load a public scaling dataset as a tidy DataFrame.

    Files are read from the cache (see :func:`cache_dir`), downloaded from the pinned
    URL when missing, and checked against their pinned sha256 before parsing.

    Parameters
    ----------
    name : str
        One of the names in :func:`list`:

        - ``"chinchilla"``: N, D (= C / 6N), C, loss, family, dataset; 245 rows.
        - ``"overtraining"``: one row per run (104): run, N, D, C (= 6ND),
          chinchilla_multiplier (D / (20 N)), loss (C4 eval loss, Gadre et al.'s target) with
          ``loss_lower``/``loss_upper`` (token-level 95% bounds), family ("open_lm"),
          dataset (C4, RedPajama, RefinedWeb), model (architecture), N_no_embed, lr,
          warmup, weight_decay, batch_size and seven more validation losses
          ``loss_openlm``, ``loss_paloma_c4_en``, ``loss_paloma_code``,
          ``loss_paloma_refinedweb``, ``loss_paloma_ptb``, ``loss_paloma_redpajama``,
          ``loss_de_en``.
        - ``"overtraining_downstream"``: long table, one row per run x task (104 x 46):
          the run's N, D, C, chinchilla_multiplier, loss (C4 eval), accuracy, error = 1 - accuracy, chance
          (random-guess accuracy as a fraction), family, dataset, task, run, model,
          task_category, task_type, shots, n_examples.
        - ``"datablations"``: N, D, C, loss (final C4 validation), family, dataset, U
          (unique tokens), epochs (D/U), run, run_normalized, seed_tag; 296 rows.
        - ``"obs_scaling"``: one row per (model, task) score: N, D, C (NaN where the
          model's data size is unpublished), accuracy (the benchmark's score in [0, 1]),
          family, task, model; 1144 rows.
        - ``"nsl_lang"`` / ``"nsl_vision"``: N (parsed from the model name where it is
          a parameter count, as for the LM and BIG-bench curves; NaN for NMT; absent
          from ``nsl_vision``), D
          (examples seen), loss (the benchmark's ``Loss``: log-perplexity or
          validation loss for NMT and LM, an error-like score in [0, 1] for the
          BIG-bench and few-shot image-classification tasks), task, domain, model,
          train (the benchmark's ``Training`` flag; True: fit, False: extrapolate);
          1399 / 18883 rows. As upstream, every LM row of ``nsl_lang`` appears four
          times (687 exact duplicate rows); ``df.drop_duplicates()`` removes them.
        - ``"openclip"``: N, D (samples seen), C (2 x total GMACs x 1e9, forward
          FLOPs), accuracy (top-1; NaN for retrieval and mAP tasks), family
          ("openclip"/"openai"), dataset (upstream), task (downstream dataset), model,
          task_type and the other metrics; 1312 rows.
        - ``"clip_mammut_segmentation"``: N, D, C (total forward GFLOPs x 1e9), miou,
          family (clip/mammut), dataset, task, model and training settings; 1431 rows.
        - ``"porian_isoflops"``: N, D, C (the isoFLOP budget, = 6ND), loss, dataset,
          experiment, param_count, hparams, warmup, decay, loss_split; 1745 rows.
        - ``"loss_to_loss"``: N, D, C (the isoFLOP budget), loss (C4 validation),
          dataset (the pretraining set), split ("sweep": the isoFLOP runs;
          "extrapolation": one 3.3B, 1e21-FLOP run per set), n_layers, d_model; 535 rows.
        - ``"openeurollm"``: N, D, C (= 6ND), loss (validation loss after the
          learning-rate anneal), N_approx (the nominal size), lr, batch_size (global
          batch, sequences), beta2, seed, loss_se (as upstream; non-zero in 23 rows);
          909 rows.
    data_dir : path-like, optional
        Cache directory; default :func:`cache_dir`.
    download : bool, default True
        Download missing files. With ``False`` a missing file raises
        :class:`DataUnavailableError`.

    Returns
    -------
    pandas.DataFrame
        Canonical columns first (``N``, ``D``, ``C``, ``chinchilla_multiplier``, ``loss``, ``accuracy``,
        ``error``, ``miou``, ``family``, ``dataset``, ``task`` where they apply), then
        dataset-specific ones. ``df.attrs`` holds ``name``, ``description``,
        ``citation``, ``licence``, ``repo``, ``commit`` and ``source`` (pinned URLs).

    Raises
    ------
    ValueError
        Unknown ``name``; the message lists the valid names.
    ChecksumError
        A file does not match its pinned sha256 (the message names the file and both
        hashes).
    DataUnavailableError
        A file is missing and could not be downloaded; the message names the file,
        its URL and the ``BAYESCALE_DATA_DIR`` variable.

    Examples
    --------
    >>> from bayescale import datasets
    >>> df = datasets.load("chinchilla")  # doctest: +SKIP
    >>> df[["N", "D", "loss"]].shape  # doctest: +SKIP
    (245, 3)

    References
    ----------
    See ``df.attrs["citation"]``; :func:`list` gives every dataset's citation.
    """
    entry = get(name)
    paths = fetch(name, data_dir=data_dir, download=download)
    df = entry.loader(paths)
    df.attrs.update(
        {
            "name": entry.name,
            "description": entry.description,
            "citation": entry.citation,
            "licence": entry.licence,
            "repo": entry.repo,
            "commit": entry.commit,
            "source": [*entry.source],
        }
    )
    return df
