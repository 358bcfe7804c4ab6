"""The one pipeline: a recording's clusters -> features -> ensemble -> result table.

The CLI and the Phy plugin both call ``classify``; nothing about features or models lives in
either face. Every requested cluster gets a row: those that cannot be classified keep an empty
type and a ``c4_status`` saying why (npyx silently drops them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from phy_c4.arrays import gather, min_max
from phy_c4.atomic import atomic_open
from phy_c4.cache import feature_cache_dir, recording_fingerprint
from phy_c4.config import DEVICE_CHOICES, is_unnamed_output
from phy_c4.curation import HUMAN_LABEL, REJECTED, SOURCE
from phy_c4.families import FamilyInputs, UnitData, family_of
from phy_c4.features.pairing import PairingSpec, find_pairs, firing_kind, pause_test
from phy_c4.features.quality import QualitySpec, quality_filter
from phy_c4.io.analyzer import is_analyzer, write_unit_properties
from phy_c4.io.dataset import Recording, open_recording
from phy_c4.io.errors import DatasetError
from phy_c4.io.waveforms import ExtractionSpec, unit_waveform
from phy_c4.model import Bundle, Prediction, predict_inputs
from phy_c4.novelty import MODEL as NOVELTY_MODEL
from phy_c4.novelty import novelty_scores, unit_features
from phy_c4.region import NO_REGION, OUTSIDE, UNKNOWN, RegionGate
from phy_c4.result import (
    OK,
    ClassificationResult,
    UnitFeatures,
    apply_rejections,
)
from phy_c4.status import UNCLASSIFIED, Status, describe, is_confident
from phy_c4.weights import get_bundle

logger = logging.getLogger(__name__)

QUALITY_SKIPPED = "quality filter skipped: amplitudes.npy is constant, all spikes used"


class CancelledError(RuntimeError):
    """The caller asked the pipeline to stop (between units)."""


@dataclass(frozen=True, kw_only=True)
class PipelineOptions:
    threshold: float = 2.0
    quality: QualitySpec | None = field(default_factory=QualitySpec)  # None: all spikes
    waveform_source: str = "auto"
    extraction: ExtractionSpec = field(default_factory=ExtractionSpec)
    pairing: PairingSpec | None = field(default_factory=PairingSpec)
    """Purkinje CS-SS pairing of the predicted complex- and simple-spike units (None: off)."""
    region: RegionGate = field(default_factory=RegionGate)
    """Where the cerebellar cortex is; units outside get no type (default: no information)."""
    threads: int | None = None
    """Threads for the quality filter and the 3D-ACGs (None: all cores). No worker processes:
    the heavy kernels are numba without the GIL."""
    cache: bool = True
    device: str = "cpu"
    """Where the networks run: cpu, cuda or auto (model/device.py)."""

    def __post_init__(self) -> None:
        if not (self.threshold >= 1.0 and np.isfinite(self.threshold)):
            raise ValueError(f"confidence-ratio threshold must be a number >= 1, got "
                             f"{self.threshold}")
        if self.device.split(":")[0] not in DEVICE_CHOICES:
            raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, got "
                             f"{self.device!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
        quality = self.quality
        if quality is not None:
            for name in ("fp_threshold", "fn_threshold"):
                value = getattr(quality, name)
                if not (np.isfinite(value) and 0.0 <= value <= 1.0):
                    raise ValueError(f"quality {name} must be a fraction between 0 and 1, got "
                                     f"{value}")
            if not (np.isfinite(quality.min_good_s) and quality.min_good_s >= 0):
                raise ValueError(f"quality min_good_s must be >= 0 seconds, got "
                                 f"{quality.min_good_s}")



ProgressCallback = Callable[[int, int, str], None]

NPYX_PERIODS_FAMILIES = ("c4_cnn",)
"""Model families trained on npyx's features: the quality filter's ``auto`` periods are npyx's
for them (C4's own models), the whole recording for the others."""


def resolve_periods(options: PipelineOptions, architecture: str) -> PipelineOptions:
    """``options`` with the quality filter's ``auto`` periods decided by the model family
    (``architecture``), so the cache key and the published parameters name the periods used."""
    if options.quality is None or options.quality.periods != "auto":
        return options
    periods = "npyx" if architecture in NPYX_PERIODS_FAMILIES else "whole"
    return replace(options, quality=replace(options.quality, periods=periods))


def options_from_dict(data: dict[str, Any] | None) -> PipelineOptions:
    """``PipelineOptions`` from ``dataclasses.asdict`` of one, or part of one (how the plugin
    sends its options to the worker process); what is missing takes its default."""
    data = {**asdict(PipelineOptions()), **(data or {})}  # what is not given: the default
    pairing = data.get("pairing")
    region = data.get("region") or {}
    return PipelineOptions(
        threshold=float(data["threshold"]),
        quality=None if data.get("quality") is None else QualitySpec(**data["quality"]),
        waveform_source=data["waveform_source"],
        extraction=ExtractionSpec(**data["extraction"]),
        pairing=None if pairing is None else PairingSpec(**{
            k: tuple(v) if isinstance(v, list) else v for k, v in pairing.items()}),
        region=RegionGate(
            depth_um=tuple(region["depth_um"]) if region.get("depth_um") else None,
            cluster_regions={int(k): v for k, v in (region.get("cluster_regions") or {}).items()},
            channel_regions={int(k): v for k, v in (region.get("channel_regions") or {}).items()},
            extra_names=tuple(region.get("extra_names") or ())),
        threads=data.get("threads"), cache=bool(data.get("cache", True)),
        device=str(data.get("device") or "cpu"))


def _unit_key(times: np.ndarray, amplitudes: np.ndarray | None, recording: Recording,
              *, cluster_id: int, options: PipelineOptions, spec: Any, fingerprint: str) -> str:
    """What a unit's cached features depend on: its spikes (times and amplitudes), every
    parameter and the recording's ``fingerprint`` (params.py's values, the template, channel
    and whitening files, the raw file, the package version: ``cache.recording_fingerprint``);
    never the cluster id alone (ids are reused after re-sorting)."""
    digest = hashlib.sha256(memoryview(np.ascontiguousarray(times)).cast("B"))
    digest.update(json.dumps({
        "fs": recording.fs, "cluster": int(cluster_id), "quality": repr(options.quality),
        "source": options.waveform_source, "wvf": repr(options.extraction),
        "features": spec.to_dict(), "recording": fingerprint,
    }, sort_keys=True, default=str).encode())
    if amplitudes is not None:  # the unit's, as float64 whatever the file's dtype
        unit_amplitudes = np.asarray(amplitudes, dtype=np.float64)
        digest.update(memoryview(np.ascontiguousarray(unit_amplitudes)).cast("B"))
    return digest.hexdigest()[:24]


def _load_cached(path: Path) -> tuple[UnitFeatures, np.ndarray] | None:
    """A cached unit, or None; a file that cannot be read (truncated, another program's) is
    dropped, so the unit is recomputed and the cache heals."""
    try:
        with np.load(path, allow_pickle=False) as data:
            features = UnitFeatures(
                waveform_source=str(data["waveform_source"]),
                n_spikes_used=int(data["n_spikes_used"]),
                status=str(data["status"]),
                raw_waveform=data["raw_waveform"] if data["raw_waveform"].size else None,
                raw_fs=float(data["raw_fs"]), peak_channel=int(data["peak_channel"]))
            return features, data["times"]
    except Exception as error:  # BadZipFile, EOFError, KeyError, ...: any damage
        logger.warning("feature cache: dropped the unreadable %s (%s: %s); recomputing it",
                       path.name, type(error).__name__, error)
        path.unlink(missing_ok=True)
        return None


def _store_cached(path: Path, features: UnitFeatures, times: np.ndarray) -> None:
    with atomic_open(path, "wb") as out:
        np.savez(out, waveform_source=features.waveform_source,
                 n_spikes_used=features.n_spikes_used, status=features.status, times=times,
                 raw_waveform=(features.raw_waveform if features.raw_waveform is not None
                               else np.zeros(0)), raw_fs=features.raw_fs,
                 peak_channel=features.peak_channel)


def _unit_spikes(spike_ids: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A cluster's unique spike times and, for each, the index of its first spike, from its
    spike indices and their times (gathered once per unit). The times are sorted (the
    recording's are checked on opening), so one comparison pass replaces ``np.unique``'s sort."""
    first = np.empty(times.size, dtype=bool)
    first[:1] = True
    np.not_equal(times[1:], times[:-1], out=first[1:])
    return times[first], spike_ids[first]


def _quality_job(times: np.ndarray, amplitudes: np.ndarray, fs: float,
                 *, spec: QualitySpec) -> tuple[np.ndarray, str]:
    """Runs in a worker thread: the quality mask and its reason."""
    result = quality_filter(times, amplitudes, fs, spec=spec)
    return result.keep, result.reason


def _check_spikes(recording: Recording, times: np.ndarray, options: PipelineOptions,
                  *, spec: Any) -> str:
    if times.size == 0:
        return describe(Status.NO_SPIKES)
    if times.size < spec.min_spikes:
        return describe(Status.TOO_FEW_SPIKES, f"{times.size} < {spec.min_spikes}")
    if options.quality is not None and recording.amplitudes is None:
        return describe(Status.NO_AMPLITUDES, "amplitudes.npy is needed by the quality filter "
                                              "(or classify with all spikes)")
    return OK


def _quality_masks(recording: Recording, spikes: dict[int, tuple[np.ndarray, np.ndarray]],
                   options: PipelineOptions, *, pool: ThreadPoolExecutor,
                   cancel: Callable[[], bool] | None, report: Callable[[], None],
                   where: str) -> dict[int, tuple[np.ndarray, str]]:
    """C4's quality filter for many units (``spikes``: each unit's unique times and their
    amplitudes) in ``pool``'s threads: the amplitude fits run in numba without the GIL.
    Cancellable between units (``where`` says how far the run got); ``report()`` after each."""
    results: dict[int, tuple[np.ndarray, str]] = {}
    futures = {pool.submit(_quality_job, times, amplitudes, recording.fs,
                           spec=options.quality): c
               for c, (times, amplitudes) in spikes.items()}
    for future in as_completed(futures):
        if cancel is not None and cancel():
            for pending in futures:
                pending.cancel()
            raise CancelledError(f"cancelled after {where}")
        results[futures[future]] = future.result()
        report()
    return results


def _finish_unit(recording: Recording, cluster_id: int, times: np.ndarray, *, status: str,
                 quality: tuple[np.ndarray, str] | None, options: PipelineOptions,
                 spec: Any) -> tuple[UnitFeatures, np.ndarray]:
    """Apply the quality mask and find the unit's peak-channel waveform (``status``: the
    unit's spike-count check, made once)."""
    features = UnitFeatures(n_spikes_used=int(times.size))
    if status != OK:
        features.status = status
        return features, times
    if quality is not None:
        keep, reason = quality
        if reason != OK:
            features.status = describe(Status.QUALITY_FILTER, reason)
            return features, times
        times = times[keep]
        features.n_spikes_used = int(times.size)
        if times.size < spec.min_filtered_spikes:
            features.status = describe(Status.QUALITY_FILTER, f"{times.size} spikes left")
            return features, times
    try:
        wave = unit_waveform(recording, cluster_id, options.waveform_source,
                             spec=options.extraction)
        features.waveform_source = wave.source
        features.raw_waveform = np.asarray(wave.peak_channel_waveform, dtype=np.float64)
        features.raw_fs = float(wave.fs)
        features.peak_channel = int(np.argmax(np.ptp(wave.all_channels, axis=1)))
    except DatasetError:
        raise  # the folder itself (phylib's model could not be built): one line, not a status
    except ValueError as error:
        features.status = describe(Status.NO_WAVEFORM, str(error))
    return features, times


BATCH_SPIKES = 1 << 21
"""Spikes gathered per batch of units at least (2 M; ~40 bytes each while a batch is worked
on); at most 16 batches, so a long recording costs 16 passes over its assignment."""


def _unit_batches(recording: Recording, ids: list[int]) -> list[tuple[list[int], np.ndarray]]:
    """``ids`` in order, cut into batches of about ``max(BATCH_SPIKES, spikes / 16)`` spikes,
    each with its units' spike counts."""
    counts = recording.spike_counts(ids)
    size = max(BATCH_SPIKES, int(counts.sum()) // 16)
    batches: list[tuple[list[int], list[int]]] = [([], [])]
    held = 0
    for cluster_id, count in zip(ids, counts.tolist(), strict=True):
        if batches[-1][0] and held + count > size:
            batches.append(([], []))
            held = 0
        batches[-1][0].append(cluster_id)
        batches[-1][1].append(count)
        held += count
    return [(batch, np.asarray(n, dtype=np.int64)) for batch, n in batches if batch]


def prepare_units(recording: Recording, ids: list[int], options: PipelineOptions,
                  *, spec: Any, progress: ProgressCallback | None = None,
                  cancel: Callable[[], bool] | None = None
                  ) -> tuple[dict[int, UnitFeatures], dict[int, np.ndarray]]:
    """Spikes C4 would use and peak-channel waveforms of many units (``spec``: the model
    family's feature spec, for its spike-count floors), from the cache when the cluster's spikes
    and every parameter are unchanged.

    Units go in batches (``_unit_batches``): one pass over the assignment finds a batch's
    spikes, which are gathered, filtered and reduced to the spikes kept before the next batch
    starts, so memory holds the kept spike times plus one batch, never a whole-recording
    index or copy."""
    total = len(ids)
    features: dict[int, UnitFeatures] = {}
    kept: dict[int, np.ndarray] = {}
    filtered = [0]
    finished = 0

    def report() -> None:
        filtered[0] += 1
        if progress is not None:
            progress(filtered[0], total, "spike quality")

    threads = options.threads or os.cpu_count() or 1
    cache_dir, fingerprint = _cache_place(recording) if options.cache and ids else (None, "")
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for batch, counts in _unit_batches(recording, ids):
            if cancel is not None and cancel():
                raise CancelledError(f"cancelled after {finished} of {total} units")
            with recording.unit_batch(batch, counts) as spike_ids:
                paths: dict[int, Path] = {}
                spikes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
                index = [spike_ids[c] for c in batch]
                all_times = dict(zip(batch, gather(recording.spike_times, index), strict=True))
                all_amplitudes = dict.fromkeys(batch) if recording.amplitudes is None else \
                    dict(zip(batch, gather(recording.amplitudes, index), strict=True))
                del index
                for cluster_id in batch:
                    times = all_times.pop(cluster_id)
                    amplitudes = all_amplitudes.pop(cluster_id)
                    if cache_dir is not None:
                        key = _unit_key(times, amplitudes, recording, cluster_id=cluster_id,
                                        options=options, spec=spec,
                                        fingerprint=fingerprint)
                        paths[cluster_id] = cache_dir / f"unit_{key}.npz"
                        cached = (_load_cached(paths[cluster_id])
                                  if paths[cluster_id].is_file() else None)
                        if cached is not None:
                            features[cluster_id], kept[cluster_id] = cached
                            continue
                    unique, first = _unit_spikes(np.arange(times.size), times)
                    spikes[cluster_id] = unique, (None if amplitudes is None
                                                  else amplitudes[first])
                    del times, amplitudes, unique, first
                checks = {c: _check_spikes(recording, spikes[c][0], options, spec=spec)
                          for c in spikes}
                quality: dict[int, tuple[np.ndarray, str]] = {}
                if options.quality is not None:
                    quality = _quality_masks(
                        recording, {c: spikes[c] for c in spikes if checks[c] == OK}, options,
                        pool=pool, cancel=cancel, report=report,
                        where=f"{finished} of {total} units")
                for cluster_id in list(spikes):
                    if cancel is not None and cancel():
                        raise CancelledError(f"cancelled after {finished} of {total} units")
                    if progress is not None:
                        progress(finished, total, f"waveform of cluster {cluster_id}")
                    times = spikes.pop(cluster_id)[0]
                    unit, times = _finish_unit(recording, cluster_id, times,
                                               status=checks[cluster_id],
                                               quality=quality.pop(cluster_id, None),
                                               options=options, spec=spec)
                    features[cluster_id], kept[cluster_id] = unit, times
                    finished += 1
                    if cluster_id in paths:
                        try:
                            _store_cached(paths[cluster_id], unit, times)
                        except OSError as error:  # a full disk still classifies
                            logger.debug("feature cache not written: %s", error)
    return features, kept


def _cache_place(recording: Recording) -> tuple[Path | None, str]:
    """The feature cache folder (never the sorter's) and the recording's fingerprint; no cache
    (with the reason said once) when no folder can be written."""
    try:
        folder = feature_cache_dir()
        if "fingerprint" not in recording.memo:  # once a session: it reads the inputs
            recording.memo["fingerprint"] = recording_fingerprint(recording)
        return folder, recording.memo["fingerprint"]
    except OSError as error:
        logger.warning("%s; classifying without a feature cache", error)
        return None, ""


def classify(
    model: Any,
    cluster_ids: Sequence[int] | None = None,
    *,
    bundle: str | os.PathLike | Bundle = "default",
    threshold: float | None = None,
    layer: dict[int, str] | None = None,
    progress: ProgressCallback | None = None,
    cancel: Callable[[], bool] | None = None,
    spike_clusters: np.ndarray | None = None,
    options: PipelineOptions | None = None,
    rejected: Mapping[int, str] | None = None,
) -> ClassificationResult:
    """Classify clusters of a recording: a Phy folder, ``params.py``, a loaded ``TemplateModel``,
    or a SpikeInterface ``SortingAnalyzer`` (whose sorting then gets the ``c4_*`` columns as
    unit properties, saved in its folder).

    ``options`` carries every setting; ``threshold``, when given, replaces its threshold (a
    shorthand for the API). ``layer`` maps cluster ids to layer names for layer-informed
    bundles. ``progress`` is called as ``progress(done, total, message)``; ``cancel()``
    returning True stops between units with ``CancelledError``. ``spike_clusters`` overrides
    the saved assignment (the GUI's unsaved merges and splits). ``rejected`` maps clusters to a
    type the curator said they are not (default: the folder's ``cell_type_rejected`` column):
    that prediction is reported as rejected, not as a type.
    Deterministic: the same inputs give the same table.
    """
    options = options or PipelineOptions()
    if threshold is not None:
        options = replace(options, threshold=threshold)
    bundle = bundle if isinstance(bundle, Bundle) else get_bundle(bundle)
    options = resolve_periods(options, bundle.architecture)
    recording = model if isinstance(model, Recording) else open_recording(model, spike_clusters)
    if is_analyzer(model):
        result = classify(recording, cluster_ids, bundle=bundle, threshold=threshold,
                          layer=layer, progress=progress, cancel=cancel, options=options,
                          rejected=rejected)
        write_unit_properties(model, result.table)  # saved in the analyzer's folder
        return result
    notes = []  # what every classified unit's status says
    amplitudes = recording.amplitudes
    if options.quality is not None and amplitudes is not None and amplitudes.size and \
            np.subtract(*min_max(amplitudes)) == 0:
        # A one-bin amplitude histogram gives the false-negative fit NaN: every unit would fail
        # with "too much missed spikes". Some exporters write ones.
        options = replace(options, quality=None)
        notes.append(QUALITY_SKIPPED)
    ids = [int(c) for c in (recording.cluster_ids if cluster_ids is None else cluster_ids)]
    total = len(ids)
    if cancel is not None and cancel():
        raise CancelledError(f"cancelled after 0 of {total} units")
    if progress is not None:
        from phy_c4.features.jit import COMPILING, needs_compiling

        if needs_compiling():  # ~30 s with no unit done: say why
            progress(0, total, COMPILING)
    features, kept_times, inputs, unplaced = _unit_inputs(recording, ids, bundle, options=options,
                                                          layer=layer, progress=progress,
                                                          cancel=cancel)
    if cancel is not None and cancel():
        raise CancelledError(f"cancelled after {total} of {total} units")
    prediction = None
    if inputs.ready:
        if progress is not None:
            progress(total, total, f"predicting {len(inputs.ready)} units")
        prediction = predict_inputs(bundle, inputs.rows, threshold=options.threshold,
                                    device=options.device)
    result = build_result(ids, features, inputs.ready, prediction=prediction, bundle=bundle)
    if notes:
        result.status[result.status == OK] = f"{OK}; {'; '.join(notes)}"
    notes = [*recording.notes, *notes]  # and what is unusual about the inputs (io/dataset.py)
    if not options.region.configured:
        notes.append(NO_REGION)  # for the run, not each unit's status
    for i, cluster_id in enumerate(result.cluster_ids):
        if int(cluster_id) in unplaced and result.cell_type[i] != "":
            result.status[i] = f"{result.status[i]}; no region information"
    rejected = recording.metadata.get(REJECTED, {}) if rejected is None else rejected
    apply_rejections(result, rejected)
    if prediction is not None:
        if progress is not None:
            progress(total, total, f"novelty of {len(inputs.ready)} units")
        _mark_novel(result, features, kept_times, fs=recording.fs)
    pairs: list[dict[str, Any]] = []
    if options.pairing is not None:
        if progress is not None:
            progress(total, total, "pairing Purkinje simple and complex spikes")
        pairs = _pair_purkinje(result, recording, features, kept=kept_times, spec=options.pairing,
                               threads=options.threads, rejected=rejected)
    result.parameters = {
        "threshold": options.threshold,
        "quality": None if options.quality is None else asdict(options.quality),
        "waveform_source": options.waveform_source, "bundle": bundle.label,
        "bundle_sha256": bundle.sha256, "architecture": bundle.architecture,
        "feature_spec": bundle.spec.to_dict(), "fs": recording.fs,
        "dataset_key": recording.content_key(), "inputs": recording.input_digests(),
        "region": options.region.to_dict(),
        "pairing": None if options.pairing is None else asdict(options.pairing),
        "pairs": pairs, "novelty": NOVELTY_MODEL.to_dict(), "notes": notes}
    return result


def _unit_inputs(recording: Recording, ids: list[int], bundle: Bundle,
                 *, options: PipelineOptions, layer: dict[int, str] | None,
                 progress: ProgressCallback | None, cancel: Callable[[], bool] | None
                 ) -> tuple[dict[int, UnitFeatures], dict[int, np.ndarray], FamilyInputs,
                            set[int]]:
    """Spikes, waveforms and the bundle's network input rows of ``ids``; units the region gate
    puts outside the cerebellar cortex get no row (and the gate's unplaced units are returned)."""
    total = len(ids)
    features, kept_times = prepare_units(recording, ids, options, spec=bundle.spec,
                                         progress=progress, cancel=cancel)
    unplaced = _gate_regions(recording, ids, features, gate=options.region)
    units = [UnitData(cluster_id=c, spike_times=kept_times[c], fs=recording.fs,
                      waveform=features[c].raw_waveform,
                      waveform_fs=features[c].raw_fs, layer=(layer or {}).get(c, "unknown"))
             for c in ids if features[c].status == OK]
    if units and progress is not None:
        progress(total, total, f"features of {len(units)} units")
    inputs = family_of(bundle).unit_inputs(bundle, units, options.threads)
    for cluster_id, reason in inputs.failed.items():
        features[cluster_id].status = reason
    for cluster_id, named in inputs.features.items():
        features[cluster_id].inputs = named
    return features, kept_times, inputs, unplaced


def model_inputs(model: Any, cluster_ids: Sequence[int], bundle: str | os.PathLike | Bundle,
                 *, options: PipelineOptions | None = None, layer: dict[int, str] | None = None
                 ) -> tuple[FamilyInputs, dict[int, str]]:
    """The network input rows ``classify`` would feed ``bundle`` for these clusters (what
    ``adapt`` learns from), and the status of those without a row."""
    bundle = bundle if isinstance(bundle, Bundle) else get_bundle(bundle)
    recording = model if isinstance(model, Recording) else open_recording(model)
    ids = [int(c) for c in cluster_ids]
    features, _, inputs, _ = _unit_inputs(recording, ids, bundle,
                                          options=resolve_periods(options or PipelineOptions(),
                                                          bundle.architecture),
                                          layer=layer, progress=None, cancel=None)
    return inputs, {c: features[c].status for c in ids if c not in set(inputs.ready)}


NOVELTY_THRESHOLD = NOVELTY_MODEL.threshold
"""``c4_novelty`` above which a unit is flagged "unlike cerebellar units" (its type is kept):
about 10 % of held-out cerebellar units score above it (phy_c4/novelty.py, docs/trust.md)."""


_NOVEL = "unlike cerebellar units"


def _status_parts(text: str) -> list[str]:
    """A status split before each "; " (joining the parts gives the text back)."""
    head, *rest = text.split("; ")
    return [head, *(f"; {part}" for part in rest)]


def _mark_novel(result: ClassificationResult, features: dict[int, UnitFeatures],
                kept: dict[int, np.ndarray], *, fs: float) -> None:
    """``c4_novelty`` of the classified rows from the spikes and waveform the model read."""
    result.novelty = np.full(len(result.cluster_ids), np.nan)
    rows = np.flatnonzero(np.isfinite(result.confidence))  # the classified rows, in order
    if rows.size == 0:
        return
    ids = [int(result.cluster_ids[i]) for i in rows]
    values = np.array([unit_features(kept[c], fs, features[c].raw_waveform,
                                     waveform_fs=features[c].raw_fs)
                       for c in ids])
    result.novelty[rows] = novelty_scores(values)
    for i in rows:
        if result.novelty[i] > NOVELTY_THRESHOLD:
            result.status[i] += f"; {_NOVEL} (novelty {result.novelty[i]:.2f})"


_NOT_PAIRED = (Status.NO_SPIKES.value, Status.OUTSIDE_CEREBELLUM.value)


def _pair_purkinje(result: ClassificationResult, recording: Recording,
                   features: dict[int, UnitFeatures], *, kept: dict[int, np.ndarray],
                   spec: PairingSpec, threads: int | None = None,
                   rejected: Mapping[int, Any] | None = None) -> list[dict[str, Any]]:
    """Purkinje cells from the complex spike's pause of the simple spikes (features/pairing.py),
    searched among all units that fire like complex or simple spikes, whatever the network
    said: a confirmed pair writes ``c4_pair`` on both units and makes them PkC_cs / PkC_ss
    (the status says the type comes from the pair and keeps the network's guess), unless a
    curator decided on the unit (a curated type or source, or any rejected type). Units the
    quality filter dropped, or with too few spikes for C4's features, take part with all their
    spikes (the pause test's significance is what counts). Returns each pair's evidence for
    the run manifest."""
    result.pair = np.full(len(result.cluster_ids), "", dtype=object)
    row = {int(c): i for i, c in enumerate(result.cluster_ids)}
    trains = {c: kept[c] for c in row if c in kept and
              not features[c].status.startswith(_NOT_PAIRED)}
    kinds = {c: firing_kind(t, recording.fs, spec) for c, t in trains.items()}
    cs = {c: trains[c] for c, k in kinds.items() if k == "cs"}
    ss = {c: trains[c] for c, k in kinds.items() if k == "ss"}
    positions = {c: p for c in (*cs, *ss)
                 if (p := _position(recording, c, features[c])) is not None}
    cs = {c: t for c, t in cs.items() if c in positions}
    ss = {c: t for c, t in ss.items() if c in positions}
    pairs, unpaired = find_pairs(cs, ss, positions, fs=recording.fs, spec=spec,
                                 threads=threads) if cs and ss \
        else ({}, {})
    decided = {int(c) for column in (SOURCE, HUMAN_LABEL)
               for c, v in recording.metadata.get(column, {}).items() if _given(v)}
    decided |= {int(c) for c, v in (rejected or {}).items() if _given(v)}  # any rejection
    evidence = []
    for cs_id, ss_id in pairs.items():
        test = pause_test(cs[cs_id], ss[ss_id], recording.fs, spec=spec)
        evidence.append({"cs": cs_id, "ss": ss_id, "pause_ratio": round(test.ratio, 4),
                         "onset_ratio": round(test.onset_ratio, 4), "p_value": test.p_value,
                         "typed": []})
        for unit, partner, kind in ((cs_id, ss_id, "PkC_cs"), (ss_id, cs_id, "PkC_ss")):
            i = row[unit]
            result.pair[i] = partner
            # a Purkinje cell is cerebellar: the novelty flag goes (c4_novelty keeps the score)
            result.status[i] = "".join(part for part in _status_parts(result.status[i])
                                       if not part.removeprefix("; ").startswith(_NOVEL))
            if unit in decided:
                result.status[i] += (f"; CS-SS pause with {partner} says {kind}; the curator's "
                                     "decision is kept")
            elif result.cell_type[i] == kind:
                result.status[i] += f"; confirmed by CS-SS pause (pair with {partner})"
            else:
                result.status[i] += (f"; {kind} from CS-SS pause (pair with {partner}; "
                                     f"network: {_network_guess(result, i)})")
                result.cell_type[i] = kind
                evidence[-1]["typed"].append(unit)
    for cs_id, n_nearby in unpaired.items():
        if is_confident(result.cell_type[row[cs_id]]):
            result.status[row[cs_id]] += (f"; no CS-SS pause with the {n_nearby} simple-spike "
                                          f"units within {spec.max_distance_um:g} µm")
    for cluster_id, i in row.items():
        if result.cell_type[i] == "PkC_cs" and result.pair[i] == "" and \
                kinds.get(cluster_id) not in (None, "cs"):
            result.status[i] += (f"; no CS-SS pause: fires faster than complex spikes "
                                 f"(> {spec.cs_max_rate_hz:g} Hz)")
    return evidence


def _given(value: Any) -> bool:
    return value is not None and str(value).strip() not in ("", "nan", "None")


def _position(recording: Recording, cluster_id: int, unit: UnitFeatures) -> np.ndarray | None:
    """Where a unit is: its waveform's peak channel, else its template's (units the quality
    filter dropped have no waveform); None when neither is known."""
    channel = unit.peak_channel
    if channel < 0:
        try:
            channel = int(np.argmax(np.ptp(recording.template_waveform(cluster_id), axis=1)))
        except (ValueError, AttributeError, TypeError, IndexError):
            return None
    return np.asarray(recording.channel_positions[channel])


def _network_guess(result: ClassificationResult, i: int) -> str:
    probabilities = result.probabilities[i]
    if not np.isfinite(probabilities).all():
        return "not run"
    best = int(np.argmax(probabilities))
    return f"{result.labels[best]} {probabilities[best]:.2f}"


def _gate_regions(recording: Recording, ids: list[int], features: dict[int, UnitFeatures],
                  *, gate: RegionGate) -> set[int]:
    """Units outside the cerebellar cortex get that status (and no type); returns the units
    a configured gate could not place (classified, and marked)."""
    unplaced: set[int] = set()
    if not gate.configured:
        return unplaced
    for cluster_id in ids:
        unit = features[cluster_id]
        if unit.status != OK:
            continue
        place, why = gate.place(cluster_id, unit.peak_channel if unit.peak_channel >= 0
                                else None, recording.channel_positions)
        if place == OUTSIDE:
            unit.status = describe(Status.OUTSIDE_CEREBELLUM, why)
        elif place == UNKNOWN:
            unplaced.add(cluster_id)
    return unplaced


def build_result(ids: list[int], features: dict[int, Any], ready: list[int],
                 *, prediction: Prediction | None, bundle: Bundle) -> ClassificationResult:
    """One entry per requested cluster: ``ready`` ones from ``prediction`` (in its order), the
    others with their status and no type."""
    n, labels = len(ids), tuple(bundle.labels)
    result = ClassificationResult(
        cluster_ids=np.asarray(ids, dtype=np.int64), labels=labels,
        probabilities=np.full((n, len(labels)), np.nan),
        cell_type=np.full(n, "", dtype=object), confidence=np.full(n, np.nan),
        ratio=np.full(n, np.nan), votes=np.full(n, "", dtype=object),
        status=np.array([features[c].status for c in ids], dtype=object),
        bundle_label=bundle.label, prediction=prediction, features=features)
    if prediction is None or not ready:
        return result
    row = {c: i for i, c in enumerate(ids)}
    rows = np.array([row[c] for c in ready])
    result.probabilities[rows] = prediction.probabilities
    result.cell_type[rows] = prediction.cell_type
    result.confidence[rows] = prediction.confidence
    result.ratio[rows] = prediction.ratio
    result.votes[rows] = prediction.votes_text
    for i, j in enumerate(rows):
        if is_unnamed_output(prediction.predicted[i]):
            result.status[j] = describe(Status.UNNAMED_OUTPUT, (
                f"the model's most probable output is {prediction.predicted[i]}, which npyx "
                "4.3.1's label table does not name (npyx stops with a KeyError); no type"))
        elif prediction.cell_type[i] == UNCLASSIFIED:
            detail = f"{prediction.threshold:g}; best guess {prediction.predicted[i]}"
            result.status[j] = describe(Status.BELOW_THRESHOLD, detail)
    return result


def warm_up(bundle: str | os.PathLike | Bundle = "default") -> Bundle:
    """Load and verify a bundle and compile its family's kernels on a small synthetic unit, so
    the first real Classify pays for neither (the plugin calls this in a background thread)."""
    bundle = bundle if isinstance(bundle, Bundle) else get_bundle(bundle)
    times = np.arange(1, 400, dtype=np.int64) * 1500
    t = np.arange(90) - 30.0
    waveform = -np.exp(-0.5 * (t / 3.0) ** 2)
    unit = UnitData(cluster_id=0, spike_times=times, fs=30000.0, waveform=waveform,
                    waveform_fs=30000.0)
    family_of(bundle).unit_features([unit], bundle.spec, 1)
    return bundle
