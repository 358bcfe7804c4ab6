"""The region gate: units outside the cerebellar cortex get no cerebellar type (issue #14)."""

from __future__ import annotations

import shutil

import pytest

from phy_c4.cli import main
from phy_c4.io.tsv import read_cluster_column
from phy_c4.region import RegionGate, is_cerebellar_cortex
from phy_c4.status import Status, is_confident, status_of
from tests.conftest import data_path


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
