"""Few-shot adaptation on a lab the bundle never saw: ``phy-c4 adapt``'s library path, measured.

Spike trains are built from the Lisberger table rows (``../shared/tools/surrogate_phy.py``) and
fed through the pipeline to a bundle trained on the Häusser lab alone. For 5, 10 and 20 labelled
units per class (drawn at random, as a curator labelling the units they identified would; 5
draws each), ``adapt_bundle`` chooses and fits an adaptation exactly as the CLI does (it may
refuse: then the curator keeps the parent); balanced accuracy is measured on the remaining
units, beside the parent's on the same units, and beside each method forced.

Run by hand: ``python benchmarks/adapt_fewshot.py [--shared ../shared] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _surrogate import lisberger_with_trains, surrogate_tool

from phy_c4.model import predict_inputs
from phy_c4.pipeline import PipelineOptions, model_inputs
from phy_c4.training.adapt import AdaptError, LabelledUnits, adapt_bundle
from phy_c4.training.metrics import balanced_accuracy
from phy_c4.training.tables import read_c4_derived, save_c4_derived
from phy_c4.training.train import TrainConfig, train_bundle


def balanced_accuracy_of(probabilities: np.ndarray, y: np.ndarray) -> float:
    return balanced_accuracy(probabilities.argmax(axis=1), y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--budgets", default="5,10,20")
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    shared = Path(args.shared)
    tool = surrogate_tool(shared)
    lisberger = lisberger_with_trains(shared)
    hausser = read_c4_derived(shared / "data" / "c4_derived" / "hausser")
    torch.manual_seed(0)
    start = time.perf_counter()
    parent, _ = train_bundle(hausser, TrainConfig(), name="hausser-only", version="0")
    report: dict = {"parent": "hausser-only (trained here, TrainConfig defaults, seed 0)",
                    "train_s": round(time.perf_counter() - start, 1)}
    with tempfile.TemporaryDirectory() as tmp:
        table = save_c4_derived(lisberger, Path(tmp) / "table")
        folder = Path(tmp) / "phy"
        _, _, _, labels = tool.build(table, folder, 300.0, 20000)
        ids = [int(i) for i in np.flatnonzero(np.isin(labels, parent.labels))]
        inputs, _ = model_inputs(folder, ids, parent, options=PipelineOptions(quality=None,
                                                                              cache=False))
    ready = np.asarray(inputs.ready)
    y = np.array([parent.labels.index(labels[c]) for c in ready])
    report["units"] = {parent.labels[k]: int(n) for k, n in enumerate(np.bincount(y))}
    parent_p = predict_inputs(parent, inputs.rows).probabilities
    report["parent_balanced_accuracy_all"] = balanced_accuracy_of(parent_p, y)
    results = {}
    for budget in (int(b) for b in args.budgets.split(",")):
        rows = []
        for draw in range(args.draws):
            rng = np.random.default_rng(1000 * budget + draw)
            chosen = np.zeros(len(y), dtype=bool)
            for k in np.unique(y):
                pool = np.flatnonzero(y == k)
                chosen[rng.choice(pool, min(budget, len(pool) - 1), replace=False)] = True
            rest = ~chosen
            units = [LabelledUnits(recording="lisberger-surrogate", cluster_ids=ready[chosen],
                                   y=y[chosen],
                                   inputs=inputs.rows[torch.from_numpy(chosen)],
                                   sources=np.array(["optotagged"] * int(chosen.sum()),
                                                    dtype=object))]
            row = {"parent": balanced_accuracy_of(parent_p[rest], y[rest])}
            for method in ("auto", "recalibrate", "fine_tune"):
                try:
                    adapted, info = adapt_bundle(parent, units, name="adapted", method=method)
                except AdaptError:
                    row[method] = row["parent"]  # refused: the curator keeps the parent
                    row[f"{method}_refused"] = True
                    continue
                rest_rows = inputs.rows[torch.from_numpy(rest)]
                row[method] = balanced_accuracy_of(
                    predict_inputs(adapted, rest_rows).probabilities, y[rest])
                if method == "auto":
                    row["auto_method"] = info["method"]
            rows.append(row)
        summary = {key: round(float(np.mean([r[key] for r in rows])), 3)
                   for key in ("parent", "auto", "recalibrate", "fine_tune")}
        summary["gain_auto"] = round(summary["auto"] - summary["parent"], 3)
        summary["auto_methods"] = [r.get("auto_method", "refused") for r in rows]
        summary["draws"] = rows
        results[str(budget)] = summary
        print(f"{budget:3d} per class: parent {summary['parent']:.3f}, adapted "
              f"{summary['auto']:.3f} (gain {summary['gain_auto']:+.3f}; "
              f"{summary['auto_methods']}); recalibrate {summary['recalibrate']:.3f}, "
              f"fine_tune {summary['fine_tune']:.3f}", flush=True)
    report["by_labels_per_class"] = results
    # the ceiling of a last-layer adaptation of this parent: half of all units as labels
    half = np.random.default_rng(0).random(len(y)) < 0.5
    units = [LabelledUnits(recording="lisberger-surrogate", cluster_ids=ready[half], y=y[half],
                           inputs=inputs.rows[torch.from_numpy(half)],
                           sources=np.array(["optotagged"] * int(half.sum()), dtype=object))]
    adapted, info = adapt_bundle(parent, units, name="adapted", method="fine_tune")
    rest_rows = inputs.rows[torch.from_numpy(~half)]
    report["ceiling_half_of_all_units"] = {
        "labelled": int(half.sum()), "method": info["method"],
        "parent": balanced_accuracy_of(parent_p[~half], y[~half]),
        "adapted": balanced_accuracy_of(predict_inputs(adapted, rest_rows).probabilities,
                                        y[~half])}
    print(f"ceiling (half of all units labelled): {report['ceiling_half_of_all_units']}")
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
