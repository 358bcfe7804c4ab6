"""Tests of ``phy_c4.io.nwb``: results into an NWB units table, with provenance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from phy_c4.cli import main
from phy_c4.io.tsv import read_cluster_column


def test_export_nwb_says_what_dandi_refuses_and_replaces_columns_only_when_asked(
        example_copy, tmp_path, capsys):
    """Item 5: one warning line naming the subject fields nwbinspector calls CRITICAL (and the
    options that set them); a second export is refused, then replaces the columns with
    --overwrite, and the file still reads and inspects cleanly."""
    pytest.importorskip("pynwb")
    import pynwb
    from nwbinspector import inspect_nwbfile

    from phy_c4.cli import main
    from phy_c4.io.tsv import read_cluster_column

    def critical(path: Path) -> list[str]:
        return [m.message for m in inspect_nwbfile(nwbfile_path=str(path))
                if m.importance.name == "CRITICAL"]

    assert main(["classify", str(example_copy), "--quiet", "--all-spikes", "--group",
                 "all"]) == 0
    bare = tmp_path / "bare.nwb"
    assert main(["export-nwb", str(example_copy), "--nwb", str(bare)]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warning) == 1 and "subject id, species, sex, age" in warning[0]
    assert "--sex" in warning[0] and "--age" in warning[0]
    assert any("ubject" in m for m in critical(bare))  # the warning tells the truth

    path = tmp_path / "units.nwb"
    subject = ["--subject-id", "m1", "--species", "Mus musculus", "--sex", "U", "--age", "P90D"]
    assert main(["export-nwb", str(example_copy), "--nwb", str(path), *subject]) == 0
    assert "warning" not in capsys.readouterr().err
    assert not critical(path)
    assert main(["export-nwb", str(example_copy), "--nwb", str(path)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["export-nwb", str(example_copy), "--nwb", str(path), "--overwrite"]) == 0
    with pynwb.NWBHDF5IO(str(path)) as io:
        units = io.read().units.to_dataframe()
    assert list(units.columns).count("c4_type") == 1
    assert {int(i): t for i, t in units["c4_type"].items()} == read_cluster_column(
        example_copy / "cluster_c4_type.tsv")
    assert not critical(path)


pynwb = pytest.importorskip("pynwb")


def test_export_nwb_new_file_opens_with_every_column_and_passes_nwbinspector(example_copy,
                                                                          tmp_path):
    from nwbinspector import inspect_nwbfile

    assert main(["classify", str(example_copy), "--quiet", "--all-spikes", "--group",
                 "all"]) == 0
    (example_copy / "cluster_cell_type.tsv").write_text("cluster_id\tcell_type\n0\tPkC_ss\n")
    path = tmp_path / "units.nwb"
    assert main(["export-nwb", str(example_copy), "--nwb", str(path), "--subject-id", "m1",
                 "--species", "Mus musculus", "--sex", "U", "--age", "P90D"]) == 0
    with pynwb.NWBHDF5IO(str(path)) as io:
        units = io.read().units.to_dataframe()
        description = io.read().units.description
    expected = {"c4_type", "c4_confidence", "c4_ratio", "c4_votes", "c4_status", "c4_model",
                "c4_pair", "c4_novelty", "cell_type", "cell_type_source", "spike_times"}
    assert expected <= set(units.columns)
    assert {c for c in units.columns if c.startswith("c4_p_")} == {
        "c4_p_GoC", "c4_p_MLI", "c4_p_MFB", "c4_p_PkC_ss", "c4_p_PkC_cs"}
    types = read_cluster_column(example_copy / "cluster_c4_type.tsv")
    assert {int(i): t for i, t in units["c4_type"].items()} == types
    assert units.loc[0, "cell_type"] == "PkC_ss" and units.loc[0, "cell_type_source"] == "manual"
    spikes = np.load(example_copy / "spike_times.npy")[np.load(
        example_copy / "spike_clusters.npy") == 0] / 30000.0
    np.testing.assert_allclose(units.loc[0, "spike_times"], spikes)
    manifest = json.loads((example_copy / "cell_type_classification" /
                           "phy_c4_run.json").read_text())
    provenance = json.loads(description.split("Provenance: ", 1)[1])
    assert provenance["bundle_sha256"] == manifest["parameters"]["bundle_sha256"]
    assert provenance["feature_spec"] == manifest["parameters"]["feature_spec"]
    assert provenance["inputs"] == manifest["parameters"]["inputs"]
    critical = [m for m in inspect_nwbfile(nwbfile_path=str(path))
                if m.importance.name == "CRITICAL"]
    assert not critical, [m.message for m in critical]


def test_export_nwb_appends_to_a_file_whose_units_match(example_copy, tmp_path, capsys):
    from datetime import datetime, timezone

    assert main(["classify", str(example_copy), "--quiet", "--all-spikes"]) == 0
    path = tmp_path / "existing.nwb"
    nwbfile = pynwb.NWBFile(session_description="s", identifier="x",
                            session_start_time=datetime.now(timezone.utc))  # noqa: UP017
    for unit in range(5):
        nwbfile.add_unit(spike_times=[0.1 * (unit + 1)], id=unit)
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    assert main(["export-nwb", str(example_copy), "--nwb", str(path)]) == 0
    with pynwb.NWBHDF5IO(str(path)) as io:
        table = io.read().units
        units = table.to_dataframe()
        assert "Provenance" in table["c4_type"].description
    assert {int(i): t for i, t in units["c4_type"].items()} == read_cluster_column(
        example_copy / "cluster_c4_type.tsv")
    np.testing.assert_allclose(units.loc[3, "spike_times"], [0.4])  # the file's own spikes
    other = tmp_path / "other.nwb"
    nwbfile = pynwb.NWBFile(session_description="s", identifier="y",
                            session_start_time=datetime.now(timezone.utc))  # noqa: UP017
    nwbfile.add_unit(spike_times=[0.1], id=42)
    with pynwb.NWBHDF5IO(str(other), "w") as io:
        io.write(nwbfile)
    assert main(["export-nwb", str(example_copy), "--nwb", str(other)]) == 1
    assert "match the clusters by id" in capsys.readouterr().err
