"""Mutation testing of the modules users depend on most (``make mutate``; not in CI: too slow).

Each module is mutated by mutmut 3 against its own fast tests only (``MODULES``), in a scratch
copy of the package (``build/mutation/<module>``), so one run fits in minutes and a mutant is
judged by the tests that claim to pin that module. Results are kept per module in
``docs/mutation-results.json``; ``docs/mutation.md`` is written from them and from
``scripts/mutation_notes.json``, which says for each surviving mutant either the test that now
kills it or why it is equivalent (changes no behaviour anyone can observe).

    python scripts/mutation_report.py run [MODULE ...]   # all of MODULES by default
    python scripts/mutation_report.py report             # rewrite docs/mutation.md only

Needs the ``mutate`` extra (``pip install -e .[mutate]``). Tests that read the reference data
find it as conftest does (``PHY_C4_SHARED``, else ``../shared``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "mutation-results.json"
NOTES = Path(__file__).resolve().with_name("mutation_notes.json")
REPORT = ROOT / "docs" / "mutation.md"
SCRATCH = ROOT / "build" / "mutation"

R = "tests/test_reliability.py::"
MODULES: dict[str, tuple[str, ...]] = {  # module -> its own fast tests; small modules first
    "phy_c4/atomic.py": ("tests/test_atomic.py",),
    "phy_c4/io/lock.py": ("tests/test_lock.py", R + "test_a_held_lock_refuses_a_second_writer",
                          R + "test_check_and_write_are_one_step"),
    "phy_c4/region.py": ("tests/test_region.py::test_cerebellar_cortex_names",
                         "tests/test_region.py::test_the_gate_prefers_cluster_region_then_channel"
                         "_then_depth", "tests/test_region_nuclei.py",
                         "tests/test_region_gate.py"),
    "phy_c4/status.py": ("tests/test_status.py", "tests/test_ensemble.py",
                         "tests/test_predict.py::test_summary_definitions",
                         "tests/test_curation.py::test_reject_takes_the_unit_out_of_the_confident"
                         "_set"),
    "phy_c4/curation.py": (*(f"tests/test_curation.py::test_{name}" for name in (
        "signature_says_who_and_when_in_utc",
        "set_type_source_defaults_to_accepted_only_for_the_confident_prediction",
        "reject_takes_the_unit_out_of_the_confident_set",
        "review_queue_order_disagreements_then_low_ratio_then_novelty")),
        "tests/test_curation_decisions.py"),
    "phy_c4/features/pairing.py": (*(f"tests/test_pairing.py::test_{name}" for name in (
        "window_sweep_counts_what_searchsorted_counts", "window_sweep_on_long_trains",
        "pause_test_takes_unsorted_spike_times", "pause_test_on_independent_trains")),
        "tests/test_pairing_significance.py"),  # the planted-pair recordings: minutes a mutant
    "phy_c4/model/ensemble.py": ("tests/test_ensemble.py", "tests/test_ensemble_inputs.py",
                                 "tests/test_predict.py"),
    "phy_c4/model/laplace.py": ("tests/test_model_reference.py",),
    "phy_c4/io/publish.py": (*(R + f"test_{name}" for name in (
        "partial_runs_keep_the_other_clusters_rows",
        "overwrite_backs_up_the_whole_set_uniquely_and_drops_stale_figures",
        "result_files_get_ordinary_permissions", "check_and_write_are_one_step",
        "a_crash_at_any_step_of_the_commit_is_completed_by_the_next_run",
        "ctrl_c_during_the_commit_waits_for_it")),  # and its other fast tests (no classify):
        "tests/test_io.py::test_results_never_touch_other_files_and_refuse_to_overwrite",
        *(f"tests/test_untrusted_inputs.py::test_{name}" for name in (
            "a_damaged_journal_is_set_aside_and_never_blocks",
            "a_damaged_staging_area_never_blocks", "phy_c4_state_on_another_file_system")),
        *(R + f"test_{name}" for name in (  # added for survivors of the first run
            "the_interrupt_after_a_commit_says_which_signal_and_that_the_results_are_in",
            "a_commit_is_pending_exactly_while_its_journal_is_there",
            "a_journal_naming_a_file_outside_the_folder_is_set_aside_not_followed",
            "a_well_formed_journal_with_dotted_names_is_followed",
            "the_warning_names_the_journal_the_problem_and_where_it_was_put",
            "managed_names_are_the_c4_files_npyx_columns_and_audit_folder_only",
            "a_missing_or_unwritable_folder_is_refused_in_words",
            "a_move_whose_copy_was_complete_only_removes_the_source",
            "a_folder_moved_across_file_systems_keeps_its_links_as_links",
            "results_of_any_kind_are_refused_without_overwrite_and_named_up_to_four",
            "publish_waits_for_a_held_lock_only_as_long_as_asked",
            "a_partial_run_over_a_damaged_column_writes_its_rows_and_says_so",
            "a_partial_run_keeps_rows_of_every_column_it_writes_whatever_else_is_there",
            "the_probabilities_table_merges_like_the_columns",
            "a_damaged_probabilities_table_gets_this_runs_rows_and_a_warning",
            "the_audit_folder_holds_the_members_probabilities_inputs_and_figures",
            "runs_that_drop_or_add_a_column_move_the_old_file_to_the_backup",
            "a_crash_while_retiring_a_file_is_completed_by_the_next_run",
            "a_commit_killed_after_copying_the_audit_folder_across_file_systems_is_completed",
            "a_journal_whose_staging_is_gone_is_completed_without_error",
            "backups_are_named_by_time_process_and_run_number",
            "the_interrupt_names_the_folder_whose_commit_it_waited_for",
            "a_run_that_fails_before_its_commit_leaves_no_staging_behind",
            "a_staging_folder_that_cannot_be_removed_never_blocks_a_run",
            "a_retired_file_deleted_by_hand_after_a_kill_is_no_obstacle"))),
    # labels.py: the GUI tests take 5-70 s each (7+ min in all) and one asserts a time; its
    # fast tests use phy's own ClusterMeta and GlobalHistory without a window
    "phy_c4/plugin/labels.py": tuple(f"tests/test_plugin_labels.py::test_{name}" for name in (
        "apply_values_is_one_undo_step_that_undo_and_redo_replay_whole",
        "an_undo_takes_back_only_its_own_step_not_the_one_before",
        "values_of_clusters_gone_are_skipped_and_nothing_to_write_is_no_step",
        "without_refresh_the_table_is_left_to_the_caller",
        "columns_are_added_once_and_the_view_reset_only_when_one_was_missing",
        "an_older_phy_gets_one_public_label_call_per_field_and_value",
        "applied_tags_are_the_steps_in_effect_oldest_first",
        "while_the_scroll_bar_is_dragged_the_rows_are_refreshed_a_moment_later",
        "refresh_skips_clusters_gone_and_signals_nothing_when_none_is_left",
        "a_merge_clears_the_c4_fields_and_keeps_the_inherited_group_through_undo",
        "a_phy_without_the_merge_hook_is_said_to_lack_it",
        "a_table_without_a_scroll_bar_is_refreshed_and_re_sorted_all_the_same")),
    "phy_c4/features/table_features.py": (  # not test_contract.py: 70 s a mutant (surrogate)
        "tests/test_table_features.py", *(f"tests/test_training.py::test_{name}" for name in (
            "acg_1d_has_the_tables_conventions", "isi_histogram_has_the_tables_conventions",
            "table_waveform_alignment_and_scale"))),
    "phy_c4/features/quality.py": ("tests/test_quality_fit.py",
                                   "tests/test_io.py::test_quality_filter_keeps_clean_units_and"
                                   "_says_why_not",  # npyx's periods; not its 15-s e2e test:
                                   "tests/test_npyx_e2e.py::test_npyx_periods_drop_the_last"
                                   "_minutes_and_edge_spikes_whole_keeps_them"),
    "phy_c4/features/acg3d.py": ("tests/test_acg_dense.py", "tests/test_features_reference.py"),
    "phy_c4/features/waveform.py": ("tests/test_features_reference.py",
                                    "tests/test_features_properties.py"),
    "phy_c4/novelty.py": (*(f"tests/test_novelty.py::test_{name}" for name in (
        "interval_features_follow_their_definitions",
        "cerebellar_firing_scores_low_and_cortical_firing_high",
        "a_unit_without_a_waveform_is_scored_from_its_firing",
        "slower_firing_of_the_same_regularity_scores_higher",
        "pipeline_writes_novelty_and_flags_units_above_the_threshold",
        "interval_features_of_a_short_train_equal_the_papers_formulas",
        "trough_to_peak_is_measured_from_the_largest_deflection_on_a_finer_grid",
        "the_shipped_score_is_the_logistic_of_its_standardised_features",
        "a_missing_value_is_scored_as_the_reference_mean_and_only_that_value",
        "unit_features_are_the_interval_features_and_the_width_of_the_waveform_given")),),
    # pipeline.py: classify end to end on the example folder; test_contract.py's other tests
    # share a 35-s module fixture (the surrogate recording) that pins table_features, not this
    "phy_c4/pipeline.py": ("tests/test_pipeline_cli.py",
                           "tests/test_contract.py::test_pipeline_feeds_the_model_what_its_spec"
                           "_says",
                           "tests/test_contract.py::test_a_new_family_plugs_in_without_touching"
                           "_the_pipeline"),
}

HAND_MUTATIONS = (  # issue #26's survivors, applied by hand (some sit in decorated functions)
    ("`model/ensemble.py` `summarise`: `ratio >= threshold` made `>`",
     "tests/test_ensemble.py::test_a_unit_exactly_on_the_threshold_is_classified_and_just_below"
     "_is_not"),
    ("`region.py`: the nucleus check always passes",
     "tests/test_region_nuclei.py::test_labels_naming_the_cerebellum_and_a_nucleus_are_not"
     "_cortex"),
    ("`model/ensemble.py` `novelty`: `1 + disagreement` made `1 - disagreement`",
     "tests/test_ensemble.py::test_members_that_disagree_make_a_unit_more_novel_not_less"),
    ("`features/pairing.py` `PauseTest.confirms` without `p_value < alpha`",
     "tests/test_pairing_significance.py::test_a_deep_pause_after_few_complex_spikes_is_not_a"
     "_pair"),
    ("`atomic.py` `atomic_open` (a context manager): either `os.fsync` removed",
     "tests/test_atomic.py::test_the_file_and_then_its_folder_are_fsynced"),
    ("`plugin/c4plugin.py`: `group = good` written with the results, or with an accepted type",
     "tests/test_plugin_labels.py::test_classify_accept_and_save_leave_every_group_label_as_it"
     "_was"),
    ("`model/ensemble.py`: the temperature dropped from the shipped default's probabilities",
     "tests/test_ensemble.py::test_the_shipped_default_is_temperature_scaled"),
    ("`io/dataset.py` `read_params`: the first assignment of a name wins",
     "tests/test_dataset.py::test_the_last_assignment_of_a_name_wins_as_when_python_runs_the"
     "_file"),
    ("`model/ensemble.py` `summarise`: the first member instead of the members' mean",
     "tests/test_ensemble.py::test_members_that_disagree_are_averaged_not_one_of_them_taken"),
)
"""(mutation, the test that failed under it): kept in the report beside mutmut's results."""

