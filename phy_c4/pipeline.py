"""The one pipeline: a recording's clusters -> features -> ensemble -> result table.

The CLI and the Phy plugin both call ``classify``; nothing about features or models lives in
either face. Every requested cluster gets a row: those that cannot be classified keep an empty
type and a ``c4_status`` saying why (npyx silently drops them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from phy_c4.atomic import atomic_open
from phy_c4.config import RESULT_COLUMNS, FeatureSpec
from phy_c4.features import acg_3d_log, acg_3d_units, preprocess_waveform
from phy_c4.features.quality import QualitySpec, quality_filter
from phy_c4.features.tabular import acg_1d, isi_histogram, table_waveform
from phy_c4.io.dataset import Recording, open_recording
from phy_c4.io.waveforms import ExtractionSpec, unit_waveform
from phy_c4.model import Bundle, Prediction, predict, predict_inputs
from phy_c4.model.ensemble import UNCLASSIFIED
from phy_c4.weights import get_bundle

logger = logging.getLogger(__name__)

OK = "ok"
BELOW_THRESHOLD = "below confidence-ratio threshold"
COLUMNS = RESULT_COLUMNS
MIN_FILTERED_SPIKES = 10


class CancelledError(RuntimeError):
    """The caller asked the pipeline to stop (between units)."""


@dataclass
class UnitFeatures:
    acg_log: np.ndarray | None = None  # (10, 201), unscaled
    waveform: np.ndarray | None = None  # (90,)
    waveform_source: str = ""
    n_spikes_used: int = 0
    status: str = OK
    raw_waveform: np.ndarray | None = None  # peak channel, before C4 preprocessing
    raw_fs: float = 0.0
    acg_1d: np.ndarray | None = None  # tabular bundles: 201 counts
    isi: np.ndarray | None = None  # tabular bundles: 100 counts


@dataclass
class ClassificationResult:
    """The table the faces show and save, plus what is needed to audit it."""

    table: pd.DataFrame
    prediction: Prediction | None
    features: dict[int, UnitFeatures] = field(default_factory=dict)
    bundle_label: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineOptions:
    threshold: float = 2.0
    quality: QualitySpec | None = field(default_factory=QualitySpec)  # None: all spikes
    waveform_source: str = "auto"
    extraction: ExtractionSpec = field(default_factory=ExtractionSpec)
    min_spikes: int = 100
    n_jobs: int | None = None
    cache: bool = True
    processes: bool = False
    """Run the quality filter in worker processes (spawn). Off by default: a script or notebook
    without an ``if __name__ == "__main__"`` guard cannot spawn; the CLI turns it on."""


ProgressCallback = Callable[[int, int, str], None]


def _unit_key(times: np.ndarray, recording: Recording, cluster_id: int,
              options: PipelineOptions, spec: FeatureSpec) -> str:
    digest = hashlib.sha256(memoryview(np.ascontiguousarray(times)).cast("B"))
    digest.update(json.dumps({
        "fs": recording.fs, "cluster": int(cluster_id), "quality": repr(options.quality),
        "source": options.waveform_source, "wvf": repr(options.extraction),
        "min_spikes": options.min_spikes, "features": spec.to_dict(),
        "raw": _raw_stamp(recording),
    }, sort_keys=True, default=str).encode())
    if recording.amplitudes is not None:
        idx = recording.spikes_of(cluster_id)
        digest.update(memoryview(np.ascontiguousarray(recording.amplitudes[idx])).cast("B"))
    return digest.hexdigest()[:24]


def _raw_stamp(recording: Recording) -> str:
    paths = getattr(recording.model, "dat_path", None) or []
    stamps = []
    for path in paths if isinstance(paths, list | tuple) else [paths]:
        try:
            stat = os.stat(path)
            stamps.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}")
        except OSError:
            stamps.append(str(path))
    return "|".join(stamps)


def _cache_dir(recording: Recording) -> Path:
    return recording.folder / ".phy_c4" / "cache"


def _load_cached(path: Path) -> tuple[UnitFeatures, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            features = UnitFeatures(
                waveform=data["waveform"] if data["waveform"].size else None,
                waveform_source=str(data["waveform_source"]),
                n_spikes_used=int(data["n_spikes_used"]),
                status=str(data["status"]),
                raw_waveform=data["raw_waveform"] if data["raw_waveform"].size else None,
                raw_fs=float(data["raw_fs"]))
            return features, data["times"]
    except (OSError, KeyError, ValueError):
        return None


def _store_cached(path: Path, features: UnitFeatures, times: np.ndarray) -> None:
    with atomic_open(path, "wb") as out:
        np.savez(out, waveform=features.waveform if features.waveform is not None
                 else np.zeros(0), waveform_source=features.waveform_source,
                 n_spikes_used=features.n_spikes_used, status=features.status, times=times,
                 raw_waveform=(features.raw_waveform if features.raw_waveform is not None
                               else np.zeros(0)), raw_fs=features.raw_fs)


def _unit_spikes(recording: Recording, cluster_id: int) -> tuple[np.ndarray, np.ndarray]:
    """A cluster's unique spike times and, for each, the index of its first spike."""
    spike_ids = recording.spikes_of(cluster_id)
    times, first = np.unique(recording.spike_times[spike_ids], return_index=True)
    return times, spike_ids[first]


