"""Tests of ``phy_c4.model.ensemble``: all members in one pass, calibrated, averaged; ratio
threshold; novelty.
"""

from __future__ import annotations

import dataclasses
import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from phy_c4.config import BASE_LABELS
from phy_c4.families import UnitData, family_of
from phy_c4.features.table_features import model_rows
from phy_c4.model import (
    UNCLASSIFIED,
    BundleError,
    predict,
    predict_inputs,
    predict_raw,
    save_bundle,
)
from phy_c4.model.architecture import C4NetConfig
from phy_c4.model.ensemble import (
    _mean_knn,
    c4_inputs,
    ensemble_features,
    layer_one_hot,
    member_forward,
    novelty,
    npyx_rows_to_inputs,
    summarise,
)
from phy_c4.pipeline import build_result
from phy_c4.result import UnitFeatures
from phy_c4.status import Status, status_of
from phy_c4.training.tables import read_c4_derived
from phy_c4.weights import get_bundle
from tests.conftest import data_path


def test_an_unnamed_output_that_wins_gives_no_type_and_says_why():
    labels = (*BASE_LABELS, "no_label_5")
    raw = np.zeros((2, 6, 1))
    raw[0, :, 0] = [0.02, 0.02, 0.02, 0.02, 0.02, 0.9]  # output 5 wins, ratio 45
    raw[1, :, 0] = [0.9, 0.02, 0.02, 0.02, 0.02, 0.02]
    prediction = summarise(labels, raw, threshold=2.0)
    assert list(prediction.cell_type) == [UNCLASSIFIED, "GoC"]

    class FakeBundle:
        label = "c4-layer_information"

    FakeBundle.labels = labels
    features = {c: UnitFeatures() for c in (7, 8)}
    result = build_result([7, 8], features, [7, 8], prediction=prediction, bundle=FakeBundle())
    assert status_of(result.status[0]) == Status.UNNAMED_OUTPUT
    assert "no_label_5" in result.status[0] and result.cell_type[0] == UNCLASSIFIED
    assert status_of(result.status[1]) == Status.OK
    np.testing.assert_allclose(result.probabilities[0], raw[0, :, 0])  # kept for the user


LABELS = ("A", "B", "C")


def _raw(*members: list[list[float]]) -> np.ndarray:
    """(units, classes, members) from each member's (units, classes) probabilities."""
    return np.stack([np.asarray(m, dtype=np.float64) for m in members], axis=2)


@pytest.fixture(scope="module")
def default_bundle():
    return get_bundle("default")


def test_a_unit_exactly_on_the_threshold_is_classified_and_just_below_is_not():
    """C4: a type is given at a ratio *at or above* the threshold (0.5 / 0.25 is exactly 2)."""
    on = [[0.5, 0.25, 0.25]]
    below = [[0.5, np.nextafter(0.25, 1.0), 0.25 - (np.nextafter(0.25, 1.0) - 0.25)]]
    prediction = summarise(LABELS, _raw(on), threshold=2.0)
    assert prediction.ratio[0] == 2.0
    assert prediction.cell_type[0] == "A"
    under = summarise(LABELS, _raw(below), threshold=2.0)
    assert under.ratio[0] < 2.0
    assert under.cell_type[0] == UNCLASSIFIED and under.predicted[0] == "A"


def test_members_that_disagree_are_averaged_not_one_of_them_taken():
    """Two units, three members that differ: probabilities are the members' mean, the type is
    the mean's best class (not any member's), confidence and ratio come from the mean and the
    votes count the members whose own best class is that type."""
    first = [[0.90, 0.10, 0.00], [0.20, 0.30, 0.50]]
    second = [[0.20, 0.70, 0.10], [0.10, 0.60, 0.30]]
    third = [[0.55, 0.40, 0.05], [0.30, 0.20, 0.50]]
    raw = _raw(first, second, third)
    prediction = summarise(LABELS, raw, threshold=1.0)
    expected = (np.asarray(first) + np.asarray(second) + np.asarray(third)) / 3.0
    np.testing.assert_allclose(prediction.probabilities, expected, rtol=0, atol=1e-15)
    assert list(prediction.predicted) == ["A", "C"]  # 0.55 vs 0.4; 0.4333 vs 0.3667
    np.testing.assert_allclose(prediction.confidence, [0.55, 1.3 / 3.0], rtol=1e-15)
    np.testing.assert_allclose(prediction.ratio, [0.55 / 0.4, 1.3 / 1.1], rtol=1e-14)
    assert list(prediction.votes) == [2, 2] and prediction.n_members == 3


def test_the_shipped_default_averages_its_members_probabilities(default_bundle):
    """The default bundle's members are not identical; what it reports is their mean."""
    rows = torch.randn(6, default_bundle.network_config.n_inputs, generator=torch.Generator()
                       .manual_seed(0))
    prediction = predict_inputs(default_bundle, rows)
    assert prediction.raw.shape[2] == default_bundle.n_members > 1
    spread = np.ptp(prediction.raw, axis=2).max()
    assert spread > 1e-3, "members must differ for this test to mean anything"
    np.testing.assert_allclose(prediction.probabilities, prediction.raw.mean(axis=2),
                               rtol=0, atol=1e-15)


