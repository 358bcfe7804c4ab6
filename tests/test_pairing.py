"""Purkinje pairing: complex spikes silence the same cell's simple spikes (issue #14)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phy_c4.features.pairing import PairingSpec, _window_counts, find_pairs, pause_test
from phy_c4.io.dataset import open_recording
from phy_c4.pipeline import PipelineOptions, classify
from phy_c4.testing import make_dataset
from tests.conftest import poisson_train


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Three generated recordings: 3 planted CS-SS pairs and 2 simple-spike units without a
    recorded complex-spike partner each, all within 60 µm (every pair a candidate)."""
    out = []
    for seed in range(3):
        folder = tmp_path_factory.mktemp(f"pairs{seed}")
        units = make_dataset(folder, n_units_per_type=3, duration_s=300.0, seed=seed,
                             n_channels=4, raw=False, unpaired_ss=2)
        out.append((units, open_recording(folder)))
    return out


def _candidates(units, recording, kind):
    return {u.cluster_id: recording.spike_times[recording.spikes_of(u.cluster_id)]
            for u in units if u.cell_type == kind}


def test_pairing_precision_and_recall_on_planted_pairs(recordings):
    """Measured: 9 of 9 planted pairs found, none wrong, no unpaired unit paired."""
    true_positives = found = planted = 0
    for units, recording in recordings:
        positions = {u.cluster_id: recording.channel_positions[u.peak_channel] for u in units}
        pairs, _ = find_pairs(_candidates(units, recording, "PkC_cs"),
                              _candidates(units, recording, "PkC_ss"), positions, recording.fs)
        truth = {u.cluster_id: u.partner for u in units if u.cell_type == "PkC_cs"}
        unpaired = {u.cluster_id for u in units if u.cell_type == "PkC_ss" and u.partner < 0}
        assert not set(pairs.values()) & unpaired  # no pair on units without one
        true_positives += sum(truth[c] == s for c, s in pairs.items())
        found += len(pairs)
        planted += len(truth)
    assert true_positives / found >= 0.9 and true_positives / planted >= 0.9


def test_a_complex_spike_unit_without_its_partner_is_flagged_not_paired(recordings):
    units, recording = recordings[0]
    positions = {u.cluster_id: recording.channel_positions[u.peak_channel] for u in units}
    cs = _candidates(units, recording, "PkC_cs")
    ss = _candidates(units, recording, "PkC_ss")
    for cs_id in cs:
        partner = next(u.partner for u in units if u.cluster_id == cs_id)
        others = {k: v for k, v in ss.items() if k != partner}
        pairs, flagged = find_pairs({cs_id: cs[cs_id]}, others, positions, recording.fs)
        assert not pairs and flagged == {cs_id: len(others)}


def test_distance_limits_the_candidates(recordings):
    units, recording = recordings[0]
    far = {u.cluster_id: np.array([0.0, 1000.0 * i]) for i, u in enumerate(units)}
    pairs, flagged = find_pairs(_candidates(units, recording, "PkC_cs"),
                                _candidates(units, recording, "PkC_ss"), far, recording.fs)
    assert not pairs and not flagged


def _searchsorted_count(events, times, start, stop):
    """The definition the sweep must equal: numpy's searchsorted over every window."""
    before_stop = np.searchsorted(times, events + stop)
    return int(np.sum(before_stop - np.searchsorted(times, events + start)))


def _sweep(trains, times, windows):
    """_window_counts over the merged events of several units, as find_pairs calls it."""
    events = np.concatenate(trains)
    owner = np.repeat(np.arange(len(trains)), [len(t) for t in trains])
    order = np.argsort(events, kind="stable")
    return _window_counts(events[order], owner[order], len(trains), times,
                          np.array(windows, dtype=np.int64))


@settings(max_examples=300, deadline=None)
@given(trains=st.lists(st.lists(st.integers(-50, 3000), max_size=30), min_size=1, max_size=4),
       times=st.lists(st.integers(-50, 3000), max_size=200),
       starts=st.tuples(st.integers(-400, 100), st.integers(-400, 100)),
       width=st.integers(0, 300))
