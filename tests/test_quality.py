"""phy_c4/features/quality.py: the filter's percentiles are numpy's, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from phy_c4.features.quality import _percentile_sorted


@pytest.mark.parametrize("q", [1.0, 25.0, 75.0])
def test_percentiles_of_the_filter_equal_numpys_bit_for_bit(q):
    """The 1st percentile is the truncated Gaussian's cut, the quartiles give the
    Freedman-Diaconis bin width; npyx computes both with np.percentile."""
    rng = np.random.default_rng(7)
    for n in [*range(1, 300), 1000, 4097, 12345]:
        x = np.sort(rng.normal(size=n) * 40.0 + 120.0)
        assert _percentile_sorted(x, q) == np.percentile(x, q), (n, q)
