"""A sorter's folder is data: never executed, never written, never trusted when it is stale
(docs/reliability.md, issue 22). The CLI cases run ``phy-c4`` as a real subprocess.
"""

from __future__ import annotations

import pytest

from phy_c4.io.dataset import open_recording
from phy_c4.io.params import parse_params
from tests.conftest import FAST, _append, phy_c4


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


def test_the_background_model_thread_never_builds_an_ast(example_copy, monkeypatch):
    """CPython 3.11's AST constructor is not safe in two threads at once ("AST constructor
    recursion depth mismatch" was seen): the thread loading phylib's model parses nothing,
    neither params.py nor the .npy headers (numpy reads those with ast.literal_eval)."""
    import ast
    import threading

    callers = []
    real = ast.parse
    monkeypatch.setattr(ast, "parse", lambda *a, **k: callers.append(
        threading.current_thread().name) or real(*a, **k))
    recording = open_recording(example_copy)
    assert recording.model.sparse_templates.data.shape[0] == 5
    assert "phy_c4 phylib model" not in callers and callers  # the main thread did parse
