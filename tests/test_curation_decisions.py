"""phy_c4/curation.py: the exact values a decision writes, and the review queue at its edges.
Kills the survivors of the mutation run (docs/mutation.md)."""

from __future__ import annotations

import getpass
import time
from datetime import datetime, timedelta, timezone

import pytest

from phy_c4.curation import DecisionError, next_in_queue, reject, review_queue, set_type, signature


def test_a_rejection_records_who_and_which_type_in_the_status():
    values = reject("PkC_ss", "MLI", by="alice 2026-11-26T12:30:05Z")
    assert values["cell_type_by"] == "alice 2026-11-26T12:30:05Z"
    assert values["c4_status"] == "rejected by curator: PkC_ss"
    with pytest.raises(DecisionError, match=r"^there is no confident prediction to reject$"):
        reject("", "MLI")


def test_refused_decisions_say_why_and_what_is_allowed():
    with pytest.raises(DecisionError, match=r"^a cell type cannot be empty$"):
        set_type("", "MLI")
    with pytest.raises(DecisionError) as error:
        set_type("MLI", "MLI", "guess")
    assert str(error.value) == ("unknown source 'guess'; use one of ['accepted', 'corrected', "
                                "'optotagged', 'juxtacellular', 'pair']")


def test_a_signature_is_in_utc_whatever_the_local_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        when = datetime(2026, 11, 26, 21, 30, 5, tzinfo=timezone(timedelta(hours=9)))
        assert signature("alice", when) == "alice 2026-11-26T12:30:05Z"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_signature_without_a_login_name_says_unknown(monkeypatch):
    def no_login() -> str:
        raise KeyError("getpwuid(): uid not found")

    monkeypatch.setattr(getpass, "getuser", no_login)
    when = datetime(2026, 1, 2, tzinfo=timezone.utc)  # noqa: UP017 - Python 3.10
    assert signature(when=when) == "unknown 2026-01-02T00:00:00Z"


def test_missing_or_nan_novelty_counts_as_zero_in_the_queue():
    rows = {1: {"c4_type": "GoC", "c4_ratio": 3.0, "c4_novelty": float("nan")},
            2: {"c4_type": "GoC", "c4_ratio": 3.0, "c4_novelty": 0.5},
            3: {"c4_type": "GoC", "c4_ratio": 3.0},
            4: {"c4_type": "GoC", "c4_ratio": 3.0, "c4_novelty": -0.5}}
    assert review_queue(rows) == [2, 1, 3, 4]


def test_previous_from_outside_the_queue_is_its_last_unit():
    queue = [5, 7, 9, 11]
    assert next_in_queue(queue, [], -1) == 11
    assert next_in_queue(queue, [42], -1) == 11
    assert next_in_queue(queue, [42], 1) == 5
    assert next_in_queue(queue, [5], -1) is None
    assert next_in_queue(queue, [11], 1) is None
