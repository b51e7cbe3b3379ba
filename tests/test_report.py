"""The HTML report: one self-contained page with embedded figures and the requested sections."""

import base64
import re

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.report import parse_at, write_report


# compiles a sampler no quick test shares: every test that uses it is marked long (pyproject.toml)
@pytest.fixture(scope="module")
def fit():
    rng = np.random.default_rng(0)
    N = np.repeat(np.geomspace(1e7, 1e9, 5), 4)
    D = N * np.tile([5.0, 10.0, 20.0, 40.0], 5)
    loss = (1.8 + 480 * N**-0.34 + 2000 * D**-0.37) * np.exp(0.01 * rng.standard_normal(N.size))
    df = pd.DataFrame({"params": N, "tokens": D, "loss": loss})
    return bs.fit(df, law="chinchilla", inputs={"N": "params", "D": "tokens"}, chains=2, draws=200, warmup=200,
                  seed=0, progress=False)


@pytest.mark.long
def test_report_is_one_page_with_png_figures(fit, tmp_path):
    path = write_report(fit, tmp_path / "sub" / "report.html", at="N=7e9,D=1.4e11;N=7e10,D=1.4e12",
                        compute_optimal=[1e21, 1e23], title="Test <report>")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    for heading in ("Law", "Data", "Diagnostics", "Parameters", "Fit and uncertainty bands", "Predictions",
                    "Compute-optimal allocation"):
        assert f"<h2>{heading}</h2>" in text
    assert "Test &lt;report&gt;" in text  # escaped
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 2
    for data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "src=\"http" not in text and "<script" not in text  # self-contained
    assert text.count("<tr>") > 10  # parameter, prediction and allocation tables
    # N=7e10 is ~3 decades past the runs: the report says the interval there is not measured
    assert "<b>Beyond the measured law error:</b> 2 of 2 rows" in text
    # and so is the optimum at 1e23 FLOPs (N* ~ 3e10, D* ~ 6e11)
    assert re.search(r"Beyond the measured law error:</b> 1 of 2 budgets&#x27; optima \(budgets&#x27; optima C=1e\+23\)", text)


def test_parse_at():
    rows = parse_at("N=7e9,D=2e12; N=1e10,D=3e12,dataset=c4")
    assert rows.shape == (2, 3) and rows.loc[0, "N"] == 7e9 and rows.loc[1, "dataset"] == "c4"
    with pytest.raises(ValueError, match="name=value"):
        parse_at("N7e9")
    assert parse_at(None) is None


@pytest.mark.long
def test_report_has_the_leave_future_out_check(fit, tmp_path):
    check = fit.calibrate()  # the fit's own settings: its compiled program, held-out runs masked
    text = write_report(fit, tmp_path / "report.html", calibration=check).read_text()
    assert "<h2>Leave-future-out check</h2>" in text
    assert f"Refit without the {len(check.runs)} largest runs" in text and f"x{check.factor:.2f}" in text


@pytest.mark.long
def test_report_names_the_next_runs_that_would_help_most(fit, tmp_path):
    candidates = pd.DataFrame({"N": [3e8, 1e9, 2e9, 5e7], "D": [6e9, 2e10, 4e10, 1e9]})
    table = bs.next_runs(fit, candidates, pd.DataFrame({"N": [7e9], "D": [1.4e11]}), k=2)
    text = write_report(fit, tmp_path / "r.html", next_runs=table).read_text()
    section = text.split("The next runs that would help most", 1)[1]
    assert "Target: Prediction(1 rows)" in section and "The 2 run(s) marked" in section
    assert f"{table.attrs['var_now']:.4g}" in section
    with pytest.raises(ValueError, match="next_runs= must be"):
        write_report(fit, tmp_path / "bad.html", next_runs=candidates)
