"""A Phy/Kilosort output folder, opened read-only through phylib's ``TemplateModel``.

Only what C4 needs is exposed, with the real sample rate and the current cluster assignment
(``spike_clusters`` may be overridden by the Phy plugin, whose merges/splits are not saved yet).

The sorter's files are never written and ``params.py`` is never executed: it is read as data
(``io/params.py``) and phylib's model is built from those values, never from
``get_template_params`` (which ``exec``s the file). The spike arrays are checked before phylib
sees them (phylib would take a missing sample rate as 1 Hz), and phylib's model maps arrays
copy-on-write and skips its own writes (it zeroes all-NaN templates in ``templates.npy``
through a read-write map, saves a missing ``whitening_mat_inv.npy`` and copies
``spike_templates.npy`` to a new ``spike_clusters.npy``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from phy_c4.io.errors import DatasetError
from phy_c4.io.params import Params, model_arguments, params_path, parse_params

__all__ = ["Recording", "open_recording", "params_path", "read_params"]

logger = logging.getLogger(__name__)


PLAUSIBLE_RATES_HZ = (10_000.0, 100_000.0)
"""Sample rates of extracellular recordings; others need ``force`` (``--force``)."""


def read_params(path: str | os.PathLike) -> dict[str, Any]:
    """``params.py``'s data assignments (literals and simple arithmetic), read without
    executing the file (``io/params.py``)."""
    return parse_params(path).values


def params_sample_rate(params: dict[str, Any], where: Path, force: bool = False) -> float:
    """``params.py``'s sample rate, checked (``features.validation.check_sample_rate``
    checks a rate given as a number)."""
    rate = params.get("sample_rate")
    if rate is None:
        raise DatasetError(f"{where}: params.py has no sample_rate (phylib would assume 1 Hz)")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate) \
            or rate <= 0:
        raise DatasetError(f"{where}: params.py has an invalid sample_rate {rate!r}")
    low, high = PLAUSIBLE_RATES_HZ
    if not force and not low <= rate <= high:
        raise DatasetError(f"{where}: sample_rate = {rate:g} Hz is implausible for extracellular "
                           f"spikes ({low / 1000:g}-{high / 1000:g} kHz); pass --force if it is "
                           "right")
    return float(rate)


ID_LIMIT = 2 ** 31
"""Cluster and template ids must fit phylib's int32 (a larger one wraps to a negative key)."""

FLOAT32_EXACT = 2 ** 24
"""float32 holds every whole number up to here (9.3 min at 30 kHz), and rounds those above."""


def check_spike_arrays(folder: Path) -> list[str]:
    """Shapes, dtypes and values of the spike arrays, read through read-only maps in chunks;
    returns notes on what is usable but unusual."""
    from phy_c4.arrays import all_finite, chunks, map_npy, min_max

    notes: list[str] = []
    arrays = {}
    for name in ("spike_times.npy", "spike_clusters.npy", "spike_templates.npy",
                 "amplitudes.npy"):
        if (folder / name).is_file():
            try:
                arrays[name] = map_npy(folder / name, squeeze=False)
            except (OSError, ValueError) as error:
                raise DatasetError(f"{folder / name}: not a readable .npy file ({error})") \
                    from None
    times = arrays.get("spike_times.npy")
    if times is None:
        return notes  # an ALF folder (spikes.times.npy): phylib checks it
    times = times.reshape(-1) if times.ndim == 2 and 1 in times.shape else times
    if times.ndim != 1:
        raise DatasetError(f"{folder}: spike_times.npy must be one column, got {times.shape}")
    if times.dtype.kind == "f" and times.size and not all(
            np.all(np.mod(chunk, 1) == 0) for _, chunk in chunks(times)):
        raise DatasetError(f"{folder}: spike_times.npy holds fractional values (seconds?); "
                           "it must hold integer sample indices")
    if times.dtype.kind not in "iuf":
        raise DatasetError(f"{folder}: spike_times.npy has dtype {times.dtype}")
    if times.dtype.kind == "f" and times.size:
        last = float(min_max(times)[1])
        if times.dtype.itemsize < 8 and last > FLOAT32_EXACT:
            raise DatasetError(
                f"{folder}: spike_times.npy is {times.dtype}, which rounds sample indices above "
                f"{FLOAT32_EXACT:,} (the last spike is at {last:,.0f}): spike times are off by "
                f"up to {int(np.spacing(np.float32(last)))} samples; export them as integers")
        notes.append(f"spike_times.npy holds whole numbers as {times.dtype}; read as samples")
    if times.size and times.dtype.kind in "if" and min_max(times)[0] < 0:
        raise DatasetError(f"{folder}: spike_times.npy has negative times")
    for name in ("spike_clusters.npy", "spike_templates.npy", "amplitudes.npy"):
        values = arrays.get(name)
        if values is None:
            continue
        if values.reshape(-1).shape != times.shape:
            raise DatasetError(f"{folder}: {name} has {values.size} entries for {times.size} "
                               "spikes in spike_times.npy")
        values = values.reshape(-1)
        if name != "amplitudes.npy":
            if values.dtype.kind not in "iu":
                raise DatasetError(f"{folder}: {name} must hold integer ids, got {values.dtype}")
            if values.size:
                low, high = min_max(values)
                if low < 0:
                    raise DatasetError(f"{folder}: {name} has negative ids ({int(low)})")
                if int(high) >= ID_LIMIT:
                    raise DatasetError(f"{folder}: {name} has id {int(high)}; Phy stores ids as "
                                       f"32-bit integers (below {ID_LIMIT:,})")
        elif values.size and not all_finite(values):
            raise DatasetError(f"{folder}: amplitudes.npy has NaN or infinite values")
    templates = arrays.get("spike_templates.npy")
    if templates is not None and templates.size and (folder / "templates.npy").is_file():
        try:
            n_templates = np.load(folder / "templates.npy", mmap_mode="r").shape[0]
        except (OSError, ValueError):
            n_templates = None  # phylib's model says so, where the templates are needed
        if n_templates is not None and int(templates.max()) >= n_templates:
            raise DatasetError(f"{folder}: spike_templates.npy names template "
                               f"{int(templates.max())} but templates.npy has {n_templates}")
    return notes


