"""c4_novelty: how unlike the training data a unit is (issue #14)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from phy_c4.families import UnitData, family_of
from phy_c4.features.tabular import model_rows
from phy_c4.model import BundleError, predict_inputs, save_bundle
from phy_c4.model.ensemble import novelty
from phy_c4.pipeline import PipelineOptions, classify
from phy_c4.training.tables import read_c4_derived
from phy_c4.weights import get_bundle
from tests.conftest import data_path


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
            units.append(UnitData(record["cell"], times, 30000.0,
                                  data[f"{key}/wf_peak"], float(record["wf_fs_hz"])))
    return family_of(bundle).unit_inputs(bundle, units, None).rows.numpy()


def test_cortical_units_score_higher_than_cerebellar_rows(bundle):
    """AUROC of real cortical units against the Lisberger rows (benchmarks/novelty_auroc.py
    measures 0.88 against spike trains built from them)."""
    lisberger = read_c4_derived(data_path("c4_derived", "lisberger"))
    lisberger = lisberger.subset(lisberger.present.all(axis=1))
    cerebellar = _scores(bundle, model_rows(lisberger.waveform, lisberger.acg, lisberger.isi,
                                            bundle.spec))
    cortical = _scores(bundle, _cortical_rows(bundle))
    assert np.median(cerebellar) < 1.5  # like the training units themselves (about 1)
    auroc = np.mean(cortical[:, None] > cerebellar[None, :])
    assert auroc >= 0.8, auroc


def test_pipeline_writes_novelty_and_flags_units_above_the_threshold(example_copy, monkeypatch):
    import phy_c4.pipeline as pipeline

    options = PipelineOptions(quality=None, cache=False)
    result = classify(example_copy, options=options)
    classified = np.isfinite(result.confidence)
    assert np.isfinite(result.novelty[classified]).all() and np.isnan(
        result.novelty[~classified]).all()
    assert "c4_novelty" in result.table
    monkeypatch.setattr(pipeline, "NOVELTY_THRESHOLD", 0.0)
    flagged = classify(example_copy, options=options)
    assert all("unlike the training data" in s for s in flagged.status[classified])


def test_bundles_without_a_reference_give_nan_and_bad_references_are_refused(bundle, tmp_path):
    plain = dataclasses.replace(bundle, reference=None)
    rows = torch.from_numpy(_cortical_rows(bundle, n=3))
    assert np.isnan(_scores(plain, rows.numpy())).all()
    path = save_bundle(dataclasses.replace(bundle, reference={
        "features": torch.zeros(3, 4), "labels": torch.zeros(5, dtype=torch.int64)}),
        tmp_path / "bad")
    with pytest.raises(BundleError, match="reference"):
        get_bundle(path)
