"""Features C4 consumes: the 3D autocorrelogram and the preprocessed waveform."""

from phy_c4.features.acg3d import acg_3d, acg_3d_many, acg_3d_units
from phy_c4.features.acglog import acg_3d_log, log_lags
from phy_c4.features.validation import TooFewSpikesError, check_sample_rate, check_spike_times
from phy_c4.features.waveform import preprocess_waveform

__all__ = [
    "TooFewSpikesError",
    "acg_3d",
    "acg_3d_log",
    "acg_3d_many",
    "acg_3d_units",
    "check_sample_rate",
    "check_spike_times",
    "log_lags",
    "preprocess_waveform",
]
