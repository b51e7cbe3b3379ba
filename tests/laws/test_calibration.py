"""Simulation-based calibration (Talts et al. 2018) of every built-in law (slow).

For each law: draw parameters and data from the full model (default priors, the law's likelihood,
the representative design of :mod:`tests.laws.cases`), fit every simulated data set (all of a
law's simulations in one vectorised :func:`bayescale.fit_many` run), and record the rank
of each true parameter among thinned posterior draws. For a calibrated model the ranks of each
parameter are uniform: the test bins each parameter's ranks into 5 bins, computes a chi-square p per
parameter, and rejects the law when the smallest p is below 0.001 / (number of parameters)
(Bonferroni). The ranks of different parameters of one simulation are strongly correlated (0.74-0.97
for ``overtraining``), so pooling them, as an earlier version did, counted each simulation several
times and rejected too often; the pooled counts are still printed. ``BAYESCALE_SBC_SIMS`` sets the
simulations per law (default 20). Prior draws whose data are not finite or leave the likelihood's
support are redrawn (the number is reported).

References
----------
Talts, S., Betancourt, M., Simpson, D., Vehtari, A., Gelman, A. (2018). Validating Bayesian
inference algorithms with simulation-based calibration. arXiv:1804.06788.
"""

from __future__ import annotations

import os
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from numpyro.infer import Predictive
from scipy import stats

import bayescale as bs
from bayescale.data import prepare_design
from bayescale.floor_pair import floor_pair_sites
from bayescale.hierarchy import build_spec, make_model, prior_sites, resolve_priors
from bayescale.likelihoods import get_likelihood
from bayescale.posterior import natural_values
from tests.laws.cases import CASES

pytestmark = pytest.mark.slow
N_SIMS = int(os.environ.get("BAYESCALE_SBC_SIMS", "20"))
N_KEEP = 99  # thinned posterior draws per fit: ranks take values 0..99


def prior_simulations(name: str, n: int, seed: int):
    """``n`` parameter sets and data sets from the law's prior predictive on its case design."""
    case = CASES[name]
    law = bs.laws.get(name)
    likelihood = get_likelihood(case.likelihood(name))
    frame = case.design().reset_index(drop=True)
    design = prepare_design(frame, law, y=None, inputs=None, group_columns=[])
    spec = build_spec(law, likelihood, {}, {}, resolve_priors(law, likelihood, {}, None))
    inputs = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in design.inputs.items()}
    centres = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in design.centres.items()}
    # Every latent site from its prior (bayescale.hierarchy.prior_sites: a pivoted coefficient with
    # its prior on the natural scale moved to the centre, which the model's flat site cannot draw
    # forward), plus the floor pair's sites that correspond; Predictive then draws the data.
    plain = prior_sites(spec, design.centres, 4 * n, seed + 1)
    fixed = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in {**plain, **floor_pair_sites(spec, plain)}.items()}
    predictive = Predictive(make_model(spec), posterior_samples=fixed)
    draws = {**fixed, **predictive(jax.random.PRNGKey(seed), inputs, {}, centres)}
    draws.update(natural_values(spec, plain, {}, design.centres))  # the law's parameters as the posterior names them
    y = np.asarray(draws["y"], dtype=float)
    ok = np.isfinite(y).all(axis=1) & (y > 0).all(axis=1) & (y < 1e6).all(axis=1)
    if likelihood.support != "positive":
        ok &= (y < 1).all(axis=1) & (y > 1e-6).all(axis=1) & (y < 1 - 1e-6).all(axis=1)
    keep = np.flatnonzero(ok)[:n]
    truths = [{p: float(np.asarray(draws[p])[i]) for p in law.param_names} for i in keep]
    return frame, truths, y[keep], int(np.sum(~ok[: keep[-1] + 1])) if keep.size else 4 * n


@pytest.mark.parametrize("name", sorted(CASES))
def test_sbc(name):
    started = time.perf_counter()
    frame, truths, ys, rejected = prior_simulations(name, N_SIMS, seed=sum(map(ord, name)))
    assert len(truths) == N_SIMS, f"{name}: only {len(truths)} usable prior simulations"
    likelihood = CASES[name].likelihood(name)
    # All simulations of a law in one vectorised run: each is one key of bs.fit_many, fitted
    # with exactly the bs.fit model of its own rows (one compilation per law).
    data = pd.concat([frame.assign(y=y, sim=i) for i, y in enumerate(ys)], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = bs.fit_many(data, law=name, by="sim", y="y", likelihood=likelihood, chains=2, draws=300,
                           warmup=300, seed=0, progress=False, retries=0)  # every draw from one run
    ranks: dict[str, list[int]] = {p: [] for p in truths[0]}
    for i, truth in enumerate(truths):
        for p, value in truth.items():
            draws = fits.draws(i, p)
            thinned = draws[np.linspace(0, draws.size - 1, N_KEEP).astype(int)]
            ranks[p].append(int(np.sum(thinned < value)))
    def binned(values) -> np.ndarray:
        return np.histogram(np.asarray(values), bins=5, range=(0, N_KEEP + 1))[0]

    per_parameter = {p: stats.chisquare(binned(r)).pvalue for p, r in ranks.items()}
    worst = min(per_parameter, key=per_parameter.get)
    threshold = 1e-3 / len(per_parameter)
    pooled = binned(np.concatenate([np.asarray(r) for r in ranks.values()]))
    print(f"\nSBC {name}: {N_SIMS} sims ({rejected} prior draws redrawn), smallest per-parameter chi2 p = "
          f"{per_parameter[worst]:.3g} ({worst}: counts {binned(ranks[worst]).tolist()}), pooled rank counts "
          f"{pooled.tolist()}, {time.perf_counter() - started:.0f} s")
    assert per_parameter[worst] > threshold, (
        f"{name}: ranks of {worst} not uniform, counts {binned(ranks[worst]).tolist()} "
        f"(p = {per_parameter[worst]:.2g} < {threshold:.2g})"
    )
