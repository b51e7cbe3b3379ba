"""The Fit: a posterior over a law's parameters, with summary, prediction, plots and save/load."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpyro.distributions as dist
import pandas as pd

from bayescale import _arviz, io
from bayescale.diagnostics import ConvergenceWarning, convergence_problems
from bayescale.hierarchy import ModelSpec, build_spec, resolve_priors, sampled_site_names
from bayescale.law_error import LawError, extrapolation_distance, shift_for_fit, warn_beyond_learned_reach
from bayescale.laws import Law, get
from bayescale.likelihoods import get_likelihood
from bayescale.posterior import curve_and_predictive, flat_sites, prediction_table
from bayescale.prediction_rows import prediction_inputs, unseen_levels_message, with_new_levels
from bayescale.trials import prediction_trials

if TYPE_CHECKING:
    import arviz as az
    import matplotlib.axes

    from bayescale.calibrate import Calibration

logger = logging.getLogger("bayescale")

#: Interval columns of :meth:`Fit.predict` and what each holds.
PREDICTION_COLUMNS = {
    "median": "posterior median of the curve at these inputs (where the average run lands)",
    "mean": "posterior mean of the curve",
    "lower": "lower end of the credible interval of the curve (parameter uncertainty, plus law error beyond the data)",
    "upper": "upper end of the credible interval of the curve",
    "pred_lower": "lower end of the predictive interval of a new run (the curve's uncertainty and run-to-run noise)",
    "pred_upper": "upper end of the predictive interval of a new run",
}


class NewGroupWarning(UserWarning):
    """Prediction rows name group levels the fit never saw; they are drawn as new groups."""


#: Accepted values of ``new_groups=`` in :meth:`Fit.predict`.
NEW_GROUPS = ("population", "error")


class Fit:
    """A fitted scaling law: the posterior, its diagnostics, and tools to use it.

    Made by :func:`bayescale.fit` or :func:`bayescale.load`; wraps an ``arviz.InferenceData``.

    Parameters
    ----------
    idata : arviz.InferenceData
        With bayescale's metadata in ``attrs["bayescale"]``.
    priors : mapping of str to Distribution, optional
        The resolved prior of every site; by default the priors saved in the metadata (save
        format 2 on), else the law's defaults (format 1 files did not keep priors).

    Attributes
    ----------
    idata : arviz.InferenceData
        Groups ``posterior``, ``log_likelihood``, ``posterior_predictive``, ``observed_data``,
        ``constant_data`` (the law's inputs and group codes) and ``sample_stats`` (ArviZ's NUTS
        statistics); ``attrs`` name the inference library and versions. The observed variable is
        named after the target column (e.g. ``loss``; ``y`` in files saved by earlier versions, or when a
        parameter has the column's name) in every group.
    law : Law
        The fitted law.
    """

    def __init__(self, idata, priors: Mapping[str, dist.Distribution] | None = None) -> None:
        self.idata = idata
        self.meta: dict[str, Any] = json.loads(idata.attrs["bayescale"])
        self.law: Law = get(self.meta["law"])
        self._priors = dict(priors) if priors is not None else None
        self._own_law_error: LawError | None = None
        #: refits without the top runs, by (rows kept, sampler settings): :func:`bayescale.calibrate.calibrate`
        #: reuses one (``own_law_error`` and ``calibrate()`` hold out the same runs)
        self._held_out_refits: dict[tuple, Fit] = {}

    # --- structure -------------------------------------------------------------------------
    @cached_property
    def spec(self) -> ModelSpec:
        """The model structure (law, likelihood, grouping, the fit's own priors), rebuilt from the metadata."""
        likelihood = get_likelihood(self.meta["likelihood"])
        grouping = {name: tuple(cols) for name, cols in self.meta["grouping"].items()}
        priors = resolve_priors(self.law, likelihood, grouping, self.priors)
        return build_spec(
            self.law, likelihood, grouping, self.meta["levels"], priors, centered=self.meta.get("centered", ())
        )

    @cached_property
    def priors(self) -> dict[str, dist.Distribution]:
        """The resolved prior of every site (law parameters, noise, group spreads), custom ones included."""
        if self._priors is not None:
            return dict(self._priors)
        saved = self.meta.get("priors", {})
        if self.meta.get("save_format", 1) >= 2 and saved:
            unsaved = [name for name, spec in saved.items() if "unsaved" in spec]
            if unsaved:
                raise ValueError(f"priors {unsaved} of this fit were not saved: {saved[unsaved[0]]['unsaved']}")
            return io.priors_from_json(saved)
        likelihood = get_likelihood(self.meta["likelihood"])
        grouping = {name: tuple(cols) for name, cols in self.meta["grouping"].items()}
        return resolve_priors(self.law, likelihood, grouping, None)  # format 1: priors were not kept

    @property
    def y(self) -> str:
        """Name of the target column."""
        return self.meta["y"]

    @property
    def levels(self) -> dict[str, list[str]]:
        """Levels of each grouping column, in the order of the ``<column>`` dimension."""
        return self.meta["levels"]

    @property
    def columns(self) -> dict[str, str]:
        """Law input name to the column it was read from."""
        return self.meta["columns"]

    @property
    def lower_is_better(self) -> bool:
        """Whether lower values of the target are better (the law's :attr:`~bayescale.Law.lower_is_better`)."""
        return self.law.lower_is_better

    @property
    def fitted_inputs(self) -> pd.DataFrame:
        """The law's inputs of the fitted rows, under the law's own names."""
        return self.data[list(self.law.inputs)]

    @cached_property
    def data(self) -> pd.DataFrame:
        """The fitted rows: the law's inputs under their own names, derived features, groups and ``y``."""
        from bayescale.data import add_derived

        const = self.idata.constant_data
        frame = pd.DataFrame({name: const[name].values for name in self.law.inputs})
        for column, labels in self.levels.items():
            frame[column] = np.asarray(labels)[const[f"{column}_index"].values]
        frame[self.y] = _arviz.observed(self.idata)
        if isinstance(self.meta.get("trials"), str):
            frame[self.meta["trials"]] = const["trials"].values
        return add_derived(frame)

    @property
    def param_names(self) -> list[str]:
        """Population-level law parameters and noise parameters, as named in the posterior."""
        return [*self.law.param_names, *self.spec.likelihood.noise_names]

    def draws(self, name: str) -> np.ndarray:
        """All posterior draws of ``name`` with chains flattened: shape ``(chains * draws, ...)``.

        Parameters
        ----------
        name : str
            A variable of ``idata.posterior``: a law parameter (e.g. ``"alpha"``), a noise
            parameter (e.g. ``"sigma"``), per-level values ``<p>_<column>`` or a group spread
            ``<p>_<column>_sd``.

        Returns
        -------
        ndarray
            Shape ``(chains * draws, ...)``; per-level values keep their level dimension.
        """
        value = self.idata.posterior[name].values
        return value.reshape((-1,) + value.shape[2:])

    def sample_prior(self, draws: int = 500, *, seed: int = 0) -> az.InferenceData:
        """Add draws from the priors alone to :attr:`idata` and return it.

        Groups ``prior`` (the law's parameters, per-level values, group spreads and noise, named as
        in ``posterior``) and ``prior_predictive`` (the target at the fitted rows), for ArviZ's prior
        checks: ``az.plot_dist``, ``az.plot_ppc(fit.idata, group="prior")``. Calling it again
        replaces them; :meth:`save` writes them with the rest.

        Parameters
        ----------
        draws : int
            Number of prior draws (one chain).
        seed : int
            Seed of the prior draws.

        Returns
        -------
        arviz.InferenceData
            :attr:`idata` itself, with the ``prior`` and ``prior_predictive`` groups.
        """
        from bayescale.posterior import prior_draws

        const = self.idata.constant_data
        inputs = {name: const[name].values for name in self.law.inputs}
        group_index = {column: const[f"{column}_index"].values for column in self.levels}
        values, replicated = prior_draws(self.spec, inputs, group_index, self.meta["centres"],
                                         _arviz.observed(self.idata), n_draws=draws, seed=seed,
                                         trials=self._fitted_trials)  # fmt: skip
        dims = {f"{name}_{column}": [column] for name, columns in self.spec.grouping for column in columns}
        return _arviz.add_prior(self.idata, values, replicated, dims=dims)

    # --- diagnostics -----------------------------------------------------------------------
    @cached_property
    def diagnostics(self) -> dict[str, float]:
        """``max_rhat``, ``min_ess_bulk`` and ``divergences`` over the population parameters."""
        max_rhat, min_ess = _arviz.rhat_and_ess(self.idata, self._diagnostic_vars())
        divergences = int(self.idata.sample_stats["diverging"].values.sum()) if "sample_stats" in self.idata else 0
        return {"max_rhat": max_rhat, "min_ess_bulk": min_ess, "divergences": divergences}

    def _diagnostic_vars(self) -> list[str]:
        extra = [f"{name}_{col}_sd" for name, cols in self.spec.groups_of.items() for col in cols]
        return [*self.param_names, *extra]

    def convergence_problems(self) -> list[str]:
        """The convergence rule's broken limits in plain words, each with what to do (empty when converged)."""
        used = float(self.meta.get("settings", {}).get("target_accept_prob", 0.95))
        return convergence_problems(self.diagnostics, target_accept_prob=used)

    def check_convergence(self) -> list[str]:
        """Warn in plain words when the draws may not be trustworthy; return the problems found."""
        problems = self.convergence_problems()
        for problem in problems:
            warnings.warn(problem, ConvergenceWarning, stacklevel=3)
        return problems

    # --- summaries -------------------------------------------------------------------------
    def summary(self, level: float = 0.9, *, groups: bool = False) -> pd.DataFrame:
        """Posterior summary of the parameters.

        Parameters
        ----------
        level : float
            Probability mass of the highest-density interval.
        groups : bool
            Also list the per-level values ``p_<column>`` and the group spreads ``p_<column>_sd``.

        Returns
        -------
        DataFrame
            One row per parameter: ``mean``, ``sd``, HDI bounds, MCSE, ``ess_bulk``, ``ess_tail``, ``r_hat``.
        """
        names = list(self.param_names)
        if groups:
            for name, cols in self.spec.groups_of.items():
                names += [f"{name}_{col}" for col in cols] + [f"{name}_{col}_sd" for col in cols]
        return _arviz.summary(self.idata, names, hdi_prob=level)

    def __repr__(self) -> str:
        d = self.diagnostics
        grouping = ", ".join(f"{p} by {'+'.join(c)}" for p, c in self.spec.grouping) or "none"
        chains, draws = _arviz.chains_and_draws(self.idata)
        n_draws = chains * draws
        return (
            f"<bayescale.Fit law={self.law.name!r} rows={self.data.shape[0]} groups: {grouping}; "
            f"{n_draws} draws, max r_hat {d['max_rhat']:.3f}, min ESS {d['min_ess_bulk']:.0f}, "
            f"{d['divergences']} divergences>"
        )

    def _repr_html_(self) -> str:
        from html import escape  # law names, formulas and group labels are the user's text

        d = self.diagnostics
        status = "check diagnostics" if self.convergence_problems() else "converged"
        table = self.summary().round(4).to_html()  # pandas escapes the labels
        return (
            f"<div><b>bayescale.Fit</b> &mdash; law <code>{escape(self.law.name)}</code>: "
            f"<code>{escape(self.law.formula)}</code><br>"
            f"{self.data.shape[0]} rows, likelihood {escape(self.spec.likelihood.name)}; "
            f"max r_hat {d['max_rhat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f}, "
            f"{d['divergences']} divergences (<b>{status}</b>){table}</div>"
        )

    # --- prediction ------------------------------------------------------------------------
    def predict(
        self,
        data: pd.DataFrame,
        level: float = 0.9,
        *,
        seed: int = 0,
        new_groups: str = "population",
        law_error: bool | LawError = True,
        new_run: str = "tuned",
    ) -> pd.DataFrame:
        """Posterior predictions at new inputs.

        Parameters
        ----------
        data : DataFrame
            Rows at which to predict, with the law's inputs under the column names used in the
            fit or under the law's own names (``N``, ``D``...). Grouping columns are optional: a
            level seen in the fit uses its own parameters; an unseen level, or a missing grouping
            column, is a new group (see ``new_groups``).
        level : float
            Probability mass of the central intervals.
        seed : int
            Seed for the draws of new-group offsets, law error and observation noise.
        new_groups : {"population", "error"}
            What an unseen level (or a missing grouping column) means. ``"population"``: a new
            group whose offsets are drawn from the population distribution (wider intervals),
            with one :class:`NewGroupWarning` naming the unseen levels and the closest seen level
            of each (a typo check). ``"error"``: raise ``ValueError`` with the same text.
        law_error : bool or LawError
            Add the law error beyond the fitted runs (:mod:`bayescale.law_error`): the curve may
            drift from the law by an amount that grows with the decades of extrapolation, as
            learned from public ladders. ``True`` (default) uses that drift sized by this
            ladder's own top runs (:meth:`own_law_error`: computed at the first prediction
            beyond the fitted runs, one more sampling run), ``False`` gives the law's curve
            alone (parameter uncertainty only, as in earlier versions), a
            :class:`~bayescale.law_error.LawError` uses that one (``bs.law_error.default()``:
            the learned drift, not sized by the ladder). Inside the fitted range it changes nothing.
        new_run : {"tuned", "any"}
            What a new run is, for ``likelihood="frontier"`` (other likelihoods ignore it).
            ``"tuned"`` (default): a run on the frontier, the law plus run-to-run noise, i.e.
            a run whose learning rate and batch size are tuned. ``"any"``: a run as tuned as
            the fitted ones, the excess of an untuned run included (wider, above the frontier).

        Returns
        -------
        DataFrame
            The input (and grouping) columns, then

            * ``median``, ``mean``, ``lower``, ``upper``: the curve: where the *average* run at
              these inputs lands (parameter uncertainty, plus the law error beyond the data);
            * ``pred_lower``, ``pred_upper``: a *new single run* (the curve plus run-to-run noise).

            The predictive interval always contains the curve's interval.

        Raises
        ------
        ValueError
            For ``level`` outside (0, 1), an unknown ``new_groups``, or (``new_groups="error"``)
            rows of unseen group levels.

        Warns
        -----
        NewGroupWarning
            With ``new_groups="population"``, once, when rows name unseen group levels.
        ExtrapolationWarning
            With the default ``law_error=True``, once, when rows lie further beyond the fitted
            runs than any forecast the law error was learned from
            (:func:`bayescale.law_error.learned_reach`, 1.3 decades): there the drift's growth
            is the error model's own extrapolation, checked by no held-out run, and the
            intervals may be too narrow.
        """
        if not 0 < level < 1:
            raise ValueError(f"level={level!r} must lie in (0, 1), e.g. 0.9 for a 90% interval")
        out, curve, predictive = self.posterior_draws(
            data, seed=seed, new_groups=new_groups, law_error=law_error, new_run=new_run
        )
        if law_error is True:
            warn_beyond_learned_reach(self.extrapolation_distance(data), data.index, stacklevel=2)
        return prediction_table(out, curve, predictive, level)

    def posterior_draws(
        self,
        data: pd.DataFrame,
        *,
        seed: int = 0,
        new_groups: str = "population",
        law_error: bool | LawError = True,
        new_run: str = "tuned",
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Draws of the curve and of a new run at the rows of ``data``.

        ``new_groups``, ``law_error`` and ``new_run`` are as in :meth:`predict`.

        Parameters
        ----------
        data : DataFrame
            Rows at which to draw, as for :meth:`predict`.
        seed : int
            Seed for the draws of new-group offsets, law error and observation noise.
        new_groups : {"population", "error"}
            As in :meth:`predict`.
        law_error : bool or LawError
            As in :meth:`predict`.
        new_run : {"tuned", "any"}
            As in :meth:`predict`.

        Returns
        -------
        frame, curve, predictive
            The input and grouping columns of ``data``; curve draws and new-run draws, each of
            shape ``(draws, rows)`` on the scale of ``y``.
        """
        if new_groups not in NEW_GROUPS:
            raise ValueError(
                f"new_groups={new_groups!r} must be 'population' (draw unseen group levels from the "
                "population, with a warning) or 'error' (refuse them)"
            )
        inputs, group_index, kept = prediction_inputs(self.law, data, self.columns, self.levels)
        message = unseen_levels_message(self.levels, data)
        if message and new_groups == "error":
            raise ValueError(f"{message}; pass new_groups='population' to predict them as new groups")
        if message:
            warnings.warn(
                f"{message}; those rows are predicted as new groups drawn from the population (wider intervals). "
                "Pass new_groups='error' to refuse unseen levels",
                NewGroupWarning,
                stacklevel=3,
            )
        sites = with_new_levels(self.spec, self.posterior_sites(), group_index, seed)
        shift = shift_for_fit(self.law_error_option(law_error), self.law, self.data, inputs, group_index, self.levels,
                              len(next(iter(sites.values()))), seed=seed, data_hash=self.meta.get("data_hash", ""))
        curve, predictive = curve_and_predictive(
            self.spec, sites, inputs, group_index, self.meta["centres"], seed=seed, shift=shift, new_run=new_run,
            trials=self.prediction_trials(data),
        )
        return data[kept].copy(), curve, predictive

    @property
    def _fitted_trials(self) -> np.ndarray | None:
        const = self.idata.constant_data
        return const["trials"].values if "trials" in const else None

    def prediction_trials(self, data: pd.DataFrame) -> np.ndarray | None:
        """Each row's number of trials (questions) for a new run, with a count likelihood (else None).

        The fit's ``trials`` column in ``data``, else the one number every fitted run shares.

        Parameters
        ----------
        data : DataFrame
            Rows at which to predict.

        Returns
        -------
        ndarray or None
            One count per row of ``data``; None when the fit has no trials (a likelihood other
            than ``binomial`` or ``beta_binomial``).

        Raises
        ------
        ValueError
            When the fitted runs had different numbers of trials and ``data`` lacks the column.
        """
        fitted = self._fitted_trials
        if fitted is None:
            return None
        return prediction_trials(data, self.meta["trials"], fitted, self.spec.likelihood)

    def extrapolation_distance(self, data: pd.DataFrame) -> np.ndarray:
        """Decades of scale beyond the fitted runs at each row of ``data`` (0 inside the range).

        See :func:`bayescale.law_error.extrapolation_distance`.

        Parameters
        ----------
        data : DataFrame
            Rows with the law's inputs, as for :meth:`predict`.

        Returns
        -------
        ndarray
            ``(rows,)``, in decades of the law's scale inputs.
        """
        inputs, _, _ = prediction_inputs(self.law, data, self.columns, self.levels)
        return extrapolation_distance(self.law, self.data, pd.DataFrame(inputs))

    def posterior_sites(self) -> dict[str, np.ndarray]:
        """The sampled sites of every draw, chains flattened: what the curve is recomputed from.

        Returns
        -------
        dict
            Site name (:func:`bayescale.hierarchy.sampled_site_names`) to draws ``(chains * draws, ...)``.
        """
        names = sampled_site_names(self.spec)
        return flat_sites(self.spec, {name: self.idata.posterior[name].values for name in names})

    def own_law_error(self) -> LawError:
        """The law error this fit's predictions carry by default (``law_error=True``).

        The learned drift (:func:`bayescale.law_error.default`) with its size updated by how
        far this ladder's top fifth landed from a refit without it
        (:func:`bayescale.calibrate.own_drift`): a ladder whose top runs follow its law gets a
        narrower drift, one whose top runs wander a wider one. Computed once, when first
        needed (one more sampling run of this fit's compiled program, no compile); a ladder too
        short to hold out a fifth of its runs keeps the learned drift.

        Returns
        -------
        LawError
        """
        if self._own_law_error is None:
            from bayescale.calibrate import own_drift

            logger.info("sizing the law error by this ladder's top fifth (a refit without it)")
            self._own_law_error = own_drift(self)
        return self._own_law_error

    def law_error_option(self, law_error: bool | LawError) -> bool | LawError | Callable[[], LawError]:
        """``law_error=`` as given to :meth:`predict`, with ``True`` standing for :meth:`own_law_error`.

        Parameters
        ----------
        law_error : bool or LawError
            As in :meth:`predict`.

        Returns
        -------
        bool, LawError or callable
            ``law_error``, or for ``True`` the method :meth:`own_law_error` itself, which
            :func:`bayescale.law_error.shift_for_fit` calls only when a row lies beyond the fitted runs.
        """
        return self.own_law_error if law_error is True else law_error

    def calibrate(self, **options: Any) -> Calibration:
        """Refit without the largest runs and measure how often the intervals cover them.

        Returns a :class:`~bayescale.calibrate.Calibration` whose ``predict`` widens new-run
        intervals to the nominal level (split-conformal); options as in
        :func:`bayescale.calibrate.calibrate` (``holdout=0.2``, ``level=0.9``, ``law_error``,
        ``refit_kwargs``, ``seed``). The refit is kept: another check of the same runs with the
        same settings (and :meth:`own_law_error`, which holds out the top fifth) samples nothing.

        Parameters
        ----------
        **options
            Keyword arguments of :func:`bayescale.calibrate.calibrate`: ``holdout``, ``level``,
            ``law_error``, ``refit_kwargs``, ``seed``, ``drift_prior``.

        Returns
        -------
        Calibration
            The held-out runs, the observed coverage, the widening factor and this ladder's own
            law error.

        Raises
        ------
        ValueError
            When ``holdout`` or ``level`` is outside (0, 1), or the ladder is too short to hold out a run.
        """
        from bayescale.calibrate import calibrate

        return calibrate(self, **options)

    # --- plots and files -------------------------------------------------------------------
    # Any, not Axes: bayescale.demo and bayescale.cli call ``ax.figure.savefig``, and matplotlib's
    # stubs type ``Axes.figure`` as ``Figure | SubFigure`` (a SubFigure has no savefig).
    def plot(self, x: str | None = None, *, ax: matplotlib.axes.Axes | None = None, **kwargs: Any) -> Any:
        """Data, posterior median, and 50% and 90% bands on log axes; see :func:`bayescale.plots.plot_fit`.

        Parameters
        ----------
        x : str, optional
            Horizontal axis: an input of the law, or ``"C"`` (compute) for laws of ``N`` and ``D``.
            Default: the only input, or ``C``.
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.
        **kwargs
            Further options of :func:`bayescale.plots.plot_fit` (``extrapolate``, ``fixed``,
            ``group``, ``n_grid``, ``seed``, ``ylabel``, ``law_error``).

        Returns
        -------
        matplotlib.axes.Axes
        """
        from bayescale.plots import plot_fit

        return plot_fit(self, x=x, ax=ax, **kwargs)

    def report(self, path: str | Path, **kwargs: Any) -> Path:
        """Write a self-contained HTML report; see :func:`bayescale.report.write_report` for options.

        Parameters
        ----------
        path : str or Path
            Output ``.html`` file (parent folders are created).
        **kwargs
            Options of :func:`bayescale.report.write_report` (``at``, ``x``, ``title``, ``level``,
            ``comparison``, ``crossover``, ``compute_optimal``, ``calibration``, ...).

        Returns
        -------
        Path
            The written file.
        """
        from bayescale.report import write_report

        return write_report(self, path, **kwargs)

    def save(self, path: str | Path) -> Path:
        """Write the fit to a netCDF file; :func:`bayescale.load` reads it back unchanged.

        The file (save format :data:`bayescale.io.SAVE_FORMAT`) holds the posterior, data and
        metadata, the priors included (custom ones too). It is written beside ``path`` and then
        renamed over it, so an interrupted save leaves an earlier file at ``path`` intact.

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
            If a prior cannot be written (a distribution bayescale cannot rebuild from its
            class name and parameters; the message names it).
        """
        self.meta = {**self.meta, "kind": "Fit", "save_format": io.SAVE_FORMAT, "priors": io.priors_to_json(self.priors)}
        self.idata.attrs["bayescale"] = json.dumps(self.meta)
        return io.write(self.idata, path)

    def as_priors(self, law: Law | None = None) -> dict:
        """This posterior as priors for a new fit (``bs.fit(..., priors=fit)``).

        Each law parameter gets an independent normal distribution in its unconstrained space
        (log for positive parameters) matched to the posterior's mean and sd there. Parameters
        whose default prior is on the value at the data centre keep their default, because the
        new data have another centre.

        Parameters
        ----------
        law : Law, optional
            The law of the new fit (default: this fit's law); its parameters are matched to this
            fit's by name, and those without draws keep their defaults.

        Returns
        -------
        dict of str to numpyro Distribution
            One independent prior per matched parameter.
        """
        from bayescale.priors import posterior_as_prior

        return posterior_as_prior({name: self.draws(name) for name in self.law.param_names}, law or self.law)


def _read_fit(idata, meta: dict) -> Fit:
    fit = Fit(idata)
    fit.priors  # noqa: B018 - a file whose priors cannot be rebuilt fails here, not at first use
    return fit


io.register_reader("Fit", _read_fit)
