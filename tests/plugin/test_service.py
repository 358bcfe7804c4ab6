"""Tests of ``phy_c4.plugin.service``: the client of the worker process."""

from __future__ import annotations

import pytest

from tests.conftest import _meta, _wait

pytest.importorskip("phy")


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
