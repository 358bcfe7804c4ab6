"""Tests of ``phy_c4.io.dataset``: a Phy/Kilosort folder opened read-only (`params.py` read
with `ast`).
"""

from __future__ import annotations

import numpy as np
import pytest

from phy_c4.cli import main
from phy_c4.io import DatasetError, open_recording
from phy_c4.io.dataset import params_sample_rate, read_params
from phy_c4.io.waveforms import unit_waveform
from tests.conftest import (
    FAST,
    _append,
    _edit,
    data_path,
    inputs_changed_on_purpose,
    phy_c4,
)


def test_the_last_assignment_of_a_name_wins_as_when_python_runs_the_file(tmp_path):
    """Kilosort's exporter and hand edits append lines: phylib executes params.py, so the last
    ``sample_rate`` is the one every other tool uses."""
    (tmp_path / "params.py").write_text(
        "dat_path = 'old.bin'\nsample_rate = 20000.\nn_channels_dat = 4\n"
        "sample_rate = 30000.0\ndat_path = 'raw.bin'\n")
    params = read_params(tmp_path)
    assert params["sample_rate"] == 30000.0
    assert params["dat_path"] == "raw.bin"
    assert params_sample_rate(params, tmp_path) == 30000.0


def test_a_later_expression_replaces_an_earlier_value(tmp_path):
    """A value computed by an expression cannot be read without running the file: it is
    unknown, and the earlier literal must not stand in for it."""
    (tmp_path / "params.py").write_text("sample_rate = 30000.\nsample_rate = 3e4 * scale\n")
    params = read_params(tmp_path)
    assert params.get("sample_rate") is None  # not the earlier 30000.
    with pytest.raises(DatasetError, match="no sample_rate"):
        params_sample_rate(params, tmp_path)


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


@pytest.mark.parametrize("dir_path, ok", [("'.'", True), (None, False), ("'/'", False)])
def test_dir_path_naming_another_folder_is_refused(example_copy, tmp_path, dir_path, ok):
    other = tmp_path / "other"
    other.mkdir()
    _append(example_copy, f"dir_path = {dir_path or repr(str(other))}")
    if ok:
        assert open_recording(example_copy).model.dir_path == example_copy.resolve()
    else:
        with pytest.raises(DatasetError, match="names another folder"):
            open_recording(example_copy)


def test_float_spike_samples_are_noted_or_refused(example_copy, tmp_path):
    _edit(example_copy, "spike_times.npy", lambda t: t.astype(np.float64))
    run = phy_c4("classify", str(example_copy), *FAST)
    assert run.returncode == 0 and "holds whole numbers as float64" in run.stderr, run.stderr
    from phy_c4.io.dataset import check_spike_arrays

    np.save(tmp_path / "spike_times.npy", np.arange(3e7, 3.1e7, 1000, dtype=np.float32))
    with pytest.raises(DatasetError, match="rounds sample indices above 16,777,216"):
        check_spike_arrays(tmp_path)


def test_group_labels_are_normalised_with_a_note(example_copy):
    (example_copy / "cluster_group.tsv").write_text(
        "cluster_id\tgroup\n0\tGood\n1\tgood \n2\tgood\n3\tGOOD\n4\tnoise\n")
    inputs_changed_on_purpose(example_copy)
    run = phy_c4("classify", str(example_copy), *FAST, "--out", str(example_copy.parent / "o"))
    assert run.returncode == 0, run.stderr
    assert "3 labels read as Phy's groups" in run.stderr
    assert "4 units" in run.stdout  # 0-3 are good, 4 is noise


def test_a_damaged_pc_features_npy_is_never_read(example_copy):
    n = np.load(example_copy / "spike_times.npy").size
    np.save(example_copy / "pc_features.npy", np.zeros((n, 3, 4), dtype=np.float32))
    data = (example_copy / "pc_features.npy").read_bytes()
    (example_copy / "pc_features.npy").write_bytes(data[: len(data) // 3])
    np.save(example_copy / "pc_feature_ind.npy", np.zeros((5, 4), dtype=np.uint32))
    inputs_changed_on_purpose(example_copy)
    assert main(["classify", str(example_copy), *FAST, "--waveform-source", "template"]) == 0
    from phy_c4.io.tsv import read_cluster_column

    statuses = read_cluster_column(example_copy / "cluster_c4_status.tsv").values()
    assert not any(s.startswith("no waveform") for s in statuses), statuses
