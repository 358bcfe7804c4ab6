"""Tests of ``phy_c4.cache``: where the feature cache lives, and the fingerprint of every
input that shapes a feature.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from phy_c4.io.dataset import open_recording
from phy_c4.pipeline import PipelineOptions, classify
from tests.conftest import FAST, _set_param, inputs_changed_on_purpose, phy_c4


def test_cache_follows_the_spikes_not_the_ids(example_copy, c4_bundle, monkeypatch):
    """After a merge only the new cluster is computed again; a cluster id that now holds other
    spikes (ids 0 and 1 swapped) gets the other cluster's result, not its cached one."""
    import phy_c4.pipeline as pipeline

    calls = []
    real = pipeline._finish_unit
    monkeypatch.setattr(pipeline, "_finish_unit",
                        lambda recording, cluster_id, *a, **k: calls.append(cluster_id)
                        or real(recording, cluster_id, *a, **k))
    options = PipelineOptions(quality=None)
    first_result = classify(example_copy, bundle=c4_bundle, options=options)
    first = first_result.table.set_index("cluster_id")
    assert sorted(calls) == [0, 1, 2, 3, 4]
    clusters = np.load(example_copy / "spike_clusters.npy").astype(np.int64)
    merged = np.where(np.isin(clusters, [2, 3]), 100, clusters)
    calls.clear()
    after_result = classify(example_copy, bundle=c4_bundle, spike_clusters=merged,
                            options=options)
    assert calls == [100]  # 0, 1 and 4 came from the cache
    after = after_result.table.set_index("cluster_id")
    assert 2 not in after.index and 100 in after.index
    _assert_same_inputs(after_result.features[0], first_result.features[0])
    # the network sees another batch of units: torch's kernels may round the last bits apart
    assert after.loc[0, "c4_confidence"] == pytest.approx(first.loc[0, "c4_confidence"],
                                                          rel=1e-6)
    swapped = np.where(clusters == 0, 1, np.where(clusters == 1, 0, clusters))
    again_result = classify(example_copy, bundle=c4_bundle, spike_clusters=swapped,
                            options=options)
    again = again_result.table.set_index("cluster_id")
    _assert_same_inputs(again_result.features[0], first_result.features[1])
    _assert_same_inputs(again_result.features[1], first_result.features[0])
    for column in ("c4_confidence", "c4_ratio"):
        assert again.loc[0, column] == pytest.approx(first.loc[1, column], rel=1e-6), column
        assert again.loc[1, column] == pytest.approx(first.loc[0, column], rel=1e-6), column
    assert again.loc[0, "c4_type"] == first.loc[1, "c4_type"]
    assert again.loc[1, "c4_type"] == first.loc[0, "c4_type"]


def _assert_same_inputs(unit, other) -> None:
    """The model inputs of two units are the same arrays, bit for bit."""
    assert unit.inputs.keys() == other.inputs.keys()
    for name, values in unit.inputs.items():
        assert np.array_equal(values, other.inputs[name], equal_nan=True), name


def _probabilities(folder: Path, cache: bool, source: str) -> np.ndarray:
    from phy_c4.pipeline import PipelineOptions, classify

    options = PipelineOptions(quality=None, waveform_source=source, cache=cache, pairing=None)
    return classify(open_recording(folder, force=True), options=options).probabilities


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
