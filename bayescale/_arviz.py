"""The one module that calls ArviZ.

bayescale stores fits as ``arviz.InferenceData`` (the arviz 0.2x line that Python 3.11
resolves to). Every arviz call goes through the functions here, so a move to arviz 1.x
(DataTree) changes this file only.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

with warnings.catch_warnings():
    # arviz 0.2x announces its 1.x refactor on import; that is not the user's concern.
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

InferenceData = az.InferenceData


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
) -> az.InferenceData:
    """Build the InferenceData of a fit; arrays in ``posterior`` are ``(chain, draw, ...)``."""
    obs_dims = {"y": ["obs"]}
    idata = az.from_dict(
        posterior=dict(posterior),
        log_likelihood={"y": log_likelihood},
        posterior_predictive={"y": posterior_predictive},
        observed_data={"y": observed},
        constant_data=dict(constant_data),
        sample_stats=dict(sample_stats),
        coords={**coords, "obs": np.arange(observed.shape[0])},
        dims={**dims, **obs_dims, **{name: ["obs"] for name in constant_data}},
        attrs=dict(attrs),
    )
    return idata


def summary(idata: az.InferenceData, var_names: Sequence[str], hdi_prob: float = 0.9) -> pd.DataFrame:
    """Posterior summary: mean, sd, HDI bounds, MCSE, bulk/tail ESS and r_hat."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return az.summary(idata, var_names=list(var_names), hdi_prob=hdi_prob)


def rhat_and_ess(idata: az.InferenceData, var_names: Sequence[str]) -> tuple[float, float]:
    """Largest r_hat and smallest bulk ESS over ``var_names``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rhat = az.rhat(idata, var_names=list(var_names))
        ess = az.ess(idata, var_names=list(var_names), method="bulk")
    max_rhat = max(float(np.nanmax(rhat[v].values)) for v in rhat.data_vars)
    min_ess = min(float(np.nanmin(ess[v].values)) for v in ess.data_vars)
    return max_rhat, min_ess


def information_criterion(idata: az.InferenceData, ic: str):
    """ArviZ's ELPD estimate (``az.loo`` or ``az.waic``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return az.loo(idata, pointwise=True) if ic == "loo" else az.waic(idata, pointwise=True)


def compare(idatas: Mapping[str, az.InferenceData], ic: str) -> pd.DataFrame:
    """``az.compare`` on the log scale, best model first."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        # arviz 0.2x sorts with inplace=True, which pandas 3 deprecates; not the user's concern.
        warnings.filterwarnings("ignore", message=".*inplace keyword.*")
        return az.compare(dict(idatas), ic=ic, scale="log")


def save(idata: az.InferenceData, path: str) -> None:
    """Write ``idata`` to netCDF."""
    idata.to_netcdf(path, engine="h5netcdf")


def load(path: str) -> az.InferenceData:
    """Read an InferenceData netCDF file fully into memory (the file is closed afterwards)."""
    idata = az.from_netcdf(path, engine="h5netcdf")
    idata.load()
    return idata
