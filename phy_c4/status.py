"""Why a unit has the type it has, in one place: the status kinds and what "confident" means.

A ``c4_status`` text is ``<kind>`` or ``<kind>: <detail>`` (the kind is a ``Status``); tests and
tools match the kind with ``status_of``, never a prefix of their own. Depends on nothing.
"""

from __future__ import annotations

from enum import Enum

UNCLASSIFIED = "unclassified"
"""Type reported when the confidence ratio is below the threshold (probabilities are kept)."""


class Status(str, Enum):  # noqa: UP042 - StrEnum needs Python 3.11; setup.cfg allows 3.10
    OK = "ok"
    NO_SPIKES = "no spikes"
    TOO_FEW_SPIKES = "too few spikes"
    NO_AMPLITUDES = "no amplitudes"
    QUALITY_FILTER = "quality filter"
    NO_WAVEFORM = "no waveform"
    NO_FEATURES = "no features"
    BELOW_THRESHOLD = "below confidence-ratio threshold"
    UNNAMED_OUTPUT = "output without a label"
    OUTSIDE_CEREBELLUM = "outside the cerebellar cortex"
    REJECTED = "rejected by curator"


def describe(kind: Status, detail: str = "") -> str:
    """The ``c4_status`` text of a kind with its detail."""
    return f"{kind.value}: {detail}" if detail else kind.value


def status_of(text: str) -> Status:
    """The kind of a ``c4_status`` text."""
    kind = text.split(":", 1)[0].split(";", 1)[0].strip()
    return Status(kind)


def is_confident(cell_type: object) -> bool:
    """A type was given at or above the confidence-ratio threshold (C4's "confident" call)."""
    return isinstance(cell_type, str) and cell_type not in ("", UNCLASSIFIED)
