"""phy_c4/atomic.py: a result file appears whole or not at all, and stays after a power cut."""

from __future__ import annotations

import os
import stat

import pytest

import phy_c4.atomic as atomic
from phy_c4.atomic import atomic_open


@pytest.mark.skipif(os.name != "posix", reason="directories are fsync'd on POSIX only")
def test_the_file_and_then_its_folder_are_fsynced(tmp_path, monkeypatch):
    """Without the file's fsync a crash can leave the new name on an empty file; without the
    folder's, the rename itself can be lost."""
    synced: list[tuple[str, int]] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        info = os.fstat(fd)
        synced.append(("dir" if stat.S_ISDIR(info.st_mode) else "file", info.st_ino))
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", recording_fsync)
    target = tmp_path / "out" / "cluster_c4_type.tsv"
    with atomic_open(target) as out:
        out.write("cluster_id\tc4_type\n")
    assert synced == [("file", target.stat().st_ino), ("dir", target.parent.stat().st_ino)]


def test_a_failed_block_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "params.tsv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as out:
        out.write("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.tsv"]


def test_a_folder_that_refuses_fsync_still_gets_the_file(tmp_path, monkeypatch):
    """Some network file systems refuse to fsync a directory: the write must not fail for it."""
    real_fsync = os.fsync

    def refusing_fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(22, "Invalid argument")
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", refusing_fsync)
    with atomic_open(tmp_path / "a.tsv") as out:
        out.write("x")
    assert (tmp_path / "a.tsv").read_text() == "x"
