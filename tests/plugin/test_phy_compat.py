"""Tests of ``phy_c4.plugin.phy_compat``: every access to phy's private API, checked at
start.
"""

from __future__ import annotations

import pytest

from tests.conftest import _meta

pytest.importorskip("phy")


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
