"""Tests of ``phy_c4.default_model``: which bundle "default" means, readable without torch."""

from __future__ import annotations

import sys


def test_weights_default_makes_the_cli_and_the_plugin_use_the_official_model(
        own_server, tmp_path, monkeypatch, capsys):
    from types import SimpleNamespace

    from phy_c4.cli import main
    from phy_c4.plugin.c4plugin import C4Plugin
    from phy_c4.weights import get_bundle

    url, _ = own_server
    monkeypatch.setenv("PHY_C4_HOME", str(tmp_path / "home"))
    assert main(["weights", "fetch", "base", "--base-url", url]) == 0
    assert get_bundle("default").name == "c4-tables"
    assert main(["weights", "default", "c4-nothing"]) == 1  # one clear line, default unchanged
    assert "no bundle named 'c4-nothing'" in capsys.readouterr().err
    assert main(["weights", "default", "c4-base"]) == 0
    assert "c4-base (chosen with phy-c4 weights default)" in capsys.readouterr().out
    assert get_bundle("default").name == "c4-base"  # what classify and the plugin load
    assert main(["weights", "list"]) == 0
    assert "* c4-base" in capsys.readouterr().out
    plugin = SimpleNamespace(bundle="default", gui=SimpleNamespace(status_message=""))
    plugin._model_text = lambda: C4Plugin._model_text(plugin)
    C4Plugin.show_model(plugin)
    assert "c4-base" in plugin.gui.status_message
    assert main(["weights", "default", "--shipped"]) == 0
    assert get_bundle("default").name == "c4-tables"


def test_user_bundle_folder_follows_the_platform(tmp_path, monkeypatch):
    """Item "platformdirs": the user folder is the platform's cache folder (XDG on Linux),
    unless PHY_C4_HOME names one."""
    from phy_c4.weights import user_dir

    monkeypatch.delenv("PHY_C4_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert user_dir() == tmp_path / "xdg" / "phy_c4"
    monkeypatch.setenv("PHY_C4_HOME", str(tmp_path / "mine"))
    assert user_dir() == tmp_path / "mine"
