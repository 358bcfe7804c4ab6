"""Tests of ``phy_c4.cli``: the `phy-c4` commands (classify, weights, demo, export, ...)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from phy_c4.cli import main
from phy_c4.io.tsv import read_cluster_column
from tests.conftest import (
    FAST,
    ROOT,
    _edit,
    _edit_array,
    _set_param,
    inputs_changed_on_purpose,
)


def test_json_counts_figure_files_and_reports_errors_on_stderr_as_json(example_copy, tmp_path,
                                                                      capsys):
    """Item 9: "figures" is the number of figure files; failures reach stderr as JSON too."""
    from phy_c4.cli import main

    assert main(["classify", str(example_copy), "--all-spikes", "--group", "all", "--report",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["recordings"][0]
    drawn = list((example_copy / "cell_type_classification" / "figures").iterdir())
    assert summary["figures"] == len(drawn) > 1
    assert main(["classify", str(tmp_path / "nowhere"), "--json"]) == 1
    captured = capsys.readouterr()
    error = json.loads(captured.err.strip().splitlines()[-1])
    assert error["ok"] is False and "nowhere" in error["path"] and error["error"]
    assert json.loads(captured.out)["recordings"][0]["ok"] is False
    assert main(["show", str(tmp_path / "nowhere"), "--json"]) == 1
    assert json.loads(capsys.readouterr().err)["ok"] is False


def test_weights_list_aligns_long_names(monkeypatch, capsys):
    """Item 9: the paths start in one column whatever the names' lengths."""
    import phy_c4.weights as weights
    from phy_c4.cli import main

    rows = [("c4-tables", "/a"), ("a-very-long-bundle-name-from-adapt-on-my-lab-data", "/b")]
    monkeypatch.setattr(weights, "list_bundles", lambda: rows)
    assert main(["weights", "list"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines()
             if not line.startswith("default:")]  # the bundle rows
    assert len(lines) == 2 and len({line.index("/") for line in lines}) == 1


def test_cli_writes_columns_and_summary(example_copy, c4_bundle, capsys):
    assert main(["classify", str(example_copy), "--bundle", str(c4_bundle.path), "--json",
                 "--threshold", "1.0"]) == 0
    summary = json.loads(capsys.readouterr().out)["recordings"][0]
    assert summary["ok"] and summary["units"] == 5
    types = read_cluster_column(example_copy / "cluster_c4_type.tsv")
    assert len(types) == 5
    # second run without --overwrite: refused, exit 1, one line of reason
    assert main(["classify", str(example_copy), "--bundle", str(c4_bundle.path)]) == 1
    assert "already has C4 results" in capsys.readouterr().err


def test_cli_one_bad_recording_does_not_stop_the_others(example_copy, c4_bundle, tmp_path,
                                                        capsys):
    code = main(["classify", str(tmp_path / "missing"), str(example_copy), "--bundle",
                 str(c4_bundle.path), "--clusters", "0,2-3", "--quiet", "--report"])
    err = capsys.readouterr().err
    assert code == 1
    assert "FAILED" in err and "no params.py" in err
    assert len(read_cluster_column(example_copy / "cluster_c4_type.tsv")) == 3
    figures = example_copy / "cell_type_classification" / "figures"
    assert (figures / "summary.png").is_file() and (figures / "unit_2.png").is_file()


def test_cli_usage_errors(capsys):
    with pytest.raises(SystemExit) as info:
        main(["classify"])
    assert info.value.code == 2
    assert main(["classify", "/tmp", "--bundle", "no-such-bundle"]) == 1


def test_dask_local_cluster(example_copy, c4_bundle, capsys, tmp_path):
    """The docs/interop.md example: one task per recording; a failed recording is reported and
    the others still finish; progress per recording on stderr."""
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        code = main(["classify", str(example_copy), str(tmp_path / "missing"), "--bundle",
                     str(c4_bundle.path), "--dask", cluster.scheduler_address])
    assert code == 1
    captured = capsys.readouterr()
    assert "1/2 recordings done" in captured.err and "2/2 recordings done" in captured.err
    assert "FAILED" in captured.err and "no params.py" in captured.err
    assert len(read_cluster_column(example_copy / "cluster_c4_type.tsv")) == 5


def test_demo_runs_the_main_job_with_the_shipped_default_weights(tmp_path, capsys):
    out = tmp_path / "example"
    code = main(["demo", "--out", str(out), "--units-per-type", "1", "--duration", "200",
                 "--channels", "2", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)["recordings"][0]
    assert summary["ok"] and summary["units"] == 5 and summary["bundle"] == "c4-tables@4"
    assert (out / "cluster_c4_type.tsv").is_file()
    assert (out / "cell_type_classification" / "figures" / "summary.png").is_file()


def _replace_param(folder, line_or_none, key="sample_rate"):
    lines = [x for x in (folder / "params.py").read_text().splitlines()
             if not x.startswith(key)]
    if line_or_none is not None:
        lines.append(line_or_none)
    (folder / "params.py").write_text("\n".join(lines) + "\n")


BAD_INPUTS = {
    "sample rate 0": (lambda f: _replace_param(f, "sample_rate = 0"), [], "invalid sample_rate"),
    "sample rate missing": (lambda f: _replace_param(f, None), [], "no sample_rate"),
    "sample rate negative": (lambda f: _replace_param(f, "sample_rate = -30000."), [],
                             "invalid sample_rate"),
    "sample rate 3 kHz": (lambda f: _replace_param(f, "sample_rate = 3000"), [], "implausible"),
    "params.py not Python": (lambda f: (f / "params.py").write_text("sample_rate = = 3\n"), [],
                             "not a readable params.py"),
    "spike times in seconds": (lambda f: _edit_array(f, "spike_times.npy",
                                                     lambda t: t / 30000.0), [],
                               "fractional values (seconds?)"),
    "spike_clusters shorter": (lambda f: _edit_array(f, "spike_clusters.npy",
                                                     lambda c: c[:-10]), [], "entries for"),
    "cluster id -1": (lambda f: _edit_array(f, "spike_clusters.npy",
                                            lambda c: np.where(c == 0, -1, c)), [],
                      "negative ids"),
    "NaN amplitudes": (lambda f: _edit_array(f, "amplitudes.npy",
                                             lambda a: np.where(np.arange(a.size) == 5, np.nan,
                                                                a)), [], "NaN"),
    "spike_times.npy missing": (lambda f: (f / "spike_times.npy").unlink(), [],
                                "spike_times.npy is missing"),
    "unknown cluster": (None, ["--clusters", "99"], "no cluster 99"),
    "empty range": (None, ["--clusters", "5-2"], "empty range"),
    "not a cluster id": (None, ["--clusters", "a,b"], "not a cluster id"),
    "no cluster in group": (None, ["--group", "noise"], "no 'noise' clusters"),
    "no cluster_group.tsv": (lambda f: (f / "cluster_group.tsv").unlink(), [],
                             "no cluster_group.tsv"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gets_one_clear_line(example_copy, capsys, case):
    make_bad, args, message = BAD_INPUTS[case]
    if make_bad is not None:
        make_bad(example_copy)
        inputs_changed_on_purpose(example_copy)
    assert main(["classify", str(example_copy), *FAST, *args]) == 1
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err, captured.err
    assert captured.out == ""
    assert not list(example_copy.glob("cluster_c4_*.tsv"))


@pytest.mark.parametrize("args", [["--threshold", "-1"], ["--threshold", "0.5"],
                                  ["--threshold", "nan"], ["--jobs", "0"], ["--jobs", "-3"]])
def test_bad_options_are_usage_errors(example_copy, capsys, args):
    with pytest.raises(SystemExit) as info:
        main(["classify", str(example_copy), *args])
    assert info.value.code == 2
    assert args[0] in capsys.readouterr().err


def test_implausible_rate_runs_with_force(example_copy):
    _replace_param(example_copy, "sample_rate = 120000.0")
    inputs_changed_on_purpose(example_copy)
    assert main(["classify", str(example_copy), *FAST]) == 1
    assert main(["classify", str(example_copy), *FAST, "--force"]) == 0


SLOW_RUN = """
import sys, time
import phy_c4.pipeline
from phy_c4.cli import main

def slow(*args, **kwargs):
    print("computing", file=sys.stderr, flush=True)
    time.sleep(60)

phy_c4.pipeline.prepare_units = slow
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_exits_cleanly(example_copy):
    """A real SIGINT while computing (made long on purpose): exit 130, one line, no files."""
    process = subprocess.Popen([sys.executable, "-c", SLOW_RUN, "classify", str(example_copy),
                                "--quiet"], stderr=subprocess.PIPE, text=True)
    assert process.stderr.readline().strip() == "computing"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, (process.returncode, err[-3000:])
    assert "interrupted" in err and "Traceback" not in err
    assert not list(example_copy.glob("cluster_c4_*.tsv"))


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


@pytest.mark.parametrize("args", [["--fp-threshold", "nan"], ["--fp-threshold", "-0.1"],
                                  ["--fn-threshold", "7"], ["--fn-threshold", "inf"],
                                  ["--min-good-seconds", "-5"], ["--min-good-seconds", "nan"]])
def test_quality_options_out_of_range_are_usage_errors(example_copy, capsys, args):
    with pytest.raises(SystemExit) as info:
        main(["classify", str(example_copy), *args])
    assert info.value.code == 2
    assert args[0] in capsys.readouterr().err


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
