"""Band plots: data, median, 50% and 90% bands, extrapolation shading."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from bayescale.plots import FIGSIZE, FONT, path_inputs  # noqa: E402


def test_plot_returns_axes_with_bands_and_labels(ladder_fit):
    fig, ax = plt.subplots()
    out = ladder_fit.plot(x="C", ax=ax, fixed={"D_per_N": 20})
    assert out is ax
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "compute" in ax.get_xlabel() and ax.get_ylabel() == "loss"
    assert len(ax.collections) >= 3  # two bands and the data points (and the extrapolation span)
    assert any(t.get_text() == "extrapolation" for t in ax.texts)
    plt.close(fig)


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


def test_default_figure_is_column_sized_with_a_band_legend_and_a_custom_label(ladder_fit):
    ax = ladder_fit.plot(x="C", ylabel="validation loss (nats/token)")
    assert tuple(ax.figure.get_size_inches()) == pytest.approx(FIGSIZE)
    assert ax.get_ylabel() == "validation loss (nats/token)"
    assert ax.xaxis.label.get_size() == FONT["label"]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"runs, posterior median", "50% credible band", "90% credible band"} <= set(labels)
    assert all(t.get_fontsize() == FONT["legend"] for t in ax.get_legend().get_texts())
    plt.close(ax.figure)
