"""Feature tables from Phy folders: units with a human label column are labelled, the other good
units are unlabelled pretraining data. Features are computed by the same pipeline code and the
same model family that classify (quality filter, waveform source, table conventions), so training
and prediction see the same thing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from phy_c4.config import TableFeatureSpec
from phy_c4.families import UnitData, family_for
from phy_c4.io.dataset import open_recording
from phy_c4.pipeline import PipelineOptions, prepare_units, resolve_periods
from phy_c4.result import OK
from phy_c4.training.tables import FeatureTable, TableError

DEFAULT_LABEL_COLUMN = "cell_type"


def table_from_phy(path: str | os.PathLike, label_column: str = DEFAULT_LABEL_COLUMN,
                   options: PipelineOptions | None = None,
                   *, spec: TableFeatureSpec | None = None) -> FeatureTable:
    spec = spec or TableFeatureSpec()
    recording = open_recording(path)
    labels = {int(k): str(v) for k, v in recording.metadata.get(label_column, {}).items() if v}
    if not labels:
        raise TableError(f"{path}: no cluster_{label_column}.tsv labels (use --label-column)")
    good = [int(c) for c in recording.cluster_ids if recording.groups.get(int(c)) == "good"]
    ids = sorted(set(labels) | set(good))
    options = resolve_periods(options or PipelineOptions(), family_for("c4_tabular").architecture)
    prepared, kept = prepare_units(recording, ids, options, spec=spec)
    units = [UnitData(cluster_id=c, spike_times=kept[c], fs=recording.fs,
                      waveform=prepared[c].raw_waveform, waveform_fs=prepared[c].raw_fs)
             for c in ids if prepared[c].status == OK]
    features, _ = family_for("c4_tabular").unit_features(units, spec, None)
    rows = [u.cluster_id for u in units if u.cluster_id in features]
    if not rows:
        raise TableError(f"{path}: no unit passed the feature checks")
    waves, acgs, isis = (np.stack([features[c][name] for c in rows])
                         for name in ("waveform", "acg_1d", "isi"))
    names = np.array([labels.get(c, "") for c in rows], dtype=object)
    return FeatureTable(name=Path(path).name, waveform=waves, acg=acgs, isi=isis, labels=names)
