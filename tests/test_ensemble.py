"""phy_c4/model/ensemble.py: averaging over members, the confidence-ratio threshold, the shipped
default's temperature scaling and the sign of member disagreement in the novelty score.

Each test names a behaviour users read in ``c4_type``, ``c4_confidence`` or ``c4_novelty``; each was
seen failing under the one-line mutation it guards against (issue #26)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from phy_c4.model.ensemble import (
    ensemble_features,
    member_forward,
    novelty,
    predict_inputs,
    summarise,
)
from phy_c4.status import UNCLASSIFIED
from phy_c4.weights import get_bundle

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
