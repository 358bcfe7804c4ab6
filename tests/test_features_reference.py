"""Our features equal npyx 4.3.1's outputs on the reference inputs (issue: <= 1e-9)."""

from __future__ import annotations

import numpy as np
import pytest

from phy_c4.features import acg_3d, acg_3d_log, acg_3d_many, preprocess_waveform

ACG_CASES = ["poisson_5hz", "regular_60hz", "complex_1hz", "bursty_mf", "modulated", "short_150",
             "fs25k_30hz"]
WVF_CASES = ["neg_narrow_1d", "neg_broad_multi", "pos_peak_multi", "pos_keep_sign", "late_peak_1d",
             "early_peak_1d"]
TOLERANCE = 1e-9


def test_reference_lists_the_cases_we_test(npyx_features):
    acg_cases = {key.split("/")[1] for key in npyx_features if key.startswith("acg/")}
    wvf_cases = {key.split("/")[1] for key in npyx_features if key.startswith("wvf/")}
    assert acg_cases == set(ACG_CASES)
    assert wvf_cases == set(WVF_CASES)


@pytest.mark.parametrize("case", ACG_CASES)
def test_acg_3d_equals_npyx(npyx_features, case):
    times = npyx_features[f"acg/{case}/times"]
    fs = float(npyx_features[f"acg/{case}/fs"])
    edges, acg = acg_3d(times, fs)
    assert acg.shape == (10, 2001)
    np.testing.assert_allclose(edges, npyx_features[f"acg/{case}/fr_bins"], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(acg, npyx_features[f"acg/{case}/acg_lin"], rtol=0, atol=TOLERANCE)
    # stronger than the issue asks: the emulated summation order makes them bit-identical
    np.testing.assert_array_equal(edges, npyx_features[f"acg/{case}/fr_bins"])
    np.testing.assert_array_equal(acg, npyx_features[f"acg/{case}/acg_lin"])
    log = acg_3d_log(acg)
    assert log.shape == (10, 201)
    np.testing.assert_allclose(log, npyx_features[f"acg/{case}/acg_log"], rtol=0, atol=TOLERANCE)


def test_log_conversion_alone_equals_npyx(npyx_features):
    for case in ACG_CASES:
        log = acg_3d_log(npyx_features[f"acg/{case}/acg_lin"], bin_ms=1, win_ms=2000)
        np.testing.assert_allclose(log, npyx_features[f"acg/{case}/acg_log"], rtol=0,
                                   atol=TOLERANCE)


def test_many_units_equal_single_unit_results(npyx_features):
    cases = [c for c in ACG_CASES if float(npyx_features[f"acg/{c}/fs"]) == 30000.0]
    times = np.concatenate([npyx_features[f"acg/{c}/times"] for c in cases])
    clusters = np.concatenate([np.full(npyx_features[f"acg/{c}/times"].size, 10 + i)
                               for i, c in enumerate(cases)])
    order = np.argsort(times, kind="stable")
    edges, acgs, status = acg_3d_many(times[order], clusters[order],
                                      [10 + i for i in range(len(cases))] + [999], fs=30000.0)
    assert status[:-1] == ["ok"] * len(cases)
    assert status[-1] == "no spikes" and np.isnan(acgs[-1]).all()
    for i, case in enumerate(cases):
        np.testing.assert_allclose(acgs[i], npyx_features[f"acg/{case}/acg_lin"], rtol=0,
                                   atol=TOLERANCE)
        np.testing.assert_allclose(edges[i], npyx_features[f"acg/{case}/fr_bins"], rtol=0,
                                   atol=TOLERANCE)


@pytest.mark.parametrize("case", WVF_CASES)
def test_preprocess_waveform_equals_npyx(npyx_features, case):
    waveform = npyx_features[f"wvf/{case}/input"]
    peak_sign = str(npyx_features[f"wvf/{case}/peak_sign"])
    expected = npyx_features[f"wvf/{case}/output"]
    result = preprocess_waveform(waveform, peak_sign=peak_sign)
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, rtol=0, atol=TOLERANCE)
