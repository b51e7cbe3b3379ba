"""Inference: NUTS (NumPyro) on CPU or GPU, from a runs table to a :class:`~bayescale.Fit`.

Lessons from DESIGN.md applied here: the law is compared with ``log y`` (log-space
likelihoods), pivoted coefficients are sampled at the centre of the data, NUTS adapts a
dense mass matrix, and the compiled sampler is kept for the next fit of the same structure
and data shape (a user's second notebook cell does not recompile).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd

from bayescale import _arviz, io, sampler
from bayescale._version import __version__
from bayescale.data import Design, free_parameters, prepare_design
from bayescale.diagnostics import ESS_LIMIT, RHAT_LIMIT, ConvergenceWarning  # noqa: F401  (re-exported)
from bayescale.fit_result import Fit
from bayescale.floor_pair import level_pair_parameters
from bayescale.hierarchy import (
    ModelSpec,
    build_spec,
    centered_columns,
    resolve_grouping,
    resolve_priors,
)
from bayescale.laws import Law, get
from bayescale.likelihoods import Likelihood, get_likelihood
from bayescale.posterior import flat_sites, pointwise_log_likelihood

logger = logging.getLogger("bayescale")

#: Version of the layout of saved fits (defined in :mod:`bayescale.io`; kept here for old imports).
SAVE_FORMAT = io.SAVE_FORMAT


def fit(
    data: pd.DataFrame,
    law: str | Law = "chinchilla",
    *,
    y: str = "loss",
    inputs: Mapping[str, str] | None = None,
    groups: str | Sequence[str] | None = None,
    hierarchy: Mapping[str, str | Sequence[str] | None] | None = None,
    priors: Mapping[str, dist.Distribution] | Any | None = None,
    likelihood: str | Likelihood = "student_t",
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    progress: bool | None = None,
    device: str | None = None,
    target_accept_prob: float | None = None,
    dense_mass: bool = True,
    max_tree_depth: int | tuple[int, int] = (7, 10),
    chain_method: str | None = None,
    parameterization: str = "auto",
    trials: str | int | None = None,
) -> Fit:
    """Fit a scaling law to a table of runs with NUTS.

    Parameters
    ----------
    data : DataFrame
        One row per training run or checkpoint.
    law : str or Law
        A registered law name (``bs.laws.list()``) or a :class:`~bayescale.laws.Law`.
    y : str
        The measured column (a loss, or a metric in (0, 1) with ``likelihood="beta"``).
    inputs : mapping, optional
        Law input name to column, e.g. ``{"N": "params", "D": "tokens"}``. Inputs not named are
        read from columns of the same name; ``C = 6ND`` and ``D_per_N`` are derived when needed.
    groups : str or list of str, optional
        Grouping column(s) by which every parameter varies, partially pooled.
    hierarchy : mapping, optional
        Per-parameter grouping, e.g. ``{"E": "dataset"}``; overrides ``groups`` for those parameters.
    priors : mapping or Fit, optional
        Parameter name to a numpyro distribution replacing its default prior; or a previous
        :class:`~bayescale.Fit` (or any object with ``as_priors()``) whose posterior becomes the prior.
    likelihood : {"student_t", "normal", "beta", "binomial", "beta_binomial", "frontier"}
        Observation model; ``student_t`` in log space is the robust default for losses;
        ``frontier`` for ladders whose runs lie on or above the law (untuned learning rate or
        batch size): the fit gives the frontier of the tuned runs; ``beta`` for a metric in
        (0, 1); ``binomial`` (sampling noise of the questions alone) or ``beta_binomial`` (plus
        run-to-run scatter) for an accuracy whose number of questions is known, see ``trials``
        (:mod:`bayescale.likelihoods`).
    chains, draws, warmup : int
        Number of chains, kept draws per chain and warm-up steps per chain.
    max_tree_depth : int or (int, int)
        NUTS tree depth limits (``2**depth - 1`` leapfrog steps an iteration), as NumPyro takes
        them: one number, or ``(warm-up, draws)``. Default ``(7, 10)``: NUTS's usual 10 for the
        draws, 127 steps for warm-up, whose first iterations, before the mass matrix adapts, ran
        to hundreds of steps (85% of a Chinchilla fit's steps; its draws are discarded, so the
        cap cannot bias the draws). ``(5, 10)`` halved Chinchilla's sampling but left harder
        models unadapted; 10 restores the uncapped warm-up (``benchmarks/RESULTS.md``, speed
        against peers).
    seed : int
        Random seed; the same seed gives the same draws on the same machine.
    progress : bool, optional
        Show a progress bar; by default when running in a terminal or in Jupyter.
    device : {"cpu", "gpu"}, optional
        Where JAX runs; None uses JAX's default device.
    target_accept_prob : float, optional
        NUTS target acceptance probability; raise it (e.g. 0.99) if there are divergences. Default:
        the law's own (0.99 for ``power``), else 0.95.
    dense_mass : bool
        Adapt a dense mass matrix (recommended: scaling-law parameters are correlated).
    chain_method : {"parallel", "vectorized"}, optional
        "parallel" spreads the chains over the JAX devices (bayescale asks for 4 CPU devices on
        import, see :mod:`bayescale._runtime`); "vectorized" runs them together on one device.
        Default: "parallel" when there is more than one device.
    parameterization : {"auto", "centered", "noncentered"}
        How group offsets are sampled. "auto" centres a grouping column when it has at least 3
        levels and each level has more rows than the law has parameters, and keeps the others
        non-centred (with 2 levels the between-group sd is barely identified and the centred
        form diverges).
    trials : str or int, optional
        For ``likelihood="binomial"`` or ``"beta_binomial"``: the column holding each run's number
        of questions (trials), or one number for every run. ``y`` is then the proportion correct
        (0 and 1 allowed); ``y * trials`` is rounded to the nearest count. Predictions of a new
        run use the ``trials`` column of the rows given to ``predict`` (or the fitted runs'
        number when they all share one).

    Returns
    -------
    Fit
        The posterior with ``idata``, ``summary()``, ``predict()``, ``plot()`` and ``save()``.

    Warns
    -----
    ConvergenceWarning
        When r_hat > 1.01, bulk ESS < 400, or there are divergent transitions.

    Examples
    --------
    >>> import bayescale as bs
    >>> df = bs.examples.load("chinchilla_ladder")
    >>> fit = bs.fit(df, law="chinchilla", y="loss", inputs={"N": "params", "D": "tokens"},
    ...              chains=2, draws=200, warmup=200, progress=False)  # doctest: +SKIP
    >>> fit.summary()  # doctest: +SKIP
    """
    law = get(law)
    likelihood = get_likelihood(likelihood)
    target_accept_prob = sampler.target_accept(law, target_accept_prob)
    sampler.check_settings(chains=chains, draws=draws, warmup=warmup, target_accept_prob=target_accept_prob)
    grouping = resolve_grouping(law, groups, hierarchy)
    priors = _prior_overrides(priors, law)
    resolved_priors = resolve_priors(law, likelihood, grouping, priors)
    group_columns = list(dict.fromkeys(col for cols in grouping.values() for col in cols))
    design = prepare_design(
        data,
        law,
        y=y,
        inputs=inputs,
        group_columns=group_columns,
        likelihood=likelihood,
        n_params=free_parameters(law, likelihood),
        trials=trials,
    )
    n_levels = {column: len(labels) for column, labels in design.levels.items()}
    centered = centered_columns(parameterization, design.group_index, n_levels, len(law.params))
    spec = build_spec(law, likelihood, grouping, design.levels, resolved_priors, centered=centered)
    settings = {
        "chains": chains,
        "draws": draws,
        "warmup": warmup,
        "seed": seed,
        "target_accept_prob": target_accept_prob,
        "dense_mass": dense_mass,
        "max_tree_depth": list(sampler.parse_tree_depths(max_tree_depth)),
        "chain_method": _chain_method(chain_method, chains, device),
        "parameterization": parameterization,
        "device": device,
        "progress": sampler.show_progress(progress),
    }
    fitted = _sample(spec, design, settings, resolved_priors, y=y, trials=trials)
    fitted.check_convergence()
    return fitted


#: Settings of a fit that :func:`refit` takes over and that ``overrides`` may change (the others,
#: e.g. the parameterisation, the device and whether a progress bar is shown, are the fit's own).
REFIT_SETTINGS = ("chains", "draws", "warmup", "seed", "target_accept_prob", "dense_mass", "max_tree_depth")


def refit(fit: Fit, keep: np.ndarray, overrides: Mapping[str, Any] | None = None) -> Fit:
    """Fit ``fit``'s model again on the rows ``keep`` of :attr:`Fit.data`, with no new compile.

    The same law, grouping, likelihood, priors, centres and sampler settings (``overrides``, e.g.
    ``{"draws": 500}``, changes those named in :data:`REFIT_SETTINGS`). The rows left out stay in
    the arrays the compiled sampler sees, masked out of the likelihood: the refit runs the very
    program ``fit`` compiled (unless ``overrides`` changes its shape), on the fit's device and
    with a progress bar where the fit had one, which is what makes a leave-future-out check cost
    one more sampling run rather than a compile. The result is a Fit of the kept rows (read
    through the fit's column names), checked for convergence as :func:`fit` checks (a warning).

    Parameters
    ----------
    fit : Fit
    keep : ndarray of bool
        One value per row of ``fit.data``: True for the rows to fit.
    overrides : mapping, optional
        New values of the settings in :data:`REFIT_SETTINGS`.

    Returns
    -------
    Fit

    Warns
    -----
    ConvergenceWarning
        As :func:`fit`.
    """
    keep = np.asarray(keep, dtype=bool)
    frame = fit.data
    if keep.shape != (len(frame),):
        raise ValueError(f"keep has shape {keep.shape}; it needs one value per fitted run ({len(frame)})")
    unknown = sorted(set(overrides or {}) - set(REFIT_SETTINGS))
    if unknown:
        raise ValueError(f"refit settings {unknown} are not known; use {list(REFIT_SETTINGS)}")
    if not keep.any():
        raise ValueError("keep holds no run to refit; keep at least as many runs as the law has parameters")
    spec = fit.spec
    recorded = fit.meta["settings"]
    settings = {**recorded, **dict(overrides or {})}
    settings.pop("timing", None)
    sampler.check_settings(chains=settings["chains"], draws=settings["draws"], warmup=settings["warmup"],
                           target_accept_prob=settings["target_accept_prob"])  # fmt: skip
    settings.setdefault("device", None)  # fits saved before these were recorded
    settings.setdefault("progress", False)
    settings["max_tree_depth"] = list(sampler.parse_tree_depths(settings.get("max_tree_depth", 10)))  # saved before: 10
    if settings["chains"] != recorded["chains"] or "chain_method" not in settings:
        settings["chain_method"] = _chain_method(None, settings["chains"], settings["device"])
    group_columns = list(dict.fromkeys(col for _, cols in spec.grouping for col in cols))
    design = prepare_design(
        frame, fit.law, y=fit.y, inputs={name: name for name in fit.law.inputs}, group_columns=group_columns,
        likelihood=spec.likelihood, levels=fit.levels, trials=fit.meta.get("trials"),
    )  # fmt: skip
    design = dataclasses.replace(design, columns=dict(fit.columns))
    again = _sample(spec, design, settings, fit.priors, y=fit.y, trials=fit.meta.get("trials"), keep=keep)
    again.check_convergence()
    return again


def _sample(spec: ModelSpec, design: Design, settings: dict[str, Any], priors: Mapping[str, dist.Distribution], *,
            y: str, trials: str | int | None, keep: np.ndarray | None = None) -> Fit:  # fmt: skip
    """Run NUTS on ``design`` (its rows ``keep`` only, the others masked out) and build the Fit."""
    chains, draws, device = settings["chains"], settings["draws"], settings["device"]
    warmup_depth, draw_depth = settings["max_tree_depth"]
    batch = _chain_batch(design, chains, settings["seed"])
    if keep is not None:
        batch = dataclasses.replace(batch, mask=np.repeat(keep[None], chains, axis=0))
        design = _rows(design, keep)
    batch = sampler.pad_rows(batch, sampler.padded_length(batch.y.shape[1]))
    with jax.default_device(sampler.jax_device(device)):
        result = sampler.run(
            spec,
            sampler.Settings(chains, draws, settings["warmup"], float(settings["target_accept_prob"]),
                             bool(settings["dense_mass"]), max_tree_depth=draw_depth,
                             warmup_tree_depth=warmup_depth),  # fmt: skip
            batch,
            device=device,
            parallel=settings["chain_method"] == "parallel",
            progress=settings["progress"],
            description=f"{spec.law.name} ({chains} chains)" + ("" if keep is None else ", runs left out"),
        )
    samples = {name: value.reshape((chains, draws) + value.shape[2:]) for name, value in result.samples.items()}
    extra = {
        name: np.asarray(getattr(result, name)).reshape(chains, draws)
        for name in (*NUTS_STATS, "diverging", "num_steps")
        if getattr(result, name, None) is not None
    }
    settings = {**settings, "timing": {"compile_s": round(result.compile_s, 3), "sampling_s": round(result.run_s, 3)}}
    idata = build_inference_data(spec, design, samples, extra, y=y, settings=settings, priors=priors, trials=trials)
    return Fit(idata, priors=priors)


def _rows(design: Design, keep: np.ndarray) -> Design:
    """The rows ``keep`` of ``design``, with its levels and centres unchanged."""
    return dataclasses.replace(
        design,
        inputs={name: values[keep] for name, values in design.inputs.items()},
        y=None if design.y is None else design.y[keep],
        group_index={name: codes[keep] for name, codes in design.group_index.items()},
        frame=design.frame[keep].reset_index(drop=True),
        trials=None if design.trials is None else design.trials[keep],
    )


def _prior_overrides(priors: Any, law: Law) -> Mapping[str, dist.Distribution] | None:
    """Turn ``priors=`` (a mapping, a Fit, or an object with ``as_priors()``) into a mapping."""
    if priors is None or isinstance(priors, Mapping):
        return priors
    as_priors = getattr(priors, "as_priors", None)
    if callable(as_priors):
        return as_priors(law)
    raise TypeError(
        f"priors= must be a dict of numpyro distributions or a Fit whose posterior becomes the prior, "
        f"got {type(priors).__name__}"
    )


def _chain_batch(design: Design, chains: int, seed: int) -> sampler.Batch:
    """The design repeated once per chain, with one random key per chain."""
    repeat = lambda values: np.repeat(np.asarray(values)[None], chains, axis=0)  # noqa: E731
    return sampler.Batch(
        rng=np.asarray(jax.random.split(jax.random.PRNGKey(seed), chains)),
        inputs={name: repeat(values) for name, values in design.inputs.items()},
        group_index={name: repeat(codes) for name, codes in design.group_index.items()},
        centres={name: np.full(chains, value) for name, value in design.centres.items()},
        y=repeat(design.y),
        mask=np.ones((chains, design.n), dtype=bool),
        extra={} if design.trials is None else {"trials": repeat(design.trials.astype(np.float32))},
    )


def _chain_method(method: str | None, chains: int, device: str | None) -> str:
    """Resolve ``chain_method``: parallel chains need several devices of the default backend."""
    can_parallel = chains > 1 and sampler.devices_for(chains, device) > 1
    if method is None:
        return "parallel" if can_parallel else "vectorized"
    if method not in ("vectorized", "parallel"):
        raise ValueError(f"chain_method={method!r} must be 'parallel' or 'vectorized'")
    if method == "parallel" and not can_parallel:
        warnings.warn(
            f"chain_method='parallel' needs several {jax.default_backend()} devices but JAX has "
            f"{jax.local_device_count()}; running the chains vectorized instead",
            stacklevel=3,
        )
        return "vectorized"
    return method


#: Per-draw NUTS statistics that :func:`build_inference_data` takes besides ``diverging`` and
#: ``num_steps`` when the sampler returns them (named as numpyro's ``HMCState`` and ``extra_fields``).
NUTS_STATS = ("potential_energy", "energy", "accept_prob", "step_size")


def sample_stats(extra: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """NUTS statistics ``(chain, draw)`` under ArviZ's names, as ``arviz.from_numpyro`` writes them.

    ``potential_energy`` becomes ``lp`` (negated), ``accept_prob`` ``acceptance_rate``,
    ``num_steps`` ``n_steps`` (with ``tree_depth = floor(log2(n_steps)) + 1``); ``energy``,
    ``step_size`` and ``diverging`` keep their names. Statistics absent from ``extra`` are left out.
    """
    stats: dict[str, np.ndarray] = {}
    if "potential_energy" in extra:
        stats["lp"] = -np.asarray(extra["potential_energy"])
    for source, name in (("energy", "energy"), ("accept_prob", "acceptance_rate"), ("step_size", "step_size")):
        if source in extra:
            stats[name] = np.asarray(extra[source])
    if "num_steps" in extra:
        steps = np.asarray(extra["num_steps"])
        stats["n_steps"] = steps
        stats["tree_depth"] = (np.log2(np.maximum(steps, 1)).astype(int) + 1).astype(np.int64)
    if "diverging" in extra:
        stats["diverging"] = np.asarray(extra["diverging"], dtype=bool)
    return stats


def _priors_json(priors: Mapping[str, dist.Distribution]) -> dict[str, dict]:
    """Priors as JSON where they can be written; the others are marked and refused by ``save``."""
    out = {}
    for name, prior in priors.items():
        try:
            out[name] = io.prior_to_json(prior, name=name)
        except ValueError as error:
            out[name] = {"class": type(prior).__name__, "unsaved": str(error)}
    return out


def build_inference_data(
    spec: ModelSpec,
    design: Design,
    samples: Mapping[str, np.ndarray],
    extra: Mapping[str, np.ndarray],
    *,
    y: str,
    settings: Mapping[str, Any],
    priors: Mapping[str, dist.Distribution],
    trials: str | int | None = None,
):
    """Assemble the InferenceData: posterior, log-likelihood, predictive, data and metadata.

    ``trials`` (the column or the number given to :func:`fit`) is recorded for count likelihoods;
    the counts themselves come from ``design.trials``.
    """
    assert design.y is not None, "a fitted design has observations"
    chains, draws = next(iter(samples.values())).shape[:2]
    sites = flat_sites(spec, samples)
    replicated, log_lik = pointwise_log_likelihood(
        spec, sites, design.inputs, design.group_index, design.centres, design.y, seed=settings["seed"] + 1,
        trials=design.trials,
    )
    dims = {
        f"{name}_{column}{suffix}": [column]
        for name, columns in spec.grouping
        for column in columns
        for suffix in ("", "_z", "_offset")
    }
    if spec.level_floor_pair is not None:
        floor, term, _ = level_pair_parameters(spec)
        for site in (f"{floor}_plus_{term}_c", f"{floor}_share", f"{term}_slope_c"):
            dims[f"{site}_{spec.level_floor_pair}"] = [spec.level_floor_pair]
    posterior = {name: value for name, value in samples.items() if not name.endswith("_prior")}
    constant_data = {name: values for name, values in design.inputs.items()}
    for column, codes in design.group_index.items():
        constant_data[f"{column}_index"] = codes
    if design.trials is not None:
        constant_data["trials"] = design.trials
    metadata = {
        "bayescale_version": __version__,
        "save_format": SAVE_FORMAT,
        "law": spec.law.name,
        "likelihood": spec.likelihood.name,
        "y": y,
        **({"trials": trials if isinstance(trials, str) else int(trials)} if trials is not None else {}),
        "columns": design.columns,
        "grouping": {name: list(cols) for name, cols in spec.grouping},
        "centered": list(spec.centered),
        "levels": design.levels,
        "centres": design.centres,
        "settings": dict(settings),
        "kind": "Fit",
        "priors": _priors_json(priors),
        "data_hash": data_hash(design),
    }
    return _arviz.to_inference_data(
        posterior,
        log_likelihood=log_lik.reshape(chains, draws, -1),
        posterior_predictive=replicated.reshape(chains, draws, -1),
        observed=design.y,
        constant_data=constant_data,
        sample_stats=sample_stats(extra),
        coords=design.levels,
        dims=dims,
        attrs={
            "bayescale": json.dumps(metadata),
            "inference_library": "numpyro",
            "inference_library_version": numpyro.__version__,
            "bayescale_version": __version__,
        },
        observed_column=y,
    )


def data_hash(design: Design) -> str:
    """A fingerprint of the data a model saw (inputs and target), used by ``compare``."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(design.inputs):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(design.inputs[name], dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(design.y, dtype=np.float64).tobytes())
    return digest.hexdigest()
