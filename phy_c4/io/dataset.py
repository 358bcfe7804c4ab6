"""A Phy/Kilosort output folder, opened through phylib's ``TemplateModel``.

Only what C4 needs is exposed, with the real sample rate and the current cluster assignment
(``spike_clusters`` may be overridden by the Phy plugin, whose merges/splits are not saved yet).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


class DatasetError(ValueError):
    """A dataset folder is missing files or has inconsistent ones."""


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
    amplitudes: np.ndarray | None
    channel_positions: np.ndarray
    groups: dict[int, str]
    model: Any = field(repr=False, default=None)  # phylib TemplateModel
    metadata: dict[str, dict[int, Any]] = field(default_factory=dict)
    _index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def cluster_ids(self) -> np.ndarray:
        from phy_c4.features.arrays import unique_ids

        return unique_ids(self.spike_clusters)

    @property
    def has_raw(self) -> bool:
        return self.model is not None and getattr(self.model, "traces", None) is not None

    @property
    def duration_s(self) -> float:
        return float(self.spike_times[-1]) / self.fs if self.spike_times.size else 0.0

    def spikes_of(self, cluster_id: int) -> np.ndarray:
        """Spike indices of a cluster, in time order (one grouping pass for all clusters)."""
        if self._index is None:
            from phy_c4.features.arrays import group_by_cluster

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
        digest = hashlib.sha256()
        for array in (self.spike_times, self.spike_clusters):
            # a zero-copy view: hashlib releases the GIL on large buffers, .tobytes() would not
            digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
        digest.update(repr(self.fs).encode())
        return digest.hexdigest()[:16]

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


def open_recording(path: str | os.PathLike | Any, spike_clusters: np.ndarray | None = None
                   ) -> Recording:
    """Open a folder (or ``params.py``, or an already-loaded ``TemplateModel``).

    Errors name the missing or malformed file instead of failing deep inside phylib.
    """
    model = path if hasattr(path, "spike_samples") else _load_model(path)
    folder = Path(getattr(model, "dir_path", Path(str(path))))
    fs = float(model.sample_rate)
    if not np.isfinite(fs) or fs <= 0:
        raise DatasetError(f"{folder}: params.py has an invalid sample_rate {model.sample_rate!r}")
    from phy_c4.features.arrays import is_sorted

    times = np.asarray(model.spike_samples)
    if times.dtype.kind == "f":
        times = np.round(times)
    times = times.astype(np.int64, copy=False)
    clusters = np.asarray(model.spike_clusters if spike_clusters is None else spike_clusters)
    if clusters.shape != times.shape:
        raise DatasetError(f"{folder}: {clusters.size} spike clusters for {times.size} spikes")
    if times.size and not is_sorted(times):
        raise DatasetError(f"{folder}: spike_times.npy is not sorted")
    metadata = {k: dict(v) for k, v in (getattr(model, "metadata", None) or {}).items()}
    groups = {int(k): str(v) for k, v in metadata.get("group", {}).items()}
    amplitudes = getattr(model, "amplitudes", None)
    return Recording(
        folder=folder,
        spike_times=times,
        spike_clusters=clusters.astype(np.int64, copy=False),
        fs=fs,
        amplitudes=None if amplitudes is None else np.asarray(amplitudes, dtype=np.float64),
        channel_positions=np.asarray(model.channel_positions, dtype=np.float64),
        groups=groups,
        model=model,
        metadata=metadata,
    )


def _load_model(path: str | os.PathLike) -> Any:
    from phylib.io.model import load_model

    params = params_path(path)
    folder = params.parent
    for required in ("spike_times.npy", "spike_clusters.npy", "templates.npy"):
        if not (folder / required).is_file() and not (
            required == "spike_clusters.npy" and (folder / "spike_templates.npy").is_file()
        ):
            raise DatasetError(f"{folder}: {required} is missing")
    try:
        return load_model(params)
    except DatasetError:
        raise
    except Exception as error:  # phylib raises many kinds for malformed folders
        raise DatasetError(f"{folder}: phylib could not open it ({type(error).__name__}: "
                           f"{error})") from None
