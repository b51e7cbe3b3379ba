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
the natural scale, centred or non-centred group offsets), and the link with its likelihood (Beta, or
binomial / beta-binomial counts of questions) is a second observed stage;
:func:`bayescale.sampler.run` samples it. The links (``sigmoid_from_loss``, ``error_from_loss``,
``passuntil_from_loss``) are defined once, in
:mod:`bayescale.laws.downstream_links`, which also registers each as a law of ``L``.

References
----------
Gadre, S. Y. et al. (2024). Language models scale reliably with over-training and on downstream
tasks. arXiv:2403.08540.
Bhagia, A. et al. (2024). Establishing Task Scaling Laws via Compute-Efficient Model Ladders. arXiv:2412.04403.
Hu, S. et al. (2024). Predicting Emergent Abilities with Infinite Resolution Evaluation. ICLR, arXiv:2310.03262.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd

from bayescale import sampler
from bayescale.data import group_codes, prepare_design, resolve_columns
from bayescale.diagnostics import quietly
from bayescale.downstream_fit import DownstreamFit, chance_floors, compare_downstream
from bayescale.hierarchy import (
    ModelSpec,
    build_spec,
    centered_columns,
    curve_location,
    distribution_key,
    law_values,
    resolve_grouping,
    resolve_priors,
    sample_law,
)
from bayescale.laws import Law, get
from bayescale.laws.downstream_links import FLOOR, LINKS, Link, get_link
from bayescale.likelihoods import get_likelihood
from bayescale.link_stage import LINK_SITE_PREFIX, link_spec, row_parameters, sample_noise_and_floor, task_value
from bayescale.trials import trial_counts

__all__ = ["LINKS", "DownstreamFit", "Link", "compare_downstream", "fit_downstream", "refit_downstream"]

#: Prior of the chance floor when ``chance=None`` (estimated, on the accuracy scale).
FLOOR_PRIOR = FLOOR.prior
KAPPA_PRIOR = dist.LogNormal(np.log(300.0), 1.5)


# --- the model ------------------------------------------------------------------------------
def _make_model(spec: ModelSpec, stage: ModelSpec, *, joint: bool, observed_loss: bool, by: str | None = None,
                n_tasks: int = 1, metric_likelihood: str = "beta", floor_prior: dist.Distribution | None = None,
                kappa_prior: dist.Distribution = KAPPA_PRIOR):
    """The joint model: the law stage of :func:`bayescale.hierarchy.make_model`, then the link stage.

    Stage 1 (``joint``): the loss of each run, ``y``, with the spec's likelihood of the law's curve.
    Stage 2: the metric of each row, ``metric``, around ``link(L)`` with ``metric_likelihood``
    (Beta, or the binomial / beta-binomial of ``trials`` questions); the link's parameters come
    from ``stage`` (:func:`bayescale.link_stage.link_spec`: shared, or by task), and ``floor_prior``
    None means the chance floor is given. Called by :func:`bayescale.sampler.run` as
    ``model(inputs, group_index, centres, y=, mask=, **extra)``.
    """
    noise_names = spec.likelihood.noise_names if joint else ()
    metric_lik = get_likelihood(metric_likelihood)
    metric_noise_priors = {name: kappa_prior for name in metric_lik.noise_names}

    def model(inputs, group_index, centres, y=None, mask=None, *, run_of_row, task_of_row, chance, loss_centre,
              row_loss, metric=None, accuracy_sign=1.0, trials=None):
        sites = sample_law(spec)
        noise = {name: numpyro.sample(name, spec.prior_of[name]) for name in noise_names}
        per_row = law_values(spec, sites, group_index, centres)
        location = curve_location(spec, inputs, per_row)
        n_runs = next(iter(inputs.values())).shape[0]
        if joint:
            with numpyro.plate("runs", n_runs):
                numpyro.sample("loss", spec.likelihood.distribution(location, noise), obs=y)
        curve = jnp.exp(location) if spec.likelihood.log_space else location
        params = row_parameters(stage, sample_law(stage), task_of_row, record=True)
        metric_noise, floor = sample_noise_and_floor(by, n_tasks, metric_noise_priors, floor_prior)
        L = row_loss if observed_loss else curve[run_of_row]
        acc = stage.law.mean(L, chance if floor is None else task_value(floor, task_of_row), loss_centre, **params)
        mean = jnp.clip(jnp.where(accuracy_sign > 0, acc, 1.0 - acc), 1e-5, 1 - 1e-5)
        scatter = {name: task_value(value, task_of_row) for name, value in metric_noise.items()}
        with numpyro.plate("rows", run_of_row.shape[0]):
            numpyro.sample("y", metric_lik.distribution(mean, scatter, trials), obs=metric)

    return model


