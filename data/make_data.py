"""Make the embedded example datasets from stated laws and parameters.

Run ``python data/make_data.py`` to rebuild the CSV files beside this script. Seeds are
fixed, so the files are identical on every run.

* ``chinchilla_ladder.csv``: a ladder of language-model runs following the Chinchilla law
  with Besiroglu et al. (2024)'s robust estimates (E 1.82, A 482, B 2085, alpha 0.348,
  beta 0.366), isoFLOP-style token budgets, and Student-t noise of about 1% in log loss
  (nu = 5, so a few runs are off by more, as in real ladders).
* ``three_datasets.csv``: the same law on three pre-training corpora with shared exponents
  and B but corpus-specific irreducible loss E and model-size coefficient A; the ``code``
  corpus has only six runs, to show partial pooling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
TRUTH = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
CORPORA = {  # name: (E, A, number of runs)
    "web": (1.82, 482.0, 40),
    "books": (1.62, 400.0, 24),
    "code": (1.05, 560.0, 6),
}
NOISE_SIGMA, NOISE_NU = 0.01, 5.0


def chinchilla(N, D, E, A, B, alpha, beta):
    return E + A * N**-alpha + B * D**-beta


def ladder(rng: np.random.Generator, n_runs: int) -> tuple[np.ndarray, np.ndarray]:
    """Model sizes from 40M to 3B parameters and 4 to 100 tokens per parameter, log-uniform."""
    N = np.exp(rng.uniform(np.log(4e7), np.log(3e9), n_runs))
    tokens_per_param = np.exp(rng.uniform(np.log(4.0), np.log(100.0), n_runs))
    return np.round(N, -5), np.round(N * tokens_per_param, -6)


def noisy(rng: np.random.Generator, loss: np.ndarray) -> np.ndarray:
    return np.round(loss * np.exp(NOISE_SIGMA * rng.standard_t(NOISE_NU, loss.shape)), 4)


def main() -> None:
    rng = np.random.default_rng(20240418)
    N, D = ladder(rng, 60)
    loss = noisy(rng, chinchilla(N, D, **TRUTH))
    pd.DataFrame({"params": N, "tokens": D, "loss": loss}).sort_values(["params", "tokens"]).to_csv(
        HERE / "chinchilla_ladder.csv", index=False
    )

    frames = []
    for corpus, (E, A, n_runs) in CORPORA.items():
        N, D = ladder(rng, n_runs)
        truth = {**TRUTH, "E": E, "A": A}
        frames.append(pd.DataFrame({"dataset": corpus, "params": N, "tokens": D, "loss": noisy(rng, chinchilla(N, D, **truth))}))
    pd.concat(frames).sort_values(["dataset", "params", "tokens"]).to_csv(HERE / "three_datasets.csv", index=False)


if __name__ == "__main__":
    main()
