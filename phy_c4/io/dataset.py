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
import re
import threading
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
    """Shapes, dtypes and values of the spike arrays, read through read-only maps; returns
    notes on what is usable but unusual."""
    notes: list[str] = []
    arrays = {}
    for name in ("spike_times.npy", "spike_clusters.npy", "spike_templates.npy",
                 "amplitudes.npy"):
        if (folder / name).is_file():
            try:
                arrays[name] = np.load(folder / name, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as error:
                raise DatasetError(f"{folder / name}: not a readable .npy file ({error})") \
                    from None
    times = arrays.get("spike_times.npy")
    if times is None:
        return notes  # an ALF folder (spikes.times.npy): phylib checks it
    times = times.reshape(-1) if times.ndim == 2 and 1 in times.shape else times
    if times.ndim != 1:
        raise DatasetError(f"{folder}: spike_times.npy must be one column, got {times.shape}")
    if times.dtype.kind == "f" and times.size and not np.all(np.mod(times, 1) == 0):
        raise DatasetError(f"{folder}: spike_times.npy holds fractional values (seconds?); "
                           "it must hold integer sample indices")
    if times.dtype.kind not in "iuf":
        raise DatasetError(f"{folder}: spike_times.npy has dtype {times.dtype}")
    if times.dtype.kind == "f" and times.size:
        if times.dtype.itemsize < 8 and float(np.max(times)) > FLOAT32_EXACT:
            raise DatasetError(
                f"{folder}: spike_times.npy is {times.dtype}, which rounds sample indices above "
                f"{FLOAT32_EXACT:,} (the last spike is at {float(np.max(times)):,.0f}): spike "
                "times are off by up to "
                f"{int(np.spacing(np.max(times)))} samples; export them as integers")
        notes.append(f"spike_times.npy holds whole numbers as {times.dtype}; read as samples")
    if times.size and times.dtype.kind in "if" and times.min() < 0:
        raise DatasetError(f"{folder}: spike_times.npy has negative times")
    for name in ("spike_clusters.npy", "spike_templates.npy", "amplitudes.npy"):
        values = arrays.get(name)
        if values is None:
            continue
        if values.reshape(-1).shape != times.shape:
            raise DatasetError(f"{folder}: {name} has {values.size} entries for {times.size} "
                               "spikes in spike_times.npy")
        if name != "amplitudes.npy":
            if values.dtype.kind not in "iu":
                raise DatasetError(f"{folder}: {name} must hold integer ids, got {values.dtype}")
            if values.size and values.min() < 0:
                raise DatasetError(f"{folder}: {name} has negative ids ({int(values.min())})")
            if values.size and int(values.max()) >= ID_LIMIT:
                raise DatasetError(f"{folder}: {name} has id {int(values.max())}; Phy stores ids "
                                   f"as 32-bit integers (below {ID_LIMIT:,})")
        elif values.size and not np.all(np.isfinite(values)):
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


@dataclass
class Recording:
    """Spikes, clusters and templates of one recording, plus where its files live."""

    folder: Path
    spike_times: np.ndarray  # int64 samples
    spike_clusters: np.ndarray  # int64
    fs: float
    amplitudes: np.ndarray | None  # Kilosort's template scalings, in the file's dtype
    groups: dict[int, str]
    _model: Any = field(repr=False, default=None)  # phylib TemplateModel, or one being loaded
    metadata: dict[str, dict[int, Any]] = field(default_factory=dict)
    _channel_positions: np.ndarray | None = field(default=None, repr=False)
    _index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)
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
        clusters = np.asarray(spike_clusters)
        if clusters.shape != self.spike_times.shape:
            raise DatasetError(f"{self.folder}: {clusters.size} spike clusters for "
                               f"{self.spike_times.size} spikes")
        if clusters.size and clusters.min() < 0:
            raise DatasetError(f"{self.folder}: negative cluster ids ({int(clusters.min())})")
        return replace(self, spike_clusters=clusters.astype(np.int64, copy=False), _index=None,
                       _clusters_digest=None)

    def spikes_of(self, cluster_id: int) -> np.ndarray:
        """Spike indices of a cluster, in time order (one grouping pass for all clusters)."""
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
        if self._clusters_digest is None:
            self._clusters_digest = _digest(self.spike_clusters)
        return {"spike_times_sha256": self._times_digest,
                "spike_clusters_sha256": self._clusters_digest}

    def template_waveform(self, cluster_id: int) -> np.ndarray:
        """Unwhitened mean template (channels, samples) over the templates the cluster's spikes
        come from, weighted by spike counts (as phylib does), using the *current* assignment."""
        spike_ids = self.spikes_of(cluster_id)
        if spike_ids.size == 0:
            raise ValueError(f"cluster {cluster_id} has no spikes")
        counts = np.bincount(np.asarray(self.model.spike_templates)[spike_ids])
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


