"""C4's networks, weight bundles, Laplace calibration and ensemble prediction (torch only).

Bundles are loaded with ``phy_c4.families.load_bundle``, which adds the model family's strict
reading of the feature spec and network to ``read_bundle``'s format checks.
"""

from phy_c4.model.architecture import C4NetConfig
from phy_c4.model.bundle import Bundle, BundleError, read_bundle, save_bundle
from phy_c4.model.ensemble import (
    UNCLASSIFIED,
    Prediction,
    predict,
    predict_inputs,
    predict_raw,
)
from phy_c4.model.networks import C4Network

__all__ = [
    "UNCLASSIFIED",
    "Bundle",
    "BundleError",
    "C4NetConfig",
    "C4Network",
    "Prediction",
    "predict",
    "predict_inputs",
    "predict_raw",
    "read_bundle",
    "save_bundle",
]
