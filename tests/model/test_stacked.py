"""Ensemble summaries follow C4's definitions; members are batched but equal a plain loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phy_c4.model import C4Network, predict_raw
from phy_c4.model.ensemble import npyx_rows_to_inputs
from tests.conftest import data_path


@pytest.mark.parametrize("name", ["base", "layer"])  # layer: layer one-hot and the MLI split
def test_batched_members_equal_a_loop_of_plain_modules(bundles, name):
    bundle = bundles[name]
    X = np.load(data_path("reference", "c4_format", name, "expected.npz"))["X"]
    inputs = npyx_rows_to_inputs(bundle, X)
    batched = predict_raw(bundle, X)
    for member in range(bundle.n_members):
        network = C4Network(bundle.network_config).eval()
        state = {k: v[member] for k, v in bundle.weights.items()}
        network.load_state_dict(state, strict=False)
        with torch.no_grad():
            logits, _ = network(inputs)
        np.testing.assert_allclose(batched[:, :, member], torch.softmax(logits, 1).numpy(),
                                   atol=1e-6)
