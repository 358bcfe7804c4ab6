"""Tests of ``phy_c4.training.commands``: `phy-c4 train`, `evaluate`, `review`, `adapt`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from phy_c4.cli import main
from phy_c4.config import TableFeatureSpec
from phy_c4.families import load_bundle
from phy_c4.training.tables import read_c4_derived, save_npz
from phy_c4.weights import get_bundle
from tests.conftest import data_path


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
