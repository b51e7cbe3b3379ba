"""Many curves at once: one scaling law fitted to every key of a table in one vectorised run.

A team fitting one law per benchmark task and model family has hundreds or thousands of
small, independent curves. Fitting them with a Python loop of :func:`bayescale.fit` calls
pays NumPyro's per-call overhead and, for every new number of rows, a new compilation.
:func:`fit_many` instead

1. validates the whole table once and splits it by the ``by`` column(s);
2. pads every key's rows to a common length, with a mask that removes the padded rows from
   the likelihood (the model of a key is exactly the :func:`bayescale.fit` model of its rows:
   same priors, same pivots at the key's own data centre, same log-space likelihood);
3. runs NUTS (the functional :func:`numpyro.infer.hmc.hmc` kernel, dense mass matrix and
   step size adapted per chain) for every (key, chain) pair in one compiled program,
   ``jax.pmap``-ed over the available JAX devices, in chunks of ``chunk_size`` keys; one
   compilation serves every chunk of the same padded shape. On a CPU each device runs its
   pairs one after another (``jax.lax.map``): ``jax.vmap`` would run them in lock-step, every
   tree as long as the batch's longest, which took twice as long on 24 real curves and more
   for larger batches. On a GPU the pairs are ``jax.vmap``-ed, the only way to fill it;
4. gathers the draws into a :class:`ManyFits` collection with a per-key ``summary()``,
   ``predict(df)`` and ``diagnostics``, and ``fits[key]`` giving a full :class:`~bayescale.Fit`.

With ``pooling="partial"`` the keys are instead one grouping level each of a single
hierarchical model (:func:`bayescale.fit` with ``groups=by``), partially pooled across keys;
the result is the same collection. With ``executor="ray"`` the chunks run as Ray tasks on a
cluster (see :mod:`bayescale.executors`); each key's random key depends only on the seed and
the key's position, so the draws equal those of the in-process run for the same seed.

References
----------
Hoffman, M. D. and Gelman, A. (2014). The No-U-Turn Sampler. JMLR 15, 1593-1623.
Phan, D., Pradhan, N. and Jankowiak, M. (2019). Composable Effects for Flexible and Accelerated
Probabilistic Programming in NumPyro. arXiv:1912.11554.
Vehtari, A. et al. (2021). Rank-normalization, folding, and localization: an improved R-hat for
assessing convergence of MCMC. Bayesian Analysis 16(2), 667-718.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd

from bayescale import _arviz, io, sampler
from bayescale.data import Design, add_derived, prepare_design
from bayescale.hierarchy import ModelSpec, build_spec, resolve_priors
from bayescale.inference import (
    ESS_LIMIT,
    RHAT_LIMIT,
    ConvergenceWarning,
    _check_sampler_settings,
    _device,
    sample_stats,
)
from bayescale.law_error import LawError, extrapolation_distance
from bayescale.law_error import resolve as resolve_law_error
from bayescale.law_error import shift as law_error_shift
from bayescale.laws import Law, get
from bayescale.likelihoods import Likelihood, get_likelihood
from bayescale.posterior import prediction_table, shifted_location
from bayescale.sampler import Settings

logger = logging.getLogger("bayescale")

# --------------------------------------------------------------------------------------------
# Splitting a table into padded curves
# --------------------------------------------------------------------------------------------
@dataclass
class _Curves:
    """Every key's rows, padded to a common length ``L``; arrays are ``(keys, L)`` or ``(keys,)``."""

    keys: list
    inputs: dict[str, np.ndarray]
    y: np.ndarray
    mask: np.ndarray
    n_rows: np.ndarray
    centres: dict[str, np.ndarray]
    codes: np.ndarray
    design: Design

    @property
    def length(self) -> int:
        return self.y.shape[1]


def _key_codes(df: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, list]:
    missing = [c for c in by if c not in df.columns]
    if missing:
        raise ValueError(
            f"by={by!r}: column(s) {missing} are missing; the DataFrame has {list(df.columns)}. "
            "Name the column(s) that identify one curve each, e.g. by='task'"
        )
    empty = df[by].isna().any(axis=1).to_numpy()
    if empty.any():
        row = df.index[int(np.flatnonzero(empty)[0])]
        raise ValueError(f"by={by!r} is empty at row {row!r}; give every row a key (fillna) or drop the row")
    grouped = df.groupby(by if len(by) > 1 else by[0], sort=True, observed=True)
    codes = grouped.ngroup().to_numpy(dtype=np.int64)
    keys = list(grouped.groups.keys())
    return codes, keys


