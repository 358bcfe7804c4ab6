"""Mutation testing of the modules users depend on most (``make mutate``; not in CI: too slow).

Each module is mutated by mutmut 3 against its own fast tests only (``MODULES``), in a scratch
copy of the package (``build/mutation/<module>``), so one run fits in minutes and a mutant is
judged by the tests that claim to pin that module. Results are kept per module in
``docs/mutation-results.json``; ``docs/mutation.md`` is written from them and from
``scripts/mutation_notes.json``, which says for each surviving mutant either the test that now
kills it or why it is equivalent (changes no behaviour anyone can observe).

    python scripts/mutation_report.py run [MODULE ...]   # all of MODULES by default
    python scripts/mutation_report.py report             # rewrite docs/mutation.md only

Needs the ``mutate`` extra (``pip install -e .[mutate]``). The tests need nothing outside the
repository (their data is in tests/data).
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

def _in(test_file: str, *names: str) -> tuple[str, ...]:
    """Node ids of some tests of one file (names without ``test_``): a module's fast tests."""
    return tuple(f"{test_file}::test_{name}" for name in names)


_SUMMARY_TESTS = _in("tests/model/test_ensemble.py",  # how probabilities become types: both
        "a_unit_exactly_on_the_threshold_is_classified_and_just_below_is_not",
        "members_that_disagree_are_averaged_not_one_of_them_taken",
        "the_shipped_default_averages_its_members_probabilities",
        "the_shipped_default_is_temperature_scaled",
        "members_that_disagree_make_a_unit_more_novel_not_less",
        "the_model_feature_space_is_the_members_mean_last_layer_input",
        "no_units_give_an_empty_prediction_typed_like_a_full_one",
        "a_tie_for_the_top_goes_to_the_first_label_in_the_bundles_order",
        "the_feature_space_needs_no_calibration_and_predict_inputs_keeps_its_defaults",
        "ratios_when_there_is_no_second_class_or_its_probability_is_zero",
        "units_in_many_chunks_give_what_one_chunk_gives",
        "summary_definitions")
"""The ensemble's summary tests: they pin status.py's kinds as much as ensemble.py."""


