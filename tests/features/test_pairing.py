"""Tests of ``phy_c4.features.pairing``: Purkinje CS-SS pairing: the pause test and
`find_pairs`.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phy_c4.features.pairing import (
    PairingSpec,
    PauseTest,
    _window_counts3,
    _windows,
    find_pairs,
    firing_kind,
    pause_test,
)
from phy_c4.io.dataset import open_recording
from phy_c4.pipeline import PipelineOptions, classify
from phy_c4.status import Status, status_of
from phy_c4.testing import make_dataset, make_pairing_dataset
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
                              _candidates(units, recording, "PkC_ss"), positions, fs=recording.fs)
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
        pairs, flagged = find_pairs({cs_id: cs[cs_id]}, others, positions, fs=recording.fs)
        assert not pairs and flagged == {cs_id: len(others)}


def test_distance_limits_the_candidates(recordings):
    units, recording = recordings[0]
    far = {u.cluster_id: np.array([0.0, 1000.0 * i]) for i, u in enumerate(units)}
    pairs, flagged = find_pairs(_candidates(units, recording, "PkC_cs"),
                                _candidates(units, recording, "PkC_ss"), far, fs=recording.fs)
    assert not pairs and not flagged


def _searchsorted_count(events, times, start, stop):
    """The definition the sweep must equal: numpy's searchsorted over every window."""
    before_stop = np.searchsorted(times, events + stop)
    return int(np.sum(before_stop - np.searchsorted(times, events + start)))


def _sweep(trains, times, windows):
    """_window_counts3 over the merged events of several units, as find_pairs calls it."""
    events = np.concatenate(trains)
    owner = np.repeat(np.arange(len(trains)), [len(t) for t in trains])
    order = np.argsort(events, kind="stable")
    return _window_counts3(events[order], owner[order], len(trains), times,
                           np.array(windows, dtype=np.int64))


@settings(max_examples=200, deadline=None)
@given(trains=st.lists(st.lists(st.integers(-50, 3000), max_size=30), min_size=1, max_size=4),
       times=st.lists(st.integers(-50, 3000), max_size=200),
       starts=st.tuples(st.integers(-400, 100), st.integers(-400, 100), st.integers(-400, 100)),
       width=st.integers(0, 300))
def test_three_window_sweep_counts_what_searchsorted_counts(trains, times, starts, width):
    """The pause, baseline and onset counts of find_pairs, in one sweep, each its own
    searchsorted sum."""
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
    for windows in (((30, 240), (-1800, -300), (30, 90)), ((-5, 5), (0, 1), (-3, 0))):
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


FS = 30000.0


