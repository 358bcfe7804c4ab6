"""Tests of ``phy_c4.features.table_features``: the C4-database table features and their
normalisation.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from phy_c4.config import Acg1dSpec, IsiSpec, TableFeatureSpec
from phy_c4.features.table_features import (
    acg_1d,
    isi_histogram,
    model_rows,
    normalise_acg,
    normalise_isi,
    presence,
    table_waveform,
)
from phy_c4.features.validation import TooFewSpikesError
from phy_c4.model import predict_inputs
from phy_c4.status import Status, status_of
from tests.conftest import data_path, poisson_train


def _inputs(surrogate, name):
    return np.stack([surrogate["result"].features[u].inputs[name]
                     for u in range(len(surrogate["labels"]))])


def test_enough_faithful_units(surrogate):
    assert surrogate["faithful"].sum() >= 300, surrogate["faithful"].sum()
    assert all(status_of(s) == Status.OK for s in surrogate["result"].table["c4_status"])


def test_isi_from_spikes_matches_the_rows(surrogate):
    """1-ms bins over 0-100 ms: with 2-ms bins over 0-200 ms every correlation drops (< 0.9)."""
    ours = _inputs(surrogate, "isi")
    faithful = surrogate["faithful"]
    corr = np.array([np.corrcoef(o, row)[0, 1] for o, row in zip(ours, surrogate["isi"],
                                                                 strict=True)])
    assert corr[faithful].min() >= 0.99, np.sort(corr[faithful])[:5]


def test_acg_short_lags_from_spikes_match_the_rows(surrogate):
    ours = _inputs(surrogate, "acg_1d")
    assert ours.shape[1] == 201 and np.all(ours[:, 100] == 0)
    faithful = surrogate["faithful"]
    corr = np.array([np.corrcoef(o[101:121], row[101:121])[0, 1]
                     for o, row in zip(ours, surrogate["acg"], strict=True)])
    assert np.median(corr[faithful]) >= 0.98 and np.quantile(corr[faithful], 0.1) >= 0.9


def test_predictions_from_spike_trains_agree_with_predictions_from_rows(surrogate):
    """Measured: 97 % agreement and balanced accuracy 0.95 with the tables' ISI convention;
    84 % and 0.80 with 2-ms ISI bins."""
    bundle, faithful = surrogate["bundle"], surrogate["faithful"]
    rows = model_rows(surrogate["waves"], surrogate["acg"], surrogate["isi"], spec=bundle.spec)
    from_rows = predict_inputs(bundle, torch.from_numpy(rows), threshold=1.0).predicted
    table = surrogate["result"].table.set_index("cluster_id")
    from_spikes = table.loc[np.arange(len(from_rows)), "c4_type"].to_numpy()
    agreement = np.mean(from_spikes[faithful] == from_rows[faithful])
    assert agreement >= 0.93, agreement
    labels = surrogate["labels"]
    scored = faithful & np.isin(labels, bundle.labels)
    present = [c for c in bundle.labels if (scored & (labels == c)).sum() >= 5]
    assert len(present) >= 4  # complex spikes (low rates) are rarely faithful
    recalls = [np.mean(from_spikes[scored & (labels == c)] == c) for c in present]
    assert np.mean(recalls) >= 0.9, dict(zip(present, recalls, strict=True))


def _brute_acg(times: np.ndarray, samples_per_bin: int, half: int) -> np.ndarray:
    bins = times // samples_per_bin
    diffs = bins[None, :] - bins[:, None]
    counts = np.array([np.sum(diffs == lag) for lag in range(-half, half + 1)], dtype=float)
    counts[half] = 0
    return counts


def test_acg_bins_are_whole_ms_rounded_up_in_samples():
    """At 32.5 kHz a 1-ms bin is ceil(32.5) = 33 samples."""
    times = poisson_train(40, 20, fs=32500.0, seed=1)
    np.testing.assert_array_equal(acg_1d(times, 32500.0), _brute_acg(times, 33, 100))


def test_acg_width_and_bin_come_from_the_spec():
    spec = TableFeatureSpec(acg=Acg1dSpec(half_width_ms=20, bin_ms=2.0))
    times = poisson_train(40, 20, seed=1)
    counts = acg_1d(times, 30000.0, spec)
    assert counts.shape == (41,)
    np.testing.assert_array_equal(counts, _brute_acg(times, 60, 20))


def test_two_spikes_make_an_acg_and_one_does_not():
    counts = acg_1d(np.array([0, 90]), 30000.0)  # 3 ms apart
    assert counts[103] == counts[97] == 1 and counts.sum() == 2
    with pytest.raises(TooFewSpikesError):
        acg_1d(np.array([0]), 30000.0)
    assert acg_1d(np.arange(5) * 30, 30000.0, min_spikes=5).sum() > 0
    with pytest.raises(TooFewSpikesError):
        acg_1d(np.arange(4) * 30, 30000.0, min_spikes=5)


def test_acg_checks_its_inputs():
    with pytest.raises(ValueError, match="below 1 kHz"):
        acg_1d(np.array([0, 90]), 30.0)
    with pytest.raises(ValueError, match="sorted"):
        acg_1d(np.array([90, 0]), 30000.0)


def test_an_interval_of_a_whole_number_of_ms_lands_in_its_own_bin():
    for fs in (30000.0, 25000.0, 40000.0, 32000.0):
        intervals = np.arange(1, 100) * int(fs / 1000)  # 1, 2, ..., 99 ms exactly
        counts = isi_histogram(np.cumsum(np.r_[0, intervals]), fs)
        assert counts.shape == (100,) and counts.dtype == np.float64
        np.testing.assert_array_equal(counts, np.r_[0.0, np.ones(99)])


def test_intervals_of_100_ms_or_more_are_not_counted():
    times = np.array([0, 30 * 99, 30 * 99 + 30 * 100, 30 * 99 + 30 * 300])  # 99, 100, 200 ms
    counts = isi_histogram(times, 30000.0)
    assert counts.shape == (100,) and counts[99] == 1 and counts.sum() == 1


def test_isi_bins_and_count_come_from_the_spec():
    spec = TableFeatureSpec(isi=IsiSpec(bin_ms=2.0, n_bins=10))
    times = np.cumsum([0, 60, 61, 119, 120, 600]).astype(np.int64)  # 2, 2.03, 3.97 | 4 | 20 ms
    np.testing.assert_array_equal(isi_histogram(times, 30000.0, spec),
                                  [0, 3, 1, 0, 0, 0, 0, 0, 0, 0])


def test_isi_needs_two_spikes_unless_told_otherwise():
    assert isi_histogram(np.array([0, 30]), 30000.0)[1] == 1
    with pytest.raises(TooFewSpikesError):
        isi_histogram(np.array([0]), 30000.0)
    with pytest.raises(TooFewSpikesError):
        isi_histogram(np.array([0, 30]), 30000.0, min_spikes=3)
    with pytest.raises(ValueError, match="below 1 kHz"):
        isi_histogram(np.array([0, 30]), 30.0)


def _spike(n: int = 90, at: int = 45, height: float = -3.0) -> np.ndarray:
    wave = np.linspace(0.1, 0.2, n)
    wave[at] = height
    wave[at + 5] = abs(height) / 3
    return wave


def test_the_window_is_1_ms_before_and_1_5_ms_after_the_largest_peak():
    wave = _spike()
    out = table_waveform(wave, 30000.0)
    assert out.shape == (75,) and out[30] == -1.0
    np.testing.assert_allclose(out, wave[15:90] / 3.0)


def test_a_positive_peak_is_flipped_to_minus_one():
    wave = -_spike()
    out = table_waveform(wave, 30000.0)
    assert out[30] == -1.0
    np.testing.assert_allclose(out, -wave[15:90] / 3.0)


def test_samples_outside_the_input_repeat_its_edge_values():
    wave = _spike(n=40, at=10)
    out = table_waveform(wave, 30000.0)
    np.testing.assert_allclose(out[:20], wave[0] / 3.0)  # 10 of the 30 samples before the peak
    np.testing.assert_allclose(out[20:30], wave[:10] / 3.0)
    np.testing.assert_allclose(out[31:60], wave[11:] / 3.0)  # 29 of the 44 after it
    np.testing.assert_allclose(out[60:], wave[-1] / 3.0)


def test_a_given_peak_index_is_used_instead_of_the_largest():
    wave = _spike()
    out = table_waveform(wave, 30000.0, peak_index=50)  # the positive bump, 1 at 50
    assert out[30] == -1.0
    np.testing.assert_allclose(out[:70], -wave[20:90] / 1.0)


def test_other_rates_are_interpolated_onto_30_khz_around_the_peak():
    wave = _spike(n=120, at=60)
    out = table_waveform(wave, 40000.0)
    assert out.shape == (75,) and out[30] == -1.0
    t_in = (np.arange(100) - 40) / 40000.0
    np.testing.assert_allclose(out, np.interp((np.arange(75) - 30) / 30000.0, t_in,
                                              wave[20:120]) / 3.0)


@pytest.mark.parametrize("wave, peak, message", [
    (np.ones((2, 90)), None, r"^waveform must be 1-D with at least 5 samples, got \(2, 90\)$"),
    (np.ones(4), None, r"^waveform must be 1-D with at least 5 samples, got \(4,\)$"),
    (np.r_[np.ones(89), np.inf], None, "^waveform contains NaN or infinite values$"),
    (np.zeros(90), None, "^waveform is all zeros$"),
    (np.ones(90), 90, "^peak index 90 is outside the 90-sample waveform$"),
    (np.ones(90), -1, "^peak index -1 is outside the 90-sample waveform$"),
    (np.r_[np.ones(45), 0.0, np.ones(44)], 45, "^waveform's peak is zero$"),
])
def test_table_waveform_refuses_what_it_cannot_window(wave, peak, message):
    with pytest.raises(ValueError, match=message):
        table_waveform(wave, 30000.0, peak_index=peak)


def test_five_samples_are_enough_for_a_window():
    out = table_waveform(np.array([0.0, 0.1, -1.0, 0.1, 0.0]), 30000.0)
    assert out.shape == (75,) and out[30] == -1.0


def test_acg_rows_become_positive_lags_over_their_maximum():
    counts = np.r_[np.arange(5.0)[::-1], 0.0, np.arange(5.0)]  # lags -5..5
    np.testing.assert_array_equal(normalise_acg(counts), [[0.0, 0.25, 0.5, 0.75, 1.0]])
    both = normalise_acg(np.stack([counts, np.zeros(11)]))
    np.testing.assert_array_equal(both[1], np.zeros(5))  # an empty row stays empty, no NaN


def test_isi_rows_become_square_rooted_probabilities_over_their_maximum():
    counts = np.array([[1.0, 4.0, 0.0, 16.0], [0.0, 0.0, 0.0, 0.0]])
    expected = np.sqrt(np.array([1.0, 4.0, 0.0, 16.0]) / 21.0) / np.sqrt(16.0 / 21.0)
    out = normalise_isi(counts)
    np.testing.assert_allclose(out[0], expected, rtol=1e-15)
    np.testing.assert_array_equal(out[1], np.zeros(4))
    np.testing.assert_allclose(normalise_isi(counts[0]), out[:1])  # one row is a (1, n) table


def test_a_modality_is_present_when_finite_and_not_all_zero():
    rows = np.array([[1.0, 0.0], [np.nan, 1.0], [0.0, 0.0], [0.0, -2.0]])
    flags = presence(rows, np.ones((4, 3)), np.zeros((4, 2)))
    np.testing.assert_array_equal(flags, [[True, True, False], [False, True, False],
                                          [False, True, False], [True, True, False]])


def _rows(n: int = 2):
    spec = TableFeatureSpec()
    rng = np.random.default_rng(0)
    return (spec, rng.normal(size=(n, spec.waveform.n_samples)),
            rng.uniform(1, 5, size=(n, 2 * spec.acg.half_width_ms + 1)),
            rng.uniform(1, 5, size=(n, spec.isi.n_bins)))


def test_model_rows_are_waveform_then_normalised_acg_and_isi_then_flags():
    spec, waveform, acg, isi = _rows()
    rows = model_rows(waveform, acg, isi, spec=spec)
    assert rows.dtype == np.float32 and rows.shape == (2, 75 + 100 + 100 + 3)
    expected = np.concatenate([waveform, normalise_acg(acg), normalise_isi(isi),
                               np.ones((2, 3))], axis=1).astype(np.float32)
    np.testing.assert_array_equal(rows, expected)
    np.testing.assert_array_equal(model_rows(waveform[0], acg[0], isi[0], spec=spec), expected[:1])


def test_a_missing_modality_is_zeroed_with_its_flag():
    spec, waveform, acg, isi = _rows()
    acg[0, 3] = np.nan
    isi[1] = 0.0
    rows = model_rows(waveform, acg, isi, spec=spec)
    assert np.isfinite(rows).all()
    np.testing.assert_array_equal(rows[0, 75:175], 0.0)
    np.testing.assert_array_equal(rows[0, -3:], [1, 0, 1])
    np.testing.assert_array_equal(rows[1, 175:275], 0.0)
    np.testing.assert_array_equal(rows[1, -3:], [1, 1, 0])
    np.testing.assert_array_equal(rows[1, 75:175], normalise_acg(acg[1])[0].astype(np.float32))


def test_a_modality_the_model_was_not_trained_on_is_hidden():
    spec, waveform, acg, isi = _rows()
    spec = dataclasses.replace(spec, modalities=("waveform", "isi"))
    rows = model_rows(waveform, acg, isi, spec=spec)
    np.testing.assert_array_equal(rows[:, 75:175], 0.0)
    np.testing.assert_array_equal(rows[:, -3:], [[1, 0, 1], [1, 0, 1]])
    np.testing.assert_array_equal(rows[:, :75], waveform.astype(np.float32))


@pytest.mark.parametrize("which, name, width", [(0, "waveform", 75), (1, "acg", 201),
                                                (2, "isi", 100)])
def test_rows_of_the_wrong_width_are_refused_naming_the_modality(which, name, width):
    spec, *parts = _rows()
    parts[which] = parts[which][:, :-1]
    with pytest.raises(ValueError) as error:
        model_rows(*parts, spec=spec)
    assert str(error.value) == (f"{name} rows have {width - 1} values; the feature spec says "
                                f"{width}")


def test_a_bin_that_is_not_a_whole_number_of_samples_rounds_up():
    """At 30.03 kHz a 1-ms bin is 30.03 samples: 31, not 30."""
    times = poisson_train(40, 20, fs=30030.0, seed=1)
    np.testing.assert_array_equal(acg_1d(times, 30030.0), _brute_acg(times, 31, 100))


def test_a_largest_peak_on_the_first_sample_is_windowed():
    wave = np.r_[-3.0, np.linspace(0.1, 0.2, 89)]
    out = table_waveform(wave, 30000.0)
    assert out[30] == -1.0 and np.all(out[:30] == -1.0)  # padded with the first value
    out = table_waveform(-wave, 30000.0, peak_index=0)
    assert out[30] == -1.0


@pytest.mark.parametrize("fs", [30520.0, 30350.0, 30010.0, 40000.0, 25000.0])
def test_other_rates_are_the_input_interpolated_at_30_khz_from_its_peak(fs):
    """1 ms before and 1.5 ms after the peak in input samples, rounded up (31 and 46 at
    30.35 kHz or 30.01 kHz): enough to interpolate the whole 30-kHz window."""
    n = 200
    t = (np.arange(n) - 80) / fs
    wave = np.sin(2 * np.pi * 700 * t) + 0.3 * np.cos(2 * np.pi * 1900 * t)
    wave[80] = -4.0
    out = table_waveform(wave, fs)
    expected = np.interp((np.arange(75) - 30) / 30000.0, t, wave) / 4.0
    assert out[30] == -1.0
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)


def test_float32_waveforms_give_float64_windows():
    """templates.npy is float32: its window is computed in float64 as any other."""
    wave = _spike().astype(np.float32)
    wave[20] = 0.123456789
    out = table_waveform(wave, 30000.0)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, table_waveform(wave.astype(np.float64), 30000.0))


def test_normalisation_takes_integer_counts():
    counts = np.r_[np.arange(5)[::-1], 0, np.arange(5)]
    np.testing.assert_array_equal(normalise_acg(counts), normalise_acg(counts.astype(float)))
    isi = np.array([[1, 4, 0, 16], [0, 0, 0, 0]])
    np.testing.assert_array_equal(normalise_isi(isi), normalise_isi(isi.astype(float)))


def test_rows_of_fractions_are_normalised_like_counts():
    """Whatever the scale (a maximum or a total below 1 included)."""
    acg = np.r_[np.zeros(6), 0.125, 0.25, 0.5, 0.25, 0.0]
    np.testing.assert_array_equal(normalise_acg(acg), [[0.25, 0.5, 1.0, 0.5, 0.0]])
    isi = np.array([0.05, 0.2, 0.0, 0.05])
    np.testing.assert_allclose(normalise_isi(isi), [[0.5, 1.0, 0.0, 0.5]], rtol=1e-15)


def test_each_isi_row_is_normalised_on_its_own():
    counts = np.array([[1.0, 4.0], [1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(normalise_isi(counts), [[0.5, 1.0], [1.0, 0.0], [0.0, 0.0]],
                               rtol=1e-15)


def test_an_empty_isi_row_is_normalised_silently_to_zeros():
    import warnings

    counts = np.array([[1.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    junk = np.full(counts.shape, 7.0)  # numpy reuses a freed buffer of the same size
    del junk
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "invalid value encountered in divide"
        out = normalise_isi(counts)
    np.testing.assert_array_equal(out[1], 0.0)


def test_a_table_of_isi_rows_is_normalised_as_each_row_alone():
    """Bit for bit: the training tables and a user's units may be normalised in batches of
    any size."""
    counts = np.random.default_rng(0).poisson(30, size=(6, 100)).astype(float)
    counts[2] = 0.0
    together = normalise_isi(counts)
    for row, out in zip(counts, together, strict=True):
        np.testing.assert_array_equal(normalise_isi(row)[0], out)


def test_acg_1d_has_the_tables_conventions(lisberger):
    table_rows = lisberger.acg[np.isfinite(lisberger.acg).all(1)]
    assert table_rows.shape[1] == 201
    assert np.all(table_rows[:, 100] == 0)  # lag 0 zero
    np.testing.assert_array_equal(table_rows[:, :100], table_rows[:, 101:][:, ::-1])  # symmetric
    assert np.all(table_rows == np.round(table_rows))  # raw counts
    times = poisson_train(30, 40, seed=2, fs=40000.0)
    ours = acg_1d(times, 40000.0)
    np.testing.assert_array_equal(ours, _brute_acg(times, 40, 100))
    assert ours[100] == 0 and np.array_equal(ours[:100], ours[101:][::-1])


def test_isi_histogram_has_the_tables_conventions(lisberger):
    rows = lisberger.isi[np.isfinite(lisberger.isi).all(1)]
    assert rows.shape[1] == 100 and np.all(rows >= 0) and np.all(rows == np.round(rows))
    times = poisson_train(20, 60, seed=3)
    ours = isi_histogram(times, 30000.0)
    # independent count in integer arithmetic: 1-ms bins over [0, 100) ms, longer not counted
    whole_ms = np.diff(times) // 30
    expected = np.bincount(whole_ms[whole_ms < 100], minlength=100)
    np.testing.assert_array_equal(ours, expected)


def test_table_waveform_alignment_and_scale():
    raw = pd.read_csv(data_path("c4_derived", "hausser", "waveforms.csv")).to_numpy()
    assert np.mean(np.abs(raw).argmax(axis=1) == 45) > 0.95  # the tables' peak position
    for row in raw[:50]:
        out = table_waveform(row, 30000.0, peak_index=45)
        expected = row[15:90] / -row[45] if row[45] > 0 else row[15:90] / abs(row[45])
        np.testing.assert_allclose(out, expected, atol=1e-12)
        assert out[30] == -1.0
    # The same spike recorded at 40 and 30 kHz, its trough at t = 0 on both grids: resampling
    # must agree up to linear-interpolation error. (When the trough falls between samples, each
    # rate picks its own grid peak, as the tables do; docs/features.md.)
    def spike(t):
        x = t / 1.5e-4
        return -(1 - x**2) * np.exp(-0.5 * x**2)

    at40 = table_waveform(spike(np.arange(-60, 90) / 40000.0), 40000.0)
    at30 = table_waveform(spike(np.arange(-45, 68) / 30000.0), 30000.0)
    assert at40[30] == at30[30] == -1.0
    assert np.abs(at40 - at30).max() < 0.03
    with pytest.raises(ValueError, match="NaN"):
        table_waveform(np.full(90, np.nan), 30000.0)
