"""``C4Plugin``: Classify inside Phy's TemplateGUI.

- A "C4" menu (and the cluster view's own menu, and a "C4" button on its title bar) with
  ``classify_selected`` (Ctrl+Shift+C), ``classify_good``, ``classify_all`` and
  ``cancel_classification``; and the review loop, keyboard only: ``review_next`` /
  ``review_previous`` (Ctrl+Shift+N / P) walk the review queue, ``accept_prediction``
  (Ctrl+Shift+A), ``reject_prediction`` (Ctrl+Shift+R) and ``set_type`` (Ctrl+Shift+T, a prompt:
  "MLI" or "MLI optotagged") record the curator's decision (``phy_c4.curation``), who and when
  included, in human columns that Classify never writes.
- Work runs in a ``ClassifyWorker`` thread over the shared pipeline; the status bar shows
  progress; a second request while one runs is refused with a message; closing the GUI cancels.
- Results go into the cluster metadata as the CLI's columns (registered at start-up, so the
  first result does not reset the sort), as one undo step. On Ctrl+S, after Phy has written its
  columns, the last Classify is published through ``phy_c4.run``, as the CLI publishes it
  (columns, audit folder, run manifest, under the folder's lock): the files are the CLI's.
- New clusters from merges/splits get no inherited (stale) prediction.
- A dockable C4 view shows the selected cluster's features and probabilities.

No feature, model or file code lives here: it goes through ``phy_c4.run`` and the pipeline.
The pipeline runs in a worker process (``python -m phy_c4.worker``, started once when the GUI
opens, warmed up meanwhile): torch, numba and matplotlib never load in Phy's process, so they
never freeze its window (``worker_process = False``: in a thread of Phy's process instead).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phy import IPlugin, connect

from phy_c4.config import RESULT_COLUMNS
from phy_c4.curation import CURATOR, DECISION_COLUMNS, HUMAN_LABEL, REJECTED, SOURCE
from phy_c4.plugin.labels import apply_values, clear_inherited_predictions

logger = logging.getLogger("phy.c4")  # under "phy." so phy mirrors it in the status bar and log

SHORTCUTS = {"classify_selected": "ctrl+shift+c", "accept_prediction": "ctrl+shift+a",
             "reject_prediction": "ctrl+shift+r", "set_type": "ctrl+shift+t",
             "review_next": "ctrl+shift+n", "review_previous": "ctrl+shift+p"}
REVIEW_FIELDS = ("c4_type", "c4_ratio", "c4_novelty", HUMAN_LABEL, "cell_type_source")
COLUMN_ORDER = ("c4_type", "c4_ratio", HUMAN_LABEL, SOURCE, "c4_confidence", "c4_votes",
                "c4_novelty", "c4_pair", "c4_model", CURATOR, REJECTED, "c4_status")
"""The plugin's columns, left to right: the type first, then its ratio and the curator's type;
the long status text last (and narrow: its full text is in the tooltip and the C4 view). The
first two are shown right after ``id`` in the cluster view."""
COLUMN_WIDTHS = {"c4_status": 120, "c4_model": 110, CURATOR: 120}
"""Widest a column may be in the cluster view (pixels)."""
C4_VIEW_WIDTH = 420
"""Narrowest the C4 dock is made when the GUI opens (Phy's layout gives it ~140 px)."""


class C4Plugin(IPlugin):
    """Cell-type classification with C4 from within Phy."""

    bundle: str = "default"
    threshold: float = 2.0
    cerebellar_depth: tuple[float, float] | None = None
    """Depth range (µm) of the cerebellar cortex, or None; set from the C4 menu."""
    worker_process: bool = True
    """Run the pipeline in ``python -m phy_c4.worker`` (torch and numba never load in Phy's
    process, so they never freeze its window); False: in a thread of Phy's process."""
    options: Any = None
    """``PipelineOptions`` (its threshold is replaced by ``threshold``); None means the CLI's
    defaults (C4's quality filter, in threads: no worker processes, so the plugin works in any
    host, a script read on standard input included)."""

    def attach_to_controller(self, controller: Any) -> None:
        self.controller = controller
        controller.c4_plugin = self  # so scripts and tests can reach the running instance
        self.worker = None
        # each cluster's rows of this session's runs, oldest first: (row, features, source)
        self.results: dict[int, list[tuple[dict[str, Any], Any, _Source]]] = {}
        self.view = None
        self.n_undo_steps: list[int] = []
        self.last_result: Any = None
        self.session: dict[str, Any] = {}  # the Recording, opened once (see worker.py)
        self._touched: set[int] = set()  # clusters merged/split/undone while classifying
        self.saved: list[Any] = []  # paths of the last publication on Ctrl+S
        # The review walk: a fixed order (made when the classification changes, never by a
        # decision), the position in it, and the targets selected but not yet seen back.
        self._review_key: tuple[int, ...] | None = None
        self._review_order: list[int] = []
        self._review_index: dict[int, int] = {}
        self._review_pos: int | None = None
        self._review_pending: list[int] = []
        self._saved_probabilities: dict[int, dict[str, float]] | None = None
        self._published: tuple[tuple, tuple] = ((), ())  # (key, paths) of the last publication
        self._bundle = None
        if self.worker_process:
            # What this process needs when results land (their arrays and files: pandas,
            # ~0.2-0.3 s to import) loads now, before Phy's window shows: imported later, in
            # any thread, it would freeze the window for that long (docs/performance.md).
            import phy_c4.run  # noqa: F401
        # Columns exist (empty) from the start, so the first result keeps the user's sort, and
        # in COLUMN_ORDER whatever order their files were found in when reopening.
        metadata = controller.model.metadata
        assert set(COLUMN_ORDER) == {*RESULT_COLUMNS, *DECISION_COLUMNS}
        ours = {field: metadata.get(field) or {} for field in COLUMN_ORDER}
        others = {k: v for k, v in metadata.items() if k not in ours}
        metadata.clear()
        metadata.update(others)
        metadata.update(ours)

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
        if not compat_problem:
            from phy_c4.plugin.phy_compat import (
                cap_column_widths,
                full_text_tooltips,
                widths_from_visible_rows,
            )

            widths_from_visible_rows(self.supervisor.cluster_view)
            cap_column_widths(self.supervisor.cluster_view, COLUMN_WIDTHS, COLUMN_ORDER[:2])
            self._tooltips = full_text_tooltips(self.supervisor.cluster_view, COLUMN_WIDTHS)
        self.actions = Actions(gui, name="C4", menu="&C4", insert_menu_before="&View")
        self._add_actions(self.actions, with_shortcuts=True)
        self.view_actions = Actions(gui, name="C4 (cluster view)",
                                    view=self.supervisor.cluster_view)
        self._add_actions(self.view_actions, with_shortcuts=False)
        self.supervisor.cluster_view.dock.add_button(
            lambda checked=False: self.classify_selected(), name="c4", text="C4")
        self.view = C4View()
        gui.add_view(self.view, position="right")

        @connect(sender=gui)
        def on_show(sender):
            from qtpy.QtCore import QTimer

            # once shown and laid out, after Phy has restored its saved layout (which may
            # hold a 140-px C4 dock)
            QTimer.singleShot(100, self.widen_view)

        @connect(sender=self.supervisor)
        def on_select(sender, cluster_ids, **kwargs):
            self._follow_selection(cluster_ids)
            self._show_selected(cluster_ids)

        @connect(sender=self.supervisor)
        def on_cluster(sender, up):
            if self.worker is not None and self.worker.isRunning():
                self._touched.update(int(c) for c in (*up.deleted, *up.added))

        @connect(sender=gui)
        def on_close(sender):
            self.cancel_classification(wait=True)
            self.wait_published()
            if getattr(self, "service", None) is not None:
                self.service.close()  # also ends a warm-up waiting for it
            warmup = getattr(self, "_warmup", None)
            if warmup is not None and warmup.isRunning():
                warmup.wait(60_000)

        save = self.supervisor.save

        def save_after_publication(*args: Any, **kwargs: Any) -> Any:
            self.wait_published()  # Phy rewrites the columns a publication may be reading
            return save(*args, **kwargs)

        self.supervisor.save = save_after_publication

        @connect(sender=self.supervisor)
        def on_save_clustering(sender, spike_clusters, groups, *labels):
            from qtpy.QtCore import QTimer

            QTimer.singleShot(0, self._publish_saved)  # after Phy has written its own files

        from phy_c4.plugin.request_thread import WarmUp

        requested = self.bundle
        self.service = None
        if self.worker_process and isinstance(requested, str | os.PathLike):
            from phy_c4.plugin.service import WorkerProcess

            self.service = WorkerProcess()
        self._warmup = WarmUp(requested, self.service)
        self._warmup.loaded.connect(lambda bundle: self._remember_bundle(requested, bundle))
        self._warmup.start()
        gui.status_message = compat_problem or \
            f"C4 ready ({self._model_text()}): Ctrl+Shift+C classifies the selected clusters."
        if compat_problem:
            logger.warning(compat_problem)

    def widen_view(self, width: int = C4_VIEW_WIDTH, tries: int = 10) -> None:
        """Make the C4 dock wide enough to read its figure, taking the room from its
        neighbours. The window's layout settles over the first event-loop turns after it
        shows (and rescales what was asked before), so this checks again a few times."""
        from qtpy.QtCore import Qt, QTimer

        dock = getattr(self.view, "dock", None)
        if dock is None or dock.isFloating() or not dock.isVisible():
            return
        width = min(width, max(self.gui.width() // 3, 1))
        if dock.width() < width - 10:
            self.gui.resizeDocks([dock], [width], Qt.Horizontal)
        if tries > 1:
            QTimer.singleShot(200, lambda: self.widen_view(width, tries - 1))

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
        actions.add(self.review_next, name="review_next", shortcut=shortcut("review_next"),
                    docstring="Select the next unit of the review queue (disagreements, then "
                              "the least confident, then the most novel).")
        actions.add(self.review_previous, name="review_previous",
                    shortcut=shortcut("review_previous"),
                    docstring="Select the previous unit of the review queue.")
        actions.add(self.accept_prediction, name="accept_prediction",
                    shortcut=shortcut("accept_prediction"),
                    docstring="Copy the predicted type into the curated cell_type column.")
        actions.add(self.reject_prediction, name="reject_prediction",
                    shortcut=shortcut("reject_prediction"),
                    docstring="Say the selected units are not their predicted type.")
        actions.add(self.set_type_prompt, name="set_type", shortcut=shortcut("set_type"),
                    docstring="Set the curated cell type of the selected units, optionally with "
                              "its source (accepted, corrected, optotagged, juxtacellular, pair),"
                              " e.g. MLI optotagged.")
        actions.add(self.cancel_classification, name="cancel_classification",
                    docstring="Stop the running classification.")
        actions.add(self.show_model, name="show_model",
                    docstring="Say which model Classify uses (set the default with `phy-c4 "
                              "weights default NAME`, e.g. c4-base after `phy-c4 weights fetch "
                              "base`).")
        actions.separator()
        actions.add(self.layers_from_pairs, name="layers_from_pairs", prompt=True, n_args=1,
                    prompt_default=lambda: "above",
                    docstring="Set the layer column from the last Classify's CS-SS pairs (PCL at "
                              "their depth); say where the molecular layer is: above, below or "
                              "none (PCL only). Ctrl+Z undoes it.")
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
        """Copy the model's type into the human ``cell_type`` column for the selection; for a
        unit below the confidence threshold ("unclassified"), its most probable type."""
        from phy_c4.curation import set_type, signature

        by = signature()
        decisions = {}
        for cluster_id in self.supervisor.selected:
            predicted = self._predicted(int(cluster_id))
            if predicted:
                decisions[int(cluster_id)] = set_type(predicted, predicted, "accepted", by=by)
        return self._record_and_say(decisions, "accept")

    def reject_prediction(self) -> int:
        """Record that the selected units are not their predicted type (below the threshold:
        their most probable type): they leave the confident set now and in every later
        Classify."""
        from phy_c4.curation import DecisionError, reject, signature

        meta = self.supervisor.cluster_meta
        by = signature()
        decisions = {}
        from phy_c4.status import is_confident

        for cluster_id in self.supervisor.selected:
            predicted = self._predicted(int(cluster_id))
            try:
                values = reject(predicted, meta.get(HUMAN_LABEL, cluster_id), by)
            except DecisionError:
                continue
            if not is_confident(meta.get("c4_type", cluster_id)):
                # below the threshold already: the type and status stay, as a later Classify
                # leaves them; the rejection holds if a later one gives that type
                values = {k: v for k, v in values.items() if not k.startswith("c4_")}
            decisions[int(cluster_id)] = values
        return self._record_and_say(decisions, "reject")

    def _predicted(self, cluster_id: int) -> str | None:
        """The type a decision on the prediction is about: the confident type, or for an
        unclassified unit the most probable one; None when the unit has no probabilities."""
        from phy_c4.status import UNCLASSIFIED, is_confident

        predicted = self.supervisor.cluster_meta.get("c4_type", cluster_id)
        if is_confident(predicted):
            return str(predicted)
        if predicted != UNCLASSIFIED:
            return None
        probabilities = self._probabilities(cluster_id)
        return max(probabilities, key=probabilities.get) if probabilities else None

    def _probabilities(self, cluster_id: int) -> dict[str, float]:
        """The class probabilities of the result the table shows for the cluster: this
        session's, or the saved audit folder's after reopening."""
        row = self._shown_row(cluster_id)
        if row is not None:  # (report.unit_probabilities would load matplotlib here)
            return {k[len("c4_p_"):]: float(v) for k, v in row.items()
                    if k.startswith("c4_p_") and v is not None and float(v) == float(v)}
        return self._saved_probabilities_of(cluster_id)

    def _saved_probabilities_of(self, cluster_id: int) -> dict[str, float]:
        meta = self.supervisor.cluster_meta
        if meta.get("c4_ratio", cluster_id) is None:
            return {}
        if self._saved_probabilities is None:
            self._saved_probabilities = _read_saved_probabilities(self.controller.model.dir_path)
        return self._saved_probabilities.get(cluster_id, {})

    def _shown_row(self, cluster_id: int) -> dict[str, Any] | None:
        """This session's result row of a cluster that the table shows (not undone, not a
        new cluster), or None."""
        shown = self._shown(cluster_id)
        return None if shown is None else shown[0]

    def _shown(self, cluster_id: int) -> tuple[dict[str, Any], Any, _Source] | None:
        """(row, features, source) of the newest run of this session whose values the table
        shows for the cluster (an undone run's are not shown), or None."""
        meta = self.supervisor.cluster_meta
        for row, features, source in reversed(self.results.get(cluster_id, [])):
            if all(meta.get(field, cluster_id) == _cell(row.get(field))
                   for field in ("c4_ratio", "c4_model", "c4_confidence")):
                return row, features, source
        return None

    def known_types(self) -> tuple[str, ...]:
        """The classes a curated type is checked against: the shown result's, else C4's."""
        from phy_c4.config import BASE_LABELS, MLI_SPLIT_LABELS

        result = self.current_result()
        if result is not None and getattr(result, "labels", None):
            return tuple(result.labels)
        return tuple(dict.fromkeys((*BASE_LABELS, *MLI_SPLIT_LABELS)))

    def set_type(self, label: str = "", source: str | None = None) -> int:
        """Set the curated type of the selected units (``source``: see ``curation.SOURCES``;
        default accepted when it is the prediction, corrected otherwise). Bad text ("PkC-ss",
        "unclassified") is refused with a message in the status bar."""
        from phy_c4.curation import DecisionError, set_type, signature

        meta = self.supervisor.cluster_meta
        selected = [int(c) for c in self.supervisor.selected]
        if not selected:
            self.gui.status_message = "C4: select the clusters to label first."
            return 0
        by = signature()
        known = self.known_types()
        try:
            decisions = {c: set_type(str(label), meta.get("c4_type", c), source, by=by, known=known)
                         for c in selected}
        except DecisionError as error:
            self.gui.status_message = f"C4: {error}"
            return 0
        steps = self._record(decisions)
        self.gui.status_message = f"C4: {len(selected)} clusters set to {label}."
        return steps

    def set_type_prompt(self) -> int:
        """Set type (Ctrl+Shift+T): asks for "TYPE [SOURCE]", proposing the unit's curated or
        predicted type (never "unclassified"). The text is read here, not by Phy's prompt,
        which reads "a-b" as a range and raises on "PkC-ss"."""
        from phy.gui import qt

        text, ok = qt.input_dialog("Set type", "Cell type, optionally with its source "
                                   "(accepted, corrected, optotagged, juxtacellular, pair); "
                                   f"types: {', '.join(self.known_types())}",
                                   self._type_prompt_default())
        if not ok or not str(text).strip():
            return 0
        words = str(text).split()
        if len(words) > 2:
            self.gui.status_message = (f"C4: {text!r}: give a type and at most a source, "
                                       "e.g. `MLI optotagged`")
            return 0
        return self.set_type(*words)

    def _type_prompt_default(self) -> str:
        selected = list(self.supervisor.selected)
        if not selected:
            return ""
        cluster_id = int(selected[0])
        label = self.supervisor.cluster_meta.get(HUMAN_LABEL, cluster_id)
        return str(label or self._predicted(cluster_id) or "")

    def _record_and_say(self, decisions: dict[int, dict[str, Any]], verb: str) -> int:
        if not decisions:
            self.gui.status_message = f"C4: no confident prediction to {verb} in the selection."
            return 0
        steps = self._record(decisions)
        self.gui.status_message = (f"C4: {verb}ed the predicted type of {len(decisions)} "
                                   "clusters.")
        return steps

    def _record(self, decisions: dict[int, dict[str, Any]]) -> int:
        """Write per-cluster decision columns as one undo step."""
        values: dict[str, dict[int, Any]] = {}
        for cluster_id, columns in decisions.items():
            for field, value in columns.items():
                values.setdefault(field, {})[cluster_id] = value
        return apply_values(self.supervisor, values)

    def review_queue(self, include_decided: bool = False) -> list[int]:
        """Classified clusters without a decision (``include_decided``: all classified),
        most useful first (``curation.review_queue``)."""
        from phy_c4.curation import review_queue

        meta = self.supervisor.cluster_meta
        rows = {int(c): {f: meta.get(f, c) for f in REVIEW_FIELDS}
                for c in self.supervisor.clustering.cluster_ids}
        return review_queue(rows, include_decided)

    def review_order(self) -> list[int]:
        """The order Next/Previous walk: every classified unit, most useful first, made when
        the classification shown changes (a Classify, its undo) and never by a decision, so
        the walk goes on from where it is."""
        key = tuple(id(t) for t in self._applied_results())
        if key != self._review_key:
            self._review_key = key
            self._review_order = self.review_queue(include_decided=True)
            self._review_index = {c: i for i, c in enumerate(self._review_order)}
            self._review_pos = None
            self._review_pending = []
        return self._review_order

    def review_next(self) -> int | None:
        """Select the next undecided unit of the review order after the current one (the
        selected unit, or the head when it is not in the order), wrapping around at the end so
        the least confident units are never skipped; None when none is left."""
        return self._review_step(1)

    def review_previous(self) -> int | None:
        """Select the unit before the current one in the review order, decided or not."""
        return self._review_step(-1)

    def _follow_selection(self, cluster_ids: list[int]) -> None:
        """Keep the walk's position on the unit the curator selected themselves; a target of
        Next/Previous coming back (late, after faster presses) moves nothing."""
        if not cluster_ids:
            return
        first = int(cluster_ids[0])
        if first in self._review_pending:
            del self._review_pending[:self._review_pending.index(first) + 1]
        elif first in self._review_index and self._review_key is not None:
            self._review_pos = self._review_index[first]

    def _review_step(self, step: int) -> int | None:
        from phy_c4.curation import SOURCE, walk

        order = self.review_order()
        meta = self.supervisor.cluster_meta
        existing = {int(c) for c in self.supervisor.clustering.cluster_ids}

        def skip(cluster_id: int) -> bool:
            return cluster_id not in existing or (step > 0 and bool(meta.get(SOURCE, cluster_id)))

        if self._review_pos is None:  # the walk starts from the selection, if in the order
            here = [self._review_index[int(c)] for c in self.supervisor.selected
                    if int(c) in self._review_index]
            self._review_pos = here[0] if here else None
        position, wrapped = walk(order, self._review_pos, step, skip=skip)
        left = sum(1 for c in order if c in existing and not meta.get(SOURCE, c))
        if position is None:
            self.gui.status_message = (
                "C4: nothing to review: classify first." if not order else
                "C4: every classified unit has a decision (Ctrl+Shift+P goes back).")
            return None
        target = order[position]
        self._review_pos = position
        self._review_pending.append(target)
        self.supervisor.select([target])
        ratio = meta.get("c4_ratio", target)
        ratio_text = "" if ratio is None else f" (ratio {float(ratio):.2f})"
        self.gui.status_message = (
            f"C4 review {position + 1}/{len(order)}, {left} undecided"
            f"{', back at the start' if wrapped and step > 0 else ''}: cluster {target} "
            f"predicted {meta.get('c4_type', target) or 'nothing'}{ratio_text}; "
            "Ctrl+Shift+A accept, R reject, T set type, N next, P previous.")
        return target

    def layers_from_pairs(self, ml_side: str = "none") -> int:
        """Write the layers the last Classify's confirmed CS-SS pairs propose into the ``layer``
        column (one undo step: invoking it is the user's confirmation), where a
        layer_information bundle reads them in the next Classify."""
        from phy_c4.layers import LayerSpec
        from phy_c4.run import layer_proposal

        result = self.current_result()
        if result is None:
            self.gui.status_message = "C4: classify first: layers come from its CS-SS pairs."
            return 0
        side = None if str(ml_side).lower() in ("none", "pcl", "") else str(ml_side).lower()
        model = self.controller.model
        try:
            proposal = layer_proposal(result, model.channel_positions,
                                      getattr(model, "channel_shanks", None),
                                      spec=LayerSpec(ml_side=side))
        except ValueError as error:
            self.gui.status_message = f"C4: {error}"
            return 0
        layers = {c: layer for c, layer in proposal.layers.items() if layer != "unknown"}
        if not layers:
            self.gui.status_message = f"C4: {'; '.join(proposal.notes)}"
            return 0
        steps = apply_values(self.supervisor, {"layer": layers})
        depths = ", ".join(f"{v:.0f} µm (shank {k})" for k, v in proposal.pcl_depth_um.items())
        self.gui.status_message = (
            f"C4: {proposal.n_pairs} CS-SS pairs put the Purkinje layer at "
            f"{depths or 'several depths'}; layer set for {len(layers)} clusters "
            f"({proposal.counts()}); Ctrl+Z undoes it.")
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

    # Running
    # ---------------------------------------------------------------------------------------

    def _model_text(self) -> str:
        """The model Classify uses, in words: the default (and who chose it) or the one set."""
        if self.bundle != "default":
            return f"model {self.bundle}"
        from phy_c4.default_model import default_description  # no torch in Phy's process

        return f"model {default_description()}"

    def show_model(self) -> None:
        """Show the model Classify uses in the status bar."""
        self.gui.status_message = f"C4: {self._model_text()}"

    def _remember_bundle(self, requested: Any, bundle: Any) -> None:
        """Keep a loaded bundle (from the warm-up or a worker) for later runs, for as long as
        ``bundle`` still names it."""
        if not isinstance(bundle, str | os.PathLike):
            self._bundle = (requested, bundle)

    def _start(self, cluster_ids: list[int], what: str) -> bool:
        from phy_c4.plugin.request_thread import ClassifyWorker

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
        rejected = {int(c): str(meta.get(REJECTED, c)) for c in cluster_ids
                    if meta.get(REJECTED, c)}
        self._touched = set()
        self.worker = ClassifyWorker(self.controller.model, spike_clusters,
                                     [int(c) for c in cluster_ids], bundle=bundle,
                                     threshold=self.threshold, layer=layer,
                                     options=self.options, session=self.session,
                                     region=(self.cerebellar_depth, regions),
                                     rejected=rejected, service=self._service_for(bundle))
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

    def _service_for(self, bundle: Any) -> Any:
        """The worker process, when this run can use it (a bundle given by name or path)."""
        service = getattr(self, "service", None)
        if service is None or not self.worker_process or \
                not isinstance(bundle, str | os.PathLike):
            return None
        return service

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

        table = result.table  # a DataFrame made from the arrays: once
        values = column_values(table)
        steps = apply_values(self.supervisor, values, refresh=False, tag=result)
        clusters = [int(c) for c in table["cluster_id"]]
        # refresh the table in the next event-loop turn, after the metadata is in place
        QTimer.singleShot(0, lambda: refresh_rows(self.supervisor, clusters, list(values)))
        self.n_undo_steps.append(steps)
        from phy_c4.run import summary

        self.last_result = result
        source = _Source(result=result, recording=self.worker.recording, bundle=self.worker.bundle,
                         result_id=self.worker.result_id, service=self.worker.service)
        for row in table.to_dict("records"):
            cluster_id = int(row["cluster_id"])
            self.results.setdefault(cluster_id, []).append(
                (row, result.features.get(cluster_id), source))
        confident = summary(result)["confident"]
        seconds = time.perf_counter() - self._started
        pairs = 0 if result.pair is None else int(sum(1 for p in result.pair if p != "")) // 2
        self.gui.status_message = (
            f"C4: classified {len(table)} clusters in {seconds:.1f} s with {result.bundle_label}"
            f" ({confident} at ratio ≥ {self.threshold:g}); Ctrl+Z undoes it in {steps} step."
            + (f" {pairs} CS-SS pairs: C4 › Layers from pairs proposes layers." if pairs else "")
            + (" No cerebellar region set: every unit is assumed to be in the cerebellar cortex;"
               " use C4 › Set cerebellar depth." if _no_region(result) else ""))
        self._show_selected(self.supervisor.selected)

    def _publish_saved(self) -> None:
        """Publish, as the CLI does, the Classify results the table shows now: an undone
        Classify is not published, and each result only for the clusters that still show it.
        The files are written in a thread (compressing and syncing them would hold the window
        ~0.3-0.6 s on 350 units). When that is what this session last published (a repeated
        Ctrl+S, a decision in between) and the audit folder is there, nothing is written
        again: Phy's own save has just rewritten the same column values."""
        from phy_c4.io.results import AUDIT_DIR

        shown, key = self._shown_results()
        if not shown:
            return
        folder = Path(self.controller.model.dir_path)
        if key == self._published[0] and (folder / AUDIT_DIR).is_dir():
            self.saved = list(self._published[1])
            self.gui.status_message = "C4: the saved classification is unchanged"
            return
        from phy_c4.plugin.request_thread import Publisher

        self.wait_published()  # one publication at a time, in the order of the saves
        self._publisher = Publisher(folder, shown)
        publisher = self._publisher
        publisher.done.connect(lambda paths: self._on_published(key, shown, paths))
        publisher.failed.connect(self._on_publish_failed)
        publisher.start()

    def wait_published(self, timeout_ms: int = 60_000) -> None:
        """Wait for a publication still being written (a second Ctrl+S, closing the GUI)."""
        publisher = getattr(self, "_publisher", None)
        if publisher is not None and publisher.isRunning():
            publisher.wait(timeout_ms)

    def _on_published(self, key: tuple, shown: list[Any], paths: list[Any]) -> None:
        self.saved = list(paths)
        self._published = (key, tuple(paths))
        self._saved_probabilities = None  # read again from what was just written
        self.gui.status_message = (f"C4: saved the audit folder and columns of "
                                   f"{sum(len(r.cluster_ids) for r in shown)} clusters")

    def _on_publish_failed(self, message: str) -> None:  # Phy's own save has happened
        self.gui.status_message = f"C4: the audit folder was not saved ({message})"

    def current_result(self) -> Any:
        """The newest Classify result in effect (not undone), or None."""
        tags = self._applied_results()
        return tags[-1] if tags else None

    def _applied_results(self) -> list[Any]:
        """The Classify results in effect (not undone), oldest first; with a phy whose undo
        history cannot be read, the last one (its clusters are still checked against the
        table)."""
        from phy_c4.plugin.labels import applied_tags

        tags = applied_tags(self.supervisor)
        if tags is None:
            return [self.last_result] if self.last_result is not None else []
        return tags

    def _shown_results(self) -> tuple[list[Any], tuple]:
        """The Classify results in effect (not undone), oldest first, each restricted to the
        clusters whose columns show it now (type, ratio and status, with the rejections made
        since applied, as the next Classify would apply them); a cluster is in one result only,
        the newest that shows it. Also a key of what that is, to tell an unchanged state."""
        import numpy as np

        from phy_c4.result import apply_rejections

        meta = self.supervisor.cluster_meta
        current = {int(c) for c in self.supervisor.clustering.cluster_ids}
        covered: set[int] = set()
        shown, key = [], []
        for result in reversed(self._applied_results()):
            ids = [int(c) for c in result.cluster_ids]
            rejected = {c: meta.get(REJECTED, c) for c in ids if c in current}
            rejected = {c: r for c, r in rejected.items() if r}
            copy = result.subset(np.ones(len(ids), dtype=bool))  # copies the arrays
            apply_rejections(copy, rejected)
            keep = np.array([c in current and c not in covered
                             and meta.get("c4_type", c) == copy.cell_type[i]
                             and meta.get("c4_status", c) == copy.status[i]
                             and meta.get("c4_ratio", c) == _cell(copy.ratio[i])
                             for i, c in enumerate(ids)], dtype=bool)
            if not keep.any():
                continue
            kept = [c for c, k in zip(ids, keep, strict=True) if k]
            shown.append(copy if keep.all() else copy.subset(keep))
            key.append((id(result), tuple(kept), tuple(sorted(rejected.items()))))
            covered.update(kept)
        return shown[::-1], tuple(key[::-1])

    def _show_selected(self, cluster_ids: list[int]) -> None:
        if self.view is None or not cluster_ids:
            return
        cluster_id = int(cluster_ids[0])
        shown = self._shown(cluster_id)
        meta = self.supervisor.cluster_meta
        if shown is None:
            self.view.show_text(cluster_id, self._saved_summary(cluster_id))
            return
        row, features, source = shown
        # the table's values win over the run's: a rejection since changes type and status
        row = {**row, **{f: meta.get(f, cluster_id) for f in ("c4_type", "c4_status")}}
        status = str(row.get("c4_status") or "")
        if source.service is not None:  # drawn by the worker process
            threshold = self.threshold
            self.view.show_cluster(
                cluster_id, row, features, threshold=threshold, explain=None,
                render=lambda size, title: _render(source.service, source.result_id, cluster_id,
                                                   size=size,
                                            threshold=threshold, title=title, status=status))
            return
        explain = lambda: _explain(cluster_id, source, status)  # noqa: E731
        self.view.show_cluster(cluster_id, row, features, threshold=self.threshold, explain=explain)

    def _saved_summary(self, cluster_id: int) -> str:
        """What the C4 view says of a cluster with no result of this session: the saved
        result the table shows (after reopening), or why there is none."""
        meta = self.supervisor.cluster_meta
        kind = meta.get("c4_type", cluster_id)
        if kind is None:
            return (f"Cluster {cluster_id} has no C4 result: not classified yet, or made by a "
                    "merge or split since (its parents' results were about other spikes).\n"
                    "C4 › Classify selected (Ctrl+Shift+C).")
        lines = [f"Cluster {cluster_id}: {kind or 'no type'} (the saved result)"]
        numbers = [f"{name} {meta.get(field, cluster_id)}" for name, field in
                   (("ratio", "c4_ratio"), ("confidence", "c4_confidence"),
                    ("votes", "c4_votes")) if meta.get(field, cluster_id) not in (None, "")]
        if numbers:
            lines.append(", ".join(numbers))
        if meta.get("c4_status", cluster_id):
            lines.append(f"status: {meta.get('c4_status', cluster_id)}")
        probabilities = self._saved_probabilities_of(cluster_id)
        if probabilities:
            ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])
            lines.append("probabilities: " + ", ".join(f"{k} {v:.2f}" for k, v in ranked))
        if meta.get("c4_model", cluster_id):
            lines.append(f"model: {meta.get('c4_model', cluster_id)}")
        decided = meta.get(HUMAN_LABEL, cluster_id) or meta.get(REJECTED, cluster_id)
        if decided:
            lines.append(f"curator: {meta.get(HUMAN_LABEL, cluster_id) or '-'} "
                         f"({meta.get(SOURCE, cluster_id) or ''})")
        lines.append("The figures (ACG, waveform, nearest training units) are drawn from a "
                     "Classify of this session: Ctrl+Shift+C.")
        return "\n".join(lines)


def _cell(value: Any) -> Any:
    """A result table's value as the cluster columns hold it (``io.results.column_values``)."""
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    if isinstance(value, float):
        return None if value != value else round(value, 4)
    return value


def _no_region(result: Any) -> bool:
    """Whether the run placed no unit (its manifest notes say so: ``region.NO_REGION``)."""
    from phy_c4.region import NO_REGION

    return NO_REGION in (getattr(result, "parameters", None) or {}).get("notes", [])


@dataclass(frozen=True, kw_only=True)
class _Source:
    """Where a result shown in the C4 view came from, for its "why"."""

    result: Any
    recording: Any  # the recording it was computed from (in-process runs)
    bundle: Any
    result_id: int | None  # the worker process's name for it
    service: Any  # the worker process, or None when it ran in Phy's process


def _read_saved_probabilities(folder: Any) -> dict[int, dict[str, float]]:
    """{cluster: {label: probability}} from the audit folder a Ctrl+S or the CLI wrote."""
    import math

    import pandas as pd

    from phy_c4.io.results import AUDIT_DIR, PROBABILITIES_FILE

    path = Path(folder) / AUDIT_DIR / PROBABILITIES_FILE
    if not path.is_file():
        return {}
    try:
        table = pd.read_csv(path, sep="\t")
    except (OSError, ValueError):
        return {}
    columns = [c for c in table.columns if c.startswith("c4_p_")]
    out = {}
    for row in table.itertuples(index=False):
        values = {c[len("c4_p_"):]: float(getattr(row, c)) for c in columns}
        out[int(row.cluster_id)] = {k: v for k, v in values.items() if not math.isnan(v)}
    return out


def _render(service: Any, result_id: int, cluster_id: int, *, size: tuple[int, int],
            threshold: float, title: str, status: str = "") -> tuple[bytes, Any]:
    """The C4 view's figure of a cluster, drawn by the worker process that classified it, and
    its explanation (runs in the view's render thread)."""
    from phy_c4.result import load_explanation

    out = service.path(f"view_{result_id}_{cluster_id}_{service.new_id()}.png")
    answer = service.request({"op": "render", "id": service.new_id(), "result": result_id,
                              "cluster": cluster_id, "size": list(size),
                              "threshold": threshold, "title": title, "out": out,
                              "status": status})
    if answer.get("op") != "rendered":
        return b"", None
    try:
        data = Path(out).read_bytes()
        why = answer.get("explanation")
        return data, load_explanation(why) if why else None
    finally:
        for path in (out, answer.get("explanation")):
            if path and os.path.exists(path):
                os.remove(path)


def _explain(cluster_id: int, source: _Source, status: str = "") -> Any:
    """The C4 view's "why" for a cluster when its result was computed in Phy's process (runs in
    the view's render thread); ``status``: the table's (a rejection since replaces the run's)."""
    from phy_c4.explain import explain_cluster

    loaded = source.bundle if hasattr(source.bundle, "reference") else None  # not a name
    explanation = explain_cluster(source.result, source.recording, loaded, cluster_id=cluster_id)
    if explanation is not None and status:
        explanation.status = status
    return explanation
