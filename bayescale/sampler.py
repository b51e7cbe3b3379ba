"""The NUTS driver behind :func:`bayescale.fit`, :func:`bayescale.fit_many` and :func:`bayescale.fit_downstream`.

One compiled program runs the whole sampler: for every (curve, chain) pair of a batch it finds
an initial point (``init_to_median``, or ``init_to_uniform`` where the prior median is not a
valid start), adapts step size and a dense mass matrix during warm-up (its trees capped at
``Settings.warmup_tree_depth``, :data:`WARMUP_TREE_DEPTH` by default), and draws, all in one
``lax.scan`` of NumPyro's functional NUTS kernel (:func:`numpyro.infer.hmc.hmc`). Pairs are
``jax.vmap``-ed and spread over the JAX devices with ``jax.pmap``. The compiled executable is
kept per model structure, data shape and sampler settings, so refitting the same law on data of
the same shape (a user's second notebook cell, the next chunk of curves) compiles nothing. The
priors' parameters are data of the program too (only their families and shapes are part of its
structure), so a refit with another prior of the same family compiles nothing either.
:func:`padded_length` rounds the shape up so that ladders of similar length share it; JAX's
persistent compilation cache (see :mod:`bayescale._runtime`) carries it across processes when no
progress bar is drawn.

Padded rows (curves of unequal length batched together) are removed from the likelihood by
a mask, so each curve's model is exactly the :func:`bayescale.hierarchy.make_model` model of
its own rows.

References
----------
Hoffman, M. D. and Gelman, A. (2014). The No-U-Turn Sampler. JMLR 15, 1593-1623.
Phan, D., Pradhan, N. and Jankowiak, M. (2019). Composable Effects for Flexible and Accelerated
Probabilistic Programming in NumPyro. arXiv:1912.11554.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.distributions.transforms import biject_to
from numpyro.handlers import seed, substitute, trace
from numpyro.infer import init_to_median, init_to_uniform
from numpyro.infer.hmc import hmc
from numpyro.infer.util import ParamInfo, constrain_fn, potential_energy, transform_fn
from numpyro.primitives import Messenger

from bayescale.floor_pair import floor_pair_start
from bayescale.hierarchy import ModelSpec, make_model, prior_parameters, with_parameters
from bayescale.prior_medians import loop_sampled_starts, pivot_start_parts

_RUNNERS: OrderedDict[tuple, Any] = OrderedDict()
#: Compiled samplers kept alive at once. Every compiled XLA CPU program maps ~1,500 memory regions
#: (measured with a 4-device pmap), and Linux stops a process at vm.max_map_count (65,530 by
#: default), so a session that compiled ~40 models would crash. Past this budget bayescale drops
#: its compiled programs and JAX's caches (see :func:`release_compiled`); later fits recompile.
_RUNNER_BUDGET = 12
_PROGRESS_EVERY = 50



#: NUTS target acceptance probability when neither the call nor the law sets one.
TARGET_ACCEPT = 0.95

#: NUTS tree depth limit during warm-up (``2**7 - 1 = 127`` leapfrog steps an iteration) where a
#: fit names none: :func:`bayescale.fit`'s ``max_tree_depth=(7, 10)``, :func:`bayescale.fit_downstream`.
#: Warm-up's first iterations, before the mass matrix adapts, ran to hundreds of steps (85% of a
#: Chinchilla fit's steps); its draws are discarded, so the cap cannot bias the draws. At 5 four
#: harder fits of the long tests ended warm-up unadapted; at 7 every test passes
#: (``benchmarks/RESULTS.md``, speed against peers, stop 49).
WARMUP_TREE_DEPTH = 7


def target_accept(law, value: float | None) -> float:
    """The target acceptance probability of a fit: ``value`` when given, else the law's own
    default (:attr:`bayescale.laws.Law.target_accept_prob`), else :data:`TARGET_ACCEPT`."""
    if value is not None:
        return value
    return law.target_accept_prob if law.target_accept_prob is not None else TARGET_ACCEPT


def show_progress(progress: bool | None) -> bool:
    """Whether to show a progress bar: ``progress`` when given; else in Jupyter or at a terminal,
    never under ``CI``."""
    if progress is not None:
        return bool(progress)
    if os.environ.get("CI"):
        return False
    return "ipykernel" in sys.modules or sys.stderr.isatty()


def check_settings(**settings: float) -> None:
    """Refuse sampler settings NUTS cannot run: ``chains``, ``draws``, ``warmup``, ``target_accept_prob``.

    Raises
    ------
    ValueError
        Naming the setting, its value and what it must be.
    """
    for name in ("chains", "draws", "warmup"):
        value = settings[name]
        if not isinstance(value, (int, np.integer)) or value < (0 if name == "warmup" else 1):
            raise ValueError(f"{name}={value!r} must be a positive integer (warmup may be 0)")
    target = settings["target_accept_prob"]
    if not 0 < target < 1:
        raise ValueError(f"target_accept_prob={target!r} must lie in (0, 1); 0.8-0.95 is usual")


def jax_device(device: str | None):
    """The JAX device for ``device=`` (``"cpu"``, ``"gpu"``, or None for JAX's default).

    Raises
    ------
    ValueError
        For another name.
    RuntimeError
        When JAX sees no device of that kind (the message says how to install the CUDA build).
    """
    if device is None:
        return None
    if device not in ("cpu", "gpu"):
        raise ValueError(f"device={device!r} must be 'cpu', 'gpu' or None (JAX's default)")
    try:
        return jax.devices(device)[0]
    except RuntimeError:
        raise RuntimeError(
            f"device={device!r} but JAX sees no {device.upper()} (devices: {jax.devices()}). "
            "Install the CUDA build with `pip install 'bayescale[gpu]'`, or pass device='cpu'"
        ) from None


@dataclass(frozen=True)
class Settings:
    """NUTS settings shared by every chain of a run."""

    chains: int
    draws: int
    warmup: int
    target_accept_prob: float
    dense_mass: bool
    max_tree_depth: int = 10
    #: the depth limit of warm-up's trees; None: ``max_tree_depth``
    warmup_tree_depth: int | None = WARMUP_TREE_DEPTH

    def __post_init__(self) -> None:
        # one key for one program: a warm-up as deep as the draws is the same as no warm-up cap
        if self.warmup_tree_depth is not None and self.warmup_tree_depth >= self.max_tree_depth:
            object.__setattr__(self, "warmup_tree_depth", None)

    @property
    def tree_depths(self) -> tuple[int, int]:
        """NUTS depth limits ``(warm-up, draws)``, as :func:`numpyro.infer.hmc.hmc` takes them;
        warm-up's never deeper than the draws'."""
        warmup = self.max_tree_depth if self.warmup_tree_depth is None else self.warmup_tree_depth
        return warmup, self.max_tree_depth


def parse_tree_depths(max_tree_depth) -> tuple[int, int]:
    """``(warm-up, draws)`` NUTS depth limits from one number (both) or a pair, as NumPyro takes
    them; each a whole number from 1 to 20 (``2**depth - 1`` leapfrog steps an iteration)."""
    pair = tuple(max_tree_depth) if isinstance(max_tree_depth, (tuple, list)) else (max_tree_depth,) * 2

    def whole(depth) -> bool:
        return bool(not isinstance(depth, bool) and isinstance(depth, (int, np.integer)) and 1 <= depth <= 20)

    if len(pair) != 2 or not all(whole(depth) for depth in pair):
        raise ValueError(
            f"max_tree_depth={max_tree_depth!r} must be a whole number from 1 to 20, or a pair of them "
            "(warm-up, draws): e.g. (5, 10) allows 31 leapfrog steps an iteration in warm-up and 1,023 "
            "for the draws; raise it for fits whose trees reach the cap"
        )
    return int(pair[0]), int(pair[1])


@dataclass
class Batch:
    """Arrays of ``B`` (curve, chain) pairs, rows padded to a common length ``L``.

    ``rng`` is ``(B, 2)``; ``inputs``, ``group_index``, ``y`` and ``mask`` hold ``(B, L)`` arrays;
    ``centres`` holds ``(B,)`` arrays. ``extra`` holds further keyword arguments of a custom model
    (see :func:`run`), each an array with a leading axis of ``B`` kept in its own dtype.
    """

    rng: np.ndarray
    inputs: dict[str, np.ndarray]
    group_index: dict[str, np.ndarray]
    centres: dict[str, np.ndarray]
    y: np.ndarray
    mask: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.rng.shape[0]


def padded_length(n_rows: int) -> int:
    """The row count a fit's arrays are padded to: the first of 16, 24, 32, 48, 64, 96, ...
    (powers of two and their halfway points) that holds ``n_rows``.

    The compiled sampler is specific to its data shape; padding (masked rows, see
    :func:`pad_rows`) lets fits of one law on ladders of similar length share one program, at
    most half again the likelihood's work.
    """
    length = 16
    while length < n_rows:
        length = length * 3 // 2 if length & (length - 1) == 0 else length // 3 * 4
    return length


def pad_rows(batch: Batch, length: int) -> Batch:
    """``batch`` with its rows padded to ``length``: each padded row repeats the batch's first
    row (finite values that the model can evaluate) and is masked out of the likelihood. Per-row
    arrays of ``extra`` (second axis as long as the rows, e.g. ``trials``) are padded alike."""
    n_rows = batch.y.shape[1]
    if length < n_rows:
        raise ValueError(f"length={length} is shorter than the batch's {n_rows} rows")
    if length == n_rows:
        return batch

    def pad(values: np.ndarray) -> np.ndarray:
        values = np.asarray(values)
        return np.concatenate([values, np.repeat(values[:, :1], length - n_rows, axis=1)], axis=1)

    per_row = lambda v: np.ndim(v) >= 2 and np.shape(v)[1] == n_rows  # noqa: E731
    return Batch(
        rng=batch.rng,
        inputs={name: pad(values) for name, values in batch.inputs.items()},
        group_index={name: pad(codes) for name, codes in batch.group_index.items()},
        centres=batch.centres,
        y=pad(batch.y),
        mask=np.concatenate([batch.mask, np.zeros((batch.size, length - n_rows), dtype=bool)], axis=1),
        extra={name: pad(values) if per_row(values) else values for name, values in batch.extra.items()},
    )


@dataclass
class Result:
    """Draws ``(B, draws, ...)`` of every latent and deterministic site, and run statistics."""

    samples: dict[str, np.ndarray]
    diverging: np.ndarray
    num_steps: np.ndarray
    compile_s: float
    run_s: float
    #: Per-draw NUTS statistics (numpyro's HMCState fields; adapt_state.step_size for step_size).
    potential_energy: np.ndarray | None = None
    energy: np.ndarray | None = None
    accept_prob: np.ndarray | None = None
    step_size: np.ndarray | None = None


class _MaskObservations(Messenger):
    """Mask the observation site ``y``: padded rows add nothing to the log density."""

    def __init__(self, fn=None, mask=None):
        self.mask = mask
        super().__init__(fn)

    def process_message(self, msg):
        if msg["type"] == "sample" and msg["name"] == "y" and self.mask is not None:
            msg["fn"] = msg["fn"].mask(self.mask)


def masked_model(spec: ModelSpec):
    """``make_model(spec)`` with a row mask on the likelihood; ``extra`` holds the model's further
    data (``trials`` of the count likelihoods)."""
    model = make_model(spec)

    def masked(inputs, group_index, centres, y=None, mask=None, **extra):
        with _MaskObservations(mask=mask):
            model(inputs, group_index, centres, y, **extra)

    return masked


class _ProgressBar:
    """A tqdm bar fed from inside the compiled sampler through ``jax.debug.callback``."""

    lock = threading.Lock()
    current = None

    @classmethod
    def tick(cls, iteration) -> None:
        bar = cls.current
        if bar is None:
            return
        with cls.lock:
            done = int(np.max(iteration)) + 1
            if done > bar.n:
                bar.update(done - bar.n)


def _start_at(site=None, *, values: Mapping[str, float], otherwise: Callable):
    """An init strategy: ``values`` for the sites it names, ``otherwise`` for the rest (a
    ``functools.partial`` of this function, as numpyro expects of a strategy)."""
    if site is None:
        return partial(_start_at, values=values, otherwise=otherwise)
    if site["type"] == "sample" and not site["is_observed"] and site["name"] in values:
        # one value for every level of a site in a plate (a level floor pair)
        return jnp.broadcast_to(jnp.asarray(values[site["name"]], dtype=jnp.float32), site["fn"].shape())
    return otherwise(site)


def starting_values(spec: ModelSpec) -> dict[str, float]:
    """The starting values computed on the host, by site: the floor pair's (where the plain
    parameterisation would start), the prior medians of sites whose prior is drawn by a
    rejection loop (:func:`bayescale.prior_medians.loop_sampled_starts`), and the parts of the
    flat pivoted sites' starts (:func:`bayescale.prior_medians.pivot_start_parts`, completed with
    each curve's centre by :func:`_with_pivot_starts`); the other sites start at NumPyro's
    ``init_to_median``."""
    return {**loop_sampled_starts(spec), **pivot_start_parts(spec), **floor_pair_start(spec)}


def _with_pivot_starts(spec: ModelSpec, values: Mapping, centres: Mapping) -> dict:
    """``values`` with the start of each flat pivoted site ``p_c``: the prior median of ``p``
    moved to the curve's centre, ``exp(log_median - k * centre)`` (centres are logs)."""
    out = dict(values)
    for parameter in spec.law.params:
        site = f"{parameter.name}_c"
        if f"{site}:log_median" in values and parameter.pivot is not None:
            scale = values[f"{site}:exponent"] * centres[parameter.pivot[0]]
            out[site] = jnp.exp(values[f"{site}:log_median"] - scale)
    return out


