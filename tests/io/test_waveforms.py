"""Tests of ``phy_c4.io.waveforms``: the unit's mean waveform: drift/shift-matched from raw
data, or the template.
"""

from __future__ import annotations

import numpy as np
import pytest

from phy_c4.cli import main
from phy_c4.io import open_recording, read_cluster_column
from phy_c4.io.waveforms import unit_waveform
from phy_c4.testing import type_waveform as true_shape
from tests.conftest import FAST, inputs_changed_on_purpose


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


def test_nan_template_never_reaches_templates_npy(example_copy):
    """phylib zeroes all-NaN templates through a read-write map; ours maps copy-on-write."""
    templates = np.load(example_copy / "templates.npy")
    templates[0] = np.nan
    np.save(example_copy / "templates.npy", templates)
    inputs_changed_on_purpose(example_copy)  # the teardown checks templates.npy stays NaN
    assert main(["classify", str(example_copy), *FAST, "--waveform-source", "template"]) == 0
    assert np.isnan(np.load(example_copy / "templates.npy")[0]).all()
    status = read_cluster_column(example_copy / "cluster_c4_status.tsv")
    assert status[0].startswith("no waveform"), status[0]


def test_missing_whitening_inverse_is_not_written_into_the_folder(example_copy):
    (example_copy / "whitening_mat_inv.npy").unlink()
    inputs_changed_on_purpose(example_copy)
    assert main(["classify", str(example_copy), *FAST, "--waveform-source", "template"]) == 0
    assert not (example_copy / "whitening_mat_inv.npy").exists()
