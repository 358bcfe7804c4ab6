"""phy_c4/plugin/labels.py and the plugin's save: C4 writes its own columns, never Phy's
``group`` (good / mua / noise is the curator's call, issue #26).
"""

from __future__ import annotations

import pytest
from phylib.utils import reset

from phy_c4.io.tsv import read_cluster_column
from phy_c4.plugin import C4Plugin
from tests.conftest import inputs_changed_on_purpose, open_phy_gui

pytest.importorskip("phy")


GROUPS = {0: "good", 1: "mua", 2: "noise", 4: "good"}  # cluster 3: never labelled


@pytest.fixture
def mixed_gui(qtbot, example_copy, tmp_path, monkeypatch):
    """Phy with the plugin and the shipped default bundle on a folder whose clusters are not
    all good."""
    with open(example_copy / "cluster_group.tsv", "w") as out:
        out.write("cluster_id\tgroup\n")
        out.writelines(f"{c}\t{g}\n" for c, g in GROUPS.items())
    inputs_changed_on_purpose(example_copy)
    monkeypatch.setattr(C4Plugin, "bundle", "default")
    controller, window, plugin = open_phy_gui(example_copy, tmp_path / "config", qtbot,
                                              threading=False)
    yield controller, plugin
    window.close()
    controller.close()
    reset()


def _groups(controller) -> dict[int, str | None]:
    meta = controller.supervisor.cluster_meta
    return {c: meta.get("group", c) for c in controller.supervisor.clustering.cluster_ids}


def test_classify_accept_and_save_leave_every_group_label_as_it_was(mixed_gui, qtbot,
                                                                    example_copy):
    controller, plugin = mixed_gui
    supervisor = controller.supervisor
    before = _groups(controller)
    assert before == {**GROUPS, 3: None}
    plugin.classify_all()
    qtbot.waitUntil(lambda: len(plugin.n_undo_steps) >= 1 and not plugin.worker.isRunning(),
                    timeout=120_000)
    types = {c: supervisor.cluster_meta.get("c4_type", c) for c in before}
    assert all(t is not None for t in types.values()), types  # every cluster got a c4_type
    assert _groups(controller) == before
    supervisor.select([0, 1, 2, 3, 4])
    supervisor.block()
    plugin.accept_prediction()  # the curator's cell type: still not their group label
    assert _groups(controller) == before
    supervisor.save()
    qtbot.waitUntil(lambda: bool(plugin.saved), timeout=30_000)
    assert read_cluster_column(example_copy / "cluster_group.tsv") == GROUPS


class _Signal:
    def __init__(self):
        self.calls = []

    def emit(self, *args):
        self.calls.append(args)


class _TableModel:
    """The part of phy's table model that phy_compat.change_columns reads."""

    def __init__(self, rows):
        self._rows = rows
        self.dataChanged = _Signal()  # Qt's name

    def rowCount(self):  # noqa: N802 - Qt's name
        return len(self._rows)

    def index(self, row, column):
        return row, column


class _TableView:
    def __init__(self):
        self.slider_down = False

    def verticalScrollBar(self):  # noqa: N802 - Qt's name
        return self

    def isSliderDown(self):  # noqa: N802 - Qt's name
        return self.slider_down

    def viewport(self):
        return self

    def rowAt(self, y):  # noqa: N802 - Qt's name
        return -1  # "cannot tell which rows are on screen": every row is signalled


class _FakeSupervisor:
    """phy's Supervisor as labels.py reaches it: real ClusterMeta and GlobalHistory, a
    stand-in cluster view whose rows are plain dicts."""

    def __init__(self, cluster_ids):
        from types import SimpleNamespace

        from phy.cluster._history import GlobalHistory
        from phy.cluster._utils import ClusterMeta

        self.cluster_meta = ClusterMeta()
        self.cluster_meta.add_field("group")
        self.clustering = SimpleNamespace(cluster_ids=list(cluster_ids))
        self._global_history = GlobalHistory()
        self.columns = ["id", "n_spikes"]
        self.resets = 0
        self.labelled = []
        self.cluster_view = SimpleNamespace(
            columns=self.columns, _model=_TableModel([{"id": c} for c in cluster_ids]),
            _proxy=SimpleNamespace(_predicate=None), _current_sort=None,
            table_view=_TableView(), _fit_columns=lambda: None)

    def _reset_cluster_view(self):
        self.resets += 1

    def label(self, name, value, cluster_ids=None):  # phy's public API: one undo step a call
        self.labelled.append((name, value, list(cluster_ids)))

    def values(self, field):
        return {c: self.cluster_meta.get(field, c) for c in self.clustering.cluster_ids}

    def shown(self, field):
        return {row["id"]: row.get(field) for row in self.cluster_view._model._rows}


