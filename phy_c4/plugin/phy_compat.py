"""Every access to phy's private API, in one place, checked when the plugin starts.

phy 2.1 has no public way to make one undo step of many label changes, to refresh a few table
columns without re-fitting the whole table, or to stop merged clusters inheriting a label. The
plugin uses the private attributes below for those; ``missing(supervisor)`` lists the ones a
phy version lacks, and the plugin then falls back to the public API (one undo step per label
value; whole-table refresh; merged clusters may inherit a prediction) and says so.

Tested with phy 2.1.0 (setup.cfg pins phy>=2.1,<2.2); these internals changed between 2.0 and
2.1.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

TESTED = "2.1.0"

_REQUIRED = {
    "supervisor": ("_global_history", "_reset_cluster_view"),
    "supervisor._global_history": ("_history", "_index"),
    "cluster_meta": ("_undo_stack", "_data", "_data_base", "_fields", "set_from_descendants"),
    "cluster_view": ("_model", "_proxy", "_current_sort", "table_view", "_fit_columns"),
    "cluster_view._proxy": ("_predicate",),
    "cluster_view._model": ("_rows",),
}


def missing(supervisor: Any) -> list[str]:
    """The private attributes this phy lacks (empty on the tested versions)."""
    owners = {"supervisor": supervisor, "cluster_meta": getattr(supervisor, "cluster_meta", None),
              "cluster_view": getattr(supervisor, "cluster_view", None)}
    owners["supervisor._global_history"] = getattr(supervisor, "_global_history", None)
    owners["cluster_view._model"] = getattr(owners["cluster_view"], "_model", None)
    owners["cluster_view._proxy"] = getattr(owners["cluster_view"], "_proxy", None)
    return [f"{owner}.{name}" for owner, names in _REQUIRED.items() for name in names
            if not hasattr(owners[owner], name)]


def startup_message(supervisor: Any) -> str | None:
    """None when every private attribute is there; else what the user should know."""
    gone = missing(supervisor)
    if not gone:
        return None
    import phy

    return (f"C4: phy {getattr(phy, '__version__', '?')} differs from the tested {TESTED} "
            f"(missing {', '.join(gone[:3])}); Classify works, but its labels take one undo step "
            "per value and merged clusters may keep a prediction")


def push_history(supervisor: Any, entry: Any) -> None:
    """Add one entry to phy's global undo history (Ctrl+Z undoes it in one step)."""
    supervisor._global_history.action(entry)


def applied_history(supervisor: Any) -> list[Any]:
    """The undo entries (controllers) of phy's global history in effect now, oldest first."""
    history = supervisor._global_history
    return [c for item in history._history[1:history._index + 1] for c in item]


def update_info(**kwargs: Any) -> Any:
    """phy's ``UpdateInfo`` (the payload of a ``cluster`` event)."""
    from phy.cluster._utils import UpdateInfo

    return UpdateInfo(**kwargs)


def keep_in_base(meta: Any, cluster: int, field: str) -> None:
    """Put a cluster's current value of ``field`` into the snapshot phy's undo replays from."""
    meta._data_base.setdefault(cluster, {})[field] = deepcopy(meta._data[cluster][field])


def replay_meta_without_last(meta: Any, n_steps: int) -> None:
    """Undo the last ``n_steps`` cluster_meta steps by replaying the rest once (what n undos do,
    without their quadratic cost)."""
    from phylib.utils.event import silent

    for _ in range(n_steps):
        meta._undo_stack.back()
    meta._data = deepcopy(meta._data_base)
    with silent():
        for clusters, field, value, _up, _state in meta._undo_stack:
            if clusters is not None:
                meta.set(field, clusters, value, add_to_stack=False)


def reset_cluster_view(supervisor: Any) -> None:
    supervisor._reset_cluster_view()


def widths_from_visible_rows(table: Any) -> None:
    """Let the table fit its column widths to the rows on screen only. phy sets its columns to
    fit their contents, and Qt then measures up to 1,000 rows through phy's Python item
    delegate on every change: 460-640 ms for the 400-unit recording against 35-42 ms
    (``benchmarks/bench_gui.py``)."""
    table.table_view.horizontalHeader().setResizeContentsPrecision(0)


def cap_column_widths(table: Any, widths: dict[str, int], lead: tuple[str, ...] = ()) -> None:
    """Keep the named columns at most ``widths`` pixels wide: phy fits every column to its
    contents after each change, and a status text made one column ~700 px wide, pushing the
    type off screen. Qt elides the cut text ("..."); ``full_text_tooltips`` shows it whole.
    The ``lead`` columns are shown first after ``id`` (moved on screen only: phy's column
    list, its saved files and the similarity view keep their order), so the type is in view
    in Phy's narrow cluster view."""
    from qtpy.QtWidgets import QHeaderView

    fit = table._fit_columns

    def fit_then_cap() -> None:
        fit()
        header = table.table_view.horizontalHeader()
        for target, name in enumerate(lead, start=1):
            if name in table.columns:
                current = header.visualIndex(table.columns.index(name))
                if current != target:
                    header.moveSection(current, target)
        for column, name in enumerate(table.columns):
            mode = QHeaderView.Interactive if name in widths else QHeaderView.ResizeToContents
            if header.sectionResizeMode(column) != mode:
                header.setSectionResizeMode(column, mode)  # a fitted section cannot be resized
            if name in widths:
                table.table_view.resizeColumnToContents(column)
                if header.sectionSize(column) > widths[name]:
                    header.resizeSection(column, widths[name])

    table._fit_columns = fit_then_cap
    fit_then_cap()


