"""A sorter's folder is data: never executed, never written, never trusted when it is stale
(docs/reliability.md, issue 22). The CLI cases run ``phy-c4`` as a real subprocess."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from phy_c4.cli import main
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


# --- 2. the feature cache never outlives its inputs --------------------------------------------


def _probabilities(folder: Path, cache: bool, source: str) -> np.ndarray:
    from phy_c4.pipeline import PipelineOptions, classify

    options = PipelineOptions(quality=None, waveform_source=source, cache=cache, pairing=None)
    return classify(open_recording(folder, force=True), options=options).probabilities


def _set_param(folder: Path, key: str, line: str) -> None:
    lines = [x for x in (folder / "params.py").read_text().splitlines() if not x.startswith(key)]
    (folder / "params.py").write_text("\n".join([*lines, line]) + "\n")
    inputs_changed_on_purpose(folder)


def test_the_cache_follows_n_channels_dat(example_copy):
    """A 4-channel raw file read as 5 channels, then as 4 again: each run equals --no-cache."""
    four = _probabilities(example_copy, True, "raw")
    _set_param(example_copy, "n_channels_dat", "n_channels_dat = 5")
    five = _probabilities(example_copy, True, "raw")
    np.testing.assert_array_equal(five, _probabilities(example_copy, False, "raw"))
    assert not np.array_equal(five, four, equal_nan=True)  # the test means something
    _set_param(example_copy, "n_channels_dat", "n_channels_dat = 4")
    np.testing.assert_array_equal(_probabilities(example_copy, True, "raw"), four)


def test_the_cache_follows_templates_npy(example_copy):
    before = _probabilities(example_copy, True, "template")
    templates = np.load(example_copy / "templates.npy")
    np.save(example_copy / "templates.npy", np.roll(templates, 7, axis=1) * 3)
    inputs_changed_on_purpose(example_copy)
    after = _probabilities(example_copy, True, "template")
    np.testing.assert_array_equal(after, _probabilities(example_copy, False, "template"))
    assert not np.array_equal(after, before, equal_nan=True)


def test_a_damaged_cache_file_is_dropped_and_recomputed(example_copy, tmp_path):
    cache = tmp_path / "cache"
    env = {"PHY_C4_CACHE_DIR": str(cache)}
    first = phy_c4("classify", str(example_copy), *FAST, "--out", str(tmp_path / "a"), env=env)
    assert first.returncode == 0, first.stderr
    files = sorted(cache.rglob("*.npz"))
    assert len(files) == 5
    for i, path in enumerate(files):  # truncated, emptied, or another program's bytes
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if i % 3 == 0 else b"" if i % 3 == 1 else
                         b"PK\x03\x04 not a zip")
    again = phy_c4("classify", str(example_copy), *FAST, "--out", str(tmp_path / "b"), env=env)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("feature cache: dropped the unreadable") == len(files)
    assert (tmp_path / "a" / "cluster_c4_type.tsv").read_text() == \
        (tmp_path / "b" / "cluster_c4_type.tsv").read_text()
    third = phy_c4("classify", str(example_copy), *FAST, "--out", str(tmp_path / "c"), env=env)
    assert "feature cache" not in third.stderr  # healed


def test_an_unwritable_cache_folder_falls_back_with_one_line(example_copy, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")  # a folder cannot be made under a file, even by root
    run = phy_c4("classify", str(example_copy), *FAST, "--out", str(tmp_path / "out"),
                 env={"PHY_C4_CACHE_DIR": str(blocker / "cache")})
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("cannot be written; using") == 1 and "PHY_C4_CACHE_DIR" in run.stderr


def test_the_fingerprint_covers_the_package_version(example_copy, monkeypatch):
    import phy_c4.cache as cache

    recording = open_recording(example_copy)
    before = cache.recording_fingerprint(recording)
    monkeypatch.setattr(cache, "__version__", "99.0")
    assert cache.recording_fingerprint(recording) != before


def test_unwritable_install_and_home_give_numba_a_cache_folder_and_one_line(monkeypatch,
                                                                           caplog):
    """numba's cache=True with nowhere to write fails every kernel ("no locator available");
    root cannot be denied a write, so os.access is what says no here."""
    import numba

    import phy_c4

    monkeypatch.setenv("NUMBA_CACHE_DIR", "")  # unset for the check; both restored after
    monkeypatch.setattr(numba.config, "CACHE_DIR", numba.config.CACHE_DIR)
    fallback = phy_c4._numba_cache_fallback(access=lambda path, mode: False)
    assert fallback is not None and os.environ["NUMBA_CACHE_DIR"] == str(fallback)
    assert "set NUMBA_CACHE_DIR" in caplog.text
    assert str(fallback) == numba.config.CACHE_DIR
    assert phy_c4._numba_cache_fallback(access=lambda path, mode: True) is None


# --- 3. plausibility: one clear line ----------------------------------------------------------


def _edit(folder: Path, name: str, edit) -> None:
    np.save(folder / name, edit(np.load(folder / name)))
    inputs_changed_on_purpose(folder)


PLAUSIBILITY = {
    "spike times in ms": (lambda f: _edit(f, "spike_times.npy", lambda t: t // 30),
                          "must hold sample indices (not ms or s)"),
    "raw size not channels x dtype": (lambda f: _set_param(f, "n_channels_dat",
                                                           "n_channels_dat = 7"),
                                      "not a whole number of 7-channel int16 samples"),
    "spikes after the raw file's end": (lambda f: _set_param(f, "n_channels_dat",
                                                             "n_channels_dat = 5"),
                                        "is after the end of raw.bin"),
}


@pytest.mark.parametrize("case", sorted(PLAUSIBILITY))
def test_implausible_inputs_get_one_clear_line(example_copy, case, capsys):
    make, message = PLAUSIBILITY[case]
    make(example_copy)
    assert main(["classify", str(example_copy), *FAST]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not list(example_copy.glob("cluster_c4_*.tsv"))
    assert main(["classify", str(example_copy), *FAST, "--force"]) == 0  # said, then used
    assert message in capsys.readouterr().err


def test_float_spike_samples_are_noted_or_refused(example_copy, tmp_path):
    _edit(example_copy, "spike_times.npy", lambda t: t.astype(np.float64))
    run = phy_c4("classify", str(example_copy), *FAST)
    assert run.returncode == 0 and "holds whole numbers as float64" in run.stderr, run.stderr
    from phy_c4.io.dataset import check_spike_arrays

    np.save(tmp_path / "spike_times.npy", np.arange(3e7, 3.1e7, 1000, dtype=np.float32))
    with pytest.raises(DatasetError, match="rounds sample indices above 16,777,216"):
        check_spike_arrays(tmp_path)


def test_group_labels_are_normalised_with_a_note(example_copy):
    (example_copy / "cluster_group.tsv").write_text(
        "cluster_id\tgroup\n0\tGood\n1\tgood \n2\tgood\n3\tGOOD\n4\tnoise\n")
    inputs_changed_on_purpose(example_copy)
    run = phy_c4("classify", str(example_copy), *FAST, "--out", str(example_copy.parent / "o"))
    assert run.returncode == 0, run.stderr
    assert "3 labels read as Phy's groups" in run.stderr
    assert "4 units" in run.stdout  # 0-3 are good, 4 is noise


# --- 6. options: finite and in range, or a usage error ---------------------------------------


@pytest.mark.parametrize("args", [["--fp-threshold", "nan"], ["--fp-threshold", "-0.1"],
                                  ["--fn-threshold", "7"], ["--fn-threshold", "inf"],
                                  ["--min-good-seconds", "-5"], ["--min-good-seconds", "nan"]])
def test_quality_options_out_of_range_are_usage_errors(example_copy, capsys, args):
    with pytest.raises(SystemExit) as info:
        main(["classify", str(example_copy), *args])
    assert info.value.code == 2
    assert args[0] in capsys.readouterr().err


def test_the_api_refuses_quality_settings_out_of_range():
    from phy_c4.features.quality import QualitySpec
    from phy_c4.pipeline import PipelineOptions

    with pytest.raises(ValueError, match="fp_threshold"):
        PipelineOptions(quality=QualitySpec(fp_threshold=float("nan")))
    with pytest.raises(ValueError, match="min_good_s"):
        PipelineOptions(quality=QualitySpec(min_good_s=-5))


# --- 4. full runs replace the set; a bad journal or staging never blocks -----------------------


def test_a_full_run_drops_rows_of_clusters_merged_away_or_no_longer_selected(example_copy,
                                                                              capsys):
    from phy_c4.io.tsv import read_cluster_column

    assert main(["classify", str(example_copy), *FAST]) == 0
    clusters = np.load(example_copy / "spike_clusters.npy")
    np.save(example_copy / "spike_clusters.npy", np.where(np.isin(clusters, [2, 3]), 7,
                                                          clusters).astype(clusters.dtype))
    (example_copy / "cluster_group.tsv").write_text(
        "cluster_id\tgroup\n0\tgood\n1\tnoise\n4\tgood\n7\tgood\n")  # as Phy saves a merge
    inputs_changed_on_purpose(example_copy)
    assert main(["classify", str(example_copy), *FAST, "--overwrite"]) == 0
    for column in ("c4_type", "c4_status", "c4_model"):
        rows = read_cluster_column(example_copy / f"cluster_{column}.tsv")
        assert set(rows) == {0, 4, 7}, (column, rows)
    assert main(["classify", str(example_copy), *FAST, "--overwrite", "--clusters", "1"]) == 0
    assert set(read_cluster_column(example_copy / "cluster_c4_type.tsv")) == {0, 1, 4, 7}


def _tiny(kind: str):
    import pandas as pd

    from phy_c4.io.publish import Publication

    table = pd.DataFrame({"cluster_id": [0, 1], "c4_type": [kind] * 2, "c4_status": ["ok"] * 2})
    return Publication(table=table, labels=("GoC",), parameters={"kind": kind})


def _kind(folder: Path) -> str:
    from phy_c4.io.tsv import read_cluster_column

    return set(read_cluster_column(folder / "cluster_c4_type.tsv").values()).pop()


@pytest.mark.parametrize("damage", ["empty", "not json", "a list", "a folder"])
def test_a_damaged_journal_is_set_aside_and_never_blocks(tmp_path, caplog, damage):
    from phy_c4.io.publish import publish

    publish(tmp_path, _tiny("old"))
    journal = tmp_path / ".phy_c4" / "journal.json"
    if damage == "a folder":
        journal.mkdir()
    else:
        journal.write_text({"empty": "", "not json": "{'run':", "a list": "[1, 2]"}[damage])
    publish(tmp_path, _tiny("new"), overwrite=True)
    assert _kind(tmp_path) == "new" and "set aside" in caplog.text
    assert not journal.exists() and list(journal.parent.glob("journal.json.unreadable-*"))
    publish(tmp_path, _tiny("newer"), overwrite=True)
    assert _kind(tmp_path) == "newer"


def test_a_damaged_staging_area_never_blocks(tmp_path):
    from phy_c4.io.publish import publish

    publish(tmp_path, _tiny("old"))
    (tmp_path / ".phy_c4" / "staging").write_text("a file where a folder was")
    (tmp_path / ".phy_c4-staging-19700101-000000-1-0").mkdir()  # a killed run's
    publish(tmp_path, _tiny("new"), overwrite=True)
    assert _kind(tmp_path) == "new"
    assert not list(tmp_path.glob(".phy_c4-staging-*"))
    assert not (tmp_path / ".phy_c4" / "staging").exists()


def test_phy_c4_state_on_another_file_system(tmp_path):
    """``.phy_c4`` linked to another file system: staging beside the targets, backups copied."""
    import tempfile

    from phy_c4.io.publish import publish

    other = Path(tempfile.mkdtemp(dir="/dev/shm")) if Path("/dev/shm").is_dir() else None
    if other is None or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second file system here")
    try:
        (tmp_path / ".phy_c4").symlink_to(other)
        for kind in ("old", "new", "newer"):
            publish(tmp_path, _tiny(kind), overwrite=True)
            assert _kind(tmp_path) == kind
        assert not (other / "journal.json").exists()
        backups = sorted((other / "backups").iterdir())
        assert [_kind(b) for b in backups] == ["old", "new"]
    finally:
        import shutil

        shutil.rmtree(other)


# --- 5. signals during the commit; show; Ctrl-C at start --------------------------------------


SLOW_COMMIT = """
import sys, time
import phy_c4.io.publish as publish
real = publish._roll_forward

