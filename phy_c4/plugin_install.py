"""``phy-c4 install-plugin``: make Phy load C4Plugin, idempotently, with a backup.

Phy 2.1 loads plugins from Python files in ``c.Plugins.dirs`` and activates the classes named
in ``c.TemplateGUI.plugins`` (``~/.phy/phy_config.py``). This writes a one-line shim
``phy_c4_plugin.py`` (importing the installed class) into ``~/.phy/plugins/`` and appends a
marked block to ``phy_config.py``; ``--uninstall`` removes exactly those, restoring the
previous ``phy_config.py`` byte for byte (and removing the files and folders it created).

The block must work on any config Phy may meet: a fresh one (nothing set, where traitlets
hands out a ``LazyConfigValue`` that Phy 2.1 cannot add to a list: ``.append`` breaks it), the
default Phy writes itself (``c.Plugins.dirs = [...]``) and one that already lists plugins.
So it reads the current value (list or lazy), and assigns a plain list.
This module does not import phy or Qt.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from phy_c4.atomic import atomic_open

MARK = "# >>> phy_c4 plugin"
BEGIN = (f"{MARK} (added by `phy-c4 install-plugin`; "
         "remove with `phy-c4 install-plugin --uninstall`)")
END = "# <<< phy_c4 plugin"
STATE = "# phy_c4 state: "
SHIM_NAME = "phy_c4_plugin.py"
SHIM = ("# Added by `phy-c4 install-plugin`: lets Phy find phy_c4's plugin class.\n"
        "from phy_c4.plugin import C4Plugin  # noqa: F401\n")
DEFAULT_CONFIG = "# Phy configuration (created by phy-c4 install-plugin)\nc = get_config()\n"


class InstallError(Exception):
    """A config that cannot be edited safely (said in one line)."""


def _block(plugins_dir: Path, state: dict[str, str]) -> str:
    items = " ".join(f"{key}={value}" for key, value in state.items())
    return (f"{BEGIN}\n"
            f"{STATE}{items}\n"
            f"for _section, _key, _item in ((c.Plugins, 'dirs', {str(plugins_dir)!r}),\n"
            "                               (c.TemplateGUI, 'plugins', 'C4Plugin')):\n"
            "    _value = _section[_key]  # a list, or a LazyConfigValue when not set yet\n"
            "    _value = _value.get_value([]) if hasattr(_value, 'get_value') else list(_value)\n"
            "    _section[_key] = _value if _item in _value else _value + [_item]\n"
            f"{END}\n")


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InstallError(f"{path} is not UTF-8 text: edit it by hand (see README.md)") from None


def _write(path: Path, text: str) -> None:
    with atomic_open(path, "wb") as out:
        out.write(text.encode("utf-8"))


def install(config_dir: Path) -> list[str]:
    """Install; returns what was done (nothing when already installed)."""
    config_dir = Path(config_dir)
    config = config_dir / "phy_config.py"
    plugins = config_dir / "plugins"
    shim = plugins / SHIM_NAME
    text = _read(config) if config.exists() else None
    if text is not None and BEGIN in text and shim.exists() and _read(shim) == SHIM:
        return []
    done: list[str] = []
    if text is not None and MARK in text and BEGIN not in text and END in text:
        # earlier phy_c4 versions wrote `.append` lines that stop Phy from starting: replace them
        start, end = text.index(MARK), text.index(END) + len(END)
        text = text[:start] + text[end + (text[end : end + 1] == "\n"):]
        _write(config, text)
        done.append(f"removed the block an older phy-c4 wrote into {config} (it broke Phy)")
    state = {"created": ",".join(name for name, path in (("config_dir", config_dir),
                                                        ("plugins", plugins),
                                                        ("shim", shim),
                                                        ("phy_config.py", config))
                                 if not path.exists()) or "-"}
    plugins.mkdir(parents=True, exist_ok=True)
    if not shim.exists() or _read(shim) != SHIM:
        _write(shim, SHIM)
        done.append(f"wrote {shim}")
    if text is None or BEGIN not in text:
        if text is not None:
            backup = config.with_name(f"phy_config.py.bak-{time.strftime('%Y%m%d-%H%M%S')}")
            _write(backup, text)
            state["backup"] = backup.name
            done.append(f"backed up {config} to {backup.name}")
        base = DEFAULT_CONFIG if text is None else text
        newline = bool(base) and not base.endswith("\n")
        state["newline"] = "1" if newline else "0"
        _write(config, base + ("\n" if newline else "") + _block(plugins, state))
        done.append(f"added C4Plugin to {config}")
    return done


def _state(text: str) -> dict[str, str]:
    start = text.find(STATE, text.index(BEGIN))
    if start < 0:
        return {}
    line = text[start + len(STATE):].split("\n", 1)[0]
    return dict(item.split("=", 1) for item in line.split() if "=" in item)


def uninstall(config_dir: Path) -> list[str]:
    """Remove what ``install`` added: the previous ``phy_config.py`` comes back byte for byte,
    and what did not exist before (file, folders, the backup once redundant) goes."""
    config_dir = Path(config_dir)
    done: list[str] = []
    config = config_dir / "phy_config.py"
    plugins = config_dir / "plugins"
    shim = plugins / SHIM_NAME
    state: dict[str, str] = {}
    if config.exists():
        text = _read(config)
        if BEGIN in text and END in text:
            state = _state(text)
            start = text.index(BEGIN)
            end = text.index(END) + len(END)
            if text[end : end + 1] == "\n":
                end += 1
            if state.get("newline") == "1" and text[start - 1 : start] == "\n":
                start -= 1
            restored = text[:start] + text[end:]
            created = state.get("created", "").split(",")
            if "phy_config.py" in created and restored == DEFAULT_CONFIG:
                config.unlink()
                done.append(f"removed {config} (phy-c4 had created it)")
            else:
                _write(config, restored)
                done.append(f"removed C4Plugin from {config}")
            backup = config_dir / state.get("backup", "-")
            if "backup" in state and backup.is_file() and backup.read_bytes() == \
                    restored.encode("utf-8"):
                backup.unlink()  # the restored file is that backup, byte for byte
                done.append(f"removed the backup {backup.name} (identical to {config.name})")
    if shim.exists() and _read(shim) == SHIM:
        shim.unlink()
        done.append(f"removed {shim}")
    created = state.get("created", "").split(",")
    for name, folder in (("plugins", plugins), ("config_dir", config_dir)):
        if name in created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            done.append(f"removed the empty folder {folder} (phy-c4 had created it)")
    return done


def cmd_install_plugin(args: argparse.Namespace) -> int:
    import sys

    config_dir = Path(args.config_dir).expanduser()
    try:
        done = uninstall(config_dir) if args.uninstall else install(config_dir)
    except (InstallError, OSError) as error:
        print(f"phy-c4 install-plugin: {error}", file=sys.stderr)
        return 1
    print("\n".join(done) if done else "nothing to do: already "
          + ("uninstalled" if args.uninstall else "installed"))
    if not args.uninstall:
        print("Open a dataset with `phy template-gui params.py`: the C4 menu appears.")
    return 0


def register_plugin(sub) -> None:
    p = sub.add_parser("install-plugin", help="make Phy load the C4 plugin (~/.phy)")
    p.add_argument("--uninstall", action="store_true", help="remove exactly what was added")
    p.add_argument("--config-dir", default="~/.phy", help="Phy's configuration folder")
    p.set_defaults(func=cmd_install_plugin)