@dataclass(kw_only=True)
class Recording:
    """Spikes, clusters and templates of one recording, plus where its files live."""

    folder: Path
    spike_times: np.ndarray  # int64 samples
    spike_clusters: np.ndarray  # integer ids, in the file's dtype (a read-only map)
    fs: float
    amplitudes: np.ndarray | None  # Kilosort's template scalings, in the file's dtype
    groups: dict[int, str]
    _model: Any = field(repr=False, default=None)  # phylib TemplateModel, or one being loaded
    metadata: dict[str, dict[int, Any]] = field(default_factory=dict)
    _channel_positions: np.ndarray | None = field(default=None, repr=False)
    _index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _batch: dict[int, np.ndarray] | None = field(default=None, repr=False)
    _batch_templates: dict[int, np.ndarray] | None = field(default=None, repr=False)
    _id_range: tuple[int, int] | None = field(default=None, repr=False)
    _times_digest: str | None = field(default=None, repr=False)
    _clusters_digest: str | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)
    """What is usable but unusual about the inputs (the CLI prints them, the results keep them)."""
    model_arguments: dict[str, Any] | None = field(default=None, repr=False)
    """What phylib's model was built from (``io/params.py``), when phy_c4 read ``params.py``."""
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Values derived from the inputs, shared by ``with_assignment``'s copies (the plugin's
    session): e.g. the feature cache's fingerprint of the folder."""

    @property
    def model(self) -> Any:
        """phylib's ``TemplateModel`` (templates, raw data, channels), waiting for it if it is
        still loading in the background (``open_recording``)."""
        if isinstance(self._model, _BackgroundModel):
            self._model = self._model.result()
        return self._model

    @property
    def channel_positions(self) -> np.ndarray:
        if self._channel_positions is None:
            self._channel_positions = np.asarray(self.model.channel_positions, dtype=np.float64)
        return self._channel_positions

    @property
    def cluster_ids(self) -> np.ndarray:
        from phy_c4.arrays import unique_ids

        return unique_ids(self.spike_clusters)

    @property
    def channel_shanks(self) -> np.ndarray:
        """Shank of each channel (all 0 when the folder does not say)."""
        shanks = getattr(self.model, "channel_shanks", None)
        if shanks is None or len(shanks) != len(self.channel_positions):
            return np.zeros(len(self.channel_positions), dtype=np.int64)
        return np.asarray(shanks, dtype=np.int64)

    @property
    def has_raw(self) -> bool:
        return self.model is not None and getattr(self.model, "traces", None) is not None

    @property
    def duration_s(self) -> float:
        return float(self.spike_times[-1]) / self.fs if self.spike_times.size else 0.0

    def with_assignment(self, spike_clusters: np.ndarray) -> Recording:
        """The same recording under another cluster assignment (the GUI's unsaved merges and
        splits): spike times, amplitudes, the model and the spike-times digest are shared; only
        the cluster index is rebuilt. The plugin keeps one Recording for a whole session."""
        from phy_c4.arrays import min_max

        clusters = np.asarray(spike_clusters)
        if clusters.shape != self.spike_times.shape:
            raise DatasetError(f"{self.folder}: {clusters.size} spike clusters for "
                               f"{self.spike_times.size} spikes")
        if clusters.dtype.kind not in "iu":
            clusters = clusters.astype(np.int64)
        if clusters.size and min_max(clusters)[0] < 0:
            raise DatasetError(f"{self.folder}: negative cluster ids ({min_max(clusters)[0]})")
        return replace(self, spike_clusters=clusters, _index=None, _batch=None,
                       _batch_templates=None, _id_range=None, _clusters_digest=None)

    def spikes_of(self, cluster_id: int) -> np.ndarray:
        """Spike indices of a cluster, in time order (one grouping pass for all clusters, or
        the current ``unit_batch``'s)."""
        if self._batch is not None and cluster_id in self._batch:
            return self._batch[cluster_id]
        if self._index is None:
            from phy_c4.arrays import group_by_cluster

            ids = self.cluster_ids
            order, offsets = group_by_cluster(self.spike_clusters, ids)
            self._index = (ids, order, offsets)
        ids, order, offsets = self._index
        slot = np.searchsorted(ids, cluster_id)
        if slot >= ids.size or ids[slot] != cluster_id:
            return np.zeros(0, dtype=np.int64)
        return order[offsets[slot] : offsets[slot + 1]]

    @property
    def id_range(self) -> tuple[int, int]:
        """Smallest and largest cluster id (one pass, once)."""
        if self._id_range is None:
            from phy_c4.arrays import min_max

            self._id_range = min_max(self.spike_clusters) if self.spike_clusters.size else (0, 0)
        return self._id_range

    def spike_counts(self, cluster_ids: Sequence[int]) -> np.ndarray:
        """Spikes of each cluster, in one pass over the assignment."""
        from phy_c4.arrays import count_by_cluster

        return count_by_cluster(self.spike_clusters, np.asarray(cluster_ids, dtype=np.int64),
                                self.id_range if self.spike_clusters.dtype.kind in "iu" else None)

    @contextmanager
    def unit_batch(self, cluster_ids: Sequence[int], counts: np.ndarray | None = None
                   ) -> Iterator[dict[int, np.ndarray]]:
        """Spike indices of these clusters from one pass over the assignment, also answered by
        ``spikes_of`` inside the block: per-unit work in batches never builds the
        whole-recording index (8 bytes a spike). ``counts``: their ``spike_counts``, when
        known. The maps' pages are dropped on leaving."""
        from phy_c4.arrays import group_by_cluster

        ids = np.asarray(cluster_ids, dtype=np.int64)
        id_range = self.id_range if self.spike_clusters.dtype.kind in "iu" else None
        order, offsets = group_by_cluster(self.spike_clusters, ids, id_range, counts=counts)
        self._batch = {int(c): order[offsets[i] : offsets[i + 1]] for i, c in enumerate(ids)}
        try:
            yield self._batch
        finally:
            self._batch = self._batch_templates = None
            self.release()

    def release(self) -> None:
        """Drop the resident pages of the spike files' read-only maps (ours and the model's):
        they stay in the page cache, and the process holds what it computed, not the files."""
        from phy_c4.arrays import release

        release(self.spike_times, self.spike_clusters, self.amplitudes)
        if self._model is not None and not isinstance(self._model, _BackgroundModel):
            release(*(getattr(self._model, name, None) for name in _MODEL_SPIKE_ARRAYS))

    def content_key(self) -> str:
        """Hash of the spike files' content, so caches never outlive a re-sort."""
        digests = self.input_digests()
        digest = hashlib.sha256(digests["spike_times_sha256"].encode())
        digest.update(digests["spike_clusters_sha256"].encode())
        digest.update(repr(self.fs).encode())
        return digest.hexdigest()[:16]

    def input_digests(self) -> dict[str, str]:
        """sha256 of what the classification read (spike times, cluster assignment), by content,
        so the same data gives the same digests on any machine. Each is hashed once: the
        spike times once a session (shared by ``with_assignment``), the assignment once."""
        if self._times_digest is None:
            self._times_digest = _digest(self.spike_times)
        if self._clusters_digest is None:  # as int64, whatever the file's dtype
            self._clusters_digest = _digest(self.spike_clusters, np.int64)
        return {"spike_times_sha256": self._times_digest,
                "spike_clusters_sha256": self._clusters_digest}

    def template_waveform(self, cluster_id: int) -> np.ndarray:
        """Unwhitened mean template (channels, samples) over the templates the cluster's spikes
        come from, weighted by spike counts (as phylib does), using the *current* assignment."""
        spike_ids = self.spikes_of(cluster_id)
        if spike_ids.size == 0:
            raise ValueError(f"cluster {cluster_id} has no spikes")
        counts = self._template_counts(cluster_id, spike_ids)
        total = None
        for template_id in np.flatnonzero(counts):
            bunch = self.model.get_template(int(template_id))
            if bunch is None:
                continue
            if total is None:
                total = np.zeros((self.model.n_channels, bunch.template.shape[0]))
            total[np.asarray(bunch.channel_ids)] += counts[template_id] * bunch.template.T
        if total is None:
            raise ValueError(f"cluster {cluster_id} has no template")
        return total / counts.sum()

    def _template_counts(self, cluster_id: int, spike_ids: np.ndarray) -> np.ndarray:
        """Spikes of the cluster per template; inside ``unit_batch``, counted for the whole
        batch in one chunked read of ``spike_templates``."""
        from phy_c4.arrays import gather

        templates = np.asarray(self.model.spike_templates)
        if self._batch is None or cluster_id not in self._batch:
            return np.bincount(templates[spike_ids])
        if self._batch_templates is None:
            ids = list(self._batch)
            gathered = gather(templates, [self._batch[c] for c in ids])
            self._batch_templates = {c: np.bincount(t) for c, t in
                                     zip(ids, gathered, strict=True)}
        return self._batch_templates[cluster_id]


