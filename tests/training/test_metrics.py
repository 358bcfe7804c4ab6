"""Tests of ``phy_c4.training.metrics``: C4's evaluation numbers, against counts by hand."""

from __future__ import annotations

import numpy as np

from phy_c4.training.metrics import (
    balanced_accuracy,
    confidence_ratio,
    evaluate,
    expected_calibration_error,
)

P = np.array([[0.7, 0.2, 0.1],   # predicted 0, ratio 3.5
              [0.4, 0.4, 0.2],   # predicted 0 (first of a tie), ratio 1
              [0.1, 0.3, 0.6],   # predicted 2, ratio 2
              [0.0, 1.0, 0.0]])  # predicted 1, ratio inf
Y = np.array([0, 1, 2, 1])


def test_balanced_accuracy_is_the_mean_recall_over_the_classes_present():
    assert balanced_accuracy(np.array(["a", "a", "b", "b"]), np.array(["a", "b", "b", "b"])) \
        == (1.0 + 2 / 3) / 2
    assert balanced_accuracy(np.array([1, 1]), np.array([1, 1])) == 1.0
    assert np.isnan(balanced_accuracy(np.array([]), np.array([])))


def test_confidence_ratio_is_top_over_second_and_infinite_when_the_second_is_zero():
    assert confidence_ratio(P).tolist() == [0.7 / 0.2, 1.0, 0.6 / 0.3, np.inf]
    assert confidence_ratio(np.array([[1.0]])).tolist() == [np.inf]


def test_expected_calibration_error_weighs_each_bins_gap_by_its_share():
    # confidences 0.7, 0.4, 0.6, 1.0 in bins (0.6, 0.7], (0.3, 0.4], (0.5, 0.6], (0.9, 1]
    # correct: yes, no, yes, yes -> |1 - .7| + |0 - .4| + |1 - .6| + |1 - 1|, each weighted 1/4
    assert np.isclose(expected_calibration_error(P, Y), (0.3 + 0.4 + 0.4 + 0.0) / 4)
    assert np.isclose(expected_calibration_error(P, Y, n_bins=1), abs(0.75 - 2.7 / 4))


def test_evaluate_counts_the_confusion_per_class_and_keeps_ratios_at_the_threshold():
    metrics = evaluate(P, Y, ("a", "b", "c"), thresholds=(1.0, 2.0, 4.0))
    assert metrics["confusion"]["matrix"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert metrics["per_class"]["a"] == {"precision": 0.5, "recall": 1.0, "f1": 2 / 3,
                                         "support": 1}
    assert metrics["per_class"]["b"]["recall"] == 0.5 and metrics["per_class"]["b"]["f1"] == 2 / 3
    assert metrics["accuracy"] == 0.75 and metrics["balanced_accuracy"] == (1 + 0.5 + 1) / 3
    assert metrics["by_threshold"]["1"] == {"coverage": 1.0, "accuracy": 0.75}
    assert metrics["by_threshold"]["2"] == {"coverage": 0.75, "accuracy": 1.0}  # ratio 2 kept
    assert metrics["by_threshold"]["4"] == {"coverage": 0.25, "accuracy": 1.0}
    assert (metrics["accuracy_at_ratio2"], metrics["coverage_at_ratio2"]) == (1.0, 0.75)


def test_evaluate_without_units_gives_nan_not_an_error():
    metrics = evaluate(np.zeros((0, 2)), np.zeros(0, dtype=int), ("a", "b"))
    assert metrics["n_units"] == 0 and np.isnan(metrics["accuracy"])
    empty = metrics["per_class"]["a"]
    assert np.isnan(empty["recall"]) and (empty["precision"], empty["f1"], empty["support"]) \
        == (0.0, 0.0, 0)
