"""``cluster_<column>.tsv`` files, as Phy reads and writes them: tab-separated, cluster_id first.

Writes are atomic (temporary file in the same folder, then rename), so an interrupted run never
leaves a half-written column that Phy would load.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from phy_c4.atomic import atomic_open


def column_path(folder: str | os.PathLike, column: str) -> Path:
    return Path(folder) / f"cluster_{column}.tsv"


def _format(value: Any) -> str:
    """As phylib's writer (``str``), so files written here and by Phy's Save are identical."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return str(value)


def write_cluster_column(folder: str | os.PathLike, column: str, values: Mapping[int, Any]) -> Path:
    """Write one column (``{cluster_id: value}``) atomically; returns the file's path.

    None and NaN values are left out, as Phy does when it saves."""
    if not column or any(c in column for c in "/\\\t\n"):
        raise ValueError(f"invalid column name {column!r}")
    path = column_path(folder, column)
    with atomic_open(path, "w", newline="") as out:
        out.write(f"cluster_id\t{column}\n")
        for cluster_id in sorted(values):
            value = values[cluster_id]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            out.write(f"{int(cluster_id)}\t{_format(value)}\n")
    return path


def read_folder_column(folder: str | os.PathLike, column: str) -> dict[int, str]:
    """A Phy folder's ``cluster_<column>.tsv``, or nothing when the folder has none."""
    path = column_path(folder, column)
    return read_cluster_column(path, column) if path.is_file() else {}


def read_cluster_column(path: str | os.PathLike, column: str | None = None) -> dict[int, str]:
    """Read a ``cluster_id``-keyed TSV (or CSV) column as strings; clear errors when malformed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    text = path.read_text()
    delimiter = "\t" if "\t" in text.splitlines()[0] else ","
    rows = list(csv.reader(text.splitlines(), delimiter=delimiter))
    if not rows or len(rows[0]) < 2:
        raise ValueError(f"{path}: expected a header 'cluster_id<TAB>column'")
    header = [h.strip() for h in rows[0]]
    key = "cluster_id" if "cluster_id" in header else ("id" if "id" in header else None)
    if key is None:
        raise ValueError(f"{path}: no cluster_id column in header {header}")
    value_column = column or next(h for h in header if h != key)
    if value_column not in header:
        raise ValueError(f"{path}: no column {value_column!r} (have {header})")
    ki, vi = header.index(key), header.index(value_column)
    out: dict[int, str] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        try:
            out[int(row[ki])] = row[vi].strip() if vi < len(row) else ""
        except ValueError:
            raise ValueError(f"{path}, line {line_no}: cluster id {row[ki]!r} is not an integer"
                             ) from None
    return out