def _structure_key(**flags) -> tuple:
    """What fixes the structure of :func:`_make_model` beyond the two ModelSpecs (compile-cache key)."""
    key = lambda v: distribution_key(v) if isinstance(v, dist.Distribution) else v  # noqa: E731
    return tuple(sorted((k, key(v)) for k, v in flags.items()))


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
    target_accept_prob: float | None = None,
    progress: bool | None = None,
    parameterization: str = "auto",
    metric_likelihood: str = "beta",
    trials: str | int | None = None,
    by: str | None = None,
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
        (see :func:`bayescale.hierarchy.centered_columns`). The task offsets of ``by`` are
        non-centred unless ``"centered"``.
    metric_likelihood : {"beta", "binomial", "beta_binomial"}
        How the metric scatters around the link: ``beta`` (default; values in (0, 1)), or, when
        the number of questions behind each score is known (``trials``), the ``binomial`` count
        of correct answers or the ``beta_binomial`` (binomial plus run-to-run scatter, ``kappa``);
        these allow scores of exactly 0 or 1.
    trials : str or int, optional
        For the count likelihoods: the column holding each row's number of questions, or one
        number for every row (as in :func:`bayescale.fit`).
    by : str, optional
        A column of tasks (e.g. ``"task"``, with one row per run and task): each task gets its own
        link, partially pooled over the tasks (:mod:`bayescale.link_stage`), and its own metric
        noise and (with ``chance=None``) floor, while the loss law stays one per run. Predict the
        tasks one row each (:meth:`DownstreamFit.predict`) or their average
        (:meth:`DownstreamFit.predict_average`), and check which tasks follow their link at larger
        scales with :func:`bayescale.check_tasks`. Override a spread's prior with
        ``priors={"link_<p>_<by>_sd": ...}``.

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
    >>> per_task = bs.fit_downstream(df, metric="error", link="error_from_loss", chance="chance",
    ...                              hierarchy={"E": "dataset"}, by="task")  # doctest: +SKIP
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
    target_accept_prob = sampler.target_accept(law, target_accept_prob)
    sampler.check_settings(chains=chains, draws=draws, warmup=warmup, target_accept_prob=target_accept_prob)
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
    metric_lik = get_likelihood(metric_likelihood)
    if metric_lik.name not in ("beta", "binomial", "beta_binomial"):
        raise ValueError(
            f"metric_likelihood={metric_likelihood!r} must be 'beta', 'binomial' or 'beta_binomial' (a metric in [0, 1])"
        )
    y_metric = data[metric].to_numpy(dtype=float)
    i = metric_lik.check_support(y_metric)
    if i is not None:
        fix = ("scores must be proportions of the questions" if metric_lik.counts else
               f"clip it, e.g. df[{metric!r}] = df[{metric!r}].clip(1e-3, 1 - 1e-3), or, with the number of "
               "questions known, use metric_likelihood='binomial' and trials='<questions column>'")  # fmt: skip
        raise ValueError(
            f"column {metric!r} has {y_metric[i]:g} at row {data.index[i]!r}, outside the support of "
            f"metric_likelihood={metric_lik.name!r} ({metric_lik.support_text}); {fix}"
        )
    metric_trials = trial_counts(data, trials, metric_lik)
    chance_values = chance_floors(data, chance)

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
    link_overrides = {k: overrides.pop(k) for k in list(overrides) if k.startswith(LINK_SITE_PREFIX)}
    floor_prior = overrides.pop("floor", FLOOR_PRIOR) if chance is None else None
    kappa_prior = overrides.pop("kappa", KAPPA_PRIOR)
    resolved = resolve_priors(law, likelihood, grouping, overrides)
    n_levels = {column: len(labels) for column, labels in design.levels.items()}
    centered = centered_columns(parameterization, design.group_index, n_levels, len(law.params))
    spec = build_spec(law, likelihood, grouping, design.levels, resolved, centered=centered)
    task_of_row, tasks = _tasks(data, by, group_columns)
    # Task offsets are non-centred unless asked: a task's rows pin its link only where its score moves
    # (a task at chance pins nothing), where the centred form has its funnel however many rows it has.
    # Measured (benchmarks/RESULTS.md, "Per-task downstream"): about equal on Gadre's 17 tasks; on four
    # of them the all-centred fit had 4 divergences, the all-non-centred none.
    task_centred = by is not None and parameterization == "centered"
    stage = link_spec(link, metric_lik, by, len(tasks), link_overrides, centered=task_centred)
    observed_loss = loss_input == "observed"
    row_loss = data[loss].to_numpy(dtype=float) if joint else y_metric * 0 + 1.0
    # Centre of the link's loss axis: the geometric mean loss (1 for the unit-free latent curve of "direct").
    loss_centre = float(np.exp(np.mean(np.log(row_loss)))) if joint else 1.0
    structure: dict[str, Any] = dict(joint=joint, observed_loss=observed_loss, by=by, n_tasks=max(len(tasks), 1),
                                     metric_likelihood=metric_lik.name)
    model = _make_model(spec, stage, **structure, floor_prior=floor_prior, kappa_prior=kappa_prior)
    extra = dict(
        run_of_row=np.asarray(run_codes, dtype=np.int32),
        task_of_row=task_of_row,
        chance=np.asarray(chance_values, dtype=np.float32),
        loss_centre=np.float32(loss_centre),
        row_loss=np.asarray(row_loss, dtype=np.float32),
        metric=np.asarray(y_metric, dtype=np.float32),
        accuracy_sign=np.float32(1.0 if kind == "accuracy" else -1.0),
        **({} if metric_trials is None else {"trials": np.asarray(metric_trials, dtype=np.float32)}),
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
    # a dense mass matrix for the few parameters of one link; by task there are tens to hundreds, too
    # many to estimate a dense matrix from one warm-up (diagonal: r_hat 1.02 on Gadre's 17 tasks)
    result = sampler.run(
        spec, sampler.Settings(chains, draws, warmup, float(target_accept_prob), dense_mass=by is None), batch,
        progress=sampler.show_progress(progress), model=model,
        description=f"{law.name} + {link.name} ({chains} chains)",
        model_key=("downstream", link.name, stage.fingerprint(), id(link.function), _structure_key(
            floor_prior=floor_prior, kappa_prior=kappa_prior, **structure)),
    )
    samples = {k: v.reshape((chains, draws) + v.shape[2:]) for k, v in result.samples.items()}
    diverging = result.diverging.reshape(chains, draws)
    meta = {
        "law": law.name, "link": link.name, "approach": approach, "loss_input": loss_input,
        "metric": metric, "loss": loss if joint else None, "metric_kind": kind,
        "chance": chance if isinstance(chance, (str, type(None))) else float(chance),
        "columns": design.columns, "grouping": {k: list(v) for k, v in spec.grouping},
        "levels": design.levels, "centres": design.centres, "loss_centre": loss_centre,
        "estimate_floor": chance is None, "seed": seed, "parameterization": parameterization,
        "by": by, "tasks": tasks, "task_centred": task_centred, "warmup": warmup,
        "target_accept_prob": float(target_accept_prob),
        "centered": list(spec.centered), "metric_likelihood": metric_lik.name,
        **({} if trials is None else {"trials": trials if isinstance(trials, str) else int(trials)}),
        "data_hash": _data_hash(design.inputs, y_metric),
        "timing": {"compile_s": round(result.compile_s, 3), "sampling_s": round(result.run_s, 3)},
    }
    all_priors = {**dict(spec.priors), **dict(stage.priors), **{name: kappa_prior for name in metric_lik.noise_names},
                  **({"floor": floor_prior} if floor_prior is not None else {})}
    fitted = DownstreamFit(samples, spec=spec, link=link, meta=meta, data=data.copy(), run_codes=run_codes,
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


def refit_downstream(
    fit: DownstreamFit, rows: pd.DataFrame, refit_kwargs: Mapping[str, Any] | None = None
) -> DownstreamFit:
    """Fit ``fit``'s model again on ``rows`` (a subset of its data, same columns).

    The same law, link, grouping, tasks, likelihoods, priors and sampler settings as ``fit``, with
    ``refit_kwargs`` overriding them (e.g. ``{"draws": 500}``); no progress bar and no convergence
    warning (:func:`bayescale.check_tasks` judges the refit by its forecast instead).
    """
    meta = fit.meta
    chains, draws = next(iter(fit.samples.values())).shape[:2]
    settings: dict[str, Any] = dict(
        law=fit.law, loss=meta["loss"], metric=meta["metric"], link=fit.link, chance=meta["chance"],
        metric_kind=meta["metric_kind"], inputs={k: v for k, v in fit.columns.items() if v != k} or None,
        hierarchy={name: list(cols) for name, cols in meta["grouping"].items()} or None, priors=fit.priors,
        approach=meta["approach"], loss_input=meta["loss_input"], chains=chains, draws=draws,
        warmup=meta.get("warmup", draws), seed=meta["seed"], target_accept_prob=meta["target_accept_prob"],
        progress=False, parameterization=meta["parameterization"], metric_likelihood=fit.metric_likelihood.name,
        trials=meta.get("trials"), by=fit.by,
    )
    settings.update(dict(refit_kwargs or {}))
    return quietly(lambda: fit_downstream(rows.reset_index(drop=True), **settings))


def _tasks(data: pd.DataFrame, by: str | None, group_columns: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """The task code of every row and the task labels (zeros and no labels without ``by``)."""
    if by is None:
        return np.zeros(len(data), dtype=np.int32), []
    if by in group_columns:
        raise ValueError(
            f"by={by!r} is also a grouping column of the loss law; the loss law varies by run-level columns "
            "(e.g. the training corpus) and the link by task: name different columns"
        )
    if by not in data.columns:
        raise ValueError(f"by={by!r} is not a column; the DataFrame has {list(data.columns)}. Name the task column")
    codes, labels = group_codes(data, by)
    return np.asarray(codes, dtype=np.int32), list(labels)


def _data_hash(inputs: Mapping[str, np.ndarray], metric: np.ndarray) -> str:
    """A fingerprint of the runs' inputs and the metric (identifies the ladder for the law error)."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(inputs):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(inputs[name], dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(metric, dtype=np.float64).tobytes())
    return digest.hexdigest()
