"""The C4 view: the selected cluster's 3D-ACG (or 1-D ACG), waveform and class probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtWidgets import QVBoxLayout, QWidget

from phy_c4.report import draw_unit


class C4View(QWidget):
    """A dockable matplotlib view; ``show_cluster`` is cheap (drawn on the next idle cycle)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure = Figure(figsize=(9, 3))
        self.canvas = FigureCanvasQTAgg(self.figure)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self.cluster_id: int | None = None
        self.show_message("Select a cluster, then C4 › Classify selected (Ctrl+Shift+C).")

    def show_message(self, text: str) -> None:
        self.figure.clear()
        self.figure.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
        self.canvas.draw_idle()

    def show_cluster(self, cluster_id: int, row: dict[str, Any] | None, features: Any,
                     threshold: float) -> None:
        """Draw a classified cluster (or say it has not been classified yet)."""
        self.cluster_id = cluster_id
        if row is None:
            self.show_message(f"Cluster {cluster_id} has not been classified in this session.\n"
                              "C4 › Classify selected (Ctrl+Shift+C).")
            return
        probabilities = {k[len("c4_p_"):]: float(v) for k, v in row.items()
                         if k.startswith("c4_p_") and v is not None and np.isfinite(v)}
        label = row.get("c4_type") or "not classified"
        extra = f"— {label}  ·  {row.get('c4_model', '')}"
        if row.get("c4_status") not in (None, "ok"):
            extra += f"\n{row['c4_status']}"
        acg = getattr(features, "acg_log", None)
        draw_unit(self.figure, cluster_id, acg, getattr(features, "waveform", None),
                  probabilities, threshold, extra, acg_1d=getattr(features, "acg_1d", None))
        self.canvas.draw_idle()
