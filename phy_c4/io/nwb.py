"""Classification results into an NWB file's units table (pynwb 4), with their provenance.

A new file gets one unit per cluster (spike times in seconds) from the Phy folder; an existing
file whose units table has the clusters' ids gets the columns added. Columns: ``c4_type``,
``c4_confidence``, ``c4_ratio``, ``c4_votes``, ``c4_status``, ``c4_model``, ``c4_pair``,
``c4_novelty``, ``c4_p_<label>`` (automated), and ``cell_type`` / ``cell_type_source``
(the curator's, kept apart, as the Allen and MICrONS tables do). The classification system,
the bundle (name, version, sha256) and the run's feature spec and options are in the
descriptions, from the run manifest the CLI and the plugin write. pynwb is optional
(``pip install phy_c4[nwb]``).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phy_c4.io.results import AUDIT_DIR, PROBABILITIES_FILE, RUN_MANIFEST
from phy_c4.io.tsv import column_path, read_cluster_column

TEXT_COLUMNS = ("c4_type", "c4_votes", "c4_status", "c4_model", "c4_pair")
NUMBER_COLUMNS = ("c4_confidence", "c4_ratio", "c4_novelty")
SYSTEM = ("C4 cerebellar cell types (Beau et al. 2025): GoC, MLI, MFB, PkC_ss, PkC_cs; "
          "automated by phy_c4")


def read_published(results: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The published columns (one row per classified cluster) and the run manifest."""
    manifest_path = results / AUDIT_DIR / RUN_MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{results}: no phy_c4 results ({AUDIT_DIR}/{RUN_MANIFEST}); "
                                "run phy-c4 classify first")
    manifest = json.loads(manifest_path.read_text())
    table = pd.read_csv(results / AUDIT_DIR / PROBABILITIES_FILE, sep="\t")
    for column in (*TEXT_COLUMNS, *NUMBER_COLUMNS):
        values = read_cluster_column(column_path(results, column)) \
            if column_path(results, column).is_file() else {}
        table[column] = [values.get(int(c), "") for c in table["cluster_id"]]
    for column in NUMBER_COLUMNS:
        table[column] = pd.to_numeric(table[column], errors="coerce")
    for column, source in (("cell_type", "cell_type"), ("cell_type_source", "cell_type_source")):
        values = read_cluster_column(column_path(results, source)) \
            if column_path(results, source).is_file() else {}
        table[column] = [values.get(int(c), "") for c in table["cluster_id"]]
    table.loc[(table["cell_type"] != "") & (table["cell_type_source"] == ""),
              "cell_type_source"] = "manual"
    return table, manifest


def provenance_text(manifest: dict[str, Any]) -> str:
    parameters = manifest.get("parameters", {})
    return json.dumps({"system": SYSTEM, "phy_c4": manifest.get("phy_c4"),
                       "created": manifest.get("created"), "bundle": parameters.get("bundle"),
                       "bundle_sha256": parameters.get("bundle_sha256"),
                       "feature_spec": parameters.get("feature_spec"),
                       "options": {k: parameters.get(k) for k in
                                   ("threshold", "quality", "waveform_source")},
                       "inputs": parameters.get("inputs")}, sort_keys=True)


def _descriptions(table: pd.DataFrame, manifest: dict[str, Any]) -> dict[str, str]:
    bundle = manifest.get("parameters", {}).get("bundle", "?")
    out = {"c4_type": f"Cell type predicted by {bundle} ({SYSTEM}); 'unclassified' below the "
                      "confidence-ratio threshold, '' when not classifiable",
           "c4_confidence": "Ensemble-mean probability of the predicted type",
           "c4_ratio": "Confidence ratio: top / second class probability",
           "c4_votes": "Ensemble members voting for the predicted type",
           "c4_novelty": "How unlike cerebellar units the firing and spike shape are "
                         "(0-1; above the run's novelty threshold: flagged in c4_status); "
                         "NaN when the unit was not classified",
           "c4_status": "Why a unit has its type (or none)",
           "c4_model": "Weight bundle name@version",
           "c4_pair": "Cluster id of the other unit of the same Purkinje cell (complex-spike "
                      "pause of the simple spikes confirmed), or ''",
           "cell_type": "Curator's cell type (manual), kept apart from the automated c4_type",
           "cell_type_source": "Origin of cell_type: accepted, corrected, optotagged, pair, "
                               "manual"}
    for column in table.columns:
        if column.startswith("c4_p_"):
            out[column] = f"Probability of {column[5:]} (ensemble mean, calibrated)"
    return out


SUBJECT_FIELDS = {"subject_id": "--subject-id", "species": "--species", "sex": "--sex",
                  "age": "--age"}
