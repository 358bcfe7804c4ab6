"""Putting predictions into Phy's cluster metadata: one Classify = one undo step.

phy's ``supervisor.label`` pushes one undo step per (field, value) call, which would make a
400-unit Classify hundreds of Ctrl+Z presses. Here every (field, value) group is still recorded
on ``cluster_meta``'s own undo stack (so Phy's replay-based undo stays correct), silently, and a
single entry in the supervisor's global history undoes or redoes them all at once. The views are
refreshed once, with per-row values.

Merged or split clusters would inherit a parent's prediction (``set_from_descendants``); the
``c4_*`` fields of new clusters are cleared instead, so no stale type is ever shown.

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


class _BatchEntry:
    """One global-history entry standing for ``n`` cluster_meta steps."""

    def __init__(self, supervisor: Any, n_steps: int, clusters: list[int], fields: list[str]):
        self.supervisor = supervisor
        self.n_steps = n_steps
        self.clusters = clusters
        self.fields = fields

    def undo(self):
        # ClusterMeta.undo() rebuilds every value from its base snapshot and replays the whole
        # stack; calling it n times is quadratic (0.3 s for 400 units). Step back n entries and
        # replay once, which is what n undos amount to.
        phy_compat.replay_meta_without_last(self.supervisor.cluster_meta, self.n_steps)
        refresh_rows(self.supervisor, self.clusters, self.fields)

    def redo(self):
        with silent():
            for _ in range(self.n_steps):
                self.supervisor.cluster_meta.redo()
        refresh_rows(self.supervisor, self.clusters, self.fields)


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
                 refresh: bool = True) -> int:
    """Write ``{field: {cluster: value}}`` as one undoable action; returns the Ctrl+Z count (1).

    Values of clusters that no longer exist (merged while classifying) are skipped. With
    ``refresh=False`` the caller refreshes the cluster view itself (once, later).
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
    entry = _BatchEntry(supervisor, n_steps, sorted(touched), list(values))
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


def clear_inherited_predictions(supervisor: Any) -> bool:
    """Make merges and splits leave new clusters without (stale) c4_* predictions; False when
    this phy offers no hook for it."""
    meta = supervisor.cluster_meta

    def clear(new_clusters: list[int]) -> None:
        for field in RESULT_COLUMNS:
            if field in meta.fields:
                meta.set(field, new_clusters, None, add_to_stack=False)

    return phy_compat.wrap_set_from_descendants(meta, clear)
