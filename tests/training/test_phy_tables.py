"""Tests of ``phy_c4.training.phy_tables``: feature tables from curated Phy folders."""

from __future__ import annotations

import numpy as np

from phy_c4.cli import main


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
