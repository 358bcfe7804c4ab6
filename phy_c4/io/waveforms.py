"""The mean waveform C4 uses: drift- and shift-matched from the raw binary (npyx ``wvf_dsmatch``),
or, when no binary is present, the cluster's unwhitened template.

Raw path (npyx 4.3.1 defaults): consecutive batches of 10 spikes (at most 500 batches), 120-sample
windows with each channel's median removed, batch means; batches too large or read past the file
are dropped; keep the batches whose peak channel is the modal one (z-drift), the 80 batches just
below the 95th amplitude percentile (xy-drift), align each to the median of the 50 largest
(shift <= 5 samples, searched on the peak channel +-3), take the median and centre the peak.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phy_c4.io.dataset import Recording


@dataclass(frozen=True)
class ExtractionSpec:
    """How the mean waveform is extracted from the raw binary (npyx ``wvf_dsmatch`` defaults)."""

    n_samples: int = 120
    batch_size: int = 10
    max_batches: int = 500
    peak_range: int = 6
    max_amplitude_uv: float = 3000.0
    uv_per_bit: float | None = None  # None: no amplitude ceiling (unknown raw scaling)
    n_keep: int = 80
    amplitude_percentile: float = 0.95
    n_template: int = 50
    max_shift: int = 5
    match_channels: int = 3


@dataclass
class UnitWaveform:
    peak_channel_waveform: np.ndarray  # (samples,)
    all_channels: np.ndarray  # (channels, samples)
    source: str  # "raw" or "template"
    fs: float


def template_waveform(recording: Recording, cluster_id: int) -> UnitWaveform:
    """The cluster's unwhitened template (channels x samples) and its peak channel."""
    wave = recording.template_waveform(cluster_id)
    peak = int(np.argmax(np.max(np.abs(wave), axis=1)))
    return UnitWaveform(wave[peak], wave, "template", recording.fs)


def _read_batches(traces, spike_samples: np.ndarray, spec: ExtractionSpec) -> np.ndarray:
    """Batch means (n_batches, samples, channels); batches with unreadable windows dropped."""
    n_total = traces.shape[0]
    half = spec.n_samples // 2
    n_batches = spike_samples.size // spec.batch_size
    batch_ids = np.arange(n_batches)
    if n_batches > spec.max_batches:
        batch_ids = np.linspace(0, n_batches - 1, spec.max_batches).astype(int)
    means = []
    for b in batch_ids:
        samples = spike_samples[b * spec.batch_size : (b + 1) * spec.batch_size]
        if samples[0] - half < 0 or samples[-1] + half > n_total:
            continue
        try:
            windows = np.stack([np.asarray(traces[s - half : s + half], dtype=np.float64)
                                for s in samples])
        except (ValueError, OSError, IndexError):
            continue
        if windows.shape[1] != spec.n_samples:
            continue
        windows -= np.median(windows, axis=1, keepdims=True)
        means.append(windows.mean(axis=0))
    if not means:
        return np.zeros((0, spec.n_samples, traces.shape[1]))
    return np.stack(means)


def _shift_match(batches: np.ndarray, peak: int, spec: ExtractionSpec) -> np.ndarray:
    order = np.argsort(-np.ptp(batches[:, :, peak], axis=1))
    template = np.median(batches[order[: spec.n_template]], axis=0)
    lo = max(0, peak - spec.match_channels)
    hi = min(batches.shape[2], peak + spec.match_channels)
    reference = template[:, lo:hi].ravel(order="F")
    kept = []
    lags = np.arange(-spec.max_shift - 5, spec.max_shift + 6)
    for batch in batches:
        scores = [np.dot(np.roll(batch[:, lo:hi], lag, axis=0).ravel(order="F"), reference)
                  for lag in lags]
        lag = int(lags[int(np.argmax(scores))])
        if abs(lag) <= spec.max_shift:
            kept.append(np.roll(batch, lag, axis=0))
    return np.stack(kept) if kept else batches[:0]


def raw_waveform(recording: Recording, cluster_id: int, template_peak: int,
                 spec: ExtractionSpec = ExtractionSpec()) -> UnitWaveform | None:
    """npyx's drift- and shift-matched mean waveform, or None when too little is readable."""
    traces = recording.model.traces
    spikes = recording.spike_times[recording.spikes_of(cluster_id)]
    batches = _read_batches(traces, spikes, spec)
    if batches.shape[0] == 0:
        return None
    centre = spec.n_samples // 2
    channels = np.arange(max(0, template_peak - spec.peak_range),
                         min(batches.shape[2], template_peak + spec.peak_range + 1))
    window = batches[:, centre - 20 : centre + 20][:, :, channels]
    amplitude = np.ptp(window, axis=1).max(axis=1)
    if spec.uv_per_bit is not None:
        batches = batches[amplitude * spec.uv_per_bit < spec.max_amplitude_uv]
        amplitude = amplitude[amplitude * spec.uv_per_bit < spec.max_amplitude_uv]
    if batches.shape[0] == 0:
        return None
    peaks = np.ptp(batches, axis=1).argmax(axis=1)
    modal = int(np.bincount(peaks).argmax())
    batches, amplitude = batches[peaks == modal], amplitude[peaks == modal]
    order = np.argsort(amplitude)
    top = int(spec.amplitude_percentile * len(order))
    chosen = order[:spec.n_keep] if top < spec.n_keep else order[top - spec.n_keep : top]
    matched = _shift_match(batches[chosen], modal, spec)
    if matched.shape[0] == 0:
        return None
    median = np.median(matched, axis=0)  # (samples, channels)
    offset = centre - int(np.argmax(np.abs(median[:, modal])))
    median = np.roll(median, offset, axis=0)
    return UnitWaveform(median[:, modal], median.T, "raw", recording.fs)


def unit_waveform(recording: Recording, cluster_id: int, source: str = "auto",
                  spec: ExtractionSpec = ExtractionSpec()) -> UnitWaveform:
    """Raw (when the binary is there and ``source`` allows) else template waveform."""
    if source not in ("auto", "raw", "template"):
        raise ValueError(f"waveform source must be auto, raw or template, got {source!r}")
    template = template_waveform(recording, cluster_id)
    if source == "template" or not recording.has_raw:
        if source == "raw":
            raise ValueError("waveform source 'raw' asked for, but the dataset has no raw binary")
        return template
    peak = int(np.argmax(np.max(np.abs(template.all_channels), axis=1)))
    raw = raw_waveform(recording, cluster_id, peak, spec)
    if raw is None:
        if source == "raw":
            raise ValueError(f"cluster {cluster_id}: no readable raw waveform batches")
        return template
    return raw