def slow(*args):
    print("committing", file=sys.stderr, flush=True)
    time.sleep(1.5)
    real(*args)

publish._roll_forward = slow
from phy_c4.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("signame", ["SIGHUP", "SIGTERM", "SIGINT"])
def test_signals_during_the_commit_wait_for_it_and_say_it_was_published(example_copy, signame):
    import signal

    number = getattr(signal, signame)
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", SLOW_COMMIT, "classify", str(example_copy),
                                *FAST], stderr=subprocess.PIPE, text=True, env=environment)
    assert process.stderr.readline().strip() == "committing"
    process.send_signal(number)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + number, err
    assert "published completely" in err and "wrote nothing" not in err and "Traceback" not in err
    assert (example_copy / "cluster_c4_type.tsv").is_file()
    assert not (example_copy / ".phy_c4" / "journal.json").exists()


def test_show_says_when_a_commit_is_incomplete(example_copy, capsys):
    assert main(["classify", str(example_copy), *FAST]) == 0
    assert main(["show", str(example_copy)]) == 0
    capsys.readouterr()
    (example_copy / ".phy_c4" / "journal.json").write_text("{}")
    assert main(["show", str(example_copy)]) == 1
    assert "incomplete commit" in capsys.readouterr().err


@pytest.mark.parametrize("after_s", [0.3, 0.8, 1.5, 2.5])
def test_ctrl_c_right_after_start_is_one_line(example_copy, after_s):
    import signal
    import time

    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "phy_c4.cli", "classify",
                                str(example_copy), *FAST], stderr=subprocess.PIPE, text=True,
                               env=environment)
    time.sleep(after_s)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