def _train(rate: float, shape: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    return np.cumsum(rng.gamma(shape, 1.0 / (rate * shape), int(rate * seconds * 1.2)))


def _samples(seconds: np.ndarray) -> np.ndarray:
    return np.unique(np.round(seconds * FS).astype(np.int64))


def _silenced(times: np.ndarray, triggers: np.ndarray, start_ms: float, stop_ms: float
              ) -> np.ndarray:
    index = np.searchsorted(triggers, times, side="right") - 1
    since = (times - triggers[np.maximum(index, 0)]) * 1000.0
    return times[~((index >= 0) & (since >= start_ms) & (since < stop_ms))]


@pytest.fixture(scope="module")
def climbing_fibre():
    rng = np.random.default_rng(7)
    cf = _train(1.0, 2.0, 400.0, rng)
    return rng, cf[cf < 400.0]


def test_a_purkinje_pause_pairs_and_an_interneurons_later_dip_does_not(climbing_fibre):
    """Both silence a regular 50-Hz unit after the complex spike; the Purkinje cell's own pause
    starts at once, the interneuron's 3 ms later (a synapse more). Offered alone, the old test
    (ratio < 0.5 over 1-8 ms) paired the interneuron (#25)."""
    rng, cf = climbing_fibre
    ss = _samples(_silenced(_train(60.0, 6.0, 400.0, rng), cf, -0.5, 15.0))
    dipping = _samples(_silenced(_train(50.0, 6.0, 400.0, rng), cf, 3.0, 30.0))
    cs, positions = _samples(cf), {1: np.zeros(2), 2: np.zeros(2), 3: np.zeros(2)}
    assert pause_test(cs, dipping, FS).ratio < 0.5  # deep enough for the old test
    assert find_pairs({1: cs}, {2: ss, 3: dipping}, positions, fs=FS)[0] == {1: 2}
    pairs, flagged = find_pairs({1: cs}, {3: dipping}, positions, fs=FS)
    assert pairs == {} and flagged == {1: 1}


def test_an_irregular_unit_is_no_simple_spike_partner_even_with_a_pause(climbing_fibre):
    """An interneuron-like Poisson train (CV2 ~1) pausing from the start is still refused: a
    Purkinje cell's simple spikes are not that irregular; a slow unit is no partner either."""
    rng, cf = climbing_fibre
    cs, positions = _samples(cf), {1: np.zeros(2), 2: np.zeros(2), 3: np.zeros(2)}
    irregular = _samples(_silenced(_train(40.0, 1.0, 400.0, rng), cf, -0.5, 15.0))
    slow = _samples(_silenced(_train(8.0, 6.0, 400.0, rng), cf, -0.5, 15.0))
    assert pause_test(cs, irregular, FS).confirms(PairingSpec())  # the pause itself is there
    assert firing_kind(irregular, FS, PairingSpec()) == "" == firing_kind(slow, FS, PairingSpec())
    assert find_pairs({1: cs}, {2: irregular, 3: slow}, positions, fs=FS) == ({}, {})


@pytest.fixture(scope="module")
def spoilt(tmp_path_factory):
    """Two recordings with sorting errors and dipping interneurons (make_pairing_dataset)."""
    out = []
    for seed in range(2):
        folder = tmp_path_factory.mktemp(f"spoilt{seed}")
        out.append((folder, make_pairing_dataset(folder, n_cells=3, duration_s=300.0,
                                                 seed=seed)))
    return out


def _true_pairs(units):
    return {u.cluster_id: u.partner for u in units if u.cell_type == "PkC_cs" and u.partner >= 0}


@pytest.fixture
def wrong_network(monkeypatch):
    """The network's classes rotated by one: every unit's best guess is wrong."""
    import phy_c4.pipeline as pipeline
    from phy_c4.model.ensemble import summarise

    original = pipeline.predict_inputs

    def rotated(bundle, inputs, **kwargs):
        prediction = original(bundle, inputs, **kwargs)
        out = summarise(prediction.labels, np.roll(prediction.raw, 1, axis=1),
                        prediction.threshold)
        out.features = prediction.features
        return out

    monkeypatch.setattr(pipeline, "predict_inputs", rotated)


def test_a_pair_types_both_units_whatever_the_network_said(spoilt, wrong_network):
    """Every planted pair is found among all units and both units become PkC_cs / PkC_ss; where
    the network guessed otherwise (here: always) its guess stays in the status; no interneuron
    is paired."""
    overridden = 0
    for folder, units in spoilt:
        result = classify(folder, options=PipelineOptions(quality=None, cache=False),
                          threshold=1.0)
        table = result.table.set_index("cluster_id")
        kinds = {u.cluster_id: u.cell_type for u in units}
        for cs, ss in _true_pairs(units).items():
            assert table.loc[cs, "c4_pair"] == ss and table.loc[ss, "c4_pair"] == cs
            for unit, kind in ((cs, "PkC_cs"), (ss, "PkC_ss")):
                row = table.loc[unit]
                assert row["c4_type"] == kind
                assert "unlike cerebellar units" not in row["c4_status"]  # a Purkinje cell is
                guess = result.labels[int(np.argmax([row[f"c4_p_{k}"] for k in result.labels]))]
                if guess != kind:
                    overridden += 1
                    assert f"{kind} from CS-SS pause" in row["c4_status"]
                    assert f"network: {guess}" in row["c4_status"]
        paired = table.index[table["c4_pair"] != ""]
        assert all(kinds[c] in ("PkC_cs", "PkC_ss") for c in paired)
        typed = {e["cs"]: e["ss"] for e in result.parameters["pairs"]}
        assert typed == _true_pairs(units)  # the evidence is in the run manifest
    assert overridden == 2 * sum(len(_true_pairs(units)) for _, units in spoilt)


def test_a_curators_decision_wins_over_a_pair(spoilt, tmp_path, wrong_network):
    """A curated type (cell_type + source) and a rejected type (cell_type_rejected) stay: the
    pair, which would type both units against the (wrong) network, leaves them as they are."""
    import shutil

    folder, units = spoilt[0]
    copy = tmp_path / "curated"
    shutil.copytree(folder, copy)
    cs, ss = next(iter(_true_pairs(units).items()))
    (copy / "cluster_cell_type.tsv").write_text(f"cluster_id\tcell_type\n{cs}\tGoC\n")
    (copy / "cluster_cell_type_source.tsv").write_text(
        f"cluster_id\tcell_type_source\n{cs}\tcorrected\n")
    (copy / "cluster_cell_type_rejected.tsv").write_text(
        f"cluster_id\tcell_type_rejected\n{ss}\tPkC_ss\n")
    result = classify(copy, options=PipelineOptions(quality=None, cache=False), threshold=1.0)
    table = result.table.set_index("cluster_id")
    for unit in (cs, ss):
        assert "the curator's decision is kept" in table.loc[unit, "c4_status"]
        assert "from CS-SS pause" not in table.loc[unit, "c4_status"]
    assert table.loc[cs, "c4_type"] != "PkC_cs" and table.loc[ss, "c4_type"] != "PkC_ss"
    other_cs, other_ss = list(_true_pairs(units).items())[1]
    assert table.loc[other_cs, "c4_type"] == "PkC_cs" and table.loc[other_ss, "c4_type"] == \
        "PkC_ss"  # undecided units are still typed
    assert table.loc[cs, "c4_pair"] == ss  # the evidence is still shown


def test_complex_spike_units_the_quality_filter_drops_still_pair(tmp_path):
    """150 s of recording: C4's filter wants 180 s of good data and drops every unit (slow
    complex-spike units may not even reach C4's 100 spikes); the pairs are still found from all
    spikes, typed, and the status says the network did not run."""
    units = make_pairing_dataset(tmp_path / "short", n_cells=2, duration_s=150.0, seed=3)
    result = classify(tmp_path / "short", options=PipelineOptions(cache=False))
    table = result.table.set_index("cluster_id")
    for cs, ss in _true_pairs(units).items():
        assert status_of(table.loc[cs, "c4_status"]) in (Status.QUALITY_FILTER,
                                                         Status.TOO_FEW_SPIKES)
        assert table.loc[cs, "c4_type"] == "PkC_cs" and table.loc[cs, "c4_pair"] == ss
        assert "network: not run" in table.loc[cs, "c4_status"]


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


def _paused(ss: np.ndarray, cs: np.ndarray, pause_ms: tuple[float, float] = (0.0, 10.0)
            ) -> np.ndarray:
    """Simple spikes without those in the pause after each complex spike."""
    after = ss[None, :] - cs[:, None]
    start, stop = (round(v * FS / 1000.0) for v in pause_ms)
    return ss[~((after >= start) & (after < stop)).any(axis=0)]


def test_a_deep_pause_after_few_complex_spikes_is_not_a_pair():
    spec = PairingSpec()
    ss = poisson_train(80.0, 300.0, FS, seed=3)
    cs_many = poisson_train(1.0, 300.0, FS, seed=4, refractory_s=0.1)
    cs_few = cs_many[:3]
    many = pause_test(cs_many, _paused(ss, cs_many), FS, spec=spec)
    few = pause_test(cs_few, _paused(ss, cs_few), FS, spec=spec)
    assert many.observed == few.observed == 0  # both pauses are complete
    assert many.confirms(spec) and many.p_value < 1e-20
    assert few.ratio == 0.0 < spec.max_ratio and few.expected > 0
    assert few.p_value > spec.alpha
    assert not few.confirms(spec)
    positions = {1: np.zeros(2), 2: np.zeros(2)}
    assert find_pairs({1: cs_many}, {2: _paused(ss, cs_many)}, positions, fs=FS,
                      spec=spec)[0] == {1: 2}
    assert find_pairs({1: cs_few}, {2: _paused(ss, cs_few)}, positions, fs=FS, spec=spec)[0] == {}


def test_confirmation_needs_each_of_its_four_conditions():
    """Deep, significant, and there from the start (#25: the onset window 1-3 ms)."""
    spec = PairingSpec(alpha=1e-3, max_ratio=0.5)
    onset = {"onset_observed": 0, "onset_expected": 6.0}
    assert PauseTest(observed=2, expected=20.0, p_value=1e-7, **onset).confirms(spec)
    assert not PauseTest(observed=0, expected=2.0, p_value=float(np.exp(-2.0)),
                         **onset).confirms(spec)
    assert not PauseTest(observed=15, expected=40.0, p_value=1e-2, **onset).confirms(spec)
    assert not PauseTest(observed=25, expected=40.0, p_value=1e-4, **onset).confirms(spec)
    assert not PauseTest(observed=0, expected=0.0, p_value=1.0, **onset).confirms(spec)
    assert not PauseTest(observed=2, expected=20.0, p_value=1e-7, onset_observed=4,
                         onset_expected=6.0).confirms(spec)  # a later dip: spikes at 1-3 ms
    assert not PauseTest(observed=2, expected=20.0, p_value=1e-7).confirms(spec)  # no onset


def _pair_setup():
    """Complex-spike units 1, 5, 7, 9, 10, 11 and simple-spike units around them (µm). Where a
    choice is made, the right one has the larger id (an order by id would pick wrongly)."""
    cs = {c: poisson_train(1.0, 300.0, FS, seed=10 + c, refractory_s=0.1)
          for c in (1, 5, 7, 10, 11)}
    cs[9] = cs[10][::4] + 7  # few complex spikes, their own times
    cs = dict(sorted(cs.items()))  # 9 before 10: ties are not broken by insertion order
    ss = {}
    ss[2] = _paused(poisson_train(80.0, 300.0, FS, seed=2), cs[1])  # pauses after 1, 50 µm
    ss[3] = _paused(poisson_train(80.0, 300.0, FS, seed=3), cs[1])  # pauses after 1, 150 µm
    ss[4] = poisson_train(80.0, 300.0, FS, seed=4)  # no pause, 60 µm from 1
    ss[6] = poisson_train(80.0, 300.0, FS, seed=6)  # no pause, 30 µm from 5
    ss[8] = _paused(poisson_train(80.0, 300.0, FS, seed=8), np.sort(np.r_[cs[9], cs[10]]))
    every_fifth_kept = np.delete(cs[11], slice(None, None, 5))  # a shallower pause
    ss[12] = _paused(poisson_train(80.0, 300.0, FS, seed=12), every_fifth_kept)
    ss[13] = _paused(poisson_train(80.0, 300.0, FS, seed=13), cs[11])
    where = {1: (0, 0), 2: (0, 50), 3: (0, 150), 4: (0, 60), 5: (0, 1000), 6: (0, 1030),
             7: (0, 2000), 9: (0, 3000), 10: (0, 3040), 8: (0, 3020), 11: (0, 4000),
             12: (0, 4010), 13: (0, 4015)}
    return cs, ss, {u: np.asarray(p, dtype=float) for u, p in where.items()}


def test_pairs_are_the_most_significant_pausing_neighbour_within_reach():
    cs, ss, positions = _pair_setup()
    spec = PairingSpec()
    both = pause_test(cs[11], ss[12], FS, spec=spec), pause_test(cs[11], ss[13], FS, spec=spec)
    assert both[0].confirms(spec) and both[1].confirms(spec)
    assert both[1].p_value < both[0].p_value  # 13 pauses after every complex spike of 11
    claims = pause_test(cs[9], ss[8], FS, spec=spec), pause_test(cs[10], ss[8], FS, spec=spec)
    assert claims[0].confirms(spec) and claims[1].confirms(spec)
    assert claims[1].p_value < claims[0].p_value
    pairs, unpaired = find_pairs(cs, ss, positions, fs=FS, spec=spec, threads=2)
    # 1: 2 pauses (3 pauses too but is 150 µm away; 4 does not pause); 5: only 6 nearby, no
    # pause; 7: nobody nearby; 8 is claimed by 9 and 10 and stays with the more significant
    # 10; 11 takes 13, its more significant neighbour
    assert pairs == {1: 2, 10: 8, 11: 13}
    assert unpaired == {5: 1}
    # 13 out of reach: the shallower, still significant 12 (10 µm away) is the pair
    assert find_pairs(cs, ss, positions, fs=FS,
                      spec=PairingSpec(max_distance_um=10.0)) == ({11: 12}, {})
    assert find_pairs(cs, ss, positions, fs=FS, spec=PairingSpec(max_distance_um=50.0))[0][1] == 2


def test_the_windows_in_samples():
    assert _windows(30000.0, PairingSpec()).tolist() == [[30, 240], [-1800, -300], [30, 90]]
    assert _windows(20000.0, PairingSpec(pause_ms=(2.0, 5.0))).tolist() == [
        [40, 100], [-1200, -200], [20, 60]]


def test_the_expected_count_and_p_value_are_poissons():
    """Against a direct count: the baseline count scaled by the windows' lengths (7 / 50 ms),
    and P(X <= observed) for X ~ Poisson(expected)."""
    from scipy.stats import poisson

    cs = poisson_train(1.0, 200.0, FS, seed=21, refractory_s=0.1)
    ss = poisson_train(30.0, 200.0, FS, seed=22)
    after = ss[None, :] - cs[:, None]
    observed = int(((after >= 30) & (after < 240)).sum())
    baseline = int(((after >= -1800) & (after < -300)).sum())
    test = pause_test(cs, ss, FS)
    assert test.observed == observed
    assert test.expected == pytest.approx(baseline * 210 / 1500, rel=1e-12)
    assert test.p_value == pytest.approx(poisson.cdf(observed, test.expected), rel=1e-9)
    onset = int(((after >= 30) & (after < 90)).sum())  # 1-3 ms: the onset window
    assert onset > 0 and test.onset_observed == onset
    assert test.onset_expected == pytest.approx(baseline * 60 / 1500, rel=1e-12)


def test_a_small_expected_count_is_kept_and_none_gives_p_one():
    cs = np.array([100_000, 400_000])
    ss = np.array([100_100, 99_000])  # one in the pause, one in one baseline window
    small = pause_test(cs, ss, FS)
    expected = 7 / 50
    assert small == PauseTest(observed=1, expected=pytest.approx(expected),
                              p_value=pytest.approx(np.exp(-expected) * (1 + expected)),
                              onset_observed=0,  # none at 1-3 ms; the onset's 2 / 50 ms
                              onset_expected=pytest.approx(2 / 50))
    none = pause_test(cs, np.array([100_100, 100_150]), FS)
    assert none == PauseTest(observed=2, expected=0.0, p_value=1.0)
    assert isinstance(none.observed, int) and not none.confirms(PairingSpec(alpha=1.5))


def test_trains_out_of_order_anywhere_are_sorted():
    """Also when the first spike is the earliest, or there are only two."""
    cs = poisson_train(1.0, 100.0, FS, seed=31, refractory_s=0.1)
    ss = poisson_train(60.0, 100.0, FS, seed=32)
    first_earliest = np.r_[ss[0], ss[1:][::-1]]
    assert pause_test(cs, first_earliest, FS) == pause_test(cs, ss, FS)
    two = cs[[10, 3]]
    assert pause_test(two, ss, FS) == pause_test(np.sort(two), ss, FS)


def test_confirmation_thresholds_are_strict():
    spec = PairingSpec(alpha=1e-3, max_ratio=0.5, onset_max_ratio=0.3)
    onset = {"onset_observed": 0, "onset_expected": 6.0}
    assert not PauseTest(observed=5, expected=20.0, p_value=1e-3, **onset).confirms(spec)
    assert not PauseTest(observed=10, expected=20.0, p_value=1e-9, **onset).confirms(spec)
    assert PauseTest(observed=9, expected=20.0, p_value=1e-9, **onset).confirms(spec)
    # the onset's bound is inclusive: 3 of 10 expected still starts the pause at once
    assert PauseTest(observed=9, expected=20.0, p_value=1e-9, onset_observed=3,
                     onset_expected=10.0).confirms(spec)
    assert not PauseTest(observed=9, expected=20.0, p_value=1e-9, onset_observed=4,
                         onset_expected=10.0).confirms(spec)


def test_firing_kind_thresholds_are_strict_and_a_fast_irregular_unit_is_neither():
    from phy_c4.novelty import interval_features

    regular = np.cumsum(np.random.default_rng(4).gamma(20.0, 1500.0 / 20.0, 3000)).astype(np.int64)
    log_rate, cv2, _ = interval_features(regular, FS)  # about 20 Hz, CV2 about 0.3
    rate = 10.0 ** log_rate
    assert firing_kind(regular, FS, PairingSpec(cs_max_rate_hz=rate * 1.001)) == "cs"
    assert firing_kind(regular, FS, PairingSpec(cs_max_rate_hz=rate, ss_min_rate_hz=1e9)) == ""
    assert firing_kind(regular, FS, PairingSpec(ss_min_rate_hz=rate * 0.999)) == "ss"
    assert firing_kind(regular, FS, PairingSpec(ss_min_rate_hz=rate)) == ""
    assert firing_kind(regular, FS, PairingSpec(ss_min_rate_hz=1.0, ss_max_cv2=cv2)) == ""
    assert firing_kind(regular, FS, PairingSpec(ss_min_rate_hz=1.0, ss_max_cv2=cv2 * 1.001)) \
        == "ss"
    poisson = poisson_train(50.0, 60.0, FS, seed=5)  # fast but irregular (CV2 about 1)
    assert firing_kind(poisson, FS, PairingSpec()) == ""
    assert firing_kind(poisson[:3], FS, PairingSpec()) == ""  # too few intervals: no rate


def test_the_onset_needs_an_expected_count_above_zero_not_above_one():
    spec = PairingSpec(alpha=1e-3, max_ratio=0.5)
    assert PauseTest(observed=2, expected=20.0, p_value=1e-7, onset_observed=0,
                     onset_expected=0.5).confirms(spec)


def test_merged_trains_too_large_for_one_key_are_argsorted_stably():
    """Times near 2**62 / units would overflow the time * units + position key: the argsort
    path gives the same order, ties in unit order, with more spikes than an insertion sort."""
    from phy_c4.features.pairing import _merged

    rng = np.random.default_rng(6)
    for n, base in ((2, (1 << 62) // 2), (3, 3 * (1 << 61) // 3), (4, 3 * (1 << 60))):
        units = {i: np.sort(base + rng.integers(0, 50, 400)) for i in range(n)}
        events = np.concatenate([units[i] for i in range(n)])
        owner = np.repeat(np.arange(n), 400)
        order = np.argsort(events, kind="stable")
        merged, owners = _merged(list(range(n)), units)
        assert np.array_equal(merged, events[order]) and np.array_equal(owners, owner[order])
    assert [a.size for a in _merged([0, 1], {0: np.zeros(0, np.int64),
                                             1: np.zeros(0, np.int64)})] == [0, 0]
