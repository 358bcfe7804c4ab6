"""Train the shipped default bundle on the C4-database tables and write its model card.

Developer tool, not part of the package (the package never reads ../shared). Usage:

    python scripts/train_default_weights.py --data ../shared/data/c4_derived --out weights

1. Lisberger (macaque) -> Häusser (mouse), and Häusser -> Lisberger: train on one lab (its
   unlabelled units pretrain the VAEs), test on the other lab's labelled units. Never a random
   unit split: simple and complex spikes of one Purkinje cell come in pairs.
2. The final bundle: both labs, every unit in pretraining.
3. ``<out>/<name>/MODEL_CARD.md`` with every number, ``<out>/DEFAULT``, figures in docs/images.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from phy_c4.families import load_bundle
from phy_c4.model.bundle import save_bundle
from phy_c4.training.evaluate import evaluate_table
from phy_c4.training.figures import plot_metrics
from phy_c4.training.tables import concat, read_c4_derived
from phy_c4.training.train import TrainConfig, train_bundle

NAME = "c4-tables"
VERSION = "4"
"""2: full TableFeatureSpec (ISI 1-ms bins, 0-100 ms); 3: reference units; 4: their inputs."""


def _row(result: dict) -> str:
    return (f"| {result['n_units']} | {result['balanced_accuracy']:.3f} | {result['accuracy']:.3f}"
            f" | {result['accuracy_at_ratio2']:.3f} | {result['coverage_at_ratio2']:.3f} | "
            f"{result['ece']:.3f} |")


def _per_class(result: dict) -> str:
    lines = ["| class | precision | recall | F1 | n |", "|---|---:|---:|---:|---:|"]
    for label, m in result["per_class"].items():
        lines.append(f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
                     f"{m['support']} |")
    return "\n".join(lines)


def _confusion(result: dict) -> str:
    labels = result["confusion"]["labels"]
    lines = ["| true \\ predicted | " + " | ".join(labels) + " |",
             "|---|" + "---:|" * len(labels)]
    for label, row in zip(labels, result["confusion"]["matrix"], strict=True):
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def _thresholds(result: dict) -> str:
    lines = ["| ratio threshold | accuracy | coverage |", "|---:|---:|---:|"]
    for t, v in result["by_threshold"].items():
        lines.append(f"| {t} | {v['accuracy']:.3f} | {v['coverage']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="../shared/data/c4_derived")
    parser.add_argument("--out", default="weights")
    parser.add_argument("--images", default="docs/images")
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--vae-epochs", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = Path(args.data)
    lisberger = read_c4_derived(data / "lisberger")
    hausser = read_c4_derived(data / "hausser")
    config = TrainConfig(members=args.members, epochs=args.epochs, vae_epochs=args.vae_epochs)
    images = Path(args.images)
    images.mkdir(parents=True, exist_ok=True)
    results, timings = {}, {}
    for train, test in ((lisberger, hausser), (hausser, lisberger)):
        start = time.perf_counter()
        bundle, calibration = train_bundle(train, config, name=f"{NAME}-{train.name}-only",
                                           version=VERSION)
        timings[train.name] = time.perf_counter() - start
        result = evaluate_table(bundle, test)
        result["calibration_out_of_fold"] = calibration
        results[f"{train.name}->{test.name}"] = result
        plot_metrics(result, images / f"cross_lab_{train.name}_to_{test.name}.png",
                     f"trained on {train.name}, tested on {test.name}")
        print(f"{train.name} -> {test.name}: balanced accuracy "
              f"{result['balanced_accuracy']:.3f}", flush=True)
    both = concat([lisberger, hausser], name="lisberger+hausser")
    start = time.perf_counter()
    final, calibration = train_bundle(
        both, config, name=NAME, version=VERSION,
        provenance={"data": "C4 database units via the HIPPIE benchmark (c4_derived tables: "
                            "Lisberger macaque, Häusser mouse)",
                    "script": "scripts/train_default_weights.py"})
    timings["final"] = time.perf_counter() - start
    final.manifest["evaluation"] = {k: {m: v[m] for m in ("balanced_accuracy", "accuracy",
                                                          "accuracy_at_ratio2",
                                                          "coverage_at_ratio2", "ece")}
                                    for k, v in results.items()}
    path = save_bundle(final, Path(args.out) / NAME)
    load_bundle(path)
    (Path(args.out) / "DEFAULT").write_text(NAME + "\n")
    training_fit = evaluate_table(final, both)
    parity_path = images.parent / "surrogate_parity.json"
    parity = json.loads(parity_path.read_text()) if parity_path.is_file() else None
    novelty_path = images.parent / "novelty_auroc.json"
    novelty = json.loads(novelty_path.read_text()) if novelty_path.is_file() else None
    card = model_card(final, results, training_fit, calibration, timings, config, parity,
                      novelty)
    (path / "MODEL_CARD.md").write_text(card)
    (images.parent / "default_weights_metrics.json").write_text(
        json.dumps({"cross_lab": results, "training_fit": training_fit,
                    "calibration": calibration, "seconds": timings}, indent=2))
    print(f"wrote {path}")


def _parity_section(parity: dict | None) -> str:
    """From ``benchmarks/surrogate_parity.py``'s JSON (docs/surrogate_parity.json)."""
    if parity is None:
        return "Not measured: run `python benchmarks/surrogate_parity.py --json " \
               "docs/surrogate_parity.json`, then this script."
    d, h = parity["default"], parity["hausser_only_on_lisberger_trains"]
    ba = d["balanced_accuracy_faithful_labelled"]
    return f"""Lisberger rows turned into spike trains (`../shared/tools/surrogate_phy.py`,
{parity['units']} units, {parity['faithful']} whose trains reproduce their rows) and classified
through `classify` (`benchmarks/surrogate_parity.py`, numbers in `docs/surrogate_parity.json`):

| | tables' conventions | 2-ms ISI bins over 0-200 ms (phy_c4 0.1) |
|---|---:|---:|
| ISI correlation with the row, median (min) | {d['isi_corr_median']['tables']:.4f} \
({d['isi_corr_min']['tables']:.3f}) | {d['isi_corr_median']['old_2ms']:.3f} \
({d['isi_corr_min']['old_2ms']:.3f}) |
| predictions equal to those from the rows | {d['agreement_with_rows']['tables']:.3f} | \
{d['agreement_with_rows']['old_2ms']:.3f} |
| balanced accuracy ({d['n_faithful_labelled']} labelled units; from rows \
{ba['rows']:.3f}) | {ba['spikes_tables']:.3f} | {ba['spikes_old_2ms']:.3f} |

This bundle has seen these rows, so the table measures parity, not accuracy on a new lab. A
bundle trained on Häusser alone ({', '.join(h['modalities_trained'])} only: that lab has no
ACG/ISI in the tables) classifies the same trains at a balanced accuracy of
{h['balanced_accuracy']:.3f} ({h['n_labelled']} labelled units; {h['accuracy_at_ratio2']:.3f}
accuracy at ratio >= 2, coverage {h['coverage_at_ratio2']:.3f}), as it does from the rows."""


