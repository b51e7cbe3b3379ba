"""Learning the law error (:mod:`bayescale.law_error`) from forward splits of public ladders.

:func:`learn` fits the hierarchical model of how far real ladders wander from their law per
decade of extrapolation to a table of held-out residuals (``benchmarks/calibration.py`` builds it
from every dataset of ``../shared/data``, leaving one dataset out at a time), and :func:`save`
writes the result as the JSON file :func:`bayescale.law_error.default` reads.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale.law_error import FIELDS, LawError

__all__ = ["LEARN_COLUMNS", "learn", "save"]


LEARN_COLUMNS = ("dataset", "ladder", "distance", "residual", "spread")
_TARGET_ACCEPT = 0.99  # NUTS target acceptance of the learning (0.95 left 17-87 divergences per learn)
_POPULATION = ("mu", "sd_dataset", "sd_ladder", "nu_minus_2", "power_logit_mean", "power_logit_sd")  # checked


def learn(
    table: pd.DataFrame,
    *,
    mean: bool = False,
    chains: int = 4,
    draws: int = 1000,
    seed: int = 0,
    kept: int = 400,
    source: str = "",
) -> LawError:
    """Learn the law error from forward splits of several ladders.

    Parameters
    ----------
    table : DataFrame
        One row per held-out run with columns ``dataset``, ``ladder`` (a forward split: runs of
        one fit), ``distance`` (decades beyond the fitted runs), ``residual`` (observed minus the
        fit's median on the likelihood's scale, signed so that positive is *better* than
        predicted) and ``spread`` (sd of the fit's own new-run prediction there, same scale).
    mean : bool
        Learn a mean gain ``mu``; False fixes it at 0 (a drift as likely up as down).
    chains, draws, seed : int
        NUTS settings of the small hierarchical model.
    kept : int
        Number of thinned posterior draws stored.
    source : str
        Where the numbers come from (datasets and command), kept as ``LawError.source``.

    Returns
    -------
    LawError

    Warns
    -----
    ConvergenceWarning
        When the draws of the population-level parameters break the convergence rule
        (:func:`bayescale.diagnostics.convergence_problems`): r_hat, bulk ESS or divergences.

    Notes
    -----
    The model, with ``j`` a held-out run of ladder ``l`` in dataset ``k``::

        residual_j ~ Normal(b_l * distance_j ** power_k, spread_j)
        b_l ~ StudentT(nu, m_k, s_ladder),   m_k ~ Normal(mu, s_dataset)
        power_k = 0.2 + 1.3 * sigmoid(g + s_power * z_k),   z_k ~ Normal(0, 1)
        mu ~ Normal(0, 0.05) (or 0),   s_dataset, s_ladder ~ HalfNormal(0.05)
        nu - 2 ~ Gamma(2, 0.5),   g ~ Normal(0, 1.5),   s_power ~ HalfNormal(1)

    A ladder of a dataset never seen draws ``m`` from ``Normal(mu, s_dataset)`` (that is what
    :meth:`~bayescale.LawError.slopes` does) and its growth ``power`` from the population of
    datasets: each stored draw holds one such power (``z`` drawn afresh, seeded by ``seed``).

    The growth is learned by dataset because datasets differ in it, and one shared power was
    set by whichever source had the most held-out runs: with the NSL curves (633 of the 718
    held-out runs, on 20 similar ladders) it was 0.4, without them 1.3. With 0.4 the drift
    sized by a ladder's own top runs (:func:`bayescale.calibrate.update_drift`) could not reach
    the loss-to-loss runs 1.3 decades out (``docs/law_error.md``).

    The ladders' ``b_l`` are sampled centred: a ladder's held-out runs pin its ``b_l``, and sampled
    as ``t_l = (b_l - m_k) / s_ladder`` the posterior is a narrow ridge in ``(t, s_ladder)``. On
    synthetic tables (one chain, 300 draws after 300 warm-up) NUTS took 598, 1,023 and 236
    leapfrog steps per draw non-centred and 103, 659 and 62 centred, none divergent; at 2 x 1,000
    draws on the second table (six datasets, one of 20 ladders with another growth) 1,006 against
    270, with the same posterior medians of ``mu``, ``sd_ladder``, ``sd_dataset`` and the growth.
    """
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS, init_to_median

    missing = [c for c in LEARN_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"learn(table): columns {missing} are missing; it needs {list(LEARN_COLUMNS)}")
    if not (table["spread"] > 0).all():
        raise ValueError("learn(table): every 'spread' must be > 0")
    datasets = np.unique(table["dataset"].astype(str))
    ladder_keys = table["dataset"].astype(str) + "\x1f" + table["ladder"].astype(str)
    ladders, l_code = np.unique(ladder_keys, return_inverse=True)
    ladder_dataset = np.array([np.flatnonzero(datasets == key.split("\x1f")[0])[0] for key in ladders])

    def model(distance, spread, residual=None):
        mu = numpyro.sample("mu", dist.Normal(0.0, 0.05)) if mean else 0.0
        s_dataset = numpyro.sample("sd_dataset", dist.HalfNormal(0.05))
        s_ladder = numpyro.sample("sd_ladder", dist.HalfNormal(0.05))
        # nu > 2: the drift keeps a finite variance, so averages over draws (expected regret,
        # variance reduction, posterior means of the predicted loss) stay meaningful
        nu = numpyro.deterministic("nu", 2.0 + numpyro.sample("nu_minus_2", dist.Gamma(2.0, 0.5)))
        growth = numpyro.sample("power_logit_mean", dist.Normal(0.0, 1.5))
        growth_sd = numpyro.sample("power_logit_sd", dist.HalfNormal(1.0))
        with numpyro.plate("datasets", len(datasets)):
            m = mu + s_dataset * numpyro.sample("m_z", dist.Normal(0.0, 1.0))
            power = _power(growth + growth_sd * numpyro.sample("power_z", dist.Normal(0.0, 1.0)))
        with numpyro.plate("ladders", len(ladders)):
            # centred: a ladder's held-out runs pin its b (Notes: why not (b - m) / s_ladder)
            b = numpyro.sample("b", dist.StudentT(nu, m[ladder_dataset], s_ladder))
        with numpyro.plate("runs", len(distance)):
            reach = distance ** power[ladder_dataset[l_code]]
            numpyro.sample("residual", dist.Normal(b[l_code] * reach, spread), obs=residual)

    mcmc = MCMC(
        # from the prior's medians: a chain started at the edge of the unconstrained box can stick
        # where the dataset's growth and its drift trade off (a dataset whose runs lie within a
        # decade explains a large gain by a large power)
        NUTS(model, target_accept_prob=_TARGET_ACCEPT, init_strategy=init_to_median(num_samples=15)),
        num_warmup=draws,
        num_samples=draws,
        num_chains=chains,
        chain_method="sequential",
        progress_bar=False,
    )
    mcmc.run(
        jax.random.PRNGKey(seed),
        jnp.asarray(table["distance"].to_numpy(float)),
        jnp.asarray(table["spread"].to_numpy(float)),
        jnp.asarray(table["residual"].to_numpy(float)),
    )
    _warn_unless_converged(mcmc)
    samples = {name: np.asarray(value, float) for name, value in mcmc.get_samples().items()}
    n = samples["nu"].size
    keep = np.linspace(0, n - 1, min(kept, n)).round().astype(int)
    # the growth of a dataset not seen: one fresh draw from the population per posterior draw
    fresh = np.random.default_rng([seed, 0x9E0]).standard_normal(n)
    samples["power"] = np.asarray(_power(samples["power_logit_mean"] + samples["power_logit_sd"] * fresh))
    values = {name: samples.get(name, np.zeros(n))[keep] for name in FIELDS}
    return LawError(**values, source=source)


def _warn_unless_converged(mcmc) -> None:
    """Warn (``ConvergenceWarning``) when the population-level draws break the convergence rule
    (split r_hat is defined for one chain too: its halves are compared)."""
    from bayescale.diagnostics import ConvergenceWarning, convergence_problems, draws_diagnostics

    by_chain = mcmc.get_samples(group_by_chain=True)
    top = np.stack([np.asarray(by_chain[name], float) for name in _POPULATION if name in by_chain])
    diagnostics = draws_diagnostics(top, divergences=int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum()))
    problems = convergence_problems(diagnostics, target_accept_prob=_TARGET_ACCEPT)
    if problems:
        warnings.warn("learning the law error: " + "; ".join(problems), ConvergenceWarning, stacklevel=3)


def _power(logit):
    """The drift's growth power in (0.2, 1.5) from its logit (roughly uniform there for logit ~ N(0, 1.5))."""
    import jax

    return 0.2 + 1.3 * jax.nn.sigmoid(logit)


def save(
    law_error: LawError,
    path: str | os.PathLike[str],
    *,
    leave_one_out: Mapping[str, LawError] | None = None,
    **metadata: Any,
) -> Path:
    """Write ``law_error`` (and the ones learned without each dataset, and ``metadata``) as the
    JSON file :func:`bayescale.law_error.default` reads.

    Parameters
    ----------
    law_error : LawError
        The law error learned from every dataset.
    path : path-like
        The JSON file to write (written beside it, then renamed over it).
    leave_one_out : mapping of str to LawError, optional
        Dataset name to the law error learned without it (:func:`bayescale.law_error.default` ``(without=...)``).
    **metadata
        Further JSON-ready entries of the file (e.g. ``datasets``, read by :func:`bayescale.law_error.learned_from`).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    record = {"format": 1, "law_error": law_error.to_record(),
              "leave_one_out": {k: v.to_record() for k, v in (leave_one_out or {}).items()}, **metadata}  # fmt: skip
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)
    return path
