"""Every CLI command runs (in-process, sharing compiled samplers), plus the console script."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pandas as pd
import pytest

import bayescale as bs
from bayescale.cli import main


@pytest.fixture(scope="module")
def saved_fits(tmp_path_factory, ladder_fit):
    """Two saved fits of the embedded ladder: one made by `bayescale fit`, one by the API."""
    folder = tmp_path_factory.mktemp("cli")
    csv = folder / "runs.csv"
    bs.examples.load("chinchilla_ladder").to_csv(csv, index=False)
    code = main(["fit", str(csv), "--law", "kaplan", "--inputs", "N=params,D=tokens", "--chains", "2",
                 "--draws", "150", "--warmup", "150", "--quiet", "--out", str(folder / "kaplan.nc")])
    assert code == 0
    ladder_fit.save(folder / "chinchilla.nc")
    return folder


@pytest.mark.long
def test_fit_writes_a_loadable_file(saved_fits):
    fit = bs.load(saved_fits / "kaplan.nc")
    assert fit.law.name == "kaplan" and fit.idata.posterior.sizes["draw"] == 150


@pytest.mark.long
def test_fit_near_optimal_drops_the_far_ends_of_a_sweep(saved_fits, tmp_path, capsys):
    ladder = bs.examples.load("chinchilla_ladder")
    runs = ladder.assign(budget=range(len(ladder)))  # each run its own sweep: every one is its sweep's best
    far = ladder.head(3).assign(budget=[0, 1, 2], loss=ladder["loss"].head(3) * 1.5)  # 50% above their sweep's best
    csv = tmp_path / "sweeps.csv"
    pd.concat([runs, far]).to_csv(csv, index=False)
    out = tmp_path / "near.nc"
    code = main(["fit", str(csv), "--law", "kaplan", "--inputs", "N=params,D=tokens", "--chains", "2", "--draws", "150",
                 "--warmup", "150", "--quiet", "--near-optimal", "budget", "--out", str(out)])  # fmt: skip
    assert code == 0
    assert f"fitting the {len(ladder)} of {len(ladder) + 3} runs near their 'budget' budget's best" in capsys.readouterr().out
    assert len(bs.load(out).data) == len(ladder) and bs.load(out).data["loss"].max() == ladder["loss"].max()
    with pytest.raises(SystemExit, match="--within 0.2 needs --near-optimal BUDGET"):
        main(["fit", str(csv), "--within", "0.2", "--out", str(out)])


def test_predict_at_points(saved_fits, capsys):
    assert main(["predict", str(saved_fits / "chinchilla.nc"), "--at", "N=7e9,D=2e12", "--at", "N=1e9,D=2e10"]) == 0
    out = capsys.readouterr().out
    assert "pred_upper" in out and "7e+09" in out


def test_predict_to_csv(saved_fits, tmp_path):
    points = tmp_path / "points.csv"
    pd.DataFrame({"params": [1e9], "tokens": [2e10]}).to_csv(points, index=False)
    assert main(["predict", str(saved_fits / "chinchilla.nc"), "--csv", str(points), "--out", str(tmp_path / "p.csv")]) == 0
    table = pd.read_csv(tmp_path / "p.csv")
    assert table["lower"].iloc[0] <= table["median"].iloc[0] <= table["upper"].iloc[0]


def test_compare_saved_fits(saved_fits, capsys):
    assert main(["compare", str(saved_fits / "chinchilla.nc"), str(saved_fits / "kaplan.nc")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("chinchilla")  # best first


def test_plot_writes_an_image(saved_fits, tmp_path):
    out = tmp_path / "band.png"
    assert main(["plot", str(saved_fits / "chinchilla.nc"), "--x", "C", "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"


def test_laws_listing_and_description(capsys):
    assert main(["laws"]) == 0 and "chinchilla" in capsys.readouterr().out
    assert main(["laws", "kaplan"]) == 0 and "alpha_N" in capsys.readouterr().out


def test_errors_are_one_line_and_exit_1(saved_fits, capsys):
    assert main(["predict", str(saved_fits / "chinchilla.nc"), "--at", "N=7e9"]) == 1
    assert "error:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["predict", str(saved_fits / "chinchilla.nc"), "--at", "N=7B,D=1e12"])


@pytest.mark.long
def test_demo_runs_offline(tmp_path, capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["demo", "--out", str(tmp_path), "--draws", "150", "--quiet"]) == 0
    # told under their tables instead
    assert not [w for w in caught if issubclass(w.category, (bs.LOOWarning, bs.ExtrapolationWarning))]
    out = capsys.readouterr().out
    assert "comparison by PSIS-LOO" in out and "100x" in out and "band plot" in out
    assert "note: 3 of 6 rows (rows 3, 4, 5) lie up to 2.0 decades beyond the fitted runs" in out  # the 100x rows
    assert (tmp_path / "demo_bands.png").exists() and (tmp_path / "demo_chinchilla.nc").exists()


def test_console_script_entry_point():
    result = subprocess.run([sys.executable, "-m", "bayescale.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == bs.__version__


def test_version_prints_the_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == bs.__version__


@pytest.mark.long
def test_python_dash_m_bayescale_shows_the_commands():
    result = subprocess.run([sys.executable, "-m", "bayescale", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: bayescale")
    for command in ("fit", "predict", "compare", "plot", "report", "zoo", "laws", "demo"):
        assert command in result.stdout
    version = subprocess.run([sys.executable, "-m", "bayescale", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == bs.__version__


def test_report_writes_a_page_with_embedded_figures(saved_fits, tmp_path, capsys):
    out = tmp_path / "report.html"
    code = main(["report", str(saved_fits / "chinchilla.nc"), "--out", str(out), "--at", "N=7e9,D=2e12",
                 "--compare", str(saved_fits / "kaplan.nc"), "--compute-optimal", "1e21,1e22"])
    assert code == 0
    page = out.read_text()
    assert page.count("data:image/png;base64,") >= 2 and "kaplan" in page and "7e+09" in page.replace("7.000e+09", "7e+09")


def test_zoo_list(capsys):
    assert main(["zoo", "list"]) == 0
    assert "chinchilla/chinchilla" in capsys.readouterr().out


def test_predict_without_the_law_error_is_narrower_far_out(saved_fits, tmp_path):
    far = ["--at", "N=7e10,D=2e12"]
    assert main(["predict", str(saved_fits / "chinchilla.nc"), *far, "--out", str(tmp_path / "with.csv")]) == 0
    assert main(["predict", str(saved_fits / "chinchilla.nc"), *far, "--no-law-error", "--out", str(tmp_path / "law.csv")]) == 0
    width = {name: (t["pred_upper"] - t["pred_lower"]).iloc[0]
             for name in ("with", "law") for t in [pd.read_csv(tmp_path / f"{name}.csv")]}  # fmt: skip
    assert width["law"] < width["with"]
