"""Purkinje pairing on recordings a spike sorter spoilt, with look-alikes: precision and recall.

Each recording (``phy_c4.testing.make_pairing_dataset``): 6 Purkinje cells as complex- and
simple-spike units (10-30 % of complex spikes missing, 1-3 % contamination, 5-20 % of simple
spikes missing and drifting), an interneuron dipping after each cell's climbing fibre, a lone
simple-spike unit, a lone complex-spike unit of another cell with its own dipping interneuron,
a Golgi cell and a mossy fibre, all within 100 µm. Measured three ways:

- ``criterion``: ``find_pairs`` on the units the package offers (slow units as complex spikes,
  fast and not irregular ones as simple spikes), no network;
- ``old criterion``: the previous test (pause ratio < 0.5, no onset, no firing checks) with
  every slow unit offered against every other unit, which is how an interneuron got paired;
- ``pipeline``: ``classify`` with the default model, as ``phy-c4 classify --all-spikes
  --threshold 1`` runs it, and with C4's quality filter.

    python benchmarks/pairing_imperfect.py [--recordings 6] [--duration 600] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from phy_c4.features.pairing import PairingSpec, find_pairs, firing_kind
from phy_c4.io.dataset import open_recording
from phy_c4.pipeline import PipelineOptions, classify
from phy_c4.testing import InterneuronDip, make_pairing_dataset

OLD = PairingSpec(max_ratio=0.5, onset_max_ratio=float("inf"), cs_max_rate_hz=3.0,
                  ss_min_rate_hz=3.0, ss_max_cv2=float("inf"))
"""The previous criterion; the rate split only sorts the offered units into the two roles."""
NO_FIRING_CHECKS = replace(PairingSpec(), ss_min_rate_hz=3.0, ss_max_cv2=float("inf"))
"""Today's pause criterion (depth and onset) without the simple-spike unit's rate and CV2."""


def score(pairs: dict[int, int], units: list) -> dict[str, int]:
    truth = {u.cluster_id: u.partner for u in units if u.cell_type == "PkC_cs" and u.partner >= 0}
    kind = {u.cluster_id: u.cell_type for u in units}
    return {"planted": len(truth), "found": len(pairs),
            "correct": sum(truth.get(c) == s for c, s in pairs.items()),
            "interneurons_paired": sum(kind[u] in ("MLI", "GoC", "MFB")
                                       for pair in pairs.items() for u in pair)}


def criterion_pairs(folder: Path, spec: PairingSpec, offer_all: bool) -> dict[int, int]:
    recording = open_recording(folder)
    trains = {int(c): recording.spike_times[recording.spikes_of(int(c))]
              for c in recording.cluster_ids}
    peaks = {c: int(np.argmax(np.ptp(recording.template_waveform(c), axis=1))) for c in trains}
    positions = {c: recording.channel_positions[p] for c, p in peaks.items()}
    if offer_all:  # the old way: the slow units against everything else
        cs = {c: t for c, t in trains.items() if t.size / recording.duration_s < 3.0}
        ss = {c: t for c, t in trains.items() if c not in cs}
    else:
        kinds = {c: firing_kind(t, recording.fs, spec) for c, t in trains.items()}
        cs = {c: t for c, t in trains.items() if kinds[c] == "cs"}
        ss = {c: t for c, t in trains.items() if kinds[c] == "ss"}
    return find_pairs(cs, ss, positions, fs=recording.fs, spec=spec)[0]


def pipeline_pairs(folder: Path, options: PipelineOptions, units: list) -> tuple[dict, int]:
    """(pairs, units of true pairs typed right after pairing, units the pair typed against the
    network's guess)."""
    result = classify(folder, options=options, threshold=1.0)
    table = result.table.set_index("cluster_id")
    pairs = {int(c): int(p) for c, p in table["c4_pair"].items()
             if p != "" and table.loc[int(p), "c4_pair"] == c and
             table.loc[c, "c4_type"] == "PkC_cs"}
    typed = sum(table.loc[u.cluster_id, "c4_type"] == u.cell_type for u in units if u.partner >= 0)
    return pairs, typed, sum(len(e["typed"]) for e in result.parameters["pairs"])


def total(rows: list[dict[str, int]]) -> dict[str, float]:
    summed = {k: sum(r[k] for r in rows) for k in rows[0]}
    summed["precision"] = summed["correct"] / summed["found"] if summed["found"] else 1.0
    summed["recall"] = summed["correct"] / summed["planted"]
    return summed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recordings", type=int, default=6)
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--no-pipeline", action="store_true")
    parser.add_argument("--dip-latency", type=float, nargs=2, metavar=("LOW", "HIGH"),
                        default=InterneuronDip().latency_ms,
                        help="ms after the complex spike an interneuron's dip starts")
    parser.add_argument("--json")
    args = parser.parse_args()
    rows: dict[str, list] = {"criterion": [], "old criterion": [],
                             "pause alone (no firing checks)": [], "pipeline, all spikes": [],
                             "pipeline, quality filter": []}
    typed = {"pipeline, all spikes": 0, "pipeline, quality filter": 0}
    corrected = dict.fromkeys(typed, 0)
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.recordings):
            folder = Path(tmp) / f"rec{seed}"
            units = make_pairing_dataset(folder, duration_s=args.duration, seed=seed,
                                         dip=InterneuronDip(latency_ms=tuple(args.dip_latency)))
            rows["criterion"].append(score(criterion_pairs(folder, PairingSpec(), False), units))
            rows["old criterion"].append(score(criterion_pairs(folder, OLD, True), units))
            rows["pause alone (no firing checks)"].append(
                score(criterion_pairs(folder, NO_FIRING_CHECKS, True), units))
            if args.no_pipeline:
                continue
            for name, quality in (("pipeline, all spikes", None),
                                  ("pipeline, quality filter", PipelineOptions().quality)):
                options = replace(PipelineOptions(cache=False), quality=quality)
                pairs, n_typed, n_corrected = pipeline_pairs(folder, options, units)
                rows[name].append(score(pairs, units))
                typed[name] += n_typed
                corrected[name] += n_corrected
    report = {"recordings": args.recordings, "duration_s": args.duration,
              "dip_latency_ms": list(args.dip_latency),
              "results": {k: total(v) for k, v in rows.items() if v}}
    for name, n_typed in typed.items():
        if name in report["results"]:
            report["results"][name]["units_of_true_pairs_typed_right"] = n_typed
            report["results"][name]["units_typed_by_the_pair_not_the_network"] = corrected[name]
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
