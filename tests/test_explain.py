"""The C4 view's "why" (phy_c4.explain): vote spread, nearest training units of the predicted
class, 3D-ACG, the partner's cross-correlogram; and its figure.
"""

from __future__ import annotations

import numpy as np
import pytest

from phy_c4.explain import cross_correlogram, explain_unit
from phy_c4.io.dataset import open_recording
from phy_c4.io.tsv import read_cluster_column
from phy_c4.pipeline import PipelineOptions, classify
from phy_c4.testing import make_dataset
from phy_c4.weights import get_bundle


@pytest.fixture(scope="module")
def classified(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explain") / "rec"
    make_dataset(folder, n_units_per_type=2, duration_s=240.0, seed=1, raw=False)
    bundle = get_bundle("default")
    result = classify(folder, bundle=bundle, options=PipelineOptions(quality=None, cache=False))
    recording = open_recording(folder)
    times = {int(c): recording.spike_times[recording.spikes_of(int(c))]
             for c in recording.cluster_ids}
    return folder, bundle, result, times, recording.fs


def test_votes_neighbours_and_3d_acg(classified):
    _, bundle, result, times, fs = classified
    row = int(np.flatnonzero(np.isfinite(result.confidence))[0])
    cluster_id = int(result.cluster_ids[row])
    why = explain_unit(result, cluster_id, bundle, spike_times=times, fs=fs)
    assert why.members.shape == (len(bundle.labels), bundle.n_members)
    np.testing.assert_allclose(why.members.mean(axis=1), why.probabilities)
    assert why.predicted == bundle.labels[int(np.argmax(why.probabilities))]
    # the nearest labelled training units of the predicted class, nearest first
    reference = bundle.reference
    same = np.flatnonzero(reference["labels"].numpy() == bundle.labels.index(why.predicted))
    features = result.prediction.features[0]
    distances = np.sort(np.linalg.norm(reference["features"].double().numpy()[same] - features,
                                       axis=1))
    np.testing.assert_allclose(why.neighbour_distances, distances[:3], rtol=1e-9)
    assert len(why.neighbours) == 3
    assert {"waveform", "acg_1d", "isi"} <= set(why.neighbours[0])
    assert why.neighbours[0]["waveform"].shape == why.inputs["waveform"].shape
    assert why.acg_3d_log.shape == (10, 201) and why.acg_3d_source == "all spikes"
    assert explain_unit(result, 10_000, bundle, spike_times=times, fs=fs) is None


def test_the_partner_cross_correlogram_shows_the_pause(classified):
    folder, bundle, result, times, fs = classified
    pairs = {c: int(p) for c, p in zip(result.cluster_ids, result.pair, strict=True) if p != ""}
    truth = read_cluster_column(folder / "cluster_true_type.tsv")
    cs = next(c for c in pairs if truth[int(c)] == "PkC_cs")
    why = explain_unit(result, int(cs), bundle, spike_times=times, fs=fs)
    assert why.partner == pairs[cs]
    lags, counts = why.ccg
    after = counts[(lags > 1) & (lags < 8)].mean()
    before = counts[(lags > -40) & (lags < -10)].mean()
    assert after < 0.5 * before  # the simple spikes pause after the complex spike


def test_cross_correlogram_counts_every_pair_in_the_window():
    rng = np.random.default_rng(0)
    a = np.sort(rng.choice(3_000_000, 400, replace=False))
    b = np.sort(rng.choice(3_000_000, 900, replace=False))
    lags, counts = cross_correlogram(a, b, 30000.0, window_ms=20.0)
    diffs = (b[None, :] - a[:, None]).ravel() / 30.0
    expected, _ = np.histogram(diffs, bins=np.arange(-20.0, 20.5, 1.0))
    np.testing.assert_array_equal(counts, expected)
    assert lags[0] == -19.5 and lags[-1] == 19.5


def test_the_why_figure_draws(classified, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from phy_c4.report import draw_why

    _, bundle, result, times, fs = classified
    pairs = [int(c) for c, p in zip(result.cluster_ids, result.pair, strict=True) if p != ""]
    why = explain_unit(result, pairs[0], bundle, spike_times=times, fs=fs)
    figure = Figure(figsize=(12, 7))
    draw_why(figure, why, 2.0, title_extra="— test")
    path = tmp_path / "why.png"
    figure.savefig(path)
    assert path.stat().st_size > 20_000
    titles = [ax.get_title() for ax in figure.axes]
    assert any("cross-correlogram" in t for t in titles)
    assert any("members' votes" in t for t in titles)
    assert any("3D autocorrelogram" in t for t in titles)
