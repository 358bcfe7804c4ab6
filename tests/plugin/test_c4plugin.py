"""The Phy plugin in a real TemplateController/GUI (pytest-qt, offscreen)."""

from __future__ import annotations

import time

import pytest
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QAction

from phy_c4.io.results import column_values
from phy_c4.io.tsv import read_cluster_column
from phy_c4.pipeline import classify
from tests.conftest import (
    DECISIONS,
    _as_text,
    _classify_all,
    _files,
    _meta,
    _press,
    _save,
    _screen,
    _settle,
    _wait,
)

pytest.importorskip("phy")


class EventLoopWatch:
    """Longest gap between 10-ms timer ticks: how long the GUI event loop was blocked."""

    def __init__(self):
        self.last = time.perf_counter()
        self.longest = 0.0
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)
        self.timer.start(10)

    def _tick(self):
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now

    def stop(self):
        self.timer.stop()


EVENT_LOOP_START_BUDGET_MS = 200.0
"""Longest event-loop block from Phy's start to the C4 columns, in a fresh process: the target
is 100 ms (measured 25-68 ms on the 2-core project machine); the margin is for slow, shared CI
machines. phy_c4 0.2 blocked 340-470 ms here (torch and numba loading in Phy's process)."""


EVENT_LOOP_BUDGET_S = 0.5
"""Longest event-loop block allowed while classifying this small recording: the target is 0.1 s
(measured 25-30 ms here); the margin is for slow, shared CI machines."""


def test_columns_exist_at_start_and_actions_are_in_the_menu(gui):
    controller, window, plugin = gui
    for column in ("c4_type", "c4_confidence", "c4_ratio", "c4_votes", "c4_status", "cell_type",
                   "cell_type_source", "cell_type_by", "cell_type_rejected"):
        assert column in controller.supervisor.columns
    # column widths follow the rows on screen (a change no longer measures every row)
    header = controller.supervisor.cluster_view.table_view.horizontalHeader()
    assert header.resizeContentsPrecision() == 0
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert "C4" in menus
    names = {"classify_selected", "classify_good", "classify_all", "accept_prediction",
             "reject_prediction", "set_type", "review_next", "review_previous", "show_model"}
    assert names <= set(plugin.actions._actions_dict)
    assert names <= set(plugin.view_actions._actions_dict)
    # our shortcuts collide with no other action of the GUI
    shortcuts = {}
    for action in window.findChildren(QAction):
        for key in action.shortcuts():
            shortcuts.setdefault(key.toString(), set()).add(action.text())
    for key in ("Ctrl+Shift+C", "Ctrl+Shift+A", "Ctrl+Shift+R", "Ctrl+Shift+T", "Ctrl+Shift+N",
                "Ctrl+Shift+P"):
        assert len(shortcuts[key]) == 1, shortcuts[key]


def test_classify_all_matches_the_pipeline_undo_redo_and_save(gui, qtbot, example_copy,
                                                               c4_bundle):
    controller, window, plugin = gui
    watch = EventLoopWatch()
    plugin.actions.get("classify_all").trigger()
    assert plugin.classify_all() is False  # a second request while one runs is refused
    assert "still classifying" in window.status_message
    _wait(qtbot, plugin, 1)
    watch.stop()
    assert plugin.n_undo_steps == [1]
    clusters = list(controller.supervisor.clustering.cluster_ids)
    expected = column_values(classify(example_copy, clusters, bundle=c4_bundle).table)
    for column in ("c4_type", "c4_confidence", "c4_ratio", "c4_votes", "c4_status"):
        assert _meta(controller, column, clusters) == expected[column], column
    print(f"\nlongest event-loop block while classifying: {watch.longest * 1000:.0f} ms")
    assert watch.longest < EVENT_LOOP_BUDGET_S, watch.longest
    assert "classified" in window.status_message
    controller.supervisor.undo()  # one Ctrl+Z undoes the whole Classify
    assert set(_meta(controller, "c4_type", clusters).values()) == {None}
    controller.supervisor.redo()
    assert _meta(controller, "c4_type", clusters) == expected["c4_type"]
    controller.supervisor.save()
    saved = read_cluster_column(example_copy / "cluster_c4_type.tsv")
    assert saved == {c: v for c, v in expected["c4_type"].items() if v is not None}
    confidence = read_cluster_column(example_copy / "cluster_c4_confidence.tsv")
    assert {c: float(v) for c, v in confidence.items()} == {
        c: v for c, v in expected["c4_confidence"].items() if v is not None}


