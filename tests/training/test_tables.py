"""Tests of ``phy_c4.training.tables``: feature table layouts (`c4_derived` CSV, `.npz`)."""

from __future__ import annotations

import numpy as np

from phy_c4.training.tables import FeatureTable


def test_feature_table_masks_missing_modalities(hausser):
    x = hausser.inputs()
    assert x.shape == (len(hausser), 75 + 100 + 100 + 3)
    assert np.all(x[:, -2:] == 0) and np.all(x[:, 75:275] == 0)  # no ACG/ISI in Häusser
    assert isinstance(hausser, FeatureTable)