#: Tries of each kind of starting point before a chain gives up (numpyro's own count).
_START_TRIES = 100
#: Half-width of the box of the unconstrained space a random starting point is drawn from.
_START_RADIUS = 2.0


def initial_point(model, model_args: tuple, model_kwargs: dict, prototype: dict, strategy: Callable,
                  key_strategy, key_uniform) -> tuple[ParamInfo, jnp.ndarray]:
    """Where a chain starts: the point of the init ``strategy`` (the prior medians, the floor
    pair's values), or, where it gives no finite log density and gradient, a uniform draw from
    ``(-2, 2)`` in the unconstrained space; with the potential energy and its gradient there.

    The same points, from the same keys, as NumPyro's ``find_valid_initial_params`` run with
    ``strategy`` (100 tries) and then with ``init_to_uniform(radius=2)`` (100 tries), but in one
    loop: the compiled program holds one copy of the model's gradient instead of two, and NUTS's
    ``init_kernel`` reuses the energy and gradient instead of a third copy. The smaller program
    compiles in ~22% less time (Chinchilla, 4 chains, cold cache: 12.3-13.8 s against 16.4-17.6 s).

    Returns
    -------
    (ParamInfo, bool)
        The unconstrained point with its potential energy and gradient, and whether they are finite.
    """
    potential = partial(potential_energy, model, model_args, model_kwargs)

    def strategy_point(key):
        seeded = trace(substitute(seed(model, key), substitute_fn=strategy)).get_trace(*model_args, **model_kwargs)
        latent = {name: site for name, site in seeded.items()
                  if site["type"] == "sample" and not site["is_observed"] and not site["fn"].support.is_discrete}
        transforms = {name: biject_to(site["fn"].support) for name, site in latent.items()}
        return transform_fn(transforms, {name: site["value"] for name, site in latent.items()}, invert=True)

    def uniform_point(key):
        key, subkey = jax.random.split(key)
        point = {}
        for name, value in prototype.items():
            point[name] = jax.random.uniform(subkey, jnp.shape(value), minval=-_START_RADIUS, maxval=_START_RADIUS)
            key, subkey = jax.random.split(key)
        return point, key

    def attempt(state):
        tries, key_s, key_u = state[:3]
        by_strategy = tries < _START_TRIES
        key_s_next, subkey = jax.random.split(key_s)
        uniform, key_u_next = uniform_point(key_u)
        z = jax.tree_util.tree_map(partial(jnp.where, by_strategy), strategy_point(subkey), uniform)
        energy, gradient = jax.value_and_grad(potential)(z)
        valid = jnp.isfinite(energy) & jnp.all(jnp.isfinite(ravel_pytree(gradient)[0]))
        return (tries + 1, jnp.where(by_strategy, key_s_next, key_s), jnp.where(by_strategy, key_u, key_u_next),
                z, energy, gradient, valid)

    first = (jnp.array(0), key_strategy, key_uniform, prototype, jnp.zeros(()), prototype, jnp.array(False))
    *_, z, energy, gradient, valid = jax.lax.while_loop(
        lambda state: (state[0] < 2 * _START_TRIES) & ~state[-1], attempt, first
    )
    return ParamInfo(z, energy, gradient), valid


