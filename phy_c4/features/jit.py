"""Whether this run will compile the numba kernels (the first run after an install or upgrade):
a first run spends ~30 s there with no unit done, so the CLI and the plugin say so instead of
showing a progress bar stuck at 0. Does not import numba.

numba's on-disk cache (``cache=True``) keeps an index file ``<module>.<function>-<line>.py<ver>
.nbi`` per kernel in the module's ``__pycache__`` (or under ``NUMBA_CACHE_DIR``); an index older
than its module's source is recompiled. A heuristic: it errs towards saying "compiling".
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
KERNEL_MODULES = ("arrays.py", "features/quality.py", "features/acg3d.py",
                  "features/table_features.py", "features/_exactsum.py", "features/pairing.py")
"""The modules whose kernels every classification runs (first calls compile them)."""
COMPILING = "compiling the feature kernels (first run only, ~30 s)"


def _indexes(source: Path, pattern: str) -> list[Path]:
    """Index files of ``source``'s kernels: under ``NUMBA_CACHE_DIR`` when set (numba then uses
    it only), else beside the source or, when that is not writable, in the user's cache folder
    (both in a per-folder subfolder)."""
    chosen = os.environ.get("NUMBA_CACHE_DIR")
    if chosen:
        return list(Path(chosen).glob(f"*/{pattern}"))
    found = list((source.parent / "__pycache__").glob(pattern))
    root = _user_cache()
    if root and Path(root).is_dir():
        found += Path(root).glob(f"*/{pattern}")
    return found


def _user_cache() -> str | None:
    try:
        from platformdirs import user_cache_dir
    except ImportError:
        return None
    return user_cache_dir("numba", appauthor=False)


def needs_compiling(package: Path = PACKAGE, modules: tuple[str, ...] = KERNEL_MODULES) -> bool:
    """True when some kernel module has no cached kernel at least as new as its source."""
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    for name in modules:
        source = package / name
        if not source.is_file():
            continue
        built = source.stat().st_mtime
        indexes = _indexes(source, f"{source.stem}.*.{tag}.nbi")
        if not any(p.stat().st_mtime >= built for p in indexes):
            return True
    return False
