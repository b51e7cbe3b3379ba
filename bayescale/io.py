"""Save files: one versioned format for every result class, written atomically.

A bayescale save file is an ArviZ ``InferenceData`` written to netCDF-4 (HDF5) whose
``attrs["bayescale"]`` holds a JSON object of metadata: ``kind`` (the result class,
``"Fit"``, ``"ManyFits"`` or ``"DownstreamFit"``), ``save_format``, the bayescale version, the law, the resolved
priors, and whatever the class needs to rebuild itself. :func:`load` reads any kind back.

Save formats
------------
1. bayescale 0.1: ``Fit`` only; priors stored as ``repr`` text, so a loaded fit falls back
   to the law's default priors.
2. ``kind`` added; priors stored as JSON (:func:`prior_to_json`) and restored on load;
   ``ManyFits`` saves; ``sample_stats`` with ArviZ's NUTS field names. ``DownstreamFit`` saves
   (kind ``"DownstreamFit"``, added within format 2: the fitted rows and the link's priors
   are in the metadata) came later; an older bayescale refuses them by name.

Every earlier format keeps loading (``tests/data`` holds one file of each, and
``tests/test_io.py`` checks that they load and predict as when they were written).
Writes go to a temporary file beside the target, renamed over it only once complete
(:func:`os.replace` is atomic on POSIX and Windows), so a crash or a full disk mid-save
leaves the previous file as it was.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions import transforms as T

from bayescale import _arviz
from bayescale.likelihoods import Beta as _Beta

#: bayescale's own distribution classes that priors may use, saved under these names.
_OWN_DISTRIBUTIONS: dict[str, type] = {"bayescale.likelihoods.Beta": _Beta}

#: Version of the layout of save files; bumped when it changes (load checks it).
SAVE_FORMAT = 2

#: What :func:`load` expects, in the words of its error messages.
EXPECTED = (
    f"a bayescale save file (an ArviZ InferenceData netCDF-4/HDF5 file written by Fit.save, "
    f"ManyFits.save or DownstreamFit.save, save format 1 to {SAVE_FORMAT})"
)

_READERS: dict[str, Callable[[Any, dict], Any]] = {}


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------
def register_reader(kind: str, reader: Callable[[Any, dict], Any]) -> None:
    """Let :func:`load` rebuild results of ``kind`` with ``reader(idata, meta)``."""
    _READERS[kind] = reader


def write(idata, path: str | os.PathLike[str]) -> Path:
    """Write ``idata`` to ``path`` atomically: to a temporary file beside it, then renamed.

    Raises
    ------
    FileNotFoundError
        If the folder of ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a folder.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"path={str(path)!r} is a folder; give a file name, e.g. {str(path / 'fit.nc')!r}")
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot save to {str(path)!r}: the folder {str(folder)!r} does not exist; create it first")
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(handle)
    try:
        _arviz.save(idata, temporary)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return path


