"""``phy-c4 adapt``: a bundle fitted to the curator's own labelled units.

Two adaptations of the last layer only, so the encoders, the feature spec and the novelty
reference (the last layer's input) stay the parent's:

- ``recalibrate`` (few labels): one temperature and one bias per labelled class on the members'
  logits, fitted by class-balanced likelihood with a penalty on the biases;
- ``fine_tune`` (more labels): each member's last layer refitted, pulled towards the parent's
  weights (an L2-SP penalty whose strength is chosen by the same cross-validation among
  ``HEAD_PENALTIES``), with the temperature fitted on the held-out predictions.

Each is cross-validated on the curator's labels, split by recording (by unit, and said so, when
there is one recording); the method that beats the parent's balanced accuracy most is kept, and
nothing is written when none does or when the labels are too few to tell. Classes with fewer
than ``MIN_LABELS_PER_CLASS`` labels are left as the parent has them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from phy_c4.curation import HUMAN_LABEL, SOURCE
from phy_c4.families import attach
from phy_c4.io.tsv import read_folder_column
from phy_c4.model.bundle import Bundle
from phy_c4.model.ensemble import member_forward, predict_inputs
from phy_c4.pipeline import PipelineOptions, model_inputs
from phy_c4.training.metrics import evaluate

MIN_LABELS_PER_CLASS = 3
MIN_CLASSES = 2
MIN_UNITS = 10
FINE_TUNE_FROM = 5
"""Median labels per adapted class from which fine-tuning is tried too."""
BIAS_PENALTY = 0.1
HEAD_PENALTIES = (0.002, 0.01, 0.05, 0.2)
METHODS = ("recalibrate", "fine_tune")


class AdaptError(ValueError):
    """The labels are too few (or too uninformative) to adapt a bundle."""


@dataclass(kw_only=True)
class LabelledUnits:
    """One recording's curated units as the bundle's network input rows."""

    recording: str
    cluster_ids: np.ndarray
    y: np.ndarray  # class indices into the bundle's labels
    inputs: torch.Tensor
    sources: np.ndarray
    ignored: dict[str, int] = field(default_factory=dict)
    """Curated labels not used, by reason (not a class of the bundle, no input row)."""


def labelled_units(path: str | os.PathLike, bundle: Bundle, label_column: str = HUMAN_LABEL,
                   *, options: PipelineOptions | None = None) -> LabelledUnits:
    """The curated units of a Phy folder, through the same pipeline as ``classify``."""
    folder = Path(path)
    folder = folder.parent if folder.name == "params.py" else folder
    labels = {c: v for c, v in read_folder_column(folder, label_column).items() if v}
    sources = read_folder_column(folder, SOURCE)
    ignored: dict[str, int] = {}
    known = {c: v for c, v in labels.items() if v in bundle.labels}
    for value in labels.values():
        if value not in bundle.labels:
            key = f"not a class of {bundle.label}: {value}"
            ignored[key] = ignored.get(key, 0) + 1
    inputs, failed = model_inputs(folder, sorted(known), bundle, options=options)
    for status in failed.values():
        key = f"no input: {status.split(':')[0]}"
        ignored[key] = ignored.get(key, 0) + 1
    ids = np.asarray(inputs.ready, dtype=np.int64)
    return LabelledUnits(recording=folder.name, cluster_ids=ids,
                         y=np.array([bundle.labels.index(known[int(c)]) for c in ids], dtype=int),
                         inputs=inputs.rows,
                         sources=np.array([sources.get(int(c), "") for c in ids], dtype=object),
                         ignored=ignored)


@dataclass(kw_only=True)
class Adaptation:
    """A fitted last-layer change: probabilities = mean over members of
    softmax((features @ weight.T + bias) / temperature + class_bias)."""

    method: str
    temperature: float
    class_bias: np.ndarray  # (K,)
    weight: np.ndarray | None = None  # (M, K, D) refitted last layers (fine_tune)
    bias: np.ndarray | None = None  # (M, K)

    def logits(self, logits: np.ndarray, features: np.ndarray) -> np.ndarray:
        """(M, N, K) the members' logits after the change, before temperature and class bias."""
        if self.weight is None:
            return logits
        return np.einsum("mnd,mkd->mnk", features, self.weight) + self.bias[:, None, :]

    def probabilities(self, logits: np.ndarray, features: np.ndarray) -> np.ndarray:
        z = torch.from_numpy(self.logits(logits, features)) / self.temperature
        z = z + torch.from_numpy(self.class_bias)
        return torch.softmax(z, dim=-1).mean(dim=0).numpy()


