"""Invariants of the features, checked on many generated inputs (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phy_c4.features import acg_3d, acg_3d_log, preprocess_waveform
from tests.conftest import poisson_train

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

trains = st.builds(
    poisson_train,
    rate_hz=st.floats(2, 120),
    duration_s=st.floats(30, 200),
    fs=st.sampled_from([25000.0, 30000.0, 40000.0]),
    seed=st.integers(0, 10_000),
    start_s=st.floats(3, 50),
)


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
@given(times=trains)
def test_log_acg_is_mirror_symmetric(times):
    if times.size < 100:
        return
    log = acg_3d_log(acg_3d(times, 30000.0)[1])
    np.testing.assert_array_equal(log[:, :100], log[:, 101:][:, ::-1])
    assert np.all(log[:, 100] == 0)


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


@SETTINGS
@given(
    width=st.floats(1.0, 8.0),
    centre=st.integers(30, 70),
    amplitude=st.floats(0.1, 500),
    sign=st.sampled_from([-1.0, 1.0]),
    fs=st.sampled_from([25000.0, 30000.0, 40000.0]),
)
def test_waveform_is_aligned_and_normalised(width, centre, amplitude, sign, fs):
    t = np.arange(100)
    wave = sign * amplitude * (np.exp(-0.5 * ((t - centre) / width) ** 2)
                               - 0.3 * np.exp(-0.5 * ((t - centre - 3 * width) / (2 * width)) ** 2))
    out = preprocess_waveform(wave, peak_sign="negative", fs=fs)
    assert out.shape == (90,)
    assert out[30] == -1.0 or np.isclose(out[30], -1.0)
    assert abs(np.median(out[:30])) < 1e-12
