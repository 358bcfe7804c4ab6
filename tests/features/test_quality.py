"""Tests of ``phy_c4.features.quality``: C4's spike-quality filter (npyx `trn_filtered`)."""

from __future__ import annotations

import numpy as np
import pytest

from phy_c4.cli import main
from phy_c4.features import quality
from phy_c4.features.quality import QualitySpec, _percentile_sorted, missed_fraction, quality_filter
from phy_c4.io import open_recording, read_cluster_column
from tests.conftest import (
    _edit_array,
    data_path,
    inputs_changed_on_purpose,
    poisson_train,
)
from tests.quality_reference import missed_fraction_curve_fit, quality_filter_reference


def test_quality_filter_keeps_clean_units_and_says_why_not():
    fs = 30000.0
    times = poisson_train(20, 400, seed=4)
    amplitudes = np.random.default_rng(0).normal(30, 3, times.size)
    good = quality_filter(times, amplitudes, fs)
    assert good.reason == "ok" and good.keep.mean() > 0.9 and good.good_seconds > 180
    short_times = poisson_train(20, 150, seed=5)
    short_amplitudes = np.random.default_rng(1).normal(30, 3, short_times.size)
    short = quality_filter(short_times, short_amplitudes, fs)
    assert short.reason.startswith("only") and not short.keep.any()
    noisy = np.sort(np.concatenate([times, times[::2] + 6]))  # violations at 0.2 ms
    noisy_amp = np.random.default_rng(2).normal(30, 3, noisy.size)
    bad = quality_filter(noisy, noisy_amp, fs)
    assert "false positives" in bad.reason
    truncated = np.random.default_rng(3).normal(30, 8, times.size)
    truncated = np.where(truncated < 32, 32 + np.abs(truncated - 32) * 0.01, truncated)
    assert "missed spikes" in quality_filter(times, truncated, fs).reason
    few = quality_filter(times[:200], amplitudes[:200], fs, spec=QualitySpec())
    assert "too few spikes" in few.reason


def _train(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1 / 20, int(seconds * 25)) + 0.002)
    t = np.unique(np.round(t[t < seconds] * 30000).astype(np.int64))
    return np.unique(np.r_[t, 3_600_000])  # one spike exactly on the 120-s chunk edge


def test_npyx_periods_drop_the_last_minutes_and_edge_spikes_whole_keeps_them():
    times = _train(300)
    amplitudes = np.random.default_rng(1).normal(30, 3, times.size)
    seconds = times / 30000
    npyx = quality_filter(times, amplitudes, 30000.0, spec=QualitySpec(periods="npyx"))
    whole = quality_filter(times, amplitudes, 30000.0, spec=QualitySpec(periods="whole"))
    assert npyx.reason == whole.reason == "ok"
    # floor(300 / 60) = 5 min analysed, the last 30-s window ends at 260 s
    edge = times == 3_600_000
    assert not npyx.keep[seconds > 260].any() and npyx.keep[(seconds < 259) & ~edge].all()
    assert not npyx.keep[edge].any()
    assert whole.keep.all()


def test_periods_are_decided_by_the_model_family_and_checked():
    from phy_c4.pipeline import PipelineOptions, resolve_periods

    options = PipelineOptions()
    assert options.quality.periods == "auto"
    assert resolve_periods(options, "c4_cnn").quality.periods == "npyx"
    assert resolve_periods(options, "c4_tabular").quality.periods == "whole"
    explicit = PipelineOptions(quality=QualitySpec(periods="whole"))
    assert resolve_periods(explicit, "c4_cnn").quality.periods == "whole"
    with pytest.raises(ValueError, match="filter periods"):
        QualitySpec(periods="all")


@pytest.mark.parametrize("q", [1.0, 25.0, 75.0])
def test_percentiles_of_the_filter_equal_numpys_bit_for_bit(q):
    """The 1st percentile is the truncated Gaussian's cut, the quartiles give the
    Freedman-Diaconis bin width; npyx computes both with np.percentile."""
    rng = np.random.default_rng(7)
    for n in [*range(1, 300), 1000, 4097, 12345]:
        x = np.sort(rng.normal(size=n) * 40.0 + 120.0)
        assert _percentile_sorted(x, q) == np.percentile(x, q), (n, q)


