"""What a model family declares: its network, its feature spec, and the one function that turns
a unit's spikes and waveform into that network's input row.

A bundle names its family in ``architecture``; ``phy_c4.families.load_bundle`` reads the
manifest's feature spec strictly through the family, so a model is never fed features computed
with conventions other than those it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from phy_c4.config import SpecError
from phy_c4.model.bundle import Bundle


@dataclass(kw_only=True)
class UnitData:
    """One unit as the pipeline hands it to a family: the spikes to use and its waveform."""

    cluster_id: int
    spike_times: np.ndarray  # int64 samples, sorted, unique, after the quality filter
    fs: float
    waveform: np.ndarray  # peak-channel mean waveform, before any preprocessing
    waveform_fs: float
    layer: str = "unknown"


@dataclass(kw_only=True)
class FamilyInputs:
    """Network rows for the units a family could prepare, and why the others failed."""

    rows: torch.Tensor  # (len(ready), n_inputs) float32
    ready: list[int]  # cluster ids, in row order
    failed: dict[int, str] = field(default_factory=dict)
    features: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    """Every model input of every ready unit, by name (the audit folder saves them)."""


class ModelFamily:
    """Base of the registered families; subclasses fill in the four hooks."""

    architecture: ClassVar[str]
    spec_type: ClassVar[type]
    description: ClassVar[str]

    def network_config(self, network: dict[str, Any]) -> Any:
        """The typed network config, read strictly from the manifest's ``network``."""
        raise NotImplementedError

    def new_network(self, config: Any) -> nn.Module:
        raise NotImplementedError

    def check_spec(self, spec: Any, config: Any) -> None:
        """Refuse a spec that does not fit the network (input widths)."""

    def unit_features(self, units: list[UnitData], spec: Any, n_jobs: int | None
                      ) -> tuple[dict[int, dict[str, np.ndarray]], dict[int, str]]:
        """Every model input of each unit, by name, and why the other units have none."""
        raise NotImplementedError

    def model_rows(self, bundle: Bundle, units: list[UnitData],
                   features: dict[int, dict[str, np.ndarray]]) -> torch.Tensor:
        """Network rows, one per unit in ``units`` (all of which have features)."""
        raise NotImplementedError

    def unit_inputs(self, bundle: Bundle, units: list[UnitData], n_jobs: int | None
                    ) -> FamilyInputs:
        """The one function from spikes and waveforms to what the bundle's networks read."""
        features, failed = self.unit_features(units, bundle.spec, n_jobs)
        ready = [u for u in units if u.cluster_id in features]
        rows = (self.model_rows(bundle, ready, features) if ready
                else torch.zeros((0, 0), dtype=torch.float32))
        return FamilyInputs(rows=rows, ready=[u.cluster_id for u in ready], failed=failed,
                            features={u.cluster_id: features[u.cluster_id] for u in ready})

    def parse_spec(self, features: Any) -> Any:
        return self.spec_type.from_dict(features)

    def default_spec(self) -> Any:
        return self.spec_type()

    def spec_error(self, error: SpecError) -> str:
        return f"{self.architecture} feature spec: {error}"
