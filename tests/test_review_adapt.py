"""``phy-c4 review`` and ``phy-c4 adapt`` on Phy folders with curated labels (two generated
recordings whose true types the curator "optotagged")."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from phy_c4.cli import main
from phy_c4.families import load_bundle
from phy_c4.io.tsv import read_cluster_column, write_cluster_column
from phy_c4.testing import make_dataset
from phy_c4.weights import get_bundle


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """Two recordings classified by the default bundle, every unit labelled with its type."""
    root = tmp_path_factory.mktemp("curated")
    folders = []
    for name, seed in (("rec_a", 1), ("rec_b", 2)):
        folder = root / name
        make_dataset(folder, n_units_per_type=3, duration_s=240.0, seed=seed, raw=False,
                     waveforms="drawn")  # shapes the default bundle partly misreads
        assert main(["classify", str(folder), "--group", "all", "--all-spikes", "--quiet"]) == 0
        truth = read_cluster_column(folder / "cluster_true_type.tsv")
        write_cluster_column(folder, "cell_type", truth)
        write_cluster_column(folder, "cell_type_source", {c: "optotagged" for c in truth})
        folders.append(folder)
    return folders


def _review(capsys, *args):
    assert main(["review", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _saved(folder):
    probabilities = pd.read_csv(folder / "cell_type_classification" / "phy_c4_probabilities.tsv",
                                sep="\t").set_index("cluster_id")
    truth = read_cluster_column(folder / "cluster_true_type.tsv")
    return probabilities, truth


def test_review_matches_a_count_by_hand(curated, capsys, tmp_path):
    report = _review(capsys, *curated, "--target-precision", "0.9", "--figure",
                     tmp_path / "review.png")
    classes = report["classes"]
    predicted, truth_all, ratios = [], [], []
    for folder in curated:
        probabilities, truth = _saved(folder)
        for cluster_id, label in truth.items():
            p = probabilities.loc[cluster_id, [f"c4_p_{k}" for k in classes]].to_numpy(float)
            predicted.append(classes[int(np.argmax(p))])
            truth_all.append(label)
            top, second = np.sort(p)[::-1][:2]
            ratios.append(top / second)
    predicted, truth_all, ratios = map(np.asarray, (predicted, truth_all, ratios))
    assert report["n_units"] == len(truth_all) == 30
    recalls = [np.mean(predicted[truth_all == k] == k) for k in classes]
    assert report["balanced_accuracy"] == pytest.approx(np.mean(recalls))
    for k in classes:
        called = predicted == k
        expected = np.mean(truth_all[called] == k) if called.any() else 0.0
        assert report["per_class"][k]["precision"] == pytest.approx(expected)
    target = report["target"]
    if target["reached"]:
        kept = ratios >= target["threshold"] - 1e-9
        assert np.mean(predicted[kept] == truth_all[kept]) >= 0.9
        lower = ratios[ratios < target["threshold"] - 1e-9]
        for t in lower[lower >= 1]:  # no lower threshold reaches it with 5+ units
            keep = ratios >= t
            assert keep.sum() < 5 or np.mean(predicted[keep] == truth_all[keep]) < 0.9
    assert report["by_source"]["optotagged"]["units"] == 30
    assert set(report["by_recording"]) == {"rec_a", "rec_b"}
    assert (tmp_path / "review.png").stat().st_size > 10_000


def test_review_counts_rejections_as_errors_and_filters_by_source(curated, capsys, tmp_path):
    import shutil

    folder = tmp_path / "rec"
    shutil.copytree(curated[0], folder)
    probabilities, truth = _saved(folder)
    labels = dict(truth)
    best = probabilities.idxmax(axis=1).str.removeprefix("c4_p_")
    wrong = next(c for c in labels if best[c] != labels[c])
    del labels[wrong]  # the curator only said "not this type" for it
    write_cluster_column(folder, "cell_type", labels)
    write_cluster_column(folder, "cell_type_rejected", {wrong: best[wrong]})
    sources = {c: ("pair" if i % 2 else "accepted") for i, c in enumerate(labels)}
    sources[wrong] = "rejected"
    write_cluster_column(folder, "cell_type_source", sources)
    report = _review(capsys, folder)
    assert report["n_units"] == len(labels) and report["units_rejected"] == 1
    assert report["threshold_curve"][0]["kept"] == len(labels) + 1
    assert report["threshold_curve"][0]["precision"] == pytest.approx(
        sum(best[c] == v for c, v in labels.items()) / (len(labels) + 1))
    only_pair = _review(capsys, folder, "--source", "pair")
    assert only_pair["n_units"] == sum(v == "pair" for v in sources.values())
    # a later CLI Classify leaves every decision file as it is, and the rejection holds
    decisions = {p.name: p.read_bytes() for p in folder.glob("cluster_cell_type*.tsv")}
    assert len(decisions) == 3
    assert main(["classify", str(folder), "--group", "all", "--all-spikes", "--overwrite",
                 "--quiet"]) == 0
    assert {p.name: p.read_bytes() for p in folder.glob("cluster_cell_type*.tsv")} == decisions
    assert read_cluster_column(folder / "cluster_c4_status.tsv")[wrong].startswith(
        "rejected by curator")


def test_review_says_what_is_missing(tmp_path, capsys):
    folder = tmp_path / "rec"
    make_dataset(folder, n_units_per_type=1, duration_s=60.0, raw=False)
    assert main(["review", str(folder)]) == 1
    assert "no curated labels" in capsys.readouterr().err
    write_cluster_column(folder, "cell_type", {0: "MLI"})
    assert main(["review", str(folder)]) == 1
    assert "no saved predictions" in capsys.readouterr().err
    assert main(["review", str(tmp_path)]) == 1
    assert "not a Phy folder" in capsys.readouterr().err


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
