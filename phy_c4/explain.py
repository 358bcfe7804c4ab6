"""Why a unit got its type: what the C4 view shows beside the prediction.

- C4's own picture, the 3D autocorrelogram (log lags; computed from the spikes by the numba
  kernel when the model itself reads other features);
- the members' vote spread (each member's probability per class);
- the nearest labelled training units of the predicted class, in the model's own feature space,
  with their inputs to overlay (from the bundle's reference units);
- the Purkinje partner's cross-correlogram (the complex spike's pause of the simple spikes);
- the status (region, novelty, pairing, rejection) and the novelty score.

No Qt and no matplotlib here: the worker process computes an ``Explanation`` (``phy_c4.result``)
and ``phy_c4.report.draw_why`` draws it in the plugin.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from phy_c4.config import AcgSpec
from phy_c4.features import acg_3d_log, acg_3d_units
from phy_c4.model.bundle import Bundle
from phy_c4.result import ClassificationResult, Explanation

CCG_WINDOW_MS = 50.0
MAX_CCG_SPIKES = 50_000


def explain_unit(result: ClassificationResult, cluster_id: int, bundle: Bundle | None,
                 *, spike_times: dict[int, np.ndarray], fs: float, k: int = 3
                 ) -> Explanation | None:
    """The explanation of a classified unit of ``result`` (None when it was not classified);
    ``spike_times`` holds the unit's spikes (and its partner's) in samples."""
    rows = np.flatnonzero(np.isfinite(result.confidence))  # prediction rows, in order
    where = np.flatnonzero(result.cluster_ids == cluster_id)
    if not where.size or where[0] not in set(rows.tolist()) or result.prediction is None:
        return None
    i = int(where[0])
    j = int(np.searchsorted(rows, i))
    prediction = result.prediction
    unit = result.features.get(cluster_id)
    inputs = dict(unit.inputs) if unit is not None else {}
    predicted = str(prediction.predicted[j])
    explanation = Explanation(
        cluster_id=cluster_id, labels=tuple(result.labels), probabilities=result.probabilities[i],
        members=prediction.raw[j], predicted=predicted,
        inputs=inputs, status=str(result.status[i]),
        novelty=float(result.novelty[i]) if result.novelty is not None else float("nan"))
    times = spike_times.get(cluster_id)
    if "acg_3d_log" in inputs:
        explanation.acg_3d_log, explanation.acg_3d_source = inputs["acg_3d_log"], "model input"
    elif times is not None and len(times) >= 100:
        explanation.acg_3d_log, explanation.acg_3d_source = _acg_3d_log(times, fs), "all spikes"
    if bundle is not None and bundle.reference is not None and prediction.features is not None:
        _nearest(explanation, bundle, prediction.features[j], k=k)
    partner = result.pair[i] if result.pair is not None else ""
    if partner != "" and times is not None and int(partner) in spike_times:
        explanation.partner = int(partner)
        explanation.ccg = cross_correlogram(times, spike_times[int(partner)], fs)
    return explanation


def explain_cluster(result: ClassificationResult, recording: Any, bundle: Bundle | None,
                    *, cluster_id: int) -> Explanation | None:
    """``explain_unit`` with the spikes of the cluster and of its Purkinje partner taken from
    the recording the result was computed from."""
    ids = [cluster_id]
    where = np.flatnonzero(result.cluster_ids == cluster_id)
    if where.size and result.pair is not None and result.pair[where[0]] != "":
        ids.append(int(result.pair[where[0]]))
    times = _unit_times(recording, ids)
    return explain_unit(result, cluster_id, bundle, spike_times=times, fs=recording.fs)


def _unit_times(recording: Any, ids: list[int]) -> dict[int, np.ndarray]:
    """The clusters' spike times from one pass over the assignment, read chunk by chunk (a
    worker keeps several results' recordings: none holds a whole-recording index)."""
    if not hasattr(recording, "unit_batch"):
        return {c: recording.spike_times[recording.spikes_of(c)] for c in ids}
    from phy_c4.arrays import gather

    with recording.unit_batch(ids) as spikes:
        return dict(zip(ids, gather(recording.spike_times, [spikes[c] for c in ids]),
                        strict=True))


def _acg_3d_log(times: np.ndarray, fs: float) -> np.ndarray | None:
    spec = AcgSpec()
    _, acgs, status = acg_3d_units([np.asarray(times, dtype=np.int64)], fs, spec=spec,
                                   min_spikes=100, n_jobs=1)
    if status[0] != "ok":
        return None
    return acg_3d_log(acgs[0], bin_ms=spec.bin_ms, win_ms=spec.win_ms,
                      n_log_bins=spec.n_log_bins, start_log_ms=spec.start_log_ms,
                      smooth_sd=spec.log_smooth_sd)


def _nearest(explanation: Explanation, bundle: Bundle, features: np.ndarray, *, k: int) -> None:
    """The ``k`` labelled training units of the predicted class nearest in feature space."""
    reference: dict[str, Any] = bundle.reference
    labels = reference["labels"].numpy()
    target = explanation.labels.index(explanation.predicted)
    same = np.flatnonzero(labels == target)
    if not same.size:
        return
    points = reference["features"].double().numpy()[same]
    distances = np.sqrt(((points - features[None, :]) ** 2).sum(axis=1))
    for index in np.argsort(distances)[:k]:
        row = same[index]
        explanation.neighbours.append({key.removeprefix("input/"): value[row].numpy()
                                       for key, value in reference.items()
                                       if key.startswith("input/")})
        explanation.neighbour_distances.append(float(distances[index]))


def cross_correlogram(reference: np.ndarray, other: np.ndarray, fs: float,
                      *, window_ms: float = CCG_WINDOW_MS, bin_ms: float = 1.0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Spikes of ``other`` at each lag from the spikes of ``reference`` (lags in ms, bin
    centres); at most ``MAX_CCG_SPIKES`` reference spikes, evenly taken, for speed."""
    ref = np.asarray(reference, dtype=np.int64)
    if ref.size > MAX_CCG_SPIKES:
        ref = ref[:: int(np.ceil(ref.size / MAX_CCG_SPIKES))]
    oth = np.sort(np.asarray(other, dtype=np.int64))
    half = int(round(window_ms * fs / 1000.0))
    lo, hi = np.searchsorted(oth, ref - half), np.searchsorted(oth, ref + half, side="right")
    counts = hi - lo
    offsets = np.repeat(ref, counts)
    picks = np.concatenate([oth[a:b] for a, b in zip(lo, hi, strict=True)]) if counts.sum() \
        else np.zeros(0, dtype=np.int64)
    lags_ms = (picks - offsets) * 1000.0 / fs
    edges = np.arange(-window_ms, window_ms + bin_ms / 2, bin_ms)
    histogram, _ = np.histogram(lags_ms, bins=edges)
    return (edges[:-1] + edges[1:]) / 2, histogram
