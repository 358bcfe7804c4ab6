"""phy_c4/features/pairing.py: a pause is a pair only when it is both deep and significant.

A strong pause seen after a handful of complex spikes is what chance gives a simple-spike unit
next to any unit; the Poisson p-value, not the ratio alone, decides (issue #26)."""

from __future__ import annotations

import numpy as np
import pytest

from phy_c4.features.pairing import PairingSpec, PauseTest, _windows, find_pairs, pause_test
from tests.conftest import poisson_train

FS = 30000.0


def _paused(ss: np.ndarray, cs: np.ndarray, pause_ms: tuple[float, float] = (0.0, 10.0)
            ) -> np.ndarray:
    """Simple spikes without those in the pause after each complex spike."""
    after = ss[None, :] - cs[:, None]
    start, stop = (round(v * FS / 1000.0) for v in pause_ms)
    return ss[~((after >= start) & (after < stop)).any(axis=0)]


def test_a_deep_pause_after_few_complex_spikes_is_not_a_pair():
    spec = PairingSpec()
    ss = poisson_train(80.0, 300.0, FS, seed=3)
    cs_many = poisson_train(1.0, 300.0, FS, seed=4, refractory_s=0.1)
    cs_few = cs_many[:3]
    many = pause_test(cs_many, _paused(ss, cs_many), FS, spec=spec)
    few = pause_test(cs_few, _paused(ss, cs_few), FS, spec=spec)
    assert many.observed == few.observed == 0  # both pauses are complete
    assert many.confirms(spec) and many.p_value < 1e-20
    assert few.ratio == 0.0 < spec.max_ratio and few.expected > 0
    assert few.p_value > spec.alpha
    assert not few.confirms(spec)
    positions = {1: np.zeros(2), 2: np.zeros(2)}
    assert find_pairs({1: cs_many}, {2: _paused(ss, cs_many)}, positions, fs=FS,
                      spec=spec)[0] == {1: 2}
    assert find_pairs({1: cs_few}, {2: _paused(ss, cs_few)}, positions, fs=FS, spec=spec)[0] == {}


def test_confirmation_needs_each_of_its_four_conditions():
    """Deep, significant, and there from the start (#25: the onset window 1-3 ms)."""
    spec = PairingSpec(alpha=1e-3, max_ratio=0.5)
    onset = {"onset_observed": 0, "onset_expected": 6.0}
    assert PauseTest(observed=2, expected=20.0, p_value=1e-7, **onset).confirms(spec)
    assert not PauseTest(observed=0, expected=2.0, p_value=float(np.exp(-2.0)),
                         **onset).confirms(spec)
    assert not PauseTest(observed=15, expected=40.0, p_value=1e-2, **onset).confirms(spec)
    assert not PauseTest(observed=25, expected=40.0, p_value=1e-4, **onset).confirms(spec)
    assert not PauseTest(observed=0, expected=0.0, p_value=1.0, **onset).confirms(spec)
    assert not PauseTest(observed=2, expected=20.0, p_value=1e-7, onset_observed=4,
                         onset_expected=6.0).confirms(spec)  # a later dip: spikes at 1-3 ms
    assert not PauseTest(observed=2, expected=20.0, p_value=1e-7).confirms(spec)  # no onset


def _pair_setup():
    """Complex-spike units 1, 5, 7, 9, 10, 11 and simple-spike units around them (µm). Where a
    choice is made, the right one has the larger id (an order by id would pick wrongly)."""
    cs = {c: poisson_train(1.0, 300.0, FS, seed=10 + c, refractory_s=0.1)
          for c in (1, 5, 7, 10, 11)}
    cs[9] = cs[10][::4] + 7  # few complex spikes, their own times
    cs = dict(sorted(cs.items()))  # 9 before 10: ties are not broken by insertion order
    ss = {}
    ss[2] = _paused(poisson_train(80.0, 300.0, FS, seed=2), cs[1])  # pauses after 1, 50 µm
    ss[3] = _paused(poisson_train(80.0, 300.0, FS, seed=3), cs[1])  # pauses after 1, 150 µm
    ss[4] = poisson_train(80.0, 300.0, FS, seed=4)  # no pause, 60 µm from 1
    ss[6] = poisson_train(80.0, 300.0, FS, seed=6)  # no pause, 30 µm from 5
    ss[8] = _paused(poisson_train(80.0, 300.0, FS, seed=8), np.sort(np.r_[cs[9], cs[10]]))
    every_fifth_kept = np.delete(cs[11], slice(None, None, 5))  # a shallower pause
    ss[12] = _paused(poisson_train(80.0, 300.0, FS, seed=12), every_fifth_kept)
    ss[13] = _paused(poisson_train(80.0, 300.0, FS, seed=13), cs[11])
    where = {1: (0, 0), 2: (0, 50), 3: (0, 150), 4: (0, 60), 5: (0, 1000), 6: (0, 1030),
             7: (0, 2000), 9: (0, 3000), 10: (0, 3040), 8: (0, 3020), 11: (0, 4000),
             12: (0, 4010), 13: (0, 4015)}
    return cs, ss, {u: np.asarray(p, dtype=float) for u, p in where.items()}