def _digest(array: np.ndarray, dtype: type | None = None) -> str:
    """sha256 of the array's bytes (as ``dtype`` when given), chunk by chunk: zero-copy views
    (hashlib releases the GIL on large buffers, .tobytes() would not) of a map whose pages are
    dropped after each chunk."""
    from phy_c4.arrays import chunks

    digest = hashlib.sha256()
    for _, chunk in chunks(np.asarray(array).reshape(-1)):
        chunk = chunk if dtype is None else chunk.astype(dtype, copy=False)
        digest.update(memoryview(np.ascontiguousarray(chunk)).cast("B"))
    return digest.hexdigest()


def open_recording(path: str | os.PathLike | Any, spike_clusters: np.ndarray | None = None,
                   force: bool = False) -> Recording:
    """Open a folder (or ``params.py``, an already-loaded ``TemplateModel``, or a SpikeInterface
    ``SortingAnalyzer``), read-only.

    Errors name the missing or malformed file instead of failing deep inside phylib; ``force``
    accepts sample rates outside 10-100 kHz. For a Kilosort/Phy folder the spike arrays are read
    here and phylib's model (templates, raw data) loads in a background thread meanwhile: its
    checks and copies of every spike array cost ~6 s for 40 M spikes, which then overlap the
    grouping and the quality filter instead of preceding them.
    """
    from phy_c4.io.analyzer import AnalyzerModel, is_analyzer

    if is_analyzer(path):
        path = AnalyzerModel(path)
    if hasattr(path, "spike_samples"):
        return _from_model(path, spike_clusters)
    arguments, notes = _checked_params(path, force)
    folder = arguments["dir_path"]
    # no spike_clusters.npy: the template assignment, read where it is (phylib would copy it)
    clusters_file = "spike_clusters.npy" if (folder / "spike_clusters.npy").is_file() else \
        "spike_templates.npy"
    if not all((folder / name).is_file() for name in (*_DIRECT_FILES, clusters_file)):
        recording = _from_model(_build_model(arguments), spike_clusters)  # e.g. an ALF folder
        notes += _span_notes(arguments, recording.spike_times, force)
    else:
        def read(name: str) -> np.ndarray:  # read-only maps: pages shared with phylib's reads
            from phy_c4.arrays import map_npy

            return map_npy(folder / name)

        times = _spike_samples(read("spike_times.npy"))
        notes += _span_notes(arguments, times, force)
        clusters = read(clusters_file) if spike_clusters is None else spike_clusters
        amplitudes = read("amplitudes.npy")
        metadata, unreadable = _load_metadata(folder)
        notes += [f"{name} could not be read ({why}); its columns are ignored"
                  for name, why in unreadable.items()]
        recording = _recording(folder, float(arguments["sample_rate"]), times, clusters=clusters,
                               amplitudes=amplitudes, metadata=metadata, model=None)
        recording._model = _BackgroundModel(arguments)  # once the checks above passed
    recording.model_arguments = arguments
    recording.notes[:0] = notes
    return recording


