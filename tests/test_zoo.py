"""The reference-posterior zoo: committed files load without the public data and work as priors."""

from __future__ import annotations

import json

import numpy as np
import numpyro.distributions as dist
import pytest

import bayescale as bs
from bayescale import zoo

REQUIRED = [
    "chinchilla/chinchilla",
    "kaplan/chinchilla",
    "chinchilla/overtraining",
    "chinchilla/datablations",
    "power/nsl_lang",
]


def test_committed_entries_are_listed_small_and_converged():
    table = zoo.list()
    assert set(REQUIRED) <= set(table["name"])
    assert set(table["name"]) == {e.name for e in zoo.ENTRIES}, "every declared entry is built and committed"
    assert (table["draws"] >= 300).all()
    assert (table["max_rhat"] < 1.01).all(), table[["name", "max_rhat"]]
    assert (table["divergences"] == 0).all()
    files = list(zoo.zoo_dir().glob("*/*.json"))
    assert max(f.stat().st_size for f in files) < 200_000
    assert sum(f.stat().st_size for f in files) < 3_000_000


def test_load_gives_draws_metadata_and_summary():
    entry = zoo.load("chinchilla/chinchilla")
    assert entry.law_name == "chinchilla" and entry.dataset == "chinchilla"
    assert entry.metadata["rows"] == 240 and entry.metadata["bayescale_version"]
    assert {"chains", "draws", "warmup", "seed"} <= set(entry.metadata["sampler"])
    assert list(entry.draws.columns[:5]) == ["E", "A", "alpha", "B", "beta"]
    summary = entry.summary(level=0.9)
    # Besiroglu et al. 2024's robust estimates of the same 240 runs
    assert 0.317 < summary.loc["alpha", "median"] < 0.373 and 0.331 < summary.loc["beta", "median"] < 0.415
    assert summary.loc["alpha", "q5"] < summary.loc["alpha", "median"] < summary.loc["alpha", "q95"]
    grouped = zoo.load("chinchilla/overtraining")
    assert set(grouped.group_draws["E_dataset"].columns) == {"C4", "RedPajama", "RefinedWeb"}
    assert "chinchilla/chinchilla" in repr(entry)


def test_as_priors_matches_the_draws_in_log_space():
    entry = zoo.load("chinchilla/chinchilla")
    priors = entry.as_priors()
    assert set(priors) == {"E", "A", "alpha", "B", "beta"}
    assert isinstance(priors["alpha"], dist.LogNormal)
    log_alpha = np.log(entry.draws["alpha"])
    assert float(priors["alpha"].loc) == pytest.approx(log_alpha.mean(), rel=1e-6)
    assert float(priors["alpha"].scale) == pytest.approx(log_alpha.std(ddof=1), rel=1e-6)
    assert set(entry.as_priors(params=["alpha", "beta"])) == {"alpha", "beta"}
    # another law sharing parameter names: only the shared ones; the power law's A is stated at the centre
    assert set(entry.as_priors("power")) == {"E", "alpha"}


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(KeyError, match="chinchilla/chinchilla"):
        zoo.load("chinchilla/no_such_dataset")
    with pytest.raises(ValueError, match="have no draws"):
        zoo.load("chinchilla/chinchilla").as_priors(params=["gamma"])
    with pytest.raises(ValueError, match="shares no parameter"):
        zoo.load("chinchilla/chinchilla").as_priors("kaplan")
    with pytest.raises(ValueError, match="not declared zoo entries"):
        zoo.rebuild(tmp_path, names=["chinchilla/nowhere"])
    newer = tmp_path / "chinchilla" / "future.json"
    newer.parent.mkdir()
    newer.write_text(json.dumps({"zoo_format": zoo.ZOO_FORMAT + 1}))
    with pytest.raises(ValueError, match="newer"):
        zoo.load("chinchilla/future", zoo=tmp_path)


@pytest.mark.slow
def test_rebuild_writes_a_loadable_entry(shared_data_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(zoo.SAMPLER_SETTINGS, "draws", 200)
    monkeypatch.setitem(zoo.SAMPLER_SETTINGS, "warmup", 200)
    monkeypatch.setitem(zoo.SAMPLER_SETTINGS, "chains", 2)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        (path,) = zoo.rebuild(tmp_path, names=["chinchilla/chinchilla"])
    assert path == tmp_path / "chinchilla" / "chinchilla.json"
    rebuilt = zoo.load("chinchilla/chinchilla", zoo=tmp_path)
    assert len(rebuilt.draws) == 400 and rebuilt.metadata["rows"] == 240
    assert rebuilt.metadata["sampler"]["draws"] == 200
    committed = zoo.load("chinchilla/chinchilla")
    assert abs(rebuilt.summary().loc["beta", "median"] - committed.summary().loc["beta", "median"]) < 0.01


@pytest.mark.slow
def test_zoo_prior_narrows_a_small_fit_without_hurting_held_out_error(shared_data_dir):
    """20 small Datablations runs (C4, Muennighoff et al. 2023) with the Chinchilla zoo posterior
    (MassiveText, Hoffmann et al. 2022) as prior vs default priors; held out: the runs >= 1B params.
    The prior comes from another dataset, so the held-out runs never informed it."""
    prior = zoo.load("chinchilla/chinchilla")
    runs = bs.datasets.load("datablations")
    runs = runs[runs["epochs"] <= 4].reset_index(drop=True)
    subset = runs[runs["N"] < 3e8].sample(20, random_state=0)
    held_out = runs[runs["N"] >= 1e9]
    fits = {}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        for label, priors in [("default", None), ("zoo", prior)]:
            fits[label] = bs.fit(subset, law="chinchilla", priors=priors, chains=2, draws=300, warmup=300,
                                 seed=0, progress=False)  # fmt: skip
    for name in ("E", "alpha", "beta"):
        assert np.std(fits["zoo"].draws(name)) < 0.5 * np.std(fits["default"].draws(name)), name
    errors = {}
    for label, fit in fits.items():
        predicted = fit.predict(held_out)["median"].to_numpy()
        errors[label] = np.median(np.abs(predicted - held_out["loss"].to_numpy()) / held_out["loss"].to_numpy())
    assert errors["zoo"] <= errors["default"], errors
