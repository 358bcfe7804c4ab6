"""Where training and evaluation tables come from: one reader for every kind of source."""

from __future__ import annotations

import os
from pathlib import Path

from phy_c4.training.phy_tables import table_from_phy
from phy_c4.training.tables import FeatureTable, TableError, read_c4_derived, read_npz


def read_table(path: str | os.PathLike, label_column: str = "cell_type",
               fs: float | None = None, *, peak_index: int | None = None) -> FeatureTable:
    """A ``c4_derived`` folder, a ``.npz`` table, or a Phy folder with a label column
    (``fs`` and ``peak_index``: see ``read_c4_derived``)."""
    path = Path(path)
    if path.suffix == ".npz":
        return read_npz(path)
    if (path / "params.py").is_file():
        return table_from_phy(path, label_column)
    if not path.exists():
        raise TableError(f"no feature table at {path}")
    return read_c4_derived(path, fs, peak_index)
