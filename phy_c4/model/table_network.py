"""A C4-style network for the C4-database table features: waveform, 1-D ACG, ISI histogram.

Same recipe as C4 (VAE-pretrained encoders whose latent means feed batch norm, a hidden layer and
the class layer), with one MLP encoder per modality. A unit may lack a modality (the Häusser
units have no ACG/ISI in the tables): its latent mean is multiplied by a presence flag, and the
flags are inputs too, so one network serves units with and without spike trains.

Input row layout: [waveform (75) | ACG positive lags (100) | ISI (100) | presence flags (3)].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from phy_c4.config import TABLE_MODALITIES, spec_from_dict

MODALITIES = TABLE_MODALITIES


@dataclass(frozen=True, kw_only=True)
class TabularConfig:
    labels: tuple[str, ...]
    sizes: tuple[int, int, int] = (75, 100, 100)
    hidden: int = 128
    d_latent: int = 10
    head_hidden: int = 64
    dropout: float = 0.1

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    @property
    def n_inputs(self) -> int:
        return sum(self.sizes) + len(MODALITIES)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> TabularConfig:
        """Strict: every setting present, none unknown, each of its type (``SpecError``)."""
        return spec_from_dict(cls, data, "network")


class ModalityEncoder(nn.Module):
    """in -> hidden -> hidden -> (mu, log sigma) of a ``d_latent`` Gaussian."""

    def __init__(self, n_in: int, hidden: int, d_latent: int, *, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, 2 * d_latent))
        self.d_latent = d_latent

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(x)
        return h[:, : self.d_latent], h[:, self.d_latent :]


class ModalityDecoder(nn.Module):
    def __init__(self, n_out: int, hidden: int, d_latent: int, *, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_latent, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, n_out))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class TabularNetwork(nn.Module):
    """Encoders' latent means (masked by presence) + flags -> batch norm -> hidden -> logits."""

    def __init__(self, config: TabularConfig) -> None:
        super().__init__()
        self.config = config
        self.encoders = nn.ModuleDict({
            name: ModalityEncoder(size, config.hidden, config.d_latent, dropout=config.dropout)
            for name, size in zip(MODALITIES, config.sizes, strict=True)})
        n_latent = len(MODALITIES) * (config.d_latent + 1)
        self.batch_norm = nn.BatchNorm1d(n_latent)
        self.fc1 = nn.Linear(n_latent, config.head_hidden)
        self.fc2 = nn.Linear(config.head_hidden, config.n_classes)

    def split(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        parts, start = [], 0
        for size in self.config.sizes:
            parts.append(x[:, start : start + size])
            start += size
        return parts, x[:, start : start + len(MODALITIES)]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        parts, present = self.split(x)
        latent = [self.encoders[name](part)[0] * present[:, i : i + 1]
                  for i, (name, part) in enumerate(zip(MODALITIES, parts, strict=True))]
        z = self.batch_norm(torch.cat([*latent, present], dim=1))
        features = F.relu(self.fc1(z))
        return self.fc2(features), features
