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


def test_every_unit_gets_a_row_and_the_table_is_deterministic(example_copy, c4_bundle):
    calls = []
    result = classify(example_copy, bundle=c4_bundle, progress=lambda *a: calls.append(a))
    table = result.table
    truth = read_cluster_column(example_copy / "cluster_true_type.tsv")
    assert sorted(table["cluster_id"]) == sorted(truth)
    assert {"c4_type", "c4_confidence", "c4_ratio", "c4_votes", "c4_model", "c4_status"} <= set(
        table.columns)
    assert all(f"c4_p_{label}" in table for label in c4_bundle.labels)
    classified = table[table["c4_type"] != ""]
    assert len(classified) >= 3
    np.testing.assert_allclose(classified[[f"c4_p_{k}" for k in c4_bundle.labels]].sum(axis=1), 1,
                               atol=1e-6)
    assert calls and calls[-1][0] == calls[-1][1]
    again = classify(example_copy, bundle=c4_bundle, options=PipelineOptions(cache=False))
    assert again.table.equals(table)


def test_statuses_of_unclassifiable_units(example_copy, c4_bundle):
    demanding = copy.copy(c4_bundle)  # the spike floor is part of the bundle's feature spec
    demanding.spec = dataclasses.replace(c4_bundle.spec, min_spikes=100_000)
    result = classify(example_copy, [0, 1, 999], bundle=demanding)
    assert list(result.table["c4_type"]) == ["", "", ""]
    assert result.table["c4_status"].iloc[0].startswith("too few spikes")
    assert result.table["c4_status"].iloc[2] == "no spikes"


def test_low_threshold_classifies_what_high_threshold_does_not(example_copy, c4_bundle):
    low = classify(example_copy, bundle=c4_bundle, threshold=1.0).table
    high = classify(example_copy, bundle=c4_bundle, threshold=1e9).table
    ok = low["c4_status"] == "ok"
    assert ok.any()
    assert (high.loc[ok, "c4_type"] == "unclassified").all()
    assert high.loc[ok, "c4_status"].str.startswith("below confidence-ratio threshold").all()


def test_cache_follows_merges(example_copy, c4_bundle):
    first = classify(example_copy, bundle=c4_bundle, options=PipelineOptions(quality=None))
    clusters = np.load(example_copy / "spike_clusters.npy").astype(np.int64)
    merged = np.where(np.isin(clusters, [2, 3]), 100, clusters)
    after = classify(example_copy, bundle=c4_bundle, spike_clusters=merged,
                     options=PipelineOptions(quality=None))
    assert 100 in set(after.table["cluster_id"]) and 2 not in set(after.table["cluster_id"])
    row = after.table.set_index("cluster_id").loc[100]
    assert row["c4_status"] in ("ok",) or row["c4_status"].startswith("below")
    unchanged = first.table.set_index("cluster_id").loc[0]
    np.testing.assert_allclose(after.table.set_index("cluster_id").loc[0, "c4_confidence"],
                               unchanged["c4_confidence"])


def test_cancel_stops_between_units(example_copy, c4_bundle):
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


def test_dask_local_cluster(example_copy, c4_bundle, capsys):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        code = main(["classify", str(example_copy), "--bundle", str(c4_bundle.path), "--json",
                     "--dask", cluster.scheduler_address])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["recordings"][0]["ok"]


def test_demo_runs_the_main_job_with_the_shipped_default_weights(tmp_path, capsys):
    out = tmp_path / "example"
    code = main(["demo", "--out", str(out), "--units-per-type", "1", "--duration", "200",
                 "--channels", "2", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)["recordings"][0]
    assert summary["ok"] and summary["units"] == 5 and summary["bundle"] == "c4-tables@2"
    assert (out / "cluster_c4_type.tsv").is_file()
    assert (out / "cell_type_classification" / "figures" / "summary.png").is_file()
