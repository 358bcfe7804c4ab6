"""Waveform preprocessing as C4's model expects it (npyx 4.3.1 ``preprocess_template``).

The template is aligned on its first peak reaching 75 % of the largest one, 1 ms before and 2 ms
after at 30 kHz (90 samples), flipped so that peak has the requested sign, the baseline median
removed and the peak scaled to +-1.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks, resample

from phy_c4.config import C4_SAMPLE_RATE, WaveformSpec
from phy_c4.features.validation import check_sample_rate

_DEFAULT = WaveformSpec()
_PEAK_SIGNS = ("negative", "positive", None)


def _repolarisation(wave: np.ndarray, idx: np.ndarray, values: np.ndarray):
    """Add the first local maximum after the deepest trough when no positive peak follows it."""
    deepest = int(np.argmin(values))
    if deepest == len(values) - 1 or values[deepest + 1] < 0:
        after, _ = find_peaks(wave[idx[deepest] :])
        if len(after) > 0:
            new = after[0] + idx[deepest]
            idx = np.append(idx, new)
            values = np.append(values, wave[new])
            order = np.argsort(idx)
            idx, values = idx[order], values[order]
    return idx, values


def detect_peaks(wave: np.ndarray, margin: float = 0.5, onset: float = 0.2) -> np.ndarray:
    """Indices of the waveform's salient peaks (npyx ``feat.detect_peaks``), in time order."""
    height = margin * np.std(wave)
    distance = max(len(wave) // 20, 1)
    maxima, _ = find_peaks(wave, height=height, distance=distance)
    minima, _ = find_peaks(-wave, height=height, distance=distance)
    idx = np.concatenate((maxima, minima))
    values = np.concatenate((wave[maxima], wave[minima]))
    order = np.argsort(idx)
    idx, values = idx[order], values[order]
    outside = (idx < len(wave) // (1 / onset)) | (idx > int(len(wave) * (1 - onset)))
    idx, values = idx[~outside], values[~outside]
    if len(values):
        idx, values = _repolarisation(wave, idx, values)
    return idx


def _local_extrema(wave: np.ndarray) -> list[int]:
    """Brute-force fallback when ``detect_peaks`` finds nothing."""
    found = []
    for i in range(1, len(wave) - 1):
        rising_peak = wave[i] > wave[i - 1] and wave[i] >= wave[i + 1] and wave[i] > 0
        falling_peak = wave[i] < wave[i - 1] and wave[i] <= wave[i + 1] and wave[i] < 0
        if rising_peak or falling_peak:
            found.append(i)
    return found


def _shift_to(rows: np.ndarray, peak: int, target: int) -> np.ndarray:
    """Move column ``peak`` to ``target``, padding with the edge values as npyx does."""
    if peak < target:
        pad = np.repeat(rows[:, :1], target - peak, axis=1)
        return np.concatenate((pad, rows), axis=1)
    if peak > target:
        shift = peak - target
        pad = np.repeat(rows[:, -1:], shift, axis=1)
        return np.concatenate((rows[:, shift:], pad), axis=1)
    return rows


def _fit_length(rows: np.ndarray, n_samples: int) -> np.ndarray:
    if rows.shape[1] >= n_samples:
        return rows[:, :n_samples]
    pad = np.repeat(rows[:, -1:], n_samples - rows.shape[1], axis=1)
    return np.concatenate((rows, pad), axis=1)


def _check_waveform(waveform: np.ndarray) -> np.ndarray:
    values = np.asarray(waveform, dtype=np.float64)
    if values.ndim not in (1, 2):
        raise ValueError(f"waveform must be (samples,) or (channels, samples), got {values.shape}")
    if values.size == 0 or values.shape[-1] < 10:
        raise ValueError(f"waveform is too short: shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("waveform contains NaN or infinite values")
    if not np.any(values):
        raise ValueError("waveform is all zeros")
    return values


def preprocess_waveform(
    waveform: np.ndarray,
    peak_sign: str | None = _DEFAULT.peak_sign,
    fs: float = C4_SAMPLE_RATE,
    *,
    spec: WaveformSpec = _DEFAULT,
) -> np.ndarray:
    """C4's waveform input: ``(samples,)`` gives ``(90,)``; ``(channels, samples)`` gives
    ``(channels, 90)``, aligned, flipped and normalised on the peak channel.

    ``fs`` is the template's sample rate; other rates are resampled (Fourier, as npyx) to
    ``spec.fs``. npyx refuses rates below 30 kHz; we upsample them the same way.
    """
    if peak_sign not in _PEAK_SIGNS:
        raise ValueError(f"peak_sign must be one of {_PEAK_SIGNS}, got {peak_sign!r}")
    fs = check_sample_rate(fs)
    values = _check_waveform(waveform)
    rows = np.atleast_2d(values)
    peak_channel = int(np.argmax(np.max(np.abs(rows), axis=1)))
    if fs != spec.fs:
        n_out = int(spec.fs / fs * rows.shape[1])
        rows = resample(rows, n_out, axis=1)
    template = rows[peak_channel]

    peaks = list(detect_peaks(template, margin=0.5, onset=0.2))
    if not peaks:
        peaks = _local_extrema(template)
    if not peaks:
        raise ValueError("waveform has no peak to align on (flat or monotonic)")
    peak_values = np.abs(template[peaks])
    reference = peaks[int(np.nonzero(peak_values > 0.75 * peak_values.max())[0][0])]

    sign = template[reference]
    if (peak_sign == "negative" and sign > 0) or (peak_sign == "positive" and sign < 0):
        rows = -rows
    rows = _shift_to(rows, reference, spec.peak_index)
    rows = _fit_length(rows, spec.n_samples)
    rows = rows - np.median(rows[:, : spec.peak_index], axis=1, keepdims=True)
    scale = np.abs(rows[peak_channel, spec.peak_index])
    if scale == 0 or not np.isfinite(scale):
        raise ValueError("waveform's reference peak is zero after baseline removal")
    rows = rows / scale
    return rows[0] if values.ndim == 1 else rows
