"""``phy-c4``: headless C4 classification, weights management and the example dataset.

The work is in ``phy_c4.pipeline`` (classification) and ``phy_c4.io.publish`` (files); this
module parses, selects clusters and reports. Exit codes: 0 all good; 1 some recordings failed
(one line each on stderr, the others still ran); 2 bad usage; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from phy_c4._version import __version__
from phy_c4.config import DEVICE_CHOICES

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
LOCK_WAIT_S = 120.0
"""How long a run waits for another run's commit into the same folder (commits take seconds)."""


def _parse_clusters(text: str | None) -> list[int] | None:
    """``"3,5,10-20"`` -> ids; a clear ``ValueError`` for anything else."""
    if not text:
        return None
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                lo, hi = (int(v) for v in part.split("-", 1))
                if hi < lo:
                    raise ValueError(f"--clusters: empty range {part!r} ({hi} < {lo})")
                out.extend(range(lo, hi + 1))
            elif part:
                out.append(int(part))
        except ValueError as error:
            if "empty range" in str(error):
                raise
            raise ValueError(f"--clusters: {part!r} is not a cluster id or a range like 10-20"
                             ) from None
    if any(c < 0 for c in out):
        raise ValueError("--clusters: cluster ids are never negative")
    if not out:
        raise ValueError("--clusters: no cluster ids given")
    return out