def _windows(times_s, amplitudes):
    spec = QualitySpec()
    chunk = np.floor(times_s / spec.chunk_s).astype(int)
    for first in range(max(1, chunk.max() - spec.span_chunks + 2)):
        inside = (chunk >= first) & (chunk < first + spec.span_chunks)
        if inside.sum() > spec.min_window_spikes:
            yield amplitudes[inside]


def _compare(windows):
    ours = np.array([missed_fraction(w) for w in windows])
    reference = np.array([missed_fraction_curve_fit(w) for w in windows])
    assert np.array_equal(np.isnan(ours), np.isnan(reference))
    finite = np.isfinite(ours)
    assert np.array_equal(ours[finite] <= 0.05, reference[finite] <= 0.05)
    return np.abs(ours[finite] - reference[finite])


def test_same_decisions_on_synthetic_windows():
    """Truncated Gaussians of many widths, heights and cuts: |difference| < 1e-3."""
    rng = np.random.default_rng(0)
    windows = []
    for _ in range(200):
        amplitudes = rng.normal(rng.uniform(20, 60), rng.uniform(3, 12), rng.integers(20, 800))
        windows.append(amplitudes[amplitudes > rng.uniform(5, 40)])
    difference = _compare([w for w in windows if w.size > 15])
    assert difference.max() < 1e-3, difference.max()


def test_same_decisions_and_masks_on_a_generated_recording(example_dir):
    recording = open_recording(example_dir)
    units = {}
    for cluster_id in recording.cluster_ids:
        spikes = recording.spikes_of(int(cluster_id))
        units[int(cluster_id)] = (recording.spike_times[spikes], recording.amplitudes[spikes])
    windows = [w for times, amps in units.values()
               for w in _windows(times / recording.fs, amps)]
    assert len(windows) >= 80
    _compare(windows)
    ours = {c: quality_filter(t, a, recording.fs) for c, (t, a) in units.items()}
    reference = {c: quality_filter_reference(t, a, recording.fs) for c, (t, a) in units.items()}
    for cluster_id in units:
        assert ours[cluster_id].reason == reference[cluster_id].reason
        np.testing.assert_array_equal(ours[cluster_id].keep, reference[cluster_id].keep)
    assert any(r.reason == "ok" for r in ours.values())  # the comparison covers kept spikes


@pytest.mark.parametrize("name", ["allen_819701982_probe769", "english_mouse1_180501a"])
def test_same_answer_on_real_phy_folders(name):
    """Their amplitudes are all 1 (no fit possible): both say so (NaN), for every window."""
    recording = open_recording(data_path("phy_real", name))
    for cluster_id in recording.cluster_ids:
        spikes = recording.spikes_of(int(cluster_id))
        windows = list(_windows(recording.spike_times[spikes] / recording.fs,
                                recording.amplitudes[spikes]))
        assert all(np.isnan(missed_fraction(w)) and np.isnan(missed_fraction_curve_fit(w))
                   for w in windows[:20])


def test_the_fit_releases_the_gil():
    assert quality.missed_fraction.targetoptions.get("nogil") is True


FS = 30000.0


PERIODS = ("npyx", "whole")


