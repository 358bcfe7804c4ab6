"""phy_c4/model/ensemble.py: the network's input rows (layer one-hot, ACG scaling, refusals) and
the novelty score's nearest neighbours. Kills survivors of the mutation run (docs/mutation.md).
A C4 network config is enough: no weights are needed to build inputs."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from phy_c4.model.architecture import C4NetConfig
from phy_c4.model.ensemble import _mean_knn, c4_inputs, layer_one_hot, novelty, summarise

CONFIG = C4NetConfig(acg_rows=2, acg_cols=3, wvf_samples=4, use_layer=True)
BUNDLE = SimpleNamespace(network_config=CONFIG, name="tiny")


@pytest.mark.parametrize("names, index", [
    (("", "0", "unknown", "UNKNOWN", "nan", "None", " none "), 0),
    (("gcl", "GCL", "grc_layer", "1"), 1),
    (("pcl", "PCL", "pkc_layer", "2"), 2),
    (("ml", "ML", "ml_layer", "3"), 3),
])
def test_every_layer_alias_is_its_one_hot_row(names, index):
    rows = layer_one_hot(list(names), len(names))
    assert rows.dtype == np.float32 and rows.shape == (len(names), 4)
    np.testing.assert_array_equal(rows, np.eye(4, dtype=np.float32)[[index] * len(names)])


def test_no_layer_is_unknown_and_a_one_hot_table_passes_through():
    unknown = layer_one_hot(None, 3)
    assert unknown.dtype == np.float32
    np.testing.assert_array_equal(unknown, np.eye(4, dtype=np.float32)[[0, 0, 0]])
    assert layer_one_hot([], 0).shape == (0, 4)  # no units: an empty table, not an error
    table = np.eye(4)[[3, 1]]
    out = layer_one_hot(table, 2)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, table)


def test_bad_layers_are_refused_with_what_was_expected():
    with pytest.raises(ValueError, match=re.escape("layer one-hot must be (2, 4), got (2, 3)")):
        layer_one_hot(np.zeros((2, 3)), 2)
    with pytest.raises(ValueError, match=re.escape("layer must have one entry per unit (3), "
                                                   "got (2,)")):
        layer_one_hot(["GCL", "ML"], 3)
    with pytest.raises(ValueError, match=re.escape("unknown layer 'cortex'; use one of ('unknown', "
                                                   "'GCL', 'PCL', 'ML')")):
        layer_one_hot(["GCL", "cortex"], 2)
    with pytest.raises(ValueError, match="unknown layer '4'"):
        layer_one_hot(["4"], 1)


def _features(n=2, dtype=np.float64):
    rng = np.random.default_rng(3)
    acg = rng.random((n, CONFIG.acg_rows, 2 * CONFIG.acg_cols - 1)).astype(dtype)
    return acg, rng.random((n, CONFIG.wvf_samples)).astype(dtype)


def test_rows_are_scaled_positive_lags_then_waveform_then_layer():
    acg, wvf = _features()
    rows = c4_inputs(BUNDLE, acg, wvf, layer=["ML", "GCL"], acg_scale=10.0).numpy()
    expected = np.concatenate([acg[:, :, 2:].reshape(2, -1) * 10.0, wvf, np.eye(4)[[3, 1]]],
                              axis=1).astype(np.float32)
    np.testing.assert_array_equal(rows, expected)


def test_float32_features_are_scaled_in_double_precision():
    """One rounding to float32 after the product, whatever the features' own precision."""
    acg, wvf = _features(dtype=np.float32)
    rows = c4_inputs(BUNDLE, acg, wvf, layer=None, acg_scale=0.1).numpy()
    exact = (acg[:, :, 2:].reshape(2, -1).astype(np.float64) * 0.1).astype(np.float32)
    np.testing.assert_array_equal(rows[:, :exact.shape[1]], exact)


