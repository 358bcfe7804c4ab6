"""SpikeInterface in, NWB out, and the provenance both carry (issue #16)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from phy_c4.cli import main
from phy_c4.io.tsv import read_cluster_column
from phy_c4.pipeline import PipelineOptions, classify

si = pytest.importorskip("spikeinterface.full")


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
