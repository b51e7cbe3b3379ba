"""Posterior computations shared by fitting and prediction, vectorised over draws.

From the sampled sites of every posterior draw these functions compute the law's curve,
draws of a new observation (noise included) and the pointwise log-likelihood. Each is
``jax.vmap``-ed over draws and compiled once per model structure.
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

        def one_draw(sites, rng_key, inputs, group_index, centres, y):
            per_row, _ = parameter_values(spec, sites, group_index, centres)
            location = curve_location(spec, inputs, per_row)
            noise = {name: sites[name] for name in likelihood.noise_names}
            observation = likelihood.distribution(location, noise)
            log_lik = observation.log_prob(y) if y is not None else None
            return location, observation.sample(rng_key), log_lik

        def curve_and_draws(sites, keys, inputs, group_index, centres):
            location, sample, _ = jax.vmap(one_draw, in_axes=(0, 0, None, None, None, None))(
                sites, keys, inputs, group_index, centres, None
            )
            return location, sample

        def pointwise(sites, keys, inputs, group_index, centres, y):
            _, sample, log_lik = jax.vmap(one_draw, in_axes=(0, 0, None, None, None, None))(
                sites, keys, inputs, group_index, centres, y
            )
            return sample, log_lik

        _COMPILED[key] = (jax.jit(curve_and_draws), jax.jit(pointwise))
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


def _draw_args(sites, inputs, group_index, centres, seed: int) -> tuple:
    """Arguments shared by the compiled functions: sites, one key per draw, inputs, groups, centres."""
    n_draws = next(iter(sites.values())).shape[0]
    keys = jax.random.split(jax.random.PRNGKey(seed), n_draws)
    codes = {k: jnp.asarray(v, dtype=jnp.int32) for k, v in group_index.items()}
    return _as_jax(sites), keys, _as_jax(inputs), codes, _as_jax(centres)


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
    location, sample = curve_fn(*_draw_args(sites, inputs, group_index, centres, seed))
    curve = jnp.exp(location) if spec.likelihood.log_space else location
    return np.asarray(curve, dtype=np.float64), np.asarray(sample, dtype=np.float64)


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
    _, pointwise = _functions(spec)
    sample, log_lik = pointwise(
        *_draw_args(sites, inputs, group_index, centres, seed), jnp.asarray(y, dtype=jnp.float32)
    )
    return np.asarray(sample, dtype=np.float64), np.asarray(log_lik, dtype=np.float64)