def _number(text: str, valid: Callable[[float], bool], what: str) -> float:
    """argparse type: a finite number that ``valid`` accepts, else a usage error naming
    ``what`` it must be."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and valid(value)):
        raise argparse.ArgumentTypeError(f"{text} is not {what}")
    return value


def _threshold(text: str) -> float:
    """A confidence ratio is top / second probability, so >= 1."""
    return _number(text, lambda v: v >= 1.0, "a confidence ratio (a number >= 1)")


def _fraction(text: str) -> float:
    """A rate of false positives or negatives."""
    return _number(text, lambda v: 0.0 <= v <= 1.0, "a fraction between 0 and 1")


def _seconds(text: str) -> float:
    """A duration."""
    return _number(text, lambda v: v >= 0.0, "a duration in seconds (>= 0)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _read_layers(path: str | None) -> dict[int, str] | None:
    if not path:
        return None
    from phy_c4.io.tsv import read_cluster_column

    try:
        header = Path(path).read_bytes().decode("utf-8-sig").split("\n")[0]
    except UnicodeDecodeError:
        raise ValueError(f"--layer {path}: not UTF-8 text (saved as UTF-16 or another "
                         "encoding?); save it as UTF-8: cluster_id<TAB>layer per line") from None
    return read_cluster_column(path, "layer") if "layer" in header else read_cluster_column(path)


def _layers_for(bundle, path: str | None, folder: Path) -> dict[int, str] | None:
    """The layer of each cluster for a layer bundle: ``--layer FILE``, else the folder's
    cluster_layer.tsv, else every unit "unknown" (said on stderr). A layer file for a bundle
    without layer input is an error, not silently ignored; an unreadable file is said first."""
    layer = _read_layers(path)
    if path and not bundle.use_layer:
        raise ValueError(f"--layer {path}: bundle {bundle.name} takes no layer input; use a "
                         "layer_information bundle (phy-c4 weights fetch layer_information) "
                         "or drop --layer")
    if not bundle.use_layer:
        return None
    if layer is None and (folder / "cluster_layer.tsv").is_file():
        layer = _read_layers(str(folder / "cluster_layer.tsv"))
    if layer is None:
        print(f"phy-c4: bundle {bundle.name} uses each unit's layer, but no --layer file and no "
              f"cluster_layer.tsv in {folder}: every unit's layer is 'unknown'",
              file=sys.stderr)
    return layer


def classify_one(path: str, args: argparse.Namespace) -> dict[str, Any]:
    """Classify one recording and publish its files; returns a JSON-able summary."""
    from phy_c4.features.quality import QualitySpec
    from phy_c4.io.analyzer import RESULTS_DIR
    from phy_c4.io.dataset import open_recording, params_path
    from phy_c4.io.publish import check_publishable, publish
    from phy_c4.model.device import resolve_device
    from phy_c4.pipeline import PipelineOptions, classify
    from phy_c4.run import publication, select_clusters, summary
    from phy_c4.weights import get_bundle

    start = time.perf_counter()
    resolve_device(args.device)  # a missing GPU is said now, not after the features
    analyzer = _load_analyzer(path) if args.analyzer else None
    folder = Path(path) if analyzer is not None else params_path(path).parent
    default_out = folder / RESULTS_DIR if analyzer is not None else folder
    out = Path(args.out) / folder.name if args.out and len(args.paths) > 1 else \
        Path(args.out or default_out)
    if args.out or analyzer is not None:
        out.mkdir(parents=True, exist_ok=True)
    check_publishable(out, args.overwrite)  # before any computation
    layer_target = _layer_target(args, folder) if args.propose_layers else None
    recording = open_recording(analyzer if analyzer is not None else folder, force=args.force)
    group = "all" if analyzer is not None and not recording.groups and args.group == "good" \
        else args.group  # an analyzer without Phy labels: every unit
    bundle = get_bundle(args.bundle)
    if args.clusters is None and group != "all" and analyzer is None and \
            (folder / "cluster_group.tsv").is_file() and "group" not in recording.metadata:
        why = next((n.split("; its columns")[0].removeprefix("cluster_group.tsv ")
                    for n in recording.notes if n.startswith("cluster_group.tsv could not")),
                   "has no cluster_id and group columns")
        raise ValueError(f"{folder}: cluster_group.tsv {why}; fix it, or choose --group all or "
                         "--clusters")
    clusters = select_clusters(recording.cluster_ids, recording.groups,
                               _parse_clusters(args.clusters), group=group, where=str(folder))
    layer = _layers_for(bundle, args.layer, folder)
    quality = None if args.all_spikes else QualitySpec(fp_threshold=args.fp_threshold,
                                                       fn_threshold=args.fn_threshold,
                                                       min_good_s=args.min_good_seconds,
                                                       periods=args.filter_periods)
    options = PipelineOptions(quality=quality, waveform_source=args.waveform_source,
                              region=_region_gate(args, recording),
                              threads=args.jobs, cache=not args.no_cache,
                              threshold=args.threshold, device=args.device)
    progress = _progress_bar(args, folder.name)
    try:
        result = classify(recording, clusters, bundle=bundle, layer=layer, progress=progress,
                          options=options)
    finally:
        if hasattr(progress, "close"):
            progress.close()
    figures = None
    drawn: list[Path] = []
    if args.report:
        from phy_c4.report import write_report

        depths = _unit_depths(recording, result.table["cluster_id"].tolist())

        def figures(target: Path) -> list[Path]:
            if not (args.json or args.quiet):
                print(f"phy-c4: drawing the figures of {len(result.cluster_ids)} units ...",
                      file=sys.stderr, flush=True)
            drawn[:] = write_report(target, result, recording.channel_positions, unit_depths=depths)
            return drawn

    written = publish(out, publication(result, npyx_columns=args.npyx_columns, figures=figures,
                                       partial=args.clusters is not None),
                      overwrite=args.overwrite, wait_s=LOCK_WAIT_S)
    if analyzer is not None:
        from phy_c4.io.analyzer import write_unit_properties

        write_unit_properties(analyzer, result.table)
    done = {"path": str(folder), "results": str(out), **summary(result),
            "seconds": round(time.perf_counter() - start, 2), "files": len(written),
            "figures": len(drawn), "ok": True,
            "notes": result.parameters.get("notes", [])}
    if layer_target is not None:
        done["layers"] = _write_layer_proposal(args, layer_target, result, recording=recording)
    return done


def _layer_target(args: argparse.Namespace, folder: Path) -> Path:
    """Where ``--propose-layers`` writes for ``folder``, checked before anything is computed or
    published (a refusal after publishing would leave new results behind a failure)."""
    target = Path(args.propose_layers)
    if len(args.paths) > 1:
        target = target.with_name(f"{target.stem}_{folder.name}{target.suffix or '.tsv'}")
    if target.exists() and target.resolve().parent == folder.resolve():
        raise ValueError(f"--propose-layers will not replace {target.name} in the Phy folder: "
                         "write the proposal elsewhere, check it, then copy it there yourself")
    if target.exists() and not args.overwrite:
        raise ValueError(f"{target} exists; pass --overwrite to replace it")
    return target


def _write_layer_proposal(args: argparse.Namespace, target: Path, result, *, recording
                          ) -> dict[str, Any]:
    """The layers the run's CS-SS pairs propose, as a ``--layer`` file for the user to check and
    pass to a layer_information bundle (never into the Phy folder's own cluster_layer.tsv)."""
    from phy_c4.atomic import atomic_open
    from phy_c4.layers import LayerSpec
    from phy_c4.run import layer_proposal

    proposal = layer_proposal(result, recording.channel_positions, recording.channel_shanks,
                              spec=LayerSpec(ml_side=args.ml_side))
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(target, "w") as out:
        out.write("cluster_id\tlayer\n")
        out.writelines(f"{c}\t{layer}\n" for c, layer in sorted(proposal.layers.items()))
    return {"file": str(target), "pairs": proposal.n_pairs, "counts": proposal.counts(),
            "pcl_depth_um": proposal.pcl_depth_um, "notes": proposal.notes}


def _region_gate(args: argparse.Namespace, recording):
    """The cerebellar-cortex gate from --cerebellar-depth, the cluster region column (used when
    the folder has one) and --channel-regions."""
    from phy_c4.region import RegionGate

    depth = None
    if args.cerebellar_depth:
        try:
            low, high = (float(v) for v in args.cerebellar_depth.split(":"))
        except ValueError:
            raise ValueError(f"--cerebellar-depth: {args.cerebellar_depth!r} is not LOW:HIGH in "
                             "µm, e.g. 1200:3400") from None
        depth = (low, high)
    column = recording.metadata.get(args.region_column, {})
    if args.region_column != "region" and not column:
        raise ValueError(f"no cluster_{args.region_column}.tsv column in {recording.folder}")
    channels = _read_channel_regions(args.channel_regions) if args.channel_regions else {}
    extra = tuple(n.strip() for n in (args.cerebellar_regions or "").split(",") if n.strip())
    return RegionGate(depth_um=depth, cluster_regions={int(c): str(v) for c,
                                                       v in column.items() if v},
                                                       channel_regions=channels, extra_names=extra)


def _read_channel_regions(path: str) -> dict[int, str]:
    """A channel -> region table (TSV or CSV; columns channel/channel_index/channel_id and
    region/acronym/brain_area), IBL / SpikeInterface style."""
    import pandas as pd

    table = pd.read_csv(path, sep=None, engine="python")
    key = next((c for c in ("channel", "channel_index", "channel_id", "ch") if c in table), None)
    value = next((c for c in ("region", "acronym", "brain_area", "location") if c in table),
                 None)
    if key is None or value is None:
        raise ValueError(f"{path}: needs a channel column and a region column, got "
                         f"{list(table.columns)}")
    return {int(c): str(r) for c, r in zip(table[key], table[value], strict=True)
            if isinstance(r, str) and r}


def _load_analyzer(path: str):
    try:
        from spikeinterface import load_sorting_analyzer
    except ImportError:
        raise ValueError("--analyzer needs spikeinterface: pip install 'phy-c4[spikeinterface]'"
                         ) from None
    try:
        return load_sorting_analyzer(path)
    except Exception as error:  # spikeinterface raises many kinds for a wrong folder
        raise ValueError(f"{path}: not a SortingAnalyzer folder ({error})") from None


def _unit_depths(recording, cluster_ids: list[int]) -> dict[int, float]:
    depths = {}
    for cluster_id in cluster_ids:
        try:
            channel = int(recording.model.get_cluster_channels(cluster_id)[0])
            depths[cluster_id] = float(recording.channel_positions[channel, 1])
        except Exception:  # depth is decoration; never fail a run for it
            continue
    return depths


def _progress_bar(args: argparse.Namespace, name: str):
    if args.json or args.quiet:
        return None
    from tqdm import tqdm

    bar = tqdm(total=0, desc=name, unit="unit", leave=False, file=sys.stderr)

    def update(done: int, total: int, message: str) -> None:
        bar.total = total
        bar.n = done
        bar.set_postfix_str(message, refresh=True)

    update.close = bar.close  # type: ignore[attr-defined]
    return update


def _print_summary(summaries: list[dict[str, Any]]) -> None:
    for s in summaries:
        if not s["ok"]:
            print(f"phy-c4: FAILED {s['path']}: {s['error']}", file=sys.stderr)
            continue
        for note in s.get("notes", []):
            print(f"phy-c4: {s['path']}: {note}", file=sys.stderr)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(s["counts"].items())) or "none"
        print(f"{s['path']}: {s['units']} units in {s['seconds']} s with {s['bundle']}\n"
              f"  types: {counts}\n"
              f"  below threshold: {s['below_threshold']}; not classifiable: "
              f"{s['not_classifiable']} (see cluster_c4_status.tsv)")
        if "layers" in s:
            layers = s["layers"]
            depths = ", ".join(f"shank {k} at {v:.0f} µm" for k, v in
                               layers["pcl_depth_um"].items()) or "no single depth"
            print(f"  layers from {layers['pairs']} CS-SS pairs (PCL {depths}): "
                  f"{layers['counts']} -> {layers['file']}; check it, then pass it as --layer")
            for note in layers["notes"]:
                print(f"  {note}")


