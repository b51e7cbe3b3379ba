"""Downstream-task prediction: one joint model of the loss law and the link from loss to a metric.

People fit a loss law on small runs, then map loss to a benchmark metric with a second
curve fitted by least squares, and report the metric at the big run as one number. Here both
stages are one NumPyro model, so the posterior of the loss law and of the link both reach
the prediction:

* **loss stage**: any registered law (``chinchilla`` by default) with the hierarchy of
  :mod:`bayescale.hierarchy` (``groups=``), a Student-t likelihood on ``log loss`` of each
  *run* (a long table with one row per run and task counts each run once);
* **link stage**: the metric of every row is ``link(L)`` where ``L`` is the law's curve at the
  row's inputs (``loss_input="curve"``, default, so the metric also informs the law) or the
  measured loss (``loss_input="observed"``, the two-stage model of Gadre et al.), with a Beta
  likelihood (metrics are bounded in (0, 1)) and a chance floor from the data.

The *direct* alternative (``approach="direct"``) drops the loss observations and puts the link
on a latent law of the inputs (e.g. ``law="power", inputs={"x": "C"}``): compute straight to
the metric. Both store the metric's pointwise log-likelihood, so :func:`compare_downstream`
(or ``arviz.compare`` on ``.idata``) ranks them by LOO.

Both stages are one NumPyro model built like every other: the law stage is
:func:`bayescale.hierarchy.sample_law` and :func:`~bayescale.hierarchy.law_values` (pivots, priors on
the natural scale, centred or non-centred group offsets), and the link with its Beta likelihood is a
second observed stage; :func:`bayescale.sampler.run` samples it. The links (``sigmoid_from_loss``,
``error_from_loss``, ``passuntil_from_loss``) are defined once, in
:mod:`bayescale.laws.downstream_links`, which also registers each as a law of ``L``.

References
----------
Gadre, S. Y. et al. (2024). Language models scale reliably with over-training and on downstream
tasks. arXiv:2403.08540.
Bhagia, A. et al. (2024). Establishing Task Scaling Laws via Compute-Efficient Model Ladders. arXiv:2412.04403.
Hu, S. et al. (2024). Predicting Emergent Abilities with Infinite Resolution Evaluation. ICLR, arXiv:2310.03262.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd

from bayescale import _arviz, io, sampler
from bayescale.data import group_codes, input_values, prepare_design, resolve_columns, training_compute
from bayescale.diagnostics import ESS_LIMIT, RHAT_LIMIT, ConvergenceWarning
from bayescale.hierarchy import (
    ModelSpec,
    build_spec,
    centered_columns,
    curve_location,
    distribution_key,
    law_values,
    parameter_values,
    resolve_grouping,
    resolve_priors,
    sample_law,
)
from bayescale.law_error import LawError, extrapolation_distance, shift_for_fit
from bayescale.laws import Law, get
from bayescale.laws.downstream_links import FLOOR, LINKS, Link, get_link
from bayescale.likelihoods import Beta, get_likelihood
from bayescale.posterior import prediction_table, shifted_location

__all__ = ["LINKS", "DownstreamFit", "Link", "compare_downstream", "fit_downstream"]

#: Prior of the chance floor when ``chance=None`` (estimated, on the accuracy scale).
FLOOR_PRIOR = FLOOR.prior
KAPPA_PRIOR = dist.LogNormal(np.log(300.0), 1.5)
LINK_SITE_PREFIX = "link_"


# --- the model ------------------------------------------------------------------------------
def _make_model(spec: ModelSpec, link: Link, *, joint: bool, observed_loss: bool, estimate_floor: bool,
                floor_prior: dist.Distribution = FLOOR_PRIOR, kappa_prior: dist.Distribution = KAPPA_PRIOR):
    """The joint model: the law stage of :func:`bayescale.hierarchy.make_model`, then the link stage.

    Stage 1 (``joint``): the loss of each run, ``y``, with the spec's likelihood of the law's curve.
    Stage 2: the metric of each row, ``metric``, Beta around ``link(L)``. Called by
    :func:`bayescale.sampler.run` as ``model(inputs, group_index, centres, y=, mask=, **extra)``.
    """
    noise_names = spec.likelihood.noise_names if joint else ()

    def model(inputs, group_index, centres, y=None, mask=None, *, run_of_row, chance, loss_centre, row_loss,
              metric=None, accuracy_sign=1.0):
        sites = sample_law(spec)
        noise = {name: numpyro.sample(name, spec.prior_of[name]) for name in noise_names}
        per_row = law_values(spec, sites, group_index, centres)
        location = curve_location(spec, inputs, per_row)
        n_runs = next(iter(inputs.values())).shape[0]
        if joint:
            with numpyro.plate("runs", n_runs):
                numpyro.sample("loss", spec.likelihood.distribution(location, noise), obs=y)
        curve = jnp.exp(location) if spec.likelihood.log_space else location
        params = {name: numpyro.sample(f"{LINK_SITE_PREFIX}{name}", prior) for name, prior in link.priors.items()}
        floor = numpyro.sample("floor", floor_prior) if estimate_floor else chance
        kappa = numpyro.sample("kappa", kappa_prior)
        L = row_loss if observed_loss else curve[run_of_row]
        acc = link.function(L, floor, loss_centre, **params)
        mean = jnp.clip(jnp.where(accuracy_sign > 0, acc, 1.0 - acc), 1e-5, 1 - 1e-5)
        with numpyro.plate("rows", run_of_row.shape[0]):
            numpyro.sample("y", Beta(mean * kappa, (1 - mean) * kappa), obs=metric)

    return model


def _model_key(link: Link, **flags) -> tuple:
    """What fixes the structure of :func:`_make_model` beyond the ModelSpec (compile-cache key)."""
    key = lambda v: distribution_key(v) if isinstance(v, dist.Distribution) else v  # noqa: E731
    priors = tuple((name, distribution_key(prior)) for name, prior in link.priors.items())
    return ("downstream", link.name, id(link.function), priors, tuple(sorted((k, key(v)) for k, v in flags.items())))


# --- fitting --------------------------------------------------------------------------------
def fit_downstream(
    data: pd.DataFrame,
    law: str | Law = "chinchilla",
    *,
    loss: str | None = "loss",
    metric: str = "accuracy",
    link: str | Link = "sigmoid",
    chance: float | str | None = None,
    metric_kind: str | None = None,
    inputs: Mapping[str, str] | None = None,
    groups: str | Sequence[str] | None = None,
    hierarchy: Mapping[str, str | Sequence[str] | None] | None = None,
    priors: Mapping[str, dist.Distribution] | None = None,
    approach: str = "joint",
    loss_input: str = "curve",
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    target_accept_prob: float = 0.95,
    progress: bool = False,
    parameterization: str = "auto",
) -> DownstreamFit:
    """Fit a loss law and a link from loss to a bounded task metric in one posterior.

    Parameters
    ----------
    data : DataFrame
        One row per run (or per run and task). Must hold the law's inputs, the ``metric`` in
        (0, 1) and, for ``approach="joint"``, the ``loss``. Rows with the same inputs, loss and
        groups are one run for the loss likelihood.
    law : str or Law
        Loss law (``chinchilla``), or for ``approach="direct"`` the latent law of the inputs.
    loss, metric : str
        Loss column and metric column.
    link : {"sigmoid_from_loss", "error_from_loss", "passuntil_from_loss"} or Link
        Curve from loss to metric, from :data:`bayescale.laws.downstream_links.LINKS`
        (``"sigmoid"`` is ``"sigmoid_from_loss"``); the same definitions are laws of ``L`` in
        ``bs.laws``.
    chance : float or str, optional
        Chance accuracy (random guessing) as a number or as a column giving it per row (e.g. per
        task). None estimates a floor with a Beta(1, 3) prior.
    metric_kind : {"accuracy", "error"}, optional
        Whether the metric rises (accuracy) or falls (error = 1 - accuracy) as loss falls;
        default "error" when the metric's name starts with "err", else "accuracy".
        ``chance`` is always on the accuracy scale.
    inputs, groups, hierarchy, priors
        As in :func:`bayescale.fit`, for the loss law (``priors`` may also name ``link_<p>``,
        ``kappa`` or ``floor``).
    approach : {"joint", "direct"}
        ``joint``: loss law fitted to ``loss`` and link to ``metric`` together. ``direct``: no
        loss observations; the link acts on the law's latent curve of the inputs.
    loss_input : {"curve", "observed"}
        Which loss enters the link for the fitted rows (predictions always use the curve).
    chains, draws, warmup, seed, target_accept_prob, progress
        NUTS settings, as in :func:`bayescale.fit`; sampled by :func:`bayescale.sampler.run`.
    parameterization : {"auto", "centered", "noncentered"}
        How the loss law's group offsets are sampled, as in :func:`bayescale.fit`
        (see :func:`bayescale.hierarchy.centered_columns`).

    Returns
    -------
    DownstreamFit

    References
    ----------
    Gadre et al. (2024), arXiv:2403.08540; Bhagia et al. (2024), arXiv:2412.04403.

    Examples
    --------
    >>> import bayescale as bs
    >>> df = bs.datasets.load("overtraining_downstream")                  # doctest: +SKIP
    >>> fit = bs.fit_downstream(df, metric="error", link="error_from_loss",
    ...                         chance="chance", groups="dataset")         # doctest: +SKIP
    """
    if approach not in ("joint", "direct"):
        raise ValueError(f"approach={approach!r} must be 'joint' (loss law + link) or 'direct' (inputs -> metric)")
    if loss_input not in ("curve", "observed"):
        raise ValueError(f"loss_input={loss_input!r} must be 'curve' or 'observed'")
    if approach == "direct" and loss_input == "observed":
        raise ValueError("approach='direct' has no loss column to feed the link; use loss_input='curve'")
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    law = get(law)
    link = get_link(link)
    kind = metric_kind or ("error" if metric.lower().startswith("err") else "accuracy")
    if kind not in ("accuracy", "error"):
        raise ValueError(f"metric_kind={metric_kind!r} must be 'accuracy' or 'error'")
    if metric not in data.columns:
        raise ValueError(f"metric={metric!r} is not a column; the DataFrame has {list(data.columns)}")
    joint = approach == "joint"
    if joint and (loss is None or loss not in data.columns):
        raise ValueError(
            f"loss={loss!r} is not a column; approach='joint' needs the measured loss of each run "
            "(or use approach='direct')"
        )
    y_metric = data[metric].to_numpy(dtype=float)
    bad = ~((y_metric > 0) & (y_metric < 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"column {metric!r} has {y_metric[i]:g} at row {data.index[i]!r}; the Beta likelihood needs values "
            f"in (0, 1). Clip it, e.g. df[{metric!r}] = df[{metric!r}].clip(1e-3, 1 - 1e-3)"
        )
    chance_values = _chance_values(data, chance)

    likelihood = get_likelihood("student_t")
    grouping = resolve_grouping(law, groups, hierarchy)
    group_columns = list(dict.fromkeys(c for cols in grouping.values() for c in cols))
    # One row per run for the loss stage.
    columns = resolve_columns(law, data, inputs)
    key_columns = [c for c in dict.fromkeys([*columns.values(), *group_columns, *([loss] if joint else [])])
                   if c in data.columns]
    keys = data[key_columns].astype(str).agg("|".join, axis=1) if key_columns else pd.Series("0", index=data.index)
    run_codes, run_labels = pd.factorize(keys)
    first = np.array([np.flatnonzero(run_codes == r)[0] for r in range(len(run_labels))])
    runs = data.iloc[first]
    design = prepare_design(
        runs, law, y=loss if joint else None, inputs=inputs, group_columns=group_columns,
        likelihood=likelihood if joint else None,
    )
    overrides = dict(priors or {})
    extra_priors = {k: overrides.pop(k) for k in list(overrides)
                    if k.startswith(LINK_SITE_PREFIX) or k in ("kappa", "floor")}
    resolved = resolve_priors(law, likelihood, grouping, overrides)
    n_levels = {column: len(labels) for column, labels in design.levels.items()}
    centered = centered_columns(parameterization, design.group_index, n_levels, len(law.params))
    spec = build_spec(law, likelihood, grouping, design.levels, resolved, centered=centered)
    link_used = _with_priors(link, extra_priors)
    floor_prior = extra_priors.get("floor", FLOOR_PRIOR)
    kappa_prior = extra_priors.get("kappa", KAPPA_PRIOR)
    observed_loss = loss_input == "observed"
    row_loss = data[loss].to_numpy(dtype=float) if joint else y_metric * 0 + 1.0
    # Centre of the link's loss axis: the geometric mean loss (1 for the unit-free latent curve of "direct").
    loss_centre = float(np.exp(np.mean(np.log(row_loss)))) if joint else 1.0
    structure = dict(joint=joint, observed_loss=observed_loss, estimate_floor=chance is None)
    model = _make_model(spec, link_used, **structure, floor_prior=floor_prior, kappa_prior=kappa_prior)
    extra = dict(
        run_of_row=np.asarray(run_codes, dtype=np.int32),
        chance=np.asarray(chance_values, dtype=np.float32),
        loss_centre=np.float32(loss_centre),
        row_loss=np.asarray(row_loss, dtype=np.float32),
        metric=np.asarray(y_metric, dtype=np.float32),
        accuracy_sign=np.float32(1.0 if kind == "accuracy" else -1.0),
    )
    n_runs = len(runs)
    repeat = lambda values: np.repeat(np.asarray(values)[None], chains, axis=0)  # noqa: E731
    batch = sampler.Batch(
        rng=np.asarray(jax.random.split(jax.random.PRNGKey(seed), chains)),
        inputs={k: repeat(v) for k, v in design.inputs.items()},
        group_index={k: repeat(v) for k, v in design.group_index.items()},
        centres={k: np.full(chains, v) for k, v in design.centres.items()},
        y=repeat(design.y if joint else np.zeros(n_runs)),
        mask=np.ones((chains, n_runs), dtype=bool),
        extra={k: repeat(v) for k, v in extra.items()},
    )
    result = sampler.run(
        spec, sampler.Settings(chains, draws, warmup, float(target_accept_prob), dense_mass=True), batch,
        progress=progress, description=f"{law.name} + {link_used.name} ({chains} chains)", model=model,
        model_key=_model_key(link_used, floor_prior=floor_prior, kappa_prior=kappa_prior, **structure),
    )
    samples = {k: v.reshape((chains, draws) + v.shape[2:]) for k, v in result.samples.items()}
    diverging = result.diverging.reshape(chains, draws)
    meta = {
        "law": law.name, "link": link_used.name, "approach": approach, "loss_input": loss_input,
        "metric": metric, "loss": loss if joint else None, "metric_kind": kind,
        "chance": chance if isinstance(chance, (str, type(None))) else float(chance),
        "columns": design.columns, "grouping": {k: list(v) for k, v in spec.grouping},
        "levels": design.levels, "centres": design.centres, "loss_centre": loss_centre,
        "estimate_floor": chance is None, "seed": seed, "parameterization": parameterization,
        "centered": list(spec.centered),
        "data_hash": _data_hash(design.inputs, y_metric),
        "timing": {"compile_s": round(result.compile_s, 3), "sampling_s": round(result.run_s, 3)},
    }
    all_priors = {**dict(spec.priors), **{f"{LINK_SITE_PREFIX}{k}": v for k, v in link_used.priors.items()},
                  "kappa": kappa_prior, **({"floor": floor_prior} if chance is None else {})}
    fitted = DownstreamFit(samples, spec=spec, link=link_used, meta=meta, data=data.copy(), run_codes=run_codes,
                           diverging=diverging, priors=all_priors)
    f32 = lambda v: jnp.asarray(v, dtype=jnp.float32)  # noqa: E731
    args = dict(
        inputs={k: f32(v) for k, v in design.inputs.items()},
        group_index={k: jnp.asarray(v, dtype=jnp.int32) for k, v in design.group_index.items()},
        centres={k: f32(v) for k, v in design.centres.items()},
        **{k: jnp.asarray(v) for k, v in extra.items() if k != "metric"},
    )
    fitted._build_idata(args, y_metric)
    fitted.check_convergence()
    return fitted


def _with_priors(link: Link, overrides: Mapping[str, dist.Distribution]) -> Link:
    priors = {}
    for name, prior in overrides.items():
        if name in ("kappa", "floor"):
            continue
        short = name.removeprefix(LINK_SITE_PREFIX)
        if short not in link.priors:
            raise ValueError(
                f"priors={{{name!r}: ...}}: link {link.name!r} has parameters "
                f"{[LINK_SITE_PREFIX + p for p in link.priors]} (and 'kappa', 'floor')"
            )
        priors[short] = prior
    return link.with_priors(priors) if priors else link


def _data_hash(inputs: Mapping[str, np.ndarray], metric: np.ndarray) -> str:
    """A fingerprint of the runs' inputs and the metric (identifies the ladder for the law error)."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(inputs):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(inputs[name], dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(metric, dtype=np.float64).tobytes())
    return digest.hexdigest()


