"""Tests of ``phy_c4.plugin_install``: `phy-c4 install-plugin`."""

from __future__ import annotations

import pytest

from phy_c4.plugin_install import install, uninstall
from tests.conftest import _tree

pytest.importorskip("phy")


@pytest.mark.parametrize("before", ["nothing", "phy's default", "custom, CRLF, no final newline",
                                    "older phy-c4 block"])
def test_install_plugin_works_with_every_config_and_uninstall_restores_it(tmp_path, before):
    """Phy's own loader reads the edited config as lists (the expressions of
    phy/utils/plugin.py's attach_plugins), and --uninstall gives back the folder byte for byte."""
    from phy.utils.config import load_master_config

    config_dir = tmp_path / ".phy"
    if before == "phy's default":
        load_master_config(config_dir=config_dir)  # Phy writes its default config
    elif before == "custom, CRLF, no final newline":
        config_dir.mkdir()
        (config_dir / "phy_config.py").write_bytes(
            b"c = get_config()\r\nc.Plugins.dirs.append('/elsewhere')\r\n"
            b"c.TemplateGUI.plugins = ['Other']")
    elif before == "older phy-c4 block":
        (config_dir / "plugins").mkdir(parents=True)
        (config_dir / "phy_config.py").write_text(
            "c = get_config()\n# >>> phy_c4 plugin (added by `phy-c4 install-plugin`; remove "
            "with --uninstall)\nc.Plugins.dirs.append(r'/x')\n"
            "c.TemplateGUI.plugins.append('C4Plugin')\n# <<< phy_c4 plugin\n")
    original = _tree(config_dir) if config_dir.exists() else None

    assert install(config_dir)
    assert install(config_dir) == []  # idempotent
    config = load_master_config(config_dir=config_dir)
    dirs = [] + config.get("Plugins", {}).get("dirs", [])  # noqa: RUF005 (plugin.py:141)
    plugins = config.get("TemplateGUI").plugins
    assert len(plugins) and plugins.count("C4Plugin") == 1  # phy/utils/plugin.py:143
    assert dirs.count(str(config_dir / "plugins")) == 1
    if before.startswith("custom"):
        assert dirs[0] == "/elsewhere" and plugins == ["Other", "C4Plugin"]

    uninstall(config_dir)
    if before == "nothing":
        assert not config_dir.exists()
    elif before == "older phy-c4 block":  # the broken block is not restored
        assert (config_dir / "phy_config.py").read_text() == "c = get_config()\n"
    else:
        assert _tree(config_dir) == original


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
