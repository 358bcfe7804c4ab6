"""The features of the C4-database tables (``c4_derived``, from the HIPPIE benchmark), computed
from a user's spike times and waveform, so a model trained on the tables sees the same thing.

Conventions, established from the tables themselves and HIPPIE's loader (see docs/features.md):

- ``acg_1d``: 201 raw pair counts at lags -100..+100 ms in 1-ms bins, symmetric, lag 0 set to 0.
  Spikes are put on a 1-ms grid (sample // samples-per-ms, as npyx's ACGs) and lags are grid
  differences; a 1-ms bin holding several spikes counts each pair.
- ``isi_histogram``: 100 raw counts of inter-spike intervals in 2-ms bins over [0, 200) ms
  (``np.histogram(isi_s, bins=100, range=(0, 0.2))``); longer intervals are not counted.
- ``table_waveform``: 75 samples at 30 kHz, 1 ms before and 1.5 ms after the largest absolute
  peak, flipped so that peak is negative, scaled so it is -1. (Häusser rows are 90 samples at
  30 kHz with the peak at 45; Lisberger rows 100 samples at 40 kHz with the peak at 40: both
  contain this window, which ``table_waveform`` extracts from either.)

The counts are scale-dependent (recording length); models normalise them (``normalise_*``).
"""

from __future__ import annotations

import numba
import numpy as np

from phy_c4.features.validation import check_sample_rate, check_spike_times

ACG_HALF_MS = 100
ISI_BINS = 100
ISI_RANGE_S = (0.0, 0.2)
WAVE_FS = 30000.0
WAVE_BEFORE_S = 1e-3
WAVE_AFTER_S = 1.5e-3
WAVE_SAMPLES = int(round((WAVE_BEFORE_S + WAVE_AFTER_S) * WAVE_FS))  # 75
WAVE_PEAK = int(round(WAVE_BEFORE_S * WAVE_FS))  # 30


@numba.njit(cache=True, nogil=True)
def _acg_counts(bins: np.ndarray, half: int) -> np.ndarray:
    counts = np.zeros(2 * half + 1, dtype=np.float64)
    n = bins.size
    for i in range(n):
        j = i + 1
        while j < n and bins[j] - bins[i] <= half:
            lag = bins[j] - bins[i]
            counts[half + lag] += 1.0
            counts[half - lag] += 1.0
            j += 1
    counts[half] = 0.0
    return counts


def acg_1d(spike_times: np.ndarray, fs: float, *, half_ms: int = ACG_HALF_MS,
           min_spikes: int = 2) -> np.ndarray:
    """Autocorrelogram counts at lags -half_ms..+half_ms (1-ms bins), lag 0 = 0."""
    fs = check_sample_rate(fs)
    times = check_spike_times(spike_times, min_spikes=min_spikes)
    samples_per_ms = int(np.ceil(fs / 1000.0))
    return _acg_counts(times // samples_per_ms, int(half_ms))


def isi_histogram(spike_times: np.ndarray, fs: float, *, n_bins: int = ISI_BINS,
                  range_s: tuple[float, float] = ISI_RANGE_S, min_spikes: int = 2) -> np.ndarray:
    """Counts of inter-spike intervals in ``n_bins`` equal bins over ``range_s`` (seconds)."""
    fs = check_sample_rate(fs)
    times = check_spike_times(spike_times, min_spikes=min_spikes)
    isis = np.diff(times) / fs
    counts, _ = np.histogram(isis, bins=n_bins, range=range_s)
    return counts.astype(np.float64)


def table_waveform(waveform: np.ndarray, fs: float, peak_index: int | None = None) -> np.ndarray:
    """The tables' waveform window (75 samples, 30 kHz, peak at 30 and equal to -1).

    ``peak_index`` defaults to the largest absolute value. Samples outside the input are padded
    with its edge values.
    """
    fs = check_sample_rate(fs)
    wave = np.asarray(waveform, dtype=np.float64)
    if wave.ndim != 1 or wave.size < 5:
        raise ValueError(f"waveform must be 1-D with at least 5 samples, got {wave.shape}")
    if not np.all(np.isfinite(wave)):
        raise ValueError("waveform contains NaN or infinite values")
    if not np.any(wave):
        raise ValueError("waveform is all zeros")
    peak = int(np.argmax(np.abs(wave))) if peak_index is None else int(peak_index)
    before = int(round(WAVE_BEFORE_S * fs))
    after = int(round(WAVE_AFTER_S * fs))
    padded = np.pad(wave, (before, after), mode="edge")
    window = padded[peak : peak + before + after]  # peak at index `before`
    if fs != WAVE_FS:
        # Interpolate onto the 30-kHz grid around the peak, which lies on both grids (FFT
        # resampling of a non-periodic 2.5-ms window rings at its edges).
        t_in = (np.arange(window.size) - before) / fs
        t_out = (np.arange(WAVE_SAMPLES) - WAVE_PEAK) / WAVE_FS
        window = np.interp(t_out, t_in, window)
    out = window[:WAVE_SAMPLES]
    reference = out[WAVE_PEAK]
    if reference == 0:
        raise ValueError("waveform's peak is zero")
    sign = -1.0 if reference > 0 else 1.0  # flip so the reference peak is negative
    return sign * out / abs(reference)


def normalise_acg(counts: np.ndarray) -> np.ndarray:
    """Positive lags 1..100 ms divided by their maximum: a shape, whatever the recording length."""
    counts = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    positive = counts[:, counts.shape[1] // 2 + 1 :]
    peak = positive.max(axis=1, keepdims=True)
    return np.divide(positive, peak, out=np.zeros_like(positive), where=peak > 0)


def normalise_isi(counts: np.ndarray) -> np.ndarray:
    """ISI counts as a distribution (sum 1), square-rooted and divided by its maximum."""
    counts = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    total = counts.sum(axis=1, keepdims=True)
    p = np.sqrt(np.divide(counts, total, out=np.zeros_like(counts), where=total > 0))
    peak = p.max(axis=1, keepdims=True)
    return np.divide(p, peak, out=np.zeros_like(p), where=peak > 0)
