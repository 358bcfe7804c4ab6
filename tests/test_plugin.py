"""The Phy plugin in a real TemplateController/GUI (pytest-qt, offscreen)."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("phy")

from phy.apps.template import TemplateController
from phylib.io.model import load_model
from phylib.utils import reset
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QAction

from phy_c4.io.results import column_values
from phy_c4.io.tsv import read_cluster_column
from phy_c4.pipeline import classify
from phy_c4.plugin import C4Plugin
from phy_c4.plugin_install import install, uninstall


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


@pytest.fixture
def gui(qtbot, example_copy, tmp_path, c4_bundle):
    C4Plugin.bundle = str(c4_bundle.path)
    model = load_model(example_copy / "params.py")
    controller = TemplateController(dir_path=example_copy, config_dir=tmp_path / "config",
                                    model=model, plugins=["C4Plugin"], clear_cache=True,
                                    clear_state=True, enable_threading=False)
    window = controller.create_gui(do_prompt_save=False)
    window.show()
    qtbot.waitExposed(window)
    controller.supervisor.block()
    yield controller, window, controller.c4_plugin
    window.close()
    controller.close()
    reset()


def _wait(qtbot, plugin, n_runs):
    qtbot.waitUntil(lambda: len(plugin.n_undo_steps) >= n_runs and not plugin.worker.isRunning(),
                    timeout=120_000)


def _meta(controller, field, clusters):
    return {c: controller.supervisor.cluster_meta.get(field, c) for c in clusters}


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
             "reject_prediction", "set_type", "review_next", "review_previous"}
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
    assert "not been classified" in plugin.view.label.text()


def test_cancel_stops_a_running_classify_and_changes_nothing(gui, qtbot, monkeypatch):
    """Each unit made to take 0.5 s (5 units: 2.5 s): cancel stops the worker at the next unit,
    and the columns stay empty. With cancel() a no-op the run would finish and fill them."""
    import phy_c4.pipeline as pipeline

    controller, _window, plugin = gui
    real = pipeline._finish_unit

    def slow(*args):
        time.sleep(0.5)
        return real(*args)

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


def test_cancel_in_the_worker_process_changes_nothing(gui, qtbot):
    """Cancelling right after Classify: the worker process finds the cancel file before its
    first unit; nothing is written. With cancel() a no-op the run would fill the columns."""
    controller, window, plugin = gui
    assert plugin.classify_all()
    assert plugin.worker.service is not None  # the default: the pipeline runs in the process
    plugin.cancel_classification(wait=True)
    qtbot.waitUntil(lambda: "cancelled" in window.status_message, timeout=30_000)
    clusters = list(controller.supervisor.clustering.cluster_ids)
    assert set(_meta(controller, "c4_type", clusters).values()) == {None}
    assert plugin.classify_all()  # the worker process still serves the next request
    _wait(qtbot, plugin, 1)
    assert None not in _meta(controller, "c4_status", clusters).values()


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


def test_screenshot_and_the_why_of_the_selected_cluster(gui, qtbot, tmp_path, c4_bundle):
    controller, window, plugin = gui
    controller.supervisor.select([0])
    controller.supervisor.block()
    plugin.classify_all()
    _wait(qtbot, plugin, 1)
    controller.supervisor.select([0])
    controller.supervisor.block()
    qtbot.waitUntil(lambda: plugin.view.last_explanation is not None, timeout=20_000)
    why = plugin.view.last_explanation
    assert why.cluster_id == 0 and why.acg_3d_source == "model input"  # C4's CNN bundle
    assert why.members.shape[1] == c4_bundle.n_members
    qtbot.wait(300)
    path = tmp_path / "gui.png"
    assert window.grab().save(str(path))
    assert path.stat().st_size > 10_000


def test_install_plugin_is_idempotent_and_reversible(tmp_path):
    config = tmp_path / "phy_config.py"
    config.write_text("c = get_config()\nc.TemplateGUI.plugins = ['Other']\n")
    original = config.read_text()
    first = install(tmp_path)
    assert any("backed up" in line for line in first)
    assert install(tmp_path) == []  # idempotent
    assert "C4Plugin" in config.read_text() and (tmp_path / "plugins" / "phy_c4_plugin.py").exists()
    assert len(list(tmp_path.glob("phy_config.py.bak-*"))) == 1
    uninstall(tmp_path)
    assert config.read_text() == original
    assert not (tmp_path / "plugins" / "phy_c4_plugin.py").exists()


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
    monkeypatch.setattr(pipeline, "_finish_unit", lambda *a: time.sleep(0.2) or real(*a))
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


def test_phy_private_api_is_checked_and_has_a_public_fallback(gui, monkeypatch):
    from phy_c4.plugin import phy_compat
    from phy_c4.plugin.labels import apply_values

    controller, _window, _plugin = gui
    supervisor = controller.supervisor
    assert phy_compat.missing(supervisor) == []  # the pinned phy has every private hook
    assert phy_compat.startup_message(supervisor) is None
    monkeypatch.delattr(supervisor.cluster_meta, "_data_base")  # as if another phy version
    assert phy_compat.missing(supervisor) == ["cluster_meta._data_base"]
    assert "differs from the tested" in phy_compat.startup_message(supervisor)
    steps = apply_values(supervisor, {"c4_type": {0: "GoC", 1: "GoC", 2: "MLI"}})
    assert steps == 2  # public API: one undo step per value
    assert _meta(controller, "c4_type", [0, 1, 2]) == {0: "GoC", 1: "GoC", 2: "MLI"}


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


def _open_gui(folder, config_dir, qtbot):
    model = load_model(folder / "params.py")
    controller = TemplateController(dir_path=folder, config_dir=config_dir, model=model,
                                    plugins=["C4Plugin"], clear_cache=True, clear_state=True,
                                    enable_threading=False)
    window = controller.create_gui(do_prompt_save=False)
    window.show()
    qtbot.waitExposed(window)
    controller.supervisor.block()
    return controller, window, controller.c4_plugin


def _settle(qtbot, supervisor):
    """Wait until the supervisor has taken in the cluster view's selection (the view emits it
    debounced, after ``block()`` may already have returned)."""
    supervisor.block()
    qtbot.waitUntil(lambda: supervisor.selected_clusters ==
                    supervisor.cluster_view.get_selected_ids(), timeout=5_000)


def _press(window, keys):
    """Trigger the action bound to ``keys`` (what pressing them does when the GUI has focus)."""
    matches = [a for a in window.findChildren(QAction)
               if keys in [k.toString() for k in a.shortcuts()]]
    assert len(matches) == 1, (keys, [a.text() for a in matches])
    matches[0].trigger()


def test_review_loop_by_keyboard_survives_save_reopen_and_classify_then_adapts(
        qtbot, tmp_path, monkeypatch, capsys):
    """Classify, walk the review queue with the keyboard (accept, reject, set type), save,
    reopen, classify again: the decisions stay and the rejection holds; then ``review`` and
    ``adapt`` learn from the folder labelled in the GUI."""
    import json

    import phy.gui.actions

    from phy_c4.cli import main
    from phy_c4.families import load_bundle
    from phy_c4.io.tsv import read_cluster_column
    from phy_c4.pipeline import PipelineOptions
    from phy_c4.status import Status, status_of
    from phy_c4.testing import make_dataset

    folder = tmp_path / "rec25"
    make_dataset(folder, n_units_per_type=5, duration_s=200.0, seed=3, n_channels=4, raw=False,
                 waveforms="drawn")  # shapes the default bundle partly misreads: adapt helps
    truth = {int(c): t for c, t in read_cluster_column(folder / "cluster_true_type.tsv").items()}
    monkeypatch.setattr(C4Plugin, "bundle", "default")
    monkeypatch.setattr(C4Plugin, "threshold", 1.0)  # every unit gets a confident type
    monkeypatch.setattr(C4Plugin, "options", PipelineOptions(quality=None))
    controller, window, plugin = _open_gui(folder, tmp_path / "config", qtbot)
    supervisor = controller.supervisor
    try:
        plugin.classify_all()
        _wait(qtbot, plugin, 1)
        queue = plugin.review_queue()
        assert len(queue) == 25
        _press(window, "Ctrl+Shift+N")
        _settle(qtbot, supervisor)
        accepted = queue[0]
        assert supervisor.selected == [accepted]
        _press(window, "Ctrl+Shift+A")
        supervisor.block()
        assert plugin.review_queue() == queue[1:]  # a decided unit leaves the queue
        _press(window, "Ctrl+Shift+N")
        _settle(qtbot, supervisor)
        rejected = supervisor.selected[0]
        assert rejected == queue[1]
        rejected_type = _meta(controller, "c4_type", [rejected])[rejected]
        _press(window, "Ctrl+Shift+R")
        supervisor.block()
        assert _meta(controller, "c4_type", [rejected])[rejected] == "unclassified"
        _press(window, "Ctrl+Shift+N")
        _settle(qtbot, supervisor)
        corrected = supervisor.selected[0]
        monkeypatch.setattr(phy.gui.actions, "input_dialog",
                            lambda title, text, default=None: (f"{truth[corrected]} optotagged",
                                                               True))
        _press(window, "Ctrl+Shift+T")
        supervisor.block()
        # the curator labels the rest from their ground truth
        rest = [c for c in queue if c not in (accepted, rejected, corrected)]
        for cell_type in sorted(set(truth.values())):
            chosen = [c for c in rest if truth[c] == cell_type]
            supervisor.select(chosen)
            _settle(qtbot, supervisor)
            plugin.set_type(cell_type, "optotagged")
        decisions = {field: _meta(controller, field, queue) for field in
                     ("cell_type", "cell_type_source", "cell_type_by", "cell_type_rejected")}
        assert decisions["cell_type_source"][accepted] == "accepted"
        assert decisions["cell_type_source"][rejected] == "rejected"
        assert decisions["cell_type_rejected"][rejected] == rejected_type
        assert decisions["cell_type"][corrected] == truth[corrected]
        assert decisions["cell_type_source"][corrected] == "optotagged"
        assert all(decisions["cell_type_by"].values())
        assert plugin.review_queue() == []
        supervisor.save()
        qtbot.waitUntil(lambda: bool(plugin.saved), timeout=30_000)
    finally:
        window.close()
        controller.close()
        reset()
    saved_type = read_cluster_column(folder / "cluster_c4_type.tsv")
    assert saved_type[rejected] == "unclassified"  # the published columns agree with the GUI
    files = {f: (folder / f"cluster_{f}.tsv").read_bytes() for f in decisions}

    controller, window, plugin = _open_gui(folder, tmp_path / "config", qtbot)
    try:
        assert {f: _meta(controller, f, queue) for f in decisions} == {
            f: {c: v for c, v in values.items()} for f, values in decisions.items()}
        plugin.classify_all()  # a later Classify never overwrites a decision
        _wait(qtbot, plugin, 1)
        assert {f: _meta(controller, f, queue) for f in decisions} == decisions
        status = _meta(controller, "c4_status", [rejected])[rejected]
        assert status_of(status) == Status.REJECTED
        controller.supervisor.save()
        qtbot.waitUntil(lambda: bool(plugin.saved), timeout=30_000)
    finally:
        window.close()
        controller.close()
        reset()
    assert {f: (folder / f"cluster_{f}.tsv").read_bytes() for f in decisions} == files

    assert main(["review", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_units"] == 24 and report["units_rejected"] == 1
    assert report["by_source"]["accepted"]["accuracy"] == 1.0  # agrees by construction
    out = tmp_path / "adapted"
    assert main(["adapt", str(folder), "--out", str(out), "--all-spikes", "--json"]) == 0, \
        capsys.readouterr().err
    adapted = json.loads(capsys.readouterr().out)
    manifest = load_bundle(out).manifest
    assert manifest["training"]["recordings"] == {"rec25": 24}
    assert manifest["training"]["sources"] == {"accepted": 1, "optotagged": 23}
    assert adapted["cross_validation"]["split"].startswith("by unit")


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
