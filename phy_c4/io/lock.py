"""One writer per results folder: an OS-level file lock, and who holds it.

``filelock`` takes the lock (``fcntl`` on POSIX, ``msvcrt`` on Windows); the kernel releases it
when its process dies, so a lock left by a killed run is stale by construction and the next run
takes it. Beside it, ``lock.json`` names the holder (pid, host, since, command) so a refused
run can say who is writing.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

STATE_DIR = ".phy_c4"


class FolderLockedError(RuntimeError):
    """Another phy_c4 run (CLI or plugin) is writing results into this folder."""


def lock_paths(folder: Path) -> tuple[Path, Path]:
    state = Path(folder) / STATE_DIR
    return state / "lock", state / "lock.json"


def lock_holder(folder: Path) -> dict | None:
    """Who holds (or last held) the folder's lock, as ``lock.json`` says."""
    try:
        return json.loads(lock_paths(folder)[1].read_text())
    except (OSError, ValueError):
        return None


@contextmanager
def folder_lock(folder: str | os.PathLike, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the folder's write lock for the block; ``FolderLockedError`` if another process has
    it after ``wait_s`` seconds."""
    folder = Path(folder)
    lock_path, holder_path = lock_paths(folder)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path), timeout=wait_s, is_singleton=False)
    try:
        lock.acquire()
    except Timeout:
        holder = lock_holder(folder) or {}
        who = (f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} since "
               f"{holder.get('since', '?')}" if holder else "another process")
        raise FolderLockedError(f"{folder}: results are being written by {who}; try again "
                                "when it has finished") from None
    try:
        holder_path.write_text(json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": " ".join(sys.argv[:3])}))
        yield
    finally:
        lock.release()
