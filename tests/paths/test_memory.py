"""Memory bounded by the data: no whole-recording copy of a spike array comes back.

The spike arrays are read-only maps (not traced by tracemalloc, and dropped from residence
chunk by chunk); what the run allocates is the spikes it keeps plus one batch of units. A
whole-recording float64 copy of the spike times (8 bytes a spike, as phylib's model made, or
an ``astype`` of the clusters) would add as much again and fail the bound.
"""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest

from phy_c4.config import FeatureSpec
from phy_c4.testing import make_dataset


@pytest.fixture(scope="module")
def recording_folder(tmp_path_factory):
    """40 units, 10 minutes, ~0.75 M spikes, no raw binary (waveforms from the templates)."""
    folder = tmp_path_factory.mktemp("memory") / "rec"
    make_dataset(folder, n_units_per_type=8, duration_s=600.0, seed=5, n_channels=8, raw=False)
    return folder


def test_a_run_allocates_the_kept_spikes_and_one_batch_not_copies_of_the_recording(
        recording_folder, monkeypatch):
    """Opening the folder (phylib's model included), grouping, gathering, the quality filter
    and the waveforms of every unit: the traced peak stays below the kept spike times
    (8 bytes each) plus 4.5 bytes a spike (one batch of 1/16 of the spikes, ~40 bytes each
    while it is worked on, and chunk buffers): a whole-recording int64/float64 copy (8 bytes
    a spike) or a float32 one (4) on top of what must be kept does not fit."""
    import phy_c4.arrays
    import phy_c4.pipeline
    from phy_c4.io.dataset import open_recording
    from phy_c4.pipeline import PipelineOptions, prepare_units

    n_spikes = np.load(recording_folder / "spike_times.npy", mmap_mode="r").shape[0]
    assert n_spikes > 500_000
    # scaled-down batches and chunks, as a long recording has them relative to its size
    monkeypatch.setattr(phy_c4.pipeline, "BATCH_SPIKES", n_spikes // 16)
    monkeypatch.setattr(phy_c4.arrays, "CHUNK", n_spikes // 16)
    spec = FeatureSpec()
    prepare_units(open_recording(recording_folder), [0], PipelineOptions(cache=False), spec=spec)
    tracemalloc.start()
    try:
        recording = open_recording(recording_folder)
        ids = [int(c) for c in recording.cluster_ids]
        features, kept = prepare_units(recording, ids, PipelineOptions(cache=False), spec=spec)
        recording.input_digests()
        recording.model  # noqa: B018 - waits for phylib's model, loaded in a thread
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not [t for t in threading.enumerate() if t.name == "phy_c4 phylib model"]
    n_kept = sum(times.size for times in kept.values())
    assert sum(f.status == "ok" for f in features.values()) >= 30
    assert n_kept > n_spikes // 2  # the bound below is about copies, not about a lost filter
    bound = 8 * n_kept + 4.5 * n_spikes
    assert peak < bound, (f"traced peak {peak / 1e6:.1f} MB for {n_spikes:,d} spikes "
                          f"({n_kept:,d} kept): over {bound / 1e6:.1f} MB")
