"""What a classification gives back, as plain arrays: no torch, no numba.

``ClassificationResult`` (one entry per requested cluster), its per-unit ``UnitFeatures`` and
the ensemble's ``Prediction`` live here, apart from the code that computes them, so that the
Phy plugin's process can hold, publish and show results without loading the model's libraries
(the pipeline runs in a worker process: ``phy_c4.worker``). ``save_result`` / ``load_result``
carry a result between the processes as one ``.npz`` (no pickle).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from phy_c4.status import UNCLASSIFIED, Status, describe, is_confident

OK = Status.OK.value


@dataclass(kw_only=True)
class Prediction:
    """Per-unit ensemble outputs, in the order of the input rows."""

    labels: tuple[str, ...]
    probabilities: np.ndarray  # (N, K) mean over members
    raw: np.ndarray  # (N, K, M) per-member probabilities
    predicted: np.ndarray  # (N,) best label, whatever its confidence
    cell_type: np.ndarray  # (N,) best label, or "unclassified" under the threshold
    confidence: np.ndarray  # (N,) mean top probability
    ratio: np.ndarray  # (N,) top / second mean probability
    votes: np.ndarray  # (N,) members whose own argmax is the predicted class
    n_members: int
    threshold: float
    features: np.ndarray | None = None
    """(N, D) the ensemble-mean input of the last layer (the model's own feature space), kept
    from the same forward pass for the novelty score."""

    @property
    def votes_text(self) -> list[str]:
        """npyx's ``model_votes`` format, e.g. ``"41/50"``."""
        return [f"{int(v)}/{self.n_members}" for v in self.votes]


@dataclass(kw_only=True)
class UnitFeatures:
    """What the pipeline knows of one unit: its status, the waveform it used, and every input
    the model family computed from it (by name, e.g. ``acg_3d_log`` or ``isi``)."""

    waveform_source: str = ""
    n_spikes_used: int = 0
    status: str = OK
    raw_waveform: np.ndarray | None = None  # peak channel, before the family's preprocessing
    raw_fs: float = 0.0
    peak_channel: int = -1  # where the waveform is largest (-1: no waveform)
    inputs: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(kw_only=True)
class ClassificationResult:
    """One entry per requested cluster, as arrays with the class labels beside them; the
    DataFrame (``table``), TSV columns and Phy metadata are views made at the edges."""

    cluster_ids: np.ndarray  # (N,) int64
    labels: tuple[str, ...]
    probabilities: np.ndarray  # (N, K) mean over members; NaN rows where not classified
    cell_type: np.ndarray  # (N,) object: a label, "unclassified", or "" (not classifiable)
    confidence: np.ndarray  # (N,) NaN where not classified
    ratio: np.ndarray  # (N,)
    votes: np.ndarray  # (N,) object, "k/M" or ""
    status: np.ndarray  # (N,) object, c4_status texts
    bundle_label: str
    prediction: Prediction | None  # the ensemble's output for the classified rows, in order
    features: dict[int, UnitFeatures] = field(default_factory=dict)
    pair: np.ndarray | None = None  # (N,) object: the Purkinje partner's cluster id, or ""
    novelty: np.ndarray | None = None  # (N,) how unlike the training units (NaN: not known)
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def classified(self) -> np.ndarray:
        """Cluster ids with probabilities (the rows of ``prediction``, in its order)."""
        return self.cluster_ids[np.isfinite(self.confidence)]

    @property
    def table(self) -> pd.DataFrame:
        """cluster_id, c4_type, c4_confidence, c4_ratio, c4_votes, c4_model, c4_status,
        c4_p_<label>: what the faces show and save."""
        frame = pd.DataFrame({
            "cluster_id": self.cluster_ids, "c4_type": self.cell_type,
            "c4_confidence": self.confidence, "c4_ratio": self.ratio, "c4_votes": self.votes,
            "c4_model": [self.bundle_label] * len(self.cluster_ids), "c4_status": self.status,
            "c4_pair": self.pair if self.pair is not None else [""] * len(self.cluster_ids),
            "c4_novelty": (self.novelty if self.novelty is not None
                           else np.full(len(self.cluster_ids), np.nan))})
        for k, label in enumerate(self.labels):
            frame[f"c4_p_{label}"] = self.probabilities[:, k]
        return frame

    def subset(self, keep: np.ndarray) -> ClassificationResult:
        """The rows where ``keep`` is True; the per-member output is dropped unless all stay."""
        keep = np.asarray(keep, dtype=bool)
        ids = set(self.cluster_ids[keep].tolist())
        return replace(self, cluster_ids=self.cluster_ids[keep],
                       probabilities=self.probabilities[keep], cell_type=self.cell_type[keep],
                       confidence=self.confidence[keep], ratio=self.ratio[keep],
                       votes=self.votes[keep], status=self.status[keep],
                       pair=None if self.pair is None else self.pair[keep],
                       novelty=None if self.novelty is None else self.novelty[keep],
                       prediction=self.prediction if keep.all() else None,
                       features={c: f for c, f in self.features.items() if c in ids})


def apply_rejections(result: ClassificationResult, rejected: Mapping[int, Any]) -> None:
    """A confident type the curator rejected for that unit is not given again."""
    for i, cluster_id in enumerate(result.cluster_ids):
        refused = rejected.get(int(cluster_id))
        if refused and is_confident(result.cell_type[i]) and result.cell_type[i] == refused:
            result.cell_type[i] = UNCLASSIFIED
            result.status[i] = describe(Status.REJECTED, str(refused))




_FORMAT = "phy_c4-result-1"


def _strings(values: np.ndarray) -> np.ndarray:
    return np.asarray(["" if v is None else str(v) for v in values], dtype=str)


def _objects(values: np.ndarray) -> np.ndarray:
    return np.asarray(values.tolist(), dtype=object) if values.size else \
        np.zeros(0, dtype=object)


def save_result(result: ClassificationResult, path: str | os.PathLike) -> None:
    """Everything of ``result`` in one ``.npz`` of plain arrays (``load_result`` reads it)."""
    arrays: dict[str, np.ndarray] = {
        "cluster_ids": result.cluster_ids, "probabilities": result.probabilities,
        "cell_type": _strings(result.cell_type), "confidence": result.confidence,
        "ratio": result.ratio, "votes": _strings(result.votes), "status": _strings(result.status)}
    if result.pair is not None:
        arrays["pair"] = _strings(result.pair)
    if result.novelty is not None:
        arrays["novelty"] = result.novelty
    meta: dict[str, Any] = {"format": _FORMAT, "labels": list(result.labels),
                            "bundle_label": result.bundle_label,
                            "parameters": result.parameters, "units": {}}
    p = result.prediction
    if p is not None:
        meta["prediction"] = {"labels": list(p.labels), "n_members": p.n_members,
                              "threshold": p.threshold}
        arrays.update({"p/probabilities": p.probabilities, "p/raw": p.raw,
                       "p/predicted": _strings(p.predicted), "p/cell_type": _strings(p.cell_type),
                       "p/confidence": p.confidence, "p/ratio": p.ratio, "p/votes": p.votes})
        if p.features is not None:
            arrays["p/features"] = p.features
    for cluster_id, unit in result.features.items():
        meta["units"][str(cluster_id)] = {
            "waveform_source": unit.waveform_source, "n_spikes_used": unit.n_spikes_used,
            "status": unit.status, "raw_fs": unit.raw_fs, "peak_channel": unit.peak_channel,
            "inputs": sorted(unit.inputs), "raw_waveform": unit.raw_waveform is not None}
        if unit.raw_waveform is not None:
            arrays[f"raw_waveform/{cluster_id}"] = unit.raw_waveform
        for name, value in unit.inputs.items():
            arrays[f"input/{cluster_id}/{name}"] = value
    arrays["meta"] = np.asarray(json.dumps(meta, default=_jsonable))
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _open_npz(path: str | os.PathLike) -> Any:
    """An ``.npz`` written by this module (ValueError for anything else)."""
    data = np.load(path, allow_pickle=False)
    if not isinstance(data, np.lib.npyio.NpzFile) or "meta" not in data.files or \
            json.loads(str(data["meta"])).get("format") != _FORMAT:
        if isinstance(data, np.lib.npyio.NpzFile):
            data.close()
        raise ValueError(f"{path}: not a phy_c4 result file")
    return data


def load_result(path: str | os.PathLike) -> ClassificationResult:
    """The result ``save_result`` wrote (arrays only: no code is run, no pickle)."""
    with _open_npz(path) as data:
        meta = json.loads(str(data["meta"]))
        prediction = None
        if "prediction" in meta:
            m = meta["prediction"]
            prediction = Prediction(
                labels=tuple(m["labels"]), probabilities=data["p/probabilities"], raw=data["p/raw"],
                predicted=_objects(data["p/predicted"]), cell_type=_objects(data["p/cell_type"]),
                confidence=data["p/confidence"], ratio=data["p/ratio"], votes=data["p/votes"],
                n_members=int(m["n_members"]),
                threshold=float(m["threshold"]), features=data.get("p/features", None))
        features = {}
        for key, unit in meta["units"].items():
            cluster_id = int(key)
            features[cluster_id] = UnitFeatures(
                waveform_source=unit["waveform_source"], n_spikes_used=int(unit["n_spikes_used"]),
                status=unit["status"],
                raw_waveform=data[f"raw_waveform/{cluster_id}"] if unit["raw_waveform"] else None,
                raw_fs=float(unit["raw_fs"]), peak_channel=int(unit["peak_channel"]),
                inputs={name: data[f"input/{cluster_id}/{name}"] for name in unit["inputs"]})
        pair = None
        if "pair" in data:
            pair = np.asarray([int(v) if v else "" for v in data["pair"].tolist()], dtype=object)
        return ClassificationResult(
            cluster_ids=data["cluster_ids"], labels=tuple(meta["labels"]),
            probabilities=data["probabilities"], cell_type=_objects(data["cell_type"]),
            confidence=data["confidence"], ratio=data["ratio"], votes=_objects(data["votes"]),
            status=_objects(data["status"]), bundle_label=meta["bundle_label"],
            prediction=prediction, features=features, pair=pair,
            novelty=data.get("novelty", None), parameters=meta["parameters"])


@dataclass(kw_only=True)
class Explanation:
    cluster_id: int
    labels: tuple[str, ...]
    probabilities: np.ndarray  # (K,)
    members: np.ndarray  # (K, M) each member's probabilities
    predicted: str  # the best class, whatever its confidence
    inputs: dict[str, np.ndarray]  # the unit's model inputs, by name
    status: str
    novelty: float
    acg_3d_log: np.ndarray | None = None  # (rows, 2 * n_log + 1) rates (sp/s / 1000)
    acg_3d_source: str = ""  # "model input", or "all spikes" when the model reads other features
    neighbours: list[dict[str, np.ndarray]] = field(default_factory=list)
    neighbour_distances: list[float] = field(default_factory=list)
    partner: int | None = None
    ccg: tuple[np.ndarray, np.ndarray] | None = None  # (lags ms, partner spikes per bin)



def save_explanation(explanation: Explanation, path: str | os.PathLike) -> None:
    e = explanation
    arrays = {"probabilities": e.probabilities, "members": e.members}
    arrays.update({f"input/{k}": v for k, v in e.inputs.items()})
    if e.acg_3d_log is not None:
        arrays["acg_3d_log"] = e.acg_3d_log
    for i, neighbour in enumerate(e.neighbours):
        arrays.update({f"neighbour/{i}/{k}": v for k, v in neighbour.items()})
    if e.ccg is not None:
        arrays["ccg_lags"], arrays["ccg_counts"] = e.ccg
    meta = {"format": _FORMAT, "cluster_id": e.cluster_id, "labels": list(e.labels),
            "predicted": e.predicted, "status": e.status, "novelty": e.novelty,
            "acg_3d_source": e.acg_3d_source, "distances": e.neighbour_distances,
            "neighbours": [sorted(n) for n in e.neighbours], "partner": e.partner,
            "inputs": sorted(e.inputs)}
    arrays["meta"] = np.asarray(json.dumps(meta, default=_jsonable))
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def load_explanation(path: str | os.PathLike) -> Explanation:
    with _open_npz(path) as data:
        m = json.loads(str(data["meta"]))
        return Explanation(
            cluster_id=int(m["cluster_id"]), labels=tuple(m["labels"]),
            probabilities=data["probabilities"], members=data["members"],
            predicted=m["predicted"], inputs={k: data[f"input/{k}"] for k in m["inputs"]},
            status=m["status"],
            novelty=float(m["novelty"]), acg_3d_log=data.get("acg_3d_log", None),
            acg_3d_source=m["acg_3d_source"],
            neighbours=[{k: data[f"neighbour/{i}/{k}"] for k in keys}
             for i, keys in enumerate(m["neighbours"])], neighbour_distances=list(m["distances"]),
             partner=m["partner"],
            ccg=(data["ccg_lags"], data["ccg_counts"]) if "ccg_lags" in data else None)