MODULES: dict[str, tuple[str, ...]] = {  # module -> its own fast tests; small modules first
    "phy_c4/atomic.py": ("tests/test_atomic.py",),
    "phy_c4/io/lock.py": ("tests/io/test_lock.py", *_in("tests/io/test_publish.py",
        "check_and_write_are_one_step")),
    "phy_c4/region.py": (*_in("tests/test_region.py", "cerebellar_cortex_names",
        "the_gate_prefers_cluster_region_then_channel_then_depth",
        "labels_naming_the_cerebellum_and_a_nucleus_are_not_cortex",
        "labels_naming_the_cerebellar_cortex_are_cortex",
        "a_nucleus_is_outside_however_the_gate_learns_it",
        "names_the_user_adds_count_as_cortex_in_any_case_and_only_those",
        "the_reason_names_where_the_place_came_from", "both_ends_of_the_depth_range_are_inside",
        "depth_is_used_only_with_a_range_and_a_channel_on_the_probe",
        "an_empty_depth_range_is_refused", "the_run_manifest_records_the_gate"),),
    "phy_c4/status.py": ("tests/test_status.py", *_SUMMARY_TESTS,
                         *_in("tests/test_curation.py",
                              "reject_takes_the_unit_out_of_the_confident_set")),
    "phy_c4/curation.py": (*_in("tests/test_curation.py", "signature_says_who_and_when_in_utc",
        "set_type_source_defaults_to_accepted_only_for_the_confident_prediction",
        "reject_takes_the_unit_out_of_the_confident_set",
        "review_queue_order_disagreements_then_low_ratio_then_novelty",
        "a_rejection_records_who_and_which_type_in_the_status",
        "refused_decisions_say_why_and_what_is_allowed",
        "a_signature_is_in_utc_whatever_the_local_zone",
        "a_signature_without_a_login_name_says_unknown",
        "missing_or_nan_novelty_counts_as_zero_in_the_queue",
        "previous_from_outside_the_queue_is_its_last_unit"),),
    "phy_c4/features/pairing.py": (*_in("tests/features/test_pairing.py",
        "three_window_sweep_counts_what_searchsorted_counts", "window_sweep_on_long_trains",
        "pause_test_takes_unsorted_spike_times", "pause_test_on_independent_trains",
        "a_deep_pause_after_few_complex_spikes_is_not_a_pair",
        "confirmation_needs_each_of_its_four_conditions",
        "pairs_are_the_most_significant_pausing_neighbour_within_reach", "the_windows_in_samples",
        "the_expected_count_and_p_value_are_poissons",
        "a_small_expected_count_is_kept_and_none_gives_p_one",
        "trains_out_of_order_anywhere_are_sorted", "confirmation_thresholds_are_strict",
        "firing_kind_thresholds_are_strict_and_a_fast_irregular_unit_is_neither",
        "the_onset_needs_an_expected_count_above_zero_not_above_one",
        "merged_trains_too_large_for_one_key_are_argsorted_stably",
        "merged_complex_spikes_are_a_stable_argsort_of_the_concatenated_trains"),),
    "phy_c4/model/ensemble.py": (*_SUMMARY_TESTS, *_in("tests/model/test_ensemble.py",
        "every_layer_alias_is_its_one_hot_row",
        "no_layer_is_unknown_and_a_one_hot_table_passes_through",
        "bad_layers_are_refused_with_what_was_expected",
        "rows_are_scaled_positive_lags_then_waveform_then_layer",
        "float32_features_are_scaled_in_double_precision",
        "bad_features_are_refused_with_the_shapes_expected", "mean_knn_distances",
        "novelty_uses_five_neighbours_and_is_nan_without_what_it_needs",
        "each_unit_gets_its_own_members_disagreement",
        "predict_from_features_equals_npyx_layout", "layer_rules",
        "predict_defaults_to_ratio_2_and_the_bundles_calibration_and_obeys_each_setting",
        "npyx_rows_become_float32_inputs_and_rows_of_another_width_are_refused"),
        "tests/model/test_stacked.py"),
    "phy_c4/model/laplace.py": (*_in("tests/model/test_bundle.py",
        "saved_bundle_reloads_identically"), "tests/model/test_laplace.py",
        *_in("tests/test_weights.py", "shapes_decide_classes_and_layer")),
    "phy_c4/io/publish.py": (*_in("tests/io/test_publish.py",
        "partial_runs_keep_the_other_clusters_rows",
        "overwrite_backs_up_the_whole_set_uniquely_and_drops_stale_figures",
        "result_files_get_ordinary_permissions", "check_and_write_are_one_step",
        "a_crash_at_any_step_of_the_commit_is_completed_by_the_next_run",
        "ctrl_c_during_the_commit_waits_for_it",
        "results_never_touch_other_files_and_refuse_to_overwrite",
        "a_damaged_journal_is_set_aside_and_never_blocks", "a_damaged_staging_area_never_blocks",
        "phy_c4_state_on_another_file_system",
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
        "a_retired_file_deleted_by_hand_after_a_kill_is_no_obstacle"),),
    "phy_c4/plugin/labels.py": (*_in("tests/plugin/test_labels.py",
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
        "a_table_without_a_scroll_bar_is_refreshed_and_re_sorted_all_the_same"),),
    "phy_c4/features/table_features.py": (*_in("tests/features/test_table_features.py",
        "acg_bins_are_whole_ms_rounded_up_in_samples", "acg_width_and_bin_come_from_the_spec",
        "two_spikes_make_an_acg_and_one_does_not", "acg_checks_its_inputs",
        "an_interval_of_a_whole_number_of_ms_lands_in_its_own_bin",
        "intervals_of_100_ms_or_more_are_not_counted", "isi_bins_and_count_come_from_the_spec",
        "isi_needs_two_spikes_unless_told_otherwise",
        "the_window_is_1_ms_before_and_1_5_ms_after_the_largest_peak",
        "a_positive_peak_is_flipped_to_minus_one",
        "samples_outside_the_input_repeat_its_edge_values",
        "a_given_peak_index_is_used_instead_of_the_largest",
        "other_rates_are_interpolated_onto_30_khz_around_the_peak",
        "table_waveform_refuses_what_it_cannot_window", "five_samples_are_enough_for_a_window",
        "acg_rows_become_positive_lags_over_their_maximum",
        "isi_rows_become_square_rooted_probabilities_over_their_maximum",
        "a_modality_is_present_when_finite_and_not_all_zero",
        "model_rows_are_waveform_then_normalised_acg_and_isi_then_flags",
        "a_missing_modality_is_zeroed_with_its_flag",
        "a_modality_the_model_was_not_trained_on_is_hidden",
        "rows_of_the_wrong_width_are_refused_naming_the_modality",
        "a_bin_that_is_not_a_whole_number_of_samples_rounds_up",
        "a_largest_peak_on_the_first_sample_is_windowed",
        "other_rates_are_the_input_interpolated_at_30_khz_from_its_peak",
        "float32_waveforms_give_float64_windows", "normalisation_takes_integer_counts",
        "rows_of_fractions_are_normalised_like_counts", "each_isi_row_is_normalised_on_its_own",
        "an_empty_isi_row_is_normalised_silently_to_zeros",
        "a_table_of_isi_rows_is_normalised_as_each_row_alone", "acg_1d_has_the_tables_conventions",
        "isi_histogram_has_the_tables_conventions", "table_waveform_alignment_and_scale"),),
    "phy_c4/features/quality.py": (*_in("tests/features/test_quality.py",
        "same_decisions_on_synthetic_windows", "same_decisions_and_masks_on_a_generated_recording",
        "same_answer_on_real_phy_folders", "the_fit_releases_the_gil",
        "whole_periods_keep_what_phy_c4_0_1s_window_loop_keeps",
        "a_unit_with_one_passing_window_is_refused",
        "two_passing_windows_are_enough_but_40_s_of_good_data_is_not",
        "clean_spikes_with_truncated_amplitudes_are_refused_for_missed_spikes",
        "good_data_must_last_longer_than_min_good_s", "exactly_min_spikes_is_too_few",
        "one_amplitude_per_spike_is_required", "integer_amplitudes_are_filtered_as_floats",
        "an_interval_just_under_the_refractory_period_is_a_violation",
        "spikes_at_one_instant_have_no_rate_and_no_passing_window",
        "regular_intervals_all_count_in_the_rate",
        "a_spike_exactly_on_a_chunk_boundary_starts_the_next_chunk",
        "npyx_periods_need_a_whole_minute_before_the_last_spike",
        "npyx_periods_with_one_window_refuse_for_its_violations_not_for_the_period",
        "kept_seconds_add_up_the_runs_of_consecutive_kept_spikes",
        "the_robust_rate_drops_only_intervals_above_the_995th_percentile",
        "unknown_periods_are_refused_naming_the_choices",
        "npyx_windows_count_violations_after_their_start_spike_only",
        "npyx_windows_use_the_train_rate_rounded_to_a_hundredth_of_a_hz",
        "one_window_clean_of_violations_is_not_enough_even_when_two_fit_well",
        "one_window_that_fits_is_not_enough_even_when_two_are_clean",
        "whole_periods_end_with_the_chunk_of_the_last_spike",
        "npyx_periods_are_whole_minutes_of_60_s", "spikes_at_one_instant_pass_no_threshold",
        "float32_spike_samples_are_divided_in_float64", "float32_amplitudes_are_fitted_in_float64",
        "quality_filter_keeps_clean_units_and_says_why_not",
        "npyx_periods_drop_the_last_minutes_and_edge_spikes_whole_keeps_them"),),
    "phy_c4/features/acg3d.py": ("tests/features/test_acg3d.py",
                                 *_in("tests/features/test_acglog.py",
                                      "log_conversion_alone_equals_npyx")),
    "phy_c4/features/waveform.py": ("tests/features/test_waveform.py",),
    "phy_c4/novelty.py": ("tests/test_novelty.py",),
    "phy_c4/pipeline.py": (*_in("tests/test_cache.py", "cache_follows_the_spikes_not_the_ids"),
        *_in("tests/test_cli.py", "cli_writes_columns_and_summary",
        "cli_one_bad_recording_does_not_stop_the_others", "cli_usage_errors", "dask_local_cluster",
        "demo_runs_the_main_job_with_the_shipped_default_weights"), *_in("tests/test_pipeline.py",
        "every_unit_gets_a_row_and_the_table_is_deterministic", "statuses_of_unclassifiable_units",
        "low_threshold_classifies_what_high_threshold_does_not", "cancel_stops_between_units",
        "layer_input_from_cli_file_and_folder", "pipeline_feeds_the_model_what_its_spec_says"),
        "tests/families/test_base.py"),
}

