"""Tests for bayescale.datasets: registry, cache, checksums, offline errors, real data."""

from __future__ import annotations

import hashlib
import re
import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayescale import datasets

NAMES = [
    "chinchilla",
    "overtraining",
    "overtraining_downstream",
    "datablations",
    "obs_scaling",
    "nsl_lang",
    "nsl_vision",
    "openclip",
    "clip_mammut_segmentation",
    "porian_isoflops",
    "loss_to_loss",
    "openeurollm",
]

# Row counts seen in the pinned files (the NSL CSVs have no trailing newline, so
# ``wc -l`` reports one line fewer than these).
EXPECTED_ROWS = {
    "chinchilla": 245,
    "overtraining": 104,
    "overtraining_downstream": 104 * 46,
    "datablations": 296,
    "obs_scaling": 1144,
    "nsl_lang": 1399,
    "nsl_vision": 18883,
    "openclip": 1312,
    "clip_mammut_segmentation": 1431,
    "porian_isoflops": 1745,
    "loss_to_loss": 535,
    "openeurollm": 909,
}

# Canonical columns that must be present, positive and finite in every row.
POSITIVE_FINITE = {
    "chinchilla": ["N", "D", "C", "loss"],
    "overtraining": ["N", "D", "C", "chinchilla_multiplier", "loss", "loss_lower", "loss_upper", "loss_openlm"],
    "overtraining_downstream": ["N", "D", "C", "chinchilla_multiplier", "loss", "n_examples"],
    "datablations": ["N", "D", "C", "loss", "U", "epochs"],
    "obs_scaling": ["N"],
    "nsl_lang": ["D", "loss"],
    "nsl_vision": ["D", "loss"],
    "openclip": ["N", "D", "C"],
    "clip_mammut_segmentation": ["N", "D", "C", "miou"],
    "porian_isoflops": ["N", "D", "C", "loss"],
    "loss_to_loss": ["N", "D", "C", "loss"],
    "openeurollm": ["N", "D", "C", "loss", "lr", "batch_size"],
}

CSV = b"N,loss\n1e6,3.5\n1e7,3.1\n"


def _toy_entry(base_url: str = datasets.GITHUB_RAW, content: bytes = CSV) -> datasets.Dataset:
    return datasets.Dataset(
        name="toy",
        description="toy",
        citation="nobody",
        licence="MIT",
        repo="someone/toy-repo",
        commit="0" * 40,
        files={"data/toy.csv": hashlib.sha256(content).hexdigest()},
        loader=lambda paths: pd.read_csv(paths["data/toy.csv"]),
        rows=2,
        base_url=base_url,
    )


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> datasets.Dataset:
    entry = _toy_entry()
    monkeypatch.setitem(datasets._REGISTRY, "toy", entry)
    monkeypatch.setattr(datasets, "RETRIES", 0)  # pooch waits 1 s, 2 s ... between attempts
    return entry


# ------------------------------------------------------------------ without the data


def test_list_has_every_dataset_with_metadata() -> None:
    table = datasets.list()
    assert isinstance(table, pd.DataFrame)
    assert list(table["name"]) == NAMES
    assert {"name", "description", "rows", "citation", "licence"} <= set(table.columns)
    assert dict(zip(table["name"], table["rows"], strict=True)) == EXPECTED_ROWS
    assert table["citation"].str.len().gt(10).all()


@pytest.mark.parametrize("name", NAMES)
def test_registry_pins_commit_and_sha256(name: str) -> None:
    entry = datasets.get(name)
    assert re.fullmatch(r"[0-9a-f]{40}", entry.commit)
    assert entry.files
    for path, digest in entry.files.items():
        assert re.fullmatch(r"[0-9a-f]{64}", digest), path
        assert entry.url(path) == (
            f"https://raw.githubusercontent.com/{entry.repo}/{entry.commit}/{path}"
        )


def test_the_pins_are_data_one_record_per_dataset() -> None:
    import json
    from importlib import resources

    pinned = json.loads(resources.files("bayescale").joinpath("dataset_files.json").read_text())
    assert list(pinned) == NAMES
    for name, record in pinned.items():
        entry = datasets.get(name)
        assert (entry.repo, entry.commit, dict(entry.files)) == (record["repo"], record["commit"], record["files"])


