"""The quality filter's false-negative estimate as npyx (and phy_c4 0.1) computed it, with
``scipy.optimize.curve_fit``: the reference the numba fit is compared with in tests."""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.special import erf

from phy_c4.features.quality import (
    QualityResult,
    QualitySpec,
    _kept_seconds,
    _robust_mean_rate,
)


def _truncated_gaussian(x: np.ndarray, a: float, mu: float, sigma: float, cut: float
                        ) -> np.ndarray:
    return np.where(x >= cut, a * np.exp(-((x - mu) ** 2) / (2 * sigma**2)), 0.0)


def missed_fraction_curve_fit(amplitudes: np.ndarray) -> float:
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


def false_positive_rate_numpy(window_times_s: np.ndarray, mean_rate_hz: float,
                        refractory_s: float) -> float:
    """Hill et al. (2011) contamination from refractory-period violations."""
    n = window_times_s.size
    violations = int(np.sum(np.diff(window_times_s) < refractory_s))
    if n == 0 or mean_rate_hz <= 0:
        return math.nan
    return violations / (2 * n * refractory_s) / mean_rate_hz


def quality_filter_reference(spike_times: np.ndarray, amplitudes: np.ndarray, fs: float,
                             spec: QualitySpec | None = None) -> QualityResult:
    """phy_c4 0.1's loop over windows, with npyx's curve_fit."""
    spec = spec or QualitySpec()
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
            fp = false_positive_rate_numpy(times_s[lo:hi], rate, spec.refractory_ms / 1000)
            if np.isfinite(fp) and fp <= spec.fp_threshold:
                fp_good[first:last] = True
                fp_windows += 1
        if not fn_good[first:last].all():
            fn = missed_fraction_curve_fit(amplitudes[lo:hi])
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
