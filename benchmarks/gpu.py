"""GPU figures: one Chinchilla fit and ``fit_many`` on 10,000 synthetic curves, beside the same script on the CPU.

Two measurements, each on the GPU and on the CPU of the same machine:

* **One Chinchilla fit** (Hoffmann et al. 2022's 245 runs, ``chinchilla`` law, Student-t
  likelihood, 4 chains x 1,000 warm-up + 1,000 draws, as ``benchmarks/peers.py``): wall time of the
  first call (compilation included; JAX's persistent cache is switched off so that it is a cold
  figure), of a second call with a new seed (compiled program reused), minimum bulk ESS, max
  r_hat and divergences of the first fit.
* **fit_many on synthetic curves** (``power`` law, y = E + A x^-alpha; 8-16 runs per curve drawn
  from known parameters with 2% noise on log y; ``fit_many``'s default settings): the curves are fitted in
  chunks of ``--chunk`` keys (one compiled program serves every chunk) until ``--curves`` are done
  or the next chunk would overrun the part's time budget; printed: curves fitted, wall time,
  curves per second with and without the first chunk's compilation, the share of curves that
  meet the convergence rule (r_hat <= 1.01, bulk ESS >= 400, no divergences), leapfrog steps per
  draw, and the share of curves whose 90% interval for ``alpha`` holds the true value.

On a machine with a CUDA GPU the GPU side runs in this process and the CPU side in a child
process with ``JAX_PLATFORMS=cpu`` and one XLA host device per core (``BAYESCALE_CPU_DEVICES``),
so that each side is what a user of that device gets. Without a GPU only the CPU side runs (the
script says so). Both sides fit the same first curves of the same synthetic table. Run::

    BAYESCALE_DATA_DIR=../shared/data python benchmarks/gpu.py [--curves 10000] [--chunk 2500] \\
        [--budget 90] [--cpu-curves 10000] [--cpu-budget 45] [--skip-single] [--max-tree-depth 5,7]

Budgets are per side and part, so the whole script stays under ~4 minutes on a GPU machine:
a chunk is started only when the time per chunk measured so far says it ends within the budget
(the first chunk always runs, however long it takes).

Prepared for the lent device machine (Python 3.12 with JAX's CUDA build and NumPyro, but no
ArviZ and no network). Here, in the checkout's root, once::

    echo /.gpu/ >> .git/info/exclude
    mkdir -p .gpu/data && cp -r ../shared/data/epoch-research__analyzing-chinchilla .gpu/data/
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
        --platform manylinux2014_x86_64 -d .gpu/whl arviz==0.23.4 xarray-einstats h5netcdf platformdirs pooch

then the device tool's ``run`` with ``carry=[".gpu"]`` and the command::

    python3 -m pip install -q --no-index --no-deps --upgrade --target /tmp/site .gpu/whl/*.whl && \\
    PYTHONPATH=/tmp/site:. BAYESCALE_DATA_DIR=.gpu/data PYTHONUNBUFFERED=1 python3 benchmarks/gpu.py
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import time
import warnings

os.environ.setdefault("BAYESCALE_JAX_CACHE", "off")  # cold compile figures (before bayescale starts JAX)
import bayescale as bs  # isort: skip  (first: sets the XLA host devices before JAX starts)

import jax
import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fit_many import depths  # noqa: E402  (the --max-tree-depth argument of both scripts)

from peers import run_bayescale  # noqa: E402  (the same Chinchilla fit as the peers' comparison)

HOST_DEVICES_FLAG = "--xla_force_host_platform_device_count"
TRUE_ALPHA_RANGE = (0.2, 0.6)


def synthetic_curves(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` curves of the ``power`` law y = E + A x^-alpha, columns curve, x, y, alpha_true.

    Each curve has 8-16 runs log-spaced over three decades of x (1e6-1e9), a floor E in
    (1.5, 3), an exponent alpha in (0.2, 0.6), a reducible part 0.5-2 x E at the first run,
    and 2% normal noise on log y. The first ``m`` curves are the same for every ``n >= m``.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(n):
        rows = int(rng.integers(8, 17))
        x = np.geomspace(1e6, 1e9, rows)
        floor = rng.uniform(1.5, 3.0)
        alpha = rng.uniform(*TRUE_ALPHA_RANGE)
        scale = floor * rng.uniform(0.5, 2.0) * x[0] ** alpha  # A: reducible part at the first run
        y = (floor + scale * x**-alpha) * np.exp(rng.normal(0.0, 0.02, rows))
        parts.append(pd.DataFrame({"curve": i, "x": x, "y": y, "alpha_true": alpha}))
    return pd.concat(parts, ignore_index=True)


def many_fits(device: str, n_curves: int, chunk: int, budget_s: float, max_tree_depth: int | tuple[int, int]) -> dict:
    """``fit_many`` on the first curves of the synthetic table, chunk by chunk within ``budget_s``.

    In lock-step (``vmap``, the GPU's batching) every iteration costs the longest tree of the
    batch, so ``max_tree_depth`` (``fit_many``'s default (5, 7): up to 31 leapfrog steps in warm-up,
    127 for the draws) bounds it."""
    from bayescale.many import fit_many

    table = synthetic_curves(n_curves)
    names = table["curve"].unique()
    chunk = min(chunk, len(names))
    done, compile_s, first_chunk_s, spent = [], 0.0, np.nan, 0.0
    converged, steps, covered, lockstep = [], [], [], []
    started = time.perf_counter()
    for first in range(0, len(names) - chunk + 1, chunk):
        per_chunk = (spent - (compile_s if done else 0.0)) / max(len(done), 1)
        if done and spent + per_chunk > budget_s:
            break
        part = table[table["curve"].isin(names[first : first + chunk])]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.ConvergenceWarning)
            many = fit_many(part, "power", by="curve", inputs={"x": "x"}, y="y", seed=first, device=device,
                            chunk_size=chunk, progress=False, max_tree_depth=max_tree_depth)  # fmt: skip
        if not done:
            compile_s, first_chunk_s = many.meta["compile_s"], time.perf_counter() - started
        done.append(chunk)
        spent = time.perf_counter() - started
        converged.append(many.diagnostics["converged"].to_numpy())
        steps.append(many.num_steps.reshape(chunk, -1).mean(axis=1))
        # in lock-step each iteration lasts as long as the chunk's longest tree at that iteration
        lockstep.append(many.num_steps.reshape(-1, many.num_steps.shape[-1]).max(axis=0).mean())
        interval = many.summary(level=0.9).xs("alpha", level=1)
        truth = part.groupby("curve")["alpha_true"].first().loc[interval.index]
        covered.append(((interval["lower"] <= truth) & (truth <= interval["upper"])).to_numpy())
        print(f"  {device}: chunk {len(done)} ({chunk} curves) done, {spent:.1f} s so far", flush=True)
    fitted = sum(done)
    return {
        "curves": fitted, "wall_s": spent, "compile_s": compile_s, "first_chunk_s": first_chunk_s,
        "curves_per_s": fitted / spent, "curves_per_s_sampling": fitted / max(spent - compile_s, 1e-9),
        "converged": float(np.mean(np.concatenate(converged))), "steps_per_draw": float(np.mean(np.concatenate(steps))),
        "alpha_coverage_90": float(np.mean(np.concatenate(covered))),
        "lockstep_steps_per_draw": float(np.mean(lockstep)),
    }  # fmt: skip


def measure(device: str, args: argparse.Namespace) -> dict:
    """Both parts on one device; prints each result as it comes."""
    out: dict = {"device": device, "device_kind": jax.devices(device)[0].device_kind,
                 "devices": len(jax.devices(device))}  # fmt: skip
    if not args.skip_single:
        out["single"] = s = run_bayescale(bs.datasets.load("chinchilla")[["N", "D", "loss"]], device=device)
        print(f"{device}: Chinchilla fit, first call {s['total_s']:.1f} s, second call {s['sampling_s']:.1f} s "
              f"({s['note']}); min bulk ESS {s['min_ess']:.0f}, max r_hat {s['max_rhat']:.3f}, "
              f"divergences {s['divergences']}", flush=True)  # fmt: skip
    curves, budget = (args.curves, args.budget) if device == "gpu" else (args.cpu_curves, args.cpu_budget)
    chunk = args.chunk if device == "gpu" else args.cpu_chunk
    out["many"] = many_fits(device, curves, chunk, budget, args.max_tree_depth)
    m = out["many"]
    print(f"{device}: fit_many (max tree depth {args.max_tree_depth}), {m['curves']} curves in {m['wall_s']:.1f} s "
          f"({m['compile_s']:.1f} s compile): "
          f"{m['curves_per_s']:.2f} curves/s, {m['curves_per_s_sampling']:.2f} without compile; converged "
          f"{m['converged']:.1%}, steps per draw {m['steps_per_draw']:.1f} (the chunk's longest tree per draw, "
          f"which a lock-step iteration waits for: {m['lockstep_steps_per_draw']:.0f}), alpha 90% coverage "
          f"{m['alpha_coverage_90']:.1%}", flush=True)  # fmt: skip
    return out


def cpu_in_child(args: argparse.Namespace) -> dict:
    """The CPU side in a child process that sees the CPU only, with one host device per core."""
    # bayescale put this process's host-device count in XLA_FLAGS on import: the child sets its own
    flags = [flag for flag in os.environ.get("XLA_FLAGS", "").split() if not flag.startswith(HOST_DEVICES_FLAG)]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": " ".join(flags),
           "BAYESCALE_CPU_DEVICES": str(os.cpu_count() or 4)}  # fmt: skip
    command = [sys.executable, __file__, "--cpu-only", "--json", *sys.argv[1:]]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the CPU side failed:\n{done.stderr[-3000:]}")
    lines = done.stdout.strip().splitlines()
    print("\n".join(lines[:-1]), flush=True)
    return json.loads(lines[-1])


def table(results: list[dict]) -> pd.DataFrame:
    """One row per device; with a GPU, a last row of GPU / CPU ratios (speed-ups)."""
    rows = []
    for r in results:
        row = {"device": f"{r['device']} ({r['device_kind']}, {r['devices']} device(s))"}
        if "single" in r:
            s = r["single"]
            row.update(single_first_s=s["total_s"], single_second_s=s["sampling_s"], single_min_ess=s["min_ess"],
                       single_max_rhat=s["max_rhat"])  # fmt: skip
        m = r["many"]
        row.update(many_curves=m["curves"], many_curves_per_s=m["curves_per_s"],
                   many_curves_per_s_sampling=m["curves_per_s_sampling"], many_converged=m["converged"],
                   many_steps_per_draw=m["steps_per_draw"], many_lockstep_steps=m["lockstep_steps_per_draw"],
                   many_alpha_coverage=m["alpha_coverage_90"])  # fmt: skip
        rows.append(row)
    frame = pd.DataFrame(rows)
    if len(results) == 2:
        gpu, cpu = frame.iloc[0], frame.iloc[1]
        speedup = {"device": "speed-up, GPU over CPU"}
        for name in ("single_first_s", "single_second_s"):
            if name in frame:
                speedup[name] = cpu[name] / gpu[name]
        for name in ("many_curves_per_s", "many_curves_per_s_sampling"):
            speedup[name] = gpu[name] / cpu[name]
        frame = pd.concat([frame, pd.DataFrame([speedup])], ignore_index=True)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curves", type=int, default=10_000, help="synthetic curves on the GPU")
    parser.add_argument("--chunk", type=int, default=2_500, help="curves per vectorised chunk on the GPU")
    parser.add_argument("--budget", type=float, default=90.0, help="seconds for the GPU's fit_many part")
    parser.add_argument("--cpu-curves", type=int, default=10_000, help="synthetic curves on the CPU (within its budget)")
    parser.add_argument("--cpu-chunk", type=int, default=32, help="curves per chunk on the CPU")
    parser.add_argument("--cpu-budget", type=float, default=45.0, help="seconds for the CPU's fit_many part")
    parser.add_argument("--skip-single", action="store_true", help="skip the single Chinchilla fit")
    parser.add_argument("--max-tree-depth", type=depths,
                        default=inspect.signature(bs.fit_many).parameters["max_tree_depth"].default,
                        help="fit_many's NUTS tree depth limits on both sides, one number or 'warm-up,draws' "
                             "(lock-step waits for the longest tree)")
    parser.add_argument("--cpu-only", action="store_true", help="measure the CPU side only (the child process)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON line at the end")
    args = parser.parse_args()
    started = time.perf_counter()
    has_gpu = jax.default_backend() == "gpu" and not args.cpu_only
    if not args.json:
        print(f"machine: {os.cpu_count()} CPUs; jax {jax.__version__}, default backend {jax.default_backend()}, "
              f"devices {jax.devices()}", flush=True)  # fmt: skip
        if not has_gpu:
            print("no GPU: JAX sees none, so only the CPU side runs (install jax[cuda12] on a machine with one)")
    results = [measure("gpu", args)] if has_gpu else []
    results.append(cpu_in_child(args) if has_gpu else measure("cpu", args))
    if args.json:
        print(json.dumps(results[-1], default=float))
        return
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
        print(table(results).set_index("device").T.to_string())
    print(f"whole script: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
