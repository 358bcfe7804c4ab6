"""A Phy/Kilosort output folder, opened read-only through phylib's ``TemplateModel``.

Only what C4 needs is exposed, with the real sample rate and the current cluster assignment
(``spike_clusters`` may be overridden by the Phy plugin, whose merges/splits are not saved yet).

The sorter's files are never written: ``params.py`` and the spike arrays are checked before
phylib sees them (phylib would take a missing sample rate as 1 Hz), and phylib's model maps
arrays copy-on-write and skips its own writes (it zeroes all-NaN templates in ``templates.npy``
through a read-write map and saves a missing ``whitening_mat_inv.npy``).
"""

from __future__ import annotations

import ast
import hashlib
import logging
import math
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from phy_c4.io.errors import DatasetError

logger = logging.getLogger(__name__)




PLAUSIBLE_RATES_HZ = (10_000.0, 100_000.0)
"""Sample rates of extracellular recordings; others need ``force`` (``--force``)."""


def read_params(path: str | os.PathLike) -> dict[str, Any]:
    """``params.py``'s assignments of literal values, read without executing the file."""
    params = params_path(path)
    try:
        tree = ast.parse(params.read_text(), filename=str(params))
    except (SyntaxError, UnicodeDecodeError, ValueError) as error:
        raise DatasetError(f"{params}: not a readable params.py ({error})") from None
    values: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                values[node.targets[0].id] = None  # an expression: not a value we read
    return values


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


def check_spike_arrays(folder: Path) -> None:
    """Shapes, dtypes and values of the spike arrays, read through read-only maps."""
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
        return  # an ALF folder (spikes.times.npy): phylib checks it
    times = times.reshape(-1) if times.ndim == 2 and 1 in times.shape else times
    if times.ndim != 1:
        raise DatasetError(f"{folder}: spike_times.npy must be one column, got {times.shape}")
    if times.dtype.kind == "f" and times.size and not np.all(np.mod(times, 1) == 0):
        raise DatasetError(f"{folder}: spike_times.npy holds fractional values (seconds?); "
                           "it must hold integer sample indices")
    if times.dtype.kind not in "iuf":
        raise DatasetError(f"{folder}: spike_times.npy has dtype {times.dtype}")
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
        elif values.size and not np.all(np.isfinite(values)):
            raise DatasetError(f"{folder}: amplitudes.npy has NaN or infinite values")


def params_path(path: str | os.PathLike) -> Path:
    """``params.py`` from a path to it or to its folder."""
    path = Path(path)
    candidate = path / "params.py" if path.is_dir() else path
    if not candidate.is_file():
        raise DatasetError(f"no params.py at {path}")
    return candidate


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
    params = _checked_params(path, force)
    folder = params.parent
    if not all((folder / name).is_file() for name in _DIRECT_FILES):
        return _from_model(_load_model(params, force), spike_clusters)  # e.g. an ALF folder

    def read(name: str) -> np.ndarray:  # read-only maps: pages shared with phylib's reads
        return np.load(folder / name, mmap_mode="r", allow_pickle=False).squeeze()

    times = _spike_samples(read("spike_times.npy"))
    clusters = read("spike_clusters.npy") if spike_clusters is None else spike_clusters
    amplitudes = read("amplitudes.npy")
    return _recording(folder, float(read_params(params)["sample_rate"]), times, clusters,
                      amplitudes, _load_metadata(folder), _BackgroundModel(params, force))


_DIRECT_FILES = ("spike_times.npy", "spike_clusters.npy", "amplitudes.npy")
"""The files read without phylib (with phylib's conventions); other layouts go through it."""


class _BackgroundModel:
    """phylib's ``TemplateModel`` loading in a daemon thread; ``result()`` waits for it and
    raises what the load raised."""

    def __init__(self, params: Path, force: bool) -> None:
        self._model: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._load, args=(params, force), daemon=True,
                                        name="phy_c4 phylib model")
        self._thread.start()

    def _load(self, params: Path, force: bool) -> None:
        try:
            self._model = _load_model(params, force, checked=True)
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


def _load_metadata(folder: Path) -> dict[str, dict[int, Any]]:
    """Cluster columns of every ``*.csv``/``*.tsv`` in the folder, as phylib's model reads them
    (``cluster_info`` excluded; a file phylib cannot parse is skipped)."""
    from phylib.io.model import load_metadata

    metadata: dict[str, dict[int, Any]] = {}
    for path in [*folder.glob("*.csv"), *folder.glob("*.tsv")]:
        if path.stem == "cluster_info":
            continue
        try:
            metadata.update(load_metadata(path))
        except Exception as error:  # phylib warns and goes on; so do we
            logger.warning("Error when reading %s: %s.", path.name, error)
    return metadata


def _from_model(model: Any, spike_clusters: np.ndarray | None) -> Recording:
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
    groups = {int(k): str(v) for k, v in metadata.get("group", {}).items()}
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
    )


def _read_only_model_class() -> type:
    from phylib.io.model import TemplateModel

    class ReadOnlyTemplateModel(TemplateModel):
        """phylib's model that can never change the sorter's files."""

        def _read_array(self, path, mmap_mode=None):
            return super()._read_array(path, "c" if mmap_mode == "r+" else mmap_mode)

        def _write_array(self, path, arr):
            logger.debug("not writing %s: phy_c4 opens folders read-only", path)

        def save_metadata(self, name, values):  # pragma: no cover - never called by phy_c4
            raise PermissionError("phy_c4 opened this folder read-only")

        def save_spike_clusters(self, spike_clusters):  # pragma: no cover
            raise PermissionError("phy_c4 opened this folder read-only")

    return ReadOnlyTemplateModel


def _checked_params(path: str | os.PathLike, force: bool) -> Path:
    """``params.py`` of a folder whose sample rate and spike arrays pass the checks."""
    params = params_path(path)
    folder = params.parent
    params_sample_rate(read_params(params), folder, force)
    check_spike_arrays(folder)
    for required in ("spike_times.npy", "spike_clusters.npy", "templates.npy"):
        if not (folder / required).is_file() and not (
            required == "spike_clusters.npy" and (folder / "spike_templates.npy").is_file()
        ):
            raise DatasetError(f"{folder}: {required} is missing")
    return params


def _load_model(path: str | os.PathLike, force: bool = False, checked: bool = False) -> Any:
    from phylib.io.model import get_template_params

    params = params_path(path) if checked else _checked_params(path, force)
    folder = params.parent
    try:
        return _read_only_model_class()(**get_template_params(params))
    except DatasetError:
        raise
    except Exception as error:  # phylib raises many kinds for malformed folders
        raise DatasetError(f"{folder}: phylib could not open it ({type(error).__name__}: "
                           f"{error})") from None
