"""Table features, training (small, in CI), evaluation and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phy_c4.cli import main
from phy_c4.training.evaluate import evaluate_table
from phy_c4.training.tables import TableError, read_c4_derived, save_npz
from phy_c4.training.train import TrainConfig, train_bundle
from tests.conftest import TINY


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


def test_model_card_written_by_train(lisberger, tmp_path, capsys):
    table = tmp_path / "t.npz"
    save_npz(lisberger.subset(np.arange(len(lisberger)) < 500), table)
    assert main(["train", "--table", str(table), "--out", str(tmp_path / "b"), "--members", "1",
                 "--epochs", "1", "--vae-epochs", "1"]) == 0
    card = (tmp_path / "b" / "MODEL_CARD.md").read_text()
    assert "Labelled units per class" in card and "expected calibration error" in card
