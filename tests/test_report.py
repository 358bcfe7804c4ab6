"""Tests of ``phy_c4.report``: figures: one per unit, one summary per recording."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from phy_c4.pipeline import PipelineOptions, classify, warm_up
from phy_c4.report import draw_unit, unit_probabilities, write_report
from phy_c4.weights import get_bundle

matplotlib.use("Agg")


def test_empty_figure_panels_say_why():
    """Item 8: a unit that could not be classified, and an ACG with no spike pairs (complex
    spikes), get panels that say why instead of bare axes."""
    import numpy as np
    from matplotlib.figure import Figure

    from phy_c4.report import draw_unit

    figure = Figure()
    draw_unit(figure, 7, None, probabilities={}, threshold=2.0, reason="too few spikes (12 < 100)")
    texts = [" ".join(t.get_text() for t in ax.texts) for ax in figure.axes[:3]]
    assert all("too few spikes" in text.replace("\n", " ") for text in texts), texts
    figure = Figure()
    draw_unit(figure, 8, {"acg_1d": np.zeros(201), "waveform": np.ones(90)},
              probabilities={"PkC_cs": 1.0},
              threshold=2.0)
    assert "no two spikes" in figure.axes[0].texts[0].get_text().replace("\n", " ")


@pytest.fixture(scope="module")
def tables_result(example_dir):
    return classify(example_dir, bundle="default", threshold=1.0,
                    options=PipelineOptions(quality=None, cache=False))


def test_unit_figure_draws_the_inputs_and_probabilities(tables_result):
    row = tables_result.table.iloc[0]
    unit = tables_result.features[int(row["cluster_id"])]
    figure = Figure()
    probabilities = unit_probabilities(row)
    draw_unit(figure, int(row["cluster_id"]), unit.inputs, probabilities=probabilities,
              threshold=2.0)
    ax_acg, ax_wvf, ax_prob = figure.axes[:3]
    heights = sorted(bar.get_height() for bar in ax_acg.patches)
    assert heights == sorted(unit.inputs["acg_1d"])  # the 1-D ACG the model read
    np.testing.assert_array_equal(ax_wvf.lines[0].get_ydata(), unit.inputs["waveform"])
    widths = [bar.get_width() for bar in ax_prob.patches]
    np.testing.assert_allclose(widths, list(probabilities.values()))


def test_unit_figure_draws_a_3d_acg(c4_bundle, example_dir):
    result = classify(example_dir, [0], bundle=c4_bundle,
                      options=PipelineOptions(quality=None, cache=False))
    figure = Figure()
    draw_unit(figure, 0, result.features[0].inputs,
              probabilities=unit_probabilities(result.table.iloc[0]),
              threshold=2.0)
    image = figure.axes[0].images[0].get_array()
    acg = result.features[0].inputs["acg_3d_log"]
    np.testing.assert_allclose(image, acg[:, acg.shape[1] // 2 + 1:] * 1000.0)


def test_report_writes_one_figure_per_unit_and_a_summary(tables_result, tmp_path):
    paths = write_report(tmp_path, tables_result)
    names = {p.name for p in paths}
    expected = {f"unit_{c}.png" for c in tables_result.table["cluster_id"]} | {"summary.png"}
    assert names == expected
    assert all(p.stat().st_size > 5000 for p in paths)  # drawn, not empty canvases


@pytest.mark.parametrize("which", ["default", "c4"])
def test_warm_up_prepares_every_family(which, c4_bundle):
    bundle = warm_up(get_bundle("default") if which == "default" else c4_bundle)
    assert bundle.spec is not None and bundle.network_factory is not None