def cell_text(table: Any, row: int, column: int) -> str:
    """The full text of a cell of the table as shown (proxy row and column)."""
    index = table._proxy.index(row, column)
    value = table._proxy.data(index)
    return "" if value is None else str(value)


def full_text_tooltips(table: Any, columns: dict[str, int]) -> Any:
    """Show the whole text of a cell of ``columns`` as its tooltip; returns the event filter
    (keep a reference)."""
    from qtpy.QtCore import QEvent, QObject
    from qtpy.QtWidgets import QToolTip

    class Tooltips(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
            if event.type() != QEvent.ToolTip:
                return False
            index = table.table_view.indexAt(event.pos())
            if not index.isValid() or table.columns[index.column()] not in columns:
                return False
            text = cell_text(table, index.row(), index.column())
            if text:
                QToolTip.showText(event.globalPos(), text, table.table_view)
                return True
            return False

    tooltips = Tooltips(table.table_view)
    table.table_view.viewport().installEventFilter(tooltips)
    return tooltips


def change_columns(table: Any, rows: list[dict], fields: list[str]) -> int:
    """phy's ``Table.change`` for a few columns only: it would mark every cell as changed and
    re-fit every column width (~0.3-1 s on 400 rows). Here the rows' values are patched in place
    and only the rows on screen are signalled: the others are read when scrolled into view. All
    rows are signalled (one signal: Qt's proxy re-evaluates the table once) only when the table
    is sorted by one of these columns or filtered, since then rows may move or hide. Returns the
    number of rows signalled."""
    model = table._model
    updated = {row["id"]: row for row in rows}
    for row in model._rows:
        patch = updated.get(row["id"])
        if patch:
            row.update(patch)
    columns = [table.columns.index(f) for f in fields if f in table.columns]
    if not columns or not model.rowCount():
        return 0
    first, last = min(columns), max(columns)
    sort = table._current_sort
    reorders = bool(sort and sort[0] in fields) or table._proxy._predicate is not None
    if not reorders:
        shown = _rows_on_screen(table)
        if shown is not None:
            for start, stop in _runs(sorted(shown)):
                model.dataChanged.emit(model.index(start, first), model.index(stop, last))
            return len(shown)
    model.dataChanged.emit(model.index(0, first), model.index(model.rowCount() - 1, last))
    if sort and sort[0] in fields:
        from qtpy.QtCore import Qt

        order = Qt.AscendingOrder if sort[1] == "asc" else Qt.DescendingOrder
        table._proxy.sort(table.columns.index(sort[0]), order)
    return model.rowCount()


def _rows_on_screen(table: Any) -> list[int] | None:
    """Source rows the table view shows now (None when it cannot tell)."""
    view = table.table_view
    viewport = view.viewport()
    top = view.rowAt(0)
    if top < 0:
        return None
    bottom = view.rowAt(viewport.height() - 1)
    bottom = table._proxy.rowCount() - 1 if bottom < 0 else bottom
    proxy = table._proxy
    return [proxy.mapToSource(proxy.index(r, 0)).row() for r in range(top, bottom + 1)]


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Contiguous runs of sorted row numbers, as (first, last)."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and row == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs


def wrap_set_from_descendants(meta: Any, after: Any) -> bool:
    """Call ``after({new_cluster: [fields it inherited]})`` whenever a merge or split (or the
    undo or redo of one) gives clusters their parents' labels: only fields the cluster had no
    value of before (a cluster an undo brings back keeps its own values); False when this phy
    has no such hook."""
    original = getattr(meta, "set_from_descendants", None)
    if original is None or not all(hasattr(meta, a) for a in ("_fields", "_data", "_data_base")):
        return False

    def set_from_descendants(descendants, largest_old_cluster=None):
        new = sorted({new for _, new in descendants})
        before = {c: {f: meta.get(f, c) for f in meta.fields} for c in new}
        original(descendants, largest_old_cluster=largest_old_cluster)
        inherited = {c: [f for f in meta.fields if before[c].get(f) == meta._fields.get(f)
                         and meta.get(f, c) != meta._fields.get(f)] for c in new}
        after({c: fields for c, fields in inherited.items() if fields})

    meta.set_from_descendants = set_from_descendants
    return True
