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
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from phy_c4.status import Status, describe, is_confident

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


def set_type(label: str, predicted: object, source: str | None = None,
             by: str | None = None) -> dict[str, Any]:
    """The column values of "this unit is ``label``"; the source defaults to ``accepted`` when
    the label is the confident prediction, ``corrected`` otherwise."""
    label = str(label).strip()
    if not label:
        raise DecisionError("a cell type cannot be empty")
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


def review_queue(rows: Mapping[int, Mapping[str, Any]]) -> list[int]:
    """Classified units without a decision, most useful first: a curated type that disagrees
    with the confident prediction, then the lowest confidence ratio, then the highest novelty."""
    queue = []
    for cluster_id, row in rows.items():
        ratio = _number(row.get("c4_ratio"), math.nan)
        if math.isnan(ratio) or is_decided(row):
            continue
        predicted, label = row.get("c4_type"), row.get(HUMAN_LABEL)
        disagrees = bool(label) and is_confident(predicted) and label != predicted
        novelty = _number(row.get("c4_novelty"), 0.0)
        queue.append((not disagrees, ratio, -novelty, int(cluster_id)))
    return [entry[-1] for entry in sorted(queue)]


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
