"""The contract between a model and its features: strict manifests, one dispatch through model
families, and parity from spike trains to the tables the default model was trained on.

Parity uses ``tests/data/tools/surrogate_phy.py``: each Lisberger table row becomes a renewal spike
train in a Phy folder (ISIs drawn from the row's ISI histogram, rate from its ACG, the row's
waveform window as template). "Faithful" units are those whose trains reproduce their row by the
tool's own independent numpy features; for them, what the pipeline computes from the spikes must
match the row, and so must the prediction.
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
