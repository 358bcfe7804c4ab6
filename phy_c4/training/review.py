"""How well the model agrees with the curator: ``phy-c4 review``.

The curated labels are the human columns of ``phy_c4.curation`` (never the model's). The
predictions are the saved ones (the audit folder's per-class probabilities, what the curator saw)
or, with a bundle, computed afresh in memory by the pipeline (nothing is written). Rejections
count as errors of the type they reject in precision, never in the confusion matrix (the true
type is unknown). ``accepted`` labels agree with the model by construction, so the report also
gives the agreement per source: ground truth (optotagged, juxtacellular, pair) is what to trust.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phy_c4.curation import HUMAN_LABEL, REJECTED, SOURCE
from phy_c4.io.dataset import open_recording
from phy_c4.io.results import AUDIT_DIR, PROBABILITIES_FILE, RUN_MANIFEST
from phy_c4.io.tsv import read_folder_column
from phy_c4.training.metrics import confidence_ratio, evaluate

MIN_UNITS_FOR_THRESHOLD = 5
"""A threshold is only proposed when at least this many curated units are kept at it."""


class ReviewError(ValueError):
    """Nothing to review: no curated labels, or no predictions."""


@dataclass(kw_only=True)
class CuratedUnits:
    """One recording's curated units beside the model's probabilities for them."""

    recording: str
    classes: tuple[str, ...]
    cluster_ids: np.ndarray  # (N,)
    labels: np.ndarray  # (N,) object: the curated type, "" when none
    sources: np.ndarray  # (N,) object
    rejected: np.ndarray  # (N,) object: a rejected type, "" when none
    probabilities: np.ndarray  # (N, K)


def curated_units(path: str | os.PathLike, label_column: str = HUMAN_LABEL,
                  bundle: Any = None, *, options: Any = None) -> CuratedUnits:
    """The curated units of a Phy folder with the saved predictions (``bundle`` None) or fresh
    ones from ``bundle``."""
    folder = Path(path)
    if folder.name == "params.py":
        folder = folder.parent
    if not (folder / "params.py").is_file():
        raise ReviewError(f"{folder}: not a Phy folder (no params.py)")
    labels = {c: v for c, v in read_folder_column(folder, label_column).items() if v}
    rejected = {c: v for c, v in read_folder_column(folder, REJECTED).items() if v}
    if not labels and not rejected:
        raise ReviewError(f"{folder}: no curated labels (cluster_{label_column}.tsv is missing "
                          "or empty): label units in Phy (C4 › set_type) first")
    sources = read_folder_column(folder, SOURCE)
    ids = sorted(set(labels) | set(rejected))
    if bundle is None:
        classes, probabilities = _saved_probabilities(folder, ids)
    else:
        classes, probabilities = _fresh_probabilities(folder, ids, bundle, options=options)
    return CuratedUnits(recording=folder.name, classes=classes, cluster_ids=np.asarray(ids,
                                                                                       dtype=np.int64),
                        labels=np.array([labels.get(c, "") for c in ids], dtype=object),
                        sources=np.array([sources.get(c, "") for c in ids], dtype=object),
                        rejected=np.array([rejected.get(c, "") for c in ids], dtype=object),
                        probabilities=probabilities)


def _saved_probabilities(folder: Path, ids: list[int]) -> tuple[tuple[str, ...], np.ndarray]:
    path = folder / AUDIT_DIR / PROBABILITIES_FILE
    if not path.is_file():
        raise ReviewError(f"{folder}: no saved predictions ({AUDIT_DIR}/{PROBABILITIES_FILE}); "
                          "run phy-c4 classify (or Classify and Ctrl+S in Phy), or pass --bundle")
    import json

    classes = tuple(json.loads((folder / AUDIT_DIR / RUN_MANIFEST).read_text())["labels"])
    table = pd.read_csv(path, sep="\t").set_index("cluster_id")
    columns = [f"c4_p_{label}" for label in classes]
    probabilities = np.full((len(ids), len(classes)), np.nan)
    for i, cluster_id in enumerate(ids):
        if cluster_id in table.index:
            probabilities[i] = table.loc[cluster_id, columns].to_numpy(dtype=float)
    return classes, probabilities


def _fresh_probabilities(folder: Path, ids: list[int], bundle: Any, *, options: Any
                         ) -> tuple[tuple[str, ...], np.ndarray]:
    from phy_c4.pipeline import classify

    recording = open_recording(folder)
    existing = {int(x) for x in recording.cluster_ids}
    present = [c for c in ids if c in existing]
    result = classify(recording, present, bundle=bundle, options=options, rejected={})
    probabilities = np.full((len(ids), len(result.labels)), np.nan)
    row = {c: i for i, c in enumerate(ids)}
    for cluster_id, p in zip(result.cluster_ids, result.probabilities, strict=True):
        probabilities[row[int(cluster_id)]] = p
    return tuple(result.labels), probabilities


def review(recordings: list[CuratedUnits], target_precision: float | None = None,
           sources: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Agreement of the model with the curator over recordings: confusion, per-class precision
    and recall, precision and coverage against the confidence-ratio threshold, the threshold
    that reaches ``target_precision``, and the agreement per label source."""
    classes = recordings[0].classes
    for units in recordings[1:]:
        if units.classes != classes:
            raise ReviewError(f"{units.recording} was classified with classes {units.classes}, "
                              f"{recordings[0].recording} with {classes}: review them apart")
    ids, labels, src, rejected, probabilities, names = [], [], [], [], [], []
    for units in recordings:
        ids.append(units.cluster_ids)
        labels.append(units.labels)
        src.append(units.sources)
        rejected.append(units.rejected)
        probabilities.append(units.probabilities)
        names.extend([units.recording] * len(units.cluster_ids))
    labels_all = np.concatenate(labels)
    sources_all = np.concatenate(src)
    rejected_all = np.concatenate(rejected)
    p_all = np.concatenate(probabilities)
    chosen = np.ones(len(labels_all), dtype=bool) if sources is None else \
        np.isin(sources_all, list(sources))
    predicted_ok = np.isfinite(p_all).all(axis=1)
    in_classes = np.isin(labels_all, list(classes))
    labelled = chosen & predicted_ok & in_classes
    refused = chosen & predicted_ok & (labels_all == "") & (rejected_all != "")
    outside = sorted(set(labels_all[chosen & (labels_all != "") & ~in_classes]))
    if not labelled.any():
        raise ReviewError("no curated unit has both a type among the model's classes "
                          f"{list(classes)} and a prediction"
                          + (f" (sources {list(sources)})" if sources else ""))
    y = np.array([classes.index(lab) for lab in labels_all[labelled]])
    report = evaluate(p_all[labelled], y, classes, thresholds=())
    del report["by_threshold"], report["accuracy_at_ratio2"], report["coverage_at_ratio2"]
    # precision against the threshold: rejected predictions count as errors
    predicted = p_all.argmax(axis=1) if len(p_all) else np.zeros(0, dtype=int)
    correct = np.zeros(len(labels_all), dtype=bool)
    correct[labelled] = predicted[labelled] == y
    scored = labelled | (refused & np.array(
        [bool(r) and classes[k] == r for r, k in zip(rejected_all, predicted, strict=True)]))
    ratio = np.where(predicted_ok, confidence_ratio(np.nan_to_num(p_all)), np.nan)
    curve = _threshold_curve(ratio[scored], correct[scored])
    report.update({
        "recordings": [u.recording for u in recordings],
        "classes": list(classes),
        "sources": None if sources is None else list(sources),
        "units_rejected": int(scored.sum() - labelled.sum()),
        "labels_outside_classes": outside,
        "units_without_prediction": int((chosen & ~predicted_ok & (labels_all != "")).sum()),
        "by_source": _by_source(sources_all[labelled], correct[labelled]),
        "by_recording": _by_source(np.asarray(names, dtype=object)[labelled], correct[labelled]),
        "threshold_curve": curve,
    })
    if target_precision is not None:
        report["target"] = _threshold_for(curve, target_precision)
    return report


