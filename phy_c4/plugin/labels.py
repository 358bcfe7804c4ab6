"""Putting predictions into Phy's cluster metadata: one Classify = one undo step.

phy's ``supervisor.label`` pushes one undo step per (field, value) call, which would make a
400-unit Classify hundreds of Ctrl+Z presses. Here every (field, value) group is still recorded
on ``cluster_meta``'s own undo stack (so Phy's replay-based undo stays correct), silently, and a
single entry in the supervisor's global history undoes or redoes them all at once. The views are
refreshed once, with per-row values.

Merged or split clusters would inherit a parent's prediction and the curator's decision
(``set_from_descendants``); the ``c4_*`` and decision fields of new clusters are cleared instead,
so no stale type and no decision about other spikes is ever shown or saved (docs/review.md).
What they do inherit (Phy's ``group``, other tools' labels) is kept through later undos.

Undoing or redoing one of these steps tells Phy as its own steps do (a ``cluster`` event from
the supervisor), so its task logger finishes the step and re-selects as after its own undo.

phy's private API is reached only through ``phy_compat``; without it (another phy version)
labels go through the public ``supervisor.label``, one undo step per value.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from phylib.utils.event import silent

import phy_c4.plugin.phy_compat as phy_compat
from phy_c4.config import RESULT_COLUMNS
from phy_c4.curation import DECISION_COLUMNS

BATCH = "metadata_c4"
"""``up.description`` of the cluster event an undo/redo of a C4 step sends."""


class _BatchEntry:
    """One global-history entry standing for ``n`` cluster_meta steps."""

    def __init__(self, supervisor: Any, n_steps: int, clusters: list[int], *, fields: list[str],
                 tag: Any = None):
        self.supervisor = supervisor
        self.n_steps = n_steps
        self.clusters = clusters
        self.fields = fields
        self.tag = tag  # what the step stands for (the plugin's Classify result), or None

    def undo(self):
        # ClusterMeta.undo() rebuilds every value from its base snapshot and replays the whole
        # stack; calling it n times is quadratic (0.3 s for 400 units). Step back n entries and
        # replay once, which is what n undos amount to.
        phy_compat.replay_meta_without_last(self.supervisor.cluster_meta, self.n_steps)
        refresh_rows(self.supervisor, self.clusters, self.fields)
        return self._announce("undo")

    def redo(self):
        with silent():
            for _ in range(self.n_steps):
                self.supervisor.cluster_meta.redo()
        refresh_rows(self.supervisor, self.clusters, self.fields)
        return self._announce("redo")

    def _announce(self, history: str) -> Any:
        """Phy's task logger waits for a ``cluster`` event to finish an undo/redo (and then
        re-selects); without it Space and ``block()`` stall until the next Phy action. No
        cluster is named: the rows are already refreshed, per value."""
        from phylib.utils.event import emit

        up = phy_compat.update_info(description=BATCH, history=history)
        emit("cluster", self.supervisor, up)
        return up


def ensure_columns(supervisor: Any, fields: Iterable[str]) -> None:
    """Add missing columns once (adding one resets the table's sort, so do it up front)."""
    missing = [f for f in fields if f not in supervisor.columns]
    for field in missing:
        supervisor.cluster_meta.add_field(field)
        supervisor.columns.append(field)
    if missing:
        phy_compat.reset_cluster_view(supervisor)


SCROLL_RETRY_MS = 200


def refresh_rows(supervisor: Any, clusters: list[int], fields: list[str]) -> None:
    """Show the current values of ``fields`` for ``clusters`` in the cluster view; while the
    user drags the scroll bar, try again shortly (a re-sort would jump the table under them)."""
    scroll_bar = getattr(getattr(supervisor.cluster_view, "table_view", None),
                         "verticalScrollBar", None)
    if scroll_bar is not None and scroll_bar().isSliderDown():
        from qtpy.QtCore import QTimer

        QTimer.singleShot(SCROLL_RETRY_MS, lambda: refresh_rows(supervisor, clusters, fields))
        return
    existing = set(supervisor.clustering.cluster_ids)
    rows = []
    for cluster_id in clusters:
        if cluster_id not in existing:
            continue
        row = {"id": cluster_id}
        for field in fields:
            row[field] = supervisor.cluster_meta.get(field, cluster_id)
        rows.append(row)
    if rows:
        phy_compat.change_columns(supervisor.cluster_view, rows, fields)


def apply_values(supervisor: Any, values: dict[str, dict[int, Any]],
                 refresh: bool = True, *, tag: Any = None) -> int:
    """Write ``{field: {cluster: value}}`` as one undoable action; returns the Ctrl+Z count (1).

    Values of clusters that no longer exist (merged while classifying) are skipped. With
    ``refresh=False`` the caller refreshes the cluster view itself (once, later). ``tag`` is
    kept on the undo entry (``applied_tags`` lists those not undone).
    """
    existing = set(supervisor.clustering.cluster_ids)
    if phy_compat.missing(supervisor):
        return _apply_with_public_api(supervisor, values, existing)
    ensure_columns(supervisor, values)
    n_steps = 0
    touched: set[int] = set()
    with silent():
        for field, per_cluster in values.items():
            for value, clusters in _by_value(per_cluster, existing).items():
                supervisor.cluster_meta.set(field, clusters, value, add_to_stack=True)
                touched.update(clusters)
                n_steps += 1
    if n_steps == 0:
        return 0
    entry = _BatchEntry(supervisor, n_steps, sorted(touched), fields=list(values), tag=tag)
    phy_compat.push_history(supervisor, entry)
    if refresh:
        refresh_rows(supervisor, sorted(touched), list(values))
    return 1


def _apply_with_public_api(supervisor: Any, values: dict[str, dict[int, Any]],
                           existing: set[int]) -> int:
    """The fallback for phy versions without the private hooks: one undo step per value."""
    steps = 0
    for field, per_cluster in values.items():
        for value, clusters in _by_value(per_cluster, existing).items():
            supervisor.label(field, value, cluster_ids=clusters)
            steps += 1
    return steps


def _by_value(per_cluster: dict[int, Any], existing: set[int]) -> dict[Any, list[int]]:
    """{value: clusters with it}, for the clusters that still exist (one label call each)."""
    groups: dict[Any, list[int]] = defaultdict(list)
    for cluster_id, value in per_cluster.items():
        if cluster_id in existing:
            groups[value].append(int(cluster_id))
    return groups


def applied_tags(supervisor: Any) -> list[Any] | None:
    """Tags of the C4 steps in effect (not undone), oldest first; None when this phy's
    history cannot be read."""
    try:
        history = phy_compat.applied_history(supervisor)
    except AttributeError:
        return None
    return [c.tag for c in history if isinstance(c, _BatchEntry) and c.tag is not None]


NOT_INHERITED = (*RESULT_COLUMNS, *DECISION_COLUMNS)
"""Fields a merged or split cluster never takes from its parents: the model's columns (computed
from other spikes) and the curator's decisions (made about other spikes)."""


def clear_inherited_predictions(supervisor: Any) -> bool:
    """Make merges and splits leave new clusters without c4_* predictions or decisions, and keep
    what they do inherit through later undos; False when this phy offers no hook for it."""
    meta = supervisor.cluster_meta

    def clear(inherited: dict[int, list[str]]) -> None:
        for cluster, fields in inherited.items():
            for field in fields:
                if field in NOT_INHERITED:
                    meta.set(field, [cluster], None, add_to_stack=False)
                else:
                    # phy sets inherited values outside its undo stack and rebuilds every value
                    # from a base snapshot on undo, so a later undo (of a label, of a C4 step)
                    # would wipe a merged cluster's group; an inherited value is in no earlier
                    # state of that cluster, so it goes into the base.
                    phy_compat.keep_in_base(meta, cluster, field)

    return phy_compat.wrap_set_from_descendants(meta, clear)
