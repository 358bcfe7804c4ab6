"""Tests of ``phy_c4.io.publish``: the transactional publisher: staging, journal, backups."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from phy_c4.cli import main
from phy_c4.io import publish as publish_module
from phy_c4.io import read_cluster_column
from phy_c4.io.lock import folder_lock
from phy_c4.io.publish import Publication, check_publishable, publish, recover
from phy_c4.io.results import ExistingResultsError
from tests.conftest import (
    FAST,
    ROOT,
    inputs_changed_on_purpose,
    phy_c4,
    sorter_files,
)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_results_never_touch_other_files_and_refuse_to_overwrite(example_copy):
    import pandas as pd

    before = {p.name: _sha(p) for p in example_copy.iterdir() if p.is_file()}
    table = pd.DataFrame({"cluster_id": [0, 1], "c4_type": ["MLI", ""],
                          "c4_confidence": [0.9, np.nan], "c4_ratio": [5.0, np.nan],
                          "c4_votes": ["4/4", ""], "c4_status": ["ok", "too few spikes"]})
    written = publish(example_copy, Publication(table=table, labels=("a",) * 5, raw=np.zeros((1, 5,
                                                                                              4)),
                                                npyx_columns=True))
    assert {p.name for p in written} >= {"cluster_c4_type.tsv", "cluster_predicted_cell_type.tsv"}
    after = {p.name: _sha(p) for p in example_copy.iterdir() if p.is_file()}
    assert all(after[name] == digest for name, digest in before.items())
    assert read_cluster_column(example_copy / "cluster_c4_type.tsv") == {0: "MLI", 1: ""}
    assert read_cluster_column(example_copy / "cluster_predicted_cell_type.tsv") == {0: "MLI"}
    with pytest.raises(ExistingResultsError, match="overwrite"):
        publish(example_copy, Publication(table=table))
    publish(example_copy, Publication(table=table.assign(c4_type=["GoC", ""])), overwrite=True)
    backups = list((example_copy / ".phy_c4" / "backups").glob("*/cluster_c4_type.tsv"))
    assert len(backups) == 1
    assert read_cluster_column(backups[0]) == {0: "MLI", 1: ""}
    assert not list(example_copy.glob(".*.tmp"))


def test_existing_results_are_refused_before_any_computation(example_copy, monkeypatch,
                                                             capsys):
    assert main(["classify", str(example_copy), *FAST]) == 0
    import phy_c4.pipeline

    def must_not_run(*args, **kwargs):
        raise AssertionError("computed although the results could not be written")

    monkeypatch.setattr(phy_c4.pipeline, "classify", must_not_run)
    assert main(["classify", str(example_copy), *FAST]) == 1
    assert "already has C4 results" in capsys.readouterr().err


def test_unwritable_folder_is_refused_first_and_out_writes_elsewhere(example_copy, tmp_path,
                                                                     monkeypatch, capsys):
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(example_copy)
                        else real_access(p, mode))  # root ignores chmod; pretend
    assert main(["classify", str(example_copy), *FAST]) == 1
    assert "--out" in capsys.readouterr().err
    out = tmp_path / "results"
    assert main(["classify", str(example_copy), *FAST, "--out", str(out), "--json"]) == 0
    assert read_cluster_column(out / "cluster_c4_type.tsv").keys() == {0, 1, 2, 3, 4}
    assert not list(example_copy.glob("cluster_c4_*.tsv"))


def _table(ids, kind):
    return pd.DataFrame({"cluster_id": ids, "c4_type": [kind] * len(ids),
                         "c4_confidence": [0.5] * len(ids), "c4_ratio": [3.0] * len(ids),
                         "c4_votes": ["3/4"] * len(ids), "c4_model": [f"m-{kind}"] * len(ids),
                         "c4_status": [f"status-{kind}"] * len(ids),
                         "c4_p_GoC": [0.5] * len(ids)})


def _publication(ids, kind):
    def figures(folder):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{kind}.png").write_bytes(b"png")
        return [folder / f"{kind}.png"]

    return Publication(table=_table(ids, kind), labels=("GoC",), parameters={"kind": kind},
                       features={"cluster_ids": np.asarray(ids)}, figures=figures)


def _published_set(folder):
    """Which run each result file belongs to; a complete set names one run everywhere."""
    kinds = set()
    for column in ("c4_type", "c4_model", "c4_status"):
        for value in read_cluster_column(folder / f"cluster_{column}.tsv").values():
            kinds.add(value.split("-")[-1] if "-" in value else value)
    audit = folder / "cell_type_classification"
    kinds.add(json.loads((audit / "phy_c4_run.json").read_text())["parameters"]["kind"])
    kinds.update(p.stem for p in (audit / "figures").glob("*.png"))
    return kinds


def test_partial_runs_keep_the_other_clusters_rows(tmp_path):
    publish(tmp_path, _publication([0, 1, 2, 3], "old"))
    publish(tmp_path, _publication([1], "new"), overwrite=True)
    types = read_cluster_column(tmp_path / "cluster_c4_type.tsv")
    assert types == {0: "old", 1: "new", 2: "old", 3: "old"}
    probabilities = pd.read_csv(tmp_path / "cell_type_classification" /
                                "phy_c4_probabilities.tsv", sep="\t")
    assert probabilities["cluster_id"].tolist() == [0, 1, 2, 3]


def test_overwrite_backs_up_the_whole_set_uniquely_and_drops_stale_figures(tmp_path):
    publish(tmp_path, _publication([0, 1], "a"))
    publish(tmp_path, _publication([0, 1], "b"), overwrite=True)
    publish(tmp_path, _publication([0, 1], "c"), overwrite=True)  # same second: new folder
    backups = sorted((tmp_path / ".phy_c4" / "backups").iterdir())
    assert len(backups) == 2
    assert [_published_set(b) for b in backups] == [{"a"}, {"b"}]
    assert _published_set(tmp_path) == {"c"}  # figures of a and b are gone with their runs


def test_result_files_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        paths = publish(tmp_path, _publication([0], "a"))
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "cluster_c4_type.tsv").stat().st_mode)
    assert mode == 0o644 and paths


def test_check_and_write_are_one_step(tmp_path):
    """Two runs both find no results when they start; the second must not replace the first's
    at commit (the check is repeated under the lock)."""
    check_publishable(tmp_path, overwrite=False)
    publish(tmp_path, _publication([0], "first"))  # the other run commits meanwhile
    with pytest.raises(ExistingResultsError):
        publish(tmp_path, _publication([0], "second"))
    assert _published_set(tmp_path) == {"first"}


def _count_commit_steps(tmp_path) -> int:
    calls = []
    real = os.replace

    def counting(src, dst):
        calls.append(1)
        return real(src, dst)

    folder = tmp_path / "count"
    folder.mkdir()
    publish(folder, _publication([0, 1], "old"))
    publish_module.os.replace = counting
    try:
        publish(folder, _publication([0, 1], "new"), overwrite=True)
    finally:
        publish_module.os.replace = real
    return len(calls)


def test_a_crash_at_any_step_of_the_commit_is_completed_by_the_next_run(tmp_path, monkeypatch):
    """A process killed mid-commit leaves the journal; the next writer completes it."""
    steps = _count_commit_steps(tmp_path)
    assert steps >= 8
    real = os.replace
    for crash_at in range(1, steps + 1):
        folder = tmp_path / f"crash{crash_at}"
        folder.mkdir()
        publish(folder, _publication([0, 1], "old"))
        calls = []

        def crashing(src, dst, calls=calls, crash_at=crash_at):
            calls.append(1)
            if len(calls) == crash_at:
                raise SystemExit("killed")  # nothing after this point of the commit runs
            return real(src, dst)

        monkeypatch.setattr(publish_module.os, "replace", crashing)
        with pytest.raises(SystemExit):
            publish(folder, _publication([0, 1], "new"), overwrite=True)
        monkeypatch.setattr(publish_module.os, "replace", real)
        with folder_lock(folder):
            recover(folder)
        got = _published_set(folder)
        assert got in ({"old"}, {"new"}), (crash_at, got)
        backups = folder / ".phy_c4" / "backups"
        assert all(_published_set(b) == {"old"} for b in
                   (backups.iterdir() if backups.exists() else [])), crash_at
        assert not (folder / ".phy_c4" / "journal.json").exists()


@pytest.fixture
def python_sigint():
    """Python's own SIGINT handler, whatever this process inherited: a shell that starts a job
    in the background (``make mutate &``) ignores SIGINT in it, so an os.kill(SIGINT) would do
    nothing (mutmut's stats run failed on the Ctrl-C test for this reason)."""
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, inherited)


