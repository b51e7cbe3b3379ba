"""The one module that calls ArviZ.

bayescale stores fits as ``arviz.InferenceData`` (the arviz 0.2x line that Python 3.11
resolves to). Every arviz call goes through the functions here, so a move to arviz 1.x
(DataTree) changes this file only.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import arviz as az


@functools.cache
def _az() -> Any:
    """arviz, imported when first needed: it (and the xarray and plotting modules it loads) is
    about half of ``import bayescale``, which commands that never build or read a fit skip."""
    with warnings.catch_warnings():
        # arviz 0.2x announces its 1.x refactor on import; that is not the user's concern.
        warnings.simplefilter("ignore", FutureWarning)
        import arviz

    return arviz


class LOOWarning(UserWarning):
    """A model comparison estimate (PSIS-LOO or WAIC) may be unreliable for some runs."""


def to_inference_data(
    posterior: Mapping[str, np.ndarray],
    *,
    log_likelihood: np.ndarray,
    posterior_predictive: np.ndarray,
    observed: np.ndarray,
    constant_data: Mapping[str, np.ndarray],
    sample_stats: Mapping[str, np.ndarray],
    coords: Mapping[str, Sequence],
    dims: Mapping[str, Sequence[str]],
    attrs: Mapping[str, str],
    observed_column: str | None = None,
) -> az.InferenceData:
    """Build the InferenceData of a fit; arrays in ``posterior`` are ``(chain, draw, ...)``.

    The observed variable is named after ``observed_column`` (the user's target column, e.g.
    ``loss``) in ``observed_data``, ``log_likelihood`` and ``posterior_predictive``, so that
    ``az.loo``, ``az.plot_ppc`` and ``az.plot_loo_pit`` find it and label it as the user does. It is
    ``y`` when no column is given or when the column's name is taken by a parameter, a constant,
    a coordinate or a dimension; the column is also kept in the variable's ``column`` attribute.
    """
    taken = {*posterior, *constant_data, *coords, *(d for ds in dims.values() for d in ds), "obs", "chain", "draw"}
    name = observed_column if observed_column and observed_column not in taken else "y"
    idata = _az().from_dict(
        posterior=dict(posterior),
        log_likelihood={name: log_likelihood},
        posterior_predictive={name: posterior_predictive},
        observed_data={name: observed},
        constant_data=dict(constant_data),
        sample_stats=dict(sample_stats),
        coords={**coords, "obs": np.arange(observed.shape[0])},
        dims={**dims, name: ["obs"], **{c: ["obs"] for c in constant_data}},
        attrs=dict(attrs),
    )
    if observed_column is not None:
        for group in (idata.observed_data, idata.posterior_predictive, idata.log_likelihood):
            group[name].attrs["column"] = observed_column
    return idata


def observed_name(idata: az.InferenceData) -> str:
    """The name of the observed variable: the target column in fits from this version, ``y`` in older files."""
    (name,) = idata["observed_data"].data_vars
    return str(name)


def observed(idata: az.InferenceData) -> np.ndarray:
    """The observed values, one per fitted run."""
    return np.asarray(idata["observed_data"][observed_name(idata)].values)


def add_prior(
    idata: az.InferenceData,
    prior: Mapping[str, np.ndarray],
    prior_predictive: np.ndarray,
    *,
    dims: Mapping[str, Sequence[str]],
) -> az.InferenceData:
    """Add (or replace) the ``prior`` and ``prior_predictive`` groups; arrays are ``(draw, ...)``
    (one chain). The observed variable has its name in the other groups (:func:`observed_name`)."""
    for group in ("prior", "prior_predictive"):
        if group in idata.groups():
            del idata[group]
    posterior = idata["posterior"]
    name = observed_name(idata)
    coords = {name: posterior.coords[name].values for d in dims.values() for name in d if name in posterior.coords}
    idata.add_groups(
        {"prior": {name: value[None] for name, value in prior.items()},
         "prior_predictive": {name: prior_predictive[None]}},  # fmt: skip
        coords={**coords, "obs": np.arange(prior_predictive.shape[-1])},
        dims={**{site: list(d) for site, d in dims.items()}, name: ["obs"]},
    )
    idata["prior_predictive"][name].attrs.update(idata["observed_data"][name].attrs)
    return idata


def from_arrays(
    *,
    posterior: Mapping[str, np.ndarray],
    sample_stats: Mapping[str, np.ndarray],
    constant_data: Mapping[str, np.ndarray],
    dims: Mapping[str, Sequence[str]],
    attrs: Mapping[str, str],
) -> az.InferenceData:
    """A plain InferenceData of draws ``(chain, draw, ...)``, statistics and constant arrays."""
    return _az().from_dict(
        posterior=dict(posterior),
        sample_stats=dict(sample_stats),
        constant_data=dict(constant_data),
        dims={name: list(d) for name, d in dims.items()},
        attrs=dict(attrs),
    )


def summary(idata: az.InferenceData, var_names: Sequence[str], hdi_prob: float = 0.9) -> pd.DataFrame:
    """Posterior summary: mean, sd, HDI bounds, MCSE, bulk/tail ESS and r_hat."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _az().summary(idata, var_names=list(var_names), hdi_prob=hdi_prob)


