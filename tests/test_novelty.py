"""c4_novelty: how unlike cerebellar units a unit fires and looks (issues #14, #25); the
ensemble's own distance to its training units (``model.ensemble.novelty``) stays tested here.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from phy_c4.novelty import (
    FEATURE_NAMES,
    MODEL,
    interval_features,
    novelty_scores,
    trough_to_peak_ms,
    unit_features,
)
from phy_c4.pipeline import PipelineOptions, classify
from phy_c4.testing import MODELS, _gamma_train, _mossy_train, type_waveform


def test_pipeline_writes_novelty_and_flags_units_above_the_threshold(example_copy, monkeypatch):
    import phy_c4.pipeline as pipeline

    options = PipelineOptions(quality=None, cache=False)
    result = classify(example_copy, options=options)
    classified = np.isfinite(result.confidence)
    assert np.isfinite(result.novelty[classified]).all() and np.isnan(
        result.novelty[~classified]).all()
    assert "c4_novelty" in result.table
    assert result.parameters["novelty"] == MODEL.to_dict()  # the score's contract, per run
    flag = (result.novelty > MODEL.threshold) & (result.pair == "")
    assert all(("unlike cerebellar units" in s) == bool(a)
               for s, a in zip(result.status[classified], flag[classified], strict=True))
    monkeypatch.setattr(pipeline, "NOVELTY_THRESHOLD", 0.0)
    flagged = classify(example_copy, options=options)
    unpaired = classified & (flagged.pair == "")  # a confirmed Purkinje cell is not flagged
    assert unpaired.any() and (flagged.pair[classified] != "").any()
    assert all("unlike cerebellar units" in s for s in flagged.status[unpaired])
    assert not any("unlike cerebellar units" in s for s in flagged.status[~unpaired])


FS = 30000.0


def _samples(seconds: np.ndarray) -> np.ndarray:
    return np.unique(np.round(seconds * FS).astype(np.int64))


def _cortical_train(rng: np.random.Generator, duration: float = 600.0) -> np.ndarray:
    """A cortical pyramidal cell's caricature: 1-4 Hz, irregular, bursts of 2-4 spikes 4-8 ms
    apart (Mizuseki & Buzsáki 2013)."""
    starts = np.cumsum(rng.exponential(1.0 / rng.uniform(0.5, 2.0), 4000))
    starts = starts[starts < duration]
    sizes = rng.integers(1, 4, starts.size)
    spikes = [s + np.cumsum(np.r_[0.0, rng.uniform(0.004, 0.008, k - 1)])
              for s, k in zip(starts, sizes, strict=True)]
    return _samples(np.concatenate(spikes))


def test_interval_features_follow_their_definitions():
    periodic = np.arange(1, 2001, dtype=np.int64) * 300  # 100 Hz, every interval equal
    log_rate, cv2, lvr = interval_features(periodic, FS)
    assert log_rate == pytest.approx(2.0) and cv2 == pytest.approx(0.0, abs=1e-9)
    assert lvr == pytest.approx(0.0)  # (1 - 4ab/(a+b)^2) is 0 for equal intervals
    rng = np.random.default_rng(0)
    poisson = _samples(np.cumsum(rng.exponential(0.5, 40000)))
    _, cv2, lvr = interval_features(poisson, FS)
    assert cv2 == pytest.approx(1.0, abs=0.03)  # Holt et al. 1996: 1 for a Poisson process
    assert lvr == pytest.approx(1.0 + 0.01, abs=0.05)  # Shinomoto 2009: ~1 (+ its R term)
    assert all(np.isnan(interval_features(periodic[:3], FS)))


def test_cerebellar_firing_scores_low_and_cortical_firing_high():
    """Generated Purkinje simple-spike, Golgi and mossy-fibre units (phy_c4.testing) score under
    the threshold, slow irregular bursty cortical-like units above it (irregular interneurons
    and complex-spike units can score high: docs/trust.md gives the shares)."""
    rng = np.random.default_rng(1)
    cerebellar = []
    for cell_type in ("PkC_ss", "GoC", "MFB"):
        model = MODELS[cell_type]
        for _ in range(5):
            rate = rng.uniform(*model.rate_hz)
            train = (_mossy_train(rng, rate, 300.0) if cell_type == "MFB"
                     else _gamma_train(rng, rate, model.shape, refractory=model.refractory_s,
                                       duration=300.0))
            cerebellar.append(unit_features(_samples(train), FS, type_waveform(cell_type),
                                            waveform_fs=FS))
    cortical = [unit_features(_cortical_train(rng), FS, type_waveform("GoC"), waveform_fs=FS)
                for _ in range(10)]
    low, high = novelty_scores(np.array(cerebellar)), novelty_scores(np.array(cortical))
    assert np.all(low < MODEL.threshold)
    assert np.all(high > MODEL.threshold)


def test_a_unit_without_a_waveform_is_scored_from_its_firing():
    times = _samples(np.cumsum(np.random.default_rng(2).gamma(6, 1 / 360.0, 20000)))
    with_wave = unit_features(times, FS, type_waveform("PkC_ss"), waveform_fs=FS)
    without = unit_features(times, FS, None, waveform_fs=0.0)
    assert np.isnan(without[-1]) and np.isfinite(novelty_scores(without)).all()
    assert novelty_scores(without)[0] < MODEL.threshold > novelty_scores(with_wave)[0]


def test_slower_firing_of_the_same_regularity_scores_higher():
    """The rate carries the score (held-out AUROC 0.88 alone): the same gamma-6 regularity and
    spike shape at 2 Hz scores well above 60 Hz."""
    rng = np.random.default_rng(3)
    scores = [novelty_scores(unit_features(_samples(_gamma_train(rng, rate, 6.0, refractory=0.002,
                                                                 duration=600.0)),
                                           FS, type_waveform("PkC_ss"), waveform_fs=FS))[0]
              for rate in (2.0, 60.0)]
    assert scores[0] > scores[1] + 0.3


def _cv2_lvr_by_hand(intervals: list[float]) -> tuple[float, float]:
    """Holt et al. 1996's CV2 and Shinomoto et al. 2009's LvR (R = 5 ms), written as the papers
    write them: one term per pair of consecutive intervals."""
    pairs = list(pairwise(intervals))
    cv2 = sum(2 * abs(b - a) / (a + b) for a, b in pairs) / len(pairs)
    lvr = 3 / len(pairs) * sum((1 - 4 * a * b / (a + b) ** 2) * (1 + 4 * 0.005 / (a + b))
                               for a, b in pairs)
    return cv2, lvr


def test_interval_features_of_a_short_train_equal_the_papers_formulas():
    fs = 1000.0
    times = np.array([0, 10, 30, 30, 40, 80])  # intervals 10, 20, 10, 40 ms; one duplicate
    log_rate, cv2, lvr = interval_features(times, fs)
    expected_cv2, expected_lvr = _cv2_lvr_by_hand([0.010, 0.020, 0.010, 0.040])
    assert log_rate == pytest.approx(np.log10(1 / 0.020), rel=1e-12)
    assert cv2 == pytest.approx(expected_cv2, rel=1e-12)
    assert lvr == pytest.approx(expected_lvr, rel=1e-12)
    shuffled = times[[3, 0, 5, 1, 4, 2]]  # spike times out of order are sorted first
    assert interval_features(shuffled, fs) == (log_rate, cv2, lvr)
    three = interval_features(np.array([0, 10, 30, 40]), fs)  # 3 intervals: enough
    assert np.isfinite(three).all()
    assert np.isnan(interval_features(np.array([0, 10, 10, 30]), fs)).all()  # 2 intervals
    first_is_smallest = times[[0, 4, 1, 5, 3, 2]]  # out of order after a smallest first time
    assert interval_features(first_is_smallest, fs) == (log_rate, cv2, lvr)
    one_sample = interval_features(np.array([0, 1, 3, 4, 8]), fs)  # 1-sample intervals count
    expected_cv2, expected_lvr = _cv2_lvr_by_hand([0.001, 0.002, 0.001, 0.004])
    assert one_sample == pytest.approx((np.log10(1 / 0.002), expected_cv2, expected_lvr),
                                       rel=1e-12)


def test_trough_to_peak_is_measured_from_the_largest_deflection_on_a_finer_grid():
    fs = 1000.0
    assert trough_to_peak_ms(np.array([0.0, -2.0, 0.0, 1.0, 0.5]), fs) == pytest.approx(2.0)
    # a positive spike is flipped: its peak is the trough, the following minimum the peak
    assert trough_to_peak_ms(np.array([0.0, 2.0, 1.0, -1.0, 0.0]), fs) == pytest.approx(2.0)
    # equal extremes: the negative one is the trough, whatever their order
    assert trough_to_peak_ms(np.array([1.0, 0.0, -1.0, 0.0, 0.0]), fs) == pytest.approx(1.0)
    # the first maximum after the trough: 2 samples at 2 kHz
    assert trough_to_peak_ms(np.array([-1.0, 0.0, 1.0, 1.0, 0.0]), 2000.0) == pytest.approx(
        1.0)
    assert trough_to_peak_ms(np.array([[0.0, -2.0], [0.0, 1.0]]), fs) == pytest.approx(2.0)
    assert trough_to_peak_ms(np.array([0.0, -1.0, 1.0]), fs) == pytest.approx(1.0)  # 3 samples
    assert trough_to_peak_ms(np.array([0.0, -1.0, 1.0]), 0.5) == pytest.approx(2000.0)
    for waveform, rate in ((None, fs), (np.array([0.0, -1.0, 0.0]), 0.0),
                           (np.array([0.0, -1.0]), fs), (np.array([0.0, np.nan, 1.0]), fs),
                           (np.full(5, 3.0), fs)):
        assert np.isnan(trough_to_peak_ms(waveform, rate))


def test_the_shipped_score_is_the_logistic_of_its_standardised_features():
    rows = np.array([[1.0, 0.5, 0.8, 0.3], [2.0, 0.2, 0.1, 0.6], [0.0, 1.2, 1.5, 0.2]])
    m = MODEL
    by_hand = [1 / (1 + np.exp(-(sum(c * (x - mu) / s for x, mu, s, c in
                                     zip(row, m.mean, m.scale, m.coef, strict=True))
                                 + m.intercept))) for row in rows]
    assert novelty_scores(rows) == pytest.approx(by_hand, rel=1e-12)
    assert novelty_scores(rows[0]) == pytest.approx(by_hand[:1], rel=1e-12)  # one unit: (4,)
    assert novelty_scores(np.zeros((0, 4))).shape == (0,)
    assert novelty_scores(np.zeros(0)).shape == (0,)  # no unit at all
    # the numbers of the contract written into every run's parameters
    assert m.to_dict() == {"version": "firing-1", "features": FEATURE_NAMES,
                           "mean": (1.424912, 0.64687, 0.805906, 0.375538),
                           "scale": (0.444309, 0.246707, 0.576568, 0.306822),
                           "coef": (-1.148657, 2.121017, -1.663249, -0.377097),
                           "intercept": -1.391078, "threshold": 0.6232, "data": m.data}
    assert FEATURE_NAMES == ("log10_rate", "cv2", "lvr", "width_ms")


def test_a_missing_value_is_scored_as_the_reference_mean_and_only_that_value():
    row = np.array([1.8, 0.4, 0.5, 0.25])
    for i in range(4):
        gap = row.copy()
        gap[i] = np.nan
        filled = row.copy()
        filled[i] = MODEL.mean[i]
        assert novelty_scores(gap)[0] == pytest.approx(novelty_scores(filled)[0], rel=1e-12)
    both = np.array([row, [np.nan, np.nan, np.nan, np.nan]])
    assert novelty_scores(both) == pytest.approx(
        [novelty_scores(row)[0], 1 / (1 + np.exp(-MODEL.intercept))], rel=1e-12)
    assert not np.isnan(row).any()  # the caller's array is not filled in place
    single = np.array([1.8, 0.4, np.nan, 0.25], dtype=np.float32)  # filled in float64
    assert novelty_scores(single)[0] == novelty_scores(single.astype(np.float64))[0]


def test_unit_features_are_the_interval_features_and_the_width_of_the_waveform_given():
    times = np.array([0, 10, 30, 40, 80])
    waveform = np.array([0.0, -2.0, 0.0, 1.0, 0.5])
    values = unit_features(times, 1000.0, waveform, waveform_fs=2000.0)
    assert values.tolist() == [*interval_features(times, 1000.0),
                               trough_to_peak_ms(waveform, 2000.0)]
    assert values[-1] == pytest.approx(1.0)
