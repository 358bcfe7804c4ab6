"""The curator's decisions on cell types, kept apart from the model's columns.

A decision lives in human columns that Classify never writes: ``cell_type`` (the curated type),
``cell_type_source`` (how it was decided), ``cell_type_by`` (who and when) and
``cell_type_rejected`` (a predicted type the curator said the unit is not). Manual and automated
labels stay apart, as the Allen and MICrONS tables keep them, so ``review`` and ``adapt`` can
learn from the curator alone. Depends on nothing but the status texts.
"""

from __future__ import annotations

import getpass
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from phy_c4.status import UNCLASSIFIED, Status, describe, is_confident

_UTC = timezone.utc  # noqa: UP017 - datetime.UTC needs Python 3.11; setup.cfg allows 3.10

HUMAN_LABEL = "cell_type"
SOURCE = "cell_type_source"
CURATOR = "cell_type_by"
REJECTED = "cell_type_rejected"
DECISION_COLUMNS = (HUMAN_LABEL, SOURCE, CURATOR, REJECTED)

ACCEPTED, CORRECTED, REJECTED_SOURCE = "accepted", "corrected", "rejected"
SOURCES = (ACCEPTED, CORRECTED, "optotagged", "juxtacellular", "pair", REJECTED_SOURCE)
"""How a curated type was decided; ``optotagged``, ``juxtacellular`` and ``pair`` are ground
truth from the lab, ``accepted`` and ``corrected`` are judgements of the prediction."""


class DecisionError(ValueError):
    """A decision that cannot be recorded (unknown source, empty type, nothing to reject)."""


def signature(user: str | None = None, when: datetime | None = None) -> str:
    """``"alice 2026-11-26T11:30:05Z"``: who decided and when (UTC)."""
    try:
        user = user or getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        user = "unknown"
    when = when or datetime.now(_UTC)
    return f"{user} {when.astimezone(_UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _folded(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def check_label(label: str, known: Sequence[str] = ()) -> str:
    """``label`` as a curated type, or a ``DecisionError`` saying why not: empty,
    "unclassified" (not a type), characters other than letters, digits and ``_``, or another
    spelling of a known type ("PkC-ss" for ``PkC_ss``: a typo would become a class of its
    own). Free labels of that form are kept (e.g. ``UBC``)."""
    label = str(label).strip()
    if not label:
        raise DecisionError("a cell type cannot be empty")
    if label in known:
        return label
    near = [k for k in known if _folded(k) == _folded(label)]
    if near:
        raise DecisionError(f"{label!r} is not a type; did you mean {near[0]}?")
    if label.lower() == UNCLASSIFIED:
        raise DecisionError(f"{UNCLASSIFIED!r} is not a type; give the unit's type"
                            + (f" (one of {', '.join(known)})" if known else ""))
    if not _LABEL.fullmatch(label):
        raise DecisionError(f"{label!r} is not a type: use letters, digits and _ only"
                            + (f" (one of {', '.join(known)})" if known else ""))
    return label


def set_type(label: str, predicted: object, source: str | None = None,
             *, by: str | None = None, known: Sequence[str] = ()) -> dict[str, Any]:
    """The column values of "this unit is ``label``"; the source defaults to ``accepted`` when
    the label is the confident prediction, ``corrected`` otherwise. ``known``: the classes,
    whose other spellings are refused (``check_label``)."""
    label = check_label(label, known)
    if source is None:
        source = ACCEPTED if is_confident(predicted) and label == predicted else CORRECTED
    if source not in SOURCES or source == REJECTED_SOURCE:
        raise DecisionError(f"unknown source {source!r}; use one of "
                            f"{[s for s in SOURCES if s != REJECTED_SOURCE]}")
    return {HUMAN_LABEL: label, SOURCE: source, CURATOR: by or signature()}


def reject(predicted: object, current_label: object, by: str | None = None
           ) -> dict[str, Any]:
    """The column values of "this unit is not ``predicted``": the type is recorded as rejected
    and the unit leaves the confident set (a curated label equal to it is cleared)."""
    if not is_confident(predicted):
        raise DecisionError("there is no confident prediction to reject")
    return {REJECTED: predicted, SOURCE: REJECTED_SOURCE, CURATOR: by or signature(),
            HUMAN_LABEL: None if current_label == predicted else current_label,
            "c4_type": "unclassified",
            "c4_status": describe(Status.REJECTED, str(predicted))}


def is_decided(row: Mapping[str, Any]) -> bool:
    return bool(row.get(SOURCE))


def _number(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(number) else number


def review_queue(rows: Mapping[int, Mapping[str, Any]],
                 include_decided: bool = False) -> list[int]:
    """Classified units without a decision (``include_decided``: all classified units), most
    useful first: a curated type that disagrees with the confident prediction, then the lowest
    confidence ratio, then the highest novelty."""
    queue = []
    for cluster_id, row in rows.items():
        ratio = _number(row.get("c4_ratio"), math.nan)
        if math.isnan(ratio) or (is_decided(row) and not include_decided):
            continue
        predicted, label = row.get("c4_type"), row.get(HUMAN_LABEL)
        disagrees = bool(label) and is_confident(predicted) and label != predicted
        novelty = _number(row.get("c4_novelty"), 0.0)
        queue.append((not disagrees, ratio, -novelty, int(cluster_id)))
    return [entry[-1] for entry in sorted(queue)]


def walk(order: Sequence[int], position: int | None, step: int,
         *, skip: Callable[[int], bool] = lambda cluster: False) -> tuple[int | None, bool]:
    """The position in ``order`` after (``step`` 1) or before (-1) ``position``, skipping the
    units ``skip`` names, wrapping around the ends so every unit is reachable; with no position
    yet, the first (or last) unit. Returns (position or None when every unit is skipped,
    whether it wrapped)."""
    n = len(order)
    if n == 0:
        return None, False
    start = (-1 if step > 0 else n) if position is None else position
    for k in range(1, n + 1):
        i = start + k * step
        if not skip(order[i % n]):
            return i % n, not 0 <= i < n
    return None, False


def next_in_queue(queue: list[int], current: list[int], step: int = 1) -> int | None:
    """The unit after (``step`` 1) or before (-1) the current selection in the queue; the
    first one when the selection is not in it."""
    if not queue:
        return None
    here = [queue.index(c) for c in current if c in queue]
    if not here:
        return queue[0] if step > 0 else queue[-1]
    position = here[0] + step
    return queue[position] if 0 <= position < len(queue) else None
