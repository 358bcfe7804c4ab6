"""The mean waveform C4 uses: drift- and shift-matched from the raw binary (npyx ``wvf_dsmatch``),
or, when no binary is present, the cluster's unwhitened template.

Raw path (npyx 4.3.1 defaults, equal to npyx on its own outputs: tests/paths/test_npyx_e2e.py):
consecutive whole batches of 10 spikes (500 of them, ``np.round(np.linspace)``, above 5,000
spikes), 120-sample float32 windows with each channel's median removed, batch means; batches
too large or read past the file are dropped; keep the batches whose peak channel (within +-20
samples, channels [pc-6, pc+6)) is the modal one (z-drift), the 80 batches just below the 95th
amplitude percentile (xy-drift), align each to the median of the 50 largest by the
channel-averaged normalised, zero-padded cross-correlation on channels [pc-3, pc+3) (shift <= 5
samples), take the median and centre the peak.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phy_c4.io.dataset import Recording


@dataclass(frozen=True, kw_only=True)
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


@dataclass(kw_only=True)
class UnitWaveform:
    peak_channel_waveform: np.ndarray  # (samples,)
    all_channels: np.ndarray  # (channels, samples)
    source: str  # "raw" or "template"
    fs: float


def template_waveform(recording: Recording, cluster_id: int) -> UnitWaveform:
    """The cluster's unwhitened template (channels x samples) and its peak channel."""
    wave = recording.template_waveform(cluster_id)
    peak = int(np.argmax(np.max(np.abs(wave), axis=1)))
    return UnitWaveform(peak_channel_waveform=wave[peak], all_channels=wave, source="template",
                        fs=recording.fs)


def _batch_spikes(spike_samples: np.ndarray, spec: ExtractionSpec) -> np.ndarray:
    """(n_batches, batch_size) spike samples: consecutive whole batches (the last, partial one
    dropped), subsampled as npyx does when the unit has more spikes than ``max_batches`` whole
    batches hold: ``np.round(np.linspace(...))`` over the batch indices."""
    n_batches = spike_samples.size // spec.batch_size
    batches = spike_samples[: n_batches * spec.batch_size].reshape(n_batches, spec.batch_size)
    if spike_samples.size > spec.max_batches * spec.batch_size:
        chosen = np.round(np.linspace(0, n_batches - 1, spec.max_batches)).astype(int)
        batches = batches[chosen]
    return batches


def _read_batches(traces, spike_samples: np.ndarray, spec: ExtractionSpec) -> np.ndarray:
    """Batch means (n_batches, samples, channels), float32 as npyx computes them: each window
    minus its per-channel median over time, then the mean of the batch; a batch with a window
    outside the file or unreadable is dropped."""
    n_total = traces.shape[0]
    half = spec.n_samples // 2
    means = []
    for samples in _batch_spikes(spike_samples, spec):
        if samples.min() - half < 0 or samples.max() + half > n_total:
            continue
        try:
            windows = np.stack([np.asarray(traces[s - half : s + half], dtype=np.float32)
                                for s in samples])
        except (ValueError, OSError, IndexError):
            continue
        if windows.shape[1] != spec.n_samples:
            continue
        windows = windows - np.median(windows, axis=1)[:, None, :]
        if spec.uv_per_bit is not None:
            windows *= np.float32(spec.uv_per_bit)
        means.append(windows.mean(axis=0))
    if not means:
        return np.zeros((0, spec.n_samples, traces.shape[1]), dtype=np.float32)
    return np.stack(means)


