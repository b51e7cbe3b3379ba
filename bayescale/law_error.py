"""Law error: how far real ladders wander from their law beyond the fitted runs.

A posterior over a law's parameters says how well the *law* is pinned by the runs; it says
nothing about whether the law itself still holds ten times further out. On public ladders
it often does not: curves bend, and larger runs tend to beat the law fitted on smaller ones
(DESIGN.md, issue 10). This module adds that uncertainty as a drift of the curve that is
zero inside the fitted range and grows with the extrapolation distance ``d`` (decades of
scale beyond the largest fitted run):

.. math::

    \\eta_\\text{true}(x) = \\eta_\\text{law}(x) \\mp b\\, d(x), \\qquad b \\sim \\mathcal N(\\mu, s)

where :math:`\\eta` is the curve on the likelihood's scale (``log y`` for positive targets,
``logit y`` for metrics in (0, 1)), the sign makes a positive ``b`` a gain in the direction
of "better" (lower loss, higher accuracy), and ``b`` is one random slope per posterior draw:
an exponent drift. The drift is shared by every row of a prediction (one fit is one ladder,
whose continuation bends as a whole); with groups, each level's drift is the shared one plus
its own part, partially pooled (``group_share`` of the variance is common).

``mu`` and ``s`` are not guessed: they are learned by :func:`learn` from forward splits of
the public ladders (fit the small runs, predict the largest), with a hierarchy over datasets,
and the result is stored in ``models/law_error.json`` (rebuilt by
``benchmarks/calibration.py --learn``). The stored file keeps posterior draws of ``mu`` and
of the between-ladder sd, so the uncertainty of the learned prior itself is carried into
predictions.

References
----------
Kennedy, M. C. and O'Hagan, A. (2001). Bayesian calibration of computer models. JRSS B 63(3),
425-464 (a model-discrepancy term beside the parameters).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale.laws.base import Law

__all__ = ["LawError", "default", "extrapolation_distance", "learn", "resolve", "save", "scale_inputs", "shift"]

#: File name of the learned law error inside the zoo folder (``models/``).
FILE_NAME = "law_error.json"

#: Inputs whose extrapolation runs towards *lower* values: a loss fed to a downstream link.
DECREASING_INPUTS = frozenset({"L"})


@dataclass(frozen=True)
class LawError:
    """The distribution of the drift per decade of extrapolation.

    Parameters
    ----------
    mu : ndarray
        Draws of the mean gain per decade (on the likelihood's scale; positive: larger runs do
        better than the law predicts).
    sd : ndarray
        Draws of the sd of the gain per decade between ladders, paired with ``mu``.
    group_share : float
        Share of a level's drift variance common to all levels of a grouped fit (0: levels
        drift independently, 1: all levels drift together).
    source : str
        Where the numbers come from (datasets and command).
    """

    mu: np.ndarray
    sd: np.ndarray
    group_share: float = 0.5
    source: str = ""

    def __post_init__(self) -> None:
        mu, sd = np.atleast_1d(np.asarray(self.mu, float)), np.atleast_1d(np.asarray(self.sd, float))
        if mu.shape != sd.shape or mu.ndim != 1:
            raise ValueError(f"LawError: mu and sd must be 1-d arrays of equal length, got {mu.shape} and {sd.shape}")
        if np.any(sd < 0) or not np.all(np.isfinite(np.concatenate([mu, sd]))):
            raise ValueError("LawError: sd must be >= 0 and every draw finite")
        if not 0.0 <= self.group_share <= 1.0:
            raise ValueError(f"LawError(group_share={self.group_share!r}) must lie in [0, 1]")
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "sd", sd)

    @classmethod
    def fixed(cls, mu: float, sd: float, group_share: float = 0.5) -> LawError:
        """A law error with known ``mu`` and ``sd`` (no uncertainty about them)."""
        return cls(np.array([float(mu)]), np.array([float(sd)]), group_share, source="fixed by the user")

    def slopes(self, n_draws: int, levels: np.ndarray, seed: int) -> np.ndarray:
        """Draws of the gain per decade, ``(n_draws, len(levels))``: shared part plus each level's own.

        Each level's own part comes from a random stream seeded by ``(seed, level)``, so a level
        gets the same drift whichever other levels are predicted with it.
        """
        rng = np.random.default_rng([seed, 0x1A3])
        pick = rng.integers(0, self.mu.size, n_draws)
        shared = rng.standard_normal(n_draws)
        out = np.empty((n_draws, len(levels)))
        for i, level in enumerate(levels):
            # a stream of its own: [seed, tag, 1, level] (SeedSequence ignores trailing zeros, so
            # [seed, tag, 0] would repeat the shared stream)
            own = np.random.default_rng([seed, 0x1A3, 1, int(level)]).standard_normal(n_draws)
            z = np.sqrt(self.group_share) * shared + np.sqrt(1.0 - self.group_share) * own
            out[:, i] = self.mu[pick] + self.sd[pick] * z
        return out

    def summary(self) -> dict[str, float]:
        """Posterior mean of ``mu`` and ``sd`` and the sd of the predictive slope, per decade."""
        predictive = np.sqrt(self.sd**2 + (self.mu - self.mu.mean()) ** 2).mean()
        return {"mu": float(self.mu.mean()), "sd": float(self.sd.mean()), "predictive_sd": float(predictive)}

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready record (see :func:`from_record`)."""
        return {
            "mu": [round(float(v), 6) for v in self.mu],
            "sd": [round(float(v), 6) for v in self.sd],
            "group_share": self.group_share,
            "source": self.source,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> LawError:
        """The inverse of :meth:`to_record`."""
        return cls(np.asarray(record["mu"]), np.asarray(record["sd"]), float(record["group_share"]), record["source"])

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"LawError(gain per decade {s['mu']:+.4f}, sd between ladders {s['sd']:.4f}, "
            f"group_share {self.group_share}; {self.mu.size} draws)"
        )