def test_ctrl_c_during_the_commit_waits_for_it(tmp_path, monkeypatch, python_sigint):
    """SIGINT at each file operation of a run: before the commit the old set stays, from the
    journal on the commit completes; then the interrupt is raised."""
    steps = _count_commit_steps(tmp_path)
    real = os.replace
    outcomes = []
    for signal_at in range(1, steps + 1):
        folder = tmp_path / f"sig{signal_at}"
        folder.mkdir()
        publish(folder, _publication([0, 1], "old"))
        calls = []

        def interrupted(src, dst, calls=calls, signal_at=signal_at):
            calls.append(1)
            if len(calls) == signal_at:
                os.kill(os.getpid(), signal.SIGINT)
            return real(src, dst)

        monkeypatch.setattr(publish_module.os, "replace", interrupted)
        with pytest.raises(KeyboardInterrupt):
            publish(folder, _publication([0, 1], "new"), overwrite=True)
        monkeypatch.setattr(publish_module.os, "replace", real)
        committing = (folder / ".phy_c4" / "backups").exists()
        assert _published_set(folder) == ({"new"} if committing else {"old"}), signal_at
        assert not (folder / ".phy_c4" / "journal.json").exists()
        outcomes.append(committing)
    assert any(outcomes) and not all(outcomes)  # both phases were hit