def cmd_classify(args: argparse.Namespace) -> int:
    if args.dask:
        summaries = _run_with_dask(args)
    else:
        summaries = []
        for path in args.paths:
            summaries.append(_safe_classify(path, args))
    if args.json:
        print(json.dumps({"recordings": summaries}, indent=2, default=str))
        for failed in (s for s in summaries if not s["ok"]):  # errors on stderr, as JSON
            print(json.dumps(failed, default=str), file=sys.stderr)
    else:
        _print_summary(summaries)
    return EXIT_OK if all(s["ok"] for s in summaries) else EXIT_FAILED


def _safe_classify(path: str, args: argparse.Namespace) -> dict[str, Any]:
    from phy_c4.io.lock import FolderLockedError

    try:
        return classify_one(path, args)
    except Exception as error:  # one bad recording must not stop the others
        logging.getLogger("phy_c4").debug("classification of %s failed", path, exc_info=True)
        explained = isinstance(error, ValueError | OSError | FolderLockedError)
        text = str(error) if explained else f"{type(error).__name__}: {error}"
        if isinstance(error, MemoryError):
            text = (f"ran out of memory ({error or 'no details'}); a size in params.py or an "
                    ".npy shape is probably wrong (rerun with -v for where)")
        elif isinstance(error, AssertionError) and not str(error).strip():
            import traceback

            frame = traceback.extract_tb(error.__traceback__)[-1]
            text = (f"an internal check failed: `{(frame.line or '').strip()}` "
                    f"({Path(frame.filename).name}:{frame.lineno}); rerun with -v and report it")
        return {"path": path, "ok": False, "error": text}


