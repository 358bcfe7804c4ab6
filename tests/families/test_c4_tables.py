"""Tests of ``phy_c4.families.c4_tables``: the table-feature family of the shipped default."""

from __future__ import annotations

from phy_c4.pipeline import classify
from phy_c4.status import Status, status_of
from phy_c4.weights import get_bundle


def test_the_shipped_default_declares_the_tables_conventions():
    spec = get_bundle("default").spec
    assert spec.isi.bin_ms == 1.0 and spec.isi.n_bins == 100 and spec.isi.range_s == (0, 0.1)
    assert spec.acg.half_width_ms == 100 and spec.acg.bin_ms == 1.0
    assert spec.waveform.n_samples == 75 and spec.waveform.peak_index == 30


def test_pipeline_runs_a_tabular_bundle(example_copy, small_bundle):
    result = classify(example_copy, bundle=small_bundle[0], threshold=1.0)
    ok = result.table["c4_status"].map(lambda s: status_of(s) == Status.OK)
    assert ok.sum() >= 3
    assert set(result.table.loc[ok, "c4_type"]) <= set(small_bundle[0].labels)
    unit = result.features[int(result.table.loc[ok, "cluster_id"].iloc[0])]
    assert unit.inputs["acg_1d"].shape == (201,) and unit.inputs["isi"].shape == (100,)
    assert unit.inputs["waveform"].shape == (75,)
