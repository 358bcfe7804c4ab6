"""What the surrogate-based benchmarks share: the ``surrogate_phy`` tool from ``../shared`` and
the Lisberger rows that have all three modalities (the ones spike trains can be built from)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from phy_c4.training.tables import FeatureTable, read_c4_derived


def surrogate_tool(shared: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("surrogate_phy",
                                                  shared / "tools" / "surrogate_phy.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def lisberger_with_trains(shared: Path) -> FeatureTable:
    lisberger = read_c4_derived(shared / "data" / "c4_derived" / "lisberger")
    return lisberger.subset(lisberger.present.all(axis=1))
