"""Purkinje pairing on a 1-hour recording's worth of candidates: the galloping sweep
(``features/pairing.py``) against the four ``np.searchsorted`` calls per pause test it replaced,
both run here on the same trains, with the decisions compared. Run by hand; not a test.

Default size: 50 complex-spike units (1 Hz) against 87 simple-spike units (60-100 Hz,
gamma-regular), all within 100 um: 4,350 pause tests, the shape of the 400-unit benchmark
recording's pairing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.special import gammaincc

from phy_c4.features.pairing import PairingSpec, find_pairs, pause_test

FS = 30000.0


def poisson(rate_hz: float, duration_s: float, rng: np.random.Generator,
            shape: float = 1.0) -> np.ndarray:
    """Gamma-renewal spike times (``shape`` 1: Poisson) with a 1-ms refractory period."""
    n = int(rate_hz * duration_s * 1.3) + 10
    isis = 0.001 + rng.gamma(shape, 1.0 / (rate_hz * shape), n)
    times = np.cumsum(isis)
    return np.unique((times[times < duration_s] * FS).astype(np.int64))


def searchsorted_test(cs: np.ndarray, ss: np.ndarray, spec: PairingSpec) -> tuple[int, float]:
    """The previous implementation: (observed, p-value) from four searchsorted calls."""
    a, b = (round(v * FS / 1000.0) for v in spec.pause_ms)
    c, d = (round(v * FS / 1000.0) for v in spec.baseline_ms)
    observed = int(np.sum(np.searchsorted(ss, cs + b) - np.searchsorted(ss, cs + a)))
    baseline = int(np.sum(np.searchsorted(ss, cs + d) - np.searchsorted(ss, cs + c)))
    expected = baseline * (b - a) / (d - c)
    return observed, float(gammaincc(observed + 1, expected)) if expected > 0 else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cs-units", type=int, default=50)
    parser.add_argument("--ss-units", type=int, default=87)
    parser.add_argument("--duration", type=float, default=3600.0)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cs = {i: poisson(1.0, args.duration, rng) for i in range(args.cs_units)}
    ss = {1000 + i: poisson(rng.uniform(60, 100), args.duration, rng, shape=6.0)
          for i in range(args.ss_units)}  # regular, as simple spikes: find_pairs checks CV2
    positions = {unit: np.zeros(2) for unit in (*cs, *ss)}
    spec = PairingSpec()
    pause_test(cs[0], ss[1000], FS)  # compile
    n_tests = len(cs) * len(ss)

    start = time.perf_counter()
    old = {(c, s): searchsorted_test(cs[c], ss[s], spec) for c in cs for s in ss}
    old_s = time.perf_counter() - start
    start = time.perf_counter()
    new = {(c, s): pause_test(cs[c], ss[s], FS, spec=spec) for c in cs for s in ss}
    new_tests_s = time.perf_counter() - start
    start = time.perf_counter()
    find_pairs(cs, ss, positions, fs=FS, spec=spec)
    find_pairs_s = time.perf_counter() - start

    same = all(old[k][0] == new[k].observed and old[k][1] == new[k].p_value for k in old)
    n_spikes = sum(map(len, ss.values())) + sum(map(len, cs.values()))
    print(f"{n_tests} pause tests, {n_spikes:,} spikes, {args.duration:g} s")
    print(f"searchsorted (before): {old_s:7.3f} s")
    print(f"pause_test, one pair a call (API): {new_tests_s:7.3f} s  ({old_s / new_tests_s:.1f}x)")
    print(f"find_pairs (now):      {find_pairs_s:7.3f} s  ({old_s / find_pairs_s:.1f}x)")
    print(f"same counts and p-values in all {n_tests} tests: {same}")


if __name__ == "__main__":
    main()