def _novelty_section(novelty: dict | None) -> str:
    """From ``benchmarks/novelty_auroc.py``'s JSON (docs/novelty_auroc.json)."""
    if novelty is None:
        return "Not measured: run `python benchmarks/novelty_auroc.py --json " \
               "docs/novelty_auroc.json`, then this script."
    return f"""The ensemble's own novelty (`model.ensemble.novelty`; it was `c4_novelty` until
issue #25, which made it a held-out-calibrated score of firing and spike shape:
docs/trust.md): the mean distance of a unit to its 5 nearest labelled training units
(`reference.safetensors`: the 772 labelled units in the ensemble's
own feature space, the input of its last layer, with their table features, which the C4 view
overlays as the nearest training units), over the same for the training units, times (1 +
the members' disagreement); until #25 units were flagged above {novelty['threshold']:g}.
Measured (`benchmarks/novelty_auroc.py`): real cortical and
hippocampal units ({novelty['n_cortical']}, CellExplorer ground truth and the two real Phy
folders) against spike trains built from the Lisberger table ({novelty['n_cerebellar']}):
AUROC {novelty['auroc_cortical_vs_lisberger_trains']:.3f}; above the threshold
{novelty['cortical_above_threshold']:.1%} of the cortical units and
{novelty['cerebellar_above_threshold']:.1%} of the Lisberger trains. The Lisberger rows are this
bundle's own training data, so this measures "unlike the training data", not generalisation to
another cerebellar lab. Use the region gate (`--cerebellar-depth`, `cluster_region.tsv`) where
anatomy is known."""


