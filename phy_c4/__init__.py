"""phy_c4: the C4 cerebellar cell-type classifier, inside Phy and headless.

``phy_c4.classify`` is the one pipeline the CLI and the Phy plugin share. Heavy modules (torch,
numba) load on first use, so ``import phy_c4`` stays cheap for Phy's plugin discovery.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phy_c4._version import __version__

__all__ = ["__version__", "classify"]


def _numba_cache_fallback(access: Callable[[Any, int], bool] = os.access) -> Path | None:
    """numba's ``cache=True`` needs a writable ``__pycache__`` beside phy_c4's sources or a
    writable user cache folder; with neither (a read-only install and an unwritable HOME) every
    kernel fails with "cannot cache function ...: no locator available". Then numba caches in a
    temporary folder, said in one line; ``NUMBA_CACHE_DIR``, when set, is the user's choice."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    package = Path(__file__).resolve().parent

    def writable(folder: Path) -> bool:  # the folder, or its first existing parent
        while not folder.exists() and folder.parent != folder:
            folder = folder.parent
        return access(folder, os.W_OK)

    if all(writable(d / "__pycache__") for d in (package, package / "features")):
        return None
    try:
        import platformdirs

        if writable(Path(platformdirs.user_cache_dir("numba"))):
            return None
    except (ImportError, RuntimeError, KeyError):  # no platformdirs, or no HOME at all
        pass
    user = os.getuid() if hasattr(os, "getuid") else 0
    fallback = Path(tempfile.gettempdir()) / f"phy_c4-numba-{user}"
    os.environ["NUMBA_CACHE_DIR"] = str(fallback)
    if "numba" in sys.modules:  # read when a kernel is compiled, so this still counts
        sys.modules["numba"].config.CACHE_DIR = str(fallback)
    logging.getLogger(__name__).warning(
        "phy_c4: neither its install folder nor the user cache folder can be written; numba "
        "caches compiled kernels in %s (set NUMBA_CACHE_DIR to choose)", fallback)
    return fallback


_numba_cache_fallback()


def __getattr__(name: str) -> Any:
    if name == "classify":
        from phy_c4.pipeline import classify

        return classify
    raise AttributeError(f"module 'phy_c4' has no attribute {name!r}")
