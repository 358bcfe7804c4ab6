"""How well the ensemble's own distance to its training units (``model.ensemble.novelty``, the
``c4_novelty`` until issue #25) tells cortical units from cerebellar ones: AUROC, run by hand.
Not held out (see below); ``c4_novelty`` is now ``phy_c4.novelty``, measured on held-out units by
``benchmarks/novelty_heldout.py``.

Positives: the real cortical and hippocampal units of ``cellexplorer_groundtruth`` (spike
trains and mean waveforms) and of ``phy_real``, fed through the bundle's family as any unit.
Negatives: spike trains built from the Lisberger table (``surrogate_phy.py``) and classified
end to end. The default bundle was trained on those Lisberger rows, so the negatives are its
own training distribution: the AUROC says how well novelty separates "not like the training
data", not how it generalises to another cerebellar lab.

    python benchmarks/novelty_auroc.py [--shared ../shared] [--json docs/novelty_auroc.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from _surrogate import lisberger_with_trains, surrogate_tool

from phy_c4.families import UnitData, family_of
from phy_c4.model.ensemble import novelty, predict_inputs
from phy_c4.pipeline import PipelineOptions, classify
from phy_c4.training.tables import save_c4_derived
from phy_c4.weights import get_bundle

ENSEMBLE_THRESHOLD = 2.0
"""The flag this distance had until issue #25."""


def auroc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counted half (Mann-Whitney)."""
    pos, neg = positives[np.isfinite(positives)], negatives[np.isfinite(negatives)]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (pos.size * neg.size))


def cellexplorer_scores(bundle, folder: Path) -> np.ndarray:
    meta = json.loads((folder / "ce_groundtruth_meta.json").read_text())
    units = []
    with np.load(folder / "ce_groundtruth_spiketimes.npz") as data:
        for record in meta:
            key = f"cell{record['cell']:03d}"
            times = np.unique(np.round(data[f"{key}/spike_times_s"] * 30000.0).astype(np.int64))
            times = times[times >= 0]
            units.append(UnitData(cluster_id=record["cell"], spike_times=times, fs=30000.0,
                                  waveform=data[f"{key}/wf_peak"],
                                  waveform_fs=float(record["wf_fs_hz"])))
    inputs = family_of(bundle).unit_inputs(bundle, units, None)
    prediction = predict_inputs(bundle, inputs.rows)
    return novelty(bundle, prediction)


def folder_scores(bundle, folder: Path) -> np.ndarray:
    result = classify(folder, bundle=bundle, options=PipelineOptions(quality=None, cache=False))
    return novelty(bundle, result.prediction)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--bundle", default="default")
    parser.add_argument("--json")
    args = parser.parse_args()
    shared = Path(args.shared)
    bundle = get_bundle(args.bundle)
    cortical = {"cellexplorer_groundtruth": cellexplorer_scores(
        bundle, shared / "data" / "cellexplorer_groundtruth")}
    for folder in sorted((shared / "data" / "phy_real").iterdir()):
        if (folder / "params.py").is_file():
            cortical[f"phy_real/{folder.name}"] = folder_scores(bundle, folder)
    tool = surrogate_tool(shared)
    lisberger = lisberger_with_trains(shared)
    with tempfile.TemporaryDirectory() as tmp:
        table = save_c4_derived(lisberger, Path(tmp) / "table")
        tool.build(table, Path(tmp) / "phy", 300.0, 20000)
        cerebellar = folder_scores(bundle, Path(tmp) / "phy")
    positives = np.concatenate(list(cortical.values()))
    report = {"bundle": bundle.label, "threshold": ENSEMBLE_THRESHOLD,
              "auroc_cortical_vs_lisberger_trains": auroc(positives, cerebellar),
              "n_cortical": int(np.isfinite(positives).sum()), "n_cerebellar": int(cerebellar.size),
              "cortical_above_threshold": float(np.nanmean(positives > ENSEMBLE_THRESHOLD)),
              "cerebellar_above_threshold": float(np.mean(cerebellar > ENSEMBLE_THRESHOLD)),
              "median": {"cortical": float(np.nanmedian(positives)),
                         "cerebellar": float(np.median(cerebellar))},
              "per_source_median": {k: float(np.nanmedian(v)) for k, v in cortical.items()}}
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
