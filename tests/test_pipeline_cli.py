"""The pipeline and the CLI on a generated recording: every unit a row, files, exit codes."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest

from phy_c4.cli import main
from phy_c4.io.tsv import read_cluster_column
from phy_c4.pipeline import CancelledError, PipelineOptions, classify
from phy_c4.status import Status, status_of


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


def test_cache_follows_the_spikes_not_the_ids(example_copy, c4_bundle, monkeypatch):
    """After a merge only the new cluster is computed again; a cluster id that now holds other
    spikes (ids 0 and 1 swapped) gets the other cluster's result, not its cached one."""
    import phy_c4.pipeline as pipeline

    calls = []
    real = pipeline._finish_unit
    monkeypatch.setattr(pipeline, "_finish_unit",
                        lambda recording, cluster_id, *a, **k: calls.append(cluster_id)
                        or real(recording, cluster_id, *a, **k))
    options = PipelineOptions(quality=None)
    first_result = classify(example_copy, bundle=c4_bundle, options=options)
    first = first_result.table.set_index("cluster_id")
    assert sorted(calls) == [0, 1, 2, 3, 4]
    clusters = np.load(example_copy / "spike_clusters.npy").astype(np.int64)
    merged = np.where(np.isin(clusters, [2, 3]), 100, clusters)
    calls.clear()
    after_result = classify(example_copy, bundle=c4_bundle, spike_clusters=merged,
                            options=options)
    assert calls == [100]  # 0, 1 and 4 came from the cache
    after = after_result.table.set_index("cluster_id")
    assert 2 not in after.index and 100 in after.index
    _assert_same_inputs(after_result.features[0], first_result.features[0])
    # the network sees another batch of units: torch's kernels may round the last bits apart
    assert after.loc[0, "c4_confidence"] == pytest.approx(first.loc[0, "c4_confidence"],
                                                          rel=1e-6)
    swapped = np.where(clusters == 0, 1, np.where(clusters == 1, 0, clusters))
    again_result = classify(example_copy, bundle=c4_bundle, spike_clusters=swapped,
                            options=options)
    again = again_result.table.set_index("cluster_id")
    _assert_same_inputs(again_result.features[0], first_result.features[1])
    _assert_same_inputs(again_result.features[1], first_result.features[0])
    for column in ("c4_confidence", "c4_ratio"):
        assert again.loc[0, column] == pytest.approx(first.loc[1, column], rel=1e-6), column
        assert again.loc[1, column] == pytest.approx(first.loc[0, column], rel=1e-6), column
    assert again.loc[0, "c4_type"] == first.loc[1, "c4_type"]
    assert again.loc[1, "c4_type"] == first.loc[0, "c4_type"]


def _assert_same_inputs(unit, other) -> None:
    """The model inputs of two units are the same arrays, bit for bit."""
    assert unit.inputs.keys() == other.inputs.keys()
    for name, values in unit.inputs.items():
        assert np.array_equal(values, other.inputs[name], equal_nan=True), name


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


def test_cli_writes_columns_and_summary(example_copy, c4_bundle, capsys):
    assert main(["classify", str(example_copy), "--bundle", str(c4_bundle.path), "--json",
                 "--threshold", "1.0"]) == 0
    summary = json.loads(capsys.readouterr().out)["recordings"][0]
    assert summary["ok"] and summary["units"] == 5
    types = read_cluster_column(example_copy / "cluster_c4_type.tsv")
    assert len(types) == 5
    # second run without --overwrite: refused, exit 1, one line of reason
    assert main(["classify", str(example_copy), "--bundle", str(c4_bundle.path)]) == 1
    assert "already has C4 results" in capsys.readouterr().err


def test_cli_one_bad_recording_does_not_stop_the_others(example_copy, c4_bundle, tmp_path,
                                                        capsys):
    code = main(["classify", str(tmp_path / "missing"), str(example_copy), "--bundle",
                 str(c4_bundle.path), "--clusters", "0,2-3", "--quiet", "--report"])
    err = capsys.readouterr().err
    assert code == 1
    assert "FAILED" in err and "no params.py" in err
    assert len(read_cluster_column(example_copy / "cluster_c4_type.tsv")) == 3
    figures = example_copy / "cell_type_classification" / "figures"
    assert (figures / "summary.png").is_file() and (figures / "unit_2.png").is_file()


def test_cli_usage_errors(capsys):
    with pytest.raises(SystemExit) as info:
        main(["classify"])
    assert info.value.code == 2
    assert main(["classify", "/tmp", "--bundle", "no-such-bundle"]) == 1


def test_dask_local_cluster(example_copy, c4_bundle, capsys, tmp_path):
    """The docs/interop.md example: one task per recording; a failed recording is reported and
    the others still finish; progress per recording on stderr."""
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        code = main(["classify", str(example_copy), str(tmp_path / "missing"), "--bundle",
                     str(c4_bundle.path), "--dask", cluster.scheduler_address])
    assert code == 1
    captured = capsys.readouterr()
    assert "1/2 recordings done" in captured.err and "2/2 recordings done" in captured.err
    assert "FAILED" in captured.err and "no params.py" in captured.err
    assert len(read_cluster_column(example_copy / "cluster_c4_type.tsv")) == 5


def test_demo_runs_the_main_job_with_the_shipped_default_weights(tmp_path, capsys):
    out = tmp_path / "example"
    code = main(["demo", "--out", str(out), "--units-per-type", "1", "--duration", "200",
                 "--channels", "2", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)["recordings"][0]
    assert summary["ok"] and summary["units"] == 5 and summary["bundle"] == "c4-tables@4"
    assert (out / "cluster_c4_type.tsv").is_file()
    assert (out / "cell_type_classification" / "figures" / "summary.png").is_file()


def test_layer_input_from_cli_file_and_folder(example_copy, tmp_path, capsys):
    """A layer bundle reads --layer (or the folder's cluster_layer.tsv): changing one unit's
    layer changes that unit's probabilities only."""
    from phy_c4.weights import import_c4_archive
    from tests.conftest import data_path

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
