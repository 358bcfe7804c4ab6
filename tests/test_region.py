"""Tests of ``phy_c4.region``: the region gate: cerebellar cortex or not, from labels or
depth.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from phy_c4.cli import main
from phy_c4.io.tsv import read_cluster_column
from phy_c4.region import INSIDE, OUTSIDE, UNKNOWN, RegionGate, is_cerebellar_cortex
from phy_c4.status import Status, is_confident, status_of
from tests.conftest import data_path


def test_no_region_is_said_and_recorded_in_the_manifest(example_copy, capsys):
    """Item 6: without a region the CLI says (one line) that every unit is assumed cerebellar,
    and the run manifest records it; with one, neither."""
    from phy_c4.cli import main
    from phy_c4.region import NO_REGION

    manifest = example_copy / "cell_type_classification" / "phy_c4_run.json"
    assert main(["classify", str(example_copy), "--all-spikes", "--group", "all"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if NO_REGION in line]
    assert len(lines) == 1 and "--cerebellar-depth" in lines[0]
    assert NO_REGION in json.loads(manifest.read_text())["parameters"]["notes"]
    assert main(["classify", str(example_copy), "--all-spikes", "--group", "all",
                 "--overwrite", "--cerebellar-depth=-100000:100000"]) == 0
    assert "no cerebellar region" not in capsys.readouterr().err
    assert NO_REGION not in json.loads(manifest.read_text())["parameters"]["notes"]


@pytest.mark.parametrize("label, inside", [
    ("CUL4, 5gr", True), ("SIMpu", True), ("ANcr1", True), ("PFL", True), ("FL", True),
    ("Cerebellar cortex", True), ("paraflocculus", True), ("VERM", True),
    ("IP", False), ("FN", False), ("DN", False), ("cerebellar nuclei", False),
    ("VISp", False), ("CA1", False), ("SSp-bfd", False), ("", False)])
def test_cerebellar_cortex_names(label, inside):
    assert is_cerebellar_cortex(label) is inside


def test_the_gate_prefers_cluster_region_then_channel_then_depth():
    import numpy as np

    positions = np.c_[np.zeros(4), [100.0, 1500.0, 2500.0, 4000.0]]
    gate = RegionGate(depth_um=(1200, 3400), cluster_regions={7: "CA1"},
                      channel_regions={3: "CUL4, 5mo"})
    assert gate.place(7, 1, positions)[0] == "outside"  # its label beats its depth
    assert gate.place(8, 3, positions)[0] == "inside"  # channel table beats depth 4000
    assert gate.place(8, 0, positions) == ("outside", "depth 100 µm outside 1200-3400 µm")
    assert gate.place(8, 2, positions)[0] == "inside"
    assert RegionGate(depth_um={}.get("x")).place(8, None, positions)[0] == "unknown"
    with pytest.raises(ValueError, match="low:high"):
        RegionGate(depth_um=(3400, 1200))


@pytest.fixture(params=["allen_819701982_probe769", "english_mouse1_180501a"])
def cortical(request, tmp_path):
    """A copy of a real Phy folder of cortical units (ground truth: VIP, axo-axonic)."""
    folder = tmp_path / request.param
    shutil.copytree(data_path("phy_real", request.param), folder)
    return folder


def _types(folder):
    return read_cluster_column(folder / "cluster_c4_type.tsv")


def test_cortical_units_get_cerebellar_types_without_a_gate(cortical):
    assert main(["classify", str(cortical), "--group", "all", "--quiet", "--threshold",
                 "1"]) == 0
    assert any(t for t in _types(cortical).values())  # the problem the gate answers


@pytest.mark.parametrize("how", ["depth", "cluster region", "channel regions"])
def test_cortical_units_are_not_labelled_when_a_gate_says_so(cortical, how, tmp_path):
    args = ["classify", str(cortical), "--group", "all", "--quiet", "--threshold", "1"]
    if how == "depth":
        args += ["--cerebellar-depth", "5000:6000"]
    elif how == "cluster region":
        ids = read_cluster_column(cortical / "cluster_groundtruth.tsv")
        (cortical / "cluster_region.tsv").write_text(
            "cluster_id\tregion\n" + "".join(f"{c}\tVISp\n" for c in ids))
    else:
        table = tmp_path / "channels.tsv"
        table.write_text("channel\tregion\n" + "".join(f"{c}\tCA1\n" for c in range(384)))
        args += ["--channel-regions", str(table)]
    assert main(args) == 0
    types, statuses = _types(cortical), read_cluster_column(cortical / "cluster_c4_status.tsv")
    assert types and not any(is_confident(t) or t == "unclassified" for t in types.values())
    assert {status_of(s) for s in statuses.values()} <= {Status.OUTSIDE_CEREBELLUM,
                                                         Status.QUALITY_FILTER,
                                                         Status.TOO_FEW_SPIKES}
    assert any(status_of(s) == Status.OUTSIDE_CEREBELLUM for s in statuses.values())


def test_units_inside_are_classified_and_units_without_information_marked(cortical):
    args = ["classify", str(cortical), "--group", "all", "--quiet", "--threshold", "1"]
    assert main(args) == 0
    typed = sorted(c for c, t in _types(cortical).items() if t)
    inside = typed[0]
    (cortical / "cluster_region.tsv").write_text(
        f"cluster_id\tregion\n{inside}\tCUL4, 5mo\n")  # the others: no information
    assert main([*args, "--overwrite"]) == 0
    types, statuses = _types(cortical), read_cluster_column(cortical / "cluster_c4_status.tsv")
    assert types[inside] != "" and "no region information" not in statuses[inside]
    others = typed[1:]
    assert all(types[c] and "no region information" in statuses[c] for c in others)


def test_bad_depth_range_is_one_line(cortical, capsys):
    assert main(["classify", str(cortical), "--cerebellar-depth", "deep", "--quiet"]) == 1
    assert "LOW:HIGH" in capsys.readouterr().err


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