def test_overtraining_pins_every_run_file() -> None:
    files = datasets.get("overtraining_downstream").files
    models = [p for p in files if p.startswith("exp_data/models/")]
    evals = [p for p in files if p.startswith("exp_data/evals/")]
    assert len(models) == len(evals) == 104
    assert "exp_data/eval_metadata.csv" in files
    assert set(datasets.get("overtraining").files) == set(models)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"name='chinchila'.*chinchilla.*porian_isoflops"):
        datasets.load("chinchila")


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BAYESCALE_DATA_DIR", str(tmp_path / "env"))
    assert datasets.cache_dir(tmp_path / "arg") == tmp_path / "arg"
    assert datasets.cache_dir() == tmp_path / "env"
    monkeypatch.delenv("BAYESCALE_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert datasets.cache_dir() == tmp_path / "xdg" / "bayescale"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datasets.cache_dir() == tmp_path / "home" / ".cache" / "bayescale"


def test_cached_file_with_wrong_sha256_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = "data/svg_extracted_data.csv"
    fake = tmp_path / "epoch-research__analyzing-chinchilla" / path
    fake.parent.mkdir(parents=True)
    fake.write_text("Model Size,Training FLOP,loss\n1,6,2\n")
    actual = hashlib.sha256(fake.read_bytes()).hexdigest()
    expected = datasets.get("chinchilla").files[path]

    def no_download(url: str, dest: Path) -> None:  # pragma: no cover - must not run
        raise AssertionError("a cached file must not be downloaded again")

    monkeypatch.setattr(datasets, "_download", no_download)
    with pytest.raises(datasets.ChecksumError) as info:
        datasets.load("chinchilla", data_dir=tmp_path)
    message = str(info.value)
    assert str(fake) in message and expected in message and actual in message


def test_offline_error_names_file_url_and_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(url: str, dest: Path) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(datasets, "_download", offline)
    entry = datasets.get("datablations")
    (path,) = entry.files
    with pytest.raises(FileNotFoundError) as info:
        datasets.load("datablations", data_dir=tmp_path)
    assert isinstance(info.value, datasets.DataUnavailableError)
    message = str(info.value)
    assert path in message
    assert entry.url(path) in message
    assert "BAYESCALE_DATA_DIR" in message
    assert "no network" in message
    # nothing half-written is left in the cache
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_download_false_does_not_fetch(tmp_path: Path) -> None:
    with pytest.raises(datasets.DataUnavailableError, match="download=False.*BAYESCALE_DATA_DIR"):
        datasets.load("chinchilla", data_dir=tmp_path, download=False)


def test_download_lands_in_cache_and_is_verified(
    toy: datasets.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def fake_fetch(url: str, dest: Path) -> None:
        calls.append(url)
        dest.write_bytes(CSV)

    monkeypatch.setattr(datasets, "_download", fake_fetch)
    df = datasets.load("toy", data_dir=tmp_path)
    assert calls == [toy.url("data/toy.csv")]
    assert (tmp_path / "someone__toy-repo" / "data" / "toy.csv").read_bytes() == CSV
    assert df["loss"].tolist() == [3.5, 3.1]
    assert df.attrs["name"] == "toy"
    assert df.attrs["source"] == [toy.url("data/toy.csv")]
    assert {"citation", "licence"} <= set(df.attrs)
    # second load reads the cache
    datasets.load("toy", data_dir=tmp_path)
    assert len(calls) == 1


def test_corrupt_download_is_rejected_and_not_cached(
    toy: datasets.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datasets, "_download", lambda url, dest: dest.write_bytes(b"oops"))
    with pytest.raises(datasets.ChecksumError) as info:
        datasets.load("toy", data_dir=tmp_path)
    message = str(info.value)
    assert "data/toy.csv" in message
    assert toy.files["data/toy.csv"] in message
    assert hashlib.sha256(b"oops").hexdigest() in message
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_a_failed_download_is_retried(
    toy: datasets.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import requests

    calls: list[str] = []

    def flaky(url: str, dest: Path) -> None:
        calls.append(url)
        if len(calls) == 1:
            raise requests.exceptions.ConnectionError("connection reset")
        dest.write_bytes(CSV)

    monkeypatch.setattr(datasets, "_download", flaky)
    monkeypatch.setattr(datasets, "RETRIES", 1)
    assert len(datasets.load("toy", data_dir=tmp_path)) == 2 and len(calls) == 2
    # with no retry left, the same failure is the offline error
    monkeypatch.setattr(datasets, "RETRIES", 0)
    calls.clear()
    with pytest.raises(datasets.DataUnavailableError, match="connection reset"):
        datasets.load("toy", data_dir=tmp_path / "other")


def test_real_urllib_download_from_file_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "mirror"
    upstream = mirror / "someone" / "toy-repo" / ("0" * 40) / "data" / "toy.csv"
    upstream.parent.mkdir(parents=True)
    upstream.write_bytes(CSV)
    entry = _toy_entry(base_url=mirror.as_uri())
    monkeypatch.setitem(datasets._REGISTRY, "toy", entry)
    df = datasets.load("toy", data_dir=tmp_path / "cache")
    assert len(df) == entry.rows
    assert (tmp_path / "cache" / "someone__toy-repo" / "data" / "toy.csv").is_file()


# --------------------------------------------------------------------- with the data


@pytest.mark.parametrize("name", NAMES)
def test_every_dataset_loads_tidy(name: str, shared_data_dir: Path) -> None:
    df = datasets.load(name)
    assert len(df) == EXPECTED_ROWS[name]
    assert df.index.equals(pd.RangeIndex(len(df)))
    for column in POSITIVE_FINITE[name]:
        values = df[column].to_numpy(dtype=float)
        assert np.isfinite(values).all(), column
        assert (values > 0).all(), column
    for column in ("accuracy", "error", "miou", "chance"):
        if column in df:
            values = df[column].dropna()
            assert values.between(0, 1).all(), column
    entry = datasets.get(name)
    assert df.attrs["name"] == name
    assert df.attrs["citation"] == entry.citation
    assert df.attrs["licence"] == entry.licence
    assert all(url.startswith("https://raw.githubusercontent.com/") for url in df.attrs["source"])
    assert len(df.attrs["source"]) == len(entry.files)


def test_loss_to_loss_has_one_big_run_per_sweep(shared_data_dir: Path) -> None:
    df = datasets.load("loss_to_loss")
    big = df[df["split"] == "extrapolation"]
    assert sorted(big["dataset"]) == sorted(df["dataset"].unique()) and len(big) == 6
    assert (big["C"] == 1e21).all() and df.loc[df["split"] == "sweep", "C"].max() == 4.84e19
    # Brandfonbrener et al.'s measured C4 loss of the fineweb-edu 3.3B run (their opt_params_data.csv)
    assert big.set_index("dataset").loc["fineweb-edu-100b", "loss"] == pytest.approx(2.649, abs=5e-4)


def test_chinchilla_values(shared_data_dir: Path) -> None:
    df = datasets.load("chinchilla")
    np.testing.assert_allclose(6 * df["N"] * df["D"], df["C"], rtol=1e-12)
    assert df["loss"].between(1.5, 6).all()
    assert df["N"].min() > 4e7 and df["N"].max() < 2e10


def test_overtraining_runs(shared_data_dir: Path) -> None:
    df = datasets.load("overtraining")
    assert not df.isna().any().any()
    assert df["run"].is_unique
    assert set(df["dataset"]) == {"C4", "RedPajama", "RefinedWeb"}
    assert df.groupby("dataset").size().to_dict() == {"C4": 34, "RedPajama": 35, "RefinedWeb": 35}
    np.testing.assert_allclose(df["D"], 20 * df["chinchilla_multiplier"] * df["N"], rtol=1e-9)
    assert "M" not in df  # the law input M (D / N) is derived, never this column
    assert set(df["chinchilla_multiplier"]) == {0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0}
    assert (df["loss_lower"] <= df["loss"]).all() and (df["loss"] <= df["loss_upper"]).all()
    assert set(df.loc[df["N"] > 1e9, "model"]) == {"open_lm_1b", "open_lm_7b"}


def test_overtraining_downstream(shared_data_dir: Path) -> None:
    df = datasets.load("overtraining_downstream")
    assert df["task"].nunique() == 46
    assert df.groupby("run").size().eq(46).all()
    np.testing.assert_allclose(df["error"], 1 - df["accuracy"])
    assert set(df["chance"]) == {0.0, 0.25, 0.5}
    hellaswag = df.loc[df["task"] == "hellaswag", "chance"]
    assert (hellaswag == 0.25).all()
    # the run-level losses agree with the runs table
    runs = datasets.load("overtraining").set_index("run")["loss"]
    np.testing.assert_allclose(df["loss"], runs.loc[df["run"]].to_numpy())


def test_nsl_train_flag_and_columns(shared_data_dir: Path) -> None:
    lang = datasets.load("nsl_lang")
    vision = datasets.load("nsl_vision")
    for df in (lang, vision):
        assert df["train"].dtype == bool
        assert df["train"].any() and (~df["train"]).any()
        assert {"domain", "task", "model"} <= set(df.columns)
    assert set(lang["domain"]) == {"BB", "LM", "NMT"}
    assert set(vision["domain"]) == {"IC"}
    assert lang.loc[lang["domain"] == "LM", "N"].gt(1e7).all()
    assert "N" not in vision


def test_obs_scaling_units(shared_data_dir: Path) -> None:
    df = datasets.load("obs_scaling")
    llama2_7b = df[(df["model"] == "meta-llama/Llama-2-7b-hf") & (df["task"] == "MMLU")]
    row = llama2_7b.iloc[0]
    assert row["N"] == pytest.approx(7e9)
    assert row["D"] == pytest.approx(2e12)
    assert row["C"] == pytest.approx(6 * 7e9 * 2e12)
    assert df["task"].nunique() == 8


def test_openclip_and_segmentation(shared_data_dir: Path) -> None:
    clip = datasets.load("openclip")
    assert set(clip["dataset"]) == {"LAION-80M", "LAION-400M", "LAION-2B", "CLIP-WIT"}
    assert clip["task"].nunique() == 41
    seg = datasets.load("clip_mammut_segmentation")
    assert set(seg["family"]) == {"clip", "mammut"}
    assert (seg["task"] == "ade20k").all()


def test_porian_compute_is_6nd(shared_data_dir: Path) -> None:
    df = datasets.load("porian_isoflops")
    np.testing.assert_allclose(df["C"], 6 * df["N"] * df["D"], rtol=1e-6)
    assert set(df["dataset"]) == {"RefinedWeb", "OpenWebText2"}