def _threshold_curve(ratio: np.ndarray, correct: np.ndarray) -> list[dict[str, float]]:
    """Precision and coverage of the calls kept at each threshold (every observed ratio)."""
    thresholds = np.unique(np.concatenate([[1.0], ratio[np.isfinite(ratio)]]))
    curve = []
    for t in thresholds:
        kept = ratio >= t
        curve.append({"threshold": float(t), "kept": int(kept.sum()),
                      "coverage": float(kept.mean()),
                      "precision": float(correct[kept].mean()) if kept.any() else float("nan")})
    return curve


def _threshold_for(curve: list[dict[str, float]], target: float) -> dict[str, Any]:
    """The lowest threshold whose kept calls reach ``target`` precision (with enough units)."""
    for point in curve:
        if point["kept"] >= MIN_UNITS_FOR_THRESHOLD and point["precision"] >= target:
            return {"target_precision": target, "reached": True, **point}
    return {"target_precision": target, "reached": False,
            "why": f"no threshold keeps {MIN_UNITS_FOR_THRESHOLD}+ curated units at precision "
                   f"{target:g}"}


def _by_source(groups: np.ndarray, correct: np.ndarray) -> dict[str, dict[str, float]]:
    out = {}
    for group in sorted(set(groups.tolist())):
        chosen = groups == group
        out[group or "(no source)"] = {"units": int(chosen.sum()),
                                       "accuracy": float(correct[chosen].mean())}
    return out


def review_figure(report: dict[str, Any], path: str | os.PathLike) -> Path:
    """Confusion matrix and precision/coverage against the threshold, as one PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    labels = report["confusion"]["labels"]
    matrix = np.asarray(report["confusion"]["matrix"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    left.imshow(matrix, cmap="Blues")
    for (i, j), n in np.ndenumerate(matrix):
        left.text(j, i, str(n), ha="center", va="center",
                  color="white" if n > matrix.max() / 2 else "black")
    left.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    left.set_yticks(range(len(labels)), labels)
    left.set_xlabel("model")
    left.set_ylabel("curator")
    left.set_title(f"balanced accuracy {report['balanced_accuracy']:.2f} "
                   f"({report['n_units']} units)")
    curve = report["threshold_curve"]
    t = [p["threshold"] for p in curve]
    right.step(t, [p["precision"] for p in curve], where="post", label="precision")
    right.step(t, [p["coverage"] for p in curve], where="post", label="coverage")
    target = report.get("target")
    if target and target.get("reached"):
        right.axvline(target["threshold"], color="k", ls="--",
                      label=f"ratio {target['threshold']:.2f}: precision {target['precision']:.2f}")
    right.set_xscale("log")
    right.set_xlabel("confidence-ratio threshold")
    right.set_ylim(0, 1.02)
    right.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
