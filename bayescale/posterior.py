"""Posterior computations shared by fitting and prediction, vectorised over draws.

From the sampled sites of every posterior draw these functions compute the law's curve and
the pointwise log-likelihood (in JAX, ``jax.vmap``-ed over draws and compiled once per model
structure), and draws of a new observation (noise included; sampled with NumPy, see
:meth:`bayescale.likelihoods.Likelihood.sample`).
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bayescale.hierarchy import (
    ModelSpec,
    curve_location,
    level_values,
    parameter_values,
    prior_sites,
    sampled_site_names,
)

_COMPILED: dict[tuple, tuple] = {}


def _functions(spec: ModelSpec):
    key = spec.fingerprint()
    if key not in _COMPILED:
        likelihood = spec.likelihood

        def one_draw(sites, inputs, group_index, centres, y, trials):
            per_row, _ = parameter_values(spec, sites, group_index, centres)
            location = curve_location(spec, inputs, per_row)
            if y is None:
                return location, None
            noise = {name: sites[name] for name in likelihood.noise_names}
            return location, likelihood.distribution(location, noise, trials).log_prob(y)

        axes = (0, None, None, None, None, None)

        def curve(sites, inputs, group_index, centres):
            return jax.vmap(one_draw, in_axes=axes)(sites, inputs, group_index, centres, None, None)[0]

        def curve_and_log_lik(sites, inputs, group_index, centres, y, trials):
            return jax.vmap(one_draw, in_axes=axes)(sites, inputs, group_index, centres, y, trials)

        _COMPILED[key] = (jax.jit(curve), jax.jit(curve_and_log_lik))
        if len(_COMPILED) > 32:
            _COMPILED.pop(next(iter(_COMPILED)))
    return _COMPILED[key]


def clear_compiled() -> None:
    """Forget the compiled posterior functions (they are rebuilt on next use)."""
    _COMPILED.clear()


def flat_sites(spec: ModelSpec, posterior: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The sites needed to recompute the curve, with chain and draw flattened into one axis."""
    out = {}
    for name in sampled_site_names(spec):
        value = np.asarray(posterior[name])
        out[name] = value.reshape((-1,) + value.shape[2:])
    return out


def _as_jax(mapping: Mapping[str, np.ndarray], dtype=jnp.float32) -> dict[str, jnp.ndarray]:
    return {k: jnp.asarray(v, dtype=dtype) for k, v in mapping.items()}


def _draw_args(sites, inputs, group_index, centres) -> tuple:
    """Arguments shared by the compiled functions: sites, inputs, groups, centres."""
    codes = {k: jnp.asarray(v, dtype=jnp.int32) for k, v in group_index.items()}
    return _as_jax(sites), _as_jax(inputs), codes, _as_jax(centres)


def _new_observations(
    spec: ModelSpec, sites: Mapping[str, np.ndarray], location, seed: int, new_run: str = "tuned",
    trials: np.ndarray | None = None,
) -> np.ndarray:
    """Draws of a new observation around each curve draw (noise from the same posterior draw).

    ``new_run`` and ``trials``: see :meth:`bayescale.likelihoods.Likelihood.sample`.
    """
    noise = {name: np.asarray(sites[name]) for name in spec.likelihood.noise_names}
    location = np.asarray(location, dtype=np.float64)
    return spec.likelihood.sample(np.random.default_rng(seed), location, noise, new_run=new_run, trials=trials)


