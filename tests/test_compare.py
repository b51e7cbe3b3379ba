"""Model comparison by LOO/WAIC."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from conftest import FAST

import bayescale as bs


@pytest.fixture(scope="module")
def kaplan_fit(ladder):
    return bs.fit(ladder, law="kaplan", y="loss", inputs={"N": "params", "D": "tokens"}, **FAST)


@pytest.mark.parametrize("ic", ["loo", "waic"])
@pytest.mark.long
def test_generating_law_ranks_first(ladder_fit, kaplan_fit, ic):
    table = bs.compare({"kaplan": kaplan_fit, "chinchilla": ladder_fit}, ic=ic)
    assert list(table.index) == ["chinchilla", "kaplan"]
    assert table.loc["kaplan", "elpd_diff"] > 2 * table.loc["kaplan", "dse"]
    assert f"elpd_{ic}" in table.columns and table["weight"].sum() == pytest.approx(1.0)


def test_fits_of_different_data_are_refused(ladder_fit, hierarchical_fit):
    with pytest.raises(ValueError, match=r"\['other'\] were made on different data than 'this'"):
        bs.compare({"this": ladder_fit, "other": hierarchical_fit})


def test_bad_arguments(ladder_fit):
    with pytest.raises(ValueError, match="ic='aic' must be 'loo', 'waic' or 'lfo'"):
        bs.compare({"a": ladder_fit, "b": ladder_fit}, ic="aic")
    with pytest.raises(ValueError, match="needs two or more fits"):
        bs.compare({"a": ladder_fit})


def test_pointwise_log_likelihood_is_on_the_scale_of_y(ladder_fit):
    # Student-t on log y carries the Jacobian 1/y: the density of y itself.
    ll = ladder_fit.idata.log_likelihood["loss"].values
    assert np.isfinite(ll).all() and np.median(ll) > 0  # 1% noise: densities far above 1


@pytest.mark.long
def test_an_unconverged_fit_is_named_and_marked(ladder_fit, kaplan_fit):
    idata = ladder_fit.idata.copy()
    E = idata.posterior["E"]
    idata.posterior["E"] = E + xr.where(E["chain"] == 0, 0.0, 5 * float(E.std()))  # chains that disagree
    stuck = bs.Fit(idata, priors=ladder_fit.priors)
    with pytest.warns(bs.ConvergenceWarning, match=r"model 'stuck' did not converge: r_hat reaches"):
        table = bs.compare({"stuck": stuck, "kaplan": kaplan_fit})
    assert not table.loc["stuck", "converged"]
    assert table.loc["kaplan", "converged"] == (not kaplan_fit.convergence_problems())
