"""The Phy plugin (imports phy and Qt; the rest of phy_c4 never imports this package)."""

from phy_c4.plugin.c4plugin import C4Plugin

__all__ = ["C4Plugin"]