def _quality_job(times: np.ndarray, amplitudes: np.ndarray, fs: float,
                 spec: QualitySpec) -> tuple[np.ndarray, str]:
    """Runs in a worker process: the quality mask and its reason."""
    result = quality_filter(times, amplitudes, fs, spec)
    return result.keep, result.reason


def _check_spikes(recording: Recording, times: np.ndarray, options: PipelineOptions) -> str:
    if times.size == 0:
        return "no spikes"
    if times.size < options.min_spikes:
        return f"too few spikes ({times.size} < {options.min_spikes})"
    if options.quality is not None and recording.amplitudes is None:
        return "no amplitudes.npy for the quality filter"
    return OK


def _quality_masks(recording: Recording, spikes: dict[int, tuple[np.ndarray, np.ndarray]],
                   options: PipelineOptions, progress: ProgressCallback | None,
                   cancel: Callable[[], bool] | None,
                   total: int) -> dict[int, tuple[np.ndarray, str]]:
    """C4's quality filter for many units (``spikes`` from ``_unit_spikes``); worker processes
    when there are many (the curve fits hold the GIL), in-process otherwise. Cancellable
    between units."""
    jobs = {c: (times, recording.amplitudes[first]) for c, (times, first) in spikes.items()}
    results: dict[int, tuple[np.ndarray, str]] = {}
    workers = options.n_jobs or os.cpu_count() or 1
    if not options.processes or workers < 2 or len(jobs) < 8:
        for done, (cluster_id, (times, amplitudes)) in enumerate(jobs.items()):
            if cancel is not None and cancel():
                raise CancelledError(f"cancelled after {done} of {total} units")
            if progress is not None:
                progress(done, total, f"spike quality of cluster {cluster_id}")
            results[cluster_id] = _quality_job(times, amplitudes, recording.fs, options.quality)
        return results
    context = multiprocessing.get_context("spawn")  # safe inside Qt and threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(_quality_job, t, a, recording.fs, options.quality): c
                   for c, (t, a) in jobs.items()}
        for done, future in enumerate(as_completed(futures)):
            if cancel is not None and cancel():
                pool.shutdown(wait=False, cancel_futures=True)
                raise CancelledError(f"cancelled after {done} of {total} units")
            results[futures[future]] = future.result()
            if progress is not None:
                progress(done + 1, total, "spike quality")
    return results


def _finish_unit(recording: Recording, cluster_id: int, times: np.ndarray,
                 quality: tuple[np.ndarray, str] | None, options: PipelineOptions,
                 spec: FeatureSpec) -> tuple[UnitFeatures, np.ndarray]:
    """Apply the quality mask and compute the preprocessed waveform."""
    features = UnitFeatures(n_spikes_used=int(times.size))
    status = _check_spikes(recording, times, options)
    if status != OK:
        features.status = status
        return features, times
    if quality is not None:
        keep, reason = quality
        if reason != OK:
            features.status = f"quality filter: {reason}"
            return features, times
        times = times[keep]
        features.n_spikes_used = int(times.size)
        if times.size < MIN_FILTERED_SPIKES:
            features.status = f"quality filter left {times.size} spikes"
            return features, times
    try:
        wave = unit_waveform(recording, cluster_id, options.waveform_source, options.extraction)
        features.waveform = preprocess_waveform(
            wave.peak_channel_waveform, peak_sign=spec.waveform.peak_sign, fs=wave.fs)
        features.waveform_source = wave.source
        features.raw_waveform = np.asarray(wave.peak_channel_waveform, dtype=np.float64)
        features.raw_fs = float(wave.fs)
    except ValueError as error:
        features.status = f"no waveform: {error}"
    return features, times