def _digest(array: np.ndarray) -> str:
    # a zero-copy view: hashlib releases the GIL on large buffers, .tobytes() would not
    return hashlib.sha256(memoryview(np.ascontiguousarray(array)).cast("B")).hexdigest()


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
            return np.load(folder / name, mmap_mode="r", allow_pickle=False).squeeze()

        times = _spike_samples(read("spike_times.npy"))
        notes += _span_notes(arguments, times, force)
        clusters = read(clusters_file) if spike_clusters is None else spike_clusters
        amplitudes = read("amplitudes.npy")
        metadata, unreadable = _load_metadata(folder)
        notes += [f"{name} could not be read ({why}); its columns are ignored"
                  for name, why in unreadable.items()]
        recording = _recording(folder, float(arguments["sample_rate"]), times, clusters,
                               amplitudes, metadata, None)
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
    return _recording(folder, fs, times, clusters, getattr(model, "amplitudes", None),
                      getattr(model, "metadata", None) or {}, model)


def _recording(folder: Path, fs: float, times: np.ndarray, clusters: Any,
               amplitudes: np.ndarray | None, metadata: dict, model: Any) -> Recording:
    from phy_c4.arrays import is_sorted

    clusters = np.asarray(clusters)
    if clusters.shape != times.shape:
        raise DatasetError(f"{folder}: {clusters.size} spike clusters for {times.size} spikes")
    if clusters.size and clusters.min() < 0:
        raise DatasetError(f"{folder}: negative cluster ids ({int(clusters.min())})")
    if times.size and not is_sorted(times):
        raise DatasetError(f"{folder}: spike_times.npy is not sorted")
    metadata = {k: dict(v) for k, v in metadata.items()}
    groups, notes = _groups(metadata.get("group", {}))
    return Recording(
        folder=folder,
        spike_times=times,
        spike_clusters=clusters.astype(np.int64, copy=False),
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


def _read_only_model_class() -> type:
    from phylib.io.model import TemplateModel

    class ReadOnlyTemplateModel(TemplateModel):
        """phylib's model that can never change the sorter's files."""

        def _read_array(self, path, mmap_mode=None):
            mmap_mode = "c" if mmap_mode == "r+" else mmap_mode
            mapped = _map_npy(path, mmap_mode) if path else None
            return super()._read_array(path, mmap_mode) if mapped is None else mapped.squeeze()

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


_NPY_HEADER = re.compile(r"\{'descr': '([<>|=]?[a-zA-Z]\d*)', 'fortran_order': (True|False), "
                         r"'shape': \(((?:\d+, ?)*\d*)\), \}")
"""A plain .npy header as numpy writes it (other forms go to ``np.load``)."""


def _map_npy(path: str | os.PathLike, mmap_mode: str | None) -> np.ndarray | None:
    """A .npy file as ``np.load(path, mmap_mode)`` gives it (mapped, or read when
    ``mmap_mode`` is None), its header read by a regular expression instead of ``ast``: this
    runs in the model's background thread, and CPython 3.11's AST constructor is not safe in
    two threads at once (the main thread parses too). None when the header is not the plain
    form, or the array is empty (``np.load`` then)."""
    try:
        with open(path, "rb") as data:
            magic = data.read(8)
            if magic[:6] != b"\x93NUMPY" or magic[6] not in (1, 2, 3):
                return None
            size_bytes = 2 if magic[6] == 1 else 4
            length = int.from_bytes(data.read(size_bytes), "little")
            header = data.read(length).decode("latin1").strip()
    except OSError:
        return None
    match = _NPY_HEADER.fullmatch(header)
    if match is None:
        return None
    shape = tuple(int(n) for n in match.group(3).replace(" ", "").split(",") if n)
    if not shape or 0 in shape:
        return None
    dtype, offset = np.dtype(match.group(1)), 8 + size_bytes + length
    order = "F" if match.group(2) == "True" else "C"
    if mmap_mode is None:
        values = np.fromfile(path, dtype=dtype, count=math.prod(shape), offset=offset)
        if values.size != math.prod(shape):
            return None  # truncated: np.load says so
        return values.reshape(shape, order=order)
    return np.memmap(path, dtype=dtype, mode=mmap_mode, offset=offset, shape=shape, order=order)


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
