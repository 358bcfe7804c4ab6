"""Purkinje pairing: a complex spike silences the same cell's simple spikes for ~10-30 ms.

For a complex-spike unit and a simple-spike unit, the simple spikes counted in a short window
after each complex spike (1-8 ms) are compared with what the simple-spike unit's own rate just
before (-60 to -10 ms) predicts: a one-sided Poisson test. A pair is confirmed when the count is
well below the prediction (``max_ratio``) and significantly so (``alpha``). No other tool makes
this check; it is physiology that only the cerebellum has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaincc


@dataclass(frozen=True)
class PairingSpec:
    max_distance_um: float = 100.0
    pause_ms: tuple[float, float] = (1.0, 8.0)
    baseline_ms: tuple[float, float] = (-60.0, -10.0)
    alpha: float = 1e-3
    max_ratio: float = 0.5


@dataclass(frozen=True)
class PauseTest:
    observed: int
    expected: float
    p_value: float

    @property
    def ratio(self) -> float:
        return self.observed / self.expected if self.expected > 0 else float("nan")

    def confirms(self, spec: PairingSpec) -> bool:
        return self.expected > 0 and self.p_value < spec.alpha and self.ratio < spec.max_ratio


def _count_in(starts: np.ndarray, stops: np.ndarray, times: np.ndarray) -> int:
    return int(np.sum(np.searchsorted(times, stops) - np.searchsorted(times, starts)))


def pause_test(cs_times: np.ndarray, ss_times: np.ndarray, fs: float,
               spec: PairingSpec = PairingSpec()) -> PauseTest:
    """Simple spikes after complex spikes against the simple-spike unit's rate before them."""
    cs, ss = np.asarray(cs_times, dtype=np.int64), np.asarray(ss_times, dtype=np.int64)
    to_samples = fs / 1000.0
    a, b = (round(v * to_samples) for v in spec.pause_ms)
    c, d = (round(v * to_samples) for v in spec.baseline_ms)
    observed = _count_in(cs + a, cs + b, ss)
    baseline = _count_in(cs + c, cs + d, ss)
    expected = baseline * (b - a) / (d - c)
    if expected <= 0:
        return PauseTest(observed, 0.0, 1.0)
    p_value = float(gammaincc(observed + 1, expected))  # P(X <= observed), X ~ Poisson
    return PauseTest(observed, expected, p_value)


def find_pairs(cs_units: dict[int, np.ndarray], ss_units: dict[int, np.ndarray],
               positions: dict[int, np.ndarray], fs: float, spec: PairingSpec = PairingSpec()
               ) -> tuple[dict[int, int], dict[int, int]]:
    """(confirmed pairs {cs: ss}, {cs: number of simple-spike units nearby, none pausing}).

    Each complex-spike unit takes its most significant pausing neighbour; a simple-spike unit
    claimed by several keeps the most significant."""
    best: dict[int, tuple[float, int]] = {}
    unpaired_nearby: dict[int, int] = {}
    for cs_id, cs_times in cs_units.items():
        nearby = [s for s in ss_units if s != cs_id and np.linalg.norm(
            np.asarray(positions[s]) - np.asarray(positions[cs_id])) <= spec.max_distance_um]
        tests = {s: pause_test(cs_times, ss_units[s], fs, spec) for s in nearby}
        confirmed = {s: t for s, t in tests.items() if t.confirms(spec)}
        if confirmed:
            partner = min(confirmed, key=lambda s: confirmed[s].p_value)
            best[cs_id] = (confirmed[partner].p_value, partner)
        elif nearby:
            unpaired_nearby[cs_id] = len(nearby)
    pairs: dict[int, int] = {}
    for cs_id, (_, ss_id) in sorted(best.items(), key=lambda item: item[1][0]):
        if ss_id not in pairs.values():
            pairs[cs_id] = ss_id
    return pairs, unpaired_nearby
