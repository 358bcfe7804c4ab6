"""Feature tables from Phy folders: units with a human label column are labelled, the other good
units are unlabelled pretraining data. Features are computed by the same pipeline code that
classifies (quality filter, waveform source), so training and prediction see the same thing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from phy_c4.config import FeatureSpec
from phy_c4.features.tabular import acg_1d, isi_histogram, table_waveform
from phy_c4.io.dataset import open_recording
from phy_c4.pipeline import OK, PipelineOptions, prepare_units
from phy_c4.training.tables import FeatureTable, TableError

DEFAULT_LABEL_COLUMN = "cell_type"


def table_from_phy(path: str | os.PathLike, label_column: str = DEFAULT_LABEL_COLUMN,
                   options: PipelineOptions | None = None) -> FeatureTable:
    recording = open_recording(path)
    labels = {int(k): str(v) for k, v in recording.metadata.get(label_column, {}).items() if v}
    if not labels:
        raise TableError(f"{path}: no cluster_{label_column}.tsv labels (use --label-column)")
    good = [int(c) for c in recording.cluster_ids if recording.groups.get(int(c)) == "good"]
    ids = sorted(set(labels) | set(good))
    features, kept = prepare_units(recording, ids, options or PipelineOptions(), FeatureSpec())
    rows = [c for c in ids if features[c].status == OK]
    if not rows:
        raise TableError(f"{path}: no unit passed the feature checks")
    waves = np.stack([table_waveform(features[c].raw_waveform, features[c].raw_fs) for c in rows])
    acgs = np.stack([acg_1d(kept[c], recording.fs) for c in rows])
    isis = np.stack([isi_histogram(kept[c], recording.fs) for c in rows])
    names = np.array([labels.get(c, "") for c in rows], dtype=object)
    return FeatureTable(Path(path).name, waves, acgs, isis, names)