"""Subject fields whose absence nwbinspector reports as CRITICAL (DANDI refuses the file)."""


def subject_warning(subject: dict[str, str] | None) -> str | None:
    """One line naming the subject fields a new file lacks, and the options that set them."""
    missing = [f for f in SUBJECT_FIELDS if not (subject or {}).get(f)]
    if not missing:
        return None
    options = " ".join(f"{SUBJECT_FIELDS[f]} ..." for f in missing)
    return (f"the NWB file has no subject {', '.join(f.replace('_', ' ') for f in missing)} "
            f"(nwbinspector: CRITICAL, DANDI refuses it); set them with {options}")


def _drop_columns(nwb_path: Path, names: list[str]) -> None:
    """Remove columns from the units table in place (HDF5), so they can be written again:
    pynwb cannot replace a column of a file it appends to."""
    import h5py

    with h5py.File(nwb_path, "a") as handle:
        units = handle["units"]
        for name in names:
            for dataset in (name, f"{name}_index"):
                if dataset in units:
                    del units[dataset]
        colnames = [c.decode() if isinstance(c, bytes) else str(c)
                    for c in units.attrs["colnames"]]
        units.attrs["colnames"] = np.array([c for c in colnames if c not in names],
                                           dtype=h5py.string_dtype())


def export_nwb(results: str | os.PathLike, nwb_path: str | os.PathLike,
               recording: Any = None, *, subject: dict[str, str] | None = None,
               overwrite: bool = False) -> Path:
    """Write or append the published results of ``results`` into ``nwb_path``; a new file
    gets ``subject`` (subject_id, species, sex, age as NWB spells them). Columns the file
    already has are replaced only with ``overwrite``."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject
    from pynwb.misc import Units

    results, nwb_path = Path(results), Path(nwb_path)
    table, manifest = read_published(results)
    descriptions = _descriptions(table, manifest)
    columns = [c for c in descriptions if c in table.columns]
    if nwb_path.exists():
        with NWBHDF5IO(str(nwb_path), "r") as io:
            nwbfile = io.read()
            if nwbfile.units is None:
                raise ValueError(f"{nwb_path} has no units table to add the columns to")
            ids = list(nwbfile.units.id[:])
            present = [c for c in columns if c in nwbfile.units.colnames]
        missing = sorted(set(table["cluster_id"]) - set(ids))
        if missing:
            raise ValueError(f"{nwb_path}: its units have no id {missing[:5]} (units must "
                             "match the clusters by id)")
        if present and not overwrite:
            raise ValueError(f"{nwb_path} already has the columns {', '.join(present[:4])}"
                             f"{' ...' if len(present) > 4 else ''}: pass --overwrite to "
                             "replace them")
        if present:
            _drop_columns(nwb_path, present)
        with NWBHDF5IO(str(nwb_path), "a") as io:
            nwbfile = io.read()
            rows = table.set_index("cluster_id").reindex(ids)
            for column in columns:
                data = rows[column].fillna("" if column in TEXT_COLUMNS or column.startswith(
                    "cell_type") else np.nan).tolist()
                text = descriptions[column]
                if column == "c4_type":
                    text += f". Provenance: {provenance_text(manifest)}"
                nwbfile.units.add_column(column, text, data=data)
            io.write(nwbfile)
        return nwb_path
    if recording is None:
        raise ValueError("a new NWB file needs the recording's spike times")
    nwbfile = NWBFile(session_description=f"Units classified by phy_c4 ({SYSTEM})",
                      identifier=f"phy_c4-{manifest.get('parameters', {}).get('dataset_key')}",
                      session_start_time=datetime.now(timezone.utc))  # noqa: UP017 - 3.10
    if subject:
        nwbfile.subject = Subject(**subject)
    nwbfile.units = Units(name="units", resolution=1.0 / recording.fs,
                          description=f"Spike-sorted units with C4 cell types. Provenance: "
                                      f"{provenance_text(manifest)}")
    for column in columns:
        nwbfile.add_unit_column(column, descriptions[column])
    rows = table.set_index("cluster_id")
    for cluster_id in rows.index:
        spikes = recording.spike_times[recording.spikes_of(int(cluster_id))] / recording.fs
        values = {c: rows.loc[cluster_id, c] for c in columns}
        values = {c: ("" if isinstance(v, float) and np.isnan(v) and (c in TEXT_COLUMNS or
                                                                      c.startswith("cell_type"))
                      else v) for c, v in values.items()}
        nwbfile.add_unit(spike_times=spikes, id=int(cluster_id), **values)
    with NWBHDF5IO(str(nwb_path), "w") as io:
        io.write(nwbfile)
    return nwb_path
