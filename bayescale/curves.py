"""Curves of :func:`bayescale.fit_many`: one table split by key, padded, chunked and sampled.

Every key's rows are padded to a common length with a mask that removes the padded rows from
the likelihood (:func:`split_curves`); the keys are cut into chunks of one compiled shape, each
(key, chain) pair with a random key fixed by the seed and the key's position (:func:`make_chunks`);
:func:`run_chunk` runs NUTS on one chunk through :func:`bayescale.sampler.run`. ``run_chunk``
is a module-level function of plain numpy inputs so that an executor
(:mod:`bayescale.executors`) can ship it to another process or machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bayescale import sampler
from bayescale.data import Design
from bayescale.hierarchy import ModelSpec
from bayescale.laws import Law
from bayescale.sampler import Settings, padded_length


# --------------------------------------------------------------------------------------------
# Splitting a table into padded curves
# --------------------------------------------------------------------------------------------
@dataclass
class Curves:
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


def key_codes(df: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, list]:
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


def split_curves(design: Design, law: Law, codes: np.ndarray, keys: list, pad_to: int | None) -> Curves:
    assert design.y is not None, "a fitted design has observations"
    n_keys = len(keys)
    n_rows = np.bincount(codes, minlength=n_keys)
    # by default the next of the sampler's padded lengths: fits of curves of similar length share a program
    length = padded_length(int(n_rows.max())) if pad_to is None else int(pad_to)
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
    return Curves(
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
def chain_keys(seed: int, n_keys: int, chains: int, attempt: int = 0) -> np.ndarray:
    """Random keys ``(keys, chains, 2)``: key ``i`` chain ``c`` is ``fold_in(fold_in(seed, i), c)``.

    ``attempt`` > 0 (a curve sampled again, see :func:`bayescale.fit_many`'s ``retries``) folds
    in once more, ``fold_in(..., attempt)``: fresh random numbers that depend only on the seed,
    the key's position, the chain and the attempt.
    """
    base = jax.random.PRNGKey(seed)
    per_key = jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(n_keys))
    per_chain = jax.vmap(lambda k: jax.vmap(lambda c: jax.random.fold_in(k, c))(jnp.arange(chains)))(per_key)
    if attempt:
        per_chain = jax.vmap(jax.vmap(lambda k: jax.random.fold_in(k, attempt)))(per_chain)
    return np.asarray(per_chain)


@dataclass
class Chunk:
    """The padded arrays of one chunk of keys (numpy, so it pickles to a Ray worker)."""

    rng: np.ndarray  # (keys, chains, 2) uint32
    inputs: dict[str, np.ndarray]  # (keys, L)
    centres: dict[str, np.ndarray]  # (keys,)
    y: np.ndarray
    mask: np.ndarray
    n_real: int  # keys that are not padding


def make_chunks(curves: Curves, rng: np.ndarray, chunk_size: int, positions: np.ndarray | None = None) -> list[Chunk]:
    """The keys at ``positions`` (default: every key), ``chunk_size`` per chunk, the last chunk
    padded with copies of its last key so that every chunk has one compiled shape."""
    positions = np.arange(len(curves.keys)) if positions is None else np.asarray(positions)
    chunks = []
    for start in range(0, len(positions), chunk_size):
        index = positions[start : start + chunk_size]
        n_real = len(index)
        index = np.concatenate([index, np.full(chunk_size - n_real, index[-1])])  # one compiled shape
        chunks.append(
            Chunk(
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


def run_chunk(
    spec: ModelSpec,
    settings: Settings,
    chunk: Chunk,
    n_devices: int,
    device: str | None = None,
    batching: str | None = None,
) -> dict:
    """NUTS on one chunk of padded curves; returns numpy draws ``(keys, chains, draws, ...)``.

    A module-level function so that :mod:`bayescale.executors` can ship it to Ray workers.
    The result also holds ``"_compile_s"`` and ``"_run_s"``: seconds spent compiling (0 when the
    compiled sampler was cached) and sampling. ``n_devices`` > 1 spreads the chunk over devices.
    ``batching`` ("map" or "vmap") defaults to :func:`batching_for` ``(device)``.
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
    with jax.default_device(sampler.jax_device(device)):
        result = sampler.run(spec, settings, batch, device=device, parallel=n_devices > 1,
                             batching=batching or batching_for(device))

    def unbatch(value: np.ndarray) -> np.ndarray:
        return value.reshape((n_keys, chains) + value.shape[1:])[: chunk.n_real]

    out: dict[str, Any] = {name: unbatch(value) for name, value in result.samples.items()}
    out["_diverging"] = unbatch(result.diverging)
    out["_num_steps"] = unbatch(result.num_steps)
    out["_compile_s"] = result.compile_s
    out["_run_s"] = result.run_s
    return out