_DIRECT_FILES = ("spike_times.npy", "amplitudes.npy")
"""The files read without phylib (with phylib's conventions), with the cluster assignment;
other layouts go through it."""

RAW_SUFFIXES = (".bin", ".dat", ".raw")
"""Flat binary files, whose size gives the recording's length (not compressed ``.cbin``)."""


def _raw_frames(arguments: dict[str, Any]) -> tuple[Path, int, int] | None:
    """The raw file, its size after the header and the bytes of one frame (all channels of one
    sample), when there is one flat binary file and ``n_channels_dat``."""
    paths, n_channels = arguments.get("dat_path") or [], arguments.get("n_channels_dat")
    if len(paths) != 1 or not n_channels or Path(paths[0]).suffix.lower() not in RAW_SUFFIXES:
        return None
    try:
        size = os.stat(paths[0]).st_size
    except OSError:
        return None  # phylib then runs without raw data, as it would
    return Path(paths[0]), size - arguments["offset"], n_channels * arguments["dtype"].itemsize


def _raw_notes(arguments: dict[str, Any], force: bool) -> list[str]:
    """A raw file that is not a whole number of frames: n_channels_dat or dtype is wrong."""
    raw = _raw_frames(arguments)
    if raw is None or raw[1] % raw[2] == 0:
        return []
    path, size, frame = raw
    line = (f"{path.name}: {size:,} bytes after the offset are not a whole number of "
            f"{arguments['n_channels_dat']}-channel {arguments['dtype']} samples ({frame} bytes "
            "each); check n_channels_dat, dtype and offset in params.py")
    if not force:
        raise DatasetError(f"{arguments['dir_path']}: {line} (or pass --force)")
    return [line]