def test_two_concurrent_processes_leave_one_complete_set(example_copy):
    """Two `phy-c4 classify --overwrite` at once: both finish, one after the other's commit;
    the folder holds one complete set and the backup the other's."""
    assert main(["classify", str(example_copy), *FAST]) == 0
    runs = [subprocess.Popen([sys.executable, "-m", "phy_c4.cli", "classify", str(example_copy),
                              *FAST, "--overwrite", "--threshold", threshold, "--no-cache"],
                             stderr=subprocess.PIPE, text=True)
            for threshold in ("1", "1000000")]
    errors = [run.communicate(timeout=300)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], errors

    def threshold_of(folder):
        audit = folder / "cell_type_classification" / "phy_c4_run.json"
        threshold = json.loads(audit.read_text())["parameters"]["threshold"]
        status = read_cluster_column(folder / "cluster_c4_status.tsv")
        types = {t for c, t in read_cluster_column(folder / "cluster_c4_type.tsv").items()
                 if "from CS-SS pause" not in status[c]}  # a pair types units at any threshold
        assert (types <= {"unclassified", ""}) == (threshold == 1e6), (threshold, types)
        return threshold

    thresholds = {threshold_of(b) for b in (example_copy / ".phy_c4" / "backups").iterdir()}
    assert threshold_of(example_copy) in {1.0, 1e6} and {1.0, 1e6} <= thresholds | {
        threshold_of(example_copy)}
    assert sorter_files(example_copy)  # the fixture's teardown compares them


def test_the_interrupt_after_a_commit_says_which_signal_and_that_the_results_are_in():
    from phy_c4.io.publish import InterruptedAfterCommitError

    error = InterruptedAfterCommitError(15, Path("/data/rec1"))
    assert str(error) == "signal 15 (after the results in /data/rec1 were committed)"
    assert (error.signum, error.folder) == (15, Path("/data/rec1"))
    assert isinstance(error, KeyboardInterrupt)  # ends the run as Ctrl-C does


def test_a_commit_is_pending_exactly_while_its_journal_is_there(tmp_path):
    from phy_c4.io.publish import pending_commit

    assert not pending_commit(tmp_path)
    (tmp_path / ".phy_c4").mkdir()
    (tmp_path / ".phy_c4" / "journal.json").write_text("{}")
    assert pending_commit(str(tmp_path))  # a str folder too
    with folder_lock(tmp_path):
        recover(tmp_path)  # "{}" is no journal: set aside
    assert not pending_commit(tmp_path)


