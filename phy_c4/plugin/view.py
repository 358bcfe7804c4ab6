"""The C4 view: why the selected cluster got its type (``phy_c4.explain``): its ACG and
waveform beside the nearest training units of that type, the probabilities with each member's
vote, the 3D-ACG, the Purkinje partner's cross-correlogram, and the status.

Figures are rendered off the GUI thread (matplotlib's Agg backend, one figure per request, in a
daemon thread) and shown as an image, so selecting clusters never waits for matplotlib; when
requests overlap, only the latest one is shown.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QObject, Qt, QTimer, Signal
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from phy_c4.status import Status


class _Rendered(QObject):
    done = Signal(int, int, int, bytes)
    png = Signal(int, bytes)
    failed = Signal(int, str)


def _render(request: int, size: tuple[int, int], draw: Any, *, signal: Any) -> None:
    """Draw with Agg and hand over raw RGBA (PNG encoding would hold the GIL longer)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = max(size[0], 300), max(size[1], 300)
    figure = Figure(figsize=(width / 80, height / 80), dpi=80)
    canvas = FigureCanvasAgg(figure)
    draw(figure)
    canvas.draw()
    w, h = canvas.get_width_height()
    signal.emit(request, w, h, bytes(canvas.buffer_rgba()))


class C4View(QWidget):
    """A dockable view; ``show_cluster`` returns at once, the image follows when rendered."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel(self)
        self.label.setAlignment(Qt.AlignCenter)
        self.label.setWordWrap(True)
        self.label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Ignored)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        self._rendered = _Rendered()
        self._rendered.done.connect(self._on_rendered)
        self._rendered.png.connect(self._on_png)
        self._rendered.failed.connect(self._on_failed)
        self._request = 0
        self.cluster_id: int | None = None
        self.n_rendered = 0
        self.last_explanation: Any = None
        self._last: tuple | None = None
        self._resize_timer = QTimer(self)
        self._resize_timer.setSingleShot(True)
        self._resize_timer.timeout.connect(self._rerender)
        self.show_message("Select a cluster, then C4 › Classify selected (Ctrl+Shift+C).")

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._resize_timer.start(150)  # re-render at the new size once resizing settles

    def _rerender(self) -> None:
        if self._last is not None:
            cluster_id, row, features, threshold, explain, render = self._last
            self.show_cluster(cluster_id, row, features, threshold=threshold, explain=explain,
                              render=render)

    def show_message(self, text: str) -> None:
        self._last = None
        self._request += 1  # drop any figure still being rendered
        self.label.setPixmap(QPixmap())
        self.label.setText(text)

    def show_text(self, cluster_id: int, text: str) -> None:
        """Say something of a cluster instead of a figure (no result, or a saved one)."""
        self.cluster_id = cluster_id
        self.last_explanation = None
        self.show_message(text)

    def _on_rendered(self, request: int, width: int, height: int, rgba: bytes) -> None:
        if request != self._request:
            return  # a newer selection is on its way
        image = QImage(rgba, width, height, 4 * width, QImage.Format_RGBA8888).copy()
        self.label.setPixmap(QPixmap.fromImage(image))
        self.n_rendered += 1

    def _on_failed(self, request: int, text: str) -> None:
        if request == self._request:
            self.label.setText(text)

    def _on_png(self, request: int, data: bytes) -> None:
        if request != self._request:
            return
        image = QImage.fromData(data, "PNG")
        self.label.setPixmap(QPixmap.fromImage(image))
        self.n_rendered += 1

    def show_cluster(self, cluster_id: int, row: dict[str, Any] | None, features: Any,
                     *, threshold: float, explain: Callable[[], Any] | None = None,
                     render: Callable[[tuple[int, int], str], tuple[bytes, Any]] | None = None
                     ) -> None:
        """Render a classified cluster in the background (or say it is not classified yet);
        ``explain()``, called in the render thread, gives the "why" (``phy_c4.explain``);
        ``render(size, title)`` instead returns a ready PNG and the explanation (the worker
        process draws: matplotlib never loads in Phy's process)."""
        self.cluster_id = cluster_id
        if row is None:
            self.show_text(cluster_id, f"Cluster {cluster_id} has no C4 result.\n"
                                       "C4 › Classify selected (Ctrl+Shift+C).")
            return
        label = row.get("c4_type") or "not classified"
        extra = f"— {label}  ·  {row.get('c4_model', '')}"
        if row.get("c4_status") not in (None, Status.OK.value):
            extra += f"\n{row['c4_status']}"
        self._last = (cluster_id, row, features, threshold, explain, render)
        if render is not None:
            self._request += 1
            self.label.setText("")
            request, size = self._request, (self.width(), self.height())

            def fetch() -> None:
                try:
                    data, explanation = render(size, extra)
                except Exception as error:  # shown, never raised in a daemon thread
                    self._rendered.failed.emit(request, f"C4 view: {error}")
                    return
                if explanation is not None:
                    self.last_explanation = explanation
                if data:
                    self._rendered.png.emit(request, data)

            threading.Thread(target=fetch, daemon=True).start()
            return

        def draw(figure: Any) -> None:  # runs in the render thread, matplotlib included
            from phy_c4.report import draw_unit, draw_why, unit_probabilities

            explanation = explain() if explain is not None else None
            if explanation is not None:
                self.last_explanation = explanation
                draw_why(figure, explanation, threshold, title_extra=extra)
                return
            draw_unit(figure, cluster_id, getattr(features, "inputs", None),
                      probabilities=unit_probabilities(row), threshold=threshold,
                      title_extra=extra, tight=False,
                      reason=str(row.get("c4_status") or ""))

        self._request += 1
        self.label.setText("")
        size = (self.width(), self.height())
        threading.Thread(target=_render, args=(self._request, size, draw),
                         kwargs={"signal": self._rendered.done}, daemon=True).start()
