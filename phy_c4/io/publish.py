"""Publishing a classification: the whole set of a run's files appears at once, or none does.

A run is written into a staging folder (``.phy_c4/staging/<run>``), then committed under the
folder's lock: a journal names every move, earlier results go to a unique backup folder
(``.phy_c4/backups/<time>-<pid>-<n>``, audit folder and figures included) and the staged files are
renamed into place. Ctrl-C is held off while the commit runs; a run killed mid-commit leaves the
journal, and the next writer completes it before anything else (``recover``). The sorter's
files, ``cluster_group.tsv`` and other tools' columns are never touched.

A run over some clusters only (``--clusters``) keeps the other clusters' rows.
"""

from __future__ import annotations

import contextlib
import json
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
_run_numbers = count()


@dataclass
class Publication:
    """Everything one run publishes; ``figures(folder)`` draws into ``folder`` if given."""

    table: pd.DataFrame
    labels: tuple[str, ...] = ()
    raw: np.ndarray | None = None
    features: dict[str, np.ndarray] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    npyx_columns: bool = False
    figures: Callable[[Path], list[Path]] | None = None


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
        staging = folder / STATE_DIR / "staging" / run
        staging.mkdir(parents=True)
        try:
            _stage(folder, staging, publication, merge=bool(existing))
            staged = sorted(p.name for p in staging.iterdir())
            journal = {"run": run, "staging": str(staging.relative_to(folder)),
                       "backup": str(Path(STATE_DIR, "backups", run)) if existing else None,
                       "replace": staged, "retire": [n for n in existing if n not in staged]}
            with _interrupts_held():
                with atomic_open(folder / STATE_DIR / JOURNAL, "w") as out:
                    out.write(json.dumps(journal, indent=1))
                _roll_forward(folder, journal)
        finally:
            if not (folder / STATE_DIR / JOURNAL).exists():  # else recover() needs the files
                shutil.rmtree(staging, ignore_errors=True)
                with contextlib.suppress(OSError):
                    staging.parent.rmdir()  # only when no other run's staging is there
    return [folder / name for name in staged]


def recover(folder: Path) -> bool:
    """Complete a commit that a killed run left half done; drop abandoned staging folders.
    Call with the folder's lock held. Returns True when a commit was completed."""
    journal_path = folder / STATE_DIR / JOURNAL
    completed = False
    if journal_path.is_file():
        journal = json.loads(journal_path.read_text())
        with _interrupts_held():
            _roll_forward(folder, journal)
        completed = True
    shutil.rmtree(folder / STATE_DIR / "staging", ignore_errors=True)
    return completed


def _roll_forward(folder: Path, journal: dict[str, Any]) -> None:
    """Idempotent: each step checks what is already done, so a re-run finishes the commit."""
    staging = folder / journal["staging"]
    backup = folder / journal["backup"] if journal["backup"] else None
    for name in journal["retire"]:
        if (folder / name).exists() and backup is not None:
            backup.mkdir(parents=True, exist_ok=True)
            os.replace(folder / name, backup / name)
    for name in journal["replace"]:
        if not (staging / name).exists():
            continue  # already in place
        if (folder / name).exists() and backup is not None and not (backup / name).exists():
            backup.mkdir(parents=True, exist_ok=True)
            os.replace(folder / name, backup / name)
        elif (folder / name).is_dir():
            shutil.rmtree(folder / name)  # a directory cannot be replaced in one rename
        os.replace(staging / name, folder / name)
    (folder / STATE_DIR / JOURNAL).unlink(missing_ok=True)


def _stage(folder: Path, staging: Path, publication: Publication, merge: bool) -> None:
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
            kept = {c: v for c, v in read_cluster_column(folder / name, column).items()
                    if c not in run_ids}  # empty values too: "no type" is a result
            columns[column] = {**kept, **columns[column]}
    for column, values in columns.items():
        write_cluster_column(staging, column, values)
    probabilities = table[["cluster_id"] + [c for c in table.columns if c.startswith("c4_p_")]]
    old = folder / AUDIT_DIR / PROBABILITIES_FILE
    if merge and old.is_file():
        previous = pd.read_csv(old, sep="\t")
        previous = previous[~previous["cluster_id"].isin(run_ids)]
        probabilities = pd.concat([previous, probabilities], ignore_index=True)
        probabilities = probabilities.sort_values("cluster_id", kind="stable")
    write_audit(staging / AUDIT_DIR, table, probabilities, publication.raw, publication.labels,
                publication.features, publication.parameters)
    if publication.figures is not None:
        publication.figures(staging / AUDIT_DIR / "figures")


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block ends (main thread only), then act on them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {s: signal.signal(s, lambda number, frame: received.append(number))
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if received:
            raise KeyboardInterrupt(f"signal {received[0]} (after the results were committed)")
