"""``phy-c4 install-plugin``: make Phy load C4Plugin, idempotently, with a backup.

Phy 2.1 loads plugins from Python files in ``c.Plugins.dirs`` and activates the classes named
in ``c.TemplateGUI.plugins`` (``~/.phy/phy_config.py``). This writes a one-line shim
``phy_c4_plugin.py`` (importing the installed class) into ``~/.phy/plugins/`` and appends a
marked block to ``phy_config.py``; ``--uninstall`` removes exactly those two things.
This module does not import phy or Qt.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

BEGIN = "# >>> phy_c4 plugin (added by `phy-c4 install-plugin`; remove with --uninstall)"
END = "# <<< phy_c4 plugin"
SHIM_NAME = "phy_c4_plugin.py"
SHIM = ("# Added by `phy-c4 install-plugin`: lets Phy find phy_c4's plugin class.\n"
        "from phy_c4.plugin import C4Plugin  # noqa: F401\n")
DEFAULT_CONFIG = "# Phy configuration (created by phy-c4 install-plugin)\nc = get_config()\n"


def _block(plugins_dir: Path) -> str:
    return (f"{BEGIN}\n"
            f"c.Plugins.dirs.append(r'{plugins_dir}')\n"
            "c.TemplateGUI.plugins.append('C4Plugin')\n"
            f"{END}\n")


def install(config_dir: Path) -> list[str]:
    """Install; returns what was done (nothing when already installed)."""
    done = []
    plugins = config_dir / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    shim = plugins / SHIM_NAME
    if not shim.exists() or shim.read_text() != SHIM:
        shim.write_text(SHIM)
        done.append(f"wrote {shim}")
    config = config_dir / "phy_config.py"
    text = config.read_text() if config.exists() else DEFAULT_CONFIG
    if BEGIN not in text:
        if config.exists():
            backup = config.with_name(f"phy_config.py.bak-{time.strftime('%Y%m%d-%H%M%S')}")
            shutil.copy2(config, backup)
            done.append(f"backed up {config} to {backup.name}")
        separator = "" if text.endswith("\n") or not text else "\n"
        config.write_text(text + separator + _block(plugins))
        done.append(f"added C4Plugin to {config}")
    return done


def uninstall(config_dir: Path) -> list[str]:
    done = []
    shim = config_dir / "plugins" / SHIM_NAME
    if shim.exists() and shim.read_text() == SHIM:
        shim.unlink()
        done.append(f"removed {shim}")
    config = config_dir / "phy_config.py"
    if config.exists():
        text = config.read_text()
        if BEGIN in text and END in text:
            start = text.index(BEGIN)
            end = text.index(END) + len(END)
            if text[end : end + 1] == "\n":
                end += 1
            config.write_text(text[:start] + text[end:])
            done.append(f"removed C4Plugin from {config}")
    return done


def cmd_install_plugin(args: argparse.Namespace) -> int:
    config_dir = Path(args.config_dir).expanduser()
    done = uninstall(config_dir) if args.uninstall else install(config_dir)
    print("\n".join(done) if done else "nothing to do: already "
          + ("uninstalled" if args.uninstall else "installed"))
    if not args.uninstall:
        print("Open a dataset with `phy template-gui params.py`: the C4 menu appears.")
    return 0


def register(sub) -> None:
    p = sub.add_parser("install-plugin", help="make Phy load the C4 plugin (~/.phy)")
    p.add_argument("--uninstall", action="store_true", help="remove exactly what was added")
    p.add_argument("--config-dir", default="~/.phy", help="Phy's configuration folder")
    p.set_defaults(func=cmd_install_plugin)