def test_the_shipped_default_is_temperature_scaled(default_bundle):
    """The default's probabilities are softmax(logits / T) with the manifest's T (not 1): the
    calibration its model card reports."""
    temperature = float(default_bundle.manifest["temperature"])
    assert default_bundle.calibration is None and abs(temperature - 1.0) > 0.05
    rows = torch.randn(8, default_bundle.network_config.n_inputs, generator=torch.Generator()
                       .manual_seed(1))
    logits, _ = member_forward(default_bundle, rows)
    scaled = torch.softmax(logits.double() / temperature, dim=-1).permute(1, 2, 0).numpy()
    plain = torch.softmax(logits.double(), dim=-1).permute(1, 2, 0).numpy()
    calibrated = predict_inputs(default_bundle, rows)
    np.testing.assert_allclose(calibrated.raw, scaled, rtol=0, atol=1e-12)
    assert np.abs(calibrated.raw - plain).max() > 1e-3
    uncalibrated = predict_inputs(default_bundle, rows, calibrated=False)
    np.testing.assert_allclose(uncalibrated.raw, plain, rtol=0, atol=1e-12)


def _novelty_of(raw: np.ndarray) -> np.ndarray:
    """Novelty of units at feature distance 1 from a reference whose own spacing is 1."""
    reference = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]],
                             dtype=torch.float64)
    bundle = SimpleNamespace(reference={"features": reference})
    prediction = summarise(LABELS, raw, threshold=1.0)
    prediction.features = np.tile([[1.5, np.sqrt(0.75)]], (raw.shape[0], 1))  # 1 from 2 points
    return novelty(bundle, prediction, k=2)


def test_members_that_disagree_make_a_unit_more_novel_not_less():
    """novelty = kNN distance / the reference's own * (1 + disagreement), disagreement being the
    mean total-variation distance of the members from their mean."""
    agree = _raw([[0.6, 0.3, 0.1]], [[0.6, 0.3, 0.1]])
    disagree = _raw([[0.9, 0.1, 0.0]], [[0.3, 0.5, 0.2]])  # TV from the mean: 0.3 each
    base = _novelty_of(agree)
    # the reference's own leave-one-out 2-NN mean distances: 1.5, 1, 1, 1.5 -> median 1.25
    np.testing.assert_allclose(base, [1.0 / 1.25], rtol=1e-12)
    np.testing.assert_allclose(_novelty_of(disagree), base * 1.3, rtol=1e-12)


def test_the_model_feature_space_is_the_members_mean_last_layer_input(default_bundle):
    """What novelty and the nearest training units are measured in, calibration aside."""
    rows = torch.randn(4, default_bundle.network_config.n_inputs, generator=torch.Generator()
                       .manual_seed(2))
    _, features = member_forward(default_bundle, rows)
    expected = features.double().mean(dim=0).numpy()
    np.testing.assert_allclose(ensemble_features(default_bundle, rows), expected, rtol=0,
                               atol=0)
    np.testing.assert_array_equal(predict_inputs(default_bundle, rows).features, expected)


def test_no_units_give_an_empty_prediction_typed_like_a_full_one():
    """A run with no classifiable unit still gets a Prediction whose fields concatenate and
    write like those of any other (object labels, float confidences, int votes)."""
    members = [[0.6, 0.3, 0.1]], [[0.5, 0.4, 0.1]], [[0.7, 0.2, 0.1]], [[0.6, 0.2, 0.2]]
    full = summarise(LABELS, _raw(*members), threshold=2.5)
    raw = np.zeros((0, 3, 4))
    empty = summarise(LABELS, raw, threshold=2.5)
    assert empty.labels == LABELS and (empty.n_members, empty.threshold) == (4, 2.5)
    assert empty.probabilities.shape == (0, 3) and empty.raw is raw
    for name in ("predicted", "cell_type", "confidence", "ratio", "votes"):
        value, typed = getattr(empty, name), getattr(full, name)
        assert isinstance(value, np.ndarray) and value.shape == (0,), name
        assert value.dtype == typed.dtype, (name, value.dtype, typed.dtype)
    assert empty.votes_text == []


def test_a_tie_for_the_top_goes_to_the_first_label_in_the_bundles_order():
    """Ties are rare but must not depend on numpy's sorting (its default, unstable sort picks
    the second of these on machines with AVX-512)."""
    labels = ("A", "B", "C", "D", "E")
    tied = [[0.1, 0.1, 0.3, 0.3, 0.2]] * 3
    prediction = summarise(labels, _raw(tied, tied), threshold=1.0)
    assert list(prediction.predicted) == ["C", "C", "C"]
    np.testing.assert_allclose(prediction.ratio, [1.0, 1.0, 1.0])


