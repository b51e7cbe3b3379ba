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
4. samples again, with twice the warm-up (its trees as deep as the draws'), the keys whose
   draws miss the convergence rule (``retries``), keeping the new draws of those that then meet it;
5. gathers the draws into a :class:`ManyFits` collection with a per-key ``summary()``,
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

The work is split by concept: :mod:`bayescale.curves` (keys, padding, chunks, ``run_chunk``),
:mod:`bayescale.diagnostics` (vectorised R-hat and ESS), :mod:`bayescale.many_fits` (the
:class:`ManyFits` collection, its save and load) and this module (the :func:`fit_many` driver).
Every name is still importable from here.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence

import jax
import numpy as np
import numpyro.distributions as dist
import pandas as pd

from bayescale import sampler
from bayescale.curves import batching_for, chain_keys, key_codes, make_chunks, run_chunk, split_curves
from bayescale.data import prepare_design
from bayescale.diagnostics import bulk_ess, rank_rhat  # noqa: F401  (re-exported: bayescale.many.rank_rhat)
from bayescale.executors import run_chunks_ray
from bayescale.hierarchy import build_spec, resolve_priors
from bayescale.laws import Law, get
from bayescale.likelihoods import Likelihood, get_likelihood
from bayescale.many_fits import ManyFits, from_joint, key_diagnostics
from bayescale.sampler import Settings

logger = logging.getLogger("bayescale")


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
    target_accept_prob: float | None = None,
    dense_mass: bool = True,
    max_tree_depth: int | tuple[int, int] = (5, 7),
    chunk_size: int | None = None,
    retries: int = 1,
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
        A registered law name or a :class:`~bayescale.Law`, shared by every curve.
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
    max_tree_depth : int or (int, int)
        NUTS tree depth limits (at most ``2**depth - 1`` leapfrog steps an iteration), as
        :func:`numpyro.infer.hmc.hmc` takes them: ``(warm-up, draws)``, or one number for both.
        The default ``(5, 7)``: 31 steps during warm-up, 127 for the draws, against 1,023 at
        NUTS's usual 10 (:func:`bayescale.fit`, which has no retry, takes ``(7, 10)``).
        The caps cut the long trajectories a few curves take, and warm-up's before the step
        size and mass matrix adapt, without biasing the draws (NUTS stays exact; a capped tree
        can only mix more slowly, and a slower warm-up can end unadapted on a hard curve, which
        the convergence rule and ``retries`` see; a retry's warm-up runs at the draws' depth).
        On the 229 real curves of ``benchmarks/fit_many.py``, 222 meet the rule at ``(5, 7)``
        in 234 s against 221 at 7 (267 s) and 222 at 10 (452 s), first calls at 4 x 1,000 +
        1,000 (``benchmarks/RESULTS.md``). In lock-step batches (``vmap``, a GPU's) every
        iteration waits for the batch's longest tree, so the cap matters most there. Raise it
        for curves that keep missing the rule with long trees (``num_steps`` near the cap). With
        ``pooling="partial"`` (one :func:`bayescale.fit`) the limits are those of ``bs.fit``.
    chunk_size : int, optional
        Keys per vectorised batch (one compiled sampler serves all chunks). Default: all keys
        when there are at most 1,000, else 1,000. Results depend on the chunking only through
        floating-point rounding; keep it fixed to reproduce draws bit for bit.
    retries : int
        Keys that miss the convergence rule (r_hat > 1.01, bulk ESS < 400 or a divergence) are
        sampled again, up to ``retries`` times, each time with twice the previous warm-up (at
        the draws' tree depth) and fresh random numbers (:func:`~bayescale.curves.chain_keys`
        with ``attempt``); a key's new draws replace its old ones only when they meet the rule:
        the rerun a user would make by hand for curves whose warm-up was too short, paid only
        for those curves. Curves whose chains sit in different modes stay flagged.
        ``meta["retried"]`` and ``meta["retry_converged"]`` count the keys sampled again and
        those that then met the rule; ``diagnostics["warmup"]`` gives the warm-up behind each
        key's draws. 0 turns it off. Independent curves only (``pooling="none"``). Keeping draws
        because they pass the rule is a selection: the simulation-based calibration tests fit
        with ``retries=0``.
    executor : {"local", "ray"}
        ``"local"`` runs the chunks one after another in this process (each chunk in parallel
        over the JAX devices); ``"ray"`` runs them as Ray tasks (``pip install 'bayescale[ray]'``).
    address : str, optional
        Ray cluster address for ``ray.init(address=...)`` when Ray is not initialised yet;
        None starts (or joins) a local Ray instance.
    progress : bool, optional
        A tqdm bar of the curves done, advanced as each chunk finishes (a vectorised run has no
        per-draw bar; a one-chunk run fills it at the end, with the elapsed time); also one line
        per chunk on the ``bayescale`` logger at INFO level. Default: a bar in Jupyter (through
        ipywidgets, ``pip install 'bayescale[jupyter]'``) or a terminal, none under ``CI``.

    Returns
    -------
    ManyFits
        ``summary()``, ``predict(df)``, ``diagnostics`` (per key), ``draws(key, name)`` and
        ``fits[key]`` (a :class:`~bayescale.Fit`).

    Warns
    -----
    ConvergenceWarning
        Once, naming the keys with r_hat > 1.01, bulk ESS < 400 or divergences (after ``retries``).

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
    if likelihood.counts:
        raise ValueError(
            f"fit_many does not take the count likelihood {likelihood.name!r} yet (its trials per row are not "
            "batched); fit each curve with bs.fit(..., likelihood=..., trials=...), or use likelihood='beta'"
        )
    target_accept_prob = sampler.target_accept(law, target_accept_prob)
    sampler.check_settings(chains=chains, draws=draws, warmup=warmup, target_accept_prob=target_accept_prob)
    by_list = [by] if isinstance(by, str) else list(by)
    if not by_list:
        raise ValueError("by= must name at least one key column, e.g. by='task'")
    if pooling not in ("none", "partial"):
        raise ValueError(f"pooling={pooling!r} must be 'none' (independent curves) or 'partial' (pooled across keys)")
    if executor not in ("local", "ray"):
        raise ValueError(f"executor={executor!r} must be 'local' or 'ray'")
    warmup_depth, draw_depth = sampler.parse_tree_depths(max_tree_depth)
    if isinstance(retries, bool) or not isinstance(retries, (int, np.integer)) or retries < 0:
        raise ValueError(f"retries={retries!r} must be a whole number >= 0 (0: never sample a curve again)")
    retries = int(retries)
    if pooling == "partial":
        return _fit_partial(
            data, law, by_list, y=y, inputs=inputs, priors=priors, likelihood=likelihood, chains=chains,
            draws=draws, warmup=warmup, seed=seed, device=device, target_accept_prob=target_accept_prob,
            dense_mass=dense_mass, progress=progress, started=started,
        )  # fmt: skip

    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame (one row per run), got {type(data).__name__}")
    codes, keys = key_codes(data, by_list)
    n_free = len(law.params) + len(likelihood.noise_names)
    design = prepare_design(data, law, y=y, inputs=inputs, group_columns=[], likelihood=likelihood)
    curves = split_curves(design, law, codes, keys, None)
    few = [keys[i] for i in np.flatnonzero(curves.n_rows <= n_free)]
    if few:
        raise ValueError(
            f"{len(few)} key(s) have no more rows than the model's {n_free} free parameters, e.g. {few[:5]}; "
            "drop them, or use pooling='partial' so that they borrow strength from the other keys"
        )
    resolved = resolve_priors(law, likelihood, {}, priors)
    spec = build_spec(law, likelihood, {}, {}, resolved)
    settings = Settings(chains, draws, warmup, float(target_accept_prob), bool(dense_mass),
                        max_tree_depth=draw_depth, warmup_tree_depth=warmup_depth)
    if chunk_size is None:
        chunk_size = min(len(keys), 1000)
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size!r} must be a positive integer (keys per vectorised batch)")
    chunk_size = min(int(chunk_size), len(keys))
    chunks = make_chunks(curves, chain_keys(seed, len(keys), chains), chunk_size)
    n_devices = _devices_for(device)
    logger.info("fit_many: %d curves of up to %d rows in %d chunk(s) of %d", len(keys), curves.length, len(chunks), chunk_size)

    bar = _progress_bar(progress, len(keys), f"fit_many {law.name}, {len(chunks)} chunk(s)")
    raw, diverging, num_steps, timings = _sample_chunks(spec, settings, chunks, n_devices, device, executor, address, bar)
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
            "max_tree_depth": [warmup_depth, draw_depth], "chunk_size": chunk_size, "executor": executor,
            "chain_method": "vectorized", "retries": retries,
        },
        **timings,
    }  # fmt: skip

    def collection() -> ManyFits:
        return ManyFits(
            law=law, spec=spec, by=by_list, keys=keys, samples={name: raw[name] for name in names},
            diverging=diverging, num_steps=num_steps, n_rows=curves.n_rows, meta=meta, curves=curves, raw_samples=raw,
        )  # fmt: skip

    result = collection()
    retried: dict[int, None] = {}  # positions of the keys sampled again, in order
    recovered: dict[int, None] = {}
    warmup_by_key = np.full(len(keys), warmup)
    for attempt in range(1, retries + 1):
        missed = np.flatnonzero(~result.diagnostics["converged"].to_numpy())
        if not len(missed):
            break
        # twice the warm-up, its trees as deep as the draws'
        again = dataclasses.replace(settings, warmup=settings.warmup * 2**attempt, warmup_tree_depth=draw_depth)
        logger.info("fit_many: %d curve(s) missed the convergence rule; sampling them again with warmup=%d",
                    len(missed), again.warmup)  # fmt: skip
        size = min(len(missed), chunk_size)
        rerun = make_chunks(curves, chain_keys(seed, len(keys), chains, attempt), size, positions=missed)
        bar = _progress_bar(progress, len(missed), f"fit_many {law.name}, again with warmup={again.warmup}")
        new_raw, new_diverging, new_steps, new_timings = _sample_chunks(
            spec, again, rerun, n_devices, device, executor, address, bar
        )
        checked, *_ = key_diagnostics([new_raw[n] for n in names], new_diverging, curves.n_rows[missed],
                                      pd.RangeIndex(len(missed)))  # fmt: skip
        took = checked["converged"].to_numpy()
        for name in raw:
            raw[name][missed[took]] = new_raw[name][took]
        diverging[missed[took]], num_steps[missed[took]] = new_diverging[took], new_steps[took]
        warmup_by_key[missed[took]] = again.warmup
        for name in ("compile_s", "sampling_s"):
            meta[name] += new_timings[name]
        retried.update(dict.fromkeys(missed.tolist()))
        recovered.update(dict.fromkeys(missed[took].tolist()))
        result = collection()
    meta["retried"], meta["retry_converged"] = len(retried), len(recovered)
    meta["warmup_by_key"] = warmup_by_key.tolist()  # the warm-up behind each key's draws
    meta["total_s"] = time.perf_counter() - started
    result = collection()  # with the final metadata
    if retried:
        logger.info("fit_many: %d of %d curve(s) sampled again now meet the rule", len(recovered), len(retried))
    result.check_convergence()
    return result