def _run_with_dask(args: argparse.Namespace) -> list[dict[str, Any]]:
    try:
        from dask.distributed import Client
    except ImportError:
        raise SystemExit("--dask needs dask.distributed: pip install 'phy-c4[dask]'") from None
    from dask.distributed import as_completed

    client = Client(args.dask)
    try:
        options = argparse.Namespace(**{**vars(args), "quiet": True, "func": None})
        futures = client.map(_safe_classify, args.paths, [options] * len(args.paths), pure=False)
        for done, future in enumerate(as_completed(futures), start=1):
            summary = future.result()  # _safe_classify never raises: a failure is a summary
            if not args.quiet:
                state = "ok" if summary["ok"] else "FAILED"
                print(f"phy-c4: {done}/{len(futures)} recordings done ({summary['path']}: "
                      f"{state})", file=sys.stderr, flush=True)
        return [future.result() for future in futures]  # in the order given
    finally:
        client.close()


def cmd_weights(args: argparse.Namespace) -> int:
    from phy_c4.weights import (
        default_bundle_name,
        default_description,
        fetch_official,
        import_c4_archive,
        list_bundles,
        set_default_bundle,
    )

    if args.weights_cmd == "list":
        default = default_bundle_name()
        rows = list_bundles()
        if not rows:
            print("no bundles installed; try: phy-c4 weights fetch base")
        width = max((len(name) for name, _ in rows), default=0)
        for name, path in rows:
            print(f"{'*' if name == default else ' '} {name:{width}s}  {path}")
        print(f"default: {default_description()}")
        return EXIT_OK
    if args.weights_cmd == "default":
        if args.shipped or args.name:
            set_default_bundle(None if args.shipped else args.name)
        print(f"default: {default_description()}")
        return EXIT_OK
    if args.weights_cmd == "fetch":
        from tqdm import tqdm

        bars: dict[str, Any] = {}

        def progress(name: str, done: int, total: int | None) -> None:
            bar = bars.setdefault(name, tqdm(total=total, desc=name, unit="B", unit_scale=True))
            bar.n = done
            bar.refresh()

        bundle = fetch_official(args.variant, base_url=args.base_url, progress=progress)
        for bar in bars.values():
            bar.close()
        print(f"installed {bundle.name} ({bundle.n_members} members) at {bundle.path}")
        return EXIT_OK
    bundle = import_c4_archive(args.archive, args.variant, dest=args.dest,
                               hessians=args.hessians)
    print(f"imported {bundle.name} ({bundle.n_members} members, calibrated: "
          f"{bundle.calibration is not None}) at {bundle.path}")
    return EXIT_OK


