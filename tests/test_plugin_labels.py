"""phy_c4/plugin/labels.py and the plugin's save: C4 writes its own columns, never Phy's
``group`` (good / mua / noise is the curator's call, issue #26)."""

from __future__ import annotations

import pytest

pytest.importorskip("phy")

from phylib.utils import reset

from phy_c4.io.tsv import read_cluster_column
from phy_c4.plugin import C4Plugin
from tests.conftest import inputs_changed_on_purpose, open_phy_gui

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
