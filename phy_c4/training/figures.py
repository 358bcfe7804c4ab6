"""Training figures: confusion matrix and accuracy/coverage against the confidence-ratio
threshold, on a labelled table."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt
import numpy as np

from phy_c4.training.evaluate import evaluate_table


def plot_metrics(result: dict, path: str | os.PathLike, title: str) -> Path:
    labels = result["confusion"]["labels"]
    matrix = np.asarray(result["confusion"]["matrix"], dtype=float)
    fig, (ax_cm, ax_thr) = plt.subplots(1, 2, figsize=(10, 4.2))
    norm = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax_cm.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax_cm.text(j, i, int(matrix[i, j]), ha="center", va="center",
                       color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
    ax_cm.set_xticks(range(len(labels)), labels, rotation=30)
    ax_cm.set_yticks(range(len(labels)), labels)
    ax_cm.set_xlabel("predicted")
    ax_cm.set_ylabel("true")
    ax_cm.set_title(f"balanced accuracy {result['balanced_accuracy']:.2f}")
    thresholds = [float(t) for t in result["by_threshold"]]
    accuracy = [result["by_threshold"][t]["accuracy"] for t in result["by_threshold"]]
    coverage = [result["by_threshold"][t]["coverage"] for t in result["by_threshold"]]
    ax_thr.plot(thresholds, accuracy, "o-", label="accuracy of kept units")
    ax_thr.plot(thresholds, coverage, "s--", label="fraction of units kept")
    ax_thr.axvline(2, color="tab:red", lw=1, ls=":", label="C4's operating point")
    ax_thr.set_xlabel("confidence-ratio threshold")
    ax_thr.set_ylim(0, 1.02)
    ax_thr.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def training_figures(bundle, table, folder: str | os.PathLike) -> list[Path]:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    result = evaluate_table(bundle, table)
    return [plot_metrics(result, out / f"{bundle.name}_on_{table.name}.png",
                         f"{bundle.name} on {table.name} (training data: optimistic)")]
