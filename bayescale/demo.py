"""``bayescale demo``: the package's main job on its embedded data, offline, in about half a minute.

Fits the three-corpus ladder of ``bs.examples`` (made by ``data/make_data.py`` from stated
parameters) with the Chinchilla law and corpus-level offsets, compares it with the Kaplan law by
PSIS-LOO, extrapolates to 10x and 100x the largest compute with 90% intervals, and writes the
band plot and the saved fit.
"""

from __future__ import annotations

import tempfile
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["run_demo"]


def _table(frame: pd.DataFrame) -> str:
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        return frame.to_string(float_format=lambda v: f"{v:.4g}")


def run_demo(out: str | Path | None = None, draws: int = 1000, quiet: bool = False) -> int:
    """Fit the embedded three-corpus ladder, compare laws, extrapolate, and draw the bands.

    Prints each step; writes the band plot and the saved fit to ``out`` (default: a new temporary
    folder). Returns 0, the exit status of ``bayescale demo``.
    """
    import matplotlib

    matplotlib.use("Agg")

    import bayescale as bs

    started = time.perf_counter()
    out_dir = Path(out or tempfile.mkdtemp(prefix="bayescale-demo-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    data = bs.examples.load("three_datasets")
    print(f"bayescale {bs.__version__} demo: {len(data)} synthetic runs on three corpora "
          f"({', '.join(sorted(data['dataset'].unique()))}), from data/make_data.py")
    print("  truth: alpha 0.348, beta 0.366 shared; E = 1.82 (web), 1.62 (books), 1.05 (code)\n")

    settings: dict[str, Any] = dict(chains=4, draws=draws, warmup=draws, seed=0, progress=False if quiet else None)
    inputs = {"N": "params", "D": "tokens"}
    print("1. chinchilla law, E and A varying by corpus (partial pooling), Student-t likelihood;")
    print("   target acceptance 0.99: two parameters' spread across only three corpora is a funnel")
    print("   that NUTS crosses with small steps (at the default 0.95 some seeds leave divergences)")
    # measured: seeds 0-3 left 4, 0, 1, 0 divergent draws at 0.95 and none at 0.99, for ~1.4x the
    # sampling time; the ladders of benchmarks/design.py with E (and A, B) by dataset left none at 0.95
    chinchilla = bs.fit(data, law="chinchilla", y="loss", inputs=inputs,
                        hierarchy={"E": "dataset", "A": "dataset"}, target_accept_prob=0.99, **settings)
    print(_table(chinchilla.summary(groups=True)[["mean", "sd", "hdi_5%", "hdi_95%", "ess_bulk", "r_hat"]]))
    print(_diagnostics(chinchilla))

    print("\n2. kaplan law for comparison (critical data size varying by corpus)")
    kaplan = bs.fit(data, law="kaplan", y="loss", inputs=inputs,
                    hierarchy={"D_c": "dataset"}, **settings)
    print(_diagnostics(kaplan))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", bs.LOOWarning)
        table = bs.compare({"chinchilla": chinchilla, "kaplan": kaplan}, ic="loo")
    print("\n3. comparison by PSIS-LOO (higher elpd_loo is better)")
    print(_table(table[["rank", "elpd_loo", "p_loo", "elpd_diff", "dse", "weight"]]))
    loo_notes = [str(w.message).split(", so leaving")[0] for w in caught if issubclass(w.category, bs.LOOWarning)]
    for note in loo_notes:  # a line each under the table rather than a paragraph above it
        print(f"   {note}")
    if loo_notes:
        print("   (bs.compare(..., ic='lfo') refits without the largest runs instead of importance sampling)")
    for warning in caught:
        if not issubclass(warning.category, bs.LOOWarning):
            warnings.warn(warning.message, warning.category, stacklevel=2)

    from bayescale.data import FLOPS_PER_PARAMETER_TOKEN, training_compute
    from bayescale.law_error import beyond_reach_notes

    c_max = float(training_compute(data["params"], data["tokens"]).max())
    points = []
    for factor in (10, 100):
        C = factor * c_max
        N = np.sqrt(C / (FLOPS_PER_PARAMETER_TOKEN * 20))  # 20 tokens per parameter
        for corpus in sorted(data["dataset"].unique()):
            points.append({"dataset": corpus, "params": N, "tokens": 20 * N, "C": C, "x": f"{factor}x"})
    grid = pd.DataFrame(points)
    # beyond the law error's learned reach: a note under the table, as for LOO
    prediction, beyond = beyond_reach_notes(lambda: chinchilla.predict(grid, level=0.9), stacklevel=2)
    prediction.insert(0, "compute", grid["x"] + " (" + grid["C"].map("{:.2g}".format) + " FLOPs)")
    print(f"\n4. extrapolation at 10x and 100x the largest compute in the data ({c_max:.2g} FLOPs), "
          "20 tokens per parameter, 90% intervals")
    print(_table(prediction[["compute", "dataset", "params", "tokens", "median", "lower", "upper",
                            "pred_lower", "pred_upper"]]))
    print("   lower/upper: the curve (parameter uncertainty, and the law error beyond the fitted runs,")
    print("   sized by how far the ladder's top fifth lands from a refit without it: fit.own_law_error());")
    print("   pred_lower/pred_upper: one new run (run-to-run noise too)")
    for note in beyond:
        print(textwrap.fill(f"note: {note}", width=100, initial_indent="   ", subsequent_indent="   "))

    figure_path = out_dir / "demo_bands.png"
    with bs.plots.style():
        ax = chinchilla.plot(x="C", fixed={"D_per_N": 20}, extrapolate=100)
        ax.figure.savefig(figure_path, dpi=150)
    fit_path = chinchilla.save(out_dir / "demo_chinchilla.nc")
    print(f"\nband plot: {figure_path}\nfit saved: {fit_path} (reload with bs.load)")
    print(f"demo finished in {time.perf_counter() - started:.1f} s")
    return 0


def _diagnostics(fit) -> str:
    """One line of r_hat, ESS and divergences."""
    d = fit.diagnostics
    return (f"   diagnostics: max r_hat {d['max_rhat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f}, "
            f"{d['divergences']} divergences")
