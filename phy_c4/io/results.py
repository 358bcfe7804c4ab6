"""Writing a classification where Phy and npyx users look for it.

- one ``cluster_<column>.tsv`` per column (``c4_type``, ``c4_confidence``, ``c4_ratio``,
  ``c4_votes``, ``c4_model``, ``c4_status``), so Phy shows them as columns;
- optionally npyx's four files (``cluster_predicted_cell_type.tsv``, ``..._pred_probability``,
  ``..._confidence_ratio``, ``..._model_votes``) with npyx's meaning (confident units only);
- ``cell_type_classification/``: per-class probabilities (``phy_c4_probabilities.tsv``), raw
  per-member probabilities, the features used and a run manifest, so a result can be audited.

Never touches ``cluster_group.tsv``, spike files or other tools' columns. Earlier ``c4_*``
results are only replaced with ``overwrite=True``, after a timestamped backup.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phy_c4 import __version__
from phy_c4.atomic import atomic_open
from phy_c4.io.tsv import column_path, write_cluster_column

NPYX_COLUMNS = ("predicted_cell_type", "pred_probability", "confidence_ratio", "model_votes")
AUDIT_DIR = "cell_type_classification"


class ExistingResultsError(FileExistsError):
    """Earlier predictions exist and overwriting them was not asked for."""


def result_columns(table: pd.DataFrame) -> list[str]:
    """The columns written as ``cluster_<column>.tsv`` (probabilities go to the audit folder:
    every top-level cluster TSV becomes a Phy column, and five more would clutter the view)."""
    return [c for c in table.columns if c.startswith("c4_") and not c.startswith("c4_p_")]


def column_values(table: pd.DataFrame) -> dict[str, dict[int, Any]]:
    """``{column: {cluster_id: value}}`` exactly as both faces store them: floats rounded to 4
    decimals, missing numbers as None (not written), so the CLI's files and Phy's Ctrl+S match."""
    out: dict[str, dict[int, Any]] = {}
    ids = table["cluster_id"].astype(int).tolist()
    for column in result_columns(table):
        values = {}
        for cluster_id, value in zip(ids, table[column], strict=True):
            if isinstance(value, float | np.floating):
                value = None if np.isnan(value) else round(float(value), 4)
            values[cluster_id] = value
        out[column] = values
    return out


def existing_result_files(folder: Path, npyx_columns: bool = False) -> list[Path]:
    files = sorted(folder.glob("cluster_c4_*.tsv"))
    if npyx_columns:
        files += [column_path(folder, c) for c in NPYX_COLUMNS if column_path(folder, c).exists()]
    return files


def write_results(folder: str | os.PathLike, table: pd.DataFrame, *, overwrite: bool = False,
                  npyx_columns: bool = False, raw: np.ndarray | None = None,
                  labels: tuple[str, ...] = (), features: dict[str, np.ndarray] | None = None,
                  parameters: dict[str, Any] | None = None) -> list[Path]:
    """Write every ``c4_*`` column (and the audit files); returns the paths written."""
    folder = Path(folder)
    existing = existing_result_files(folder, npyx_columns)
    if existing and not overwrite:
        names = ", ".join(p.name for p in existing[:4])
        raise ExistingResultsError(f"{folder} already has C4 results ({names}); pass overwrite "
                                   "(--overwrite) to replace them (a backup is kept)")
    if existing:
        backup = folder / ".phy_c4" / "backups" / time.strftime("%Y%m%d-%H%M%S")
        backup.mkdir(parents=True, exist_ok=True)
        for path in existing:
            shutil.copy2(path, backup / path.name)
        for path in folder.glob("cluster_c4_*.tsv"):  # columns of a bundle with other labels
            if path.name not in {f"cluster_{c}.tsv" for c in result_columns(table)}:
                path.unlink()
    written = [write_cluster_column(folder, column, values)
               for column, values in column_values(table).items()]
    if npyx_columns:
        confident = table["c4_type"].ne("") & table["c4_status"].eq("ok")
        sub = table[confident]
        sub_ids = sub["cluster_id"].astype(int).tolist()
        for column, source in zip(NPYX_COLUMNS, ("c4_type", "c4_confidence", "c4_ratio",
                                                 "c4_votes"), strict=True):
            written.append(write_cluster_column(folder, column, dict(zip(sub_ids, sub[source],
                                                                         strict=True))))
    written += _write_audit(folder / AUDIT_DIR, table, raw, labels, features, parameters)
    probability_columns = ["cluster_id"] + [c for c in table.columns if c.startswith("c4_p_")]
    path = folder / AUDIT_DIR / "phy_c4_probabilities.tsv"
    with atomic_open(path, "w", newline="") as out:
        table[probability_columns].to_csv(out, sep="\t", index=False, float_format="%.6g")
    written.append(path)
    return written


def _write_audit(folder: Path, table: pd.DataFrame, raw: np.ndarray | None,
                 labels: tuple[str, ...], features: dict[str, np.ndarray] | None,
                 parameters: dict[str, Any] | None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    if raw is not None:
        path = folder / "phy_c4_probabilities_units_classes_members.npy"
        _atomic_numpy(path, raw, np.save)
        written.append(path)
    if features:
        path = folder / "phy_c4_features.npz"
        _atomic_numpy(path, features, lambda p, f: np.savez_compressed(p, **f))
        written.append(path)
    manifest = {"phy_c4": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "labels": list(labels), "parameters": parameters or {},
                "clusters": table["cluster_id"].astype(int).tolist()}
    path = folder / "phy_c4_run.json"
    with atomic_open(path, "w") as out:
        out.write(json.dumps(manifest, indent=2, default=str))
    written.append(path)
    return written


def _atomic_numpy(path: Path, data: Any, save) -> None:
    with atomic_open(path, "wb") as handle:
        save(handle, data)