def _results_folder(path: str) -> Path:
    """Where a Phy folder's (or an analyzer folder's) published results are."""
    from phy_c4.io.analyzer import RESULTS_DIR
    from phy_c4.io.results import AUDIT_DIR

    folder = Path(path)
    for candidate in (folder, folder / RESULTS_DIR):
        if (candidate / AUDIT_DIR).is_dir():
            return candidate
    raise FileNotFoundError(f"{folder}: no phy_c4 results (run phy-c4 classify first)")


def cmd_show(args: argparse.Namespace) -> int:
    """What produced the current c4 columns: package, bundle and its hash, spec, options."""
    from phy_c4.io.nwb import read_published
    from phy_c4.io.publish import pending_commit

    results = _results_folder(args.path)
    if pending_commit(results):  # a run is publishing, or was killed while it did
        print(f"phy-c4: {results} holds an incomplete commit (.phy_c4/journal.json): its "
              "files may mix two runs until a writer completes it; the next `phy-c4 classify "
              "--overwrite` into it does so first", file=sys.stderr)
        return EXIT_FAILED
    table, manifest = read_published(results)
    parameters = manifest.get("parameters", {})
    if args.json:
        print(json.dumps(manifest, indent=2))
        return EXIT_OK
    spec = parameters.get("feature_spec", {})
    print(f"{args.path}: {len(table)} clusters classified {manifest.get('created')} by phy_c4 "
          f"{manifest.get('phy_c4')}\n"
          f"  bundle {parameters.get('bundle')} ({parameters.get('architecture')}), sha256 "
          f"{parameters.get('bundle_sha256')}\n"
          f"  threshold {parameters.get('threshold')}, quality filter "
          f"{_quality_text(parameters.get('quality'))}, waveform "
          f"{parameters.get('waveform_source')}, sample rate {parameters.get('fs')} Hz\n"
          f"  feature spec: {json.dumps(spec, sort_keys=True)}\n"
          f"  inputs: {json.dumps(parameters.get('inputs', {}), sort_keys=True)}")
    for note in parameters.get("notes", []):
        print(f"  note: {note}")
    from phy_c4.weights import default_description

    print(f"  default model now: {default_description()}")
    return EXIT_OK


