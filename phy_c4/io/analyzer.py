"""A SpikeInterface ``SortingAnalyzer`` read as phy_c4 reads a Phy folder.

``AnalyzerModel`` gives the analyzer the shape of phylib's ``TemplateModel`` that
``io.dataset.open_recording`` reads, so the same pipeline classifies it: spike trains from its
sorting; waveforms by the same raw extraction from its recording when it has one, else from its
``templates`` extension; amplitudes for C4's quality filter from ``spike_amplitudes`` (absolute
values: SpikeInterface signs them, Kilosort's are positive); groups from the sorting's
``quality`` property (what ``read_phy`` fills from ``cluster_group.tsv``).

spikeinterface is optional (``pip install phy_c4[spikeinterface]``) and never imported here:
everything is duck-typed on the analyzer object.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from phy_c4.io.errors import DatasetError

RESULTS_DIR = "phy_c4"
"""Where an analyzer folder's published results go (its own layout stays SpikeInterface's)."""


def is_analyzer(obj: Any) -> bool:
    return all(hasattr(obj, name) for name in ("sorting", "get_extension", "unit_ids",
                                               "sampling_frequency"))


class _Traces:
    """``traces[start:stop]`` -> (samples, channels), raw values, as phylib's traces."""

    def __init__(self, recording: Any) -> None:
        self.recording = recording
        self.shape = (recording.get_num_samples(), recording.get_num_channels())

    def __getitem__(self, window: slice) -> np.ndarray:
        start, stop, _ = window.indices(self.shape[0])
        return self.recording.get_traces(start_frame=start, end_frame=stop)


class AnalyzerModel:
    """The parts of a ``TemplateModel`` phy_c4 uses, read from a ``SortingAnalyzer``."""

    def __init__(self, analyzer: Any) -> None:
        if analyzer.get_num_segments() != 1:
            raise DatasetError(f"analyzer has {analyzer.get_num_segments()} segments; phy_c4 "
                               "classifies one continuous segment")
        unit_ids = np.asarray(analyzer.unit_ids)
        if unit_ids.dtype.kind not in "iu":
            raise DatasetError(f"analyzer unit ids must be integers (Phy cluster ids), got "
                               f"{unit_ids.dtype}")
        spikes = analyzer.sorting.to_spike_vector()
        self.analyzer = analyzer
        self.unit_ids = unit_ids.astype(np.int64)
        self.spike_samples = spikes["sample_index"].astype(np.int64)
        self.spike_templates = spikes["unit_index"].astype(np.int64)
        self.spike_clusters = self.unit_ids[self.spike_templates]
        self.sample_rate = float(analyzer.sampling_frequency)
        self.channel_positions = np.asarray(analyzer.get_channel_locations(), dtype=np.float64)
        self.n_channels = int(analyzer.get_num_channels())
        self.dir_path = Path(analyzer.folder) if getattr(analyzer, "folder", None) else Path()
        self.dat_path: list[str] = []
        amplitudes = analyzer.get_extension("spike_amplitudes")
        self.amplitudes = None if amplitudes is None else np.abs(amplitudes.get_data())
        templates = analyzer.get_extension("templates")
        self.templates = None if templates is None else templates.get_data()
        self.traces = _Traces(analyzer.recording) if analyzer.has_recording() else None
        groups = {}
        if "quality" in analyzer.sorting.get_property_keys():
            groups = {int(u): str(g) for u, g in
                      zip(self.unit_ids, analyzer.sorting.get_property("quality"), strict=True)}
        self.metadata = {"group": groups}

    def get_template(self, index: int) -> SimpleNamespace | None:
        if self.templates is None:
            raise ValueError("the analyzer has neither a recording nor a 'templates' extension; "
                             "compute it: analyzer.compute('templates')")
        return SimpleNamespace(template=self.templates[index],
                               channel_ids=np.arange(self.n_channels))

    def get_cluster_channels(self, cluster_id: int) -> np.ndarray:
        index = int(np.flatnonzero(self.unit_ids == cluster_id)[0])
        return np.argsort(-np.ptp(self.get_template(index).template, axis=0))


def write_unit_properties(analyzer: Any, table: Any) -> None:
    """Results as sorting properties of the analyzer (saved in its folder when it has one)."""
    ids = table["cluster_id"].to_numpy()
    for column in table.columns:
        if not column.startswith("c4_"):
            continue
        values = table[column].to_numpy()
        missing = np.nan if values.dtype.kind == "f" else ""
        analyzer.set_sorting_property(column, values, ids=ids, missing_value=missing,
                                      save=getattr(analyzer, "folder", None) is not None)
