"""Ensemble summaries follow C4's definitions; members are batched but equal a plain loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phy_c4.model import UNCLASSIFIED, C4Network, predict, predict_raw
from phy_c4.model.ensemble import layer_one_hot, npyx_rows_to_inputs, summarise
from phy_c4.weights import import_c4_archive
from tests.conftest import data_path


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    out = {}
    for name, variant in (("base", "base"), ("layer", "layer_information_mli_clustering")):
        folder = data_path("reference", "c4_format", name)
        out[name] = import_c4_archive(folder / "trained_models.tar.gz", variant,
                                      dest=tmp_path_factory.mktemp(name) / "bundle")
    return out


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


def test_summary_definitions():
    raw = np.zeros((3, 3, 4))
    raw[0, :, :] = np.array([0.7, 0.2, 0.1])[:, None]  # ratio 3.5
    raw[1, :, :] = np.array([0.3, 0.5, 0.2])[:, None]  # ratio 1.67 -> unclassified
    raw[2, :, :3] = np.array([0.1, 0.1, 0.8])[:, None]
    raw[2, :, 3] = [0.9, 0.05, 0.05]  # one member disagrees
    result = summarise(("A", "B", "C"), raw, threshold=2.0)
    np.testing.assert_allclose(result.probabilities[0], [0.7, 0.2, 0.1])
    assert list(result.predicted) == ["A", "B", "C"]
    assert list(result.cell_type) == ["A", UNCLASSIFIED, "C"]
    np.testing.assert_allclose(result.ratio[:2], [3.5, 0.5 / 0.3])
    np.testing.assert_allclose(result.confidence[:2], [0.7, 0.5])
    assert result.votes_text == ["4/4", "4/4", "3/4"]


def test_predict_from_features_equals_npyx_layout(bundles):
    bundle = bundles["layer"]
    X = np.load(data_path("reference", "c4_format", "layer", "expected.npz"))["X"]
    acg_log = X[:, :2010].reshape(-1, 10, 201) / 10.0
    waveforms = X[:, 2010:2100]
    layer_names = np.array(["unknown", "GCL", "PCL", "ML"])[X[:, 2100:].argmax(1)]
    result = predict(bundle, acg_log, waveforms, layer=layer_names, threshold=1.0)
    np.testing.assert_allclose(result.raw, predict_raw(bundle, X, calibrated=True), atol=1e-6)
    assert result.raw.shape == (24, 6, 4)
    assert set(result.cell_type) <= set(bundle.labels)


def test_layer_rules(bundles):
    acg = np.zeros((2, 10, 201))
    wvf = np.zeros((2, 90))
    with pytest.raises(ValueError, match="does not use layer"):
        predict(bundles["base"], acg, wvf, layer=["GCL", "ML"])
    with pytest.raises(ValueError, match="unknown layer"):
        layer_one_hot(["cortex"], 1)
    np.testing.assert_array_equal(layer_one_hot(["PkC_layer", "", 3], 3).argmax(1), [2, 0, 3])
    with pytest.raises(ValueError, match="threshold"):
        predict(bundles["base"], acg, wvf, threshold=0.5)
    with pytest.raises(ValueError, match="acg_log must be"):
        predict(bundles["base"], np.zeros((2, 10, 101)), wvf)
    bad = acg.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        predict(bundles["base"], bad, wvf)


def test_predict_defaults_to_ratio_2_and_the_bundles_calibration_and_obeys_each_setting(
        bundles):
    """Threshold 2 and the bundle's calibration unless told, on the device asked for (an unknown
    one is refused, not replaced)."""
    bundle = bundles["layer"]  # calibrated (it carries Laplace factors)
    X = np.load(data_path("reference", "c4_format", "layer", "expected.npz"))["X"][:6]
    acg_log, waveforms = X[:, :2010].reshape(-1, 10, 201) / 10.0, X[:, 2010:2100]
    default = predict(bundle, acg_log, waveforms)
    assert default.threshold == 2.0
    assert predict(bundle, acg_log, waveforms, threshold=1.5).threshold == 1.5
    calibrated = predict(bundle, acg_log, waveforms, calibrated=True)
    plain = predict(bundle, acg_log, waveforms, calibrated=False)
    np.testing.assert_array_equal(default.raw, calibrated.raw)
    assert np.abs(plain.raw - calibrated.raw).max() > 1e-4
    with pytest.raises(ValueError, match="unknown device"):
        predict(bundle, acg_log, waveforms, device="no-such-device")
    from phy_c4.model.ensemble import c4_inputs, ensemble_features

    inputs = c4_inputs(bundle, acg_log, waveforms, acg_scale=bundle.spec.acg.scale)
    np.testing.assert_array_equal(default.features, ensemble_features(bundle, inputs))


def test_npyx_rows_become_float32_inputs_and_rows_of_another_width_are_refused(bundles):
    bundle = bundles["base"]
    X = np.load(data_path("reference", "c4_format", "base", "expected.npz"))["X"][:3]
    inputs = npyx_rows_to_inputs(bundle, X.astype(np.float64))
    assert inputs.dtype == torch.float32
    np.testing.assert_array_equal(inputs.numpy(), npyx_rows_to_inputs(bundle, X).numpy())
    with pytest.raises(ValueError, match="X must be"):
        npyx_rows_to_inputs(bundle, X[:, :-1])
