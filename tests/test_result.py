"""Tests of ``phy_c4.result``: `ClassificationResult`, `Prediction`, `Explanation` as plain
arrays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phy_c4.pipeline import PipelineOptions, classify
from phy_c4.result import load_result, save_result


def test_a_result_survives_the_trip_to_a_file_unchanged(folder, tmp_path):
    result = classify(folder, options=PipelineOptions(quality=None, cache=False))
    assert result.pair is not None and any(p != "" for p in result.pair)
    path = tmp_path / "result.npz"
    save_result(result, path)
    loaded = load_result(path)
    pd.testing.assert_frame_equal(loaded.table, result.table)
    for name in ("raw", "probabilities", "features", "votes", "ratio"):
        np.testing.assert_array_equal(getattr(loaded.prediction, name),
                                      getattr(result.prediction, name))
    assert list(loaded.prediction.predicted) == list(result.prediction.predicted)
    assert loaded.pair.tolist() == result.pair.tolist()  # partner ids stay ints
    assert loaded.parameters["bundle_sha256"] == result.parameters["bundle_sha256"]
    for cluster_id, unit in result.features.items():
        other = loaded.features[cluster_id]
        assert (other.status, other.peak_channel, other.n_spikes_used) == (
            unit.status, unit.peak_channel, unit.n_spikes_used)
        for name, value in unit.inputs.items():
            np.testing.assert_array_equal(other.inputs[name], value)
    np.save(tmp_path / "other.npy", np.zeros(3))
    with pytest.raises(ValueError):
        load_result(tmp_path / "other.npy")
