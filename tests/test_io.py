"""Reading folders, the quality filter, waveforms and result files."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from phy_c4.features.quality import QualitySpec, quality_filter
from phy_c4.io import DatasetError, open_recording, read_cluster_column, write_cluster_column
from phy_c4.io.publish import Publication, publish
from phy_c4.io.results import ExistingResultsError
from phy_c4.io.waveforms import unit_waveform
from phy_c4.testing import type_waveform as true_shape
from tests.conftest import data_path, poisson_train


def test_open_recording_and_its_errors(example_dir, tmp_path):
    recording = open_recording(example_dir)
    assert recording.fs == 30000.0 and recording.has_raw
    assert recording.spike_times.dtype == np.int64
    assert set(recording.groups.values()) == {"good"}
    with pytest.raises(DatasetError, match=r"no params\.py"):
        open_recording(tmp_path)
    (tmp_path / "params.py").write_text("sample_rate = 30000.\nn_channels_dat = 4\n")
    with pytest.raises(DatasetError, match=r"spike_times\.npy is missing"):
        open_recording(tmp_path)


@pytest.mark.parametrize("name", ["allen_819701982_probe769", "english_mouse1_180501a"])
def test_real_phy_folders_open(name):
    recording = open_recording(data_path("phy_real", name))
    assert not recording.has_raw
    assert len(recording.cluster_ids) in (2, 6)
    wave = unit_waveform(recording, int(recording.cluster_ids[0]))
    assert wave.source == "template" and np.isfinite(wave.peak_channel_waveform).all()


def test_quality_filter_keeps_clean_units_and_says_why_not():
    fs = 30000.0
    times = poisson_train(20, 400, seed=4)
    amplitudes = np.random.default_rng(0).normal(30, 3, times.size)
    good = quality_filter(times, amplitudes, fs)
    assert good.reason == "ok" and good.keep.mean() > 0.9 and good.good_seconds > 180
    short_times = poisson_train(20, 150, seed=5)
    short_amplitudes = np.random.default_rng(1).normal(30, 3, short_times.size)
    short = quality_filter(short_times, short_amplitudes, fs)
    assert short.reason.startswith("only") and not short.keep.any()
    noisy = np.sort(np.concatenate([times, times[::2] + 6]))  # violations at 0.2 ms
    noisy_amp = np.random.default_rng(2).normal(30, 3, noisy.size)
    bad = quality_filter(noisy, noisy_amp, fs)
    assert "false positives" in bad.reason
    truncated = np.random.default_rng(3).normal(30, 8, times.size)
    truncated = np.where(truncated < 32, 32 + np.abs(truncated - 32) * 0.01, truncated)
    assert "missed spikes" in quality_filter(times, truncated, fs).reason
    few = quality_filter(times[:200], amplitudes[:200], fs, spec=QualitySpec())
    assert "too few spikes" in few.reason


def test_raw_waveform_matches_the_true_shape(example_dir):
    recording = open_recording(example_dir)
    truth = read_cluster_column(example_dir / "cluster_true_type.tsv")
    for cluster, cell_type in truth.items():
        wave = unit_waveform(recording, cluster, "raw")
        assert wave.source == "raw"
        expected = true_shape(cell_type)
        got = wave.peak_channel_waveform[60 - 41 : 60 - 41 + 82]
        corr = np.corrcoef(expected, got)[0, 1]
        assert corr > 0.95, (cell_type, corr)
    assert unit_waveform(recording, 0, "template").source == "template"
    with pytest.raises(ValueError, match="source"):
        unit_waveform(recording, 0, "magic")


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_results_never_touch_other_files_and_refuse_to_overwrite(example_copy):
    import pandas as pd

    before = {p.name: _sha(p) for p in example_copy.iterdir() if p.is_file()}
    table = pd.DataFrame({"cluster_id": [0, 1], "c4_type": ["MLI", ""],
                          "c4_confidence": [0.9, np.nan], "c4_ratio": [5.0, np.nan],
                          "c4_votes": ["4/4", ""], "c4_status": ["ok", "too few spikes"]})
    written = publish(example_copy, Publication(table=table, labels=("a",) * 5, raw=np.zeros((1, 5,
                                                                                              4)),
                                                npyx_columns=True))
    assert {p.name for p in written} >= {"cluster_c4_type.tsv", "cluster_predicted_cell_type.tsv"}
    after = {p.name: _sha(p) for p in example_copy.iterdir() if p.is_file()}
    assert all(after[name] == digest for name, digest in before.items())
    assert read_cluster_column(example_copy / "cluster_c4_type.tsv") == {0: "MLI", 1: ""}
    assert read_cluster_column(example_copy / "cluster_predicted_cell_type.tsv") == {0: "MLI"}
    with pytest.raises(ExistingResultsError, match="overwrite"):
        publish(example_copy, Publication(table=table))
    publish(example_copy, Publication(table=table.assign(c4_type=["GoC", ""])), overwrite=True)
    backups = list((example_copy / ".phy_c4" / "backups").glob("*/cluster_c4_type.tsv"))
    assert len(backups) == 1
    assert read_cluster_column(backups[0]) == {0: "MLI", 1: ""}
    assert not list(example_copy.glob(".*.tmp"))


def test_tsv_round_trip_and_malformed_files(tmp_path):
    write_cluster_column(tmp_path, "layer", {3: "GCL", 1: "ML"})
    assert read_cluster_column(tmp_path / "cluster_layer.tsv") == {1: "ML", 3: "GCL"}
    (tmp_path / "bad.tsv").write_text("cluster_id\tlayer\nx\tGCL\n")
    with pytest.raises(ValueError, match="not an integer"):
        read_cluster_column(tmp_path / "bad.tsv")
    with pytest.raises(ValueError, match="invalid column"):
        write_cluster_column(tmp_path, "a/b", {})


@pytest.mark.parametrize("name", ["example", "allen_819701982_probe769", "english_mouse1_180501a"])
def test_reading_a_folder_directly_equals_reading_it_through_phylib(name, example_dir):
    """What the CLI reads itself (phylib's model loading meanwhile) is what the plugin gets
    from Phy's already-loaded model: spikes, assignment, amplitudes, columns, channels."""
    from phy_c4.io.dataset import _load_model

    folder = example_dir if name == "example" else data_path("phy_real", name)
    direct = open_recording(folder)
    through_phylib = open_recording(_load_model(folder))
    for field in ("spike_times", "spike_clusters", "amplitudes", "channel_positions",
                  "channel_shanks"):
        ours, theirs = getattr(direct, field), getattr(through_phylib, field)
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs), field
    assert direct.metadata == through_phylib.metadata and direct.groups
    assert direct.groups == through_phylib.groups and direct.fs == through_phylib.fs
    assert direct.input_digests() == through_phylib.input_digests()
    assert np.array_equal(direct.template_waveform(int(direct.cluster_ids[0])),
                          through_phylib.template_waveform(int(direct.cluster_ids[0])))


def test_a_model_phylib_cannot_load_is_a_clear_error_when_it_is_needed(example_dir, tmp_path):
    """The spike arrays read fine, phylib fails in the background on templates.npy: the error
    names the folder and phylib's complaint, raised where the templates are first needed."""
    import shutil

    folder = tmp_path / "broken"
    shutil.copytree(example_dir, folder)
    (folder / "templates.npy").write_bytes(b"not an npy file")
    recording = open_recording(folder)
    assert recording.spike_times.size  # the direct reads worked
    with pytest.raises(DatasetError, match="phylib could not open it"):
        recording.template_waveform(int(recording.cluster_ids[0]))
