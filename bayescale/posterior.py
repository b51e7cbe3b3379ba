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

from bayescale.hierarchy import ModelSpec, curve_location, parameter_values, sampled_site_names

_COMPILED: dict[tuple, tuple] = {}


def _functions(spec: ModelSpec):
    key = spec.fingerprint()
    if key not in _COMPILED:
        likelihood = spec.likelihood

        def one_draw(sites, inputs, group_index, centres, y):
            per_row, _ = parameter_values(spec, sites, group_index, centres)
            location = curve_location(spec, inputs, per_row)
            if y is None:
                return location, None
            noise = {name: sites[name] for name in likelihood.noise_names}
            return location, likelihood.distribution(location, noise).log_prob(y)

        def curve(sites, inputs, group_index, centres):
            return jax.vmap(one_draw, in_axes=(0, None, None, None, None))(sites, inputs, group_index, centres, None)[0]

        def curve_and_log_lik(sites, inputs, group_index, centres, y):
            return jax.vmap(one_draw, in_axes=(0, None, None, None, None))(sites, inputs, group_index, centres, y)

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


def _new_observations(spec: ModelSpec, sites: Mapping[str, np.ndarray], location, seed: int) -> np.ndarray:
    """Draws of a new observation around each curve draw (noise from the same posterior draw)."""
    noise = {name: np.asarray(sites[name]) for name in spec.likelihood.noise_names}
    return spec.likelihood.sample(np.random.default_rng(seed), np.asarray(location, dtype=np.float64), noise)


def curve_and_predictive(
    spec: ModelSpec,
    sites: Mapping[str, np.ndarray],
    inputs: Mapping[str, np.ndarray],
    group_index: Mapping[str, np.ndarray],
    centres: Mapping[str, float],
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Curve (on the natural scale of ``y``) and draws of a new observation, each ``(draws, rows)``."""
    curve_fn, _ = _functions(spec)
    location = np.asarray(curve_fn(*_draw_args(sites, inputs, group_index, centres)), dtype=np.float64)
    curve = np.exp(location) if spec.likelihood.log_space else location
    return curve, _new_observations(spec, sites, location, seed)


def pointwise_log_likelihood(
    spec: ModelSpec,
    sites: Mapping[str, np.ndarray],
    inputs: Mapping[str, np.ndarray],
    group_index: Mapping[str, np.ndarray],
    centres: Mapping[str, float],
    y: np.ndarray,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Replicated data and pointwise log-likelihood, each ``(draws, rows)``."""
    _, curve_and_log_lik = _functions(spec)
    location, log_lik = curve_and_log_lik(
        *_draw_args(sites, inputs, group_index, centres), jnp.asarray(y, dtype=jnp.float32)
    )
    return _new_observations(spec, sites, location, seed), np.asarray(log_lik, dtype=np.float64)
