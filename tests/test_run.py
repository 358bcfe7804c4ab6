"""Tests of ``phy_c4.run``: the steps around ``classify`` that the CLI and the plugin share."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from phy_c4.layers import LayerSpec, propose_layers
from phy_c4.run import feature_arrays, layer_proposal, select_clusters, summary
from phy_c4.status import UNCLASSIFIED

IDS = [5, 1, 3, 9]
GROUPS = {1: "good", 3: "mua", 5: "good"}  # 9 has no label: unsorted


def test_explicit_clusters_are_kept_in_the_order_asked_and_each_must_exist():
    assert select_clusters(IDS, GROUPS, clusters=[9, 1]) == [9, 1]
    with pytest.raises(ValueError, match=r"no cluster 2, 7 in the recording \(it has 4 "):
        select_clusters(IDS, GROUPS, clusters=[1, 7, 2])


def test_a_group_selects_its_clusters_sorted_and_an_unlabelled_cluster_is_unsorted():
    assert select_clusters(IDS, GROUPS, group="good") == [1, 5]
    assert select_clusters(IDS, GROUPS, group="unsorted") == [9]
    assert select_clusters(IDS, GROUPS, group="all") == [1, 3, 5, 9]
    assert select_clusters(IDS, {}, group="unsorted") == [1, 3, 5, 9]


def test_a_group_without_clusters_or_an_unknown_group_says_what_there_is():
    with pytest.raises(ValueError, match=r"no 'noise' clusters in rec \(groups: good, mua\)"):
        select_clusters(IDS, GROUPS, group="noise", where="rec")
    with pytest.raises(ValueError, match=r"no cluster_group\.tsv"):
        select_clusters(IDS, {}, group="good")
    with pytest.raises(ValueError, match="unknown group 'Good'"):
        select_clusters(IDS, GROUPS, group="Good")


def test_summary_counts_confident_types_below_threshold_and_unclassifiable_units():
    result = SimpleNamespace(cell_type=["PkC_ss", "PkC_ss", "MLI", UNCLASSIFIED, "", ""],
                             bundle_label="b")
    assert summary(result) == {"units": 6, "counts": {"PkC_ss": 2, "MLI": 1}, "confident": 3,
                               "below_threshold": 1, "not_classifiable": 2, "bundle": "b"}


def _unit(inputs=None, raw=None, peak_channel=-1):
    return SimpleNamespace(inputs=inputs or {}, raw_waveform=raw, raw_fs=30000.0,
                           peak_channel=peak_channel)


def test_feature_arrays_stack_the_inputs_of_classified_units_in_their_order():
    features = {4: _unit({"isi": np.full(3, 4.0)}, raw=np.zeros(5)), 2: _unit(),
                7: _unit({"isi": np.full(3, 7.0)}, raw=np.ones(5))}
    out = feature_arrays(SimpleNamespace(features=features))
    assert out["cluster_ids"].tolist() == [4, 7] and out["cluster_ids"].dtype == np.int64
    assert out["isi"].tolist() == [[4.0] * 3, [7.0] * 3]
    assert out["raw_cluster_ids"].tolist() == [4, 7] and out["raw_waveform"].shape == (2, 5)
    uneven = {4: _unit({"isi": np.zeros(3)}, raw=np.zeros(5)), 7: _unit(raw=np.zeros(6))}
    assert "raw_waveform" not in feature_arrays(SimpleNamespace(features=uneven))


def test_layer_proposal_uses_each_units_peak_channel_depth_shank_and_confirmed_pair():
    positions = np.array([[0.0, 100.0], [0.0, 200.0], [16.0, 300.0], [0.0, 120.0]])
    features = {1: _unit(peak_channel=0), 2: _unit(peak_channel=3), 3: _unit(peak_channel=2),
                4: _unit(peak_channel=-1)}
    result = SimpleNamespace(features=features, cluster_ids=np.array([1, 2, 3, 4]),
                             pair=np.array(["2", "1", "", ""], dtype=object))
    spec = LayerSpec(ml_side="above")
    depths = {1: 100.0, 2: 120.0, 3: 300.0}
    got = layer_proposal(result, positions, np.array([0, 0, 1, 0]), spec=spec)  # 3 on shank 1
    assert got == propose_layers(depths, {1: 0, 2: 0, 3: 1}, {1: 2, 2: 1}, spec=spec)
    assert got.n_pairs == 1 and got.layers == {1: "PCL", 2: "PCL", 3: "unknown"}
    one_shank = propose_layers(depths, {1: 0, 2: 0, 3: 0}, {1: 2, 2: 1}, spec=spec)
    assert one_shank.layers[3] != "unknown"  # on the pair's shank, 190 um from its PCL
    assert layer_proposal(result, positions, np.array([0, 1]), spec=spec) == one_shank
    assert layer_proposal(result, positions, spec=spec) == one_shank