def test_apply_values_is_one_undo_step_that_undo_and_redo_replay_whole():
    from phy_c4.plugin.labels import BATCH, apply_values

    supervisor = _FakeSupervisor([0, 1, 2, 3])
    values = {"c4_type": {0: "GoC", 1: "MLI", 2: "GoC"}, "c4_ratio": {0: 5.0, 1: 2.0, 2: 5.0}}
    assert apply_values(supervisor, values) == 1
    assert supervisor.values("c4_type") == {0: "GoC", 1: "MLI", 2: "GoC", 3: None}
    assert supervisor.shown("c4_type") == {0: "GoC", 1: "MLI", 2: "GoC", 3: None}
    assert supervisor.columns[-2:] == ["c4_type", "c4_ratio"] and supervisor.resets == 1
    assert len(supervisor._global_history._history) == 2  # the base item and one step
    assert len(supervisor.cluster_meta._undo_stack._history) == 1 + 4  # one a (field, value)

    from phylib.utils.event import connect, unconnect

    heard = []

    def on_cluster(sender, up):  # Phy's task logger finishes an undo on this event
        heard.append((sender, up.description, up.history))

    connect(on_cluster, event="cluster", sender=supervisor)
    try:
        (up,) = supervisor._global_history.undo()
    finally:
        unconnect(on_cluster)
    assert (up.description, up.history) == (BATCH, "undo")
    assert heard == [(supervisor, BATCH, "undo")]
    assert supervisor.values("c4_type") == {0: None, 1: None, 2: None, 3: None}
    assert supervisor.values("c4_ratio") == {0: None, 1: None, 2: None, 3: None}
    assert supervisor.shown("c4_ratio") == {0: None, 1: None, 2: None, 3: None}
    (up,) = supervisor._global_history.redo()
    assert (up.description, up.history) == (BATCH, "redo")
    assert supervisor.values("c4_ratio") == {0: 5.0, 1: 2.0, 2: 5.0, 3: None}
    assert supervisor.shown("c4_type") == {0: "GoC", 1: "MLI", 2: "GoC", 3: None}


def test_an_undo_takes_back_only_its_own_step_not_the_one_before():
    from phy_c4.plugin.labels import apply_values

    supervisor = _FakeSupervisor([0, 1])
    apply_values(supervisor, {"c4_type": {0: "GoC", 1: "GoC"}})
    apply_values(supervisor, {"c4_type": {0: "MLI"}, "c4_status": {0: "ok", 1: "ok"}})
    supervisor._global_history.undo()
    assert supervisor.values("c4_type") == {0: "GoC", 1: "GoC"}
    assert supervisor.values("c4_status") == {0: None, 1: None}
    assert supervisor.shown("c4_type") == {0: "GoC", 1: "GoC"}


def test_values_of_clusters_gone_are_skipped_and_nothing_to_write_is_no_step():
    from phy_c4.plugin.labels import apply_values

    supervisor = _FakeSupervisor([0, 1])
    assert apply_values(supervisor, {"c4_type": {0: "GoC", 7: "MLI"}}) == 1
    assert supervisor.values("c4_type") == {0: "GoC", 1: None}
    assert 7 not in supervisor.cluster_meta._data and 7 not in supervisor.shown("c4_type")
    assert apply_values(supervisor, {"c4_type": {7: "MLI"}}) == 0
    assert len(supervisor._global_history._history) == 2  # still only the first step


def test_without_refresh_the_table_is_left_to_the_caller():
    from phy_c4.plugin.labels import apply_values

    supervisor = _FakeSupervisor([0, 1])
    apply_values(supervisor, {"c4_type": {0: "GoC"}}, refresh=False)
    assert supervisor.values("c4_type")[0] == "GoC"
    assert supervisor.shown("c4_type") == {0: None, 1: None}
    assert not supervisor.cluster_view._model.dataChanged.calls


def test_columns_are_added_once_and_the_view_reset_only_when_one_was_missing():
    from phy_c4.plugin.labels import ensure_columns

    supervisor = _FakeSupervisor([0])
    ensure_columns(supervisor, ["c4_type", "group"])
    ensure_columns(supervisor, ["c4_type"])
    assert supervisor.columns == ["id", "n_spikes", "c4_type", "group"]
    assert supervisor.resets == 1 and "c4_type" in supervisor.cluster_meta.fields
    ensure_columns(supervisor, [])
    assert supervisor.resets == 1


def test_an_older_phy_gets_one_public_label_call_per_field_and_value():
    from phy_c4.plugin.labels import apply_values

    supervisor = _FakeSupervisor([0, 1, 2])
    del supervisor._global_history  # a phy without the private history
    steps = apply_values(supervisor, {"c4_type": {0: "GoC", 1: "GoC", 2: "MLI", 9: "GoC"},
                                      "c4_ratio": {0: 4.0}})
    assert steps == 3
    assert supervisor.labelled == [("c4_type", "GoC", [0, 1]), ("c4_type", "MLI", [2]),
                                   ("c4_ratio", 4.0, [0])]
    assert all(type(c) is int for *_, clusters in supervisor.labelled for c in clusters)