def chains_and_draws(idata: az.InferenceData) -> tuple[int, int]:
    """The posterior's number of chains and of draws per chain."""
    sizes = idata["posterior"].sizes
    return int(sizes["chain"]), int(sizes["draw"])


def rhat_and_ess(idata: az.InferenceData, var_names: Sequence[str]) -> tuple[float, float]:
    """Largest r_hat and smallest bulk ESS over ``var_names``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rhat = _az().rhat(idata, var_names=list(var_names))
        ess = _az().ess(idata, var_names=list(var_names), method="bulk")
    max_rhat = max(float(np.nanmax(rhat[v].values)) for v in rhat.data_vars)
    min_ess = min(float(np.nanmin(ess[v].values)) for v in ess.data_vars)
    return max_rhat, min_ess


def information_criterion(idata: az.InferenceData, ic: str):
    """ArviZ's ELPD estimate (``az.loo`` or ``az.waic``); ArviZ's own warnings are left out
    (:func:`compare` says them in plain words)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _az().loo(idata, pointwise=True) if ic == "loo" else _az().waic(idata, pointwise=True)


def compare(idatas: Mapping[str, az.InferenceData], ic: str, *, stacklevel: int = 3) -> pd.DataFrame:
    """``az.compare`` on the log scale, best model first.

    Where ArviZ flags a model (its ``warning`` column), a :class:`LOOWarning` says in plain
    words which runs make the estimate unreliable and what to do, instead of ArviZ's text.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        # arviz 0.2x sorts with inplace=True, which pandas 3 deprecates; not the user's concern.
        warnings.filterwarnings("ignore", message=".*inplace keyword.*")
        table = _az().compare(dict(idatas), ic=cast(Literal["loo", "waic"], ic), scale="log")
    for name in table.index:
        if bool(table.loc[name, "warning"]):
            warnings.warn(unreliable_message(name, idatas[name], ic), LOOWarning, stacklevel=stacklevel)
    return table


def unreliable_message(name: str, idata: az.InferenceData, ic: str) -> str:
    """Plain words for ArviZ's warning flag on model ``name`` (PSIS Pareto k or WAIC variance)."""
    estimate = information_criterion(idata, ic)
    (log_lik,) = idata["log_likelihood"].data_vars.values()
    n_runs = int(log_lik.shape[-1])
    if ic == "loo":
        k = np.asarray(estimate.pareto_k).reshape(-1)
        threshold = float(getattr(estimate, "good_k", 0.7))
        bad = np.flatnonzero(k > threshold)
        shown = ", ".join(str(i) for i in bad[:10]) + (", ..." if len(bad) > 10 else "")
        return (
            f"LOO for model {name!r} is unreliable: {len(bad)} of {n_runs} runs (rows {shown}) have a Pareto k "
            f"above {threshold:.2f} (largest {k.max():.2f}), so leaving one of them out changes the posterior "
            "too much for importance sampling to estimate. Those runs are influential (outliers, or the edge "
            "of the range). Treat this model's elpd_loo with caution; check those rows, fit with a robust "
            "likelihood (likelihood='student_t', the default for losses) if it used another, or compare with "
            "ic='lfo' (refits instead of importance sampling)"
        )
    return (
        f"WAIC for model {name!r} is unreliable: for some runs the posterior variance of the log "
        "predictive density exceeds 0.4, so WAIC's approximation breaks down. Prefer ic='loo'"
    )


def save(idata: az.InferenceData, path: str) -> None:
    """Write ``idata`` to netCDF."""
    idata.to_netcdf(path, engine="h5netcdf")


def load(path: str) -> az.InferenceData:
    """Read an InferenceData netCDF file fully into memory (the file is closed afterwards)."""
    idata = _az().from_netcdf(path, engine="h5netcdf")
    idata.load()
    return idata