def _split_curves(design: Design, law: Law, codes: np.ndarray, keys: list, pad_to: int | None) -> _Curves:
    n_keys = len(keys)
    n_rows = np.bincount(codes, minlength=n_keys)
    length = int(n_rows.max()) if pad_to is None else int(pad_to)
    if length < n_rows.max():
        raise ValueError(f"pad_to={pad_to} is shorter than the longest curve ({int(n_rows.max())} rows)")
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.concatenate([[0], np.cumsum(n_rows)[:-1]])
    position = np.arange(len(codes)) - starts[sorted_codes]
    first = order[starts]  # first row of every key: the value padded rows repeat

    def pad(values: np.ndarray) -> np.ndarray:
        out = np.repeat(values[first][:, None], length, axis=1)
        out[sorted_codes, position] = values[order]
        return out

    mask = np.zeros((n_keys, length), dtype=bool)
    mask[sorted_codes, position] = True
    centres = {}
    for name, values in design.inputs.items():
        if law.domain(name) == "positive":
            centres[name] = np.bincount(codes, weights=np.log(values), minlength=n_keys) / n_rows
        else:
            centres[name] = np.bincount(codes, weights=values, minlength=n_keys) / n_rows
    return _Curves(
        keys=keys,
        inputs={name: pad(values) for name, values in design.inputs.items()},
        y=pad(design.y),
        mask=mask,
        n_rows=n_rows,
        centres=centres,
        codes=codes,
        design=design,
    )


# --------------------------------------------------------------------------------------------
# Running chunks
# --------------------------------------------------------------------------------------------
def _chain_keys(seed: int, n_keys: int, chains: int) -> np.ndarray:
    """Random keys ``(keys, chains, 2)``: key ``i`` chain ``c`` is ``fold_in(fold_in(seed, i), c)``."""
    base = jax.random.PRNGKey(seed)
    per_key = jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(n_keys))
    per_chain = jax.vmap(lambda k: jax.vmap(lambda c: jax.random.fold_in(k, c))(jnp.arange(chains)))(per_key)
    return np.asarray(per_chain)


@dataclass
class _Chunk:
    """The padded arrays of one chunk of keys (numpy, so it pickles to a Ray worker)."""

    rng: np.ndarray  # (keys, chains, 2) uint32
    inputs: dict[str, np.ndarray]  # (keys, L)
    centres: dict[str, np.ndarray]  # (keys,)
    y: np.ndarray
    mask: np.ndarray
    n_real: int  # keys that are not padding


def _make_chunks(curves: _Curves, rng: np.ndarray, chunk_size: int) -> list[_Chunk]:
    n_keys = len(curves.keys)
    chunks = []
    for start in range(0, n_keys, chunk_size):
        index = np.arange(start, min(start + chunk_size, n_keys))
        n_real = len(index)
        index = np.concatenate([index, np.full(chunk_size - n_real, index[-1])])  # one compiled shape
        chunks.append(
            _Chunk(
                rng=rng[index],
                inputs={k: v[index] for k, v in curves.inputs.items()},
                centres={k: v[index] for k, v in curves.centres.items()},
                y=curves.y[index],
                mask=curves.mask[index],
                n_real=n_real,
            )
        )
    return chunks


def batching_for(device: str | None) -> str:
    """How the (key, chain) pairs of one device run: one after another on a CPU, where NUTS
    trees in lock-step waste most of the work on the batch's longest tree; together
    (``jax.vmap``) on a GPU, which only a large batch fills."""
    return "map" if (device or jax.default_backend()) == "cpu" else "vmap"


def run_chunk(spec: ModelSpec, settings: Settings, chunk: _Chunk, n_devices: int, device: str | None = None) -> dict:
    """NUTS on one chunk of padded curves; returns numpy draws ``(keys, chains, draws, ...)``.

    A module-level function so that :mod:`bayescale.executors` can ship it to Ray workers.
    The result also holds ``"_compile_s"`` and ``"_run_s"``: seconds spent compiling (0 when the
    compiled sampler was cached) and sampling. ``n_devices`` > 1 spreads the chunk over devices.
    """
    n_keys, chains = chunk.rng.shape[:2]

    def per_chain(values: np.ndarray) -> np.ndarray:
        return np.repeat(values, chains, axis=0)  # key-major: (keys * chains, ...)

    batch = sampler.Batch(
        rng=chunk.rng.reshape(n_keys * chains, 2),
        inputs={k: per_chain(v) for k, v in chunk.inputs.items()},
        group_index={},
        centres={k: per_chain(v) for k, v in chunk.centres.items()},
        y=per_chain(chunk.y),
        mask=per_chain(chunk.mask),
    )
    with jax.default_device(_device(device)):
        result = sampler.run(spec, settings, batch, device=device, parallel=n_devices > 1,
                             batching=batching_for(device))

    def unbatch(value: np.ndarray) -> np.ndarray:
        return value.reshape((n_keys, chains) + value.shape[1:])[: chunk.n_real]

    out = {name: unbatch(value) for name, value in result.samples.items()}
    out["_diverging"] = unbatch(result.diverging)
    out["_num_steps"] = unbatch(result.num_steps)
    out["_compile_s"] = result.compile_s
    out["_run_s"] = result.run_s
    return out


