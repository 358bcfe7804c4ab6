"""``phy-c4 train``, ``evaluate``, ``review`` and ``adapt``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from phy_c4.config import BASE_LABELS, DEVICE_CHOICES, MLI_SPLIT_LABELS

LABEL_SETS = {"base": BASE_LABELS, "mli_split": MLI_SPLIT_LABELS}


def register_training(sub) -> None:
    t = sub.add_parser("train", help="train a bundle with C4's semi-supervised recipe")
    t.add_argument("--table", action="append", required=True,
                   help="c4_derived folder, .npz table or Phy folder (repeatable)")
    t.add_argument("--unlabelled", action="append", default=[],
                   help="extra tables used only for VAE pretraining")
    t.add_argument("--out", required=True, help="bundle folder to write")
    t.add_argument("--name", default=None)
    t.add_argument("--version", default="1")
    t.add_argument("--variant", choices=sorted(LABEL_SETS), default="base")
    t.add_argument("--label-column", default="cell_type")
    _table_options(t)
    t.add_argument("--members", type=int, default=10)
    t.add_argument("--epochs", type=int, default=60)
    t.add_argument("--vae-epochs", type=int, default=40)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--report", help="folder for figures (confusion, accuracy vs ratio)")
    t.add_argument("--device", default="auto", choices=DEVICE_CHOICES,
                   help="where to train (auto: CUDA when torch sees it)")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="metrics of a bundle on a labelled table")
    e.add_argument("--bundle", default="default")
    e.add_argument("--table", required=True)
    e.add_argument("--label-column", default="cell_type")
    _table_options(e)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("review", help="agreement of the model with the curator's labels")
    r.add_argument("paths", nargs="+", help="Phy folders with curated cell_type labels")
    r.add_argument("--bundle", help="classify afresh with this bundle (in memory, nothing "
                                    "written); default: the saved predictions")
    r.add_argument("--label-column", default="cell_type")
    r.add_argument("--source", action="append", dest="sources",
                   help="only labels of this source (repeatable: optotagged, pair, ...)")
    r.add_argument("--target-precision", type=float,
                   help="report the lowest confidence-ratio threshold reaching this precision")
    r.add_argument("--figure", help="PNG file for the confusion matrix and threshold curve")
    r.add_argument("--all-spikes", action="store_true",
                   help="with --bundle: skip C4's spike-quality filter")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_review)

    a = sub.add_parser("adapt", help="a bundle fitted to the curator's own labelled units")
    a.add_argument("paths", nargs="+", help="Phy folders with curated cell_type labels")
    a.add_argument("--out", required=True, help="bundle folder to write")
    a.add_argument("--bundle", default="default", help="the parent bundle")
    a.add_argument("--name", default=None)
    a.add_argument("--version", default="1")
    a.add_argument("--method", choices=["auto", "recalibrate", "fine_tune"], default="auto")
    a.add_argument("--label-column", default="cell_type")
    a.add_argument("--all-spikes", action="store_true", help="skip C4's spike-quality filter")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_adapt)


def _table_options(parser) -> None:
    parser.add_argument("--fs", type=float, default=None,
                        help="sample rate (Hz) of waveforms.csv rows whose length does not tell "
                             "it (90 samples: 30 kHz, 100: 40 kHz)")
    parser.add_argument("--peak-index", type=int, default=None,
                        help="sample of the waveform rows' peak, where it is not the largest")


def _load_tables(paths: list[str], args: argparse.Namespace):
    from phy_c4.training.sources import read_table
    from phy_c4.training.tables import concat

    if args.fs is not None and not args.fs > 0:
        raise ValueError(f"--fs must be a positive sample rate in Hz, got {args.fs}")
    tables = [read_table(path, args.label_column, args.fs,
                         peak_index=args.peak_index) for path in paths]
    return concat(tables) if len(tables) > 1 else tables[0]


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from phy_c4.families import load_bundle
    from phy_c4.model.bundle import save_bundle
    from phy_c4.training.evaluate import model_card
    from phy_c4.training.train import TrainConfig, train_bundle

    table = _load_tables(args.table, args)
    unlabelled = _load_tables(args.unlabelled, args) if args.unlabelled else None
    config = TrainConfig(labels=LABEL_SETS[args.variant], members=args.members, epochs=args.epochs,
                         vae_epochs=args.vae_epochs, seed=args.seed)
    out = Path(args.out)
    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if args.json:
            return
        bar = bars.setdefault(stage, tqdm(total=total, desc=stage, leave=False))
        bar.n = done
        bar.refresh()

    bundle, calibration = train_bundle(
        table, config, name=args.name or out.name, version=args.version, unlabelled=unlabelled,
        state_dir=out.parent / f".{out.name}.train_state", progress=progress,
        provenance={"tables": [str(Path(p).resolve()) for p in args.table]}, device=args.device)
    for bar in bars.values():
        bar.close()
    bundle.path = save_bundle(bundle, out)
    load_bundle(bundle.path)  # verify what was written
    (bundle.path / "MODEL_CARD.md").write_text(model_card(bundle, table, calibration))
    summary = {"bundle": str(bundle.path), "members": bundle.n_members,
               "labelled": bundle.manifest["training"]["units_labelled"],
               "class_counts": bundle.manifest["training"]["class_counts"], **calibration}
    if args.report:
        from phy_c4.training.figures import training_figures

        summary["figures"] = [str(p) for p in training_figures(bundle, table, args.report)]
    print(json.dumps(summary, indent=2) if args.json else
          f"wrote {bundle.path} ({bundle.n_members} members, {summary['labelled']} labelled "
          f"units); ECE {calibration['ece_before']:.3f} -> {calibration['ece_after']:.3f} "
          f"(temperature {calibration['temperature']:.2f})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from phy_c4.training.evaluate import evaluate_table
    from phy_c4.weights import get_bundle

    bundle = get_bundle(args.bundle)
    table = _load_tables([args.table], args)
    result = evaluate_table(bundle, table)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{bundle.label} on {table.name}: {result['n_units']} labelled units")
    print(f"  balanced accuracy {result['balanced_accuracy']:.3f}, accuracy "
          f"{result['accuracy']:.3f}, ECE {result['ece']:.3f}")
    print(f"  at confidence ratio >= 2: accuracy {result['accuracy_at_ratio2']:.3f}, coverage "
          f"{result['coverage_at_ratio2']:.3f}")
    print("  class        precision recall  f1    n")
    for label, m in result["per_class"].items():
        print(f"  {label:12s} {m['precision']:.3f}     {m['recall']:.3f}  {m['f1']:.3f} "
              f"{m['support']:4d}")
    return 0


def _options(args: argparse.Namespace):
    from phy_c4.pipeline import PipelineOptions

    return PipelineOptions(quality=None) if args.all_spikes else PipelineOptions()


def cmd_review(args: argparse.Namespace) -> int:
    from phy_c4.training.review import curated_units, review, review_figure
    from phy_c4.weights import get_bundle

    if args.target_precision is not None and not 0 < args.target_precision <= 1:
        raise ValueError(f"--target-precision must be in (0, 1], got {args.target_precision}")
    bundle = get_bundle(args.bundle) if args.bundle else None
    units = [curated_units(path, args.label_column, bundle, options=_options(args))
             for path in args.paths]
    report = review(units, args.target_precision, tuple(args.sources) if args.sources else None)
    if args.figure:
        report["figure"] = str(review_figure(report, args.figure))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['n_units']} curated units in {len(units)} recordings"
          f" ({report['units_rejected']} rejected predictions also scored)")
    print(f"  balanced accuracy {report['balanced_accuracy']:.3f}, accuracy "
          f"{report['accuracy']:.3f}")
    print("  class        precision recall  n")
    for label, m in report["per_class"].items():
        if m["support"] or m["precision"]:
            print(f"  {label:12s} {m['precision']:.3f}     {m['recall']:.3f}  {m['support']:4d}")
    for source, m in report["by_source"].items():
        print(f"  source {source}: accuracy {m['accuracy']:.3f} ({m['units']} units)")
    target = report.get("target")
    if target and target["reached"]:
        print(f"  precision >= {target['target_precision']:g} from confidence ratio "
              f"{target['threshold']:.2f}: precision {target['precision']:.3f}, "
              f"{target['kept']} units kept (coverage {target['coverage']:.2f})")
    elif target:
        print(f"  precision {target['target_precision']:g}: {target['why']}")
    if report["labels_outside_classes"]:
        print(f"  labels outside the model's classes: {report['labels_outside_classes']}")
    if args.figure:
        print(f"  figure: {report['figure']}")
    return 0


def cmd_adapt(args: argparse.Namespace) -> int:
    from phy_c4.model.bundle import save_bundle
    from phy_c4.training.adapt import adapt_bundle, adapted_model_card, labelled_units
    from phy_c4.weights import get_bundle

    parent = get_bundle(args.bundle)
    units = [labelled_units(path, parent, args.label_column, options=_options(args))
             for path in args.paths]
    out = Path(args.out)
    bundle, report = adapt_bundle(parent, units, name=args.name or out.name,
                                  version=args.version, method=args.method)
    bundle.path = save_bundle(bundle, out)
    from phy_c4.families import load_bundle

    load_bundle(bundle.path)  # verify what was written
    (bundle.path / "MODEL_CARD.md").write_text(adapted_model_card(bundle, report))
    if args.json:
        print(json.dumps({"bundle": str(bundle.path), **report}, indent=2, default=float))
        return 0
    scores = report["cross_validation"]["scores"]
    print(f"wrote {bundle.path} ({report['method']} of {parent.label} on "
          f"{sum(report['recordings'].values())} labelled units)")
    print(f"  cross-validated ({report['cross_validation']['split']}) balanced accuracy: "
          + ", ".join(f"{k} {v['balanced_accuracy']:.3f}" for k, v in scores.items()))
    return 0
