"""The result of :func:`bayescale.fit_many`: :class:`ManyFits`, one fitted curve per key.

Draws, per-key diagnostics and summaries, predictions by key, ``fits[key]`` as a full
:class:`~bayescale.Fit`, and ``save``/``load`` in the versioned format of :mod:`bayescale.io`.
:func:`from_joint` gives the same view of a hierarchical fit whose grouping column is the key
(``pooling="partial"``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bayescale import _arviz, io
from bayescale.curves import Curves, split_curves
from bayescale.data import Design, add_derived
from bayescale.diagnostics import ESS_LIMIT, RHAT_LIMIT, ConvergenceWarning, bulk_ess, rank_rhat
from bayescale.fit_result import Fit
from bayescale.hierarchy import ModelSpec, build_spec, resolve_priors
from bayescale.inference import build_inference_data, sample_stats
from bayescale.law_error import LawError, extrapolation_distance, warn_beyond_learned_reach
from bayescale.law_error import resolve as resolve_law_error
from bayescale.law_error import shift as law_error_shift
from bayescale.laws import Law, get
from bayescale.likelihoods import get_likelihood
from bayescale.posterior import prediction_table, shifted_location


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
        curves: Curves | None = None,
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
        """Draws of parameter ``name`` for ``key``, chains flattened: shape ``(chains * draws,)``.

        Parameters
        ----------
        key
            One of :attr:`keys` (a tuple when ``by`` has several columns).
        name : str
            A law parameter or a noise parameter (:attr:`param_names`).

        Returns
        -------
        ndarray
            Shape ``(chains * draws,)``.

        Raises
        ------
        KeyError
            For an unknown ``name`` or ``key``.
        """
        if name not in self.samples:
            raise KeyError(f"{name!r} is not a parameter; choose from {self.param_names}")
        return self.samples[name][self._index(key)].reshape(-1)

    def __getitem__(self, key):
        """The :class:`~bayescale.Fit` of one key (for ``pooling="partial"``: the joint fit).

        Built once per key and kept, so that what it computes when first needed (its own law
        error, :meth:`~bayescale.Fit.own_law_error`) is computed once.
        """
        index = self._index(key)
        if self._joint_fit is not None:
            return self._joint_fit
        built = self.__dict__.setdefault("_fits_by_key", {})
        if index not in built:
            built[index] = self._build_fit(key, index)
        return built[index]

    def _build_fit(self, key, index: int) -> Fit:
        curves, raw = self._curves, self._raw
        assert curves is not None and raw is not None and curves.design.y is not None  # no pooling: one fit per key
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
        samples = {name: value[index] for name, value in raw.items()}
        extra = {"diverging": self.diverging[index], "num_steps": self.num_steps[index]}
        warmup = int(self._warmups()[index])
        settings = {**self.meta["settings"], "warmup": warmup, "key": _jsonable(key), "by": self.by}
        priors = dict(self.spec.priors)
        idata = build_inference_data(self.spec, design, samples, extra, y=self.meta["y"], settings=settings, priors=priors)
        return Fit(idata, priors=priors)

    # --- diagnostics and summaries ----------------------------------------------------------
    @property
    def diagnostics(self) -> pd.DataFrame:
        """Per key: ``max_rhat``, ``min_ess_bulk``, ``divergences``, ``rows``, ``warmup`` (of the
        run behind the key's draws: longer where :func:`~bayescale.fit_many` sampled it again)
        and ``converged``."""
        if "_diagnostics" not in self.__dict__:
            frame, rhat, ess = key_diagnostics(
                [self.samples[name] for name in self.param_names], self.diverging, self.n_rows, self._key_index()
            )
            frame.insert(frame.columns.get_loc("converged"), "warmup", self._warmups())
            self.__dict__["_diagnostics"] = frame
            self.__dict__["_rhat"], self.__dict__["_ess"] = rhat, ess
        return self.__dict__["_diagnostics"]

    def _warmups(self) -> np.ndarray:
        warmup = self.meta["settings"]["warmup"]
        return np.asarray(self.meta.get("warmup_by_key") or [warmup] * len(self), dtype=int)

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
        key_values = list(zip(*[out[c] for c in self.by], strict=True)) if len(self.by) > 1 else list(out[self.by[0]])
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
            retried, recovered = self.meta.get("retried", 0), self.meta.get("retry_converged", 0)
            again = f"; {retried} were sampled again with a longer warm-up, {recovered} of them then met the rule"
            again = again if retried else ""
            warnings.warn(
                f"{len(bad)} of {len(d)} curves have r_hat > {RHAT_LIMIT}, bulk ESS < {ESS_LIMIT} or divergences "
                f"(e.g. {shown}{again}); see .diagnostics. Draw longer (warmup=2000, draws=2000), raise "
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
            ``True`` is the learned drift as it is: unlike a single fit's default it is not sized
            by each key's top runs, which would take a refit per key (``many[key]`` is a
            :class:`~bayescale.Fit` that does so).

        Returns
        -------
        DataFrame
            The key and input columns, then ``median``, ``mean``, ``lower``, ``upper`` (the curve:
            parameter uncertainty, plus the law error beyond each key's runs) and ``pred_lower``,
            ``pred_upper`` (a new run: curve plus run-to-run noise), as in :meth:`bayescale.Fit.predict`.

        Warns
        -----
        ExtrapolationWarning
            With ``law_error=True``, once, when rows lie further beyond their key's runs than
            any forecast the law error was learned from, as in :meth:`bayescale.Fit.predict`.
        """
        from bayescale.data import input_values, resolve_columns

        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"predict() takes a DataFrame of inputs, got {type(data).__name__}")
        if not 0 < level < 1:
            raise ValueError(f"level={level!r} must lie in (0, 1), e.g. 0.9 for a 90% interval")
        missing = [c for c in self.by if c not in data.columns]
        if missing:
            raise ValueError(f"predict(): the key column(s) {missing} are missing; each row needs its key ({self.by})")
        labels = list(zip(*[data[c] for c in self.by], strict=True)) if len(self.by) > 1 else list(data[self.by[0]])
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
        shift = None
        if law_error is not False:  # the distances take a pass over the keys: only when they count
            distance = self._distances(index, input_values(self.law, data, columns))
            if law_error is True:
                warn_beyond_learned_reach(distance, data.index, stacklevel=2)
            shift = self._law_error_shift(law_error, index, distance, location.shape[1], seed)
        if shift is not None:
            location = jnp.asarray(shifted_location(self.spec, np.asarray(location, np.float64), shift.T), jnp.float32)
        new_run = self.spec.likelihood.distribution(location, noise).sample(jax.random.PRNGKey(seed))
        curve = np.asarray(jnp.exp(location) if self.spec.likelihood.log_space else location, dtype=np.float64)
        new_run = np.asarray(new_run, dtype=np.float64)
        kept = list(dict.fromkeys([*self.by, *[c for c in columns.values() if c in data.columns]]))
        return prediction_table(data[kept], curve.T, new_run.T, level)

    def _law_error_shift(self, law_error, index: np.ndarray, distance: np.ndarray, n_draws: int, seed: int):
        """Law-error draws ``(n_draws, rows)`` at each row's ``distance`` beyond its own key's runs."""
        chosen = resolve_law_error(law_error)
        if chosen is None or not distance.any():
            return None
        return law_error_shift(chosen, distance, index, n_draws, lower_is_better=self.law.lower_is_better, seed=seed)

    def _distances(self, index: np.ndarray, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Decades of each row beyond its own key's fitted runs (:func:`~bayescale.law_error.extrapolation_distance`)."""
        if self._joint_fit is not None:  # pooling="partial": the keys are the joint fit's levels
            joint = self._joint_fit
            fitted_inputs = {name: joint.data[name].to_numpy(float) for name in self.law.inputs}
            codes = joint.idata.constant_data[f"{self.by[0]}_index"].values
        else:
            assert self._curves is not None, "a collection without a joint fit has its curves"
            fitted_inputs, codes = self._curves.design.inputs, self._curves.codes
        distance = np.zeros(len(index))
        for key_index in np.unique(index):
            mine = index == key_index
            fitted = pd.DataFrame({k: v[codes == key_index] for k, v in fitted_inputs.items()})
            distance[mine] = extrapolation_distance(self.law, fitted, pd.DataFrame({k: v[mine] for k, v in inputs.items()}))
        return distance

    # --- files -----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the collection to a netCDF file; :func:`bayescale.load` reads it back.

        Same versioned, atomic format as :meth:`bayescale.Fit.save` (see :mod:`bayescale.io`),
        priors included: draws, NUTS statistics, each key's rows and the metadata. With
        ``pooling="partial"`` the file holds the joint fit.

        Parameters
        ----------
        path : str or Path
            The file to write (replaced if it exists).

        Returns
        -------
        Path
            ``path``.

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
        assert self._curves is not None and self._raw is not None, "a collection without a joint fit has its curves"
        design = self._curves.design
        keyed = lambda value: np.moveaxis(np.asarray(value), 0, 2)  # noqa: E731  (key, chain, draw) -> (chain, draw, key)
        constant: dict[str, Any] = {f"input_{name}": values for name, values in design.inputs.items()}
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
        from html import escape  # law names, key columns and keys are the user's text

        d = self.diagnostics
        return (
            f"<div><b>bayescale.ManyFits</b> &mdash; law <code>{escape(self.law.name)}</code>, {len(self)} curves by "
            f"<code>{escape(', '.join(map(str, self.by)))}</code> (pooling {escape(str(self.pooling))}); "
            f"{int(d['converged'].sum())} converged{d.head(20).round(3).to_html()}</div>"
        )


def key_diagnostics(
    samples: list[np.ndarray], diverging: np.ndarray, n_rows: np.ndarray, index: pd.Index
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Per key (a row of ``index``): ``max_rhat``, ``min_ess_bulk``, ``divergences``, ``rows`` and
    ``converged`` (r_hat <= 1.01, bulk ESS >= 400, no divergences), from each parameter's draws
    ``(keys, chains, draws)``; also the ``(keys, parameters)`` r_hat and bulk ESS behind them."""
    stacked = np.stack(samples, axis=1)  # (K, P, C, D)
    rhat = rank_rhat(stacked)
    ess = bulk_ess(stacked)
    frame = pd.DataFrame(
        {
            "max_rhat": np.nanmax(rhat, axis=1),
            "min_ess_bulk": np.nanmin(ess, axis=1),
            "divergences": diverging.reshape(len(index), -1).sum(axis=1).astype(int),
            "rows": np.asarray(n_rows).astype(int),
        },
        index=index,
    )
    frame["converged"] = (
        (frame["max_rhat"] <= RHAT_LIMIT) & (frame["min_ess_bulk"] >= ESS_LIMIT) & (frame["divergences"] == 0)
    )
    return frame, rhat, ess


def _jsonable(key):
    if isinstance(key, tuple):
        return [_jsonable(k) for k in key]
    return key.item() if isinstance(key, np.generic) else key


def from_joint(joint, by: list[str], *, total_s: float) -> ManyFits:
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
        many = saved["many"]
        idata.attrs["bayescale"] = json.dumps({**{k: v for k, v in saved.items() if k != "many"}, "kind": "Fit"})
        return from_joint(Fit(idata), many["by"], total_s=many.get("total_s", 0.0))
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
        curves=split_curves(design, law, const["key_code"].values, keys, None), raw_samples=raw,
    )  # fmt: skip


io.register_reader("ManyFits", _read_many)
