"""Cortical layers from Purkinje pairs: a confirmed CS-SS pair is a Purkinje cell, so its depth
marks the Purkinje cell layer (PCL) on that shank.

Few Phy users know their units' layers, which the official ``layer_information`` C4 models take
as input. The proposal is PCL for units within ``pcl_half_width_um`` of a pair; with the side
of the molecular layer given (``ml_side``: "above" = larger probe y, where Phy shows shallower
units for a probe inserted from the surface, or "below"), ML and GCL within their usual
thickness on either side; "unknown" elsewhere. A shank whose pairs lie far apart crosses the PCL
more than once (folia): there only PCL is proposed. The user confirms before it is used.
Depends on nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

ML_SIDES = ("above", "below")


@dataclass(frozen=True, kw_only=True)
class LayerSpec:
    pcl_half_width_um: float = 50.0
    ml_thickness_um: float = 250.0
    gcl_thickness_um: float = 400.0
    ml_side: str | None = None
    """Where the molecular layer is relative to the PCL on the probe: "above", "below", None."""
    max_pcl_spread_um: float = 150.0
    """Pairs on one shank further apart than this: more than one PCL crossing."""

    def __post_init__(self) -> None:
        if self.ml_side not in (None, *ML_SIDES):
            raise ValueError(f"ml_side must be one of {ML_SIDES} or None, got {self.ml_side!r}")


@dataclass(kw_only=True)
class LayerProposal:
    pcl_depth_um: dict[int, float]  # shank -> PCL depth (probe y, µm), single crossings only
    layers: dict[int, str]  # cluster -> GCL, PCL, ML or unknown
    n_pairs: int
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for layer in self.layers.values():
            out[layer] = out.get(layer, 0) + 1
        return out


def propose_layers(depths: Mapping[int, float], shanks: Mapping[int, int],
                   pairs: Mapping[int, int], *, spec: LayerSpec | None = None) -> LayerProposal:
    """Layers of every unit in ``depths`` from the confirmed ``pairs`` (cluster -> partner)."""
    spec = spec or LayerSpec()
    paired = sorted(c for c in {*map(int, pairs), *map(int, pairs.values())} if c in depths)
    n_pairs = len({tuple(sorted((int(c), int(p)))) for c, p in pairs.items()})
    layers = {int(c): "unknown" for c in depths}
    proposal = LayerProposal(pcl_depth_um={}, layers=layers, n_pairs=n_pairs)
    if not paired:
        proposal.notes.append("no confirmed CS-SS pair: no layer can be proposed")
        return proposal
    by_shank: dict[int, list[float]] = {}
    for cluster_id in paired:
        by_shank.setdefault(int(shanks.get(cluster_id, 0)), []).append(float(depths[cluster_id]))
    for shank, marks in sorted(by_shank.items()):
        marks_array = np.asarray(marks)
        units = [c for c in depths if int(shanks.get(c, 0)) == shank]
        single = np.ptp(marks_array) <= spec.max_pcl_spread_um
        pcl = float(np.median(marks_array))
        if single:
            proposal.pcl_depth_um[shank] = pcl
        else:
            proposal.notes.append(
                f"shank {shank}: pairs span {np.ptp(marks_array):.0f} µm (more than one PCL "
                "crossing): only units near a pair are proposed PCL")
        for cluster_id in units:
            depth = float(depths[cluster_id])
            nearest = marks_array[np.argmin(np.abs(marks_array - depth))]
            if abs(depth - nearest) <= spec.pcl_half_width_um:
                layers[cluster_id] = "PCL"
            elif single and spec.ml_side is not None:
                offset = depth - pcl if spec.ml_side == "above" else pcl - depth
                if spec.pcl_half_width_um < offset <= spec.ml_thickness_um:
                    layers[cluster_id] = "ML"
                elif spec.pcl_half_width_um < -offset <= spec.gcl_thickness_um:
                    layers[cluster_id] = "GCL"
    if spec.ml_side is None:
        proposal.notes.append("molecular-layer side not given: only PCL is proposed")
    return proposal