def _zoo_file() -> Path:
    from bayescale.zoo import zoo_dir

    return zoo_dir() / FILE_NAME


_DEFAULT: LawError | None = None


def default() -> LawError:
    """The law error learned from the public ladders (``models/law_error.json``).

    Raises
    ------
    FileNotFoundError
        When the file is missing (a broken install); pass ``law_error=False`` to predict without it.
    """
    global _DEFAULT
    if _DEFAULT is None:
        path = _zoo_file()
        if not path.exists():
            raise FileNotFoundError(
                f"the learned law error {str(path)!r} is missing; reinstall bayescale, rebuild it with "
                "`python benchmarks/calibration.py --learn`, or predict with law_error=False"
            )
        record = json.loads(path.read_text())
        _DEFAULT = LawError.from_record(record["law_error"])
    return _DEFAULT


def resolve(law_error: bool | LawError | None) -> LawError | None:
    """``True`` -> :func:`default`, ``False``/``None`` -> no law error, a :class:`LawError` as is."""
    if law_error is True:
        return default()
    if law_error is False or law_error is None:
        return None
    if isinstance(law_error, LawError):
        return law_error
    raise TypeError(
        f"law_error={law_error!r} must be True (the learned default), False (none) or a bs.LawError, "
        f"got {type(law_error).__name__}"
    )


# --- distance ------------------------------------------------------------------------------
def scale_inputs(law: Law) -> dict[str, int]:
    """The inputs along which a law extrapolates, with the direction (+1 up, -1 down).

    Every positive input, upwards, except a loss input (``L`` of a downstream link), which
    extrapolates downwards. Each input counts on its own: the law's exponent of ``N`` is pinned
    only up to the largest ``N`` fitted, whatever the compute of the runs there.
    """
    return {
        name: (-1 if name in DECREASING_INPUTS else 1)
        for name in law.inputs
        if law.domain(name) == "positive"
    }