def _span_notes(arguments: dict[str, Any], times: np.ndarray, force: bool) -> list[str]:
    """Spike times that do not fit the raw file's length: spikes after its end (wrong
    n_channels_dat, dtype or sample_rate), or all spikes in its first tenth (times in ms?)."""
    raw = _raw_frames(arguments)
    if raw is None or not times.size:
        return []
    path, size, frame = raw
    fs, n_samples, last = arguments["sample_rate"], size // frame, int(times[-1])
    line = None
    if last >= n_samples:
        line = (f"the last spike ({last / fs:.1f} s) is after the end of {path.name} "
                f"({n_samples / fs:.1f} s); check sample_rate, n_channels_dat and dtype in "
                "params.py")
    elif n_samples / fs > 10 and last < 0.1 * n_samples:
        line = (f"the spikes end at {last / fs:.1f} s of a {n_samples / fs:.1f}-s {path.name}; "
                "spike_times.npy must hold sample indices (not ms or s)")
    if line is None:
        return []
    if not force:
        raise DatasetError(f"{arguments['dir_path']}: {line} (or pass --force if it is right)")
    return [line]


class _BackgroundModel:
    """phylib's ``TemplateModel`` loading in a daemon thread; ``result()`` waits for it and
    raises what the load raised. The thread gets the values read from ``params.py``: it parses
    and executes nothing (CPython 3.11's AST constructor is not safe in two threads at once)."""

    def __init__(self, arguments: dict[str, Any]) -> None:
        self._model: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._load, args=(arguments,), daemon=True,
                                        name="phy_c4 phylib model")
        self._thread.start()

    def _load(self, arguments: dict[str, Any]) -> None:
        try:
            self._model = _build_model(arguments)
        except BaseException as error:  # re-raised in the thread that asks for the model
            self._error = error

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._model


def _spike_samples(samples: np.ndarray) -> np.ndarray:
    """Spike times as int64 samples; uint64 (Kilosort's dtype) is viewed, not copied."""
    if samples.dtype.kind == "f":
        samples = np.round(samples)
    if samples.dtype == np.uint64:
        view = samples.view(np.int64)
        if not view.size or view.min() >= 0:
            return view
    return samples.astype(np.int64, copy=False)


def _load_metadata(folder: Path) -> tuple[dict[str, dict[int, Any]], dict[str, str]]:
    """Cluster columns of every ``*.csv``/``*.tsv`` in the folder, as phylib's model reads them
    (``cluster_info`` excluded), and the files that could not be read, with why (skipped, as
    phylib does; the caller says so)."""
    from phylib.io.model import load_metadata

    metadata: dict[str, dict[int, Any]] = {}
    unreadable: dict[str, str] = {}
    for path in [*folder.glob("*.csv"), *folder.glob("*.tsv")]:
        if path.stem == "cluster_info":
            continue
        try:
            metadata.update(load_metadata(path))
        except Exception as error:  # phylib warns and goes on; so do we
            unreadable[path.name] = f"{type(error).__name__}: {error}"[:200]
    return metadata, unreadable