def _runner(
    spec: ModelSpec, settings: Settings, n_devices: int, per_device: int, batching: str, example: tuple, progress: bool,
    model: Callable | None = None,
):
    """The function running NUTS on a batch: ``pmap`` over devices of the ``per_device`` pairs of
    each device, batched by ``jax.vmap`` (``batching="vmap"``) or run one after another by
    ``jax.lax.map`` (``"map"``)."""
    priors_as_data = model is None
    model = masked_model(spec) if model is None else model
    at_prior_median = init_to_median(num_samples=31)
    inputs0, group0, centres0, y0, mask0, extra0 = example
    # a custom model's starting values, computed here: inside the traced function they would be traced
    baked_start = {} if priors_as_data else starting_values(spec)

    def model_and_start(priors, start, centres):
        """The model and its init strategy, with the priors' parameters and the starting values
        computed on the host (:func:`starting_values`) as traced data: one program for every
        prior of the same families."""
        if not priors_as_data:
            return model, _start_at(values=_with_pivot_starts(spec, baked_start, centres), otherwise=at_prior_median)
        traced_priors = tuple((name, with_parameters(prior, priors[name])) for name, prior in spec.priors)
        traced = masked_model(dataclasses.replace(spec, priors=traced_priors))
        return traced, _start_at(values=_with_pivot_starts(spec, start, centres), otherwise=at_prior_median)

    def latent_shapes():
        # one trace of the model: its latent sites, mapped to the unconstrained space
        # (values substituted, not sampled: a prior may have no sampler, such as an improper one)
        with_values = substitute(seed(model, 0), substitute_fn=init_to_uniform)
        sites = trace(with_values).get_trace(inputs0, group0, centres0, y=y0, mask=mask0, **extra0)
        return {name: biject_to(site["fn"].support).inv(site["value"]) for name, site in sites.items()
                if site["type"] == "sample" and not site["is_observed"]}  # fmt: skip

    # Shapes only, traced abstractly: an eager run would validate a random prior draw, which
    # may put the curve outside the likelihood's support for laws such as log_linear.
    prototype = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(latent_shapes))

    def potential_fn_gen(inputs, group_index, centres, y, mask, extra, priors, start):
        chain_model, _ = model_and_start(priors, start, centres)
        return partial(potential_energy, chain_model, (inputs, group_index, centres), {"y": y, "mask": mask, **extra})

    init_kernel, sample_kernel = hmc(potential_fn_gen=potential_fn_gen, algo="NUTS")
    total = settings.warmup + settings.draws

    def one_chain(rng_key, inputs, group_index, centres, y, mask, extra, priors, start):
        args = (inputs, group_index, centres, y, mask, extra, priors, start)
        model, init_strategy = model_and_start(priors, start, centres)
        model_args, model_kwargs = (inputs, group_index, centres), {"y": y, "mask": mask, **extra}
        key_median, key_uniform, key_run = jax.random.split(rng_key, 3)
        # Where the prior median puts the curve outside the likelihood's support (a zero crossing
        # inside the data, say), start from a random point of the unconstrained space instead.
        initial, _ = initial_point(model, model_args, model_kwargs, prototype, init_strategy, key_median, key_uniform)
        state = init_kernel(
            initial,
            settings.warmup,
            dense_mass=settings.dense_mass,
            target_accept_prob=settings.target_accept_prob,
            max_tree_depth=settings.tree_depths,
            model_args=args,
            rng_key=key_run,
        )

        def step(carry, i):
            s = sample_kernel(carry, model_args=args)
            if progress:
                jax.lax.cond(
                    (i + 1) % _PROGRESS_EVERY == 0,
                    lambda: jax.debug.callback(_ProgressBar.tick, i, ordered=False),
                    lambda: None,
                )
            return s, (s.z, s.diverging, s.num_steps, s.potential_energy, s.energy, s.accept_prob, s.adapt_state.step_size)

        # One scan over warm-up and draws: one copy of the NUTS kernel in the compiled program.
        _, (zs, *stats) = jax.lax.scan(step, state, jnp.arange(total))
        zs, stats = jax.tree_util.tree_map(lambda v: v[settings.warmup :], (zs, stats))
        constrained = jax.vmap(lambda z_: constrain_fn(model, model_args, model_kwargs, z_, return_deterministic=True))(zs)
        return constrained, *stats

    # The last two arguments (priors, starting values) are shared by every pair.
    shared = (None, None)
    if batching == "vmap" and per_device > 1:
        # Lock-step: every NUTS tree of the batch runs until its longest member has finished
        # (wasteful on a CPU, the way to fill a GPU).
        batched = jax.vmap(one_chain, in_axes=(0,) * 7 + shared)
    else:
        # Pairs one after another, each with its own trees. For one pair per device (bs.fit's
        # parallel chains) XLA removes the one-step loop: a vmap of one pair would instead batch
        # every while-loop, ~35% more compile time and ~25% more sampling time.
        def batched(*args):
            per_pair, common = args[:7], args[7:]
            return jax.lax.map(lambda pair: one_chain(*pair, *common), per_pair)

    return jax.pmap(batched, in_axes=(0,) * 7 + shared) if n_devices > 1 else jax.jit(batched)


