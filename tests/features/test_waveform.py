"""Tests of ``phy_c4.features.waveform``: C4's waveform preprocessing (npyx
`preprocess_template`).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from phy_c4.features import preprocess_waveform
from tests.conftest import SETTINGS, TOLERANCE, WVF_CASES


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


def _trough(n: int = 100, at: int = 50, depth: float = -2.0) -> np.ndarray:
    t = np.arange(n)
    return depth * np.exp(-0.5 * ((t - at) / 2.0) ** 2) + 0.4 * np.exp(
        -0.5 * ((t - at - 8) / 4.0) ** 2)


@pytest.mark.parametrize("wave, message", [
    (np.ones((1, 1, 90)), r"^waveform must be \(samples,\) or \(channels, samples\), got "
                          r"\(1, 1, 90\)$"),
    (np.ones(9), r"^waveform is too short: shape \(9,\)$"),
    (np.ones((2, 9)), r"^waveform is too short: shape \(2, 9\)$"),
    (np.ones((0, 90)), r"^waveform is too short: shape \(0, 90\)$"),
    (np.r_[np.ones(89), np.nan], "^waveform contains NaN or infinite values$"),
    (np.zeros(90), "^waveform is all zeros$"),
    (np.linspace(1.0, 2.0, 90), r"^waveform has no peak to align on \(flat or monotonic\)$"),
])
def test_preprocess_waveform_refuses_what_it_cannot_align(wave, message):
    with pytest.raises(ValueError, match=message):
        preprocess_waveform(wave)


def test_peak_sign_and_rate_are_checked():
    with pytest.raises(ValueError) as error:
        preprocess_waveform(_trough(), peak_sign="up")
    assert str(error.value) == ("peak_sign must be one of ('negative', 'positive', None), got "
                                "'up'")
    with pytest.raises(ValueError, match="below 1 kHz"):
        preprocess_waveform(_trough(), fs=30.0)


def test_ten_samples_are_enough():
    out = preprocess_waveform(np.r_[0.0, 0.1, 0.2, 0.1, -1.0, -0.2, 0.3, 0.1, 0.0, 0.05])
    assert out.shape == (90,) and out[30] == -1.0


def test_the_peak_gets_the_requested_sign_or_keeps_its_own():
    wave = _trough()
    assert preprocess_waveform(wave, peak_sign="negative")[30] == -1.0
    assert preprocess_waveform(wave, peak_sign="positive")[30] == 1.0
    assert preprocess_waveform(wave, peak_sign=None)[30] == -1.0
    assert preprocess_waveform(-wave, peak_sign=None)[30] == 1.0
    assert preprocess_waveform(-wave, peak_sign="negative")[30] == -1.0
    assert preprocess_waveform(-wave, peak_sign="positive")[30] == 1.0


def test_the_trough_moves_to_sample_30_with_edge_padding_and_the_baseline_median_removed():
    for at in (20, 50, 80):  # shifted right, not at all, left
        wave = _trough(at=at) + 0.25
        out = preprocess_waveform(wave)
        assert out.shape == (90,) and out[30] == -1.0 and abs(np.median(out[:30])) < 1e-12
        shifted = np.r_[np.full(max(0, 30 - at), wave[0]), wave[max(0, at - 30):],
                        np.full(90, wave[-1])][:90]
        shifted = shifted - np.median(shifted[:30])
        np.testing.assert_allclose(out, shifted / abs(shifted[30]), rtol=0, atol=1e-12)


def test_channels_are_aligned_and_scaled_on_the_peak_channel():
    wave = _trough()
    rows = np.stack([0.5 * wave, wave, np.roll(wave, 3) * 0.2])
    out = preprocess_waveform(rows)
    single = preprocess_waveform(wave)
    assert out.shape == (3, 90)
    np.testing.assert_allclose(out[1], single, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out[0], 0.5 * single, rtol=0, atol=1e-12)
    assert preprocess_waveform(rows[1]).shape == (90,)


def test_other_rates_are_resampled_to_30_khz_before_alignment():
    t = np.arange(80) / 20000.0
    wave = -np.exp(-0.5 * ((t - 2e-3) / 1.5e-4) ** 2) + 0.3 * np.exp(
        -0.5 * ((t - 2.4e-3) / 3e-4) ** 2)
    out = preprocess_waveform(wave, fs=20000.0)
    assert out.shape == (90,) and out[30] == -1.0
    from scipy.signal import resample

    assert not np.allclose(out, preprocess_waveform(wave, fs=30000.0))
    np.testing.assert_allclose(out, preprocess_waveform(resample(wave, 120), fs=30000.0),
                               rtol=0, atol=1e-12)


def test_a_peak_outside_the_middle_60_percent_is_found_by_the_fallback():
    wave = np.zeros(100)
    wave[5], wave[4], wave[6] = -1.0, -0.3, -0.2  # detect_peaks ignores the first 20 %
    wave[60] = 0.05
    out = preprocess_waveform(wave)
    assert out[30] == -1.0 and out[29] == pytest.approx(-0.3) and out[31] == pytest.approx(-0.2)


def test_float32_templates_give_float64_inputs():
    wave = _trough().astype(np.float32)
    out = preprocess_waveform(wave)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, preprocess_waveform(wave.astype(np.float64)))


def test_the_reference_is_the_first_peak_in_time_above_75_percent_of_the_largest():
    """Peaks in time order, whatever their sign (find_peaks gives maxima and minima apart)."""
    t = np.arange(100)

    def bumps(*spec):
        return sum(h * np.exp(-0.5 * ((t - at) / w) ** 2) for at, h, w in spec)

    wave = bumps((30, -1.6, 2.0), (45, 1.7, 2.0), (60, -2.0, 3.0))
    out = preprocess_waveform(wave, peak_sign=None)
    assert out[30] == -1.0 and out[45] > 0.9  # the trough at 30, not the larger peak at 45
    exactly = bumps((40, 0.75, 1.0), (55, -1.0, 1.0))  # a first peak of exactly 75 %
    assert exactly[40] == 0.75 and exactly[55] == -1.0
    out = preprocess_waveform(exactly, peak_sign=None)
    assert out[30] == -1.0 and out[15] > 0.7  # not above 75 %: the trough is the reference


def test_a_reference_peak_level_with_the_baseline_is_refused():
    wave = -np.ones(90)
    wave[10] = -0.5  # the only extremum is the -1 at 11, equal to the baseline
    with pytest.raises(ValueError) as error:
        preprocess_waveform(wave)
    assert str(error.value) == "waveform's reference peak is zero after baseline removal"


def test_local_extrema_are_strict_on_the_left_and_signed():
    from phy_c4.features.waveform import _local_extrema

    wave = np.array([0.5, -0.2, 0.6, 0.6, 0.0, -1.0, -1.0, -0.5, 0.0, -0.5, 0.0, -0.5,  # 0-11
                     1.0, 0.2, 0.8, 0.1, -1.0, -0.2, -0.6, -0.1, -0.2, -0.4, -0.6,  # 12-22
                     0.0, -0.5, -0.3, -0.8, 0.0, 0.5, 0.0, 0.5, 0.6, 0.3, 0.6, 0.9, 0.0])
    inner = wave[1:-1]
    rising = (inner > wave[:-2]) & (inner >= wave[2:]) & (inner > 0)
    falling = (inner < wave[:-2]) & (inner <= wave[2:]) & (inner < 0)
    expected = list(np.flatnonzero(rising | falling) + 1)
    assert expected == [1, 2, 5, 9, 11, 12, 14, 16, 18, 22, 24, 26, 28, 31, 34]
    assert _local_extrema(wave) == expected


def test_detect_peaks_ignores_the_last_20_percent_but_adds_the_repolarisation():
    """npyx's ``detect_peaks``: the salient peak at 90 of 100 samples is cut; the trough, last
    of the salient peaks, gets the first local maximum after it (the small bump at 70)."""
    from phy_c4.features.waveform import detect_peaks

    t = np.arange(100)
    wave = sum(h * np.exp(-0.5 * ((t - at) / 2.0) ** 2)
               for at, h in ((50, -2.0), (70, 0.1), (90, 1.5)))
    assert list(detect_peaks(wave, margin=0.5, onset=0.2)) == [50, 70]
    alone = wave - 1.5 * np.exp(-0.5 * ((t - 90) / 2.0) ** 2)  # one local maximum after it
    assert list(detect_peaks(alone, margin=0.5, onset=0.2)) == [50, 70]


@pytest.mark.parametrize("case", WVF_CASES)
def test_preprocess_waveform_equals_npyx(npyx_features, case):
    waveform = npyx_features[f"wvf/{case}/input"]
    peak_sign = str(npyx_features[f"wvf/{case}/peak_sign"])
    expected = npyx_features[f"wvf/{case}/output"]
    result = preprocess_waveform(waveform, peak_sign=peak_sign)
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, rtol=0, atol=TOLERANCE)