NOT_RUN_BECAUSE: dict[str, str] = {  # modules tried whose run gave no result, and why (report)
    "phy_c4/pipeline.py": "not run yet: its tests classify whole folders (~50 s for the "
                          "selection) and its 690 lines make several hundred mutants (the "
                          "297 of publish.py made 440): hours on 2 cores",
}

DETECTED = ("killed", "timeout", "segfault", "caught by type check")
"""Statuses where a test noticed the mutant (a timeout or a crash fails a run as well)."""


def _slug(module: str) -> str:
    return module.removeprefix("phy_c4/").removesuffix(".py").replace("/", ".")


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _scratch_copy(module: str, tests: tuple[str, ...]) -> Path:
    """A copy of the package, its tests and weights with mutmut's settings for one module."""
    folder = SCRATCH / _slug(module)
    shutil.rmtree(folder, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc")
    for name in ("phy_c4", "tests", "weights"):
        shutil.copytree(ROOT / name, folder / name, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", folder / "pyproject.toml")
    selection = "".join(f"\n    {t}" for t in tests)
    (folder / "setup.cfg").write_text(
        (ROOT / "setup.cfg").read_text() + "\n[mutmut]\nsource_paths = phy_c4\n"
        f"only_mutate = {module}\n"
        f"pytest_add_cli_args_test_selection ={selection}\n"
        "also_copy =\n    weights\n"  # the shipped default bundle, found beside the package
        "pytest_add_cli_args = -p no:cacheprovider\n"
        "process_isolation = forkserver\n"  # torch's thread pools are not fork-safe
        "use_git_change_detection = false\n")
    return folder


_DIFFS = """
import json, sys
from mutmut.__main__ import find_mutant
from mutmut.mutation.diff_apply import get_diff_for_mutant
names = json.loads(sys.stdin.read())
print(json.dumps({n: get_diff_for_mutant(n, path=find_mutant(n).path) for n in names}))
"""
"""Run in a module's scratch folder: the diff of each named mutant, as JSON."""


def _default_sigint() -> None:
    """SIGINT as usual in mutmut and its tests even when this runs as a background job (a shell
    ignores SIGINT in those): tests that send themselves SIGINT expect KeyboardInterrupt, and
    under an ignored SIGINT mutmut's stats run failed on publish.py's Ctrl-C test."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_module(module: str, children: int, timeout_s: float | None) -> dict:
    """Mutate one module against its tests; the statuses and each survivor's diff."""
    from mutmut.stats import status_by_exit_code

    tests = MODULES[module]
    folder = _scratch_copy(module, tests)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.setdefault("PHY_C4_SHARED", str(ROOT.parent / "shared"))
    env["QT_QPA_PLATFORM"] = "offscreen"
    mutmut = [sys.executable, "-m", "mutmut"]
    started = time.time()
    with open(folder / "mutmut.log", "w") as log:
        process = subprocess.Popen([*mutmut, "run", "--max-children", str(children)],
                                   cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True,  # its own group: stopped as one
                                   preexec_fn=_default_sigint)
        try:
            process.wait(timeout=timeout_s)
            interrupted = False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)  # mutmut and the test runs it forked
            process.wait()
            interrupted = True
    meta_path = folder / "mutants" / f"{module}.meta"
    if not meta_path.is_file():
        raise SystemExit(f"{module}: mutmut wrote no results; see {folder / 'mutmut.log'}")
    codes = json.loads(meta_path.read_text())["exit_code_by_key"]
    statuses = {name: status_by_exit_code[code] for name, code in sorted(codes.items())}
    names = [n for n, s in statuses.items() if s not in DETECTED and s != "not checked"]
    diffs = json.loads(subprocess.run(  # one process for all diffs (``mutmut show`` is one each)
        [sys.executable, "-c", _DIFFS], input=json.dumps(names), cwd=folder, env=env, text=True,
        capture_output=True, check=True).stdout)
    survivors = {name: {"status": statuses[name], "diff": diffs[name].strip()} for name in names}
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    return {"tests": list(tests), "commit": _commit(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "minutes": round((time.time() - started) / 60.0, 1), "interrupted": interrupted,
            "counts": counts, "survivors": survivors}


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _checked(entry: dict) -> int:
    """Mutants the run judged (an interrupted run leaves the rest "not checked")."""
    return sum(entry["counts"].values()) - entry["counts"].get("not checked", 0)


def kill_rate(entry: dict) -> float:
    detected = sum(entry["counts"].get(s, 0) for s in DETECTED)
    return detected / _checked(entry) if _checked(entry) else float("nan")


def _tests_text(tests: list[str]) -> str:
    """Test files, with the number of tests chosen where only some of a file's run."""
    files: dict[str, int] = {}
    for test in tests:
        path, _, name = test.partition("::")
        files[path] = files.get(path, 0) + (1 if name else 0)
    return ", ".join(f"`{path}`" + (f" ({n})" if n else "") for path, n in files.items())


def _after_notes(entry: dict, notes: dict) -> tuple[int, int]:
    """(detected, countable) once the notes are read: a survivor a new test kills counts as
    killed, an equivalent one is not counted (no test could kill it)."""
    total = _checked(entry)
    detected = sum(entry["counts"].get(s, 0) for s in DETECTED)
    said = [notes.get(name, "") for name in entry["survivors"]]
    killed_now = sum(note.startswith("killed by") for note in said)
    equivalent = sum(note.startswith("equivalent") for note in said)
    return detected + killed_now, total - equivalent


def write_report() -> None:
    results, notes = _load(RESULTS), _load(NOTES)
    lines = [
        "# Mutation testing",
        "",
        "Written by `scripts/mutation_report.py` (`make mutate`, not in CI) from",
        "`docs/mutation-results.json` and the notes in `scripts/mutation_notes.json`. mutmut 3",
        "mutates one module at a time and runs only that module's own tests (listed below) on",
        "each mutant; functions under a decorator (the numba kernels, properties) are not",
        "mutated by mutmut. Kill rate: mutants a test noticed (failed, timed out or crashed)",
        "over the mutants the run judged; a mutant no selected test reaches counts as surviving.",
        "A run stopped by `--timeout-min` is marked *interrupted*: the mutants it did not reach",
        "are counted under *other* (not checked) and left out of its kill rate.",
        "*With notes*: the same once each survivor's note is read (killed by a test added after",
        "the run, or equivalent and so not counted); the next run of that module measures it.",
        "",
        "| module | mutants | killed | survived | no tests | other | kill rate | with notes "
        "| tests (of a file: how many) | run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for module in MODULES:
        entry = results.get(module)
        if entry is None:
            why = NOT_RUN_BECAUSE.get(module, "")
            lines.append(f"| `{module}` | not run | | | | | | | {_tests_text(MODULES[module])} "
                         f"| {why} |")
            continue
        counts = entry["counts"]
        total = sum(counts.values())
        detected = sum(counts.get(s, 0) for s in DETECTED)
        other = total - detected - counts.get("survived", 0) - counts.get("no tests", 0)
        flag = " (interrupted)" if entry.get("interrupted") else ""
        noted, countable = _after_notes(entry, notes)
        lines.append(
            f"| `{module}` | {total} | {detected} | {counts.get('survived', 0)} | "
            f"{counts.get('no tests', 0)} | {other} | {kill_rate(entry):.0%} | "
            f"{noted / countable if countable else float('nan'):.0%} | "
            f"{_tests_text(entry['tests'])} | {entry['date']}, {entry['commit']}, "
            f"{entry['minutes']} min{flag} |")
    total = sum(_checked(e) for e in results.values())
    detected = sum(sum(e["counts"].get(s, 0) for s in DETECTED) for e in results.values())
    if total:
        pairs = [_after_notes(e, notes) for e in results.values()]
        noted, countable = sum(n for n, _ in pairs), sum(c for _, c in pairs)
        lines += ["", f"All modules run: {detected} of {total} mutants killed "
                  f"({detected / total:.1%}); with notes {noted} of {countable} "
                  f"({noted / countable:.1%})."]
    lines += ["", "## Mutations by hand", "",
              "The survivors issue #26 found by hand, each applied again and its test seen failing "
              "(mutmut leaves functions under a decorator alone, so some cannot be in its run):",
              "", "| mutation | test that fails |", "|---|---|"]
    lines += [f"| {what} | `{test}` |" for what, test in HAND_MUTATIONS]
    lines += ["", "## Surviving mutants", "",
              "Each with the test that now kills it (added after the run; the next run counts "
              "it as killed) or why it is equivalent.", ""]
    unexplained = 0
    for module in MODULES:
        survivors = results.get(module, {}).get("survivors", {})
        if not survivors:
            continue
        lines += [f"### `{module}`", ""]
        for name, survivor in survivors.items():
            note = notes.get(name)
            if note is None:
                unexplained += 1
                note = "**not yet explained**"
            lines += [f"- `{name}` ({survivor['status']}): {note}", "",
                      "  ```diff", *[f"  {line}" for line in survivor["diff"].splitlines()],
                      "  ```", ""]
    if unexplained:
        lines.insert(2, f"**{unexplained} surviving mutants are not yet explained.**\n")
    REPORT.write_text("\n".join(lines).rstrip() + "\n")
    print(f"wrote {REPORT.relative_to(ROOT)} ({unexplained} survivors not yet explained)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="mutate modules and rewrite the report")
    run.add_argument("modules", nargs="*",
                     help="e.g. phy_c4/io/lock.py, io.lock or lock (none: all)")
    run.add_argument("--children", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                     help="mutants tested in parallel")
    run.add_argument("--timeout-min", type=float, default=None,
                     help="stop a module's run after this many minutes (partial results kept)")
    sub.add_parser("report", help="rewrite docs/mutation.md from the stored results")
    args = parser.parse_args(argv)
    if args.command == "run":
        chosen = []
        for name in args.modules or list(MODULES):
            match = [m for m in MODULES if name in (m, _slug(m), _slug(m).split('.')[-1])]
            if not match:
                parser.error(f"unknown module {name!r}; choose from: "
                             + ", ".join(_slug(m) for m in MODULES))
            chosen += match
        for module in chosen:
            print(f"mutating {module} against {', '.join(MODULES[module])} ...", flush=True)
            entry = run_module(module, args.children,
                               None if args.timeout_min is None else args.timeout_min * 60)
            results = _load(RESULTS)
            results[module] = entry
            RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
            print(f"  {entry['counts']} -> kill rate {kill_rate(entry):.0%}, "
                  f"{entry['minutes']} min", flush=True)
    write_report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
