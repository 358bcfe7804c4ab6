"""Bad input gives a clear ValueError before any numba kernel runs."""

from __future__ import annotations

import numpy as np
import pytest

from phy_c4.features import TooFewSpikesError, acg_3d, acg_3d_log, acg_3d_many, preprocess_waveform
from tests.conftest import poisson_train


@pytest.mark.parametrize(
    ("times", "message"),
    [
        (np.array([], dtype=np.int64), "empty"),
        (np.array([5, 3, 9] * 50, dtype=np.int64), "sorted"),
        (np.repeat(np.arange(100, dtype=np.int64) * 1000, 2), "duplicate"),
        (np.arange(150, dtype=np.int64) - 10, "negative"),
        (np.linspace(0.1, 100.5, 200), "seconds"),
        (np.array(["a"] * 200), "integer"),
        (np.zeros((10, 20), dtype=np.int64), "1-D"),
    ],
)
def test_bad_spike_times_are_named(times, message):
    with pytest.raises(ValueError, match=message):
        acg_3d(times, 30000)


@pytest.mark.parametrize("fs", [0, -30000, float("nan"), float("inf"), "fast", 30])
def test_bad_sample_rate(fs):
    with pytest.raises(ValueError, match="sample rate"):
        acg_3d(poisson_train(10, 60), fs)


def test_too_few_spikes_is_its_own_error_and_configurable():
    times = poisson_train(1, 60)[:50]
    with pytest.raises(TooFewSpikesError, match="too few spikes: 50 < 100"):
        acg_3d(times, 30000)
    _edges, acg = acg_3d(times, 30000, min_spikes=10)
    assert acg.shape == (10, 2001)


def test_integral_float_times_are_accepted():
    times = poisson_train(10, 100)
    np.testing.assert_array_equal(acg_3d(times.astype(float), 30000)[1], acg_3d(times, 30000)[1])


def test_many_reports_bad_units_instead_of_raising():
    good = poisson_train(20, 120, seed=1)
    few = poisson_train(20, 120, seed=2)[:30]
    times = np.concatenate([good, few, few])  # duplicates in cluster 2 are dropped, as npyx
    clusters = np.repeat([0, 1, 1], [good.size, few.size, few.size])
    order = np.argsort(times, kind="stable")
    _, acgs, status = acg_3d_many(times[order], clusters[order], [0, 1, 7], fs=30000,
                                  min_spikes=100)
    assert status[0] == "ok"
    assert status[1] == "too few spikes: 30 < 100"
    assert status[2] == "no spikes"
    assert np.isnan(acgs[1]).all() and np.isfinite(acgs[0]).all()
    with pytest.raises(ValueError, match="must be 1-D and equal"):
        acg_3d_many(times, clusters[:-1], [0], fs=30000)


def test_acg_log_rejects_wrong_shapes_and_nan():
    with pytest.raises(ValueError, match="lags"):
        acg_3d_log(np.zeros((10, 2000)))
    bad = np.zeros((10, 2001))
    bad[0, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        acg_3d_log(bad)


@pytest.mark.parametrize(
    ("waveform", "message"),
    [
        (np.zeros(82), "all zeros"),
        (np.full(82, np.nan), "NaN"),
        (np.zeros((2, 3, 4)), "channels, samples"),
        (np.ones(5), "too short"),
    ],
)
def test_bad_waveforms(waveform, message):
    with pytest.raises(ValueError, match=message):
        preprocess_waveform(waveform)


def test_bad_peak_sign_and_rate():
    wave = -np.exp(-0.5 * ((np.arange(82) - 40) / 3.0) ** 2)
    with pytest.raises(ValueError, match="peak_sign"):
        preprocess_waveform(wave, peak_sign="Negative")
    with pytest.raises(ValueError, match="sample rate"):
        preprocess_waveform(wave, fs=0)