def release_compiled() -> None:
    """Drop every compiled program bayescale keeps, and JAX's compilation caches.

    Frees the memory mappings of compiled XLA programs (see ``_RUNNER_BUDGET``); the next fit of
    each model compiles again (from JAX's persistent cache where it has the program).
    """
    import gc

    from bayescale import posterior

    _RUNNERS.clear()
    posterior.clear_compiled()
    jax.clear_caches()
    gc.collect()


def devices_for(batch_size: int, device: str | None) -> int:
    """How many devices of the default backend a batch is spread over (a divisor of the batch)."""
    if device not in (None, jax.default_backend()):
        return 1
    n = max(1, min(jax.local_device_count(), batch_size))
    while batch_size % n:
        n -= 1
    return n


def run(spec: ModelSpec, settings: Settings, batch: Batch, *, device: str | None = None, parallel: bool = True,
        batching: str = "vmap", progress: bool = False, description: str = "sampling",
        model: Callable | None = None, model_key: tuple = ()) -> Result:
    """Run NUTS on every (curve, chain) pair of ``batch``; compiled once per structure and shape.

    With ``parallel`` the pairs are spread over the devices of the default backend, else they
    run on one device. ``batching`` says how the pairs of one device run: ``"vmap"`` together in
    lock-step (a single pair is never vmapped), ``"map"`` one after another.

    ``model`` replaces the model of ``spec`` (``make_model`` with a row mask) by another built on
    the same law stage, called as ``model(inputs, group_index, centres, y=..., mask=..., **batch.extra)``
    (:func:`bayescale.fit_downstream`'s loss-and-metric model). ``model_key`` must then name
    everything that fixes its structure beyond ``spec``; it is part of the compile-cache key.
    """
    if batching not in ("vmap", "map"):
        raise ValueError(f"batching={batching!r} must be 'vmap' or 'map'")
    n_devices = devices_for(batch.size, device) if parallel else 1
    per_device = batch.size // n_devices

    def shaped(values: np.ndarray, dtype) -> np.ndarray:
        # host arrays: the program puts each device's share on its device. A jax array (on one
        # device) would first be cut up by a compiled slice per argument: ~0.25 s of a cold fit.
        values = np.asarray(values, dtype=jax.dtypes.canonicalize_dtype(dtype))
        if n_devices > 1:
            values = values.reshape((n_devices, per_device) + values.shape[1:])
        return values

    args: tuple = (
        shaped(batch.rng, jnp.uint32),
        {k: shaped(v, jnp.float32) for k, v in batch.inputs.items()},
        {k: shaped(v, jnp.int32) for k, v in batch.group_index.items()},
        {k: shaped(v, jnp.float32) for k, v in batch.centres.items()},
        shaped(batch.y, jnp.float32),
        shaped(batch.mask, jnp.bool_),
        {k: shaped(v, np.asarray(v).dtype) for k, v in batch.extra.items()},
    )
    # The priors' parameters and the starting values computed from them (starting_values) are data of
    # the program, so a refit with other priors of the same families compiles nothing; a custom
    # ``model`` closes over its own priors instead.
    priors_as_data = model is None
    start_values = {name: np.float32(v) for name, v in starting_values(spec).items()} if priors_as_data else {}
    # by field name: a distribution itself flattens in an order that changes from process to
    # process, and the persistent compilation cache would miss (hierarchy.prior_parameters)
    prior_data = {name: prior_parameters(prior) for name, prior in spec.priors} if priors_as_data else {}
    args += (prior_data, start_values)
    extra_shapes = tuple((k, np.shape(v), str(np.asarray(v).dtype)) for k, v in batch.extra.items())
    key = (spec.fingerprint(prior_values=not priors_as_data), tuple(start_values), batch.y.shape[1], settings, n_devices,
           batch.size, batching, bool(progress), str(jax.config.jax_default_device), device, model is not None, model_key, extra_shapes)  # type: ignore[attr-defined]
    compile_s = 0.0
    if key in _RUNNERS:
        compiled = _RUNNERS[key]
        _RUNNERS.move_to_end(key)
    else:
        start = time.perf_counter()
        example = (
            {k: jnp.asarray(v[0], jnp.float32) for k, v in batch.inputs.items()},
            {k: jnp.asarray(v[0], jnp.int32) for k, v in batch.group_index.items()},
            {k: jnp.asarray(v[0], jnp.float32) for k, v in batch.centres.items()},
            jnp.asarray(batch.y[0], jnp.float32),
            jnp.asarray(batch.mask[0]),
            {k: jnp.asarray(np.asarray(v)[0]) for k, v in batch.extra.items()},
        )
        if len(_RUNNERS) >= _RUNNER_BUDGET:
            release_compiled()
        compiled = _runner(spec, settings, n_devices, per_device, batching, example, progress, model)
        compiled = compiled.lower(*args).compile()
        compile_s = time.perf_counter() - start
        _RUNNERS[key] = compiled

    start = time.perf_counter()
    if progress:
        from tqdm.auto import tqdm

        _ProgressBar.current = tqdm(total=settings.warmup + settings.draws, desc=description, unit="step", leave=True)
    try:
        constrained, diverging, num_steps, potential_energy, energy, accept_prob, step_size = jax.block_until_ready(
            compiled(*args)
        )
    finally:
        if progress and _ProgressBar.current is not None:
            bar = _ProgressBar.current
            bar.update(bar.total - bar.n)
            bar.close()
            _ProgressBar.current = None
    run_s = time.perf_counter() - start

    def flat(value) -> np.ndarray:
        value = np.asarray(value)
        return value.reshape((batch.size,) + value.shape[(2 if n_devices > 1 else 1) :])

    def draws(value) -> np.ndarray:
        # float64: a summary sums thousands of draws, and a pivoted coefficient far from x = 1
        # (A = A_c x_c^alpha at x ~ 1e19 FLOPs) reaches 1e37, where a float32 sum overflows
        value = flat(value)
        return value.astype(np.float64) if np.issubdtype(value.dtype, np.floating) else value

    return Result(
        samples={name: draws(value) for name, value in constrained.items()},
        diverging=flat(diverging),
        num_steps=flat(num_steps),
        compile_s=compile_s,
        run_s=run_s,
        potential_energy=flat(potential_energy),
        energy=flat(energy),
        accept_prob=flat(accept_prob),
        step_size=flat(step_size),
    )
