"""Tests of ``phy_c4.io.results``: result columns and the audit folder, as Phy and npyx users
read them.
"""

from __future__ import annotations

import json

import numpy as np

from phy_c4.cli import main


def test_clusters_run_keeps_the_empty_rows_of_untouched_clusters(example_copy):
    """Item 9: a --clusters run changes only its rows; "no pair" (empty) rows of the others
    stay in the type/pair/votes files."""
    from phy_c4.cli import main

    assert main(["classify", str(example_copy), "--all-spikes", "--group", "all",
                 "--quiet"]) == 0
    names = ("cluster_c4_type.tsv", "cluster_c4_pair.tsv", "cluster_c4_votes.tsv")

    def rows(name: str) -> dict[str, str]:
        lines = (example_copy / name).read_text().splitlines()[1:]
        return {line.split("\t")[0]: line for line in lines}

    before = {name: rows(name) for name in names}
    assert any(line.endswith("\t") for line in before["cluster_c4_pair.tsv"].values())
    assert main(["classify", str(example_copy), "--all-spikes", "--clusters", "0",
                 "--overwrite", "--quiet"]) == 0
    for name in names:
        after = rows(name)
        assert {c: v for c, v in after.items() if c != "0"} == \
            {c: v for c, v in before[name].items() if c != "0"}, name


def test_audit_saves_every_model_input_and_a_typed_manifest(example_copy):
    assert main(["classify", str(example_copy), "--quiet", "--all-spikes"]) == 0
    audit = example_copy / "cell_type_classification"
    with np.load(audit / "phy_c4_features.npz") as features:
        assert {"cluster_ids", "waveform", "acg_1d", "isi"} <= set(features.files)
        n = features["cluster_ids"].size
        assert features["waveform"].shape == (n, 75) and features["isi"].shape == (n, 100)
    manifest = json.loads((audit / "phy_c4_run.json").read_text())
    assert manifest["parameters"]["quality"] is None
    assert manifest["parameters"]["feature_spec"]["isi"]["bin_ms"] == 1.0