def _from_model(model: Any, spike_clusters: np.ndarray | None) -> Recording:
    """A recording from a loaded model (the plugin's, an analyzer's, or an ALF folder's)."""
    folder = Path(getattr(model, "dir_path", "."))
    fs = float(model.sample_rate)
    if not np.isfinite(fs) or fs <= 0:
        raise DatasetError(f"{folder}: params.py has an invalid sample_rate {model.sample_rate!r}")
    times = _spike_samples(np.asarray(model.spike_samples))
    clusters = model.spike_clusters if spike_clusters is None else spike_clusters
    return _recording(folder, fs, times, clusters=clusters, amplitudes=getattr(model, "amplitudes",
                                                                               None),
                      metadata=getattr(model, "metadata", None) or {}, model=model)


def _recording(folder: Path, fs: float, times: np.ndarray, *, clusters: Any,
               amplitudes: np.ndarray | None, metadata: dict, model: Any) -> Recording:
    from phy_c4.arrays import is_sorted, min_max

    clusters = np.asarray(clusters)
    if clusters.shape != times.shape:
        raise DatasetError(f"{folder}: {clusters.size} spike clusters for {times.size} spikes")
    if clusters.dtype.kind not in "iu":
        clusters = clusters.astype(np.int64)
    if clusters.size and min_max(clusters)[0] < 0:
        raise DatasetError(f"{folder}: negative cluster ids ({min_max(clusters)[0]})")
    if times.size and not is_sorted(times):
        raise DatasetError(f"{folder}: spike_times.npy is not sorted")
    metadata = {k: dict(v) for k, v in metadata.items()}
    groups, notes = _groups(metadata.get("group", {}))
    return Recording(
        folder=folder,
        spike_times=times,
        spike_clusters=clusters,  # as stored: an int64 copy of an int32 file would cost 4 B
        # a spike; the grouping and the digests read any integer dtype
        fs=fs,
        amplitudes=None if amplitudes is None else np.asarray(amplitudes),  # as stored: a
        # float64 copy of 40 M float32 values would cost 330 MB; units are converted one by one
        groups=groups,
        _model=model,
        metadata=metadata,
        notes=notes,
    )


GROUPS = ("good", "mua", "noise", "unsorted")
"""Phy's cluster groups."""


def _groups(column: dict) -> tuple[dict[int, str], list[str]]:
    """``cluster_group.tsv``'s labels as Phy's groups: ``Good`` and ``good `` are ``good`` (with
    a note; Phy itself would not match them), anything else is kept as written (with a note)."""
    groups: dict[int, str] = {}
    changed, unknown = 0, set()
    for key, value in column.items():
        text = "" if value is None else str(value)
        label = text.strip().lower()
        if label in GROUPS:
            changed += label != text
        else:
            label = text
            if text.strip():
                unknown.add(text)
        groups[int(key)] = label
    notes = []
    if changed:
        notes.append(f"cluster_group.tsv: {changed} labels read as Phy's groups after removing "
                     "spaces and capitals (e.g. 'Good ' as 'good')")
    if unknown:
        notes.append(f"cluster_group.tsv: labels that are not Phy groups: "
                     f"{', '.join(sorted(map(repr, unknown))[:5])}")
    return groups, notes


_MODEL_SPIKE_ARRAYS = ("spike_samples", "spike_clusters", "spike_templates", "amplitudes")
"""The model's per-spike arrays: read-only maps of the folder's files (``_load_data``)."""


