"""Tests of ``phy_c4.layers``: cortical layers proposed from Purkinje pairs' depths."""

from __future__ import annotations

import json

import pytest

from phy_c4.cli import main
from phy_c4.io.tsv import read_cluster_column
from phy_c4.layers import LayerSpec, propose_layers
from phy_c4.testing import make_dataset
from tests.conftest import _tree


def test_propose_layers_refuses_a_bad_target_before_writing_anything(tmp_path, capsys):
    """Item 3: the target check runs first: rc 1, and the folder gets no results or backup."""
    from phy_c4.cli import main
    from phy_c4.testing import make_dataset

    folder = tmp_path / "rec"
    make_dataset(folder, n_units_per_type=1, duration_s=60.0, seed=2, n_channels=4, raw=False)
    before = _tree(folder)
    target = tmp_path / "layers.tsv"
    target.write_text("cluster_id\tlayer\n")
    assert main(["classify", str(folder), "--group", "all", "--quiet",
                 "--propose-layers", str(target)]) == 1
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert _tree(folder) == before  # no columns, no audit folder, no backup, no cache
    assert target.read_text() == "cluster_id\tlayer\n"


DEPTHS = {1: 1000.0, 2: 1010.0, 3: 1030.0, 4: 1200.0, 5: 800.0, 6: 1500.0, 7: 400.0, 8: 980.0}


SHANKS = dict.fromkeys(DEPTHS, 0)


PAIRS = {1: 2, 2: 1, 3: 8, 8: 3}


def test_pcl_at_the_pairs_ml_and_gcl_on_the_sides_given():
    above = propose_layers(DEPTHS, SHANKS, PAIRS, spec=LayerSpec(ml_side="above"))
    assert above.n_pairs == 2
    assert above.pcl_depth_um == {0: pytest.approx(1005.0)}
    assert above.layers == {1: "PCL", 2: "PCL", 3: "PCL", 8: "PCL", 4: "ML", 5: "GCL",
                            6: "unknown", 7: "unknown"}  # beyond the layers' thickness
    below = propose_layers(DEPTHS, SHANKS, PAIRS, spec=LayerSpec(ml_side="below"))
    assert below.layers[4] == "GCL" and below.layers[5] == "ML"
    pcl_only = propose_layers(DEPTHS, SHANKS, PAIRS)
    assert set(pcl_only.layers.values()) == {"PCL", "unknown"}
    assert any("side not given" in note for note in pcl_only.notes)


def test_no_pairs_and_folded_shanks_say_so():
    none = propose_layers(DEPTHS, SHANKS, {})
    assert set(none.layers.values()) == {"unknown"} and "no confirmed" in none.notes[0]
    folded = propose_layers(DEPTHS, SHANKS, {1: 2, 2: 1, 6: 7, 7: 6},
                            spec=LayerSpec(ml_side="above"))
    assert folded.pcl_depth_um == {}  # two crossings: no single PCL depth
    assert folded.layers[4] == "unknown"  # and no ML/GCL guess
    assert folded.layers[6] == folded.layers[1] == "PCL"
    assert any("more than one PCL" in note for note in folded.notes)


def test_each_shank_has_its_own_pcl():
    depths = {**DEPTHS, 9: 1250.0}
    shanks = {**SHANKS, 4: 1, 6: 1, 9: 1}
    proposal = propose_layers(depths, shanks, {**PAIRS, 4: 9, 9: 4},
                              spec=LayerSpec(ml_side="above"))
    assert proposal.pcl_depth_um == {0: pytest.approx(1005.0), 1: pytest.approx(1225.0)}
    assert proposal.layers[4] == proposal.layers[9] == "PCL"
    assert proposal.layers[6] == "unknown"  # 275 µm above its own shank's PCL
    assert proposal.layers[5] == "GCL"  # judged against shank 0's PCL only
    with pytest.raises(ValueError, match="ml_side"):
        LayerSpec(ml_side="up")


def test_cli_writes_the_proposal_for_the_planted_pairs_never_into_the_folder(tmp_path,
                                                                            capsys):
    folder = tmp_path / "rec"
    make_dataset(folder, n_units_per_type=2, duration_s=240.0, seed=1, raw=False)
    target = tmp_path / "proposal.tsv"
    assert main(["classify", str(folder), "--group", "all", "--all-spikes", "--quiet",
                 "--propose-layers", str(target), "--json"]) == 0

    layers = json.loads(capsys.readouterr().out)["recordings"][0]["layers"]
    proposal = read_cluster_column(target, "layer")
    partners = {c: int(p) for c, p in read_cluster_column(folder / "cluster_true_partner.tsv")
                .items() if int(p) >= 0}
    paired = {c for c, p in read_cluster_column(folder / "cluster_c4_pair.tsv").items() if p}
    assert layers["pairs"] >= 1 and paired <= set(partners)  # only planted pairs are found
    assert all(proposal[c] == "PCL" for c in paired)
    before = (folder / "cluster_layer.tsv").read_bytes()
    assert main(["classify", str(folder), "--group", "all", "--all-spikes", "--quiet",
                 "--overwrite", "--propose-layers", str(folder / "cluster_layer.tsv")]) == 1
    assert "will not replace" in capsys.readouterr().err
    assert (folder / "cluster_layer.tsv").read_bytes() == before
