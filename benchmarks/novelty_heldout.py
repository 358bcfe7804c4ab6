"""``c4_novelty`` on units its reference never saw: candidates, the fit, the threshold, AUROC.

Cerebellar side, always held out (split by lab and by half of the table, never by unit):

- fold 1: reference = Lisberger rows of the first half (their waveform and a spike train built
  from their ACG/ISI by ``surrogate_phy``); held out = Häusser units (mouse, their own waveform)
  with spike trains of second-half Lisberger units of the same class (Häusser has no ACG/ISI in
  ``../shared``, so its firing can only be lent), and unlabelled ones a random second-half train;
- fold 2 (the reverse): reference = Häusser waveforms with first-half trains; held out =
  Lisberger units of the second half (waveform and train).

Cortical side: the 97 CellExplorer ground-truth units (real spike trains, hippocampus and
visual cortex), split by investigator: each is scored by a model fitted without its
investigator's units. Every candidate feature is measured this way before the choice; the
shipped model (``phy_c4.novelty.MODEL``) is then fitted on everything, and its threshold is the
90th percentile of the held-out cerebellar scores. ``--fit`` prints the model to paste;
without it the script checks that the shipped one is what the data give.

    python benchmarks/novelty_heldout.py [--shared ../shared] [--json docs/novelty_heldout.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _surrogate import surrogate_tool
from scipy.optimize import minimize

from phy_c4.novelty import FEATURE_NAMES, MODEL, NoveltyModel, novelty_scores, unit_features
from phy_c4.training.tables import read_c4_derived

FS = 30000.0
SECONDS, MAX_SPIKES = 600.0, 30000
CANDIDATES = ("log10_rate", "cv2", "lvr", "width_ms", "log10_p01_isi_ms", "log10_median_isi_ms",
              "cv_isi", "long_isi_fraction")
"""The last two are global (rate changes over hours, the long-interval tail): reported, not used
(the surrogate's tail is exponential by construction)."""
assert CANDIDATES[:len(FEATURE_NAMES)] == FEATURE_NAMES  # the shipped ones come first
QUANTILE = 0.90
SEED = 2025


def auroc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counted half (Mann-Whitney)."""
    pos, neg = positives[np.isfinite(positives)], negatives[np.isfinite(negatives)]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (pos.size * neg.size))


def bootstrap_ci(positives: np.ndarray, negatives: np.ndarray, n: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    values = [auroc(rng.choice(positives, positives.size), rng.choice(negatives, negatives.size))
              for _ in range(n)]
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def candidates(times_samples: np.ndarray, waveform: np.ndarray | None, wf_fs: float
               ) -> np.ndarray:
    """Every candidate feature of one unit (``CANDIDATES`` order)."""
    base = unit_features(times_samples, FS, waveform, waveform_fs=wf_fs)
    d = np.diff(np.unique(times_samples)) / FS * 1000.0
    median = np.median(d)
    return np.array([*base, np.log10(np.percentile(d, 1)), np.log10(median),
                     np.std(d) / np.mean(d), np.mean(d > 4 * median)])


def cerebellar_units(shared: Path) -> dict[str, dict[str, np.ndarray]]:
    """Features of the reference and held-out cerebellar sets of both folds."""
    tool = surrogate_tool(shared)
    lisberger = read_c4_derived(shared / "data" / "c4_derived" / "lisberger")
    lisberger = lisberger.subset(lisberger.present.all(axis=1))
    hausser = read_c4_derived(shared / "data" / "c4_derived" / "hausser")
    hausser = hausser.subset(hausser.present[:, 0])
    rng = np.random.default_rng(SEED)
    trains = []
    for acg, isi in zip(lisberger.acg, lisberger.isi, strict=True):
        rate, p_short, m_tail = tool.renewal_parameters(acg, isi)
        trains.append(tool.surrogate_train(isi, rate, p_short, m_tail, rng, SECONDS, MAX_SPIKES))
    n = len(trains)
    half = {"A": np.arange(n) < n // 2, "B": np.arange(n) >= n // 2}

    def lend(block: str) -> list[int]:
        """For each Häusser unit, a Lisberger unit of ``block`` of its class (else any)."""
        pool = np.flatnonzero(half[block])
        chosen = []
        for label in hausser.labels:
            same = pool[lisberger.labels[pool] == label]
            chosen.append(int(rng.choice(same if same.size else pool)))
        return chosen

    def features(rows: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        return np.array([candidates(t, w, FS) for t, w in rows])

    lis = {b: features([(trains[i], lisberger.waveform[i]) for i in np.flatnonzero(m)])
           for b, m in half.items()}
    lis_labels = {b: lisberger.labels[m] for b, m in half.items()}
    hau = {b: features([(trains[i], w) for i, w in zip(lend(b), hausser.waveform, strict=True)])
           for b in half}
    return {"fold1": {"reference": lis["A"], "heldout": hau["B"],
                      "heldout_labels": hausser.labels},
            "fold2": {"reference": hau["A"], "heldout": lis["B"],
                      "heldout_labels": lis_labels["B"]},
            "all": {"reference": np.concatenate([lis["A"], lis["B"], hau["A"]])},
            "lisberger": {"features": np.concatenate([lis["A"], lis["B"]]),
                          "labels": np.concatenate([lis_labels["A"], lis_labels["B"]])}}


def cortical_units(shared: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, investigator groups, labels) of the CellExplorer ground-truth units."""
    folder = shared / "data" / "cellexplorer_groundtruth"
    meta = json.loads((folder / "ce_groundtruth_meta.json").read_text())
    rows = []
    with np.load(folder / "ce_groundtruth_spiketimes.npz") as data:
        for record in meta:
            key = f"cell{record['cell']:03d}"
            times = np.unique(np.round(data[f"{key}/spike_times_s"] * FS).astype(np.int64))
            rows.append(candidates(times[times >= 0], data[f"{key}/wf_peak"],
                                   float(record["wf_fs_hz"])))
    groups = np.array([r["investigator"] or "juxtacellular" for r in meta])
    return np.array(rows), groups, np.array([r["label"] for r in meta])


def fit(cerebellar: np.ndarray, cortical: np.ndarray, columns: list[int],
        l2: float = 1.0) -> NoveltyModel:
    """Logistic regression of cortical (1) against cerebellar (0), both sides weighted equally,
    on standardised features, L2 penalty ``l2`` (scipy; no scikit-learn dependency)."""
    x = np.concatenate([cerebellar[:, columns], cortical[:, columns]])
    y = np.r_[np.zeros(len(cerebellar)), np.ones(len(cortical))]
    w = np.r_[np.full(len(cerebellar), 0.5 / len(cerebellar)),
              np.full(len(cortical), 0.5 / len(cortical))]
    keep = np.isfinite(x).all(axis=1)
    x, y, w = x[keep], y[keep], w[keep] / w[keep].sum()
    mean, scale = x.mean(axis=0), x.std(axis=0)
    z = (x - mean) / scale

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        logit = z @ theta[:-1] + theta[-1]
        p = 1.0 / (1.0 + np.exp(-logit))
        value = np.sum(w * (np.logaddexp(0, logit) - y * logit)) + \
            0.5 * l2 / len(y) * theta[:-1] @ theta[:-1]
        grad_logit = w * (p - y)
        return value, np.r_[z.T @ grad_logit + l2 / len(y) * theta[:-1], grad_logit.sum()]

    theta = minimize(loss, np.zeros(len(columns) + 1), jac=True, method="L-BFGS-B").x
    names = tuple(CANDIDATES[c] for c in columns)
    return NoveltyModel(version="firing-1", features=names, mean=tuple(np.round(mean, 6)),
                        scale=tuple(np.round(scale, 6)),
                        coef=tuple(np.round(theta[:-1], 6)), intercept=round(float(theta[-1]), 6),
                        threshold=0.5, data="")


def heldout_scores(sets: dict, cortical: np.ndarray, groups: np.ndarray, columns: list[int]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(held-out cerebellar scores of both folds, their fold, cortical scores): each cortical
    unit by the models without its investigator (mean over the two folds), each held-out
    cerebellar unit by its fold's models (mean over the left-out investigators)."""
    cortical_scores = np.zeros((2, len(cortical)))
    cerebellar, fold_of = [], []
    for f, name in enumerate(("fold1", "fold2")):
        reference, heldout = sets[name]["reference"], sets[name]["heldout"]
        per_group = []
        for group in np.unique(groups):
            out = groups == group
            model = fit(reference, cortical[~out], columns)
            cortical_scores[f, out] = novelty_scores(cortical[out][:, columns], model)
            per_group.append(novelty_scores(heldout[:, columns], model))
        cerebellar.append(np.mean(per_group, axis=0))
        fold_of.append(np.full(len(heldout), f + 1))
    return np.concatenate(cerebellar), np.concatenate(fold_of), cortical_scores.mean(axis=0)


def _figure(path: Path, cerebellar: np.ndarray, fold_of: np.ndarray, cortical: np.ndarray,
            threshold: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 3.2), dpi=110)
    bins = np.linspace(0, 1, 41)
    for scores, label in ((cerebellar[fold_of == 1], "Häusser units, held out"),
                          (cerebellar[fold_of == 2], "Lisberger 2nd half, held out"),
                          (cortical, "CellExplorer cortical/hippocampal")):
        axis.hist(scores, bins, density=True, histtype="step", lw=1.5, label=label)
    axis.axvline(threshold, color="k", ls="--", lw=1, label=f"flag > {threshold:.2f}")
    axis.set_xlabel("c4_novelty (held-out models)")
    axis.set_ylabel("density")
    axis.legend(fontsize=7, frameon=False)
    figure.tight_layout()
    figure.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--json")
    parser.add_argument("--fit", action="store_true", help="print the model to ship")
    parser.add_argument("--figure", help="write the held-out score histograms (PNG)")
    args = parser.parse_args()
    shared = Path(args.shared)
    sets = cerebellar_units(shared)
    cortical, groups, cortical_labels = cortical_units(shared)
    heldout_all = np.concatenate([sets["fold1"]["heldout"], sets["fold2"]["heldout"]])
    report: dict = {"n_cortical": len(cortical),
                    "n_cerebellar_heldout": {"fold1_hausser": len(sets["fold1"]["heldout"]),
                                             "fold2_lisberger": len(sets["fold2"]["heldout"])},
                    "candidates": {}}
    for c, name in enumerate(CANDIDATES):  # one feature: sign set on the reference sets
        reference = np.concatenate([sets["fold1"]["reference"][:, c],
                                    sets["fold2"]["reference"][:, c]])
        sign = 1.0 if auroc(cortical[:, c], reference) >= 0.5 else -1.0
        report["candidates"][name] = {
            "auroc_heldout": auroc(sign * cortical[:, c], sign * heldout_all[:, c]),
            "direction": "cortical higher" if sign > 0 else "cortical lower",
            "median_cortical": float(np.nanmedian(cortical[:, c])),
            "median_cerebellar_heldout": float(np.nanmedian(heldout_all[:, c]))}
    subsets = {"rate": [0], "rate+cv2": [0, 1], "rate+cv2+lvr": [0, 1, 2],
               "rate+cv2+lvr+width (shipped)": [0, 1, 2, 3], "cv2+lvr+width": [1, 2, 3],
               "with global measures (not used)": [0, 1, 2, 3, 6, 7]}
    report["combinations"] = {}
    chosen = None
    for name, columns in subsets.items():
        cerebellar, fold_of, cortical_scores = heldout_scores(sets, cortical, groups, columns)
        threshold = float(np.quantile(cerebellar, QUANTILE))
        entry = {"auroc_heldout": auroc(cortical_scores, cerebellar),
                 "auroc_fold1_hausser": auroc(cortical_scores, cerebellar[fold_of == 1]),
                 "auroc_fold2_lisberger": auroc(cortical_scores, cerebellar[fold_of == 2]),
                 "cortical_flagged_at_10pct_cerebellar": float(np.mean(
                     cortical_scores > threshold))}
        report["combinations"][name] = entry
        if "shipped" in name:
            chosen = columns, cerebellar, fold_of, cortical_scores, threshold
    columns, cerebellar, fold_of, cortical_scores, threshold = chosen
    labels = np.concatenate([sets["fold1"]["heldout_labels"], sets["fold2"]["heldout_labels"]])
    low, high = bootstrap_ci(cortical_scores, cerebellar)
    report["shipped"] = {
        "features": [CANDIDATES[c] for c in columns],
        "auroc_heldout": auroc(cortical_scores, cerebellar), "auroc_ci95": [low, high],
        "threshold_heldout_q90": threshold,
        "cerebellar_flagged": float(np.mean(cerebellar > threshold)),
        "cerebellar_flagged_fold1_hausser": float(np.mean(cerebellar[fold_of == 1] > threshold)),
        "cerebellar_flagged_fold2_lisberger": float(np.mean(
            cerebellar[fold_of == 2] > threshold)),
        "cortical_flagged": float(np.mean(cortical_scores > threshold)),
        "cerebellar_flagged_by_class": {
            str(c): float(np.mean(cerebellar[labels == c] > threshold))
            for c in np.unique(labels)},
        "cortical_flagged_by_label": {
            str(c): float(np.mean(cortical_scores[cortical_labels == c] > threshold))
            for c in np.unique(cortical_labels)}}
    lis = sets["lisberger"]  # what the pairing's firing checks rest on (features/pairing.py)
    report["lisberger_firing_by_class"] = {
        str(c): {"rate_hz_p5_p50_p95": [round(float(10 ** v), 2) for v in np.percentile(
                     lis["features"][lis["labels"] == c, 0], [5, 50, 95])],
                 "cv2_p5_p50_p95": [round(float(v), 3) for v in np.percentile(
                     lis["features"][lis["labels"] == c, 1], [5, 50, 95])]}
        for c in np.unique(lis["labels"])}
    if args.figure:
        _figure(Path(args.figure), cerebellar, fold_of, cortical_scores, threshold)
    final = fit(sets["all"]["reference"], cortical, columns)
    final = NoveltyModel(version=final.version, features=final.features, mean=final.mean,
                         scale=final.scale, coef=final.coef,
                         intercept=final.intercept, threshold=round(threshold, 4),
                         data="Lisberger + Häusser (c4_derived, trains from surrogate_phy) against "
                         "CellExplorer ground truth; benchmarks/novelty_heldout.py")
    report["model"] = final.to_dict()
    report["shipped_model_matches"] = final == MODEL
    text = json.dumps(report, indent=2)
    print(text)
    if args.fit:
        print(repr(final))
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
