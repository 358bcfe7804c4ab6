"""Publishing a classification: the whole set of a run's files appears at once, or none does.

A run is written into a staging folder next to its targets (``.phy_c4-staging-<run>`` in the
results folder, so every rename stays on one file system even when ``.phy_c4`` is a link to
another), then committed under the folder's lock: a journal names every move, earlier results
go to a unique backup folder (``.phy_c4/backups/<time>-<pid>-<n>``, audit folder and figures
included; copied, then removed, when that is on another file system) and the staged files are
renamed into place. SIGINT, SIGTERM and SIGHUP are held off while the commit runs, then end the
run saying the results were published; a run killed mid-commit leaves the journal, and the next
writer completes it before anything else (``recover``). A journal that cannot be read is set
aside with a warning instead of blocking every later run. The sorter's files,
``cluster_group.tsv`` and other tools' columns are never touched.

A run over some clusters only (``partial``: ``--clusters``) keeps the other clusters' rows; a
full run replaces the set, so clusters that no longer exist or are no longer selected lose
their rows.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phy_c4.atomic import atomic_open
from phy_c4.io.lock import STATE_DIR, folder_lock
from phy_c4.io.results import (
    AUDIT_DIR,
    NPYX_COLUMNS,
    PROBABILITIES_FILE,
    ExistingResultsError,
    column_values,
    npyx_values,
    write_audit,
)
from phy_c4.io.tsv import column_path, read_cluster_column, write_cluster_column

JOURNAL = "journal.json"
STAGING_PREFIX = ".phy_c4-staging-"
_run_numbers = count()
logger = logging.getLogger(__name__)

HELD_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))
"""What ends a run from a terminal or a job scheduler (SIGHUP: the ssh session dropped)."""


class InterruptedAfterCommitError(KeyboardInterrupt):
    """A signal arrived during a commit: the commit finished, then the run stops."""

    def __init__(self, signum: int, folder: Path) -> None:
        super().__init__(f"signal {signum} (after the results in {folder} were committed)")
        self.signum, self.folder = signum, folder


@dataclass(kw_only=True)
class Publication:
    """Everything one run publishes; ``figures(folder)`` draws into ``folder`` if given."""

    table: pd.DataFrame
    labels: tuple[str, ...] = ()
    raw: np.ndarray | None = None
    features: dict[str, np.ndarray] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    npyx_columns: bool = False
    figures: Callable[[Path], list[Path]] | None = None
    partial: bool = True
    """Some clusters only: keep the rows of the others. False (a full run): the set is
    replaced, and clusters the run did not classify lose their rows."""


def managed_names(folder: Path) -> list[str]:
    """Names of phy_c4's own result files present in ``folder`` (never anyone else's)."""
    names = sorted(p.name for p in folder.glob("cluster_c4_*.tsv"))
    names += [column_path(folder, c).name for c in NPYX_COLUMNS if column_path(folder, c).exists()]
    if (folder / AUDIT_DIR).exists():
        names.append(AUDIT_DIR)
    return names


def check_publishable(folder: str | os.PathLike, overwrite: bool) -> Path:
    """Fail before any computation when results could not be written (run again at commit)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{folder} is not writable; write the results elsewhere with "
                              "--out DIR")
    existing = [n for n in managed_names(folder) if n != AUDIT_DIR or not overwrite]
    if existing and not overwrite:
        raise ExistingResultsError(f"{folder} already has C4 results ({', '.join(existing[:4])})"
                                   "; pass --overwrite to replace them (a backup is kept)")
    return folder


def publish(folder: str | os.PathLike, publication: Publication, *, overwrite: bool = False,
            wait_s: float = 0.0) -> list[Path]:
    """Stage and commit a run's files into ``folder``; returns the published paths."""
    folder = Path(folder)
    with folder_lock(folder, wait_s):
        recover(folder)
        check_publishable(folder, overwrite)
        existing = managed_names(folder)
        run = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{next(_run_numbers)}"
        staging = folder / f"{STAGING_PREFIX}{run}"  # beside the targets: renames never
        staging.mkdir()  # cross a file system
        try:
            _stage(folder, staging, publication,
                   merge=bool(existing) and publication.partial)
            staged = sorted(p.name for p in staging.iterdir())
            journal = {"run": run, "staging": str(staging.relative_to(folder)),
                       "backup": str(Path(STATE_DIR, "backups", run)) if existing else None,
                       "replace": staged, "retire": [n for n in existing if n not in staged]}
            with _interrupts_held(folder):
                with atomic_open(folder / STATE_DIR / JOURNAL, "w") as out:
                    out.write(json.dumps(journal, indent=1))
                _roll_forward(folder, journal)
        finally:
            if not (folder / STATE_DIR / JOURNAL).exists():  # else recover() needs the files
                shutil.rmtree(staging, ignore_errors=True)
    return [folder / name for name in staged]


def recover(folder: Path) -> bool:
    """Complete a commit that a killed run left half done; drop abandoned staging folders.
    Call with the folder's lock held. Returns True when a commit was completed."""
    journal_path = folder / STATE_DIR / JOURNAL
    completed = False
    if journal_path.exists():
        journal = _read_journal(journal_path)
        if journal is not None:
            with _interrupts_held(folder):
                _roll_forward(folder, journal)
            completed = True
    for staging in [folder / STATE_DIR / "staging", *folder.glob(f"{STAGING_PREFIX}*")]:
        if staging.is_dir() and not staging.is_symlink():
            shutil.rmtree(staging, ignore_errors=True)
        elif staging.exists() or staging.is_symlink():
            staging.unlink(missing_ok=True)  # a file or link where a folder belongs
    return completed


