"""Tests of ``phy_c4.training.adapt``: `phy-c4 adapt`: last-layer adaptation to the curator's
labels.
"""

from __future__ import annotations

import json

from phy_c4.cli import main
from phy_c4.families import load_bundle
from phy_c4.io.tsv import write_cluster_column
from phy_c4.weights import get_bundle
from tests.conftest import _review, _saved


def test_adapt_writes_a_bundle_that_beats_its_parent_on_held_out_recordings(curated, capsys,
                                                                           tmp_path):
    out = tmp_path / "my_bundle"
    assert main(["adapt", *map(str, curated), "--out", str(out), "--all-spikes", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    bundle = load_bundle(out)
    manifest = bundle.manifest
    assert manifest["parent"]["bundle"] == "c4-tables@4"
    assert manifest["training"]["recordings"] == {"rec_a": 15, "rec_b": 15}
    assert manifest["training"]["label_counts"] == {k: 6 for k in bundle.labels}
    assert manifest["training"]["sources"] == {"optotagged": 30}
    cv = report["cross_validation"]
    assert cv["split"] == "by recording" and cv["folds"] == 2
    scores = cv["scores"]
    assert scores[report["method"]]["balanced_accuracy"] > scores["parent"]["balanced_accuracy"]
    card = (out / "MODEL_CARD.md").read_text()
    assert "c4-tables@4" in card and "by recording" in card
    # the adapted bundle classifies, and review --bundle scores it (in memory, nothing written)
    before = (curated[0] / "cluster_c4_type.tsv").read_bytes()
    fresh = _review(capsys, *curated, "--bundle", out, "--all-spikes")
    assert (curated[0] / "cluster_c4_type.tsv").read_bytes() == before
    assert fresh["n_units"] == 30
    # the novelty reference is the parent's: the last layer's input did not change
    parent = get_bundle("default")
    assert bundle.reference["features"].equal(parent.reference["features"])
    for key in bundle.weights:
        if not key.startswith("fc2."):
            assert bundle.weights[key].equal(parent.weights[key]), key


def test_adapt_refuses_too_few_labels_and_no_gain(curated, capsys, tmp_path):
    import shutil

    folder = tmp_path / "rec"
    shutil.copytree(curated[0], folder)
    write_cluster_column(folder, "cell_type", {0: "PkC_ss", 1: "PkC_cs", 2: "MLI"})
    assert main(["adapt", str(folder), "--out", str(tmp_path / "b"), "--all-spikes"]) == 1
    assert "too few curated labels" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    # labels that are the parent's own predictions: nothing to gain
    probabilities, _ = _saved(folder)
    own = probabilities.idxmax(axis=1).str.removeprefix("c4_p_").to_dict()
    write_cluster_column(folder, "cell_type", own)
    assert main(["adapt", str(folder), "--out", str(tmp_path / "b"), "--all-spikes"]) == 1
    assert "did not beat" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
