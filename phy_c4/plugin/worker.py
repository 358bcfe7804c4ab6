"""Classification off the GUI thread: a QThread running the shared pipeline.

Inputs are gathered on the GUI thread (a copy of the current spike clusters), the pipeline runs
here, and results come back through queued signals; nothing in this thread touches Qt widgets
or the supervisor. ``cancel()`` stops between units.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from qtpy.QtCore import QThread, Signal

from phy_c4.pipeline import CancelledError, PipelineOptions, classify

logger = logging.getLogger("phy.c4")


class ClassifyWorker(QThread):
    progress = Signal(int, int, str)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, recording: Any, cluster_ids: list[int], bundle: Any, threshold: float,
                 layer: dict[int, str] | None, options: PipelineOptions) -> None:
        super().__init__()
        self.recording = recording
        self.cluster_ids = cluster_ids
        self.bundle = bundle
        self.threshold = threshold
        self.layer = layer
        self.options = options
        self._cancel = False

    def cancel(self) -> None:
        self._cancel = True

    def run(self) -> None:  # runs in the worker thread
        try:
            result = classify(self.recording, self.cluster_ids, bundle=self.bundle,
                              threshold=self.threshold, layer=self.layer,
                              progress=lambda d, t, m: self.progress.emit(d, t, m),
                              cancel=lambda: self._cancel, options=self.options)
        except CancelledError:
            self.cancelled.emit()
        except Exception as error:  # reported in the status bar, never a crash of the GUI
            logger.debug("C4 classification failed:\n%s", traceback.format_exc())
            self.failed.emit(f"{type(error).__name__}: {error}")
        else:
            self.succeeded.emit(result)