def test_window_sweep_counts_what_searchsorted_counts(trains, times, starts, width):
    """Several units' events merged, duplicates, overlapping windows, windows before the first
    and after the last spike: each unit's count in each window is its own searchsorted sum."""
    trains = [np.sort(np.array(t, dtype=np.int64)) for t in trains]
    times = np.sort(np.array(times, dtype=np.int64))
    windows = [(start, start + width + i) for i, start in enumerate(starts)]
    counts = _sweep(trains, times, windows)
    for unit, train in enumerate(trains):
        for w, (start, stop) in enumerate(windows):
            assert counts[unit, w] == _searchsorted_count(train, times, start, stop)


def test_window_sweep_on_long_trains():
    trains = [poisson_train(1.0, 600, seed=3), poisson_train(2.0, 600, seed=5)]
    ss = poisson_train(120.0, 600, seed=4)
    for windows in (((30, 240), (-1800, -300)), ((-5, 5), (0, 1))):
        counts = _sweep(trains, ss, windows)
        for unit, train in enumerate(trains):
            for w, (start, stop) in enumerate(windows):
                assert counts[unit, w] == _searchsorted_count(train, ss, start, stop)


def test_pause_test_takes_unsorted_spike_times():
    cs = poisson_train(1.0, 300, seed=1)
    ss = poisson_train(60.0, 300, seed=2)
    shuffled = np.random.default_rng(0).permutation(ss)
    assert pause_test(cs[::-1], shuffled, 30000.0) == pause_test(cs, ss, 30000.0)


def test_pause_test_on_independent_trains():
    cs = poisson_train(1.0, 300, seed=1)
    ss = poisson_train(60.0, 300, seed=2)
    test = pause_test(cs, ss, 30000.0)
    assert test.expected > 50 and test.p_value > 1e-3 and not test.confirms(PairingSpec())
    paused = ss[~np.any((ss[None, :] - cs[:, None] > 0) & (ss[None, :] - cs[:, None] < 450),
                        axis=0)]
    assert pause_test(cs, paused, 30000.0).confirms(PairingSpec())


def test_pipeline_writes_pairs_on_both_units(recordings):
    units, recording = recordings[0]
    result = classify(recording, options=PipelineOptions(quality=None, cache=False))
    table = result.table.set_index("cluster_id")
    partners = {u.cluster_id: u.partner for u in units}
    paired = table[table["c4_pair"] != ""]
    for cluster_id, row in paired.iterrows():
        partner = int(row["c4_pair"])
        assert table.loc[partner, "c4_pair"] == cluster_id  # on both units
        assert partners[cluster_id] == partner  # a planted pair
        assert "confirmed by CS-SS pause" in row["c4_status"]
    assert len(paired) == 2 * 3  # every planted pair, through the default model's predictions
    lonely = table[(table["c4_type"] == "PkC_cs") & (table["c4_pair"] == "")]
    assert all("no CS-SS pause" in status for status in lonely["c4_status"])
    assert result.parameters["pairing"]["max_distance_um"] == 100.0
    off = classify(recording, options=PipelineOptions(quality=None, cache=False, pairing=None))
    assert (off.table["c4_pair"] == "").all()


def test_merged_complex_spikes_are_a_stable_argsort_of_the_concatenated_trains():
    """The in-place key sort gives the order the argsort of the concatenated trains gave:
    by time, ties in unit order (negative times and empty trains included)."""
    from phy_c4.features.pairing import _merged

    rng = np.random.default_rng(0)
    for trial in range(300):
        ids = list(range(int(rng.integers(1, 8))))
        low = -50 if trial % 3 == 0 else 0
        units = {i: np.sort(rng.integers(low, 200, rng.integers(0, 40))) for i in ids}
        trains = [units[c].astype(np.int64) for c in ids]
        events = np.concatenate(trains)
        owner = np.repeat(np.arange(len(ids)), [len(t) for t in trains])
        order = np.argsort(events, kind="stable")
        merged, owners = _merged(ids, units)
        assert np.array_equal(merged, events[order]) and np.array_equal(owners, owner[order])
