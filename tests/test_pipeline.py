"""Tests of ``phy_c4.pipeline``: `classify`, `prepare_units`, `warm_up`, the feature cache."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from phy_c4.cli import main
from phy_c4.io.tsv import read_cluster_column
from phy_c4.pipeline import CancelledError, PipelineOptions, classify
from phy_c4.status import Status, status_of
from phy_c4.weights import get_bundle, import_c4_archive
from tests.conftest import data_path, inputs_changed_on_purpose
from tests.npyx_e2e import DATA


def test_a_units_exact_duplicate_spike_times_are_dropped_like_np_unique():
    """C4 (npyx's ``trn``) drops exact duplicates; the first spike of each time is kept."""
    from phy_c4.pipeline import _unit_spikes

    rng = np.random.default_rng(1)
    for size in (0, 1, 2, 50, 5000):
        times = np.sort(rng.integers(0, size // 2 + 1, size))
        spike_ids = np.sort(rng.choice(10 * size + 1, size, replace=False))
        unique, first = _unit_spikes(spike_ids, times)
        expected, index = np.unique(times, return_index=True)
        assert np.array_equal(unique, expected) and np.array_equal(first, spike_ids[index])


def test_cli_refuses_a_layer_file_the_bundle_would_ignore_and_says_when_layers_are_missing(
        example_copy, tmp_path, capsys):
    from phy_c4.cli import main

    base = import_c4_archive(DATA / "trained_models.tar.gz", "base", dest=tmp_path / "base")
    layers = tmp_path / "layers.tsv"
    layers.write_text("cluster_id\tlayer\n0\tML\n")
    before = sorted(p.name for p in example_copy.iterdir())
    assert main(["classify", str(example_copy), "--bundle", str(base.path), "--layer",
                 str(layers), "--quiet"]) == 1
    assert "takes no layer input" in capsys.readouterr().err
    assert sorted(p.name for p in example_copy.iterdir()) == before  # nothing written
    layer = import_c4_archive(DATA / "layer" / "trained_models.tar.gz", "layer_information",
                              dest=tmp_path / "layer")
    (example_copy / "cluster_layer.tsv").unlink()
    inputs_changed_on_purpose(example_copy)
    assert main(["classify", str(example_copy), "--bundle", str(layer.path), "--clusters", "0",
                 "--threshold", "1", "--quiet", "--all-spikes"]) == 0
    assert "every unit's layer is 'unknown'" in capsys.readouterr().err


def test_run_manifest_records_the_feature_spec(surrogate):
    parameters = surrogate["result"].parameters
    assert parameters["feature_spec"] == surrogate["bundle"].spec.to_dict()
    assert parameters["feature_spec"]["isi"] == {"bin_ms": 1.0, "n_bins": 100,
                                                 "normalisation": "sqrt_probability_over_max"}


def test_pipeline_feeds_the_model_what_its_spec_says(example_copy):
    """The spec read from the manifest is what the pipeline computes with: a bundle whose spec
    says 2-ms ISI bins (and a network for it) gets 2-ms bins."""
    bundle = get_bundle("default")
    other = copy.copy(bundle)
    other.spec = dataclasses.replace(bundle.spec, isi=dataclasses.replace(bundle.spec.isi,
                                                                          bin_ms=2.0))
    normal = classify(example_copy, [0], bundle=bundle, options=PipelineOptions(quality=None))
    wide = classify(example_copy, [0], bundle=other, options=PipelineOptions(quality=None))
    narrow_isi, wide_isi = (r.features[0].inputs["isi"] for r in (normal, wide))
    np.testing.assert_array_equal(wide_isi[:50], narrow_isi[0::2] + narrow_isi[1::2])
    assert wide.parameters["feature_spec"]["isi"]["bin_ms"] == 2.0


def test_every_unit_gets_a_row_and_the_table_is_deterministic(example_copy, c4_bundle):
    calls = []
    result = classify(example_copy, bundle=c4_bundle, progress=lambda *a: calls.append(a))
    table = result.table
    truth = read_cluster_column(example_copy / "cluster_true_type.tsv")
    assert sorted(table["cluster_id"]) == sorted(truth)
    assert {"c4_type", "c4_confidence", "c4_ratio", "c4_votes", "c4_model", "c4_status"} <= set(
        table.columns)
    assert all(f"c4_p_{label}" in table for label in c4_bundle.labels)
    classified = table[np.isfinite(table["c4_confidence"])]
    assert len(classified) >= 3
    typed_without = table[(table["c4_type"] != "") & ~np.isfinite(table["c4_confidence"])]
    assert all("from CS-SS pause" in s for s in typed_without["c4_status"])  # a pair typed it
    np.testing.assert_allclose(classified[[f"c4_p_{k}" for k in c4_bundle.labels]].sum(axis=1), 1,
                               atol=1e-6)
    assert calls and calls[-1][0] == calls[-1][1]
    again = classify(example_copy, bundle=c4_bundle, options=PipelineOptions(cache=False))
    assert again.table.equals(table)


def test_statuses_of_unclassifiable_units(example_copy, c4_bundle):
    demanding = copy.copy(c4_bundle)  # the spike floor is part of the bundle's feature spec
    demanding.spec = dataclasses.replace(c4_bundle.spec, min_spikes=100_000)
    no_pairs = PipelineOptions(pairing=None)  # a pair would type units the network cannot
    result = classify(example_copy, [0, 1, 999], bundle=demanding, options=no_pairs)
    assert list(result.table["c4_type"]) == ["", "", ""]
    assert result.table["c4_status"].iloc[0].startswith("too few spikes")
    assert result.table["c4_status"].iloc[2] == "no spikes"


def test_low_threshold_classifies_what_high_threshold_does_not(example_copy, c4_bundle):
    no_pairs = PipelineOptions(pairing=None)  # a pair types its units whatever the threshold
    low = classify(example_copy, bundle=c4_bundle, threshold=1.0, options=no_pairs).table
    high = classify(example_copy, bundle=c4_bundle, threshold=1e9, options=no_pairs).table
    ok = low["c4_status"].map(lambda s: status_of(s) == Status.OK)
    assert ok.any()
    assert (high.loc[ok, "c4_type"] == "unclassified").all()
    assert high.loc[ok, "c4_status"].str.startswith("below confidence-ratio threshold").all()


def test_cancel_stops_between_units(example_copy, c4_bundle):
    """Cancelling while the third unit is prepared stops there: no later unit is computed."""
    import phy_c4.pipeline as pipeline

    seen = []
    real = pipeline._finish_unit

    def counting(recording, cluster_id, *args, **kwargs):
        seen.append(cluster_id)
        return real(recording, cluster_id, *args, **kwargs)

    pipeline._finish_unit, original = counting, pipeline._finish_unit
    try:
        with pytest.raises(CancelledError, match="cancelled after 2 of 5"):
            classify(example_copy, bundle=c4_bundle, cancel=lambda: len(seen) >= 2,
                     options=PipelineOptions(quality=None, cache=False))
    finally:
        pipeline._finish_unit = original
    assert seen == [0, 1]
    with pytest.raises(CancelledError, match="cancelled after 0"):
        classify(example_copy, bundle=c4_bundle, cancel=lambda: True)


def test_layer_input_from_cli_file_and_folder(example_copy, tmp_path, capsys):
    """A layer bundle reads --layer (or the folder's cluster_layer.tsv): changing one unit's
    layer changes that unit's probabilities only."""
    from phy_c4.weights import import_c4_archive

    bundle = import_c4_archive(data_path("reference", "c4_format", "layer",
                                           "trained_models.tar.gz"),
                               "layer_information_mli_clustering", dest=tmp_path / "layer")
    options = PipelineOptions(quality=None)
    base = classify(example_copy, bundle=bundle, threshold=1.0, layer={0: "GCL", 1: "GCL"},
                    options=options).table.set_index("cluster_id")
    moved = classify(example_copy, bundle=bundle, threshold=1.0, layer={0: "ML", 1: "GCL"},
                     options=options).table.set_index("cluster_id")
    p_columns = [c for c in base.columns if c.startswith("c4_p_")]
    assert not np.allclose(base.loc[0, p_columns].astype(float),
                           moved.loc[0, p_columns].astype(float))
    np.testing.assert_allclose(base.loc[1, p_columns].astype(float),
                               moved.loc[1, p_columns].astype(float))
    layer_file = tmp_path / "layers.tsv"
    layer_file.write_text("cluster_id\tlayer\n0\tML\n1\tGCL\n")
    assert main(["classify", str(example_copy), "--bundle", str(bundle.path), "--all-spikes",
                 "--layer", str(layer_file), "--threshold", "1", "--quiet"]) == 0
    saved = read_cluster_column(example_copy / "cluster_c4_confidence.tsv")
    assert float(saved[0]) == pytest.approx(moved.loc[0, "c4_confidence"], abs=1e-4)
    # without --layer, the folder's own cluster_layer.tsv is read
    folder_layers = read_cluster_column(example_copy / "cluster_layer.tsv")
    expected = classify(example_copy, bundle=bundle, threshold=1.0, layer=folder_layers,
                        options=options).table.set_index("cluster_id")
    assert main(["classify", str(example_copy), "--bundle", str(bundle.path), "--all-spikes",
                 "--threshold", "1", "--quiet", "--overwrite"]) == 0
    saved = read_cluster_column(example_copy / "cluster_c4_confidence.tsv")
    for cluster_id, value in saved.items():
        assert float(value) == pytest.approx(expected.loc[cluster_id, "c4_confidence"], abs=1e-4)
    assert folder_layers != {0: "ML", 1: "GCL"}