# --- 7. messages that name the problem ---------------------------------------------------------


def _positions_short(folder: Path) -> None:
    _edit(folder, "channel_positions.npy", lambda p: p[:-1])


MESSAGES = {
    "cluster id 2^31": (lambda f: _edit(f, "spike_clusters.npy",
                                        lambda c: np.where(c == 4, 2 ** 31, c.astype(np.int64))),
                        [], "Phy stores ids as 32-bit integers"),
    "phylib's bare assert": (_positions_short, [],
                             "channel_positions.npy does not have one (x, y) row per channel"),
    "template id beyond templates.npy": (lambda f: _edit(f, "spike_templates.npy",
                                                         lambda t: np.where(t == 4, 9, t)), [],
                                         "names template 9 but templates.npy has 5"),
    "unreadable cluster_group.tsv": (lambda f: (f / "cluster_group.tsv").write_bytes(
        "cluster_id\tgroup\n0\tgood\n".encode("utf-16")), [], "cluster_group.tsv could not be"),
    "cluster_group.tsv without its columns": (lambda f: (f / "cluster_group.tsv").write_text(
        "id,label\n0,good\n"), [], "cluster_group.tsv has no cluster_id and group columns"),
    "UTF-16 layer file": (lambda f: (f.parent / "layers.tsv").write_bytes(
        "cluster_id\tlayer\n0\tPCL\n".encode("utf-16")), ["--layer", "{parent}/layers.tsv"],
        "not UTF-8 text"),
}