def _read_only_model_class() -> type:
    from phylib.io.model import TemplateModel, _all_positions_distinct, linear_positions

    from phy_c4.arrays import map_npy, npy_without_ast, unique_ids

    class ReadOnlyTemplateModel(TemplateModel):
        """phylib's model that can never change the sorter's files, and holds no copy of a
        per-spike array."""

        def _read_array(self, path, mmap_mode=None):
            if mmap_mode is None and Path(path).name.startswith("spike_"):
                mmap_mode = "r"  # other per-spike files (spike attributes): maps, not copies
            mmap_mode = "c" if mmap_mode == "r+" else mmap_mode
            mapped = npy_without_ast(path, mmap_mode) if path else None
            return super()._read_array(path, mmap_mode) if mapped is None else mapped.squeeze()

        def _load_data(self):
            """phylib's loading, except for the per-spike arrays of a Kilosort folder.

            phylib's own ``_load_data`` reads every per-spike file into memory, divides the
            times into float64 seconds, copies the clusters and sorts copies for ``np.unique``:
            ~40 bytes a spike (1.7 GB for 41 M spikes) that phy_c4 never reads, since it reads
            the arrays itself. Here they are read-only maps (``spike_times`` in seconds is
            computed when asked), checked by ``check_spike_arrays``/``open_recording``;
            everything per channel and per template comes from phylib's own loaders. Cluster
            waveforms of merged clusters (phylib's ``merge_map``) are not precomputed: phy_c4
            averages templates per cluster itself (``Recording.template_waveform``). Other
            layouts (an ALF folder) get phylib's loading unchanged."""
            if not (self.dir_path / "spike_times.npy").is_file() or not (
                    self.dir_path / "spike_templates.npy").is_file():
                super()._load_data()
                return
            self.spike_samples = map_npy(self.dir_path / "spike_times.npy")
            self.n_spikes = self.spike_samples.shape[0]
            self.amplitudes = (map_npy(self.dir_path / "amplitudes.npy")
                               if (self.dir_path / "amplitudes.npy").is_file() else None)
            self.spike_templates = map_npy(self.dir_path / "spike_templates.npy")
            self.template_ids = unique_ids(self.spike_templates)
            clusters = self.dir_path / "spike_clusters.npy"
            self.spike_clusters = map_npy(clusters) if clusters.is_file() else \
                self.spike_templates  # never copied to a new file: the folder is read-only
            self.cluster_ids = unique_ids(self.spike_clusters)
            self.n_clusters = int(self.cluster_ids[-1]) + 1 if self.cluster_ids.size else 0
            self.spike_times_reordered = self._load_spike_reorder()
            self.channel_mapping = self._load_channel_map()
            self.n_channels = nc = self.channel_mapping.shape[0]
            if self.n_channels_dat:
                _check(np.all(self.channel_mapping <= self.n_channels_dat - 1),
                       "channel_mapping <= self.n_channels_dat")
            self.channel_positions = self._load_channel_positions()
            _check(self.channel_positions.shape == (nc, 2), "channel_positions.shape")
            if not _all_positions_distinct(self.channel_positions):  # phylib's fallback
                logger.error("Some channels are on the same position, please check the channel "
                             "positions file.")
                self.channel_positions = linear_positions(nc)
            self.channel_shanks = self._load_channel_shanks()
            _check(self.channel_shanks.shape == (nc,), "channel_shanks.shape")
            self.channel_probes = self._load_channel_probes()
            _check(self.channel_probes.shape == (nc,), "channel_probes.shape")
            self.probes = np.unique(self.channel_probes)
            self.n_probes = len(self.probes)
            self.sparse_templates = self._load_templates()
            if self.sparse_templates is None:
                raise ValueError("templates.npy could not be read")
            self.n_templates, self.n_samples_waveforms, self.n_channels_loc = \
                self.sparse_templates.data.shape
            self.merge_map, self.nan_idx = {}, []
            self.sparse_clusters = self.sparse_templates
            self.spike_waveforms = self._load_spike_waveforms()
            try:
                self.wm = self._load_wm()
            except OSError:
                self.wm = np.eye(nc)
            try:
                self.wmi = self._load_wmi()
            except OSError:
                self.wmi = self._compute_wmi(self.wm)
            _check(self.wm.shape == (nc, nc), "self.wm.shape")
            _check(self.wmi.shape == (nc, nc), "self.wmi.shape")
            self.similar_templates = self._load_similar_templates()
            _check(self.similar_templates.shape == (self.n_templates, self.n_templates),
                   "similar_templates.shape")
            self.traces = self._load_traces(self.channel_mapping)
            last = float(self.spike_samples[-1]) / self.sample_rate if self.n_spikes else 0.0
            self.duration = self.traces.duration if self.traces is not None else last
            self.sparse_features = self._load_features()  # phylib maps these itself
            self.features = self.sparse_features.data if self.sparse_features else None
            if self.sparse_features is not None:
                self.n_features_per_channel = self.sparse_features.data.shape[2]
            self.sparse_template_features = self._load_template_features()
            self.template_features = (self.sparse_template_features.data
                                      if self.sparse_template_features else None)
            self.spike_attributes = self._load_spike_attributes()
            self.metadata = self._load_metadata()

        @property
        def spike_times(self) -> np.ndarray:
            """Spike times in seconds, computed when asked (8 bytes a spike)."""
            if "_spike_times" in self.__dict__:
                return self.__dict__["_spike_times"]
            return np.asarray(self.spike_samples, dtype=np.float64) / self.sample_rate

        @spike_times.setter
        def spike_times(self, value: np.ndarray) -> None:  # phylib's own loading (ALF)
            self.__dict__["_spike_times"] = value

        def _write_array(self, path, arr):
            logger.debug("not writing %s: phy_c4 opens folders read-only", path)

        def save_metadata(self, name, values):  # pragma: no cover - never called by phy_c4
            raise PermissionError("phy_c4 opened this folder read-only")

        def save_spike_clusters(self, spike_clusters):  # pragma: no cover
            raise PermissionError("phy_c4 opened this folder read-only")

        def _load_features(self):  # C4 needs no PC features: a damaged file must not matter
            return None

        def _load_template_features(self):
            return None

        def _load_spike_clusters(self):
            # phylib copies spike_templates.npy into a new spike_clusters.npy when there is none
            if self._find_path("spike_clusters.npy", "spikes.clusters*.npy", multiple_ok=False,
                               mandatory=False) is None:
                return np.asarray(self.spike_templates).astype(np.int32)
            return super()._load_spike_clusters()

    return ReadOnlyTemplateModel


