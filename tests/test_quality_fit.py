"""The numba amplitude fit against npyx's ``curve_fit`` path (tests/quality_reference.py):
the same keep/drop decisions, per window and per unit."""

from __future__ import annotations

import numpy as np
import pytest

from phy_c4.features import quality
from phy_c4.features.quality import QualitySpec, missed_fraction, quality_filter
from phy_c4.io.dataset import open_recording
from tests.conftest import data_path
from tests.quality_reference import missed_fraction_curve_fit, quality_filter_reference


def _windows(times_s, amplitudes):
    spec = QualitySpec()
    chunk = np.floor(times_s / spec.chunk_s).astype(int)
    for first in range(max(1, chunk.max() - spec.span_chunks + 2)):
        inside = (chunk >= first) & (chunk < first + spec.span_chunks)
        if inside.sum() > spec.min_window_spikes:
            yield amplitudes[inside]


def _compare(windows):
    ours = np.array([missed_fraction(w) for w in windows])
    reference = np.array([missed_fraction_curve_fit(w) for w in windows])
    assert np.array_equal(np.isnan(ours), np.isnan(reference))
    finite = np.isfinite(ours)
    assert np.array_equal(ours[finite] <= 0.05, reference[finite] <= 0.05)
    return np.abs(ours[finite] - reference[finite])


def test_same_decisions_on_synthetic_windows():
    """Truncated Gaussians of many widths, heights and cuts: |difference| < 1e-3."""
    rng = np.random.default_rng(0)
    windows = []
    for _ in range(200):
        amplitudes = rng.normal(rng.uniform(20, 60), rng.uniform(3, 12), rng.integers(20, 800))
        windows.append(amplitudes[amplitudes > rng.uniform(5, 40)])
    difference = _compare([w for w in windows if w.size > 15])
    assert difference.max() < 1e-3, difference.max()


def test_same_decisions_and_masks_on_a_generated_recording(example_dir):
    recording = open_recording(example_dir)
    units = {}
    for cluster_id in recording.cluster_ids:
        spikes = recording.spikes_of(int(cluster_id))
        units[int(cluster_id)] = (recording.spike_times[spikes], recording.amplitudes[spikes])
    windows = [w for times, amps in units.values()
               for w in _windows(times / recording.fs, amps)]
    assert len(windows) >= 80
    _compare(windows)
    ours = {c: quality_filter(t, a, recording.fs) for c, (t, a) in units.items()}
    reference = {c: quality_filter_reference(t, a, recording.fs) for c, (t, a) in units.items()}
    for cluster_id in units:
        assert ours[cluster_id].reason == reference[cluster_id].reason
        np.testing.assert_array_equal(ours[cluster_id].keep, reference[cluster_id].keep)
    assert any(r.reason == "ok" for r in ours.values())  # the comparison covers kept spikes


@pytest.mark.parametrize("name", ["allen_819701982_probe769", "english_mouse1_180501a"])
def test_same_answer_on_real_phy_folders(name):
    """Their amplitudes are all 1 (no fit possible): both say so (NaN), for every window."""
    recording = open_recording(data_path("phy_real", name))
    for cluster_id in recording.cluster_ids:
        spikes = recording.spikes_of(int(cluster_id))
        windows = list(_windows(recording.spike_times[spikes] / recording.fs,
                                recording.amplitudes[spikes]))
        assert all(np.isnan(missed_fraction(w)) and np.isnan(missed_fraction_curve_fit(w))
                   for w in windows[:20])


def test_the_fit_releases_the_gil():
    assert quality.missed_fraction.targetoptions.get("nogil") is True
