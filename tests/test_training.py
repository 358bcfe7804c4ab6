"""Table features, training (small, in CI), evaluation and their errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from phy_c4.cli import main
from phy_c4.families import load_bundle
from phy_c4.features.table_features import acg_1d, isi_histogram, table_waveform
from phy_c4.model import save_bundle
from phy_c4.pipeline import classify
from phy_c4.status import Status, status_of
from phy_c4.training.evaluate import evaluate_table
from phy_c4.training.tables import FeatureTable, TableError, read_c4_derived, save_npz
from phy_c4.training.train import TrainConfig, train_bundle
from tests.conftest import data_path, poisson_train

TINY = TrainConfig(members=2, epochs=20, vae_epochs=5)


@pytest.fixture(scope="module")
def lisberger():
    return read_c4_derived(data_path("c4_derived", "lisberger"))


@pytest.fixture(scope="module")
def hausser():
    return read_c4_derived(data_path("c4_derived", "hausser"))


@pytest.fixture(scope="module")
def small_bundle(lisberger, tmp_path_factory):
    bundle, calibration = train_bundle(lisberger, TINY, name="tiny", version="0")
    path = save_bundle(bundle, tmp_path_factory.mktemp("tiny") / "tiny")
    return load_bundle(path), calibration


def _acg_by_hand(times, fs, half=100):
    bins = times // int(np.ceil(fs / 1000))
    diffs = bins[None, :] - bins[:, None]
    counts = np.array([np.sum(diffs == lag) for lag in range(-half, half + 1)], dtype=float)
    counts[half] = 0
    return counts


def test_acg_1d_has_the_tables_conventions(lisberger):
    table_rows = lisberger.acg[np.isfinite(lisberger.acg).all(1)]
    assert table_rows.shape[1] == 201
    assert np.all(table_rows[:, 100] == 0)  # lag 0 zero
    np.testing.assert_array_equal(table_rows[:, :100], table_rows[:, 101:][:, ::-1])  # symmetric
    assert np.all(table_rows == np.round(table_rows))  # raw counts
    times = poisson_train(30, 40, seed=2, fs=40000.0)
    ours = acg_1d(times, 40000.0)
    np.testing.assert_array_equal(ours, _acg_by_hand(times, 40000.0))
    assert ours[100] == 0 and np.array_equal(ours[:100], ours[101:][::-1])


def test_isi_histogram_has_the_tables_conventions(lisberger):
    rows = lisberger.isi[np.isfinite(lisberger.isi).all(1)]
    assert rows.shape[1] == 100 and np.all(rows >= 0) and np.all(rows == np.round(rows))
    times = poisson_train(20, 60, seed=3)
    ours = isi_histogram(times, 30000.0)
    # independent count in integer arithmetic: 1-ms bins over [0, 100) ms, longer not counted
    whole_ms = np.diff(times) // 30
    expected = np.bincount(whole_ms[whole_ms < 100], minlength=100)
    np.testing.assert_array_equal(ours, expected)


def test_table_waveform_alignment_and_scale():
    raw = pd.read_csv(data_path("c4_derived", "hausser", "waveforms.csv")).to_numpy()
    assert np.mean(np.abs(raw).argmax(axis=1) == 45) > 0.95  # the tables' peak position
    for row in raw[:50]:
        out = table_waveform(row, 30000.0, peak_index=45)
        expected = row[15:90] / -row[45] if row[45] > 0 else row[15:90] / abs(row[45])
        np.testing.assert_allclose(out, expected, atol=1e-12)
        assert out[30] == -1.0
    # The same spike recorded at 40 and 30 kHz, its trough at t = 0 on both grids: resampling
    # must agree up to linear-interpolation error. (When the trough falls between samples, each
    # rate picks its own grid peak, as the tables do; docs/features.md.)
    def spike(t):
        x = t / 1.5e-4
        return -(1 - x**2) * np.exp(-0.5 * x**2)

    at40 = table_waveform(spike(np.arange(-60, 90) / 40000.0), 40000.0)
    at30 = table_waveform(spike(np.arange(-45, 68) / 30000.0), 30000.0)
    assert at40[30] == at30[30] == -1.0
    assert np.abs(at40 - at30).max() < 0.03
    with pytest.raises(ValueError, match="NaN"):
        table_waveform(np.full(90, np.nan), 30000.0)


def test_training_beats_chance_on_the_other_lab(small_bundle, hausser):
    bundle, calibration = small_bundle
    assert bundle.architecture == "c4_tabular" and bundle.n_members == 2
    result = evaluate_table(bundle, hausser)
    assert result["n_units"] == 104  # Häusser labelled units minus 9 granule cells
    assert result["balanced_accuracy"] > 0.3, result["balanced_accuracy"]  # chance: 0.2
    assert 0 <= calibration["ece_after"] <= 1 and calibration["temperature"] > 0
    assert set(bundle.spec.modalities) == {"waveform", "acg", "isi"}


def test_training_is_deterministic_and_resumable(lisberger, tmp_path):
    few = TrainConfig(members=2, epochs=2, vae_epochs=1, seed=7)
    sub = lisberger.subset(np.arange(len(lisberger)) < 400)
    a, _ = train_bundle(sub, few, name="a", version="0", state_dir=tmp_path / "state")
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == [
        "member_0.safetensors", "member_1.safetensors", "vaes.safetensors"]
    b, _ = train_bundle(sub, few, name="a", version="0")  # fresh, same seed
    c, _ = train_bundle(sub, few, name="a", version="0", state_dir=tmp_path / "state")  # resumed
    for key in a.weights:
        torch.testing.assert_close(a.weights[key], b.weights[key], rtol=0, atol=0)
        torch.testing.assert_close(a.weights[key], c.weights[key], rtol=0, atol=0)


def test_clear_errors(lisberger, small_bundle, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "labels.csv").write_text("label\nPkC_ss\nGoC\n")
    (bad / "waveforms.csv").write_text("a,b\n1,x\n2,3\n")
    with pytest.raises(TableError, match="non-numeric"):
        read_c4_derived(bad)
    (bad / "waveforms.csv").write_text("a\n1\n")
    with pytest.raises(TableError, match="rows, expected 2"):
        read_c4_derived(bad)
    unknown = lisberger.subset(lisberger.labelled)
    unknown.labels = unknown.labels.copy()
    unknown.labels[0] = "Basket"
    with pytest.raises(ValueError, match="Basket"):
        evaluate_table(small_bundle[0], unknown)
    with pytest.raises(ValueError, match="Basket"):
        train_bundle(unknown, TINY, name="x", version="0")
    no_mfb = lisberger.subset(lisberger.labels != "MFB")
    with pytest.raises(ValueError, match=r"no labelled examples of \['MFB'\]"):
        train_bundle(no_mfb, TINY, name="x", version="0")


def test_cli_train_and_evaluate(lisberger, hausser, small_bundle, tmp_path, capsys):
    table = tmp_path / "t.npz"
    save_npz(lisberger.subset(np.arange(len(lisberger)) < 500), table)
    code = main(["train", "--table", str(table), "--out", str(tmp_path / "b"), "--members", "1",
                 "--epochs", "2", "--vae-epochs", "1", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["members"] == 1 and load_bundle(tmp_path / "b").n_members == 1
    code = main(["evaluate", "--bundle", str(small_bundle[0].path), "--table",
                 str(data_path("c4_derived", "hausser")), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert {"balanced_accuracy", "accuracy_at_ratio2", "coverage_at_ratio2",
            "per_class"} <= set(result)


def test_pipeline_runs_a_tabular_bundle(example_copy, small_bundle):
    result = classify(example_copy, bundle=small_bundle[0], threshold=1.0)
    ok = result.table["c4_status"].map(lambda s: status_of(s) == Status.OK)
    assert ok.sum() >= 3
    assert set(result.table.loc[ok, "c4_type"]) <= set(small_bundle[0].labels)
    unit = result.features[int(result.table.loc[ok, "cluster_id"].iloc[0])]
    assert unit.inputs["acg_1d"].shape == (201,) and unit.inputs["isi"].shape == (100,)
    assert unit.inputs["waveform"].shape == (75,)


def test_feature_table_masks_missing_modalities(hausser):
    x = hausser.inputs()
    assert x.shape == (len(hausser), 75 + 100 + 100 + 3)
    assert np.all(x[:, -2:] == 0) and np.all(x[:, 75:275] == 0)  # no ACG/ISI in Häusser
    assert isinstance(hausser, FeatureTable)


def test_train_from_a_phy_folder_with_a_label_column(example_copy, tmp_path, capsys):
    from phy_c4.io.tsv import read_cluster_column, write_cluster_column
    from phy_c4.training.phy_tables import table_from_phy

    truth = read_cluster_column(example_copy / "cluster_true_type.tsv")
    write_cluster_column(example_copy, "cell_type", {c: t for c, t in truth.items() if c < 3})
    table = table_from_phy(example_copy)
    assert table.labelled.sum() >= 2  # labelled units that pass C4's checks
    assert (~table.labelled).sum() >= 1  # other good units: unlabelled pretraining data
    assert table.waveform.shape[1] == 75 and np.isfinite(table.acg).all()
    code = main(["train", "--table", str(example_copy), "--variant", "base", "--out",
                 str(tmp_path / "from_phy"), "--members", "1", "--epochs", "1",
                 "--vae-epochs", "1"])
    # the example has one unit per type: classes without examples are refused, clearly
    assert code == 1
    assert "no labelled examples" in capsys.readouterr().err


def test_model_card_written_by_train(lisberger, tmp_path, capsys):
    table = tmp_path / "t.npz"
    save_npz(lisberger.subset(np.arange(len(lisberger)) < 500), table)
    assert main(["train", "--table", str(table), "--out", str(tmp_path / "b"), "--members", "1",
                 "--epochs", "1", "--vae-epochs", "1"]) == 0
    card = (tmp_path / "b" / "MODEL_CARD.md").read_text()
    assert "Labelled units per class" in card and "expected calibration error" in card