@pytest.mark.parametrize("name", ["a/b", "", ".", "..", 3])
def test_a_journal_naming_a_file_outside_the_folder_is_set_aside_not_followed(tmp_path, caplog,
                                                                              name):
    """A hand-edited or foreign journal could name ``..`` or a path: never moved, set aside."""
    journal = tmp_path / ".phy_c4" / "journal.json"
    journal.parent.mkdir()
    journal.write_text(json.dumps({"run": "r", "staging": "no-such-staging", "backup": None,
                                   "replace": ["cluster_c4_type.tsv", name], "retire": []}))
    with folder_lock(tmp_path):
        assert recover(tmp_path) is False
    assert not journal.exists() and "not a phy_c4 journal" in caplog.text


def test_a_well_formed_journal_with_dotted_names_is_followed(tmp_path):
    journal = tmp_path / ".phy_c4" / "journal.json"
    journal.parent.mkdir()
    (tmp_path / "staged").mkdir()
    (tmp_path / "staged" / "cluster_c4_type.tsv").write_text("cluster_id\tc4_type\n0\tGoC\n")
    journal.write_text(json.dumps({"run": "r", "staging": "staged", "backup": None,
                                   "replace": ["cluster_c4_type.tsv"], "retire": []}))
    with folder_lock(tmp_path):
        assert recover(tmp_path) is True
    assert read_cluster_column(tmp_path / "cluster_c4_type.tsv") == {0: "GoC"}
    assert not journal.exists() and not (tmp_path / "staged").exists()


@pytest.mark.parametrize(("text", "problem"), [("[1, 2]", "not a phy_c4 journal"),
                                               ("{'run':", "JSONDecodeError: ")])
def test_the_warning_names_the_journal_the_problem_and_where_it_was_put(tmp_path, caplog, text,
                                                                        problem):
    import re

    journal = tmp_path / ".phy_c4" / "journal.json"
    journal.parent.mkdir()
    journal.write_text(text)
    with folder_lock(tmp_path):
        recover(tmp_path)
    (aside,) = journal.parent.glob("journal.json.*")
    assert re.fullmatch(r"journal\.json\.unreadable-\d{8}-\d{6}", aside.name), aside.name
    assert aside.read_text() == text  # kept as it was, for the curator to look at
    (message,) = [r.getMessage() for r in caplog.records if "could not be read" in r.getMessage()]
    assert message.startswith(f"{journal} could not be read ({problem}")
    assert message.endswith(
        f"; set aside as {aside.name}. If a run was killed while publishing, the results in "
        f"{tmp_path} may mix two runs: check them or classify again with --overwrite")


def test_managed_names_are_the_c4_files_npyx_columns_and_audit_folder_only(tmp_path):
    from phy_c4.io.publish import managed_names

    for name in ("cluster_c4_type.tsv", "cluster_predicted_cell_type.tsv",
                 "cluster_model_votes.tsv", "cluster_group.tsv", "cluster_KSLabel.tsv"):
        (tmp_path / name).write_text("cluster_id\tx\n")
    assert managed_names(tmp_path) == ["cluster_c4_type.tsv", "cluster_predicted_cell_type.tsv",
                                       "cluster_model_votes.tsv"]
    (tmp_path / "cell_type_classification").mkdir()
    assert managed_names(tmp_path)[-1] == "cell_type_classification"


def test_a_missing_or_unwritable_folder_is_refused_in_words(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=f"^no such folder: {tmp_path / 'gone'}$"):
        check_publishable(tmp_path / "gone", overwrite=False)
    real_access = os.access
    for lacking in (os.W_OK, os.X_OK):  # root ignores chmod: the check is asked both
        monkeypatch.setattr(publish_module.os, "access",
                            lambda path, mode, lacking=lacking: not mode & lacking)
        with pytest.raises(PermissionError) as error:
            check_publishable(tmp_path, overwrite=False)
        assert str(error.value) == (f"{tmp_path} is not writable; write the results elsewhere "
                                    "with --out DIR")
    monkeypatch.setattr(publish_module.os, "access", real_access)
    assert check_publishable(str(tmp_path), overwrite=False) == tmp_path


