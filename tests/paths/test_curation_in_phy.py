"""A curator's session in a real Phy window (pytest-qt, offscreen): classify, walk the review
queue by keys, merge, split, undo, save, reopen, classify again, adapt; the files equal the
screen."""

from __future__ import annotations

import pytest
from phylib.utils import reset

from phy_c4.io.tsv import read_cluster_column
from phy_c4.plugin import C4Plugin
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
    open_phy_gui,
)

pytest.importorskip("phy")


def test_review_loop_by_keyboard_survives_save_reopen_and_classify_then_adapts(
        qtbot, tmp_path, monkeypatch, capsys):
    """Classify, walk the review queue with the keyboard (accept, reject, set type), save,
    reopen, classify again: the decisions stay and the rejection holds; then ``review`` and
    ``adapt`` learn from the folder labelled in the GUI."""
    import json

    import phy.gui.qt

    from phy_c4.cli import main
    from phy_c4.families import load_bundle
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
    controller, window, plugin = open_phy_gui(folder, tmp_path / "config", qtbot)
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
        monkeypatch.setattr(phy.gui.qt, "input_dialog",
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

    controller, window, plugin = open_phy_gui(folder, tmp_path / "config", qtbot)
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


def test_a_scripted_curation_run_saves_what_the_screen_showed(curation, qtbot, monkeypatch):
    """Issue 24, done when: classify, walk the review queue (accept, reject, set type), merge
    a decided unit with an undecided one, split another decided unit, undo the split, classify
    again, Ctrl+S, reopen, classify again: every C4 and decision file holds what the screen
    showed, reopening shows it, no new cluster carries a decision, and ``review`` reads only
    the decisions made about the clusters that still exist."""
    import phy.gui.qt

    from phy_c4.config import RESULT_COLUMNS
    from phy_c4.training.review import curated_units

    folder, open_gui, close = curation
    fields = (*RESULT_COLUMNS, *DECISIONS)
    controller, window, plugin = open_gui()
    supervisor = controller.supervisor
    _classify_all(qtbot, plugin)
    monkeypatch.setattr(phy.gui.qt, "input_dialog",
                        lambda title, text, default=None: ("MLI optotagged", True))
    decided = []
    for keys in ("Ctrl+Shift+A", "Ctrl+Shift+R", "Ctrl+Shift+T", "Ctrl+Shift+A"):
        _press(window, "Ctrl+Shift+N")
        _settle(qtbot, supervisor)
        decided.append(supervisor.selected[0])
        _press(window, keys)
    assert all(supervisor.cluster_meta.get("cell_type_source", c) for c in decided)
    undecided = [c for c in plugin.review_order() if c not in decided]
    before = set(supervisor.clustering.cluster_ids)
    supervisor.merge([decided[0], undecided[0]])
    supervisor.block()
    spikes = supervisor.clustering.spikes_per_cluster[decided[2]]
    supervisor.split(spikes[::2])
    supervisor.block()
    _press(window, "Ctrl+Z")  # the split: the optotagged unit is back, with its decision
    supervisor.block()
    assert supervisor.cluster_meta.get("cell_type_source", decided[2]) == "optotagged"
    new = sorted(set(supervisor.clustering.cluster_ids) - before)
    assert len(new) == 1  # the merged cluster
    _classify_all(qtbot, plugin)
    assert new[0] in plugin.review_queue()  # classified, undecided: to be reviewed
    screen = _screen(controller, fields)
    _save(qtbot, supervisor, plugin)
    assert _files(folder, fields) == _as_text(screen)
    assert not any(new[0] in screen[f] for f in DECISIONS)
    close()
    controller, window, plugin = open_gui()
    assert _as_text(_screen(controller, fields)) == _as_text(screen)
    _classify_all(qtbot, plugin)  # classifying again changes no decision
    assert _as_text(_screen(controller, DECISIONS)) == _as_text(
        {f: screen[f] for f in DECISIONS})
    _save(qtbot, controller.supervisor, plugin)
    assert _files(folder, fields) == _as_text(_screen(controller, fields))
    kept = set(decided) - {decided[0]}
    assert set(curated_units(folder).cluster_ids.tolist()) == kept