def read(path: str | os.PathLike[str], *, kind: str | None = None) -> tuple[Any, dict]:
    """Read a save file: its InferenceData and its bayescale metadata (checked).

    Parameters
    ----------
    path : path-like
    kind : str, optional
        The result class the caller wants (``"Fit"``, ``"ManyFits"``, ``"DownstreamFit"``); None
        accepts any.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is corrupted, foreign, of a newer save format, or of another kind; the
        message names the file and the format expected.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no fit file at {str(path)!r}")
    try:
        idata = _arviz.load(str(path))
    except Exception as error:  # h5py, netCDF and xarray raise many classes for a bad file
        raise ValueError(
            f"{str(path)!r} is not {EXPECTED}: reading it failed ({type(error).__name__}: {error}). "
            "The file may be truncated (an interrupted copy) or of another kind; save the fit again"
        ) from None
    if "bayescale" not in idata.attrs:
        raise ValueError(
            f"{str(path)!r} is an InferenceData file but was not written by bayescale; expected {EXPECTED}. "
            "Read it with arviz.from_netcdf instead"
        )
    try:
        meta = json.loads(idata.attrs["bayescale"])
    except (TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"{str(path)!r} has unreadable bayescale metadata ({error}); expected {EXPECTED}") from None
    found = meta.get("save_format", 0)
    if not isinstance(found, int) or found > SAVE_FORMAT:
        raise ValueError(
            f"{str(path)!r} uses save format {found}, newer than this bayescale (format {SAVE_FORMAT}); "
            "upgrade bayescale to read it"
        )
    found_kind = meta.get("kind", "Fit")
    if kind is not None and found_kind != kind:
        raise ValueError(f"{str(path)!r} holds a {found_kind}, not a {kind}; read it with bayescale.load")
    return idata, meta


def load(path: str | os.PathLike[str]) -> Any:  # a Fit, ManyFits or DownstreamFit, by the file's kind
    """Read a result saved by ``Fit.save``, ``ManyFits.save`` or ``DownstreamFit.save``.

    Parameters
    ----------
    path : path-like
        A file written by any save format of bayescale up to :data:`SAVE_FORMAT`.

    Returns
    -------
    Fit, ManyFits or DownstreamFit
        The result of the kind that was saved, with its priors restored (save format 2 on;
        format 1 files get the law's default priors).

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file was not written by bayescale, is corrupted, or uses a newer save format.
    KeyError
        If the fit's law is not registered (register a custom law with ``bs.law`` first).

    Examples
    --------
    >>> fit.save("fit.nc")          # doctest: +SKIP
    >>> fit = bs.load("fit.nc")     # doctest: +SKIP
    """
    idata, meta = read(path)
    kind = meta.get("kind", "Fit")
    if kind not in _READERS:
        raise ValueError(f"{str(path)!r} holds a {kind!r}, which this bayescale cannot read; expected {EXPECTED}")
    return _READERS[kind](idata, meta)


# --------------------------------------------------------------------------------------------
# Priors as JSON
# --------------------------------------------------------------------------------------------
def priors_to_json(priors: Mapping[str, dist.Distribution]) -> dict[str, dict]:
    """Every prior as JSON (:func:`prior_to_json`), keyed by site name."""
    return {name: prior_to_json(prior, name=name) for name, prior in priors.items()}


def priors_from_json(saved: Mapping[str, dict]) -> dict[str, dist.Distribution]:
    """Inverse of :func:`priors_to_json`."""
    return {name: prior_from_json(spec) for name, spec in saved.items()}


def prior_to_json(prior: dist.Distribution, *, name: str = "prior") -> dict:
    """A numpyro distribution as JSON: its class name and parameters.

    Covers the distributions of ``numpyro.distributions`` whose parameters are numbers or
    arrays (Normal, LogNormal, HalfNormal, Beta, Gamma, StudentT, Uniform, ...) and
    ``TransformedDistribution`` of one of them through affine, exp, sigmoid or composed
    transforms (what :meth:`Fit.as_priors` makes), and distributions wrapping one of them
    (``TruncatedNormal``'s truncated distributions). The result is checked by rebuilding it.

    Raises
    ------
    ValueError
        For a distribution that cannot be rebuilt from JSON (the message names ``name``).
    """
    try:
        spec = _distribution_json(prior)
        same = _same_distribution(prior, prior_from_json(spec))
    except Exception as error:  # any failure means: not serialisable
        reason = str(error)
    else:
        if same:
            return spec
        reason = "rebuilding it from its class name and parameters gives another distribution"
    raise ValueError(
        f"priors[{name!r}] = {type(prior).__name__} cannot be saved: bayescale saves a prior as a "
        f"numpyro distribution class and its numeric parameters, and {reason}. Use a distribution of "
        "numpyro.distributions with numeric parameters (e.g. dist.LogNormal(0.0, 1.0)) to save this fit"
    )


def prior_from_json(spec: Mapping[str, Any]) -> dist.Distribution:
    """Rebuild a distribution written by :func:`prior_to_json`."""
    if spec["class"] == "TransformedDistribution":
        return dist.TransformedDistribution(
            prior_from_json(spec["base"]), [_transform_from_json(t) for t in spec["transforms"]]
        )
    cls = _OWN_DISTRIBUTIONS.get(spec["class"]) or getattr(dist, spec["class"], None)
    if not (isinstance(cls, type) and issubclass(cls, dist.Distribution)):
        raise ValueError(f"{spec['class']!r} is not a numpyro distribution; this save needs another bayescale")
    return cls(**{key: _from_json_value(value) for key, value in spec["params"].items()})


def _distribution_json(prior: dist.Distribution) -> dict:
    cls = type(prior)
    if cls is dist.TransformedDistribution:
        return {
            "class": "TransformedDistribution",
            "base": _distribution_json(prior.base_dist),
            "transforms": [_transform_json(t) for t in prior.transforms],
        }
    own = {known: name for name, known in _OWN_DISTRIBUTIONS.items()}.get(cls)
    if own is None and getattr(dist, cls.__name__, None) is not cls:
        raise ValueError(f"{cls.__module__}.{cls.__name__} is not a class of numpyro.distributions")
    signature = inspect.signature(cls.__init__).parameters
    stored = vars(prior)
    params = {}
    for key in signature:
        if key in ("self", "validate_args") or key not in stored:
            continue
        if isinstance(stored[key], dist.Distribution):  # e.g. the base of a truncated distribution
            params[key] = {"distribution": _distribution_json(stored[key])}
        elif key in cls.arg_constraints:
            params[key] = _json_value(stored[key], key)
        else:
            raise ValueError(f"its argument {key!r} is neither a number, an array nor a distribution")
    return {"class": own or cls.__name__, "params": params}


def _json_value(value, key: str):
    array = np.asarray(value)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"its parameter {key!r} is a {type(value).__name__}, not a number or array")
    return array.item() if array.ndim == 0 else {"array": array.tolist(), "dtype": str(array.dtype)}


def _from_json_value(value):
    if isinstance(value, dict) and "distribution" in value:
        return prior_from_json(value["distribution"])
    if isinstance(value, dict):
        return np.asarray(value["array"], dtype=value["dtype"])
    return value


_CONSTRAINTS = {"real": constraints.real, "positive": constraints.positive, "unit_interval": constraints.unit_interval}


def _constraint_json(constraint) -> dict:
    for key, known in _CONSTRAINTS.items():
        if constraint is known:
            return {"constraint": key}
    if type(constraint) is type(constraints.interval(0.0, 1.0)):
        return {"constraint": "interval", "lower": float(constraint.lower_bound), "upper": float(constraint.upper_bound)}
    if type(constraint) is type(constraints.greater_than(0.0)):
        return {"constraint": "greater_than", "lower": float(constraint.lower_bound)}
    raise ValueError(f"its transform has the domain {constraint}, which bayescale cannot save")


def _constraint_from_json(spec: Mapping[str, Any]):
    key = spec["constraint"]
    if key in _CONSTRAINTS:
        return _CONSTRAINTS[key]
    if key == "interval":
        return constraints.interval(spec["lower"], spec["upper"])
    return constraints.greater_than(spec["lower"])


def _transform_json(transform) -> dict:
    if type(transform) in (T.ExpTransform, T.SigmoidTransform):
        return {"transform": type(transform).__name__, "domain": _constraint_json(transform.domain)}
    if type(transform) is T.AffineTransform:
        return {
            "transform": "AffineTransform",
            "loc": _json_value(transform.loc, "loc"),
            "scale": _json_value(transform.scale, "scale"),
            "domain": _constraint_json(transform.domain),
        }
    if type(transform) is T.ComposeTransform:
        return {"transform": "ComposeTransform", "parts": [_transform_json(p) for p in transform.parts]}
    raise ValueError(f"it uses the transform {type(transform).__name__} (saved are Affine, Exp, Sigmoid, Compose)")


def _transform_from_json(spec: Mapping[str, Any]):
    kind = spec["transform"]
    if kind == "ComposeTransform":
        return T.ComposeTransform([_transform_from_json(p) for p in spec["parts"]])
    if kind == "AffineTransform":
        return T.AffineTransform(
            _from_json_value(spec["loc"]), _from_json_value(spec["scale"]), domain=_constraint_from_json(spec["domain"])
        )
    if kind == "ExpTransform":
        return T.ExpTransform(domain=_constraint_from_json(spec["domain"]))
    return T.SigmoidTransform()


def _same_distribution(a: dist.Distribution, b: dist.Distribution) -> bool:
    leaves_a, tree_a = jax.tree_util.tree_flatten(a)
    leaves_b, tree_b = jax.tree_util.tree_flatten(b)
    if str(tree_a) != str(tree_b) or len(leaves_a) != len(leaves_b):
        return False
    return all(
        np.shape(x) == np.shape(y) and np.allclose(np.asarray(x, np.float64), np.asarray(y, np.float64), rtol=1e-6)
        for x, y in zip(leaves_a, leaves_b, strict=True)
    )
