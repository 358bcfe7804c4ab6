"""A sorter's folder is data: never executed, never written, never trusted when it is stale
(docs/reliability.md, issue 22). The CLI cases run ``phy-c4`` as a real subprocess."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from phy_c4.io.dataset import open_recording
from phy_c4.io.errors import DatasetError
from phy_c4.io.params import parse_params
from tests.conftest import ROOT, inputs_changed_on_purpose

FAST = ["--all-spikes", "--quiet"]


def phy_c4(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``phy-c4 ARGS`` in a fresh process (this checkout first on the path)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "phy_c4.cli", *args], capture_output=True,
                          text=True, timeout=300, env=environment)


def tree(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` (hidden ones too), files by content."""
    out = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink() or path.is_dir():
            out[key] = "link" if path.is_symlink() else "dir"
        else:
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _append(folder: Path, text: str) -> None:
    with open(folder / "params.py", "a") as out:
        out.write(text + "\n")
    inputs_changed_on_purpose(folder)


# --- 1. params.py is data, never code --------------------------------------------------------


def test_code_in_params_py_never_runs(example_copy, tmp_path):
    marker = tmp_path / "outside" / "MARKER"
    marker.parent.mkdir()
    _append(example_copy, f"__import__('os').system('touch {marker}')")
    run = phy_c4("classify", str(example_copy), *FAST, "--out", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    assert not marker.exists()
    assert "ignored" in run.stderr and "never runs params.py" in run.stderr, run.stderr


def test_code_in_a_needed_value_is_refused_and_never_runs(example_copy, tmp_path):
    marker = tmp_path / "MARKER"
    _append(example_copy, f"sample_rate = __import__('os').system('touch {marker}') or 30000.")
    run = phy_c4("classify", str(example_copy), *FAST)
    assert run.returncode == 1 and not marker.exists()
    assert "sample_rate is not a value phy_c4 can read without running the file" in run.stderr
    assert "Traceback" not in run.stderr


def test_the_plugin_worker_never_runs_params_py(example_copy, tmp_path):
    """The Phy plugin's worker process opens the folder itself: the same reader."""
    marker = tmp_path / "MARKER"
    _append(example_copy, f"__import__('os').system('touch {marker}')")
    recording = open_recording(example_copy)
    assert recording.model is not None and not marker.exists()


def test_params_arithmetic_and_the_last_assignment_are_read_as_python_would(tmp_path):
    (tmp_path / "params.py").write_text(
        "'''a docstring'''\nimport os\nSAMPLE_RATE = 1\nfs = 30 * 1000\nsample_rate = fs\n"
        "n_channels_dat = 2 ** 2\noffset = -(-8)\ndtype = 'int' + '16'\n"
        "hp_filtered = True\nweird = open('x')\n")
    params = parse_params(tmp_path)
    assert params.values["sample_rate"] == 30000 and params.values["n_channels_dat"] == 4
    assert params.values["offset"] == 8 and params.values["dtype"] == "int16"
    assert "weird" in params.unreadable
    assert any("line 2 ignored" in n for n in params.notes)
    assert any("weird ignored" in n for n in params.notes)


@pytest.mark.parametrize("text", ["10 ** 10 ** 10", "1e308 * 1e308", "'a' * 10 ** 9",
                                  "[0] * 10 ** 9", "(lambda: 1)()", "1 / 0"])
def test_params_that_would_be_costly_or_fail_are_not_data(tmp_path, text):
    (tmp_path / "params.py").write_text(f"sample_rate = {text}\n")
    assert "sample_rate" in parse_params(tmp_path).unreadable


@pytest.mark.parametrize("dir_path, ok", [("'.'", True), (None, False), ("'/'", False)])
def test_dir_path_naming_another_folder_is_refused(example_copy, tmp_path, dir_path, ok):
    other = tmp_path / "other"
    other.mkdir()
    _append(example_copy, f"dir_path = {dir_path or repr(str(other))}")
    if ok:
        assert open_recording(example_copy).model.dir_path == example_copy.resolve()
    else:
        with pytest.raises(DatasetError, match="names another folder"):
            open_recording(example_copy)


# --- 1. and 2. nothing appears in the sorter's folder ----------------------------------------


@pytest.mark.parametrize("spike_clusters", [True, False])
def test_a_cli_run_with_out_writes_nothing_into_the_folder(example_copy, tmp_path,
                                                            spike_clusters):
    if not spike_clusters:
        (example_copy / "spike_clusters.npy").unlink()
        inputs_changed_on_purpose(example_copy)
    before = tree(example_copy)
    run = phy_c4("classify", str(example_copy), *FAST, "--out", str(tmp_path / "out"),
                 "--waveform-source", "template")
    assert run.returncode == 0, run.stderr
    assert tree(example_copy) == before
    assert (tmp_path / "out" / "cluster_c4_type.tsv").is_file()


def test_a_read_only_folder_classifies_with_out(example_copy, tmp_path):
    """A real read-only folder (phylib used to create spike_clusters.npy in it)."""
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    (example_copy / "spike_clusters.npy").unlink()
    inputs_changed_on_purpose(example_copy)
    os.chmod(example_copy, 0o555)
    try:
        run = phy_c4("classify", str(example_copy), *FAST, "--out", str(tmp_path / "out"))
    finally:
        os.chmod(example_copy, 0o755)
    assert run.returncode == 0, run.stderr


def test_the_python_api_writes_nothing_into_the_folder(example_copy, monkeypatch, tmp_path):
    from phy_c4.pipeline import PipelineOptions, classify

    monkeypatch.setenv("PHY_C4_CACHE_DIR", str(tmp_path / "cache"))
    (example_copy / "spike_clusters.npy").unlink()
    inputs_changed_on_purpose(example_copy)
    before = tree(example_copy)
    result = classify(example_copy, options=PipelineOptions(quality=None))
    assert len(result.cluster_ids) == 5
    assert tree(example_copy) == before
    assert list((tmp_path / "cache").rglob("*.npz"))  # the cache went to its own place
