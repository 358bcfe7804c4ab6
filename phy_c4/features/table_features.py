"""The features of the C4-database tables (``c4_derived``, from the HIPPIE benchmark), computed
from a user's spike times and waveform, so a model trained on the tables sees the same thing.

Every number comes from a ``TableFeatureSpec`` (``phy_c4.config``), which a bundle's manifest
records. The conventions were established from the tables themselves (docs/features.md):

- ``acg_1d``: raw pair counts at lags -100..+100 ms, symmetric, lag 0 set to 0. Spike times are
  floored onto a 1-ms grid and lags are grid differences: bin k holds pairs k +- 1 ms apart with
  triangular weight, so bins are centred on whole ms, as the tables' are.
- ``isi_histogram``: raw counts of inter-spike intervals in 1-ms bins over [0, 100) ms; longer
  intervals are not counted.
- ``table_waveform``: 75 samples at 30 kHz, 1 ms before and 1.5 ms after the largest absolute
  peak, flipped so that peak is negative, scaled so it is -1. (Häusser rows are 90 samples at
  30 kHz with the peak at 45; Lisberger rows 100 samples at 40 kHz with the peak at 40: both
  contain this window, which ``table_waveform`` extracts from either.)

The counts depend on the recording's length; ``model_rows`` turns them into the normalised rows
the table-feature networks read, for training tables and for a user's units alike.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from phy_c4.config import TABLE_MODALITIES, TableFeatureSpec, TableWaveformSpec
from phy_c4.features.validation import check_sample_rate, check_spike_times

DEFAULT_SPEC = TableFeatureSpec()


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


def acg_1d(spike_times: np.ndarray, fs: float, spec: TableFeatureSpec = DEFAULT_SPEC, *,
           min_spikes: int = 2) -> np.ndarray:
    """Autocorrelogram counts at lags -half..+half (``spec.acg``), lag 0 = 0."""
    fs = check_sample_rate(fs)
    times = check_spike_times(spike_times, min_spikes=min_spikes)
    samples_per_bin = int(np.ceil(fs * spec.acg.bin_ms / 1000.0))
    return _acg_counts(times // samples_per_bin, int(spec.acg.half_width_ms))


def isi_histogram(spike_times: np.ndarray, fs: float, spec: TableFeatureSpec = DEFAULT_SPEC, *,
                  min_spikes: int = 2) -> np.ndarray:
    """Counts of inter-spike intervals in ``spec.isi`` bins; longer intervals are not counted.

    Bin k holds intervals in [k, k + 1) bins exactly: an interval of a whole number of ms lands
    in its own bin (``np.histogram``'s float edges put some of them one bin lower).
    """
    fs = check_sample_rate(fs)
    times = check_spike_times(spike_times, min_spikes=min_spikes)
    in_bins = np.diff(times) * (1000.0 / (fs * spec.isi.bin_ms))
    index = np.floor(in_bins + 1e-9).astype(np.int64)
    index = index[index < spec.isi.n_bins]
    return np.bincount(index, minlength=spec.isi.n_bins).astype(np.float64)


def table_waveform(waveform: np.ndarray, fs: float, peak_index: int | None = None,
                   *, spec: TableWaveformSpec = DEFAULT_SPEC.waveform) -> np.ndarray:
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
    if not 0 <= peak < wave.size:
        raise ValueError(f"peak index {peak} is outside the {wave.size}-sample waveform")
    # Rounded up: enough input samples to interpolate the whole window at any rate (rounded
    # down, at 30.35 kHz say, its first or last sample would fall outside and be clamped).
    before = math.ceil(spec.before_ms * fs / 1000.0)
    after = math.ceil(spec.after_ms * fs / 1000.0)
    padded = np.pad(wave, (before, after), mode="edge")
    window = padded[peak : peak + before + after]  # peak at index `before`
    if fs != spec.fs:
        # Interpolate onto the model's grid around the peak, which lies on both grids (FFT
        # resampling of a non-periodic 2.5-ms window rings at its edges).
        t_in = (np.arange(window.size) - before) / fs
        t_out = (np.arange(spec.n_samples) - spec.peak_index) / spec.fs
        window = np.interp(t_out, t_in, window)
    out = window[: spec.n_samples]
    reference = out[spec.peak_index]
    if reference == 0:
        raise ValueError("waveform's peak is zero")
    sign = -1.0 if reference > 0 else 1.0  # flip so the reference peak is negative
    return sign * out / abs(reference)


def normalise_acg(counts: np.ndarray) -> np.ndarray:
    """Positive lags divided by their maximum: a shape, whatever the recording length."""
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


def presence(waveform: np.ndarray, acg: np.ndarray, isi: np.ndarray) -> np.ndarray:
    """(N, 3) flags: a modality is present when its row is finite and not all zero."""
    return np.stack([~np.isnan(m).any(axis=1) & (np.nansum(np.abs(m), axis=1) > 0)
                     for m in (waveform, acg, isi)], axis=1)


def model_rows(waveform: np.ndarray, acg: np.ndarray, isi: np.ndarray,
               *, spec: TableFeatureSpec = DEFAULT_SPEC) -> np.ndarray:
    """Normalised network rows [waveform | ACG positive lags | ISI | presence flags] (float32).

    A modality is zeroed, flag included, where a row lacks it or where the model was not trained
    on it (``spec.modalities``): its encoder would see what it never learned.
    """
    waveform, acg, isi = (np.atleast_2d(np.asarray(m, dtype=np.float64))
                          for m in (waveform, acg, isi))
    expected = (spec.waveform.n_samples, 2 * spec.acg.half_width_ms + 1, spec.isi.n_bins)
    for name, values, width in zip(TABLE_MODALITIES, (waveform, acg, isi), expected,
                                   strict=True):
        if values.shape[1] != width:
            raise ValueError(f"{name} rows have {values.shape[1]} values; the feature spec "
                             f"says {width}")
    present = presence(waveform, acg, isi)
    present &= np.array([m in spec.modalities for m in TABLE_MODALITIES])
    parts = [np.nan_to_num(waveform), normalise_acg(np.nan_to_num(acg)),
             normalise_isi(np.nan_to_num(isi))]
    parts = [np.where(present[:, i : i + 1], part, 0.0) for i, part in enumerate(parts)]
    return np.concatenate([*parts, present.astype(float)], axis=1).astype(np.float32)
