"""The numbers that define C4's science, in one place.

Every function that computes a feature takes its defaults from these dataclasses, and a weight
bundle records the spec it was trained with, so prediction always sees what training saw.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

C4_SAMPLE_RATE = 30_000.0
"""The rate C4's waveform models expect (Hz); other rates are resampled to it."""

BASE_LABELS: tuple[str, ...] = ("GoC", "MLI", "MFB", "PkC_ss", "PkC_cs")
"""npyx 4.3.1's output order for the base model (``LABELLING_NO_GRC``)."""

MLI_SPLIT_LABELS: tuple[str, ...] = ("GoC", "MLI_A", "MLI_B", "MFB", "PkC_ss", "PkC_cs")
"""npyx 4.3.1's output order with MLI clustering."""

LAYER_NAMES: tuple[str, ...] = ("unknown", "GCL", "PCL", "ML")

RESULT_COLUMNS: tuple[str, ...] = ("c4_type", "c4_confidence", "c4_ratio", "c4_votes",
                                   "c4_model", "c4_status")
"""Cluster columns a classification writes (``cluster_<column>.tsv``, Phy's metadata)."""
"""Order of the layer one-hot C4's layer models append to their input."""


@dataclass(frozen=True)
class AcgSpec:
    """3D autocorrelogram parameters (npyx ``crosscorr_vs_firing_rate`` + ``convert_acg_log``)."""

    win_ms: float = 2000.0
    bin_ms: float = 1.0
    n_rate_bins: int = 10
    smooth_ms: float = 250.0
    n_log_bins: int = 100
    start_log_ms: float = 0.8
    log_smooth_sd: int = 1
    scale: float = 10.0
    """C4 multiplies the log 3D-ACG by 10 before the network sees it."""


@dataclass(frozen=True)
class WaveformSpec:
    """Waveform preprocessing parameters (npyx ``preprocess_template``)."""

    fs: float = C4_SAMPLE_RATE
    before_s: float = 1e-3
    after_s: float = 2e-3
    peak_sign: str = "negative"

    @property
    def n_samples(self) -> int:
        return round((self.before_s + self.after_s) * self.fs)

    @property
    def peak_index(self) -> int:
        return round(self.before_s * self.fs)


@dataclass(frozen=True)
class FeatureSpec:
    """Everything a model needs to know about its inputs."""

    acg: AcgSpec = field(default_factory=AcgSpec)
    waveform: WaveformSpec = field(default_factory=WaveformSpec)
    min_spikes: int = 100

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(
            acg=AcgSpec(**data.get("acg", {})),
            waveform=WaveformSpec(**data.get("waveform", {})),
            min_spikes=int(data.get("min_spikes", 100)),
        )
