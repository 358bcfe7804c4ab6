"""Which bundle ``"default"`` means, without importing torch: the plugin names it in Phy's
status bar and C4 menu, and the Phy process never loads torch or numba.

The user's choice (``phy-c4 weights default NAME``, a one-line file in ``$PHY_C4_HOME``) comes
before the shipped default (``weights/DEFAULT``); ``phy_c4.weights`` sets and resolves it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
INSTALLED_WEIGHTS = Path(sys.prefix) / "share" / "phy_c4" / "weights"


def user_dir() -> Path:
    """Per-user folder for downloads and imported bundles (``$PHY_C4_HOME``, else the
    platform's user cache folder: the same ``~/.cache/phy_c4`` as before on Linux)."""
    if os.environ.get("PHY_C4_HOME"):
        return Path(os.environ["PHY_C4_HOME"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("phy_c4", appauthor=False))


def user_default_file() -> Path:
    """Where ``phy-c4 weights default NAME`` records the user's choice."""
    return user_dir() / "DEFAULT"


def shipped_default_name() -> str | None:
    for folder in (REPO_WEIGHTS, INSTALLED_WEIGHTS):
        marker = folder / "DEFAULT"
        if marker.is_file():
            return marker.read_text().strip()
    return None


def default_bundle_name() -> str | None:
    """The bundle ``"default"`` means: the user's choice, else the shipped default. Both the CLI
    and the plugin's Classify go through this."""
    marker = user_default_file()
    if marker.is_file():
        name = marker.read_text().strip()
        if name:
            return name
    return shipped_default_name()


def default_description() -> str:
    """One line naming the default bundle and who chose it (menus, status bar, CLI)."""
    name = default_bundle_name()
    if name is None:
        return "no default model (phy-c4 weights default NAME)"
    if user_default_file().is_file() and name != shipped_default_name():
        return f"{name} (chosen with phy-c4 weights default)"
    return f"{name} (shipped default)"
