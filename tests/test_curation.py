"""Tests of ``phy_c4.curation``: the curator's decision columns, rejection, the review queue."""

from __future__ import annotations

import getpass
import re
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from phy_c4.curation import (
    DecisionError,
    check_label,
    next_in_queue,
    reject,
    review_queue,
    set_type,
    signature,
    walk,
)
from phy_c4.pipeline import classify
from phy_c4.status import Status, status_of


def test_signature_says_who_and_when_in_utc():
    when = datetime(2026, 11, 26, 12, 30, 5, tzinfo=timezone.utc)  # noqa: UP017
    assert signature("alice", when) == "alice 2026-11-26T12:30:05Z"
    assert re.fullmatch(r"\S+ \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", signature())


def test_set_type_source_defaults_to_accepted_only_for_the_confident_prediction():
    assert set_type("MLI", "MLI", by="a")["cell_type_source"] == "accepted"
    assert set_type("GoC", "MLI", by="a")["cell_type_source"] == "corrected"
    assert set_type("MLI", "unclassified", by="a")["cell_type_source"] == "corrected"
    assert set_type("MLI", "MLI", "optotagged", by="a") == {
        "cell_type": "MLI", "cell_type_source": "optotagged", "cell_type_by": "a"}
    with pytest.raises(DecisionError, match="unknown source"):
        set_type("MLI", "MLI", "guess")
    with pytest.raises(DecisionError, match="unknown source"):
        set_type("MLI", "MLI", "rejected")
    with pytest.raises(DecisionError, match="empty"):
        set_type("  ", "MLI")


def test_reject_takes_the_unit_out_of_the_confident_set():
    values = reject("PkC_ss", "PkC_ss", by="a")
    assert values["cell_type_rejected"] == "PkC_ss"
    assert values["cell_type"] is None  # a curated label equal to the rejected type goes
    assert values["c4_type"] == "unclassified"
    assert status_of(values["c4_status"]) == Status.REJECTED
    assert reject("PkC_ss", "MLI", by="a")["cell_type"] == "MLI"
    with pytest.raises(DecisionError):
        reject("unclassified", None)


def test_review_queue_order_disagreements_then_low_ratio_then_novelty():
    rows = {
        1: {"c4_type": "MLI", "c4_ratio": 9.0},
        2: {"c4_type": "MLI", "c4_ratio": 9.0, "cell_type": "GoC"},  # disagreement
        3: {"c4_type": "unclassified", "c4_ratio": 1.2},
        4: {"c4_type": "GoC", "c4_ratio": 3.0, "c4_novelty": 0.5},
        5: {"c4_type": "GoC", "c4_ratio": 3.0, "c4_novelty": 4.0},
        6: {"c4_type": "MLI", "c4_ratio": 1.1, "cell_type_source": "accepted"},  # decided
        7: {"c4_type": "", "c4_ratio": None},  # not classified
        8: {"c4_type": "MLI", "c4_ratio": 5.0, "cell_type": "MLI"},  # agrees, undecided
    }
    assert review_queue(rows) == [2, 3, 5, 4, 8, 1]
    queue = review_queue(rows)
    assert next_in_queue(queue, []) == 2
    assert next_in_queue(queue, [3]) == 5
    assert next_in_queue(queue, [3], -1) == 2
    assert next_in_queue(queue, [1]) is None
    assert next_in_queue([], [1]) is None


def test_classify_honours_a_rejection_from_the_folder_and_from_the_caller(example_copy,
                                                                         c4_bundle):
    from phy_c4.io.tsv import write_cluster_column

    plain = classify(example_copy, bundle=c4_bundle, threshold=1.0)
    confident = [(int(c), t) for c, t, s in zip(plain.cluster_ids, plain.cell_type,
                                                 plain.status, strict=True)
                 if t not in ("", "unclassified") and "from CS-SS pause" not in s]  # the network's
    (first, first_type), (second, second_type) = confident[:2]
    rejected = classify(example_copy, bundle=c4_bundle, threshold=1.0,
                        rejected={first: first_type, second: "not its type"})
    row = {int(c): i for i, c in enumerate(rejected.cluster_ids)}
    assert rejected.cell_type[row[first]] == "unclassified"
    assert status_of(rejected.status[row[first]]) == Status.REJECTED
    assert rejected.cell_type[row[second]] == second_type  # another type is not rejected
    np.testing.assert_array_equal(rejected.probabilities, plain.probabilities)
    write_cluster_column(example_copy, "cell_type_rejected", {first: first_type})
    from_folder = classify(example_copy, bundle=c4_bundle, threshold=1.0)
    assert from_folder.cell_type[row[first]] == "unclassified"


def test_check_label_refuses_other_spellings_of_a_type_and_unclassified():
    known = ("GoC", "MLI", "MFB", "PkC_ss", "PkC_cs")
    assert check_label(" PkC_ss ", known) == "PkC_ss"
    assert check_label("UBC", known) == "UBC"  # a free label of the right form is kept
    with pytest.raises(DecisionError, match="did you mean PkC_ss"):
        check_label("PkC-ss", known)
    with pytest.raises(DecisionError, match="did you mean MLI"):
        check_label("mli", known)
    with pytest.raises(DecisionError, match="not a type"):
        check_label("unclassified", known)
    with pytest.raises(DecisionError, match="letters, digits"):
        check_label("a b/c", known)
    with pytest.raises(DecisionError, match="did you mean"):
        set_type("pkc ss", "PkC_ss", known=known)


def test_walk_goes_on_from_the_position_skips_and_wraps_so_every_unit_is_reached():
    order = [10, 11, 12, 13, 14]
    decided = {12}
    assert walk(order, None, 1) == (0, False)  # no position yet: the head
    assert walk(order, None, -1) == (4, False)
    assert walk(order, 1, 1, skip=lambda c: c in decided) == (3, False)  # 12 decided: skipped
    assert walk(order, 4, 1) == (0, True)  # wraps: the least confident are reached
    assert walk(order, 0, -1) == (4, True)
    seen, position = [], 2
    for _ in range(len(order)):
        position, _wrapped = walk(order, position, 1, skip=lambda c: c in decided)
        seen.append(order[position])
    assert set(seen) == set(order) - decided
    assert walk(order, 0, 1, skip=lambda c: True) == (None, False)
    assert walk([], None, 1) == (None, False)


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
