"""phy_c4/region.py: the gate's rules at their edges, and the reason it gives for a place
(``c4_status`` shows it; the run manifest records the gate). Kills the survivors of the
mutation run (docs/mutation.md)."""

from __future__ import annotations

import numpy as np
import pytest

from phy_c4.region import INSIDE, OUTSIDE, UNKNOWN, RegionGate, is_cerebellar_cortex

POSITIONS = np.c_[np.zeros(4), [1200.0, 2000.0, 3400.0, 4000.0]]


def test_names_the_user_adds_count_as_cortex_in_any_case_and_only_those():
    extra = ("My Lobule",)
    assert is_cerebellar_cortex("my lobule x", extra) is True  # "lobule" is a cortex word
    assert is_cerebellar_cortex("MY LOBULE", extra) is True
    assert is_cerebellar_cortex("mossy zone", ("My Zone",)) is False
    assert is_cerebellar_cortex("My Zone", ("my zone",)) is True
    assert is_cerebellar_cortex("CA1", ("VISp",)) is False
    gate = RegionGate(cluster_regions={1: "My Zone", 2: "Other"}, extra_names=("my zone",))
    assert gate.place(1, None, POSITIONS) == (INSIDE, "cluster region 'My Zone'")
    assert gate.place(2, None, POSITIONS) == (OUTSIDE, "cluster region 'Other'")


def test_the_reason_names_where_the_place_came_from():
    gate = RegionGate(depth_um=(1200, 3400), cluster_regions={7: "CA1"},
                      channel_regions={3: "CUL4, 5mo"})
    assert gate.place(7, 1, POSITIONS) == (OUTSIDE, "cluster region 'CA1'")
    assert gate.place(8, 3, POSITIONS) == (INSIDE, "region of channel 3 'CUL4, 5mo'")
    assert gate.place(8, 1, POSITIONS) == (INSIDE, "depth 2000 µm within 1200-3400 µm")
    assert RegionGate().place(8, 1, POSITIONS) == (UNKNOWN, "no region information")


def test_both_ends_of_the_depth_range_are_inside():
    gate = RegionGate(depth_um=(1200, 3400))
    assert gate.place(1, 0, POSITIONS) == (INSIDE, "depth 1200 µm within 1200-3400 µm")
    assert gate.place(1, 2, POSITIONS) == (INSIDE, "depth 3400 µm within 1200-3400 µm")
    assert gate.place(1, 3, POSITIONS) == (OUTSIDE, "depth 4000 µm outside 1200-3400 µm")


def test_depth_is_used_only_with_a_range_and_a_channel_on_the_probe():
    labelled = RegionGate(cluster_regions={1: "CA1"})
    assert labelled.place(2, 1, POSITIONS) == (UNKNOWN, "no region information")
    ranged = RegionGate(depth_um=(0, 5000))
    assert ranged.place(2, None, POSITIONS)[0] == UNKNOWN
    assert ranged.place(2, len(POSITIONS), POSITIONS)[0] == UNKNOWN  # not a probe channel
    assert ranged.place(2, -1, POSITIONS)[0] == UNKNOWN


def test_an_empty_depth_range_is_refused():
    with pytest.raises(ValueError, match="low:high"):
        RegionGate(depth_um=(1200, 1200))


def test_the_run_manifest_records_the_gate():
    gate = RegionGate(depth_um=(1200.0, 3400.0), cluster_regions={1: "CA1", 2: "CUL"},
                      channel_regions={3: "IP"}, extra_names=("my zone",))
    assert gate.to_dict() == {"depth_um": (1200.0, 3400.0), "cluster_regions": 2,
                              "channel_regions": 1, "extra_names": ["my zone"]}
