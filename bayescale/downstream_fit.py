"""The result of :func:`bayescale.fit_downstream`: a loss law and a link in one posterior.

:class:`DownstreamFit` predicts the metric (and the loss) of new runs, checks convergence, compares
approaches by LOO (:func:`compare_downstream`), plots and saves; :mod:`bayescale.downstream`
builds the model and samples it.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd

from bayescale import _arviz, io
from bayescale.comparison import with_convergence
from bayescale.data import group_codes, input_values
from bayescale.diagnostics import ConvergenceWarning, convergence_problems
from bayescale.hierarchy import (
    build_spec,
    curve_location,
    parameter_values,
)
from bayescale.law_error import LawError, extrapolation_distance, shift_for_fit, warn_beyond_learned_reach
from bayescale.laws import Law, get
from bayescale.laws.downstream_links import get_link
from bayescale.likelihoods import Likelihood, get_likelihood
from bayescale.link_stage import LINK_SITE_PREFIX, link_spec, row_parameters, task_value
from bayescale.posterior import prediction_table, shifted_location
from bayescale.prediction_rows import prediction_inputs, unseen_levels_message, with_new_levels
from bayescale.trials import prediction_trials, trial_counts

if TYPE_CHECKING:
    import matplotlib.axes

__all__ = ["DownstreamFit", "compare_downstream"]

def chance_floors(data: pd.DataFrame, chance: float | str | None) -> np.ndarray:
    """The chance accuracy of each row: 0 (``None``), a number, or the values of column ``chance``."""
    if chance is None:
        return np.zeros(len(data))
    if isinstance(chance, str):
        if chance not in data.columns:
            raise ValueError(
                f"chance={chance!r} is not a column; the DataFrame has {list(data.columns)}. "
                "Pass the chance accuracy as a number or name its column"
            )
        values = data[chance].to_numpy(dtype=float)
    else:
        values = np.full(len(data), float(chance))
    if np.any((values < 0) | (values >= 1)) or np.isnan(values).any():
        raise ValueError(f"chance={chance!r} must be a chance accuracy in [0, 1), e.g. 0.25 for four choices")
    return values


class DownstreamFit:
    """Posterior of a joint (or direct) loss-to-metric model; made by :func:`fit_downstream`.

    Attributes
    ----------
    idata : arviz.InferenceData
        Posterior, ``log_likelihood`` of the metric (named after the metric column, one value per
        row), observed data.
    spec : ModelSpec
        The loss law's structure.
    link : Link
    meta : dict
    """

    def __init__(self, samples, *, spec, link, meta, data, run_codes, diverging, priors=None) -> None:
        self.samples = samples
        self.spec = spec
        self.meta = meta
        self.data = data
        self.run_codes = run_codes
        self.diverging = diverging
        given = dict(priors or {})
        link_priors = {k: v for k, v in given.items() if k.startswith(LINK_SITE_PREFIX)}
        # ``link`` carries the priors the fit used (the catalogue's objects where they were not changed)
        changed = {name: prior for site, prior in link_priors.items()
                   if (name := site.removeprefix(LINK_SITE_PREFIX)) in link.priors
                   and io.prior_to_json(prior) != io.prior_to_json(link.priors[name])}
        self.link = link.with_priors(changed) if changed else link
        #: The link stage's structure: its parameters, shared or by task (:func:`bayescale.link_stage.link_spec`).
        self.stage = link_spec(self.link, self.metric_likelihood, self.by, len(self.tasks), link_priors,
                               centered=bool(meta.get("task_centred", False)))
        self.priors: dict[str, dist.Distribution] = given if priors is not None else {
            **dict(spec.priors), **dict(self.stage.priors)}
        self.idata: Any = None  # an arviz.InferenceData, set by _build_idata or by the loader

    @property
    def law(self) -> Law:
        """The loss law (or latent law for the direct approach)."""
        return self.spec.law

    @property
    def lower_is_better(self) -> bool:
        """True for an error metric, False for an accuracy."""
        return self.meta["metric_kind"] == "error"

    @property
    def y(self) -> str:
        """Name of the metric column."""
        return self.meta["metric"]

    @property
    def levels(self) -> dict[str, list[str]]:
        """Levels of each grouping column of the loss law, in the order of the posterior's group dimension."""
        return self.meta["levels"]

    @property
    def by(self) -> str | None:
        """The task column whose levels have their own link (``fit_downstream(by=...)``), or None."""
        return self.meta.get("by")

    @property
    def tasks(self) -> list[str]:
        """The tasks of a fit ``by`` task, in the order of the posterior's task dimension (else empty)."""
        return list(self.meta.get("tasks") or [])

    @property
    def columns(self) -> dict[str, str]:
        """Loss-law input name to the column of :attr:`data` it was read from."""
        return self.meta["columns"]

    def draws(self, name: str) -> np.ndarray:
        """Draws of a site, chains flattened.

        Parameters
        ----------
        name : str
            A sampled site: a loss-law parameter, group values and spreads, a noise parameter,
            a link parameter ``link_<p>``, ``kappa`` or ``floor`` (the keys of ``samples``).

        Returns
        -------
        ndarray
            Shape ``(chains * draws, ...)``.
        """
        value = self.samples[name]
        return value.reshape((-1,) + value.shape[2:])

    @property
    def metric_likelihood(self) -> Likelihood:
        """How the metric scatters around the link (``beta`` in fits made before it was a choice)."""
        return get_likelihood(self.meta.get("metric_likelihood", "beta"))

    @cached_property
    def link_param_names(self) -> list[str]:
        """The link stage's sites: the link's parameters (and their spreads over tasks), the metric's
        noise (``kappa``) and ``floor``."""
        names = list(self.stage.law.param_names) + [f"{p}_{self.by}_sd" for p in self.stage.law.param_names
                                                   if self.by]
        names += list(self.metric_likelihood.noise_names)
        return names + (["floor"] if self.meta["estimate_floor"] else [])

    def _build_idata(self, args, y_metric) -> None:
        sites = {k: self.draws(k) for k in self.samples}
        _, _, predictive, log_lik = self._evaluate(sites, args, y=y_metric)
        chains, n = next(iter(self.samples.values())).shape[:2]
        grouping = [*self.spec.grouping, *self.stage.grouping]
        dims = {f"{p}_{c}{suffix}": [c] for p, cols in grouping for c in cols
                for suffix in ("_z", "_offset", "") if f"{p}_{c}{suffix}" in self.samples}
        if self.by:  # the metric's noise and the floor, per task
            dims.update({name: [self.by] for name in ("kappa", "floor") if name in self.samples})
        self.idata = _arviz.to_inference_data(
            self.samples,
            log_likelihood=log_lik.reshape(chains, n, -1),
            posterior_predictive=predictive.reshape(chains, n, -1),
            observed=y_metric,
            constant_data={},
            sample_stats={"diverging": self.diverging},
            coords={**self.meta["levels"], **({self.by: self.tasks} if self.by else {})},
            dims=dims,
            attrs={"bayescale_downstream": json.dumps(self.meta)},
            observed_column=self.meta["metric"],
        )

    def _evaluate(self, sites, args, y=None, seed: int = 0, shift: np.ndarray | None = None):
        """Loss curve per run, metric curve, predictive draws and log-likelihood per row.

        Curves and log-likelihood are compiled (the metric's density is its likelihood's,
        :meth:`bayescale.likelihoods.Likelihood.distribution`); the new-observation draws come
        from NumPy, as for :func:`bayescale.fit` (:meth:`bayescale.likelihoods.Likelihood.sample`). ``shift``
        (``(draws, runs)``, on the loss likelihood's scale) moves the loss law's curve before the
        link: the law error beyond the fitted runs.
        """
        spec, stage = self.spec, self.stage
        estimate_floor = self.meta["estimate_floor"]
        observed = self.meta["loss_input"] == "observed" and y is not None
        metric_lik = self.metric_likelihood
        trials = args.get("trials")
        task = args["task_of_row"]

        def one(s, moved):
            per_row, _ = parameter_values(spec, s, args["group_index"], args["centres"])
            location = shifted_location(spec, curve_location(spec, args["inputs"], per_row), moved, xp=jnp)
            curve = jnp.exp(location) if spec.likelihood.log_space else location
            L = args["row_loss"] if observed else curve[args["run_of_row"]]
            floor = task_value(s["floor"], task) if estimate_floor else args["chance"]
            acc = stage.law.mean(L, floor, args["loss_centre"], **row_parameters(stage, s, task))
            mean = jnp.clip(jnp.where(args["accuracy_sign"] > 0, acc, 1.0 - acc), 1e-5, 1 - 1e-5)
            scatter = {name: task_value(s[name], task) for name in metric_lik.noise_names}
            density = metric_lik.distribution(mean, scatter, trials)
            value = y if metric_lik.counts or y is None else jnp.clip(y, 1e-6, 1 - 1e-6)
            ll = density.log_prob(value) if y is not None else jnp.zeros_like(mean)
            return curve, mean, ll

        jsites = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in sites.items()}
        n_draws = next(iter(sites.values())).shape[0]
        n_runs = next(iter(args["inputs"].values())).shape[0]
        moved = jnp.zeros((n_draws, n_runs), jnp.float32) if shift is None else jnp.asarray(shift, jnp.float32)
        curve, mean, ll = (np.asarray(o, dtype=np.float64) for o in jax.jit(jax.vmap(one))(jsites, moved))
        noise = {name: sites[name][:, task] if self.by else sites[name] for name in metric_lik.noise_names}
        predictive = metric_lik.sample(np.random.default_rng(seed), mean, noise,
                                       trials=None if trials is None else np.asarray(trials))
        return curve, mean, predictive, ll

    # --- diagnostics and summaries ------------------------------------------------------------
    def _summary_names(self) -> list[str]:
        names = list(self.law.param_names)
        if self.meta["approach"] == "joint":
            names += list(self.spec.likelihood.noise_names)
        return names + self.link_param_names

    @cached_property
    def diagnostics(self) -> dict[str, float]:
        """``max_rhat``, ``min_ess_bulk`` and ``divergences``."""
        max_rhat, min_ess = _arviz.rhat_and_ess(self.idata, self._summary_names())
        return {"max_rhat": max_rhat, "min_ess_bulk": min_ess, "divergences": int(self.diverging.sum())}

    def convergence_problems(self) -> list[str]:
        """The convergence rule's broken limits in plain words, each with what to do (empty when converged)."""
        used = float(self.meta.get("target_accept_prob", 0.95))
        return convergence_problems(self.diagnostics, target_accept_prob=used)

    def check_convergence(self) -> list[str]:
        """Warn when r_hat, ESS or divergences say the draws may not be trustworthy."""
        problems = self.convergence_problems()
        for p in problems:
            warnings.warn(p, ConvergenceWarning, stacklevel=3)
        return problems

    def summary(self, level: float = 0.9) -> pd.DataFrame:
        """Posterior summary of the loss-law, noise and link parameters (``link_<p>``).

        Parameters
        ----------
        level : float
            Probability mass of the highest-density interval.

        Returns
        -------
        DataFrame
            One row per parameter: ``mean``, ``sd``, HDI bounds, MCSE, ``ess_bulk``, ``ess_tail``,
            ``r_hat`` (ArviZ's summary). The loss law's noise parameters are listed for the joint
            approach only.
        """
        return _arviz.summary(self.idata, self._summary_names(), hdi_prob=level)

    def __repr__(self) -> str:
        d = self.diagnostics
        return (f"<bayescale.DownstreamFit {self.meta['approach']} law={self.law.name!r} link={self.link.name!r} "
                f"metric={self.y!r} rows={len(self.data)}; max r_hat {d['max_rhat']:.3f}, "
                f"{d['divergences']} divergences>")

    # --- files --------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the fit to a netCDF file; :func:`bayescale.load` reads it back.

        Same versioned, atomic format as :meth:`bayescale.Fit.save` (see :mod:`bayescale.io`):
        the draws, the metric's log-likelihood, the fitted rows and the metadata, with every
        prior (the loss law's, the link's ``link_<p>``, ``kappa`` and ``floor``; custom ones
        too). The loaded fit's :meth:`predict` equals this one's for the same seed.

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
            If a prior or a data column cannot be written (the message names it).
        """
        from bayescale._version import __version__

        saved = {
            **self.meta,
            "kind": "DownstreamFit",
            "save_format": io.SAVE_FORMAT,
            "bayescale_version": __version__,
            "likelihood": self.spec.likelihood.name,
            "priors": io.priors_to_json(self.priors),
            "sample_names": list(self.samples),
            "run_codes": np.asarray(self.run_codes, dtype=np.int64).tolist(),
            "data": _frame_to_json(self.data),
        }
        try:
            text = json.dumps(saved)
        except (TypeError, ValueError) as error:
            raise ValueError(f"DownstreamFit.save: the fit's metadata cannot be written to JSON ({error})") from None
        idata = self.idata.copy()
        idata.attrs["bayescale"] = text
        return io.write(idata, path)

    # --- prediction ---------------------------------------------------------------------------
    def _prediction_args(self, data: pd.DataFrame, seed: int):
        inputs, group_index, kept = prediction_inputs(self.law, data, self.columns, self.levels)
        task = self._task_codes(data)
        if self.by:
            kept.append(self.by)
        chance = self.meta["chance"]
        if isinstance(chance, str) and chance not in data.columns:
            if not self.by:
                raise ValueError(
                    f"the fit's chance floor comes from column {chance!r}; add it to the rows to predict "
                    f"(e.g. df[{chance!r}] = 0.25)"
                )
            data = data.assign(**{chance: self.task_chance[task]})  # each task's fitted chance
        chance_values = chance_floors(data, chance)
        sites = with_new_levels(self.spec, {k: self.draws(k) for k in self.samples}, group_index, seed)
        def f32(v):
            return jnp.asarray(v, dtype=jnp.float32)

        args = dict(
            inputs={k: f32(v) for k, v in inputs.items()},
            group_index={k: jnp.asarray(v, dtype=jnp.int32) for k, v in group_index.items()},
            centres={k: f32(v) for k, v in self.meta["centres"].items()},
            run_of_row=jnp.arange(len(data), dtype=jnp.int32),
            task_of_row=jnp.asarray(task, dtype=jnp.int32),
            chance=f32(chance_values),
            loss_centre=f32(self.meta["loss_centre"]),
            row_loss=f32(np.ones(len(data))),
            accuracy_sign=1.0 if self.meta["metric_kind"] == "accuracy" else -1.0,
        )
        if self.metric_likelihood.counts:
            fitted_trials = trial_counts(self.data, self.meta["trials"], self.metric_likelihood)
            assert fitted_trials is not None
            column = self.meta["trials"]
            if self.by and isinstance(column, str) and column not in data.columns:  # each task's questions
                data = data.assign(**{column: self._per_task(fitted_trials)[task]})
            args["trials"] = f32(prediction_trials(data, column, fitted_trials, self.metric_likelihood))
        return args, sites, kept, inputs

    def _task_codes(self, data: pd.DataFrame) -> np.ndarray:
        """The fitted task of every row of ``data`` (zeros for a fit without ``by``)."""
        if not self.by:
            return np.zeros(len(data), dtype=np.int32)
        if self.by not in data.columns:
            raise ValueError(
                f"the fit has a link per {self.by!r}; give each row to predict its {self.by} "
                f"(one of {self.tasks[:5]}...), or use predict_average() for the average over the tasks"
            )
        codes, _ = group_codes(data, self.by, self.tasks)
        if (codes < 0).any():
            message = unseen_levels_message({self.by: self.tasks}, data)
            raise ValueError(f"{message}. A fit by {self.by} predicts the tasks it saw; refit with the new ones")
        return codes

    def _per_task(self, values: np.ndarray) -> np.ndarray:
        """The value of each fitted task: the first of its rows (``values`` has one per fitted row)."""
        frame = pd.DataFrame({"task": self._task_codes(self.data), "value": values})
        return frame.groupby("task")["value"].first().reindex(range(len(self.tasks))).to_numpy(float)

    @cached_property
    def task_chance(self) -> np.ndarray:
        """The chance accuracy of each fitted task (the first of its rows), for a fit ``by`` task; the
        rows to predict take it from their task when they lack the chance column (and likewise the
        number of questions, ``trials``)."""
        return self._per_task(chance_floors(self.data, self.meta["chance"]))

    @cached_property
    def fitted_inputs(self) -> pd.DataFrame:
        """The loss law's inputs of the fitted rows, under the law's own names."""
        return pd.DataFrame(input_values(self.law, self.data, self.meta["columns"]))

    def extrapolation_distance(self, data: pd.DataFrame) -> np.ndarray:
        """Decades of scale beyond the fitted runs at each row of ``data`` (0 inside the range).

        See :func:`bayescale.law_error.extrapolation_distance`.

        Parameters
        ----------
        data : DataFrame
            Rows with the loss law's inputs (under the fitted columns or the law's own names).

        Returns
        -------
        ndarray
            ``(rows,)``, in decades of the loss law's scale inputs.
        """
        inputs, _, _ = prediction_inputs(self.law, data, self.columns, self.levels)
        return extrapolation_distance(self.law, self.fitted_inputs, pd.DataFrame(inputs))

    def _predictions(self, data: pd.DataFrame, seed: int, law_error):
        args, sites, kept, inputs = self._prediction_args(data, seed)
        shift = shift_for_fit(law_error, self.law, self.fitted_inputs, inputs, args["group_index"], self.meta["levels"],
                              len(next(iter(sites.values()))), seed=seed, data_hash=self.meta.get("data_hash", ""))
        loss_curve, metric, predictive, _ = self._evaluate(sites, args, seed=seed, shift=shift)
        return kept, loss_curve, metric, predictive

    def posterior_draws(
        self, data: pd.DataFrame, *, seed: int = 0, law_error: bool | LawError = True
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Draws of the metric's curve and of a new run's metric at ``data``, each ``(draws, rows)``.

        ``law_error`` is as in :meth:`predict`.

        Parameters
        ----------
        data : DataFrame
            The law's inputs (and the chance column and group columns of the fit, where it has them).
        seed : int
            Seed of the new-run draws (and of the law error's drifts).
        law_error : bool or LawError
            As in :meth:`predict`.

        Returns
        -------
        frame, curve, predictive
            The input and grouping columns of ``data``; draws of the metric's curve and of a new
            run's metric, each ``(draws, rows)``.
        """
        kept, _, metric, predictive = self._predictions(data, seed, law_error)
        return data[kept].copy(), metric, predictive

    def link_draws(self, loss: np.ndarray, task: str | None = None) -> np.ndarray:
        """Draws ``(draws, len(loss))`` of the link's metric at the losses ``loss`` (a joint fit only: the
        direct approach has no loss stage).

        Parameters
        ----------
        loss : array_like
            Losses at which to evaluate the link.
        task : str, optional
            For a fit ``by`` task: the task whose link to draw (at its chance floor); None averages
            the links of all fitted tasks, each at its own floor. A fit without ``by`` uses the
            median chance floor of its rows.

        Returns
        -------
        ndarray
            ``(draws, len(loss))``: the accuracy, or ``1 - accuracy`` for an error metric; with
            the estimated ``floor`` of each draw when the fit estimated it.

        Raises
        ------
        ValueError
            For a fit of the direct approach, or a task the fit did not see.
        """
        if self.meta["approach"] != "joint":
            raise ValueError("the link is a function of loss: a joint fit has one, the direct approach does not")
        loss = np.asarray(loss, dtype=float).reshape(-1)
        if self.by:
            tasks = np.arange(len(self.tasks)) if task is None else self._task_codes(pd.DataFrame({self.by: [task]}))
            chance = self.task_chance[tasks]
        else:
            tasks = np.zeros(1, dtype=np.int32)
            column = self.meta["chance"]
            chance = np.array([float(np.median(self.data[column])) if isinstance(column, str) else (column or 0.0)])
        task_of_row = jnp.asarray(np.repeat(tasks, len(loss)), dtype=jnp.int32)
        L, chance_of_row = jnp.asarray(np.tile(loss, len(tasks))), jnp.asarray(np.repeat(chance, len(loss)))
        stage, estimate_floor, centre = self.stage, self.meta["estimate_floor"], self.meta["loss_centre"]

        def one(s):
            floor = task_value(s["floor"], task_of_row) if estimate_floor else chance_of_row
            return stage.law.mean(L, floor, centre, **row_parameters(stage, s, task_of_row))

        names = [k for k in self.samples if k.startswith(LINK_SITE_PREFIX) or k == "floor"]
        accuracy = np.asarray(jax.vmap(one)({k: jnp.asarray(self.draws(k)) for k in names}), dtype=float)
        accuracy = accuracy.reshape(len(accuracy), len(tasks), len(loss)).mean(axis=1)
        return accuracy if self.meta["metric_kind"] == "accuracy" else 1 - accuracy

    def loss_draws(self, data: pd.DataFrame, *, seed: int = 0, law_error: bool | LawError = True) -> np.ndarray:
        """Draws of the loss law's curve at ``data``, ``(draws, rows)``; ``law_error`` as in :meth:`predict`.

        Parameters
        ----------
        data : DataFrame
            The law's inputs (and the chance column and group columns of the fit, where it has them).
        seed : int
            Seed of the offsets of unseen group levels and of the law error's drifts.
        law_error : bool or LawError
            As in :meth:`predict`.

        Returns
        -------
        ndarray
            ``(draws, rows)``; for the direct approach, the latent law's curve.
        """
        return self._predictions(data, seed, law_error)[1]

    def predict(
        self, data: pd.DataFrame, level: float = 0.9, *, seed: int = 0, law_error: bool | LawError = True
    ) -> pd.DataFrame:
        """The metric (and loss) at new inputs, with intervals.

        Parameters
        ----------
        data : DataFrame
            The law's inputs (and the chance column and group columns of the fit, where it has them).
        level : float
            Probability of the intervals.
        seed : int
            Seed of the new-run draws (and of the law error's drifts).
        law_error : bool or LawError
            Add the law error beyond the fitted runs (:mod:`bayescale.law_error`) to the *loss*
            stage: the loss law's curve may drift from the law by an amount that grows with the
            distance beyond the fitted runs' inputs, and the link maps the drifted loss to the
            metric, so the metric's intervals widen with it. True uses the learned default,
            False turns it off, a :class:`~bayescale.law_error.LawError` uses your own. Inside
            the fitted range nothing changes.

        Returns
        -------
        DataFrame
            Input columns, then ``median``, ``mean``, ``lower``, ``upper`` (the metric's curve: loss-law
            and link uncertainty), ``pred_lower``, ``pred_upper`` (a new run: plus the metric's noise,
            Beta or binomial of the row's ``trials``), and
            ``loss_median``, ``loss_lower``, ``loss_upper`` (the loss law's curve). Beyond the
            fitted runs every interval also holds the law error (unless ``law_error=False``).

        Warns
        -----
        ExtrapolationWarning
            As :meth:`Fit.predict`: with the default ``law_error=True``, once, when rows lie
            further beyond the loss law's fitted runs than the law error was learned from.
        """
        if not 0 < level < 1:
            raise ValueError(f"level={level!r} must lie in (0, 1), e.g. 0.9")
        kept, loss_curve, metric, predictive = self._predictions(data, seed, law_error)
        if law_error is True:
            warn_beyond_learned_reach(self.extrapolation_distance(data), data.index, stacklevel=2)
        return _with_loss_columns(prediction_table(data[kept], metric, predictive, level), loss_curve, level)

    def predict_average(
        self, data: pd.DataFrame, level: float = 0.9, *, tasks: list[str] | None = None, seed: int = 0,
        law_error: bool | LawError = True,
    ) -> pd.DataFrame:
        """The metric averaged over tasks at each row of ``data`` (a fit ``by`` task), with intervals.

        Each draw's metric is averaged over the tasks, so the intervals hold the tasks' joint
        uncertainty (one loss curve, correlated links) and not independent errors: the quantity
        Gadre et al. (2024) forecast as the average top-1 error.

        Parameters
        ----------
        data : DataFrame
            Runs: the law's inputs and the loss law's group columns (no task column; every task is predicted).
        level : float
            Probability of the intervals.
        tasks : list of str, optional
            The tasks to average; default every fitted task.
        seed, law_error
            As in :meth:`predict`.

        Returns
        -------
        DataFrame
            One row per row of ``data``, columns as :meth:`predict`'s (the loss columns are the
            run's loss, the same for every task).

        Raises
        ------
        ValueError
            For a fit without ``by``, or a task it did not see.

        Warns
        -----
        ExtrapolationWarning
            As :meth:`predict`.
        """
        if not self.by:
            raise ValueError("predict_average() averages over tasks: fit with fit_downstream(..., by='task')")
        if not 0 < level < 1:
            raise ValueError(f"level={level!r} must lie in (0, 1), e.g. 0.9")
        chosen = list(self.tasks if tasks is None else tasks)
        if not chosen:
            raise ValueError("tasks=[] names no task; give one or more of the fitted tasks, or None for all")
        runs = data.reset_index(drop=True)
        kept, loss_curve, metric, predictive = self._predictions(cross_tasks(runs, self.by, chosen), seed, law_error)
        if law_error is True:
            warn_beyond_learned_reach(self.extrapolation_distance(runs), data.index, stacklevel=2)
        average = lambda draws: draws.reshape(len(draws), len(runs), len(chosen)).mean(axis=2)  # noqa: E731
        out = prediction_table(data[[c for c in kept if c != self.by]], average(metric), average(predictive), level)
        return _with_loss_columns(out, loss_curve.reshape(len(loss_curve), len(runs), len(chosen))[:, :, 0], level)

    def plot(self, x: str = "loss", *, ax: matplotlib.axes.Axes | None = None, data: pd.DataFrame | None = None,
             level: float = 0.9, law_error: bool | LawError = True, task: str | None = None) -> matplotlib.axes.Axes:
        """Metric against loss (``x="loss"``) or an input, data and posterior band; returns the Axes
        (:func:`bayescale.plots.plot_downstream`).

        Parameters
        ----------
        x : str
            ``"loss"`` (a joint fit only: the link alone over a loss grid, at the median chance
            floor), or an input of the loss law or ``"C"`` (the full prediction along the data's path).
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.
        data : DataFrame, optional
            Held-out rows, drawn as open markers.
        level : float
            Mass of the credible band.
        law_error : bool or LawError
            As in :meth:`predict`; widens the band of an input path beyond the fitted runs.
        task : str, optional
            A fit ``by`` task: draw this task's link and rows. Without it (``x="loss"`` only) the
            band is the tasks' average link, and each run is drawn at its score averaged over tasks.

        Returns
        -------
        matplotlib.axes.Axes

        Raises
        ------
        ValueError
            For ``x="loss"`` with a fit of the direct approach; ``task`` for a fit without tasks,
            or an input ``x`` of a fit by task without ``task``.
        """
        from bayescale.plots import plot_downstream

        return plot_downstream(self, x=x, ax=ax, data=data, level=level, law_error=law_error, task=task)

    def report(self, path: str | Path, **kwargs: Any) -> Path:
        """Write a self-contained HTML report; see :func:`bayescale.report.write_downstream_report`.

        Parameters
        ----------
        path : str or Path
            Output ``.html`` file (parent folders are created).
        **kwargs
            Options of :func:`bayescale.report.write_downstream_report` (``at``, ``title``,
            ``level``, ``check``, ``notes``).

        Returns
        -------
        Path
            The written file.
        """
        from bayescale.report import write_downstream_report

        return write_downstream_report(self, path, **kwargs)