def curve_and_predictive(
    spec: ModelSpec,
    sites: Mapping[str, np.ndarray],
    inputs: Mapping[str, np.ndarray],
    group_index: Mapping[str, np.ndarray],
    centres: Mapping[str, float],
    seed: int,
    shift: np.ndarray | None = None,
    new_run: str = "tuned",
    trials: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Curve (on the natural scale of ``y``) and draws of a new observation, each ``(draws, rows)``.

    ``shift`` (``(draws, rows)``, optional) moves each curve draw on the likelihood's scale
    (``log y``, or ``logit y`` for metrics in (0, 1)) before the noise is drawn: the law error of
    :mod:`bayescale.law_error`. ``new_run`` (``"tuned"`` or ``"any"``) matters for the
    ``frontier`` likelihood only: a run on the frontier, or one with the fitted runs' excess.
    ``trials`` (one per row) is each new run's number of questions, for the count likelihoods.
    """
    curve_fn, _ = _functions(spec)
    location = np.asarray(curve_fn(*_draw_args(sites, inputs, group_index, centres)), dtype=np.float64)
    if shift is not None:
        location = shifted_location(spec, location, shift)
    curve = np.exp(location) if spec.likelihood.log_space else location
    return curve, _new_observations(spec, sites, location, seed, new_run, trials)


def shifted_location(spec: ModelSpec, location, shift, xp=np):
    """The curve on the likelihood's scale moved by ``shift`` (on ``log y``, or on ``logit y`` for
    metrics in (0, 1), whose location is ``y`` itself). ``xp`` is ``numpy`` or ``jax.numpy``
    (inside a traced function); where ``shift`` is 0 the location is returned unchanged."""
    if spec.likelihood.log_space:
        return location + shift
    mu = xp.clip(location, 1e-9, 1 - 1e-9)
    moved = 1.0 / (1.0 + xp.exp(-(xp.log(mu) - xp.log1p(-mu) + shift)))
    return xp.where(shift == 0, location, moved)


def pointwise_log_likelihood(
    spec: ModelSpec,
    sites: Mapping[str, np.ndarray],
    inputs: Mapping[str, np.ndarray],
    group_index: Mapping[str, np.ndarray],
    centres: Mapping[str, float],
    y: np.ndarray,
    seed: int,
    trials: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Replicated data and pointwise log-likelihood, each ``(draws, rows)``.

    The replicated data follow the whole likelihood (``new_run="any"``: for ``frontier``, with
    the excess of an untuned run), as the observed rows do. ``trials``: each row's number of
    questions, for the count likelihoods.
    """
    _, curve_and_log_lik = _functions(spec)
    location, log_lik = curve_and_log_lik(
        *_draw_args(sites, inputs, group_index, centres), jnp.asarray(y, dtype=jnp.float32),
        None if trials is None else jnp.asarray(trials, dtype=jnp.float32),
    )
    replicated = _new_observations(spec, sites, location, seed, "any", trials)
    return replicated, np.asarray(log_lik, dtype=np.float64)


def natural_values(
    spec: ModelSpec,
    sites: Mapping[str, np.ndarray],
    group_index: Mapping[str, np.ndarray],
    centres: Mapping[str, float],
) -> dict[str, np.ndarray]:
    """Per draw of the sampled ``sites`` (``(draws, ...)``), the law's parameters at the population
    level on their natural scale, and ``p_<column>`` per level of grouped ones."""
    codes = {k: jnp.asarray(v, dtype=jnp.int32) for k, v in group_index.items()}
    jax_centres = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in centres.items()}

    def one_draw(draw):
        population = parameter_values(spec, draw, codes, jax_centres)[1]
        return {**{name: population[name] for name in spec.law.param_names}, **level_values(spec, draw, jax_centres)}

    return {name: np.asarray(v, dtype=np.float64) for name, v in jax.vmap(one_draw)(_as_jax(sites)).items()}


def prior_draws(
    spec: ModelSpec,
    inputs: Mapping[str, np.ndarray],
    group_index: Mapping[str, np.ndarray],
    centres: Mapping[str, float],
    y: np.ndarray,
    *,
    n_draws: int,
    seed: int,
    trials: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Draws from the priors alone: the parameters as the posterior names them (population values
    of the law's parameters on their natural scale, ``p_<column>`` per level, group spreads and
    noise), each ``(n_draws, ...)``, and replicated data at the rows, ``(n_draws, rows)``."""
    sites = prior_sites(spec, centres, n_draws, seed)
    values = natural_values(spec, sites, group_index, centres)
    values.update({name: sites[name] for name in sites if name.endswith("_sd") or name in spec.likelihood.noise_names})
    replicated, _ = pointwise_log_likelihood(spec, sites, inputs, group_index, centres, y, seed=seed + 1,
                                             trials=trials)
    return values, replicated


def prediction_table(frame: pd.DataFrame, curve: np.ndarray, predictive: np.ndarray, level: float) -> pd.DataFrame:
    """The prediction columns of ``predict`` from draws of the curve and of a new run.

    ``frame`` holds the rows' input columns; ``curve`` and ``predictive`` are ``(draws, rows)``.
    Adds ``median``, ``mean``, ``lower``, ``upper`` (the curve) and ``pred_lower``, ``pred_upper``
    (a new run) for central intervals of probability ``level``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must lie in (0, 1), e.g. 0.9 for a 90% interval")
    out = frame.copy()
    tail = (1 - level) / 2
    out["median"] = np.median(curve, axis=0)
    out["mean"] = curve.mean(axis=0)
    out["lower"], out["upper"] = np.quantile(curve, [tail, 1 - tail], axis=0)
    pred_lower, pred_upper = np.quantile(predictive, [tail, 1 - tail], axis=0)
    # A finite sample of noise draws can put a predictive quantile a hair inside the curve's.
    out["pred_lower"] = np.minimum(pred_lower, out["lower"].to_numpy())
    out["pred_upper"] = np.maximum(pred_upper, out["upper"].to_numpy())
    return out