def test_the_feature_space_needs_no_calibration_and_predict_inputs_keeps_its_defaults(
        default_bundle):
    """``ensemble_features`` works for a bundle without calibration (the features are the same
    either way); ``predict_inputs`` defaults to ratio 2 and refuses an unknown device."""
    import copy

    from phy_c4.model.ensemble import is_calibrated

    rows = torch.randn(3, default_bundle.network_config.n_inputs, generator=torch.Generator()
                       .manual_seed(4))
    plain = copy.copy(default_bundle)
    plain.manifest = {k: v for k, v in default_bundle.manifest.items() if k != "temperature"}
    assert is_calibrated(default_bundle) and not is_calibrated(plain)
    np.testing.assert_array_equal(ensemble_features(plain, rows),
                                  ensemble_features(default_bundle, rows))
    assert predict_inputs(default_bundle, rows).threshold == 2.0
    with pytest.raises(ValueError, match="unknown device"):
        predict_inputs(default_bundle, rows, device="no-such-device")


def test_ratios_when_there_is_no_second_class_or_its_probability_is_zero():
    """One class, or a second class at 0: the ratio is infinite (always confident); two
    classes: top / second. The prediction keeps its labels and threshold."""
    one = summarise(("A",), _raw([[1.0], [1.0]]), threshold=3.0)
    assert list(one.cell_type) == ["A", "A"] and np.isinf(one.ratio).all()
    two = summarise(("A", "B"), _raw([[0.75, 0.25], [1.0, 0.0]]), threshold=3.0)
    np.testing.assert_allclose(two.ratio, [3.0, np.inf])
    assert list(two.cell_type) == ["A", "A"]
    assert two.labels == ("A", "B") and two.threshold == 3.0
    assert two.predicted.dtype == object  # labels of any length, as the empty prediction's


def test_units_in_many_chunks_give_what_one_chunk_gives(default_bundle, monkeypatch):
    """Large recordings go through the members in chunks (a memory budget); the chunks are
    joined along the units, in order."""
    import phy_c4.model.ensemble as ensemble

    rows = torch.randn(5, default_bundle.network_config.n_inputs, generator=torch.Generator()
                       .manual_seed(5))
    whole = member_forward(default_bundle, rows)
    monkeypatch.setattr(ensemble, "_ACTIVATION_BUDGET", 1)  # one unit a chunk
    chunked = member_forward(default_bundle, rows)
    for one, many in zip(whole, chunked, strict=True):
        assert one.shape == many.shape
        torch.testing.assert_close(one, many)


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


@pytest.fixture(scope="module")
def bundle():
    return get_bundle("default")


def _scores(bundle, rows):
    rows = torch.from_numpy(rows)
    return novelty(bundle, predict_inputs(bundle, rows))


def _cortical_rows(bundle, n=40):
    folder = data_path("cellexplorer_groundtruth")
    meta = json.loads((folder / "ce_groundtruth_meta.json").read_text())[:n]
    units = []
    with np.load(folder / "ce_groundtruth_subset.npz") as data:  # first 20 k spikes each
        for record in meta:
            key = f"cell{record['cell']:03d}"
            times = np.cumsum(data[f"{key}/spike_samples_diff"])  # samples at 30 kHz
            units.append(UnitData(cluster_id=record["cell"], spike_times=times, fs=30000.0,
                                  waveform=data[f"{key}/wf_peak"],
                                  waveform_fs=float(record["wf_fs_hz"])))
    return family_of(bundle).unit_inputs(bundle, units, None).rows.numpy()


def test_cortical_units_score_higher_than_cerebellar_rows(bundle):
    """AUROC of real cortical units against the Lisberger rows (benchmarks/novelty_auroc.py
    measures 0.88 against spike trains built from them)."""
    lisberger = read_c4_derived(data_path("c4_derived", "lisberger"))
    lisberger = lisberger.subset(lisberger.present.all(axis=1))
    cerebellar = _scores(bundle, model_rows(lisberger.waveform, lisberger.acg, lisberger.isi,
                                            spec=bundle.spec))
    cortical = _scores(bundle, _cortical_rows(bundle))
    assert np.median(cerebellar) < 1.5  # like the training units themselves (about 1)
    auroc = np.mean(cortical[:, None] > cerebellar[None, :])
    assert auroc >= 0.8, auroc


def test_bundles_without_a_reference_give_nan_and_bad_references_are_refused(bundle, tmp_path):
    plain = dataclasses.replace(bundle, reference=None)
    rows = torch.from_numpy(_cortical_rows(bundle, n=3))
    assert np.isnan(_scores(plain, rows.numpy())).all()
    path = save_bundle(dataclasses.replace(bundle, reference={
        "features": torch.zeros(3, 4), "labels": torch.zeros(5, dtype=torch.int64)}),
        tmp_path / "bad")
    with pytest.raises(BundleError, match="reference"):
        get_bundle(path)


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
