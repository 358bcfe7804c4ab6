"""phy_c4/features/pairing.py: a pause is a pair only when it is both deep and significant.

A strong pause seen after a handful of complex spikes is what chance gives a simple-spike unit
next to any unit; the Poisson p-value, not the ratio alone, decides (issue #26)."""

from __future__ import annotations

import numpy as np

from phy_c4.features.pairing import PairingSpec, PauseTest, find_pairs, pause_test
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
    many = pause_test(cs_many, _paused(ss, cs_many), FS, spec)
    few = pause_test(cs_few, _paused(ss, cs_few), FS, spec)
    assert many.observed == few.observed == 0  # both pauses are complete
    assert many.confirms(spec) and many.p_value < 1e-20
    assert few.ratio == 0.0 < spec.max_ratio and few.expected > 0
    assert few.p_value > spec.alpha
    assert not few.confirms(spec)
    positions = {1: np.zeros(2), 2: np.zeros(2)}
    assert find_pairs({1: cs_many}, {2: _paused(ss, cs_many)}, positions, FS, spec)[0] == {1: 2}
    assert find_pairs({1: cs_few}, {2: _paused(ss, cs_few)}, positions, FS, spec)[0] == {}


def test_confirmation_needs_each_of_its_three_conditions():
    spec = PairingSpec(alpha=1e-3, max_ratio=0.5)
    assert PauseTest(observed=2, expected=20.0, p_value=1e-7).confirms(spec)
    assert not PauseTest(observed=0, expected=2.0, p_value=float(np.exp(-2.0))).confirms(spec)
    assert not PauseTest(observed=15, expected=40.0, p_value=1e-2).confirms(spec)  # chance
    assert not PauseTest(observed=25, expected=40.0, p_value=1e-4).confirms(spec)  # too shallow
    assert not PauseTest(observed=0, expected=0.0, p_value=1.0).confirms(spec)  # nothing to test
