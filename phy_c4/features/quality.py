"""C4's spike-quality filter (npyx 4.3.1 ``trn_filtered`` / ``train_quality``), thresholds exposed.

The recording is cut into 10-s chunks; 30-s windows (3 chunks) slide by one chunk. In each window
with enough spikes, false positives are estimated from refractory violations (Hill et al. 2011)
and false negatives from a Gaussian fitted to the amplitude histogram truncated at the detection
threshold. A chunk is good when any window covering it passes; a spike is kept when its chunk is
good for both. The unit is usable only with more than ``min_good_s`` seconds of kept spikes.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.special import erf


@dataclass(frozen=True)
class QualitySpec:
    """Thresholds of C4's spike-quality filter (npyx defaults as C4 calls it)."""

    fp_threshold: float = 0.05
    fn_threshold: float = 0.05
    chunk_s: float = 10.0
    span_chunks: int = 3
    refractory_ms: float = 0.8
    min_good_s: float = 180.0
    min_spikes: int = 300
    min_window_spikes: int = 15


@dataclass
class QualityResult:
    keep: np.ndarray  # boolean mask over the unit's spikes
    good_seconds: float
    reason: str  # "ok" or why no spike was kept


def _truncated_gaussian(x: np.ndarray, a: float, mu: float, sigma: float, cut: float
                        ) -> np.ndarray:
    return np.where(x >= cut, a * np.exp(-((x - mu) ** 2) / (2 * sigma**2)), 0.0)


def missed_fraction(amplitudes: np.ndarray) -> float:
    """Fraction of spikes lost under the detection threshold (nan when the fit fails)."""
    if amplitudes.size < 2 or not np.all(np.isfinite(amplitudes)):
        return math.nan
    edges = np.histogram_bin_edges(amplitudes, bins="fd")
    if edges.size - 1 <= 3:
        return math.nan
    counts, edges = np.histogram(amplitudes, bins=edges)
    width = edges[1] - edges[0]
    centres = (edges[:-1] + edges[1:]) / 2
    if edges[0] > 0 and width > 0:  # zero-extend the histogram down to 0, as npyx
        n_extra = int(edges[0] // width)
        centres = np.r_[edges[0] - width * (np.arange(n_extra, 0, -1) - 0.5), centres]
        counts = np.r_[np.zeros(n_extra), counts]
    guess = [counts.max(), centres[np.argmax(counts)], np.std(amplitudes),
             np.percentile(amplitudes, 1)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            (_, mu, sigma, cut), _ = curve_fit(_truncated_gaussian, centres, counts, p0=guess,
                                               maxfev=10000)
    except (RuntimeError, ValueError):
        return math.nan
    if sigma == 0 or not np.isfinite(sigma):
        return math.nan
    return 0.5 * (1 + erf((cut - mu) / (abs(sigma) * math.sqrt(2))))


def false_positive_rate(window_times_s: np.ndarray, mean_rate_hz: float,
                        refractory_s: float) -> float:
    """Hill et al. (2011) contamination from refractory-period violations."""
    n = window_times_s.size
    violations = int(np.sum(np.diff(window_times_s) < refractory_s))
    if n == 0 or mean_rate_hz <= 0:
        return math.nan
    return violations / (2 * n * refractory_s) / mean_rate_hz


def _robust_mean_rate(times_s: np.ndarray) -> float:
    isis = np.diff(times_s)
    if isis.size == 0:
        return 0.0
    isis = isis[isis <= np.quantile(isis, 0.995)]
    return 1.0 / isis.mean() if isis.size and isis.mean() > 0 else 0.0


def quality_filter(spike_times: np.ndarray, amplitudes: np.ndarray, fs: float,
                   spec: QualitySpec = QualitySpec()) -> QualityResult:
    """Which of a unit's spikes C4 would use, and why none are when none are."""
    times_s = np.asarray(spike_times, dtype=np.float64) / fs
    n = times_s.size
    if n <= spec.min_spikes:
        return QualityResult(np.zeros(n, bool), 0.0,
                             f"too few spikes for the quality filter ({n} <= {spec.min_spikes})")
    if amplitudes is None or len(amplitudes) != n:
        raise ValueError("quality filter needs one amplitude per spike")
    amplitudes = np.asarray(amplitudes, dtype=np.float64)
    n_chunks = math.ceil((times_s[-1] + 1e-9) / spec.chunk_s)
    chunk_of = np.minimum((times_s // spec.chunk_s).astype(np.int64), n_chunks - 1)
    bounds = np.searchsorted(chunk_of, np.arange(n_chunks + 1))
    rate = _robust_mean_rate(times_s)
    fp_good = np.zeros(n_chunks, bool)
    fn_good = np.zeros(n_chunks, bool)
    fp_windows = fn_windows = 0
    # Non-overlapping windows first, then the others, skipping a window whose chunks are all
    # good already: goodness is a union over windows, so the result is the same with fewer fits.
    # (A skipped window lies inside passing ones, so the "more than one passing window" counts
    # can only be lower when they exceed one anyway.)
    n_windows = max(1, n_chunks - spec.span_chunks + 1)
    order = [w for phase in range(spec.span_chunks)
             for w in range(phase, n_windows, spec.span_chunks)]
    for first in order:
        last = min(n_chunks, first + spec.span_chunks)
        lo, hi = bounds[first], bounds[last]
        if hi - lo <= spec.min_window_spikes:
            continue
        if not fp_good[first:last].all():
            fp = false_positive_rate(times_s[lo:hi], rate, spec.refractory_ms / 1000)
            if np.isfinite(fp) and fp <= spec.fp_threshold:
                fp_good[first:last] = True
                fp_windows += 1
        if not fn_good[first:last].all():
            fn = missed_fraction(amplitudes[lo:hi])
            if np.isfinite(fn) and fn <= spec.fn_threshold:
                fn_good[first:last] = True
                fn_windows += 1
    if fp_windows <= 1 or fn_windows <= 1:
        kind = "refractory violations (false positives)" if fp_windows <= 1 else \
            "missed spikes (false negatives)"
        return QualityResult(np.zeros(n, bool), 0.0, f"too much {kind} in every window")
    keep = (fp_good & fn_good)[chunk_of]
    good_seconds = _kept_seconds(times_s, keep)
    if good_seconds <= spec.min_good_s:
        return QualityResult(np.zeros(n, bool), good_seconds,
                             f"only {good_seconds:.0f} s of good data (needs > "
                             f"{spec.min_good_s:.0f} s)")
    return QualityResult(keep, good_seconds, "ok")


def _kept_seconds(times_s: np.ndarray, keep: np.ndarray) -> float:
    """Total duration of the runs of consecutive kept spikes."""
    if not keep.any():
        return 0.0
    padded = np.r_[False, keep, False].astype(np.int8)
    starts = np.flatnonzero(np.diff(padded) == 1)
    stops = np.flatnonzero(np.diff(padded) == -1) - 1
    return float(np.sum(times_s[stops] - times_s[starts]))
