"""SpikeInterface in, NWB out, and the provenance both carry (issue #16)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from phy_c4.cli import main
from phy_c4.io.tsv import read_cluster_column
from phy_c4.pipeline import PipelineOptions, classify

si = pytest.importorskip("spikeinterface.full")
pynwb = pytest.importorskip("pynwb")

SAME_WAY = PipelineOptions(quality=None, cache=False, waveform_source="raw")


@pytest.fixture
def analyzer(example_dir, tmp_path):
    """A SortingAnalyzer of the generated recording, built as a SpikeInterface user would."""
    from spikeinterface.extractors import read_phy

    sorting = read_phy(example_dir)
    recording = si.read_binary(example_dir / "raw.bin", sampling_frequency=30000.0,
                               num_channels=4, dtype="int16")
    recording.set_channel_locations(np.load(example_dir / "channel_positions.npy"))
    analyzer = si.create_sorting_analyzer(sorting, recording, format="binary_folder",
                                          folder=tmp_path / "analyzer", sparse=False)
    analyzer.compute(["random_spikes", "templates", "spike_amplitudes"], verbose=False)
    return analyzer


def test_an_analyzer_classifies_to_the_values_of_its_phy_folder(analyzer, example_dir):
    ours = classify(analyzer, options=SAME_WAY).table
    folder = classify(example_dir, options=SAME_WAY).table
    assert ours.equals(folder)
    assert (ours["c4_type"] != "").sum() >= 3
    reloaded = si.load_sorting_analyzer(analyzer.folder)  # properties were saved in its folder
    np.testing.assert_array_equal(reloaded.sorting.get_property("c4_type"), ours["c4_type"])
    np.testing.assert_allclose(reloaded.sorting.get_property("c4_confidence"),
                               ours["c4_confidence"])


def test_cli_analyzer_files_properties_and_show(analyzer, capsys):
    folder = str(analyzer.folder)
    assert main(["classify", "--analyzer", folder, "--quiet"]) == 0  # quality filter on
    results = analyzer.folder / "phy_c4"
    types = read_cluster_column(results / "cluster_c4_type.tsv")
    assert set(types) == {0, 1, 2, 3, 4}
    reloaded = si.load_sorting_analyzer(folder)
    assert list(reloaded.sorting.get_property("c4_type")) == [types[u] for u in range(5)]
    capsys.readouterr()
    assert main(["show", folder]) == 0
    shown = capsys.readouterr().out
    manifest = json.loads((results / "cell_type_classification" / "phy_c4_run.json").read_text())
    assert manifest["parameters"]["bundle_sha256"] in shown
    assert set(manifest["parameters"]["inputs"]) == {"spike_times_sha256",
                                                     "spike_clusters_sha256"}


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