def test_a_move_whose_copy_was_complete_only_removes_the_source(tmp_path):
    """A run killed after copying a backup across file systems: the next one finds the copy."""
    source, target = tmp_path / "cluster_c4_type.tsv", tmp_path / "backup.tsv"
    source.write_text("new")
    target.write_text("complete copy")
    publish_module._move(source, target)
    assert not source.exists() and target.read_text() == "complete copy"


def test_a_folder_moved_across_file_systems_keeps_its_links_as_links(tmp_path, monkeypatch):
    import errno

    source = tmp_path / "cell_type_classification"
    (source / "figures").mkdir(parents=True)
    (source / "figures" / "a.png").write_bytes(b"png")
    (source / "latest.png").symlink_to("figures/a.png")
    real = os.replace

    def across(src, dst):
        if str(src) == str(source):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real(src, dst)

    monkeypatch.setattr(publish_module.os, "replace", across)
    target = tmp_path / "backup" / "cell_type_classification"
    target.parent.mkdir()
    publish_module._move(source, target)
    assert not source.exists() and (target / "figures" / "a.png").read_bytes() == b"png"
    assert (target / "latest.png").is_symlink()
    assert os.readlink(target / "latest.png") == "figures/a.png"
    assert not list(target.parent.glob("*.partial"))


def test_results_of_any_kind_are_refused_without_overwrite_and_named_up_to_four(tmp_path):
    (tmp_path / "cell_type_classification").mkdir()  # the audit folder alone is a result too
    with pytest.raises(ExistingResultsError) as error:
        check_publishable(tmp_path, overwrite=False)
    assert str(error.value) == (f"{tmp_path} already has C4 results (cell_type_classification)"
                                "; pass --overwrite to replace them (a backup is kept)")
    assert check_publishable(tmp_path, overwrite=True) == tmp_path
    for column in ("a", "b", "c", "d"):
        (tmp_path / f"cluster_c4_{column}.tsv").write_text("cluster_id\tx\n")
    with pytest.raises(ExistingResultsError, match=r"results \(cluster_c4_a.tsv, cluster_c4_b."
                       r"tsv, cluster_c4_c.tsv, cluster_c4_d.tsv\); pass"):
        check_publishable(tmp_path, overwrite=False)


def test_publish_waits_for_a_held_lock_only_as_long_as_asked(tmp_path):
    import time

    from phy_c4.io.lock import FolderLockedError

    with folder_lock(tmp_path):
        started = time.perf_counter()
        with pytest.raises(FolderLockedError):
            publish(tmp_path, _publication([0], "a"))  # by default: no wait
        assert time.perf_counter() - started < 1.0
        started = time.perf_counter()
        with pytest.raises(FolderLockedError):
            publish(tmp_path, _publication([0], "a"), wait_s=0.6)
        assert time.perf_counter() - started >= 0.6
    assert not list(tmp_path.glob("cluster_c4_*.tsv"))


def test_a_partial_run_over_a_damaged_column_writes_its_rows_and_says_so(tmp_path, caplog):
    publish(tmp_path, _publication([0, 1], "old"))
    (tmp_path / "cluster_c4_type.tsv").write_bytes(b"garbage without a tab\n")
    publish(tmp_path, _publication([1], "new"), overwrite=True)  # partial: keeps others' rows
    assert read_cluster_column(tmp_path / "cluster_c4_type.tsv") == {1: "new"}
    assert read_cluster_column(tmp_path / "cluster_c4_model.tsv") == {0: "m-old", 1: "m-new"}
    assert read_cluster_column(tmp_path / "cluster_c4_votes.tsv") == {0: "3/4", 1: "3/4"}
    (message,) = [r.getMessage() for r in caplog.records if "could not be read" in r.getMessage()]
    assert message == ("cluster_c4_type.tsv could not be read (ValueError: "
                       f"{tmp_path / 'cluster_c4_type.tsv'}: expected a header "
                       "'cluster_id<TAB>column'): only this run's rows are written (the old "
                       "file goes to the backup)")
    (backup,) = (tmp_path / ".phy_c4" / "backups").iterdir()
    assert (backup / "cluster_c4_type.tsv").read_bytes() == b"garbage without a tab\n"