_SAVE_ONLY = ("kind", "save_format", "bayescale_version", "likelihood", "priors", "sample_names", "run_codes", "data")
_LINK_EXTRA = ("kappa", "floor")


def cross_tasks(runs: pd.DataFrame, by: str, tasks: list[str]) -> pd.DataFrame:
    """Every run of ``runs`` once per task, run by run (the tasks vary fastest), the task in column ``by``."""
    runs = runs.reset_index(drop=True)
    crossed = runs.loc[np.repeat(np.arange(len(runs)), len(tasks))].reset_index(drop=True)
    return crossed.assign(**{by: list(tasks) * len(runs)})


def _with_loss_columns(table: pd.DataFrame, loss: np.ndarray, level: float) -> pd.DataFrame:
    """``table`` with the loss law's median and interval (``loss_median``, ``loss_lower``, ``loss_upper``)."""
    tail = (1 - level) / 2
    table["loss_median"] = np.median(loss, axis=0)
    table["loss_lower"], table["loss_upper"] = np.quantile(loss, [tail, 1 - tail], axis=0)
    return table


def _frame_to_json(frame: pd.DataFrame) -> dict:
    """A DataFrame as JSON that rebuilds it exactly (floats are written with ``repr``)."""
    columns = []
    for name, values in frame.items():
        if not isinstance(name, str):
            raise ValueError(f"DownstreamFit.save: column {name!r} is not named by a string; rename it")
        kind = values.dtype.kind
        if kind in "fiub":
            columns.append({"name": name, "dtype": str(values.dtype), "values": values.to_numpy().tolist()})
        else:  # strings and other objects, as text
            columns.append({"name": name, "dtype": "str", "values": values.astype(str).tolist()})
    return {"columns": columns, "index": [str(i) for i in frame.index] if not isinstance(frame.index, pd.RangeIndex)
            else None, "n": len(frame)}


