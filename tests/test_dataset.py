"""phy_c4/io/dataset.py: params.py is read as Python would run it, without running it."""

from __future__ import annotations

import pytest

from phy_c4.io.dataset import DatasetError, params_sample_rate, read_params


def test_the_last_assignment_of_a_name_wins_as_when_python_runs_the_file(tmp_path):
    """Kilosort's exporter and hand edits append lines: phylib executes params.py, so the last
    ``sample_rate`` is the one every other tool uses."""
    (tmp_path / "params.py").write_text(
        "dat_path = 'old.bin'\nsample_rate = 20000.\nn_channels_dat = 4\n"
        "sample_rate = 30000.0\ndat_path = 'raw.bin'\n")
    params = read_params(tmp_path)
    assert params["sample_rate"] == 30000.0
    assert params["dat_path"] == "raw.bin"
    assert params_sample_rate(params, tmp_path) == 30000.0


def test_a_later_expression_replaces_an_earlier_value(tmp_path):
    """A value computed by an expression cannot be read without running the file: it is
    unknown, and the earlier literal must not stand in for it."""
    (tmp_path / "params.py").write_text("sample_rate = 30000.\nsample_rate = 3e4 * scale\n")
    params = read_params(tmp_path)
    assert params.get("sample_rate") is None  # not the earlier 30000.
    with pytest.raises(DatasetError, match="no sample_rate"):
        params_sample_rate(params, tmp_path)