def _checked_params(path: str | os.PathLike, force: bool) -> tuple[dict[str, Any], list[str]]:
    """phylib's model arguments for a folder whose ``params.py`` (read as data), sample rate,
    spike arrays and raw file pass the checks, and the notes on what is unusual."""
    params: Params = parse_params(path)
    folder = params.path.parent
    if "sample_rate" in params.unreadable:
        model_arguments(params, 0.0)  # raises: the value is not data
    rate = params_sample_rate(params.values, folder, force)
    arguments = model_arguments(params, rate)
    notes = [*params.notes, *check_spike_arrays(folder)]
    for required in ("spike_times.npy", "spike_clusters.npy", "templates.npy"):
        if not (folder / required).is_file() and not (
            required == "spike_clusters.npy" and (folder / "spike_templates.npy").is_file()
        ):
            raise DatasetError(f"{folder}: {required} is missing")
    notes += _raw_notes(arguments, force)
    return arguments, notes


def _load_model(path: str | os.PathLike, force: bool = False) -> Any:
    """phylib's model of a folder, read-only, built from ``params.py`` read as data."""
    return _build_model(_checked_params(path, force)[0])


def _build_model(arguments: dict[str, Any]) -> Any:
    folder = arguments["dir_path"]
    try:
        return _read_only_model_class()(**arguments)
    except DatasetError:
        raise
    except MemoryError as error:
        raise DatasetError(f"{folder}: opening it needs more memory than there is ({error}); a "
                           "size in params.py or an .npy shape is probably wrong") from None
    except Exception as error:  # phylib raises many kinds for malformed folders
        raise DatasetError(f"{folder}: phylib could not open it ({_explain(error)})") from None


PHYLIB_CHECKS = {
    "channel_mapping <= self.n_channels_dat": "channel_map.npy names a channel beyond "
                                              "n_channels_dat in params.py",
    "channel_positions.shape": "channel_positions.npy does not have one (x, y) row per channel "
                               "of channel_map.npy",
    "channel_shanks.shape": "channel_shanks.npy does not have one entry per channel",
    "channel_probes.shape": "channel_probes.npy does not have one entry per channel",
    "spike_templates.shape": "spike_templates.npy does not have one entry per spike",
    "spike_clusters.shape": "spike_clusters.npy does not have one entry per spike",
    "amplitudes.shape": "amplitudes.npy does not have one entry per spike",
    "self.wm.shape": "whitening_mat.npy is not channels x channels",
    "self.wmi.shape": "whitening_mat_inv.npy is not channels x channels",
    "similar_templates.shape": "similar_templates.npy is not templates x templates",
    "cols.shape": "templates_ind.npy does not match templates.npy",
    "out.ndim == 1": "a spike array is not one column",
    "out.dtype in": "spike_templates.npy does not hold integer ids",
}
"""phylib's bare ``assert`` checks, said in words."""


def _check(ok: bool, check: str) -> None:
    """One of phylib's ``_load_data`` checks, kept where ``ReadOnlyTemplateModel`` loads the
    folder itself, said in words (``PHYLIB_CHECKS``)."""
    if not ok:
        raise ValueError(PHYLIB_CHECKS[check])


def _explain(error: BaseException) -> str:
    """An error from phylib in words: a bare ``AssertionError`` names the check that failed
    (and what it means, when known), not an empty message."""
    text = str(error).strip()
    if not isinstance(error, AssertionError) or text:
        return f"{type(error).__name__}: {text}"
    import traceback

    frame = traceback.extract_tb(error.__traceback__)[-1]
    check = (frame.line or "").strip()
    meaning = next((m for key, m in PHYLIB_CHECKS.items() if key in check), None)
    where = f"{Path(frame.filename).name}:{frame.lineno}"
    return f"{meaning} (phylib's check `{check}`, {where})" if meaning else \
        f"phylib's check `{check}` failed ({where})"
