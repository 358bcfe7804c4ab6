"""Evaluation as C4 reports it: per-class metrics, balanced accuracy, confusion matrices, and
accuracy and coverage as a function of the confidence-ratio threshold."""

from __future__ import annotations

from itertools import pairwise

import numpy as np


def expected_calibration_error(probabilities: np.ndarray, y: np.ndarray, n_bins: int = 10
                               ) -> float:
    """Weighted mean |accuracy - confidence| over equal-width confidence bins."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y
    edges = np.linspace(0, 1, n_bins + 1)
    total = 0.0
    for lo, hi in pairwise(edges):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            total += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(total)


def balanced_accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean recall over the classes present in ``truth`` (labels of any type); NaN if none."""
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    recalls = [np.mean(predicted[truth == c] == c) for c in np.unique(truth)]
    return float(np.mean(recalls)) if recalls else float("nan")


def confidence_ratio(probabilities: np.ndarray) -> np.ndarray:
    ordered = np.sort(probabilities, axis=1)
    second = ordered[:, -2] if probabilities.shape[1] > 1 else np.zeros(len(ordered))
    with np.errstate(divide="ignore"):
        return np.where(second > 0, ordered[:, -1] / np.where(second > 0, second, 1), np.inf)


def evaluate(probabilities: np.ndarray, y: np.ndarray, labels: tuple[str, ...],
             *, thresholds: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, 5.0)) -> dict:
    """Metrics of predictions ``probabilities`` (N, K) against integer labels ``y``."""
    predicted = probabilities.argmax(axis=1)
    k = len(labels)
    confusion = np.zeros((k, k), dtype=int)
    np.add.at(confusion, (y, predicted), 1)
    per_class = {}
    for i, label in enumerate(labels):
        tp = confusion[i, i]
        support = confusion[i].sum()
        predicted_i = confusion[:, i].sum()
        precision = tp / predicted_i if predicted_i else 0.0
        recall = tp / support if support else float("nan")
        has_f1 = support and precision + recall
        f1 = 2 * precision * recall / (precision + recall) if has_f1 else 0.0
        per_class[label] = {"precision": float(precision), "recall": float(recall),
                            "f1": float(f1), "support": int(support)}
    ratio = confidence_ratio(probabilities)
    by_threshold = {}
    for t in thresholds:
        kept = ratio >= t
        by_threshold[f"{t:g}"] = {
            "coverage": float(kept.mean()) if len(kept) else 0.0,
            "accuracy": float((predicted[kept] == y[kept]).mean()) if kept.any() else float("nan"),
        }
    at2 = by_threshold.get("2", {"coverage": float("nan"), "accuracy": float("nan")})
    return {
        "n_units": int(len(y)),
        "accuracy": float((predicted == y).mean()) if len(y) else float("nan"),
        "balanced_accuracy": balanced_accuracy(predicted, y),
        "accuracy_at_ratio2": at2["accuracy"],
        "coverage_at_ratio2": at2["coverage"],
        "ece": expected_calibration_error(probabilities, y),
        "per_class": per_class,
        "confusion": {"labels": list(labels), "matrix": confusion.tolist()},
        "by_threshold": by_threshold,
    }
