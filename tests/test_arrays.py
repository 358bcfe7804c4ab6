"""The spike-array helpers against plain numpy statements of what they compute."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from phy_c4.arrays import _DENSE_IDS, group_by_cluster


def _expected(clusters: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    groups = [np.flatnonzero(clusters == w) for w in wanted]
    offsets = np.concatenate([[0], np.cumsum([g.size for g in groups])]).astype(np.int64)
    return np.concatenate([np.zeros(0, dtype=np.int64), *groups]), offsets


@settings(max_examples=200, deadline=None)
@given(clusters=st.lists(st.integers(0, 40), max_size=300),
       wanted=st.lists(st.integers(0, 60), unique=True, max_size=20))
def test_grouping_is_flatnonzero_per_wanted_cluster(clusters, wanted):
    """Unwanted clusters, wanted ids with no spike, any order of the wanted ids."""
    clusters = np.array(clusters, dtype=np.int64)
    wanted = np.array(wanted, dtype=np.int64)
    indices, offsets = group_by_cluster(clusters, wanted)
    expected_indices, expected_offsets = _expected(clusters, wanted)
    assert np.array_equal(offsets, expected_offsets)
    assert np.array_equal(indices, expected_indices)


def test_huge_cluster_ids_take_the_dictionary_path():
    clusters = np.array([3, _DENSE_IDS + 5, 3, 2**40, _DENSE_IDS + 5], dtype=np.int64)
    wanted = np.array([_DENSE_IDS + 5, 3, 2**40], dtype=np.int64)
    indices, offsets = group_by_cluster(clusters, wanted)
    expected_indices, expected_offsets = _expected(clusters, wanted)
    assert np.array_equal(indices, expected_indices) and np.array_equal(offsets, expected_offsets)


def test_int32_cluster_ids_group_like_int64():
    clusters = np.random.default_rng(0).integers(0, 50, 10_000).astype(np.int32)
    wanted = np.arange(0, 50, 3)
    for got, expected in zip(group_by_cluster(clusters, wanted),
                             _expected(clusters.astype(np.int64), wanted), strict=True):
        assert np.array_equal(got, expected)
