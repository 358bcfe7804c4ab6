"""The sparse, vectorised 3D-ACG against a dense transcription of npyx's algorithm.

``features/acg3d.py`` never builds an array spanning the recording: it fills rates ahead in a
sliding chunk, smooths with a vectorised box-car, takes quantiles from a sort and counts each
trigger's window in its own row. The dense version below does it the way npyx does (a rate for
every bin of the recording, the smoothing at every spike, a boolean occupancy window added per
trigger spike), with only the scalar summation orders that the reference outputs pinned down
(``blas_avx512_dot``, ``numpy_pairwise_sum``). Trains are drawn with pauses up to 40 s (fresh
chunks), hours of span (chunk slides) and bursts of several spikes per 1-ms bin.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phy_c4.features import acg_3d
from phy_c4.features._exactsum import blas_avx512_dot, numpy_pairwise_sum

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
