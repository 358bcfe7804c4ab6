"""What the default bundle calls each true type of the generated example (`make run`'s dataset).

Builds the demo's dataset (``phy-c4 demo``'s defaults: 4 units per type, 480 s, 6 channels,
seed 0) in a temporary folder, classifies it as the demo does (default bundle, threshold 2,
C4's quality filter) and prints, per true type, the predicted types (unclassified and not
classifiable included). Run by hand: ``python benchmarks/example_types.py [--json out.json]``
(~1-2 min on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

from phy_c4.io.tsv import read_cluster_column
from phy_c4.pipeline import classify
from phy_c4.testing import make_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units-per-type", type=int, default=4)
    parser.add_argument("--duration", type=float, default=480.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the table here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "example"
        make_dataset(folder, n_units_per_type=args.units_per_type, duration_s=args.duration,
                     seed=args.seed, n_channels=6)
        truth = read_cluster_column(folder / "cluster_true_type.tsv")
        result = classify(folder, bundle="default", threshold=2.0)
    table: dict[str, Counter] = {}
    for cluster_id, predicted, status in zip(result.cluster_ids, result.cell_type,
                                             result.status, strict=True):
        label = predicted or f"not classified ({status.split(':')[0]})"
        table.setdefault(truth[int(cluster_id)], Counter())[label] += 1
    print(f"example dataset (seed {args.seed}, {args.units_per_type} units per type, "
          f"{args.duration:g} s), {result.bundle_label}, threshold 2:")
    for true_type in sorted(table):
        counts = ", ".join(f"{k} {v}" for k, v in table[true_type].most_common())
        print(f"  true {true_type:7s} -> {counts}")
    correct = sum(c[t] for t, c in table.items())
    print(f"  correct: {correct}/{sum(sum(c.values()) for c in table.values())}")
    if args.json:
        Path(args.json).write_text(json.dumps({t: dict(c) for t, c in table.items()},
                                              indent=1) + "\n")


if __name__ == "__main__":
    main()
