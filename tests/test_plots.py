"""Band plots: data, median, 50% and 90% bands, extrapolation shading."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import bayescale as bs  # noqa: E402
from bayescale.grid import path_inputs  # noqa: E402

#: A user's own settings, far from both matplotlib's defaults and bayescale's style sheet.
USER_RC = {"figure.figsize": (7.0, 5.0), "axes.labelsize": 17.0, "axes.titlesize": 15.0, "legend.fontsize": 13.0,
           "xtick.labelsize": 11.0, "axes.grid": False}


def test_plot_returns_axes_with_bands_and_labels(ladder_fit):
    fig, ax = plt.subplots()
    out = ladder_fit.plot(x="C", ax=ax, fixed={"D_per_N": 20})
    assert out is ax
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "compute" in ax.get_xlabel() and ax.get_ylabel() == "loss"
    assert len(ax.collections) >= 3  # two bands and the data points (and the extrapolation span)
    assert any(t.get_text() == "extrapolation" for t in ax.texts)
    plt.close(fig)


def test_the_band_plot_marks_where_the_law_error_stops_being_measured(ladder_fit):
    # at 20 tokens per parameter the curve's N and D grow by half the decades of C
    reach = bs.law_error.learned_reach()
    ax = ladder_fit.plot(x="C", fixed={"D_per_N": 20}, extrapolate=1e4)
    (line,) = [line for line in ax.lines if line.get_gid() == "learned_reach"]
    at = line.get_xdata()[0]
    step = (1e4 * ladder_fit.data["C"].max() / ladder_fit.data["C"].min()) ** (1 / 119)  # the plot's grid, 120 points
    path = path_inputs(ladder_fit, "C", [at / step, at], {"D_per_N": 20})
    before, after = ladder_fit.extrapolation_distance(path)
    assert before <= reach < after  # the first point of the curve past the reach
    assert any(t.get_text().startswith("law error measured up to here") for t in ax.texts)
    plt.close(ax.figure)
    for options in ({"extrapolate": 10}, {"extrapolate": 1e4, "law_error": False}):  # not that far; no law error
        ax = ladder_fit.plot(x="C", fixed={"D_per_N": 20}, **options)
        assert not [line for line in ax.lines if line.get_gid() == "learned_reach"]
        plt.close(ax.figure)


def test_plot_one_curve_per_group(hierarchical_fit):
    ax = hierarchical_fit.plot()
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert {"books", "code", "web"} <= set(labels)  # one entry per corpus: its runs and median
    plt.close(ax.figure)


def test_path_at_fixed_ratio_has_the_requested_compute(ladder_fit):
    frame = path_inputs(ladder_fit, "C", [1e20, 1e22], {"D_per_N": 20})
    assert (6 * frame["N"] * frame["D"]).tolist() == pytest.approx([1e20, 1e22])
    assert (frame["D"] / frame["N"]).tolist() == pytest.approx([20, 20])


def test_bad_axis_is_refused(ladder_fit):
    with pytest.raises(ValueError, match="x='steps' is not an input or derived feature"):
        ladder_fit.plot(x="steps")
    with pytest.raises(ValueError, match="extrapolate=0.5 must be >= 1"):
        ladder_fit.plot(extrapolate=0.5)


def test_plot_follows_the_users_rcparams(ladder_fit):
    with plt.rc_context(USER_RC):
        ax = ladder_fit.plot(x="C", ylabel="validation loss (nats/token)")
    assert tuple(ax.figure.get_size_inches()) == pytest.approx(USER_RC["figure.figsize"])
    assert ax.get_ylabel() == "validation loss (nats/token)"
    assert ax.xaxis.label.get_size() == ax.yaxis.label.get_size() == USER_RC["axes.labelsize"]
    assert ax.title.get_size() == USER_RC["axes.titlesize"]
    assert all(t.get_size() == USER_RC["xtick.labelsize"] for t in ax.get_xticklabels())
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"runs, posterior median", "50% credible band", "90% credible band"} <= set(labels)
    assert all(t.get_fontsize() == USER_RC["legend.fontsize"] for t in ax.get_legend().get_texts())
    assert not any(line.get_visible() for line in ax.get_xgridlines())
    plt.close(ax.figure)


def test_paper_style_is_opt_in(ladder_fit):
    with plt.rc_context(USER_RC), bs.plots.style():
        ax = ladder_fit.plot(x="C")
    assert tuple(ax.figure.get_size_inches()) == pytest.approx((4.0, 3.0))  # a journal column once scaled
    assert ax.xaxis.label.get_size() == 9 and ax.title.get_size() == 9
    assert all(t.get_fontsize() == 7.5 for t in ax.get_legend().get_texts())
    assert any(line.get_visible() for line in ax.get_xgridlines())
    plt.close(ax.figure)
    assert bs.plots.STYLE.is_file() and plt.rcParams["figure.figsize"] != [4.0, 3.0]  # the block restored them


def test_calibration_plot_follows_the_users_rcparams():
    coverage = pd.DataFrame({"method": ["a", "a", "b", "b"], "level": [0.5, 0.9, 0.5, 0.9],
                             "coverage": [0.4, 0.8, 0.5, 0.9]})  # fmt: skip
    with plt.rc_context(USER_RC):
        ax = bs.plot_calibration(coverage, title="reliability")
    assert tuple(ax.figure.get_size_inches()) == pytest.approx(USER_RC["figure.figsize"])
    assert ax.title.get_size() == USER_RC["axes.titlesize"]
    assert all(t.get_fontsize() == USER_RC["legend.fontsize"] for t in ax.get_legend().get_texts())
    plt.close(ax.figure)
