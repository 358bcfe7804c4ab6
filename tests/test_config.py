"""Tests of ``phy_c4.config``: the numbers of C4's science (typed feature spec) and their
strict reader.
"""

from __future__ import annotations

import pytest

from phy_c4.config import SpecError, TableFeatureSpec, spec_from_dict


def test_strict_reader_refuses_bools_and_nan_for_numbers():
    with pytest.raises(SpecError, match="n_bins"):
        spec_from_dict(TableFeatureSpec, {**TableFeatureSpec().to_dict(),
                                          "isi": {"bin_ms": 1.0, "n_bins": True,
                                                  "normalisation": "sqrt_probability_over_max"}})
    with pytest.raises(SpecError, match="bin_ms"):
        spec_from_dict(TableFeatureSpec, {**TableFeatureSpec().to_dict(),
                                          "isi": {"bin_ms": float("nan"), "n_bins": 100,
                                                  "normalisation": "sqrt_probability_over_max"}})
    assert TableFeatureSpec.from_dict(TableFeatureSpec().to_dict()) == TableFeatureSpec()
