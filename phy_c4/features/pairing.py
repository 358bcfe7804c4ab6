"""Purkinje pairing: a complex spike silences the same cell's simple spikes for ~10-30 ms.

For a complex-spike unit and a simple-spike unit, the simple spikes counted in a short window
after each complex spike (1-8 ms) are compared with what the simple-spike unit's own rate just
before (-60 to -10 ms) predicts: a one-sided Poisson test. No other tool makes this check; it
is physiology that only the cerebellum has. What tells a Purkinje cell's own pause from the dip
of a neighbour that the same climbing fibre inhibits (docs/trust.md gives the sources):

- depth: the same cell's simple spikes stop (the pause is near complete: Bell & Grimm 1969,
  Latham & Paul 1971, McDevitt et al. 1982), so fewer than ``max_ratio`` (a quarter) of the
  expected spikes fall in the window, where sorting errors (a few % of spikes missed or
  contaminating) leave a few %;
- onset: it is there from the start, 1-3 ms after the complex spike (``onset_ms``), as a
  refractory period of the same soma is; a dip of another cell needs at least a synapse more
  (climbing-fibre collaterals and spillover to interneurons: Szapiro & Barbour 2007; Golgi
  cells: Xu & Edgley 2008) and starts later;
- the units: complex spikes are rare (< ``cs_max_rate_hz``, ~1 Hz: Simpson et al. 1996),
  simple spikes fast (> ``ss_min_rate_hz``) and not irregular (CV2 < ``ss_max_cv2``; Purkinje
  simple spikes 0.3-0.8, a Poisson train 1.0, bursty mossy fibres more: Holt et al. 1996,
  Shin et al. 2007; the Lisberger simple-spike trains' 95th percentile is 0.80).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
from scipy.special import gammaincc

from phy_c4.novelty import interval_features


@dataclass(frozen=True, kw_only=True)
class PairingSpec:
    max_distance_um: float = 100.0
    pause_ms: tuple[float, float] = (1.0, 8.0)
    baseline_ms: tuple[float, float] = (-60.0, -10.0)
    alpha: float = 1e-3
    max_ratio: float = 0.25
    onset_ms: tuple[float, float] = (1.0, 3.0)
    onset_max_ratio: float = 0.3
    cs_max_rate_hz: float = 3.0
    ss_min_rate_hz: float = 20.0
    ss_max_cv2: float = 0.9


@dataclass(frozen=True, kw_only=True)
class PauseTest:
    observed: int
    expected: float
    p_value: float
    onset_observed: int = 0
    onset_expected: float = 0.0

    @property
    def ratio(self) -> float:
        return self.observed / self.expected if self.expected > 0 else float("nan")

    @property
    def onset_ratio(self) -> float:
        return (self.onset_observed / self.onset_expected if self.onset_expected > 0
                else float("nan"))

    def confirms(self, spec: PairingSpec) -> bool:
        """Deep, significant and there from the start (the module's criterion)."""
        return (self.expected > 0 and self.p_value < spec.alpha and self.ratio < spec.max_ratio
                and self.onset_expected > 0 and self.onset_ratio <= spec.onset_max_ratio)


def firing_kind(times: np.ndarray, fs: float, spec: PairingSpec) -> str:
    """"cs" (complex-spike-like: slow), "ss" (simple-spike-like: fast, not irregular) or ""
    from a unit's spike times in samples."""
    log_rate, cv2, _ = interval_features(times, fs)
    if not np.isfinite(log_rate):
        return ""
    rate = 10.0 ** log_rate
    if rate < spec.cs_max_rate_hz:
        return "cs"
    if rate > spec.ss_min_rate_hz and cv2 < spec.ss_max_cv2:
        return "ss"
    return ""


@numba.njit(cache=True, nogil=True, inline="always")
def _first_at_or_after(times: np.ndarray, at: int, target: int) -> int:
    """``searchsorted(times, target)`` for a target at or after ``times[at - 1]``: step on."""
    n = times.size
    while at < n and times[at] < target:
        at += 1
    return at


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _window_counts3(events: np.ndarray, event_unit: np.ndarray, n_units: int,
                    times: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """(n_units, 3): how many of the sorted ``times`` fall in [event + start, event + stop) of
    the three ``windows`` (pause, baseline, onset), summed over each unit's events, with
    overlap: the sum of ``searchsorted(times, event + stop) - searchsorted(times, event +
    start)``.

    ``events`` (sorted) may merge the events of many units (``event_unit`` says whose): every
    window edge only moves forward, so one linear sweep of ``times`` serves all of them. The
    six edges are scalars, not an array, which keeps them in registers."""
    (a0, b0), (a1, b1), (a2, b2) = windows[0], windows[1], windows[2]
    counts = np.zeros((n_units, 3), dtype=np.int64)
    i0 = j0 = i1 = j1 = i2 = j2 = 0
    for i in range(events.size):
        event = events[i]
        i1 = _first_at_or_after(times, i1, event + a1)
        j1 = _first_at_or_after(times, j1, event + b1)
        i0 = _first_at_or_after(times, i0, event + a0)
        j0 = _first_at_or_after(times, j0, event + b0)
        i2 = _first_at_or_after(times, i2, event + a2)
        j2 = _first_at_or_after(times, j2, event + b2)
        unit = event_unit[i]
        counts[unit, 0] += j0 - i0
        counts[unit, 1] += j1 - i1
        counts[unit, 2] += j2 - i2
    return counts


def _sorted_int64(times: np.ndarray) -> np.ndarray:
    times = np.ascontiguousarray(times, dtype=np.int64)
    if times.size > 1 and np.any(times[1:] < times[:-1]):
        times = np.sort(times)
    return times


def _windows(fs: float, spec: PairingSpec) -> np.ndarray:
    """The pause, baseline and onset windows in samples, [start, stop) after each complex
    spike."""
    to_samples = fs / 1000.0
    return np.array([[round(v * to_samples) for v in spec.pause_ms],
                     [round(v * to_samples) for v in spec.baseline_ms],
                     [round(v * to_samples) for v in spec.onset_ms]], dtype=np.int64)


def _test_from_counts(observed: int, baseline: int, onset: int, *, windows: np.ndarray
                      ) -> PauseTest:
    (a, b), (c, d), (e, f) = windows.tolist()
    expected = baseline * (b - a) / (d - c)
    if expected <= 0:
        return PauseTest(observed=int(observed), expected=0.0, p_value=1.0,
                         onset_observed=int(onset), onset_expected=0.0)
    p_value = float(gammaincc(observed + 1, expected))  # P(X <= observed), X ~ Poisson
    return PauseTest(observed=int(observed), expected=expected, p_value=p_value,
                     onset_observed=int(onset), onset_expected=baseline * (f - e) / (d - c))


def _counts(events: np.ndarray, owner: np.ndarray, n_units: int, *, times: np.ndarray,
            windows: np.ndarray) -> np.ndarray:
    """(n_units, 3): spikes in the pause, baseline and onset windows of each unit's events."""
    return _window_counts3(events, owner, n_units, times, windows)


def pause_test(cs_times: np.ndarray, ss_times: np.ndarray, fs: float,
               *, spec: PairingSpec = PairingSpec()) -> PauseTest:
    """Simple spikes after complex spikes against the simple-spike unit's rate before them."""
    windows = _windows(fs, spec)
    cs = _sorted_int64(cs_times)
    counts = _counts(cs, np.zeros(cs.size, dtype=np.int64), 1, times=_sorted_int64(ss_times),
                     windows=windows)
    return _test_from_counts(*counts[0], windows=windows)


def _merged(cs_ids: list[int], cs_units: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All complex spikes in time order and the position in ``cs_ids`` of each one's unit
    (ties in ``cs_ids`` order). Sorted as one key, time * units + position, in place: three
    spike-sized arrays at most (an argsort and its gathers held five)."""
    trains = [_sorted_int64(cs_units[c]) for c in cs_ids]
    n = len(cs_ids)
    largest = max((int(np.abs(t).max()) for t in trains if t.size), default=0)
    if largest >= (1 << 62) // max(n, 1):  # the key would overflow: an argsort instead
        events = np.concatenate(trains)
        owner = np.repeat(np.arange(n, dtype=np.int64), [len(t) for t in trains])
        order = np.argsort(events, kind="stable")
        return events[order], owner[order]
    key = np.concatenate([t * n + i for i, t in enumerate(trains)])
    del trains
    key.sort()
    events, owner = np.divmod(key, n)
    return events, owner


def _pause_tests(cs_units: dict[int, np.ndarray], ss_units: dict[int, np.ndarray],
                 candidates: dict[int, list[int]], *, fs: float, spec: PairingSpec,
                 threads: int | None = None) -> dict[tuple[int, int], PauseTest]:
    """{(cs, ss): test} for every simple-spike unit ``ss`` and its candidate complex-spike
    units: the complex spikes of all units are merged once, so each simple-spike train is
    swept once whatever the number of candidates; the sweeps run in threads (numba, no GIL)."""
    cs_ids = sorted({c for wanted in candidates.values() for c in wanted})
    if not cs_ids:
        return {}
    windows = _windows(fs, spec)
    events, owner = _merged(cs_ids, cs_units)
    row = {c: i for i, c in enumerate(cs_ids)}
    swept = [s for s, wanted in candidates.items() if wanted]

    def sweep(ss_id: int) -> np.ndarray:
        return _counts(events, owner, len(cs_ids), times=_sorted_int64(ss_units[ss_id]),
                       windows=windows)

    with ThreadPoolExecutor(max_workers=threads or os.cpu_count() or 1) as pool:
        all_counts = dict(zip(swept, pool.map(sweep, swept), strict=True))
    tests = {}
    for ss_id in swept:
        counts = all_counts[ss_id]
        for cs_id in candidates[ss_id]:
            tests[cs_id, ss_id] = _test_from_counts(*counts[row[cs_id]], windows=windows)
    return tests


def find_pairs(cs_units: dict[int, np.ndarray], ss_units: dict[int, np.ndarray],
               positions: dict[int, np.ndarray], *, fs: float, spec: PairingSpec = PairingSpec(),
               threads: int | None = None) -> tuple[dict[int, int], dict[int, int]]:
    """(confirmed pairs {cs: ss}, {cs: number of simple-spike units nearby, none pausing}).

    Only units that fire as their role asks take part (``firing_kind``: a complex-spike unit
    slow, a simple-spike unit fast and not irregular), whatever they were offered as. Each
    complex-spike unit takes its most significant pausing neighbour; a simple-spike unit
    claimed by several keeps the most significant."""
    cs_units = {c: t for c, t in cs_units.items() if firing_kind(t, fs, spec) == "cs"}
    ss_units = {s: t for s, t in ss_units.items() if firing_kind(t, fs, spec) == "ss"}
    best: dict[int, tuple[float, int]] = {}
    unpaired_nearby: dict[int, int] = {}
    nearby = {c: [s for s in ss_units if s != c and np.linalg.norm(
        np.asarray(positions[s]) - np.asarray(positions[c])) <= spec.max_distance_um]
        for c in cs_units}
    candidates: dict[int, list[int]] = {s: [] for s in ss_units}
    for cs_id, neighbours in nearby.items():
        for ss_id in neighbours:
            candidates[ss_id].append(cs_id)
    all_tests = _pause_tests(cs_units, ss_units, candidates, fs=fs, spec=spec, threads=threads)
    for cs_id in cs_units:
        tests = {s: all_tests[cs_id, s] for s in nearby[cs_id]}
        confirmed = {s: t for s, t in tests.items() if t.confirms(spec)}
        if confirmed:
            partner = min(confirmed, key=lambda s: confirmed[s].p_value)
            best[cs_id] = (confirmed[partner].p_value, partner)
        elif nearby[cs_id]:
            unpaired_nearby[cs_id] = len(nearby[cs_id])
    pairs: dict[int, int] = {}
    for cs_id, (_, ss_id) in sorted(best.items(), key=lambda item: item[1][0]):
        if ss_id not in pairs.values():
            pairs[cs_id] = ss_id
    return pairs, unpaired_nearby