@pytest.mark.parametrize("case", sorted(MESSAGES))
def test_each_fault_names_its_problem_in_one_line(example_copy, capsys, case):
    make, args, message = MESSAGES[case]
    make(example_copy)
    inputs_changed_on_purpose(example_copy)
    args = [a.format(parent=example_copy.parent) for a in args]
    assert main(["classify", str(example_copy), *FAST, *args]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_running_out_of_memory_is_said_in_words(example_copy, capsys, monkeypatch):
    import phy_c4.pipeline

    def absurd(*args, **kwargs):
        raise MemoryError("Unable to allocate 224. TiB for an array with shape (2, 10**13)")

    monkeypatch.setattr(phy_c4.pipeline, "classify", absurd)
    assert main(["classify", str(example_copy), *FAST]) == 1
    err = capsys.readouterr().err
    assert "ran out of memory" in err and "size in params.py or an .npy shape" in err, err


def test_a_damaged_pc_features_npy_is_never_read(example_copy):
    n = np.load(example_copy / "spike_times.npy").size
    np.save(example_copy / "pc_features.npy", np.zeros((n, 3, 4), dtype=np.float32))
    data = (example_copy / "pc_features.npy").read_bytes()
    (example_copy / "pc_features.npy").write_bytes(data[: len(data) // 3])
    np.save(example_copy / "pc_feature_ind.npy", np.zeros((5, 4), dtype=np.uint32))
    inputs_changed_on_purpose(example_copy)
    assert main(["classify", str(example_copy), *FAST, "--waveform-source", "template"]) == 0
    from phy_c4.io.tsv import read_cluster_column

    statuses = read_cluster_column(example_copy / "cluster_c4_status.tsv").values()
    assert not any(s.startswith("no waveform") for s in statuses), statuses


@pytest.mark.parametrize("run", ["full", "partial"])
def test_overwrite_over_damaged_own_files_works(example_copy, caplog, run):
    assert main(["classify", str(example_copy), *FAST]) == 0
    (example_copy / "cluster_c4_type.tsv").write_bytes(b"\x00\xffgarbage\n1\t2\t3\n")
    audit = example_copy / "cell_type_classification" / "phy_c4_probabilities.tsv"
    audit.write_text("not\ta table\n")
    extra = ["--clusters", "1"] if run == "partial" else []
    assert main(["classify", str(example_copy), *FAST, "--overwrite", *extra]) == 0
    from phy_c4.io.tsv import read_cluster_column

    rows = read_cluster_column(example_copy / "cluster_c4_type.tsv")
    assert set(rows) == ({1} if run == "partial" else {0, 1, 2, 3, 4})
    if run == "partial":
        assert "could not be read" in caplog.text