def _frame_from_json(saved: Mapping) -> pd.DataFrame:
    frame = pd.DataFrame({c["name"]: (np.asarray(c["values"], dtype=c["dtype"]) if c["dtype"] != "str"
                                      else np.asarray(c["values"], dtype=object)) for c in saved["columns"]})
    if saved.get("index") is not None:
        frame.index = saved["index"]
    return frame


def _read_downstream(idata, saved: dict) -> DownstreamFit:
    """Rebuild a :class:`DownstreamFit` from a file written by :meth:`DownstreamFit.save`."""
    law = get(saved["law"])
    likelihood = get_likelihood(saved.get("likelihood", "student_t"))
    priors = io.priors_from_json(saved["priors"])
    link = get_link(saved["link"])
    law_priors = {k: v for k, v in priors.items() if not k.startswith(LINK_SITE_PREFIX) and k not in _LINK_EXTRA}
    grouping = {name: tuple(cols) for name, cols in saved["grouping"].items()}
    spec = build_spec(law, likelihood, grouping, saved["levels"], law_priors, centered=tuple(saved.get("centered", ())))
    fit = DownstreamFit(
        {name: idata.posterior[name].values for name in saved["sample_names"]},
        spec=spec, link=link, meta={k: v for k, v in saved.items() if k not in _SAVE_ONLY},
        data=_frame_from_json(saved["data"]), run_codes=np.asarray(saved["run_codes"], dtype=np.int64),
        diverging=idata.sample_stats["diverging"].values, priors=priors,
    )  # fmt: skip
    fit.idata = idata
    return fit