def _chance_values(data: pd.DataFrame, chance: float | str | None) -> np.ndarray:
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


# --- the result -----------------------------------------------------------------------------
class DownstreamFit:
    """Posterior of a joint (or direct) loss-to-metric model; made by :func:`fit_downstream`.

    Attributes
    ----------
    idata : arviz.InferenceData
        Posterior, ``log_likelihood`` of the metric (``y``, one value per row), observed data.
    spec : ModelSpec
        The loss law's structure.
    link : Link
    meta : dict
    """

    def __init__(self, samples, *, spec, link, meta, data, run_codes, diverging, priors=None) -> None:
        self.samples = samples
        self.spec = spec
        self.link = link
        self.meta = meta
        self.data = data
        self.run_codes = run_codes
        self.diverging = diverging
        self.priors: dict[str, dist.Distribution] = dict(priors) if priors is not None else {
            **dict(spec.priors), **{f"{LINK_SITE_PREFIX}{k}": v for k, v in link.priors.items()}}
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

    def draws(self, name: str) -> np.ndarray:
        """Draws of a site, chains flattened."""
        value = self.samples[name]
        return value.reshape((-1,) + value.shape[2:])

    @cached_property
    def link_param_names(self) -> list[str]:
        names = [f"{LINK_SITE_PREFIX}{p}" for p in self.link.priors] + ["kappa"]
        return names + (["floor"] if self.meta["estimate_floor"] else [])

    def _build_idata(self, args, y_metric) -> None:
        sites = {k: self.draws(k) for k in self.samples}
        _, _, predictive, log_lik = self._evaluate(sites, args, y=y_metric)
        chains, n = self.samples["kappa"].shape[:2]
        dims = {f"{p}_{c}{suffix}": [c] for p, cols in self.spec.grouping for c in cols
                for suffix in ("_z", "_offset", "") if f"{p}_{c}{suffix}" in self.samples}
        self.idata = _arviz.to_inference_data(
            self.samples,
            log_likelihood=log_lik.reshape(chains, n, -1),
            posterior_predictive=predictive.reshape(chains, n, -1),
            observed=y_metric,
            constant_data={},
            sample_stats={"diverging": self.diverging},
            coords=self.meta["levels"],
            dims=dims,
            attrs={"bayescale_downstream": json.dumps(self.meta)},
        )

    def _evaluate(self, sites, args, y=None, seed: int = 0, shift: np.ndarray | None = None):
        """Loss curve per run, metric curve, predictive draws and log-likelihood per row.

        Curves and log-likelihood are compiled (the Beta density is
        :class:`bayescale.likelihoods.Beta`'s); the new-observation draws come from NumPy, as for
        :func:`bayescale.fit` (:meth:`bayescale.likelihoods.Likelihood.sample`). ``shift``
        (``(draws, runs)``, on the loss likelihood's scale) moves the loss law's curve before the
        link: the law error beyond the fitted runs.
        """
        spec, link = self.spec, self.link
        estimate_floor = self.meta["estimate_floor"]
        observed = self.meta["loss_input"] == "observed" and y is not None
        names = list(link.priors)

        def one(s, moved):
            per_row, _ = parameter_values(spec, s, args["group_index"], args["centres"])
            location = shifted_location(spec, curve_location(spec, args["inputs"], per_row), moved, xp=jnp)
            curve = jnp.exp(location) if spec.likelihood.log_space else location
            L = args["row_loss"] if observed else curve[args["run_of_row"]]
            floor = s["floor"] if estimate_floor else args["chance"]
            acc = link.function(L, floor, args["loss_centre"], **{p: s[f"{LINK_SITE_PREFIX}{p}"] for p in names})
            mean = jnp.clip(jnp.where(args["accuracy_sign"] > 0, acc, 1.0 - acc), 1e-5, 1 - 1e-5)
            beta = Beta(mean * s["kappa"], (1 - mean) * s["kappa"])
            ll = beta.log_prob(jnp.clip(y, 1e-6, 1 - 1e-6)) if y is not None else jnp.zeros_like(mean)
            return curve, mean, ll

        jsites = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in sites.items()}
        n_draws = next(iter(sites.values())).shape[0]
        n_runs = next(iter(args["inputs"].values())).shape[0]
        moved = jnp.zeros((n_draws, n_runs), jnp.float32) if shift is None else jnp.asarray(shift, jnp.float32)
        curve, mean, ll = (np.asarray(o, dtype=np.float64) for o in jax.jit(jax.vmap(one))(jsites, moved))
        predictive = get_likelihood("beta").sample(np.random.default_rng(seed), mean, {"kappa": sites["kappa"]})
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

    def check_convergence(self) -> list[str]:
        """Warn when r_hat, ESS or divergences say the draws may not be trustworthy."""
        d = self.diagnostics
        problems = []
        if d["max_rhat"] > RHAT_LIMIT:
            problems.append(f"r_hat reaches {d['max_rhat']:.3f} (> {RHAT_LIMIT}); run longer (warmup=2000)")
        if d["min_ess_bulk"] < ESS_LIMIT:
            problems.append(f"bulk ESS is only {d['min_ess_bulk']:.0f} (< {ESS_LIMIT}); draw more")
        if d["divergences"]:
            problems.append(f"{d['divergences']} divergent transitions; try target_accept_prob=0.99 or tighter priors")
        for p in problems:
            warnings.warn(p, ConvergenceWarning, stacklevel=3)
        return problems

    def summary(self, level: float = 0.9) -> pd.DataFrame:
        """Posterior summary of the loss-law, noise and link parameters (``link_<p>``)."""
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
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"predict() takes a DataFrame of inputs, got {type(data).__name__}")
        fitted = {name: col for name, col in self.meta["columns"].items() if col in data.columns}
        mapping = {name: fitted.get(name, name) for name in self.law.inputs}
        columns = resolve_columns(self.law, data, mapping)
        inputs = input_values(self.law, data, columns)
        group_index = {}
        for column, labels in self.meta["levels"].items():
            if column in data.columns:
                codes, _ = group_codes(data, column, labels)
                text = data[column].astype(str).to_numpy()
                for offset, label in enumerate(sorted({t for t, c in zip(text, codes, strict=True) if c < 0})):
                    codes[text == label] = len(labels) + offset
            else:
                codes = np.full(len(data), len(labels), dtype=np.int32)
            group_index[column] = codes
        chance = self.meta["chance"]
        if isinstance(chance, str) and chance not in data.columns:
            raise ValueError(
                f"the fit's chance floor comes from column {chance!r}; add it to the rows to predict "
                f"(e.g. df[{chance!r}] = 0.25)"
            )
        chance_values = _chance_values(data, chance)
        sites = {k: self.draws(k) for k in self.samples}
        rng = np.random.default_rng(seed)
        for name, cols in self.spec.groups_of.items():
            for column in cols:
                z = sites[f"{name}_{column}_z"]
                extra = int(group_index[column].max()) + 1 - z.shape[1] if len(data) else 0
                if extra > 0:
                    sites[f"{name}_{column}_z"] = np.concatenate([z, rng.standard_normal((z.shape[0], extra))], axis=1)
        def f32(v):
            return jnp.asarray(v, dtype=jnp.float32)

        args = dict(
            inputs={k: f32(v) for k, v in inputs.items()},
            group_index={k: jnp.asarray(v, dtype=jnp.int32) for k, v in group_index.items()},
            centres={k: f32(v) for k, v in self.meta["centres"].items()},
            run_of_row=jnp.arange(len(data), dtype=jnp.int32),
            chance=f32(chance_values),
            loss_centre=f32(self.meta["loss_centre"]),
            row_loss=f32(np.ones(len(data))),
            accuracy_sign=1.0 if self.meta["metric_kind"] == "accuracy" else -1.0,
        )
        kept = [c for c in dict.fromkeys([*columns.values(), *self.meta["levels"]]) if c in data.columns]
        return args, sites, kept, inputs

    @cached_property
    def _fitted_inputs(self) -> pd.DataFrame:
        """The law inputs of the fitted rows, under the law's input names."""
        return pd.DataFrame(input_values(self.law, self.data, self.meta["columns"]))

    def extrapolation_distance(self, data: pd.DataFrame) -> np.ndarray:
        """Decades of scale beyond the fitted runs at each row of ``data`` (0 inside the range).

        See :func:`bayescale.law_error.extrapolation_distance`.
        """
        inputs = self._prediction_args(data, 0)[3]
        return extrapolation_distance(self.law, self._fitted_inputs, pd.DataFrame(inputs))

    def _predictions(self, data: pd.DataFrame, seed: int, law_error):
        args, sites, kept, inputs = self._prediction_args(data, seed)
        shift = shift_for_fit(law_error, self.law, self._fitted_inputs, inputs, args["group_index"], self.meta["levels"],
                              len(next(iter(sites.values()))), seed=seed, data_hash=self.meta.get("data_hash", ""))
        loss_curve, metric, predictive, _ = self._evaluate(sites, args, seed=seed, shift=shift)
        return kept, loss_curve, metric, predictive

    def posterior_draws(
        self, data: pd.DataFrame, *, seed: int = 0, law_error: bool | LawError = True
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Draws of the metric's curve and of a new run's metric at ``data``, each ``(draws, rows)``.

        ``law_error`` is as in :meth:`predict`.
        """
        kept, _, metric, predictive = self._predictions(data, seed, law_error)
        return data[kept].copy(), metric, predictive

    def loss_draws(self, data: pd.DataFrame, *, seed: int = 0, law_error: bool | LawError = True) -> np.ndarray:
        """Draws of the loss law's curve at ``data``, ``(draws, rows)``; ``law_error`` as in :meth:`predict`."""
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
            and link uncertainty), ``pred_lower``, ``pred_upper`` (a new run: plus Beta noise), and
            ``loss_median``, ``loss_lower``, ``loss_upper`` (the loss law's curve). Beyond the
            fitted runs every interval also holds the law error (unless ``law_error=False``).
        """
        if not 0 < level < 1:
            raise ValueError(f"level={level!r} must lie in (0, 1), e.g. 0.9")
        kept, loss_curve, metric, predictive = self._predictions(data, seed, law_error)
        tail = (1 - level) / 2
        out = prediction_table(data[kept], metric, predictive, level)
        out["loss_median"] = np.median(loss_curve, axis=0)
        out["loss_lower"], out["loss_upper"] = np.quantile(loss_curve, [tail, 1 - tail], axis=0)
        return out

    def plot(self, x: str = "loss", *, ax=None, data: pd.DataFrame | None = None, level: float = 0.9,
             law_error: bool | LawError = True):
        """Metric against loss (``x="loss"``) or an input, data and posterior band; returns the Axes."""
        return plot_downstream(self, x=x, ax=ax, data=data, level=level, law_error=law_error)


_SAVE_ONLY = ("kind", "save_format", "bayescale_version", "likelihood", "priors", "sample_names", "run_codes", "data")
_LINK_EXTRA = ("kappa", "floor")


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
    changed = {}
    for name, prior in priors.items():
        short = name.removeprefix(LINK_SITE_PREFIX)
        if name.startswith(LINK_SITE_PREFIX) and io.prior_to_json(prior) != io.prior_to_json(link.priors[short]):
            changed[short] = prior
    link = link.with_priors(changed) if changed else link
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

    Raises
    ------
    ValueError
        If the fits saw different metric rows.
    """
    if len(fits) < 2:
        raise ValueError(f"compare_downstream() needs two or more fits, got {len(fits)}")
    sizes = {name: f.idata.observed_data["y"].shape[0] for name, f in fits.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"the fits have different numbers of metric rows {sizes}; fit them on the same rows")
    return _arviz.compare({name: f.idata for name, f in fits.items()}, ic=ic)


def plot_downstream(fit: DownstreamFit, x: str = "loss", *, ax=None, data: pd.DataFrame | None = None,
                    level: float = 0.9, n_grid: int = 100, law_error: bool | LawError = True):
    """Observed metric against loss or an input, with the posterior median and band of the link.

    With ``x="loss"`` the band is the link alone over a loss grid at the median chance floor;
    with ``x`` an input (or ``"C"``) it is the full joint prediction along the data's path.
    ``data`` adds held-out rows (drawn as open markers). ``law_error`` (as in
    :meth:`DownstreamFit.predict`) widens the band of an input path beyond the fitted runs.
    """
    import matplotlib.pyplot as plt

    from bayescale.plots import AXIS_LABELS, style_axes

    if ax is None:
        _, ax = plt.subplots()
    metric = fit.y
    train = fit.data
    tail = (1 - level) / 2
    if x == "loss":
        if fit.meta["approach"] != "joint":
            raise ValueError("x='loss' needs a joint fit (the direct approach has no loss); use x='C' or an input")
        lo, hi = float(train[fit.meta["loss"]].min()), float(train[fit.meta["loss"]].max())
        if data is not None:
            lo = min(lo, float(data[fit.meta["loss"]].min()))
        grid = np.linspace(lo * 0.95, hi * 1.02, n_grid)
        chance = fit.meta["chance"]
        c = float(np.median(train[chance])) if isinstance(chance, str) else (chance or 0.0)
        s = {k: fit.draws(k) for k in fit.samples}
        floor = s["floor"][:, None] if fit.meta["estimate_floor"] else c
        params = {p: s[f"{LINK_SITE_PREFIX}{p}"][:, None] for p in fit.link.priors}
        acc = np.asarray(fit.link.function(grid[None, :], floor, fit.meta["loss_centre"], **params))
        curve = acc if fit.meta["metric_kind"] == "accuracy" else 1 - acc
        xs_train, xs_data = train[fit.meta["loss"]], None if data is None else data[fit.meta["loss"]]
        label = f"loss ({fit.meta['loss']})"
    else:
        from bayescale.plots import path_inputs

        source = pd.concat([train, data]) if data is not None else train
        values = source[x] if x in source else training_compute(source["N"], source["D"])
        grid = np.geomspace(float(values.min()), float(values.max()), n_grid)
        from bayescale.crossover import _input_name

        frame = path_inputs(_PathProxy(fit), _input_name(fit, x), grid)
        if isinstance(fit.meta["chance"], str):  # the path runs at the median chance floor of the data
            frame[fit.meta["chance"]] = float(np.median(train[fit.meta["chance"]]))
        _, curve, _ = fit.posterior_draws(frame, law_error=law_error)
        xs_train = train[x] if x in train else training_compute(train["N"], train["D"])
        xs_data = None if data is None else (data[x] if x in data else training_compute(data["N"], data["D"]))
        ax.set_xscale("log")
        label = AXIS_LABELS.get(x, x)
    lower, upper = np.quantile(curve, [tail, 1 - tail], axis=0)
    ax.fill_between(grid, lower, upper, color="C0", alpha=0.25, linewidth=0, label=f"{level:.0%} credible band")
    ax.plot(grid, np.median(curve, axis=0), color="C0", linewidth=1.6, label="posterior median")
    ax.scatter(xs_train, train[metric], s=12, color="C0", edgecolor="white", linewidth=0.4, zorder=3, label="fitted runs")
    if data is not None:
        ax.scatter(xs_data, data[metric], s=30, facecolor="none", edgecolor="C3", zorder=4, label="held-out runs")
    ax.set_xlabel(label)
    ax.set_ylabel(metric)
    ax.set_title(f"{fit.link.name} link, {fit.meta['approach']} model")
    style_axes(ax)
    return ax


class _PathProxy:
    """What :func:`bayescale.plots.path_inputs` needs from a fit (``law``, ``data`` with law inputs)."""

    def __init__(self, fit: DownstreamFit) -> None:
        self.law = fit.law
        cols = fit.meta["columns"]
        self.data = pd.DataFrame({name: fit.data[col].to_numpy(dtype=float) if col in fit.data else np.nan
                                  for name, col in cols.items()})
        if {"N", "D"} <= set(self.data.columns):
            self.data["D_per_N"] = self.data["D"] / self.data["N"]


def gadre_point_fit(train: pd.DataFrame, *, loss: str = "loss", metric: str = "error") -> Callable[[pd.DataFrame], np.ndarray]:
    """Gadre et al. (2024)'s two least-squares fits, as a baseline: loss law, then ``Err(L)``.

    Fits ``L(N, M) = a N^b + c 6^(b/2) (M N)^b + E`` (their ``powlaw_ours``; ``M`` tokens per
    parameter) and ``Err(L) = eps - k exp(-gamma L)`` with ``scipy.optimize.curve_fit`` from their
    grid of starting points, and returns a function mapping rows with ``N`` and ``D`` to the
    predicted metric. Fit per training dataset by calling it once per dataset.
    """
    from scipy.optimize import curve_fit

    N = train["N"].to_numpy(float)
    M = (train["D"] / train["N"]).to_numpy(float)
    y = train[loss].to_numpy(float)

    def law(x, a, c, b, E):
        n, m = x
        return a * n**b + c * 6 ** (b / 2) * (m * n) ** b + E

    best, best_res = None, np.inf
    for a0 in (1e2, 3e2, 1e3, 3e3):
        for c0 in (1e2, 3e2, 1e3, 3e3):
            for b0 in (-0.1, -0.3):
                for e0 in (0.0, 1.0, 2.0, 10.0):
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            p, _ = curve_fit(law, (N, M), y, p0=[a0, c0, b0, e0], maxfev=10000)
                    except RuntimeError:
                        continue
                    res = float(np.sum((law((N, M), *p) - y) ** 2))
                    if res < best_res:
                        best, best_res = p, res
    if best is None:
        raise RuntimeError("gadre_point_fit: the loss law's least-squares fit failed from every starting point")

    def decay(L, a, b, e):
        return e - a * np.exp(L) ** (-b)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q, _ = curve_fit(decay, y, train[metric].to_numpy(float), maxfev=10000)

    def predict(rows: pd.DataFrame) -> np.ndarray:
        n = rows["N"].to_numpy(float)
        m = (rows["D"] / rows["N"]).to_numpy(float)
        return decay(law((n, m), *best), *q)

    predict.loss_params = best  # type: ignore[attr-defined]
    predict.link_params = q  # type: ignore[attr-defined]
    return predict
