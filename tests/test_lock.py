"""phy_c4/io/lock.py: where the lock and its holder are, which every phy_c4 version and a user
looking at a stuck folder must agree on (docs/reliability.md)."""

from __future__ import annotations

import json
import os

from filelock import FileLock

from phy_c4.io.lock import folder_lock, lock_holder


def test_the_lock_and_its_holder_live_in_the_documented_files(tmp_path):
    with folder_lock(tmp_path):
        assert (tmp_path / ".phy_c4" / "lock").exists()
        holder = json.loads((tmp_path / ".phy_c4" / "lock.json").read_text())
        assert holder["pid"] == os.getpid()
        assert lock_holder(tmp_path) == holder
        other = FileLock(str(tmp_path / ".phy_c4" / "lock"), timeout=0, is_singleton=False)
        assert not _can_take(other)  # the OS lock is on that very file
    assert _can_take(FileLock(str(tmp_path / ".phy_c4" / "lock"), timeout=0,
                              is_singleton=False))


def _can_take(lock: FileLock) -> bool:
    try:
        lock.acquire()
    except TimeoutError:
        return False
    lock.release()
    return True