def test_applied_tags_are_the_steps_in_effect_oldest_first():
    from phy_c4.plugin.labels import applied_tags, apply_values

    supervisor = _FakeSupervisor([0, 1])
    assert applied_tags(supervisor) == []
    apply_values(supervisor, {"c4_type": {0: "GoC"}}, tag="first")
    apply_values(supervisor, {"c4_type": {1: "MLI"}})  # no tag: not listed
    apply_values(supervisor, {"c4_type": {0: "MLI"}}, tag="third")
    from types import SimpleNamespace

    phy_step = SimpleNamespace(undo=lambda: None, redo=lambda: None, tag="not ours")
    supervisor._global_history.action(phy_step)  # phy's own entries are not C4 steps
    assert applied_tags(supervisor) == ["first", "third"]
    supervisor._global_history.undo()
    supervisor._global_history.undo()
    assert applied_tags(supervisor) == ["first"]
    del supervisor._global_history
    assert applied_tags(supervisor) is None


def test_while_the_scroll_bar_is_dragged_the_rows_are_refreshed_a_moment_later(monkeypatch):
    import qtpy.QtCore

    from phy_c4.plugin.labels import SCROLL_RETRY_MS, refresh_rows

    later = []
    monkeypatch.setattr(qtpy.QtCore, "QTimer", type("T", (), {
        "singleShot": staticmethod(lambda ms, call: later.append((ms, call)))}))
    supervisor = _FakeSupervisor([0, 1])
    supervisor.cluster_meta.set("group", [1], "mua", add_to_stack=False)
    supervisor.cluster_view.table_view.slider_down = True
    refresh_rows(supervisor, [0, 1], ["group"])
    assert supervisor.shown("group") == {0: None, 1: None} and len(later) == 1
    assert later[0][0] == SCROLL_RETRY_MS == 200
    supervisor.cluster_view.table_view.slider_down = False
    later[0][1]()
    assert supervisor.shown("group") == {0: None, 1: "mua"}


def test_refresh_skips_clusters_gone_and_signals_nothing_when_none_is_left():
    from phy_c4.plugin.labels import refresh_rows

    supervisor = _FakeSupervisor([0, 1])
    supervisor.columns.append("group")
    supervisor.cluster_meta.set("group", [0], "good", add_to_stack=False)
    refresh_rows(supervisor, [5], ["group"])
    assert not supervisor.cluster_view._model.dataChanged.calls
    refresh_rows(supervisor, [5, 0], ["group"])  # a gone cluster first: the others still
    assert supervisor.shown("group") == {0: "good", 1: None}
    assert len(supervisor.cluster_view._model.dataChanged.calls) == 1


def test_a_merge_clears_the_c4_fields_and_keeps_the_inherited_group_through_undo():
    from phy_c4.curation import SOURCE
    from phy_c4.plugin.labels import apply_values, clear_inherited_predictions

    supervisor = _FakeSupervisor([0, 1])
    meta = supervisor.cluster_meta
    meta.set("group", [0, 1], "mua", add_to_stack=False)
    assert clear_inherited_predictions(supervisor)
    apply_values(supervisor, {"c4_type": {0: "GoC", 1: "GoC"},
                              SOURCE: {0: "accepted", 1: "accepted"}})
    supervisor.clustering.cluster_ids = [2]
    steps = len(meta._undo_stack._history)
    meta.set_from_descendants([(0, 2), (1, 2)], largest_old_cluster=0)
    assert len(meta._undo_stack._history) == steps  # clearing is no step of its own
    assert meta.get("c4_type", 2) is None and meta.get(SOURCE, 2) is None
    assert meta.get("group", 2) == "mua"  # phy's own label is inherited as phy does
    apply_values(supervisor, {"c4_type": {2: "MLI"}})
    supervisor._global_history.undo()
    assert meta.get("group", 2) == "mua" and meta.get("c4_type", 2) is None


def test_a_phy_without_the_merge_hook_is_said_to_lack_it():
    from types import SimpleNamespace

    from phy_c4.plugin.labels import clear_inherited_predictions

    assert clear_inherited_predictions(SimpleNamespace(cluster_meta=object())) is False


def test_a_table_without_a_scroll_bar_is_refreshed_and_re_sorted_all_the_same():
    """No scroll bar to ask (a view of another make): no waiting for it; a table sorted by a
    changed column is re-sorted."""
    from types import SimpleNamespace

    from phy_c4.plugin.labels import refresh_rows

    supervisor = _FakeSupervisor([0, 1])
    sorted_by = []
    view = supervisor.cluster_view
    del view.table_view
    view._current_sort = ("group", "desc")
    view._proxy = SimpleNamespace(_predicate=None,
                                  sort=lambda column, order: sorted_by.append(column))
    supervisor.columns.append("group")
    supervisor.cluster_meta.set("group", [1], "noise", add_to_stack=False)
    refresh_rows(supervisor, [0, 1], ["group"])
    assert supervisor.shown("group") == {0: None, 1: "noise"}
    assert sorted_by == [supervisor.columns.index("group")]
