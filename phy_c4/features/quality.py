"""C4's spike-quality filter (npyx 4.3.1 ``trn_filtered`` / ``train_quality``), thresholds exposed.

The recording is cut into 10-s chunks; 30-s windows (3 chunks) slide by one chunk. In each window
with enough spikes, false positives are estimated from refractory violations (Hill et al. 2011)
and false negatives from a Gaussian fitted to the amplitude histogram truncated at the detection
threshold. A chunk is good when any window covering it passes; a spike is kept when its chunk is
good for both. The unit is usable only with more than ``min_good_s`` seconds of kept spikes.

Which part of the recording is analysed (``QualitySpec.periods``):

- ``npyx`` (C4's definition, the default for C4's own models, which were trained on it): npyx
  calls ``trn_filtered(period_m=None)``, which analyses the whole minutes before the unit's last
  spike, ``floor(t_last / 60)`` min, in 30-s windows starting every 10 s; the last window starts
  10 s before that period's end and so reaches 20 s past it. A spike later than that is never
  kept, nor is one exactly on a 10-s chunk boundary (npyx masks spikes with strict bounds).
  Window spike counts and amplitudes use ``[t1, t2)``, the refractory count ``(t1, t2)``, and
  the whole-train rate is rounded to 0.01 Hz, as npyx does.
- ``whole``: every 10-s chunk of the unit's train up to its last spike, chunk bounds half-open
  ``[t1, t2)``, the rate unrounded: no spike is dropped for where it falls in time. Better data
  use, but not the inputs C4's models were trained on.

The fits run in numba without the GIL (``missed_fraction``), so many units are filtered in
threads: no worker processes. Their keep/drop decisions are checked against npyx's
``curve_fit`` path in ``tests/features/test_quality.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True, kw_only=True)
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
    periods: str = "auto"
    """``npyx`` (C4's analysed period and bounds), ``whole`` (the whole train) or ``auto``: the
    pipeline picks ``npyx`` for C4's own models and ``whole`` for the others (module doc)."""

    def __post_init__(self) -> None:
        if self.periods not in PERIODS:
            raise ValueError(f"filter periods must be one of {', '.join(PERIODS)}, got "
                             f"{self.periods!r}")


PERIODS: tuple[str, ...] = ("auto", "npyx", "whole")


@dataclass
class QualityResult:
    keep: np.ndarray  # boolean mask over the unit's spikes
    good_seconds: float
    reason: str  # "ok" or why no spike was kept


@numba.njit(cache=True, nogil=True)
def _percentile_sorted(x: np.ndarray, q: float) -> float:
    """``np.percentile(x, q)`` (linear method) of a sorted array, in numpy's arithmetic."""
    n = x.size
    quantile = q / 100.0
    # numpy 2's "linear" get_virtual_index, (n - 1) * q (npyx's reference ran numpy 2.4.6).
    # The older form, n*q + (alpha + q*(1 - alpha - beta)) - 1 with alpha = beta = 1, is equal
    # for the quartiles but not always for the 1st percentile (the fit's cut).
    virtual = (n - 1) * quantile
    below = math.floor(virtual)
    lo = min(max(int(below), 0), n - 1)
    hi = min(lo + 1, n - 1)
    gamma = virtual - below  # numpy's _get_gamma
    a, b = x[lo], x[hi]
    # numpy's _lerp: from the upper value when gamma >= 0.5, so the ends are exact
    diff = b - a
    if gamma >= 0.5:
        return b - diff * (1.0 - gamma)
    return a + diff * gamma


@numba.njit(cache=True, nogil=True)
def _fd_histogram(sorted_amps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.histogram(a, bins=np.histogram_bin_edges(a, bins="fd"))`` of a sorted array:
    (edges, counts), in numpy's arithmetic (Freedman-Diaconis width, linspace edges, last bin
    closed)."""
    n = sorted_amps.size
    iqr = _percentile_sorted(sorted_amps, 75.0) - _percentile_sorted(sorted_amps, 25.0)
    width = 2.0 * iqr * n ** (-1.0 / 3.0)
    first, last = sorted_amps[0], sorted_amps[-1]
    if first == last:
        first -= 0.5
        last += 0.5
    n_bins = int(math.ceil((last - first) / width)) if width != 0 else 1
    # np.linspace(first, last, n_bins + 1) as numpy computes it (arange * step + start, the
    # last edge set to ``last``); np.histogram then counts [edge, next) with the last bin closed
    step = (last - first) / n_bins
    edges = np.arange(n_bins + 1) * step + first
    edges[-1] = last
    counts = np.empty(n_bins)
    for i in range(n_bins):
        lo = np.searchsorted(sorted_amps, edges[i], side="left")
        if i == n_bins - 1:
            hi = np.searchsorted(sorted_amps, edges[i + 1], side="right")
        else:
            hi = np.searchsorted(sorted_amps, edges[i + 1], side="left")
        counts[i] = hi - lo
    return edges, counts


@numba.njit(cache=True, nogil=True)
def _gaussian_cost(x, y, cut, a, mu, sigma) -> float:
    cost = 0.0
    for i in range(x.size):
        model = a * math.exp(-((x[i] - mu) ** 2) / (2.0 * sigma * sigma)) if x[i] >= cut else 0.0
        cost += (model - y[i]) ** 2
    return cost


@numba.njit(cache=True, nogil=True)
def _fit_gaussian(x, y, cut, a, mu, sigma, max_iter=1000):
    """Least squares of ``a exp(-(x - mu)^2 / 2 sigma^2)`` (0 below ``cut``) to ``y``:
    Levenberg-Marquardt with the analytic Jacobian and Marquardt's diagonal scaling.
    Returns (a, mu, sigma, converged)."""
    p = np.array([a, mu, sigma])
    cost = _gaussian_cost(x, y, cut, p[0], p[1], p[2])
    damping = 1e-3
    for _ in range(max_iter):
        jtj = np.zeros((3, 3))
        jtr = np.zeros(3)
        s2 = p[2] * p[2]
        for i in range(x.size):
            if x[i] < cut:
                continue
            d = x[i] - p[1]
            e = math.exp(-(d * d) / (2.0 * s2))
            r = p[0] * e - y[i]
            g0, g1, g2 = e, p[0] * e * d / s2, p[0] * e * d * d / (s2 * p[2])
            jac = (g0, g1, g2)
            for j in range(3):
                jtr[j] += jac[j] * r
                for k in range(3):
                    jtj[j, k] += jac[j] * jac[k]
        improved = False
        while damping < 1e16:
            system = jtj.copy()
            for j in range(3):
                system[j, j] += damping * max(jtj[j, j], 1e-300)
            try:
                step = np.linalg.solve(system, -jtr)
            except Exception:  # singular: more damping
                damping *= 10.0
                continue
            trial = p + step
            if trial[2] == 0.0 or not np.all(np.isfinite(trial)):
                damping *= 10.0
                continue
            new_cost = _gaussian_cost(x, y, cut, trial[0], trial[1], trial[2])
            if new_cost < cost:
                small = np.all(np.abs(step) <= 1e-10 * (np.abs(p) + 1e-10))
                relative = (cost - new_cost) <= 1e-14 * cost
                p, cost = trial, new_cost
                damping = max(damping / 10.0, 1e-12)
                improved = True
                if small or relative or cost == 0.0:
                    return p[0], p[1], p[2], True
                break
            damping *= 10.0
        if not improved:  # no step lowers the cost: a minimum
            return p[0], p[1], p[2], True
    return p[0], p[1], p[2], False


@numba.njit(cache=True, nogil=True)
def missed_fraction(amplitudes: np.ndarray) -> float:
    """Fraction of spikes lost under the detection threshold (nan when the fit fails).

    npyx fits a Gaussian truncated at a cut to the amplitude histogram (Freedman-Diaconis bins,
    zero-extended down to 0) with ``curve_fit``. The cut enters through a step, so its
    finite-difference derivative is zero and ``curve_fit`` leaves it at its start, the 1st
    percentile; the three other parameters are fitted here the same way, without the GIL.
    """
    n = amplitudes.size
    if n < 2:
        return math.nan
    sorted_amps = np.sort(amplitudes)
    if not (np.isfinite(sorted_amps[0]) and np.isfinite(sorted_amps[-1])):
        return math.nan
    edges, counts = _fd_histogram(sorted_amps)
    if edges.size - 1 <= 3:
        return math.nan
    width = edges[1] - edges[0]
    n_extra = int(edges[0] // width) if edges[0] > 0 and width > 0 else 0
    x = np.empty(n_extra + counts.size)
    y = np.zeros(n_extra + counts.size)
    for i in range(n_extra):
        x[i] = edges[0] - width * ((n_extra - i) - 0.5)
    for i in range(counts.size):
        x[n_extra + i] = (edges[i] + edges[i + 1]) / 2
        y[n_extra + i] = counts[i]
    best = np.argmax(y)
    cut = _percentile_sorted(sorted_amps, 1.0)
    _, mu, sigma, converged = _fit_gaussian(x, y, cut, y[best], x[best], np.std(amplitudes))
    if not converged or sigma == 0 or not np.isfinite(sigma):
        return math.nan
    return 0.5 * (1.0 + math.erf((cut - mu) / (abs(sigma) * math.sqrt(2.0))))


@numba.njit(cache=True, nogil=True)
def false_positive_rate(window_times_s: np.ndarray, mean_rate_hz: float,
                        refractory_s: float) -> float:
    """Hill et al. (2011) contamination from refractory-period violations."""
    n = window_times_s.size
    if n == 0 or mean_rate_hz <= 0:
        return math.nan
    violations = 0
    for i in range(1, n):
        if window_times_s[i] - window_times_s[i - 1] < refractory_s:
            violations += 1
    return violations / (2 * n * refractory_s) / mean_rate_hz


def _robust_mean_rate(times_s: np.ndarray) -> float:
    isis = np.diff(times_s)
    if isis.size == 0:
        return 0.0
    isis = isis[isis <= np.quantile(isis, 0.995)]
    return 1.0 / isis.mean() if isis.size and isis.mean() > 0 else 0.0


def quality_filter(spike_times: np.ndarray, amplitudes: np.ndarray, fs: float,
                   *, spec: QualitySpec = QualitySpec()) -> QualityResult:
    """Which of a unit's spikes C4 would use, and why none are when none are."""
    times_s = np.asarray(spike_times, dtype=np.float64) / fs
    n = times_s.size
    if n <= spec.min_spikes:
        return QualityResult(np.zeros(n, bool), 0.0,
                             f"too few spikes for the quality filter ({n} <= {spec.min_spikes})")
    if amplitudes is None or len(amplitudes) != n:
        raise ValueError("quality filter needs one amplitude per spike")
    amplitudes = np.asarray(amplitudes, dtype=np.float64)
    if spec.periods != "whole":  # "auto" outside the pipeline: C4's definition
        return _npyx_quality_filter(times_s, amplitudes, spec)
    n_chunks = math.ceil((times_s[-1] + 1e-9) / spec.chunk_s)
    chunk_of = np.minimum((times_s // spec.chunk_s).astype(np.int64), n_chunks - 1)
    bounds = np.searchsorted(chunk_of, np.arange(n_chunks + 1))
    rate = _robust_mean_rate(times_s)
    fp_good, fn_good, fp_windows, fn_windows = _window_decisions(
        times_s, amplitudes, bounds, rate, spec.span_chunks, spec.min_window_spikes,
        spec.refractory_ms / 1000, spec.fp_threshold, spec.fn_threshold)
    if fp_windows <= 1 or fn_windows <= 1:
        kind = "refractory violations (false positives)" if fp_windows <= 1 else \
            "missed spikes (false negatives)"
        return QualityResult(np.zeros(n, bool), 0.0, f"too much {kind} in every window")
    keep = (fp_good & fn_good)[chunk_of]
    return _enough_good_data(times_s, keep, spec)


def _enough_good_data(times_s: np.ndarray, keep: np.ndarray, spec: QualitySpec
                      ) -> QualityResult:
    """The kept spikes when they span more than ``spec.min_good_s`` of good data, else none
    and the reason."""
    good_seconds = _kept_seconds(times_s, keep)
    if good_seconds <= spec.min_good_s:
        return QualityResult(np.zeros(keep.size, bool), good_seconds,
                             f"only {good_seconds:.0f} s of good data (needs > "
                             f"{spec.min_good_s:.0f} s)")
    return QualityResult(keep, good_seconds, "ok")


@numba.njit(cache=True, nogil=True)
def _window_decisions(times_s, amplitudes, bounds, rate, span, min_window_spikes, refractory_s,
                      fp_threshold, fn_threshold):
    """Which chunks pass the false-positive and false-negative tests in some window, and how
    many windows passed each. Non-overlapping windows first, then the others, skipping a window
    whose chunks are all good already: goodness is a union over windows, so the result is the
    same with fewer fits (a skipped window lies inside passing ones, so the "more than one
    passing window" counts can only be lower when they exceed one anyway)."""
    n_chunks = bounds.size - 1
    fp_good = np.zeros(n_chunks, np.bool_)
    fn_good = np.zeros(n_chunks, np.bool_)
    fp_windows = 0
    fn_windows = 0
    n_windows = max(1, n_chunks - span + 1)
    for phase in range(span):
        for first in range(phase, n_windows, span):
            last = min(n_chunks, first + span)
            lo, hi = bounds[first], bounds[last]
            if hi - lo <= min_window_spikes:
                continue
            if not fp_good[first:last].all():
                fp = false_positive_rate(times_s[lo:hi], rate, refractory_s)
                if np.isfinite(fp) and fp <= fp_threshold:
                    fp_good[first:last] = True
                    fp_windows += 1
            if not fn_good[first:last].all():
                fn = missed_fraction(amplitudes[lo:hi])
                if np.isfinite(fn) and fn <= fn_threshold:
                    fn_good[first:last] = True
                    fn_windows += 1
    return fp_good, fn_good, fp_windows, fn_windows


def _kept_seconds(times_s: np.ndarray, keep: np.ndarray) -> float:
    """Total duration of the runs of consecutive kept spikes."""
    if not keep.any():
        return 0.0
    padded = np.r_[False, keep, False].astype(np.int8)
    starts = np.flatnonzero(np.diff(padded) == 1)
    stops = np.flatnonzero(np.diff(padded) == -1) - 1
    return float(np.sum(times_s[stops] - times_s[starts]))


def _npyx_quality_filter(times_s: np.ndarray, amplitudes: np.ndarray,
                         spec: QualitySpec) -> QualityResult:
    """npyx 4.3.1's ``trn_filtered(period_m=None)`` periods and bounds (module doc)."""
    n = times_s.size
    period_end = (times_s[-1] // 60.0) * 60.0
    n_windows = int(period_end / spec.chunk_s)
    if n_windows < 1:
        return QualityResult(np.zeros(n, bool), 0.0,
                             f"no whole minute before the last spike ({times_s[-1]:.0f} s) to "
                             "analyse")
    starts = np.arange(n_windows) * spec.chunk_s
    stops = (np.arange(n_windows) + spec.span_chunks) * spec.chunk_s
    closed_lo = np.searchsorted(times_s, starts, side="left")  # [t1, t2)
    open_lo = np.searchsorted(times_s, starts, side="right")  # (t1, t2)
    hi = np.searchsorted(times_s, stops, side="left")
    isis = np.diff(times_s)
    isis = isis[isis <= np.quantile(isis, 0.995)]
    rate = float(np.round(1.0 / isis.mean(), 2)) if isis.size and isis.mean() > 0 else 0.0
    fp_good, fn_good, fp_windows, fn_windows = _npyx_window_decisions(
        times_s, amplitudes, closed_lo, open_lo, hi, rate, spec.span_chunks,
        spec.min_window_spikes, spec.refractory_ms / 1000, spec.fp_threshold, spec.fn_threshold)
    if fp_windows <= 1 or fn_windows <= 1:
        kind = "refractory violations (false positives)" if fp_windows <= 1 else \
            "missed spikes (false negatives)"
        return QualityResult(np.zeros(n, bool), 0.0, f"too much {kind} in every window")
    n_chunks = n_windows + spec.span_chunks - 1
    good = fp_good & fn_good
    # strict bounds: a spike on a chunk edge belongs to neither chunk
    edges = np.arange(n_chunks + 1) * spec.chunk_s
    chunk = np.searchsorted(edges, times_s, side="right") - 1
    inside = (chunk >= 0) & (chunk < n_chunks)
    inside[inside] &= times_s[inside] != edges[chunk[inside]]
    keep = np.zeros(n, bool)
    keep[inside] = good[chunk[inside]]
    return _enough_good_data(times_s, keep, spec)


@numba.njit(cache=True, nogil=True)
def _npyx_window_decisions(times_s, amplitudes, closed_lo, open_lo, hi, rate, span,
                           min_window_spikes, refractory_s, fp_threshold, fn_threshold):
    """As ``_window_decisions`` for npyx's windows (one per start, given by their spike index
    bounds): counts and amplitudes over ``[closed_lo, hi)``, refractory violations over
    ``[open_lo, hi)``; a window with fewer than two spikes there has no violations."""
    n_windows = hi.size
    n_chunks = n_windows + span - 1
    fp_good = np.zeros(n_chunks, np.bool_)
    fn_good = np.zeros(n_chunks, np.bool_)
    fp_windows = 0
    fn_windows = 0
    for phase in range(span):
        for first in range(phase, n_windows, span):
            last = first + span
            if hi[first] - closed_lo[first] <= min_window_spikes:
                continue
            if not fp_good[first:last].all():
                window = times_s[open_lo[first]:hi[first]]
                fp = 0.0 if window.size < 2 else false_positive_rate(window, rate, refractory_s)
                if fp <= fp_threshold:
                    fp_good[first:last] = True
                    fp_windows += 1
            if not fn_good[first:last].all():
                fn = missed_fraction(amplitudes[closed_lo[first]:hi[first]])
                # npyx compares the missed percentage rounded to 0.01 %
                if np.isfinite(fn) and np.rint(100.0 * fn * 100.0) / 100.0 <= 100.0 * fn_threshold:
                    fn_good[first:last] = True
                    fn_windows += 1
    return fp_good, fn_good, fp_windows, fn_windows