def pending_commit(folder: Path) -> bool:
    """Whether ``folder`` holds a commit a killed run left half done (its files are a mix of
    two runs until a writer completes it)."""
    return (Path(folder) / STATE_DIR / JOURNAL).exists()


def _read_journal(path: Path) -> dict[str, Any] | None:
    """The journal, or None when it cannot be read: it is then set aside (renamed), with a
    warning, so it never blocks a later run. phy_c4 writes it atomically; an empty or damaged
    one comes from elsewhere (a copy, a full disk on another machine, a hand edit)."""
    try:
        journal = json.loads(path.read_text())
        if isinstance(journal, dict) and isinstance(journal.get("staging"), str) and \
                isinstance(journal.get("replace"), list) and \
                isinstance(journal.get("retire"), list) and \
                isinstance(journal.get("backup"), str | None) and \
                all(isinstance(n, str) and "/" not in n and n not in ("", ".", "..")
                    for n in [*journal["replace"], *journal["retire"]]):
            return journal
        problem = "not a phy_c4 journal"
    except (OSError, ValueError) as error:
        problem = f"{type(error).__name__}: {error}"
    aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, aside)
    logger.warning("%s could not be read (%s); set aside as %s. If a run was killed while "
                   "publishing, the results in %s may mix two runs: check them or classify "
                   "again with --overwrite", path, problem, aside.name, path.parent.parent)
    return None


def _roll_forward(folder: Path, journal: dict[str, Any]) -> None:
    """Idempotent: each step checks what is already done, so a re-run finishes the commit."""
    staging = folder / journal["staging"]
    backup = folder / journal["backup"] if journal["backup"] else None
    for name in journal["retire"]:
        if (folder / name).exists() and backup is not None:
            backup.mkdir(parents=True, exist_ok=True)
            _move(folder / name, backup / name)
    for name in journal["replace"]:
        if not (staging / name).exists():
            continue  # already in place
        if (folder / name).exists() and backup is not None and not (backup / name).exists():
            backup.mkdir(parents=True, exist_ok=True)
            _move(folder / name, backup / name)
        elif (folder / name).is_dir():
            shutil.rmtree(folder / name)  # a directory cannot be replaced in one rename
        os.replace(staging / name, folder / name)
    (folder / STATE_DIR / JOURNAL).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        staging.rmdir()


def _move(source: Path, target: Path) -> None:
    """Rename; across file systems (``.phy_c4`` linked elsewhere), copy to a temporary name,
    rename that, then remove the source, so a re-run after a kill finds either no ``target``
    (and copies again) or a complete one (and only removes the source)."""
    if target.exists():
        _remove(source)
        return
    try:
        os.replace(source, target)
        return
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
    partial = target.with_name(f"{target.name}.partial")
    _remove(partial)
    if source.is_dir():
        shutil.copytree(source, partial, symlinks=True)
    else:
        shutil.copy2(source, partial)
    os.replace(partial, target)
    _remove(source)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _stage(folder: Path, staging: Path, publication: Publication, *, merge: bool) -> None:
    table = publication.table
    columns = column_values(table)
    if publication.npyx_columns:
        columns.update(npyx_values(table))
    run_ids = set(table["cluster_id"].astype(int))
    if merge:  # keep the rows of clusters this run did not classify
        for name in [n for n in managed_names(folder) if n.endswith(".tsv")]:
            column = name.removeprefix("cluster_").removesuffix(".tsv")
            if column not in columns:
                continue
            try:
                old_rows = read_cluster_column(folder / name, column)
            except Exception as error:  # phy_c4's own file, damaged: its rows cannot be kept
                logger.warning("%s could not be read (%s: %s): only this run's rows are "
                               "written (the old file goes to the backup)", name,
                               type(error).__name__, error)
                continue
            kept = {c: v for c, v in old_rows.items()
                    if c not in run_ids}  # empty values too: "no type" is a result
            columns[column] = {**kept, **columns[column]}
    for column, values in columns.items():
        write_cluster_column(staging, column, values)
    probabilities = table[["cluster_id"] + [c for c in table.columns if c.startswith("c4_p_")]]
    old = folder / AUDIT_DIR / PROBABILITIES_FILE
    if merge and old.is_file():
        try:
            previous = pd.read_csv(old, sep="\t")
            previous = previous[~previous["cluster_id"].isin(run_ids)]
        except Exception as error:  # damaged: as above
            logger.warning("%s could not be read (%s: %s): only this run's rows are written",
                           PROBABILITIES_FILE, type(error).__name__, error)
            previous = probabilities.iloc[:0]
        probabilities = pd.concat([previous, probabilities], ignore_index=True)
        probabilities = probabilities.sort_values("cluster_id", kind="stable")
    write_audit(staging / AUDIT_DIR, table, probabilities, raw=publication.raw,
                labels=publication.labels,
                features=publication.features, parameters=publication.parameters)
    if publication.figures is not None:
        publication.figures(staging / AUDIT_DIR / "figures")


@contextmanager
def _interrupts_held(folder: Path) -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends (main thread only), then stop the
    run with ``InterruptedAfterCommitError`` (it says the results were published). A signal the
    process ignores (``nohup`` ignores SIGHUP) stays ignored: it never stops the run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {s: signal.signal(s, lambda number, frame: received.append(number))
                for s in HELD_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if received:
            raise InterruptedAfterCommitError(received[0], folder)