def _amplitudes(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(30, 3, n)


def _truncated_amplitudes(n: int, seed: int = 3) -> np.ndarray:
    """Amplitudes cut at 32 (a detection threshold above the mean): a missed-spike failure."""
    amplitudes = np.random.default_rng(seed).normal(30, 8, n)
    return np.where(amplitudes < 32, 32 + np.abs(amplitudes - 32) * 0.01, amplitudes)


def _one_window_train() -> np.ndarray:
    """Dense spikes in the first 10 s and one at 61 s: one window has enough spikes."""
    return np.r_[poisson_train(45, 10, seed=1), int(61 * FS)]


def _two_window_train() -> np.ndarray:
    """Dense spikes in [0, 40 s) and one at 61 s: exactly two windows pass in both periods."""
    return np.r_[poisson_train(12, 40, seed=2), int(61 * FS)]


def _assert_refused(result, n: int, reason: str, good_seconds: float = 0.0) -> None:
    assert result.reason == reason
    assert result.keep.dtype == bool and result.keep.shape == (n,) and not result.keep.any()
    assert result.good_seconds == good_seconds


def test_whole_periods_keep_what_phy_c4_0_1s_window_loop_keeps(example_dir):
    recording = open_recording(example_dir)
    reasons = set()
    for cluster_id in recording.cluster_ids:
        spikes = recording.spikes_of(int(cluster_id))
        times, amplitudes = recording.spike_times[spikes], recording.amplitudes[spikes]
        ours = quality_filter(times, amplitudes, recording.fs, spec=QualitySpec(periods="whole"))
        reference = quality_filter_reference(times, amplitudes, recording.fs)
        assert ours.reason == reference.reason
        assert ours.good_seconds == reference.good_seconds
        np.testing.assert_array_equal(ours.keep, reference.keep)
        reasons.add(ours.reason.split()[0])
    assert {"ok", "only"} <= reasons  # kept units and a unit with too little good data


@pytest.mark.parametrize("periods", PERIODS)
def test_a_unit_with_one_passing_window_is_refused(periods):
    times = _one_window_train()
    result = quality_filter(times, _amplitudes(times.size), FS, spec=QualitySpec(periods=periods))
    _assert_refused(result, times.size,
                    "too much refractory violations (false positives) in every window")


@pytest.mark.parametrize("periods", PERIODS)
def test_two_passing_windows_are_enough_but_40_s_of_good_data_is_not(periods):
    times = _two_window_train()
    result = quality_filter(times, _amplitudes(times.size), FS, spec=QualitySpec(periods=periods))
    assert 39 < result.good_seconds < 40
    _assert_refused(result, times.size, "only 40 s of good data (needs > 180 s)",
                    result.good_seconds)


@pytest.mark.parametrize("periods", PERIODS)
def test_clean_spikes_with_truncated_amplitudes_are_refused_for_missed_spikes(periods):
    times = _two_window_train()
    result = quality_filter(times, _truncated_amplitudes(times.size), FS,
                            spec=QualitySpec(periods=periods))
    _assert_refused(result, times.size, "too much missed spikes (false negatives) in every window")


@pytest.mark.parametrize("periods", PERIODS)
def test_good_data_must_last_longer_than_min_good_s(periods):
    times = _two_window_train()
    amplitudes = _amplitudes(times.size)
    seconds = quality_filter(times, amplitudes, FS, spec=QualitySpec(periods=periods)).good_seconds
    exactly = quality_filter(times, amplitudes, FS,
                             spec=QualitySpec(periods=periods, min_good_s=seconds))
    _assert_refused(exactly, times.size, "only 40 s of good data (needs > 40 s)", seconds)
    longer = quality_filter(times, amplitudes, FS,
                            spec=QualitySpec(periods=periods, min_good_s=seconds - 1e-6))
    assert longer.reason == "ok" and longer.good_seconds == seconds
    in_the_windows = times / FS < 40
    assert longer.keep.dtype == bool and not longer.keep[~in_the_windows].any()
    assert longer.keep[in_the_windows].mean() > 0.99  # npyx drops spikes on chunk edges only


@pytest.mark.parametrize("periods", PERIODS)
def test_exactly_min_spikes_is_too_few(periods):
    times = poisson_train(20, 100, seed=6)[:300]
    result = quality_filter(times, _amplitudes(300), FS, spec=QualitySpec(periods=periods))
    _assert_refused(result, 300, "too few spikes for the quality filter (300 <= 300)")


@pytest.mark.parametrize("periods", PERIODS)
def test_one_amplitude_per_spike_is_required(periods):
    times = poisson_train(20, 100, seed=6)
    for amplitudes in (None, _amplitudes(times.size - 1)):
        with pytest.raises(ValueError, match=r"^quality filter needs one amplitude per spike$"):
            quality_filter(times, amplitudes, FS, spec=QualitySpec(periods=periods))


@pytest.mark.parametrize("periods", PERIODS)
def test_integer_amplitudes_are_filtered_as_floats(periods):
    times = poisson_train(20, 400, seed=4)
    amplitudes = np.round(_amplitudes(times.size)).astype(np.int64)
    spec = QualitySpec(periods=periods)
    ints = quality_filter(times, amplitudes, FS, spec=spec)
    floats = quality_filter(times, amplitudes.astype(np.float64), FS, spec=spec)
    assert ints.reason == floats.reason == "ok" and ints.good_seconds == floats.good_seconds
    np.testing.assert_array_equal(ints.keep, floats.keep)


@pytest.mark.parametrize("periods", PERIODS)
def test_an_interval_just_under_the_refractory_period_is_a_violation(periods):
    fs = 2_000_000.0  # 1599 samples = 0.7995 ms, 1601 = 0.8005 ms
    clean = poisson_train(20, 400, fs=fs, seed=4)
    for gap, reason in ((1599, "too much refractory violations (false positives) in every "
                               "window"), (1601, "ok")):
        times = np.unique(np.r_[clean, clean[::20] + gap])
        result = quality_filter(times, _amplitudes(times.size), fs,
                                spec=QualitySpec(periods=periods))
        assert result.reason == reason, gap


@pytest.mark.parametrize("periods", PERIODS)
def test_spikes_at_one_instant_have_no_rate_and_no_passing_window(periods):
    times = np.full(400, int(61 * FS))
    result = quality_filter(times, _amplitudes(400), FS, spec=QualitySpec(periods=periods))
    _assert_refused(result, 400, "too much refractory violations (false positives) in every "
                                 "window")


@pytest.mark.parametrize("periods", PERIODS)
def test_regular_intervals_all_count_in_the_rate(periods):
    """Every interval equal: none is above the 99.5 % quantile, so none is dropped."""
    times = np.arange(2400) * 3750  # 0.125 s apart, exactly
    result = quality_filter(times, _amplitudes(times.size), FS, spec=QualitySpec(periods=periods))
    assert result.reason == "ok" and result.keep.mean() > 0.8


def test_a_spike_exactly_on_a_chunk_boundary_starts_the_next_chunk():
    """Chunks are [t1, t2): the spike at 60.0 s is alone in chunk 6, which no window passes."""
    times = np.r_[poisson_train(12, 40, seed=2), poisson_train(1, 10, seed=3, start_s=40)[:10],
                  int(60 * FS)]
    result = quality_filter(times, _amplitudes(times.size), FS,
                            spec=QualitySpec(periods="whole", min_good_s=10))
    assert result.reason == "ok"
    assert result.keep[:-1].all() and not result.keep[-1]


def test_npyx_periods_need_a_whole_minute_before_the_last_spike():
    times = np.r_[poisson_train(20, 50, seed=7), int(59.4 * FS)]
    result = quality_filter(times, _amplitudes(times.size), FS, spec=QualitySpec(periods="npyx"))
    _assert_refused(result, times.size,
                    "no whole minute before the last spike (59 s) to analyse")


def test_npyx_periods_with_one_window_refuse_for_its_violations_not_for_the_period():
    """60-s chunks: 100 s of spikes analyse one 180-s window, and one window is not enough."""
    times = poisson_train(20, 100, seed=8)
    result = quality_filter(times, _amplitudes(times.size), FS,
                            spec=QualitySpec(periods="npyx", chunk_s=60.0))
    _assert_refused(result, times.size,
                    "too much refractory violations (false positives) in every window")


def test_kept_seconds_add_up_the_runs_of_consecutive_kept_spikes():
    times = np.array([0.0, 1.0, 2.0, 5.0, 7.0, 8.0, 9.5])
    keep = np.array([True, True, True, False, True, True, False])
    assert quality._kept_seconds(times, keep) == 3.0  # (2 - 0) + (8 - 7)
    assert quality._kept_seconds(times, np.zeros(7, bool)) == 0.0
    assert quality._kept_seconds(times, np.eye(7, dtype=bool)[3]) == 0.0  # one spike: no span


def test_the_robust_rate_drops_only_intervals_above_the_995th_percentile():
    regular = np.arange(1000) * 0.125
    assert quality._robust_mean_rate(regular) == 8.0
    assert quality._robust_mean_rate(np.r_[regular, regular[-1] + 10.0]) == 8.0
    assert quality._robust_mean_rate(np.array([3.0])) == 0.0
    assert quality._robust_mean_rate(np.array([3.0, 3.0])) == 0.0  # no time between spikes


def test_unknown_periods_are_refused_naming_the_choices():
    with pytest.raises(ValueError) as error:
        QualitySpec(periods="all")
    assert str(error.value) == "filter periods must be one of auto, npyx, whole, got 'all'"


def test_npyx_windows_count_violations_after_their_start_spike_only():
    """npyx's refractory count is over (t1, t2): a violating pair that starts exactly at 10 s
    does not spoil the window starting there, which keeps the chunk [10 s, 20 s) good."""
    times = poisson_train(20, 300, seed=11, refractory_s=0.002)
    times = times[np.abs(times - 300_000) > 60]
    times = np.sort(np.r_[times, 300_000, 300_015])  # 10 s and 0.5 ms later
    result = quality_filter(times, _amplitudes(times.size), FS,
                            spec=QualitySpec(periods="npyx", fp_threshold=0.0))
    seconds = times / FS
    assert result.reason == "ok"
    assert not result.keep[seconds < 10].any()  # the window from 0 s sees the pair
    assert result.keep[(seconds > 10) & (seconds < 20)].all()


def test_npyx_windows_use_the_train_rate_rounded_to_a_hundredth_of_a_hz():
    """The rate here is 20.177 Hz, which npyx rounds to 20.18. With the threshold set to the
    contamination of the window from 50 s computed with 20.18 Hz, that window passes (with
    the rate unrounded, or rounded otherwise, it would not, and one window is not enough)."""
    rng = np.random.default_rng(8)
    times = poisson_train(20, 125, seed=8)
    times = np.unique(np.r_[times, times[rng.random(times.size) < 0.01] + 15])  # 0.5 ms
    seconds = times / FS
    isis = np.diff(seconds)
    rate = 1.0 / isis[isis <= np.quantile(isis, 0.995)].mean()
    assert round(rate, 2) == 20.18 and round(rate, 3) == 20.177 and round(rate) == 20
    window = seconds[(seconds > 50) & (seconds < 80)]
    violations = int(np.sum(np.diff(window) < 0.0008))
    threshold = violations / (2 * window.size * 0.0008) / 20.18
    result = quality_filter(times, _amplitudes(times.size), FS,
                            spec=QualitySpec(periods="npyx", fp_threshold=threshold, min_good_s=10))
    assert result.reason == "ok"
    assert result.keep[(seconds > 50) & (seconds < 80)].all()
    assert not result.keep[(seconds > 30) & (seconds < 50)].any()


@pytest.mark.parametrize("periods", PERIODS)
def test_one_window_clean_of_violations_is_not_enough_even_when_two_fit_well(periods):
    """Violations in [30 s, 40 s) spoil every window but the first, whose amplitudes and the
    next disjoint window's both fit: one false-positive window, two false-negative ones."""
    times = _two_window_train()
    late = (times / FS >= 30) & (times / FS < 40)
    times = np.unique(np.r_[times, times[late] + 6])  # 0.2 ms
    result = quality_filter(times, _amplitudes(times.size), FS, spec=QualitySpec(periods=periods))
    _assert_refused(result, times.size,
                    "too much refractory violations (false positives) in every window")


@pytest.mark.parametrize("periods", PERIODS)
def test_one_window_that_fits_is_not_enough_even_when_two_are_clean(periods):
    """Dense good spikes in [0, 10 s), a few to 30 s, then 10 s of half-Gaussian amplitudes
    (half the spikes missed): the first two disjoint windows are clean, only the first fits."""
    good = np.r_[poisson_train(40, 10, seed=1), poisson_train(0.5, 20, seed=2, start_s=10)]
    bad = poisson_train(50, 10, seed=3, start_s=30)
    times = np.r_[good, bad, int(61 * FS)]
    amplitudes = np.r_[_amplitudes(good.size),
                       30 + np.abs(np.random.default_rng(3).normal(0, 8, bad.size)), 30.0]
    result = quality_filter(times, amplitudes, FS, spec=QualitySpec(periods=periods))
    _assert_refused(result, times.size, "too much missed spikes (false negatives) in every window")


def test_whole_periods_end_with_the_chunk_of_the_last_spike():
    """Spikes in [50 s, 59.5 s) lie in chunks 5 and 6 of 6: one window ([30 s, 60 s)) has
    them, and no window reaches past the last chunk to count a second."""
    times = poisson_train(40, 9.5, seed=3, start_s=50)
    assert 59 < times[-1] / FS < 60
    result = quality_filter(times, _amplitudes(times.size), FS, spec=QualitySpec(periods="whole"))
    _assert_refused(result, times.size,
                    "too much refractory violations (false positives) in every window")


def test_npyx_periods_are_whole_minutes_of_60_s():
    """A last spike at 60.5 s leaves one whole minute; at 625 s, ten, analysed to 620 s."""
    times = np.r_[poisson_train(20, 40, seed=4), int(60.5 * FS)]
    result = quality_filter(times, _amplitudes(times.size), FS,
                            spec=QualitySpec(periods="npyx", min_good_s=10))
    assert result.reason == "ok"
    times = np.r_[poisson_train(20, 624, seed=4), int(625 * FS)]
    result = quality_filter(times, _amplitudes(times.size), FS, spec=QualitySpec(periods="npyx"))
    seconds = times / FS
    assert result.reason == "ok" and result.keep[(seconds > 590) & (seconds < 619)].all()
    assert not result.keep[seconds > 620].any()


@pytest.mark.parametrize("periods", PERIODS)
def test_spikes_at_one_instant_pass_no_threshold(periods):
    times = np.full(400, int(61 * FS))
    result = quality_filter(times, _amplitudes(400), FS,
                            spec=QualitySpec(periods=periods, fp_threshold=1e6))
    _assert_refused(result, 400, "too much refractory violations (false positives) in every "
                                 "window")


@pytest.mark.parametrize("periods", PERIODS)
def test_float32_spike_samples_are_divided_in_float64(periods):
    """Late in a recording float32 seconds are 61 us apart: pairs 0.83 ms apart would turn
    into violations there (the samples themselves are exact in float32 below 2**24)."""
    clean = poisson_train(20, 555, seed=5, refractory_s=0.002)
    times = np.unique(np.r_[clean, clean[::20] + 25])  # 25 samples = 0.833 ms
    assert times[-1] < 2**24
    amplitudes = _amplitudes(times.size)
    spec = QualitySpec(periods=periods)
    exact = quality_filter(times, amplitudes, FS, spec=spec)
    single = quality_filter(times.astype(np.float32), amplitudes, FS, spec=spec)
    assert exact.reason == single.reason == "ok" and exact.good_seconds == single.good_seconds
    assert exact.keep[times / FS > 520].all()
    np.testing.assert_array_equal(single.keep, exact.keep)


def test_float32_amplitudes_are_fitted_in_float64():
    """Phy's amplitudes.npy is often float32; the fit runs on float64 (as npyx's does), so no
    float32 version of the window kernels is ever compiled."""
    times = poisson_train(20, 100, seed=6)
    amplitudes = _amplitudes(times.size).astype(np.float32)
    for periods in PERIODS:
        quality_filter(times, amplitudes, FS, spec=QualitySpec(periods=periods))
    for kernel in (quality._window_decisions, quality._npyx_window_decisions):
        assert kernel.signatures and all(str(signature[1].dtype) == "float64"
                                         for signature in kernel.signatures), kernel.signatures


def test_constant_amplitudes_skip_the_filter_and_say_why(example_copy, capsys):
    _edit_array(example_copy, "amplitudes.npy", np.ones_like)
    inputs_changed_on_purpose(example_copy)
    assert main(["classify", str(example_copy), "--quiet", "--threshold", "1"]) == 0
    assert "quality filter skipped: amplitudes.npy is constant" in capsys.readouterr().err
    statuses = read_cluster_column(example_copy / "cluster_c4_status.tsv")
    assert all("quality filter skipped" in s for s in statuses.values()), statuses


def test_the_api_refuses_quality_settings_out_of_range():
    from phy_c4.features.quality import QualitySpec
    from phy_c4.pipeline import PipelineOptions

    with pytest.raises(ValueError, match="fp_threshold"):
        PipelineOptions(quality=QualitySpec(fp_threshold=float("nan")))
    with pytest.raises(ValueError, match="min_good_s"):
        PipelineOptions(quality=QualitySpec(min_good_s=-5))