def test_selected_view_merge_and_accept(gui, qtbot, example_copy):
    controller, _window, plugin = gui
    supervisor = controller.supervisor
    supervisor.select([0, 2])
    supervisor.block()
    plugin.classify_selected()
    _wait(qtbot, plugin, 1)
    classified = {c for c, v in _meta(controller, "c4_type", [0, 2]).items() if v is not None}
    assert classified == {0, 2}
    assert _meta(controller, "c4_type", [1])[1] is None  # not selected, not classified
    assert plugin.view.cluster_id == 0
    qtbot.waitUntil(lambda: plugin.view.n_rendered >= 1, timeout=20_000)  # rendered off-thread
    assert not plugin.view.label.pixmap().isNull()
    plugin.accept_prediction()
    human = _meta(controller, "cell_type", [0, 2])
    predicted = _meta(controller, "c4_type", [0, 2])
    assert all(human[c] == predicted[c] for c in human if predicted[c] not in ("", "unclassified"))
    supervisor.merge([0, 2])
    supervisor.block()
    new = max(supervisor.clustering.cluster_ids)
    assert _meta(controller, "c4_type", [new])[new] is None  # no stale, inherited prediction
    supervisor.select([new])
    supervisor.block()
    assert plugin.view.cluster_id == new
    assert "has no C4 result" in plugin.view.label.text()


def test_cancel_stops_a_running_classify_and_changes_nothing(gui, qtbot, monkeypatch):
    """Each unit made to take 0.5 s (5 units: 2.5 s): cancel stops the worker at the next unit,
    and the columns stay empty. With cancel() a no-op the run would finish and fill them."""
    import phy_c4.pipeline as pipeline

    controller, _window, plugin = gui
    real = pipeline._finish_unit

    def slow(*args, **kwargs):
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_finish_unit", slow)
    plugin.worker_process = False  # the slowed pipeline runs in this process
    plugin.options = pipeline.PipelineOptions(quality=None, cache=False)
    try:
        plugin.classify_all()
        qtbot.wait(700)
        started = time.perf_counter()
        plugin.cancel_classification(wait=True)
        assert time.perf_counter() - started < 1.0
        assert not plugin.worker.isRunning()
        qtbot.waitUntil(lambda: "cancelled" in _window.status_message, timeout=5_000)
        clusters = list(controller.supervisor.clustering.cluster_ids)
        assert set(_meta(controller, "c4_type", clusters).values()) == {None}
    finally:
        plugin.options = None


