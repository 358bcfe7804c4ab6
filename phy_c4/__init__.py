"""phy_c4: the C4 cerebellar cell-type classifier, inside Phy and headless.

``phy_c4.classify`` is the one pipeline the CLI and the Phy plugin share. Heavy modules (torch,
numba) load on first use, so ``import phy_c4`` stays cheap for Phy's plugin discovery.
"""

from __future__ import annotations

from typing import Any

from phy_c4._version import __version__

__all__ = ["__version__", "classify"]


def __getattr__(name: str) -> Any:
    if name == "classify":
        from phy_c4.pipeline import classify

        return classify
    raise AttributeError(f"module 'phy_c4' has no attribute {name!r}")