def test_a_partial_run_keeps_rows_of_every_column_it_writes_whatever_else_is_there(tmp_path):
    """Columns an earlier run wrote and this one does not (sorted first here) are skipped, not
    the end of the merge; a column file with more columns is read by its own name."""
    publish(tmp_path, _publication([0, 1], "old"))
    (tmp_path / "cluster_c4_model.tsv").write_text(
        "cluster_id\tnote\tc4_model\n0\tsee lab book\tm-old\n1\t\tm-old\n")
    table = _table([1], "new").drop(columns=["c4_confidence"])
    publish(tmp_path, Publication(table=table, labels=("GoC",), parameters={"kind": "new"}),
            overwrite=True)
    assert read_cluster_column(tmp_path / "cluster_c4_type.tsv") == {0: "old", 1: "new"}
    assert read_cluster_column(tmp_path / "cluster_c4_model.tsv") == {0: "m-old", 1: "m-new"}


def _probabilities(folder):
    return pd.read_csv(folder / "cell_type_classification" / "phy_c4_probabilities.tsv", sep="\t")


def test_the_probabilities_table_merges_like_the_columns(tmp_path):
    """A partial run keeps the other clusters' probabilities, a full run replaces them."""
    publish(tmp_path, _publication([0, 1, 2], "old"))
    partial = _publication([1], "new")
    partial.table["c4_p_GoC"] = [0.9]
    publish(tmp_path, partial, overwrite=True)
    table = _probabilities(tmp_path)
    assert table.columns.tolist() == ["cluster_id", "c4_p_GoC"]
    assert table.values.tolist() == [[0, 0.5], [1, 0.9], [2, 0.5]]
    full = _publication([2], "full")
    full.partial = False
    publish(tmp_path, full, overwrite=True)
    assert _probabilities(tmp_path).values.tolist() == [[2, 0.5]]


def test_a_damaged_probabilities_table_gets_this_runs_rows_and_a_warning(tmp_path, caplog):
    publish(tmp_path, _publication([0, 1], "old"))
    audit = tmp_path / "cell_type_classification" / "phy_c4_probabilities.tsv"
    audit.write_text("not\ta table\n")
    publish(tmp_path, _publication([1, 2], "new"), overwrite=True)
    assert _probabilities(tmp_path).values.tolist() == [[1, 0.5], [2, 0.5]]
    (message,) = [r.getMessage() for r in caplog.records if "could not be read" in r.getMessage()]
    assert message == ("phy_c4_probabilities.tsv could not be read (KeyError: 'cluster_id'): "
                       "only this run's rows are written")


def test_the_audit_folder_holds_the_members_probabilities_inputs_and_figures(tmp_path):
    publication = _publication([0, 1], "a")
    publication.raw = np.arange(2 * 1 * 3, dtype=float).reshape(2, 1, 3)
    publication.features = {"cluster_ids": np.array([0, 1]), "acg": np.ones((2, 4))}
    publish(tmp_path, publication)
    audit = tmp_path / "cell_type_classification"
    members = np.load(audit / "phy_c4_probabilities_units_classes_members.npy")
    assert np.array_equal(members, publication.raw)
    with np.load(audit / "phy_c4_features.npz") as inputs:
        assert sorted(inputs.files) == ["acg", "cluster_ids"]
        assert np.array_equal(inputs["acg"], np.ones((2, 4)))
    assert sorted(p.relative_to(audit).as_posix() for p in audit.rglob("*.png")) == \
        ["figures/a.png"]


def _without(ids, kind, column):
    return Publication(table=_table(ids, kind).drop(columns=[column]), labels=("GoC",),
                       parameters={"kind": kind}, features={"cluster_ids": np.asarray(ids)})


