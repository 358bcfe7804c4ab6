"""``C4Plugin``: Classify inside Phy's TemplateGUI.

- A "C4" menu (and the cluster view's own menu, and a "C4" button on its title bar) with
  ``classify_selected`` (Ctrl+Shift+C), ``classify_good``, ``classify_all``,
  ``accept_prediction`` (Ctrl+Shift+A) and ``cancel_classification``.
- Work runs in a ``ClassifyWorker`` thread over the shared pipeline; the status bar shows
  progress; a second request while one runs is refused with a message; closing the GUI cancels.
- Results go into the cluster metadata as the CLI's columns (registered at start-up, so the
  first result does not reset the sort), as one undo step. On Ctrl+S, after Phy has written its
  columns, the last Classify is published through ``phy_c4.run``, as the CLI publishes it
  (columns, audit folder, run manifest, under the folder's lock): the files are the CLI's.
- New clusters from merges/splits get no inherited (stale) prediction.
- A dockable C4 view shows the selected cluster's features and probabilities.

No feature, model or file code lives here: it goes through ``phy_c4.run`` and the pipeline.
The heavy modules (torch, numba, pandas) load in the worker threads, never at Phy's start-up.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from phy import IPlugin, connect

from phy_c4.config import RESULT_COLUMNS
from phy_c4.plugin.labels import HUMAN_LABEL, apply_values, clear_inherited_predictions

logger = logging.getLogger("phy.c4")  # under "phy." so phy mirrors it in the status bar and log

SHORTCUTS = {"classify_selected": "ctrl+shift+c", "accept_prediction": "ctrl+shift+a"}


class C4Plugin(IPlugin):
    """Cell-type classification with C4 from within Phy."""

    bundle: str = "default"
    threshold: float = 2.0
    cerebellar_depth: tuple[float, float] | None = None
    """Depth range (µm) of the cerebellar cortex, or None; set from the C4 menu."""
    options: Any = None
    """``PipelineOptions`` (its threshold is replaced by ``threshold``); None means the CLI's
    defaults (C4's quality filter, in threads: no worker processes, so the plugin works in any
    host, a script read on standard input included)."""

    def attach_to_controller(self, controller: Any) -> None:
        self.controller = controller
        controller.c4_plugin = self  # so scripts and tests can reach the running instance
        self.worker = None
        self.results: dict[int, tuple[dict[str, Any], Any]] = {}
        self.view = None
        self.n_undo_steps: list[int] = []
        self.last_result: Any = None
        self.session: dict[str, Any] = {}  # the Recording, opened once (see worker.py)
        self._touched: set[int] = set()  # clusters merged/split/undone while classifying
        self.saved: list[Any] = []  # paths of the last publication on Ctrl+S
        self._bundle = None
        # Columns exist (empty) from the start, so the first result keeps the user's sort.
        for field in (*RESULT_COLUMNS, HUMAN_LABEL):
            controller.model.metadata.setdefault(field, {})

        @connect(sender=controller)
        def on_gui_ready(sender, gui):
            try:
                self._setup_gui(gui)
            except Exception as error:  # a raising handler would silence other plugins
                logger.exception("C4 plugin could not start")
                gui.status_message = f"C4 plugin failed to start: {error}"

    # GUI set-up
    # ---------------------------------------------------------------------------------------

    def _setup_gui(self, gui: Any) -> None:
        from phy.gui import Actions

        from phy_c4.plugin.view import C4View

        self.gui = gui
        from phy_c4.plugin.phy_compat import startup_message

        self.supervisor = self.controller.supervisor
        clear_inherited_predictions(self.supervisor)
        compat_problem = startup_message(self.supervisor)
        self.actions = Actions(gui, name="C4", menu="&C4", insert_menu_before="&View")
        self._add_actions(self.actions, with_shortcuts=True)
        self.view_actions = Actions(gui, name="C4 (cluster view)",
                                    view=self.supervisor.cluster_view)
        self._add_actions(self.view_actions, with_shortcuts=False)
        self.supervisor.cluster_view.dock.add_button(
            lambda checked=False: self.classify_selected(), name="c4", text="C4")
        self.view = C4View()
        gui.add_view(self.view, position="right")

        @connect(sender=self.supervisor)
        def on_select(sender, cluster_ids, **kwargs):
            self._show_selected(cluster_ids)

        @connect(sender=self.supervisor)
        def on_cluster(sender, up):
            if self.worker is not None and self.worker.isRunning():
                self._touched.update(int(c) for c in (*up.deleted, *up.added))

        @connect(sender=gui)
        def on_close(sender):
            self.cancel_classification(wait=True)

        @connect(sender=self.supervisor)
        def on_save_clustering(sender, spike_clusters, groups, *labels):
            from qtpy.QtCore import QTimer

            QTimer.singleShot(0, self._publish_saved)  # after Phy has written its own files

        from phy_c4.plugin.worker import WarmUp

        requested = self.bundle
        self._warmup = WarmUp(requested)
        self._warmup.loaded.connect(lambda bundle: self._remember_bundle(requested, bundle))
        self._warmup.start()
        gui.status_message = compat_problem or \
            "C4 ready: Ctrl+Shift+C classifies the selected clusters."
        if compat_problem:
            logger.warning(compat_problem)

    def _add_actions(self, actions: Any, with_shortcuts: bool) -> None:
        def shortcut(name: str) -> str | None:
            return SHORTCUTS.get(name) if with_shortcuts else None

        actions.add(self.classify_selected, name="classify_selected",
                    shortcut=shortcut("classify_selected"),
                    docstring="Classify the selected clusters with C4.")
        actions.add(self.classify_good, name="classify_good",
                    docstring="Classify all clusters labelled good.")
        actions.add(self.classify_all, name="classify_all", docstring="Classify all clusters.")
        actions.separator()
        actions.add(self.accept_prediction, name="accept_prediction",
                    shortcut=shortcut("accept_prediction"),
                    docstring="Copy the predicted type into the curated cell_type column.")
        actions.add(self.cancel_classification, name="cancel_classification",
                    docstring="Stop the running classification.")
        actions.separator()
        actions.add(self.set_cerebellar_depth, name="set_cerebellar_depth", prompt=True,
                    n_args=2, prompt_default=lambda: " ".join(
                        f"{v:g}" for v in (self.cerebellar_depth or (0, 0))),
                    docstring="Depth range of the cerebellar cortex (µm, low high; 0 0 clears): "
                              "units outside get no type.")

    # Actions
    # ---------------------------------------------------------------------------------------

    def classify_selected(self) -> bool:
        """Classify the selected clusters."""
        return self._start(list(self.supervisor.selected), "selected")

    def classify_good(self) -> bool:
        """Classify all clusters labelled good (the GUI's labels, saved or not)."""
        from phy_c4.run import select_clusters

        ids = [int(c) for c in self.supervisor.clustering.cluster_ids]
        meta = self.supervisor.cluster_meta
        groups = {c: meta.get("group", c) for c in ids if meta.get("group", c)}
        try:
            good = select_clusters(ids, groups, group="good", where="this recording")
        except ValueError as error:
            self.gui.status_message = f"C4: {error}"
            return False
        return self._start(good, "good")

    def classify_all(self) -> bool:
        """Classify all clusters."""
        return self._start(list(self.supervisor.clustering.cluster_ids), "all")

    def accept_prediction(self) -> int:
        """Copy the model's type into the human ``cell_type`` column for the selection."""
        meta = self.supervisor.cluster_meta
        from phy_c4.status import is_confident

        chosen = {}
        for cluster_id in self.supervisor.selected:
            predicted = meta.get("c4_type", cluster_id)
            if is_confident(predicted):
                chosen[int(cluster_id)] = predicted
        if not chosen:
            self.gui.status_message = "C4: no confident prediction to accept in the selection."
            return 0
        steps = apply_values(self.supervisor, {HUMAN_LABEL: chosen})
        self.gui.status_message = f"C4: accepted the predicted type of {len(chosen)} clusters."
        return steps

    def set_cerebellar_depth(self, low: float = 0, high: float = 0) -> None:
        """Units whose depth is outside [low, high] µm get no type in the next Classify (and
        the range is saved in the run manifest with the results)."""
        low, high = float(low), float(high)
        if low == high == 0:
            self.cerebellar_depth = None
            self.gui.status_message = "C4: no cerebellar depth range"
        elif low < high:
            self.cerebellar_depth = (low, high)
            self.gui.status_message = (f"C4: cerebellar cortex at {low:g}-{high:g} µm; units "
                                       "outside get no type from the next Classify")
        else:
            self.gui.status_message = f"C4: {low:g} {high:g} is not a range (low high)"

    def cancel_classification(self, wait: bool = False) -> None:
        """Stop the running classification (between units)."""
        if self.worker is not None and self.worker.isRunning():
            self.worker.cancel()
            if wait:
                self.worker.wait(60_000)
        warmup = getattr(self, "_warmup", None)
        if wait and warmup is not None and warmup.isRunning():
            warmup.wait(60_000)

    # Running
    # ---------------------------------------------------------------------------------------

    def _remember_bundle(self, requested: Any, bundle: Any) -> None:
        """Keep a loaded bundle (from the warm-up or a worker) for later runs, for as long as
        ``bundle`` still names it."""
        if not isinstance(bundle, str | os.PathLike):
            self._bundle = (requested, bundle)

    def _start(self, cluster_ids: list[int], what: str) -> bool:
        from phy_c4.plugin.worker import ClassifyWorker

        if self.worker is not None and self.worker.isRunning():
            self.gui.status_message = ("C4 is still classifying; this request was not queued "
                                       "(C4 › cancel_classification stops it).")
            return False
        if not cluster_ids:
            self.gui.status_message = f"C4: no {what} clusters to classify."
            return False
        # The worker snapshots the current assignment first thing (a 41-M-spike copy would
        # stall the GUI thread for ~0.3 s); clusters merged, split or undone while classifying
        # are recorded (on_cluster) and their results dropped when applied.
        spike_clusters = self.supervisor.clustering.spike_clusters
        meta = self.supervisor.cluster_meta  # the GUI's layer values, edited or not
        layer = {int(c): str(meta.get("layer", c)) for c in cluster_ids
                 if "layer" in meta.fields and meta.get("layer", c)} or None
        requested = self.bundle
        cached = self._bundle
        bundle = cached[1] if cached is not None and cached[0] == requested else requested
        regions = {int(c): str(meta.get("region", c)) for c in cluster_ids
                   if "region" in meta.fields and meta.get("region", c)}
        self._touched = set()
        self.worker = ClassifyWorker(self.controller.model, spike_clusters,
                                     [int(c) for c in cluster_ids], bundle, self.threshold, layer,
                                     self.options, self.session,
                                     region=(self.cerebellar_depth, regions))
        worker = self.worker
        worker.finished.connect(lambda: self._remember_bundle(requested, worker.bundle))
        self.worker.progress.connect(self._on_progress)
        self.worker.succeeded.connect(self._on_result)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self._started = time.perf_counter()
        self.gui.status_message = f"C4: classifying {len(cluster_ids)} {what} clusters..."
        self.worker.start()
        return True

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.gui.status_message = f"C4: {done}/{total} — {message}"

    def _on_failed(self, message: str) -> None:
        self.gui.status_message = f"C4 failed: {message}"

    def _on_cancelled(self) -> None:
        self.gui.status_message = "C4: classification cancelled; nothing was changed."

    def _on_result(self, result: Any) -> None:
        import numpy as np
        from qtpy.QtCore import QTimer

        if self._touched:  # their spikes changed while classifying: results would be stale
            result = result.subset(~np.isin(result.cluster_ids, list(self._touched)))

        from phy_c4.io.results import column_values
        from phy_c4.plugin.labels import refresh_rows

        values = column_values(result.table)
        steps = apply_values(self.supervisor, values, refresh=False)
        clusters = [int(c) for c in result.table["cluster_id"]]
        # refresh the table in the next event-loop turn, after the metadata is in place
        QTimer.singleShot(0, lambda: refresh_rows(self.supervisor, clusters, list(values)))
        self.n_undo_steps.append(steps)
        from phy_c4.run import summary

        self.last_result = result
        for row in result.table.to_dict("records"):
            cluster_id = int(row["cluster_id"])
            self.results[cluster_id] = (row, result.features.get(cluster_id))
        table = result.table
        confident = summary(result)["confident"]
        seconds = time.perf_counter() - self._started
        self.gui.status_message = (
            f"C4: classified {len(table)} clusters in {seconds:.1f} s with {result.bundle_label}"
            f" ({confident} at ratio ≥ {self.threshold:g}); Ctrl+Z undoes it in {steps} step.")
        self._show_selected(self.supervisor.selected)

    def _publish_saved(self) -> None:
        """Publish the last Classify as the CLI does, for the clusters that still show it."""
        if self.last_result is None:
            return
        from phy_c4.io.publish import publish
        from phy_c4.run import publication

        try:
            result = self._still_shown(self.last_result)
            if result is None:
                return
            self.saved = publish(self.controller.model.dir_path, publication(result),
                                 overwrite=True, wait_s=5.0)
            self.gui.status_message = (f"C4: saved the audit folder and columns of "
                                       f"{len(result.table)} clusters")
        except Exception as error:  # Phy's own save has happened; say what did not
            logger.debug("C4 publication failed", exc_info=True)
            self.gui.status_message = f"C4: the audit folder was not saved ({error})"

    def _still_shown(self, result: Any) -> Any:
        """The result restricted to clusters that exist and still show it (not undone, not
        merged away); per-member probabilities are dropped when rows are."""
        current = {int(c) for c in self.supervisor.clustering.cluster_ids}
        meta = self.supervisor.cluster_meta
        keep = [int(c) in current and meta.get("c4_type", int(c)) is not None
                for c in result.cluster_ids]
        if all(keep):
            return result
        return result.subset(keep) if any(keep) else None

    def _show_selected(self, cluster_ids: list[int]) -> None:
        if self.view is None or not cluster_ids:
            return
        cluster_id = int(cluster_ids[0])
        row, features = self.results.get(cluster_id, (None, None))
        if row is not None and self.supervisor.cluster_meta.get("c4_type", cluster_id) is None:
            row, features = None, None  # undone, or a new cluster after a merge
        self.view.show_cluster(cluster_id, row, features, self.threshold)