def _class_weights(y: np.ndarray, n_classes: int) -> torch.Tensor:
    counts = np.bincount(y, minlength=n_classes).astype(float)
    weights = 1.0 / counts[y]
    return torch.from_numpy(weights / weights.sum())


def _trainable(y: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(y, minlength=n_classes) >= MIN_LABELS_PER_CLASS


def fit_recalibration(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0,
                      *, method: str = "recalibrate", weight: np.ndarray | None = None,
                      bias: np.ndarray | None = None, biases: bool = True) -> Adaptation:
    """Temperature and per-class biases of the member-averaged probabilities (classes with too
    few labels keep a zero bias; ``biases=False``: the temperature only)."""
    n_classes = logits.shape[-1]
    trainable = torch.from_numpy((_trainable(y, n_classes) & biases).astype(float))
    lg = torch.from_numpy(logits).double()
    target = torch.from_numpy(y).long()
    weights = _class_weights(y, n_classes)
    log_t = torch.tensor(float(np.log(temperature)), dtype=torch.float64, requires_grad=True)
    free_bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t, free_bias], lr=0.5, max_iter=200)

    def closure():
        optimiser.zero_grad()
        class_bias = free_bias * trainable
        mean = torch.softmax(lg / log_t.exp() + class_bias, dim=-1).mean(dim=0)
        nll = -(weights * torch.log(mean[torch.arange(len(y)), target] + 1e-12)).sum()
        loss = nll + BIAS_PENALTY * (class_bias ** 2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return Adaptation(method=method, temperature=float(log_t.detach().exp()),
                      class_bias=(free_bias * trainable).detach().numpy(), weight=weight, bias=bias)


def fit_fine_tune(logits: np.ndarray, features: np.ndarray, y: np.ndarray,
                  *, weight0: np.ndarray, bias0: np.ndarray, temperature: float,
                  penalty: float) -> Adaptation:
    """Each member's last layer refitted to the labels (class-balanced cross-entropy), pulled
    towards the parent's by ``penalty``; rows of classes with too few labels are frozen."""
    n_classes = weight0.shape[1]
    trainable = torch.from_numpy(_trainable(y, n_classes).astype(float))
    feats = torch.from_numpy(features).double()
    w0, b0 = torch.from_numpy(weight0).double(), torch.from_numpy(bias0).double()
    dw = torch.zeros_like(w0, requires_grad=True)
    db = torch.zeros_like(b0, requires_grad=True)
    target = torch.from_numpy(y).long()
    weights = _class_weights(y, n_classes)
    optimiser = torch.optim.LBFGS([dw, db], lr=0.5, max_iter=200)

    def closure():
        optimiser.zero_grad()
        w = w0 + dw * trainable[None, :, None]
        b = b0 + db * trainable[None, :]
        z = (torch.einsum("mnd,mkd->mnk", feats, w) + b[:, None, :]) / temperature
        ce = F.cross_entropy(z.reshape(-1, n_classes), target.repeat(z.shape[0]),
                             reduction="none").reshape(z.shape[0], -1)
        loss = (ce * weights[None, :]).sum(dim=1).mean()
        loss = loss + penalty * ((dw * trainable[None, :, None]) ** 2).sum() / z.shape[0]
        loss.backward()
        return loss

    optimiser.step(closure)
    weight = (w0 + dw * trainable[None, :, None]).detach().numpy()
    bias = (b0 + db * trainable[None, :]).detach().numpy()
    return Adaptation(method=f"fine_tune:{penalty:g}", temperature=temperature,
                      class_bias=np.zeros(n_classes), weight=weight, bias=bias)


def fit_out_of_fold_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature of held-out (out-of-fold) logits (M, N, K) that best fits the labels: a
    refitted layer is over-confident on the units it was fitted to, so it is not fitted there."""
    return fit_recalibration(logits, y, 1.0, method="temperature", biases=False).temperature


def head_outputs(bundle: Bundle, inputs: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(M, N, K) raw logits and (M, N, D) last-layer inputs of every member."""
    logits, features = member_forward(bundle, inputs)
    return logits.double().numpy(), features.double().numpy()


def _parent_temperature(bundle: Bundle) -> float:
    return float(bundle.manifest.get("temperature", 1.0))


def fit(method: str, bundle: Bundle, logits: np.ndarray, *, features: np.ndarray,
        y: np.ndarray) -> Adaptation:
    """``recalibrate`` or ``fine_tune:<penalty>``, fitted to ``y``."""
    temperature = _parent_temperature(bundle)
    if method == "recalibrate":
        return fit_recalibration(logits, y, temperature)
    if method.startswith("fine_tune:"):
        return fit_fine_tune(logits, features, y,
                             weight0=bundle.weights["fc2.weight"].double().numpy(),
                             bias0=bundle.weights["fc2.bias"].double().numpy(),
                             temperature=temperature,
                             penalty=float(method.split(":", 1)[1]))
    raise ValueError(f"unknown adaptation {method!r}; use one of {METHODS}")


def _variants(methods: tuple[str, ...]) -> tuple[str, ...]:
    """The fitted variants of the methods: fine-tuning once per penalty."""
    return tuple(v for m in methods for v in
                 ([f"fine_tune:{p:g}" for p in HEAD_PENALTIES] if m == "fine_tune" else [m]))


def check_labels(y: np.ndarray, labels: tuple[str, ...]) -> dict[str, int]:
    """Label counts per class; ``AdaptError`` when too few to tell."""
    counts = {labels[k]: int(n) for k, n in enumerate(np.bincount(y, minlength=len(labels)))}
    usable = [k for k, n in counts.items() if n >= MIN_LABELS_PER_CLASS]
    if len(y) < MIN_UNITS or len(usable) < MIN_CLASSES:
        raise AdaptError(
            f"too few curated labels to tell whether adapting helps: {len(y)} units "
            f"({', '.join(f'{k} {n}' for k, n in counts.items() if n)}); adapt needs at least "
            f"{MIN_LABELS_PER_CLASS} labels in each of {MIN_CLASSES} classes and {MIN_UNITS} in "
            "all. Label more units in Phy (C4 › set_type, the review queue) and try again.")
    return counts


def _folds(groups: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[list[np.ndarray], str]:
    """Held-out masks: one per recording (at most 5 folds), or stratified by unit when there is
    a single recording."""
    names = sorted(set(groups.tolist()))
    if len(names) >= 2:
        order = {name: i % 5 for i, name in enumerate(names)}
        fold_of = np.array([order[g] for g in groups])
        return [fold_of == k for k in sorted(set(fold_of.tolist()))], "by recording"
    rng = np.random.default_rng(seed)
    n_folds = int(min(5, max(2, np.bincount(y)[np.bincount(y) > 0].min())))
    fold_of = np.empty(len(y), dtype=int)
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        fold_of[rng.permutation(rows)] = np.arange(len(rows)) % n_folds
    return [fold_of == k for k in range(n_folds)], "by unit (one recording: no recording split)"


def cross_validate(bundle: Bundle, inputs: torch.Tensor, logits: np.ndarray,
                   *, features: np.ndarray, y: np.ndarray, groups: np.ndarray,
                   methods: tuple[str, ...]) -> dict[str, Any]:
    """Out-of-fold balanced accuracy (and more) of the parent and of each method;
    ``logits`` and ``features`` are ``head_outputs(bundle, inputs)``, ``groups`` the units'
    recordings."""
    parent = predict_inputs(bundle, inputs).probabilities
    folds, split = _folds(groups, y)
    out = {"parent": parent}
    held_out_logits = {}
    for method in methods:
        probabilities = np.full_like(parent, np.nan)
        adjusted = np.full_like(logits, np.nan)
        for held in folds:
            train = ~held
            adaptation = fit(method, bundle, logits[:, train], features=features[:, train],
                             y=y[train])
            probabilities[held] = adaptation.probabilities(logits[:, held], features[:, held])
            adjusted[:, held] = adaptation.logits(logits[:, held], features[:, held])
        out[method] = probabilities
        held_out_logits[method] = adjusted
    labels = tuple(bundle.labels)
    scores = {name: _scores(p, y, labels) for name, p in out.items()}
    return {"split": split, "folds": len(folds), "units": int(len(y)), "scores": scores,
            "held_out_logits": held_out_logits}


def _scores(probabilities: np.ndarray, y: np.ndarray, labels: tuple[str, ...]) -> dict:
    metrics = evaluate(probabilities, y, labels, thresholds=(2.0,))
    return {"balanced_accuracy": metrics["balanced_accuracy"], "accuracy": metrics["accuracy"],
            "accuracy_at_ratio2": metrics["by_threshold"]["2"]["accuracy"],
            "coverage_at_ratio2": metrics["by_threshold"]["2"]["coverage"],
            "ece": metrics["ece"]}


def candidate_methods(counts: dict[str, int]) -> tuple[str, ...]:
    adapted = [n for n in counts.values() if n >= MIN_LABELS_PER_CLASS]
    return METHODS if np.median(adapted) >= FINE_TUNE_FROM else ("recalibrate",)


def adapt_bundle(bundle: Bundle, units: list[LabelledUnits], *, name: str, version: str = "1",
                 method: str = "auto") -> tuple[Bundle, dict[str, Any]]:
    """The adapted bundle and its report (cross-validation, choice, label counts)."""
    units = [u for u in units if len(u.y)]
    y = np.concatenate([u.y for u in units]) if units else np.zeros(0, dtype=int)
    labels = tuple(bundle.labels)
    counts = check_labels(y, labels)
    methods = _variants(candidate_methods(counts) if method == "auto" else (method,))
    inputs = torch.cat([u.inputs for u in units])
    logits, features = head_outputs(bundle, inputs)
    groups = np.concatenate([[u.recording] * len(u.y) for u in units])
    validation = cross_validate(bundle, inputs, logits, features=features, y=y, groups=groups,
                                methods=methods)
    scores = validation["scores"]
    parent_score = scores["parent"]["balanced_accuracy"]
    best = max(methods, key=lambda m: scores[m]["balanced_accuracy"])
    if scores[best]["balanced_accuracy"] <= parent_score:
        raise AdaptError(
            f"adapting did not beat {bundle.label} in cross-validation "
            f"({validation['split']}): balanced accuracy {parent_score:.3f} for the parent, "
            + ", ".join(f"{m} {scores[m]['balanced_accuracy']:.3f}" for m in methods)
            + "; no bundle written")
    adaptation = fit(best, bundle, logits, features=features, y=y)
    if best.startswith("fine_tune"):
        adaptation.temperature = fit_out_of_fold_temperature(validation["held_out_logits"][best], y)
    del validation["held_out_logits"]
    report = {"method": best, "cross_validation": validation, "label_counts": counts,
              "recordings": {u.recording: int(len(u.y)) for u in units},
              "sources": _source_counts(units),
              "ignored": _merge_ignored(units), "temperature": adaptation.temperature,
              "class_bias": {k: round(float(b), 4)
                             for k, b in zip(labels, adaptation.class_bias, strict=True)}}
    return _adapted_bundle(bundle, adaptation, report, name=name, version=version), report


def _source_counts(units: list[LabelledUnits]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for unit in units:
        for source in unit.sources:
            counts[source or "(none)"] = counts.get(source or "(none)", 0) + 1
    return counts


def _merge_ignored(units: list[LabelledUnits]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for unit in units:
        for key, n in unit.ignored.items():
            merged[key] = merged.get(key, 0) + n
    return merged


def _adapted_bundle(parent: Bundle, adaptation: Adaptation, report: dict[str, Any], *, name: str,
                    version: str) -> Bundle:
    """The parent with its last layer changed; the class biases are folded into the last
    layer's bias (softmax(z / T + b) = softmax((z + T b) / T)), the temperature into the
    manifest. A Laplace calibration of the parent no longer fits and is dropped."""
    weights = {k: v.clone() for k, v in parent.weights.items()}
    dtype = weights["fc2.bias"].dtype
    if adaptation.weight is not None:
        weights["fc2.weight"] = torch.from_numpy(adaptation.weight).to(dtype)
        weights["fc2.bias"] = torch.from_numpy(adaptation.bias).to(dtype)
    shift = torch.from_numpy(adaptation.temperature * adaptation.class_bias).to(dtype)
    weights["fc2.bias"] = weights["fc2.bias"] + shift[None, :]
    manifest = {k: v for k, v in parent.manifest.items()
                if k not in ("calibration", "evaluation", "files")}
    cv = report["cross_validation"]
    manifest.update({
        "name": name, "version": version, "temperature": adaptation.temperature,
        "parent": {"bundle": parent.label, "sha256": parent.sha256},
        "training": {"adapted_from": parent.label, "method": adaptation.method,
                     "recordings": report["recordings"], "label_counts": report["label_counts"],
                     "sources": report["sources"], "ignored": report["ignored"],
                     "min_labels_per_class": MIN_LABELS_PER_CLASS,
                     "bias_penalty": BIAS_PENALTY},
        "calibration": {"method": f"{adaptation.method} on the curator's labels (last layer "
                                  "only; temperature and class biases)",
                        "temperature": adaptation.temperature},
        "evaluation": {"cross_validation": {k: v for k, v in cv.items()}},
    })
    adapted = Bundle(manifest=manifest, weights=weights, calibration=None,
                     reference=parent.reference)
    return attach(adapted)


def adapted_model_card(bundle: Bundle, report: dict[str, Any]) -> str:
    """The generated model card of an adapted bundle (numbers from its cross-validation)."""
    cv = report["cross_validation"]
    rows = "\n".join(
        f"| {name} | {s['balanced_accuracy']:.3f} | {s['accuracy']:.3f} | "
        f"{s['accuracy_at_ratio2']:.3f} | {s['coverage_at_ratio2']:.3f} | {s['ece']:.3f} |"
        for name, s in cv["scores"].items())
    return f"""# Model card: {bundle.label}

Adapted with `phy-c4 adapt` from **{bundle.manifest['parent']['bundle']}** (sha256
`{bundle.manifest['parent']['sha256'][:16]}…`) by **{report['method']}** of the last layer on the
curator's own labels. Encoders, feature spec and novelty reference are the parent's.

- Recordings (labelled units used): {report['recordings']}
- Labels per class: {report['label_counts']} (classes under {MIN_LABELS_PER_CLASS} labels are
  left as the parent has them)
- Label sources: {report['sources']}; labels not used: {report['ignored'] or 'none'}
- Temperature {report['temperature']:.3f}; class biases {report['class_bias']}

Cross-validation on the curator's labels ({cv['split']}, {cv['folds']} folds, {cv['units']}
units; each unit predicted by an adaptation fitted without it):

| model | balanced accuracy | accuracy | accuracy at ratio ≥ 2 | coverage at ratio ≥ 2 | ECE |
|---|---|---|---|---|---|
{rows}

"accepted" labels agree with the parent by construction; ground-truth labels (optotagged,
juxtacellular, pair) make the fairest test. Not measured: recordings of other labs than these.
"""