def _standardised(x: np.ndarray) -> np.ndarray:
    """Each column centred and divided by its standard deviation (a flat column: NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (x - x.mean(axis=0)) / x.std(axis=0)


def _best_lag(template: np.ndarray, batch: np.ndarray) -> tuple[int, int]:
    """npyx's shift rule: per channel, the cross-correlation of the standardised template and
    batch, zero-padded (``np.correlate(..., "same")``), NaN counted as 0; averaged over
    channels. Returns the roll that applies it and the signed lag, in [-n/2, n/2)."""
    n = template.shape[0]
    a, b = _standardised(template), _standardised(batch)
    scores = np.zeros(template.shape)
    for channel in range(template.shape[1]):
        scores[:, channel] = np.correlate(a[:, channel], b[:, channel], mode="same")
    scores[np.isnan(scores)] = 0
    shift = (int(np.argmax(scores.mean(axis=1))) - n // 2) % n
    return shift, (shift + n // 2) % n - n // 2


def _shift_match(batches: np.ndarray, peak: int, spec: ExtractionSpec) -> np.ndarray:
    """Batches aligned to the median of the ``n_template`` largest (on the peak channel),
    matched on channels [peak - match_channels, peak + match_channels); those needing more
    than ``max_shift`` samples are dropped (npyx ``shift_match`` as ``wvf_dsmatch`` calls it)."""
    order = np.argsort(np.ptp(batches[:, :, peak], axis=1))[::-1]
    ranked = batches[order]
    lo = max(0, peak - spec.match_channels)
    hi = min(batches.shape[2], peak + spec.match_channels)
    template = np.median(ranked[: spec.n_template], axis=0)[:, lo:hi]
    kept = []
    for batch in ranked:
        shift, relative = _best_lag(template, batch[:, lo:hi])
        if abs(relative) <= spec.max_shift:
            kept.append(np.roll(batch.astype(np.float64), shift, axis=0))
    return np.stack(kept) if kept else np.zeros((0, *batches.shape[1:]))


def raw_waveform(recording: Recording, cluster_id: int, template_peak: int,
                 *, spec: ExtractionSpec = ExtractionSpec()) -> UnitWaveform | None:
    """npyx's drift- and shift-matched mean waveform, or None when too little is readable."""
    traces = recording.model.traces
    spikes = recording.spike_times[recording.spikes_of(cluster_id)]
    batches = _read_batches(traces, spikes, spec)
    if batches.shape[0] == 0:
        return None
    centre = spec.n_samples // 2
    # each batch's peak channel and amplitude: peak-to-peak within +-20 samples of the centre,
    # on the channels [template peak - peak_range, template peak + peak_range)
    lo = max(0, template_peak - spec.peak_range)
    hi = min(template_peak + spec.peak_range, batches.shape[2])
    window = batches[:, max(0, centre - 20) : min(centre + 20, batches.shape[1]), lo:hi]
    ptp = np.ptp(window, axis=1)
    peaks = lo + np.argmax(ptp, axis=1)
    amplitude = np.max(ptp, axis=1).astype(np.float64)
    index = np.arange(batches.shape[0])
    if spec.uv_per_bit is not None:
        usable = amplitude < spec.max_amplitude_uv
        index, peaks, amplitude = index[usable], peaks[usable], amplitude[usable]
    if index.size == 0:
        return None
    channels, counts = np.unique(peaks, return_counts=True)
    modal = int(channels[np.argmax(counts)])  # z-drift: the modal peak channel
    same = peaks == modal
    index, amplitude = index[same], amplitude[same]
    order = np.argsort(amplitude)  # xy-drift: just below the 95th amplitude percentile
    top = int(order.size * spec.amplitude_percentile)
    chosen = order[: spec.n_keep] if top < spec.n_keep else \
        order[max(top - spec.n_keep, 0) : top]
    matched = _shift_match(batches[index[chosen]], modal, spec)
    if matched.shape[0] == 0:
        return None
    median = np.median(matched, axis=0)  # (samples, channels)
    offset = centre - int(np.argmax(np.abs(median[:, modal])))
    median = np.roll(median, offset, axis=0)
    return UnitWaveform(peak_channel_waveform=median[:, modal], all_channels=median.T,
                        source="raw", fs=recording.fs)


def unit_waveform(recording: Recording, cluster_id: int, source: str = "auto",
                  *, spec: ExtractionSpec = ExtractionSpec()) -> UnitWaveform:
    """Raw (when the binary is there and ``source`` allows) else template waveform."""
    if source not in ("auto", "raw", "template"):
        raise ValueError(f"waveform source must be auto, raw or template, got {source!r}")
    template = template_waveform(recording, cluster_id)
    if source == "template" or not recording.has_raw:
        if source == "raw":
            raise ValueError("waveform source 'raw' asked for, but the dataset has no raw binary")
        return template
    peak = int(np.argmax(np.ptp(template.all_channels, axis=1)))  # npyx get_peak_chan: ptp
    raw = raw_waveform(recording, cluster_id, peak, spec=spec)
    if raw is None:
        if source == "raw":
            raise ValueError(f"cluster {cluster_id}: no readable raw waveform batches")
        return template
    return raw
