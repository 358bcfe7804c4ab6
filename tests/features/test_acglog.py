"""Tests of ``phy_c4.features.acglog``: log-lag resampling of a 3D-ACG (npyx
`convert_acg_log`).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given

from phy_c4.features import acg_3d, acg_3d_log
from tests.conftest import ACG_CASES, SETTINGS, TOLERANCE, trains


@SETTINGS
@given(times=trains)
def test_log_acg_is_mirror_symmetric(times):
    if times.size < 100:
        return
    log = acg_3d_log(acg_3d(times, 30000.0)[1])
    np.testing.assert_array_equal(log[:, :100], log[:, 101:][:, ::-1])
    assert np.all(log[:, 100] == 0)


def test_log_conversion_alone_equals_npyx(npyx_features):
    for case in ACG_CASES:
        log = acg_3d_log(npyx_features[f"acg/{case}/acg_lin"], bin_ms=1, win_ms=2000)
        np.testing.assert_allclose(log, npyx_features[f"acg/{case}/acg_log"], rtol=0,
                                   atol=TOLERANCE)
