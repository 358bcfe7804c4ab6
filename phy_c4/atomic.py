"""Atomic file writes: a temporary file in the same folder, fsync'd, then renamed over the
target, so an interrupted run never leaves a half-written file that Phy or a loader would read.
The folder is fsync'd after the rename too: on POSIX the new name itself survives a power cut
only once its directory is on disk.

The file gets the permissions an ordinary ``open`` would give it (the replaced file's, else
0666 less the umask), not ``mkstemp``'s 0600, so colleagues on a shared server can read results.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once, at import, before any thread could race the two calls


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """``open`` whose result appears at ``path`` only if the block completes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):
            bits = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_UMASK
            os.fchmod(handle, bits)
        with os.fdopen(handle, mode, **kwargs) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(folder: Path) -> None:
    """Make a rename in ``folder`` durable. Best effort: Windows cannot open a directory, and
    some network file systems refuse to fsync one; the file's own data is already on disk."""
    if os.name != "posix":
        return
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(handle)
    finally:
        os.close(handle)
