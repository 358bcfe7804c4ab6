"""Features C4 consumes: the 3D autocorrelogram and the preprocessed waveform.

Names load on first use (PEP 562), so a light part (``log_lags``, for figures) does not bring
numba into a process that only draws, such as Phy's with the plugin.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "TooFewSpikesError": "validation", "check_sample_rate": "validation",
    "check_spike_times": "validation", "acg_3d": "acg3d", "acg_3d_many": "acg3d",
    "acg_3d_units": "acg3d", "acg_3d_log": "acglog", "log_lags": "acglog",
    "preprocess_waveform": "waveform",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'phy_c4.features' has no attribute {name!r}")
    return getattr(import_module(f"phy_c4.features.{_WHERE[name]}"), name)