def test_runs_that_drop_or_add_a_column_move_the_old_file_to_the_backup(tmp_path):
    """A full run without a column an earlier run wrote retires its file into the backup; a
    run that writes a column the earlier one did not just adds it."""
    full = _without([0, 1], "old", "c4_votes")
    full.partial = False
    publish(tmp_path, full)
    assert not (tmp_path / "cluster_c4_votes.tsv").exists()
    publish(tmp_path, _publication([0, 1], "new"), overwrite=True)  # adds c4_votes
    assert read_cluster_column(tmp_path / "cluster_c4_votes.tsv") == {0: "3/4", 1: "3/4"}
    newer = _without([0, 1], "newer", "c4_votes")
    newer.partial = False
    publish(tmp_path, newer, overwrite=True)  # drops it again
    assert not (tmp_path / "cluster_c4_votes.tsv").exists()
    last = sorted((tmp_path / ".phy_c4" / "backups").iterdir())[-1]
    assert read_cluster_column(last / "cluster_c4_votes.tsv") == {0: "3/4", 1: "3/4"}


def test_a_crash_while_retiring_a_file_is_completed_by_the_next_run(tmp_path, monkeypatch):
    """As the crash test above, for a run whose commit also retires a file."""
    real = os.replace
    for crash_at in range(1, 6):  # the journal, the retiring move, then the replacing ones
        folder = tmp_path / f"crash{crash_at}"
        folder.mkdir()
        publish(folder, _publication([0, 1], "old"))
        calls = []

        def crashing(src, dst, calls=calls, crash_at=crash_at):
            if Path(dst).parent != Path(src).parent:  # a move of the commit (not a file write)
                calls.append(1)
                if len(calls) == crash_at:
                    raise SystemExit("killed")
            return real(src, dst)

        full = _without([0, 1], "new", "c4_votes")
        full.partial = False
        monkeypatch.setattr(publish_module.os, "replace", crashing)
        with pytest.raises(SystemExit):
            publish(folder, full, overwrite=True)
        monkeypatch.setattr(publish_module.os, "replace", real)
        with folder_lock(folder):
            assert recover(folder) is True
        assert _published_set(folder) == {"new"} and not (folder / "cluster_c4_votes.tsv").exists()
        (backup,) = (folder / ".phy_c4" / "backups").iterdir()
        assert _published_set(backup) == {"old"} and (backup / "cluster_c4_votes.tsv").exists()


def _journal(folder, **entries):
    journal = {"run": "r", "staging": "staged", "backup": ".phy_c4/backups/r", "replace": [],
               "retire": [], **entries}
    (folder / ".phy_c4").mkdir(exist_ok=True)
    (folder / ".phy_c4" / "journal.json").write_text(json.dumps(journal))


def test_a_commit_killed_after_copying_the_audit_folder_across_file_systems_is_completed(
        tmp_path):
    """Killed between the copy of the old audit folder into the backup (another file system)
    and the removal of the original: the next run replaces the original with the new one."""
    audit = "cell_type_classification"
    for where, kind in ((tmp_path, "old"), (tmp_path / ".phy_c4" / "backups" / "r", "old"),
                        (tmp_path / "staged", "new")):
        (where / audit).mkdir(parents=True)
        (where / audit / "kind.txt").write_text(kind)
    _journal(tmp_path, replace=[audit])
    with folder_lock(tmp_path):
        assert recover(tmp_path) is True
    assert (tmp_path / audit / "kind.txt").read_text() == "new"
    assert (tmp_path / ".phy_c4" / "backups" / "r" / audit / "kind.txt").read_text() == "old"
    assert not (tmp_path / "staged").exists() and not pending_commit_file(tmp_path)


def pending_commit_file(folder):
    return (folder / ".phy_c4" / "journal.json").exists()


def test_a_journal_whose_staging_is_gone_is_completed_without_error(tmp_path):
    (tmp_path / "cluster_c4_type.tsv").write_text("cluster_id\tc4_type\n0\tGoC\n")
    _journal(tmp_path, replace=["cluster_c4_type.tsv"])  # its moves were all done
    with folder_lock(tmp_path):
        assert recover(tmp_path) is True
    assert not pending_commit_file(tmp_path)
    assert read_cluster_column(tmp_path / "cluster_c4_type.tsv") == {0: "GoC"}


