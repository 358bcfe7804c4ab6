"""Writing a classification where Phy and npyx users look for it.

- one ``cluster_<column>.tsv`` per column (``c4_type``, ``c4_confidence``, ``c4_ratio``,
  ``c4_votes``, ``c4_model``, ``c4_status``), so Phy shows them as columns;
- optionally npyx's four files (``cluster_predicted_cell_type.tsv``, ``..._pred_probability``,
  ``..._confidence_ratio``, ``..._model_votes``) with npyx's meaning (confident units only);
- ``cell_type_classification/``: per-class probabilities (``phy_c4_probabilities.tsv``), raw
  per-member probabilities, the features used and a run manifest, so a result can be audited.

``phy_c4.io.publish`` writes them all as one transaction; this module formats them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phy_c4._version import __version__
from phy_c4.atomic import atomic_open
from phy_c4.status import is_confident

NPYX_COLUMNS = ("predicted_cell_type", "pred_probability", "confidence_ratio", "model_votes")
AUDIT_DIR = "cell_type_classification"
PROBABILITIES_FILE = "phy_c4_probabilities.tsv"
RUN_MANIFEST = "phy_c4_run.json"


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


def npyx_values(table: pd.DataFrame) -> dict[str, dict[int, Any]]:
    """npyx's four columns, with npyx's meaning: confident units only."""
    confident = table[table["c4_type"].map(is_confident)]
    sources = ("c4_type", "c4_confidence", "c4_ratio", "c4_votes")
    formatted = column_values(confident[["cluster_id", *sources]])
    return {npyx: formatted[source] for npyx, source in zip(NPYX_COLUMNS, sources, strict=True)}


def write_audit(folder: Path, table: pd.DataFrame, probabilities: pd.DataFrame,
                *, raw: np.ndarray | None, labels: tuple[str, ...],
                features: dict[str, np.ndarray] | None,
                parameters: dict[str, Any] | None) -> list[Path]:
    """The audit folder of a run: per-class probabilities of every classified cluster,
    per-member probabilities and every model input of this run, and the run manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    path = folder / PROBABILITIES_FILE
    with atomic_open(path, "w", newline="") as out:
        probabilities.to_csv(out, sep="\t", index=False, float_format="%.6g")
    written.append(path)
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
    path = folder / RUN_MANIFEST
    with atomic_open(path, "w") as out:
        out.write(json.dumps(manifest, indent=2, default=str))
    written.append(path)
    return written


def _atomic_numpy(path: Path, data: Any, save) -> None:
    with atomic_open(path, "wb") as handle:
        save(handle, data)