# --------------------------------------------------------------------------------------------
# Diagnostics, vectorised over keys (rank-normalised split r_hat and bulk ESS)
# --------------------------------------------------------------------------------------------
def _split_chains(x: np.ndarray) -> np.ndarray:
    """``(..., chains, draws)`` -> ``(..., 2 chains, draws // 2)`` (the odd last draw is dropped)."""
    half = x.shape[-1] // 2
    return np.concatenate([x[..., :half], x[..., -half:]], axis=-2)


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Rank-normalise over the last two axes (chains and draws together), Blom's offsets."""
    shape = x.shape
    flat = x.reshape(shape[:-2] + (-1,))
    ranks = np.argsort(np.argsort(flat, axis=-1, kind="stable"), axis=-1) + 1.0
    size = flat.shape[-1]
    from jax.scipy.special import ndtri

    z = np.asarray(ndtri(jnp.asarray((ranks - 0.375) / (size + 0.25))), dtype=np.float64)
    return z.reshape(shape)


def _rhat(x: np.ndarray) -> np.ndarray:
    n = x.shape[-1]
    between = n * x.mean(axis=-1).var(axis=-1, ddof=1)
    within = x.var(axis=-1, ddof=1).mean(axis=-1)
    return np.sqrt((between / within + n - 1) / n)


def rank_rhat(x: np.ndarray) -> np.ndarray:
    """Rank-normalised split r_hat (Vehtari et al. 2021) of ``x`` shaped ``(..., chains, draws)``."""
    x = np.asarray(x, dtype=np.float64)
    split = _split_chains(x)
    bulk = _rhat(_z_scale(split))
    folded = np.abs(x - np.median(x, axis=(-2, -1), keepdims=True))
    tail = _rhat(_z_scale(_split_chains(folded)))
    return np.maximum(bulk, tail)


def bulk_ess(x: np.ndarray) -> np.ndarray:
    """Bulk effective sample size (Vehtari et al. 2021) of ``x`` shaped ``(..., chains, draws)``."""
    from numpyro.diagnostics import effective_sample_size

    z = _z_scale(_split_chains(np.asarray(x, dtype=np.float64)))
    lead = z.ndim - 2
    moved = np.moveaxis(z, (-2, -1), (0, 1))  # numpyro wants (chains, draws, ...)
    ess = np.asarray(effective_sample_size(moved))
    return ess.reshape(z.shape[:lead]) if lead else ess


