"""phy_c4/status.py: the c4_status texts users and tools parse, and what "confident" means.
Kills the survivors of the mutation run (docs/mutation.md).
"""

from __future__ import annotations

import pytest

from phy_c4.status import UNCLASSIFIED, Status, describe, is_confident, status_of


def test_a_kind_without_detail_is_its_bare_name():
    assert describe(Status.OK) == "ok"
    assert describe(Status.NO_SPIKES, "") == "no spikes"
    assert describe(Status.QUALITY_FILTER, "2 of 30 windows") == "quality filter: 2 of 30 windows"


@pytest.mark.parametrize("text, kind", [
    ("ok", Status.OK),
    ("quality filter: false positives: 12 %; false negatives: 3 %", Status.QUALITY_FILTER),
    ("ok; unlike the training data (novelty 3.1); paired with 12", Status.OK),
    ("below confidence-ratio threshold: ratio 1.4; paired: with 3; of 5", Status.BELOW_THRESHOLD),
    ("  outside the cerebellar cortex : cluster region 'CA1'", Status.OUTSIDE_CEREBELLUM),
])
def test_the_kind_is_what_precedes_the_first_colon_or_semicolon(text, kind):
    assert status_of(text) is kind


def test_an_unknown_kind_is_an_error():
    with pytest.raises(ValueError):
        status_of("classified")


@pytest.mark.parametrize("cell_type, confident", [
    ("PkC_ss", True), ("", False), (UNCLASSIFIED, False), (None, False), (float("nan"), False)])
def test_confident_means_a_type_was_given(cell_type, confident):
    assert is_confident(cell_type) is confident