io.register_reader("DownstreamFit", _read_downstream)


def compare_downstream(fits: Mapping[str, DownstreamFit], ic: str = "loo") -> pd.DataFrame:
    """Rank downstream fits of the same metric rows by LOO (or WAIC) of the metric.

    Parameters
    ----------
    fits : mapping of str to DownstreamFit
        Name to fit; two or more fits of the same metric rows.
    ic : {"loo", "waic"}
        PSIS leave-one-out cross-validation or WAIC, on the metric's log-likelihood.

    Returns
    -------
    DataFrame
        ArviZ's comparison table on the log scale, best first, with ``converged`` (as
        :func:`bayescale.compare`).

    Warns
    -----
    LOOWarning
        Once per model ArviZ flags as unreliable, naming the runs at fault.
    ConvergenceWarning
        Once per fit whose draws break the convergence rule (its elpd and rank are not to be trusted).

    Raises
    ------
    ValueError
        If fewer than two fits are given, the fits saw different metric rows, or ``ic`` is
        neither ``"loo"`` nor ``"waic"``.
    """
    if len(fits) < 2:
        raise ValueError(f"compare_downstream() needs two or more fits, got {len(fits)}")
    sizes = {name: _arviz.observed(f.idata).shape[0] for name, f in fits.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"the fits have different numbers of metric rows {sizes}; fit them on the same rows")
    if ic not in ("loo", "waic"):
        raise ValueError(f"ic={ic!r} must be 'loo' or 'waic'")
    table = _arviz.compare({name: f.idata for name, f in fits.items()}, ic=ic)
    return with_convergence(table, fits, ic)