def prepare_units(recording: Recording, ids: list[int], options: PipelineOptions,
                  spec: FeatureSpec, progress: ProgressCallback | None = None,
                  cancel: Callable[[], bool] | None = None
                  ) -> tuple[dict[int, UnitFeatures], dict[int, np.ndarray]]:
    """Spikes C4 would use and preprocessed waveforms of many units, from the cache when the
    cluster's spikes and every parameter are unchanged."""
    total = len(ids)
    features: dict[int, UnitFeatures] = {}
    kept: dict[int, np.ndarray] = {}
    paths: dict[int, Path] = {}
    for cluster_id in ids:
        if options.cache:
            raw_times = recording.spike_times[recording.spikes_of(cluster_id)]
            key = _unit_key(raw_times, recording, cluster_id, options, spec)
            paths[cluster_id] = _cache_dir(recording) / f"unit_{key}.npz"
            cached = _load_cached(paths[cluster_id]) if paths[cluster_id].is_file() else None
            if cached is not None:
                features[cluster_id], kept[cluster_id] = cached
    misses = [c for c in ids if c not in features]
    spikes = {c: _unit_spikes(recording, c) for c in misses}
    quality: dict[int, tuple[np.ndarray, str]] = {}
    if options.quality is not None:
        checkable = {c: spikes[c] for c in misses
                     if _check_spikes(recording, spikes[c][0], options) == OK}
        quality = _quality_masks(recording, checkable, options, progress, cancel, total)
    for done, cluster_id in enumerate(misses):
        if cancel is not None and cancel():
            raise CancelledError(f"cancelled after {done} of {total} units")
        if progress is not None:
            progress(done, total, f"waveform of cluster {cluster_id}")
        unit, times = _finish_unit(recording, cluster_id, spikes[cluster_id][0],
                                   quality.get(cluster_id), options, spec)
        features[cluster_id], kept[cluster_id] = unit, times
        if cluster_id in paths:
            try:
                _store_cached(paths[cluster_id], unit, times)
            except OSError as error:  # a read-only dataset still classifies
                logger.debug("feature cache not written: %s", error)
    return features, kept


def classify(
    model: Any,
    cluster_ids: Sequence[int] | None = None,
    bundle: str | os.PathLike | Bundle = "default",
    threshold: float = 2.0,
    layer: dict[int, str] | None = None,
    progress: ProgressCallback | None = None,
    cancel: Callable[[], bool] | None = None,
    spike_clusters: np.ndarray | None = None,
    options: PipelineOptions | None = None,
) -> ClassificationResult:
    """Classify clusters of a recording (a folder, ``params.py`` or a loaded ``TemplateModel``).

    ``layer`` maps cluster ids to layer names for layer-informed bundles. ``progress`` is called
    as ``progress(done, total, message)``; ``cancel()`` returning True stops between units with
    ``CancelledError``. ``spike_clusters`` overrides the saved assignment (the GUI's unsaved
    merges and splits).
    Deterministic: the same inputs give the same table.
    """
    options = replace(options or PipelineOptions(), threshold=threshold)
    bundle = bundle if isinstance(bundle, Bundle) else get_bundle(bundle)
    recording = model if isinstance(model, Recording) else open_recording(model, spike_clusters)
    ids = [int(c) for c in (recording.cluster_ids if cluster_ids is None else cluster_ids)]
    total = len(ids)
    if cancel is not None and cancel():
        raise CancelledError(f"cancelled after 0 of {total} units")
    features, kept_times = prepare_units(recording, ids, options, bundle.features, progress,
                                         cancel)
    ready = [c for c in ids if features[c].status == OK]
    if ready and bundle.architecture == "c4_cnn":
        if progress is not None:
            progress(total, total, f"3D autocorrelograms of {len(ready)} units")
        _compute_acgs(recording, ready, kept_times, features, bundle, options)
    if cancel is not None and cancel():
        raise CancelledError(f"cancelled after {total} of {total} units")
    ready = [c for c in ids if features[c].status == OK]
    prediction = None
    if ready:
        if progress is not None:
            progress(total, total, f"predicting {len(ready)} units")
        if bundle.architecture == "c4_cnn":
            unit_layers = None
            if bundle.use_layer:
                unit_layers = [(layer or {}).get(c, "unknown") for c in ready]
            prediction = predict(bundle, np.stack([features[c].acg_log for c in ready]),
                                 np.stack([features[c].waveform for c in ready]), unit_layers,
                                 threshold=options.threshold)
        else:
            inputs = _table_inputs(recording, ready, kept_times, features)
            prediction = predict_inputs(bundle, inputs, threshold=options.threshold)
    table = build_table(ids, features, ready, prediction, bundle)
    parameters = {"threshold": options.threshold, "quality": repr(options.quality),
                  "waveform_source": options.waveform_source, "bundle": bundle.label,
                  "fs": recording.fs, "dataset_key": recording.content_key()}
    return ClassificationResult(table, prediction, features, bundle.label, parameters)


