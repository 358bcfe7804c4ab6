"""Tests of ``phy_c4.io.lock``: one writer per results folder, and who holds the lock."""

from __future__ import annotations

import json
import os

from filelock import FileLock

from phy_c4.cli import main
from phy_c4.io.lock import folder_lock, lock_holder
from tests.conftest import FAST


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


def test_a_held_lock_refuses_a_second_writer(example_copy, capsys, monkeypatch):
    monkeypatch.setattr("phy_c4.cli.LOCK_WAIT_S", 0.2)
    with folder_lock(example_copy):
        assert main(["classify", str(example_copy), *FAST]) == 1
    assert f"pid {os.getpid()}" in capsys.readouterr().err
    assert not list(example_copy.glob("cluster_c4_*.tsv"))
