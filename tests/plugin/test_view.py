"""Tests of ``phy_c4.plugin.view``: the C4 view."""

from __future__ import annotations

import pytest

from tests.conftest import _classify_all, _save, _screen, _settle, _wait

pytest.importorskip("phy")


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


def _c4_columns(controller):
    return [c for c in controller.supervisor.cluster_view.columns
            if c.startswith(("c4_", "cell_type"))]


def test_the_type_is_in_view_on_first_open_and_after_reopening(curation, qtbot):
    """Item 5: c4_type then c4_ratio lead the C4 columns, the status is last and narrow (its
    full text in a tooltip), the type is on screen without scrolling, the C4 dock is wide
    enough to read, and all of it again after Ctrl+S and reopening. phy_c4 0.3: c4_confidence
    came between, c4_status was ~700 px wide, the dock ~140 px; after reopening the columns
    followed the order the files were found in."""
    from qtpy.QtCore import QEvent
    from qtpy.QtGui import QHelpEvent
    from qtpy.QtWidgets import QApplication, QToolTip

    from phy_c4.plugin.phy_compat import cell_text

    _folder, open_gui, close = curation
    for reopened in (False, True):
        controller, window, plugin = open_gui()
        supervisor = controller.supervisor
        table = supervisor.cluster_view
        dock, wide = plugin.view.dock, min(400, window.width() // 3)
        qtbot.waitUntil(lambda dock=dock, wide=wide: dock.width() >= wide,
                        timeout=5_000)
        columns = _c4_columns(controller)
        assert columns[:3] == ["c4_type", "c4_ratio", "cell_type"], columns
        assert columns[-1] == "c4_status"
        if not reopened:
            _classify_all(qtbot, plugin)
            supervisor.merge([0, 1])  # Phy re-fits every column after a merge
            supervisor.block()
        header = table.table_view.horizontalHeader()
        status = table.columns.index("c4_status")
        assert header.sectionSize(status) <= 120
        kind = table.columns.index("c4_type")
        assert header.sectionViewportPosition(kind) + header.sectionSize(kind) <= \
            table.table_view.viewport().width(), "c4_type is off screen"
        texts = [cell_text(table, r, status) for r in range(table._proxy.rowCount())]
        row = max(range(len(texts)), key=lambda r: len(texts[r]))
        assert len(texts[row]) > 20  # a long status, cut in the cell
        table.table_view.scrollTo(table._proxy.index(row, status))
        rect = table.table_view.visualRect(table._proxy.index(row, status))
        event = QHelpEvent(QEvent.ToolTip, rect.center(),
                           table.table_view.viewport().mapToGlobal(rect.center()))
        QApplication.sendEvent(table.table_view.viewport(), event)
        assert QToolTip.text() == texts[row]
        if not reopened:
            _save(qtbot, supervisor, plugin)
            close()


def test_the_view_says_what_it_shows_and_shows_the_saved_result_after_reopening(curation,
                                                                               qtbot):
    """Item 6: a rejected complex-spike unit no longer reads "confirmed by CS-SS pause" in the
    view (the table's status replaces the run's); after Ctrl+S and reopening the view shows the
    saved result (type, ratio, probabilities) instead of "has not been classified in this
    session"; a cluster without a result says why."""
    _folder, open_gui, close = curation
    controller, _window, plugin = open_gui()
    supervisor = controller.supervisor
    _classify_all(qtbot, plugin)
    statuses = _screen(controller, ("c4_status",))["c4_status"]
    paired = [c for c, s in statuses.items() if "confirmed by CS-SS pause" in s]
    assert paired, statuses
    supervisor.select([paired[0]])
    _settle(qtbot, supervisor)
    qtbot.waitUntil(lambda: plugin.view.last_explanation is not None, timeout=30_000)
    assert "confirmed by CS-SS pause" in plugin.view.last_explanation.status
    assert plugin.reject_prediction()
    supervisor.select([paired[-1]] if len(paired) > 1 else [0])
    _settle(qtbot, supervisor)
    qtbot.wait(500)
    plugin.view.last_explanation = None
    supervisor.select([paired[0]])
    _settle(qtbot, supervisor)
    qtbot.waitUntil(lambda: getattr(plugin.view.last_explanation, "cluster_id", None) ==
                    paired[0], timeout=30_000)
    status = plugin.view.last_explanation.status
    assert status.startswith("rejected by curator") and "confirmed" not in status
    kind = supervisor.cluster_meta.get("c4_type", 3)
    _save(qtbot, supervisor, plugin)
    close()
    controller, _window, plugin = open_gui()
    supervisor = controller.supervisor
    supervisor.select([3])
    _settle(qtbot, supervisor)
    text = plugin.view.label.text()
    assert "the saved result" in text and kind in text and "probabilities:" in text, text
    assert "has not been classified" not in text
    supervisor.merge([3, 4])
    supervisor.block()
    supervisor.select([max(supervisor.clustering.cluster_ids)])
    _settle(qtbot, supervisor)
    qtbot.waitUntil(lambda: "has no C4 result" in plugin.view.label.text(), timeout=5_000)
    assert "merge or split" in plugin.view.label.text()


def test_empty_panels_say_why_waveforms_in_ms_and_the_ratio_line_is_explained():
    """Item 6 (the figure): a unit that could not be classified gets three panels that each
    say why they are empty; the waveform axis is in ms; "top / 2" is explained. phy_c4 0.3
    drew three empty axes, the waveform in samples and an unexplained "top / 2"."""
    import numpy as np
    from matplotlib.figure import Figure

    from phy_c4.report import draw_unit, draw_why
    from phy_c4.result import Explanation

    def texts(figure):
        return [t.get_text() for t in figure.findobj(match=lambda a: hasattr(a, "get_text"))]

    figure = Figure()
    draw_unit(figure, 7, None, probabilities={}, threshold=2.0, tight=False,
              reason="too few spikes")
    for ax in figure.axes:
        assert any("too few spikes" in t.get_text() for t in ax.texts), ax.get_title()
    labels = ("GoC", "MLI", "MFB", "PkC_ss", "PkC_cs")
    why = Explanation(cluster_id=7, labels=labels, probabilities=np.full(5, 0.2),
                      members=np.full((5, 3), 0.2), predicted="PkC_cs",
                      inputs={"waveform": np.sin(np.arange(75) / 5.0)}, status="ok", novelty=1.0)
    figure = Figure()
    draw_why(figure, why, 2.0)
    acg, wvf = figure.axes[0], figure.axes[1]
    assert any("no ACG" in t.get_text() for t in acg.texts)
    assert "ms" in wvf.get_xlabel()
    assert any("top / 2" in t and "confident" in t for t in texts(figure))
