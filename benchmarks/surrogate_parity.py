"""End-to-end parity of the table-feature family: spike trains -> ``classify`` -> labels.

Builds a Phy folder of renewal spike trains from the Lisberger table rows
(``../shared/tools/surrogate_phy.py``), classifies it through the pipeline, and reports:

1. default bundle: agreement of predictions from spike trains with predictions from the rows,
   and balanced accuracy, on the units whose trains reproduce their rows ("faithful"), with the
   tables' conventions and with the pre-0.2 ISI convention (2-ms bins over 0-200 ms);
2. a bundle trained on the Häusser lab alone (a lab the trains never came from), classified end
   to end: balanced accuracy, and accuracy / coverage at confidence ratio >= 2.

Run by hand: ``python benchmarks/surrogate_parity.py [--shared ../shared] [--json out.json]``.
The default bundle has seen the Lisberger rows, so (1) measures parity, not generalisation.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _surrogate import lisberger_with_trains, surrogate_tool

from phy_c4.features.table_features import isi_histogram, model_rows
from phy_c4.model import predict_inputs
from phy_c4.pipeline import PipelineOptions, classify
from phy_c4.training.metrics import balanced_accuracy
from phy_c4.training.tables import read_c4_derived, save_c4_derived
from phy_c4.training.train import TrainConfig, train_bundle
from phy_c4.weights import get_bundle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--max-spikes", type=int, default=20000)
    parser.add_argument("--json")
    args = parser.parse_args()
    shared = Path(args.shared)
    tool = surrogate_tool(shared)
    lisberger = lisberger_with_trains(shared)
    report: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        table = save_c4_derived(lisberger, Path(tmp) / "table")
        folder = Path(tmp) / "phy"
        start = time.perf_counter()
        times, acg_rows, isi_rows, labels = tool.build(table, folder, args.max_seconds,
                                                       args.max_spikes)
        waves, _, _, _ = tool.read_table(table)
        own = [tool.table_features(t) for t in times]
        fid_acg = np.array([np.corrcoef(a[101:121], r[101:121])[0, 1]
                            for (a, _), r in zip(own, acg_rows, strict=True)])
        fid_isi = np.array([np.corrcoef(i, r)[0, 1] for (_, i), r in zip(own, isi_rows,
                                                                         strict=True)])
        faithful = (fid_acg >= 0.9) & (fid_isi >= 0.99)
        report["units"], report["faithful"] = len(labels), int(faithful.sum())
        report["build_s"] = round(time.perf_counter() - start, 1)

        bundle = get_bundle("default")
        options = PipelineOptions(quality=None, cache=False)
        start = time.perf_counter()
        result = classify(folder, bundle=bundle, threshold=1.0, options=options)
        report["classify_s"] = round(time.perf_counter() - start, 1)
        ids = np.arange(len(labels))
        from_spikes = result.table.set_index("cluster_id").loc[ids, "c4_type"].to_numpy()
        rows = model_rows(waves, acg_rows, isi_rows, spec=bundle.spec)
        from_rows = predict_inputs(bundle, torch.from_numpy(rows), threshold=1.0).predicted
        old_spec = dataclasses.replace(bundle.spec, isi=dataclasses.replace(bundle.spec.isi,
                                                                            bin_ms=2.0))
        inputs = [result.features[u].inputs for u in ids]
        old_isi = np.stack([isi_histogram(times[u], 30000.0, old_spec) for u in ids])
        old_rows = model_rows(np.stack([f["waveform"] for f in inputs]),
                              np.stack([f["acg_1d"] for f in inputs]), old_isi, spec=bundle.spec)
        from_old = predict_inputs(bundle, torch.from_numpy(old_rows), threshold=1.0).predicted
        isi_corr = {name: np.array([np.corrcoef(h, r)[0, 1] for h, r in zip(hists, isi_rows,
                                                                          strict=True)])
                    for name, hists in (("tables", [f["isi"] for f in inputs]),
                                        ("old_2ms", old_isi))}
        scored = faithful & np.isin(labels, bundle.labels)
        report["default"] = {
            "bundle": bundle.label,
            "isi_corr_median": {k: float(np.nanmedian(v[faithful])) for k, v in isi_corr.items()},
            "isi_corr_min": {k: float(np.nanmin(v[faithful])) for k, v in isi_corr.items()},
            "agreement_with_rows": {
                "tables": float(np.mean(from_spikes[faithful] == from_rows[faithful])),
                "old_2ms": float(np.mean(from_old[faithful] == from_rows[faithful]))},
            "balanced_accuracy_faithful_labelled": {
                "rows": balanced_accuracy(from_rows[scored], labels[scored]),
                "spikes_tables": balanced_accuracy(from_spikes[scored], labels[scored]),
                "spikes_old_2ms": balanced_accuracy(from_old[scored], labels[scored])},
            "n_faithful_labelled": int(scored.sum())}

        hausser = read_c4_derived(shared / "data" / "c4_derived" / "hausser")
        torch.manual_seed(0)
        unseen, _ = train_bundle(hausser, TrainConfig(), name="hausser-only", version="0")
        other = classify(folder, bundle=unseen, threshold=2.0, options=options).table
        other = other.set_index("cluster_id").loc[ids]
        labelled = np.isin(labels, unseen.labels)
        best = np.array([max(unseen.labels, key=lambda k, r=r: r[f"c4_p_{k}"])
                         for _, r in other.iterrows()])
        confident = labelled & (other["c4_ratio"].to_numpy() >= 2.0)
        report["hausser_only_on_lisberger_trains"] = {
            "modalities_trained": list(unseen.spec.modalities),
            "n_labelled": int(labelled.sum()),
            "balanced_accuracy": balanced_accuracy(best[labelled], labels[labelled]),
            "accuracy_at_ratio2": float(np.mean(best[confident] == labels[confident])),
            "coverage_at_ratio2": float(confident.sum() / labelled.sum())}
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