def _scale_columns(law: Law, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    missing = [name for name in scale_inputs(law) if name not in frame.columns]
    if missing:
        raise ValueError(f"cannot measure the extrapolation distance: inputs {missing} are missing from the rows")
    return {name: frame[name].to_numpy(dtype=float) for name in scale_inputs(law)}


def extrapolation_distance(law: Law, fitted: pd.DataFrame, new: pd.DataFrame) -> np.ndarray:
    """Decades of scale beyond the fitted runs, per row of ``new`` (0 inside the fitted range).

    Summed over the law's scale inputs (:func:`scale_inputs`): for each, ``log10`` of the row's
    value over the largest fitted value (the smallest for a decreasing input), when positive.
    A run with 10x the parameters and 10x the tokens of the largest fitted one is 2 decades out.
    Both frames hold the law's inputs under their own names.
    """
    old, rows = _scale_columns(law, fitted), _scale_columns(law, new)
    distance = np.zeros(len(new))
    for name, direction in scale_inputs(law).items():
        edge = old[name].max() if direction > 0 else old[name].min()
        distance += np.maximum(0.0, direction * (np.log10(rows[name]) - np.log10(edge)))
    return distance


def shift(
    law_error: LawError,
    distance: np.ndarray,
    level_codes: np.ndarray,
    n_draws: int,
    *,
    lower_is_better: bool,
    seed: int,
) -> np.ndarray:
    """Draws of the curve's shift on the likelihood's scale, ``(n_draws, rows)``.

    ``level_codes`` gives each row's group level (non-negative integers, stable across calls;
    all 0 for an ungrouped fit); rows of a level share its drift. Positive gains move the curve
    towards "better".
    """
    levels, index = np.unique(np.asarray(level_codes, dtype=np.int64), return_inverse=True)
    gain = law_error.slopes(n_draws, levels, seed)[:, index.reshape(-1)]
    sign = -1.0 if lower_is_better else 1.0
    return sign * gain * np.asarray(distance, dtype=float)[None, :]


# --- learning it from ladders ----------------------------------------------------------------
LEARN_COLUMNS = ("dataset", "ladder", "distance", "residual", "spread")


def learn(
    table: pd.DataFrame,
    *,
    chains: int = 4,
    draws: int = 1000,
    seed: int = 0,
    kept: int = 400,
    source: str = "",
    group_share: float = 0.5,
) -> LawError:
    """Learn the law error from forward splits of several ladders.

    Parameters
    ----------
    table : DataFrame
        One row per held-out run with columns ``dataset``, ``ladder`` (a forward split: runs of
        one fit), ``distance`` (decades beyond the fitted runs), ``residual`` (observed minus the
        fit's median on the likelihood's scale, signed so that positive is *better* than
        predicted) and ``spread`` (sd of the fit's own new-run prediction there, same scale).
    chains, draws, seed : int
        NUTS settings of the small hierarchical model.
    kept : int
        Number of thinned posterior draws stored.

    Returns
    -------
    LawError
        Draws of the mean gain per decade and of the predictive sd of a new dataset's ladder.

    Notes
    -----
    The model, with ``j`` a held-out run of ladder ``l`` in dataset ``k``::

        residual_j ~ Normal(b_l * distance_j, spread_j)
        b_l ~ Normal(m_k, s_ladder),   m_k ~ Normal(mu, s_dataset)
        mu ~ Normal(0, 0.05),   s_ladder, s_dataset ~ HalfNormal(0.05)

    A ladder of a dataset never seen has ``b ~ Normal(mu, sqrt(s_dataset^2 + s_ladder^2))``: that
    sd is what is stored.
    """
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    missing = [c for c in LEARN_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"learn(table): columns {missing} are missing; it needs {list(LEARN_COLUMNS)}")
    if not (table["spread"] > 0).all():
        raise ValueError("learn(table): every 'spread' must be > 0")
    datasets, d_code = np.unique(table["dataset"].astype(str), return_inverse=True)
    ladder_keys = table["dataset"].astype(str) + "\x1f" + table["ladder"].astype(str)
    ladders, l_code = np.unique(ladder_keys, return_inverse=True)
    ladder_dataset = np.array([np.flatnonzero(datasets == key.split("\x1f")[0])[0] for key in ladders])

    def model(distance, spread, residual=None):
        mu = numpyro.sample("mu", dist.Normal(0.0, 0.05))
        s_dataset = numpyro.sample("s_dataset", dist.HalfNormal(0.05))
        s_ladder = numpyro.sample("s_ladder", dist.HalfNormal(0.05))
        with numpyro.plate("datasets", len(datasets)):
            m = mu + s_dataset * numpyro.sample("m_z", dist.Normal(0.0, 1.0))
        with numpyro.plate("ladders", len(ladders)):
            b = m[ladder_dataset] + s_ladder * numpyro.sample("b_z", dist.Normal(0.0, 1.0))
        with numpyro.plate("runs", len(distance)):
            numpyro.sample("residual", dist.Normal(b[l_code] * distance, spread), obs=residual)

    mcmc = MCMC(
        NUTS(model, target_accept_prob=0.95),
        num_warmup=draws,
        num_samples=draws,
        num_chains=chains,
        chain_method="sequential",
        progress_bar=False,
    )
    mcmc.run(
        jax.random.PRNGKey(seed),
        jnp.asarray(table["distance"].to_numpy(float)),
        jnp.asarray(table["spread"].to_numpy(float)),
        jnp.asarray(table["residual"].to_numpy(float)),
    )
    samples = mcmc.get_samples()
    mu = np.asarray(samples["mu"], float)
    sd = np.sqrt(np.asarray(samples["s_dataset"], float) ** 2 + np.asarray(samples["s_ladder"], float) ** 2)
    keep = np.linspace(0, mu.size - 1, min(kept, mu.size)).round().astype(int)
    return LawError(mu[keep], sd[keep], group_share, source=source)


def save(law_error: LawError, path: str | os.PathLike[str], **metadata: Any) -> Path:
    """Write ``law_error`` (and ``metadata``) as the JSON file :func:`default` reads."""
    path = Path(path)
    record = {"format": 1, "law_error": law_error.to_record(), **metadata}
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def packaged_path() -> Path:
    """Where :func:`default` reads the learned file (the zoo folder)."""
    return _zoo_file()