# --------------------------------------------------------------------------------------------
# The collection
# --------------------------------------------------------------------------------------------
class ManyFits:
    """One fitted curve per key: draws, summaries, diagnostics and predictions by key.

    Made by :func:`fit_many`. ``fits[key]`` gives the :class:`~bayescale.Fit` of one key
    (independent pooling), with ``idata``, ``summary()``, ``predict()`` and ``plot()``.

    Attributes
    ----------
    law : Law
    by : list of str
        The key column(s).
    keys : list
        The keys, sorted; a tuple per key when ``by`` has several columns.
    pooling : {"none", "partial"}
    samples : dict of str to ndarray
        Natural parameter values and noise parameters, each ``(keys, chains, draws)``.
    meta : dict
        Law, likelihood, sampler settings, and timings (``compile_s``, ``sampling_s``, ``total_s``).
    """

    def __init__(
        self,
        *,
        law: Law,
        spec: ModelSpec,
        by: list[str],
        keys: list,
        samples: Mapping[str, np.ndarray],
        diverging: np.ndarray,
        num_steps: np.ndarray,
        n_rows: np.ndarray,
        meta: Mapping[str, Any],
        curves: _Curves | None = None,
        joint_fit=None,
        raw_samples: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self.law = law
        self.spec = spec
        self.by = by
        self.keys = keys
        self.samples = dict(samples)
        self.diverging = diverging
        self.num_steps = num_steps
        self.n_rows = n_rows
        self.meta = dict(meta)
        self.pooling = self.meta["pooling"]
        self._curves = curves
        self._joint_fit = joint_fit
        self._raw = raw_samples
        self._position = {key: i for i, key in enumerate(keys)}

    # --- container protocol -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator:
        return iter(self.keys)

    def __contains__(self, key) -> bool:
        return key in self._position

    def _index(self, key) -> int:
        try:
            return self._position[key]
        except (KeyError, TypeError):
            shown = self.keys[:5]
            raise KeyError(f"{key!r} is not a key of this collection; keys look like {shown} ({len(self)} in all)") from None

    @property
    def param_names(self) -> list[str]:
        """Law parameters and noise parameters, as in :attr:`samples`."""
        return [*self.law.param_names, *self.spec.likelihood.noise_names]

    def draws(self, key, name: str) -> np.ndarray:
        """Draws of parameter ``name`` for ``key``, chains flattened: shape ``(chains * draws,)``."""
        if name not in self.samples:
            raise KeyError(f"{name!r} is not a parameter; choose from {self.param_names}")
        return self.samples[name][self._index(key)].reshape(-1)

    def __getitem__(self, key):
        """The :class:`~bayescale.Fit` of one key (for ``pooling="partial"``: the joint fit)."""
        index = self._index(key)
        if self._joint_fit is not None:
            return self._joint_fit
        from bayescale.fit import Fit
        from bayescale.inference import build_inference_data

        curves = self._curves
        rows = np.flatnonzero(curves.codes == index)
        design = Design(
            inputs={k: v[rows] for k, v in curves.design.inputs.items()},
            y=curves.design.y[rows],
            group_index={},
            levels={},
            columns=curves.design.columns,
            frame=curves.design.frame.iloc[rows],
            centres={k: float(v[index]) for k, v in curves.centres.items()},
        )
        samples = {name: value[index] for name, value in self._raw.items()}
        extra = {"diverging": self.diverging[index], "num_steps": self.num_steps[index]}
        settings = {**self.meta["settings"], "key": _jsonable(key), "by": self.by}
        priors = dict(self.spec.priors)
        idata = build_inference_data(self.spec, design, samples, extra, y=self.meta["y"], settings=settings, priors=priors)
        return Fit(idata, priors=priors)

    # --- diagnostics and summaries ----------------------------------------------------------
    @property
    def diagnostics(self) -> pd.DataFrame:
        """Per key: ``max_rhat``, ``min_ess_bulk``, ``divergences``, ``rows`` and ``converged``."""
        if "_diagnostics" not in self.__dict__:
            stacked = np.stack([self.samples[name] for name in self.param_names], axis=1)  # (K, P, C, D)
            rhat = rank_rhat(stacked)
            ess = bulk_ess(stacked)
            frame = pd.DataFrame(
                {
                    "max_rhat": np.nanmax(rhat, axis=1),
                    "min_ess_bulk": np.nanmin(ess, axis=1),
                    "divergences": self.diverging.reshape(len(self), -1).sum(axis=1).astype(int),
                    "rows": self.n_rows.astype(int),
                },
                index=self._key_index(),
            )
            frame["converged"] = (
                (frame["max_rhat"] <= RHAT_LIMIT) & (frame["min_ess_bulk"] >= ESS_LIMIT) & (frame["divergences"] == 0)
            )
            self.__dict__["_diagnostics"] = frame
            self.__dict__["_rhat"], self.__dict__["_ess"] = rhat, ess
        return self.__dict__["_diagnostics"]

    def _key_index(self) -> pd.Index:
        if len(self.by) > 1:
            return pd.MultiIndex.from_tuples(self.keys, names=self.by)
        return pd.Index(self.keys, name=self.by[0])

    def summary(self, level: float = 0.9) -> pd.DataFrame:
        """Posterior summary per key and parameter.

        Parameters
        ----------
        level : float
            Probability mass of the central (equal-tailed) interval.

        Returns
        -------
        DataFrame
            Indexed by the key column(s) and ``parameter``; columns ``mean``, ``sd``, ``lower``,
            ``upper`` (the central interval of mass ``level``), ``ess_bulk`` and ``r_hat``.
        """
        if not 0 < level < 1:
            raise ValueError(f"level={level!r} must lie in (0, 1), e.g. 0.9 for a 90% interval")
        self.diagnostics  # noqa: B018 - fills the per-parameter r_hat and ESS
        rhat, ess = self.__dict__["_rhat"], self.__dict__["_ess"]
        tail = (1 - level) / 2
        frames = []
        for p, name in enumerate(self.param_names):
            flat = self.samples[name].reshape(len(self), -1)
            lower, upper = np.quantile(flat, [tail, 1 - tail], axis=1)
            frames.append(
                pd.DataFrame(
                    {
                        "parameter": name,
                        "mean": flat.mean(axis=1),
                        "sd": flat.std(axis=1, ddof=1),
                        "lower": lower,
                        "upper": upper,
                        "ess_bulk": ess[:, p],
                        "r_hat": rhat[:, p],
                    },
                    index=self._key_index(),
                )
            )
        out = pd.concat(frames).reset_index()
        order = {key: i for i, key in enumerate(self.keys)}
        key_values = list(zip(*[out[c] for c in self.by])) if len(self.by) > 1 else list(out[self.by[0]])
        out["_k"] = [order[k] for k in key_values]
        out["_p"] = out["parameter"].map({n: i for i, n in enumerate(self.param_names)})
        out = out.sort_values(["_k", "_p"]).drop(columns=["_k", "_p"])
        return out.set_index([*self.by, "parameter"])

    def check_convergence(self) -> pd.DataFrame:
        """Warn once, naming the keys whose draws may not be trustworthy; return their diagnostics."""
        d = self.diagnostics
        bad = d[~d["converged"]]
        if len(bad):
            shown = ", ".join(repr(k) for k in list(bad.index[:5]))
            warnings.warn(
                f"{len(bad)} of {len(d)} curves have r_hat > {RHAT_LIMIT}, bulk ESS < {ESS_LIMIT} or divergences "
                f"(e.g. {shown}); see .diagnostics. Draw longer (warmup=2000, draws=2000), raise "
                "target_accept_prob, or fit those keys with pooling='partial'",
                ConvergenceWarning,
                stacklevel=3,
            )
        return bad

    # --- prediction ------------------------------------------------------------------------
    def predict(
        self, data: pd.DataFrame, level: float = 0.9, *, seed: int = 0, law_error: bool | LawError = True
    ) -> pd.DataFrame:
        """Posterior predictions, each row with its own key's curve.

        Parameters
        ----------
        data : DataFrame
            Rows with the key column(s) ``by`` and the law's inputs (under the column names used in
            the fit or the law's own names).
        level : float
            Probability mass of the central intervals.
        seed : int
            Seed of the observation-noise and law-error draws.
        law_error : bool or LawError
            As in :meth:`bayescale.Fit.predict`: each key is a ladder of its own, with its own
            fitted range and its own drift beyond it (keys share the dataset part of the drift).

        Returns
        -------
        DataFrame
            The key and input columns, then ``median``, ``mean``, ``lower``, ``upper`` (the curve:
            parameter uncertainty, plus the law error beyond each key's runs) and ``pred_lower``,
            ``pred_upper`` (a new run: curve plus run-to-run noise), as in :meth:`bayescale.Fit.predict`.
        """
        from bayescale.data import input_values, resolve_columns

        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"predict() takes a DataFrame of inputs, got {type(data).__name__}")
        if not 0 < level < 1:
            raise ValueError(f"level={level!r} must lie in (0, 1), e.g. 0.9 for a 90% interval")
        missing = [c for c in self.by if c not in data.columns]
        if missing:
            raise ValueError(f"predict(): the key column(s) {missing} are missing; each row needs its key ({self.by})")
        labels = list(zip(*[data[c] for c in self.by])) if len(self.by) > 1 else list(data[self.by[0]])
        unknown = [k for k in dict.fromkeys(labels) if k not in self._position]
        if unknown:
            import difflib

            known = {str(k): k for k in self.keys}
            closest = {k: difflib.get_close_matches(str(k), list(known), n=1) for k in unknown[:5]}
            described = ", ".join(
                f"{k!r} (closest fitted: {known[c[0]]!r})" if c else f"{k!r} (no fitted key is close)"
                for k, c in closest.items()
            )
            fix = (
                "fits[key].predict(df, new_groups='population') draws unseen keys from the population of keys"
                if self._joint_fit is not None
                else "each key is its own curve (pooling='none'), with no population to draw an unseen key "
                "from: fit those keys, or use pooling='partial'"
            )
            raise ValueError(
                f"predict(): keys {described} were not fitted; known keys look like {self.keys[:5]}. "
                f"Fix a typo, or predict only rows of fitted keys; {fix}"
            )
        index = np.array([self._position[k] for k in labels], dtype=np.int64)
        fitted = {name: col for name, col in self.meta["columns"].items() if col in data.columns}
        columns = resolve_columns(self.law, data, {name: fitted.get(name, name) for name in self.law.inputs})
        inputs = {k: jnp.asarray(v[:, None], jnp.float32) for k, v in input_values(self.law, data, columns).items()}
        params = {
            name: jnp.asarray(self.samples[name][index].reshape(len(index), -1), jnp.float32) for name in self.param_names
        }
        law_params = {name: params[name] for name in self.law.param_names}
        noise = {name: params[name] for name in self.spec.likelihood.noise_names}
        location = (
            self.law.evaluate_log(**inputs, **law_params)
            if self.spec.likelihood.log_space
            else self.law.evaluate(**inputs, **law_params)
        )
        location = jnp.broadcast_to(location, next(iter(params.values())).shape)
        shift = self._law_error_shift(law_error, index, input_values(self.law, data, columns), location.shape[1], seed)
        if shift is not None:
            location = jnp.asarray(shifted_location(self.spec, np.asarray(location, np.float64), shift.T), jnp.float32)
        new_run = self.spec.likelihood.distribution(location, noise).sample(jax.random.PRNGKey(seed))
        curve = np.asarray(jnp.exp(location) if self.spec.likelihood.log_space else location, dtype=np.float64)
        new_run = np.asarray(new_run, dtype=np.float64)
        kept = list(dict.fromkeys([*self.by, *[c for c in columns.values() if c in data.columns]]))
        return prediction_table(data[kept], curve.T, new_run.T, level)

    def _law_error_shift(self, law_error, index: np.ndarray, inputs: Mapping[str, np.ndarray], n_draws: int, seed: int):
        """Law-error draws ``(n_draws, rows)``: each row measured against its own key's fitted runs."""
        chosen = resolve_law_error(law_error)
        if chosen is None:
            return None
        if self._joint_fit is not None:  # pooling="partial": the keys are the joint fit's levels
            joint = self._joint_fit
            fitted_inputs = {name: joint.data[name].to_numpy(float) for name in self.law.inputs}
            codes = joint.idata.constant_data[f"{self.by[0]}_index"].values
        else:
            fitted_inputs, codes = self._curves.design.inputs, self._curves.codes
        distance = np.zeros(len(index))
        for key_index in np.unique(index):
            mine = index == key_index
            fitted = pd.DataFrame({k: v[codes == key_index] for k, v in fitted_inputs.items()})
            distance[mine] = extrapolation_distance(self.law, fitted, pd.DataFrame({k: v[mine] for k, v in inputs.items()}))
        if not distance.any():
            return None
        return law_error_shift(chosen, distance, index, n_draws, lower_is_better=self.law.lower_is_better, seed=seed)

    # --- files -----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the collection to a netCDF file; :func:`bayescale.load` reads it back.

        Same versioned, atomic format as :meth:`bayescale.Fit.save` (see :mod:`bayescale.io`),
        priors included: draws, NUTS statistics, each key's rows and the metadata. With
        ``pooling="partial"`` the file holds the joint fit.

        Raises
        ------
        ValueError
            If a prior or a key cannot be written (the message names it).
        """
        saved = {
            **self.meta,
            "kind": "ManyFits",
            "save_format": io.SAVE_FORMAT,
            "by": self.by,
            "keys": [_jsonable(k) for k in self.keys],
            "priors": io.priors_to_json(dict(self.spec.priors)),
        }
        try:
            text = json.dumps(saved)
        except TypeError as error:
            raise ValueError(f"ManyFits.save: a key cannot be written to JSON ({error}); use str or int keys") from None
        if self._joint_fit is not None:
            joint = self._joint_fit
            idata = joint.idata.copy()
            joint_meta = {**joint.meta, "save_format": io.SAVE_FORMAT, "priors": io.priors_to_json(joint.priors)}
            idata.attrs["bayescale"] = json.dumps({**joint_meta, "kind": "ManyFits", "many": json.loads(text)})
            return io.write(idata, path)
        design = self._curves.design
        keyed = lambda value: np.moveaxis(np.asarray(value), 0, 2)  # noqa: E731  (key, chain, draw) -> (chain, draw, key)
        constant = {f"input_{name}": values for name, values in design.inputs.items()}
        constant.update({"y": design.y, "key_code": self._curves.codes})
        stats = sample_stats({"diverging": keyed(self.diverging), "num_steps": keyed(self.num_steps)})
        idata = _arviz.from_arrays(
            posterior={name: keyed(value) for name, value in self._raw.items()},
            sample_stats=stats,
            constant_data={**constant, "n_rows": self.n_rows},
            dims={**{name: ["key"] for name in [*self._raw, *stats, "n_rows"]}, **{name: ["row"] for name in constant}},
            attrs={"bayescale": text},
        )
        return io.write(idata, path)

    # --- display ---------------------------------------------------------------------------
    def __repr__(self) -> str:
        d = self.diagnostics
        return (
            f"<bayescale.ManyFits law={self.law.name!r} by={self.by} keys={len(self)} pooling={self.pooling!r}; "
            f"{int(d['converged'].sum())} converged, worst r_hat {d['max_rhat'].max():.3f}, "
            f"lowest ESS {d['min_ess_bulk'].min():.0f}, {int(d['divergences'].sum())} divergences>"
        )

    def _repr_html_(self) -> str:
        d = self.diagnostics
        return (
            f"<div><b>bayescale.ManyFits</b> &mdash; law <code>{self.law.name}</code>, {len(self)} curves by "
            f"<code>{', '.join(self.by)}</code> (pooling {self.pooling}); {int(d['converged'].sum())} converged"
            f"{d.head(20).round(3).to_html()}</div>"
        )


def _jsonable(key):
    if isinstance(key, tuple):
        return [_jsonable(k) for k in key]
    return key.item() if isinstance(key, np.generic) else key


# --------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------
def fit_many(
    data: pd.DataFrame,
    law: str | Law = "chinchilla",
    *,
    by: str | Sequence[str],
    y: str = "loss",
    inputs: Mapping[str, str] | None = None,
    pooling: str = "none",
    priors: Mapping[str, dist.Distribution] | None = None,
    likelihood: str | Likelihood = "student_t",
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    device: str | None = None,
    target_accept_prob: float = 0.95,
    dense_mass: bool = True,
    max_tree_depth: int = 10,
    chunk_size: int | None = None,
    executor: str = "local",
    address: str | None = None,
    progress: bool | None = None,
) -> ManyFits:
    """Fit one scaling-law curve per key of a table, all keys in one vectorised NUTS run.

    Parameters
    ----------
    data : DataFrame
        One row per run; the ``by`` column(s) say which curve a row belongs to.
    law : str or Law
        A registered law name or a :class:`~bayescale.laws.Law`, shared by every curve.
    by : str or list of str
        Key column(s): one curve per distinct value (or combination).
    y, inputs, priors, likelihood
        As in :func:`bayescale.fit`; the same priors and likelihood for every curve.
    pooling : {"none", "partial"}
        ``"none"``: independent curves, each exactly the :func:`bayescale.fit` model of its rows,
        sampled together (vectorised over keys). ``"partial"``: one hierarchical model in which
        every law parameter varies by key, partially pooled (:func:`bayescale.fit` with
        ``groups=by``); better for keys with few rows, but one joint posterior.
    chains, draws, warmup, seed, target_accept_prob, dense_mass
        As in :func:`bayescale.fit`. Key ``i``, chain ``c`` uses the random key
        ``fold_in(fold_in(PRNGKey(seed), i), c)``, whatever the chunking or executor.
    device : {"cpu", "gpu"}, optional
        Where JAX runs; ``"gpu"`` needs the CUDA build of jax (``pip install 'bayescale[gpu]'``).
    max_tree_depth : int
        NUTS tree depth limit (at most ``2**max_tree_depth`` leapfrog steps per draw).
    chunk_size : int, optional
        Keys per vectorised batch (one compiled sampler serves all chunks). Default: all keys
        when there are at most 1,000, else 1,000. Results depend on the chunking only through
        floating-point rounding; keep it fixed to reproduce draws bit for bit.
    executor : {"local", "ray"}
        ``"local"`` runs the chunks one after another in this process (each chunk in parallel
        over the JAX devices); ``"ray"`` runs them as Ray tasks (``pip install 'bayescale[ray]'``).
    address : str, optional
        Ray cluster address for ``ray.init(address=...)`` when Ray is not initialised yet;
        None starts (or joins) a local Ray instance.
    progress : bool, optional
        Log one line per chunk at INFO level (there is no per-draw progress bar in a vectorised run).

    Returns
    -------
    ManyFits
        ``summary()``, ``predict(df)``, ``diagnostics`` (per key), ``draws(key, name)`` and
        ``fits[key]`` (a :class:`~bayescale.Fit`).

    Warns
    -----
    ConvergenceWarning
        Once, naming the keys with r_hat > 1.01, bulk ESS < 400 or divergences.

    Examples
    --------
    >>> import bayescale as bs
    >>> df = bs.datasets.load("nsl_vision")                                    # doctest: +SKIP
    >>> fits = bs.fit_many(df, "power", by=["task", "model"], inputs={"x": "D"})  # doctest: +SKIP
    >>> fits.summary().loc[("bird_5", "MiX/B/16")]                             # doctest: +SKIP
    >>> fits.predict(df.head())                                                # doctest: +SKIP
    """
    started = time.perf_counter()
    law = get(law)
    likelihood = get_likelihood(likelihood)
    _check_sampler_settings(chains=chains, draws=draws, warmup=warmup, target_accept_prob=target_accept_prob)
    by_list = [by] if isinstance(by, str) else list(by)
    if not by_list:
        raise ValueError("by= must name at least one key column, e.g. by='task'")
    if pooling not in ("none", "partial"):
        raise ValueError(f"pooling={pooling!r} must be 'none' (independent curves) or 'partial' (pooled across keys)")
    if executor not in ("local", "ray"):
        raise ValueError(f"executor={executor!r} must be 'local' or 'ray'")
    if pooling == "partial":
        return _fit_partial(
            data, law, by_list, y=y, inputs=inputs, priors=priors, likelihood=likelihood, chains=chains,
            draws=draws, warmup=warmup, seed=seed, device=device, target_accept_prob=target_accept_prob,
            dense_mass=dense_mass, progress=progress, started=started,
        )  # fmt: skip

    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame (one row per run), got {type(data).__name__}")
    codes, keys = _key_codes(data, by_list)
    n_free = len(law.params) + len(likelihood.noise_names)
    design = prepare_design(data, law, y=y, inputs=inputs, group_columns=[], likelihood=likelihood)
    curves = _split_curves(design, law, codes, keys, None)
    few = [keys[i] for i in np.flatnonzero(curves.n_rows <= n_free)]
    if few:
        raise ValueError(
            f"{len(few)} key(s) have no more rows than the model's {n_free} free parameters, e.g. {few[:5]}; "
            "drop them, or use pooling='partial' so that they borrow strength from the other keys"
        )
    resolved = resolve_priors(law, likelihood, {}, priors)
    spec = build_spec(law, likelihood, {}, {}, resolved)
    settings = Settings(chains, draws, warmup, float(target_accept_prob), bool(dense_mass), int(max_tree_depth))
    if chunk_size is None:
        chunk_size = min(len(keys), 1000)
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size!r} must be a positive integer (keys per vectorised batch)")
    chunk_size = min(int(chunk_size), len(keys))
    chunks = _make_chunks(curves, _chain_keys(seed, len(keys), chains), chunk_size)
    n_devices = _devices_for(device)
    logger.info("fit_many: %d curves of up to %d rows in %d chunk(s) of %d", len(keys), curves.length, len(chunks), chunk_size)

    if executor == "ray":
        from bayescale.executors import run_chunks_ray

        results = run_chunks_ray(spec, settings, chunks, n_devices, device, address=address)
    else:
        results = []
        for number, chunk in enumerate(chunks):
            results.append(run_chunk(spec, settings, chunk, n_devices, device))
            if progress:
                logger.info("fit_many: chunk %d/%d done in %.1f s", number + 1, len(chunks), results[-1]["_run_s"])
    raw = {
        name: np.concatenate([r[name] for r in results], axis=0)
        for name in results[0]
        if not name.startswith("_") and not name.endswith("_prior")
    }
    diverging = np.concatenate([r["_diverging"] for r in results], axis=0)
    num_steps = np.concatenate([r["_num_steps"] for r in results], axis=0)
    names = [*law.param_names, *likelihood.noise_names]
    meta = {
        "law": law.name,
        "likelihood": likelihood.name,
        "y": y,
        "columns": design.columns,
        "pooling": "none",
        "settings": {
            "chains": chains, "draws": draws, "warmup": warmup, "seed": seed,
            "target_accept_prob": float(target_accept_prob), "dense_mass": bool(dense_mass),
            "max_tree_depth": int(max_tree_depth), "chunk_size": chunk_size, "executor": executor,
            "chain_method": "vectorized",
        },
        "compile_s": float(sum(r["_compile_s"] for r in results)),
        "sampling_s": float(sum(r["_run_s"] for r in results)),
        "total_s": time.perf_counter() - started,
    }  # fmt: skip
    result = ManyFits(
        law=law,
        spec=spec,
        by=by_list,
        keys=keys,
        samples={name: raw[name] for name in names},
        diverging=diverging,
        num_steps=num_steps,
        n_rows=curves.n_rows,
        meta=meta,
        curves=curves,
        raw_samples=raw,
    )
    result.check_convergence()
    return result


def _devices_for(device: str | None) -> int:
    platform = jax.default_backend() if device is None else device
    try:
        return len(jax.devices(platform))
    except RuntimeError:
        _device(device)  # raises the helpful error
        raise


def _fit_partial(data, law, by, *, likelihood, started, **options) -> ManyFits:
    from bayescale.inference import fit as single_fit

    if len(by) > 1:
        raise ValueError(
            f"pooling='partial' takes one key column, got by={by}; combine them first, e.g. "
            f"df['key'] = df[{by!r}].astype(str).agg('/'.join, axis=1) and by='key'"
        )
    joint = single_fit(data, law, groups=by[0], likelihood=likelihood, **options)
    return _from_joint(joint, by, total_s=time.perf_counter() - started)


def _from_joint(joint, by: list[str], *, total_s: float) -> ManyFits:
    """The collection view of a hierarchical fit whose grouping column is the key ``by[0]``."""
    law, likelihood = joint.law, joint.spec.likelihood
    column = by[0]
    levels = joint.levels[column]
    posterior = joint.idata.posterior
    samples = {}
    for name in law.param_names:
        value = posterior[f"{name}_{column}"].values  # (chains, draws, levels)
        samples[name] = np.moveaxis(value, -1, 0)
    for name in likelihood.noise_names:
        value = posterior[name].values
        samples[name] = np.broadcast_to(value, (len(levels),) + value.shape).copy()
    n_rows = np.bincount(joint.idata.constant_data[f"{column}_index"].values, minlength=len(levels))
    diverging = np.broadcast_to(joint.idata.sample_stats["diverging"].values, (len(levels),) + samples[name].shape[1:])
    num_steps = np.broadcast_to(joint.idata.sample_stats["n_steps"].values, diverging.shape)
    meta = {
        "law": law.name,
        "likelihood": likelihood.name,
        "y": joint.y,
        "columns": joint.columns,
        "pooling": "partial",
        "settings": joint.meta["settings"],
        "total_s": total_s,
    }
    return ManyFits(
        law=law, spec=joint.spec, by=by, keys=list(levels), samples=samples, diverging=diverging,
        num_steps=num_steps, n_rows=n_rows, meta=meta, joint_fit=joint,
    )  # fmt: skip


_SAVE_ONLY = ("kind", "save_format", "by", "keys", "priors")


def _read_many(idata, saved: dict) -> ManyFits:
    """Rebuild a :class:`ManyFits` from a file written by :meth:`ManyFits.save`."""
    if "many" in saved:  # pooling="partial": the joint fit, with the collection's metadata beside
        from bayescale.fit import Fit

        many = saved["many"]
        idata.attrs["bayescale"] = json.dumps({**{k: v for k, v in saved.items() if k != "many"}, "kind": "Fit"})
        return _from_joint(Fit(idata), many["by"], total_s=many.get("total_s", 0.0))
    law = get(saved["law"])
    likelihood = get_likelihood(saved["likelihood"])
    priors = resolve_priors(law, likelihood, {}, io.priors_from_json(saved["priors"]))
    keys = [tuple(k) if isinstance(k, list) else k for k in saved["keys"]]
    const = idata.constant_data
    inputs = {name[len("input_"):]: const[name].values for name in const.data_vars if name.startswith("input_")}
    design = Design(
        inputs=inputs, y=const["y"].values, group_index={}, levels={}, columns=saved["columns"],
        frame=add_derived(pd.DataFrame(inputs)),
    )  # fmt: skip
    raw = {name: np.moveaxis(idata.posterior[name].values, 2, 0) for name in idata.posterior.data_vars}
    unkeyed = lambda name: np.moveaxis(idata.sample_stats[name].values, 2, 0)  # noqa: E731
    return ManyFits(
        law=law, spec=build_spec(law, likelihood, {}, {}, priors), by=list(saved["by"]), keys=keys,
        samples={name: raw[name] for name in [*law.param_names, *likelihood.noise_names]},
        diverging=unkeyed("diverging"), num_steps=unkeyed("n_steps"), n_rows=const["n_rows"].values,
        meta={k: v for k, v in saved.items() if k not in _SAVE_ONLY},
        curves=_split_curves(design, law, const["key_code"].values, keys, None), raw_samples=raw,
    )  # fmt: skip


io.register_reader("ManyFits", _read_many)