def _compute_acgs(recording: Recording, ready: list[int], kept: dict[int, np.ndarray],
                  features: dict[int, UnitFeatures], bundle: Bundle,
                  options: PipelineOptions) -> None:
    spec = bundle.features.acg
    _, acgs, status = acg_3d_units([kept[c] for c in ready], recording.fs, spec=spec,
                                   min_spikes=MIN_FILTERED_SPIKES, n_jobs=options.n_jobs)
    for cluster_id, acg, state in zip(ready, acgs, status, strict=True):
        if state != OK:
            features[cluster_id].status = f"no 3D-ACG: {state}"
            continue
        features[cluster_id].acg_log = acg_3d_log(acg, bin_ms=spec.bin_ms, win_ms=spec.win_ms,
                                                  n_log_bins=spec.n_log_bins,
                                                  start_log_ms=spec.start_log_ms,
                                                  smooth_sd=spec.log_smooth_sd)


def _table_inputs(recording: Recording, ready: list[int], kept: dict[int, np.ndarray],
                  features: dict[int, UnitFeatures]) -> torch.Tensor:
    """The C4-database table features of each unit, normalised as the tabular models expect."""
    from phy_c4.training.tables import FeatureTable

    waves, acgs, isis = [], [], []
    for cluster_id in ready:
        unit = features[cluster_id]
        unit.acg_1d = acg_1d(kept[cluster_id], recording.fs)
        unit.isi = isi_histogram(kept[cluster_id], recording.fs)
        waves.append(table_waveform(unit.raw_waveform, unit.raw_fs))
        acgs.append(unit.acg_1d)
        isis.append(unit.isi)
    table = FeatureTable("units", np.stack(waves), np.stack(acgs), np.stack(isis),
                         np.array([""] * len(ready), dtype=object))
    return torch.from_numpy(table.inputs())


def build_table(ids: list[int], features: dict[int, Any], ready: list[int],
                prediction: Prediction | None, bundle: Bundle) -> pd.DataFrame:
    """One row per requested cluster: type, confidence, ratio, votes, model, status, p_<label>."""
    rows = []
    position = {c: i for i, c in enumerate(ready)} if prediction is not None else {}
    for cluster_id in ids:
        row: dict[str, Any] = {"cluster_id": cluster_id, "c4_type": "", "c4_confidence": np.nan,
                               "c4_ratio": np.nan, "c4_votes": "", "c4_model": bundle.label,
                               "c4_status": features[cluster_id].status}
        for label in bundle.labels:
            row[f"c4_p_{label}"] = np.nan
        i = position.get(cluster_id)
        if i is not None and prediction is not None:
            row["c4_type"] = str(prediction.cell_type[i])
            row["c4_confidence"] = float(prediction.confidence[i])
            row["c4_ratio"] = float(prediction.ratio[i])
            row["c4_votes"] = prediction.votes_text[i]
            if prediction.cell_type[i] == UNCLASSIFIED:
                row["c4_status"] = f"{BELOW_THRESHOLD} ({prediction.threshold:g}); best guess " \
                                   f"{prediction.predicted[i]}"
            for k, label in enumerate(bundle.labels):
                row[f"c4_p_{label}"] = float(prediction.probabilities[i, k])
        rows.append(row)
    return pd.DataFrame(rows)