def _quality_text(quality: dict[str, Any] | None) -> str:
    if quality is None:
        return "off"
    return f"on (periods {quality.get('periods', 'whole')})"


def cmd_export_nwb(args: argparse.Namespace) -> int:
    """Write the published results into an NWB file (new, or appended by unit id)."""
    from phy_c4.io.nwb import export_nwb

    results = _results_folder(args.path)
    recording = None
    if not Path(args.nwb).exists():
        from phy_c4.io.dataset import open_recording

        recording = open_recording(_load_analyzer(args.path) if args.analyzer else args.path)
    subject = {k: v for k, v in (("subject_id", args.subject_id), ("species", args.species),
                                 ("sex", args.sex), ("age", args.age)) if v}
    if recording is not None:  # a new file: say what DANDI will refuse, in one line
        from phy_c4.io.nwb import subject_warning

        warning = subject_warning(subject)
        if warning:
            print(f"phy-c4: warning: {warning}", file=sys.stderr)
    path = export_nwb(results, args.nwb, recording, subject=subject or None,
                      overwrite=args.overwrite)
    print(f"wrote the C4 columns into {path}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate the example dataset (if needed) and classify it with the default bundle."""
    from phy_c4.testing import make_dataset

    folder = Path(args.out)
    if not (folder / "params.py").is_file():
        print(f"writing the example dataset to {folder} ...", file=sys.stderr)
        make_dataset(folder, n_units_per_type=args.units_per_type, duration_s=args.duration,
                     seed=args.seed, n_channels=args.channels)
    classify_args = build_parser().parse_args(
        ["classify", str(folder), "--overwrite", "--report", "--group", "all", "--bundle",
         args.bundle] + (["--json"] if args.json else []))
    status = cmd_classify(classify_args)
    truth_path = folder / "cluster_true_type.tsv"
    if status == EXIT_OK and truth_path.is_file() and not args.json:
        _print_agreement(folder)
    return status


def _print_agreement(folder: Path) -> None:
    from phy_c4.io.tsv import read_cluster_column
    from phy_c4.status import is_confident

    truth = read_cluster_column(folder / "cluster_true_type.tsv")
    predicted = read_cluster_column(folder / "cluster_c4_type.tsv")
    confident = {c: t for c, t in predicted.items() if is_confident(t)}
    agree = sum(truth.get(c) == t for c, t in confident.items())
    print(f"  example dataset ground truth: {agree}/{len(confident)} confident predictions "
          f"agree ({len(truth)} units; synthetic units, not a validation of the model)")
    print(f"  figures: {folder / 'cell_type_classification' / 'figures'}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="phy-c4", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"phy-c4 {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("classify", help="classify the units of one or more Phy folders")
    c.add_argument("paths", nargs="+", help="params.py files or their folders")
    c.add_argument("--clusters", help="e.g. 3,5,10-20 (default: --group)")
    c.add_argument("--group", default="good", choices=["good", "mua", "noise", "unsorted", "all"])
    c.add_argument("--bundle", default="default", help="bundle name or path (phy-c4 weights list)")
    c.add_argument("--threshold", type=_threshold, default=2.0,
                   help="confidence-ratio threshold (>= 1)")
    c.add_argument("--layer", help="TSV of cluster_id -> layer (unknown, GCL, PCL, ML)")
    c.add_argument("--overwrite", action="store_true",
                   help="replace earlier c4_* results (kept in .phy_c4/backups/); with "
                        "--clusters only those clusters' rows change")
    c.add_argument("--out", metavar="DIR",
                   help="write results here instead of into the Phy folder (read-only data; "
                        "one sub-folder per recording when several are given)")
    c.add_argument("--force", action="store_true",
                   help="accept sample rates outside 10-100 kHz")
    c.add_argument("--cerebellar-depth", metavar="LOW:HIGH",
                   help="depth range of the cerebellar cortex in µm (the cluster depths Phy "
                        "shows); units outside get no type")
    c.add_argument("--region-column", default="region",
                   help="cluster column naming each unit's region (cluster_<name>.tsv; used "
                        "when present)")
    c.add_argument("--channel-regions", metavar="FILE",
                   help="channel -> region table (TSV/CSV: channel, region)")
    c.add_argument("--cerebellar-regions", metavar="NAMES",
                   help="more region names that count as cerebellar cortex, comma-separated")
    c.add_argument("--propose-layers", metavar="FILE",
                   help="write the layers the confirmed CS-SS pairs propose (PCL at the pairs' "
                        "depth) to FILE, to check and pass as --layer to a layer_information "
                        "bundle")
    c.add_argument("--ml-side", choices=["above", "below"],
                   help="with --propose-layers: the molecular layer lies above (larger probe "
                        "y) or below the Purkinje layer; without it only PCL is proposed")
    c.add_argument("--analyzer", action="store_true",
                   help="the paths are SpikeInterface SortingAnalyzer folders: results become "
                        "unit properties, files go to FOLDER/phy_c4 (pip install "
                        "'phy-c4[spikeinterface]')")
    c.add_argument("--npyx-columns", action="store_true",
                   help="also write npyx's cluster_predicted_cell_type.tsv & co")
    c.add_argument("--jobs", type=_positive_int, default=None,
                   help="threads for features (default: all cores)")
    c.add_argument("--device", default="cpu", choices=DEVICE_CHOICES,
                   help="where the networks run (default cpu: under 1 s for 1,000 units, the "
                        "same result on every machine; auto: CUDA when torch sees it)")
    c.add_argument("--json", action="store_true", help="machine-readable summary on stdout")
    c.add_argument("--report", action="store_true", help="write figures")
    c.add_argument("--all-spikes", action="store_true", help="skip C4's spike-quality filter")
    c.add_argument("--fp-threshold", type=_fraction, default=0.05,
                   help="quality filter: largest false-positive fraction of a good chunk (0-1)")
    c.add_argument("--fn-threshold", type=_fraction, default=0.05,
                   help="quality filter: largest false-negative fraction of a good chunk (0-1)")
    c.add_argument("--min-good-seconds", type=_seconds, default=180.0,
                   help="quality filter: good seconds a unit needs")
    c.add_argument("--filter-periods", default="auto", choices=["auto", "npyx", "whole"],
                   help="what the quality filter analyses: npyx (C4's: the whole minutes "
                        "before the unit's last spike + 20 s, spikes on 10-s chunk edges "
                        "dropped), whole (every chunk up to the last spike) or auto (default: "
                        "npyx for C4's own models, whole for the others); the choice is "
                        "recorded with the results")
    c.add_argument("--waveform-source", default="auto", choices=["auto", "raw", "template"])
    c.add_argument("--no-cache", action="store_true")
    c.add_argument("--dask", metavar="SCHEDULER", help="run one recording per dask task")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=cmd_classify)

    w = sub.add_parser("weights", help="list, fetch or import weight bundles")
    wsub = w.add_subparsers(dest="weights_cmd", required=True)
    wsub.add_parser("list", help="installed bundles (* = default)")
    f = wsub.add_parser("fetch", help="download an official C4 model and import it")
    f.add_argument("variant", help="base, mli_clustering, layer_information, "
                                   "layer_information_mli_clustering")
    f.add_argument("--base-url", help=argparse.SUPPRESS)
    d = wsub.add_parser("default", help="show or set the bundle classify and the plugin use "
                                        "without --bundle")
    d.add_argument("name", nargs="?", help="an installed bundle, e.g. c4-base")
    d.add_argument("--shipped", action="store_true", help="back to the shipped default")
    i = wsub.add_parser("import", help="import a local trained_models.tar.gz")
    i.add_argument("archive")
    i.add_argument("variant")
    i.add_argument("--hessians", help="hessians.pt (default: next to the archive)")
    i.add_argument("--dest", help="bundle folder (default: the user bundle folder)")
    w.set_defaults(func=cmd_weights)

    s = sub.add_parser("show", help="what produced a folder's current c4 columns")
    s.add_argument("path", help="Phy folder (or analyzer folder)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)

    n = sub.add_parser("export-nwb", help="write the c4 columns into an NWB units table")
    n.add_argument("path", help="Phy folder (or, with --analyzer, analyzer folder) with results")
    n.add_argument("--nwb", required=True,
                   help="NWB file: created from the folder's spikes, or (if it exists) its units "
                        "table gets the columns, matched by unit id")
    n.add_argument("--analyzer", action="store_true")
    n.add_argument("--subject-id", help="for a new file (NWB and DANDI need a subject)")
    n.add_argument("--species", help="e.g. 'Mus musculus' (new file)")
    n.add_argument("--sex", help="M, F, U or O (new file)")
    n.add_argument("--age", help="ISO 8601 duration, e.g. P90D (new file)")
    n.add_argument("--overwrite", action="store_true",
                   help="replace the C4 columns the file already has")
    n.set_defaults(func=cmd_export_nwb)

    d = sub.add_parser("demo", help="classify the embedded example dataset")
    d.add_argument("--out", default="build/example")
    d.add_argument("--bundle", default="default")
    d.add_argument("--units-per-type", type=int, default=4)
    d.add_argument("--duration", type=float, default=480.0,
                   help="seconds (C4 needs > 180 s of good data per unit)")
    d.add_argument("--channels", type=int, default=6)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_demo)

    _register_optional(sub)
    return parser


def _register_optional(sub) -> None:
    """Subcommands living in other modules (training, plugin installation)."""
    try:
        from phy_c4.training.commands import register_training

        register_training(sub)
    except ImportError:
        pass
    try:
        from phy_c4.plugin_install import register_plugin

        register_plugin(sub)
    except ImportError:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; an interrupt at any moment (even while the libraries load) is one
    line, never a traceback, and the exit code says it."""
    code = _interruptible_main(argv)
    if argv is None and code >= EXIT_INTERRUPTED - 2:  # the process's own entry, interrupted
        # An interrupt that passed through an extension's PyRun_String while it loaded (torch)
        # makes CPython kill itself with SIGINT at exit, whatever was caught: exit now.
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    return code


def _interruptible_main(argv: Sequence[str] | None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt as error:
        signum, folder = getattr(error, "signum", None), getattr(error, "folder", None)
        if signum is not None:  # publish's InterruptedAfterCommitError: the commit finished
            print(f"phy-c4: interrupted (signal {signum}) after the results in {folder} were "
                  "published completely; recordings after it were not classified",
                  file=sys.stderr)
            return 128 + signum
        print("phy-c4: interrupted; results already published are complete, the run in "
              "progress wrote nothing", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    import phylib  # noqa: F401 - phylib sets its logger's level on import; override it after

    for noisy in ("phylib", "phy"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.ERROR)
    from phy_c4.model.bundle import BundleError

    try:
        return int(args.func(args) or 0)
    except (BundleError, ValueError, OSError) as error:
        if getattr(args, "json", False):  # a script reading JSON gets its error as JSON
            print(json.dumps({"ok": False, "error": str(error)}), file=sys.stderr)
        else:
            print(f"phy-c4: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