def model_card(bundle, results, training_fit, calibration, timings, config,
               parity: dict | None = None, novelty: dict | None = None) -> str:
    counts = bundle.manifest["training"]["class_counts"]
    lh, hl = results["lisberger->hausser"], results["hausser->lisberger"]
    return f"""# Model card: {bundle.name}@{bundle.manifest['version']} (phy_c4 default bundle)

## What it is
An ensemble of {bundle.n_members} C4-style classifiers (VAE-pretrained encoders per modality,
batch norm, hidden layer, class layer) over the features of the C4-database tables.
Classes: {', '.join(bundle.labels)}. Probabilities are temperature-calibrated
(T = {calibration['temperature']:.3f}).

## Inputs (the contract)
The manifest's `features` is a `TableFeatureSpec` (read strictly; the pipeline computes the
inputs from spike times only through it). The conventions are the tables' own:
- waveform: peak-channel mean waveform, 75 samples at 30 kHz, 1 ms before / 1.5 ms after the
  largest absolute peak, flipped so that peak is negative, scaled to -1 (other rates linearly
  interpolated);
- 1-D autocorrelogram: raw pair counts, lags -100..+100 ms, spike times floored onto a 1-ms grid
  (bins centred on whole ms), lag 0 set to 0; the model reads lags 1..100 ms over their maximum;
- ISI histogram: raw counts in 1-ms bins over [0, 100) ms, longer intervals not counted; the
  model reads sqrt(counts / total) over its maximum.

Evidence: `docs/features.md` (how the conventions were read from the tables) and
`tests/features/test_table_features.py` (spike trains built from the Lisberger rows: features
and predictions from spikes match the rows; the tests fail under the old 2-ms ISI bins).
`benchmarks/surrogate_parity.py` measures it end to end ("From spike trains" below).

**It is not the official C4 model.** C4's own models use the 3D autocorrelogram; those weights
cannot be downloaded on the machines this bundle was made on. For them use
`phy-c4 weights fetch base` (or `layer_information`, `mli_clustering`, ...).

## Training data
C4-database units as released by the HIPPIE benchmark (`c4_derived`; BSD-3 for the derived
tables, C4 database terms for the recordings):
- Lisberger lab, macaque floccular complex, 40 kHz: waveform + ACG + ISI;
- Häusser lab, mouse cerebellum, Neuropixels 1.0, 30 kHz: waveform only.

Labelled units per class (granule cells excluded, as C4 does): {json.dumps(counts)}
({bundle.manifest['training']['units_labelled']} labelled;
{bundle.manifest['training']['units_pretraining']} units, labelled and unlabelled, pretrain the
VAEs).

## How it was trained
`scripts/train_default_weights.py` (phy_c4 {bundle.manifest['training']['phy_c4']}):
beta-VAE per modality (latent {bundle.manifest['network']['d_latent']}, KL weight annealed to
{config.beta}, {config.vae_epochs} epochs), then {config.members} members (AdamW lr {config.lr},
weight decay {config.weight_decay}, {config.epochs} epochs, batch {config.batch_size},
class-balanced resampling, modality dropout {config.modality_dropout}), each on a stratified
{1 - config.holdout_fraction:.0%} of the labelled units; temperature fitted on the out-of-fold
predictions. CPU time: {timings['final']:.0f} s for the final bundle (2 cores).

## Measured
Split by lab (never by unit: Purkinje simple and complex spikes of one cell come in pairs).
Chance balanced accuracy is 0.200.

| evaluation | units | bal. acc. | accuracy | acc. at ratio ≥ 2 | coverage at ratio ≥ 2 | ECE |
|---|---:|---:|---:|---:|---:|---:|
| trained on Lisberger, tested on Häusser (waveform only) {_row(lh)}
| trained on Häusser, tested on Lisberger {_row(hl)}
| final model on its own training data (optimistic) {_row(training_fit)}

Calibration of the final model on out-of-fold predictions: ECE {calibration['ece_before']:.3f}
before and {calibration['ece_after']:.3f} after temperature scaling
({calibration['out_of_fold_units']} units).

### Lisberger → Häusser, per class
{_per_class(lh)}

{_confusion(lh)}

{_thresholds(lh)}

### Häusser → Lisberger, per class
{_per_class(hl)}

{_confusion(hl)}

{_thresholds(hl)}

Figures: `docs/images/cross_lab_*.png`. Raw numbers: `docs/default_weights_metrics.json`.

### From spike trains, end to end
{_parity_section(parity)}

### Knowing when not to trust a label
{_novelty_section(novelty)}

## Intended use
A first, honest default so phy_c4 runs out of the box: a ranking of likely cerebellar types to
check during curation, with the confidence ratio telling which calls to trust more.

## Limits
- Cross-lab accuracy is far below C4's reported > 95 % (at ratio ≥ 2): the tables lack the 3D
  autocorrelogram and layer information C4 relies on, the two labs differ in species, probes
  and filtering, and the mouse units carry no ACG/ISI.
- Not validated on mouse units from other labs, on other probes, or outside the cerebellum.
- 3D-ACG features are not used; the waveform window is ±(1, 1.5) ms around the largest peak,
  flipped negative, so polarity information is discarded.
- Count features are computed from all spikes that pass C4's quality filter; no code that
  made the tables is published, so their conventions were read from the tables themselves
  (docs/features.md).
- Version 1 of this bundle (phy_c4 0.1) had the same weights but was fed ISIs in 2-ms bins over
  0-200 ms at run time: re-classify results labelled `c4-tables@1`.
"""


if __name__ == "__main__":
    main()
