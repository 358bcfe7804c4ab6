"""c4_novelty: how unlike cerebellar units a unit fires and looks (issues #14, #25); the
ensemble's own distance to its training units (``model.ensemble.novelty``) stays tested here."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from phy_c4.families import UnitData, family_of
from phy_c4.features.table_features import model_rows
from phy_c4.model import BundleError, predict_inputs, save_bundle
from phy_c4.model.ensemble import novelty
from phy_c4.novelty import MODEL, interval_features, novelty_scores, unit_features
from phy_c4.pipeline import PipelineOptions, classify
from phy_c4.testing import MODELS, _gamma_train, _mossy_train, type_waveform
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


def test_pipeline_writes_novelty_and_flags_units_above_the_threshold(example_copy, monkeypatch):
    import phy_c4.pipeline as pipeline

    options = PipelineOptions(quality=None, cache=False)
    result = classify(example_copy, options=options)
    classified = np.isfinite(result.confidence)
    assert np.isfinite(result.novelty[classified]).all() and np.isnan(
        result.novelty[~classified]).all()
    assert "c4_novelty" in result.table
    assert result.parameters["novelty"] == MODEL.to_dict()  # the score's contract, per run
    flag = (result.novelty > MODEL.threshold) & (result.pair == "")
    assert all(("unlike cerebellar units" in s) == bool(a)
               for s, a in zip(result.status[classified], flag[classified], strict=True))
    monkeypatch.setattr(pipeline, "NOVELTY_THRESHOLD", 0.0)
    flagged = classify(example_copy, options=options)
    unpaired = classified & (flagged.pair == "")  # a confirmed Purkinje cell is not flagged
    assert unpaired.any() and (flagged.pair[classified] != "").any()
    assert all("unlike cerebellar units" in s for s in flagged.status[unpaired])
    assert not any("unlike cerebellar units" in s for s in flagged.status[~unpaired])


def test_bundles_without_a_reference_give_nan_and_bad_references_are_refused(bundle, tmp_path):
    plain = dataclasses.replace(bundle, reference=None)
    rows = torch.from_numpy(_cortical_rows(bundle, n=3))
    assert np.isnan(_scores(plain, rows.numpy())).all()
    path = save_bundle(dataclasses.replace(bundle, reference={
        "features": torch.zeros(3, 4), "labels": torch.zeros(5, dtype=torch.int64)}),
        tmp_path / "bad")
    with pytest.raises(BundleError, match="reference"):
        get_bundle(path)


FS = 30000.0


def _samples(seconds: np.ndarray) -> np.ndarray:
    return np.unique(np.round(seconds * FS).astype(np.int64))


def _cortical_train(rng: np.random.Generator, duration: float = 600.0) -> np.ndarray:
    """A cortical pyramidal cell's caricature: 1-4 Hz, irregular, bursts of 2-4 spikes 4-8 ms
    apart (Mizuseki & Buzsáki 2013)."""
    starts = np.cumsum(rng.exponential(1.0 / rng.uniform(0.5, 2.0), 4000))
    starts = starts[starts < duration]
    sizes = rng.integers(1, 4, starts.size)
    spikes = [s + np.cumsum(np.r_[0.0, rng.uniform(0.004, 0.008, k - 1)])
              for s, k in zip(starts, sizes, strict=True)]
    return _samples(np.concatenate(spikes))


def test_interval_features_follow_their_definitions():
    periodic = np.arange(1, 2001, dtype=np.int64) * 300  # 100 Hz, every interval equal
    log_rate, cv2, lvr = interval_features(periodic, FS)
    assert log_rate == pytest.approx(2.0) and cv2 == pytest.approx(0.0, abs=1e-9)
    assert lvr == pytest.approx(0.0)  # (1 - 4ab/(a+b)^2) is 0 for equal intervals
    rng = np.random.default_rng(0)
    poisson = _samples(np.cumsum(rng.exponential(0.5, 40000)))
    _, cv2, lvr = interval_features(poisson, FS)
    assert cv2 == pytest.approx(1.0, abs=0.03)  # Holt et al. 1996: 1 for a Poisson process
    assert lvr == pytest.approx(1.0 + 0.01, abs=0.05)  # Shinomoto 2009: ~1 (+ its R term)
    assert all(np.isnan(interval_features(periodic[:3], FS)))


def test_cerebellar_firing_scores_low_and_cortical_firing_high():
    """Generated Purkinje simple-spike, Golgi and mossy-fibre units (phy_c4.testing) score under
    the threshold, slow irregular bursty cortical-like units above it (irregular interneurons
    and complex-spike units can score high: docs/trust.md gives the shares)."""
    rng = np.random.default_rng(1)
    cerebellar = []
    for cell_type in ("PkC_ss", "GoC", "MFB"):
        model = MODELS[cell_type]
        for _ in range(5):
            rate = rng.uniform(*model.rate_hz)
            train = (_mossy_train(rng, rate, 300.0) if cell_type == "MFB"
                     else _gamma_train(rng, rate, model.shape, refractory=model.refractory_s,
                                       duration=300.0))
            cerebellar.append(unit_features(_samples(train), FS, type_waveform(cell_type),
                                            waveform_fs=FS))
    cortical = [unit_features(_cortical_train(rng), FS, type_waveform("GoC"), waveform_fs=FS)
                for _ in range(10)]
    low, high = novelty_scores(np.array(cerebellar)), novelty_scores(np.array(cortical))
    assert np.all(low < MODEL.threshold)
    assert np.all(high > MODEL.threshold)


def test_a_unit_without_a_waveform_is_scored_from_its_firing():
    times = _samples(np.cumsum(np.random.default_rng(2).gamma(6, 1 / 360.0, 20000)))
    with_wave = unit_features(times, FS, type_waveform("PkC_ss"), waveform_fs=FS)
    without = unit_features(times, FS, None, waveform_fs=0.0)
    assert np.isnan(without[-1]) and np.isfinite(novelty_scores(without)).all()
    assert novelty_scores(without)[0] < MODEL.threshold > novelty_scores(with_wave)[0]


def test_slower_firing_of_the_same_regularity_scores_higher():
    """The rate carries the score (held-out AUROC 0.88 alone): the same gamma-6 regularity and
    spike shape at 2 Hz scores well above 60 Hz."""
    rng = np.random.default_rng(3)
    scores = [novelty_scores(unit_features(_samples(_gamma_train(rng, rate, 6.0, refractory=0.002,
                                                                 duration=600.0)),
                                           FS, type_waveform("PkC_ss"), waveform_fs=FS))[0]
              for rate in (2.0, 60.0)]
    assert scores[0] > scores[1] + 0.3
