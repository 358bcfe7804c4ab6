"""The four official C4 variants import and predict as npyx 4.3.1 does: outputs and layer use
from the weight shapes, names from npyx's label tables (tests/data/npyx_e2e: member 0 of the
c4_format base and layer archives and their expected outputs)."""

from __future__ import annotations

import numpy as np
import pytest

from phy_c4.config import BASE_LABELS, MLI_SPLIT_LABELS
from phy_c4.model import predict_raw
from phy_c4.model.bundle import BundleError
from phy_c4.model.ensemble import summarise
from phy_c4.pipeline import build_result
from phy_c4.result import UnitFeatures
from phy_c4.status import UNCLASSIFIED, Status, status_of
from phy_c4.weights import VARIANTS, import_c4_archive, npyx_labels
from tests.conftest import inputs_changed_on_purpose
from tests.npyx_e2e import DATA

# (archive, variant, labels npyx gives its outputs)
CASES = {
    "base": ("", "base", BASE_LABELS),
    # npyx builds 6 outputs with layer and names them from the 5-class table: output 5 has none
    "layer_information": ("layer", "layer_information", (*BASE_LABELS, "no_label_5")),
    "layer_information_mli_clustering": ("layer", "layer_information_mli_clustering",
                                         MLI_SPLIT_LABELS),
    # npyx builds 5 outputs without layer and names them from the MLI-split table
    "mli_clustering": ("", "mli_clustering", MLI_SPLIT_LABELS[:5]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_official_variant_imports_and_predicts_as_npyx(case, tmp_path):
    folder, variant, labels = CASES[case]
    source = DATA / folder if folder else DATA
    bundle = import_c4_archive(source / "trained_models.tar.gz", variant, dest=tmp_path / "b")
    assert bundle.labels == labels
    assert bundle.use_layer == (folder == "layer")
    with np.load(DATA / f"expected_{folder or 'base'}_member0.npz") as expected:
        np.testing.assert_allclose(predict_raw(bundle, expected["X"]), expected["probs"],
                                   rtol=0, atol=1e-5)
        np.testing.assert_allclose(predict_raw(bundle, expected["X"], calibrated=True),
                                   expected["probs_calibrated"], rtol=0, atol=1e-4)
    assert "npyx 4.3.1" in bundle.manifest["provenance"]["labels_from"]


def test_output_counts_npyx_cannot_load_or_name():
    labels, note = npyx_labels(6, VARIANTS["mli_clustering"], DATA)
    assert labels == MLI_SPLIT_LABELS and "cannot load" in note
    with pytest.raises(BundleError, match="wrong variant"):
        npyx_labels(6, VARIANTS["base"], DATA)
    with pytest.raises(BundleError, match="wrong variant"):
        npyx_labels(5, VARIANTS["layer_information_mli_clustering"], DATA)


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


def test_cli_refuses_a_layer_file_the_bundle_would_ignore_and_says_when_layers_are_missing(
        example_copy, tmp_path, capsys):
    from phy_c4.cli import main

    base = import_c4_archive(DATA / "trained_models.tar.gz", "base", dest=tmp_path / "base")
    layers = tmp_path / "layers.tsv"
    layers.write_text("cluster_id\tlayer\n0\tML\n")
    before = sorted(p.name for p in example_copy.iterdir())
    assert main(["classify", str(example_copy), "--bundle", str(base.path), "--layer",
                 str(layers), "--quiet"]) == 1
    assert "takes no layer input" in capsys.readouterr().err
    assert sorted(p.name for p in example_copy.iterdir()) == before  # nothing written
    layer = import_c4_archive(DATA / "layer" / "trained_models.tar.gz", "layer_information",
                              dest=tmp_path / "layer")
    (example_copy / "cluster_layer.tsv").unlink()
    inputs_changed_on_purpose(example_copy)
    assert main(["classify", str(example_copy), "--bundle", str(layer.path), "--clusters", "0",
                 "--threshold", "1", "--quiet", "--all-spikes"]) == 0
    assert "every unit's layer is 'unknown'" in capsys.readouterr().err
