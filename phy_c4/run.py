"""Select -> classify -> publish: the one path from "these clusters" to the files, which the CLI
and the Phy plugin (on Ctrl+S) both take, so their outputs and provenance are the same.

- ``select_clusters``: explicit ids (each must exist) or a Phy group, from whichever
  assignment and labels the caller holds (the folder's, or the GUI's unsaved ones);
- ``phy_c4.pipeline.classify``: features and predictions;
- ``publication`` + ``phy_c4.io.publish.publish``: every file of a run, as one transaction;
- ``layer_proposal``: layers from the run's Purkinje pairs, for the user to confirm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from phy_c4.io.publish import Publication
from phy_c4.layers import LayerProposal, LayerSpec, propose_layers
from phy_c4.result import ClassificationResult
from phy_c4.status import UNCLASSIFIED, is_confident

GROUP_CHOICES = ("good", "mua", "noise", "unsorted", "all")  # Phy's groups, and all


def select_clusters(cluster_ids: Iterable[int], groups: Mapping[int, str],
                    clusters: list[int] | None = None, *, group: str = "good",
                    where: str = "the recording") -> list[int]:
    """The clusters a run classifies: ``clusters`` (all must exist) or those of a Phy ``group``
    (``"all"``: every cluster; a cluster without a group is ``unsorted``)."""
    known = sorted({int(c) for c in cluster_ids})
    if clusters is not None:
        missing = sorted(set(clusters) - set(known))
        if missing:
            raise ValueError(f"no cluster {', '.join(map(str, missing[:5]))} in {where} (it has "
                             f"{len(known)} clusters)")
        return list(clusters)
    if group not in GROUP_CHOICES:
        raise ValueError(f"unknown group {group!r}; one of {', '.join(GROUP_CHOICES)}")
    if group == "all":
        return known
    chosen = [c for c in known if groups.get(c, "unsorted") == group]
    if not chosen:
        present = ("no cluster_group.tsv" if not groups else
                   f"groups: {', '.join(sorted(set(groups.values())))}")
        raise ValueError(f"no {group!r} clusters in {where} ({present}); choose --group all "
                         "or --clusters")
    return chosen


def feature_arrays(result: ClassificationResult) -> dict[str, np.ndarray]:
    """Every model input of every classified unit (``<name>`` rows aligned with
    ``cluster_ids``), and the raw peak-channel waveforms they were computed from."""
    ids = [c for c, f in result.features.items() if f.inputs]
    out = {"cluster_ids": np.asarray(ids, dtype=np.int64)}
    for name in (result.features[ids[0]].inputs if ids else {}):
        out[name] = np.stack([result.features[c].inputs[name] for c in ids])
    with_raw = [c for c, f in result.features.items() if f.raw_waveform is not None]
    if with_raw and len({result.features[c].raw_waveform.size for c in with_raw}) == 1:
        out["raw_cluster_ids"] = np.asarray(with_raw, dtype=np.int64)
        out["raw_waveform"] = np.stack([result.features[c].raw_waveform for c in with_raw])
        out["raw_fs"] = np.asarray([result.features[c].raw_fs for c in with_raw])
    return out


def publication(result: ClassificationResult, *, npyx_columns: bool = False,
                figures: Callable[[Path], list[Path]] | None = None,
                partial: bool = True) -> Publication:
    """Everything a run publishes, made the same way for both faces (``partial``: the run
    classified some clusters only, so the other clusters keep their rows)."""
    raw = result.prediction.raw if result.prediction is not None else None
    features = feature_arrays(result)
    if raw is not None:  # rows of the per-member probabilities file
        features["member_probabilities_cluster_ids"] = result.classified
    return Publication(table=result.table, labels=result.labels, raw=raw, features=features,
                       parameters=result.parameters,
                       npyx_columns=npyx_columns, figures=figures, partial=partial)


def summary(result: ClassificationResult) -> dict[str, object]:
    """Counts a face reports after a run: confident types, below threshold, not classifiable."""
    types = pd.Series(result.cell_type)
    return {"units": len(types),
            "counts": types[types.map(is_confident)].value_counts().to_dict(),
            "confident": int(types.map(is_confident).sum()),
            "below_threshold": int((types == UNCLASSIFIED).sum()),
            "not_classifiable": int((types == "").sum()),
            "bundle": result.bundle_label}


def layer_proposal(result: ClassificationResult, channel_positions: np.ndarray,
                   channel_shanks: np.ndarray | None = None,
                   *, spec: LayerSpec | None = None) -> LayerProposal:
    """Layers proposed from the run's confirmed CS-SS pairs, at each unit's peak-channel depth
    (the depth Phy shows) and shank (all 0 when ``channel_shanks`` is None)."""
    positions = np.asarray(channel_positions)
    shanks = np.zeros(len(positions), dtype=int) if channel_shanks is None or \
        len(channel_shanks) != len(positions) else np.asarray(channel_shanks)
    channels = {int(c): f.peak_channel for c, f in result.features.items() if f.peak_channel >= 0}
    pairs = {} if result.pair is None else {
        int(c): int(p) for c, p in zip(result.cluster_ids, result.pair, strict=True) if p != ""}
    return propose_layers({c: float(positions[ch, 1]) for c, ch in channels.items()},
                          {c: int(shanks[ch]) for c, ch in channels.items()}, pairs,
                          spec=spec or LayerSpec())
