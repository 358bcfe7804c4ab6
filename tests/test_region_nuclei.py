"""phy_c4/region.py: cerebellar nuclei get no cortical type, however their label is spelled.

"Cerebellum, interposed nucleus" names the cerebellum, so it passes the word test; only the
nucleus check keeps C4's cortical classes off it (issue #26)."""

from __future__ import annotations

import numpy as np
import pytest

from phy_c4.region import INSIDE, OUTSIDE, RegionGate, is_cerebellar_cortex


@pytest.mark.parametrize("label", [
    "Cerebellum, interposed nucleus", "cerebellum: dentate nucleus", "Cerebellar nuclei",
    "Vermis, fastigial nucleus", "cerebellar cortex nuclei"])
def test_labels_naming_the_cerebellum_and_a_nucleus_are_not_cortex(label):
    assert is_cerebellar_cortex(label) is False


@pytest.mark.parametrize("label", ["Cerebellum", "cerebellar cortex, lobule VI", "Crus 1"])
def test_labels_naming_the_cerebellar_cortex_are_cortex(label):
    assert is_cerebellar_cortex(label) is True


def test_a_nucleus_is_outside_however_the_gate_learns_it():
    positions = np.c_[np.zeros(2), [100.0, 200.0]]
    gate = RegionGate(cluster_regions={3: "Cerebellum, interposed nucleus", 4: "Cerebellum"},
                      channel_regions={1: "Cerebellum, dentate nucleus"})
    assert gate.place(3, 0, positions)[0] == OUTSIDE
    assert gate.place(4, 0, positions)[0] == INSIDE
    assert gate.place(5, 1, positions)[0] == OUTSIDE
    named = RegionGate(cluster_regions={3: "my nucleus"}, extra_names=("my nucleus",))
    assert named.place(3, None, positions)[0] == OUTSIDE