def test_backups_are_named_by_time_process_and_run_number(tmp_path):
    import re

    publish(tmp_path, _publication([0], "a"))
    publish(tmp_path, _publication([0], "b"), overwrite=True)
    (backup,) = (tmp_path / ".phy_c4" / "backups").iterdir()
    assert re.fullmatch(rf"\d{{8}}-\d{{6}}-{os.getpid()}-\d+", backup.name), backup.name


def test_the_interrupt_names_the_folder_whose_commit_it_waited_for(tmp_path, monkeypatch,
                                                                   python_sigint):
    from phy_c4.io.publish import InterruptedAfterCommitError

    publish(tmp_path, _publication([0], "old"))
    real = os.replace

    def interrupted(src, dst):
        if Path(dst).parent != Path(src).parent:  # a move of the commit (not a file write)
            os.kill(os.getpid(), signal.SIGINT)
        return real(src, dst)

    monkeypatch.setattr(publish_module.os, "replace", interrupted)
    with pytest.raises(InterruptedAfterCommitError) as error:
        publish(tmp_path, _publication([0], "new"), overwrite=True)
    assert (error.value.signum, error.value.folder) == (signal.SIGINT, tmp_path)
    assert _published_set(tmp_path) == {"new"}
    (tmp_path / "staged" / "cell_type_classification").mkdir(parents=True)
    _journal(tmp_path, replace=["cell_type_classification"], backup=None)
    with folder_lock(tmp_path), pytest.raises(InterruptedAfterCommitError) as error:
        recover(tmp_path)  # a commit completed by the next run waits for it as well
    assert error.value.folder == tmp_path and not pending_commit_file(tmp_path)


def test_a_run_that_fails_before_its_commit_leaves_no_staging_behind(tmp_path):
    def failing(folder):
        raise RuntimeError("a figure could not be drawn")

    publish(tmp_path, _publication([0], "old"))
    with pytest.raises(RuntimeError, match="figure"):
        publish(tmp_path, Publication(table=_table([0], "new"), figures=failing), overwrite=True)
    assert not list(tmp_path.glob(".phy_c4-staging-*")) and _published_set(tmp_path) == {"old"}


def test_a_staging_folder_that_cannot_be_removed_never_blocks_a_run(tmp_path, monkeypatch):
    stuck = tmp_path / ".phy_c4-staging-19700101-000000-1-0"
    stuck.mkdir()
    (stuck / "stuck.tsv").write_text("x")
    real = os.unlink

    def refusing(path, *args, **kwargs):
        if str(path).endswith("stuck.tsv"):
            raise PermissionError(1, "Operation not permitted", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", refusing)
    publish(tmp_path, _publication([0], "a"))
    assert _published_set(tmp_path) == {"a"}


def test_a_retired_file_deleted_by_hand_after_a_kill_is_no_obstacle(tmp_path):
    (tmp_path / "staged").mkdir()
    (tmp_path / "staged" / "cluster_c4_type.tsv").write_text("cluster_id\tc4_type\n0\tGoC\n")
    _journal(tmp_path, replace=["cluster_c4_type.tsv"], retire=["cluster_c4_votes.tsv"])
    with folder_lock(tmp_path):
        assert recover(tmp_path) is True
    assert read_cluster_column(tmp_path / "cluster_c4_type.tsv") == {0: "GoC"}
    assert not pending_commit_file(tmp_path)


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


def test_a_signal_the_process_ignores_stays_ignored_through_a_commit(tmp_path, monkeypatch):
    """``nohup phy-c4 classify ...`` ignores SIGHUP: a hang-up during the commit must not stop
    the run afterwards, and SIGHUP is ignored again once the commit is done."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        publish(tmp_path, _publication([0], "old"))
        real = os.replace

        def hung_up(src, dst):
            if Path(dst).parent != Path(src).parent:  # a move of the commit
                os.kill(os.getpid(), signal.SIGHUP)
            return real(src, dst)

        monkeypatch.setattr(publish_module.os, "replace", hung_up)
        try:
            publish(tmp_path, _publication([0], "new"), overwrite=True)
        except BaseException as error:  # InterruptedAfterCommitError is a KeyboardInterrupt
            pytest.fail(f"an ignored SIGHUP stopped the run: {error}")
        assert _published_set(tmp_path) == {"new"}
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
