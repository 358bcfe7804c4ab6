"""``phy-c4 review`` and ``phy-c4 adapt`` on Phy folders with curated labels (two generated
recordings whose true types the curator "optotagged").
"""

from __future__ import annotations

import numpy as np
import pytest

from phy_c4.cli import main
from phy_c4.io.tsv import read_cluster_column, write_cluster_column
from phy_c4.testing import make_dataset
from tests.conftest import _review, _saved


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
