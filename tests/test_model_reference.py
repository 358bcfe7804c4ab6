"""Official-format C4 archives import and reproduce npyx 4.3.1's probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from phy_c4.families import load_bundle
from phy_c4.model import predict_raw
from phy_c4.weights import import_c4_archive
from tests.conftest import data_path

# The reference "layer" archive has 6 outputs: C4's layer model with the MLI split.
VARIANTS = {"base": "base", "layer": "layer_information_mli_clustering"}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def imported(request, tmp_path_factory):
    folder = data_path("reference", "c4_format", request.param)
    dest = tmp_path_factory.mktemp(request.param) / "bundle"
    bundle = import_c4_archive(folder / "trained_models.tar.gz", VARIANTS[request.param], dest=dest)
    with np.load(folder / "expected.npz") as expected:
        return bundle, {k: expected[k] for k in expected.files}


def test_uncalibrated_probabilities_match_npyx(imported):
    bundle, expected = imported
    probs = predict_raw(bundle, expected["X"])
    assert probs.shape == expected["probs"].shape
    np.testing.assert_allclose(probs, expected["probs"], rtol=0, atol=1e-5)


def test_calibrated_probabilities_and_priors_match_npyx(imported):
    bundle, expected = imported
    probs = predict_raw(bundle, expected["X"], calibrated=True)
    np.testing.assert_allclose(probs, expected["probs_calibrated"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(bundle.calibration["prior_precision"].numpy(),
                               expected["prior_precision"], rtol=1e-3)
    # calibration must actually matter, or the test above proves nothing
    assert np.abs(expected["probs_calibrated"] - expected["probs"]).max() > 1e-3


def test_shapes_decide_classes_and_layer(imported):
    bundle, expected = imported
    assert bundle.use_layer == (expected["X"].shape[1] == 2104)
    assert len(bundle.labels) == expected["probs"].shape[1]
    assert bundle.n_members == expected["probs"].shape[2]


def test_saved_bundle_reloads_identically(imported):
    bundle, expected = imported
    again = load_bundle(bundle.path)
    np.testing.assert_array_equal(predict_raw(again, expected["X"], calibrated=True),
                                  predict_raw(bundle, expected["X"], calibrated=True))