def test_bad_features_are_refused_with_the_shapes_expected():
    acg, wvf = _features(n=3)  # 3 units, 2 ACG rows: the message must name the units
    with pytest.raises(ValueError, match=re.escape("acg_log must be (units, 2, 5), got (3, 2, 4)")):
        c4_inputs(BUNDLE, acg[:, :, :4], wvf, layer=None, acg_scale=10.0)
    with pytest.raises(ValueError, match=re.escape("waveforms must be (3, 4), got (3, 3)")):
        c4_inputs(BUNDLE, acg, wvf[:, :3], layer=None, acg_scale=10.0)
    with pytest.raises(ValueError, match=re.escape("waveforms must be (3, 4), got (12,)")):
        c4_inputs(BUNDLE, acg, wvf.ravel(), layer=None, acg_scale=10.0)
    acg[1, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"^features contain NaN or infinite values$"):
        c4_inputs(BUNDLE, acg, wvf, layer=None, acg_scale=10.0)


def test_mean_knn_distances():
    reference = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    points = np.array([[0.0, 0.0], [3.0, 4.0]])
    # to the reference: (0, 3, 4) and (5, 4, 3); two nearest
    np.testing.assert_allclose(_mean_knn(points, reference, 2), [1.5, 3.5])
    np.testing.assert_allclose(_mean_knn(points, reference, 1), [0.0, 3.0])
    # leave-one-out among the reference itself: (3, 4), (3, 5), (4, 5)
    np.testing.assert_allclose(_mean_knn(reference, reference, 2, leave_one_out=True),
                               [3.5, 4.0, 4.5])
    np.testing.assert_allclose(_mean_knn(reference, reference, 5, leave_one_out=True),
                               [3.5, 4.0, 4.5])  # k capped at the others
    np.testing.assert_allclose(_mean_knn(points[:1], reference[:1], 1), [0.0])  # not clipped to 1


def test_novelty_uses_five_neighbours_and_is_nan_without_what_it_needs():
    reference = torch.tensor([[float(i), 0.0] for i in range(8)], dtype=torch.float64)
    raw = np.stack([np.array([[0.6, 0.3, 0.1]])] * 2, axis=2)
    prediction = summarise(("A", "B", "C"), raw, 1.0)
    prediction.features = np.array([[20.0, 0.0]])
    bundle = SimpleNamespace(reference={"features": reference})
    # 5 nearest of 0..7 from 20: 13..17 away, mean 15; the reference's own 5-NN means:
    # 0: 3, 1: 2.2, 2-5: 1.8, 6: 2.2, 7: 3 -> median 2
    np.testing.assert_allclose(novelty(bundle, prediction), [15.0 / 2.0], rtol=1e-12)
    unknown = novelty(SimpleNamespace(reference=None), prediction)
    assert unknown.shape == (1,) and np.isnan(unknown).all()
    prediction.features = None
    unknown = novelty(bundle, prediction)
    assert unknown.shape == (1,) and np.isnan(unknown).all()
    empty = summarise(("A", "B", "C"), np.zeros((0, 3, 2)), 1.0)
    assert novelty(bundle, empty).shape == (0,)


def test_each_unit_gets_its_own_members_disagreement():
    reference = torch.tensor([[float(i), 0.0] for i in range(8)], dtype=torch.float64)
    agree = [[0.6, 0.3, 0.1], [0.6, 0.3, 0.1]]
    disagree = [[0.9, 0.1, 0.0], [0.3, 0.5, 0.2]]  # 0.3 from their mean, each
    raw = np.stack([np.array([agree[m], disagree[m]]) for m in range(2)], axis=2)
    prediction = summarise(("A", "B", "C"), raw, 1.0)
    prediction.features = np.array([[20.0, 0.0], [20.0, 0.0]])
    scores = novelty(SimpleNamespace(reference={"features": reference}), prediction)
    np.testing.assert_allclose(scores, [7.5, 7.5 * 1.3], rtol=1e-12)
