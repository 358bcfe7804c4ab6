"""End to end on a generated 400-unit, 1-hour recording: folder -> written TSVs, with and
without C4's quality filter. Run by hand.

``--baseline DIR`` also runs another phy_c4 checkout (e.g. ``git worktree add /tmp/v010
c9edfaf``: 0.1.0, whose quality filter used curve_fit in worker processes) on the same folder in
the same run, as a subprocess, and prints the ratio.

The recording has no raw binary (1 h x 32 channels would be 7 GB), so waveforms come from the
templates. npyx's side is timed on a sample of the same units (its 3D-ACG, plus its quality
filter when npyx can read the folder) and scaled to all units; the sample size is printed.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import time
from argparse import Namespace
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

from phy_c4.cli import build_parser, classify_one
from phy_c4.testing import make_dataset


def ensure_dataset(folder: Path, units_per_type: int, duration: float) -> None:
    if (folder / "params.py").is_file():
        return
    start = time.perf_counter()
    make_dataset(folder, n_units_per_type=units_per_type, duration_s=duration, seed=3,
                 n_channels=32, raw=False)
    print(f"generated {folder} in {time.perf_counter() - start:.0f} s")


def cli_args(**overrides) -> Namespace:
    """``phy-c4 classify --group all --overwrite --no-cache --quiet`` as the CLI's own parser
    makes it (every option at its real default), with ``overrides``."""
    args = build_parser().parse_args(["classify", ".", "--group", "all", "--overwrite",
                                      "--no-cache", "--quiet"])
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def time_npyx(folder: Path, sample: int) -> tuple[float, int, str] | None:
    try:
        with redirect_stdout(io.StringIO()):
            from npyx.corr import convert_acg_log, crosscorr_vs_firing_rate
    except Exception as error:  # optional, and its import chain is fragile
        print(f"npyx not available ({type(error).__name__}); phy_c4 only")
        return None
    times = np.load(folder / "spike_times.npy").astype(np.int64)
    clusters = np.load(folder / "spike_clusters.npy")
    ids = np.unique(clusters)[:: max(1, len(np.unique(clusters)) // sample)][:sample]
    start = time.perf_counter()
    for cluster_id in ids:
        t = np.unique(times[clusters == cluster_id])
        _, acg = crosscorr_vs_firing_rate(t, t, 2000, 1, fs=30000)
        convert_acg_log(acg, 1, 2000)
    return time.perf_counter() - start, len(ids), "3D-ACG only (no quality filter)"


def time_baseline(checkout: Path, folder: Path, *extra: str) -> float:
    """Seconds ``phy-c4 classify --group all --no-cache`` from a checkout reports for the
    folder, run in a fresh process (the pipeline's imports, made lazily, are included)."""
    copy = folder.with_name(folder.name + "_baseline")
    if not copy.exists():
        copy.mkdir()
        for item in folder.iterdir():
            if item.is_file() and not item.name.startswith("cluster_c4_") and \
                    item.name != "params.py":
                (copy / item.name).symlink_to(item.resolve())
        shutil.copy2(folder / "params.py", copy / "params.py")
    env = {**os.environ, "PYTHONPATH": str(checkout.resolve())}
    run = subprocess.run([sys.executable, "-m", "phy_c4.cli", "classify", str(copy.resolve()),
                          "--group", "all", "--no-cache", "--overwrite", "--quiet", *extra],
                         check=True,
                         env=env, cwd=checkout, capture_output=True, text=True)
    return float(re.search(r"units in ([0-9.]+) s", run.stdout).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folder", default=".bench/rec400")
    parser.add_argument("--bundle", default="default")
    parser.add_argument("--units-per-type", type=int, default=80)
    parser.add_argument("--duration", type=float, default=3600.0)
    parser.add_argument("--npyx-sample", type=int, default=20)
    parser.add_argument("--baseline", help="another phy_c4 checkout to time on the same folder")
    args = parser.parse_args()
    folder = Path(args.folder)
    ensure_dataset(folder, args.units_per_type, args.duration)
    n_spikes = np.load(folder / "spike_times.npy", mmap_mode="r").shape[0]
    lines = []
    from phy_c4.pipeline import warm_up

    start = time.perf_counter()
    warm_up(args.bundle)  # imports and compiled kernels, once: not part of the figures below
    print(f"imports and kernel loading (once per process): {time.perf_counter() - start:.1f} s")
    for label, overrides in (("with C4's quality filter", {}),
                             ("all spikes (--all-spikes)", {"all_spikes": True})):
        summary = classify_one(str(folder), cli_args(bundle=args.bundle, **overrides))
        lines.append(f"phy_c4 {label}: {summary['units']} units, {n_spikes:,d} spikes, "
                     f"{summary['seconds']:.1f} s end to end (folder -> TSVs)")
        print(lines[-1], flush=True)
    if args.baseline:  # both checkouts the same way: a fresh process each, imports included
        here = Path(__file__).resolve().parents[1]
        for label, extra in (("with the quality filter", ()), ("all spikes", ("--all-spikes",))):
            theirs = time_baseline(Path(args.baseline), folder, *extra)
            mine = time_baseline(here, folder, *extra)
            lines.append(f"fresh process, {label}: baseline {args.baseline} {theirs:.1f} s, "
                         f"this checkout {mine:.1f} s: {theirs / mine:.1f}x")
            print(lines[-1], flush=True)
    npyx = time_npyx(folder, args.npyx_sample)
    if npyx is not None:
        seconds, count, what = npyx
        scaled = seconds * summary["units"] / count
        lines.append(f"npyx {what}: {seconds:.1f} s for {count} units, {scaled:.0f} s scaled to "
                     f"{summary['units']} units; ratio to phy_c4 all-spikes end to end: "
                     f"{scaled / summary['seconds']:.0f}x")
        print(lines[-1])


if __name__ == "__main__":
    main()
