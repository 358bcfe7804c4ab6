"""Tests of ``phy_c4.features.acg3d``: the 3D autocorrelogram (npyx
`crosscorr_vs_firing_rate`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phy_c4.config import AcgSpec
from phy_c4.features import acg_3d, acg_3d_log, acg_3d_many
from phy_c4.features._exactsum import (
    blas_avx512_dot,
    numpy_pairwise_sum,
)
from phy_c4.features.acg3d import acg_3d_units, quantiles_linear
from phy_c4.features.validation import TooFewSpikesError
from tests.conftest import ACG_CASES, SETTINGS, TOLERANCE, WVF_CASES, poisson_train, trains

FS = 30000.0


SAMPLES_PER_BIN = 30  # 1-ms bins at 30 kHz


KERNEL = 250  # 250-ms box-car


HALF_WINDOW = 1000  # 2-s window, 2001 lags


def dense_acg_3d(times: np.ndarray, n_rows: int = 10, edges: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    bins = times // SAMPLES_PER_BIN
    n_bins = int(bins[-1]) + 1
    rate = np.zeros(n_bins)
    for i in range(1, bins.size - 1):  # inverse-ISI rate, one cell per spike
        start = bins[i - 1] + (bins[i] - bins[i - 1]) // 2
        stop = bins[i] + (bins[i + 1] - bins[i]) // 2
        if stop > start:
            rate[start:stop] = 1.0 / ((stop - start) * 0.001)
    lanes = np.empty(48)
    weights = np.full(KERNEL, 1.0 / KERNEL)
    smoothed = np.empty(bins.size)
    for j, b in enumerate(bins):
        if b < KERNEL or b >= n_bins - KERNEL:  # npyx's plain mean over a clipped window
            lo, hi = max(0, b - KERNEL // 2), min(n_bins, b + KERNEL // 2)
            smoothed[j] = numpy_pairwise_sum(rate, lo, hi - lo) / (hi - lo) if hi > lo else 0.0
        else:
            smoothed[j] = blas_avx512_dot(rate[b - KERNEL // 2:], weights, KERNEL, lanes)
    if edges is None:
        edges = np.quantile(smoothed, np.linspace(0, 1, n_rows + 2)[1:-1])
    occupied = np.zeros(n_bins, dtype=bool)
    occupied[bins] = True
    counts = np.zeros((n_rows, 2 * HALF_WINDOW + 1))
    triggers = np.zeros(n_rows)
    for j, b in enumerate(bins):
        if b - HALF_WINDOW < 0 or b + HALF_WINDOW + 1 >= n_bins or b >= bins[-1]:
            continue
        above = np.flatnonzero(edges >= smoothed[j])
        row = above[0] if above.size else (n_rows - 1 if smoothed[j] > edges[0] else 0)
        counts[row] += occupied[b - HALF_WINDOW : b + HALF_WINDOW + 1]
        triggers[row] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        acg = np.nan_to_num(counts / triggers[:, None])
    acg[:, HALF_WINDOW] = 0.0
    return edges, acg


def drawn_train(seed: int, rate_hz: float, n_spikes: int, pause_probability: float,
                burst_probability: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    isi_s = rng.exponential(1.0 / rate_hz, n_spikes)
    pauses = rng.random(n_spikes) < pause_probability
    isi_s[pauses] += rng.uniform(0.3, 40.0, pauses.sum())
    bursts = rng.random(n_spikes) < burst_probability
    isi_s[bursts] = rng.uniform(0.0001, 0.002, bursts.sum())  # often within one 1-ms bin
    samples = np.cumsum(np.round(isi_s * FS)).astype(np.int64) + int(rng.integers(0, 10**8))
    return np.unique(samples)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), rate_hz=st.floats(0.5, 200.0),
       n_spikes=st.integers(150, 2500), pause_probability=st.sampled_from([0.0, 0.005, 0.05]),
       burst_probability=st.sampled_from([0.0, 0.1, 0.4]))
def test_acg_3d_equals_the_dense_algorithm_bit_for_bit(seed, rate_hz, n_spikes,
                                                        pause_probability, burst_probability):
    times = drawn_train(seed, rate_hz, n_spikes, pause_probability, burst_probability)
    edges, acg = acg_3d(times, FS)
    dense_edges, dense_acg = dense_acg_3d(times)
    assert np.array_equal(edges, dense_edges)
    assert np.array_equal(acg, dense_acg)


def test_a_long_sparse_train_slides_the_chunk_many_times():
    """2 Hz for 2 h with 40-s pauses: about 200 chunk slides and 100 fresh starts."""
    times = drawn_train(11, 2.0, 12_000, 0.01, 0.05)
    assert (times[-1] - times[0]) / FS > 2 * 3600
    edges, acg = acg_3d(times, FS)
    dense_edges, dense_acg = dense_acg_3d(times)
    assert np.array_equal(edges, dense_edges) and np.array_equal(acg, dense_acg)


def test_rows_follow_npyx_rule_for_edges_in_any_order():
    """The branch-free row lookup is used only for ascending edges; any other order takes
    npyx's rule literally (first edge >= rate, else the top row if above edge 0)."""
    from phy_c4.features.acg3d import _accumulate, _smoothed_rate_at_spikes

    times = drawn_train(5, 40.0, 1500, 0.0, 0.1)
    bins = times // SAMPLES_PER_BIN
    rates = _smoothed_rate_at_spikes(bins, 0.001, KERNEL)
    rng = np.random.default_rng(0)
    for edges in (np.sort(rng.choice(rates, 10)), rng.choice(rates, 10),
                  np.sort(rng.choice(rates, 10))[::-1].copy()):
        counts, triggers = _accumulate(bins, rates, edges, -HALF_WINDOW, 2 * HALF_WINDOW + 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            acg = np.nan_to_num(counts / triggers[:, None])
        acg[:, HALF_WINDOW] = 0.0
        assert np.array_equal(acg, dense_acg_3d(times, edges=edges)[1])


def test_quantiles_are_numpys_linear_quantiles_bit_for_bit():
    rng = np.random.default_rng(0)
    levels = np.r_[0.0, np.linspace(0, 1, 12)[1:-1], 0.5, 0.25, 1.0]
    for n in (1, 2, 3, 7, 10, 101, 1000):
        values = rng.gamma(2.0, 10.0, n).round(rng.integers(0, 3))
        np.testing.assert_array_equal(quantiles_linear(values, levels),
                                      np.quantile(values, levels))
    values = rng.permutation(np.arange(11.0))  # gammas of exactly 0.5 and the ends
    np.testing.assert_array_equal(quantiles_linear(values, [0.0, 0.05, 0.15, 0.95, 1.0]),
                                  np.quantile(values, [0.0, 0.05, 0.15, 0.95, 1.0]))


@pytest.mark.parametrize("option, value", [("win_ms", 0.0), ("bin_ms", -1.0),
                                           ("smooth_ms", 0.0)])
def test_window_bin_and_smoothing_must_be_positive(option, value):
    times = poisson_train(20, 30, seed=1)
    with pytest.raises(ValueError) as error:
        acg_3d(times, FS, **{option: value})
    assert str(error.value) == "win_ms, bin_ms and smooth_ms must be positive"
    with pytest.raises(ValueError) as error:
        acg_3d(times, FS, n_rate_bins=0)
    assert str(error.value) == "n_rate_bins must be at least 1"


def test_the_window_has_an_odd_number_of_lags_and_bins_are_at_least_one_sample():
    times = poisson_train(30, 60, seed=2)
    for win_ms, n_lags in ((100.0, 101), (101.0, 101), (102.0, 103)):
        edges, acg = acg_3d(times, FS, win_ms=win_ms, n_rate_bins=4)
        assert edges.shape == (4,) and acg.shape == (4, n_lags)
        assert np.all(acg[:, n_lags // 2] == 0.0)
    fine = acg_3d(times, FS, win_ms=10.0, bin_ms=0.001)[1]  # clipped to one sample
    np.testing.assert_array_equal(fine, acg_3d(times, FS, win_ms=10.0, bin_ms=1000 / FS)[1])
    assert fine.shape == (10, 2 * int(5.0 / (1000 / FS)) + 1)


def test_a_unit_needs_min_spikes():
    times = poisson_train(30, 60, seed=3)
    acg_3d(times[:100], FS)
    with pytest.raises(TooFewSpikesError):
        acg_3d(times[:99], FS)
    acg_3d(times[:20], FS, min_spikes=20)


def test_many_units_in_any_order_with_duplicates_or_too_few_spikes():
    trains = [poisson_train(rate, 60, seed=seed) for seed, rate in ((4, 30), (5, 8), (6, 50))]
    shuffled = np.random.default_rng(0).permutation(np.r_[trains[1], trains[1][:50]])
    units = [trains[0], shuffled, np.array([], dtype=np.int64), trains[2][:99], trains[2]]
    for n_jobs in (1, 2):
        edges, acgs, status = acg_3d_units(units, FS, n_jobs=n_jobs)
        assert status == ["ok", "ok", "no spikes", "too few spikes: 99 < 100", "ok"]
        assert edges.shape == (5, 10) and acgs.shape == (5, 10, 2001)
        for i, train in ((0, trains[0]), (1, trains[1]), (4, trains[2])):
            expected_edges, expected = acg_3d(train, FS)
            np.testing.assert_array_equal(edges[i], expected_edges)
            np.testing.assert_array_equal(acgs[i], expected)
        assert np.isnan(edges[2:4]).all() and np.isnan(acgs[2:4]).all()
    edges, acgs, status = acg_3d_units(units[3:4], FS, min_spikes=99)
    assert status == ["ok"]


def test_many_clusters_from_phys_flat_arrays():
    trains = {7: poisson_train(30, 60, seed=7), 3: poisson_train(10, 60, seed=8)}
    times = np.concatenate(list(trains.values()))
    clusters = np.concatenate([np.full(t.size, c) for c, t in trains.items()])
    order = np.argsort(times, kind="stable")
    _, acgs, status = acg_3d_many(times[order], clusters[order], [3, 9, 7], fs=FS)
    assert status == ["ok", "no spikes", "ok"]
    for i, cluster in ((0, 3), (2, 7)):
        np.testing.assert_array_equal(acgs[i], acg_3d(trains[cluster], FS)[1])
    with pytest.raises(ValueError) as error:
        acg_3d_many(times, clusters[:-1], [3], fs=FS)
    assert str(error.value) == (f"spike_times ({times.size},) and spike_clusters "
                                f"({times.size - 1},) must be 1-D and equal")


def test_a_quantile_halfway_between_two_rates_is_numpys_upper_form():
    np.testing.assert_array_equal(quantiles_linear(np.array([0.1, 0.7]), [0.5]),
                                  np.quantile([0.1, 0.7], [0.5]))  # 0.39999999999999997


def test_the_smallest_valid_settings_are_accepted_and_zero_is_not():
    times = poisson_train(30, 60, seed=9)
    assert acg_3d(times, FS, n_rate_bins=1)[1].shape == (1, 2001)
    assert acg_3d(times, FS, win_ms=0.5, bin_ms=0.1)[1].shape == (10, 5)  # 0.1 ms > 1 sample
    assert acg_3d(times, FS, smooth_ms=0.5)[1].shape == (10, 2001)
    with pytest.raises(ValueError, match="must be positive"):
        acg_3d(times, FS, bin_ms=0.0)


def test_rows_without_triggers_are_zero_and_silent():
    import warnings

    times = np.arange(3000) * 3000  # 10 Hz exactly: one rate, the other rows empty
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        edges, acg = acg_3d(times, FS)
    assert np.all(edges == edges[0]) and np.isfinite(acg).all()


def test_many_clusters_take_the_spec_and_min_spikes_they_are_given():
    times = poisson_train(30, 60, seed=10)
    clusters = np.zeros(times.size, dtype=np.int64)
    clusters[100:] = 1
    _, acgs, status = acg_3d_many(times, clusters, [0, 1], fs=FS)
    assert status[0] == "ok" and acgs.shape[1:] == (10, 2001)  # exactly 100 spikes is enough
    _, acgs, status = acg_3d_many(times[:150], clusters[:150], [0, 1], fs=FS, min_spikes=20,
                                  spec=dataclasses.replace(AcgSpec(), n_rate_bins=4))
    assert status == ["ok", "ok"] and acgs.shape == (2, 4, 2001)


def test_units_in_any_disorder_are_sorted_first():
    train = poisson_train(30, 60, seed=11)
    backwards = np.r_[train[:1], train[50:], train[1:50]]  # later spikes all after the first
    _, acgs, status = acg_3d_units([backwards, train[[5, 3]]], FS)
    assert status == ["ok", "too few spikes: 2 < 100"]
    np.testing.assert_array_equal(acgs[0], acg_3d(train, FS)[1])


def test_quantiles_from_a_sort_are_numpys_quantiles_bit_for_bit():
    """Ties, one value, the 0 and 1 quantiles, spreads over many decades."""
    rng = np.random.default_rng(6)
    for k in range(4000):
        n = int(rng.integers(1, 25 if k % 2 else 3000))
        kinds = (rng.random(n) * 10.0 ** rng.integers(-3, 5),
                 rng.integers(0, 4, n).astype(float),
                 rng.exponential(50.0, n) * 10.0 ** rng.integers(-6, 6, n))
        quantiles = (np.linspace(0, 1, int(rng.integers(3, 14)))[1:-1],
                     np.array([0.0, 1.0, 0.5]), rng.random(5))
        for values in kinds:
            for q in quantiles:
                assert np.array_equal(quantiles_linear(values, q), np.quantile(values, q))


@SETTINGS
@given(times=trains)
def test_shapes_non_negative_and_rows_are_probabilities(times):
    fs = 30000.0
    if times.size < 100:
        return
    edges, acg = acg_3d(times, fs)
    assert edges.shape == (10,) and acg.shape == (10, 2001)
    assert np.all(np.diff(edges) >= 0)
    assert np.all(acg >= 0) and np.all(acg <= 1)
    assert np.all(acg[:, 1000] == 0)
    log = acg_3d_log(acg)
    assert log.shape == (10, 201) and np.all(log >= 0)


@SETTINGS
@given(times=trains, shift_bins=st.integers(0, 10**9), fs=st.sampled_from([25000.0, 30000.0]))
def test_constant_time_shift_changes_nothing(times, shift_bins, fs):
    """Shifting by whole 1-ms bins is exact (trains start after the 1.25-s edge zone)."""
    if times.size < 100:
        return
    samples_per_bin = int(np.ceil(fs / 1000))
    shift = shift_bins * samples_per_bin
    e0, a0 = acg_3d(times, fs)
    e1, a1 = acg_3d(times + shift, fs)
    np.testing.assert_array_equal(e0, e1)
    np.testing.assert_array_equal(a0, a1)


def test_cost_does_not_grow_with_recording_length():
    """A unit a year into the recording (1e12 samples): a per-ms grid would need 250 GB."""
    times = poisson_train(50, 60, seed=3) + 10**12
    _edges, acg = acg_3d(times, 30000.0)
    assert np.isfinite(acg).all() and acg.sum() > 0


def test_reference_lists_the_cases_we_test(npyx_features):
    acg_cases = {key.split("/")[1] for key in npyx_features if key.startswith("acg/")}
    wvf_cases = {key.split("/")[1] for key in npyx_features if key.startswith("wvf/")}
    assert acg_cases == set(ACG_CASES)
    assert wvf_cases == set(WVF_CASES)


@pytest.mark.parametrize("case", ACG_CASES)
def test_acg_3d_equals_npyx(npyx_features, case):
    times = npyx_features[f"acg/{case}/times"]
    fs = float(npyx_features[f"acg/{case}/fs"])
    edges, acg = acg_3d(times, fs)
    assert acg.shape == (10, 2001)
    np.testing.assert_allclose(edges, npyx_features[f"acg/{case}/fr_bins"], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(acg, npyx_features[f"acg/{case}/acg_lin"], rtol=0, atol=TOLERANCE)
    # stronger than the issue asks: the emulated summation order makes them bit-identical
    np.testing.assert_array_equal(edges, npyx_features[f"acg/{case}/fr_bins"])
    np.testing.assert_array_equal(acg, npyx_features[f"acg/{case}/acg_lin"])
    log = acg_3d_log(acg)
    assert log.shape == (10, 201)
    np.testing.assert_allclose(log, npyx_features[f"acg/{case}/acg_log"], rtol=0, atol=TOLERANCE)


def test_many_units_equal_single_unit_results(npyx_features):
    cases = [c for c in ACG_CASES if float(npyx_features[f"acg/{c}/fs"]) == 30000.0]
    times = np.concatenate([npyx_features[f"acg/{c}/times"] for c in cases])
    clusters = np.concatenate([np.full(npyx_features[f"acg/{c}/times"].size, 10 + i)
                               for i, c in enumerate(cases)])
    order = np.argsort(times, kind="stable")
    edges, acgs, status = acg_3d_many(times[order], clusters[order],
                                      [10 + i for i in range(len(cases))] + [999], fs=30000.0)
    assert status[:-1] == ["ok"] * len(cases)
    assert status[-1] == "no spikes" and np.isnan(acgs[-1]).all()
    for i, case in enumerate(cases):
        np.testing.assert_allclose(acgs[i], npyx_features[f"acg/{case}/acg_lin"], rtol=0,
                                   atol=TOLERANCE)
        np.testing.assert_allclose(edges[i], npyx_features[f"acg/{case}/fr_bins"], rtol=0,
                                   atol=TOLERANCE)
