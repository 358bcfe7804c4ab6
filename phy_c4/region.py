"""Where a unit is, and whether C4's classes can apply there.

C4's cell types exist only in the cerebellar cortex, but a Neuropixels shank crosses cortex,
nuclei and brainstem. A unit's place comes from (first that answers): a region label of the
cluster (``cluster_region.tsv`` or a user-named column), a channel -> region table (IBL /
SpikeInterface style) at the unit's peak channel, or the peak channel's depth against a
cerebellar depth range (µm, as Phy shows cluster depths).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

ALLEN_CEREBELLAR_CORTEX = (
    "CBX", "VERM", "LING", "CENT", "CUL", "DEC", "FOTU", "PYR", "UVU", "NOD", "HEM", "SIM", "AN",
    "ANCR1", "ANCR2", "PRM", "COPY", "PFL", "FL")
"""Allen CCF acronyms of the cerebellar cortex; layer suffixes (mo, pu, gr) and lobule numbers
are accepted. Cerebellar nuclei (CBN, FN, IP, DN) are not cortex."""
CEREBELLAR_WORDS = ("cerebellar cortex", "cerebellum", "vermis", "flocculus", "paraflocculus",
                    "crus", "lobule", "simplex")

INSIDE, OUTSIDE, UNKNOWN = "inside", "outside", "unknown"
NO_REGION = ("no cerebellar region set: every unit is assumed to be in the cerebellar cortex; "
             "use --cerebellar-depth LOW:HIGH (µm), a cluster_region.tsv or --channel-regions")
"""Said (CLI, plugin, run manifest) when nothing places the units: C4 then gives cerebellar
types to units of any region (on cortical units, VIP cells came out PkC_ss)."""


def is_cerebellar_cortex(label: str, extra: tuple[str, ...] = ()) -> bool:
    text = label.strip()
    lowered = text.lower()
    if any(lowered == e.lower() for e in extra) or any(w in lowered for w in CEREBELLAR_WORDS):
        return "nucle" not in lowered
    acronym = re.match(r"^([A-Z]+(?:cr[12])?)", text)  # Allen: CUL4, 5gr / SIMpu / ANcr1
    if acronym is None or not re.fullmatch(r"[\d,\s]*(?:mo|pu|gr)?", text[acronym.end():]):
        return False
    return acronym.group(1).upper() in ALLEN_CEREBELLAR_CORTEX


@dataclass(frozen=True, kw_only=True)
class RegionGate:
    """Which units are in the cerebellar cortex; every field optional."""

    depth_um: tuple[float, float] | None = None
    cluster_regions: dict[int, str] = field(default_factory=dict)
    channel_regions: dict[int, str] = field(default_factory=dict)
    extra_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.depth_um is not None and not self.depth_um[0] < self.depth_um[1]:
            raise ValueError(f"cerebellar depth range must be low:high, got {self.depth_um}")

    @property
    def configured(self) -> bool:
        return bool(self.depth_um is not None or self.cluster_regions or self.channel_regions)

    def place(self, cluster_id: int, peak_channel: int | None,
              channel_positions: np.ndarray) -> tuple[str, str]:
        """(INSIDE | OUTSIDE | UNKNOWN, why)."""
        label = self.cluster_regions.get(int(cluster_id), "").strip()
        source = "cluster region"
        if not label and peak_channel is not None:
            label = self.channel_regions.get(int(peak_channel), "").strip()
            source = f"region of channel {peak_channel}"
        if label:
            inside = is_cerebellar_cortex(label, self.extra_names)
            return (INSIDE if inside else OUTSIDE), f"{source} {label!r}"
        if self.depth_um is not None and peak_channel is not None and \
                0 <= peak_channel < len(channel_positions):
            depth = float(channel_positions[peak_channel][1])
            low, high = self.depth_um
            inside = low <= depth <= high
            return (INSIDE if inside else OUTSIDE), \
                f"depth {depth:g} µm {'within' if inside else 'outside'} {low:g}-{high:g} µm"
        return UNKNOWN, "no region information"

    def to_dict(self) -> dict:
        return {"depth_um": self.depth_um, "cluster_regions": len(self.cluster_regions),
                "channel_regions": len(self.channel_regions),
                "extra_names": list(self.extra_names)}
