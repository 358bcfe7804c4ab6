"""C4's networks, weight bundles, Laplace calibration and ensemble prediction (torch only)."""

from phy_c4.model.bundle import Bundle, BundleError, load_bundle, save_bundle
from phy_c4.model.config import C4NetConfig
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
    "load_bundle",
    "predict",
    "predict_inputs",
    "predict_raw",
    "save_bundle",
]