def _sample_chunks(spec, settings, chunks, n_devices, device, executor, address, bar) -> tuple[dict, np.ndarray, np.ndarray, dict]:
    """NUTS on every chunk, in this process or as Ray tasks: draws ``(keys, chains, draws, ...)``
    by name, divergences and tree sizes of the chunks' real keys, and the seconds spent."""
    try:
        if executor == "ray":
            results = run_chunks_ray(run_chunk, spec, settings, chunks, n_devices, device, address=address)
            if bar is not None:
                bar.update(sum(chunk.n_real for chunk in chunks))
        else:
            results = []
            for number, chunk in enumerate(chunks):
                results.append(run_chunk(spec, settings, chunk, n_devices, device, batching=batching_for(device)))
                if bar is not None:
                    bar.update(chunk.n_real)
                    logger.info("fit_many: chunk %d/%d done in %.1f s", number + 1, len(chunks), results[-1]["_run_s"])
    finally:
        if bar is not None:
            bar.close()
    raw = {
        name: np.concatenate([r[name] for r in results], axis=0)
        for name in results[0]
        if not name.startswith("_") and not name.endswith("_prior")
    }
    diverging = np.concatenate([r["_diverging"] for r in results], axis=0)
    num_steps = np.concatenate([r["_num_steps"] for r in results], axis=0)
    timings = {
        "compile_s": float(sum(r["_compile_s"] for r in results)),
        "sampling_s": float(sum(r["_run_s"] for r in results)),
    }
    return raw, diverging, num_steps, timings


def _progress_bar(progress: bool | None, total: int, description: str):
    """A tqdm bar over the curves, or None (``progress`` as in :func:`bayescale.fit`)."""
    if not sampler.show_progress(progress):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="curve")


def _devices_for(device: str | None) -> int:
    platform = jax.default_backend() if device is None else device
    try:
        return len(jax.devices(platform))
    except RuntimeError:
        sampler.jax_device(device)  # raises the helpful error
        raise


def _fit_partial(data, law, by, *, likelihood, started, **options) -> ManyFits:
    from bayescale.inference import fit as single_fit

    if len(by) > 1:
        raise ValueError(
            f"pooling='partial' takes one key column, got by={by}; combine them first, e.g. "
            f"df['key'] = df[{by!r}].astype(str).agg('/'.join, axis=1) and by='key'"
        )
    joint = single_fit(data, law, groups=by[0], likelihood=likelihood, **options)
    return from_joint(joint, by, total_s=time.perf_counter() - started)
