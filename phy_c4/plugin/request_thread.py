"""Classification off the GUI thread: a QThread driving the shared pipeline.

By default the pipeline runs in the worker process (``phy_c4.worker``, through
``service.WorkerProcess``): this thread writes the GUI's cluster assignment to a file, sends
the request, relays progress and loads the result; Phy's process never loads torch or numba.
Without a service (``C4Plugin.worker_process = False``) the pipeline runs in this thread, as
below.

The current spike clusters are snapshotted here (copying 40 M ids on the GUI thread would block
it ~0.3 s), the pipeline runs here, and results come back through queued signals; nothing in
this thread touches Qt widgets or the supervisor. A merge or split made while the copy runs can
tear it for the clusters it touches; the plugin drops the results of every cluster touched while
a Classify runs. The recording itself (spike times, amplitudes) is opened once per session and
kept in ``session``; each Classify only swaps the cluster assignment.
``cancel()`` stops between units. The pipeline's modules (torch, numba, pandas) are imported in
these threads, so loading the plugin costs Phy's start-up nothing.
"""

from __future__ import annotations

import logging
import os
import traceback
from dataclasses import replace
from typing import Any

import numpy as np
from qtpy.QtCore import QThread, Signal

logger = logging.getLogger("phy.c4")


class ClassifyWorker(QThread):
    progress = Signal(int, int, str)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, model: Any, spike_clusters: Any, cluster_ids: list[int], *, bundle: Any,
                 threshold: float, layer: dict[int, str] | None, options: Any = None,
                 session: dict[str, Any] | None = None,
                 region: tuple[Any, dict[int, str]] = (None, {}),
                 rejected: dict[int, str] | None = None, service: Any = None) -> None:
        super().__init__()
        self.service = service  # a WorkerProcess: the pipeline runs there (None: here)
        self.result_id: int | None = None  # the worker process's name for the result
        self.rejected = rejected or {}  # the curator's rejected types, as the GUI shows them
        self.region = region  # (depth range or None, the GUI's cluster regions)
        self.model = model
        self.session = session if session is not None else {}
        self.spike_clusters = spike_clusters
        self.cluster_ids = cluster_ids
        self.bundle = bundle
        self.threshold = threshold
        self.layer = layer
        self.options = options  # PipelineOptions, or None: the CLI's defaults
        self._cancel = False
        self.recording: Any = None

    def cancel(self) -> None:
        self._cancel = True
        cancel_path = getattr(self, "_cancel_path", None)
        if cancel_path:
            open(cancel_path, "w").close()  # the worker process checks it between units

    def run(self) -> None:  # runs in the worker thread
        if self.service is not None:
            self._run_in_worker_process()
            return
        from phy_c4.arrays import copy_nogil
        from phy_c4.io.dataset import open_recording
        from phy_c4.pipeline import CancelledError, PipelineOptions, classify
        from phy_c4.region import RegionGate
        from phy_c4.weights import get_bundle

        depth, regions = self.region
        options = replace(self.options or PipelineOptions(), threshold=self.threshold,
                          region=RegionGate(depth_um=depth, cluster_regions=regions))
        try:
            if isinstance(self.bundle, str | os.PathLike):
                self.bundle = get_bundle(self.bundle)  # load and verify off the GUI thread
            snapshot = copy_nogil(np.ascontiguousarray(self.spike_clusters))
            if "recording" not in self.session:
                self.session["recording"] = open_recording(self.model, snapshot)
            recording = self.session["recording"].with_assignment(snapshot)
            self.recording = recording  # what the C4 view explains the results from
            result = classify(recording, self.cluster_ids, bundle=self.bundle, layer=self.layer,
                              progress=lambda d, t, m: self.progress.emit(d, t, m),
                              cancel=lambda: self._cancel, options=options,
                              rejected=self.rejected)
        except CancelledError:
            self.cancelled.emit()
        except Exception as error:  # reported in the status bar, never a crash of the GUI
            logger.debug("C4 classification failed:\n%s", traceback.format_exc())
            self.failed.emit(f"{type(error).__name__}: {error}")
        else:
            self.succeeded.emit(result)


    def _run_in_worker_process(self) -> None:
        """Send the request to the worker process; its answers become this thread's signals."""
        import dataclasses

        import numpy as np

        from phy_c4.plugin.service import WorkerError
        from phy_c4.result import load_result

        request_id = self.service.new_id()
        clusters_path = self.service.path(f"spike_clusters_{request_id}.npy")
        out = self.service.path(f"result_{request_id}.npz")
        self._cancel_path = self.service.path(f"cancel_{request_id}")
        if self._cancel:
            self.cancelled.emit()
            return
        depth, regions = self.region
        options = dataclasses.asdict(self.options) if self.options is not None else {}
        options.update(threshold=self.threshold,
                       region={"depth_um": depth, "cluster_regions": regions})
        try:
            np.save(clusters_path, self.spike_clusters)  # written without the interpreter lock
            answer = self.service.request(
                {"op": "classify", "id": request_id, "folder": str(self.model.dir_path),
                 "spike_clusters": clusters_path, "clusters": self.cluster_ids,
                 "bundle": str(self.bundle), "options": options, "layer": self.layer,
                 "rejected": self.rejected, "out": out, "cancel": self._cancel_path},
                on_progress=lambda a: self.progress.emit(a["done"], a["total"], a["message"]))
            if answer["op"] == "result":
                result = load_result(answer["path"])
                self.result_id = request_id
                self.succeeded.emit(result)
            elif answer["op"] == "cancelled":
                self.cancelled.emit()
            else:
                self.failed.emit(answer.get("message", str(answer)))
        except (WorkerError, OSError, ValueError) as error:
            logger.debug("C4 worker process failed:\n%s", traceback.format_exc())
            self.failed.emit(str(error))
        finally:
            for path in (clusters_path, out, self._cancel_path):
                if os.path.exists(path):
                    os.remove(path)


class WarmUp(QThread):
    """Load the bundle and the compiled kernels once, in the background, when the GUI opens, so
    the first Classify does not pay for them (they hold the interpreter lock while loading)."""

    loaded = Signal(object)

    def __init__(self, bundle: Any, service: Any = None) -> None:
        super().__init__()
        self.bundle = bundle
        self.service = service

    def run(self) -> None:
        try:
            if self.service is not None:  # start the worker process and warm it up there
                answer = self.service.request({"op": "warm_up", "bundle": str(self.bundle)})
                self.loaded.emit(answer.get("bundle", ""))
                return
            from phy_c4.pipeline import warm_up

            self.loaded.emit(warm_up(self.bundle))
        except Exception:  # the real run will report the problem
            logger.debug("C4 warm-up failed:\n%s", traceback.format_exc())


class Publisher(QThread):
    """Publish results into a Phy folder off the GUI thread (``io.publish``: staged, then
    committed under the folder's lock), oldest first; ``done`` carries the last one's paths."""

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, folder: Any, results: list[Any]) -> None:
        super().__init__()
        self.folder = folder
        self.results = results

    def run(self) -> None:
        from phy_c4.io.publish import publish
        from phy_c4.run import publication

        try:
            paths: list[Any] = []
            for result in self.results:
                paths = publish(self.folder, publication(result), overwrite=True, wait_s=5.0)
        except Exception as error:  # reported in the status bar, never a crash of the GUI
            logger.debug("C4 publication failed:\n%s", traceback.format_exc())
            self.failed.emit(f"{type(error).__name__}: {error}")
        else:
            self.done.emit(paths)
