"""Reading folders, the quality filter, waveforms and result files."""

from __future__ import annotations

import pytest

from phy_c4.io import read_cluster_column, write_cluster_column


def test_tsv_round_trip_and_malformed_files(tmp_path):
    write_cluster_column(tmp_path, "layer", {3: "GCL", 1: "ML"})
    assert read_cluster_column(tmp_path / "cluster_layer.tsv") == {1: "ML", 3: "GCL"}
    (tmp_path / "bad.tsv").write_text("cluster_id\tlayer\nx\tGCL\n")
    with pytest.raises(ValueError, match="not an integer"):
        read_cluster_column(tmp_path / "bad.tsv")
    with pytest.raises(ValueError, match="invalid column"):
        write_cluster_column(tmp_path, "a/b", {})
