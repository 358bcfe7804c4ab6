"""Network sizes and class sets, from configuration rather than constants scattered in code."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from phy_c4.config import BASE_LABELS, spec_from_dict


@dataclass(frozen=True, kw_only=True)
class C4NetConfig:
    """npyx 4.3.1 ``CNNCerebellum``: 3D-ACG conv encoder + waveform MLP encoder + head."""

    labels: tuple[str, ...] = BASE_LABELS
    use_layer: bool = False
    d_latent: int = 10
    acg_rows: int = 10
    acg_cols: int = 101
    acg_channels: tuple[int, int] = (8, 16)
    acg_kernel_cols: int = 10
    acg_hidden: int = 200
    acg_dropout: float = 0.2
    acg_pool: str = "avg"
    wvf_samples: int = 90
    wvf_hidden: tuple[int, int] = (600, 300)
    wvf_dropout: float = 0.1
    head_hidden: int = 100
    layer_dim: int = 4

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    @property
    def acg_flat(self) -> int:
        return self.acg_rows * self.acg_cols

    @property
    def n_inputs(self) -> int:
        """Width of one model input row: positive-lag ACG, waveform, optional layer one-hot."""
        return self.acg_flat + self.wvf_samples + (self.layer_dim if self.use_layer else 0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> C4NetConfig:
        """Strict: every setting present, none unknown, each of its type (``SpecError``)."""
        return spec_from_dict(cls, data, "network")