def test_phy_process_never_loads_torch_or_numba(tmp_path):
    """In a fresh interpreter, Phy with the plugin: Classify all, the columns, the C4 view's
    figure; torch, numba and matplotlib stay in the worker process. The event loop is never
    blocked longer than the budget (the issue's target: 100 ms; measured 25-68 ms here)."""
    import json
    import subprocess
    import sys

    from phy_c4.testing import make_dataset

    folder = tmp_path / "rec"
    make_dataset(folder, n_units_per_type=4, duration_s=240.0, seed=0, n_channels=6, raw=False)
    run = subprocess.run([sys.executable, "-m", "phy_c4.plugin.probe", str(folder)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    probe = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"\nfresh Phy process: {probe}")
    assert probe["clusters_with_columns"] == 20
    assert not probe["torch_in_phy_process"] and not probe["numba_in_phy_process"]
    assert probe["longest_block_ms"] < EVENT_LOOP_START_BUDGET_MS, probe


def test_ctrl_s_publishes_the_files_the_cli_writes(gui, qtbot, example_copy, c4_bundle,
                                                  tmp_path):
    """Classify all + Ctrl+S in Phy, and `phy-c4 classify --group all` on a copy: the same
    columns, audit folder and run manifest, byte for byte apart from timestamps."""
    import json
    import shutil

    import numpy as np

    from phy_c4.cli import main

    controller, _window, plugin = gui
    cli_folder = tmp_path / "cli"
    shutil.copytree(example_copy, cli_folder, ignore=shutil.ignore_patterns("raw.bin"))
    (cli_folder / "raw.bin").symlink_to((example_copy / "raw.bin").resolve())
    plugin.classify_all()
    _wait(qtbot, plugin, 1)
    controller.supervisor.save()
    qtbot.waitUntil(lambda: bool(plugin.saved), timeout=30_000)
    assert main(["classify", str(cli_folder), "--bundle", str(c4_bundle.path), "--group", "all",
                 "--quiet"]) == 0
    columns = sorted(p.name for p in cli_folder.glob("cluster_c4_*.tsv"))
    assert len(columns) == 8  # type, confidence, ratio, votes, model, status, pair, novelty
    for name in columns:
        assert (example_copy / name).read_bytes() == (cli_folder / name).read_bytes(), name
    audit_gui, audit_cli = (f / "cell_type_classification" for f in (example_copy, cli_folder))
    assert sorted(p.name for p in audit_gui.iterdir()) == sorted(p.name for p in
                                                                 audit_cli.iterdir())
    for path in audit_cli.iterdir():
        mine = audit_gui / path.name
        if path.suffix == ".json":
            a, b = (json.loads(p.read_text()) for p in (mine, path))
            a.pop("created"), b.pop("created")
            assert a == b
        elif path.suffix == ".npz":  # zip entries carry their write time
            with np.load(mine) as a, np.load(path) as b:
                assert a.files == b.files
                for key in a.files:
                    np.testing.assert_array_equal(a[key], b[key])
        else:
            assert mine.read_bytes() == path.read_bytes(), path.name


def test_classify_good_uses_the_gui_labels(gui, qtbot):
    controller, window, plugin = gui
    controller.supervisor.label("group", "noise", cluster_ids=[0, 1])
    assert plugin.classify_good()
    assert plugin.worker.cluster_ids == [2, 3, 4]
    _wait(qtbot, plugin, 1)
    controller.supervisor.label("group", "noise", cluster_ids=[2, 3, 4])
    assert plugin.classify_good() is False
    assert "no 'good' clusters" in window.status_message


def test_merge_during_a_running_classify(gui, qtbot, monkeypatch):
    """Clusters merged while classifying get no result (their ids are gone); the others do."""
    import phy_c4.pipeline as pipeline

    controller, _window, plugin = gui
    real = pipeline._finish_unit
    monkeypatch.setattr(pipeline, "_finish_unit", lambda *a, **k: time.sleep(0.2) or real(*a, **k))
    plugin.options = pipeline.PipelineOptions(quality=None, cache=False)
    try:
        plugin.classify_all()
        qtbot.wait(100)
        controller.supervisor.merge([0, 1])
        controller.supervisor.block()
        _wait(qtbot, plugin, 1)
    finally:
        plugin.options = None
    new = max(controller.supervisor.clustering.cluster_ids)
    assert _meta(controller, "c4_type", [new])[new] is None
    shown = _meta(controller, "c4_type", [2, 3, 4])
    assert all(v is not None for v in shown.values()), shown


def test_layer_edited_in_the_gui_reaches_the_pipeline(gui, qtbot):
    controller, _window, plugin = gui
    controller.supervisor.label("layer", "PCL", cluster_ids=[2])
    controller.supervisor.select([2])
    controller.supervisor.block()
    plugin.classify_selected()
    assert plugin.worker.layer == {2: "PCL"}
    _wait(qtbot, plugin, 1)


def test_one_recording_per_session(gui, qtbot):
    controller, _window, plugin = gui
    plugin.worker_process = False  # the in-process mode keeps its session here
    plugin.classify_all()
    _wait(qtbot, plugin, 1)
    first = plugin.session["recording"]
    controller.supervisor.merge([0, 1])
    controller.supervisor.block()
    plugin.classify_all()
    _wait(qtbot, plugin, 2)
    assert plugin.session["recording"] is first  # not reopened; only the assignment changed
    new = max(controller.supervisor.clustering.cluster_ids)
    assert _meta(controller, "c4_type", [new])[new] is not None


STDIN_SCRIPT = """
import os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from phy.apps.template import TemplateController
from phylib.io.model import load_model
from qtpy.QtWidgets import QApplication
from phy.gui.qt import create_app
from phy_c4.plugin import C4Plugin

from pathlib import Path
folder, config, bundle = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
C4Plugin.bundle = bundle
app = create_app()
controller = TemplateController(dir_path=folder, config_dir=config, model=load_model(
    folder / "params.py"), plugins=["C4Plugin"], clear_cache=True, clear_state=True,
    enable_threading=False)
gui = controller.create_gui(do_prompt_save=False)
gui.show()
plugin = controller.c4_plugin
plugin.classify_all()  # C4's quality filter on (the default options)
deadline = time.time() + 120
while (plugin.worker.isRunning() or not plugin.n_undo_steps) and time.time() < deadline:
    app.processEvents()
    time.sleep(0.01)
meta = controller.supervisor.cluster_meta
print("TYPES", [meta.get("c4_status", c) for c in controller.supervisor.clustering.cluster_ids])
gui.close()
"""


def test_plugin_works_in_phy_started_from_standard_input(tmp_path):
    """phy_c4 0.1 spawned worker processes for the quality filter of 8 units or more; they
    re-import __main__, so a host reading its script from stdin never got its columns (tried:
    all ten statuses None, FileNotFoundError '<stdin>'). Now everything runs in threads."""
    import ast
    import subprocess
    import sys

    from phy_c4.testing import make_dataset

    folder = tmp_path / "rec10"
    make_dataset(folder, n_units_per_type=2, duration_s=200.0, seed=2, n_channels=4, raw=False)
    run = subprocess.run([sys.executable, "-", str(folder), str(tmp_path / "config"), "default"],
                         input=STDIN_SCRIPT, text=True, capture_output=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(x for x in run.stdout.splitlines() if x.startswith("TYPES"))
    statuses = ast.literal_eval(line[len("TYPES"):])
    assert len(statuses) == 10 and None not in statuses, statuses


def test_cerebellar_depth_from_the_c4_menu(gui, qtbot):
    from phy_c4.status import Status, status_of

    controller, window, plugin = gui
    assert plugin.actions.get("set_cerebellar_depth") is not None
    plugin.set_cerebellar_depth(5000, 6000)  # the example's channels are at 0-60 µm
    assert "5000-6000" in window.status_message
    plugin.classify_all()
    _wait(qtbot, plugin, 1)
    clusters = list(controller.supervisor.clustering.cluster_ids)
    statuses = _meta(controller, "c4_status", clusters)
    assert _meta(controller, "c4_type", clusters) == {c: "" for c in clusters} or all(
        status_of(s) != Status.OK for s in statuses.values())
    assert any(status_of(s) == Status.OUTSIDE_CEREBELLUM for s in statuses.values())
    assert list(plugin.last_result.parameters["region"]["depth_um"]) == [5000.0, 6000.0]


def test_layers_from_pairs_fills_the_layer_column_in_one_undo_step(gui, qtbot):
    from phy_c4.pipeline import PipelineOptions

    controller, window, plugin = gui
    plugin.bundle, plugin.options = "default", PipelineOptions(quality=None)
    assert plugin.layers_from_pairs("above") == 0
    assert "classify first" in window.status_message
    plugin.classify_all()
    _wait(qtbot, plugin, 1)
    clusters = list(controller.supervisor.clustering.cluster_ids)
    before = _meta(controller, "layer", clusters)
    pairs = {c: p for c, p in _meta(controller, "c4_pair", clusters).items() if p}
    assert pairs, "the example's planted CS-SS pair was not found"
    assert "CS-SS pairs" in window.status_message
    assert plugin.layers_from_pairs("none") == 1
    after = _meta(controller, "layer", clusters)
    assert all(after[c] == "PCL" for c in pairs)
    assert "Purkinje layer at" in window.status_message
    controller.supervisor.undo()
    assert _meta(controller, "layer", clusters) == before


def test_table_refresh_signals_only_the_rows_on_screen_unless_they_may_move(qtbot):
    """phy_compat.change_columns: with 300 rows and a short table, only the rows shown are
    signalled; the others show their new value when scrolled to. Sorted or filtered by a changed
    column, every row is signalled and the order follows the new values."""
    from phy.gui.widgets import Table

    from phy_c4.plugin.phy_compat import change_columns

    table = Table(columns=["id", "c4_type", "c4_ratio"],
                  data=[{"id": i, "c4_type": None, "c4_ratio": None} for i in range(300)])
    table.resize(300, 250)
    table.show()
    qtbot.waitExposed(table)
    signalled = []
    table._model.dataChanged.connect(lambda a, b: signalled.append((a.row(), b.row())))
    rows = [{"id": i, "c4_type": "MLI", "c4_ratio": float(300 - i)} for i in range(300)]
    shown = change_columns(table, rows, ["c4_type", "c4_ratio"])
    assert 0 < shown < 30 and sum(b - a + 1 for a, b in signalled) == shown
    last = table._model.index(299, table.columns.index("c4_ratio"))
    assert table._model.data(last) == 1.0  # off screen, yet read fresh when shown
    table.sort_by("c4_ratio", "asc")
    signalled.clear()
    rows = [{"id": i, "c4_type": "GoC", "c4_ratio": float(i)} for i in range(300)]
    assert change_columns(table, rows, ["c4_ratio"]) == 300
    assert table._visible_ids()[:3] == [0, 1, 2]  # re-sorted by the new ratios
    table.close()


def test_ctrl_s_after_undoing_a_classify_saves_the_state_on_screen(curation, qtbot):
    """Item 1 of issue 24: Classify, save, Classify again with a depth range excluding every
    unit, Ctrl+Z (the table shows the first run), Ctrl+S: the files hold the first run and
    reopening shows it. phy_c4 0.3 published the undone run (every type empty). Item 7: a
    repeated Ctrl+S rewrites nothing of C4's."""
    folder, open_gui, close = curation
    controller, window, plugin = open_gui()
    supervisor = controller.supervisor
    _classify_all(qtbot, plugin)
    first = _screen(controller, ("c4_type", "c4_status", "c4_ratio"))
    assert any(v not in ("", "unclassified") for v in first["c4_type"].values())
    _save(qtbot, supervisor, plugin)
    plugin.set_cerebellar_depth(5000, 6000)  # the generated probe is at 0-100 µm
    _classify_all(qtbot, plugin)
    assert _screen(controller, ("c4_type",))["c4_type"] == {}  # every type blank
    _press(window, "Ctrl+Z")
    supervisor.block()
    assert _screen(controller, ("c4_type", "c4_status", "c4_ratio")) == first
    _save(qtbot, supervisor, plugin)
    assert _files(folder, ["c4_type", "c4_status"]) == _as_text(
        {f: first[f] for f in ("c4_type", "c4_status")})
    # item 7: a repeated Ctrl+S publishes nothing again (phy_c4 0.3 rewrote the audit folder
    # in Phy's event loop, 0.25-0.3 s on 350 units: benchmarks/bench_gui.py --only save)
    audit = sorted((folder / "cell_type_classification").iterdir())
    written = [p.stat().st_mtime_ns for p in audit]
    _save(qtbot, supervisor, plugin)
    assert "unchanged" in window.status_message
    assert [p.stat().st_mtime_ns for p in audit] == written
    close()
    controller, window, plugin = open_gui()
    assert _screen(controller, ("c4_type", "c4_status")) == {
        f: first[f] for f in ("c4_type", "c4_status")}


def test_decisions_are_not_inherited_through_merges_and_splits(curation, qtbot):
    """Item 2: an accepted unit merged with an undecided one, a rejected merged with an
    accepted one, an optotagged unit split in two: no new cluster carries a decision, on screen,
    in the saved files, or in what ``review`` reads. phy_c4 0.3 cleared only ``c4_*``: the
    merged cluster read "accepted" with the old signature and left the review queue."""
    from phy_c4.training.review import curated_units

    folder, open_gui, _close = curation
    controller, _window, plugin = open_gui()
    supervisor = controller.supervisor
    _classify_all(qtbot, plugin)
    confident = [c for c, t in _screen(controller, ("c4_type",))["c4_type"].items()
                 if t not in ("", "unclassified")]
    accepted, undecided, rejected, accepted2, tagged, kept = confident[:6]
    for clusters, action in (([accepted, accepted2, kept], plugin.accept_prediction),
                             ([rejected], plugin.reject_prediction),
                             ([tagged], lambda: plugin.set_type("MFB", "optotagged"))):
        supervisor.select(clusters)
        _settle(qtbot, supervisor)
        assert action()
    old = set(supervisor.clustering.cluster_ids)
    supervisor.merge([accepted, undecided])
    supervisor.block()
    supervisor.merge([rejected, accepted2])
    supervisor.block()
    spikes = supervisor.clustering.spikes_per_cluster[tagged]
    supervisor.split(spikes[::2])
    supervisor.block()
    new = sorted(set(supervisor.clustering.cluster_ids) - old)
    assert len(new) == 4  # two merges, two halves
    meta = supervisor.cluster_meta
    for field in (*DECISIONS, "c4_type", "c4_status"):
        assert {c: meta.get(field, c) for c in new} == dict.fromkeys(new), field
    _save(qtbot, supervisor, plugin)
    saved = _files(folder, DECISIONS)
    assert not any(c in per for per in saved.values() for c in new), saved
    assert curated_units(folder).cluster_ids.tolist() == [kept]
    plugin.classify_all()  # the new clusters are classified again and join the review queue
    _wait(qtbot, plugin, 2)
    assert set(new) <= set(plugin.review_queue())


def test_a_c4_undo_after_a_merge_leaves_phy_as_its_own_undo_does(curation, qtbot):
    """Item 3: with Phy's threading on, Ctrl+Z of a C4 step lets Phy's task logger finish
    (``block()`` returns, Space selects the next cluster) and keeps the group a merged cluster
    inherited. phy_c4 0.3: the logger stayed "processing" (Space did nothing, block() timed
    out) and the merged cluster lost its ``good``."""
    folder, open_gui, _close = curation
    controller, window, plugin = open_gui()
    supervisor = controller.supervisor
    supervisor.label("group", "good", cluster_ids=[0, 1])
    supervisor.merge([0, 1])
    supervisor.block()
    merged = max(supervisor.clustering.cluster_ids)
    assert supervisor.cluster_meta.get("group", merged) == "good"
    _classify_all(qtbot, plugin)
    supervisor.select([2])
    _settle(qtbot, supervisor)
    assert plugin.set_type("MLI", "optotagged")
    for keys in ("Ctrl+Z", "Ctrl+Z", "Ctrl+Shift+Z"):  # the decision, the Classify; redo it
        _press(window, keys)
        supervisor.block()  # phy_c4 0.3: timed out here
        assert not supervisor.task_logger._processing
        assert supervisor.cluster_meta.get("group", merged) == "good"
    assert supervisor.cluster_meta.get("cell_type", 2) is None
    assert supervisor.cluster_meta.get("c4_type", 2) is not None
    history = supervisor.task_logger._history
    done = len(history)
    supervisor.select_actions.get("next").trigger()  # Space: the next similar cluster
    supervisor.block()
    # phy ignores "next" while its task logger is processing (phy_c4 0.3, after a C4 undo)
    qtbot.waitUntil(lambda: any(t[1] == "next" for t in history[done:]), timeout=5_000)
    supervisor.save()
    from phy_c4.io.tsv import read_cluster_column

    assert read_cluster_column(folder / "cluster_group.tsv")[merged] == "good"


def test_the_review_walk_goes_on_from_where_it_is_at_any_speed(curation, qtbot, monkeypatch):
    """Item 4: a fixed order that decisions do not reset; Next goes on from the selected unit;
    four fast presses advance four units and the C4 view follows; after a decision Next goes
    on; every undecided unit is reached, the least confident too (wrapping around); an
    unclassified unit is accepted with its most probable type; Set type proposes a real type
    and refuses "PkC-ss" and "unclassified" with a message. phy_c4 0.3: Next returned to the
    head after each decision, started after the selection, stuck on fast presses, did nothing
    on unclassified units, proposed "unclassified" and let Phy's prompt raise on "PkC-ss"."""
    import phy.gui.qt

    _folder, open_gui, _close = curation
    controller, window, plugin = open_gui()
    supervisor = controller.supervisor
    _classify_all(qtbot, plugin)
    ratios = sorted(_screen(controller, ("c4_ratio",))["c4_ratio"].values())
    plugin.threshold = ratios[len(ratios) // 2]  # about half the units below it
    _classify_all(qtbot, plugin)
    order = plugin.review_order()
    assert len(order) == 10 and order == plugin.review_queue()
    supervisor.select([order[3]])
    _settle(qtbot, supervisor)
    _press(window, "Ctrl+Shift+N")
    _settle(qtbot, supervisor)
    assert supervisor.selected == [order[4]]  # from where the curator is
    for i in range(4):  # faster than the selection comes back: some come back in between
        _press(window, "Ctrl+Shift+N")
        if i == 1:
            qtbot.waitUntil(lambda: supervisor.selected != [order[4]], timeout=5_000)
    qtbot.waitUntil(lambda: supervisor.selected == [order[8]], timeout=5_000)
    qtbot.wait(300)
    assert supervisor.selected == [order[8]] and plugin.view.cluster_id == order[8]
    meta = supervisor.cluster_meta
    unclassified = [c for c in order if meta.get("c4_type", c) == "unclassified"]
    assert unclassified
    target = unclassified[0]
    supervisor.select([target])
    _settle(qtbot, supervisor)
    offered = []

    def dialog(text):
        def answer(title, prompt, default=None):
            offered.append(default)
            return text, True
        return answer

    monkeypatch.setattr(phy.gui.qt, "input_dialog", dialog("PkC-ss"))
    _press(window, "Ctrl+Shift+T")
    assert "did you mean PkC_ss" in window.status_message
    assert offered[-1] not in ("", "unclassified") and offered[-1] in plugin.known_types()
    monkeypatch.setattr(phy.gui.qt, "input_dialog", dialog("unclassified"))
    _press(window, "Ctrl+Shift+T")
    assert "not a type" in window.status_message
    assert meta.get("cell_type", target) is None
    _press(window, "Ctrl+Shift+A")  # an unclassified unit, accepted with its likeliest type
    assert meta.get("cell_type", target) == offered[0]
    assert meta.get("cell_type_source", target) == "accepted"
    position = order.index(target)
    _press(window, "Ctrl+Shift+N")  # goes on after the decided unit, not back to the head
    _settle(qtbot, supervisor)
    following = [c for c in order[position + 1:] + order[:position] if c != target]
    assert supervisor.selected == [following[0]]
    reached = {plugin.review_next() for _ in range(len(order))}
    assert reached == set(order) - {target}  # every undecided unit, wrapping around
    _settle(qtbot, supervisor)
