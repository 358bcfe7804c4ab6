"""Tests of ``phy_c4.families.base``: what a family declares: network, feature spec,
`unit_inputs`.
"""

from __future__ import annotations

import copy

from phy_c4.families import FAMILIES, attach, register_family
from phy_c4.families.c4_tables import TableFamily
from phy_c4.pipeline import PipelineOptions, classify
from phy_c4.weights import get_bundle


def test_a_new_family_plugs_in_without_touching_the_pipeline(example_copy, tmp_path):
    class HalvedWaveforms(TableFamily):
        architecture = "test_halved"

        def unit_features(self, units, spec, n_jobs):
            features, failed = super().unit_features(units, spec, n_jobs)
            for named in features.values():
                named["waveform"] = named["waveform"] / 2
            return features, failed

    register_family(HalvedWaveforms())
    try:
        bundle = copy.copy(get_bundle("default"))
        bundle.manifest = {**bundle.manifest, "architecture": "test_halved"}
        attach(bundle)
        result = classify(example_copy, [0], bundle=bundle, options=PipelineOptions(quality=None))
        assert result.features[0].inputs["waveform"].min() == -0.5
        assert result.parameters["architecture"] == "test_halved"
    finally:
        FAMILIES.pop("test_halved")
