"""The contract between a model and its features: strict manifests, one dispatch through model
families, and parity from spike trains to the tables the default model was trained on.

Parity uses ``tests/data/tools/surrogate_phy.py``: each Lisberger table row becomes a renewal spike
train in a Phy folder (ISIs drawn from the row's ISI histogram, rate from its ACG, the row's
waveform window as template). "Faithful" units are those whose trains reproduce their row by the
tool's own independent numpy features; for them, what the pipeline computes from the spikes must
match the row, and so must the prediction.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json

import numpy as np
import pandas as pd
import pytest
import torch

from phy_c4.cli import main
from phy_c4.config import SpecError, TableFeatureSpec, spec_from_dict
from phy_c4.families import FAMILIES, attach, load_bundle, register_family
from phy_c4.families.c4_tables import TableFamily
from phy_c4.features.table_features import model_rows
from phy_c4.model import BundleError, predict_inputs, save_bundle
from phy_c4.pipeline import PipelineOptions, classify
from phy_c4.status import Status, status_of
from phy_c4.training.tables import read_c4_derived, save_c4_derived
from phy_c4.weights import get_bundle, import_c4_archive
from tests.conftest import data_path


def _surrogate_tool():
    spec = importlib.util.spec_from_file_location(
        "surrogate_phy", data_path("tools", "surrogate_phy.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def surrogate(tmp_path_factory):
    """Lisberger rows with all three features -> a Phy folder of spike trains, classified."""
    tool = _surrogate_tool()
    lisberger = read_c4_derived(data_path("c4_derived", "lisberger"))
    lisberger = lisberger.subset(lisberger.present.all(axis=1))
    table = save_c4_derived(lisberger, tmp_path_factory.mktemp("table"))  # 75-sample windows
    folder = tmp_path_factory.mktemp("surrogate") / "phy"
    times, acg_rows, isi_rows, labels = tool.build(table, folder, 300.0, 20000)
    waves, _, _, _ = tool.read_table(table)
    fidelity = np.array([[np.corrcoef(a[101:121], row_a[101:121])[0, 1],
                          np.corrcoef(i, row_i)[0, 1]]
                         for (a, i), row_a, row_i in zip(map(tool.table_features, times),
                                                         acg_rows, isi_rows, strict=True)])
    faithful = (fidelity[:, 0] >= 0.9) & (fidelity[:, 1] >= 0.99)
    bundle = get_bundle("default")
    result = classify(folder, bundle=bundle, threshold=1.0,
                      options=PipelineOptions(quality=None, cache=False))
    return dict(folder=folder, waves=waves, acg=acg_rows, isi=isi_rows, labels=labels,
                faithful=faithful, result=result, bundle=bundle)


def _inputs(surrogate, name):
    return np.stack([surrogate["result"].features[u].inputs[name]
                     for u in range(len(surrogate["labels"]))])


def test_enough_faithful_units(surrogate):
    assert surrogate["faithful"].sum() >= 300, surrogate["faithful"].sum()
    assert all(status_of(s) == Status.OK for s in surrogate["result"].table["c4_status"])


def test_isi_from_spikes_matches_the_rows(surrogate):
    """1-ms bins over 0-100 ms: with 2-ms bins over 0-200 ms every correlation drops (< 0.9)."""
    ours = _inputs(surrogate, "isi")
    faithful = surrogate["faithful"]
    corr = np.array([np.corrcoef(o, row)[0, 1] for o, row in zip(ours, surrogate["isi"],
                                                                 strict=True)])
    assert corr[faithful].min() >= 0.99, np.sort(corr[faithful])[:5]


def test_acg_short_lags_from_spikes_match_the_rows(surrogate):
    ours = _inputs(surrogate, "acg_1d")
    assert ours.shape[1] == 201 and np.all(ours[:, 100] == 0)
    faithful = surrogate["faithful"]
    corr = np.array([np.corrcoef(o[101:121], row[101:121])[0, 1]
                     for o, row in zip(ours, surrogate["acg"], strict=True)])
    assert np.median(corr[faithful]) >= 0.98 and np.quantile(corr[faithful], 0.1) >= 0.9


def test_predictions_from_spike_trains_agree_with_predictions_from_rows(surrogate):
    """Measured: 97 % agreement and balanced accuracy 0.95 with the tables' ISI convention;
    84 % and 0.80 with 2-ms ISI bins."""
    bundle, faithful = surrogate["bundle"], surrogate["faithful"]
    rows = model_rows(surrogate["waves"], surrogate["acg"], surrogate["isi"], spec=bundle.spec)
    from_rows = predict_inputs(bundle, torch.from_numpy(rows), threshold=1.0).predicted
    table = surrogate["result"].table.set_index("cluster_id")
    from_spikes = table.loc[np.arange(len(from_rows)), "c4_type"].to_numpy()
    agreement = np.mean(from_spikes[faithful] == from_rows[faithful])
    assert agreement >= 0.93, agreement
    labels = surrogate["labels"]
    scored = faithful & np.isin(labels, bundle.labels)
    present = [c for c in bundle.labels if (scored & (labels == c)).sum() >= 5]
    assert len(present) >= 4  # complex spikes (low rates) are rarely faithful
    recalls = [np.mean(from_spikes[scored & (labels == c)] == c) for c in present]
    assert np.mean(recalls) >= 0.9, dict(zip(present, recalls, strict=True))


def test_run_manifest_records_the_feature_spec(surrogate):
    parameters = surrogate["result"].parameters
    assert parameters["feature_spec"] == surrogate["bundle"].spec.to_dict()
    assert parameters["feature_spec"]["isi"] == {"bin_ms": 1.0, "n_bins": 100,
                                                 "normalisation": "sqrt_probability_over_max"}


# --- strict manifests ---------------------------------------------------------------------------


@pytest.fixture
def default_copy(tmp_path):
    bundle = get_bundle("default")
    return save_bundle(bundle, tmp_path / "b"), bundle


def _edit_manifest(path, edit):
    manifest = json.loads((path / "manifest.json").read_text())
    edit(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("edit, key", [
    (lambda m: m["features"]["isi"].pop("bin_ms"), "features.isi.bin_ms: missing"),
    (lambda m: m["features"]["isi"].update(range_ms=200), "features.isi.range_ms: unknown"),
    (lambda m: m["features"]["isi"].update(n_bins="100"), "features.isi.n_bins: expected int"),
    (lambda m: m["features"]["acg"].update(lag_rule="floor"), "features.acg.lag_rule"),
    (lambda m: m["features"].update(modalities=["isi", "spikes"]), "features.modalities"),
    (lambda m: m["features"]["isi"].update(n_bins=200), "widths"),
    (lambda m: m["network"].pop("hidden"), "network.hidden: missing"),
    (lambda m: m.update(features={"table": {"isi": "0-200 ms"}}), "features.table: unknown"),
    (lambda m: m.update(modalities=["waveform"]), "unknown manifest key 'modalities'"),
    (lambda m: m.update(architecture="c4_new"), "unknown architecture 'c4_new'"),
])
def test_manifest_problems_are_bundle_errors_naming_the_key(default_copy, edit, key):
    path, _ = default_copy
    _edit_manifest(path, edit)
    with pytest.raises(BundleError, match=key.replace("(", r"\(").replace("[", r"\[")):
        load_bundle(path)


def test_strict_reader_refuses_bools_and_nan_for_numbers():
    with pytest.raises(SpecError, match="n_bins"):
        spec_from_dict(TableFeatureSpec, {**TableFeatureSpec().to_dict(),
                                          "isi": {"bin_ms": 1.0, "n_bins": True,
                                                  "normalisation": "sqrt_probability_over_max"}})
    with pytest.raises(SpecError, match="bin_ms"):
        spec_from_dict(TableFeatureSpec, {**TableFeatureSpec().to_dict(),
                                          "isi": {"bin_ms": float("nan"), "n_bins": 100,
                                                  "normalisation": "sqrt_probability_over_max"}})
    assert TableFeatureSpec.from_dict(TableFeatureSpec().to_dict()) == TableFeatureSpec()


def test_the_shipped_default_declares_the_tables_conventions():
    spec = get_bundle("default").spec
    assert spec.isi.bin_ms == 1.0 and spec.isi.n_bins == 100 and spec.isi.range_s == (0, 0.1)
    assert spec.acg.half_width_ms == 100 and spec.acg.bin_ms == 1.0
    assert spec.waveform.n_samples == 75 and spec.waveform.peak_index == 30


def test_pipeline_feeds_the_model_what_its_spec_says(example_copy):
    """The spec read from the manifest is what the pipeline computes with: a bundle whose spec
    says 2-ms ISI bins (and a network for it) gets 2-ms bins."""
    bundle = get_bundle("default")
    other = copy.copy(bundle)
    other.spec = dataclasses.replace(bundle.spec, isi=dataclasses.replace(bundle.spec.isi,
                                                                          bin_ms=2.0))
    normal = classify(example_copy, [0], bundle=bundle, options=PipelineOptions(quality=None))
    wide = classify(example_copy, [0], bundle=other, options=PipelineOptions(quality=None))
    narrow_isi, wide_isi = (r.features[0].inputs["isi"] for r in (normal, wide))
    np.testing.assert_array_equal(wide_isi[:50], narrow_isi[0::2] + narrow_isi[1::2])
    assert wide.parameters["feature_spec"]["isi"]["bin_ms"] == 2.0


def test_a_new_family_plugs_in_without_touching_the_pipeline(example_copy, tmp_path):
    class HalvedWaveforms(TableFamily):
        architecture = "test_halved"

        def unit_features(self, units, spec, n_jobs):
            features, failed = super().unit_features(units, spec, n_jobs)
            for named in features.values():
                named["waveform"] = named["waveform"] / 2
            return features, failed

    register_family(HalvedWaveforms())
    try:
        bundle = copy.copy(get_bundle("default"))
        bundle.manifest = {**bundle.manifest, "architecture": "test_halved"}
        attach(bundle)
        result = classify(example_copy, [0], bundle=bundle, options=PipelineOptions(quality=None))
        assert result.features[0].inputs["waveform"].min() == -0.5
        assert result.parameters["architecture"] == "test_halved"
    finally:
        FAMILIES.pop("test_halved")


# --- official archives: variant and output count, both ways -----------------------------------


@pytest.mark.parametrize("archive, variant, message", [
    # a 6-output layer_information and a 5-output mli_clustering archive import as npyx 4.3.1
    # reads them (issue #23): tests/test_c4_variants.py
    ("base", "layer_information", "does not use layer"),
    ("layer", "mli_clustering", "uses layer input"),
])
def test_archives_are_labelled_strictly_by_variant(tmp_path, archive, variant, message):
    path = data_path("reference", "c4_format", archive, "trained_models.tar.gz")
    with pytest.raises(BundleError, match=message):
        import_c4_archive(path, variant, dest=tmp_path / "b")


def test_archive_labels_come_from_the_variant(c4_bundle, tmp_path):
    assert c4_bundle.labels == ("GoC", "MLI", "MFB", "PkC_ss", "PkC_cs")
    layer = import_c4_archive(data_path("reference", "c4_format", "layer",
                                          "trained_models.tar.gz"),
                              "layer_information_mli_clustering", dest=tmp_path / "l")
    assert layer.labels == ("GoC", "MLI_A", "MLI_B", "MFB", "PkC_ss", "PkC_cs")
    assert layer.use_layer and layer.spec.acg.scale == 10.0


# --- tables of other sources --------------------------------------------------------------------


def test_train_and_evaluate_take_the_waveform_rate(tmp_path, capsys):
    """120-sample rows at 48 kHz: the length does not tell the rate, --fs does."""
    lisberger = read_c4_derived(data_path("c4_derived", "lisberger"))
    keep = np.flatnonzero(lisberger.present.all(axis=1))[:150]
    source = tmp_path / "other_lab"
    source.mkdir()
    t = (np.arange(120) - 48) / 48.0  # ms, peak at sample 48
    rows = np.stack([np.interp(t, (np.arange(75) - 30) / 30.0, w) for w in
                     lisberger.waveform[keep]])
    pd.DataFrame(rows).to_csv(source / "waveforms.csv", index=False)
    pd.DataFrame(lisberger.acg[keep]).to_csv(source / "acg.csv", index=False)
    pd.DataFrame(lisberger.isi[keep]).to_csv(source / "isi_dist.csv", index=False)
    pd.DataFrame({"label": lisberger.labels[keep]}).to_csv(source / "labels.csv", index=False)
    assert main(["evaluate", "--table", str(source), "--json"]) == 1
    assert "pass --fs" in capsys.readouterr().err
    assert main(["evaluate", "--table", str(source), "--fs", "48000", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_units"] == np.isin(lisberger.labels[keep], list(get_bundle().labels)).sum()
    assert main(["evaluate", "--table", str(source), "--fs", "48000", "--peak-index", "500"]) == 1
    assert "outside" in capsys.readouterr().err
    out = tmp_path / "bundle"
    assert main(["train", "--table", str(source), "--fs", "48000", "--peak-index", "48",
                 "--out", str(out), "--members", "1", "--epochs", "1", "--vae-epochs", "1",
                 "--json"]) == 0
    assert load_bundle(out).spec == TableFeatureSpec()