HAND_MUTATIONS = (  # issue #26's survivors, applied by hand (some sit in decorated functions)
    ('`model/ensemble.py` `summarise`: `ratio >= threshold` made `>`',
     _in("tests/model/test_ensemble.py",
         "a_unit_exactly_on_the_threshold_is_classified_and_just_below_is_not")[0]),
    ('`region.py`: the nucleus check always passes',
     _in("tests/test_region.py",
         "labels_naming_the_cerebellum_and_a_nucleus_are_not_cortex")[0]),
    ('`model/ensemble.py` `novelty`: `1 + disagreement` made `1 - disagreement`',
     _in("tests/model/test_ensemble.py",
         "members_that_disagree_make_a_unit_more_novel_not_less")[0]),
    ('`features/pairing.py` `PauseTest.confirms` without `p_value < alpha`',
     _in("tests/features/test_pairing.py",
         "a_deep_pause_after_few_complex_spikes_is_not_a_pair")[0]),
    ('`atomic.py` `atomic_open` (a context manager): either `os.fsync` removed',
     _in("tests/test_atomic.py",
         "the_file_and_then_its_folder_are_fsynced")[0]),
    ('`plugin/c4plugin.py`: `group = good` written with the results, or with an accepted type',
     _in("tests/plugin/test_labels.py",
         "classify_accept_and_save_leave_every_group_label_as_it_was")[0]),
    ("`model/ensemble.py`: the temperature dropped from the shipped default's probabilities",
     _in("tests/model/test_ensemble.py",
         "the_shipped_default_is_temperature_scaled")[0]),
    ('`io/dataset.py` `read_params`: the first assignment of a name wins',
     _in("tests/io/test_dataset.py",
         "the_last_assignment_of_a_name_wins_as_when_python_runs_the_file")[0]),
    ("`model/ensemble.py` `summarise`: the first member instead of the members' mean",
     _in("tests/model/test_ensemble.py",
         "members_that_disagree_are_averaged_not_one_of_them_taken")[0]),
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