def test_pairs_are_the_most_significant_pausing_neighbour_within_reach():
    cs, ss, positions = _pair_setup()
    spec = PairingSpec()
    both = pause_test(cs[11], ss[12], FS, spec=spec), pause_test(cs[11], ss[13], FS, spec=spec)
    assert both[0].confirms(spec) and both[1].confirms(spec)
    assert both[1].p_value < both[0].p_value  # 13 pauses after every complex spike of 11
    claims = pause_test(cs[9], ss[8], FS, spec=spec), pause_test(cs[10], ss[8], FS, spec=spec)
    assert claims[0].confirms(spec) and claims[1].confirms(spec)
    assert claims[1].p_value < claims[0].p_value
    pairs, unpaired = find_pairs(cs, ss, positions, fs=FS, spec=spec, threads=2)
    # 1: 2 pauses (3 pauses too but is 150 µm away; 4 does not pause); 5: only 6 nearby, no
    # pause; 7: nobody nearby; 8 is claimed by 9 and 10 and stays with the more significant
    # 10; 11 takes 13, its more significant neighbour
    assert pairs == {1: 2, 10: 8, 11: 13}
    assert unpaired == {5: 1}
    # 13 out of reach: the shallower, still significant 12 (10 µm away) is the pair
    assert find_pairs(cs, ss, positions, fs=FS,
                      spec=PairingSpec(max_distance_um=10.0)) == ({11: 12}, {})
    assert find_pairs(cs, ss, positions, fs=FS, spec=PairingSpec(max_distance_um=50.0))[0][1] == 2


def test_the_windows_in_samples():
    assert _windows(30000.0, PairingSpec()).tolist() == [[30, 240], [-1800, -300], [30, 90]]
    assert _windows(20000.0, PairingSpec(pause_ms=(2.0, 5.0))).tolist() == [
        [40, 100], [-1200, -200], [20, 60]]


def test_the_expected_count_and_p_value_are_poissons():
    """Against a direct count: the baseline count scaled by the windows' lengths (7 / 50 ms),
    and P(X <= observed) for X ~ Poisson(expected)."""
    from scipy.stats import poisson

    cs = poisson_train(1.0, 200.0, FS, seed=21, refractory_s=0.1)
    ss = poisson_train(30.0, 200.0, FS, seed=22)
    after = ss[None, :] - cs[:, None]
    observed = int(((after >= 30) & (after < 240)).sum())
    baseline = int(((after >= -1800) & (after < -300)).sum())
    test = pause_test(cs, ss, FS)
    assert test.observed == observed
    assert test.expected == pytest.approx(baseline * 210 / 1500, rel=1e-12)
    assert test.p_value == pytest.approx(poisson.cdf(observed, test.expected), rel=1e-9)


def test_a_small_expected_count_is_kept_and_none_gives_p_one():
    cs = np.array([100_000, 400_000])
    ss = np.array([100_100, 99_000])  # one in the pause, one in one baseline window
    small = pause_test(cs, ss, FS)
    expected = 7 / 50
    assert small == PauseTest(observed=1, expected=pytest.approx(expected),
                              p_value=pytest.approx(np.exp(-expected) * (1 + expected)),
                              onset_observed=0,  # none at 1-3 ms; the onset's 2 / 50 ms
                              onset_expected=pytest.approx(2 / 50))
    none = pause_test(cs, np.array([100_100, 100_150]), FS)
    assert none == PauseTest(observed=2, expected=0.0, p_value=1.0)
    assert isinstance(none.observed, int) and not none.confirms(PairingSpec(alpha=1.5))


def test_trains_out_of_order_anywhere_are_sorted():
    """Also when the first spike is the earliest, or there are only two."""
    cs = poisson_train(1.0, 100.0, FS, seed=31, refractory_s=0.1)
    ss = poisson_train(60.0, 100.0, FS, seed=32)
    first_earliest = np.r_[ss[0], ss[1:][::-1]]
    assert pause_test(cs, first_earliest, FS) == pause_test(cs, ss, FS)
    two = cs[[10, 3]]
    assert pause_test(two, ss, FS) == pause_test(np.sort(two), ss, FS)


def test_confirmation_thresholds_are_strict():
    spec = PairingSpec(alpha=1e-3, max_ratio=0.5, onset_max_ratio=0.3)
    onset = {"onset_observed": 0, "onset_expected": 6.0}
    assert not PauseTest(observed=5, expected=20.0, p_value=1e-3, **onset).confirms(spec)
    assert not PauseTest(observed=10, expected=20.0, p_value=1e-9, **onset).confirms(spec)
    assert PauseTest(observed=9, expected=20.0, p_value=1e-9, **onset).confirms(spec)
    # the onset's bound is inclusive: 3 of 10 expected still starts the pause at once
    assert PauseTest(observed=9, expected=20.0, p_value=1e-9, onset_observed=3,
                     onset_expected=10.0).confirms(spec)
    assert not PauseTest(observed=9, expected=20.0, p_value=1e-9, onset_observed=4,
                         onset_expected=10.0).confirms(spec)
